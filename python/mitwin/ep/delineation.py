"""QRS delineation of a signal: onset, offset and duration from the spatial velocity."""

from __future__ import annotations

import math
from typing import Any, Protocol

import numpy as np

from .._validate import as_float_array

__all__ = ["qrs_duration", "total_activation_time"]


class SampledSignals(Protocol):
    """What :func:`qrs_duration` reads of an :class:`mitwin.ep.ecg.ECG` or ``ECGBatch``."""

    @property
    def signals(self) -> np.ndarray: ...

    @property
    def dt(self) -> float: ...

    @property
    def t0(self) -> float: ...


def qrs_duration(
    ecg: SampledSignals | np.ndarray,
    dt: float | None = None,
    *,
    fraction: float = 0.05,
    return_bounds: bool = False,
) -> Any:
    """QRS duration (ms) from the signal.

    Rule: the spatial velocity ``D(t) = sum over leads |dx/dt|`` (central differences, ``np.gradient``)
    is computed on the signal preceded by one sample of zeros (a simulated QRS starts from rest, so a
    potential already present at the first sample counts as a change there); the QRS onset is the first
    sample with ``D >= fraction * max D``. The offset is the last sample at which the signal is still
    changing (``D >= fraction * max D``) or still away from the level it ends at (the J point's: rest for
    a simulated QRS, the ST level for a measured one): ``A(t) = sum over leads |x(t) - x(end)|`` with
    ``A >= fraction * max A``. Without the second condition a slow terminal deflection - late, slowly
    activated tissue - ends the QRS while the leads are still far from the baseline. The duration is
    ``offset - onset``. Signals without any change give NaN.

    Parameters
    ----------
    ecg : ECG, ECGBatch, (n_leads, T) or (K, n_leads, T) array
    dt : float, optional
        Sampling interval in ms for arrays (default 1 ms); taken from the object otherwise.
    fraction : float
        Threshold as a fraction of the peak spatial velocity, in (0, 1).
    return_bounds : bool
        Also return the onset and offset times (ms, relative to the first sample plus ``t0``).

    Returns
    -------
    duration : float, or (K,) float64 for a batch; with ``return_bounds`` a tuple
        ``(duration, onset, offset)``.
    """
    t0 = 0.0
    if hasattr(ecg, "signals") and not isinstance(ecg, np.ndarray):
        x, dt, t0 = np.asarray(ecg.signals, dtype=np.float64), ecg.dt, ecg.t0
    else:
        x = np.asarray(ecg, dtype=np.float64)
        dt = 1.0 if dt is None else float(dt)
        if x.ndim not in (2, 3):
            raise ValueError(f"ecg: expected an ECG or an array (n_leads, T) or (K, n_leads, T), got shape {x.shape}")
    if not 0.0 < fraction < 1.0:
        raise ValueError(f"fraction: expected a value in (0, 1), got {fraction}")
    if not (math.isfinite(dt) and dt > 0):
        raise ValueError(f"dt: expected a sampling interval > 0 ms, got {dt}")
    single = x.ndim == 2
    x = x[None] if single else x
    n = x.shape[-1]
    dur = np.full(x.shape[0], np.nan)
    on = np.full(x.shape[0], np.nan)
    off = np.full(x.shape[0], np.nan)
    if n >= 1:
        ext = np.concatenate([np.zeros(x.shape[:-1] + (1,)), x], axis=-1)
        d = np.sum(np.abs(np.gradient(ext, dt, axis=-1)), axis=-2)[:, 1:]  # (K, T) spatial velocity
        a = np.sum(np.abs(x - x[..., -1:]), axis=-2)  # (K, T) distance from the final level
        peak, far = d.max(axis=-1), a.max(axis=-1)
        for k in range(x.shape[0]):
            if peak[k] > 0 and np.isfinite(peak[k]):
                idx = np.flatnonzero(d[k] >= fraction * peak[k])
                last = int(idx[-1])
                if far[k] > 0:
                    last = max(last, int(np.flatnonzero(a[k] >= fraction * far[k])[-1]))
                on[k], off[k] = t0 + idx[0] * dt, t0 + last * dt
                dur[k] = (last - idx[0]) * dt
    if single:
        one = (float(dur[0]), float(on[0]), float(off[0]))
        return one if return_bounds else one[0]
    return (dur, on, off) if return_bounds else dur


def total_activation_time(at: np.ndarray) -> float:
    """Total ventricular activation time ``max(AT) - min(AT)`` in ms over the nodes that activate
    (``inf`` marks a node that never does)."""
    a = as_float_array(at, "at", (None,), finite=False)
    if np.isnan(a).any() or np.isneginf(a).any():
        raise ValueError("at: expected finite activation times (or inf: never activated), got NaN or -inf")
    active = a[np.isfinite(a)]
    if active.size == 0:
        raise ValueError("at: expected at least one finite activation time")
    return float(active.max() - active.min())
