"""Calibration measures against posteriors whose calibration is known, and the detection AUC against sklearn."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.metrics import roc_auc_score

from mitwin.inverse.calibration import (
    centre_covered,
    expected_calibration_error,
    reliability,
    volume_covered,
    weighted_quantile,
)
from mitwin.inverse.report import detection_auc


def test_weighted_quantile_equals_numpy_for_equal_weights():
    x = np.random.default_rng(0).normal(size=101)
    for q in (0.05, 0.25, 0.5, 0.9):
        assert weighted_quantile(x, np.ones_like(x), q) == pytest.approx(np.quantile(x, q, method="inverted_cdf"))


def _conjugate_cases(n_cases: int, shrink: float, rng: np.random.Generator):
    """theta ~ N(0, 1), y ~ N(theta, 1): the exact posterior is N(y / 2, 1/2); ``shrink`` < 1 makes it too narrow."""
    for _ in range(n_cases):
        theta = rng.normal()
        y = theta + rng.normal()
        samples = y / 2 + np.sqrt(0.5) * shrink * rng.normal(size=400)
        yield theta, samples


def test_volume_coverage_of_an_exact_posterior():
    rng = np.random.default_rng(1)
    cov = np.array([[v for v in volume_covered(s, np.ones_like(s), t).values()]
                    for t, s in _conjugate_cases(1500, 1.0, rng)])
    assert cov.mean(axis=0) == pytest.approx([0.5, 0.9], abs=0.04)
    narrow = np.array([volume_covered(s, np.ones_like(s), t)[0.9] for t, s in _conjugate_cases(800, 0.3, rng)])
    assert narrow.mean() < 0.5


def test_centre_coverage_of_an_exact_posterior():
    rng = np.random.default_rng(2)
    hits = []
    for _ in range(1200):
        theta = rng.normal(size=3)
        y = theta + rng.normal(size=3)
        samples = y / 2 + np.sqrt(0.5) * rng.normal(size=(400, 3))
        hits.append(list(centre_covered(samples, np.ones(400), theta).values()))
    assert np.mean(hits, axis=0) == pytest.approx([0.5, 0.9], abs=0.05)


def test_reliability_and_ece():
    rng = np.random.default_rng(3)
    p = rng.random(40000)
    good = reliability(p, rng.random(p.size) < p)
    bad = reliability(p, rng.random(p.size) < p ** 2)
    assert good.counts.sum() == p.size
    assert np.nanmax(np.abs(good.frequency - good.confidence)) < 0.03
    assert expected_calibration_error(good) < 0.02
    assert expected_calibration_error(bad) > 0.1
    both = good + bad
    assert both.counts.sum() == 2 * p.size


def test_detection_auc_equals_sklearn():
    rng = np.random.default_rng(4)
    scores = np.round(rng.normal(size=60), 1)
    labels = rng.random(60) < 0.6
    records = [{"score": s, "healthy": not lab} for s, lab in zip(scores, labels)]
    assert detection_auc(records) == pytest.approx(roc_auc_score(labels, scores))


def test_bad_inputs():
    with pytest.raises(ValueError, match="prob"):
        reliability(np.array([1.5]), np.array([True]))
    with pytest.raises(ValueError, match="q"):
        weighted_quantile(np.ones(3), np.ones(3), 2.0)
