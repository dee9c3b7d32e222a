"""What the forward model needs of a heart: the :class:`HeartLike` protocol.

:class:`mitwin.anatomy.heart.Heart` satisfies it; so does any object with these attributes (a test
fixture, a user's own container), which lets the electrophysiology depend on the data, not on the
anatomy package.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Protocol

import numpy as np

__all__ = ["HeartLike"]


class HeartLike(Protocol):
    """A biventricular heart as the forward model reads it.

    Attributes
    ----------
    points : (N, 3) float64, mm
    tets : (M, 4) int64
    fibres, sheets : (N, 3) float64, unit vectors of the fibre frame
    surfaces : mapping "lv_endo" / "rv_endo" / "epi" / "base" -> node indices
    tm, ab, rt, tv : (N,) float64, Cobiveco coordinates
    electrodes : mapping electrode name -> (3,) position, mm
    """

    points: np.ndarray
    tets: np.ndarray
    fibres: np.ndarray
    sheets: np.ndarray
    surfaces: Mapping[str, np.ndarray]
    tm: np.ndarray
    ab: np.ndarray
    rt: np.ndarray
    tv: np.ndarray
    electrodes: Mapping[str, np.ndarray]

    @property
    def n_nodes(self) -> int: ...
