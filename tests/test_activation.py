"""Activation solver against analytic travel times, brute-force references and bad inputs."""

from __future__ import annotations

import itertools
import warnings

import numpy as np
import pytest
from scipy.sparse import csr_matrix
from scipy.sparse.csgraph import dijkstra as scipy_dijkstra

import mitwin
from mitwin import _core
from mitwin.anatomy.synthetic import box_mesh
from mitwin.ep.activation import DEFAULT_SPEEDS, METHODS, ActivationSolver, activation_times
from mitwin.errors import MeshError, UnreachableError

V = 0.6  # m/s
SPEEDS_ANISO = (0.65, 0.4, 0.3)


def _rotation(ax: float, ay: float, az: float) -> np.ndarray:
    cx, sx, cy, sy, cz, sz = np.cos(ax), np.sin(ax), np.cos(ay), np.sin(ay), np.cos(az), np.sin(az)
    rx = np.array([[1, 0, 0], [0, cx, -sx], [0, sx, cx]])
    ry = np.array([[cy, 0, sy], [0, 1, 0], [-sy, 0, cy]])
    rz = np.array([[cz, -sz, 0], [sz, cz, 0], [0, 0, 1]])
    return rz @ ry @ rx


ROT = _rotation(0.4, -0.7, 1.1)  # columns: fibre, sheet, normal; not aligned with the axes


def _frames(n: int, rot: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    return np.tile(rot[:, 0], (n, 1)), np.tile(rot[:, 1], (n, 1))


def _analytic(points: np.ndarray, src: np.ndarray, rot: np.ndarray, speeds) -> np.ndarray:
    """sqrt(d^T F diag(1/v^2) F^T d) for a constant frame F."""
    d = (points - src) @ rot  # components along fibre, sheet, normal
    return np.sqrt(np.sum((d / np.asarray(speeds)) ** 2, axis=1))


def _errors(at, exact, dist, r_min=3.0):
    far = dist > r_min
    rel = (at[far] - exact[far]) / exact[far]
    return float(np.mean(np.abs(rel))), float(np.max(np.abs(rel)))


@pytest.fixture(scope="module", params=[0.0, 0.2], ids=["regular", "jittered"])
def block(request):
    points, tets = box_mesh((20.0, 20.0, 20.0), 1.0, jitter=request.param, seed=3)
    return points, tets


CORNERS = list(itertools.product((0.0, 20.0), repeat=3))


@pytest.mark.parametrize("aniso", [False, True], ids=["isotropic", "orthotropic"])
def test_block_from_every_corner(block, aniso):
    points, tets = block
    rot = ROT if aniso else np.eye(3)
    speeds = SPEEDS_ANISO if aniso else (V, V, V)
    f, s = _frames(len(points), rot)
    eik = ActivationSolver(points, tets, f, s, speeds=speeds, method="eikonal")
    dij = ActivationSolver(points, tets, f, s, speeds=speeds, method="dijkstra")
    for corner in CORNERS:
        root = int(np.argmin(np.linalg.norm(points - np.array(corner), axis=1)))
        exact = _analytic(points, points[root], rot, speeds)
        dist = np.linalg.norm(points - points[root], axis=1)
        mean_e, max_e = _errors(eik.solve(root), exact, dist)
        at_d = dij.solve(root)
        mean_d, _ = _errors(at_d, exact, dist)
        assert mean_e <= 0.015 and max_e <= 0.05, (corner, mean_e, max_e)
        # the graph model is never early and measurably later than the Eikonal solution
        assert np.all(at_d >= exact * (1 - 1e-6) - 1e-9)  # float32 edge costs
        assert mean_d > 2 * mean_e + 0.01, (corner, mean_d, mean_e)


def test_two_sources_with_start_times():
    points, tets = box_mesh((16.0, 12.0, 10.0), 1.0, jitter=0.2, seed=5)
    f, s = _frames(len(points), ROT)
    roots = np.array([0, len(points) - 1])
    t0 = np.array([0.0, 7.5])
    exact = np.minimum(
        t0[0] + _analytic(points, points[roots[0]], ROT, SPEEDS_ANISO),
        t0[1] + _analytic(points, points[roots[1]], ROT, SPEEDS_ANISO),
    )
    at = activation_times(points, tets, f, s, roots, t0, speeds=SPEEDS_ANISO)
    assert at[roots[0]] == 0.0 and at[roots[1]] == 7.5
    d = np.minimum(np.linalg.norm(points - points[roots[0]], axis=1), np.linalg.norm(points - points[roots[1]], axis=1))
    mean_e, max_e = _errors(at, exact, d)
    assert mean_e <= 0.015 and max_e <= 0.05
    # a root whose start time is later than the other wave's arrival activates at the arrival
    late = ActivationSolver(points, tets, f, s, speeds=SPEEDS_ANISO).solve(roots, [0.0, 500.0])
    np.testing.assert_allclose(late, ActivationSolver(points, tets, f, s, speeds=SPEEDS_ANISO).solve(roots[:1]))


@pytest.mark.parametrize("method", ["eikonal", "dijkstra"])
def test_slow_slab_plane_wave(method):
    """A plane wave from x = 0 crosses 5 node layers at factor 0.1: analytic delay 5 h (1/0.1 - 1) / v."""
    h = 1.0
    points, tets = box_mesh((24.0, 8.0, 8.0), h)
    x = points[:, 0]
    f, s = _frames(len(points), np.eye(3))
    slab = (x >= 8 - 1e-9) & (x <= 12 + 1e-9)
    factor = np.where(slab, 0.1, 1.0)
    roots = np.flatnonzero(x == 0)
    at = ActivationSolver(points, tets, f, s, speeds=(V, V, V), method=method).solve(roots, speed_factor=factor)
    down = x > 12.5
    exact = x[down] / V + 5 * h * (1 / 0.1 - 1) / V
    rel = np.abs(at[down] - exact) / exact
    assert rel.mean() <= 0.015 and rel.max() <= 0.05
    up = x < 7.5
    np.testing.assert_allclose(at[up], x[up] / V, rtol=1e-6, atol=1e-9)


def _two_layer_exact(points, src, z_i, v1, v2):
    """Travel time from src (z < z_i, speed v1) with speed v2 above the plane z = z_i (refraction)."""
    out = np.linalg.norm(points - src, axis=1) / v1
    above = points[:, 2] > z_i
    lam = np.linspace(0.0, 1.0, 4001)
    ps = np.array([src[0], src[1], z_i])
    for i in np.flatnonzero(above):
        px = np.array([points[i, 0], points[i, 1], z_i])
        p = ps + lam[:, None] * (px - ps)
        t = np.linalg.norm(p - src, axis=1) / v1 + np.linalg.norm(points[i] - p, axis=1) / v2
        out[i] = t.min()
    return out


def test_refinement_convergence_two_layer_medium():
    """Point source below a slower half-space (factor 0.5): the Eikonal error shrinks with h."""
    errs = []
    for h in (2.0, 1.0, 0.5):
        points, tets = box_mesh((16.0, 16.0, 16.0), h)
        f, s = _frames(len(points), np.eye(3))
        z_i = 8.0 + h / 2
        factor = np.where(points[:, 2] > z_i, 0.5, 1.0)
        root = int(np.argmin(np.linalg.norm(points - [2.0, 2.0, 2.0], axis=1)))
        at = ActivationSolver(points, tets, f, s, speeds=(V, V, V)).solve(root, speed_factor=factor)
        # the interface sits between the last fast and first slow node layers; compare above it
        sel = np.flatnonzero(points[:, 2] >= 12.0)[::7]
        exact = _two_layer_exact(points[sel], points[root], 8.0, V, 0.5 * V)
        errs.append(float(np.mean(np.abs(at[sel] - exact) / exact)))
    assert errs[0] > errs[1] > errs[2], errs
    assert errs[2] <= 0.015, errs


def test_fast_layer_head_wave():
    """Isotropic flat fast layer at z = 0 (1.5 m/s) under 0.5 m/s tissue: layer nodes |d| / 1.5,
    tissue nodes the head-wave time min_p |S - p| / 1.5 + |p - x| / 0.5."""
    points, tets = box_mesh((20.0, 20.0, 6.0), 1.0)
    f, s = _frames(len(points), np.eye(3))
    endo = np.where(points[:, 2] == 0, 1.5, np.nan)
    root = 0
    at = ActivationSolver(points, tets, f, s, speeds=(0.5, 0.5, 0.5), endo_speed=endo).solve(root)
    on = points[:, 2] == 0
    d = np.linalg.norm(points - points[root], axis=1)
    far = d > 3
    np.testing.assert_allclose(at[on & far], d[on & far] / 1.5, rtol=0.02)
    lam = np.linspace(0, 1, 2001)
    exact = np.empty(len(points))
    for i, x in enumerate(points):
        p = lam[:, None] * np.array([x[0], x[1], 0.0])
        exact[i] = np.min(np.linalg.norm(p, axis=1) / 1.5 + np.linalg.norm(x - p, axis=1) / 0.5)
    rel = np.abs(at[far] - exact[far]) / exact[far]
    assert rel.mean() <= 0.015 and rel.max() <= 0.05, (rel.mean(), rel.max())


def _numpy_edge_weights(points, tets, fibres, sheets, speeds, endo):
    """Independent reference of the graph model: unique edges and orthotropic costs in numpy."""
    pairs = tets[:, [0, 0, 0, 1, 1, 2]], tets[:, [1, 2, 3, 2, 3, 3]]
    e = np.sort(np.stack([pairs[0].ravel(), pairs[1].ravel()], axis=1), axis=1)
    e = np.unique(e, axis=0)
    i, j = e[:, 0], e[:, 1]
    fi, fj = fibres[i], fibres[j]
    fj = fj * np.sign(np.einsum("ij,ij->i", fi, fj))[:, None]
    si, sj = sheets[i], sheets[j]
    sj = sj * np.sign(np.einsum("ij,ij->i", si, sj))[:, None]
    f = fi + fj
    f /= np.linalg.norm(f, axis=1)[:, None]
    s = si + sj
    s -= np.einsum("ij,ij->i", s, f)[:, None] * f
    s /= np.linalg.norm(s, axis=1)[:, None]
    n = np.cross(f, s)
    d = points[j] - points[i]
    w = np.sqrt(
        (np.einsum("ij,ij->i", d, f) / speeds[0]) ** 2
        + (np.einsum("ij,ij->i", d, s) / speeds[1]) ** 2
        + (np.einsum("ij,ij->i", d, n) / speeds[2]) ** 2
    )
    if endo is not None:
        layer = np.isfinite(endo) & (np.nan_to_num(endo) > 0)
        both = layer[i] & layer[j]
        w[both] = np.linalg.norm(d[both], axis=1) / (0.5 * (endo[i][both] + endo[j][both]))
    return i, j, w


def test_dijkstra_matches_scipy_on_shell(small_shell, rng):
    sh = small_shell
    n = len(sh.points)
    endo = np.full(n, np.nan)
    endo[sh.endo] = 1.2
    speeds = (0.65, 0.48, 0.51)
    factor = np.where(rng.random(n) < 0.2, 0.1, 1.0)
    roots = sh.endo[[0, 40, 90]]
    t0 = np.array([0.0, 3.0, 6.0])
    solver = ActivationSolver(
        sh.points, sh.tets, sh.fibres, sh.sheets, speeds=speeds, endo_speed=endo, method="dijkstra"
    )
    at = solver.solve(roots, t0, factor)
    i, j, w = _numpy_edge_weights(sh.points, sh.tets, sh.fibres, sh.sheets, speeds, endo)
    # directed costs: reaching a node costs 1 / its factor; a virtual super-source carries the start times
    rows = np.concatenate([i, j, np.full(roots.size, n)])
    cols = np.concatenate([j, i, roots])
    vals = np.concatenate([w / factor[j], w / factor[i], t0 + 1e-300])
    g = csr_matrix((vals, (rows, cols)), shape=(n + 1, n + 1))
    ref = scipy_dijkstra(g, indices=n)[:n]
    np.testing.assert_allclose(at, ref, rtol=2e-6, atol=1e-6)
    np.testing.assert_allclose(np.sort(solver.edge_costs()), np.sort(w), rtol=1e-12)


@pytest.mark.parametrize("method", ["eikonal", "dijkstra"])
def test_batch_equals_serial(small_shell, rng, method):
    sh = small_shell
    n = len(sh.points)
    endo = np.full(n, np.nan)
    endo[sh.endo] = np.where(sh.ab[sh.endo] < 0.4, 1.5, 1.0)
    solver = ActivationSolver(sh.points, sh.tets, sh.fibres, sh.sheets, endo_speed=endo, method=method)
    roots = sh.endo[[5, 50, 120]]
    t0 = np.array([0.0, 2.0, 4.0])
    factors = np.where(rng.random((5, n)) < 0.3, rng.choice([0.1, 0.5], size=(5, n)), 1.0)
    batch = solver.solve_batch(roots, t0, factors, n_threads=2)
    serial = np.stack([solver.solve(roots, t0, fk) for fk in factors])
    np.testing.assert_array_equal(batch, serial)
    assert batch.shape == (5, n)
    assert isinstance(_core.openmp_enabled(), bool)


def test_eikonal_not_later_than_dijkstra_on_shell(small_shell):
    """On a curved, rotating-fibre mesh the Eikonal times stay within the graph model's bound."""
    sh = small_shell
    kw = dict(speeds=(0.65, 0.48, 0.51))
    root = sh.endo[10]
    eik = ActivationSolver(sh.points, sh.tets, sh.fibres, sh.sheets, method="eikonal", **kw).solve(root)
    dij = ActivationSolver(sh.points, sh.tets, sh.fibres, sh.sheets, method="dijkstra", **kw).solve(root)
    assert np.mean(eik) < np.mean(dij)
    assert np.all(eik <= dij * 1.05 + 1e-9)


def test_solver_pickles(small_shell):
    import pickle

    sh = small_shell
    solver = ActivationSolver(sh.points, sh.tets, sh.fibres, sh.sheets, method="dijkstra")
    clone = pickle.loads(pickle.dumps(solver))
    np.testing.assert_array_equal(clone.solve(sh.endo[:2]), solver.solve(sh.endo[:2]))
    assert clone.method == "dijkstra" and clone.n_edges == solver.n_edges


def test_public_names():
    assert mitwin.ActivationSolver is ActivationSolver
    assert mitwin.activation_times is activation_times


# ---------------------------------------------------------------------------------------------
# validation


@pytest.fixture(scope="module")
def cube():
    points, tets = box_mesh((3.0, 3.0, 3.0), 1.0)
    f, s = _frames(len(points), np.eye(3))
    return points, tets, f, s


def test_frames_mildly_off_are_normalised_with_a_warning(cube):
    points, tets, f, s = cube
    f2 = f * 1.01
    s2 = s + 0.01 * f
    with pytest.warns(UserWarning, match="normalised"):
        solver = ActivationSolver(points, tets, f2, s2)
    np.testing.assert_allclose(solver.solve(0), ActivationSolver(points, tets, f, s).solve(0))


@pytest.mark.parametrize(
    "change, match, exc",
    [
        (dict(points=lambda p: p[:, :2]), "points", ValueError),
        (dict(points=lambda p: np.where(np.arange(p.size).reshape(p.shape) == 4, np.nan, p)), "points", ValueError),
        (dict(tets=lambda t: t[:, :3]), "tets", ValueError),
        (dict(tets=lambda t: np.where(t == t.max(), 10_000, t)), "tets", ValueError),
        (dict(tets=lambda t: np.vstack([t, [[0, 1, 2, 2]]])), "tets", MeshError),
        (dict(tets=lambda t: np.vstack([t, t[:1, [0, 1, 3, 2]]])), "tets", MeshError),
        (dict(fibres=lambda f: f[:-1]), "fibres", ValueError),
        (dict(fibres=lambda f: np.where(np.arange(len(f))[:, None] == 3, 0.0, f)), "fibres", ValueError),
        (dict(sheets=lambda s: np.tile([1.0, 0.1, 0.0], (len(s), 1))), "sheets", ValueError),
        (dict(speeds=lambda _: (0.6, 0.0, 0.5)), "speeds", ValueError),
        (dict(speeds=lambda _: (0.6, 0.5)), "speeds", ValueError),
        (dict(endo_speed=lambda _: -np.ones(64)), "endo_speed", ValueError),
        (dict(endo_speed=lambda _: np.ones(7)), "endo_speed", ValueError),
        (dict(method=lambda _: "fmm"), "method", ValueError),
    ],
)
def test_constructor_rejects(cube, change, match, exc):
    points, tets, f, s = cube
    args = dict(points=points, tets=tets, fibres=f, sheets=s, speeds=(0.6, 0.5, 0.4), endo_speed=None, method="eikonal")
    (key, fn), = change.items()
    args[key] = fn(args[key])
    with pytest.raises(exc, match=match):
        ActivationSolver(**args)


@pytest.mark.parametrize(
    "kwargs, match",
    [
        (dict(roots=[64]), "roots"),
        (dict(roots=[-1]), "roots"),
        (dict(roots=[]), "roots"),
        (dict(roots=[0.5]), "roots"),
        (dict(roots=[0, 1], root_times=[0.0]), "root_times"),
        (dict(roots=[0], root_times=[-1.0]), "root_times"),
        (dict(roots=[0], root_times=[np.nan]), "root_times"),
        (dict(roots=[0], speed_factor=-np.ones(64)), "speed_factor"),
        (dict(roots=[0], speed_factor=np.full(64, 1.5)), "speed_factor"),
        (dict(roots=[0], speed_factor=np.full(64, np.nan)), "speed_factor"),
        (dict(roots=[0], speed_factor=np.ones(63)), "speed_factor"),
    ],
)
def test_solve_rejects(cube, kwargs, match):
    points, tets, f, s = cube
    with pytest.raises(ValueError, match=match):
        ActivationSolver(points, tets, f, s).solve(**kwargs)


def test_solve_batch_rejects(cube):
    points, tets, f, s = cube
    solver = ActivationSolver(points, tets, f, s, method="dijkstra")
    with pytest.raises(ValueError, match="speed_factors"):
        solver.solve_batch([0], None, np.ones(64))
    with pytest.raises(ValueError, match="n_threads"):
        solver.solve_batch([0], None, np.ones((2, 64)), n_threads=0)
    assert solver.solve_batch([0], None, np.ones((0, 64))).shape == (0, 64)


def test_unreachable_nodes_raise():
    p1, t1 = box_mesh((2.0, 2.0, 2.0), 1.0)
    p2 = p1 + [10.0, 0.0, 0.0]
    points = np.vstack([p1, p2])
    tets = np.vstack([t1, t1 + len(p1)])
    f, s = _frames(len(points), np.eye(3))
    for method in ("dijkstra", "eikonal"):
        with pytest.raises(UnreachableError, match=f"{len(p2)} of {len(points)} nodes"):
            ActivationSolver(points, tets, f, s, method=method).solve(0)


# ---------------------------------------------------------------------------------------------
# the C++ boundary never crashes: bad input raises ValueError

hypothesis = pytest.importorskip("hypothesis")
from hypothesis import HealthCheck, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402


@st.composite
def _raw_inputs(draw):
    n = draw(st.integers(0, 12))
    m = draw(st.integers(0, 10))
    pdim = draw(st.sampled_from([3, 3, 3, 2]))
    tdim = draw(st.sampled_from([4, 4, 4, 3]))
    dtype = draw(st.sampled_from([np.float64, np.float32, np.int32]))
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    points = (rng.random((n, pdim)) * 5).astype(dtype)
    if n and draw(st.booleans()):
        points.flat[draw(st.integers(0, points.size - 1))] = np.nan if dtype != np.int32 else 0
    tets = rng.integers(-2, max(n, 1) + 2, size=(m, tdim))
    fibres = rng.normal(size=(draw(st.sampled_from([n, n, n + 1])), 3))
    sheets = rng.normal(size=(n, 3))
    speeds = draw(st.sampled_from([(0.6, 0.5, 0.4), (0.6, -1.0, 0.4), (0.0, 0.5, 0.4)]))
    method = draw(st.sampled_from(["eikonal", "dijkstra", "x"]))
    roots = rng.integers(-2, n + 2, size=draw(st.integers(0, 3)))
    factor = rng.choice([0.1, 1.0, 0.0, np.nan, 2.0], size=draw(st.sampled_from([n, n, n - 1 if n else 0])))
    return points, tets, fibres, sheets, speeds, method, roots, factor


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(_raw_inputs())
def test_core_boundary_raises_value_error(raw):
    points, tets, fibres, sheets, speeds, method, roots, factor = raw
    try:
        solver = _core.ActivationSolver(points, tets, fibres, sheets, speeds, None, method)
    except ValueError:
        return
    n = solver.n_nodes
    try:
        at = solver.solve(roots, None, factor)
    except ValueError:
        return
    assert at.shape == (n,)
    try:
        ats = solver.solve_batch(roots, None, np.atleast_2d(factor), 2)
    except ValueError:
        return
    assert ats.shape == (1, n)


def test_warnings_are_errors_here():
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with pytest.raises(UserWarning):
            warnings.warn("x", UserWarning)


def test_extreme_but_valid_values_do_not_overflow(cube):
    """The slowest factor and the latest start accepted give finite, exact-in-shape times."""
    points, tets, f, s = cube
    factor = np.ones(64)
    factor[10] = 1e-6
    for method in ("dijkstra", "eikonal"):
        solver = ActivationSolver(points, tets, f, s, method=method)
        at = solver.solve([0], [1e6], factor)
        assert np.all(np.isfinite(at)) and at[0] == 1e6
        slow = solver.solve([0], None, factor)
        healthy = solver.solve([0])
        # node 10 is reached at a millionth of the speed over at least its distance to an opposite tet face
        # (>= half its shortest edge on this mesh of Kuhn cubes): of the order 1e6 x an edge's time
        fastest = min(np.linalg.norm(points[10] - points[j]) for j in range(64) if j != 10) / max(DEFAULT_SPEEDS)
        assert 0.5e6 * fastest <= slow[10] < np.inf
        assert np.all(slow[np.arange(64) != 10] < 1e3)
        assert np.all(slow >= healthy - 1e-6)  # a different bucket width rounds differently (float32 costs)


@pytest.mark.parametrize(
    "kwargs, match",
    [
        (dict(roots=[0], root_times=[1e16]), r"root_times: expected start times in \[0, 1e\+06\] ms"),
        (dict(roots=[0], root_times=[1e250]), r"root_times: expected start times in \[0, 1e\+06\] ms"),
        (
            dict(roots=[0], speed_factor=np.full(64, 1e-300)),
            r"speed_factor: expected speed factors 0 \(blocked\) or in \[1e-06, 1\]",
        ),
        (dict(roots=np.ones(64, dtype=bool)), "roots: expected integer indices"),
        (dict(roots=[0], speed_factor=np.ones(64, dtype=complex)), "speed_factor: expected a real array"),
    ],
)
def test_solve_rejects_unbounded_inputs(cube, kwargs, match):
    """Inputs that once hung the solver or were silently reinterpreted."""
    points, tets, f, s = cube
    for method in METHODS:
        with pytest.raises(ValueError, match=match):
            ActivationSolver(points, tets, f, s, method=method).solve(**kwargs)


@pytest.mark.parametrize("speeds", [(1e-300, 0.5, 0.5), (1e300, 0.5, 0.5), (0.5, 0.5, 2e4)])
def test_absurd_speeds_are_reported_as_speeds(cube, speeds):
    points, tets, f, s = cube
    with pytest.raises(ValueError, match=r"^speeds: expected three speeds in \[0.0001, 10000\] m/s"):
        ActivationSolver(points, tets, f, s, speeds=speeds)
    with pytest.raises(ValueError, match=r"^endo_speed: expected speeds in \[0.0001, 10000\] m/s"):
        ActivationSolver(points, tets, f, s, endo_speed=np.full(64, speeds[0] if speeds[0] != 0.5 else 2e4))


def test_root_time_horizon_is_reached_without_stepping_every_bucket(cube):
    """Roots 1e6 ms apart (1e5 bucket cycles): the late root is activated from the early one."""
    points, tets, f, s = cube
    for method in METHODS:
        solver = ActivationSolver(points, tets, f, s, method=method)
        np.testing.assert_array_equal(solver.solve([0, 63], [0.0, 1e6]), solver.solve([0]))


# ---------------------------------------------------------------------------------------------
# blocked tissue (speed factor 0)

H_PLATE = 0.5


@pytest.fixture(scope="module")
def plate():
    """A 40 x 40 x 1 mm plate of 0.5 mm Kuhn tets, isotropic frames."""
    points, tets = box_mesh((40.0, 40.0, 1.0), H_PLATE)
    f, s = _frames(len(points), np.eye(3))
    return points, tets, f, s


def _wall_factors(points, x_wall=20.0, y_end=28.0):
    """Blocked wall: the node plane x = x_wall for y <= y_end, full thickness; a gap above it."""
    factor = np.ones(len(points))
    wall = (np.abs(points[:, 0] - x_wall) < 1e-9) & (points[:, 1] <= y_end + 1e-9)
    factor[wall] = 0.0
    return factor, wall


def _around_corner(src, pts, corner, x_wall):
    """Geodesic in the plane z = const from src to pts around the wall end at `corner` (x_wall, y_c)."""
    d_straight = np.linalg.norm(pts[:, :2] - src[:2], axis=1)
    # the straight segment crosses the wall line x = x_wall below the corner: go around the corner
    s = (x_wall - src[0]) / (pts[:, 0] - src[0])
    y_cross = src[1] + s * (pts[:, 1] - src[1])
    blocked = (pts[:, 0] > x_wall) & (y_cross < corner[1])
    d_corner = np.linalg.norm(corner - src[:2]) + np.linalg.norm(pts[:, :2] - corner, axis=1)
    return np.where(blocked, d_corner, d_straight)


def test_wall_with_a_gap_matches_the_geodesic_around_it(plate):
    points, tets, f, s = plate
    factor, wall = _wall_factors(points)
    root = int(np.argmin(np.linalg.norm(points - [10.0, 10.0, 0.0], axis=1)))
    for method in METHODS:
        at = ActivationSolver(points, tets, f, s, speeds=(V, V, V), method=method).solve(root, None, factor)
        assert np.all(np.isinf(at[wall])) and np.all(np.isfinite(at[~wall]))
        if method != "eikonal":
            continue
        # behind the wall, on the root's face z = 0, well away from the wall itself
        behind = (points[:, 0] >= 24.0) & (points[:, 1] <= 20.0) & (points[:, 2] == 0.0)
        # the non-conducting region is the open star of the blocked nodes: in the wall's plane it reaches
        # the first gap node (every face between it and the last wall node touches a blocked node)
        corner = np.array([20.0, 28.0 + H_PLATE])
        exact = _around_corner(points[root], points[behind], corner, 20.0) / V
        rel = np.abs(at[behind] - exact) / exact
        straight = np.linalg.norm(points[behind] - points[root], axis=1) / V
        assert np.all(exact > 1.2 * straight)  # the detour is large: a wave through the wall would show
        assert rel.max() <= 0.03, (rel.mean(), rel.max())


def test_no_wave_cuts_through_a_short_wall_next_to_the_root(plate):
    """A 4 mm wall 1 mm from the root, within the reach of the straight rays from it: a ray wrapping around the
    wall's ends would time the nodes behind it as if the wall were not there. They must be reached around an end."""
    points, tets, f, s = plate
    x, y = points[:, 0], points[:, 1]
    wall = (np.abs(x - 20.0) < 1e-9) & (np.abs(y - 10.0) <= 2.0 + 1e-9)
    factor = np.where(wall, 0.0, 1.0)
    root = int(np.argmin(np.linalg.norm(points - [19.0, 10.0, 0.0], axis=1)))
    behind = (x >= 20.5) & (x <= 21.5) & (np.abs(y - 10.0) <= 1.0) & (points[:, 2] == 0.0)
    src = points[root, :2]
    # around either end; the blocked region reaches the first node past each end (open star)
    ends = np.array([[20.0, 12.0 + H_PLATE], [20.0, 8.0 - H_PLATE]])
    exact = np.min([np.linalg.norm(c - src) + np.linalg.norm(points[behind, :2] - c, axis=1) for c in ends], axis=0)
    for method in METHODS:
        at = ActivationSolver(points, tets, f, s, speeds=(V, V, V), method=method).solve(root, None, factor)
        assert np.all(at[behind] >= 0.97 * exact / V), (method, float(np.min(at[behind] * V / exact)))


def test_closed_blocked_ring_leaves_its_inside_unactivated_with_one_warning(plate):
    points, tets, f, s = plate
    x, y = points[:, 0], points[:, 1]
    ring_box = (x >= 25.0) & (x <= 35.0) & (y >= 25.0) & (y <= 35.0)
    inside = (x > 25.0) & (x < 35.0) & (y > 25.0) & (y < 35.0)
    ring = ring_box & ~inside
    factor = np.ones(len(points))
    factor[ring] = 0.0
    n_inside = int(inside.sum())
    assert n_inside == 19 * 19 * 3  # the nodes strictly inside the 10 mm square ring, from the geometry
    for method in METHODS:
        solver = ActivationSolver(points, tets, f, s, speeds=(V, V, V), method=method)
        with pytest.warns(mitwin.errors.BlockedTissueWarning, match=rf"^{n_inside} nodes are cut off") as record:
            at = solver.solve(0, None, factor)
        assert len(record) == 1
        assert np.all(np.isinf(at[ring | inside])) and np.all(np.isfinite(at[~(ring | inside)]))


def test_blocked_batch_equals_serial_and_blocked_roots_never_start(plate):
    points, tets, f, s = plate
    rng = np.random.default_rng(5)
    factors = np.where(rng.random((3, len(points))) < 0.05, 0.0, np.where(rng.random((3, len(points))) < 0.2, 0.3, 1))
    roots = np.array([0, 500, 5000])
    factors[:, roots[1]] = 0.0  # one root in blocked tissue
    for method in METHODS:
        solver = ActivationSolver(points, tets, f, s, method=method)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", mitwin.errors.BlockedTissueWarning)
            batch = solver.solve_batch(roots, [0.0, 0.0, 2.0], factors, n_threads=2)
            serial = np.stack([solver.solve(roots, [0.0, 0.0, 2.0], fk) for fk in factors])
        np.testing.assert_array_equal(batch, serial)
        assert np.all(np.isinf(batch[factors == 0]))
        assert np.all(np.isinf(batch[:, roots[1]]))


def test_blocked_factor_slows_nothing_it_does_not_touch(plate):
    """Blocking far-away nodes cut off nothing: nodes whose every path avoids them keep their times (Dijkstra)."""
    points, tets, f, s = plate
    factor = np.ones(len(points))
    far = points[:, 0] > 39.0
    factor[far] = 0.0
    solver = ActivationSolver(points, tets, f, s, method="dijkstra")
    at, ref = solver.solve(0, None, factor), solver.solve(0)
    near = points[:, 0] < 30.0
    np.testing.assert_array_equal(at[near], ref[near])


def test_disconnected_mesh_still_raises_with_blocked_tissue():
    p1, t1 = box_mesh((2.0, 2.0, 2.0), 1.0)
    points = np.vstack([p1, p1 + [10.0, 0.0, 0.0]])
    tets = np.vstack([t1, t1 + len(p1)])
    f, s = _frames(len(points), np.eye(3))
    factor = np.ones(len(points))
    factor[13] = 0.0  # the centre node of the first block
    for method in METHODS:
        with pytest.raises(UnreachableError, match=f"{len(p1)} of {len(points)} nodes"):
            ActivationSolver(points, tets, f, s, method=method).solve(0, None, factor)


@pytest.mark.parametrize("bad", [-0.1, 1e-7, 1.5, np.nan])
def test_speed_factors_are_zero_or_in_range(cube, bad):
    points, tets, f, s = cube
    factor = np.ones(64)
    factor[5] = bad
    with pytest.raises(ValueError, match="speed_factor"):
        ActivationSolver(points, tets, f, s).solve(0, None, factor)
    with pytest.raises(ValueError, match="speed_factor"):
        _core.ActivationSolver(points, tets, f, s, (0.6, 0.6, 0.6)).solve(np.array([0]), None, factor)
