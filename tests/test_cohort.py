"""Virtual cohort: determinism, caching, physiological volumes, AHA segments on every subject."""

from __future__ import annotations

import json

import numpy as np
import pytest

from mitwin._validate import tet_signed_volumes
from mitwin.anatomy import biventricle, cohort, measures
from mitwin.anatomy.heart import Heart
from mitwin.errors import DatasetError, MeshError

RES = 5.0  # coarse: ~3k nodes, a few seconds per subject


def test_parameters_are_deterministic_and_independent_of_n():
    a = cohort.sample_parameters(0, 3)
    assert a == cohort.sample_parameters(0, 3)
    assert a != cohort.sample_parameters(1, 3)
    assert a != cohort.sample_parameters(0, 4)
    for k, (lo, hi) in cohort._RANGES.items():
        vals = [cohort.sample_parameters(0, i)[k] for i in range(50)]
        assert lo <= min(vals) and max(vals) <= hi


def test_analytic_lv_volume_band():
    """LV end-diastolic cavity volume of the drawn shapes within 90-200 mL (normal adults by
    CMR, Kawel-Boehm et al. 2020), checked on 500 draws; the formula against quadrature."""
    vols = np.array([biventricle.analytic_lv_cavity_ml(cohort.sample_parameters(7, i)) for i in range(500)])
    assert vols.min() > 90.0 and vols.max() < 200.0
    p = cohort.sample_parameters(7, 0)
    a, b, c, h = p["lv_endo_rx"], p["lv_endo_rx"] * p["lv_endo_y_ratio"], p["lv_endo_rz"], p["base_cut_z"]
    z = np.linspace(-c, h, 200001)
    area = np.pi * a * b * (1 - (z / c) ** 2)
    quad = float(np.sum(0.5 * (area[1:] + area[:-1]) * np.diff(z))) / 1000.0
    assert biventricle.analytic_lv_cavity_ml(p) == pytest.approx(quad, rel=1e-8)


def test_bad_arguments(tmp_path):
    with pytest.raises(ValueError, match="n"):
        cohort.make_cohort(0, out=tmp_path)
    with pytest.raises(ValueError, match="seed"):
        cohort.make_cohort(1, seed=-1, out=tmp_path)
    with pytest.raises(ValueError, match="resolution_mm"):
        cohort.make_cohort(1, out=tmp_path, resolution_mm=0.0)
    with pytest.raises(FileNotFoundError):
        cohort.load_cohort(tmp_path)
    (tmp_path / "manifest.json").write_text("{not json")
    with pytest.raises(DatasetError, match="manifest.json"):
        cohort.make_cohort(1, out=tmp_path)


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    pytest.importorskip("cardiac_geometries_core")
    out = tmp_path_factory.mktemp("cohort")
    paths = cohort.make_cohort(2, seed=0, out=out, resolution_mm=RES)
    return out, paths


@pytest.mark.slow
def test_cohort_files_and_manifest(built):
    out, paths = built
    assert [p.name for p in paths] == ["subject_000.vtu", "subject_001.vtu"]
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["format"] == "mitwin-cohort" and manifest["seed"] == 0
    assert [e["id"] for e in manifest["subjects"]] == ["subject_000", "subject_001"]
    assert cohort.load_cohort(out) == paths
    for e, p in zip(manifest["subjects"], paths):
        h = Heart.load(p)
        assert h.n_nodes == e["n_nodes"] and e["parameters"] == cohort.sample_parameters(0, e["index"])
        assert h.meta["parameters"] == e["parameters"]
    assert not [p for p in out.iterdir() if p.name.startswith(".")]  # no temporary files left


@pytest.mark.slow
def test_cohort_is_reused_and_grows(built, monkeypatch):
    out, paths = built
    mtimes = [p.stat().st_mtime_ns for p in paths]
    calls = []
    real = cohort.make_subject

    def counting(seed, index, resolution_mm=None, variety="standard"):
        calls.append(index)
        return real(seed, index, resolution_mm, variety)

    monkeypatch.setattr(cohort, "make_subject", counting)
    again = cohort.make_cohort(2, seed=0, out=out, resolution_mm=RES)
    assert again == paths and calls == []
    assert [p.stat().st_mtime_ns for p in paths] == mtimes
    grown = cohort.make_cohort(3, seed=0, out=out, resolution_mm=RES)
    assert calls == [2] and grown[:2] == paths and len(cohort.load_cohort(out)) == 3


@pytest.mark.slow
def test_same_seed_same_mesh_different_seed_different_shape(built):
    _, paths = built
    stored = Heart.load(paths[1])
    fresh = cohort.make_subject(0, 1, RES)
    assert np.array_equal(stored.points, fresh.points) and np.array_equal(stored.tets, fresh.tets)
    assert np.array_equal(stored.tm, fresh.tm) and np.array_equal(stored.rt, fresh.rt)
    other = cohort.make_subject(1, 1, RES)
    assert other.meta["parameters"] != fresh.meta["parameters"]
    assert other.points.shape != fresh.points.shape or not np.allclose(other.points, fresh.points)


def _lumped_volumes(h: Heart) -> np.ndarray:
    v = np.abs(tet_signed_volumes(h.points, h.tets)) / 4.0
    out = np.zeros(h.n_nodes)
    for i in range(4):
        np.add.at(out, h.tets[:, i], v)
    return out


@pytest.mark.slow
def test_volumes_aha_and_pose_on_every_subject(built):
    """Per subject: LV cavity 90-200 mL and within 3 % of the analytic truncated ellipsoid;
    all 17 AHA segments non-empty; ring shares of the LV-region volume in the bands basal
    0.30-0.50, mid 0.28-0.45, apical 0.15-0.32, apex cap < 0.04 (rings of equal ab-length on a
    truncated ellipsoid: the basal ring is the widest); AHA anterior segments lie anterior and
    superior to the inferior ones, lateral ones to the left of the septal ones (LPS frame)."""
    _, paths = built
    for p in paths:
        h = Heart.load(p)
        lv_ml = measures.cavity_volume_ml(h, "lv")
        assert 90.0 < lv_ml < 200.0
        assert lv_ml == pytest.approx(h.meta["lv_cavity_ml_analytic"], rel=0.03)
        rv_ml = measures.cavity_volume_ml(h, "rv")
        assert 40.0 < rv_ml < 250.0
        assert biventricle.cavity_volumes_ml(h.meta["parameters"]) == pytest.approx((lv_ml, rv_ml), rel=0.05)
        counts = np.bincount(h.aha, minlength=18)
        assert np.all(counts[1:] > 0), counts
        nv = _lumped_volumes(h)
        tot = nv[h.aha > 0].sum()

        def share(segs, nv=nv, h=h, tot=tot):
            return nv[np.isin(h.aha, segs)].sum() / tot

        assert 0.30 < share(range(1, 7)) < 0.50
        assert 0.28 < share(range(7, 13)) < 0.45
        assert 0.15 < share(range(13, 17)) < 0.32
        assert share([17]) < 0.04
        x, y, z = h.points.T
        ant, inf = np.isin(h.aha, [1, 7, 13]), np.isin(h.aha, [4, 10, 15])
        lat, sep = np.isin(h.aha, [5, 6, 11, 12, 16]), np.isin(h.aha, [2, 3, 8, 9, 14])
        assert y[ant].mean() < y[inf].mean() - 5.0  # anterior = -y
        assert z[ant].mean() > z[inf].mean() + 20.0
        assert x[lat].mean() > x[sep].mean() + 20.0  # lateral = patient left = +x
        # the precordial electrodes lie in front of the heart
        for k in ("V1", "V2", "V3", "V4"):
            assert h.electrodes[k][1] < y.min()


@pytest.mark.slow
def test_wall_masses_against_the_ellipsoids(built):
    """The three wall masses add up to the myocardium x 1.05 g/mL, and the RV free wall (by Cobiveco coordinates)
    lies within 10 % of the RV shell counted independently on a 0.5 mm grid from the subject's ellipsoids (inside
    the RV epicardium, outside its endocardium and the LV epicardium, below the base); the manifest records them."""
    out, paths = built
    manifest = json.loads((out / "manifest.json").read_text())
    for path, entry in zip(paths, manifest["subjects"]):
        h = Heart.load(path)
        m = measures.wall_masses_g(h)
        total = np.abs(tet_signed_volumes(h.points, h.tets)).sum() / 1000.0 * 1.05
        assert sum(m.values()) == pytest.approx(total, rel=1e-9)
        e = biventricle.ellipsoids(h.meta["parameters"])
        (o, r), step = e["rv_out"], 0.5
        hi = o + r
        hi[2] = h.meta["parameters"]["base_cut_z"]
        x, y, z = np.meshgrid(*(np.arange(o[k] - r[k] + step / 2, hi[k], step) for k in range(3)), indexing="ij")

        def inside(key):
            c, radii = e[key]
            return ((x - c[0]) / radii[0]) ** 2 + ((y - c[1]) / radii[1]) ** 2 + ((z - c[2]) / radii[2]) ** 2 < 1.0

        shell = inside("rv_out") & ~inside("rv_in") & ~inside("lv_out")
        assert m["rv_free_wall"] == pytest.approx(shell.sum() * step**3 / 1000.0 * 1.05, rel=0.10)
        assert entry["wall_masses_g"] == pytest.approx(m, abs=0.01)


@pytest.mark.slow
def test_cli_cohort(built, capsys):
    from mitwin.cli import main

    out, _ = built
    assert main(["cohort", "--n", "2", "--seed", "0", "--out", str(out), "--resolution", str(RES)]) == 0
    assert "2 subjects" in capsys.readouterr().out


def test_wide_variety():
    """The wide variety draws the same random numbers over wider RV ranges: same LV, pose and torso; RV
    parameters spread over WIDE_RANGES; the RV epicardium meets the LV at the drawn angle (finite geometry)."""
    for i in range(50):
        a, b = cohort.sample_parameters(0, i), cohort.sample_parameters(0, i, "wide")
        for k, (lo, hi) in cohort.WIDE_RANGES.items():
            assert lo <= b[k] <= hi
            if cohort._RANGES[k] == (lo, hi):
                assert a[k] == b[k]
        e = biventricle.ellipsoids(b)
        assert all(np.all(np.isfinite(np.concatenate(v))) for v in e.values())
    widths = [cohort.sample_parameters(0, i, "wide")["rv_cavity_width"] for i in range(200)]
    assert min(widths) < 24.0 and max(widths) > 36.0  # beyond the standard range on both sides
    with pytest.raises(ValueError, match="variety"):
        cohort.sample_parameters(0, 0, "huge")


def test_shaped_variety_tilts_the_base_and_moves_the_septum():
    """The shaped variety: draws within its ranges with a normal RV/LV cavity volume ratio (the first draw, as in the
    wide variety, unless that ratio sends it back) plus three shape parameters; on a coarse mesh the basal nodes lie on
    a plane turned by the drawn tilt (least-squares normal against the LV axis), the mid-septum moves by the
    drawn bulge, the RV free wall and the apex stay, no tetrahedron is inverted; the subject is then a Heart."""
    redrawn = 0
    for i in range(20):
        a, b = cohort.sample_parameters(0, i, "wide"), cohort.sample_parameters(0, i, "shaped")
        redrawn += not all(a[k] == b[k] for k in a if cohort.WIDE_RANGES[k] == cohort.SHAPED_RANGES[k])
        assert all(lo <= b[k] <= hi for k, (lo, hi) in cohort.SHAPED_RANGES.items())
        assert b["rv_wall"] <= 5.0 and 25.0 <= b["rv_cavity_width"] <= 41.0  # normal adult limits
        lv, rv = biventricle.cavity_volumes_ml(b)
        assert 0.91 <= rv / lv <= 1.27  # normal RV/LV volume ratio (CMR)
    assert 0 < redrawn < 10  # the ratio rejects some first draws, not most
    p = dict(cohort.sample_parameters(0, 3, "shaped"), base_tilt_deg=12.0, base_tilt_dir_deg=30.0,
             septal_bulge_mm=3.0)
    points, tets, _ = biventricle.mesh_biventricle(p, 5.0)
    surfaces = biventricle.label_surfaces(points, tets, p)
    shaped = biventricle.shape_mesh(points, tets, p)
    base = np.unique(surfaces["base"])
    q = shaped[base] - shaped[base].mean(axis=0)
    normal = np.linalg.svd(q)[2][-1]
    assert np.degrees(np.arccos(abs(normal[2]))) == pytest.approx(12.0, abs=0.5)
    assert np.degrees(np.arctan2(normal[1], normal[0])) % 180 == pytest.approx(30.0, abs=2.0)
    move = np.linalg.norm(shaped - points, axis=1)
    apex = np.argmin(points[:, 2])
    assert move[apex] < 1e-9
    e = biventricle.ellipsoids(p)
    lv_in, lv_out = e["lv_in"][1], e["lv_out"][1]
    x_mid = 0.5 * (lv_in[0] + lv_out[0])
    mid = np.argmin(np.linalg.norm(points - [x_mid, 0.0, p["base_cut_z"]], axis=1))
    assert 2.0 < shaped[mid, 0] - points[mid, 0] <= 3.0  # near the septum's basal centre
    rv_free = np.unique(surfaces["epi"])[points[np.unique(surfaces["epi"]), 0] > lv_out[0] + 20.0]
    assert np.abs(shaped[rv_free, 0] - points[rv_free, 0]).max() < 0.05
    assert np.all(tet_signed_volumes(shaped, tets) * tet_signed_volumes(points, tets) > 0)
    assert np.array_equal(biventricle.shape_mesh(points, tets, cohort.sample_parameters(0, 3)), points)
    heart = cohort.make_subject(0, 3, 5.0, "shaped")
    assert heart.meta["variety"] == "shaped" and np.all(np.isfinite(heart.ab))
    with pytest.raises(MeshError, match="invert"):
        biventricle.shape_mesh(points, tets, dict(p, septal_bulge_mm=40.0))


def test_random_poses_in_range_and_deterministic():
    poses = cohort.random_poses(50, seed=3)
    assert poses == cohort.random_poses(50, seed=3) and poses != cohort.random_poses(50, seed=4)
    for k, key in enumerate(("azimuth_deg", "elevation_deg", "roll_deg")):
        lo, hi = cohort.POSE_RANGES[key]
        assert all(lo <= p[k] <= hi for p in poses)
    with pytest.raises(ValueError, match="n"):
        cohort.random_poses(-1)


@pytest.mark.slow
def test_repose(built):
    """The subject's own angles give back its points and electrodes (placed by make_subject); another pose
    is a rigid motion: distances, coordinates and fibre angles to the edges kept; the apex points down."""
    _, paths = built
    h = Heart.load(paths[0])
    p = h.meta["parameters"]
    same = cohort.repose(h, p["azimuth_deg"], p["elevation_deg"], p["roll_deg"])
    np.testing.assert_allclose(same.points, h.points, atol=1e-9)
    for k in h.electrodes:
        np.testing.assert_allclose(same.electrodes[k], h.electrodes[k], atol=1e-9)
    other = cohort.repose(h, 60.0, 40.0, 20.0)
    i, j = h.tets[:, 0], h.tets[:, 1]
    np.testing.assert_allclose(np.linalg.norm(other.points[i] - other.points[j], axis=1),
                               np.linalg.norm(h.points[i] - h.points[j], axis=1), rtol=1e-12)
    edge_old, edge_new = h.points[j] - h.points[i], other.points[j] - other.points[i]
    np.testing.assert_allclose(np.einsum("ij,ij->i", h.fibres[i], edge_old),
                               np.einsum("ij,ij->i", other.fibres[i], edge_new), atol=1e-9)
    assert np.array_equal(other.ab, h.ab) and other.meta["pose_deg"]["elevation"] == 40.0
    apex, base = other.points[h.ab < 0.05].mean(axis=0), other.points[h.ab > 0.95].mean(axis=0)
    axis = (apex - base) / np.linalg.norm(apex - base)
    assert np.degrees(np.arcsin(-axis[2])) == pytest.approx(40.0, abs=8.0)  # the long axis dips 40 deg
    with pytest.raises(ValueError, match="cohort"):
        cohort.repose(Heart.load(paths[0]).__class__(**{**h.__dict__, "meta": {}}), 45.0, 25.0, 0.0)
    with pytest.raises(ValueError, match="finite"):
        cohort.repose(h, float("nan"), 25.0, 0.0)
