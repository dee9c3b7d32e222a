"""Figures of the QRS sensitivity analysis (PNG, matplotlib, Agg backend).

Each figure function takes arrays and writes one PNG atomically; :func:`make_all` draws every figure of a
:class:`mitwin.analysis.result.SensitivityResult`.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from .._atomic import write_figure_atomic
from ..ep.leads import LEADS
from ..paper import PAPER_QRS_MS
from ..scenario_records import ScenarioRecord
from .result import SensitivityResult

logger = logging.getLogger(__name__)

__all__ = [
    "apical_sizes_figure",
    "biomarker_prevalence",
    "dtw_pairs_heatmaps",
    "dtw_to_baseline_heatmap",
    "make_all",
    "qrs_duration_boxplot",
    "qrs_overlay",
]

_DPI = 150


def _pyplot():
    import matplotlib

    if matplotlib.get_backend().lower() not in ("agg", "module://matplotlib_inline.backend_inline"):
        matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _save(fig: Any, path: Path) -> Path:
    plt = _pyplot()
    try:
        write_figure_atomic(fig, path, format="png", dpi=_DPI, bbox_inches="tight")
    finally:
        plt.close(fig)
    logger.info("wrote %s", path)
    return path


def _heatmap(ax: Any, data: np.ndarray, rows: Sequence[str], cols: Sequence[str], *, cmap: str, label: str,
             fmt: str = "{:.2f}", vmax: float | None = None, fontsize: float = 7.0, rotate: bool = True) -> Any:
    plt = _pyplot()
    im = ax.imshow(data, cmap=cmap, aspect="auto", vmin=0.0, vmax=vmax if vmax is not None else np.nanmax(data))
    ax.set_xticks(range(len(cols)))
    ax.set_xticklabels(cols, rotation=45 if rotate else 0, ha="right" if rotate else "center", fontsize=8)
    ax.set_yticks(range(len(rows)))
    ax.set_yticklabels(rows, fontsize=8)
    hi = float(np.nanmax(data)) if np.size(data) else 0.0
    for i in range(data.shape[0]):
        for j in range(data.shape[1]):
            v = data[i, j]
            if np.isfinite(v):
                ax.text(j, i, fmt.format(v), ha="center", va="center", fontsize=fontsize,
                        color="white" if hi > 0 and v > 0.6 * (vmax or hi) else "black")
    cb = plt.colorbar(im, ax=ax, fraction=0.046, pad=0.02)
    cb.set_label(label, fontsize=9)
    return im


def dtw_to_baseline_heatmap(path: Path, labels: Sequence[str], mean: np.ndarray, n_subjects: int,
                            duration_term: np.ndarray | None = None) -> Path:
    """Scenario x lead heatmap of the mean DTW to the baseline, with the lead average (paper Fig. 7a).

    Parameters
    ----------
    labels : scenario labels (rows)
    mean : (n_scenarios, 8) mean over subjects
    duration_term : (n_scenarios,) mean duration penalty inside ``mean`` (the same in every lead); when
        given, a second panel shows the shape part ``mean - duration_term``.
    """
    plt = _pyplot()
    panels = [(mean, "DTW to baseline (normalised amplitude)", "DTW to baseline (with duration penalty)")]
    if duration_term is not None:
        panels.append((mean - np.asarray(duration_term)[:, None], "DTW minus duration term",
                       "shape part (without the duration penalty)"))
    fig, axes = plt.subplots(1, len(panels), figsize=(7.5 * len(panels), 0.38 * len(labels) + 1.6), squeeze=False)
    for ax, (data, cbar, title) in zip(axes[0], panels):
        full = np.concatenate([data, data.mean(axis=1, keepdims=True)], axis=1)
        _heatmap(ax, full, labels, [*LEADS, "avg"], cmap="Blues", label=cbar, rotate=False)
        ax.axvline(len(LEADS) - 0.5, color="k", lw=1.0)
        ax.set_xlabel("lead")
        ax.set_title(title, fontsize=10)
    fig.suptitle(f"QRS dissimilarity to the baseline, mean over {n_subjects} subject(s)", fontsize=10)
    fig.tight_layout()
    return _save(fig, path)


def dtw_pairs_heatmaps(path: Path, labels: Sequence[str], dmax: np.ndarray, davg: np.ndarray,
                       n_subjects: int) -> Path:
    """Scenario x scenario heatmaps of DTW^max and DTW^avg over leads (paper Fig. 7b)."""
    plt = _pyplot()
    n = len(labels)
    fig, axes = plt.subplots(1, 2, figsize=(2 * (0.42 * n + 2.6), 0.42 * n + 1.8))
    fs = 6.0 if n > 12 else 7.0
    _heatmap(axes[0], dmax, labels, labels, cmap="GnBu", label="DTW$^{max}$ over leads", fontsize=fs, fmt="{:.1f}")
    _heatmap(axes[1], davg, labels, labels, cmap="Blues", label="DTW$^{avg}$ over leads", fontsize=fs, fmt="{:.1f}")
    axes[0].set_title("DTW$^{max}$ between scenarios", fontsize=10)
    axes[1].set_title("DTW$^{avg}$ between scenarios", fontsize=10)
    fig.suptitle(f"Mean over {n_subjects} subject(s); normalised amplitude", fontsize=9)
    fig.tight_layout()
    return _save(fig, path)


def _overlay_columns(records: Sequence[ScenarioRecord]) -> list[tuple[str, dict[str | None, int]]]:
    """(column title, extent -> record index) of the scenarios that are not tissue variants, one column per
    location and size (a record of unknown location is a column of its own)."""
    cols: dict[tuple[str, float | None], tuple[str, dict[str | None, int]]] = {}
    for k, r in enumerate(records):
        if r.variant_of is not None:
            continue
        key = (r.location, r.size) if r.location is not None else (r.name, None)
        title = r.name if r.location is None else " ".join(
            p for p in ("small" if r.size is not None and r.size < 1.0 else "", r.location.replace("_", " ")) if p)
        cols.setdefault(key, (title, {}))[1].setdefault(r.extent, k)
    return list(cols.values())


def qrs_overlay(path: Path, subject: str, qrs: np.ndarray, lengths: np.ndarray, records: Sequence[ScenarioRecord],
                dt_ms: float = 1.0, subtitle: str = "normalised") -> Path:
    """QRS of the baseline and each location's subendocardial / transmural infarct, 8 leads (paper Fig. 8).

    One column per location (and size) drawn with :func:`mitwin.ep.ecg_plot.plot_ecg` (baseline solid black,
    transmural dashed red), the subendocardial QRS added dotted blue.

    Parameters
    ----------
    qrs : (S, 8, T) normalised QRS of one subject, baseline first
    lengths : (S,) valid samples
    records : ScenarioRecord of rows 1..S-1
    """
    from ..ep.ecg import ECG
    from ..ep.ecg_plot import plot_ecg

    plt = _pyplot()
    columns = _overlay_columns(records)
    ncol = max(1, len(columns))
    fig, axes = plt.subplots(len(LEADS), ncol, figsize=(1.9 * ncol + 0.8, 1.05 * len(LEADS) + 1.2),
                             sharex=True, sharey="row", squeeze=False)

    def ecg(k: int) -> Any:
        return ECG(qrs[k, :, : int(lengths[k])], dt_ms, LEADS, 0.0)

    for c, (title, rows) in enumerate(columns):
        trans = rows.get("transmural", rows.get(None))
        col = axes[:, c]
        plot_ecg(ecg(0), ax=col, other=None if trans is None else ecg(trans + 1),
                 labels=("baseline", "transmural"), ylabel="")
        sub = rows.get("subendocardial")
        if sub is not None:
            e = ecg(sub + 1)
            for r, lead in enumerate(LEADS):
                col[r].plot(e.t, e.lead(lead), color="tab:blue", ls=":", lw=1.3, label="subendocardial")
        for r, ax in enumerate(col):
            ax.set_title("", loc="left")  # the lead is named on the row instead
            ax.set_title(title if r == 0 else "", fontsize=9)
            ax.tick_params(labelsize=7)
            ax.set_xlabel("time (ms)" if r == len(LEADS) - 1 else "", fontsize=8)
            if ax.get_legend() is not None:
                ax.get_legend().remove()
            if c == 0:
                ax.set_ylabel(LEADS[r], fontsize=9, rotation=0, ha="right", va="center")
    handles, labels = axes[0, 0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="upper center", ncol=3, fontsize=8, frameon=False, bbox_to_anchor=(0.5, 1.0))
    fig.suptitle(f"QRS of {subject}, {subtitle}", fontsize=10, y=1.03)
    fig.tight_layout()
    return _save(fig, path)


def qrs_duration_boxplot(path: Path, labels: Sequence[str], durations: np.ndarray,
                         reference: dict[str, float] | None = None) -> Path:
    """Box plots of the QRS duration (ms) per scenario over subjects, with reference lines.

    Parameters
    ----------
    labels : (S,) scenario labels (baseline first)
    durations : (n_subjects, S) ms
    reference : label -> ms, drawn as dashed horizontal lines (e.g. the paper's values)
    """
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(0.45 * len(labels) + 2.5, 4.2))
    ax.boxplot([durations[:, k] for k in range(len(labels))], widths=0.6, medianprops={"color": "tab:red"})
    ax.set_xticks(range(1, len(labels) + 1))
    ax.set_xticklabels(labels, rotation=45, ha="right", fontsize=8)
    ax.set_ylabel("QRS duration (ms)")
    colours = ("0.3", "tab:purple", "tab:orange", "tab:green", "tab:brown")
    for k, (name, ms) in enumerate((reference or {}).items()):
        ax.axhline(ms, ls="--", lw=0.9, color=colours[k % len(colours)], label=f"{name}: {ms:g} ms")
    if reference:
        ax.legend(fontsize=7, loc="upper left", title="paper (Li et al.)", title_fontsize=7)
    ax.grid(axis="y", color="0.9")
    ax.set_title(f"QRS duration per scenario ({durations.shape[0]} subject(s))", fontsize=10)
    return _save(fig, path)


def biomarker_prevalence(path: Path, labels: Sequence[str], overall: np.ndarray, per_lead: np.ndarray,
                         n_subjects: int) -> Path:
    """Prevalence (% of subjects) of the QRS criteria per scenario, and of fQRS per lead.

    Parameters
    ----------
    labels : (S,) scenario labels (baseline first)
    overall : (S, 4) fractions of [pathological Q, PRWP, fQRS, QRS >= 120 ms]
    per_lead : (S, 8) fractions of fQRS per lead
    """
    plt = _pyplot()
    fig, axes = plt.subplots(1, 2, figsize=(13.0, 0.36 * len(labels) + 2.0),
                             gridspec_kw={"width_ratios": [4, 8]})
    _heatmap(axes[0], 100 * overall, labels, ["path. Q", "PRWP", "fQRS", "QRS≥120 ms"], cmap="Reds",
             label="prevalence (% of subjects)", fmt="{:.0f}", vmax=100.0)
    _heatmap(axes[1], 100 * per_lead, labels, list(LEADS), cmap="Purples", label="fQRS prevalence (% of subjects)",
             fmt="{:.0f}", vmax=100.0, rotate=False)
    axes[0].set_title("QRS criteria (≥2 contiguous leads)", fontsize=10)
    axes[1].set_title("fragmented QRS per lead", fontsize=10)
    axes[1].set_xlabel("lead")
    fig.suptitle(f"{n_subjects} subject(s)", fontsize=9)
    fig.tight_layout()
    return _save(fig, path)


def apical_sizes_figure(path: Path, rows: Sequence[dict]) -> Path:
    """Mean DTW to the baseline per lead against the apicobasal scar radius (paper Fig. 11a)."""
    plt = _pyplot()
    radii = sorted({float(r["r_ab"]) for r in rows}, reverse=True)
    fig, ax = plt.subplots(figsize=(6.5, 4.0))
    cmap = plt.get_cmap("tab10")
    for j, lead in enumerate(LEADS):
        y = [np.mean([r[f"dtw_{lead}"] for r in rows if r["r_ab"] == rad]) for rad in radii]
        ax.plot(radii, y, marker="o", ms=3, lw=1.0, color=cmap(j), label=lead)
    avg = [np.mean([r["dtw_avg"] for r in rows if r["r_ab"] == rad]) for rad in radii]
    ax.plot(radii, avg, marker="s", lw=2.2, color="k", label="avg")
    ax.invert_xaxis()
    ax.set_xlabel("apicobasal scar radius $r_{ab}$ (Cobiveco units)")
    ax.set_ylabel("DTW to baseline (normalised amplitude)")
    ax.grid(color="0.9")
    ax.legend(ncol=3, fontsize=7)
    n = len({r["subject"] for r in rows})
    ax.set_title(f"Transmural apical MI of shrinking size ({n} subject(s))", fontsize=10)
    return _save(fig, path)


_OVERLAY_SUBTITLE: dict[str | None, str] = {
    "amplitude": "normalised per lead group (I-II, V1-V6)", "baseline": "normalised to the baseline peak",
    "lead": "each lead normalised to its peak", "peak": "normalised to the QRS peak", None: "raw amplitude"}


def make_all(result: SensitivityResult, out: Path) -> dict[str, Path]:
    """Write every figure of the analysis into ``out``; returns name -> path.

    Figures: ``fig7a`` (DTW to baseline), ``fig7b`` (DTW between scenarios), ``fig8`` (QRS overlay),
    ``qrs_duration``, ``biomarkers`` and, with apical rows, ``fig11a``. Tissue variants are left out of
    the heatmaps and the overlay.
    """
    n_subj = result.n_subjects
    main = result.main
    labels = result.labels
    figs: dict[str, Path] = {}
    figs["fig7a"] = dtw_to_baseline_heatmap(out / "fig7a_dtw_to_baseline.png", [labels[k] for k in main],
                                            result.to_base.mean(axis=0)[main], n_subj,
                                            result.duration_terms.mean(axis=0)[main])
    idx = [k + 1 for k in main]
    figs["fig7b"] = dtw_pairs_heatmaps(out / "fig7b_dtw_pairs.png", [labels[k] for k in main],
                                       result.pairs_max.mean(axis=0)[np.ix_(idx, idx)],
                                       result.pairs_avg.mean(axis=0)[np.ix_(idx, idx)], n_subj)
    sid, qrs, lens = result.overlay
    figs["fig8"] = qrs_overlay(out / "fig8_qrs_overlay.png", sid, qrs, np.asarray(lens), result.records,
                               result.dt_ms, _OVERLAY_SUBTITLE[result.normalisation])
    all_labels = ["baseline", *labels]
    durs = result.durations
    figs["qrs_duration"] = qrs_duration_boxplot(out / "qrs_duration.png", all_labels, durs, dict(PAPER_QRS_MS))
    overall = np.stack([result.biomarker("pathological_q").mean(axis=0), result.biomarker("prwp").mean(axis=0),
                        result.biomarker("fqrs").mean(axis=0), (durs >= 120.0).mean(axis=0)], axis=1)
    per_lead = np.stack([result.biomarker(f"fqrs_{ld}").mean(axis=0) for ld in LEADS], axis=1)
    figs["biomarkers"] = biomarker_prevalence(out / "biomarker_prevalence.png", all_labels, overall, per_lead, n_subj)
    if result.apical_rows:
        figs["fig11a"] = apical_sizes_figure(out / "fig11a_apical_sizes.png", result.apical_rows)
    return figs
