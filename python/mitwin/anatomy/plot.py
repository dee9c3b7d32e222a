"""Figure of a heart: coloured by each coordinate, by AHA segment, and with fibre streaks."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from .._atomic import write_figure_atomic
from .heart import Heart


def _view_basis(heart: Heart) -> tuple[np.ndarray, np.ndarray]:
    """A camera that looks at the heart from the anterior-left, long axis vertical on the page."""
    apex = heart.points[int(np.argmin(heart.ab))]
    base = heart.points[heart.ab >= np.quantile(heart.ab, 0.97)].mean(axis=0)
    up = base - apex
    up /= np.linalg.norm(up)
    lv = heart.points[heart.tv < 0.5].mean(axis=0)
    rv = heart.points[heart.tv >= 0.5].mean(axis=0)
    side = rv - lv
    side -= np.dot(side, up) * up
    side /= max(np.linalg.norm(side), 1e-12)
    return up, side


def plot_heart(heart: Heart, path: str | Path, *, n_points: int = 6000, n_fibres: int = 900, seed: int = 0,
               dpi: int = 110) -> Path:
    """Save a PNG with six panels: tm, ab, rt, tv, AHA segments and fibre streaks of ``heart``.

    * tm on a long-axis section through both ventricles (a 2-D slab of nodes);
    * ab and tv on the outer surface, viewed from the anterior side with the base up;
    * rt on a mid-ventricular short-axis section (ab in [0.45, 0.55]), seen from the base;
    * AHA segments as a bullseye (radius = ab, angle from rt; anterior up, septum left);
    * fibre streaks on the front half, on the epicardium (blue) and endocardium (red).

    Parameters
    ----------
    heart : the heart to draw.
    path : output PNG path.
    n_points : nodes drawn per 3-D panel; n_fibres : fibre streaks drawn.
    seed : subsampling seed.

    Returns
    -------
    The path written.
    """
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt
    from matplotlib import colors as mcolors

    from .mesh_io import boundary_faces

    path = Path(path)
    rng = np.random.default_rng(seed)
    n = heart.n_nodes
    up, side = _view_basis(heart)
    front = np.cross(up, side)
    if np.dot(front, [0.0, -1.0, 0.0]) < 0:  # LPS: look at the anterior (-y) side
        front = -front
    centre = heart.points.mean(axis=0)
    q = (heart.points - centre) @ np.stack([side, front, up], axis=1)  # page x, depth (towards viewer), page y
    thick = 0.03 * float(np.ptp(q[:, 1]) + np.ptp(q[:, 0]))
    bnodes = np.unique(boundary_faces(heart.tets))
    surf_idx = rng.choice(bnodes, size=min(n_points, bnodes.size), replace=False)
    surf_idx = surf_idx[np.argsort(q[surf_idx, 1])]  # painter's order: far first
    fig, axes = plt.subplots(2, 3, figsize=(16, 10.5))

    def panel(ax, idx, x, y, values, cmap, lo, hi, title, size=6):
        sc = ax.scatter(x, y, c=values, cmap=cmap, vmin=lo, vmax=hi, s=size, linewidths=0)
        fig.colorbar(sc, ax=ax, shrink=0.8)
        ax.set_title(title, fontsize=10)
        ax.set_aspect("equal")
        ax.set_xticks([])
        ax.set_yticks([])
        return sc

    # tm on the long-axis section containing the LV-RV direction
    sec = np.flatnonzero(np.abs(q[:, 1]) < thick)
    panel(axes[0, 0], sec, q[sec, 0], q[sec, 2], heart.tm[sec], "viridis", 0, 1,
          "tm (0 epi / septal junction, 1 endo): long-axis section", 8)
    # ab on the surface, front view
    vis = surf_idx[q[surf_idx, 1] > -thick] if surf_idx.size else surf_idx
    panel(axes[0, 1], vis, q[vis, 0], q[vis, 2], heart.ab[vis], "viridis", 0, 1,
          "ab (0 apex, 1 base): anterior view", 6)
    # rt on a mid short-axis section, seen from the base
    mid = np.flatnonzero((heart.ab > 0.45) & (heart.ab < 0.55))
    panel(axes[0, 2], mid, q[mid, 0], q[mid, 1], heart.rt[mid], "twilight", 0, 1,
          "rt, mid short axis (0 post. junction, 2/3 ant. junction)", 8)
    axes[0, 2].set_xlabel("LV -> RV", fontsize=8)
    axes[0, 2].set_ylabel("anterior ->", fontsize=8)
    panel(axes[1, 0], vis, q[vis, 0], q[vis, 2], heart.tv[vis], "coolwarm", 0, 1, "tv (0 LV, 1 RV): anterior view", 6)
    # AHA bullseye
    lvr = np.flatnonzero(heart.aha > 0)
    # standard bullseye layout: anterior up, septum left, inferior down, lateral right
    ang = 0.5 * np.pi + 2 * np.pi * (heart.rt[lvr] - 7.0 / 12.0)
    aha_colors = ["#d9d9d9"] + [matplotlib.colormaps["tab20"](i % 20) for i in range(17)]
    cmap = mcolors.ListedColormap(aha_colors)
    ax = axes[1, 1]
    panel(ax, lvr, heart.ab[lvr] * np.cos(ang), heart.ab[lvr] * np.sin(ang), heart.aha[lvr], cmap, -0.5, 17.5,
          "AHA segments: bullseye (radius ab; anterior up, septum left)", 3)
    for seg in range(1, 18):
        m = heart.aha[lvr] == seg
        if m.any():
            z = np.mean(heart.ab[lvr][m] * np.exp(1j * ang[m]))
            ax.text(z.real, z.imag, str(seg), ha="center", va="center", fontsize=9, weight="bold")
    # fibres: streaks on the front half, epicardium and endocardium
    cand = np.flatnonzero((q[:, 1] > 0) & ((heart.tm < 0.05) | (heart.tm > 0.95)))
    fidx = rng.choice(cand, size=min(n_fibres, cand.size), replace=False) if cand.size else cand
    ax = axes[1, 2]
    length = 0.04 * float(np.ptp(q[:, 2]))
    d = (heart.fibres[fidx] @ np.stack([side, front, up], axis=1)) * length
    for i, node in enumerate(fidx):
        x0, y0 = q[node, 0] - 0.5 * d[i, 0], q[node, 2] - 0.5 * d[i, 2]
        ax.plot([x0, x0 + d[i, 0]], [y0, y0 + d[i, 2]], color="tab:red" if heart.tm[node] > 0.5 else "tab:blue",
                lw=1.0, alpha=0.8)
    ax.set_aspect("equal")
    ax.set_xticks([])
    ax.set_yticks([])
    ax.set_title("fibres, anterior half: epicardium (blue), endocardium (red)", fontsize=10)
    fig.suptitle(f"{path.stem}: {n} nodes, {heart.tets.shape[0]} tets", fontsize=12)
    fig.tight_layout()
    try:
        write_figure_atomic(fig, path, dpi=dpi)
    finally:
        plt.close(fig)
    return path
