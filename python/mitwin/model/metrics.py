"""Segmentation and localisation metrics on point clouds, and the paper's Table I.

* Dice, precision and recall of the scar (label 2) and the border zone (label 1) on the points.
  Conventions for empty sets: Dice and precision/recall are 1 when both prediction and truth are
  empty; precision is 0 when nothing is predicted but the truth is not empty; recall is 1 when the
  truth is empty.
* AHA-loc-score (paper Eq. 12) of the scar: ``0.5 * [seg(c_pre) == seg(c_gd)] + 0.2 * IoU(segs_pre,
  segs_gd) + 0.3 * (1 - d_c)``. The centre of a region is its centroid; its segment is the AHA segment
  of the region's point nearest to that centroid (the centroid of a curved region can lie in the
  cavity). ``segs`` are the AHA segments holding at least one point of the region. ``d_c`` is the
  distance between the two centroids divided by the diagonal of the bounding box of the cloud's LV
  region (the LV's extent), clipped to [0, 1]. An empty prediction scores 0; an empty truth is
  undefined (NaN).
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Mapping, Sequence

import numpy as np

from ..anatomy.aha import aha_segments, lv_region
from ..paper import TABLE1_AVERAGE

#: Columns of Table I, in the paper's order.
METRICS: tuple[str, ...] = ("scar_dice", "scar_precision", "scar_recall", "bz_dice", "bz_precision",
                            "bz_recall", "aha_loc")

#: The paper's Table I averages (mean, sd) by metric, from :mod:`mitwin.paper`.
PAPER_AVERAGE: dict[str, tuple[float, float]] = dict(zip(METRICS, TABLE1_AVERAGE))


def binary_scores(pred: np.ndarray, truth: np.ndarray) -> dict[str, float]:
    """Dice, precision and recall of boolean masks ``pred`` and ``truth`` (same shape)."""
    pred = np.asarray(pred, dtype=bool)
    truth = np.asarray(truth, dtype=bool)
    if pred.shape != truth.shape:
        raise ValueError(f"pred and truth must have the same shape, got {pred.shape} and {truth.shape}")
    tp = float(np.sum(pred & truth))
    fp = float(np.sum(pred & ~truth))
    fn = float(np.sum(~pred & truth))
    dice = 1.0 if tp + fp + fn == 0 else 2 * tp / (2 * tp + fp + fn)
    if tp + fp == 0:
        precision = 1.0 if fn == 0 else 0.0
    else:
        precision = tp / (tp + fp)
    recall = 1.0 if tp + fn == 0 else tp / (tp + fn)
    return {"dice": dice, "precision": precision, "recall": recall}


def segmentation_scores(pred: np.ndarray, truth: np.ndarray) -> dict[str, float]:
    """Scar (label 2) and BZ (label 1) scores of label arrays -> ``scar_dice``, ..., ``bz_recall``."""
    out = {}
    for name, label in (("scar", 2), ("bz", 1)):
        for k, v in binary_scores(np.asarray(pred) == label, np.asarray(truth) == label).items():
            out[f"{name}_{k}"] = v
    return out


def _region_centre(xyz: np.ndarray, mask: np.ndarray, segs: np.ndarray) -> tuple[np.ndarray, int]:
    pts = xyz[mask]
    c = pts.mean(axis=0)
    nearest = int(np.argmin(np.linalg.norm(pts - c, axis=1)))
    return c, int(segs[mask][nearest])


def aha_loc_score(pred: np.ndarray, truth: np.ndarray, xyz: np.ndarray, ab: np.ndarray, rt: np.ndarray,
                  tv: np.ndarray, label: int = 2, weights: tuple[float, float, float] = (0.5, 0.2, 0.3)) -> float:
    """AHA-loc-score (Eq. 12) of the region ``label`` (default scar); see the module docstring.

    Parameters
    ----------
    pred, truth : (P,) int labels
    xyz : (P, 3) point coordinates (any unit: the distance is normalised)
    ab, rt, tv : (P,) coordinates of the points, for the AHA segments
    label : int
    weights : (centre-segment match, segment IoU, centre distance)

    Returns
    -------
    float in [0, 1]; 0 for an empty prediction, NaN for an empty truth.

    Examples
    --------
    >>> xyz = np.array([[0., 0, 0], [1, 0, 0], [0, 1, 0], [1, 1, 0]])
    >>> ab = np.array([0.05, 0.05, 0.8, 0.8]); rt = np.array([0.1, 0.1, 0.55, 0.55]); tv = np.zeros(4)
    >>> aha_loc_score(np.array([2, 2, 0, 0]), np.array([2, 2, 0, 0]), xyz, ab, rt, tv)
    1.0
    """
    pred = np.asarray(pred)
    truth = np.asarray(truth)
    xyz = np.asarray(xyz, dtype=float)
    pm, tm_ = pred == label, truth == label
    if not tm_.any():
        return float("nan")
    if not pm.any():
        return 0.0
    segs = aha_segments(ab, rt, tv)
    c_pre, s_pre = _region_centre(xyz, pm, segs)
    c_gd, s_gd = _region_centre(xyz, tm_, segs)
    set_pre = set(np.unique(segs[pm]).tolist()) - {0}
    set_gd = set(np.unique(segs[tm_]).tolist()) - {0}
    union = set_pre | set_gd
    iou = len(set_pre & set_gd) / len(union) if union else 1.0
    lv = lv_region(np.asarray(tv, dtype=float), np.asarray(rt, dtype=float))
    ref = xyz[lv] if lv.sum() >= 2 else xyz
    diag = float(np.linalg.norm(ref.max(axis=0) - ref.min(axis=0)))
    d_c = min(1.0, float(np.linalg.norm(c_pre - c_gd)) / diag) if diag > 0 else 0.0
    w_c, w_iou, w_d = weights
    return float(w_c * (s_pre == s_gd) + w_iou * iou + w_d * (1.0 - d_c))


def all_scores(pred: np.ndarray, truth: np.ndarray, cloud: np.ndarray) -> dict[str, float]:
    """Every Table I metric for one prediction on a cloud (P, 7) [x, y, z, tm, ab, rt, tv]."""
    cloud = np.asarray(cloud)
    out = segmentation_scores(pred, truth)
    out["aha_loc"] = aha_loc_score(pred, truth, cloud[:, :3], cloud[:, 4], cloud[:, 5], cloud[:, 6])
    return out


def _mean_sd(values: Iterable[float]) -> tuple[float, float, int]:
    v = np.asarray([x for x in values if np.isfinite(x)], dtype=float)
    if v.size == 0:
        return float("nan"), float("nan"), 0
    return float(v.mean()), float(v.std(ddof=0)), int(v.size)


def summarise(records: Sequence[dict], scenarios: Sequence[str],
              extents: Mapping[str, str | None] | None = None) -> list[dict]:
    """Per-scenario and average rows (mean, sd of each metric) from per-item records.

    ``records`` hold ``scenario`` (name) and the metrics of :data:`METRICS`. Rows: one per scenario
    in ``scenarios`` order, then, with ``extents`` (name -> "subendocardial" / "transmural" / None, from the
    scenario records, :attr:`mitwin.scenario_records.ScenarioRecord.extent`), averages over the
    subendocardial and the transmural scenarios when present, then the overall average.
    """
    rows = []
    groups: list[tuple[str, list[str]]] = [(s, [s]) for s in scenarios]
    for word in ("subendocardial", "transmural"):
        members = [s for s in scenarios if extents is not None and extents.get(s) == word]
        if members and len(members) < len(scenarios):
            groups.append((f"Average ({word})", members))
    groups.append(("Average", list(scenarios)))
    for name, members in groups:
        sel = [r for r in records if r["scenario"] in members]
        row: dict = {"scenario": name, "n": len(sel)}
        for m in METRICS:
            mean, sd, _ = _mean_sd(r[m] for r in sel)
            row[m] = mean
            row[f"{m}_sd"] = sd
        rows.append(row)
    return rows


def table_markdown(rows: Sequence[dict], title: str = "", paper: bool = True) -> str:
    """Table I as Markdown (mean ± sd); ``paper`` adds the paper's averages as a last row."""
    head = ["Scenario", "n", "Scar Dice", "Scar precision", "Scar recall", "BZ Dice", "BZ precision",
            "BZ recall", "AHA-loc-score (scar)"]
    lines = []
    if title:
        lines += [f"**{title}**", ""]
    lines += ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for r in rows:
        cells = [r["scenario"], str(r["n"])] + [f"{r[m]:.3f} ± {r[m + '_sd']:.3f}" for m in METRICS]
        lines.append("| " + " | ".join(cells) + " |")
    if paper:
        cells = ["Paper (Table I average)", "160"] + [f"{PAPER_AVERAGE[m][0]:.3f} ± {PAPER_AVERAGE[m][1]:.3f}"
                                                      for m in METRICS]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def table_csv(rows: Sequence[dict]) -> str:
    """Table I as CSV text: scenario, n, then mean and sd of each metric."""
    buf = io.StringIO()
    fields = ["scenario", "n"] + [x for m in METRICS for x in (m, f"{m}_sd")]
    w = csv.DictWriter(buf, fieldnames=fields, lineterminator="\n")
    w.writeheader()
    for r in rows:
        w.writerow({k: (f"{r[k]:.6f}" if isinstance(r[k], float) else r[k]) for k in fields})
    return buf.getvalue()
