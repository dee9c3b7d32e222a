"""Heart: VTU round trip, Cobiveco-style input, units, surface labels, bad input."""

from __future__ import annotations

import json

import meshio
import numpy as np
import pytest

from mitwin.anatomy import coordinates
from mitwin.anatomy.aha import aha_segments
from mitwin.anatomy.heart import Heart
from mitwin.anatomy.mesh_io import boundary_faces
from mitwin.anatomy.synthetic import box_mesh
from mitwin.errors import MeshError

ELECTRODES = ("RA", "LA", "LL", "V1", "V2", "V3", "V4", "V5", "V6")


def _random_heart(seed: int = 0, size: float = 60.0) -> Heart:
    points, tets = box_mesh((size, size * 0.8, size * 0.6), size / 6, jitter=0.2, seed=seed)
    rng = np.random.default_rng(seed)
    n = points.shape[0]
    f = rng.standard_normal((n, 3))
    f /= np.linalg.norm(f, axis=1, keepdims=True)
    tm, ab, rt, tv = rng.random(n), rng.random(n), rng.random(n), (rng.random(n) > 0.5).astype(float)
    bnodes = np.unique(boundary_faces(tets))
    surfaces = {k: np.sort(rng.choice(bnodes, size=10, replace=False)).astype(np.int64)
                for k in ("lv_endo", "rv_endo", "epi", "base")}
    return Heart(points=points, tets=tets, surfaces=surfaces, tm=tm, ab=ab, rt=rt, tv=tv, fibres=f,
                 sheets=rng.standard_normal((n, 3)), normals=rng.standard_normal((n, 3)),
                 aha=aha_segments(ab, rt, tv), electrodes={k: rng.standard_normal(3) * 100 for k in ELECTRODES},
                 meta={"seed": seed, "parameters": {"a": 1.5, "b": [1, 2]}, "note": "x"})


def test_round_trip_is_bit_exact(tmp_path):
    h = _random_heart()
    path = h.save(tmp_path / "h.vtu")
    g = Heart.load(path)
    for name in ("points", "tets", "tm", "ab", "rt", "tv", "fibres", "sheets", "normals", "aha"):
        a, b = getattr(h, name), getattr(g, name)
        assert a.dtype == b.dtype and a.shape == b.shape, name
        assert np.array_equal(a, b), name
    for k in h.surfaces:
        assert np.array_equal(h.surfaces[k], g.surfaces[k]) and g.surfaces[k].dtype == np.int64
    for k in ELECTRODES:
        assert np.array_equal(h.electrodes[k], g.electrodes[k])
    assert g.meta == h.meta
    assert g.n_nodes == h.n_nodes
    assert repr(g).startswith(f"Heart(n_nodes={h.n_nodes}, n_tets={h.tets.shape[0]}")
    # the file is a plain VTU that meshio reads with the documented names
    m = meshio.read(path)
    assert {"tm", "ab", "rt", "tv", "fibre", "sheet", "normal", "aha", "surface"} <= set(m.point_data)


def test_save_leaves_no_temporary_files(tmp_path):
    _random_heart().save(tmp_path / "a.vtu")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.vtu"]


def test_cobiveco_vtu_loads_without_recomputation(tmp_path, monkeypatch):
    points, tets = box_mesh((60.0, 50.0, 40.0), 10.0)
    rng = np.random.default_rng(5)
    n = points.shape[0]
    arrays = {"tm": rng.random(n), "ab": rng.random(n), "rt": rng.random(n), "tv": (rng.random(n) > 0.5) * 1.0}
    meshio.write(tmp_path / "cobiveco.vtu", meshio.Mesh(points, [("tetra", tets)], point_data=arrays))

    def boom(*args, **kwargs):
        raise AssertionError("coordinates were recomputed")

    monkeypatch.setattr(coordinates, "compute_coordinates", boom)
    h = Heart.load(tmp_path / "cobiveco.vtu")
    for k, v in arrays.items():
        assert np.array_equal(getattr(h, k), v)
    assert np.array_equal(h.aha, aha_segments(arrays["ab"], arrays["rt"], arrays["tv"]))
    assert np.allclose(np.linalg.norm(h.fibres, axis=1), 1.0)
    assert set(h.electrodes) == set(ELECTRODES)


def test_cm_mesh_is_converted_with_a_warning(tmp_path):
    h = _random_heart(size=6.0)  # a 6 cm heart
    path = h.save(tmp_path / "cm.vtu")
    with pytest.warns(UserWarning, match="suggests cm"):
        g = Heart.load(path)
    assert np.array_equal(g.points, h.points * 10.0)
    g = Heart.load(path, units="cm")  # explicit: no warning (warnings are errors here)
    assert np.array_equal(g.points, h.points * 10.0)
    g = Heart.load(path, units="mm")
    assert np.array_equal(g.points, h.points)
    with pytest.raises(ValueError, match="units"):
        Heart.load(path, units="inch")


def test_user_electrodes_win_on_load(tmp_path):
    path = _random_heart().save(tmp_path / "h.vtu")
    mine = {k: np.full(3, float(i)) for i, k in enumerate(ELECTRODES)}
    g = Heart.load(path, electrodes=mine)
    assert all(np.array_equal(g.electrodes[k], mine[k]) for k in ELECTRODES)
    with pytest.raises(ValueError, match="missing"):
        Heart.load(path, electrodes={"RA": np.zeros(3)})


def test_load_errors(tmp_path):
    with pytest.raises(FileNotFoundError):
        Heart.load(tmp_path / "nope.vtu")
    (tmp_path / "bad.vtu").write_text("not a mesh")
    with pytest.raises(MeshError, match="could not read"):
        Heart.load(tmp_path / "bad.vtu")
    points, tets = box_mesh((60.0, 50.0, 40.0), 10.0)
    meshio.write(tmp_path / "bare.vtu", meshio.Mesh(points, [("tetra", tets)]))
    with pytest.raises(MeshError, match="neither coordinates"):
        Heart.load(tmp_path / "bare.vtu")


# ----------------------------------------------------------------------------- bad input to from_labelled_mesh


@pytest.fixture(scope="module")
def block():
    """A 40 x 30 x 20 mm block with faces labelled as if it were a heart (geometry is irrelevant)."""
    points, tets = box_mesh((40.0, 30.0, 20.0), 5.0)
    faces = boundary_faces(tets)
    c = points[faces].mean(axis=1)
    mid_y = (c[:, 1] > 10) & (c[:, 1] < 20)
    mid_x = (c[:, 0] > 10) & (c[:, 0] < 30)
    surf = {  # four patches that do not touch each other
        "lv_endo": faces[(c[:, 0] < 1e-9) & mid_y & (c[:, 2] > 5) & (c[:, 2] < 15)],
        "rv_endo": faces[(c[:, 0] > 40.0 - 1e-9) & mid_y & (c[:, 2] > 5) & (c[:, 2] < 15)],
        "base": faces[(c[:, 2] > 20.0 - 1e-9) & mid_x & mid_y],
        "epi": faces[(c[:, 1] < 1e-9) & mid_x & (c[:, 2] < 15)],
    }
    return points, tets, surf


def test_no_labelled_surfaces(block):
    points, tets, _ = block
    with pytest.raises(MeshError, match="no labelled surfaces"):
        Heart.from_labelled_mesh(points, tets, {})
    with pytest.raises(MeshError, match="no labelled surfaces"):
        Heart.from_labelled_mesh(points, tets, {"lv_endo": [], "rv_endo": [], "epi": [], "base": []})


def test_missing_cavity(block):
    points, tets, surf = block
    with pytest.raises(MeshError, match="missing cavity: rv_endo"):
        Heart.from_labelled_mesh(points, tets, {**surf, "rv_endo": np.zeros((0, 3), int)})


def test_inverted_tets(block):
    points, tets, surf = block
    bad = tets.copy()
    bad[::7, [2, 3]] = bad[::7, [3, 2]]
    with pytest.raises(MeshError, match="inverted"):
        Heart.from_labelled_mesh(points, bad, surf)


def test_non_manifold_boundary():
    # two blocks touching along one edge only
    p1, t1 = box_mesh((10.0, 10.0, 10.0), 5.0)
    p2, t2 = box_mesh((10.0, 10.0, 10.0), 5.0)
    p2 = p2 + [10.0, 10.0, 0.0]
    points = np.concatenate([p1, p2])
    tets = np.concatenate([t1, t2 + p1.shape[0]])
    # merge duplicated nodes on the shared edge
    _, first, inverse = np.unique(points.round(9), axis=0, return_index=True, return_inverse=True)
    points, tets = points[first], inverse.ravel()[tets]
    faces = boundary_faces(tets)
    surf = {"lv_endo": faces[:3], "rv_endo": faces[-3:], "epi": faces[10:12], "base": faces[20:22]}
    with pytest.raises(MeshError, match="not manifold"):
        Heart.from_labelled_mesh(points, tets, surf, units="mm")


def test_surface_errors(block):
    points, tets, surf = block
    with pytest.raises(ValueError, match="unknown keys"):
        Heart.from_labelled_mesh(points, tets, {**surf, "lv": surf["lv_endo"]})
    with pytest.raises(ValueError, match=r"surfaces\['epi'\]"):
        Heart.from_labelled_mesh(points, tets, {**surf, "epi": np.array([10**7])})
    inner = np.flatnonzero(np.all((points > 1) & (points < [39, 29, 19]), axis=1))
    with pytest.raises(MeshError, match="not on the mesh boundary"):
        Heart.from_labelled_mesh(points, tets, {**surf, "base": inner})
    with pytest.raises(MeshError, match="labelled both lv_endo and rv_endo"):
        Heart.from_labelled_mesh(points, tets, {**surf, "rv_endo": surf["lv_endo"]})
    with pytest.raises(ValueError, match="points"):
        Heart.from_labelled_mesh(points[:, :2], tets, surf)
    nan_points = points.copy()
    nan_points[3, 1] = np.nan
    with pytest.raises(ValueError, match="points: expected finite"):
        Heart.from_labelled_mesh(nan_points, tets, surf)
    with pytest.raises(ValueError, match="tets"):
        Heart.from_labelled_mesh(points, tets + points.shape[0], surf)
    flat = points.copy()
    flat[:, 2] = 0.0
    with pytest.raises(MeshError, match="degenerate"):
        Heart.from_labelled_mesh(flat, tets, surf)


# ----------------------------------------------------------------------------- on a generated subject


@pytest.fixture(scope="module")
def subject():
    pytest.importorskip("cardiac_geometries_core")
    from mitwin.anatomy.cohort import make_subject

    return make_subject(2, 0, 5.0)


@pytest.mark.slow
def test_subject_round_trip_and_triangles_equal_nodes(subject, tmp_path):
    h = subject
    g = Heart.load(h.save(tmp_path / "s.vtu"))
    assert np.array_equal(g.fibres, h.fibres) and np.array_equal(g.rt, h.rt) and g.meta == json.loads(
        json.dumps(h.meta))
    # surfaces given as triangles or as nodes give the same heart
    tri = {k: h.surface_faces(k) for k in h.surfaces}
    a = Heart.from_labelled_mesh(h.points, h.tets, tri, electrodes=h.electrodes)
    b = Heart.from_labelled_mesh(h.points, h.tets, h.surfaces, electrodes=h.electrodes)
    assert np.array_equal(a.rt, b.rt) and np.array_equal(a.tm, b.tm)


@pytest.mark.slow
def test_msh_with_physical_groups_and_cobiveco_classes(subject, tmp_path):
    """A gmsh mesh with named physical surface groups, and a VTU with Cobiveco's class array,
    both without coordinates: the coordinates are computed from the labelled boundary."""
    h = subject
    names = {"lv_endo": "LV", "rv_endo": "RV", "epi": "EPI", "base": "BASE"}
    tags = {"base": 1, "epi": 2, "lv_endo": 3, "rv_endo": 4}  # Cobiveco's classes
    tris = [h.surface_faces(k) for k in tags]
    cls = [np.full(t.shape[0], tags[k]) for k, t in zip(tags, tris)]
    tri = np.concatenate(tris)
    lab = np.concatenate(cls)
    msh = meshio.Mesh(h.points, [("triangle", tri), ("tetra", h.tets)],
                      cell_data={"gmsh:physical": [lab, np.full(h.tets.shape[0], 9)],
                                 "gmsh:geometrical": [lab, np.full(h.tets.shape[0], 9)]},
                      field_data={names[k]: np.array([v, 2]) for k, v in tags.items()})
    meshio.write(tmp_path / "biv.msh", msh, file_format="gmsh22", binary=False)
    g = Heart.load(tmp_path / "biv.msh", units="mm")
    for k in h.surfaces:
        assert np.array_equal(g.surfaces[k], h.surfaces[k]), k
    assert np.abs(g.tm - h.tm).max() < 1e-6 and np.abs(g.ab - h.ab).max() < 1e-6
    vtu = meshio.Mesh(h.points, [("triangle", tri), ("tetra", h.tets)],
                      cell_data={"class": [lab, np.zeros(h.tets.shape[0], int)]})
    meshio.write(tmp_path / "cob.vtu", vtu)
    g2 = Heart.load(tmp_path / "cob.vtu", units="mm")
    for k in h.surfaces:
        assert np.array_equal(g2.surfaces[k], h.surfaces[k]), k


def test_plot_heart_writes_a_png(tmp_path):
    import matplotlib.image as mpimg

    from mitwin.anatomy.plot import plot_heart

    h = _random_heart()
    path = plot_heart(h, tmp_path / "heart.png", n_points=500, n_fibres=50, dpi=40)
    img = mpimg.imread(path)
    assert img.shape[0] > 300 and img.shape[1] > 500
    assert img[..., :3].std() > 0.05  # not blank


# ----------------------------------------------------------------------------- majority-labelled boundaries


def _majority_labelled(h: Heart) -> dict[str, np.ndarray]:
    """Boundary triangles labelled as a segmentation export does: each node gets one label (endo and
    epi before base), each triangle the majority of its nodes' labels (ties: lv, rv, epi, base)."""
    keys = ("lv_endo", "rv_endo", "epi", "base")
    faces = boundary_faces(h.tets)
    node = np.full(h.n_nodes, -1)
    for i in range(len(keys) - 1, -1, -1):
        node[h.surfaces[keys[i]]] = i
    a, b, c = node[faces].T
    label = np.where((a == b) | (a == c), a, np.where(b == c, b, np.minimum(np.minimum(a, b), c)))
    return {k: faces[label == i] for i, k in enumerate(keys)}


@pytest.mark.slow
def test_majority_labelled_rim_is_accepted(subject, tmp_path):
    h = subject
    tri = _majority_labelled(h)
    rim = np.intersect1d(np.unique(tri["rv_endo"]), np.unique(tri["epi"]))
    assert rim.size > 10  # the coarse mesh's thin RV wall gives a one-node rim
    g = Heart.from_labelled_mesh(h.points, h.tets, tri, electrodes=h.electrodes)
    assert np.isin(rim, g.surfaces["base"]).all()  # the documented rule: rim nodes are basal
    assert not np.isin(rim, g.surfaces["epi"]).any() and not np.isin(rim, g.surfaces["rv_endo"]).any()
    # away from the nodes whose labels the vote changed, the coordinates are those of the original
    changed = np.zeros(h.n_nodes, dtype=bool)
    for k in h.surfaces:
        changed |= np.isin(np.arange(h.n_nodes), h.surfaces[k]) != np.isin(np.arange(h.n_nodes), g.surfaces[k])
    e = h.tets[:, [[0, 1], [0, 2], [0, 3], [1, 2], [1, 3], [2, 3]]].reshape(-1, 2)
    near = changed.copy()
    near[e[changed[e[:, 0]], 1]] = True
    far = ~near
    assert far.sum() > 0.8 * h.n_nodes
    drt = np.abs(g.rt - h.rt)
    assert np.abs(g.tm - h.tm)[far].max() < 0.1 and np.abs(g.ab - h.ab)[far].max() < 0.01
    assert np.minimum(drt, 1 - drt)[far].max() < 0.05
    assert np.mean(g.aha == h.aha) > 0.98 and np.mean(g.tv == h.tv) > 0.99
    # the same labels from a file (Cobiveco's class array on the boundary triangles)
    tags = {"base": 1, "epi": 2, "lv_endo": 3, "rv_endo": 4}
    cells = np.concatenate([tri[k] for k in tags])
    cls = np.concatenate([np.full(tri[k].shape[0], t) for k, t in tags.items()])
    meshio.write(tmp_path / "majority.vtu", meshio.Mesh(h.points, [("triangle", cells), ("tetra", h.tets)],
                                                        cell_data={"class": [cls, np.zeros(h.tets.shape[0], int)]}))
    f = Heart.load(tmp_path / "majority.vtu", units="mm", electrodes=h.electrodes)
    assert np.array_equal(f.tm, g.tm) and np.array_equal(f.surfaces["base"], g.surfaces["base"])


@pytest.mark.slow
def test_truly_inconsistent_labels_are_rejected(subject):
    h = subject
    tri = _majority_labelled(h)
    twice = {**tri, "epi": np.concatenate([tri["epi"], tri["rv_endo"][:5]])}
    with pytest.raises(MeshError, match="5 triangles are labelled both rv_endo and epi"):
        Heart.from_labelled_mesh(h.points, h.tets, twice)
    # node sets: a patch of the epicardium also called RV endocardium
    epi = h.surfaces["epi"]
    far = epi[np.argmax(np.linalg.norm(h.points[epi] - h.points[h.surfaces["rv_endo"]].mean(axis=0), axis=1))]
    patch = epi[np.linalg.norm(h.points[epi] - h.points[far], axis=1) < 20.0]
    bad = {**h.surfaces, "rv_endo": np.union1d(h.surfaces["rv_endo"], patch)}
    with pytest.raises(MeshError, match="inside a patch carrying both labels"):
        Heart.from_labelled_mesh(h.points, h.tets, bad)
    with pytest.raises(MeshError, match="lv_endo and rv_endo share"):
        Heart.from_labelled_mesh(h.points, h.tets, {**h.surfaces, "rv_endo": h.surfaces["lv_endo"]})
