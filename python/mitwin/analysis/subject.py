"""One subject's share of the sensitivity analysis: DTW to the baseline, DTW between all QRS, biomarkers.

The QRS are normalised with :func:`mitwin.ep.normalise.normalise_batch` before DTW
(:mod:`mitwin.analysis.dtw`, duration penalty of Camps et al. 2021) and biomarkers
(:mod:`mitwin.analysis.biomarkers`).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike

from ..ep.delineation import qrs_duration
from ..ep.normalise import normalise_batch
from .biomarkers import biomarker_table_row, qrs_biomarkers
from .dtw import DEFAULT_PENALTY, dtw_all_pairs, dtw_one_to_many

__all__ = ["DEFAULT_BAND", "SubjectResult", "analyse_subject", "signal_durations"]

#: Sakoe-Chiba radius (samples = ms at 1 kHz) beyond the length difference: lets the two QRS shift by
#: up to a third of a normal QRS while forbidding degenerate alignments.
DEFAULT_BAND = 32


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


def signal_durations(signals: np.ndarray, lens: np.ndarray, dt: float) -> np.ndarray:
    """QRS durations (ms) of (S, 8, T) signals by :func:`mitwin.ep.delineation.qrs_duration` (the dataset's
    definition) over each valid window of ``lens`` (S,) samples."""
    return np.array([float(qrs_duration(signals[k, :, : int(n)], dt)) for k, n in enumerate(lens)])


def analyse_subject(subject: str, qrs: ArrayLike, lengths: ArrayLike, durations: ArrayLike | None = None, *,
                    dt_ms: float = 1.0, band: int | None = DEFAULT_BAND, penalty: float = DEFAULT_PENALTY,
                    n_threads: int | None = None, normalisation: str | None = "amplitude") -> SubjectResult:
    """DTW to baseline, all-pairs DTW and biomarkers for one subject's QRS (baseline in row 0).

    Parameters
    ----------
    subject : str
    qrs : array_like, shape (S, 8, T)
        Raw QRS; normalised here with :func:`mitwin.ep.normalise.normalise_batch` (``normalisation``).
    lengths : array_like of int, shape (S,)
    durations : array_like, shape (S,), optional
        QRS durations in ms (the dataset's ``qrs_duration``); default :func:`signal_durations` of each raw QRS.
    dt_ms : float
        Sampling interval, ms.
    band, penalty, n_threads
        Passed to :func:`mitwin.analysis.dtw.dtw_all_pairs`.
    normalisation : {"amplitude", "baseline", "lead", "peak", None}
        See :func:`mitwin.ep.normalise.normalise_batch`.

    Returns
    -------
    SubjectResult
    """
    raw = np.asarray(qrs, dtype=np.float64)
    lens = np.asarray(lengths, dtype=np.int64)
    norm = normalise_batch(raw, lens, normalisation)
    if norm.shape[0] < 2:
        raise ValueError(f"qrs: expected the baseline and at least one scenario, got {norm.shape[0]} rows")
    pairs = dtw_all_pairs(norm, lens, band=band, penalty=penalty, n_threads=n_threads)
    to_base = dtw_one_to_many(norm[0], norm[1:], lens[1:], ref_length=int(lens[0]), band=band, penalty=penalty,
                              n_threads=n_threads)
    if durations is None:
        durs = signal_durations(normalise_batch(raw, lens, None), lens, dt_ms)
    else:
        durs = np.asarray(durations, dtype=np.float64)
        if durs.shape != lens.shape:
            raise ValueError(f"durations: expected shape {lens.shape}, got shape {durs.shape}")
    rows = [biomarker_table_row(qrs_biomarkers(norm[s], int(lens[s]), duration_ms=float(durs[s]), dt_ms=dt_ms))
            for s in range(norm.shape[0])]
    n0 = float(lens[0])
    term = penalty * (lens[1:] - n0) ** 2 / np.minimum(lens[1:], n0)
    return SubjectResult(subject, to_base, term.astype(np.float64), pairs, rows)
