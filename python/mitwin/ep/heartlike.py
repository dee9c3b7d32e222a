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
    """A biventricular heart as the forward model reads it (read-only attributes).

    Attributes
    ----------
    points : (N, 3) float64, mm
    tets : (M, 4) int64
    fibres, sheets : (N, 3) float64, unit vectors of the fibre frame
    surfaces : mapping "lv_endo" / "rv_endo" / "epi" / "base" -> node indices
    tm, ab, rt, tv : (N,) float64, Cobiveco coordinates
    electrodes : mapping electrode name -> (3,) position, mm
    """

    @property
    def points(self) -> np.ndarray: ...

    @property
    def tets(self) -> np.ndarray: ...

    @property
    def fibres(self) -> np.ndarray: ...

    @property
    def sheets(self) -> np.ndarray: ...

    @property
    def surfaces(self) -> Mapping[str, np.ndarray]: ...

    @property
    def tm(self) -> np.ndarray: ...

    @property
    def ab(self) -> np.ndarray: ...

    @property
    def rt(self) -> np.ndarray: ...

    @property
    def tv(self) -> np.ndarray: ...

    @property
    def electrodes(self) -> Mapping[str, np.ndarray]: ...

    @property
    def n_nodes(self) -> int: ...
