"""Rule-based fibres: orthonormal frames and helix angles measured in an independent frame."""

from __future__ import annotations

import numpy as np
import pytest

from mitwin.anatomy.fibres import compute_fibres, helix_angle
from mitwin.anatomy.synthetic import shell_mesh


def _shell_frame(s):
    """Analytic circumferential and longitudinal unit vectors of the shell."""
    e_c = np.stack([-np.sin(s.theta), np.cos(s.theta), np.zeros_like(s.theta)], axis=1)
    e_l = np.cross(s.sheets, e_c)  # the shell's sheet is e_c x e_l (outward normal)
    return e_c, e_l


@pytest.fixture(scope="module")
def shell():
    return shell_mesh(40, 24, 6)


def test_frames_are_orthonormal(shell):
    s = shell
    n = s.points.shape[0]
    f, sh, nn = compute_fibres(s.points, s.tets, s.tm, s.ab, np.full(n, 0.3), np.zeros(n))
    for v in (f, sh, nn):
        assert np.allclose(np.linalg.norm(v, axis=1), 1.0, atol=1e-12)
    assert np.abs(np.einsum("ij,ij->i", f, sh)).max() < 1e-12
    assert np.abs(np.einsum("ij,ij->i", f, nn)).max() < 1e-12
    assert np.abs(np.einsum("ij,ij->i", sh, nn)).max() < 1e-12


def test_helix_angle_endo_to_epi(shell):
    """Helix angle +60 deg at the endocardium and -60 deg at the epicardium, within 3 deg,
    measured in the shell's analytic circumferential/longitudinal frame; linear in between
    within 5 deg; the sheet is the wall normal within 3 deg (away from the apical hole)."""
    s = shell
    n = s.points.shape[0]
    f, sh, _ = compute_fibres(s.points, s.tets, s.tm, s.ab, np.full(n, 0.3), np.zeros(n))
    e_c, e_l = _shell_frame(s)
    ha = helix_angle(f, e_c, e_l)
    away = s.ab > 0.1
    endo, epi = np.isclose(s.tm, 1.0) & away, np.isclose(s.tm, 0.0) & away
    assert np.abs(ha[endo] - 60.0).max() < 3.0
    assert np.abs(ha[epi] + 60.0).max() < 3.0
    assert np.abs(ha[away] - (-60.0 + 120.0 * s.tm[away])).max() < 5.0
    cos_sheet = np.abs(np.einsum("ij,ij->i", sh, s.sheets))[away]
    assert np.degrees(np.arccos(np.clip(cos_sheet, 0, 1))).max() < 3.0


def test_helix_parameters(shell):
    s = shell
    n = s.points.shape[0]
    f, _, _ = compute_fibres(s.points, s.tets, s.tm, s.ab, np.full(n, 0.3), np.zeros(n), helix_endo=70.0,
                             helix_epi=-50.0)
    e_c, e_l = _shell_frame(s)
    ha = helix_angle(f, e_c, e_l)
    away = s.ab > 0.1
    assert np.median(ha[np.isclose(s.tm, 1.0) & away]) == pytest.approx(70.0, abs=2.0)
    assert np.median(ha[np.isclose(s.tm, 0.0) & away]) == pytest.approx(-50.0, abs=2.0)


def test_septal_rule(shell):
    """In the septum (rt in (2/3, 1)) the helix angle is helix_endo * tm: 0 at the mid-septum."""
    s = shell
    n = s.points.shape[0]
    f, _, _ = compute_fibres(s.points, s.tets, s.tm, s.ab, np.full(n, 0.83), np.zeros(n))
    e_c, e_l = _shell_frame(s)
    ha = helix_angle(f, e_c, e_l)
    away = s.ab > 0.1
    assert np.abs(ha[away] - 60.0 * s.tm[away]).max() < 5.0


@pytest.mark.slow
def test_subject_fibres_in_lv_free_wall():
    """On a generated biventricle: LV free-wall helix angles measured in a frame built from the
    geometry alone (wall normal from the nearest boundary faces, longitudinal from the long axis)."""
    pytest.importorskip("cardiac_geometries_core")
    from scipy.spatial import cKDTree

    from mitwin.anatomy.cohort import make_subject

    h = make_subject(1, 0, 4.0)
    assert np.allclose(np.linalg.norm(h.fibres, axis=1), 1.0)
    assert np.abs(np.einsum("ij,ij->i", h.fibres, h.sheets)).max() < 1e-9
    apex = h.points[h.meta["apex"]]
    axis = h.points[h.surfaces["base"]].mean(axis=0) - apex
    axis /= np.linalg.norm(axis)
    rv_c = h.points[h.surfaces["rv_endo"]].mean(axis=0)
    results = {}
    for key, sign in (("lv_endo", -1.0), ("epi", 1.0)):
        faces = h.surface_faces(key)
        tri = h.points[faces]
        nrm = np.cross(tri[:, 1] - tri[:, 0], tri[:, 2] - tri[:, 0])
        nrm /= np.linalg.norm(nrm, axis=1, keepdims=True)
        tree = cKDTree(tri.mean(axis=1))
        nodes = h.surfaces[key]
        far_from_rv = np.linalg.norm(h.points[nodes] - rv_c, axis=1) > np.quantile(
            np.linalg.norm(h.points[nodes] - rv_c, axis=1), 0.6)
        mid = (h.ab[nodes] > 0.3) & (h.ab[nodes] < 0.8) & far_from_rv & (h.tv[nodes] == 0)
        nodes = nodes[mid]
        # outward (epicardial-pointing) wall normal: boundary faces point out of the myocardium
        e_n = sign * nrm[tree.query(h.points[nodes])[1]]
        e_l = axis - (e_n @ axis)[:, None] * e_n
        e_l /= np.linalg.norm(e_l, axis=1, keepdims=True)
        e_c = np.cross(e_l, e_n)
        results[key] = np.median(helix_angle(h.fibres[nodes], e_c, e_l))
    # tolerance 10 deg: a coarse mesh (4 mm) and node-averaged gradients
    assert results["lv_endo"] == pytest.approx(60.0, abs=10.0)
    assert results["epi"] == pytest.approx(-60.0, abs=10.0)


@pytest.mark.slow
def test_subject_fibres_in_septum_and_rv():
    """Septum, in one frame (normal along the LV -> RV direction, longitudinal along the long
    axis): about +60 deg on its LV side, about 0 in the middle, about -60 deg on its RV side
    (LDRB's septal rule); RV free wall: +60 endo to -60 epi in its own wall frame. Tolerance
    15 deg on the medians (coarse mesh, idealised geometry)."""
    pytest.importorskip("cardiac_geometries_core")
    from mitwin.anatomy.cohort import make_subject

    h = make_subject(1, 0, 4.0)
    apex = h.points[h.meta["apex"]]
    axis = h.points[h.surfaces["base"]].mean(axis=0) - apex
    axis /= np.linalg.norm(axis)
    sdir = h.points[h.tv == 1].mean(axis=0) - h.points[h.tv == 0].mean(axis=0)
    sdir -= (sdir @ axis) * axis
    sdir /= np.linalg.norm(sdir)
    e_c = np.tile(np.cross(axis, sdir), (h.n_nodes, 1))
    e_l = np.tile(axis, (h.n_nodes, 1))
    ha = helix_angle(h.fibres, e_c, e_l)
    mid = (h.ab > 0.3) & (h.ab < 0.8) & (h.rt > 0.75) & (h.rt < 0.92)
    lv_side = np.zeros(h.n_nodes, bool)
    lv_side[h.surfaces["lv_endo"]] = True
    rv_side = np.zeros(h.n_nodes, bool)
    rv_side[h.surfaces["rv_endo"]] = True
    assert np.median(ha[mid & lv_side]) == pytest.approx(60.0, abs=15.0)
    assert np.median(ha[mid & rv_side]) == pytest.approx(-60.0, abs=15.0)
    assert abs(np.median(ha[mid & (h.tm < 0.15)])) < 15.0

    # RV free wall, wall frame from the geometry: radial from the LV axis through the node
    fw = (h.tv == 1) & (h.rt > 0.2) & (h.rt < 0.45) & (h.ab > 0.3) & (h.ab < 0.8)
    q = h.points - apex
    radial = q - (q @ axis)[:, None] * axis
    radial /= np.maximum(np.linalg.norm(radial, axis=1, keepdims=True), 1e-12)
    e_c2 = np.cross(axis, radial)
    ha2 = helix_angle(h.fibres, e_c2, np.tile(axis, (h.n_nodes, 1)))
    epi = np.zeros(h.n_nodes, bool)
    epi[h.surfaces["epi"]] = True
    assert np.median(ha2[fw & rv_side]) == pytest.approx(60.0, abs=15.0)
    assert np.median(ha2[fw & epi]) == pytest.approx(-60.0, abs=15.0)
