"""Dynamic time warping (DTW) between multi-lead QRS complexes of different lengths.

The distance of one lead between ``a`` (``n`` samples) and ``b`` (``m`` samples) is computed in
C++ (``mitwin._core``) from the accumulated cost

.. math::

    C(i, j) = c(a_i, b_j) + \\min\\{C(i-1, j),\\ C(i, j-1),\\ C(i-1, j-1)\\}, \\qquad C(-1, -1) = 0,

with the local cost :math:`c = (a_i - b_j)^2` (``cost="squared"``) or :math:`|a_i - b_j|`
(``cost="absolute"``), and is

.. math::

    d = \\sqrt{C(n-1, m-1) / z} \\ \\text{(squared)}, \\qquad d = C(n-1, m-1) / z \\ \\text{(absolute)},
    \\qquad z = n + m \\text{ if normalize else } 1,

plus the duration penalty of Camps et al. (2021), *Inference of ventricular activation properties
from non-invasive electrocardiography*, Med. Image Anal. 73:102143:

.. math::

    d \\mathrel{+}= w \\, (n - m)^2 / \\min(n, m).

Camps et al. divide the accumulated squared cost by ``n + m`` before the square root and add
``w (n - m)^2 / min(n, m)`` to the lead average, with ``w = 0.05 * 171 / V`` (``V`` their mesh
volume, so ``w = 0.05`` for their reference heart). We keep their normalisation and the quadratic
form, drop the mesh-volume factor (our signals are amplitude-normalised, lengths are in samples at
1 kHz) and add the same term to every lead, so that the lead average has their form. The default
weight :data:`DEFAULT_PENALTY` = 0.01 is ours: a QRS 10 ms longer at 100 ms adds 0.01 and one 30 ms
longer adds 0.09, comparable to the morphological distance of a visibly altered lead (0.05-0.2 of the
normalisation amplitude) without dominating it, so that the analysis still measures shape; Camps et
al. weighted durations more because they fitted simulations to a recorded ECG. QRS durations are
reported separately by the sensitivity analysis. Their slope-constrained step pattern and
diagonal weighting are not used: ours is the plain symmetric step pattern, so that with
``normalize=False, penalty=0`` the squared form equals ``dtaidistance.dtw.distance`` and
``tslearn.metrics.dtw`` (both return the square root of the summed squared differences on the
optimal path).

The band is a Sakoe-Chiba band adapted to unequal lengths: a cell ``(i, j)`` is kept when
``-r - max(0, n - m) <= j - i <= r + max(0, m - n)``, the strip between the diagonals ``j = i`` and
``j = i + m - n`` widened by ``r = band`` samples (tslearn's ``sakoe_chiba_radius=r``, dtaidistance's
``window=r + 1``). Memory is two rows of ``min(n, m) + 1`` values.

Examples
--------
>>> import numpy as np
>>> from mitwin.analysis.dtw import dtw
>>> t = np.linspace(0, 1, 80)
>>> a = np.stack([np.sin(6 * t), np.cos(6 * t)])
>>> float(dtw(a, a).max())
0.0
"""

from __future__ import annotations

import logging
from typing import Any

import numpy as np

from .._core_loader import core
from .._validate import as_float_array, check_n_threads

logger = logging.getLogger(__name__)

__all__ = ["DEFAULT_PENALTY", "dtw", "dtw_all_pairs", "dtw_one_to_many"]

#: Weight ``w`` of the duration penalty ``w (n - m)^2 / min(n, m)`` (Camps et al. 2021, see above).
DEFAULT_PENALTY = 0.01

_COSTS = ("squared", "absolute")
_MAX_BAND = 2**62  # radii saturate here (the C++ core saturates too); any larger radius means no band


def _check_options(band: Any, cost: str, penalty: Any, n_threads: Any = None) -> tuple[int, float, int]:
    if band is None:
        band_i = -1
    else:
        if isinstance(band, bool) or not isinstance(band, (int, np.integer)) or int(band) < 0:
            raise ValueError(f"band: expected None or an integer >= 0 (samples), got {band!r}")
        band_i = min(int(band), _MAX_BAND)  # any radius past the longest signal keeps every cell
    if cost not in _COSTS:
        raise ValueError(f"cost: expected one of {_COSTS}, got {cost!r}")
    if isinstance(penalty, (str, bytes, bool)):
        raise ValueError(f"penalty: expected a finite number >= 0, got {penalty!r}")
    try:
        pen = float(penalty)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"penalty: expected a finite number >= 0, got {penalty!r}") from exc
    if not np.isfinite(pen) or pen < 0:
        raise ValueError(f"penalty: expected a finite number >= 0, got {penalty!r}")
    return band_i, pen, check_n_threads(n_threads)


def _flag(value: Any, name: str) -> bool:
    """A real boolean: strings such as "False" or "no" are truthy in Python and refused here."""
    if not isinstance(value, (bool, np.bool_)):
        raise ValueError(f"{name}: expected True or False, got {value!r}")
    return bool(value)


def _as_signal(x: Any, name: str) -> np.ndarray:
    arr = np.asarray(x)
    if arr.ndim == 1:
        arr = arr[None, :]
    arr = as_float_array(arr, name, (None, None))
    if arr.shape[0] < 1 or arr.shape[1] < 1:
        raise ValueError(f"{name}: expected shape (n_leads, n_samples) with both >= 1, got shape {arr.shape}")
    return arr


def _as_length(x: Any, n_samples: int, name: str) -> int:
    if x is None:
        return n_samples
    if isinstance(x, bool) or not isinstance(x, (int, np.integer)):
        raise ValueError(f"{name}: expected None or an integer in [1, {n_samples}], got {x!r}")
    if not 1 <= int(x) <= n_samples:
        raise ValueError(f"{name}: expected an integer in [1, {n_samples}] (the valid samples), got {int(x)}")
    return int(x)


def _as_batch(signals: Any, lengths: Any, name: str = "signals") -> tuple[np.ndarray, np.ndarray]:
    arr = as_float_array(signals, name, (None, None, None))
    if min(arr.shape) < 1:
        raise ValueError(f"{name}: expected shape (n_signals, n_leads, n_samples) with all >= 1, got {arr.shape}")
    n_signals, _, n_samples = arr.shape
    if lengths is None:
        lens = np.full(n_signals, n_samples, dtype=np.int64)
    else:
        raw = np.asarray(lengths)
        if raw.ndim != 1 or raw.shape[0] != n_signals:
            raise ValueError(f"lengths: expected shape ({n_signals},) (one per signal), got shape {raw.shape}")
        if raw.size and not np.issubdtype(raw.dtype, np.integer):
            if not np.issubdtype(raw.dtype, np.floating) or not np.all(np.isfinite(raw)) or np.any(raw % 1):
                raise ValueError(f"lengths: expected integers, got dtype {raw.dtype}")
        lens = np.ascontiguousarray(raw, dtype=np.int64)
        bad = (lens < 1) | (lens > n_samples)
        if np.any(bad):
            k = int(np.flatnonzero(bad)[0])
            raise ValueError(
                f"lengths: expected values in [1, {n_samples}] (n_samples of {name}), got {int(lens[k])} at index {k}"
            )
    return arr, lens


def dtw(
    a: Any,
    b: Any,
    *,
    len_a: int | None = None,
    len_b: int | None = None,
    band: int | None = None,
    penalty: float = DEFAULT_PENALTY,
    cost: str = "squared",
    normalize: bool = True,
) -> np.ndarray:
    """Per-lead DTW distance between two multi-lead signals of possibly different lengths.

    Parameters
    ----------
    a, b : array_like, shape (n_leads, Ta) and (n_leads, Tb), or 1-D for one lead
        The signals (any amplitude unit; normalise them first, see
        :func:`mitwin.analysis.sensitivity.normalise_qrs`).
    len_a, len_b : int, optional
        Number of valid leading samples of ``a`` / ``b`` (the rest is padding); default all.
    band : int, optional
        Sakoe-Chiba radius in samples around the two diagonals (see the module docstring);
        None for no band.
    penalty : float
        Weight ``w`` of the duration penalty ``w (n - m)^2 / min(n, m)``; 0 switches it off.
    cost : {"squared", "absolute"}
        Local cost; "squared" returns the square root of the accumulated squared cost.
    normalize : bool
        Divide the accumulated cost by ``n + m`` (Camps et al. 2021).

    Returns
    -------
    numpy.ndarray, shape (n_leads,)
        DTW distance per lead.
    """
    band_i, pen, _ = _check_options(band, cost, penalty)
    a_arr = _as_signal(a, "a")
    b_arr = _as_signal(b, "b")
    if a_arr.shape[0] != b_arr.shape[0]:
        raise ValueError(f"b: expected {a_arr.shape[0]} leads like a, got shape {b_arr.shape}")
    na = _as_length(len_a, a_arr.shape[1], "len_a")
    nb = _as_length(len_b, b_arr.shape[1], "len_b")
    return core.dtw_leads(a_arr, na, b_arr, nb, band=band_i, cost=cost, normalize=_flag(normalize, "normalize"),
                          penalty=pen)


def dtw_all_pairs(
    signals: Any,
    lengths: Any = None,
    *,
    band: int | None = None,
    penalty: float = DEFAULT_PENALTY,
    cost: str = "squared",
    normalize: bool = True,
    n_threads: int | None = None,
) -> np.ndarray:
    """DTW between every pair of S multi-lead signals, per lead.

    Parameters
    ----------
    signals : array_like, shape (S, n_leads, T)
        Zero-padded signals.
    lengths : array_like of int, shape (S,), optional
        Valid samples of each signal (1 <= lengths <= T); default T.
    band, penalty, cost, normalize
        As in :func:`dtw`.
    n_threads : int, optional
        OpenMP threads (pairs in parallel); default all cores.

    Returns
    -------
    numpy.ndarray, shape (S, S, n_leads)
        Symmetric, zero on the diagonal; each unordered pair is computed once.
    """
    band_i, pen, threads = _check_options(band, cost, penalty, n_threads)
    arr, lens = _as_batch(signals, lengths)
    return core.dtw_all_pairs(arr, lens, band=band_i, cost=cost, normalize=_flag(normalize, "normalize"), penalty=pen,
                              n_threads=threads)


def dtw_one_to_many(
    reference: Any,
    signals: Any,
    lengths: Any = None,
    *,
    ref_length: int | None = None,
    band: int | None = None,
    penalty: float = DEFAULT_PENALTY,
    cost: str = "squared",
    normalize: bool = True,
    n_threads: int | None = None,
) -> np.ndarray:
    """DTW of one reference signal (e.g. the baseline QRS) to each of S signals, per lead.

    Parameters
    ----------
    reference : array_like, shape (n_leads, T0)
    signals : array_like, shape (S, n_leads, T)
    lengths : array_like of int, shape (S,), optional
        Valid samples of each signal; default T.
    ref_length : int, optional
        Valid samples of the reference; default T0.
    band, penalty, cost, normalize, n_threads
        As in :func:`dtw_all_pairs`.

    Returns
    -------
    numpy.ndarray, shape (S, n_leads)
    """
    band_i, pen, threads = _check_options(band, cost, penalty, n_threads)
    ref = _as_signal(reference, "reference")
    arr, lens = _as_batch(signals, lengths)
    if ref.shape[0] != arr.shape[1]:
        raise ValueError(f"reference: expected {arr.shape[1]} leads like signals, got shape {ref.shape}")
    n_ref = _as_length(ref_length, ref.shape[1], "ref_length")
    return core.dtw_one_to_many(ref, n_ref, arr, lens, band=band_i, cost=cost, normalize=_flag(normalize, "normalize"),
                                penalty=pen, n_threads=threads)
