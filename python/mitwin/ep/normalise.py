"""Amplitude normalisation of ECG signals: the one place that defines the normalisation modes.

The pseudo-ECG's amplitudes are those of an infinite medium (precordial leads 20-30x the limb leads,
where a torso gives 1-3x), so QRS complexes are compared by shape after one of these modes.
"""

from __future__ import annotations

import numpy as np

from .leads import LEADS

__all__ = ["NORMALISATIONS", "normalise"]

#: Modes of :func:`normalise`.
NORMALISATIONS: tuple[str | None, ...] = (None, "lead", "amplitude", "peak")


def normalise(signals: np.ndarray, mode: str | None, leads: tuple[str, ...] = LEADS) -> np.ndarray:
    """Normalise leads (axis -2) of ``(..., n_leads, T)`` signals.

    Parameters
    ----------
    mode : None, "lead", "amplitude" or "peak"
        ``None``: unchanged. ``"lead"``: each lead divided by its own peak ``max |x|``.
        ``"peak"``: every lead of one ECG divided by the largest ``|x|`` over all its leads.
        ``"amplitude"``: the limb leads I and II divided by the mean of their two peaks, V1-V6 by the mean of
        their six peaks, which keeps the relative amplitudes within each group (R-wave progression).
        An all-zero group is left unchanged.
    """
    if mode not in NORMALISATIONS:
        raise ValueError(f"normalise: expected one of {NORMALISATIONS}, got {mode!r}")
    x = np.array(signals, dtype=np.float64)
    if mode is None:
        return x
    peaks = np.max(np.abs(x), axis=-1, keepdims=True) if x.shape[-1] else np.zeros(x.shape[:-1] + (1,))
    if mode == "lead":
        scale = peaks
    elif mode == "peak":
        scale = np.max(peaks, axis=-2, keepdims=True) * np.ones_like(peaks)
    elif mode == "amplitude":
        scale = np.empty_like(peaks)
        limb = [i for i, name in enumerate(leads) if name in ("I", "II")]
        prec = [i for i, name in enumerate(leads) if name not in ("I", "II")]
        for group in (limb, prec):
            if group:
                scale[..., group, :] = np.mean(peaks[..., group, :], axis=-2, keepdims=True)
    else:
        raise ValueError(f"normalise: expected one of {NORMALISATIONS}, got {mode!r}")
    scale = np.where(scale > 0, scale, 1.0)
    return x / scale
