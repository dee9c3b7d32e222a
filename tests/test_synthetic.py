import numpy as np
import pytest

from mitwin._validate import check_tets, tet_signed_volumes
from mitwin.anatomy.synthetic import box_mesh, shell_mesh
from mitwin.errors import MeshError


def test_box_volume_and_orientation():
    points, tets = box_mesh((3.0, 4.0, 5.0), 0.5, jitter=0.2, seed=3)
    vol = tet_signed_volumes(points, tets)
    assert np.all(vol > 0)
    assert vol.sum() == pytest.approx(60.0)


def test_box_is_conforming():
    # every interior face is shared by exactly two tets, boundary faces by one
    points, tets = box_mesh((2.0, 2.0, 2.0), 1.0)
    faces = np.sort(np.concatenate([tets[:, [0, 1, 2]], tets[:, [0, 1, 3]], tets[:, [0, 2, 3]], tets[:, [1, 2, 3]]]),
                    axis=1)
    _, counts = np.unique(faces, axis=0, return_counts=True)
    assert set(counts.tolist()) == {1, 2}
    assert (counts == 1).sum() == 6 * 4 * 2  # 6 sides x 4 squares x 2 triangles


def test_shell_volume_matches_analytic():
    s = shell_mesh(96, 60, 6, apex_angle=0.15, base_angle=0.5 * np.pi)
    vol = check_tets(s.points, s.tets)
    a, c, w = 25.0, 70.0, 10.0

    def solid(a_, c_, u0=0.15):  # spheroid volume between prolate angle u0 and the equator
        return np.pi * a_**2 * c_ * (np.cos(u0) - np.cos(u0) ** 3 / 3.0)

    # outer minus inner solid; the small apical hole makes the two differ by well under 1 %
    expected = solid(a + w, c + w) - solid(a, c)
    assert vol.sum() == pytest.approx(expected, rel=0.02)


def test_shell_coordinates_and_fibres():
    s = shell_mesh(24, 16, 4)
    assert np.allclose(s.tm[s.endo], 1.0) and np.allclose(s.tm[s.epi], 0.0)
    assert np.allclose(s.ab[s.base], 1.0)
    assert np.allclose(np.linalg.norm(s.fibres, axis=1), 1.0)
    assert np.allclose(np.einsum("ij,ij->i", s.fibres, s.sheets), 0.0, atol=1e-12)


def test_degenerate_and_inverted_tets_are_errors(small_box):
    points, tets = small_box
    flat = tets.copy()
    flat[5] = [0, 0, 1, 2]
    with pytest.raises(MeshError, match="degenerate.*index 5"):
        check_tets(points, flat)
    inv = tets.copy()
    inv[7, [0, 1]] = inv[7, [1, 0]]
    with pytest.raises(MeshError, match="1 of .* inverted.*index 7"):
        check_tets(points, inv)
