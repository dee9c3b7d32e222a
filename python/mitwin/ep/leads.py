"""Electrodes and leads of the 8-lead QRS: names, order and the electrode -> lead transform.

Leads, in this order: I = LA - RA, II = LL - RA, Vi = phi(Vi) - WCT with WCT = (RA + LA + LL) / 3
(the README's Conventions). RL is the ground and has no position.
"""

from __future__ import annotations

import numpy as np

__all__ = ["ELECTRODES", "LEADS", "LEAD_TRANSFORM"]

LEADS: tuple[str, ...] = ("I", "II", "V1", "V2", "V3", "V4", "V5", "V6")
ELECTRODES: tuple[str, ...] = ("RA", "LA", "LL", "V1", "V2", "V3", "V4", "V5", "V6")


def _lead_transform() -> np.ndarray:
    a = np.zeros((len(LEADS), len(ELECTRODES)))
    ra, la, ll = 0, 1, 2
    a[0, la], a[0, ra] = 1.0, -1.0  # I = LA - RA
    a[1, ll], a[1, ra] = 1.0, -1.0  # II = LL - RA
    for i in range(6):  # Vi - WCT
        a[2 + i, 3 + i] = 1.0
        a[2 + i, [ra, la, ll]] -= 1.0 / 3.0
    a.setflags(write=False)
    return a


#: (8, 9) matrix taking electrode potentials (rows of ELECTRODES) to the leads (rows of LEADS).
LEAD_TRANSFORM: np.ndarray = _lead_transform()
