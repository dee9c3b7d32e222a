"""Personalisation: fit a healthy heart's conduction system to a measured QRS (CMA-ES, multi-start).

:func:`personalise` searches the :class:`mitwin.ep.conduction.ConductionParams` of one heart - the
seven root sites (``ab``, ``rt`` in Cobiveco coordinates, so the result transfers to another heart)
and their start times, the dense and sparse endocardial speeds and the myocardial speeds (fibre
speed and the transverse/fibre ratio, sheet and sheet-normal scaled together) - so that the
simulated 8-lead QRS matches the measured one, lead by lead, in shape. The optimiser is CMA-ES
(Hansen 2016, the ``cma`` package) in the unit box of :func:`parameter_space` (bounds in
:data:`BOUNDS`), started ``n_starts`` times: first from the default conduction system, then from
points drawn from the seed. Each simulation goes through :func:`mitwin.ep.forward.prepare`'s
:meth:`~mitwin.ep.forward.Forward.with_conduction` (the lead field is built once).

Amplitude handling
------------------
The pseudo-ECG is computed in an infinite homogeneous medium: its precordial leads are 20-30 times its
limb leads, where a torso gives 1-3 times, and its absolute scale depends on the constant K. Amplitudes
are therefore not compared. The loss is the mean over the eight leads of ``1 - r``, with ``r`` the
Pearson correlation between the measured lead and the simulated lead on a common time axis: both
start at their QRS onset (the measured QRS is taken as delineated, onset to offset; the simulated one
from its first activation to the offset of :func:`mitwin.ep.ecg.qrs_duration`), and the shorter one is
padded with zeros, so that a wrong QRS duration lowers ``r``. The reported DTW distance
(:func:`mitwin.analysis.dtw.dtw`, with its duration penalty) is taken after scaling each lead to unit
peak magnitude; :meth:`Personalisation.plot` overlays the leads scaled the same way.

Determinism: for a given heart, QRS, seed and ``max_evals`` the result is the same on every run.
``budget_s`` caps the wall-clock time as well; when it bites, the result depends on the machine's speed.

Units: ms, m/s, Cobiveco coordinates (dimensionless).
"""

from __future__ import annotations

import json
import logging
import math
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ._atomic import atomic_path, write_text_atomic
from .ep.conduction import DEFAULT_PARAMS, ConductionParams
from .ep.ecg import ECG, LEADS

log = logging.getLogger(__name__)

__all__ = ["BOUNDS", "Personalisation", "load_conduction", "parameter_space", "personalise", "shape_metrics"]

#: Search bounds: root ``ab`` and ``rt`` within these offsets of their default site (rt periodic),
#: root start times in [0, t0_max] ms, speeds in m/s. Root ab is also kept within [0.05, 0.95].
BOUNDS: dict[str, tuple[float, float]] = {
    "site_ab_offset": (-0.15, 0.15),
    "site_rt_offset": (-0.08, 0.08),
    "t0": (0.0, 30.0),
    "dense_speed": (1.0, 3.0),
    "sparse_speed": (0.6, 2.5),
    "fibre_speed": (0.4, 0.9),
    "transverse_ratio": (0.5, 0.95),
}
#: Nodes seeding each root site during the fit (ConductionParams.site_nodes): activation then changes
#: continuously with a site's (ab, rt) instead of jumping from node to node.
SITE_NODES = 4
_FORMAT = "mitwin-personalisation"
_FORMAT_VERSION = 1


def parameter_space(base: ConductionParams = DEFAULT_PARAMS) -> tuple[list[str], Any, Any]:
    """The fitted parameters around ``base``: (names, to_params, from_params).

    ``to_params(x)`` maps a point of the unit box ``[0, 1]^d`` to a ConductionParams; ``from_params(p)``
    is its inverse (clipped to the box). Names: ``<site>.ab``, ``<site>.rt``, ``<site>.t0`` per root,
    then ``dense_speed``, ``sparse_speed``, ``fibre_speed``, ``transverse_ratio``.
    """
    sites = list(base.sites)
    names = [f"{s}.{k}" for s in sites for k in ("ab", "rt", "t0")]
    names += ["dense_speed", "sparse_speed", "fibre_speed", "transverse_ratio"]
    b = BOUNDS
    ratio = np.asarray(base.speeds[1:]) / base.speeds[0]
    shape = ratio / ratio[0]  # sheet : normal kept as in base

    def lerp(key: str, u: float) -> float:
        lo, hi = b[key]
        return lo + (hi - lo) * float(np.clip(u, 0.0, 1.0))

    def unlerp(key: str, v: float) -> float:
        lo, hi = b[key]
        return float(np.clip((v - lo) / (hi - lo), 0.0, 1.0))

    def to_params(x: Any) -> ConductionParams:
        x = np.asarray(x, dtype=np.float64)
        new = {}
        for i, s in enumerate(sites):
            site = base.sites[s]
            ab = float(np.clip(site.ab + lerp("site_ab_offset", x[3 * i]), 0.05, 0.95))
            rt = float(np.mod(site.rt + lerp("site_rt_offset", x[3 * i + 1]), 1.0))
            new[s] = type(site)(site.ventricle, ab, rt, lerp("t0", x[3 * i + 2]))
        k = 3 * len(sites)
        vf, tr = lerp("fibre_speed", x[k + 2]), lerp("transverse_ratio", x[k + 3])
        speeds = (vf, vf * tr * shape[0], vf * tr * shape[1])
        return base.with_changes(sites=new, dense_speed=lerp("dense_speed", x[k]),
                                 sparse_speed=lerp("sparse_speed", x[k + 1]), speeds=speeds, timing="sites",
                                 site_nodes=SITE_NODES)

    def from_params(p: ConductionParams) -> np.ndarray:
        x = []
        for s in sites:
            site, ref = p.sites[s], base.sites[s]
            drt = float(np.mod(site.rt - ref.rt + 0.5, 1.0) - 0.5)
            x += [unlerp("site_ab_offset", site.ab - ref.ab), unlerp("site_rt_offset", drt), unlerp("t0", site.t0)]
        x += [unlerp("dense_speed", p.dense_speed), unlerp("sparse_speed", p.sparse_speed),
              unlerp("fibre_speed", p.speeds[0]), unlerp("transverse_ratio", p.speeds[1] / p.speeds[0])]
        return np.asarray(x)

    return names, to_params, from_params


def _qrs_window(ecg: ECG) -> np.ndarray:
    """(8, T) signals of the simulated QRS from t = 0 (first activation) to its offset."""
    from .ep.delineation import qrs_duration

    _, _, off = qrs_duration(ecg, return_bounds=True)
    if not math.isfinite(off):
        return ecg.signals[:, :1] * 0.0
    return ecg.signals[:, : int(round((off - ecg.t0) / ecg.dt)) + 1]


def _pearson_rows(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Per-row Pearson r of two (L, T) arrays padded with zeros to a common length."""
    n = max(a.shape[1], b.shape[1])
    x = np.zeros((a.shape[0], n))
    y = np.zeros((b.shape[0], n))
    x[:, : a.shape[1]] = a
    y[:, : b.shape[1]] = b
    x -= x.mean(axis=1, keepdims=True)
    y -= y.mean(axis=1, keepdims=True)
    den = np.sqrt((x * x).sum(axis=1) * (y * y).sum(axis=1))
    return np.where(den > 0, (x * y).sum(axis=1) / np.where(den > 0, den, 1.0), 0.0)


def _unit_peak(x: np.ndarray) -> np.ndarray:
    m = np.abs(x).max(axis=1, keepdims=True)
    return x / np.where(m > 0, m, 1.0)


def shape_metrics(measured: ECG, simulated: ECG) -> tuple[dict[str, float], dict[str, float]]:
    """Per-lead Pearson r and DTW distance between a measured QRS and a simulated one (module docs).

    Returns
    -------
    r, dtw : dict lead -> float
    """
    from .analysis.dtw import dtw

    m = _measured_signals(measured)
    s = _qrs_window(simulated)
    r = _pearson_rows(m, s)
    d = dtw(_unit_peak(m), _unit_peak(s))
    return dict(zip(LEADS, map(float, r))), dict(zip(LEADS, map(float, d)))


def _measured_signals(qrs: Any) -> np.ndarray:
    if not all(hasattr(qrs, a) for a in ("signals", "dt", "leads")):
        raise ValueError(f"qrs: expected an ECG (signals, dt, leads), got {type(qrs).__name__}")
    leads = tuple(qrs.leads)
    missing = [k for k in LEADS if k not in leads]
    if missing:
        raise ValueError(f"qrs: expected the leads {', '.join(LEADS)}; missing {', '.join(missing)}")
    if not math.isclose(float(qrs.dt), 1.0, rel_tol=1e-6):
        raise ValueError(f"qrs.dt: expected a QRS at 1 kHz (dt = 1 ms; mitwin.ep.extract.extract_qrs resamples), "
                         f"got {qrs.dt} ms")
    sig = np.stack([np.asarray(qrs.signals[leads.index(k)], dtype=np.float64) for k in LEADS])
    if not np.all(np.isfinite(sig)):
        raise ValueError("qrs.signals: expected finite values, got NaN or inf")
    if not 20 <= sig.shape[1] <= 300:
        raise ValueError(f"qrs: expected a delineated QRS of 20-300 ms, got {sig.shape[1]} samples")
    flat = [k for k, row in zip(LEADS, sig) if np.ptp(row) == 0]
    if flat:
        raise ValueError(f"qrs: flat leads {flat}; expected a QRS in every lead")
    return sig


@dataclass
class Personalisation:
    """The result of :func:`personalise`.

    Attributes
    ----------
    params : ConductionParams
        The fitted conduction system (pass it as ``prepare(heart, conduction=params)``).
    measured, fitted : ECG
        The measured QRS (8 leads, 1 kHz, onset to offset) and the simulated QRS of ``params``.
    r, dtw : dict lead -> float
        Per-lead Pearson correlation and DTW distance (module docs).
    loss : float
        Mean over leads of ``1 - r`` (the fitted objective).
    seconds : float
        Wall-clock time of the fit, s.
    n_evals : int
        Forward simulations run.
    seed : int
    starts : list of dict
        Per start: its best loss and evaluations.
    """

    params: ConductionParams
    measured: ECG
    fitted: ECG
    r: dict[str, float]
    dtw: dict[str, float]
    loss: float
    seconds: float
    n_evals: int
    seed: int
    starts: list[dict[str, Any]] = field(default_factory=list)

    @property
    def mean_r(self) -> float:
        """Mean per-lead Pearson correlation."""
        return float(np.mean(list(self.r.values())))

    def summary(self) -> str:
        leads = " ".join(f"{k} {v:.3f}" for k, v in self.r.items())
        return (f"mean r {self.mean_r:.3f} ({leads}); {self.n_evals} simulations in {self.seconds:.0f} s")

    def save(self, out: str | Path) -> Path:
        """Write ``out/personalisation.json`` (parameters, metrics) and ``out/qrs.npz`` (measured and
        fitted signals), each atomically; no pickle. Returns ``out``."""
        out = Path(out)
        out.mkdir(parents=True, exist_ok=True)
        meta = {
            "format": _FORMAT, "format_version": _FORMAT_VERSION, "conduction": self.params.to_dict(),
            "r": self.r, "dtw": self.dtw, "loss": self.loss, "seconds": self.seconds, "n_evals": self.n_evals,
            "seed": self.seed, "starts": self.starts, "leads": list(LEADS),
            "amplitudes": "shapes compared per lead; pseudo-ECG amplitudes are infinite-medium, not a torso's",
        }
        with atomic_path(out / "qrs.npz") as tmp, open(tmp, "wb") as fh:
            np.savez(fh, measured=self.measured.signals, fitted=self.fitted.signals,
                     dt=np.array([self.measured.dt, self.fitted.dt]))
        write_text_atomic(out / "personalisation.json", json.dumps(meta, indent=1))
        return out

    @classmethod
    def load(cls, out: str | Path) -> Personalisation:
        """Read what :meth:`save` wrote."""
        out = Path(out)
        meta = _read_meta(out, "out")
        with np.load(out / "qrs.npz", allow_pickle=False) as z:
            measured, fitted, dt = z["measured"], z["fitted"], z["dt"]
        return cls(ConductionParams.from_dict(meta["conduction"]), ECG(measured, float(dt[0])),
                   ECG(fitted, float(dt[1])), meta["r"], meta["dtw"], float(meta["loss"]), float(meta["seconds"]),
                   int(meta["n_evals"]), int(meta["seed"]), list(meta.get("starts", [])))

    def plot(self, path: str | Path) -> Path:
        """PNG overlay of the measured and fitted QRS, 8 leads, each scaled to unit peak magnitude."""
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        m = _unit_peak(self.measured.signals)
        s = _unit_peak(_qrs_window(self.fitted))
        fig, axes = plt.subplots(2, 4, figsize=(12, 5), sharex=True)
        for k, ax in enumerate(axes.ravel()):
            ax.plot(np.arange(m.shape[1]) * self.measured.dt, m[k], color="k", lw=1.5, label="measured")
            ax.plot(np.arange(s.shape[1]) * self.fitted.dt, s[k], color="tab:red", lw=1.2, label="fitted")
            ax.axhline(0.0, color="0.7", lw=0.5)
            ax.set_title(f"{LEADS[k]}  r = {self.r[LEADS[k]]:.2f}", fontsize=9)
            ax.set_yticks([])
        for ax in axes[1]:
            ax.set_xlabel("ms from QRS onset")
        axes[0, 0].legend(fontsize=7, loc="lower left")
        fig.suptitle("measured vs fitted QRS, each lead scaled to unit peak (pseudo-ECG amplitudes are "
                     "infinite-medium)", fontsize=9)
        fig.tight_layout()
        path = Path(path)
        with atomic_path(path, suffix=".png") as tmp:
            fig.savefig(tmp, dpi=110, format="png")
        plt.close(fig)
        return path


def load_conduction(path: str | Path) -> ConductionParams:
    """The fitted conduction system of a saved personalisation: ``path`` is the folder :meth:`Personalisation.save`
    wrote (as ``mitwin personalise --out DIR`` does) or its ``personalisation.json``."""
    return ConductionParams.from_dict(_read_meta(Path(path), "path")["conduction"])


def _read_meta(path: Path, name: str) -> dict[str, Any]:
    """The checked ``personalisation.json`` of a saved personalisation (its folder or the file itself)."""
    from .errors import DatasetError

    if path.is_dir():
        path = path / "personalisation.json"
    if not path.exists():
        raise FileNotFoundError(f"{name}: no personalisation.json at {str(path)!r}; run mitwin personalise first")
    try:
        meta = json.loads(path.read_text())
    except ValueError as exc:
        raise DatasetError(f"{name}: {str(path)!r} is not valid JSON ({exc})") from exc
    if not isinstance(meta, dict) or meta.get("format") != _FORMAT or "conduction" not in meta:
        raise DatasetError(f"{name}: {str(path)!r} is not a mitwin personalisation")
    return meta


def personalise(heart: Any, qrs: Any, *, seed: int = 0, budget_s: float | None = None, max_evals: int = 6000,
                n_starts: int = 2, popsize: int | None = None, base: ConductionParams = DEFAULT_PARAMS,
                forward: Any = None, progress: bool = False) -> Personalisation:
    """Fit the conduction system of a healthy ``heart`` to a measured QRS.

    Parameters
    ----------
    heart : Heart
    qrs : ECG
        The measured QRS: leads I, II, V1..V6 at 1 kHz from onset to offset
        (:func:`mitwin.ep.extract.extract_qrs`).
    seed : int
        Seed of the starting points and of CMA-ES; same seed and ``max_evals``, same result.
    budget_s : float, optional
        Wall-clock cap in seconds over all starts (split evenly between them).
    max_evals : int
        Forward simulations over all starts (split evenly), >= 10 per start.
    n_starts : int
        CMA-ES runs; the first starts from ``base``, the others from points drawn from the seed.
    popsize : int, optional
        CMA-ES population (default cma's ``4 + 3 ln d``).
    base : ConductionParams
        The system around which root sites are searched (:data:`BOUNDS`), and the first start.
    forward : Forward, optional
        A prepared forward model of ``heart`` (its lead field and QRS options are reused).
    progress : bool
        Log each start's result at INFO level.

    Returns
    -------
    Personalisation

    Examples
    --------
    >>> from mitwin.ep.extract import extract_qrs  # doctest: +SKIP
    >>> from mitwin.ep.records import read_ecg  # doctest: +SKIP
    >>> fit = personalise(heart, extract_qrs(read_ecg("HR06004")), seed=0)  # doctest: +SKIP
    >>> fit.save("twin"); fit.plot("twin/overlay.png")  # doctest: +SKIP
    """
    import cma

    from .ep.forward import prepare

    measured = _measured_signals(qrs)
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise ValueError(f"seed: expected a non-negative integer, got {seed!r}")
    if budget_s is not None and not (math.isfinite(budget_s) and budget_s > 0):
        raise ValueError(f"budget_s: expected a time > 0 s or None, got {budget_s!r}")
    if isinstance(n_starts, bool) or not isinstance(n_starts, (int, np.integer)) or not 1 <= n_starts <= 100:
        raise ValueError(f"n_starts: expected an integer in [1, 100], got {n_starts!r}")
    if isinstance(max_evals, bool) or not isinstance(max_evals, (int, np.integer)) or max_evals < 10 * n_starts:
        raise ValueError(f"max_evals: expected an integer >= 10 per start ({10 * n_starts}), got {max_evals!r}")
    if not isinstance(base, ConductionParams):
        raise ValueError(f"base: expected a ConductionParams, got {type(base).__name__}")
    fwd = prepare(heart) if forward is None else forward
    names, to_params, from_params = parameter_space(base)
    dim = len(names)
    t_start = time.perf_counter()
    n_evals = 0

    def loss(x: np.ndarray) -> float:
        nonlocal n_evals
        n_evals += 1
        sim = fwd.with_conduction(to_params(x)).simulate()
        return float(np.mean(1.0 - _pearson_rows(measured, _qrs_window(sim.qrs))))

    rng = np.random.default_rng(np.random.SeedSequence(int(seed)))
    starts = [from_params(base)] + [rng.uniform(0.1, 0.9, dim) for _ in range(n_starts - 1)]
    seeds = rng.integers(1, 2**31 - 1, size=n_starts)
    best_x, best_f = starts[0], math.inf
    report = []
    for k, x0 in enumerate(starts):
        opts = {"bounds": [0.0, 1.0], "seed": int(seeds[k]), "maxfevals": max_evals // n_starts, "verbose": -9,
                "tolfun": 1e-5}
        if popsize is not None:
            opts["popsize"] = int(popsize)
        es = cma.CMAEvolutionStrategy(list(x0), 0.2, opts)
        t_k = time.perf_counter()
        deadline = None if budget_s is None else t_k + budget_s / n_starts
        used0 = n_evals
        while not es.stop():
            xs = es.ask()
            es.tell(xs, [loss(np.asarray(x)) for x in xs])
            if deadline is not None and time.perf_counter() > deadline:
                break
        f_k, x_k = float(es.result.fbest), np.asarray(es.result.xbest)
        report.append({"start": k, "loss": f_k, "n_evals": n_evals - used0,
                       "seconds": round(time.perf_counter() - t_k, 2)})
        if progress:
            log.info("start %d: loss %.4f after %d simulations", k, f_k, n_evals - used0)
        if f_k < best_f:
            best_f, best_x = f_k, x_k
    params = to_params(best_x)
    fitted = fwd.with_conduction(params).simulate().qrs
    measured_ecg = ECG(measured, 1.0, LEADS)
    r, d = shape_metrics(measured_ecg, fitted)
    seconds = time.perf_counter() - t_start
    log.info("personalised: loss %.4f, %d simulations, %.1f s", best_f, n_evals, seconds)
    return Personalisation(params, measured_ecg, fitted, r, d, float(np.mean([1 - v for v in r.values()])), seconds,
                           n_evals, int(seed), report)
