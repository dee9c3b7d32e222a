"""Pseudo-ECG: lead field, QRS synthesis for the 8 leads, QRS delineation.

The potential at an electrode follows the pseudo-ECG of Gima & Rudy (2002), Eq. (3) of the paper::

    phi_e(t) = K * integral over the myocardium of  -grad(Vm) . grad(1/r) dV,     r = |x - x_e|.

On linear tetrahedra grad(Vm) is constant per tet and linear in the nodal Vm; with grad(1/r) taken at
each tet's centroid (one-point quadrature; the electrodes lie outside the myocardium, so 1/r is smooth
over every tet) the potential is a fixed linear map of the nodal Vm, ``phi(t) = L.T @ Vm(t)``: the lead
field ``L`` (n_nodes, 9), built once per mesh and electrode set (C++, :func:`mitwin._core.lead_field`).

With ``Vm_j(t) = rest + amplitude * s(t - AT_j)`` every signal is a sum of shifted copies of the upstroke
``s``. The lead weights are binned by AT (linear interpolation between the two neighbouring samples, so
the signal is continuous in AT) and convolved with the sampled upstroke: O(N + T) per QRS instead of the
O(N T) of time stepping (C++, :func:`mitwin._core.synthesize_qrs`, which also applies the zero-phase
low-pass). The resting potential drops out: the lead weights of every tet sum to zero, so a uniform Vm
gives no signal.

Conventions
-----------
* ``K`` (``k``) defaults to 1: ``phi`` is in mV when Vm is in mV and lengths in mm (grad Vm [mV/mm] x
  grad(1/r) [1/mm^2] x dV [mm^3]). The paper's ``K = a^2 sigma_i / (4 sigma_e)`` only scales every lead;
  the QRS is usually compared after normalisation.
* Sign: a depolarisation front travelling towards an electrode gives a positive potential there. A plane
  front of area A with a jump ``amplitude`` seen from a distance r along its direction of travel gives
  ``K * amplitude * A / r**2`` (a dipole of strength ``K * amplitude * A``).
* Leads (the README's Conventions): I = LA - RA, II = LL - RA, Vi = phi(Vi) - WCT, WCT = (RA + LA + LL) / 3.
* Time: sample i is at ``t = i * dt`` ms, t = 0 the earliest possible activation (AT must be >= 0); the
  signal runs to the end of activation plus ``margin`` ms (default 10 ms, which lets the default upstroke
  reach 99.995 % of its plateau and the signal return to zero).

Examples
--------
>>> import numpy as np
>>> from mitwin.anatomy.synthetic import box_mesh
>>> points, tets = box_mesh((10.0, 10.0, 10.0), 1.0)
>>> electrodes = {name: np.array([60.0 + 20 * i, 5.0 + 10 * i, 5.0]) for i, name in enumerate(ELECTRODES)}
>>> ecg = pseudo_ecg(points, tets, electrodes, at=points[:, 0] / 0.5)
>>> ecg.leads[:3], ecg.signals.shape[0], float(ecg.t[0])
(('I', 'II', 'V1'), 8, 0.0)
"""

from __future__ import annotations

import functools
import logging
import math
import os
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from .._validate import as_float_array, as_points, as_tets, check_n_threads, check_tets

__all__ = [
    "ECG",
    "ECGBatch",
    "ELECTRODES",
    "LEADS",
    "LEAD_TRANSFORM",
    "LeadField",
    "lowpass",
    "normalise",
    "pseudo_ecg",
    "qrs_duration",
    "remove_baseline",
    "total_activation_time",
    "upstroke_samples",
]

logger = logging.getLogger(__name__)

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

TEMPLATES = ("logistic", "step")
NORMALISATIONS = (None, "lead", "amplitude")


# --------------------------------------------------------------------------------------------- results
@dataclass(frozen=True)
class ECG:
    """An 8-lead (pseudo-)ECG sampled every ``dt`` ms from ``t0``.

    Attributes
    ----------
    signals : (n_leads, T) float64, read-only
        One row per lead, in the order of ``leads`` (mV times K for a raw pseudo-ECG).
    dt : float
        Sampling interval, ms.
    leads : tuple of str
        Lead names, by default :data:`LEADS`.
    t0 : float
        Time of the first sample, ms.
    """

    signals: np.ndarray
    dt: float = 1.0
    leads: tuple[str, ...] = LEADS
    t0: float = 0.0

    def __post_init__(self) -> None:
        leads = tuple(str(x) for x in self.leads)
        sig = as_float_array(self.signals, "signals", (len(leads), None))
        if not (math.isfinite(self.dt) and self.dt > 0):
            raise ValueError(f"dt: expected a finite sampling interval > 0 ms, got {self.dt}")
        if len(set(leads)) != len(leads):
            raise ValueError(f"leads: expected distinct names, got {leads}")
        sig.setflags(write=False)
        object.__setattr__(self, "signals", sig)
        object.__setattr__(self, "leads", leads)
        object.__setattr__(self, "dt", float(self.dt))
        object.__setattr__(self, "t0", float(self.t0))

    @property
    def t(self) -> np.ndarray:
        """(T,) sample times, ms."""
        return self.t0 + self.dt * np.arange(self.signals.shape[1])

    @property
    def n_samples(self) -> int:
        """Number of samples T."""
        return int(self.signals.shape[1])

    def lead(self, name: str) -> np.ndarray:
        """(T,) signal of the lead called ``name`` (e.g. ``"V1"``)."""
        try:
            return self.signals[self.leads.index(name)]
        except ValueError:
            raise KeyError(f"lead {name!r} not in {self.leads}") from None

    def padded(self, n_samples: int = 512) -> np.ndarray:
        """(n_leads, n_samples) signals zero-padded (or cut) to a fixed length, as stored in datasets."""
        if n_samples < 0:
            raise ValueError(f"n_samples: expected >= 0, got {n_samples}")
        out = np.zeros((self.signals.shape[0], n_samples))
        m = min(n_samples, self.n_samples)
        if m < self.n_samples:
            logger.warning("ECG of %d samples cut to %d", self.n_samples, n_samples)
        out[:, :m] = self.signals[:, :m]
        return out

    def normalised(self, mode: str | None = "amplitude") -> ECG:
        """A copy normalised as :func:`normalise` describes."""
        return ECG(normalise(self.signals, mode, self.leads), self.dt, self.leads, self.t0)

    def qrs_duration(self, fraction: float = 0.05) -> float:
        """QRS duration in ms by :func:`qrs_duration`."""
        return float(qrs_duration(self, fraction=fraction))

    def to_csv(self, path: str | os.PathLike) -> Path:
        """Write ``t_ms`` and one column per lead to a CSV file (atomically); return the path."""
        from .._atomic import atomic_path

        table = np.column_stack([self.t, self.signals.T])
        header = ",".join(("t_ms",) + self.leads)
        with atomic_path(path) as tmp:
            np.savetxt(tmp, table, delimiter=",", header=header, comments="", fmt="%.10g")
        return Path(path)

    @classmethod
    def from_csv(cls, path: str | os.PathLike, dt: float | None = None) -> ECG:
        """Read a CSV with a header row: one column per lead of :data:`LEADS` (any order, extra
        columns ignored) and optionally ``t_ms``. ``dt`` defaults to the spacing of ``t_ms`` or 1 ms."""
        path = Path(path)
        with open(path) as fh:
            header = [h.strip() for h in fh.readline().strip().split(",")]
        missing = [name for name in LEADS if name not in header]
        if missing:
            raise ValueError(f"{path}: expected a header with columns {', '.join(LEADS)}; missing {', '.join(missing)}")
        data = np.loadtxt(path, delimiter=",", skiprows=1, ndmin=2)
        if data.shape[1] != len(header):
            raise ValueError(f"{path}: header has {len(header)} columns but the rows have {data.shape[1]}")
        signals = np.stack([data[:, header.index(name)] for name in LEADS])
        t0 = 0.0
        if "t_ms" in header:
            t = data[:, header.index("t_ms")]
            t0 = float(t[0]) if t.size else 0.0
            if dt is None and t.size > 1:
                dt = float(np.median(np.diff(t)))
        return cls(signals, 1.0 if dt is None else dt, LEADS, t0)


@dataclass(frozen=True)
class ECGBatch:
    """K ECGs with a common time axis: ``signals`` (K, n_leads, T). ``batch[k]`` is an :class:`ECG`;
    ``np.asarray(batch)`` gives ``signals``."""

    signals: np.ndarray
    dt: float = 1.0
    leads: tuple[str, ...] = LEADS
    t0: float = 0.0

    def __post_init__(self) -> None:
        leads = tuple(str(x) for x in self.leads)
        sig = as_float_array(self.signals, "signals", (None, len(leads), None))
        sig.setflags(write=False)
        object.__setattr__(self, "signals", sig)
        object.__setattr__(self, "leads", leads)

    @property
    def t(self) -> np.ndarray:
        """(T,) sample times, ms."""
        return self.t0 + self.dt * np.arange(self.signals.shape[2])

    def __len__(self) -> int:
        return int(self.signals.shape[0])

    def __getitem__(self, k: int) -> ECG:
        return ECG(self.signals[k], self.dt, self.leads, self.t0)

    def __iter__(self) -> Iterator[ECG]:
        return (self[k] for k in range(len(self)))

    def __array__(self, dtype: Any = None, copy: Any = None) -> np.ndarray:
        return np.array(self.signals, dtype=dtype, copy=True if copy is None else copy)

    @property
    def shape(self) -> tuple[int, int, int]:
        return tuple(self.signals.shape)  # type: ignore[return-value]


# ------------------------------------------------------------------------------------ signal helpers
@functools.lru_cache(maxsize=64)
def _upstroke_cached(template: str, dt: float, width: float) -> tuple[np.ndarray, int]:
    values, first = _upstroke(template, dt, width)
    values.setflags(write=False)
    return values, first


def upstroke_samples(template: str, dt: float, width: float = 1.0) -> tuple[np.ndarray, int]:
    """Normalised upstroke ``s`` (0 at rest, 1 at the plateau) sampled at ``m * dt``.

    Parameters
    ----------
    template : {"logistic", "step"}
        ``"logistic"``: ``s(tau) = 1 / (1 + exp(-tau / width))``, centred at the activation time
        (10-90 % rise ``2 ln 9 * width`` = 4.4 ms at the default width 1 ms), sampled over
        ``|tau| <= 12 width``. ``"step"``: ``s = 1`` from the first sample at or after AT; between samples
        the synthesis interpolates linearly in AT, i.e. ``s(tau) = clip(1 + tau / dt, 0, 1)``.
    dt : float
        Sampling interval, ms.
    width : float
        Logistic width, ms (ignored by the step).

    Returns
    -------
    values : (W,) float64
        ``s(m * dt)`` for ``m = first .. first + W - 1``; 0 before, ``values[-1]`` (= 1) after.
    first : int
    """
    if not isinstance(template, str):
        raise ValueError(f"template: expected one of {TEMPLATES}, got {template!r}")
    values, first = _upstroke_cached(template, float(dt), float(width))
    return values.copy(), first


def _upstroke(template: str, dt: float, width: float) -> tuple[np.ndarray, int]:
    if template == "step":
        return np.ones(1), 0
    if template == "logistic":
        if not (math.isfinite(width) and width > 0):
            raise ValueError(f"template_width: expected a width > 0 ms, got {width}")
        half = max(1, int(math.ceil(12.0 * width / dt)))
        m = np.arange(-half, half + 1)
        values = 0.5 * (1.0 + np.tanh(0.5 * m * dt / width))  # = logistic, without overflow
        values[-1] = 1.0
        return values, -half
    raise ValueError(f"template: expected one of {TEMPLATES}, got {template!r}")


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


def normalise(signals: np.ndarray, mode: str | None, leads: tuple[str, ...] = LEADS) -> np.ndarray:
    """Normalise leads (axis -2) of ``(..., n_leads, T)`` signals.

    Parameters
    ----------
    mode : None, "lead" or "amplitude"
        ``None``: unchanged. ``"lead"``: each lead divided by its own peak ``max |x|``.
        ``"amplitude"``: the limb leads I and II divided by the mean of their two peaks, V1-V6 by the mean of
        their six peaks, which keeps the relative amplitudes within each group (R-wave progression).
        An all-zero group is left unchanged.
    """
    x = np.array(signals, dtype=np.float64)
    if mode is None:
        return x
    peaks = np.max(np.abs(x), axis=-1, keepdims=True) if x.shape[-1] else np.zeros(x.shape[:-1] + (1,))
    if mode == "lead":
        scale = peaks
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


def qrs_duration(
    ecg: ECG | ECGBatch | np.ndarray,
    dt: float | None = None,
    *,
    fraction: float = 0.05,
    return_bounds: bool = False,
) -> Any:
    """QRS duration (ms) from the signal.

    Rule: the spatial velocity ``D(t) = sum over leads |dx/dt|`` (central differences, ``np.gradient``)
    is computed on the signal preceded by one sample of zeros (a simulated QRS starts from rest, so a
    potential already present at the first sample counts as a change there); the QRS onset is the first
    sample with ``D >= fraction * max D`` and the offset the last one; the duration is
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
    if isinstance(ecg, (ECG, ECGBatch)):
        x, dt, t0 = ecg.signals, ecg.dt, ecg.t0
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
        d = np.sum(np.abs(np.gradient(ext, dt, axis=-1)), axis=-2)[:, 1:]  # (K, T)
        peak = d.max(axis=-1)
        for k in range(x.shape[0]):
            if peak[k] > 0 and np.isfinite(peak[k]):
                idx = np.flatnonzero(d[k] >= fraction * peak[k])
                on[k], off[k] = t0 + idx[0] * dt, t0 + idx[-1] * dt
                dur[k] = (idx[-1] - idx[0]) * dt
    if single:
        dur, on, off = float(dur[0]), float(on[0]), float(off[0])
    return (dur, on, off) if return_bounds else dur


def total_activation_time(at: np.ndarray) -> float:
    """Total ventricular activation time ``max(AT) - min(AT)`` in ms (the end of activation when the
    earliest activation is at t = 0)."""
    a = as_float_array(at, "at", (None,))
    if a.size == 0:
        raise ValueError("at: expected at least one activation time")
    return float(a.max() - a.min())


# ---------------------------------------------------------------------------------------- lead field
def _as_electrodes(electrodes: Any) -> np.ndarray:
    """(9, 3) float64 positions in the order of ELECTRODES, from a dict (or a (9, 3) array)."""
    if isinstance(electrodes, Mapping):
        names = [str(k) for k in electrodes]
        missing = [e for e in ELECTRODES if e not in names]
        extra = [e for e in names if e not in ELECTRODES]
        if missing or extra:
            raise ValueError(
                f"electrodes: expected exactly the keys {', '.join(ELECTRODES)}; "
                f"missing {missing or 'none'}, unexpected {extra or 'none'}"
            )
        return np.stack([as_float_array(electrodes[e], f"electrodes[{e!r}]", (3,)) for e in ELECTRODES])
    arr = np.asarray(electrodes)
    if arr.dtype == object:
        raise ValueError(f"electrodes: expected a dict name -> (3,) position, got {type(electrodes).__name__}")
    return as_float_array(arr, "electrodes (rows RA, LA, LL, V1..V6)", (len(ELECTRODES), 3))


def _check_electrodes_outside(points: np.ndarray, tets: np.ndarray, pos: np.ndarray, edge: float) -> None:
    """Raise if an electrode lies inside (or on) a tet or within 1e-3 mean edge lengths of a node."""
    tol = 1e-9 * max(edge, 1e-300)
    box_lo, box_hi = points.min(axis=0) - tol, points.max(axis=0) + tol
    lo = hi = None
    for name, x in zip(ELECTRODES, pos):
        dmin = float(np.sqrt(np.min(np.sum((points - x) ** 2, axis=1))))
        if dmin < 1e-3 * edge:
            raise ValueError(f"electrodes[{name!r}]: lies on a mesh node (distance {dmin:.3g} mm); 1/r is singular there")
        if np.all((box_lo <= x) & (x <= box_hi)):  # only then can it be inside a tet
            if lo is None:
                corners = points[tets]
                lo, hi = corners.min(axis=1) - tol, corners.max(axis=1) + tol
            cand = np.flatnonzero(np.all((lo <= x) & (x <= hi), axis=1))
        else:
            cand = np.zeros(0, dtype=np.int64)
        if cand.size:
            p0 = points[tets[cand, 0]]
            m = np.stack([points[tets[cand, i]] - p0 for i in (1, 2, 3)], axis=2)  # (c, 3, 3) columns
            bary = np.linalg.solve(m, (x - p0)[..., None])[..., 0]
            lam = np.column_stack([1.0 - bary.sum(axis=1), bary])
            inside = np.all(lam >= -1e-9, axis=1)
            if np.any(inside):
                raise ValueError(
                    f"electrodes[{name!r}]: position {x.tolist()} mm lies inside the myocardium "
                    f"(tet {int(cand[np.argmax(inside)])}); electrodes must be outside the mesh"
                )
        if dmin < edge:
            logger.warning("electrode %s is %.3g mm from the mesh (mean edge %.3g mm): the centroid quadrature "
                           "of 1/r is inaccurate that close", name, dmin, edge)


class LeadField:
    """Pseudo-ECG lead field of a mesh and an electrode set; synthesises QRS complexes from activation maps.

    Parameters
    ----------
    points : (N, 3) float64
        Node coordinates, mm.
    tets : (M, 4) int64
        Linear tetrahedra (either orientation; no degenerate ones).
    electrodes : dict
        ``{"RA": (3,), "LA": ..., "LL": ..., "V1": ..., ..., "V6": ...}`` positions in mm, all outside the
        myocardium (a (9, 3) array in the order of :data:`ELECTRODES` is accepted too).
    k : float
        The constant K of Eq. (3) (default 1, see the module notes).
    n_threads : int, optional
        OpenMP threads for the build (None or 0: all).

    Attributes
    ----------
    matrix : (N, 9) float64
        Electrode lead field: ``phi_e(t) = sum_j matrix[j, e] * Vm_j(t)`` (Vm in mV).
    lead_matrix : (N, 8) float64
        The same for the leads, ``matrix @ LEAD_TRANSFORM.T``.

    Examples
    --------
    >>> import numpy as np
    >>> from mitwin.anatomy.synthetic import box_mesh
    >>> points, tets = box_mesh((10.0, 10.0, 10.0), 1.0)
    >>> electrodes = {name: np.array([60.0 + 20 * i, 5.0 + 10 * i, 5.0]) for i, name in enumerate(ELECTRODES)}
    >>> lf = LeadField(points, tets, electrodes)
    >>> ecg = lf.qrs(points[:, 0] / 0.5)            # a plane wave along x at 0.5 m/s
    >>> ecg.signals.shape, round(ecg.t[-1])         # 20 ms of activation + 10 ms margin
    ((8, 31), 30)
    """

    def __init__(self, points: Any, tets: Any, electrodes: Any, *, k: float = 1.0, n_threads: int | None = None) -> None:
        from .._core_loader import core

        pts = as_points(points)
        tt = as_tets(tets, pts.shape[0])
        check_tets(pts, tt, allow_inverted=True)
        pos = _as_electrodes(electrodes)
        if not (math.isfinite(k) and k != 0):
            raise ValueError(f"k: expected a finite non-zero constant, got {k}")
        edge = float(np.mean(np.linalg.norm(pts[tt[:, 1]] - pts[tt[:, 0]], axis=1)))
        _check_electrodes_outside(pts, tt, pos, edge)
        self._n = pts.shape[0]
        self._electrodes = pos
        self.k = float(k)
        self.matrix: np.ndarray = core.lead_field(pts, tt, pos, scale=self.k, n_threads=check_n_threads(n_threads))
        self.lead_matrix: np.ndarray = np.ascontiguousarray(self.matrix @ LEAD_TRANSFORM.T)
        logger.debug("lead field built: %d nodes, %d tets, %d electrodes", pts.shape[0], tt.shape[0], pos.shape[0])

    @classmethod
    def from_heart(cls, heart: Any, electrodes: Any = None, **kwargs: Any) -> LeadField:
        """Lead field of a :class:`mitwin.Heart` (its own electrodes unless ``electrodes`` is given)."""
        return cls(heart.points, heart.tets, heart.electrodes if electrodes is None else electrodes, **kwargs)

    @property
    def n_nodes(self) -> int:
        return self._n

    @property
    def electrodes(self) -> dict[str, np.ndarray]:
        """Electrode positions, mm (a copy)."""
        return {name: self._electrodes[i].copy() for i, name in enumerate(ELECTRODES)}

    # ----------------------------------------------------------------------------------------- QRS
    def _synthesise(
        self,
        ats: Any,
        lead: np.ndarray,
        *,
        dt: float,
        template: str,
        template_width: float,
        amplitude: float,
        margin: float,
        n_samples: int | None,
        lowpass_hz: float | None,
        filter_order: int,
        n_threads: int | None,
        name: str,
    ) -> np.ndarray:
        from .._core_loader import core

        at = as_float_array(ats, name, (None, self._n), finite=False)
        if not (math.isfinite(dt) and dt > 0):
            raise ValueError(f"dt: expected a sampling interval > 0 ms, got {dt}")
        if not (math.isfinite(margin) and margin >= 0):
            raise ValueError(f"margin: expected a time >= 0 ms, got {margin}")
        if not math.isfinite(amplitude):
            raise ValueError(f"amplitude: expected a finite upstroke amplitude in mV, got {amplitude}")
        t_start, t_end = core.value_range(at, n_threads=check_n_threads(n_threads)) if at.size else (0.0, 0.0)
        if not (math.isfinite(t_start) and math.isfinite(t_end)):  # NaN propagates into min and max
            bad = int(np.count_nonzero(~np.isfinite(at)))
            raise ValueError(f"{name}: expected finite activation times, got {bad} NaN/inf entries")
        if t_start < 0:
            raise ValueError(f"{name}: expected activation times >= 0 ms (t = 0 is the earliest), got min {t_start:.6g}")
        if t_end / dt > 1e7:
            raise ValueError(f"{name}: activation lasts {t_end:.6g} ms, more than 1e7 samples of {dt} ms")
        if n_samples is None:
            n_samples = int(math.floor(t_end / dt)) + 1 + int(math.ceil(margin / dt))
        elif int(n_samples) != n_samples or n_samples < 1:
            raise ValueError(f"n_samples: expected None or an integer >= 1, got {n_samples!r}")
        n_samples = int(n_samples)
        if not isinstance(template, str):
            raise ValueError(f"template: expected one of {TEMPLATES}, got {template!r}")
        values, first = _upstroke_cached(template, float(dt), float(template_width))
        pad, sos, zi = 0, None, None
        if lowpass_hz is not None:
            if not (isinstance(lowpass_hz, (int, float)) and math.isfinite(lowpass_hz) and lowpass_hz > 0):
                raise ValueError(f"lowpass_hz: expected a cut-off frequency > 0 Hz or None, got {lowpass_hz!r}")
            if not (isinstance(filter_order, (int, np.integer)) and 1 <= filter_order <= 16):
                raise ValueError(f"filter_order: expected an integer in [1, 16], got {filter_order!r}")
            if not _below_nyquist(lowpass_hz, dt):
                lowpass_hz = None
            else:
                pad = _filter_pad(lowpass_hz, dt)
                sos, zi = _butterworth(int(filter_order), float(lowpass_hz), 1000.0 / dt)
        # With a filter, `pad` true samples are synthesised either side so that the filter sees the real
        # signal (rest before t = 0, no signal after the end); the filter runs in C++ (as _filtfilt).
        out = core.synthesize_qrs(lead, at, -pad * dt, dt, n_samples + 2 * pad, amplitude * values, first,
                                  sos=sos, zi=zi, n_threads=check_n_threads(n_threads))
        return np.ascontiguousarray(out[..., pad : pad + n_samples])

    def _finish(self, sig: np.ndarray, remove_baseline_: bool, normalise_: str | None) -> np.ndarray:
        if normalise_ not in NORMALISATIONS:
            raise ValueError(f"normalise: expected one of {NORMALISATIONS}, got {normalise_!r}")
        if remove_baseline_:
            sig = remove_baseline(sig)
        return normalise(sig, normalise_, LEADS)

    def potentials(
        self,
        at: Any,
        dt: float = 1.0,
        *,
        template: str = "logistic",
        template_width: float = 1.0,
        amplitude: float = 100.0,
        margin: float = 10.0,
        n_samples: int | None = None,
    ) -> np.ndarray:
        """Raw electrode potentials (9, T) (rows :data:`ELECTRODES`) for one activation map, no filter."""
        return self._synthesise(
            as_float_array(at, "at", (self._n,), finite=False)[None], self.matrix, dt=dt, template=template,
            template_width=template_width, amplitude=amplitude, margin=margin, n_samples=n_samples,
            lowpass_hz=None, filter_order=4, n_threads=1, name="at",
        )[0]

    def qrs(
        self,
        at: Any,
        dt: float = 1.0,
        *,
        template: str = "logistic",
        template_width: float = 1.0,
        amplitude: float = 100.0,
        margin: float = 10.0,
        n_samples: int | None = None,
        lowpass_hz: float | None = 150.0,
        filter_order: int = 4,
        remove_baseline: bool = False,
        normalise: str | None = None,
        n_threads: int | None = 1,
    ) -> ECG:
        """8-lead QRS of one activation map.

        Parameters
        ----------
        at : (N,) float64
            Activation times, ms, finite and >= 0.
        dt : float
            Sampling interval, ms (1 ms = 1 kHz).
        template : {"logistic", "step"}
            Upstroke of Vm (:func:`upstroke_samples`). Default ``"logistic"`` with ``template_width`` 1 ms:
            a smooth upstroke of realistic length that avoids sampling artefacts. ``"step"`` is the jump
            used by time-stepping pseudo-ECG codes.
        template_width : float
            Logistic width, ms.
        amplitude : float
            Upstroke amplitude, mV (plateau - rest; default -85 -> +15 mV).
        margin : float
            Time after the last activation the signal runs on, ms.
        n_samples : int, optional
            Fixed output length instead of ``floor(max(at) / dt) + 1 + ceil(margin / dt)``.
        lowpass_hz : float or None
            Zero-phase Butterworth low-pass cut-off (Hz), ``filter_order`` poles, applied forwards and
            backwards; None: no filter.
        remove_baseline : bool
            Subtract the line through each lead's first and last samples (after filtering).
        normalise : None, "lead" or "amplitude"
            See :func:`normalise`.
        n_threads : int, optional
            OpenMP threads (default 1: one QRS is a few ms; None or 0: all).

        Returns
        -------
        ECG
            ``signals`` (8, T) for :data:`LEADS`, ``t = arange(T) * dt`` ms.
        """
        sig = self._synthesise(
            as_float_array(at, "at", (self._n,), finite=False)[None], self.lead_matrix, dt=dt, template=template,
            template_width=template_width, amplitude=amplitude, margin=margin, n_samples=n_samples,
            lowpass_hz=lowpass_hz, filter_order=filter_order, n_threads=n_threads, name="at",
        )
        return ECG(self._finish(sig[0], remove_baseline, normalise), dt, LEADS, 0.0)

    def qrs_batch(
        self,
        ats: Any,
        dt: float = 1.0,
        *,
        template: str = "logistic",
        template_width: float = 1.0,
        amplitude: float = 100.0,
        margin: float = 10.0,
        n_samples: int | None = None,
        lowpass_hz: float | None = 150.0,
        filter_order: int = 4,
        remove_baseline: bool = False,
        normalise: str | None = None,
        n_threads: int | None = None,
    ) -> ECGBatch:
        """QRS of K activation maps on a common time axis, in parallel over the maps (GIL released).

        Parameters
        ----------
        ats : (K, N) float64
            Activation times, ms. T is set by the latest activation of the batch (or ``n_samples``).
        n_threads : int, optional
            OpenMP threads (None or 0: all).
        Other parameters as :meth:`qrs`.

        Returns
        -------
        ECGBatch
            ``signals`` (K, 8, T); ``batch[k]`` equals ``qrs(ats[k], n_samples=T)``.
        """
        if np.ndim(ats) != 2:
            raise ValueError(f"ats: expected shape (K, N) with N = {self._n}, got {np.shape(ats)}")
        sig = self._synthesise(
            ats, self.lead_matrix, dt=dt, template=template, template_width=template_width, amplitude=amplitude,
            margin=margin, n_samples=n_samples, lowpass_hz=lowpass_hz, filter_order=filter_order,
            n_threads=n_threads, name="ats",
        )
        return ECGBatch(self._finish(sig, remove_baseline, normalise), dt, LEADS, 0.0)


def pseudo_ecg(points: Any, tets: Any, electrodes: Any, at: Any, **options: Any) -> ECG:
    """One-call pseudo-ECG: ``LeadField(points, tets, electrodes).qrs(at, **options)``.

    Parameters
    ----------
    points : (N, 3) float64 mm; tets : (M, 4) int64; electrodes : dict name -> (3,) mm (:data:`ELECTRODES`);
    at : (N,) float64 ms. ``options`` as :meth:`LeadField.qrs` (``k``, ``n_threads`` go to the lead field).

    Returns
    -------
    ECG
    """
    lf_options = {key: options.pop(key) for key in ("k", "n_threads") if key in options}
    return LeadField(points, tets, electrodes, **lf_options).qrs(at, **options)
