"""The random-infarct benchmark of the inverse methods, with baselines at an equal simulation budget.

Cases: on each test heart, random infarcts of the prior (:func:`mitwin.inverse.prior.random_infarcts`,
optionally irregular or double) and the healthy heart, each observed under conditions: ``clean``; ``noise``
(white Gaussian noise of ``noise`` times each lead's peak); ``speed+10`` / ``speed-10`` (the observation
simulated with the myocardial, fast-endocardial and Purkinje speeds of the default conduction system 10 %
faster / slower than the model that fits it). Or (``cases="templates"``) the paper's 16 template infarcts.

Methods, all on the test heart itself:

* ``fit``: :func:`mitwin.fit_infarct` with a budget of B simulations (library + refinement).
* ``nearest``: nearest neighbour by the same QRS distance in a library of B prior infarcts plus the healthy heart.
* ``template``: the nearest of the paper's 16 templates (a template classifier with exact placement; like the
  paper's classifier it has no "healthy" class).
* ``cobiveco_net`` (with ``net_run``): the amortised network of :mod:`mitwin.model.cobiveco_net`, given the
  observed QRS and the healthy QRS of the test heart (one simulation), its ellipsoid decoded on the heart's
  nodes; score p(infarct).
* ``cobiveco_net_checked`` (with ``net_run``): the same answer, simulated once on the test heart and kept only
  when it explains the QRS better (by the fit's distance) than the healthy heart does - the nearest
  neighbour's rule; score p(infarct), minus 1 when the check rejects the infarct.
* ``vae`` (with ``vae_run``): the dual VAE of :mod:`mitwin.model.train` on the heart's point cloud; score the
  mean per-node scar probability (the predicted scar share).

The deep models are trained on other subjects (:mod:`mitwin.inverse.training_set`); their records carry the
amortised inference time per case (``seconds``).

Metrics per infarct case: Dice / precision / recall of scar and BZ, AHA-loc-score (:mod:`mitwin.model.metrics`),
scar-centroid error (mm), scar-volume error (mL); per healthy case: whether any scar is predicted (false
positive). Detection scores for the ROC AUC: ``p_infarct`` (fit), ``d_healthy - d_best`` (baselines).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from ..ellipsoid import BORDER_ZONE, SCAR, node_volumes
from ..ep.conduction import DEFAULT_PARAMS
from ..ep.forward import prepare
from ..infarct import paper_scenarios
from ..model.metrics import aha_loc_score, segmentation_scores
from .calibration import Reliability, centre_covered, reliability, volume_covered
from .fit import (
    DEFAULT_BANDWIDTH,
    DEFAULT_POSTERIOR_BANDWIDTH,
    DEFAULT_RELATIVE_BANDWIDTH,
    Library,
    build_library,
    fit_infarct,
)
from .prior import random_infarcts
from .simulator import DEFAULT_TIME_SCALES, QRSSimulator

log = logging.getLogger(__name__)

__all__ = ["CONDITIONS", "METHODS", "BenchmarkSettings", "benchmark_heart", "observe"]

#: Observation conditions.
CONDITIONS: tuple[str, ...] = ("clean", "noise", "speed+10", "speed-10")
#: Methods compared (the last two only with a trained run: ``net_run``, ``vae_run``).
METHODS: tuple[str, ...] = ("fit", "nearest", "template", "cobiveco_net", "cobiveco_net_checked", "vae")


@dataclass(frozen=True)
class BenchmarkSettings:
    """Sizes and options of one benchmark run.

    Attributes
    ----------
    n_random : int, random infarcts per heart
    n_simulations : int, budget B of every method that simulates (fit and nearest)
    library_fraction : float, share of B that the fit spends on its library
    bandwidth, relative_bandwidth, posterior_bandwidth : float, the fit's kernel bandwidths (:func:`fit_infarct`)
    tissue : str
    irregular, double : float, probabilities of irregular and two-infarct cases
    noise : float, noise sd as a fraction of each lead's peak (condition ``noise``)
    conditions : tuple of str
    cases : {"random", "templates"}
    seed : int
    n_threads : int
    net_run, vae_run : str, optional
        Run directories of a trained Cobiveco network and dual VAE (adds the methods ``cobiveco_net`` / ``vae``).
    methods : tuple of str
        Which of ``fit``, ``nearest``, ``template`` run (e.g. only the deep models: ``()``).
    """

    n_random: int = 6
    n_simulations: int = 1000
    library_fraction: float = 0.5
    bandwidth: float = DEFAULT_BANDWIDTH
    relative_bandwidth: float = DEFAULT_RELATIVE_BANDWIDTH
    posterior_bandwidth: float = DEFAULT_POSTERIOR_BANDWIDTH
    tissue: str = "paper"
    irregular: float = 0.2
    double: float = 0.1
    noise: float = 0.05
    conditions: tuple[str, ...] = CONDITIONS
    cases: str = "random"
    seed: int = 0
    n_threads: int = 1
    net_run: str | None = None
    vae_run: str | None = None
    methods: tuple[str, ...] = ("fit", "nearest", "template")

    def __post_init__(self) -> None:
        bad_m = [m for m in self.methods if m not in METHODS[:3]]
        if bad_m:
            raise ValueError(f"methods: expected some of {METHODS[:3]}, got {bad_m}")
        bad = [c for c in self.conditions if c not in CONDITIONS]
        if bad:
            raise ValueError(f"conditions: expected some of {CONDITIONS}, got {bad}")
        if self.cases not in ("random", "templates"):
            raise ValueError(f"cases: expected 'random' or 'templates', got {self.cases!r}")
        if self.n_simulations < 40:
            raise ValueError(f"n_simulations: expected >= 40, got {self.n_simulations}")


def observe(heart: Any, labels: np.ndarray, condition: str, *, tissue: str, noise: float, rng: np.random.Generator,
            forwards: dict[str, Any]) -> np.ndarray:
    """The observed (8, T) QRS of a label field under a condition (module docstring)."""
    key = {"speed+10": "fast", "speed-10": "slow"}.get(condition, "nominal")
    if key not in forwards:
        factor = {"fast": 1.1, "slow": 0.9, "nominal": 1.0}[key]
        forwards[key] = prepare(heart, conduction=DEFAULT_PARAMS.scaled(factor, factor))
    sim = QRSSimulator(forwards[key], tissue)
    s, ln = sim.simulate(labels[None])
    sig = s[0, :, : int(ln[0])].copy()
    if condition == "noise":
        peak = np.max(np.abs(sig), axis=1, keepdims=True)
        sig += noise * peak * rng.standard_normal(sig.shape)
    return sig


def _region(labels: np.ndarray, vols: np.ndarray, points: np.ndarray) -> tuple[float, np.ndarray]:
    scar = labels == SCAR
    v = float(vols[scar].sum())
    centre = (vols[scar] @ points[scar]) / v if v > 0 else np.full(3, np.nan)
    return v / 1000.0, centre


def _scores(pred: np.ndarray, truth: np.ndarray, heart: Any, vols: np.ndarray) -> dict[str, float]:
    out = dict(segmentation_scores(pred, truth))
    out["aha_loc"] = aha_loc_score(pred, truth, heart.points, heart.ab, heart.rt, heart.tv)
    v_p, c_p = _region(pred, vols, heart.points)
    v_t, c_t = _region(truth, vols, heart.points)
    out["centre_error_mm"] = float(np.linalg.norm(c_p - c_t)) if v_p > 0 else float("nan")
    out["volume_error_ml"] = v_p - v_t
    out["abs_volume_error_ml"] = abs(v_p - v_t)
    return out


def _healthy_distance(sim: QRSSimulator, healthy: np.ndarray, observed: np.ndarray) -> float:
    """The fit's shape distance from the healthy QRS (8, T0) of the heart to the ``observed`` QRS."""
    return float(sim.distances(healthy[None], np.array([healthy.shape[1]]), observed)[0])


def _explains(sim: QRSSimulator, labels: np.ndarray, observed: np.ndarray, d_healthy: float) -> bool:
    sig, ln = sim.simulate(np.asarray(labels)[None])
    return float(sim.distances(sig, ln, observed)[0]) < d_healthy


def explains_better(sim: QRSSimulator, labels: np.ndarray, observed: np.ndarray, healthy: np.ndarray) -> bool:
    """Whether the infarct ``labels``, simulated once on the heart of ``sim``, is closer to the ``observed`` QRS
    (by the fit's shape distance) than the ``healthy`` QRS (8, T0) of that heart is."""
    return _explains(sim, labels, observed, _healthy_distance(sim, healthy, observed))


def _checked(sim: QRSSimulator, answer: dict[str, Any], observed: np.ndarray, d_healthy: float) -> dict[str, Any]:
    """``cobiveco_net_checked`` from the net's ``answer``: its infarct kept only when it explains the QRS better
    than the healthy heart (distance ``d_healthy``); otherwise no infarct and the score minus 1."""
    t0 = time.perf_counter()
    labels, score = answer["labels"], answer["score"]
    if np.any(labels == SCAR) and not _explains(sim, labels, observed, d_healthy):
        labels, score = np.zeros_like(labels), score - 1.0
    return {"labels": labels, "score": score, "seconds": answer["seconds"] + time.perf_counter() - t0}


def _amortised(s: BenchmarkSettings, heart: Any, coords: tuple[np.ndarray, ...], healthy: np.ndarray
               ) -> dict[str, Callable[[np.ndarray], dict[str, Any]]]:
    """method -> prediction of the trained deep models of ``s`` on one heart (loaded once per heart)."""
    out: dict[str, Callable[[np.ndarray], dict[str, Any]]] = {}
    if s.net_run is not None:
        from ..model.cobiveco_net import NetPredictor

        net = NetPredictor.from_run(s.net_run)

        def net_predict(obs: np.ndarray) -> dict[str, Any]:
            r = net.predict(obs, healthy, coords)
            return {"labels": r["labels"], "score": r["p_infarct"], "seconds": r["seconds"]}

        out["cobiveco_net"] = net_predict
    if s.vae_run is not None:
        from ..model.infer import VAEPredictor

        out["vae"] = VAEPredictor.from_run(s.vae_run, heart).predict
    return out


@dataclass
class _Baselines:
    """Libraries of one heart for the baselines."""

    library: Library
    lib_labels: Callable[[int], np.ndarray]
    templates: list[tuple[str, np.ndarray, np.ndarray, int]]  # name, labels, signals, length


def _nearest(sim: QRSSimulator, base: _Baselines, observed: np.ndarray, n_nodes: int, d_h: float
             ) -> dict[str, dict[str, Any]]:
    lib = base.library
    d = sim.distances(lib.signals, lib.lengths, observed)
    k = int(np.argmin(d))
    nn = base.lib_labels(k) if d[k] < d_h else np.zeros(n_nodes, dtype=np.int8)
    names = [t[0] for t in base.templates]
    width = max(t[2].shape[-1] for t in base.templates)
    sig = np.stack([np.pad(t[2], ((0, 0), (0, width - t[2].shape[-1]))) for t in base.templates])
    dt = sim.distances(sig, np.array([t[3] for t in base.templates]), observed)
    j = int(np.argmin(dt))
    return {"nearest": {"labels": nn, "score": d_h - float(d[k])},
            "template": {"labels": base.templates[j][1], "score": d_h - float(dt[j]), "choice": names[j]}}


def benchmark_heart(heart: Any, subject: int, settings: BenchmarkSettings,
                    progress: Callable[[str], None] | None = None) -> tuple[list[dict[str, Any]], Reliability]:
    """Run every case of one test heart; returns one record per (case, condition, method) and the fit's
    per-node reliability counts.

    Parameters
    ----------
    heart : Heart
    subject : int
        Subject index (seeds the random infarcts and the libraries).
    settings : BenchmarkSettings
    progress : callable, optional
        Called with a short message after each case (the CLI's progress bar).
    """
    s = settings
    fwd = prepare(heart)
    forwards = {"nominal": fwd}
    sim = QRSSimulator(fwd, s.tissue, n_threads=s.n_threads, time_scales=DEFAULT_TIME_SCALES)  # the fit's distance
    vols = node_volumes(heart.points, heart.tets)
    t0 = time.perf_counter()
    full = build_library(fwd, s.n_simulations - 1, seed=s.seed * 1000 + subject, tissue=s.tissue,
                         n_threads=s.n_threads)
    lib_seconds = (time.perf_counter() - t0) * s.library_fraction
    fit_lib = full.subset(max(2, int(round(s.library_fraction * s.n_simulations))))
    coords = sim.coords

    def lib_labels(k: int) -> np.ndarray:
        return full.prior.labels(full.prior.params(full.u[k]), *coords)[0]

    scen = paper_scenarios(s.tissue)
    templates = []
    for name in scen.inference_names:
        lab = scen[name].labels(*coords)
        if np.any(lab == SCAR):
            sig, ln = sim.simulate(lab[None])
            templates.append((name, lab, sig[0], int(ln[0])))
    base = _Baselines(full, lib_labels, templates)
    deep = _amortised(s, heart, coords, full.healthy_signal)
    if s.cases == "random":
        cases: list[tuple[str, Any, np.ndarray]] = [
            (f"random_{r.k}", r, r.labels(*coords))
            for r in random_infarcts(s.n_random, seed=s.seed, subject=subject, heart=heart, tissue=s.tissue,
                                     irregular=s.irregular, double=s.double)]
    else:
        cases = [(name, scen.record(name), t[1]) for name, t in zip(scen.inference_names, templates)]
    cases.append(("healthy", None, np.zeros(fwd.n_nodes, dtype=np.int8)))
    records: list[dict[str, Any]] = []
    rel = reliability(np.zeros(0), np.zeros(0, dtype=bool))
    for ci, (case, rec, truth) in enumerate(cases):
        v_t, c_t = _region(truth, vols, heart.points)
        info = {"subject": subject, "case": case, "healthy": rec is None, "scar_volume_ml": v_t,
                "kind": getattr(rec, "kind", "template" if rec is not None else "healthy"),
                "transmural": bool(rec.transmural) if hasattr(rec, "transmural") else
                (rec is not None and rec.infarct.radii[0] >= 1.0),
                "truth": rec.to_dict() if rec is not None else None}
        for cond in s.conditions:
            rng = np.random.default_rng([s.seed, subject, ci, CONDITIONS.index(cond)])
            obs = observe(heart, truth, cond, tissue=s.tissue, noise=s.noise, rng=rng, forwards=forwards)
            preds: dict[str, dict[str, Any]] = {}
            fit = None
            if "fit" in s.methods:
                fit = fit_infarct(heart, obs, seed=s.seed, n_simulations=s.n_simulations, forward=fwd,
                                  library=fit_lib, bandwidth=s.bandwidth, relative_bandwidth=s.relative_bandwidth,
                                  posterior_bandwidth=max(s.posterior_bandwidth, s.relative_bandwidth),
                                  n_threads=s.n_threads)
                preds["fit"] = {"labels": fit.labels, "score": fit.p_infarct}
            d_h = _healthy_distance(sim, full.healthy_signal, obs)
            preds.update({k: v for k, v in _nearest(sim, base, obs, fwd.n_nodes, d_h).items() if k in s.methods})
            preds.update({name: predict(obs) for name, predict in deep.items()})
            if "cobiveco_net" in preds:  # the same answer, checked by one simulation
                preds["cobiveco_net_checked"] = _checked(sim, preds["cobiveco_net"], obs, d_h)
            for method, p in preds.items():
                r = {**info, "condition": cond, "method": method, "score": p["score"],
                     "detected": bool(np.any(p["labels"] == SCAR)),
                     "pred_scar_volume_ml": _region(p["labels"], vols, heart.points)[0]}
                if rec is not None:
                    r.update(_scores(p["labels"], truth, heart, vols))
                if method == "template":
                    r["template_choice"] = p["choice"]
                if method in deep or method == "cobiveco_net_checked":
                    r["seconds"] = p["seconds"]
                if method == "fit" and fit is not None:
                    r.update({"p_infarct": fit.p_infarct, "seconds": fit.seconds + lib_seconds,
                              "n_simulations": fit.n_simulations, "bz_nodes": int(np.sum(fit.labels == BORDER_ZONE))})
                    if rec is not None:
                        for lv, ok in volume_covered(fit.sample_scar_volume, fit.weights, v_t).items():
                            r[f"volume_cov{int(lv * 100)}"] = ok
                        for lv, ok in centre_covered(fit.sample_scar_centre, fit.weights, c_t).items():
                            r[f"centre_cov{int(lv * 100)}"] = ok
                records.append(r)
            if fit is not None:
                rel = rel + reliability(fit.scar_probability, truth == SCAR)
        if progress is not None:
            progress(f"subject {subject} {case}")
    return records, rel


def settings_dict(settings: BenchmarkSettings) -> dict[str, Any]:
    """Plain data of the settings (for the report)."""
    return asdict(settings)


def run_benchmark(hearts: Sequence[tuple[int, Any]], settings: BenchmarkSettings,
                  progress: Callable[[str], None] | None = None) -> tuple[list[dict[str, Any]], Reliability]:
    """:func:`benchmark_heart` over (subject, heart) pairs; the records concatenated, the reliability summed."""
    records: list[dict[str, Any]] = []
    rel: Reliability | None = None
    for subject, heart in hearts:
        r, rl = benchmark_heart(heart, subject, settings, progress)
        records += r
        rel = rl if rel is None else rel + rl
    if rel is None:
        raise ValueError("hearts: expected at least one (subject, heart) pair")
    return records, rel
