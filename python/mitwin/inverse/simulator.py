"""Label fields -> QRS on one heart, and the QRS shape distance of the inverse fit.

Everything is simulated through one prepared :class:`mitwin.ep.forward.Forward` (its activation solver
batch and lead field), so any label field - an ellipsoid of the prior, an irregular or a double infarct -
goes through the same forward model as the rest of mitwin. Speed factors come from a tissue preset.

The distance compares shapes, not amplitudes (the pseudo-ECG's amplitudes are those of an infinite
medium): each lead of each QRS is divided by its own peak ``max |x|``, the signals are zero-padded (or cut)
to a window of ``window`` times the observed length, and

    d^2 = sum over leads and samples of (x - y)^2 / (8 * T_obs),

the mean squared difference per observed sample, in (lead-peak units)^2, minimised over a few time scales
of the simulated QRS (``time_scales``: a global speed mismatch stretches the QRS in time).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

import numpy as np

from ..ep.ecg import ECG
from ..ep.leads import LEADS
from ..tissue import Tissue, get_tissue

log = logging.getLogger(__name__)

__all__ = ["DEFAULT_TIME_SCALES", "QRSSimulator", "as_observation", "noise_floor", "shape_features", "time_warp"]

#: Time scales of the fit's distance: +-12 % in steps of 4 %.
DEFAULT_TIME_SCALES: tuple[float, ...] = (0.88, 0.92, 0.96, 1.0, 1.04, 1.08, 1.12)


def shape_features(signals: np.ndarray, lengths: np.ndarray, n_samples: int) -> np.ndarray:
    """Per-lead peak-normalised QRS on a common window.

    Parameters
    ----------
    signals : (K, 8, T) float
        Raw QRS, zero beyond each row's length.
    lengths : (K,) int
        Valid samples of each row.
    n_samples : int
        Window length; rows are zero-padded or cut to it.

    Returns
    -------
    (K, 8, n_samples) float64
    """
    sig = np.asarray(signals, dtype=float)
    k, n_leads, t = sig.shape
    out = np.zeros((k, n_leads, n_samples))
    m = min(t, n_samples)
    out[:, :, :m] = sig[:, :, :m]
    valid = np.arange(n_samples)[None, :] < np.asarray(lengths)[:, None]
    out *= valid[:, None, :]
    peak = np.max(np.abs(out), axis=-1, keepdims=True)
    return out / np.where(peak > 0, peak, 1.0)


def as_observation(qrs: Any, dt: float) -> np.ndarray:
    """(8, T) signals of an observed QRS in the lead order of :data:`LEADS`, resampled to ``dt`` ms.

    Raises
    ------
    ValueError
        When ``qrs`` is not an :class:`ECG` (or an (8, T) array at ``dt``) with the 8 leads, or is flat.
    """
    if isinstance(qrs, ECG):
        missing = [name for name in LEADS if name not in qrs.leads]
        if missing:
            raise ValueError(f"qrs: expected the leads {LEADS}, missing {missing}")
        sig = np.stack([qrs.lead(name) for name in LEADS])
        if abs(qrs.dt - dt) > 1e-9:
            t_old = np.arange(sig.shape[1]) * qrs.dt
            t_new = np.arange(0.0, t_old[-1] + 1e-9, dt)
            sig = np.stack([np.interp(t_new, t_old, row) for row in sig])
    else:
        try:
            sig = np.asarray(qrs, dtype=np.float64)
        except (TypeError, ValueError) as exc:
            raise ValueError(f"qrs: expected an ECG or an (8, T) array, got {type(qrs).__name__}") from exc
        if sig.ndim != 2 or sig.shape[0] != len(LEADS):
            raise ValueError(f"qrs: expected an ECG or an (8, T) array, got shape {sig.shape}")
    if sig.shape[1] < 10 or not np.all(np.isfinite(sig)):
        raise ValueError(f"qrs: expected at least 10 finite samples per lead, got shape {sig.shape}")
    if not np.any(sig):
        raise ValueError("qrs: all leads are zero")
    return sig


@dataclass
class QRSSimulator:
    """Simulate label fields on one prepared heart and measure them against an observed QRS.

    Parameters
    ----------
    forward : Forward
        From :func:`mitwin.ep.forward.prepare`.
    tissue : str or Tissue
        Speed factors of scar and BZ.
    n_threads : int
        Threads of the C++ batches.
    time_scales : tuple of float
        Time scales over which :meth:`distances` takes the smallest distance (the simulated QRS played
        ``s`` times faster): a global conduction-speed mismatch between model and patient stretches the
        QRS in time, which this makes the distance blind to within the range. ``(1.0,)``: no warping.
    """

    forward: Any
    tissue: str | Tissue = "paper"
    n_threads: int = 1
    time_scales: tuple[float, ...] = (1.0,)

    def __post_init__(self) -> None:
        self.tissue = get_tissue(self.tissue)
        self.n_simulations = 0
        h = self.forward.heart
        self.coords = tuple(np.asarray(getattr(h, a), dtype=float) for a in ("tm", "ab", "rt", "tv"))

    def simulate(self, labels: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Raw QRS of K label fields.

        Parameters
        ----------
        labels : (K, N) int
            0 healthy, 1 BZ, 2 scar.

        Returns
        -------
        signals : (K, 8, T) float64, zero beyond each row's length
        lengths : (K,) int64
        """
        lab = np.atleast_2d(np.asarray(labels))
        t = get_tissue(self.tissue)
        table = np.array([1.0, t.bz_factor, t.scar_factor])
        batch = self.forward.simulate_factors(table[lab], lab, n_threads=self.n_threads)
        sig, lengths = np.asarray(batch.qrs.signals), batch.qrs_length
        sig = sig * (np.arange(sig.shape[-1])[None, :] < lengths[:, None])[:, None, :]
        self.n_simulations += lab.shape[0]
        return sig, lengths

    def distances(self, signals: np.ndarray, lengths: np.ndarray, observed: np.ndarray,
                  window: float = 1.6) -> np.ndarray:
        """(K,) shape distances of simulated QRS to an observed (8, T_obs) QRS (module docstring), each the
        smallest over the time scales :attr:`time_scales`."""
        t_obs = observed.shape[1]
        n = int(np.ceil(window * t_obs))
        y = shape_features(observed[None], np.array([t_obs]), n)[0]
        sig = np.asarray(signals, dtype=float)
        lengths = np.asarray(lengths)
        best = np.full(sig.shape[0], np.inf)
        for scale in self.time_scales:
            warped, warped_len = (sig, lengths) if scale == 1.0 else time_warp(sig, lengths, scale)
            x = shape_features(warped, warped_len, n)
            best = np.minimum(best, np.sum((x - y[None]) ** 2, axis=(1, 2)) / (x.shape[1] * t_obs))
        return np.sqrt(best)


def time_warp(signals: np.ndarray, lengths: np.ndarray, scale: float) -> tuple[np.ndarray, np.ndarray]:
    """Signals played ``scale`` times faster: ``x_s(t) = x(scale * t)`` (linear interpolation).

    Parameters
    ----------
    signals : (K, L, T) float, zero beyond ``lengths``
    lengths : (K,) int
    scale : float > 0

    Returns
    -------
    (K, L, ceil(T / scale)) float and (K,) int lengths ``ceil(lengths / scale)``

    Examples
    --------
    >>> x = np.arange(6.0)[None, None]
    >>> time_warp(x, np.array([6]), 2.0)[0][0, 0].tolist()
    [0.0, 2.0, 4.0]
    """
    if not (np.isfinite(scale) and scale > 0):
        raise ValueError(f"scale: expected a finite value > 0, got {scale!r}")
    t = signals.shape[-1]
    m = int(np.ceil(t / scale))
    pos = np.arange(m) * scale
    i0 = np.minimum(np.floor(pos).astype(np.int64), t - 1)
    i1 = np.minimum(i0 + 1, t - 1)
    frac = pos - i0
    out = signals[..., i0] * (1 - frac) + signals[..., i1] * frac
    out[..., pos > t - 1] = 0.0
    return out, np.ceil(np.asarray(lengths) / scale).astype(np.int64)


def noise_floor(observed: np.ndarray) -> float:
    """Estimated share of white measurement noise in the shape distance to ``observed`` (8, T).

    Each lead is divided by its peak; the noise sd of each is estimated from its second differences (robust:
    1.4826 * median |d2 x| / sqrt(6), which a smooth QRS sampled at 1 kHz hardly moves), and the result is the
    RMS over the leads - the amount that noise adds to the distance of any simulation, in its units.

    Examples
    --------
    >>> t = np.arange(100.0)
    >>> clean = np.tile(np.sin(t / 15.0), (8, 1))
    >>> noisy = clean + 0.05 * np.random.default_rng(0).standard_normal(clean.shape)
    >>> noise_floor(clean) < 0.005, abs(noise_floor(noisy) - 0.05) < 0.01
    (True, True)
    """
    y = np.asarray(observed, dtype=float)
    if y.ndim != 2 or y.shape[1] < 5:
        raise ValueError(f"observed: expected shape (n_leads, T) with T >= 5, got {y.shape}")
    peak = np.max(np.abs(y), axis=1, keepdims=True)
    y = y / np.where(peak > 0, peak, 1.0)
    sd = 1.4826 * np.median(np.abs(np.diff(y, n=2, axis=1)), axis=1) / np.sqrt(6.0)
    return float(np.sqrt(np.mean(sd ** 2)))
