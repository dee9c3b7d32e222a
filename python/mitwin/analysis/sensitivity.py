"""Sensitivity analysis of the QRS to infarct location, size, transmural extent and conduction slowing.

Reads a mitwin dataset (HDF5, see :mod:`mitwin.data.store`) and reproduces the analysis of Sec. IV-B of
Li et al. (*Towards enabling cardiac digital twins of myocardial infarction using deep computational
models for inverse inference*, IEEE TMI 2024): per subject and lead the DTW of each scenario's QRS to the
baseline (their Fig. 7a), the maximum and mean over leads of the DTW between every pair of scenarios
(DTW^max, DTW^avg; Fig. 7b), QRS biomarkers per scenario (duration, pathological Q, poor R-wave
progression, fragmented QRS; :mod:`mitwin.analysis.biomarkers`), all aggregated over subjects as mean
and standard deviation; CSV tables, PNG figures and a Markdown report with the findings, for the tissue the
dataset was simulated with (:mod:`mitwin.tissue`). Optionally the shrinking apical infarct of their Fig. 11a.

The work is split by job: :mod:`~mitwin.analysis.subject` (one subject), :mod:`~mitwin.analysis.result`
(the dataset -> :class:`~mitwin.analysis.result.SensitivityResult`), :mod:`~mitwin.analysis.tables`,
:mod:`~mitwin.analysis.figures`, :mod:`~mitwin.analysis.report`, :mod:`~mitwin.analysis.apical`; this module
runs them in order.

Normalisation (``normalisation=``) before DTW and biomarkers, as the paper compares normalised QRS
(:func:`mitwin.ep.normalise.normalise_batch`):

* ``"amplitude"`` (default): each QRS on its own: limb leads I, II divided by the mean of their two peaks,
  V1-V6 by the mean of their six peaks, which keeps the amplitude ratios within each group (R-wave progression).
* ``"baseline"``: every QRS of a subject divided by the largest absolute value of that subject's
  *baseline* QRS over the 8 leads; keeps, in addition, the overall amplitude change an infarct causes.
* ``"lead"``: each lead by its own peak; ``"peak"``: each QRS by its peak over the leads; ``None``: raw.
"""

from __future__ import annotations

import dataclasses
import logging
import os
from collections.abc import Sequence
from pathlib import Path

from .._atomic import write_text_atomic
from ..ep.normalise import BATCH_NORMALISATIONS
from . import figures, report
from .apical import APICAL_RADII, apical_size_experiment
from .dtw import DEFAULT_PENALTY
from .result import DatasetQRS, SensitivityResult, compute_sensitivity, describe_scenarios, read_dataset_qrs
from .subject import DEFAULT_BAND, SubjectResult, analyse_subject
from .tables import write_apical_table, write_tables

logger = logging.getLogger(__name__)

__all__ = [
    "APICAL_RADII",
    "DEFAULT_BAND",
    "SensitivityResult",
    "SubjectResult",
    "analyse_subject",
    "apical_size_experiment",
    "describe_scenarios",
    "run_sensitivity",
]


def _cohort_from_config(data: DatasetQRS) -> Path | None:
    for key in ("cohort", "cohort_dir", "cohort_path"):
        if data.config.get(key):
            return Path(data.config[key])
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
        Also run the shrinking apical infarct (paper Fig. 11a) with the dataset's tissue; needs the cohort meshes.
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
    normalisation : {"amplitude", "baseline", "lead", "peak", None}
        How the QRS are normalised before DTW and biomarkers (:func:`mitwin.ep.normalise.normalise_batch`).
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

    Notes
    -----
    Outputs in ``out_dir``: the tables of :func:`mitwin.analysis.tables.write_tables`, figures
    ``fig7a_dtw_to_baseline.png``, ``fig7b_dtw_pairs.png``, ``fig8_qrs_overlay.png``, ``qrs_duration.png``,
    ``biomarker_prevalence.png`` (+ ``apical_sizes.csv``, ``fig11a_apical_sizes.png``) and ``report.md``.
    """
    if normalisation not in BATCH_NORMALISATIONS:
        raise ValueError(f"normalisation: expected one of {BATCH_NORMALISATIONS}, got {normalisation!r}")
    data = read_dataset_qrs(Path(dataset))
    coh: Path | None = None
    if apical_sizes:
        coh = Path(cohort) if cohort is not None else _cohort_from_config(data)
        if coh is None:
            raise ValueError("cohort: apical_sizes needs the cohort directory (cohort=... or --cohort DIR); "
                             "the dataset's config does not record one")
        if not coh.exists():
            raise FileNotFoundError(f"cohort: no such directory {coh}")
    result = compute_sensitivity(data, band=band, penalty=penalty, n_threads=n_threads, normalisation=normalisation,
                                 overlay_subject=overlay_subject, progress=progress)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    write_tables(result, out)
    if coh is not None:
        sids = [r.subject for r in result.subjects][: apical_subjects or None]
        rows = apical_size_experiment(coh, sids, apical_radii, band=band, penalty=penalty, n_threads=n_threads,
                                      normalisation=normalisation, tissue=result.tissue or "paper",
                                      progress=progress)
        write_apical_table(rows, out)
        result = dataclasses.replace(result, apical_rows=tuple(rows))
    figs = figures.make_all(result, out)
    path = out / "report.md"
    write_text_atomic(path, report.build_report(result, figs))
    logger.info("wrote %s", path)
    return path
