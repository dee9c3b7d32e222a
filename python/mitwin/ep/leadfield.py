"""Pseudo-ECG: the lead field of a mesh and the synthesis of the 8-lead QRS from activation maps.

The Python side of ``cpp/core/leadfield.cpp``.

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

import logging
import math
from collections.abc import Mapping
from dataclasses import asdict, dataclass, fields, replace
from typing import Any

import numpy as np

from .._validate import as_float_array, as_points, as_tets, check_n_threads, check_tets
from .ecg import ECG, ECGBatch
from .filters import _below_nyquist, _butterworth, _filter_pad, remove_baseline
from .heartlike import HeartLike
from .leads import ELECTRODES, LEAD_TRANSFORM, LEADS
from .normalise import NORMALISATIONS, normalise
from .upstroke import TEMPLATES, _upstroke_cached

__all__ = ["LeadField", "QRSOptions", "pseudo_ecg", "qrs_length"]

logger = logging.getLogger(__name__)

#: Longest QRS synthesised, samples (10^7: about 2.8 h at 1 kHz); bounds every allocation.
MAX_SAMPLES = 10_000_000


def _number(value: Any, name: str, *, low: float, high: float, low_open: bool = False) -> float:
    """``value`` as a float in [low, high] (or (low, high]); a clear ValueError for strings, bools, NaN."""
    if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)):
        raise ValueError(f"{name}: expected a number, got {type(value).__name__} {value!r}")
    v = float(value)
    if not (math.isfinite(v) and (v > low if low_open else v >= low) and v <= high):
        bracket = "(" if low_open else "["
        raise ValueError(f"{name}: expected a number in {bracket}{low:g}, {high:g}], got {value!r}")
    return v


@dataclass(frozen=True)
class QRSOptions:
    """How a QRS is synthesised from an activation map: one place for the options and their defaults.

    Attributes
    ----------
    dt : float
        Sampling interval, ms (1 ms = 1 kHz).
    template : {"logistic", "step"}
        Upstroke of Vm (:func:`mitwin.ep.upstroke.upstroke_samples`). ``"logistic"`` with ``template_width``
        1 ms: a smooth
        upstroke of realistic length that avoids sampling artefacts. ``"step"`` is the jump used by
        time-stepping pseudo-ECG codes.
    template_width : float
        Logistic width, ms.
    amplitude : float
        Upstroke amplitude, mV (plateau - rest; default -85 -> +15 mV).
    margin : float
        Time after the last activation the signal runs on, ms (10 ms lets the default upstroke reach
        99.995 % of its plateau and the signal return to zero).
    lowpass_hz : float or None
        Zero-phase Butterworth low-pass cut-off, Hz; None: no filter.
    filter_order : int
        Poles of the low-pass (run forwards and backwards).
    remove_baseline : bool
        Subtract the line through each lead's first and last samples (after filtering).
    normalise : None, "lead", "amplitude" or "peak"
        :func:`mitwin.ep.normalise.normalise`.

    Examples
    --------
    >>> QRSOptions().dt, QRSOptions(lowpass_hz=None).lowpass_hz
    (1.0, None)
    >>> QRSOptions(margin="10")
    Traceback (most recent call last):
    ...
    ValueError: margin: expected a number, got str '10'
    """

    dt: float = 1.0
    template: str = "logistic"
    template_width: float = 1.0
    amplitude: float = 100.0
    margin: float = 10.0
    lowpass_hz: float | None = 150.0
    filter_order: int = 4
    remove_baseline: bool = False
    normalise: str | None = None

    def __post_init__(self) -> None:
        dt = _number(self.dt, "dt", low=1e-3, high=1e3)
        width = _number(self.template_width, "template_width", low=1e-3, high=1e3)
        amplitude = _number(self.amplitude, "amplitude", low=-1e6, high=1e6)
        margin = _number(self.margin, "margin", low=0.0, high=1e5)
        if not isinstance(self.template, str) or self.template not in TEMPLATES:
            raise ValueError(f"template: expected one of {TEMPLATES}, got {self.template!r}")
        lowpass_hz = None if self.lowpass_hz is None else _number(self.lowpass_hz, "lowpass_hz", low=0.01, high=1e6)
        if isinstance(self.filter_order, bool) or not isinstance(self.filter_order, (int, np.integer)) \
                or not 1 <= self.filter_order <= 16:
            raise ValueError(f"filter_order: expected an integer in [1, 16], got {self.filter_order!r}")
        if not isinstance(self.remove_baseline, (bool, np.bool_)):
            raise ValueError(f"remove_baseline: expected True or False, got {self.remove_baseline!r}")
        if self.normalise not in NORMALISATIONS:
            raise ValueError(f"normalise: expected one of {NORMALISATIONS}, got {self.normalise!r}")
        for name, value in (("dt", dt), ("template_width", width), ("amplitude", amplitude), ("margin", margin),
                            ("lowpass_hz", lowpass_hz), ("filter_order", int(self.filter_order)),
                            ("remove_baseline", bool(self.remove_baseline))):
            object.__setattr__(self, name, value)

    @classmethod
    def from_dict(cls, options: Mapping[str, Any] | None) -> QRSOptions:
        """Options from a mapping of field names (unknown names are an error)."""
        if options is not None and not isinstance(options, Mapping):
            raise ValueError(f"qrs_options: expected a QRSOptions or a mapping of its fields, got {options!r}")
        options = dict(options or {})
        unknown = sorted(set(options) - {f.name for f in fields(cls)})
        if unknown:
            raise ValueError(f"qrs_options: unknown option(s) {unknown}; expected fields of QRSOptions "
                             f"({', '.join(f.name for f in fields(cls))})")
        return cls(**options)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready fields."""
        return asdict(self)

    def with_changes(self, **changes: Any) -> QRSOptions:
        """A copy with some fields changed (validated again)."""
        return replace(self, **changes) if changes else self

    def n_samples(self, t_end: float) -> int:
        """Samples of a QRS whose activation ends at ``t_end`` ms: ``floor(t_end / dt) + 1 + ceil(margin / dt)``."""
        return int(math.floor(t_end / self.dt)) + 1 + int(math.ceil(self.margin / self.dt))


def qrs_length(at: Any, options: QRSOptions | None = None) -> np.ndarray:
    """Samples of each QRS up to its own end of activation plus the margin (the one QRS-length rule).

    Parameters
    ----------
    at : (N,) or (K, N) float64
        Activation times, ms; ``inf`` (never activated) is ignored.
    options : QRSOptions, optional

    Returns
    -------
    (K,) int64 (a 0-d array for one map)

    Examples
    --------
    >>> int(qrs_length(np.array([0.0, 20.0, np.inf])))
    31
    """
    opts = options or QRSOptions()
    a = np.asarray(at, dtype=np.float64)
    finite = np.where(np.isfinite(a), a, -np.inf)
    t_end = np.maximum(finite.max(axis=-1), 0.0)
    return np.floor(t_end / opts.dt).astype(np.int64) + 1 + int(math.ceil(opts.margin / opts.dt))


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
        with np.errstate(over="ignore"):  # absurd positions give inf here and are refused by the range check
            dmin = float(np.sqrt(np.min(np.sum((points - x) ** 2, axis=1))))
        if dmin < 1e-3 * edge:
            raise ValueError(f"electrodes[{name!r}]: lies on a mesh node (distance {dmin:.3g} mm); "
                             "1/r is singular there")
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

    def __init__(self, points: Any, tets: Any, electrodes: Any, *, k: float = 1.0,
                 n_threads: int | None = None) -> None:
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
    def from_heart(cls, heart: HeartLike, electrodes: Any = None, **kwargs: Any) -> LeadField:
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
    def _synthesise(self, ats: Any, lead: np.ndarray, opts: QRSOptions, *, n_samples: int | None,
                    lowpass: bool, n_threads: int | None, name: str) -> np.ndarray:
        from .._core_loader import core

        at = as_float_array(ats, name, (None, self._n), finite=False)
        threads = check_n_threads(n_threads)
        dt = opts.dt
        # one parallel pass in C++ over the times that occur: +inf (never activated) is left out, a NaN
        # gives NaN and -inf gives -inf; (inf, -inf) when no node activates
        t_start, t_end = core.value_range(at, n_threads=threads, skip_inf=True)
        if math.isnan(t_start):
            raise ValueError(f"{name}: expected finite activation times >= 0 ms (or inf: never activated), "
                             f"got {int(np.isnan(at).sum())} NaN entries")
        if np.isneginf(t_start):
            raise ValueError(f"{name}: expected finite activation times >= 0 ms (or inf: never activated), got -inf")
        if t_start > t_end:
            t_start, t_end = 0.0, 0.0
        if t_start < 0:
            raise ValueError(f"{name}: expected activation times >= 0 ms (t = 0 is the earliest), "
                             f"got min {t_start:.6g}")
        if t_end / dt > MAX_SAMPLES:
            raise ValueError(f"{name}: activation lasts {t_end:.6g} ms, more than {MAX_SAMPLES} samples of {dt} ms")
        if n_samples is None:
            n_samples = opts.n_samples(t_end)
        elif isinstance(n_samples, bool) or not isinstance(n_samples, (int, np.integer)) \
                or not 1 <= n_samples <= MAX_SAMPLES:
            raise ValueError(f"n_samples: expected None or an integer in [1, {MAX_SAMPLES}], got {n_samples!r}")
        n_samples = int(n_samples)
        if at.shape[0] * (n_samples + 0.0) * lead.shape[1] > 2e9:
            raise ValueError(f"{name}: {at.shape[0]} maps x {n_samples} samples x {lead.shape[1]} leads is more "
                             "than 2e9 values; synthesise fewer maps at a time")
        values, first = _upstroke_cached(opts.template, dt, opts.template_width)
        pad, sos, zi = 0, None, None
        cutoff = opts.lowpass_hz if lowpass else None
        if cutoff is not None and _below_nyquist(cutoff, dt):
            pad = _filter_pad(cutoff, dt)
            sos, zi = _butterworth(opts.filter_order, cutoff, 1000.0 / dt)
        # With a filter, `pad` true samples are synthesised either side so that the filter sees the real
        # signal (rest before t = 0, no signal after the end); the filter runs in C++ (as filters._filtfilt).
        out = core.synthesize_qrs(lead, at, -pad * dt, dt, n_samples + 2 * pad, opts.amplitude * values, first,
                                  sos=sos, zi=zi, n_threads=threads)
        return np.ascontiguousarray(out[..., pad : pad + n_samples])

    @staticmethod
    def _options(options: QRSOptions | None, dt: float | None, overrides: dict[str, Any]) -> QRSOptions:
        if options is not None and not isinstance(options, QRSOptions):
            raise ValueError(f"options: expected a QRSOptions or None, got {type(options).__name__}")
        opts = options or QRSOptions()
        if dt is not None:
            overrides["dt"] = dt
        unknown = sorted(set(overrides) - {f.name for f in fields(QRSOptions)})
        if unknown:
            raise TypeError(f"unexpected keyword argument(s) {unknown}; QRS options are the fields of QRSOptions")
        return opts.with_changes(**overrides)

    def _finish(self, sig: np.ndarray, opts: QRSOptions) -> np.ndarray:
        if opts.remove_baseline:
            sig = remove_baseline(sig)
        return normalise(sig, opts.normalise, LEADS)

    def potentials(self, at: Any, dt: float | None = None, *, options: QRSOptions | None = None,
                   n_samples: int | None = None, **overrides: Any) -> np.ndarray:
        """Raw electrode potentials (9, T) (rows :data:`ELECTRODES`) for one activation map, no filter.

        ``options`` (and field overrides) as :meth:`qrs`; the low-pass, baseline and normalisation are not applied.
        """
        opts = self._options(options, dt, overrides)
        at1 = as_float_array(at, "at", (self._n,), finite=False)[None]
        return self._synthesise(at1, self.matrix, opts, n_samples=n_samples, lowpass=False, n_threads=1, name="at")[0]

    def qrs(self, at: Any, dt: float | None = None, *, options: QRSOptions | None = None,
            n_samples: int | None = None, n_threads: int | None = 1, **overrides: Any) -> ECG:
        """8-lead QRS of one activation map.

        Parameters
        ----------
        at : (N,) float64
            Activation times, ms, >= 0; ``inf`` marks a node that never activates (blocked tissue): it
            never depolarises and contributes nothing.
        dt : float, optional
            Sampling interval, ms (shorthand for ``options.dt``).
        options : QRSOptions, optional
            Template, amplitude, margin, low-pass, baseline, normalisation (defaults: :class:`QRSOptions`).
        n_samples : int, optional
            Fixed output length instead of :func:`qrs_length`.
        n_threads : int, optional
            OpenMP threads (default 1: one QRS is a few ms; None: all cores).
        **overrides
            Fields of :class:`QRSOptions` to change (``template="step"``, ``lowpass_hz=None``, ...).

        Returns
        -------
        ECG
            ``signals`` (8, T) for :data:`LEADS`, ``t = arange(T) * dt`` ms.
        """
        opts = self._options(options, dt, overrides)
        at1 = as_float_array(at, "at", (self._n,), finite=False)[None]
        sig = self._synthesise(at1, self.lead_matrix, opts, n_samples=n_samples, lowpass=True, n_threads=n_threads,
                               name="at")
        return ECG(self._finish(sig[0], opts), opts.dt, LEADS, 0.0)

    def qrs_batch(self, ats: Any, dt: float | None = None, *, options: QRSOptions | None = None,
                  n_samples: int | None = None, n_threads: int | None = None, **overrides: Any) -> ECGBatch:
        """QRS of K activation maps on a common time axis, in parallel over the maps (GIL released).

        Parameters
        ----------
        ats : (K, N) float64
            Activation times, ms. T is set by the latest activation of the batch (or ``n_samples``).
        n_threads : int, optional
            OpenMP threads (None: all cores).
        Other parameters as :meth:`qrs`.

        Returns
        -------
        ECGBatch
            ``signals`` (K, 8, T); ``batch[k]`` equals ``qrs(ats[k], n_samples=T)``.
        """
        if np.ndim(ats) != 2:
            raise ValueError(f"ats: expected shape (K, N) with N = {self._n}, got {np.shape(ats)}")
        opts = self._options(options, dt, overrides)
        sig = self._synthesise(ats, self.lead_matrix, opts, n_samples=n_samples, lowpass=True, n_threads=n_threads,
                               name="ats")
        return ECGBatch(self._finish(sig, opts), opts.dt, LEADS, 0.0)


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
