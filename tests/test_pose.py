"""Units and pose of user meshes, and swapped LV/RV labels, on a coarse virtual-cohort subject.

The subject is built in a known mesh frame (long axis +z, RV on +x; cohort.py) and posed by a
known rotation, so every re-posed heart can be checked against that construction.
"""

from __future__ import annotations

import warnings

import numpy as np
import pytest

from mitwin.anatomy.heart import Heart
from mitwin.anatomy.pose import LONG_AXIS_TOLERANCE_DEG, STANDARD_ROTATION, anatomical_frame, pose_heart, unit_scale
from mitwin.errors import MeshError


@pytest.fixture(scope="module")
def subject() -> Heart:
    pytest.importorskip("cardiac_geometries_core")
    from mitwin.anatomy.cohort import make_subject

    return make_subject(2, 0, 5.0)


def _rotation(seed: int) -> np.ndarray:
    from scipy.spatial.transform import Rotation

    return Rotation.random(random_state=seed).as_matrix()


def _relative(heart: Heart, name: str) -> tuple[float, float]:
    """Electrode position relative to the LV cavity centre, mm: (towards the RV, anterior).

    Anterior is s x l (s: LV -> RV, l: base -> apex), the side of the anterior RV junction in any
    right-handed frame; both directions come from the labelled cavities, not from the frame.
    """
    lv = heart.points[heart.surfaces["lv_endo"]].mean(axis=0)
    rv = heart.points[heart.surfaces["rv_endo"]].mean(axis=0)
    s = (rv - lv) / np.linalg.norm(rv - lv)
    ldir = heart.points[heart.meta["apex"]] - heart.points[heart.surfaces["base"]].mean(axis=0)
    a = np.cross(s, ldir / np.linalg.norm(ldir))
    a /= np.linalg.norm(a)
    d = heart.electrodes[name] - lv
    return float(d @ s), float(d @ a)


def _assert_electrodes_where_they_belong(heart: Heart) -> None:
    for name in ("V1", "V2"):
        right, anterior = _relative(heart, name)
        assert right > 20.0 and anterior > 0.0, (name, right, anterior)  # anterior-right of the septum
    right, _ = _relative(heart, "V6")
    assert right < -50.0  # lateral to the LV, away from the RV


def _no_warnings(fn, *args, **kwargs):
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        return fn(*args, **kwargs)


def test_anatomical_frame_of_the_idealised_mesh(subject):
    """In the cohort's mesh frame the LV long axis is +z and the RV lies on +x, by construction."""
    rot = np.array(subject.meta["rotation"])
    mesh_frame = subject.points @ rot  # body = mesh @ rot.T
    f = anatomical_frame(mesh_frame, subject.surfaces)
    assert f.long_axis @ [0.0, 0.0, 1.0] > np.cos(np.radians(3.0))
    assert f.septal @ [1.0, 0.0, 0.0] > np.cos(np.radians(5.0))
    assert f.apex == subject.meta["apex"]
    # posed by the cohort: within the tolerance, so "auto" keeps it
    long_deg, sep_deg = anatomical_frame(subject.points, subject.surfaces).deviation_deg()
    assert long_deg < 15.0 and sep_deg < 15.0


def test_mesh_that_already_worked_is_unchanged(subject):
    from mitwin.anatomy.electrodes import Torso

    torso = Torso(a=subject.meta["torso"]["a"], b=subject.meta["torso"]["b"])
    g = _no_warnings(Heart.from_labelled_mesh, subject.points, subject.tets, subject.surfaces, torso=torso)
    assert np.array_equal(g.points, subject.points)
    for k in ("tm", "ab", "rt", "tv", "fibres"):
        assert np.array_equal(getattr(g, k), getattr(subject, k)), k
    assert all(np.array_equal(g.electrodes[k], subject.electrodes[k]) for k in subject.electrodes)
    assert "pose" not in g.meta
    _assert_electrodes_where_they_belong(g)


def test_canonical_frame_is_reposed_with_a_warning(subject):
    rot = np.array(subject.meta["rotation"])
    canonical = subject.points @ rot  # long axis +z, as many pipelines write it
    with pytest.warns(UserWarning, match="does not lie like a heart"):
        g = Heart.from_labelled_mesh(canonical, subject.tets, subject.surfaces)
    assert g.meta["pose"]["moved"] and g.meta["pose"]["long_axis_deg"] > LONG_AXIS_TOLERANCE_DEG
    _assert_electrodes_where_they_belong(g)
    # a rigid motion: coordinates as on the original, edge lengths kept
    for k in ("tm", "ab", "rt"):
        assert np.abs(getattr(g, k) - getattr(subject, k)).max() < 1e-6, k
    assert np.array_equal(g.tv, subject.tv)
    e = subject.tets[:, :2]
    assert np.allclose(np.linalg.norm(np.diff(g.points[e], axis=1), axis=2),
                       np.linalg.norm(np.diff(subject.points[e], axis=1), axis=2), atol=1e-9)
    # the standard pose: long axis along the standard one
    f = anatomical_frame(g.points, g.surfaces)
    assert f.long_axis @ (STANDARD_ROTATION @ [0.0, 0.0, 1.0]) > 1 - 1e-9
    # as_is keeps the canonical frame: V1 lands on the LV side, the error the pose rule prevents
    h = _no_warnings(Heart.from_labelled_mesh, canonical, subject.tets, subject.surfaces, pose="as_is")
    assert np.array_equal(h.points, canonical)
    assert _relative(h, "V1")[0] < 0.0


@pytest.mark.parametrize("seed", [0, 1, 2, 3, 4])
def test_random_rigid_poses_end_in_the_same_standard_pose(subject, seed):
    rot = _rotation(seed)
    moved = subject.points @ rot.T + np.array([120.0, -40.0, 300.0]) * (seed - 2)
    with warnings.catch_warnings(record=True):
        warnings.simplefilter("always")
        g = Heart.from_labelled_mesh(moved, subject.tets, subject.surfaces)
    ref = _no_warnings(Heart.from_labelled_mesh, moved, subject.tets, subject.surfaces, pose="standard")
    assert np.abs(g.points - ref.points).max() < 1e-9  # auto re-posed (no random pose here fits)
    canonical = _no_warnings(Heart.from_labelled_mesh, subject.points, subject.tets, subject.surfaces,
                             pose="standard")
    assert np.abs(ref.points - canonical.points).max() < 1e-9  # independent of the pose it came in
    _assert_electrodes_where_they_belong(g)
    assert np.abs(g.rt - subject.rt).max() < 1e-6 and np.abs(g.tm - subject.tm).max() < 1e-6


def test_auto_keeps_every_physiological_pose_and_no_other():
    """The tolerances of pose="auto" hold every orientation of POSE_RANGES (grid of its corners and centre)
    and nothing 35 deg or more off the standard long axis (analytic frames: long axis +z, RV on +x)."""
    import itertools

    from mitwin.anatomy.cohort import POSE_RANGES
    from mitwin.anatomy.electrodes import pose_rotation
    from mitwin.anatomy.pose import SEPTAL_TOLERANCE_DEG, AnatomicalFrame

    u_std, s_std = STANDARD_ROTATION[:, 2], STANDARD_ROTATION[:, 0]

    def deviation(rot):
        long_axis, septal = rot[:, 2], rot[:, 0]
        s = s_std - (s_std @ long_axis) * long_axis
        return (np.degrees(np.arccos(np.clip(long_axis @ u_std, -1, 1))),
                np.degrees(np.arccos(np.clip(septal @ s / np.linalg.norm(s), -1, 1))))

    grids = [np.linspace(*POSE_RANGES[k], 5) for k in ("azimuth_deg", "elevation_deg", "roll_deg")]
    worst = np.zeros(2)
    for az, el, ro in itertools.product(*grids):
        rot = pose_rotation(az, el, ro)
        frame = AnatomicalFrame(np.zeros(3), rot[:, 2], rot[:, 0], 0)
        got = frame.deviation_deg()
        np.testing.assert_allclose(got, deviation(rot), atol=1e-6)
        worst = np.maximum(worst, got)
    assert worst[0] <= LONG_AXIS_TOLERANCE_DEG - 3 and worst[1] <= SEPTAL_TOLERANCE_DEG - 3
    for az in (45.0 + 35.0, 45.0 - 35.0):
        far = pose_rotation(az, 25.0, 0.0)
        assert AnatomicalFrame(np.zeros(3), far[:, 2], far[:, 0], 0).deviation_deg()[0] \
            > LONG_AXIS_TOLERANCE_DEG


def test_user_electrodes_win_and_move_with_the_mesh(subject):
    rot = _rotation(7)
    moved = subject.points @ rot.T
    mine = {k: v @ rot.T for k, v in subject.electrodes.items()}  # the same electrodes, in the moved frame
    g = _no_warnings(Heart.from_labelled_mesh, moved, subject.tets, subject.surfaces, electrodes=mine)
    assert np.array_equal(g.points, moved)  # auto with electrodes: kept as it is
    assert all(np.array_equal(g.electrodes[k], mine[k]) for k in mine)
    s = _no_warnings(Heart.from_labelled_mesh, moved, subject.tets, subject.surfaces, electrodes=mine,
                     pose="standard")
    # moved together: every electrode keeps its distance to every node
    for k in mine:
        assert np.allclose(np.linalg.norm(s.points - s.electrodes[k], axis=1),
                           np.linalg.norm(moved - mine[k], axis=1), atol=1e-9)
    _assert_electrodes_where_they_belong(s)


def test_heart_in_cm_is_converted_with_a_warning(subject):
    cm = subject.points / 10.0
    with pytest.warns(UserWarning, match="suggests cm"):
        g = Heart.from_labelled_mesh(cm, subject.tets, subject.surfaces)
    assert np.allclose(g.points, subject.points, atol=1e-9)
    assert np.abs(g.ab - subject.ab).max() < 1e-6
    g = _no_warnings(Heart.from_labelled_mesh, cm, subject.tets, subject.surfaces, units="cm")
    assert np.allclose(g.points, subject.points, atol=1e-9)
    span = np.ptp(g.points, axis=0).max()
    assert 80.0 < span < 200.0  # an adult heart, not an 11 mm one


def test_load_shares_the_units_and_pose_rules(subject, tmp_path):
    rot = np.array(subject.meta["rotation"])
    canonical_cm = Heart(**{**subject.__dict__, "points": subject.points @ rot / 10.0, "electrodes": {},
                            "fibres": subject.fibres @ rot, "sheets": subject.sheets @ rot,
                            "normals": subject.normals @ rot, "meta": {"apex": subject.meta["apex"]}})
    path = canonical_cm.save(tmp_path / "canonical_cm.vtu")
    with pytest.warns(UserWarning) as record:
        g = Heart.load(path)
    messages = " | ".join(str(w.message) for w in record)
    assert "suggests cm" in messages and "does not lie like a heart" in messages
    assert np.array_equal(g.tm, subject.tm)  # coordinates from the file, kept
    assert np.abs(np.linalg.norm(g.points - g.points[0], axis=1)
                  - np.linalg.norm(subject.points - subject.points[0], axis=1)).max() < 1e-9
    # fibres moved with the mesh: their angle to every edge of the mesh is kept
    assert np.abs(g.fibres @ (g.points[1] - g.points[0])
                  - subject.fibres @ (subject.points[1] - subject.points[0])).max() < 1e-9
    _assert_electrodes_where_they_belong(g)
    kept = _no_warnings(Heart.load, path, units="cm", pose="as_is")
    assert np.allclose(kept.points, subject.points @ rot, atol=1e-9)


def test_ventricle_shapes_match_the_cohort_construction(subject):
    """The wall thickness the label check measures is the one the cohort subject was built with."""
    from mitwin.anatomy.mesh_io import boundary_faces
    from mitwin.anatomy.pose import check_ventricle_labels

    p = subject.meta["parameters"]
    lv, rv = check_ventricle_labels(subject.points, subject.surfaces, boundary_faces(subject.tets))
    assert abs(lv.wall_mm - p["lv_wall"]) < 1.5 and abs(rv.wall_mm - p["rv_wall"]) < 1.5
    assert lv.convexity > 0.95 > 0.85 > rv.convexity  # a truncated ellipsoid is convex; the RV a crescent


def test_swapped_lv_rv_labels_are_a_named_error(subject):
    swapped = {**subject.surfaces, "lv_endo": subject.surfaces["rv_endo"], "rv_endo": subject.surfaces["lv_endo"]}
    with pytest.raises(MeshError, match="lv_endo and rv_endo are swapped"):
        Heart.from_labelled_mesh(subject.points, subject.tets, swapped)
    with pytest.raises(MeshError, match="swapped"):  # whatever the pose
        Heart.from_labelled_mesh(subject.points @ _rotation(3).T, subject.tets, swapped, pose="as_is")


def test_bad_units_and_pose_arguments(subject):
    with pytest.raises(ValueError, match="units: expected 'mm', 'cm' or None"):
        Heart.from_labelled_mesh(subject.points, subject.tets, subject.surfaces, units="inch")
    with pytest.raises(ValueError, match="pose: expected one of"):
        Heart.from_labelled_mesh(subject.points, subject.tets, subject.surfaces, pose="lps")
    with pytest.raises(ValueError, match="pose"):
        pose_heart(subject.points, subject.surfaces, "upright")
    assert unit_scale(subject.points, None) == 1.0 and unit_scale(subject.points, "cm") == 10.0
