"""Point clouds: farthest-point sampling against a brute-force reference; surface targets."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.spatial.distance import cdist

from mitwin.anatomy.aha import aha_segments
from mitwin.anatomy.heart import Heart
from mitwin.anatomy.mesh_io import boundary_faces
from mitwin.anatomy.pointcloud import farthest_point_sampling, point_cloud, surface_targets
from mitwin.anatomy.synthetic import box_mesh


@pytest.fixture(scope="module")
def heart() -> Heart:
    """A 40 x 30 x 20 mm block posing as a heart: a 22 x 12 mm patch of the x = 0 face is the
    'LV endo', the same patch of x = 40 the 'RV endo', the y = 0, y = 30 and z = 0 faces the
    'epi', z = 20 the 'base'; coordinates are simple functions of xyz."""
    points, tets = box_mesh((40.0, 30.0, 20.0), 2.0, jitter=0.2, seed=1)
    faces = boundary_faces(tets)
    c = points[faces].mean(axis=1)
    eps = 1e-9
    patch = (c[:, 1] > 4) & (c[:, 1] < 26) & (c[:, 2] > 4) & (c[:, 2] < 16)
    lv = faces[(c[:, 0] < eps) & patch]
    rv = faces[(c[:, 0] > 40 - eps) & patch]
    base = faces[c[:, 2] > 20 - eps]
    epi = faces[(c[:, 1] < eps) | (c[:, 1] > 30 - eps) | (c[:, 2] < eps)]
    n = points.shape[0]
    tm = 1 - points[:, 1] / 30
    ab = points[:, 2] / 20
    rt = (points[:, 0] / 40) % 1.0
    tv = (points[:, 0] > 20).astype(float)
    f = np.tile([1.0, 0, 0], (n, 1))
    return Heart(points=points, tets=tets,
                 surfaces={"lv_endo": np.unique(lv), "rv_endo": np.unique(rv), "epi": np.unique(epi),
                           "base": np.unique(base)},
                 tm=tm, ab=ab, rt=rt, tv=tv, fibres=f, sheets=np.tile([0, 1.0, 0], (n, 1)),
                 normals=np.tile([0, 0, 1.0], (n, 1)), aha=aha_segments(ab, rt, tv),
                 electrodes={k: np.zeros(3) for k in ("RA", "LA", "LL", "V1", "V2", "V3", "V4", "V5", "V6")})


def _fps_reference(points: np.ndarray, n: int, first: int) -> np.ndarray:
    """Textbook farthest-point sampling with full distance matrices."""
    chosen = [first]
    for _ in range(n - 1):
        d = cdist(points, points[chosen]).min(axis=1)
        chosen.append(int(np.argmax(d)))
    return np.array(chosen)


def test_fps_matches_reference(heart):
    idx = farthest_point_sampling(heart.points, 200, seed=3)
    ref = _fps_reference(heart.points, 200, int(idx[0]))
    assert np.array_equal(idx, ref)
    assert np.unique(idx).size == 200
    # covers better than a random subset of the same size
    rnd = np.random.default_rng(0).choice(heart.n_nodes, 200, replace=False)
    cover = cdist(heart.points, heart.points[idx]).min(axis=1).max()
    cover_rnd = cdist(heart.points, heart.points[rnd]).min(axis=1).max()
    assert cover < 0.7 * cover_rnd


def test_point_cloud_features_and_determinism(heart):
    pc = point_cloud(heart, n=512, seed=7)
    assert pc.features.shape == (512, 7) and pc.features.dtype == np.float32
    assert pc.node_index.shape == (512,) and pc.node_index.dtype == np.int64
    i = pc.node_index
    expect = np.column_stack([heart.points[i], heart.tm[i], heart.ab[i], heart.rt[i], heart.tv[i]]).astype(np.float32)
    assert np.array_equal(pc.features, expect)
    assert np.array_equal(point_cloud(heart, n=512, seed=7).node_index, i)
    assert not np.array_equal(point_cloud(heart, n=512, seed=8).node_index, i)
    # labels follow through node_index
    labels = (heart.points[:, 0] < 10).astype(np.int8)
    assert np.array_equal(labels[i], (pc.features[:, 0] < 10).astype(np.int8))
    with pytest.raises(ValueError, match="n"):
        point_cloud(heart, n=heart.n_nodes + 1)


def test_surface_targets(heart):
    coarse, dense = surface_targets(heart, n_coarse=1024, n_dense=4096, seed=0)
    assert coarse.shape == (1024, 4) and dense.shape == (4096, 4) and dense.dtype == np.float32
    cls = dense[:, 3]
    assert set(np.unique(cls)) == {0.0, 1.0, 2.0}
    assert np.allclose(dense[cls == 0, 0], 0.0, atol=1e-4)
    assert np.allclose(dense[cls == 1, 0], 40.0, atol=1e-4)
    epi = dense[cls == 2]
    on_epi = (np.abs(epi[:, 1]) < 1e-4) | (np.abs(epi[:, 1] - 30) < 1e-4) | (np.abs(epi[:, 2]) < 1e-4)
    # surfaces are node sets: the few triangles of other faces with all three nodes on epicardial
    # edges of the block (its corners) count as epicardium too
    assert on_epi.mean() > 0.98
    # uniform by area: LV 22 x 12 = 264, RV 264, epi 2 * 40 * 20 + 40 * 30 = 2800 mm^2
    frac = np.bincount(cls.astype(int), minlength=3) / cls.size
    total = 264 + 264 + 2800
    assert np.allclose(frac, [264 / total, 264 / total, 2800 / total], atol=0.02)
    c2, d2 = surface_targets(heart, seed=0)
    assert np.array_equal(c2, coarse) and np.array_equal(d2, dense)
    with pytest.raises(ValueError, match="n_dense"):
        surface_targets(heart, n_dense=0)
