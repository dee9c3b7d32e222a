"""Amplitude normalisation of ECG signals: the one place that defines the normalisation modes.

The pseudo-ECG's amplitudes are those of an infinite medium (precordial leads 20-30x the limb leads,
where a torso gives 1-3x), so QRS complexes are compared by shape after one of these modes.
"""

from __future__ import annotations

import numpy as np

from .leads import LEADS

__all__ = ["BATCH_NORMALISATIONS", "NORMALISATIONS", "normalise", "normalise_batch"]

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


#: Modes of :func:`normalise_batch`: those of :func:`normalise` and ``"baseline"``.
BATCH_NORMALISATIONS: tuple[str | None, ...] = (*NORMALISATIONS, "baseline")


def normalise_batch(qrs: np.ndarray, lengths: np.ndarray, mode: str | None = "amplitude", reference: int = 0,
                    leads: tuple[str, ...] = LEADS) -> np.ndarray:
    """Normalise a batch of zero-padded QRS complexes of one subject.

    Samples past each QRS's length are set to zero, then every QRS is normalised on its own with
    :func:`normalise` (``mode`` None, "lead", "amplitude" or "peak"), or, for ``mode="baseline"``, every QRS
    is divided by the largest ``|x|`` of the reference QRS over its leads, which keeps the overall amplitude
    change between the QRS of the batch.

    Parameters
    ----------
    qrs : (S, n_leads, T) float
        Zero-padded QRS (any amplitude unit), leads ``leads``.
    lengths : (S,) int
        Valid samples of each QRS, in [1, T].
    mode : one of :data:`BATCH_NORMALISATIONS`
    reference : int
        Row of the reference QRS for ``"baseline"``.
    leads : tuple of str
        Lead names of axis 1.

    Returns
    -------
    (S, n_leads, T) float64
        Dimensionless (raw units for ``None``).

    Examples
    --------
    >>> q = np.zeros((2, 8, 4)); q[0, 0, 1] = -4.0; q[1, 2, 0] = 2.0
    >>> float(normalise_batch(q, np.array([4, 4]), "baseline")[1, 2, 0])
    0.5
    """
    if mode not in BATCH_NORMALISATIONS:
        raise ValueError(f"mode: expected one of {BATCH_NORMALISATIONS}, got {mode!r}")
    arr = np.array(qrs, dtype=np.float64)
    if arr.ndim != 3 or arr.shape[1] != len(leads):
        raise ValueError(f"qrs: expected shape (S, {len(leads)}, T), got shape {arr.shape}")
    lens = np.asarray(lengths, dtype=np.int64)
    if lens.shape != (arr.shape[0],) or np.any(lens < 1) or np.any(lens > arr.shape[2]):
        raise ValueError(f"lengths: expected shape ({arr.shape[0]},) with values in [1, {arr.shape[2]}], got {lens}")
    if not 0 <= reference < arr.shape[0]:
        raise ValueError(f"reference: expected a row in [0, {arr.shape[0]}), got {reference}")
    if not np.all(np.isfinite(arr)):
        raise ValueError("qrs: expected finite values, got NaN/inf")
    for s, n in enumerate(lens):
        arr[s, :, n:] = 0.0
    if mode == "baseline":
        scale = float(np.max(np.abs(arr[reference, :, : lens[reference]])))
        if scale == 0.0:
            raise ValueError("reference: the reference QRS is zero in every lead; cannot normalise")
        return arr / scale
    return normalise(arr, mode, leads)
