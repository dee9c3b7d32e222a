"""Training sets of random infarcts drawn per subject, written in the dataset layout of :mod:`mitwin.data.store`.

``mitwin simulate --random N`` adds the same N infarcts (in Cobiveco coordinates) to every subject, as named
scenarios of the campaign. An amortised model needs many *different* infarcts per heart, irregular and
double ones included, which no shared scenario list can hold. :func:`write_random_set` therefore draws, for
the subject with cohort index i, ``random_infarcts(n_random, seed=seed, subject=i, ...)`` (the benchmark's own
generator, so a training subject's draws are never a test subject's), simulates them with one prepared
forward model per heart and writes one subject record per heart through the store's own writer
(:func:`mitwin.data.store.write_part`, :func:`mitwin.data.store.merge`): the same file format as a campaign.

Rows: ``baseline`` (the healthy heart with the default conduction: the reference), optionally
``healthy_001`` ... (the healthy heart again, with other conduction speeds: more "no infarct" examples) and
the slots ``random_000`` ...; a slot holds a different infarct on every subject. Its record
(:meth:`mitwin.inverse.prior.RandomInfarct.to_dict`) is kept in the subject's ``parameters_json`` under
``"random_infarcts"`` (:func:`subject_infarcts`); the header's ``scenarios_json`` is empty, since no slot has
one infarct, and ``config_json`` records the generator (``"random_per_subject"``).

Conduction variability (``speed_spread`` s > 0): every row but ``baseline`` is simulated with its own
myocardial and fast-layer speed factors, each uniform in [1 - s, 1 + s] (:meth:`ConductionParams.scaled`,
deterministic from (seed, subject)), since a patient's speeds are never exactly the defaults; the factors
are kept in the subject's ``parameters_json`` under ``"conduction_scales"`` (one (myocardial, fast) pair
per row).
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from .._version import __version__
from ..data.campaign import existing_subjects, merge_parts, part_done, parts_folder
from ..data.store import Header, SubjectRecord, write_part
from ..ep.conduction_params import DEFAULT_PARAMS
from ..ep.leads import ELECTRODES, LEADS
from ..tissue import get_tissue
from .prior import RandomInfarct, random_infarcts

log = logging.getLogger(__name__)

__all__ = ["CONFIG_KEY", "conduction_scales", "healthy_names", "n_healthy_rows", "random_set_header",
           "simulate_random_subject", "slot_names", "subject_infarcts", "write_random_set"]

#: Key of the generator's settings in the header's ``config_json``.
CONFIG_KEY = "random_per_subject"


#: Most healthy variants per subject, and the widest speed spread.
MAX_HEALTHY = 1000
MAX_SPREAD = 0.5


def slot_names(n_random: int) -> tuple[str, ...]:
    """Row names of the random slots: ``random_000`` ..."""
    return tuple(f"random_{k:03d}" for k in range(n_random))


def healthy_names(n_healthy: int) -> tuple[str, ...]:
    """Row names of the healthy heart: ``baseline``, then ``healthy_001`` ... ``healthy_<n_healthy>``."""
    return ("baseline", *(f"healthy_{k:03d}" for k in range(1, n_healthy + 1)))


def random_set_header(n_random: int, *, seed: int = 0, tissue: str = "paper", irregular: float = 0.2,
                      double: float = 0.1, n_healthy: int = 0, speed_spread: float = 0.0, n_cloud: int = 4096,
                      n_coarse: int = 1024, n_dense: int = 4096) -> Header:
    """The dataset header of a per-subject random set (module docstring)."""
    def count(v: object) -> bool:
        return isinstance(v, (int, np.integer)) and not isinstance(v, bool)

    if not count(n_random) or n_random < 1:
        raise ValueError(f"n_random: expected an integer >= 1, got {n_random!r}")
    if not count(n_healthy) or not 0 <= n_healthy <= MAX_HEALTHY:
        raise ValueError(f"n_healthy: expected an integer in [0, {MAX_HEALTHY}], got {n_healthy!r}")
    if not 0.0 <= float(speed_spread) <= MAX_SPREAD:
        raise ValueError(f"speed_spread: expected a value in [0, {MAX_SPREAD}], got {speed_spread!r}")
    gen = {"n_random": int(n_random), "seed": seed, "irregular": irregular, "double": double,
           "rule": "random_infarcts(n_random, seed=seed, subject=cohort index)"}
    if n_healthy or speed_spread:  # older sets have neither key
        gen.update(n_healthy=int(n_healthy), speed_spread=float(speed_spread))
    config = {"method": "eikonal", "conduction": DEFAULT_PARAMS.to_dict(), "dt_ms": 1.0, "qrs_storage": "whole",
              "n_cloud": n_cloud, "n_coarse": n_coarse, "n_dense": n_dense, "tissue": get_tissue(tissue).name,
              CONFIG_KEY: gen}
    rows = (*healthy_names(int(n_healthy)), *slot_names(int(n_random)))
    return Header(mitwin_version=__version__, leads=tuple(LEADS), scenario_names=rows,
                  scenarios_json="{}", config_json=json.dumps(config, sort_keys=True), dt_ms=1.0)


def n_healthy_rows(header: Header) -> int:
    """Healthy rows (``baseline`` and its variants) at the start of every subject of a per-subject set."""
    gen = json.loads(header.config_json).get(CONFIG_KEY)
    if not isinstance(gen, dict):
        raise ValueError("header: not a per-subject random set (no 'random_per_subject' settings)")
    return 1 + int(gen.get("n_healthy", 0))


def conduction_scales(n_rows: int, spread: float, seed: int, index: int) -> np.ndarray:
    """(n_rows, 2) myocardial and fast-layer speed factors of a subject's rows: row 0 (the reference) at
    (1, 1), the others uniform in [1 - spread, 1 + spread] (deterministic from seed and cohort index)."""
    if spread <= 0:
        return np.ones((n_rows, 2))
    rng = np.random.default_rng([int(seed), int(index), 0xC0D])
    scales = rng.uniform(1 - spread, 1 + spread, (n_rows, 2)).round(6)  # as recorded
    scales[0] = 1.0
    return scales


def _simulate_rows(fwd: Any, factors: np.ndarray, labels: np.ndarray, scales: np.ndarray
                   ) -> tuple[np.ndarray, list[np.ndarray], np.ndarray]:
    """Activation (K, N), raw QRS (8, T_k) and lengths of K rows, each with its own conduction scales."""
    if np.all(scales == 1.0):
        groups = [np.arange(labels.shape[0])]
    else:
        groups = [np.array([k]) for k in range(labels.shape[0])]
    at = np.empty(labels.shape, dtype=np.float64)
    signals: list[np.ndarray] = [np.empty(0)] * labels.shape[0]
    lengths = np.empty(labels.shape[0], dtype=np.int64)
    for rows in groups:
        f = fwd if np.all(scales[rows[0]] == 1.0) else fwd.with_conduction(fwd.conduction.params.scaled(
            *scales[rows[0]]))
        batch = f.simulate_factors(factors[rows], labels[rows], n_threads=1)
        ln = np.asarray(batch.qrs_length)
        for j, k in enumerate(rows):
            at[k] = batch.at[j]
            lengths[k] = ln[j]
            signals[k] = np.asarray(batch.qrs.signals[j, :, : ln[j]])
    return at, signals, lengths


def simulate_random_subject(path: str | Path, index: int, header: Header) -> SubjectRecord:
    """Simulate the healthy heart and the subject's own random infarcts (settings from ``header``).

    Parameters
    ----------
    path : subject mesh (``Heart.load``)
    index : int
        The subject's index in its cohort: the ``subject`` of its random draws.
    header : Header
        From :func:`random_set_header`.
    """
    from ..anatomy.heart import Heart
    from ..anatomy.pointcloud import point_cloud, surface_targets
    from ..data.campaign import _cloud, subject_seed
    from ..ep.delineation import qrs_duration
    from ..ep.forward import prepare

    cfg = json.loads(header.config_json)
    gen = cfg[CONFIG_KEY]
    path = Path(path)
    heart = Heart.load(path)
    draws = random_infarcts(int(gen["n_random"]), seed=int(gen["seed"]), subject=int(index), heart=heart,
                            tissue=cfg["tissue"], irregular=float(gen["irregular"]), double=float(gen["double"]))
    coords = (heart.tm, heart.ab, heart.rt, heart.tv)
    n_h = n_healthy_rows(header)
    labels = np.stack([np.zeros(heart.n_nodes, dtype=np.int8)] * n_h + [d.labels(*coords) for d in draws])
    t = get_tissue(cfg["tissue"])
    factors = np.array([1.0, t.bz_factor, t.scar_factor])[labels]
    scales = conduction_scales(labels.shape[0], float(gen.get("speed_spread", 0.0)), int(gen["seed"]), index)
    at, signals, length = _simulate_rows(prepare(heart, n_threads=1), factors, labels, scales)
    qrs = np.zeros((labels.shape[0], len(LEADS), int(length.max())), dtype=np.float32)
    duration = np.empty(labels.shape[0], dtype=np.float32)
    for k, sig in enumerate(signals):
        qrs[k, :, : length[k]] = sig
        duration[k] = qrs_duration(sig, header.dt_ms)
    seed = subject_seed(int(heart.meta.get("seed", 0)), index)
    cloud, cloud_index = _cloud(heart, int(cfg["n_cloud"]), seed, point_cloud)  # as the campaign samples it
    coarse, dense = surface_targets(heart, n_coarse=int(cfg["n_coarse"]), n_dense=int(cfg["n_dense"]), seed=seed)
    meta = {k: v for k, v in dict(heart.meta).items() if not str(k).endswith("_s")}
    meta.update(source=path.name, cohort_index=int(index), random_infarcts=[d.to_dict() for d in draws],
                conduction_scales=scales.tolist())
    return SubjectRecord(
        sid=path.stem, seed=seed, parameters_json=json.dumps(meta, sort_keys=True, default=str),
        points=heart.points, coords=heart.coords, aha=heart.aha,
        electrodes=np.stack([np.asarray(heart.electrodes[e], dtype=np.float64) for e in ELECTRODES]),
        cloud=cloud, cloud_index=cloud_index, coarse=coarse, dense=dense, at=at, labels=labels,
        cloud_labels=labels[:, cloud_index], qrs=qrs, qrs_length=length.astype(np.int32), qrs_duration=duration)


def write_random_set(cohort_dir: str | Path, out: str | Path, subjects: Sequence[int], n_random: int, *,
                     seed: int = 0, tissue: str = "paper", irregular: float = 0.2, double: float = 0.1,
                     n_healthy: int = 0, speed_spread: float = 0.0, n_cloud: int = 4096, n_coarse: int = 1024,
                     n_dense: int = 4096,
                     progress: Callable[[str], None] | None = None) -> Path:
    """Simulate ``subjects`` (cohort indices) x (healthy + ``n_random`` own random infarcts) into ``out``.

    Parameters
    ----------
    cohort_dir : path
        A cohort folder with ``manifest.json`` (:func:`mitwin.anatomy.cohort.make_cohort`).
    out : path
        The dataset file (layout of :mod:`mitwin.data.store`); parts are kept in ``<out>.parts`` until the
        merge, so an interrupted run resumes.
    subjects : sequence of int
        Cohort indices; subject i's infarcts are ``random_infarcts(n_random, seed=seed, subject=i)``.
    n_random : int
        Random infarcts per subject (>= 1).
    seed, tissue, irregular, double
        As :func:`mitwin.inverse.prior.random_infarcts`.
    n_healthy : int
        Healthy rows per subject besides ``baseline`` (useful with ``speed_spread``).
    speed_spread : float
        Conduction variability of every row but ``baseline`` (module docstring); 0 keeps the defaults.
    n_cloud, n_coarse, n_dense : int
        Point-cloud and surface-target sizes (as :class:`mitwin.data.campaign.CampaignSettings`).
    progress : callable, optional
        Called with the subject id after each subject.

    Returns
    -------
    Path of the dataset.
    """
    from ..anatomy.cohort import load_cohort

    header = random_set_header(n_random, seed=seed, tissue=tissue, irregular=irregular, double=double,
                               n_healthy=n_healthy, speed_spread=speed_spread, n_cloud=n_cloud, n_coarse=n_coarse,
                               n_dense=n_dense)
    paths = load_cohort(cohort_dir)
    idx = [int(i) for i in subjects]
    bad = [i for i in idx if not 0 <= i < len(paths)]
    if not idx or bad or len(set(idx)) != len(idx):
        raise ValueError(f"subjects: expected distinct cohort indices in [0, {len(paths)}), got {list(subjects)}")
    out = Path(out)
    existing = set(existing_subjects(out, header))  # kept: a later call adds subjects to the same file
    if {paths[i].stem for i in idx} <= existing:
        return out
    parts_dir = parts_folder(out)
    parts: dict[str, Path] = {}
    for i in idx:
        sid = paths[i].stem
        if sid in existing:
            continue
        part = parts_dir / f"{sid}.h5"
        if not part_done(part, header, sid):
            t0 = time.perf_counter()
            write_part(part, header, simulate_random_subject(paths[i], i, header))
            log.info("%s: %d random infarcts, %d healthy rows in %.1f s", sid, n_random, 1 + n_healthy,
                     time.perf_counter() - t0)
        parts[sid] = part
        if progress is not None:
            progress(sid)
    sources: dict[str, Path] = {sid: out for sid in existing}
    sources.update(parts)
    return merge_parts(sources, out, header, parts)


def subject_infarcts(parameters_json: str) -> list[RandomInfarct]:
    """The random infarcts of one subject of a per-subject set, in slot order (from its ``parameters_json``)."""
    data: Any = json.loads(parameters_json)
    if not isinstance(data, dict) or "random_infarcts" not in data:
        raise ValueError("parameters_json: not a subject of a per-subject random set (no 'random_infarcts')")
    return [RandomInfarct.from_dict(d) for d in data["random_infarcts"]]

