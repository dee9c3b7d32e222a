"""Figure of a QRS extraction: every aligned beat, the representative beat and its QRS onset / offset, per lead."""

from __future__ import annotations

import logging
import os
import textwrap
from pathlib import Path
from typing import Any

from .ecg import LEADS
from .ecg_plot import LAYOUT
from .extract import QRSExtraction

__all__ = ["plot_extraction"]

logger = logging.getLogger(__name__)

RULE_COLOURS = {"neurokit2": "tab:blue", "envelope": "tab:orange"}


def plot_extraction(
    result: QRSExtraction,
    path: str | os.PathLike | None = None,
    *,
    title: str | None = None,
    figsize: tuple[float, float] = (9.0, 9.0),
    dpi: int = 150,
) -> Any:
    """Draw the beats of a record aligned on their QRS peaks, the median beat and the extracted QRS, lead by lead.

    Each panel (leads I, II, V1-V6, one amplitude scale) shows the beats kept as thin grey lines, the
    representative (median) beat in black, the extracted QRS in red over a shaded band from onset to offset,
    and each delineation rule's onset / offset as a short tick at the top (blue neurokit2, orange envelope);
    the rule that decided draws the band's edge.

    Parameters
    ----------
    result : QRSExtraction
        From :func:`mitwin.ep.extract.extract_qrs_report`.
    path : path-like, optional
        Write the figure as PNG there (atomically).
    title : str, optional
        Figure title; the extraction's summary is always added below it.
    figsize, dpi
        Size (inches) and PNG resolution.

    Returns
    -------
    matplotlib.figure.Figure
    """
    import matplotlib.pyplot as plt

    if not isinstance(result, QRSExtraction):
        raise ValueError(f"result: expected a QRSExtraction, got {type(result).__name__}")
    fig, grid = plt.subplots(len(LAYOUT), 2, figsize=figsize, sharex=True, sharey=True, squeeze=False)
    t = result.beat_t
    t_qrs = result.onset_ms + result.qrs.t
    for ax, name in zip(grid.ravel(), [n for row in LAYOUT for n in row]):
        k = LEADS.index(name)
        ax.axvspan(result.onset_ms, result.offset_ms, color="tab:red", alpha=0.08, lw=0)
        for beat in result.beats:
            ax.plot(t, beat[k], color="0.55", lw=0.5, alpha=0.6)
        level = result.representative[k, round(result.onset_ms - t[0])] - result.qrs.signals[k, 0]
        ax.plot(t, result.representative[k], color="k", lw=1.3)
        ax.plot(t_qrs, result.qrs.signals[k] + level, color="tab:red", lw=2.0)
        for rule, (on, off) in result.candidates.items():
            for value in (on, off):
                if value == value:  # not NaN
                    ax.axvline(value, ymin=0.92, ymax=1.0, color=RULE_COLOURS.get(rule, "0.3"), lw=2.0)
        ax.axvline(result.onset_ms, color=RULE_COLOURS.get(result.onset_rule, "0.3"), lw=0.9, ls="--")
        ax.axvline(result.offset_ms, color=RULE_COLOURS.get(result.offset_rule, "0.3"), lw=0.9, ls="--")
        ax.grid(True, color="0.92", lw=0.5)
        derived = " (derived)" if name in result.derived_leads else ""
        ax.set_title(name + derived, loc="left", fontsize=10, fontweight="bold", pad=2)
    for ax in grid[-1]:
        ax.set_xlabel("time from the QRS peak (ms)")
    for ax in grid[:, 0]:
        ax.set_ylabel("mV", fontsize=9)
    handles = [
        plt.Line2D([], [], color="0.55", lw=0.8, label=f"beats ({result.n_beats_used} of {result.n_beats})"),
        plt.Line2D([], [], color="k", lw=1.3, label="median beat"),
        plt.Line2D([], [], color="tab:red", lw=2.0, label="extracted QRS"),
        plt.Line2D([], [], color=RULE_COLOURS["neurokit2"], lw=2.0, label="neurokit2 onset/offset"),
        plt.Line2D([], [], color=RULE_COLOURS["envelope"], lw=2.0, label="envelope onset/offset"),
    ]
    fig.legend(handles=handles, loc="lower center", ncol=3, fontsize=8, frameon=False)
    head = f"{title}\n" if title else ""
    fig.suptitle(head + textwrap.fill(result.summary(), 100), fontsize=9)
    fig.tight_layout(rect=(0, 0.05, 1, 1))
    if path is not None:
        from .._atomic import write_figure_atomic

        path = write_figure_atomic(fig, Path(path), dpi=dpi, format="png")
        logger.info("QRS extraction figure written to %s", path)
    return fig
