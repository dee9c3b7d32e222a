"""Anatomy benchmarks: coordinates + fibres on a generated biventricle, and the sparse solves alone.

Short mode: a ~5k-node subject (4 mm). Full mode (MITWIN_BENCH=full): a ~80k-node subject
(1.35 mm), the size the issue asks about. The Laplace solves (Jacobi-preconditioned CG, the
default) are paired with the baseline a user would reach for: the same four solves with
scipy's default ``spsolve`` (SuperLU, COLAMD ordering).

    python -m pytest bench/bench_anatomy.py
    MITWIN_BENCH=full python -m pytest bench/bench_anatomy.py --benchmark-json=bench/results/anatomy.json
"""

from __future__ import annotations

import os

import numpy as np
import pytest

pytest.importorskip("cardiac_geometries_core")

FULL = os.environ.get("MITWIN_BENCH", "short").lower() == "full"

RESOLUTION_MM = 1.35 if FULL else 4.0
ROUNDS = 1 if FULL else 3


@pytest.fixture(scope="module")
def biv():
    from mitwin.anatomy import biventricle, cohort
    from mitwin.anatomy.electrodes import pose_rotation

    p = cohort.sample_parameters(0, 0)
    points, tets, _ = biventricle.mesh_biventricle(p, RESOLUTION_MM)
    faces = biventricle.label_surfaces(points, tets, p)
    points = points @ pose_rotation(p["azimuth_deg"], p["elevation_deg"], p["roll_deg"]).T
    surfaces = {k: np.unique(f) for k, f in faces.items()}
    return points, tets, surfaces


def _problems(points, tets, surfaces):
    """The four Dirichlet problems that compute_coordinates solves (tv, tm, septum test, ab)."""
    from mitwin.anatomy.coordinates import find_apex

    lv, rv, epi, base = (surfaces[k] for k in ("lv_endo", "rv_endo", "epi", "base"))
    z = np.zeros
    apex = find_apex(points, epi[np.argsort(((points[epi] - points[lv].mean(0)) ** 2).sum(1))][: epi.size // 2], base)
    return [
        (np.r_[lv, rv], np.r_[z(lv.size), np.ones(rv.size)]),
        (np.r_[lv, rv, epi], np.r_[np.ones(lv.size + rv.size), z(epi.size)]),
        (np.r_[lv, epi], np.r_[np.ones(lv.size), z(epi.size)]),
        (np.r_[apex, base], np.r_[0.0, np.ones(base.size)]),
    ]


@pytest.fixture(scope="module")
def reference(biv):
    from mitwin.anatomy.coordinates import laplace_solve, stiffness_matrix

    points, tets, surfaces = biv
    K = stiffness_matrix(points, tets)
    return K, [laplace_solve(K, f, v, solver="direct") for f, v in _problems(points, tets, surfaces)]


@pytest.mark.benchmark(group="anatomy-coordinates")
def test_coordinates_and_fibres(benchmark, biv):
    from mitwin.anatomy.coordinates import compute_coordinates
    from mitwin.anatomy.fibres import compute_fibres

    points, tets, surfaces = biv

    def run():
        c = compute_coordinates(points, tets, surfaces)
        return c, compute_fibres(points, tets, c.tm, c.ab, c.rt, c.tv)

    c, (f, s, _) = benchmark.pedantic(run, rounds=ROUNDS, iterations=1)
    benchmark.extra_info["n_nodes"] = int(points.shape[0])
    assert np.all(c.tm[surfaces["lv_endo"]] == 1.0) and np.all(c.tm[surfaces["epi"]] == 0.0)
    assert np.all(c.tv[surfaces["rv_endo"]] == 1.0) and np.all(c.ab[surfaces["base"]] == 1.0)
    assert np.allclose(np.linalg.norm(f, axis=1), 1.0) and np.abs(np.einsum("ij,ij->i", f, s)).max() < 1e-9


@pytest.mark.benchmark(group="anatomy-laplace-solves")
@pytest.mark.parametrize("solver", ["cg", "direct"], ids=["cg_jacobi", "baseline_scipy_spsolve"])
def test_laplace_solves(benchmark, biv, reference, solver):
    from mitwin.anatomy.coordinates import laplace_solve

    points, tets, surfaces = biv
    K, ref = reference
    problems = _problems(points, tets, surfaces)

    def run():
        return [laplace_solve(K, f, v, solver=solver) for f, v in problems]

    out = benchmark.pedantic(run, rounds=ROUNDS, iterations=1)
    benchmark.extra_info["n_nodes"] = int(points.shape[0])
    for u, r in zip(out, ref):
        assert np.abs(u - r).max() < 1e-5
