"""AHA 17-segment model on the LV region, from Cobiveco-style coordinates.

Conventions (as in the README): the LV region is ``tv == 0`` plus the septal part of the RV side
(``tv == 1 and rt > 2/3``). Rings by ``ab``: apex cap ``ab <= 0.1`` (segment 17), apical
``0.1 < ab < 0.4`` (13-16), mid ``0.4 <= ab <= 0.7`` (7-12), basal ``ab > 0.7`` (1-6).
Sectors by ``rt`` (periodic in [0, 1)): basal/mid anterior [1/2, 2/3), anteroseptal [2/3, 5/6),
inferoseptal [5/6, 1), inferior [0, 1/6), inferolateral [1/6, 1/3), anterolateral [1/3, 1/2);
apical anterior [11/24, 17/24), septal [17/24, 23/24), inferior >= 23/24 or < 5/24,
lateral [5/24, 11/24). Segment 0 means "not LV".
"""

from __future__ import annotations

import numpy as np

#: Standard names of the 17 segments, index = segment number (0 = not LV).
SEGMENT_NAMES: tuple[str, ...] = (
    "not LV",
    "basal anterior", "basal anteroseptal", "basal inferoseptal",
    "basal inferior", "basal inferolateral", "basal anterolateral",
    "mid anterior", "mid anteroseptal", "mid inferoseptal",
    "mid inferior", "mid inferolateral", "mid anterolateral",
    "apical anterior", "apical septal", "apical inferior", "apical lateral",
    "apex",
)

# basal/mid sector -> segment offset within the ring (1 anterior ... 6 anterolateral),
# sectors in rt order: [0,1/6) inferior, [1/6,1/3) inferolateral, [1/3,1/2) anterolateral,
# [1/2,2/3) anterior, [2/3,5/6) anteroseptal, [5/6,1) inferoseptal
_RING_SECTOR_TO_SEGMENT = np.array([4, 5, 6, 1, 2, 3])


def lv_region(tv: np.ndarray, rt: np.ndarray) -> np.ndarray:
    """Boolean mask of the LV region: LV nodes plus the septal RV-side nodes (rt > 2/3).

    ``tv`` may be continuous (a Laplace solution); it is thresholded at 0.5.
    """
    tv = np.asarray(tv, dtype=float)
    rt = np.asarray(rt, dtype=float)
    if tv.shape != rt.shape:
        raise ValueError(f"tv and rt must have the same shape, got {tv.shape} and {rt.shape}")
    lv = tv < 0.5
    return lv | (~lv & (np.mod(rt, 1.0) > 2.0 / 3.0))


def aha_segments(ab: np.ndarray, rt: np.ndarray, tv: np.ndarray) -> np.ndarray:
    """AHA segment (1-17, 0 outside the LV region) of each node, from (ab, rt, tv).

    Parameters
    ----------
    ab, rt, tv : (N,) float
        Apicobasal (0 apex, 1 base), rotational (periodic [0, 1)) and transventricular
        (0 LV, 1 RV) coordinates.

    Returns
    -------
    (N,) int64 segment numbers.

    Examples
    --------
    >>> aha_segments([0.05, 0.8, 0.5], [0.3, 0.55, 0.9], [0, 0, 0]).tolist()
    [17, 1, 9]
    """
    ab = np.asarray(ab, dtype=float)
    rt = np.mod(np.asarray(rt, dtype=float), 1.0)
    tv = np.asarray(tv, dtype=float)
    if not (ab.shape == rt.shape == tv.shape):
        raise ValueError(f"ab, rt and tv must have the same shape, got {ab.shape}, {rt.shape}, {tv.shape}")
    seg = np.zeros(ab.shape, dtype=np.int64)
    sector6 = np.minimum((rt * 6.0).astype(np.int64), 5)
    ring_seg = _RING_SECTOR_TO_SEGMENT[sector6]
    basal = ab > 0.7
    mid = (ab >= 0.4) & ~basal
    apical = (ab > 0.1) & (ab < 0.4)
    apex = ab <= 0.1
    seg[basal] = ring_seg[basal]
    seg[mid] = ring_seg[mid] + 6
    # apical quadrants: anterior [11/24,17/24), septal [17/24,23/24), lateral [5/24,11/24), else inferior
    apical_seg = np.full(ab.shape, 15, dtype=np.int64)
    apical_seg[(rt >= 5 / 24) & (rt < 11 / 24)] = 16
    apical_seg[(rt >= 11 / 24) & (rt < 17 / 24)] = 13
    apical_seg[(rt >= 17 / 24) & (rt < 23 / 24)] = 14
    seg[apical] = apical_seg[apical]
    seg[apex] = 17
    seg[~lv_region(tv, rt)] = 0
    return seg
