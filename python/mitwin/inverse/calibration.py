"""Calibration of the fit's posterior: credible-interval coverage, reliability of per-node probabilities, ECE.

* **Coverage**: for each infarct case, is the true scar volume inside the central 50 % / 90 % credible
  interval of the posterior scar volume, and is the true scar centroid inside the 50 % / 90 % credible ball
  around the posterior mean centroid (radius: the weighted quantile of the particles' distances to it)? A
  calibrated posterior covers about 50 % / 90 % of the cases.
* **Reliability**: per-node scar probabilities binned; in each bin the observed scar frequency against the
  mean predicted probability (a reliability diagram), and the expected calibration error
  ``ECE = sum_b n_b / n * |freq_b - conf_b|``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

__all__ = ["LEVELS", "Reliability", "centre_covered", "expected_calibration_error", "reliability",
           "volume_covered", "weighted_quantile"]

#: Credible levels of the coverage checks.
LEVELS: tuple[float, ...] = (0.5, 0.9)


def weighted_quantile(x: np.ndarray, w: np.ndarray, q: float) -> float:
    """The ``q`` quantile of samples ``x`` (P,) with weights ``w`` (P,) (inverse of the weighted CDF).

    >>> weighted_quantile(np.array([1.0, 2.0, 3.0]), np.array([0.2, 0.3, 0.5]), 0.5)
    2.0
    """
    x, w = np.asarray(x, dtype=float), np.asarray(w, dtype=float)
    if x.shape != w.shape or x.ndim != 1 or x.size == 0:
        raise ValueError(f"x, w: expected equal (P,) shapes with P >= 1, got {x.shape} and {w.shape}")
    if not 0 <= q <= 1:
        raise ValueError(f"q: expected a value in [0, 1], got {q}")
    order = np.argsort(x)
    cdf = np.cumsum(w[order]) / np.sum(w)
    return float(x[order][min(int(np.searchsorted(cdf, q - 1e-12)), len(x) - 1)])


def volume_covered(samples: np.ndarray, weights: np.ndarray, truth: float,
                   levels: Sequence[float] = LEVELS) -> dict[float, bool]:
    """Whether ``truth`` lies in each central credible interval of the weighted samples (P,)."""
    out = {}
    for level in levels:
        lo = weighted_quantile(samples, weights, (1 - level) / 2)
        hi = weighted_quantile(samples, weights, 1 - (1 - level) / 2)
        out[level] = bool(lo <= truth <= hi)
    return out


def centre_covered(centres: np.ndarray, weights: np.ndarray, truth: np.ndarray,
                   levels: Sequence[float] = LEVELS) -> dict[float, bool]:
    """Whether ``truth`` (3,) lies in each credible ball of the weighted centres (P, 3) (NaN rows skipped)."""
    c = np.asarray(centres, dtype=float)
    ok = np.all(np.isfinite(c), axis=1)
    if not ok.any():
        return {level: False for level in levels}
    c, w = c[ok], np.asarray(weights, dtype=float)[ok]
    mean = np.average(c, axis=0, weights=w)
    r = np.linalg.norm(c - mean, axis=1)
    d = float(np.linalg.norm(np.asarray(truth, dtype=float) - mean))
    return {level: bool(d <= weighted_quantile(r, w, level)) for level in levels}


@dataclass
class Reliability:
    """Binned per-node probabilities: counts (B,), sum of predicted probabilities (B,), positives (B,)."""

    edges: np.ndarray
    counts: np.ndarray
    prob_sum: np.ndarray
    positives: np.ndarray

    def __add__(self, other: Reliability) -> Reliability:
        if not np.array_equal(self.edges, other.edges):
            raise ValueError("other: expected the same bins")
        return Reliability(self.edges, self.counts + other.counts, self.prob_sum + other.prob_sum,
                           self.positives + other.positives)

    @property
    def confidence(self) -> np.ndarray:
        """(B,) mean predicted probability per bin (NaN for empty bins)."""
        with np.errstate(invalid="ignore", divide="ignore"):
            return self.prob_sum / self.counts

    @property
    def frequency(self) -> np.ndarray:
        """(B,) observed frequency per bin (NaN for empty bins)."""
        with np.errstate(invalid="ignore", divide="ignore"):
            return self.positives / self.counts


def reliability(prob: np.ndarray, truth: np.ndarray, n_bins: int = 10) -> Reliability:
    """Bin predicted probabilities ``prob`` (n,) of binary outcomes ``truth`` (n,) into ``n_bins`` equal bins."""
    p = np.asarray(prob, dtype=float).ravel()
    t = np.asarray(truth, dtype=bool).ravel()
    if p.shape != t.shape:
        raise ValueError(f"prob, truth: expected equal shapes, got {p.shape} and {t.shape}")
    if p.size and (np.nanmin(p) < 0 or np.nanmax(p) > 1 or not np.all(np.isfinite(p))):
        raise ValueError("prob: expected finite probabilities in [0, 1]")
    edges = np.linspace(0.0, 1.0, n_bins + 1)
    idx = np.clip(np.searchsorted(edges, p, side="right") - 1, 0, n_bins - 1)
    return Reliability(edges, np.bincount(idx, minlength=n_bins).astype(float),
                       np.bincount(idx, weights=p, minlength=n_bins), np.bincount(idx, weights=t, minlength=n_bins))


def expected_calibration_error(rel: Reliability, *, skip_first: bool = False) -> float:
    """ECE of a :class:`Reliability`; ``skip_first`` leaves out the lowest bin (the many sure-healthy nodes)."""
    c = rel.counts.copy()
    if skip_first:
        c[0] = 0
    n = c.sum()
    if n == 0:
        return float("nan")
    gap = np.abs(np.nan_to_num(rel.frequency) - np.nan_to_num(rel.confidence))
    return float(np.sum(c / n * gap))
