"""Signal processing of ECG signals along their last (time) axis: zero-phase low-pass, baseline.

Both are used by the QRS synthesis (:mod:`mitwin.ep.leadfield`, whose C++ kernel runs the same
filter) and by anyone processing a measured ECG.
"""

from __future__ import annotations

import functools
import logging
import math

import numpy as np

__all__ = ["lowpass", "remove_baseline"]

logger = logging.getLogger(__name__)


@functools.lru_cache(maxsize=32)
def _butterworth(order: int, cutoff_hz: float, fs: float) -> tuple[np.ndarray, np.ndarray]:
    """Second-order sections and their step-response initial state (cached; do not modify)."""
    from scipy.signal import butter, sosfilt_zi

    sos = butter(order, cutoff_hz, btype="low", fs=fs, output="sos")
    zi = sosfilt_zi(sos)
    return sos, zi


def lowpass(signals: np.ndarray, dt: float, cutoff_hz: float = 150.0, order: int = 4) -> np.ndarray:
    """Zero-phase Butterworth low-pass along the last axis.

    ``order`` poles, run forwards and backwards (``scipy.signal.sosfiltfilt`` with ``padtype=None``: each
    pass starts in the steady state of its first sample). The signal is first extended by its edge
    values over ``max(32, 10 fs / cutoff)`` samples on each side, so short signals (down to one sample)
    are handled. If ``cutoff_hz`` is not below the Nyquist frequency the signal is returned unchanged
    (and a warning logged).
    """
    x = np.asarray(signals, dtype=np.float64)
    if not (math.isfinite(cutoff_hz) and cutoff_hz > 0):
        raise ValueError(f"lowpass_hz: expected a cut-off frequency > 0 Hz or None, got {cutoff_hz}")
    if x.shape[-1] == 0 or not _below_nyquist(cutoff_hz, dt):
        return x.copy()
    pad = _filter_pad(cutoff_hz, dt)
    ext = np.concatenate([np.repeat(x[..., :1], pad, axis=-1), x, np.repeat(x[..., -1:], pad, axis=-1)], axis=-1)
    return np.ascontiguousarray(_filtfilt(ext, dt, cutoff_hz, order)[..., pad:-pad])


def _below_nyquist(cutoff_hz: float, dt: float) -> bool:
    nyquist = 500.0 / dt
    if cutoff_hz >= nyquist:
        logger.warning("low-pass at %.4g Hz skipped: not below the Nyquist frequency %.4g Hz (dt = %g ms)",
                       cutoff_hz, nyquist, dt)
        return False
    return True


def _filter_pad(cutoff_hz: float, dt: float) -> int:
    """Samples of signal the filter needs either side: max(32, 10 fs / cutoff)."""
    return max(32, int(math.ceil(10.0 * (1000.0 / dt) / cutoff_hz)))


def _filtfilt(x: np.ndarray, dt: float, cutoff_hz: float, order: int) -> np.ndarray:
    """Forward-backward Butterworth along the last axis, each pass started in the steady state of its
    first sample (what sosfiltfilt does with padtype=None)."""
    from scipy.signal import sosfilt

    sos, zi = _butterworth(int(order), float(cutoff_hz), 1000.0 / dt)
    zi = zi.reshape((zi.shape[0],) + (1,) * (x.ndim - 1) + (2,))
    y = sosfilt(sos, x, axis=-1, zi=zi * x[None, ..., :1])[0]
    return sosfilt(sos, y[..., ::-1], axis=-1, zi=zi * y[None, ..., -1:])[0][..., ::-1]


def remove_baseline(signals: np.ndarray) -> np.ndarray:
    """Subtract, per lead, the straight line through the first and last samples (last axis)."""
    x = np.asarray(signals, dtype=np.float64)
    n = x.shape[-1]
    if n < 2:
        return x - x[..., :1] if n else x.copy()
    ramp = np.linspace(0.0, 1.0, n)
    return x - (x[..., :1] + (x[..., -1:] - x[..., :1]) * ramp)
