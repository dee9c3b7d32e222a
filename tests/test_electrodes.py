"""Heart pose and 12-lead electrode positions on an elliptic torso (LPS frame: x left, y posterior, z superior)."""

from __future__ import annotations

import numpy as np
import pytest

from mitwin.anatomy.electrodes import (
    ELECTRODE_NAMES,
    Torso,
    check_electrodes,
    place_torso,
    pose_rotation,
    standard_electrodes,
)
from mitwin.anatomy.synthetic import shell_mesh


@pytest.mark.parametrize("az, el, roll", [(45, 25, 0), (55, 35, -10), (40, 20, 10)])
def test_pose_is_a_rotation_with_the_human_axis(az, el, roll):
    R = pose_rotation(az, el, roll)
    assert np.allclose(R.T @ R, np.eye(3), atol=1e-12) and np.linalg.det(R) == pytest.approx(1.0)
    apex_dir = R @ [0.0, 0.0, -1.0]  # base -> apex in the mesh frame
    assert apex_dir[0] > 0 and apex_dir[1] < 0 and apex_dir[2] < 0  # left, anterior, inferior
    assert np.degrees(np.arctan2(apex_dir[0], -apex_dir[1])) == pytest.approx(az)  # from the sagittal plane
    assert np.degrees(np.arcsin(-apex_dir[2])) == pytest.approx(el)  # below the horizontal
    septal = R @ [1.0, 0.0, 0.0]
    if roll == 0:
        assert septal[0] < 0 and septal[1] < 0  # RV to the right and anterior
    # the anterior RV junction (on the side of septal x apex_dir) is superior
    assert np.cross(septal, apex_dir)[2] > 0


@pytest.fixture(scope="module")
def posed():
    s = shell_mesh(24, 16, 4)
    R = pose_rotation(45.0, 25.0, 0.0)
    points = s.points @ R.T
    points -= points.mean(axis=0)
    apex = points[np.argmin(s.points[:, 2])]
    torso = place_torso(points, Torso(a=165.0, b=110.0))
    return points, apex, torso, standard_electrodes(points, apex, torso)


def test_torso_encloses_the_heart_with_a_chest_gap(posed):
    points, _, torso, _ = posed
    assert torso.inside(points).all()
    # the anterior surface is >= 20 mm in front of every point, and exactly 20 mm for one
    gap = points[:, 1] - torso.anterior_y(points[:, 0])
    assert gap.min() == pytest.approx(20.0)
    assert torso.x0 < points[:, 0].mean()  # the heart lies left of the midline


def test_precordial_electrodes_on_the_chest_at_their_landmarks(posed):
    points, apex, torso, e = posed
    assert set(e) == set(ELECTRODE_NAMES)
    for k in ("V1", "V2", "V3", "V4", "V5", "V6"):
        x, y, _ = e[k]
        assert ((x - torso.x0) / torso.a) ** 2 + ((y - torso.y0) / torso.b) ** 2 == pytest.approx(1.0, abs=1e-12)
    xs = [e[f"V{i}"][0] for i in range(1, 7)]
    assert np.all(np.diff(xs) > 0)  # V1 (right sternal border) ... V6 (left mid-axillary)
    assert e["V1"][0] < torso.x0 < e["V2"][0]
    assert e["V1"][2] == e["V2"][2]  # 4th intercostal space
    assert e["V4"][2] == e["V5"][2] == e["V6"][2]  # 5th intercostal space
    assert e["V4"][2] < e["V3"][2] < e["V2"][2]
    assert e["V2"][2] - e["V4"][2] == pytest.approx(25.0)
    assert e["V6"][1] == pytest.approx(torso.y0) and e["V6"][0] == pytest.approx(torso.x0 + torso.a)
    for k in ("V1", "V2", "V3", "V4"):
        assert e[k][1] < points[:, 1].min()  # in front of the heart
    assert abs(e["V4"][2] - apex[2]) < 20.0  # near the apex beat


def test_limb_electrodes_far_away(posed):
    points, _, torso, e = posed
    c = points.mean(axis=0)
    for k in ("RA", "LA", "LL"):
        assert np.linalg.norm(e[k] - c) > 150.0
    assert e["RA"][0] < c[0] < e["LA"][0]
    assert e["RA"][2] > c[2] and e["LA"][2] > c[2] and e["LL"][2] < c[2] - 300.0
    assert e["LL"][0] > torso.x0  # left hip


def test_check_electrodes_errors():
    good = {k: np.zeros(3) for k in ELECTRODE_NAMES}
    assert set(check_electrodes(good)) == set(ELECTRODE_NAMES)
    with pytest.raises(ValueError, match="missing"):
        check_electrodes({"RA": np.zeros(3)})
    with pytest.raises(ValueError, match=r"electrodes\['V3'\]"):
        check_electrodes({**good, "V3": np.array([0.0, np.nan, 0.0])})
    with pytest.raises(ValueError, match="dict"):
        check_electrodes([1, 2, 3])
