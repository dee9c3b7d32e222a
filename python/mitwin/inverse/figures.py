"""Figures of the inverse fit (PNG, matplotlib, Agg backend): one fitted case, and the calibration.

QRS are shown per lead, each lead divided by its own peak (the pseudo-ECG's amplitudes are those of an
infinite medium; the fit compares shapes).
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from .._atomic import write_figure_atomic
from ..anatomy.aha import lv_region
from ..ep.leads import LEADS
from .calibration import Reliability, expected_calibration_error

__all__ = ["plot_calibration", "plot_fit"]


def _pyplot() -> Any:
    import matplotlib

    if matplotlib.get_backend().lower() not in ("agg", "module://matplotlib_inline.backend_inline"):
        matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _norm(x: np.ndarray) -> np.ndarray:
    peak = np.max(np.abs(x), axis=-1, keepdims=True)
    return x / np.where(peak > 0, peak, 1.0)


def plot_fit(fit: Any, heart: Any, observed: np.ndarray, path: str | os.PathLike,
             truth: np.ndarray | None = None, title: str = "") -> Path:
    """A one-page report of a fit: observed vs fitted QRS, and the scar probability on the LV map.

    Parameters
    ----------
    fit : InfarctFit
    heart : Heart
    observed : (8, T) float, the observed QRS in the order of :data:`LEADS`
    path : path of the PNG
    truth : (N,) int labels, optional (its scar outline is drawn)
    title : str
    """
    plt = _pyplot()
    fig = plt.figure(figsize=(13, 5.5))
    grid = fig.add_gridspec(2, 6, width_ratios=[1, 1, 1, 1, 0.15, 3.2])
    obs = _norm(np.asarray(observed, dtype=float))
    fitted = _norm(np.asarray(fit.qrs.signals, dtype=float))
    for i, lead in enumerate(LEADS):
        ax = fig.add_subplot(grid[i // 4, i % 4])
        ax.plot(np.arange(obs.shape[1]), obs[i], "k", lw=1.5, label="observed")
        ax.plot(np.arange(fitted.shape[1]), fitted[i], "C3", lw=1.0, label="fitted")
        ax.set_title(lead, fontsize=9)
        ax.set_yticks([])
        ax.tick_params(labelsize=7)
        if i == 0:
            ax.legend(fontsize=7, loc="lower left")
        if i >= 4:
            ax.set_xlabel("ms", fontsize=8)
    ax = fig.add_subplot(grid[:, 5])
    lv = lv_region(heart.tv, heart.rt) & (np.asarray(heart.tm) > 0.5)
    rt, ab = np.asarray(heart.rt)[lv], np.asarray(heart.ab)[lv]
    p = np.asarray(fit.scar_probability)[lv]
    order = np.argsort(p)
    sc = ax.scatter(rt[order], ab[order], c=p[order], s=8, cmap="magma_r", vmin=0, vmax=1)
    if truth is not None:
        t = np.asarray(truth)[lv] == 2
        ax.scatter(rt[t], ab[t], s=22, facecolors="none", edgecolors="C0", linewidths=0.6, label="true scar")
        ax.legend(fontsize=8, loc="upper right")
    ax.set_xlabel("rt (0 posterior RV junction, 2/3 anterior junction, septum to 1)")
    ax.set_ylabel("ab (0 apex, 1 base)")
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1)
    fig.colorbar(sc, ax=ax, label="posterior scar probability (endocardial half of the LV)")
    head = title or "fit_infarct"
    fig.suptitle(f"{head}: p(infarct) = {fit.p_infarct:.2f}, {fit.n_simulations} simulations, "
                 f"{fit.seconds:.1f} s; QRS per lead divided by its peak", fontsize=10)
    fig.tight_layout()
    out = write_figure_atomic(fig, path, dpi=110)
    plt.close(fig)
    return out


def plot_calibration(records: Sequence[dict[str, Any]], rel: Reliability, path: str | os.PathLike) -> Path:
    """Reliability diagram of the per-node scar probability and the coverage of the credible intervals."""
    plt = _pyplot()
    fig, (a1, a2) = plt.subplots(1, 2, figsize=(11, 4.5))
    conf, freq = rel.confidence, rel.frequency
    ok = rel.counts > 0
    a1.plot([0, 1], [0, 1], "k--", lw=0.8, label="calibrated")
    a1.plot(conf[ok], freq[ok], "o-", color="C3", label="fit_infarct")
    for c, f, n in zip(conf[ok], freq[ok], rel.counts[ok]):
        a1.annotate(f"{int(n)}", (c, f), fontsize=6, textcoords="offset points", xytext=(3, -8))
    a1.set_xlabel("predicted scar probability (bin mean)")
    a1.set_ylabel("observed scar frequency")
    a1.set_title(f"nodes of all cases; ECE {expected_calibration_error(rel):.4f} "
                 f"({expected_calibration_error(rel, skip_first=True):.3f} for p >= 0.1)", fontsize=9)
    a1.legend(fontsize=8)
    conds = list(dict.fromkeys(r["condition"] for r in records))
    keys = ("volume_cov50", "volume_cov90", "centre_cov50", "centre_cov90")
    width = 0.8 / len(keys)
    for j, key in enumerate(keys):
        vals = [np.mean([r[key] for r in records if r["condition"] == c and r["method"] == "fit"
                         and not r["healthy"]] or [np.nan]) for c in conds]
        a2.bar(np.arange(len(conds)) + j * width, vals, width, label=key.replace("_cov", " ") + " %")
    a2.axhline(0.5, color="k", lw=0.6, ls=":")
    a2.axhline(0.9, color="k", lw=0.6, ls=":")
    a2.set_xticks(np.arange(len(conds)) + 0.4 - width / 2)
    a2.set_xticklabels(conds)
    a2.set_ylim(0, 1)
    a2.set_ylabel("fraction of infarct cases covered")
    a2.set_title("coverage of the 50 % / 90 % credible intervals", fontsize=9)
    a2.legend(fontsize=7, ncol=2)
    fig.tight_layout()
    out = write_figure_atomic(fig, path, dpi=110)
    plt.close(fig)
    return out
