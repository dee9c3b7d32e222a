"""Figure of a heart: coloured by each coordinate, by AHA segment, and with fibre streaks."""

from __future__ import annotations

from pathlib import Path

import numpy as np

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


def plot_heart(heart: Heart, path: str | Path, *, n_points: int = 6000, n_fibres: int = 700, seed: int = 0,
               dpi: int = 110) -> Path:
    """Save a PNG with six views of ``heart``: tm, ab, rt, tv, AHA segment, fibre streaks.

    Each panel is a 3-D scatter of a random subsample of the nodes (the front half cut away
    along the LV-RV direction would hide the septum, so the whole cloud is shown, viewed
    from the anterior side with the long axis upward).

    Parameters
    ----------
    heart : the heart to draw.
    path : output PNG path.
    n_points : nodes drawn per panel; n_fibres : fibre streaks drawn.
    seed : subsampling seed.

    Returns
    -------
    The path written.
    """
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt
    from matplotlib import colors as mcolors

    path = Path(path)
    rng = np.random.default_rng(seed)
    n = heart.n_nodes
    idx = rng.choice(n, size=min(n_points, n), replace=False)
    up, side = _view_basis(heart)
    front = np.cross(up, side)
    centre = heart.points.mean(axis=0)
    basis = np.stack([side, front, up], axis=1)  # columns: page x, depth, page y
    q = (heart.points - centre) @ basis

    aha_colors = ["#d9d9d9"] + [matplotlib.colormaps["tab20"](i % 20) for i in range(17)]
    aha_cmap = mcolors.ListedColormap(aha_colors)
    panels = [
        ("tm (0 epi, 1 endo)", heart.tm, "viridis", (0, 1)),
        ("ab (0 apex, 1 base)", heart.ab, "viridis", (0, 1)),
        ("rt (0 post. junction, 2/3 ant., septum 2/3-1)", heart.rt, "twilight", (0, 1)),
        ("tv (0 LV, 1 RV)", heart.tv, "coolwarm", (0, 1)),
        ("AHA segment (0 = not LV)", heart.aha, aha_cmap, (-0.5, 17.5)),
    ]
    fig = plt.figure(figsize=(15, 10))
    for k, (title, values, cmap, (lo, hi)) in enumerate(panels):
        ax = fig.add_subplot(2, 3, k + 1, projection="3d")
        sc = ax.scatter(q[idx, 0], q[idx, 1], q[idx, 2], c=values[idx], cmap=cmap, vmin=lo, vmax=hi, s=3,
                        depthshade=False)
        fig.colorbar(sc, ax=ax, shrink=0.6, pad=0.02)
        ax.set_title(title, fontsize=10)
        _style(ax, q)
    ax = fig.add_subplot(2, 3, 6, projection="3d")
    # fibre streaks on the LV and RV free-wall epicardium and endocardium, coloured by tm
    fidx = rng.choice(n, size=min(n_fibres, n), replace=False)
    d = heart.fibres[fidx] @ basis * 4.0
    p0 = q[fidx] - 0.5 * d
    cmap = matplotlib.colormaps["coolwarm"]
    for i in range(fidx.size):
        ax.plot([p0[i, 0], p0[i, 0] + d[i, 0]], [p0[i, 1], p0[i, 1] + d[i, 1]], [p0[i, 2], p0[i, 2] + d[i, 2]],
                color=cmap(heart.tm[fidx[i]]), lw=1.2)
    ax.set_title("fibres (8 mm streaks; blue epi, red endo)", fontsize=10)
    _style(ax, q)
    n_tets = heart.tets.shape[0]
    fig.suptitle(f"{path.stem}: {n} nodes, {n_tets} tets; view from the RV side-anterior, base up", fontsize=12)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=dpi)
    plt.close(fig)
    return path


def _style(ax, q: np.ndarray) -> None:
    lo, hi = q.min(axis=0), q.max(axis=0)
    mid, half = 0.5 * (lo + hi), 0.5 * float(np.max(hi - lo))
    ax.set_xlim(mid[0] - half, mid[0] + half)
    ax.set_ylim(mid[1] - half, mid[1] + half)
    ax.set_zlim(mid[2] - half, mid[2] + half)
    ax.view_init(elev=10, azim=-90)
    ax.set_xticks([])
    ax.set_yticks([])
    ax.set_zticks([])
