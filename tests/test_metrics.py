"""Metrics against hand-computed cases, and the Table I summary."""

from __future__ import annotations

import numpy as np
import pytest

from mitwin.model.metrics import (
    METRICS,
    aha_loc_score,
    all_scores,
    binary_scores,
    segmentation_scores,
    summarise,
    table_csv,
    table_markdown,
)


def test_binary_scores_known_masks():
    s = binary_scores([1, 1, 0, 0, 1], [1, 0, 0, 1, 1])
    assert s == pytest.approx({"dice": 4 / 6, "precision": 2 / 3, "recall": 2 / 3})
    s = binary_scores([1, 1, 1, 0], [1, 0, 0, 0])
    assert s == pytest.approx({"dice": 0.5, "precision": 1 / 3, "recall": 1.0})
    assert binary_scores([0, 0], [0, 0]) == {"dice": 1.0, "precision": 1.0, "recall": 1.0}
    assert binary_scores([0, 0], [1, 0]) == {"dice": 0.0, "precision": 0.0, "recall": 0.0}
    assert binary_scores([1, 0], [0, 0]) == {"dice": 0.0, "precision": 0.0, "recall": 1.0}
    with pytest.raises(ValueError, match="same shape"):
        binary_scores([1], [1, 0])


def test_segmentation_scores_per_class():
    pred = np.array([2, 2, 1, 0, 1, 0])
    truth = np.array([2, 1, 1, 0, 0, 2])
    s = segmentation_scores(pred, truth)
    # scar: tp 1, fp 1, fn 1; BZ: tp 1, fp 1, fn 1
    assert s["scar_dice"] == pytest.approx(0.5) and s["bz_dice"] == pytest.approx(0.5)
    assert s["scar_precision"] == pytest.approx(0.5) and s["bz_recall"] == pytest.approx(0.5)


def _line_cloud():
    xyz = np.zeros((6, 3))
    xyz[:, 0] = np.arange(6.0)  # LV bounding-box diagonal = 5
    ab = np.array([0.8, 0.8, 0.5, 0.5, 0.05, 0.5])  # segments 1, 1, 7, 7, 17, 10
    rt = np.array([0.55, 0.55, 0.55, 0.55, 0.3, 0.05])
    tv = np.zeros(6)
    return xyz, ab, rt, tv


def test_aha_loc_score_by_hand():
    xyz, ab, rt, tv = _line_cloud()
    truth = np.array([2, 2, 2, 0, 0, 0])  # centroid x = 1 -> point 1 (segment 1); segments {1, 7}
    pred = np.array([0, 0, 0, 2, 0, 0])  # centroid x = 3 -> segment 7; segments {7}
    # centre match 0, IoU 1/2, d_c = 2 / 5
    assert aha_loc_score(pred, truth, xyz, ab, rt, tv) == pytest.approx(0.2 * 0.5 + 0.3 * (1 - 0.4))
    assert aha_loc_score(truth, truth, xyz, ab, rt, tv) == pytest.approx(1.0)
    # same centre segment, disjoint extra segment: pred {1} vs truth {1, 7}
    pred2 = np.array([2, 0, 0, 0, 0, 0])  # centroid x = 0 -> segment 1; d_c = 1/5
    assert aha_loc_score(pred2, truth, xyz, ab, rt, tv) == pytest.approx(0.5 + 0.2 * 0.5 + 0.3 * 0.8)
    assert aha_loc_score(np.zeros(6, int), truth, xyz, ab, rt, tv) == 0.0
    assert np.isnan(aha_loc_score(truth, np.zeros(6, int), xyz, ab, rt, tv))
    # the BZ label can be scored too
    assert aha_loc_score(truth - 1, truth - 1, xyz, ab, rt, tv, label=1) == pytest.approx(1.0)


def test_all_scores_and_table():
    xyz, ab, rt, tv = _line_cloud()
    cloud = np.column_stack([xyz, np.ones(6), ab, rt, tv])
    truth = np.array([2, 2, 2, 1, 0, 0])
    s = all_scores(truth, truth, cloud)
    assert set(s) == set(METRICS) and all(v == pytest.approx(1.0) for v in s.values())
    records = [
        {"scenario": "a_transmural", **{m: 1.0 for m in METRICS}},
        {"scenario": "a_transmural", **{m: 0.5 for m in METRICS}},
        {"scenario": "a_subendocardial", **{m: 0.0 for m in METRICS}},
    ]
    rows = summarise(records, ["a_subendocardial", "a_transmural"],
                     {"a_subendocardial": "subendocardial", "a_transmural": "transmural"})
    by = {r["scenario"]: r for r in rows}
    assert by["a_transmural"]["scar_dice"] == pytest.approx(0.75)
    assert by["a_transmural"]["scar_dice_sd"] == pytest.approx(0.25)
    assert by["Average"]["bz_recall"] == pytest.approx(0.5) and by["Average"]["n"] == 3
    assert by["Average (transmural)"]["n"] == 2
    md = table_markdown(rows, "t")
    assert "| a_transmural | 2 | 0.750 ± 0.250 |" in md and "Paper (Table I average)" in md
    assert "0.457 ± 0.317" in md
    csv_text = table_csv(rows)
    assert csv_text.splitlines()[0].startswith("scenario,n,scar_dice,scar_dice_sd")
    assert len(csv_text.splitlines()) == 1 + len(rows)
