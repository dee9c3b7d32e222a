"""The simulation campaign: cohort x (baseline + scenarios) -> one HDF5 dataset.

For every subject of a cohort the campaign simulates the healthy baseline and each infarct
scenario (by default the paper's 17, :data:`mitwin.infarct.SCENARIOS`) with one prepared
forward model (:func:`mitwin.ep.forward.prepare`) and one C++ batch, samples the point cloud
and the surface targets, and stores everything in the layout of :mod:`mitwin.data.store`.

Parallel over subjects: local worker processes by default, or the workers of a
dask.distributed cluster when ``scheduler`` is given. Results come back to the calling process,
which writes each subject to ``<out>.parts/<sid>.h5`` (atomically) as soon as it is done, so
workers need no shared file system. When all subjects are there the parts are merged into
``out`` (atomically) and removed. An interrupted run keeps its finished parts and resumes from
them; a finished campaign reruns as a no-op; the same cohort and settings give a
byte-identical file.

Every QRS is stored whole (never cut): a subject's ``qrs`` array is as long as its longest QRS and
``qrs_length`` gives each row's length (see :mod:`mitwin.data.store`); models that need a fixed
input length crop or pad it themselves (:class:`mitwin.data.torchdata.InfarctDataset`). A resumed
campaign first removes the temporary files that a killed part write or merge left behind.
"""

from __future__ import annotations

import json
import logging
import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from .._atomic import remove_leftovers
from .._version import __version__
from ..ep.conduction_params import DEFAULT_PARAMS, ConductionParams
from ..ep.forward import prepare
from ..ep.leadfield import QRSOptions
from ..ep.leads import ELECTRODES, LEADS
from ..errors import DatasetError
from ..infarct import SCENARIOS, ScenarioSet, as_scenario_set, load_scenarios
from .store import Header, SubjectRecord, merge, open_dataset, read_header, validate_dataset, write_part

log = logging.getLogger(__name__)

__all__ = ["CampaignSettings", "existing_subjects", "merge_parts", "part_done", "parts_folder", "run_campaign",
           "simulate_subject", "subject_seed"]

#: Called in the calling process after each subject's part file is written (tests use it to
#: interrupt a campaign half way).
_after_subject: Callable[[str], None] | None = None


@dataclass(frozen=True)
class CampaignSettings:
    """Everything a worker needs besides the subject file; pickled to the workers.

    ``scenarios`` is a :class:`mitwin.infarct.ScenarioSet` (records and infarcts; a plain mapping
    name -> Infarct is converted by :func:`mitwin.infarct.as_scenario_set`); its tissue preset is
    recorded in the config, e.g. ``CampaignSettings(scenarios=paper_scenarios("blocked"))``.
    """

    scenarios: ScenarioSet
    method: str = "eikonal"
    conduction: ConductionParams = DEFAULT_PARAMS
    n_cloud: int = 4096
    n_coarse: int = 1024
    n_dense: int = 4096
    qrs_options: QRSOptions = field(default_factory=QRSOptions)

    def __post_init__(self) -> None:
        object.__setattr__(self, "scenarios", as_scenario_set(self.scenarios))

    @property
    def dt_ms(self) -> float:
        """QRS sampling interval, ms (``qrs_options.dt``)."""
        return self.qrs_options.dt

    def config(self) -> dict[str, Any]:
        """JSON-ready description stored as ``config_json``."""
        return {
            "method": self.method, "conduction": self.conduction.to_dict(),
            "dt_ms": self.dt_ms, "qrs_storage": "whole", "qrs_options": self.qrs_options.to_dict(),
            "n_cloud": self.n_cloud, "n_coarse": self.n_coarse, "n_dense": self.n_dense,
            "seed_rule": "SeedSequence([cohort seed, subject index]).generate_state(1)[0]",
            "tissue": self.scenarios.tissue,
        }

    def header(self) -> Header:
        return Header(
            mitwin_version=__version__, leads=tuple(LEADS), scenario_names=("baseline", *self.scenarios),
            scenarios_json=self.scenarios.to_json(),
            config_json=json.dumps(self.config(), sort_keys=True), dt_ms=self.dt_ms,
        )


def subject_seed(cohort_seed: int, index: int) -> int:
    """Seed of a subject's point-cloud sampling, from the cohort seed and the subject index."""
    return int(np.random.SeedSequence([int(cohort_seed), int(index)]).generate_state(1)[0])


def _parameters_json(meta: dict[str, Any], source: str) -> str:
    # drop measured timings (keys ending in _s): the dataset must not depend on how fast meshing ran
    keep = {k: v for k, v in meta.items() if not k.endswith("_s")}
    keep["source"] = source
    return json.dumps(keep, sort_keys=True, default=str)


def _cloud(heart: Any, n: int, seed: int, point_cloud: Callable[..., Any]) -> tuple[np.ndarray, np.ndarray]:
    """The subject's point cloud: ``n`` nodes by farthest-point sampling. A mesh with fewer than
    ``n`` nodes gives all of them (in sampling order) followed by nodes drawn again at random
    (seeded), so that every cloud has ``n`` points."""
    if heart.n_nodes >= n:
        pc = point_cloud(heart, n=n, seed=seed)
        return pc.features, pc.node_index
    log.warning("%d nodes, fewer than the %d cloud points: the cloud repeats %d nodes (use a finer mesh)",
                heart.n_nodes, n, n - heart.n_nodes)
    pc = point_cloud(heart, n=heart.n_nodes, seed=seed)
    extra = np.random.default_rng(seed).choice(heart.n_nodes, n - heart.n_nodes, replace=n > 2 * heart.n_nodes)
    return np.concatenate([pc.features, pc.features[extra]]), np.concatenate([pc.node_index, pc.node_index[extra]])


def simulate_subject(path: str | Path, index: int,
                     settings: CampaignSettings) -> tuple[SubjectRecord, dict[str, float]]:
    """Simulate one subject: baseline + every scenario, the point cloud and the targets.

    The forward model is :func:`mitwin.ep.forward.prepare` and one
    :meth:`~mitwin.ep.forward.Forward.simulate_batch`, on one thread (subjects run in parallel).

    Parameters
    ----------
    path : subject mesh (``Heart.load``)
    index : position of the subject in the cohort (for its seed)
    settings : CampaignSettings

    Returns
    -------
    record : SubjectRecord
    timings : dict of seconds spent in ``load``, ``prepare`` (conduction system, solver graph, lead
        field), ``simulate`` (labels, activation batch, QRS batch), ``qrs`` (storage and duration),
        ``cloud``.
    """
    from ..anatomy.heart import Heart
    from ..anatomy.pointcloud import point_cloud, surface_targets
    from ..ep.delineation import qrs_duration

    timings: dict[str, float] = {}
    clock = time.perf_counter()

    def lap(key: str) -> None:
        nonlocal clock
        now = time.perf_counter()
        timings[key] = timings.get(key, 0.0) + now - clock
        clock = now

    path = Path(path)
    sid = path.stem
    heart = Heart.load(path)
    seed = subject_seed(int(heart.meta.get("seed", 0)), index)
    lap("load")
    fwd = prepare(heart, conduction=settings.conduction, method=settings.method, qrs_options=settings.qrs_options,
                  n_threads=1)
    lap("prepare")
    batch = fwd.simulate_batch([None, *settings.scenarios.values()], n_threads=1)
    lap("simulate")
    at, labels, length = batch.at, batch.labels, batch.qrs_length
    k_rows = at.shape[0]
    qrs = np.zeros((k_rows, len(LEADS), int(np.max(length))), dtype=np.float32)  # whole, padded to the longest
    duration = np.empty(k_rows, dtype=np.float32)
    for k in range(k_rows):
        sig = batch.qrs.signals[k, :, : length[k]]
        duration[k] = qrs_duration(sig, settings.dt_ms)
        qrs[k, :, : length[k]] = sig
    qrs_length = np.asarray(length, dtype=np.int32)
    lap("qrs")
    cloud_features, cloud_index = _cloud(heart, settings.n_cloud, seed, point_cloud)
    coarse, dense = surface_targets(heart, n_coarse=settings.n_coarse, n_dense=settings.n_dense, seed=seed)
    lap("cloud")
    record = SubjectRecord(
        sid=sid, seed=seed, parameters_json=_parameters_json(dict(heart.meta), path.name),
        points=heart.points, coords=heart.coords, aha=heart.aha,
        electrodes=np.stack([np.asarray(heart.electrodes[e], dtype=np.float64) for e in ELECTRODES]),
        cloud=cloud_features, cloud_index=cloud_index, coarse=coarse, dense=dense,
        at=at, labels=labels, cloud_labels=labels[:, cloud_index], qrs=qrs, qrs_length=qrs_length,
        qrs_duration=duration,
    )
    return record, timings


def _simulate_remote(path: str, index: int, settings: CampaignSettings) -> tuple[SubjectRecord, dict[str, float]]:
    """Worker entry point (module level so that it pickles)."""
    return simulate_subject(path, index, settings)


def part_done(part: Path, header: Header, sid: str) -> bool:
    """Whether the part file of subject ``sid`` is finished with ``header``'s settings (a missing, damaged or
    differently made part is to be simulated again; the last two are logged)."""
    if not part.exists():
        return False
    try:
        if read_header(part) != header:
            log.warning("%s was written with other settings; simulating %s again", part, sid)
            return False
        validate_dataset(part, deep=False)
    except (DatasetError, OSError) as exc:
        log.warning("%s is unreadable (%s); simulating %s again", part, exc, sid)
        return False
    return True


def existing_subjects(out: Path, header: Header) -> list[str]:
    """The subjects already in the dataset ``out`` (none if it does not exist); its header must be ``header``."""
    if not out.exists():
        return []
    try:
        old = read_header(out)
    except DatasetError as exc:
        raise DatasetError(f"out: {out} exists and is not a dataset ({exc}); choose another path or delete it") from exc
    if old != header:
        raise DatasetError(f"out: {out} holds a dataset with other settings (scenarios, speeds, method or "
                           "mitwin version); choose another path or delete it")
    with open_dataset(out) as ds:
        return list(ds.subjects)


def _as_count(value: Any, name: str) -> int | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
        raise ValueError(f"{name}: expected a positive integer or None, got {value!r}")
    return int(value)


def run_campaign(cohort_dir: str | Path, out: str | Path, subjects: int | None = None, n_workers: int | None = None,
                 scheduler: str | None = None, scenarios_file: str | Path | None = None, method: str = "eikonal",
                 progress: bool = True, *, settings: CampaignSettings | None = None) -> Path:
    """Simulate a cohort x (baseline + scenarios) into one HDF5 dataset.

    Parameters
    ----------
    cohort_dir : path
        A cohort folder with ``manifest.json`` (:func:`mitwin.anatomy.cohort.make_cohort`).
    out : path
        The dataset file to write (its layout: :mod:`mitwin.data.store`).
    subjects : int, optional
        Only the first ``subjects`` subjects of the cohort.
    n_workers : int, optional
        Local worker processes (default: the number of cores); 1 runs in this process.
    scheduler : str, optional
        Address of a dask.distributed scheduler (``"tcp://host:8786"``); the subjects then run
        on its workers.
    scenarios_file : path, optional
        JSON file of scenarios (:func:`mitwin.infarct.load_scenarios`) instead of the paper's 17.
    method : {"eikonal", "dijkstra"}
        Activation solver.
    progress : bool
        Show a progress bar.
    settings : CampaignSettings, optional
        Full control of speeds, sampling sizes and QRS options (overrides ``scenarios_file``
        and ``method``).

    Returns
    -------
    Path of the dataset.

    Examples
    --------
    >>> from mitwin.anatomy.cohort import make_cohort  # doctest: +SKIP
    >>> make_cohort(3, out="cohort", resolution_mm=5.0)  # doctest: +SKIP
    >>> run_campaign("cohort", "dataset.h5")  # doctest: +SKIP
    PosixPath('dataset.h5')
    """
    from ..anatomy.cohort import load_cohort

    for name, value in (("cohort_dir", cohort_dir), ("out", out), ("scenarios_file", scenarios_file)):
        if not (isinstance(value, (str, os.PathLike)) or (value is None and name == "scenarios_file")):
            raise ValueError(f"{name}: expected a path, got {value!r}")
    subjects = _as_count(subjects, "subjects")
    n_workers = _as_count(n_workers, "n_workers")
    if method not in ("eikonal", "dijkstra"):
        raise ValueError(f"method: expected 'eikonal' or 'dijkstra', got {method!r}")
    if settings is None:
        scenarios = SCENARIOS if scenarios_file is None else load_scenarios(scenarios_file)
        settings = CampaignSettings(scenarios=scenarios, method=method)
    paths = load_cohort(cohort_dir)
    if subjects is not None:
        if subjects > len(paths):
            raise ValueError(f"subjects: the cohort in {cohort_dir} has {len(paths)} subjects, asked for {subjects}")
        paths = paths[:subjects]
    out = Path(out)
    header = settings.header()
    existing = set(existing_subjects(out, header))
    wanted = {p.stem: (i, p) for i, p in enumerate(paths)}
    parts_dir = parts_folder(out)
    for leftover in [out, *(parts_dir / f"{sid}.h5" for sid in wanted)]:
        remove_leftovers(leftover)  # temporaries of a killed merge or part write
    if set(wanted) <= existing:
        log.info("%s already holds these %d subjects; nothing to do", out, len(wanted))
        return out
    parts = {sid: parts_dir / f"{sid}.h5" for sid in wanted if sid not in existing}
    todo = [sid for sid, part in parts.items() if not part_done(part, header, sid)]
    log.info("%d subjects: %d in %s, %d finished parts, %d to simulate", len(wanted), len(existing & set(wanted)),
             out.name, len(parts) - len(todo), len(todo))
    if todo:
        _run(todo, wanted, parts, header, settings, n_workers, scheduler, progress)
    sources: dict[str, Path] = {sid: out for sid in existing}
    sources.update(parts)
    return merge_parts(sources, out, header, parts)


def parts_folder(out: Path) -> Path:
    """The folder of the per-subject part files of the dataset ``out`` while it is being built."""
    return out.with_name(out.name + ".parts")


def merge_parts(sources: dict[str, Path], out: Path, header: Header, parts: dict[str, Path]) -> Path:
    """Merge ``sources`` (sid -> file) into ``out``, then delete the part files and their folder (if empty)."""
    merge(sources, out, header)
    for part in parts.values():
        part.unlink(missing_ok=True)
    try:
        parts_folder(out).rmdir()
    except OSError:
        pass
    return out


def _run(todo: list[str], wanted: dict[str, tuple[int, Path]], parts: dict[str, Path], header: Header,
         settings: CampaignSettings, n_workers: int | None, scheduler: str | None, progress: bool) -> None:
    from tqdm.auto import tqdm

    bar = tqdm(total=len(todo), desc="simulate", unit="subject", disable=not progress)
    totals: dict[str, float] = {}

    def finish(sid: str, result: tuple[SubjectRecord, dict[str, float]]) -> None:
        record, timings = result
        t0 = time.perf_counter()
        write_part(parts[sid], header, record)
        timings["write"] = time.perf_counter() - t0
        for k, v in timings.items():
            totals[k] = totals.get(k, 0.0) + v
        bar.update(1)
        if _after_subject is not None:
            _after_subject(sid)

    try:
        if scheduler is not None:
            _run_dask(todo, wanted, settings, scheduler, finish)
        else:
            workers = min(n_workers or os.cpu_count() or 1, len(todo))
            if workers == 1:
                for sid in todo:
                    i, path = wanted[sid]
                    finish(sid, simulate_subject(path, i, settings))
            else:
                _run_processes(todo, wanted, settings, workers, finish)
    finally:
        bar.close()
    log.info("time per stage (s, summed over subjects): %s", {k: round(v, 2) for k, v in totals.items()})


def _run_processes(todo: list[str], wanted: dict[str, tuple[int, Path]], settings: CampaignSettings, workers: int,
                   finish: Callable[[str, Any], None]) -> None:
    import multiprocessing as mp
    from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait

    # spawn: forking a process that already runs threads (OpenMP, BLAS) is unsafe
    with ProcessPoolExecutor(max_workers=workers, mp_context=mp.get_context("spawn")) as pool:
        pending = {pool.submit(_simulate_remote, str(wanted[sid][1]), wanted[sid][0], settings): sid for sid in todo}
        try:
            while pending:
                done, _ = wait(pending, return_when=FIRST_COMPLETED)
                for fut in sorted(done, key=lambda f: pending[f]):
                    sid = pending.pop(fut)
                    finish(sid, fut.result())
        except BaseException:
            for fut in pending:
                fut.cancel()
            raise


def _run_dask(todo: list[str], wanted: dict[str, tuple[int, Path]], settings: CampaignSettings, scheduler: str,
              finish: Callable[[str, Any], None]) -> None:
    try:
        from distributed import Client, as_completed
    except ImportError as exc:  # pragma: no cover - depends on the installation
        raise ImportError("scheduler: running on a cluster needs dask.distributed "
                          "(pip install 'mitwin[distributed]')") from exc
    try:
        client = Client(scheduler, timeout="30s")
    except (OSError, TimeoutError) as exc:
        raise ValueError(f"scheduler: could not connect to {scheduler!r} ({exc})") from exc
    with client:
        futures = {client.submit(_simulate_remote, str(wanted[sid][1]), wanted[sid][0], settings,
                                 key=f"mitwin-simulate-{sid}-{os.getpid()}", pure=False): sid for sid in todo}
        try:
            for fut in as_completed(futures):
                finish(futures[fut], fut.result())
        except BaseException:
            client.cancel(list(futures))
            raise
