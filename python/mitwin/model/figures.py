"""Figures and exports of the evaluation: Dice box plots (paper Fig. 10), 3D views (Fig. 9), VTU/PLY."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np

from .._atomic import atomic_path, write_figure_atomic

#: Colours of healthy, BZ, scar.
LABEL_COLOURS = np.array([[0.80, 0.80, 0.80], [1.00, 0.65, 0.00], [0.75, 0.05, 0.05]])


def _save(fig, path: Path) -> Path:
    import matplotlib.pyplot as plt

    path = Path(path)
    try:
        write_figure_atomic(fig, path, dpi=110)
    finally:
        plt.close(fig)
    return path


def dice_boxplot(records: Mapping[str, Sequence[dict]], scenarios: Sequence[str], path: str | Path) -> Path:
    """Box plots of scar and BZ Dice per scenario, one box per method (``records``: method -> items)."""
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    methods = list(records)
    width_in = min(18.0, max(8.0, 0.55 * len(scenarios) * max(1, len(methods))))
    fig, axes = plt.subplots(2, 1, figsize=(width_in, 7), sharex=True)
    width = 0.8 / max(1, len(methods))
    colours = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    for ax, metric, title in zip(axes, ("scar_dice", "bz_dice"), ("scar", "border zone")):
        for k, m in enumerate(methods):
            data = [[r[metric] for r in records[m] if r["scenario"] == s] for s in scenarios]
            pos = np.arange(len(scenarios)) + (k - (len(methods) - 1) / 2) * width
            bp = ax.boxplot(data, positions=pos, widths=width * 0.9, patch_artist=True, showfliers=True)
            for patch in bp["boxes"]:
                patch.set_facecolor(colours[k % len(colours)])
                patch.set_alpha(0.6)
            ax.plot([], [], color=colours[k % len(colours)], lw=6, alpha=0.6, label=m)
        ax.set_ylabel(f"Dice ({title})")
        ax.set_ylim(-0.02, 1.02)
        ax.grid(axis="y", alpha=0.3)
        ax.legend(loc="upper right", fontsize=8)
    axes[-1].set_xticks(np.arange(len(scenarios)))
    axes[-1].set_xticklabels([s.replace("_", " ") for s in scenarios], rotation=60, ha="right", fontsize=8)
    fig.tight_layout()
    return _save(fig, Path(path))


def cloud_views(xyz: np.ndarray, truths: Sequence[np.ndarray], preds: Sequence[np.ndarray],
                titles: Sequence[str], path: str | Path, elev: float = 15.0, azim: float = -60.0) -> Path:
    """3D scatter of truth (top row) and prediction (bottom row) per scenario (columns) -> PNG."""
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    n = len(truths)
    fig = plt.figure(figsize=(3.0 * n, 6.0))
    for col in range(n):
        for row, (lab, kind) in enumerate(((truths[col], "truth"), (preds[col], "prediction"))):
            ax = fig.add_subplot(2, n, row * n + col + 1, projection="3d")
            lab = np.asarray(lab)
            order = np.argsort(lab, kind="stable")
            ax.scatter(*xyz[order].T, c=LABEL_COLOURS[lab[order]], s=2, depthshade=False)
            ax.view_init(elev=elev, azim=azim)
            ax.set_axis_off()
            ax.set_title(f"{titles[col].replace('_', ' ')}\n{kind}", fontsize=8)
    fig.tight_layout()
    return _save(fig, Path(path))


def export_cloud_vtu(path: str | Path, xyz: np.ndarray, arrays: dict[str, np.ndarray]) -> Path:
    """Points (P, 3) with per-point arrays as a VTU of vertex cells (for ParaView), written atomically."""
    import meshio

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    xyz = np.asarray(xyz, dtype=np.float64)
    mesh = meshio.Mesh(xyz, [("vertex", np.arange(len(xyz), dtype=np.int64).reshape(-1, 1))],
                       point_data={k: np.asarray(v) for k, v in arrays.items()})
    with atomic_path(path, suffix=".vtu") as tmp:
        meshio.write(tmp, mesh, file_format="vtu")
    return path


def export_cloud_ply(path: str | Path, xyz: np.ndarray, labels: np.ndarray) -> Path:
    """Points coloured by label (grey healthy, orange BZ, red scar) as a PLY, written atomically."""
    import trimesh

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    colours = (LABEL_COLOURS[np.asarray(labels)] * 255).astype(np.uint8)
    cloud = trimesh.PointCloud(np.asarray(xyz, dtype=np.float64), colors=colours)
    with atomic_path(path, suffix=".ply") as tmp:
        cloud.export(tmp, file_type="ply")
    return path
