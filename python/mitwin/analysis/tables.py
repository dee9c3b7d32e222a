"""CSV tables of the sensitivity analysis, written atomically from a :class:`SensitivityResult`."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Sequence
from pathlib import Path

import numpy as np

from .._atomic import write_bytes_atomic
from ..ep.leads import LEADS
from .result import SensitivityResult

__all__ = ["write_apical_table", "write_csv", "write_tables"]

CellValue = str | int | float | bool | np.generic | None


def write_csv(path: Path, header: Sequence[str], rows: Iterable[Sequence[CellValue]]) -> Path:
    """Write a CSV table atomically (floats with 6 significant digits, booleans as 0/1)."""
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(header)
    for row in rows:
        w.writerow([f"{v:.6g}" if isinstance(v, (float, np.floating)) else int(v) if isinstance(v, (bool, np.bool_))
                    else v for v in row])
    write_bytes_atomic(path, buf.getvalue().encode())
    return path


def write_tables(result: SensitivityResult, out: Path) -> list[Path]:
    """Write the DTW and biomarker tables of ``result`` into ``out``; returns the paths.

    ``dtw_to_baseline.csv`` (subject, scenario, lead DTW, avg, max, the duration-penalty term included in
    each lead), ``dtw_to_baseline_summary.csv`` (scenario x lead mean and sd, with the record's location,
    extent, size, tissue and variant), ``dtw_pairs.csv`` (subject, scenario pair, DTW^max, DTW^avg),
    ``dtw_pairs_max.csv`` / ``dtw_pairs_avg.csv`` (scenario x scenario, mean over subjects),
    ``biomarkers.csv`` (subject x scenario), ``biomarkers_summary.csv`` (per scenario: mean/sd).
    """
    names, recs, subjects = result.names, result.records, result.subjects
    lead_cols = [f"dtw_{ld}" for ld in LEADS]
    paths = [write_csv(out / "dtw_to_baseline.csv",
                       ["subject", "scenario", *lead_cols, "dtw_avg", "dtw_max", "duration_term"],
                       ([r.subject, names[k + 1], *r.to_baseline[k], r.to_baseline[k].mean(), r.to_baseline[k].max(),
                         r.duration_term[k]] for r in subjects for k in range(len(names) - 1)))]
    tb_mean, tb_sd = result.mean_sd(result.to_base)
    avg_mean, avg_sd = result.mean_sd(result.to_base.mean(axis=2))
    max_mean, max_sd = result.mean_sd(result.to_base.max(axis=2))
    paths.append(write_csv(
        out / "dtw_to_baseline_summary.csv",
        ["scenario", "location", "extent", "size", "tissue", "slow_cv", *[f"{c}_mean" for c in lead_cols],
         *[f"{c}_sd" for c in lead_cols], "dtw_avg_mean", "dtw_avg_sd", "dtw_max_mean", "dtw_max_sd"],
        ([s.name, s.location or "", s.extent or "", "" if s.size is None else s.size, s.tissue or "",
          s.variant_of is not None, *tb_mean[k], *tb_sd[k], avg_mean[k], avg_sd[k], max_mean[k], max_sd[k]]
         for k, s in enumerate(recs))))
    pmax, pavg = result.pairs_max, result.pairs_avg
    paths.append(write_csv(out / "dtw_pairs.csv", ["subject", "scenario_a", "scenario_b", "dtw_max", "dtw_avg"],
                           ([r.subject, names[a], names[b], pmax[i, a, b], pavg[i, a, b]]
                            for i, r in enumerate(subjects) for a in range(len(names)) for b in range(len(names)))))
    for tag, arr in (("max", pmax.mean(axis=0)), ("avg", pavg.mean(axis=0))):
        paths.append(write_csv(out / f"dtw_pairs_{tag}.csv", ["scenario", *names],
                               ([names[a], *arr[a]] for a in range(len(names)))))
    bio_cols = result.bio_cols
    paths.append(write_csv(out / "biomarkers.csv", ["subject", "scenario", *bio_cols],
                           ([r.subject, names[s], *[r.biomarkers[s][c] for c in bio_cols]]
                            for r in subjects for s in range(len(names)))))
    bio_mean, bio_sd = result.mean_sd(result.bio)  # (S, n_cols)
    paths.append(write_csv(out / "biomarkers_summary.csv",
                           ["scenario", "n_subjects", *[f"{c}_mean" for c in bio_cols], *[f"{c}_sd" for c in bio_cols]],
                           ([names[s], result.n_subjects, *bio_mean[s], *bio_sd[s]] for s in range(len(names)))))
    return paths


def write_apical_table(rows: Sequence[dict], out: Path) -> Path:
    """``apical_sizes.csv`` from the rows of :func:`mitwin.analysis.apical.apical_size_experiment`."""
    cols = list(rows[0].keys())
    return write_csv(out / "apical_sizes.csv", cols, ([row[c] for c in cols] for row in rows))
