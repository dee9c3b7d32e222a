"""Surface in, heart out: the labelled boundary of a small heart, written as VTP / PLY / STL, meshed back.

The reference is the original tet mesh: its volume (sum of tet volumes), its boundary nodes and
labels, its coordinates. The VTP files are written here from the VTK XML format description
(ASCII, base64 binary and raw appended data), independently of the reader.
"""

from __future__ import annotations

import base64

import meshio
import numpy as np
import pytest
from scipy.spatial import cKDTree

from mitwin import cli
from mitwin._validate import tet_signed_volumes
from mitwin.anatomy.heart import Heart
from mitwin.anatomy.mesh_io import boundary_faces
from mitwin.anatomy.surface_io import KEYS, LabelledSurface, labelled_boundary, read_labelled_surface
from mitwin.anatomy.surface_mesh import assemble, mesh_surface
from mitwin.errors import MeshError

COBIVECO = {"base": 1, "epi": 2, "lv_endo": 3, "rv_endo": 4}

pytestmark = pytest.mark.filterwarnings("error")


@pytest.fixture(scope="module")
def subject() -> Heart:
    pytest.importorskip("cardiac_geometries_core")
    pytest.importorskip("gmsh")
    from mitwin.anatomy.cohort import make_subject

    return make_subject(2, 0, 5.0)


@pytest.fixture(scope="module")
def boundary(subject):
    """Boundary triangles of the subject (outward), their label ids (index into KEYS) and the volume (mm^3)."""
    faces = boundary_faces(subject.tets)
    label = np.full(faces.shape[0], -1)
    for i, k in enumerate(KEYS):
        inside = np.zeros(subject.n_nodes, dtype=bool)
        inside[subject.surfaces[k]] = True
        label[inside[faces].all(axis=1) & (label < 0)] = i
    assert np.all(label >= 0)
    used = np.unique(faces)
    remap = np.full(subject.n_nodes, -1)
    remap[used] = np.arange(used.size)
    volume = float(tet_signed_volumes(subject.points, subject.tets).sum())
    return subject.points[used], remap[faces], label, volume


def _write_vtp(path, points, triangles, cell_class, *, mode: str) -> None:
    """VTK XML PolyData with a per-cell Int32 'class' array, as VTK writes it: ASCII, inline base64 or raw
    appended data (each binary block preceded by its UInt32 byte count), with empty Verts/Lines/Strips."""
    appended = bytearray()

    def array(name, data, vtk_type, comps=None):
        data = np.ascontiguousarray(data)
        nc = f' NumberOfComponents="{comps}"' if comps else ""
        raw = data.tobytes()
        if mode == "appended":
            offset = len(appended)
            appended.extend(np.uint32(len(raw)).tobytes() + raw)
            return f'<DataArray type="{vtk_type}" Name="{name}"{nc} format="appended" offset="{offset}"/>'
        if mode == "binary":
            text = base64.b64encode(np.uint32(len(raw)).tobytes() + raw).decode()
            return f'<DataArray type="{vtk_type}" Name="{name}"{nc} format="binary">{text}</DataArray>'
        return f'<DataArray type="{vtk_type}" Name="{name}"{nc} format="ascii">\n{" ".join(map(str, data.ravel()))}' \
               "\n</DataArray>"

    def empty_cells(tag):
        return (f"<{tag}>{array('connectivity', np.zeros(0, '<i8'), 'Int64')}"
                f"{array('offsets', np.zeros(0, '<i8'), 'Int64')}</{tag}>")

    n, f = points.shape[0], triangles.shape[0]
    body = (f'<Piece NumberOfPoints="{n}" NumberOfVerts="0" NumberOfLines="0" NumberOfStrips="0" '
            f'NumberOfPolys="{f}"><CellData>{array("class", cell_class.astype("<i4"), "Int32")}</CellData>'
            f'<Points>{array("Points", points.astype("<f8"), "Float64", 3)}</Points>'
            f'{empty_cells("Verts")}{empty_cells("Lines")}{empty_cells("Strips")}'
            f'<Polys>{array("connectivity", triangles.astype("<i8"), "Int64")}'
            f'{array("offsets", 3 * np.arange(1, f + 1, dtype="<i8"), "Int64")}</Polys></Piece>')
    head = ('<?xml version="1.0"?>\n<VTKFile type="PolyData" version="1.0" byte_order="LittleEndian" '
            f'header_type="UInt32">\n<PolyData>\n{body}\n</PolyData>\n')
    data = head.encode()
    if mode == "appended":
        data += b'<AppendedData encoding="raw">\n_' + bytes(appended) + b"\n</AppendedData>\n"
    path.write_bytes(data + b"</VTKFile>\n")


def _assert_like_the_original(g: Heart, subject: Heart, volume: float, rel: float) -> None:
    v = float(tet_signed_volumes(g.points, g.tets).sum())
    assert abs(v - volume) <= rel * volume, (v, volume)
    assert np.allclose(g.points.min(axis=0), subject.points.min(axis=0), atol=1.0)
    assert np.allclose(g.points.max(axis=0), subject.points.max(axis=0), atol=1.0)
    # every node's coordinates against the original's nearest node (5 mm mesh: a node's neighbourhood)
    d, idx = cKDTree(subject.points).query(g.points)
    assert np.mean(g.tv == subject.tv[idx]) > 0.97
    assert np.median(np.abs(g.ab - subject.ab[idx])) < 0.03
    assert np.mean(g.aha == subject.aha[idx]) > 0.85


@pytest.mark.slow
@pytest.mark.parametrize("mode", ["ascii", "binary", "appended"])
def test_vtp_with_cell_classes_round_trip(subject, boundary, tmp_path, mode):
    points, tris, label, volume = boundary
    path = tmp_path / "biv.vtp"
    _write_vtp(path, points, tris, np.array([COBIVECO[KEYS[i]] for i in label]), mode=mode)
    s = read_labelled_surface(path)
    assert np.array_equal(s.points, points) and np.array_equal(s.triangles, tris) and np.array_equal(s.labels, label)
    g = mesh_surface(path, electrodes=subject.electrodes)  # the given triangles kept as the boundary
    assert abs(float(tet_signed_volumes(g.points, g.tets).sum()) - volume) < 1e-6 * volume
    # the boundary nodes are the original ones, with the original labels
    d, idx = cKDTree(subject.points).query(g.points)
    for k in KEYS:
        assert np.all(d[g.surfaces[k]] < 1e-9)
        assert np.array_equal(np.sort(idx[g.surfaces[k]]), subject.surfaces[k]), k
    walls = np.concatenate([g.surfaces[k] for k in ("lv_endo", "rv_endo", "epi")])
    assert np.abs(g.tm[walls] - subject.tm[idx[walls]]).max() < 1e-6  # Dirichlet values
    on = np.unique(np.concatenate([g.surfaces[k] for k in KEYS]))
    assert np.abs(g.ab[on] - subject.ab[idx[on]]).max() < 0.05 and np.array_equal(g.tv[on], subject.tv[idx[on]])
    _assert_like_the_original(g, subject, volume, 1e-6)


@pytest.mark.slow
def test_ply_with_point_labels_remeshed(subject, boundary, tmp_path):
    points, tris, label, volume = boundary
    # one label per node, as a segmentation gives: endo/epi before base at the rims
    node = np.full(points.shape[0], -1)
    for i in range(len(KEYS) - 1, -1, -1):
        node[np.unique(tris[label == i])] = i
    cls = np.array([COBIVECO[KEYS[i]] for i in node], dtype=np.int32)
    meshio.write(tmp_path / "biv.ply", meshio.Mesh(points, [("triangle", tris)], point_data={"label": cls}))
    g = mesh_surface(tmp_path / "biv.ply", resolution_mm=4.0, electrodes=subject.electrodes)
    assert g.meta["surface_mesh"]["resolution_mm"] == 4.0
    _assert_like_the_original(g, subject, volume, 0.02)
    # labels of the remeshed boundary against the original triangles nearest to each new face
    faces = boundary_faces(g.tets)
    c = g.points[faces].mean(axis=1)
    _, near = cKDTree(points[tris].mean(axis=1)).query(c)
    for i, k in enumerate(KEYS):
        mask = np.zeros(g.n_nodes, dtype=bool)
        mask[g.surfaces[k]] = True
        mine = mask[faces].all(axis=1)
        assert mine.sum() > 20 and np.mean(label[near[mine]] == i) > 0.9, k


@pytest.mark.slow
def test_four_stl_and_obj_files_with_a_small_gap(subject, boundary, tmp_path):
    points, tris, label, volume = boundary
    files = {}
    for i, k in enumerate(KEYS):
        t = tris[label == i]
        used = np.unique(t)
        remap = np.full(points.shape[0], -1)
        remap[used] = np.arange(used.size)
        p = points[used]
        if k == "base":  # the base file was exported 0.3 mm off: a small gap along both rims
            p = p + np.array([0.0, 0.0, 0.3])
        files[k] = tmp_path / (f"{k}.obj" if k == "epi" else f"{k}.stl")  # STL: float32, nodes repeated
        meshio.write(files[k], meshio.Mesh(p, [("triangle", remap[t])]), **({} if k == "epi" else {"binary": True}))
    g = mesh_surface(files)
    assert g.meta["surface_mesh"]["merged_gap_nodes"] > 50
    _assert_like_the_original(g, subject, volume, 0.01)
    with pytest.raises(MeshError, match=r"not closed: \d+ open edges .*widest gap between separate surfaces there is "
                                        r"0\.3\d* mm, above gap_mm=0\.1"):
        mesh_surface(files, gap_mm=0.1)
    # the command line: four files in, a heart out
    out = tmp_path / "heart.vtu"
    assert cli.main(["mesh", "--lv-endo", str(files["lv_endo"]), "--rv-endo", str(files["rv_endo"]),
                     "--epi", str(files["epi"]), "--base", str(files["base"]), "--out", str(out)]) == 0
    h = Heart.load(out)
    assert h.n_nodes == g.n_nodes and np.allclose(h.points, g.points)


@pytest.mark.slow
def test_labelled_boundary_of_a_heart(subject, boundary, tmp_path):
    points, tris, label, volume = boundary
    b = labelled_boundary(subject)
    assert np.array_equal(b.points, points) and np.array_equal(b.triangles, tris) and np.array_equal(b.labels, label)
    # written with meshio (legacy VTK, cell classes) and meshed back through the public API
    cls = np.array([COBIVECO[KEYS[i]] for i in b.labels])
    meshio.write(tmp_path / "biv.vtk", meshio.Mesh(b.points, [("triangle", b.triangles)], cell_data={"class": [cls]}))
    out = tmp_path / "biv.vtu"
    assert cli.main(["mesh", str(tmp_path / "biv.vtk"), "--out", str(out), "--resolution", "5"]) == 0
    _assert_like_the_original(Heart.load(out), subject, volume, 0.02)


@pytest.mark.slow
def test_surface_in_cm_in_a_canonical_frame(subject, boundary):
    """The one units rule and the pose rule apply to surfaces: cm converted, a long axis along +z re-posed."""
    points, tris, label, volume = boundary
    rot = np.array(subject.meta["rotation"])
    with pytest.warns(UserWarning) as record:
        g = mesh_surface(LabelledSurface(points @ rot / 10.0, tris, label))
    messages = " | ".join(str(w.message) for w in record)
    assert "suggests cm" in messages and "does not lie like a heart" in messages
    assert abs(float(tet_signed_volumes(g.points, g.tets).sum()) - volume) < 1e-6 * volume
    lv = g.points[g.surfaces["lv_endo"]].mean(axis=0)
    s = g.points[g.surfaces["rv_endo"]].mean(axis=0) - lv
    s /= np.linalg.norm(s)
    assert (g.electrodes["V1"] - lv) @ s > 20.0 and (g.electrodes["V6"] - lv) @ s < -50.0


def test_surface_files_point_to_the_mesher(tmp_path):
    p = np.array([[0.0, 0, 0], [50, 0, 0], [0, 50, 0], [0, 0, 50]])
    t = np.array([[0, 2, 1], [0, 1, 3], [0, 3, 2], [1, 2, 3]])
    meshio.write(tmp_path / "s.ply", meshio.Mesh(p, [("triangle", t)]))
    meshio.write(tmp_path / "s.vtk", meshio.Mesh(p, [("triangle", t)]))
    for name in ("s.ply", "s.vtk"):
        with pytest.raises(MeshError, match=r"is a surface.*mesh_surface.*mitwin mesh"):
            Heart.load(tmp_path / name)
    (tmp_path / "s.vtp").write_text("<VTKFile/>")
    with pytest.raises(MeshError, match="surface file"):
        Heart.load(tmp_path / "s.vtp")
    with pytest.raises(MeshError, match="no label array"):
        mesh_surface(tmp_path / "s.ply")
    with pytest.raises(MeshError, match="1 triangles .* carry a label that maps to no surface"):
        read_labelled_surface(_with_labels(tmp_path, p, t, [1, 2, 3, 7]))
    s = read_labelled_surface(_with_labels(tmp_path, p, t, [1, 2, 3, 7]), labels={1: "base", 2: "epi",
                                                                                  3: "lv_endo", 7: "rv_endo"})
    assert s.labels.tolist() == [3, 2, 0, 1]
    with pytest.raises(MeshError, match="not closed"):  # the labelled-surface path checks closure too
        mesh_surface(LabelledSurface(p, t[:3], np.array([0, 1, 2])), units="mm")


def _with_labels(tmp_path, p, t, values):
    path = tmp_path / "labelled.vtk"
    meshio.write(path, meshio.Mesh(p, [("triangle", t)], cell_data={"class": [np.array(values)]}))
    return path


def test_open_and_non_manifold_surfaces_are_reported():
    p = np.array([[0.0, 0, 0], [50, 0, 0], [0, 50, 0], [0, 0, 50]])
    t = np.array([[0, 2, 1], [0, 1, 3], [0, 3, 2], [1, 2, 3]])
    lab = np.array([0, 1, 2, 3])
    q, tq, lq, merged = assemble([(p, t, lab)])
    assert merged == 0 and tq.shape == (4, 3)
    with pytest.raises(MeshError, match="not closed: 3 open edges"):
        assemble([(p, t[:3], lab[:3])])
    # a fin: a fifth triangle on the edge (0, 1) of the closed tetrahedron
    with pytest.raises(MeshError, match="not manifold: 1 edges"):
        assemble([(np.vstack([p, [[25.0, -30, 0]]]), np.vstack([t, [[0, 1, 4]]]), np.append(lab, 0))])


def test_bad_arguments(tmp_path):
    with pytest.raises(ValueError, match="source: expected the keys"):
        mesh_surface({"lv_endo": "a.stl"})
    with pytest.raises(ValueError, match="resolution_mm"):
        mesh_surface(tmp_path / "x.vtp", resolution_mm=0.0)
    with pytest.raises(ValueError, match="gap_mm"):
        mesh_surface(tmp_path / "x.vtp", gap_mm=-1.0)
    with pytest.raises(FileNotFoundError):
        mesh_surface(tmp_path / "x.vtp")
    with pytest.raises(ValueError, match="source"):
        mesh_surface(42)  # type: ignore[arg-type]
    assert cli.main(["mesh", "--out", str(tmp_path / "h.vtu")]) == 2
