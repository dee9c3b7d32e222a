"""Activation solver benchmarks, each paired with the baseline a user would otherwise pick.

* ``dijkstra`` (one solve with a new speed-factor field) against scipy.sparse.csgraph.dijkstra
  from a virtual super-source, on a prebuilt CSR graph and as the per-scenario pipeline that
  recomputes the weights in numpy;
* ``eikonal`` against ``dijkstra`` on the same mesh, and against fim-python when it is installed;
* ``eikonal`` against ``dijkstra`` on heterogeneous tissue (10 % random nodes at factor 0.1; a
  contiguous blocked scar with a border zone), each ratio timed in the same run;
* ``solve_batch`` of 18 speed-factor sets on 2 threads against 18 serial solves, for both methods,
  the speed-up timed in the same run (on shared cores it measures what the machine gives).

Short by default; ``MITWIN_BENCH=full`` runs the >= 150k-node shell:

    MITWIN_BENCH=full python -m pytest bench/bench_activation.py --benchmark-json=bench/results/activation.json
"""

from __future__ import annotations

import logging
import os
import resource
import statistics
import time
import warnings

import numpy as np
import pytest
from scipy.sparse import csr_matrix
from scipy.sparse.csgraph import dijkstra as scipy_dijkstra

from mitwin.ep.activation import ActivationSolver
from mitwin.errors import BlockedTissueWarning

FULL = os.environ.get("MITWIN_BENCH", "short").lower() == "full"
logger = logging.getLogger(__name__)

SPEEDS = (0.65, 0.48, 0.51)
N_BATCH = 18


def _infarct_factors(points: np.ndarray, k: int, seed: int = 0) -> np.ndarray:
    """(k, N) speed factors: scar 0.1 in an ellipsoid, border zone 0.5 around it, at random places."""
    rng = np.random.default_rng(seed)
    out = np.ones((k, points.shape[0]))
    for i in range(k):
        centre = points[rng.integers(points.shape[0])]
        r = np.linalg.norm((points - centre) / np.array([15.0, 15.0, 25.0]), axis=1)
        out[i, r < 1.5] = 0.5
        out[i, r < 1.0] = 0.1
    return out


class _Setup:
    def __init__(self, heart):
        self.heart = heart
        self.n = heart.points.shape[0]
        self.dij = ActivationSolver(
            heart.points, heart.tets, heart.fibres, heart.sheets, SPEEDS, heart.endo_speed, "dijkstra"
        )
        self.factors = _infarct_factors(heart.points, N_BATCH)
        self.factor = self.factors[0]
        e = self.dij.edges()
        self.i, self.j = e[:, 0], e[:, 1]
        self.w = self.dij.edge_costs()
        # scipy graph: directed weights (reaching a node costs 1 / its factor) plus a super-source
        self.rows = np.concatenate([self.i, self.j, np.full(heart.roots.size, self.n)])
        self.cols = np.concatenate([self.j, self.i, heart.roots])
        self.t0 = heart.root_times + 1e-12  # explicit zeros would be dropped as non-edges

    def scipy_graph(self, factor: np.ndarray) -> csr_matrix:
        vals = np.concatenate([self.w / factor[self.j], self.w / factor[self.i], self.t0])
        return csr_matrix((vals, (self.rows, self.cols)), shape=(self.n + 1, self.n + 1))

    def scipy_solve(self, graph: csr_matrix) -> np.ndarray:
        return scipy_dijkstra(graph, indices=self.n)[: self.n]


@pytest.fixture(scope="module")
def setup(bench_heart):
    return _Setup(bench_heart)


@pytest.fixture(scope="module")
def reference(setup):
    return setup.scipy_solve(setup.scipy_graph(setup.factor))


@pytest.mark.benchmark(group="dijkstra")
def test_mitwin_dijkstra(benchmark, setup, reference):
    h = setup.heart
    at = benchmark(setup.dij.solve, h.roots, h.root_times, setup.factor)
    np.testing.assert_allclose(at, reference, rtol=1e-5, atol=1e-5)


@pytest.mark.benchmark(group="dijkstra")
def test_scipy_dijkstra_prebuilt(benchmark, setup, reference):
    graph = setup.scipy_graph(setup.factor)
    at = benchmark(setup.scipy_solve, graph)
    np.testing.assert_allclose(at, reference)


@pytest.mark.benchmark(group="dijkstra")
def test_scipy_dijkstra_pipeline(benchmark, setup, reference):
    def scenario(factor):
        return setup.scipy_solve(setup.scipy_graph(factor))

    at = benchmark(scenario, setup.factor)
    np.testing.assert_allclose(at, reference)


@pytest.fixture(scope="module")
def eikonal(setup):
    h = setup.heart
    return ActivationSolver(h.points, h.tets, h.fibres, h.sheets, SPEEDS, h.endo_speed, "eikonal")


@pytest.mark.benchmark(group="eikonal")
def test_mitwin_eikonal(benchmark, setup, eikonal, reference):
    h = setup.heart
    at = benchmark.pedantic(eikonal.solve, (h.roots, h.root_times, setup.factor), rounds=5, iterations=1)
    # the ratio to the graph model on the same mesh, timed right after in the same process
    times = []
    for _ in range(15):
        t = time.perf_counter()
        setup.dij.solve(h.roots, h.root_times, setup.factor)
        times.append(time.perf_counter() - t)
    ratio = benchmark.stats.stats.median / statistics.median(times)
    benchmark.extra_info.update(dijkstra_s=statistics.median(times), ratio_to_dijkstra=ratio, n_nodes=setup.n)
    logger.warning("eikonal %.1f ms, dijkstra %.1f ms on %d nodes: %.1fx", 1e3 * benchmark.stats.stats.median,
                   1e3 * statistics.median(times), setup.n, ratio)
    assert np.all(np.isfinite(at))
    # the Eikonal solution removes the graph model's metrication delay: earlier on average
    assert at.mean() < reference.mean()
    np.testing.assert_array_equal(at[h.roots[h.root_times == 0]], 0.0)


@pytest.mark.benchmark(group="eikonal")
def test_mitwin_dijkstra_same_mesh(benchmark, setup, reference):
    h = setup.heart
    at = benchmark(setup.dij.solve, h.roots, h.root_times, setup.factor)
    np.testing.assert_allclose(at, reference, rtol=1e-5, atol=1e-5)


@pytest.mark.benchmark(group="eikonal")
def test_fim_python(benchmark, setup):
    fim = pytest.importorskip("fimpy.solver")
    if FULL:
        pytest.skip("fim-python's CPU solver takes about a minute on the short mesh; measured there only")
    h = setup.heart
    # fim-python takes a per-tet metric D = F diag(v^2) F^T (speed tensor) and no start times
    f = h.fibres[h.tets].mean(axis=1)
    f /= np.linalg.norm(f, axis=1)[:, None]
    s = h.sheets[h.tets].mean(axis=1)
    s -= np.einsum("ij,ij->i", s, f)[:, None] * f
    s /= np.linalg.norm(s, axis=1)[:, None]
    n = np.cross(f, s)
    frames = np.stack([f, s, n], axis=2)
    D = np.einsum("tij,j,tkj->tik", frames, np.array(SPEEDS) ** 2, frames)
    solver = fim.create_fim_solver(h.points, h.tets, D, device="cpu", use_active_list=True)
    roots = h.roots[:1]
    at = benchmark.pedantic(solver.comp_fim, (roots, np.zeros(1)), rounds=1, iterations=1)
    # same problem without the fast layer (fim-python has none)
    ours = ActivationSolver(h.points, h.tets, h.fibres, h.sheets, SPEEDS, None, "eikonal").solve(roots)
    assert np.mean(np.abs(at - ours) / np.maximum(ours, 1.0)) < 0.05


@pytest.mark.benchmark(group="batch")
def test_batch_18_on_2_threads(benchmark, setup):
    h = setup.heart
    ats = benchmark.pedantic(setup.dij.solve_batch, (h.roots, h.root_times, setup.factors, 2), rounds=5, iterations=1)
    np.testing.assert_allclose(ats[0], setup.scipy_solve(setup.scipy_graph(setup.factors[0])), rtol=1e-5, atol=1e-5)
    np.testing.assert_array_equal(ats[-1], setup.dij.solve(h.roots, h.root_times, setup.factors[-1]))


@pytest.mark.benchmark(group="batch")
def test_serial_18(benchmark, setup):
    h = setup.heart

    def serial():
        return np.stack([setup.dij.solve(h.roots, h.root_times, f) for f in setup.factors])

    ats = benchmark.pedantic(serial, rounds=5, iterations=1)
    np.testing.assert_array_equal(ats, setup.dij.solve_batch(h.roots, h.root_times, setup.factors, 1))


# ---------------------------------------------------------------------------------------------
# heterogeneous tissue and batch scaling, each figure with its baseline timed in the same run


def _heterogeneous(points: np.ndarray, roots: np.ndarray, kind: str, seed: int = 1) -> np.ndarray:
    """(N,) speed factors: 10 % random nodes at 0.1, or a blocked ellipsoidal scar (0) in a 0.5 border zone."""
    rng = np.random.default_rng(seed)
    n = points.shape[0]
    if kind == "random_slow":
        return np.where(rng.random(n) < 0.1, 0.1, 1.0)
    centre = points[rng.integers(n)]
    r = np.linalg.norm((points - centre) / np.array([15.0, 15.0, 25.0]), axis=1)
    out = np.where(r < 1.5, 0.5, 1.0)
    out[r < 1.0] = 0.0
    out[roots] = 1.0
    return out


def _median_time(fn, reps: int) -> float:
    times = []
    for _ in range(reps):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return statistics.median(times)


def _cpu_time(fn) -> tuple[float, float]:
    """(CPU seconds of this process, wall seconds) of one call."""
    u0, w0 = resource.getrusage(resource.RUSAGE_SELF), time.perf_counter()
    fn()
    u1, w1 = resource.getrusage(resource.RUSAGE_SELF), time.perf_counter()
    return (u1.ru_utime + u1.ru_stime) - (u0.ru_utime + u0.ru_stime), w1 - w0


def _quiet(fn):
    def run(*args):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", BlockedTissueWarning)  # a scar may cut off a few nodes
            return fn(*args)
    return run


@pytest.mark.benchmark(group="heterogeneous")
@pytest.mark.parametrize("kind", ["random_slow", "blocked_scar"])
def test_eikonal_heterogeneous(benchmark, setup, eikonal, kind):
    h = setup.heart
    factor = _heterogeneous(h.points, h.roots, kind)
    solve_e, solve_d = _quiet(eikonal.solve), _quiet(setup.dij.solve)
    at = benchmark.pedantic(solve_e, (h.roots, h.root_times, factor), rounds=5, iterations=1)
    dij = solve_d(h.roots, h.root_times, factor)
    t_dij = _median_time(lambda: solve_d(h.roots, h.root_times, factor), 15)
    ratio = benchmark.stats.stats.median / t_dij
    benchmark.extra_info.update(dijkstra_s=t_dij, ratio_to_dijkstra=ratio, n_nodes=setup.n, tissue=kind)
    logger.warning("%s: eikonal %.1f ms, dijkstra %.1f ms on %d nodes: %.2fx", kind, 1e3 * benchmark.stats.stats.median,
                   1e3 * t_dij, setup.n, ratio)
    blocked = factor == 0
    assert np.all(np.isinf(at[blocked])) and np.array_equal(np.isinf(at), np.isinf(dij))
    live = np.isfinite(at)
    assert at[live].mean() < dij[live].mean()  # no metrication delay: earlier on average than the graph model


@pytest.mark.benchmark(group="batch-scaling")
@pytest.mark.parametrize("method", ["dijkstra", "eikonal"])
def test_batch_scaling_18_on_2_threads(benchmark, setup, eikonal, method):
    h = setup.heart
    solver = setup.dij if method == "dijkstra" else eikonal
    factors = setup.factors

    def serial():
        return np.stack([solver.solve(h.roots, h.root_times, f) for f in factors])

    ats = benchmark.pedantic(solver.solve_batch, (h.roots, h.root_times, factors, 2), rounds=3, iterations=1)
    t_serial = _median_time(serial, 3)
    speedup = t_serial / benchmark.stats.stats.median
    # CPU time of each (this process, all threads): equal work per map in the batch means a missing speed-up
    # comes from the cores the machine gives (cpu / wall ~ 1 on shared cores), not from the solver
    cpu_batch = _cpu_time(lambda: solver.solve_batch(h.roots, h.root_times, factors, 2))
    cpu_serial = _cpu_time(serial)
    benchmark.extra_info.update(serial_s=t_serial, speedup=speedup, n_threads=2, n_maps=N_BATCH, method=method,
                                cpu_batch_s=cpu_batch[0], cpu_serial_s=cpu_serial[0],
                                cores_used_batch=cpu_batch[0] / cpu_batch[1])
    logger.warning("batch of %d (%s): 2 threads %.0f ms, serial %.0f ms: %.2fx; CPU time batch/serial %.2f, "
                   "cores used by the batch %.2f", N_BATCH, method, 1e3 * benchmark.stats.stats.median,
                   1e3 * t_serial, speedup, cpu_batch[0] / cpu_serial[0], cpu_batch[0] / cpu_batch[1])
    np.testing.assert_array_equal(ats, serial())
