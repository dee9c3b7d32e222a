"""Tables of the inverse benchmark: methods x metrics (mean ± sd), bins, detection and calibration.

Input: the records of :func:`mitwin.inverse.benchmark.run_benchmark` (one per case, condition and method).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from .calibration import Reliability, expected_calibration_error

__all__ = ["bins_table", "calibration_table", "detection_auc", "summary_rows", "summary_table", "timing_table"]

#: Columns of the main table: (record key, header, format).
COLUMNS: tuple[tuple[str, str, str], ...] = (
    ("scar_dice", "scar Dice", ".3f"), ("scar_precision", "scar prec.", ".3f"), ("scar_recall", "scar rec.", ".3f"),
    ("bz_dice", "BZ Dice", ".3f"), ("bz_precision", "BZ prec.", ".3f"), ("bz_recall", "BZ rec.", ".3f"),
    ("aha_loc", "AHA-loc", ".3f"), ("centre_error_mm", "centre err. mm", ".1f"),
    ("abs_volume_error_ml", "|vol. err.| mL", ".1f"))


def _ms(values: Sequence[float | None], fmt: str) -> str:
    v = np.asarray([x for x in values if x is not None and np.isfinite(x)], dtype=float)
    if v.size == 0:
        return "-"
    return f"{v.mean():{fmt}} ± {v.std():{fmt}}"


def detection_auc(records: Sequence[dict[str, Any]]) -> float:
    """ROC AUC of the detection score, infarct cases positive, healthy negative (NaN without both)."""
    pos = np.array([r["score"] for r in records if not r["healthy"]], dtype=float)
    neg = np.array([r["score"] for r in records if r["healthy"]], dtype=float)
    if pos.size == 0 or neg.size == 0:
        return float("nan")
    # Mann-Whitney U with ties counted half
    greater = (pos[:, None] > neg[None, :]).sum() + 0.5 * (pos[:, None] == neg[None, :]).sum()
    return float(greater / (pos.size * neg.size))


def _select(records: Sequence[dict[str, Any]], **match: Any) -> list[dict[str, Any]]:
    return [r for r in records if all(r.get(k) == v for k, v in match.items())]


def summary_rows(records: Sequence[dict[str, Any]], condition: str) -> list[dict[str, str]]:
    """One row per method: metric columns (infarct cases), healthy false positives, detection AUC, n."""
    rows = []
    methods = list(dict.fromkeys(r["method"] for r in records))
    for m in methods:
        rs = _select(records, method=m, condition=condition)
        inf = [r for r in rs if not r["healthy"]]
        healthy = [r for r in rs if r["healthy"]]
        row = {"method": m}
        for key, head, fmt in COLUMNS:
            row[head] = _ms([r.get(key) for r in inf], fmt)
        fp = sum(r["detected"] for r in healthy)
        row["healthy FP"] = f"{fp}/{len(healthy)}" if healthy else "-"
        auc = detection_auc(rs)
        row["detect. AUC"] = f"{auc:.2f}" if np.isfinite(auc) else "-"
        row["n infarct"] = str(len(inf))
        rows.append(row)
    return rows


def _markdown(rows: Sequence[dict[str, str]], title: str = "") -> str:
    if not rows:
        return title + "\n(no records)\n"
    head = list(rows[0])
    lines = [title] if title else []
    lines += ["| " + " | ".join(head) + " |", "|" + "|".join("---" for _ in head) + "|"]
    lines += ["| " + " | ".join(r[h] for h in head) + " |" for r in rows]
    return "\n".join(lines) + "\n"


def summary_table(records: Sequence[dict[str, Any]], conditions: Sequence[str] | None = None) -> str:
    """Markdown: per condition, methods x metrics (mean ± sd over infarct cases) with healthy FP and AUC."""
    conds = list(dict.fromkeys(r["condition"] for r in records)) if conditions is None else list(conditions)
    out = []
    for c in conds:
        rows = [{"condition": c, **r} for r in summary_rows(records, c)]
        out.append(_markdown(rows))
    return "\n".join(out)


def _bins(records: Sequence[dict[str, Any]]) -> list[tuple[str, Callable[[dict[str, Any]], bool]]]:
    vols = np.array([r["scar_volume_ml"] for r in records if not r["healthy"]])
    if vols.size == 0:
        return []
    a, b = np.quantile(vols, [1 / 3, 2 / 3])
    return [(f"scar < {a:.1f} mL", lambda r: r["scar_volume_ml"] < a),
            (f"scar {a:.1f}-{b:.1f} mL", lambda r: a <= r["scar_volume_ml"] < b),
            (f"scar >= {b:.1f} mL", lambda r: r["scar_volume_ml"] >= b),
            ("transmural", lambda r: r["transmural"]), ("non-transmural", lambda r: not r["transmural"]),
            ("ellipsoid", lambda r: r["kind"] == "ellipsoid"), ("irregular", lambda r: r["kind"] == "irregular"),
            ("two infarcts", lambda r: r["kind"] == "double")]


def bins_table(records: Sequence[dict[str, Any]], condition: str = "clean", key: str = "scar_dice") -> str:
    """Markdown: ``key`` (mean ± sd, n) per method and bin (size tertiles, transmurality, shape kind)."""
    rs = [r for r in records if r["condition"] == condition and not r["healthy"]]
    methods = list(dict.fromkeys(r["method"] for r in rs))
    rows = []
    for name, test in _bins(rs):
        sel = [r for r in rs if test(r)]
        if not sel:
            continue
        row = {"bin": name, "n": str(len(sel) // max(1, len(methods)))}
        for m in methods:
            row[m] = _ms([r.get(key) for r in sel if r["method"] == m], ".3f")
        rows.append(row)
    return _markdown(rows)


def calibration_table(records: Sequence[dict[str, Any]], rel: Reliability | None = None) -> str:
    """Markdown: coverage of the fit's 50 / 90 % credible intervals (scar volume, centre) per condition, and ECE."""
    rows = []
    for c in dict.fromkeys(r["condition"] for r in records):
        rs = [r for r in records if r["condition"] == c and r["method"] == "fit" and not r["healthy"]]
        if not rs:
            continue
        row = {"condition": c, "n": str(len(rs))}
        for key, head in (("volume_cov50", "volume 50 %"), ("volume_cov90", "volume 90 %"),
                          ("centre_cov50", "centre 50 %"), ("centre_cov90", "centre 90 %")):
            row[head] = f"{np.mean([r[key] for r in rs]):.2f}"
        rows.append(row)
    text = _markdown(rows)
    if rel is not None:
        text += (f"\nPer-node scar probability, all conditions: ECE {expected_calibration_error(rel):.4f} over all "
                 f"nodes, {expected_calibration_error(rel, skip_first=True):.3f} over nodes with p >= 0.1.\n")
    return text


def timing_table(records: Sequence[dict[str, Any]]) -> str:
    """Markdown: seconds per case (mean ± sd, max) of every method whose records carry ``seconds``."""
    rows = []
    for m in dict.fromkeys(r["method"] for r in records):
        t = [float(r["seconds"]) for r in records if r["method"] == m and r.get("seconds") is not None]
        if t:
            rows.append({"method": m, "seconds per case": _ms(t, ".3g"), "max": f"{max(t):.3g}", "n": str(len(t))})
    return _markdown(rows)
