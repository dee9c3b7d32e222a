"""Pseudo-ECG benchmarks, each paired with the baseline a user would otherwise run.

* lead-field build (one-off per mesh) vs a vectorised numpy assembly of the same matrix;
* one QRS vs brute-force numpy time stepping of Eq. (3) (>= 100x at full size);
* a batch of 18 QRS on 2 threads vs 1 thread (>= 1.7x at full size);
* one QRS vs one Dijkstra activation solve on the same mesh (<= 5 % at full size).

Short by default; ``MITWIN_BENCH=full`` uses the 153.6k-node mesh, where the speed claims are asserted
(in the short mode only the results are checked and the ratios recorded). The thread speed-up is only
asserted when two cores are idle (1-minute load average below n_cores - 1.5); otherwise the test records
the ratio and skips the assertion, saying so::

    MITWIN_BENCH=full nice -n 10 python -m pytest bench/bench_ecg.py --benchmark-json=bench/results/ecg.json
"""

from __future__ import annotations

import logging
import os
import statistics
import time

import numpy as np
import pytest
import scipy.sparse as sp
from scipy.sparse.csgraph import dijkstra

from mitwin import _core
from mitwin.ep.leadfield import LeadField
from mitwin.ep.leads import ELECTRODES, LEAD_TRANSFORM

FULL = os.environ.get("MITWIN_BENCH", "short").lower() == "full"
SPEED = 0.6  # mm/ms, isotropic, for the activation map of the benchmarks
logger = logging.getLogger(__name__)


def _median_time(fn, repeat):
    times = []
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return statistics.median(times)


def _edge_graph(points, tets):
    pairs = np.concatenate([tets[:, [a, b]] for a in range(4) for b in range(a + 1, 4)])
    pairs = np.unique(np.sort(pairs, axis=1), axis=0)
    w = np.linalg.norm(points[pairs[:, 0]] - points[pairs[:, 1]], axis=1)
    n = points.shape[0]
    g = sp.coo_matrix((w, (pairs[:, 0], pairs[:, 1])), shape=(n, n)).tocsr()
    return (g + g.T).tocsr()


def _dijkstra_at(graph, roots, root_times):
    """AT = min over roots of (root time + edge-path length / SPEED): a virtual source joined to each root
    by an edge of length root_time * SPEED."""
    n = graph.shape[0]
    extra = sp.coo_matrix((root_times * SPEED + 1e-9, (np.full(roots.size, n), roots)), shape=(n + 1, n + 1))
    g = sp.bmat([[graph, None], [None, sp.csr_matrix((1, 1))]]).tocsr() + extra.tocsr()
    return dijkstra(g, directed=True, indices=n)[:n] / SPEED


@pytest.fixture(scope="module")
def setup(bench_heart):
    h = bench_heart
    graph = _edge_graph(h.points, h.tets)
    at = _dijkstra_at(graph, h.roots, h.root_times)
    at -= at.min()
    lf = LeadField(h.points, h.tets, h.electrodes)
    return h, graph, at, lf


def _numpy_geometry(points, tets, electrodes):
    """Per tet: volume, the gradient operator (3x3 inverse edge matrix) and grad(1/r) at the centroid."""
    p = points[tets]
    edges = p[:, 1:] - p[:, :1]
    vol = np.abs(np.linalg.det(edges)) / 6.0
    inv_edges = np.linalg.inv(edges)
    pos = np.stack([electrodes[n] for n in ELECTRODES])
    d = p.mean(axis=1)[:, None, :] - pos[None]
    grad_inv_r = -d / np.linalg.norm(d, axis=2, keepdims=True) ** 3  # (M, 9, 3)
    return vol, inv_edges, grad_inv_r


def _numpy_lead_field(points, tets, electrodes):
    """The lead field assembled with numpy: per tet vol * grad N_a . (-grad 1/r), scattered with bincount."""
    vol, inv_edges, grad_inv_r = _numpy_geometry(points, tets, electrodes)
    # grad N_1..3 are the columns of inv(E) (rows of inv(E).T); grad N_0 = -(sum of the others)
    g = np.transpose(inv_edges, (0, 2, 1))
    grads = np.concatenate([-g.sum(axis=1, keepdims=True), g], axis=1)  # (M, 4, 3)
    lead = np.empty((points.shape[0], len(ELECTRODES)))
    for e in range(len(ELECTRODES)):
        contrib = -vol[:, None] * np.einsum("mai,mi->ma", grads, grad_inv_r[:, e])
        lead[:, e] = np.bincount(tets.ravel(), weights=contrib.ravel(), minlength=points.shape[0])
    return lead


def _numpy_qrs(points, tets, electrodes, at, dt, n_samples, amplitude=100.0):
    """Brute-force time stepping of Eq. (3): at every sample, Vm at the nodes (the step template,
    interpolated in AT between samples as the synthesis does), grad Vm per tet, the sum over tets."""
    vol, inv_edges, grad_inv_r = _numpy_geometry(points, tets, electrodes)
    weight = vol[:, None, None] * grad_inv_r  # (M, 9, 3)
    phi = np.empty((len(ELECTRODES), n_samples))
    for i in range(n_samples):
        vm = -85.0 + amplitude * np.clip(1.0 + (i * dt - at) / dt, 0.0, 1.0)
        v = vm[tets]
        grad = np.einsum("mij,mj->mi", inv_edges, v[:, 1:] - v[:, :1])
        phi[:, i] = -np.einsum("mi,mei->e", grad, weight)
    return LEAD_TRANSFORM @ phi


def test_lead_field_build(benchmark, setup):
    h, _, _, lf = setup
    result = benchmark.pedantic(lambda: _core.lead_field(h.points, h.tets, lf._electrodes), rounds=3, iterations=1)
    t_numpy = _median_time(lambda: _numpy_lead_field(h.points, h.tets, h.electrodes), 1 if FULL else 3)
    ref = _numpy_lead_field(h.points, h.tets, h.electrodes)
    assert np.max(np.abs(result - ref)) <= 1e-9 * np.max(np.abs(ref))
    t_full = _median_time(lambda: LeadField(h.points, h.tets, h.electrodes), 1)
    ratio = t_numpy / benchmark.stats.stats.median
    benchmark.extra_info.update(numpy_s=t_numpy, with_validation_s=t_full, speedup_vs_numpy=ratio,
                                n_nodes=h.points.shape[0])
    logger.warning("lead field: %.3f s core, %.3f s with validation, numpy %.3f s (%.1fx)",
                   benchmark.stats.stats.median, t_full, t_numpy, ratio)


def test_one_qrs_vs_brute_force(benchmark, setup):
    h, _, at, lf = setup
    ecg = benchmark.pedantic(lambda: lf.qrs(at), rounds=20, iterations=1, warmup_rounds=1)
    assert ecg.signals.shape == (8, int(np.floor(at.max())) + 11)
    fast = lf.qrs(at, template="step", lowpass_hz=None)
    t0 = time.perf_counter()
    ref = _numpy_qrs(h.points, h.tets, h.electrodes, at, 1.0, fast.n_samples)
    t_numpy = time.perf_counter() - t0
    assert np.max(np.abs(fast.signals - ref)) <= 1e-6 * np.max(np.abs(ref))
    ratio = t_numpy / benchmark.stats.stats.median
    benchmark.extra_info.update(numpy_s=t_numpy, speedup=ratio, n_samples=fast.n_samples)
    logger.warning("one QRS: %.4f s; numpy time stepping %.2f s; %.0fx", benchmark.stats.stats.median, t_numpy, ratio)
    if FULL:
        assert ratio >= 100


@pytest.mark.skipif(not _core.openmp_enabled() or (os.cpu_count() or 1) < 2, reason="needs OpenMP and 2 cores")
def test_batch_of_18_on_2_threads(benchmark, setup):
    h, _, at, lf = setup
    rng = np.random.default_rng(0)
    ats = at[None] * rng.uniform(0.85, 1.25, size=(18, 1)) + rng.uniform(0, 5, size=(18, 1))
    load = os.getloadavg()[0]
    batch = benchmark.pedantic(lambda: lf.qrs_batch(ats, n_threads=2), rounds=10, iterations=1, warmup_rounds=1)
    assert np.array_equal(batch.signals, lf.qrs_batch(ats, n_threads=1).signals)
    # serial and parallel interleaved, so that both see the same background load
    times: dict[int, list[float]] = {1: [], 2: []}
    for _ in range(10):
        for n in (1, 2):
            times[n].append(_median_time(lambda n=n: lf.qrs_batch(ats, n_threads=n), 1))
    t1, t2 = statistics.median(times[1]), statistics.median(times[2])
    ratio = t1 / t2
    benchmark.extra_info.update(serial_s=t1, parallel_s=t2, speedup=ratio, load_average=load)
    logger.warning("batch of 18: %.4f s on 2 threads, %.4f s on 1: %.2fx (load average %.1f on %d cores)",
                   t2, t1, ratio, load, os.cpu_count())
    if FULL:
        if load > (os.cpu_count() or 1) - 1.5:
            pytest.skip(f"speed-up {ratio:.2f}x not asserted: load average {load:.1f}, no two idle cores")
        assert ratio >= 1.7


def _activation_solve(h, graph):
    """One Dijkstra activation solve: mitwin's solver when it is available, else scipy's csgraph."""
    try:
        from mitwin.ep.activation import ActivationSolver

        solver = ActivationSolver(h.points, h.tets, h.fibres, h.sheets, endo_speed=h.endo_speed, method="dijkstra")
        return "mitwin.ep.activation (dijkstra)", lambda: solver.solve(h.roots, h.root_times)
    except (ImportError, AttributeError, TypeError, ValueError) as exc:
        logger.warning("mitwin.ep.activation not usable (%s): scipy.sparse.csgraph.dijkstra stands in", exc)
        return "scipy.sparse.csgraph.dijkstra", lambda: _dijkstra_at(graph, h.roots, h.root_times)


def test_one_qrs_vs_one_activation_solve(benchmark, setup):
    h, graph, at, lf = setup
    ecg = benchmark.pedantic(lambda: lf.qrs(at), rounds=20, iterations=1, warmup_rounds=1)
    assert np.all(np.isfinite(ecg.signals))
    name, solve = _activation_solve(h, graph)
    assert np.all(np.isfinite(solve()))
    # interleaved, so that both see the same background load
    t_qrs, t_solve = [], []
    for _ in range(7):
        t_solve.append(_median_time(solve, 1))
        t_qrs.append(_median_time(lambda: lf.qrs(at), 3))
    t_qrs_med, t_solve_med = statistics.median(t_qrs), statistics.median(t_solve)
    share = t_qrs_med / t_solve_med
    benchmark.extra_info.update(activation=name, activation_s=t_solve_med, qrs_s=t_qrs_med, qrs_share=share,
                                load_average=os.getloadavg()[0])
    logger.warning("one QRS %.4f s = %.1f %% of one activation solve (%s, %.4f s), interleaved; load average %.1f",
                   t_qrs_med, 100 * share, name, t_solve_med, os.getloadavg()[0])
    if FULL:
        assert share <= 0.05
