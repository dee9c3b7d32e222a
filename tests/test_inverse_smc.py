"""The tempered SMC sampler against toy problems with an analytic posterior and evidence."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.stats import norm, truncnorm

from mitwin.inverse.smc import tempered_smc


def _moments(res):
    m = np.average(res.u, axis=0, weights=res.weights)
    s = np.sqrt(np.average((res.u - m) ** 2, axis=0, weights=res.weights))
    return m, s


def test_gaussian_kernel_posterior_and_evidence():
    """Uniform prior on the unit square, d(u) = |u - y|: the target is N(y, h^2) truncated to the square."""
    rng = np.random.default_rng(0)
    y, h = np.array([0.3, 0.8]), 0.08
    calls = []

    def distance(u):
        calls.append(len(u))
        return np.linalg.norm(u - y, axis=1)

    u0 = rng.random((1500, 2))
    res = tempered_smc(distance, u0, distance(u0), bandwidth=h, n_particles=800, budget=12000, rng=rng)
    a, b = (0 - y) / h, (1 - y) / h
    m, s = _moments(res)
    assert np.allclose(m, truncnorm.mean(a, b, loc=y, scale=h), atol=0.01)
    assert np.allclose(s, truncnorm.std(a, b, loc=y, scale=h), rtol=0.12)
    log_z = np.sum(np.log(np.sqrt(2 * np.pi) * h * (norm.cdf(b) - norm.cdf(a))))
    assert res.log_evidence == pytest.approx(log_z, abs=0.15)
    assert res.betas[-1] == 1.0 and res.weights.sum() == pytest.approx(1.0)
    assert res.n_simulations == sum(calls[1:]) <= 12000


def test_periodic_coordinate_wraps():
    """y near the end of a periodic coordinate: the posterior straddles 0 / 1 as a wrapped normal."""
    rng = np.random.default_rng(1)
    y, h = np.array([0.5, 0.97]), 0.05

    def distance(u):
        diff = u - y
        diff[:, 1] = np.mod(diff[:, 1] + 0.5, 1.0) - 0.5
        return np.linalg.norm(diff, axis=1)

    u0 = rng.random((1500, 2))
    res = tempered_smc(distance, u0, distance(u0), bandwidth=h, n_particles=800, budget=12000, rng=rng,
                       periodic=np.array([False, True]))
    wrapped = np.mod(res.u[:, 1] - y[1] + 0.5, 1.0) - 0.5
    assert np.average(wrapped, weights=res.weights) == pytest.approx(0.0, abs=0.01)
    assert np.sqrt(np.average(wrapped ** 2, weights=res.weights)) == pytest.approx(h, rel=0.15)
    assert 0.2 < np.sum(res.weights[res.u[:, 1] < 0.5]) < 0.45  # P(rt < 0.02 + ...) of N(0.97, 0.05) wrapped
    assert np.all((res.u >= 0) & (res.u < 1))


def test_small_budget_reweights_to_the_posterior():
    """Without a budget for moves the result is importance sampling of the prior sample."""
    rng = np.random.default_rng(2)
    y, h = np.array([0.5]), 0.2
    u0 = rng.random((4000, 1))
    d0 = np.abs(u0[:, 0] - y[0])
    res = tempered_smc(lambda u: np.abs(u[:, 0] - y[0]), u0, d0, bandwidth=h, n_particles=2000, budget=0, rng=rng)
    assert res.n_simulations == 0 and res.betas[-1] == 1.0
    exact = np.log(np.sqrt(2 * np.pi) * h * (norm.cdf(0.5 / h) - norm.cdf(-0.5 / h)))
    assert res.log_evidence == pytest.approx(exact, abs=0.05)
    assert np.average(res.u[:, 0], weights=res.weights) == pytest.approx(0.5, abs=0.02)


@pytest.mark.parametrize("kwargs, name", [({"bandwidth": 0.0}, "bandwidth"), ({"n_particles": 1}, "n_particles"),
                                          ({"n_particles": 100}, "n_particles"), ({"ess_fraction": 1.0},
                                                                                  "ess_fraction")])
def test_bad_arguments(kwargs, name):
    u0 = np.random.default_rng(0).random((10, 2))
    args = {"bandwidth": 0.1, "n_particles": 5, "budget": 10, "rng": np.random.default_rng(0), **kwargs}
    with pytest.raises(ValueError, match=name):
        tempered_smc(lambda u: np.zeros(len(u)), u0, np.zeros(10), **args)


def test_relative_bandwidth_and_snapshot():
    """d(u)^2 = |u - y|^2 + e^2 (irreducible model error e): with h = k * d_best ~ k * e the target is N(y, (k e)^2);
    the snapshot at the wider factor is N(y, (k' e)^2)."""
    rng = np.random.default_rng(3)
    y, e = np.array([0.5, 0.5]), 0.1

    def distance(u):
        return np.sqrt(np.sum((u - y) ** 2, axis=1) + e ** 2)

    u0 = rng.random((1500, 2))
    res = tempered_smc(distance, u0, distance(u0), bandwidth=0.001, n_particles=800, budget=15000, rng=rng,
                       relative_bandwidth=0.5, snapshot_bandwidth=1.0)
    assert res.bandwidth == pytest.approx(0.5 * e, rel=0.02)
    assert _moments(res)[1] == pytest.approx([0.5 * e] * 2, rel=0.15)
    snap = res.snapshot
    assert snap is not None and snap.bandwidth == pytest.approx(e, rel=0.05)
    assert _moments(snap)[1] == pytest.approx([e] * 2, rel=0.15)
    with pytest.raises(ValueError, match="snapshot_bandwidth"):
        tempered_smc(distance, u0, distance(u0), bandwidth=0.001, n_particles=10, budget=10, rng=rng,
                     relative_bandwidth=0.5, snapshot_bandwidth=0.2)
