"""Cobiveco-style coordinates: FEM pieces against exact solutions, the shell against closed forms,
and a generated biventricle against the definitions."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.spatial import cKDTree

from mitwin.anatomy import coordinates as C
from mitwin.anatomy.synthetic import box_mesh, shell_mesh


def test_stiffness_matches_energy_of_linear_fields(small_box):
    points, tets = small_box
    K = C.stiffness_matrix(points, tets)
    assert abs(K - K.T).max() < 1e-12
    assert np.allclose(K @ np.ones(points.shape[0]), 0.0, atol=1e-12)
    # x^T K x = integral |grad x|^2 = volume (1000 mm^3) for the linear field x
    for d in range(3):
        x = points[:, d]
        assert x @ (K @ x) == pytest.approx(1000.0, rel=1e-12)


@pytest.mark.parametrize("solver", ["cg", "direct"])
def test_laplace_reproduces_linear_solution(solver):
    # P1 elements reproduce a linear solution exactly (patch test) on a jittered mesh
    points, tets = box_mesh((12.0, 8.0, 6.0), 1.0, jitter=0.3, seed=3)
    left = np.flatnonzero(points[:, 0] == 0.0)
    right = np.flatnonzero(points[:, 0] == 12.0)
    u = C.laplace_solve(C.stiffness_matrix(points, tets), np.r_[left, right],
                        np.r_[np.zeros(left.size), np.ones(right.size)], solver=solver)
    assert np.abs(u - points[:, 0] / 12.0).max() < 1e-7


def test_laplace_rejects_bad_arguments(small_box):
    K = C.stiffness_matrix(*small_box)
    with pytest.raises(ValueError, match="solver"):
        C.laplace_solve(K, np.array([0]), np.array([0.0]), solver="amg")
    with pytest.raises(ValueError, match="fixed"):
        C.laplace_solve(K, np.array([], dtype=int), np.array([]))
    with pytest.raises(ValueError, match="values"):
        C.laplace_solve(K, np.array([0, 1]), np.array([0.0]))
    with pytest.raises(ValueError, match="fixed"):
        C.laplace_solve(K, np.array([10**6]), np.array([0.0]))


def _meridian_arc_length(u: np.ndarray, a: float, c: float, u0: float, u1: float) -> np.ndarray:
    """Normalised arc length from u0 along the meridian (a sin u, -c cos u), by fine quadrature."""
    uu = np.linspace(u0, u1, 20001)
    speed = np.hypot(a * np.cos(uu), c * np.sin(uu))
    s = np.concatenate([[0.0], np.cumsum(0.5 * (speed[1:] + speed[:-1]) * np.diff(uu))])
    return np.interp(u, uu, s / s[-1])


def test_shell_tm_and_ab_match_closed_forms():
    """Thick truncated prolate shell: tm is linear in depth, ab is the meridian arc length.

    Tolerances (stated): tm mean |error| < 0.03 and max < 0.12; ab, against the normalised
    arc length of the mid-wall meridian from the apical hole to the base, mean < 0.03 and
    max < 0.07. (The shell's own ab is linear in the prolate angle, which is not arc length.)
    """
    s = shell_mesh(40, 32, 7)
    K = C.stiffness_matrix(s.points, s.tets)
    g = C.edge_graph(s.points, s.tets)
    tm = C.transmural(K, s.endo, s.epi, graph=g)
    err = np.abs(tm - s.tm)
    assert err.mean() < 0.03 and err.max() < 0.12
    apex = np.flatnonzero(s.ab == 0.0)
    ab = C.apicobasal(K, g, apex, s.base)
    u0, u1 = 0.15, 0.5 * np.pi
    u = u0 + s.ab * (u1 - u0)
    ref = _meridian_arc_length(u, 25.0 + 5.0, 70.0 + 5.0, u0, u1)
    e_ab = np.abs(ab - ref)
    assert e_ab.mean() < 0.03 and e_ab.max() < 0.07
    # the reference is far from linear in u here, so this is a real check of the re-parametrisation
    assert np.abs(s.ab - ref).max() > 0.1


def test_arc_length_reparametrise_is_monotone(rng):
    phi = rng.random(5000)
    target = phi**2 + 0.05 * rng.standard_normal(5000)
    g = C.arc_length_reparametrise(phi, target)
    order = np.argsort(phi)
    assert np.all(np.diff(g[order]) >= -1e-15)
    assert np.abs(g - phi**2).max() < 0.05


# ----------------------------------------------------------------------------- generated subject


@pytest.fixture(scope="module")
def subject():
    pytest.importorskip("cardiac_geometries_core")
    from mitwin.anatomy.cohort import make_subject

    return make_subject(0, 0, 4.0)


@pytest.mark.slow
def test_subject_coordinates_follow_definitions(subject):
    h = subject
    lv, rv, epi, base = (h.surfaces[k] for k in ("lv_endo", "rv_endo", "epi", "base"))
    assert np.all(h.tm[lv] == 1.0) and np.all(h.tm[rv] == 1.0)
    assert np.all(h.tm[epi] == 0.0)
    assert set(np.unique(h.tv)) == {0.0, 1.0}
    assert np.all(h.tv[lv] == 0.0) and np.all(h.tv[rv] == 1.0)
    apex = h.meta["apex"]
    assert h.ab[apex] == 0.0 and np.all(h.ab[base] == 1.0)
    assert np.all((h.rt >= 0.0) & (h.rt < 1.0))
    assert np.all((h.tm >= 0) & (h.tm <= 1) & (h.ab >= 0) & (h.ab <= 1))


@pytest.mark.slow
def test_subject_septum_is_in_septal_rt_range(subject):
    """Nodes between the cavities (independently: close to both endocardia, far from the
    epicardium, away from apex and base) have rt in [2/3, 1)."""
    h = subject
    p = h.points
    d_lv = cKDTree(p[h.surfaces["lv_endo"]]).query(p)[0]
    d_rv = cKDTree(p[h.surfaces["rv_endo"]]).query(p)[0]
    d_epi = cKDTree(p[h.surfaces["epi"]]).query(p)[0]
    wall = h.meta["parameters"]["lv_wall"]
    septal = (d_lv + d_rv < 1.2 * wall) & (d_epi > 15.0) & (h.ab > 0.25) & (h.ab < 0.9)
    assert septal.sum() > 30
    frac = np.mean((h.rt[septal] >= 2 / 3) & (h.rt[septal] < 1.0))
    assert frac > 0.97
    # and the LV free wall opposite the RV is not septal
    lateral = (d_rv > 40.0) & (h.tv == 0)
    assert np.mean(h.rt[lateral] < 2 / 3) > 0.97


@pytest.mark.slow
def test_subject_monotone_transmural_and_apicobasal(subject):
    h = subject
    p = h.points
    lv_nodes = h.surfaces["lv_endo"]
    axis = p[lv_nodes[h.ab[lv_nodes] > 0.99]].mean(axis=0) - p[h.meta["apex"]]
    axis /= np.linalg.norm(axis)
    # ab increases along the long axis: correlation of ab with the height above the apex
    height = (p - p[h.meta["apex"]]) @ axis
    lvmask = h.tv == 0
    assert np.corrcoef(height[lvmask], h.ab[lvmask])[0, 1] > 0.97
    # tm decreases monotonically along a line from the LV endocardium outwards through the
    # lateral free wall (sampled by nearest nodes)
    tree = cKDTree(p)
    sdir = h.points[h.surfaces["rv_endo"]].mean(axis=0) - p[h.meta["apex"]]
    sdir -= (sdir @ axis) * axis
    sdir /= np.linalg.norm(sdir)
    centre = p[h.meta["apex"]] + axis * np.quantile(height[lvmask], 0.55)
    endo_pt = p[lv_nodes][np.argmax((p[lv_nodes] - centre) @ (-sdir) - 5 * np.abs((p[lv_nodes] - centre) @ axis))]
    epi_nodes = h.surfaces["epi"]
    epi_pt = p[epi_nodes][np.argmin(np.linalg.norm(p[epi_nodes] - endo_pt, axis=1))]
    line = endo_pt + np.linspace(0.0, 1.0, 7)[:, None] * (epi_pt - endo_pt)
    tm_line = h.tm[tree.query(line)[1]]
    assert tm_line[0] == 1.0 and tm_line[-1] == 0.0
    assert np.all(np.diff(tm_line) <= 1e-12)


@pytest.mark.slow
def test_subject_user_junctions_override(subject):
    from mitwin.anatomy.coordinates import compute_coordinates

    h = subject
    auto = compute_coordinates(h.points, h.tets, h.surfaces)
    epi = h.surfaces["epi"]
    # take two epicardial nodes at mid height on the junction lines of the automatic result
    mid = epi[(auto.ab[epi] > 0.45) & (auto.ab[epi] < 0.55)]
    post = mid[np.argmin(np.abs(np.angle(np.exp(2j * np.pi * auto.rt[mid]))))]
    ant = mid[np.argmin(np.abs(auto.rt[mid] - 2 / 3))]
    user = compute_coordinates(h.points, h.tets, h.surfaces, junctions=(post, ant))
    assert user.rt[post] == pytest.approx(0.0, abs=1e-9) or user.rt[post] == pytest.approx(1.0, abs=1e-9)
    assert user.rt[ant] == pytest.approx(2 / 3, abs=1e-9)
    with pytest.raises(ValueError, match="junctions"):
        compute_coordinates(h.points, h.tets, h.surfaces, junctions=(post,))
