"""The sensitivity analysis of a dataset as one result object, handed to the tables, figures and report.

:func:`compute_sensitivity` reads a mitwin dataset (:mod:`mitwin.data.store`), analyses every finished
subject (:func:`mitwin.analysis.subject.analyse_subject`) and returns a :class:`SensitivityResult` holding
the per-subject results, the scenario records (:func:`describe_scenarios`), the dataset's tissue and the
settings; the arrays the outputs need are derived properties of it.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

import numpy as np

from ..data.store import open_dataset
from ..ep.leads import LEADS
from ..ep.normalise import BATCH_NORMALISATIONS, normalise_batch
from ..errors import DatasetError
from ..infarct import ScenarioRecord, scenarios_from_json
from .dtw import DEFAULT_PENALTY
from .subject import DEFAULT_BAND, SubjectResult, analyse_subject

logger = logging.getLogger(__name__)

__all__ = ["NORMALISATION_TEXT", "DatasetQRS", "SensitivityResult", "compute_sensitivity", "describe_scenarios",
           "read_dataset_qrs"]

#: How each normalisation is described in the report.
NORMALISATION_TEXT: dict[str | None, str] = {
    "amplitude": "normalised per QRS by lead group (I, II by the mean of their peaks; V1-V6 by the mean of their "
                 "six peaks; mitwin.ep.normalise, 'amplitude')",
    "baseline": "normalised by the peak absolute amplitude of the subject's baseline QRS over the 8 leads",
    "lead": "normalised per lead by its own peak",
    "peak": "normalised per QRS by its peak over the 8 leads",
    None: "not normalised",
}


def describe_scenarios(names: Sequence[str], scenarios_json: str | Mapping | list | None = None
                       ) -> list[ScenarioRecord]:
    """The records (location, extent, size, tissue, variant) of a dataset's scenarios, in order.

    Parameters
    ----------
    names : sequence of str
        Scenario names (``"baseline"`` is skipped).
    scenarios_json : str, mapping or list, optional
        The dataset's ``scenarios_json``; read by :func:`mitwin.infarct.scenarios_from_json` (with its
        fallback for files written before records).

    Returns
    -------
    list of ScenarioRecord
    """
    return list(scenarios_from_json(names, scenarios_json).records)


@dataclass(frozen=True)
class DatasetQRS:
    """The QRS of a dataset's finished subjects and what the analysis needs of its header."""

    path: Path
    names: tuple[str, ...]
    dt_ms: float
    scenarios_json: str
    config: dict
    subjects: tuple[tuple[str, np.ndarray, np.ndarray, np.ndarray | None], ...]  # sid, qrs, lengths, durations


def read_dataset_qrs(path: str | Path) -> DatasetQRS:
    """QRS, lengths and durations of every finished subject, through :func:`mitwin.data.store.open_dataset`."""
    path = Path(path)
    subjects = []
    with open_dataset(path) as ds:
        names = tuple(ds.scenario_names)
        if tuple(ds.header.leads) != LEADS:
            raise DatasetError(f"dataset: expected leads {list(LEADS)}, got {list(ds.header.leads)}")
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
            subjects.append((sid, qrs, lens, durs))
        dt_ms, scen_json, config_json = ds.header.dt_ms, ds.header.scenarios_json, ds.header.config_json
    if not subjects:
        raise DatasetError(f"dataset: {path} has no complete subjects")
    if not names or names[0] != "baseline":
        raise DatasetError(f"dataset: expected scenario_names to start with 'baseline', got {list(names[:3])}")
    try:
        config = json.loads(config_json) if config_json else {}
    except json.JSONDecodeError as exc:
        raise DatasetError(f"dataset: config_json is not JSON ({exc})") from exc
    return DatasetQRS(path, names, float(dt_ms), scen_json, config if isinstance(config, dict) else {},
                      tuple(subjects))


def _mean_sd(x: np.ndarray, axis: int = 0) -> tuple[np.ndarray, np.ndarray]:
    x = np.asarray(x, dtype=np.float64)
    sd = x.std(axis=axis, ddof=1) if x.shape[axis] > 1 else np.zeros_like(x.mean(axis=axis))
    return x.mean(axis=axis), sd


@dataclass(frozen=True)
class SensitivityResult:
    """Everything the tables, figures and report of one sensitivity analysis are made from.

    Attributes
    ----------
    dataset : path of the analysed dataset
    names : (S,) scenario names, ``"baseline"`` first
    records : (S - 1,) records of the scenarios (rows 1..S-1)
    tissue : the dataset's tissue preset (:mod:`mitwin.tissue`), or None when custom or mixed
    subjects : per-subject results, in sorted subject order
    dt_ms : sampling interval, ms
    band, penalty : DTW settings
    normalisation : normalisation mode (:func:`mitwin.ep.normalise.normalise_batch`)
    overlay : (subject id, (S, 8, T) normalised QRS, (S,) lengths) of the subject drawn in the QRS overlay
    apical_rows : rows of :func:`mitwin.analysis.apical.apical_size_experiment`, or None
    """

    dataset: Path
    names: tuple[str, ...]
    records: tuple[ScenarioRecord, ...]
    tissue: str | None
    subjects: tuple[SubjectResult, ...]
    dt_ms: float
    band: int | None
    penalty: float
    normalisation: str | None
    overlay: tuple[str, np.ndarray, np.ndarray]
    apical_rows: tuple[dict, ...] | None = None

    @property
    def n_subjects(self) -> int:
        return len(self.subjects)

    @property
    def labels(self) -> list[str]:
        """Display labels of the scenarios (rows 1..S-1), from their records."""
        return [r.label for r in self.records]

    @property
    def main(self) -> list[int]:
        """Indices (into :attr:`records`) of the scenarios that are not tissue variants."""
        return [k for k, r in enumerate(self.records) if r.variant_of is None]

    @cached_property
    def to_base(self) -> np.ndarray:
        """(n_subjects, S - 1, 8) DTW of each scenario to the baseline."""
        return np.stack([r.to_baseline for r in self.subjects])

    @cached_property
    def duration_terms(self) -> np.ndarray:
        """(n_subjects, S - 1) duration penalty included in every lead of :attr:`to_base`."""
        return np.stack([r.duration_term for r in self.subjects])

    @cached_property
    def pairs(self) -> np.ndarray:
        """(n_subjects, S, S, 8) DTW between all QRS (baseline first)."""
        return np.stack([r.pairs for r in self.subjects])

    @property
    def pairs_max(self) -> np.ndarray:
        """(n_subjects, S, S) DTW^max over leads."""
        return self.pairs.max(axis=3)

    @property
    def pairs_avg(self) -> np.ndarray:
        """(n_subjects, S, S) DTW^avg over leads."""
        return self.pairs.mean(axis=3)

    @property
    def bio_cols(self) -> list[str]:
        """Columns of the biomarker table."""
        return list(self.subjects[0].biomarkers[0].keys())

    @cached_property
    def bio(self) -> np.ndarray:
        """(n_subjects, S, n_cols) biomarker table (baseline first)."""
        cols = self.bio_cols
        return np.array([[[float(r.biomarkers[s][c]) for c in cols] for s in range(len(self.names))]
                         for r in self.subjects])

    def biomarker(self, column: str) -> np.ndarray:
        """(n_subjects, S) one biomarker column."""
        return self.bio[:, :, self.bio_cols.index(column)]

    @property
    def durations(self) -> np.ndarray:
        """(n_subjects, S) QRS durations, ms."""
        return self.biomarker("qrs_duration_ms")

    def mean_sd(self, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Mean and sample sd over subjects (axis 0; sd 0 for one subject)."""
        return _mean_sd(x)


def compute_sensitivity(dataset: str | Path | DatasetQRS, *, band: int | None = DEFAULT_BAND,
                        penalty: float = DEFAULT_PENALTY, n_threads: int | None = None,
                        normalisation: str | None = "amplitude", overlay_subject: int = 0,
                        progress: bool = False) -> SensitivityResult:
    """Analyse every finished subject of a dataset.

    Parameters
    ----------
    dataset : path or DatasetQRS
        HDF5 dataset written by ``mitwin simulate``, or what :func:`read_dataset_qrs` read of it.
    band, penalty, n_threads, normalisation
        See :func:`mitwin.analysis.subject.analyse_subject`.
    overlay_subject : int
        Subject (index in sorted order) kept for the QRS overlay figure.
    progress : bool
        Show a progress bar.

    Returns
    -------
    SensitivityResult
    """
    if normalisation not in BATCH_NORMALISATIONS:
        raise ValueError(f"normalisation: expected one of {BATCH_NORMALISATIONS}, got {normalisation!r}")
    if not isinstance(overlay_subject, (int, np.integer)) or overlay_subject < 0:
        raise ValueError(f"overlay_subject: expected an index >= 0, got {overlay_subject!r}")
    data = dataset if isinstance(dataset, DatasetQRS) else read_dataset_qrs(dataset)
    scenarios = scenarios_from_json(data.names, data.scenarios_json)
    it: Iterable = data.subjects
    if progress:
        from tqdm.auto import tqdm

        it = tqdm(data.subjects, desc="sensitivity", unit="subject")
    results = tuple(analyse_subject(sid, q, ln, du, dt_ms=data.dt_ms, band=band, penalty=penalty,
                                    n_threads=n_threads, normalisation=normalisation) for sid, q, ln, du in it)
    logger.info("analysed %d subjects x %d scenarios", len(results), len(data.names) - 1)
    sid, qrs, lens, _ = data.subjects[min(int(overlay_subject), len(data.subjects) - 1)]
    tissue = data.config.get("tissue", scenarios.tissue)
    return SensitivityResult(dataset=data.path, names=data.names, records=scenarios.records, tissue=tissue,
                             subjects=results, dt_ms=data.dt_ms, band=band, penalty=penalty,
                             normalisation=normalisation,
                             overlay=(sid, normalise_batch(qrs, lens, normalisation), lens))
