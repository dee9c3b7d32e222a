"""Sensitivity analysis of the QRS to infarct location, size, transmural extent and conduction slowing.

Reads a mitwin dataset (HDF5, see :mod:`mitwin.data.store`) and reproduces the analysis of Sec. IV-B of
Li et al. (*Towards enabling cardiac digital twins of myocardial infarction using deep computational
models for inverse inference*, IEEE TMI 2024): per subject and lead the DTW of each scenario's QRS to the
baseline (their Fig. 7a), the maximum and mean over leads of the DTW between every pair of scenarios
(DTW^max, DTW^avg; Fig. 7b), QRS biomarkers per scenario (duration, pathological Q, poor R-wave
progression, fragmented QRS; :mod:`mitwin.analysis.biomarkers`), all aggregated over subjects as mean
and standard deviation; CSV tables, PNG figures and a Markdown report with the findings. Optionally the
shrinking apical infarct of their Fig. 11a.

Normalisation (``normalisation=``) before DTW and biomarkers, as the paper compares normalised QRS:

* ``"amplitude"`` (default): :func:`mitwin.ep.ecg.normalise` in its ``"amplitude"`` mode, each QRS on
  its own: limb leads I, II divided by the mean of their two peaks, V1-V6 by the mean of their six
  peaks, which keeps the amplitude ratios within each group (R-wave progression).
* ``"baseline"``: every QRS of a subject divided by the largest absolute value of that subject's
  *baseline* QRS over the 8 leads; keeps, in addition, the overall amplitude change an infarct causes.
* ``"lead"``: each lead by its own peak (:func:`mitwin.ep.ecg.normalise`, ``"lead"``); ``None``: raw.
"""

from __future__ import annotations

import csv
import io
import json
import logging
import os
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np

from .._atomic import write_bytes_atomic, write_text_atomic
from ..errors import DatasetError
from ..paper import QRS_DURATION_MS
from .biomarkers import LEADS, biomarker_table_row, qrs_biomarkers
from .dtw import DEFAULT_PENALTY, dtw_all_pairs, dtw_one_to_many

logger = logging.getLogger(__name__)

__all__ = [
    "DEFAULT_BAND",
    "APICAL_RADII",
    "ScenarioInfo",
    "SubjectResult",
    "analyse_subject",
    "apical_size_experiment",
    "describe_scenarios",
    "NORMALISATIONS",
    "normalise_qrs",
    "run_sensitivity",
]

#: Sakoe-Chiba radius (samples = ms at 1 kHz) beyond the length difference: lets the two QRS shift by
#: up to a third of a normal QRS while forbidding degenerate alignments.
DEFAULT_BAND = 32
#: Apicobasal scar radii of the shrinking apical infarct (paper Fig. 11: 0.5 down to 0.05).
APICAL_RADII = (0.5, 0.4, 0.3, 0.2, 0.1, 0.05)

# QRS durations of the paper (Sec. IV-B), from mitwin.paper.
PAPER_QRS_MS = {k: QRS_DURATION_MS[k] for k in ("normal", "apical", "inferolateral")}
PAPER_SLOW_CV_MS = {"normal_cv": QRS_DURATION_MS["lateral_large_transmural"],
                    "slow_cv": QRS_DURATION_MS["lateral_large_transmural_slow_cv"]}

_EXTENT_TOKENS = {"transmural": "transmural", "transmu": "transmural", "tm": None,
                  "subendocardial": "subendocardial", "subendo": "subendocardial"}
_SLOW_TOKENS = {"slow", "slowcv", "cv", "slow_cv"}


# --------------------------------------------------------------------------------------------- scenarios
@dataclass(frozen=True)
class ScenarioInfo:
    """What a scenario is: its dataset name, location, transmural extent and conduction variant."""

    name: str
    location: str
    extent: str | None
    slow: bool
    params: dict = field(default_factory=dict, compare=False, hash=False)

    @property
    def label(self) -> str:
        """A short display name, e.g. ``apical transmu``."""
        ext = {"transmural": "transmu", "subendocardial": "subendo", None: ""}[self.extent]
        loc = self.location.replace("_", " ")
        return " ".join(p for p in (loc, ext, "slow CV" if self.slow else "") if p)


def _tokens(name: str) -> list[str]:
    return [t for t in re.split(r"[^0-9a-zA-Z]+", name.lower()) if t]


def _radii(params: dict) -> tuple[float, ...] | None:
    for key in ("radii", "radius", "r"):
        if key in params:
            try:
                return tuple(float(v) for v in params[key])
            except (TypeError, ValueError):
                return None
    if all(k in params for k in ("r_tm", "r_ab", "r_rt")):
        return (float(params["r_tm"]), float(params["r_ab"]), float(params["r_rt"]))
    return None


def describe_scenarios(names: Sequence[str], scenarios_json: str | dict | None = None) -> list[ScenarioInfo]:
    """Location, extent and conduction variant of each infarct scenario.

    Parameters
    ----------
    names : sequence of str
        Scenario names without the baseline.
    scenarios_json : str or dict, optional
        The dataset's ``scenarios_json`` (name -> infarct parameters). The extent is transmural when
        the transmural radius ``r_tm >= 1`` (paper: 3 vs 0.5), the slow-conduction variant is the one
        whose scar speed factor is below the others'; without parameters both come from the name
        (``transmural``/``transmu``, ``subendocardial``/``subendo``, ``slow``).

    Returns
    -------
    list of ScenarioInfo
    """
    if isinstance(scenarios_json, str):
        try:
            params_all = json.loads(scenarios_json) if scenarios_json.strip() else {}
        except json.JSONDecodeError as exc:
            raise DatasetError(f"scenarios_json: not valid JSON ({exc})") from exc
    else:
        params_all = scenarios_json or {}
    if isinstance(params_all, list):  # a list of parameter dicts carrying their names
        params_all = {str(p.get("name")): p for p in params_all if isinstance(p, dict)}
    if not isinstance(params_all, dict):
        raise DatasetError(f"scenarios_json: expected a JSON object name -> parameters, got {type(params_all).__name__}")
    params_all = dict(params_all)
    factors = {}
    for n in names:
        p = params_all.get(n, {})
        if isinstance(p, dict) and "scar_factor" in p:
            try:
                factors[n] = float(p["scar_factor"])
            except (TypeError, ValueError):
                pass
    typical = float(np.median(list(factors.values()))) if factors else None
    out = []
    for n in names:
        p = params_all.get(n, {}) if isinstance(params_all.get(n, {}), dict) else {}
        toks = _tokens(n)
        extent = None
        radii = _radii(p)
        if radii is not None and len(radii) == 3:
            extent = "transmural" if radii[0] >= 1.0 else "subendocardial"
        else:
            for t in toks:
                if _EXTENT_TOKENS.get(t):
                    extent = _EXTENT_TOKENS[t]
        slow = any(t.startswith("slow") for t in toks)
        if n in factors and typical is not None and factors[n] < typical - 1e-12:
            slow = True
        loc_toks = [t for t in toks if t not in _EXTENT_TOKENS and t not in _SLOW_TOKENS and not t.startswith("slow")]
        location = "_".join(loc_toks) if loc_toks else n
        out.append(ScenarioInfo(n, location, extent, slow, p))
    return out


def _find(infos: Sequence[ScenarioInfo], *words: str, extent: str | None = None, slow: bool = False,
          exclude: Sequence[str] = ()) -> list[int]:
    """Indices of scenarios whose location contains all ``words`` (and none of ``exclude``)."""
    hits = []
    for k, s in enumerate(infos):
        loc = s.location.lower()
        if all(w in loc for w in words) and not any(e in loc for e in exclude) and s.slow == slow:
            if extent is None or s.extent == extent:
                hits.append(k)
    return hits


# ------------------------------------------------------------------------------------------ computation
NORMALISATIONS = ("amplitude", "baseline", "lead", None)
NORMALISATION_TEXT = {
    "amplitude": "normalised per QRS by lead group (I, II by the mean of their peaks; V1-V6 by the mean of their "
                 "six peaks; mitwin.ep.ecg.normalise, 'amplitude')",
    "baseline": "normalised by the peak absolute amplitude of the subject's baseline QRS over the 8 leads",
    "lead": "normalised per lead by its own peak",
    None: "not normalised",
}


def normalise_qrs(qrs: Any, lengths: Any, mode: str | None = "amplitude", reference: int = 0) -> np.ndarray:
    """Normalise the QRS of one subject (see the module docstring for the modes).

    Parameters
    ----------
    qrs : array_like, shape (S, 8, T)
        Zero-padded QRS of one subject (any amplitude unit), leads :data:`LEADS`.
    lengths : array_like of int, shape (S,)
        Valid samples per QRS; samples past each length are set to zero.
    mode : {"amplitude", "baseline", "lead", None}
    reference : int
        Row of the reference QRS for ``"baseline"`` (0 = baseline in the dataset).

    Returns
    -------
    numpy.ndarray, shape (S, 8, T), float64
        Dimensionless (raw units for ``None``).
    """
    if mode not in NORMALISATIONS:
        raise ValueError(f"mode: expected one of {NORMALISATIONS}, got {mode!r}")
    arr = np.array(qrs, dtype=np.float64)
    if arr.ndim != 3 or arr.shape[1] != len(LEADS):
        raise ValueError(f"qrs: expected shape (S, {len(LEADS)}, T), got shape {arr.shape}")
    lens = np.asarray(lengths, dtype=np.int64)
    if lens.shape != (arr.shape[0],) or np.any(lens < 1) or np.any(lens > arr.shape[2]):
        raise ValueError(f"lengths: expected shape ({arr.shape[0]},) with values in [1, {arr.shape[2]}], got {lens}")
    if not 0 <= reference < arr.shape[0]:
        raise ValueError(f"reference: expected a row in [0, {arr.shape[0]}), got {reference}")
    if not np.all(np.isfinite(arr)):
        raise ValueError("qrs: expected finite values, got NaN/inf")
    for s, n in enumerate(lens):
        arr[s, :, n:] = 0.0
    if mode is None:
        return arr
    if mode == "baseline":
        scale = float(np.max(np.abs(arr[reference, :, : lens[reference]])))
        if scale == 0.0:
            raise ValueError("qrs: the reference QRS is zero in every lead; cannot normalise")
        return arr / scale
    from ..ep.normalise import normalise

    return np.asarray(normalise(arr, mode, LEADS), dtype=np.float64)


@dataclass
class SubjectResult:
    """DTW and biomarkers of one subject.

    Attributes
    ----------
    subject : str
    to_baseline : (S - 1, n_leads) DTW of each scenario to the baseline
    duration_term : (S - 1,) the duration penalty inside ``to_baseline`` (the same in every lead)
    pairs : (S, S, n_leads) DTW between all QRS (baseline first)
    biomarkers : list of S dict rows (baseline first)
    """

    subject: str
    to_baseline: np.ndarray
    duration_term: np.ndarray
    pairs: np.ndarray
    biomarkers: list[dict]


def analyse_subject(subject: str, qrs: Any, lengths: Any, durations: Any | None = None, *, dt_ms: float = 1.0,
                    band: int | None = DEFAULT_BAND, penalty: float = DEFAULT_PENALTY,
                    n_threads: int | None = None, normalisation: str | None = "amplitude") -> SubjectResult:
    """DTW to baseline, all-pairs DTW and biomarkers for one subject's QRS (baseline in row 0).

    Parameters
    ----------
    subject : str
    qrs : array_like, shape (S, 8, T)
        Raw QRS; normalised here with :func:`normalise_qrs` (``normalisation``).
    lengths : array_like of int, shape (S,)
    durations : array_like, shape (S,), optional
        QRS durations in ms (the dataset's ``qrs_duration``); default :func:`mitwin.ep.ecg.qrs_duration`
        of each raw QRS.
    dt_ms : float
    band, penalty, n_threads
        Passed to :func:`mitwin.analysis.dtw.dtw_all_pairs`.
    normalisation : {"amplitude", "baseline", "lead", None}
        See :func:`normalise_qrs`.

    Returns
    -------
    SubjectResult
    """
    norm = normalise_qrs(qrs, lengths, normalisation)
    lens = np.asarray(lengths, dtype=np.int64)
    if norm.shape[0] < 2:
        raise ValueError(f"qrs: expected the baseline and at least one scenario, got {norm.shape[0]} rows")
    pairs = dtw_all_pairs(norm, lens, band=band, penalty=penalty, n_threads=n_threads)
    to_base = dtw_one_to_many(norm[0], norm[1:], lens[1:], ref_length=int(lens[0]), band=band, penalty=penalty,
                              n_threads=n_threads)
    if durations is None:
        durs = _signal_durations(normalise_qrs(qrs, lens, None), lens, dt_ms)
    else:
        durs = np.asarray(durations, dtype=np.float64)
        if durs.shape != lens.shape:
            raise ValueError(f"durations: expected shape {lens.shape}, got shape {durs.shape}")
    rows = [biomarker_table_row(qrs_biomarkers(norm[s], int(lens[s]), duration_ms=float(durs[s]), dt_ms=dt_ms))
            for s in range(norm.shape[0])]
    n0 = float(lens[0])
    term = penalty * (lens[1:] - n0) ** 2 / np.minimum(lens[1:], n0)
    return SubjectResult(subject, to_base, term.astype(np.float64), pairs, rows)


# ------------------------------------------------------------------------------------------------- I/O
def write_csv(path: Path, header: Sequence[str], rows: Iterable[Sequence[Any]]) -> Path:
    """Write a CSV table atomically (floats with 6 significant digits)."""
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(header)
    for row in rows:
        w.writerow([f"{v:.6g}" if isinstance(v, (float, np.floating)) else int(v) if isinstance(v, (bool, np.bool_))
                    else v for v in row])
    write_bytes_atomic(path, buf.getvalue().encode())
    return path


def _read_dataset(path: Path) -> dict:
    """QRS, lengths and durations of every finished subject, through :func:`mitwin.data.store.open_dataset`."""
    from ..data.store import open_dataset

    with open_dataset(path) as ds:
        names = list(ds.scenario_names)
        if tuple(ds.header.leads) != LEADS:
            raise DatasetError(f"dataset: expected leads {list(LEADS)}, got {list(ds.header.leads)}")
        info = {
            "names": names,
            "dt_ms": ds.header.dt_ms,
            "scenarios_json": ds.header.scenarios_json,
            "config_json": ds.header.config_json,
            "subjects": [],
        }
        for sid in sorted(ds.subjects):
            g = ds.subject(sid)
            missing = [k for k in ("qrs", "qrs_length") if k not in g]
            if missing:  # e.g. a campaign still running: analyse the finished subjects
                logger.warning("dataset: subject %s lacks %s; skipped", sid, missing)
                continue
            qrs = np.asarray(g["qrs"][...], dtype=np.float64)
            lens = np.asarray(g["qrs_length"][...], dtype=np.int64)
            if qrs.shape[0] != len(names) or qrs.shape[1] != len(LEADS) or lens.shape != (len(names),):
                raise DatasetError(
                    f"dataset: subject {sid}: expected qrs ({len(names)}, {len(LEADS)}, T) and qrs_length "
                    f"({len(names)},), got {qrs.shape} and {lens.shape}"
                )
            if np.any(lens < 1) or np.any(lens > qrs.shape[2]):
                raise DatasetError(f"dataset: subject {sid}: qrs_length must lie in [1, {qrs.shape[2]}], "
                                   f"got {lens.min()}..{lens.max()}")
            if not np.all(np.isfinite(qrs)):
                raise DatasetError(f"dataset: subject {sid}: qrs holds NaN/inf")
            durs = np.asarray(g["qrs_duration"][...], dtype=np.float64) if "qrs_duration" in g else None
            info["subjects"].append((sid, qrs, lens, durs))
    if not info["subjects"]:
        raise DatasetError(f"dataset: {path} has no complete subjects")
    if not names or names[0] != "baseline":
        raise DatasetError(f"dataset: expected scenario_names to start with 'baseline', got {names[:3]}")
    return info


# ------------------------------------------------------------------------------------ apical experiment
def apical_size_experiment(cohort: str | os.PathLike, subjects: Sequence[str], radii: Sequence[float] = APICAL_RADII,
                           *, band: int | None = DEFAULT_BAND, penalty: float = DEFAULT_PENALTY,
                           n_threads: int | None = None, normalisation: str | None = "amplitude",
                           progress: bool = False) -> list[dict]:
    """DTW to baseline of a transmural apical infarct whose apicobasal scar radius shrinks (paper Fig. 11a).

    For each subject the baseline and the apical transmural scenario of :data:`mitwin.infarct.SCENARIOS`
    with ``r_ab`` replaced by each value of ``radii`` are simulated with
    :func:`mitwin.ep.forward.simulate`; the border-zone radius keeps its margin over the scar
    (``bz_r_ab = r_ab + (bz_r_ab0 - r_ab0)``). The QRS are normalised with :func:`normalise_qrs`.

    Parameters
    ----------
    cohort : path
        Cohort directory (:func:`mitwin.anatomy.cohort.load_cohort`).
    subjects : sequence of str
        Subject ids (``subject_000``, ...): matched to the cohort files by stem.
    radii : sequence of float
        Apicobasal scar radii, each in (0, 1].

    Returns
    -------
    list of dict
        One row per subject and radius: ``subject, r_ab, qrs_duration_ms, dtw_<lead>..., dtw_avg, dtw_max``.
    """
    rad = [float(r) for r in radii]
    if not rad or any(not (0 < r <= 1) for r in rad):
        raise ValueError(f"radii: expected apicobasal radii in (0, 1], got {list(radii)}")
    cohort = Path(cohort)
    if not cohort.exists():
        raise FileNotFoundError(f"cohort: no such directory {cohort}")
    from ..anatomy.cohort import load_cohort
    from ..anatomy.heart import Heart
    from ..ep.forward import simulate
    from ..infarct import SCENARIOS

    infos = describe_scenarios(list(SCENARIOS), {n: {"radii": list(i.radii), "scar_factor": i.scar_factor}
                                                 for n, i in SCENARIOS.items()})
    apical = _find(infos, "apic", extent="transmural")
    if not apical:
        raise ValueError("SCENARIOS: no transmural apical scenario to shrink")
    base_inf = SCENARIOS[infos[apical[0]].name]
    paths = {Path(p).stem: Path(p) for p in load_cohort(cohort)}
    rows: list[dict] = []
    todo = [s for s in subjects if s in paths]
    if not todo:
        raise ValueError(f"subjects: none of {list(subjects)[:3]}... is in the cohort {cohort}")
    it: Iterable[str] = todo
    if progress:
        from tqdm.auto import tqdm

        it = tqdm(todo, desc="apical sizes", unit="subject")
    for sid in it:
        heart = Heart.load(paths[sid])
        sims = [simulate(heart, None)]
        for r in rad:
            radii3 = (base_inf.radii[0], r, base_inf.radii[2])
            bz = tuple(base_inf.bz_radii)
            bz3 = (bz[0], r + (bz[1] - base_inf.radii[1]), bz[2])
            inf = replace(base_inf, radii=radii3, bz_radii=bz3, name=f"{base_inf.name}_rab{r:g}")
            sims.append(simulate(heart, inf))
        sig = [np.asarray(s.qrs.signals, dtype=np.float64) for s in sims]
        t = np.asarray(sims[0].qrs.t, dtype=np.float64)
        dt = float(t[1] - t[0]) if t.size > 1 else 1.0
        lens = np.array([x.shape[1] for x in sig], dtype=np.int64)
        pad = np.zeros((len(sig), len(LEADS), int(lens.max())))
        for k, x in enumerate(sig):
            pad[k, :, : x.shape[1]] = x
        norm = normalise_qrs(pad, lens, normalisation)
        d = dtw_one_to_many(norm[0], norm[1:], lens[1:], ref_length=int(lens[0]), band=band, penalty=penalty,
                            n_threads=n_threads)
        durations = _signal_durations(pad, lens, dt)  # raw signals, as in the dataset
        for k, r in enumerate(rad):
            row = {"subject": sid, "r_ab": r, "qrs_duration_ms": float(durations[k + 1])}
            row.update({f"dtw_{ld}": float(d[k, j]) for j, ld in enumerate(LEADS)})
            row["dtw_avg"] = float(d[k].mean())
            row["dtw_max"] = float(d[k].max())
            rows.append(row)
    return rows


def _signal_durations(signals: np.ndarray, lens: np.ndarray, dt: float) -> np.ndarray:
    """QRS durations (ms) of (S, 8, T) signals by :func:`mitwin.ep.ecg.qrs_duration` (the dataset's
    definition) over each valid window."""
    from ..ep.delineation import qrs_duration

    return np.array([float(qrs_duration(signals[k, :, : int(n)], dt)) for k, n in enumerate(lens)])


# ---------------------------------------------------------------------------------------------- driver
def _mean_sd(x: np.ndarray, axis: int = 0) -> tuple[np.ndarray, np.ndarray]:
    x = np.asarray(x, dtype=np.float64)
    sd = x.std(axis=axis, ddof=1) if x.shape[axis] > 1 else np.zeros_like(x.mean(axis=axis))
    return x.mean(axis=axis), sd


def _cohort_from_config(config_json: str) -> Path | None:
    try:
        cfg = json.loads(config_json) if config_json else {}
    except json.JSONDecodeError:
        return None
    for key in ("cohort", "cohort_dir", "cohort_path"):
        if isinstance(cfg, dict) and cfg.get(key):
            return Path(cfg[key])
    return None


def run_sensitivity(dataset: str | os.PathLike, out_dir: str | os.PathLike, apical_sizes: bool = False,
                    progress: bool = True, *, cohort: str | os.PathLike | None = None,
                    band: int | None = DEFAULT_BAND, penalty: float = DEFAULT_PENALTY,
                    n_threads: int | None = None, normalisation: str | None = "amplitude",
                    overlay_subject: int = 0,
                    apical_radii: Sequence[float] = APICAL_RADII,
                    apical_subjects: int | None = None) -> Path:
    """Run the QRS sensitivity analysis on a dataset and write tables, figures and ``report.md``.

    Parameters
    ----------
    dataset : path
        HDF5 dataset written by ``mitwin simulate``.
    out_dir : path
        Output directory (created); every file is written atomically.
    apical_sizes : bool
        Also run the shrinking apical infarct (paper Fig. 11a); needs the cohort meshes.
    progress : bool
        Show progress bars.
    cohort : path, optional
        Cohort directory for ``apical_sizes``; default the cohort recorded in the dataset's config.
    band : int or None
        Sakoe-Chiba radius in samples (see :mod:`mitwin.analysis.dtw`); default :data:`DEFAULT_BAND`.
    penalty : float
        DTW duration-penalty weight; default :data:`mitwin.analysis.dtw.DEFAULT_PENALTY`.
    n_threads : int, optional
        OpenMP threads for DTW.
    normalisation : {"amplitude", "baseline", "lead", None}
        How the QRS are normalised before DTW and biomarkers (:func:`normalise_qrs`).
    overlay_subject : int
        Subject (index in sorted order) drawn in the QRS overlay figure.
    apical_radii : sequence of float
        r_ab values of the apical experiment.
    apical_subjects : int, optional
        Only the first N subjects in the apical experiment (default all).

    Returns
    -------
    pathlib.Path
        ``out_dir / "report.md"``.

    Outputs (in ``out_dir``)
    ------------------------
    ``dtw_to_baseline.csv`` (subject, scenario, lead DTW, avg, max, the duration-penalty term included in
    each lead), ``dtw_to_baseline_summary.csv``
    (scenario x lead mean and sd), ``dtw_pairs.csv`` (subject, scenario pair, DTW^max, DTW^avg),
    ``dtw_pairs_max.csv`` / ``dtw_pairs_avg.csv`` (scenario x scenario, mean over subjects),
    ``biomarkers.csv`` (subject x scenario), ``biomarkers_summary.csv`` (per scenario: mean/sd/prevalence),
    figures ``fig7a_dtw_to_baseline.png``, ``fig7b_dtw_pairs.png``, ``fig8_qrs_overlay.png``,
    ``qrs_duration.png``, ``biomarker_prevalence.png`` (+ ``apical_sizes.csv``, ``fig11a_apical_sizes.png``).
    """
    from . import figures, report

    if normalisation not in NORMALISATIONS:
        raise ValueError(f"normalisation: expected one of {NORMALISATIONS}, got {normalisation!r}")
    if not isinstance(overlay_subject, (int, np.integer)) or overlay_subject < 0:
        raise ValueError(f"overlay_subject: expected an index >= 0, got {overlay_subject!r}")
    data = _read_dataset(Path(dataset))
    coh: Path | None = None
    if apical_sizes:
        coh = Path(cohort) if cohort is not None else _cohort_from_config(data["config_json"])
        if coh is None:
            raise ValueError("cohort: apical_sizes needs the cohort directory (cohort=... or --cohort DIR); "
                             "the dataset's config does not record one")
        if not coh.exists():
            raise FileNotFoundError(f"cohort: no such directory {coh}")
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    names = data["names"]
    infos = describe_scenarios(names[1:], data["scenarios_json"])
    dt_ms = data["dt_ms"]

    subjects = data["subjects"]
    it: Iterable = subjects
    if progress:
        from tqdm.auto import tqdm

        it = tqdm(subjects, desc="sensitivity", unit="subject")
    results = [analyse_subject(sid, q, ln, du, dt_ms=dt_ms, band=band, penalty=penalty, n_threads=n_threads,
                               normalisation=normalisation) for sid, q, ln, du in it]
    logger.info("analysed %d subjects x %d scenarios", len(results), len(names) - 1)

    # ---- tables
    to_base = np.stack([r.to_baseline for r in results])  # (n_subj, S-1, L)
    pairs = np.stack([r.pairs for r in results])  # (n_subj, S, S, L)
    lead_cols = [f"dtw_{ld}" for ld in LEADS]
    write_csv(out / "dtw_to_baseline.csv",
              ["subject", "scenario", *lead_cols, "dtw_avg", "dtw_max", "duration_term"],
              ([r.subject, names[k + 1], *r.to_baseline[k], r.to_baseline[k].mean(), r.to_baseline[k].max(),
                r.duration_term[k]]
               for r in results for k in range(len(names) - 1)))
    tb_mean, tb_sd = _mean_sd(to_base)
    avg_mean, avg_sd = _mean_sd(to_base.mean(axis=2))
    max_mean, max_sd = _mean_sd(to_base.max(axis=2))
    write_csv(out / "dtw_to_baseline_summary.csv",
              ["scenario", "location", "extent", "slow_cv", *[f"{c}_mean" for c in lead_cols],
               *[f"{c}_sd" for c in lead_cols], "dtw_avg_mean", "dtw_avg_sd", "dtw_max_mean", "dtw_max_sd"],
              ([s.name, s.location, s.extent or "", s.slow, *tb_mean[k], *tb_sd[k], avg_mean[k], avg_sd[k],
                max_mean[k], max_sd[k]] for k, s in enumerate(infos)))
    pmax = pairs.max(axis=3)
    pavg = pairs.mean(axis=3)
    write_csv(out / "dtw_pairs.csv", ["subject", "scenario_a", "scenario_b", "dtw_max", "dtw_avg"],
              ([r.subject, names[a], names[b], pmax[i, a, b], pavg[i, a, b]]
               for i, r in enumerate(results) for a in range(len(names)) for b in range(len(names))))
    for tag, arr in (("max", pmax.mean(axis=0)), ("avg", pavg.mean(axis=0))):
        write_csv(out / f"dtw_pairs_{tag}.csv", ["scenario", *names],
                  ([names[a], *arr[a]] for a in range(len(names))))
    bio_cols = list(results[0].biomarkers[0].keys())
    write_csv(out / "biomarkers.csv", ["subject", "scenario", *bio_cols],
              ([r.subject, names[s], *[r.biomarkers[s][c] for c in bio_cols]]
               for r in results for s in range(len(names))))
    bio = np.array([[[float(r.biomarkers[s][c]) for c in bio_cols] for s in range(len(names))] for r in results])
    bio_mean, bio_sd = _mean_sd(bio)  # (S, n_cols)
    write_csv(out / "biomarkers_summary.csv",
              ["scenario", "n_subjects", *[f"{c}_mean" for c in bio_cols], *[f"{c}_sd" for c in bio_cols]],
              ([names[s], len(results), *bio_mean[s], *bio_sd[s]] for s in range(len(names))))

    # ---- apical experiment
    apical_rows: list[dict] | None = None
    if apical_sizes:
        sids = [r.subject for r in results][: apical_subjects or None]
        apical_rows = apical_size_experiment(coh, sids, apical_radii, band=band, penalty=penalty,
                                             n_threads=n_threads, normalisation=normalisation, progress=progress)
        cols = list(apical_rows[0].keys())
        write_csv(out / "apical_sizes.csv", cols, ([row[c] for c in cols] for row in apical_rows))

    # ---- figures and report
    sub = results[min(overlay_subject, len(results) - 1)]
    ov = [s for s in subjects if s[0] == sub.subject][0]
    norm = normalise_qrs(ov[1], ov[2], normalisation)
    duration_terms = np.stack([r.duration_term for r in results])  # (n_subj, S-1)
    figs = figures.make_all(out, names=names, infos=infos, to_base=to_base, pairs_max=pmax, pairs_avg=pavg,
                            bio_cols=bio_cols, bio=bio, overlay=(sub.subject, norm, ov[2]), dt_ms=dt_ms,
                            apical_rows=apical_rows, normalisation=normalisation, duration_terms=duration_terms)
    text = report.build_report(names=names, infos=infos, to_base=to_base, duration_terms=duration_terms,
                               pairs_max=pmax, pairs_avg=pavg,
                               bio_cols=bio_cols, bio=bio, figures=figs, n_subjects=len(results), band=band,
                               penalty=penalty, dataset=Path(dataset), apical_rows=apical_rows,
                               normalisation=normalisation)
    path = out / "report.md"
    write_text_atomic(path, text)
    logger.info("wrote %s", path)
    return path
