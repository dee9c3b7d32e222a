"""A likelihood-tempered SMC sampler with a Gaussian ABC kernel, on the unit cube.

Target: ``pi(u | y) ∝ prior(u) * exp(-d(u)^2 / (2 h^2))`` with a uniform prior on [0, 1]^D (some coordinates
periodic), ``d(u)`` the distance of the simulation at ``u`` to the data and ``h`` the kernel bandwidth. With
a deterministic simulator and Gaussian model error of size ``h`` in the distance's units, this kernel is the
likelihood, so the target is a posterior and ``Z = E_prior[exp(-d^2 / 2h^2)]`` its evidence, which the sampler
also estimates (used to weigh the "no infarct" hypothesis against the infarct prior).

Why this sampler: the simulator is cheap (tens of ms) but not free, it has few parameters (five), and the
posterior is often multimodal (QRS shapes of distant infarcts can be alike). Tempered SMC (Del Moral,
Doucet & Jasra 2006; the adaptive ESS rule of Jasra et al. 2011) starts from a prior library, which doubles as
the library search, reaches the posterior through intermediate targets ``exp(-beta d^2 / 2h^2)``, refines
locally with random-walk Metropolis moves scaled to the particle cloud, keeps every mode that the particles
found, and yields the evidence at no extra cost. Rejection ABC needs far more simulations for the same
tolerance; a neural posterior (sbi) needs a training library per heart, which at this simulation cost is
not cheaper than fitting directly.

Steps: choose the next beta so that the effective sample size of the incremental weights is
``ess_fraction`` of the particles; resample (systematic); ``n_moves`` Metropolis steps (proposals outside
the box are rejected without simulating); repeat to beta = 1; spend what is left of the budget on more
moves at beta = 1. If the budget runs out before beta = 1, the particles are reweighted to beta = 1.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

log = logging.getLogger(__name__)

__all__ = ["SMCResult", "tempered_smc"]


@dataclass
class SMCResult:
    """Particles of the tempered SMC sampler.

    Attributes
    ----------
    u : (P, D) float, particles in the unit cube
    weights : (P,) float, normalised importance weights
    distances : (P,) float, d(u) of each particle
    log_evidence : float, log E_prior[exp(-d^2 / 2h^2)] at the final bandwidth
    betas : list of float, the tempering schedule reached
    acceptance : list of float, Metropolis acceptance rate of each move
    n_simulations : int, simulations spent after the initial sample
    bandwidth : float, the final kernel bandwidth (``bandwidth / sqrt(beta)``)
    snapshot : SMCResult or None, the population at ``snapshot_bandwidth`` (see :func:`tempered_smc`)
    """

    u: np.ndarray
    weights: np.ndarray
    distances: np.ndarray
    log_evidence: float
    betas: list[float] = field(default_factory=list)
    acceptance: list[float] = field(default_factory=list)
    n_simulations: int = 0
    bandwidth: float = float("nan")
    snapshot: SMCResult | None = None

    @property
    def ess(self) -> float:
        """Effective sample size of the weights."""
        return float(1.0 / np.sum(self.weights ** 2))


def _logsumexp(a: np.ndarray) -> float:
    m = float(np.max(a))
    return m + float(np.log(np.sum(np.exp(a - m))))


def _next_beta(loglik: np.ndarray, logw: np.ndarray, beta: float, target_ess: float) -> float:
    """Largest beta' in (beta, 1] with ESS(w * exp((beta' - beta) loglik)) >= target_ess (bisection)."""
    def ess(b: float) -> float:
        lw = logw + (b - beta) * loglik
        w = np.exp(lw - lw.max())
        return float(w.sum() ** 2 / np.sum(w ** 2))

    if ess(1.0) >= target_ess:
        return 1.0
    lo, hi = beta, 1.0
    for _ in range(60):
        mid = 0.5 * (lo + hi)
        if ess(mid) >= target_ess:
            lo = mid
        else:
            hi = mid
    return max(lo, beta + 1e-9)


def _systematic(weights: np.ndarray, n: int, rng: np.random.Generator) -> np.ndarray:
    positions = (rng.random() + np.arange(n)) / n
    idx = np.searchsorted(np.cumsum(weights), positions)
    return np.minimum(idx, len(weights) - 1)


def _spread(u: np.ndarray, periodic: np.ndarray) -> np.ndarray:
    """Covariance of the particles, periodic coordinates taken about their circular mean."""
    x = u.copy()
    for j in np.flatnonzero(periodic):
        ang = 2 * np.pi * x[:, j]
        centre = np.arctan2(np.sin(ang).mean(), np.cos(ang).mean()) / (2 * np.pi)
        x[:, j] = np.mod(x[:, j] - centre + 0.5, 1.0) - 0.5
    cov = np.atleast_2d(np.cov(x, rowvar=False)) if len(x) > 1 else np.eye(u.shape[1]) * 0.01
    return cov + np.eye(u.shape[1]) * 1e-8


def tempered_smc(distance: Callable[[np.ndarray], np.ndarray], u0: np.ndarray, d0: np.ndarray, *,
                 bandwidth: float, n_particles: int, budget: int, rng: np.random.Generator,
                 periodic: np.ndarray | None = None, ess_fraction: float = 0.5, n_moves: int = 2,
                 relative_bandwidth: float = 0.0, snapshot_bandwidth: float | None = None,
                 max_stages: int = 100) -> SMCResult:
    """Sample ``prior(u) exp(-d(u)^2 / 2h^2)`` on the unit cube (module docstring).

    Parameters
    ----------
    distance : callable
        (K, D) unit-cube points -> (K,) distances; every call costs K simulations.
    u0 : (L, D) float
        Prior draws (uniform on the unit cube); L >= n_particles.
    d0 : (L,) float
        Their distances (already simulated: not counted in ``budget``).
    bandwidth : float
        Kernel bandwidth h > 0, in the distance's units.
    n_particles : int
        Particles after the first resampling.
    budget : int
        Simulations allowed after ``u0``.
    rng : numpy Generator
    periodic : (D,) bool, optional
        Coordinates that wrap around [0, 1).
    ess_fraction : float in (0, 1)
    n_moves : int
        Metropolis steps per tempering stage.
    relative_bandwidth : float >= 0
        Empirical-Bayes bandwidth: the final bandwidth is ``max(bandwidth, relative_bandwidth * d_best)``,
        ``d_best`` the smallest distance found (an estimate of the model error); tempering stops at
        ``beta = (bandwidth / final)^2``. 0: the final bandwidth is ``bandwidth``.
    snapshot_bandwidth : float, optional
        Also keep the weighted population at the wider bandwidth ``max(bandwidth, snapshot_bandwidth * d_best)``
        passed on the way (``result.snapshot``), ``d_best`` as found by then.

    Returns
    -------
    SMCResult
    """
    u = np.asarray(u0, dtype=float)
    d = np.asarray(d0, dtype=float)
    if u.ndim != 2 or d.shape != (u.shape[0],):
        raise ValueError(f"u0, d0: expected shapes (L, D) and (L,), got {u.shape} and {d.shape}")
    if not (np.isfinite(bandwidth) and bandwidth > 0):
        raise ValueError(f"bandwidth: expected a finite value > 0, got {bandwidth!r}")
    if n_particles < 2 or n_particles > u.shape[0]:
        raise ValueError(f"n_particles: expected 2 <= n_particles <= {u.shape[0]} (the initial sample), "
                         f"got {n_particles}")
    if not 0 < ess_fraction < 1:
        raise ValueError(f"ess_fraction: expected a value in (0, 1), got {ess_fraction}")
    dim = u.shape[1]
    per = np.zeros(dim, dtype=bool) if periodic is None else np.asarray(periodic, dtype=bool)
    h2 = 2.0 * bandwidth ** 2
    logw = np.full(len(u), -np.log(len(u)))  # normalised log-weights
    beta, log_z = 0.0, 0.0
    betas: list[float] = [0.0]
    acceptance: list[float] = []
    spent = 0
    scale = 2.38 / np.sqrt(dim)
    if not (np.isfinite(relative_bandwidth) and relative_bandwidth >= 0):
        raise ValueError(f"relative_bandwidth: expected a finite value >= 0, got {relative_bandwidth!r}")

    if snapshot_bandwidth is not None and not (np.isfinite(snapshot_bandwidth) and
                                               snapshot_bandwidth >= relative_bandwidth):
        raise ValueError(f"snapshot_bandwidth: expected a finite value >= relative_bandwidth "
                         f"({relative_bandwidth}), got {snapshot_bandwidth!r}")

    def beta_target(factor: float = relative_bandwidth) -> float:
        return min(1.0, (bandwidth / max(bandwidth, factor * float(d.min()))) ** 2)

    snapshot: SMCResult | None = None

    def take_snapshot(weights_log: np.ndarray, z: float, b: float) -> SMCResult:
        return SMCResult(u.copy(), np.exp(weights_log), d.copy(), float(z), list(betas), list(acceptance), spent,
                         float(bandwidth / np.sqrt(b)) if b > 0 else float("inf"))

    for _stage in range(max_stages):
        loglik = -d ** 2 / h2
        target = beta_target()
        snap_target = beta_target(snapshot_bandwidth) if snapshot_bandwidth is not None else None
        if snap_target is not None and snapshot is None and beta < snap_target:
            target = snap_target
        if beta < target:
            new = min(target, _next_beta(loglik, logw, beta, ess_fraction * min(len(u), n_particles)))
            inc = logw + (new - beta) * loglik
            log_z += _logsumexp(inc)
            logw = inc - _logsumexp(inc)
            beta = new
            betas.append(beta)
        if snap_target is not None and snapshot is None and beta >= snap_target:
            snapshot = take_snapshot(logw, log_z, beta)
        # resample to n_particles
        idx = _systematic(np.exp(logw), n_particles, rng)
        u, d = u[idx], d[idx]
        logw = np.full(n_particles, -np.log(n_particles))
        if spent + n_particles > budget:
            break
        for _move in range(n_moves):
            if spent + n_particles > budget:
                break
            chol = np.linalg.cholesky(_spread(u, per) * scale ** 2)
            prop = u + rng.standard_normal(u.shape) @ chol.T
            prop[:, per] = np.mod(prop[:, per], 1.0)
            inside = np.all((prop >= 0) & (prop <= 1), axis=1)
            accept = np.zeros(len(u), dtype=bool)
            if inside.any():
                dp = np.asarray(distance(prop[inside]), dtype=float)
                spent += int(inside.sum())
                log_alpha = -beta * (dp ** 2 - d[inside] ** 2) / h2
                ok = np.log(rng.random(len(dp))) < log_alpha
                sel = np.flatnonzero(inside)[ok]
                u[sel], d[sel] = prop[sel], dp[ok]
                accept[sel] = True
            rate = float(accept.mean())
            acceptance.append(rate)
            scale *= 0.7 if rate < 0.15 else (1.3 if rate > 0.4 else 1.0)
        if beta >= beta_target() and spent + n_particles > budget:
            break
    target = beta_target()
    if beta < target:  # budget spent before the final beta: importance-reweight to the posterior
        loglik = -d ** 2 / h2
        inc = logw + (target - beta) * loglik
        log_z += _logsumexp(inc)
        logw = inc - _logsumexp(inc)
        log.info("tempered SMC: budget spent at beta %.3g; reweighted to beta = %.3g (ESS %.1f)", beta, target,
                 1.0 / np.sum(np.exp(2 * logw)))
        beta = target
        betas.append(beta)
    result = SMCResult(u, np.exp(logw), d, float(log_z), betas, acceptance, spent, float(bandwidth / np.sqrt(beta)))
    if snapshot_bandwidth is not None and snapshot is None:  # never crossed: the final population
        snapshot = result
    result.snapshot = snapshot
    return result
