"""Plot an 8-lead ECG (matplotlib): limb leads I, II and precordial leads V1-V6 in a 4 x 2 grid."""

from __future__ import annotations

import logging
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from .ecg import ECG, LEADS

__all__ = ["plot_ecg"]

logger = logging.getLogger(__name__)

#: Panel order, row by row: (I, II), (V1, V2), (V3, V4), (V5, V6).
LAYOUT: tuple[tuple[str, str], ...] = (("I", "II"), ("V1", "V2"), ("V3", "V4"), ("V5", "V6"))


def plot_ecg(
    ecg: ECG,
    path: str | os.PathLike | None = None,
    ax: Sequence[Any] | np.ndarray | None = None,
    *,
    other: ECG | None = None,
    labels: tuple[str, str] = ("baseline", "scenario"),
    title: str | None = None,
    sharey: bool = True,
    ylabel: str = "mV",
    figsize: tuple[float, float] = (8.0, 8.0),
    dpi: int = 150,
) -> Any:
    """Draw the 8 leads of ``ecg`` (and optionally ``other`` overlaid, e.g. baseline vs scenario).

    Parameters
    ----------
    ecg : ECG
        The ECG to draw (leads looked up by name, so any order of rows works).
    path : path-like, optional
        Write the figure as PNG there (atomically).
    ax : sequence of 8 matplotlib Axes, optional
        Draw into these (in the order I, II, V1, ..., V6) instead of a new figure.
    other : ECG, optional
        A second ECG drawn dashed on the same axes.
    labels : (str, str)
        Legend labels of ``ecg`` and ``other`` (the legend is drawn only with ``other``).
    title : str, optional
        Figure title.
    sharey : bool
        One amplitude scale for all panels (as on ECG paper), else a scale per panel.
    ylabel : str
        Amplitude label of the left column ("mV" for a raw pseudo-ECG with K = 1; e.g. "a.u." when
        normalised).
    figsize, dpi
        Size (inches) of a new figure and resolution of the PNG.

    Returns
    -------
    matplotlib.figure.Figure

    Examples
    --------
    >>> fig = plot_ecg(ecg, "qrs.png")                       # doctest: +SKIP
    >>> fig = plot_ecg(baseline, "cmp.png", other=scenario)  # doctest: +SKIP
    """
    import matplotlib.pyplot as plt

    if not isinstance(ecg, ECG):
        raise ValueError(f"ecg: expected an ECG, got {type(ecg).__name__}")
    if other is not None and not isinstance(other, ECG):
        raise ValueError(f"other: expected an ECG or None, got {type(other).__name__}")
    names = [name for row in LAYOUT for name in row]
    for e, arg in ((ecg, "ecg"), (other, "other")):
        if e is not None:
            missing = [n for n in names if n not in e.leads]
            if missing:
                raise ValueError(f"{arg}: missing leads {missing}; expected {LEADS}")
    if ax is None:
        fig, grid = plt.subplots(len(LAYOUT), 2, figsize=figsize, sharex=True, sharey=sharey, squeeze=False)
        axes = list(grid.ravel())
    else:
        axes = list(np.ravel(np.asarray(ax, dtype=object)))
        if len(axes) != len(names):
            raise ValueError(f"ax: expected {len(names)} Axes (I, II, V1..V6), got {len(axes)}")
        fig = axes[0].figure
    for a, name in zip(axes, names):
        a.plot(ecg.t, ecg.lead(name), color="k", lw=1.2, label=labels[0])
        if other is not None:
            a.plot(other.t, other.lead(name), color="tab:red", lw=1.2, ls="--", label=labels[1])
        a.axhline(0.0, color="0.6", lw=0.6, zorder=0)
        a.grid(True, color="0.9", lw=0.5)
        a.set_title(name, loc="left", fontsize=10, fontweight="bold", pad=2)
    for a in axes[-2:]:
        a.set_xlabel("t (ms)")
    for a in axes[::2]:
        a.set_ylabel(ylabel, fontsize=9)
    if other is not None:
        axes[0].legend(loc="best", fontsize=8, frameon=False)
    if title:
        fig.suptitle(title)
    if ax is None:
        fig.tight_layout()
    if path is not None:
        from .._atomic import write_figure_atomic

        path = write_figure_atomic(fig, Path(path), dpi=dpi, format="png")
        logger.info("ECG plot written to %s", path)
    return fig
