"""Mesh topology checks and VTU/VTK/MSH reading and writing for :class:`mitwin.anatomy.heart.Heart`.

The file layout (point data of a VTU written by :meth:`Heart.save`):

==========  ===========  ==========================================================
name        shape/dtype  meaning
==========  ===========  ==========================================================
tm ab rt tv (N,) f8      Cobiveco-style coordinates (README, Conventions)
fibre       (N, 3) f8    unit fibre direction
sheet       (N, 3) f8    unit sheet direction (transmural)
normal      (N, 3) f8    unit sheet-normal direction
aha         (N,) i8      AHA segment (1-17, 0 outside the LV region)
surface     (N,) u1      bit flags: 1 lv_endo, 2 rv_endo, 4 epi, 8 base
==========  ===========  ==========================================================

Field data: ``electrodes`` (9, 3) f8 in the order RA LA LL V1..V6 and ``mitwin_meta``
(UTF-8 JSON bytes). meshio does not write VTU field data, so it is inserted into the XML
after meshio has written the file (and read back by meshio's reader).
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
from pathlib import Path
from typing import Any

import numpy as np

from .._atomic import atomic_path
from ..errors import MeshError

log = logging.getLogger(__name__)

#: Surface keys of a Heart and their bit in the ``surface`` point-data array.
SURFACE_BITS: dict[str, int] = {"lv_endo": 1, "rv_endo": 2, "epi": 4, "base": 8}
#: Cobiveco's boundary classes (Schuler et al. 2021): 1 base, 2 epi, 3 LV endo, 4 RV endo.
COBIVECO_CLASSES: dict[int, str] = {1: "base", 2: "epi", 3: "lv_endo", 4: "rv_endo"}
#: Electrode order of the ``electrodes`` field-data array.
ELECTRODE_ORDER: tuple[str, ...] = ("RA", "LA", "LL", "V1", "V2", "V3", "V4", "V5", "V6")

# names a gmsh physical group (or a user) may give a surface
_SURFACE_ALIASES: dict[str, str] = {
    "lv_endo": "lv_endo", "lv": "lv_endo", "endo_lv": "lv_endo", "lv_endocardium": "lv_endo", "endolv": "lv_endo",
    "rv_endo": "rv_endo", "rv": "rv_endo", "endo_rv": "rv_endo", "rv_endocardium": "rv_endo", "endorv": "rv_endo",
    "epi": "epi", "epicardium": "epi", "lv_epicardium": "epi", "rv_epicardium": "epi",
    "base": "base", "basal": "base",
}

_TET_FACES = np.array([[1, 2, 3], [0, 3, 2], [0, 1, 3], [0, 2, 1]])  # outward for positive tets


def surface_alias(name: str) -> str | None:
    """Canonical surface key (lv_endo, rv_endo, epi, base) of a physical-group name, or None."""
    return _SURFACE_ALIASES.get(name.strip().lower().replace(" ", "_").replace("-", "_"))


def boundary_faces(tets: np.ndarray) -> np.ndarray:
    """Boundary triangles of a tet mesh, oriented outward for positively oriented tets.

    Parameters
    ----------
    tets : (M, 4) int64

    Returns
    -------
    (F, 3) int64 node indices of the faces that belong to exactly one tet.

    Raises
    ------
    MeshError
        When a face is shared by more than two tets (a non-manifold volume mesh).
    """
    faces = tets[:, _TET_FACES].reshape(-1, 3)
    _, inverse, counts = np.unique(_row_keys(np.sort(faces, axis=1)), return_inverse=True, return_counts=True)
    if np.any(counts > 2):
        raise MeshError(
            f"tets: {int(np.count_nonzero(counts > 2))} faces are shared by more than two tetrahedra "
            "(non-manifold volume mesh)"
        )
    return np.ascontiguousarray(faces[counts[inverse.ravel()] == 1])


def _row_keys(rows: np.ndarray) -> np.ndarray:
    """One sortable key per row of a small non-negative int array (rows as mixed-radix numbers).

    Sorting 1-D int64 keys is much faster than ``np.unique(axis=0)``; rows that do not fit in
    an int64 key fall back to a void view.
    """
    rows = np.ascontiguousarray(rows, dtype=np.int64)
    base = int(rows.max()) + 1 if rows.size else 1
    if base ** rows.shape[1] < 2**63:
        key = np.zeros(rows.shape[0], dtype=np.int64)
        for j in range(rows.shape[1]):
            key = key * base + rows[:, j]
        return key
    return rows.view(np.dtype((np.void, rows.dtype.itemsize * rows.shape[1]))).ravel()


def check_manifold_surface(faces: np.ndarray) -> None:
    """Raise MeshError unless every edge of the boundary surface has exactly two faces."""
    edges = np.sort(faces[:, [[0, 1], [1, 2], [2, 0]]].reshape(-1, 2), axis=1)
    _, counts = np.unique(_row_keys(edges), return_counts=True)
    bad = counts != 2
    if np.any(bad):
        raise MeshError(
            f"tets: the boundary surface is not manifold: {int(bad.sum())} boundary edges belong to "
            f"{sorted(set(counts[bad].tolist()))} faces instead of 2"
        )


def separate_rims(surfaces: dict[str, np.ndarray], faces: np.ndarray, n_nodes: int,
                  triangles: dict[str, np.ndarray] | None = None) -> dict[str, np.ndarray]:
    """Resolve nodes shared by an endocardium and the epicardium (the rim rule).

    Boundary triangles labelled by the majority of their nodes' labels (the usual export of a
    segmentation) meet at a one-node rim where a wall is one tet thick at the base: the rim's
    nodes carry both labels. **Rule**: a node labelled both ``lv_endo`` (or ``rv_endo``) and
    ``epi`` is a basal rim node: it leaves both surfaces and joins ``base``, so that tm is free
    there (between endo- and epicardium) and ab is 1, as on the rest of the basal edge. The
    labels are inconsistent (and raise) when the two surfaces overlap in a patch. Given as
    triangles (one label per triangle, :func:`check_triangle_labels`), a shared node always lies
    where triangles of both labels meet. Given as node sets, a shared node all of whose boundary
    triangles have only shared nodes is taken to lie inside a patch labelled twice.

    Parameters
    ----------
    surfaces : node-index arrays (sorted, unique) ``lv_endo``, ``rv_endo``, ``epi``, ``base``.
    faces : (F, 3) boundary triangles of the mesh.
    n_nodes : N.
    triangles : the surfaces given as triangles (key -> (K, 3)), where they were.

    Returns
    -------
    dict of node-index arrays with no node in two of lv_endo, rv_endo, epi.

    Raises
    ------
    MeshError
        ``lv_endo`` and ``rv_endo`` share a node (the cavities touch), or a shared node lies
        inside a patch labelled twice.
    """
    common = np.intersect1d(surfaces["lv_endo"], surfaces["rv_endo"])
    if common.size:
        raise MeshError(f"surfaces: lv_endo and rv_endo share {common.size} nodes (e.g. node {int(common[0])}); "
                        "the LV and RV cavities must be separated by the septum (at least one layer of tets)")
    out = dict(surfaces)
    rims = []
    for key in ("lv_endo", "rv_endo"):
        shared = np.intersect1d(surfaces[key], surfaces["epi"])
        if not shared.size:
            continue
        if triangles is not None and key in triangles and "epi" in triangles:
            inside = shared[:0]  # one label per triangle: every shared node is on a rim
        else:
            inside = _inside_shared_patch(shared, faces, n_nodes)
        if inside.size:
            raise MeshError(f"surfaces: {key} and epi share {shared.size} nodes, {inside.size} of which (e.g. node "
                            f"{int(inside[0])}) lie inside a patch carrying both labels, not on a rim between the "
                            "two surfaces: the labels overlap; the surfaces must be separated by at least one layer "
                            "of tets or meet at a one-node rim")
        out[key] = np.setdiff1d(out[key], shared)
        rims.append(shared)
        log.info("surfaces: %d nodes where %s meets epi (a one-node rim) are taken as basal", shared.size, key)
    if rims:
        rim = np.concatenate(rims)
        out["epi"] = np.setdiff1d(out["epi"], rim)
        out["base"] = np.union1d(out["base"], rim)
    return {k: np.ascontiguousarray(v, dtype=np.int64) for k, v in out.items()}


def _inside_shared_patch(shared: np.ndarray, faces: np.ndarray, n_nodes: int) -> np.ndarray:
    """The shared nodes all of whose boundary triangles consist of shared nodes."""
    is_shared = np.zeros(n_nodes, dtype=bool)
    is_shared[shared] = True
    around = np.bincount(faces.ravel(), minlength=n_nodes)
    around_shared = np.bincount(faces[is_shared[faces].all(axis=1)].ravel(), minlength=n_nodes)
    return shared[around_shared[shared] == around[shared]]


def check_triangle_labels(triangles: dict[str, np.ndarray]) -> None:
    """Raise MeshError when one triangle is given under two surface labels.

    Parameters
    ----------
    triangles : key -> (K, 3) node indices of the triangles given for that surface.
    """
    keys = list(triangles)
    sorted_rows = {k: np.sort(np.asarray(triangles[k], dtype=np.int64), axis=1) for k in keys}
    for i, a in enumerate(keys):
        for b in keys[i + 1:]:
            if not (sorted_rows[a].size and sorted_rows[b].size):
                continue
            both = np.concatenate([sorted_rows[a], sorted_rows[b]])
            _, counts = np.unique(_row_keys(both), return_counts=True)
            if np.any(counts > 1):
                raise MeshError(f"surfaces: {int(np.count_nonzero(counts > 1))} triangles are labelled both {a} and "
                                f"{b}; each boundary triangle must carry one label")


def _in_set(faces: np.ndarray, nodes: np.ndarray, n_nodes: int) -> np.ndarray:
    mask = np.zeros(n_nodes, dtype=bool)
    mask[nodes] = True
    return mask[faces].all(axis=1)


def faces_in_set(faces: np.ndarray, nodes: np.ndarray, n_nodes: int) -> np.ndarray:
    """The faces whose three nodes all lie in ``nodes`` (a node-index array)."""
    mask = np.zeros(n_nodes, dtype=bool)
    mask[nodes] = True
    return faces[mask[faces].all(axis=1)]


def edges_of(tets: np.ndarray) -> np.ndarray:
    """Unique undirected edges (E, 2) int64 of a tet mesh, each sorted (i < j)."""
    e = np.sort(tets[:, [[0, 1], [0, 2], [0, 3], [1, 2], [1, 3], [2, 3]]].reshape(-1, 2), axis=1)
    _, first = np.unique(_row_keys(e), return_index=True)
    return np.ascontiguousarray(e[first])


# ----------------------------------------------------------------------------- writing


def _field_data_xml(field: dict[str, np.ndarray]) -> bytes:
    parts = ["<FieldData>"]
    for name, arr in field.items():
        arr = np.asarray(arr)
        if arr.dtype == np.float64:
            vtk_type, text = "Float64", " ".join(repr(float(v)) for v in arr.ravel())
        elif arr.dtype == np.uint8:
            vtk_type, text = "UInt8", " ".join(str(int(v)) for v in arr.ravel())
        else:
            raise TypeError(f"field data {name}: unsupported dtype {arr.dtype}")
        comps = f' NumberOfComponents="{arr.shape[1]}"' if arr.ndim == 2 else ""
        parts.append(f'<DataArray type="{vtk_type}" Name="{name}"{comps} format="ascii">{text}</DataArray>')
    parts.append("</FieldData>")
    return "\n".join(parts).encode()


def write_vtu(path: Path, points, tets, point_data: dict, electrodes: dict, meta: dict) -> None:
    """Write a heart to ``path`` (VTU) atomically; see the module docstring for the layout."""
    import meshio

    path = Path(path)
    if path.suffix.lower() != ".vtu":
        raise ValueError(f"path: expected a .vtu file name, got {str(path)!r}")
    path.parent.mkdir(parents=True, exist_ok=True)
    field: dict[str, np.ndarray] = {}
    if electrodes:
        field["electrodes"] = np.stack([np.asarray(electrodes[k], dtype=np.float64) for k in ELECTRODE_ORDER])
    field["mitwin_meta"] = np.frombuffer(json.dumps(meta, sort_keys=True).encode(), dtype=np.uint8)
    mesh = meshio.Mesh(points, [("tetra", tets)], point_data=point_data)
    with atomic_path(path) as tmp:
        meshio.write(tmp, mesh, file_format="vtu", binary=True)
        data = tmp.read_bytes()
        tag = b"<UnstructuredGrid>"
        at = data.index(tag) + len(tag)
        tmp.write_bytes(data[:at] + b"\n" + _field_data_xml(field) + data[at:])


# ----------------------------------------------------------------------------- reading

#: File suffixes that hold surfaces, not volume meshes (read by :mod:`mitwin.anatomy.surface_mesh`).
SURFACE_SUFFIXES: tuple[str, ...] = (".vtp", ".ply", ".stl", ".obj", ".off")


def surface_hint(path: Path, what: str) -> str:
    """The message for a surface given where a volume mesh is needed: how to tetrahedralise it."""
    return (f"path: {str(path)!r} is {what}; a Heart needs a tetrahedral mesh: tetrahedralise the labelled "
            f"surface with mitwin.anatomy.mesh_surface({str(path)!r}) or `mitwin mesh {path} --out heart.vtu`")



def read_mesh(path: Path) -> dict[str, Any]:
    """Read a VTU/VTK/MSH file into plain arrays.

    Returns
    -------
    dict with ``points`` (N, 3) f8, ``tets`` (M, 4) i8, ``point_data`` (dict of arrays),
    ``surfaces`` (dict key -> node indices, possibly empty), ``triangles`` (dict key -> (K, 3)
    labelled boundary triangles, for the surfaces given that way), ``electrodes`` (dict or None),
    ``meta`` (dict).
    """
    import meshio

    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"path: no such file: {str(path)!r}")
    if path.suffix.lower() in SURFACE_SUFFIXES:
        raise MeshError(surface_hint(path, f"a surface file ({path.suffix.lower()})"))
    try:
        # meshio prints and calls sys.exit on some unreadable files: keep both inside
        with open(os.devnull, "w") as devnull, contextlib.redirect_stdout(devnull), \
                contextlib.redirect_stderr(devnull):
            mesh = meshio.read(path)
    except (Exception, SystemExit) as exc:  # meshio raises a variety of errors on bad files
        why = " ".join(str(exc).split())
        if isinstance(exc, SystemExit) or len(why) < 4:  # e.g. meshio's sys.exit(1) on a file it cannot parse
            why = f"not a readable {path.suffix or 'mesh'} file (empty, truncated or another format)"
        raise MeshError(f"path: could not read {str(path)!r} as a mesh: {why}") from exc
    points = np.ascontiguousarray(mesh.points[:, :3], dtype=np.float64) if mesh.points.shape[1] >= 3 else None
    if points is None:
        raise MeshError(f"path: {str(path)!r} has {mesh.points.shape[1]}-D points, expected 3-D")
    tet_blocks = [c.data for c in mesh.cells if c.type == "tetra"]
    if not tet_blocks:
        types = sorted({c.type for c in mesh.cells})
        if "triangle" in types:
            raise MeshError(surface_hint(path, "a surface (triangles, no tetrahedra)"))
        raise MeshError(f"path: {str(path)!r} has no tetrahedra (cell types: {types})")
    tets = np.ascontiguousarray(np.concatenate(tet_blocks), dtype=np.int64)
    n = points.shape[0]
    point_data = {k: np.asarray(v) for k, v in mesh.point_data.items()}

    surfaces: dict[str, list[np.ndarray]] = {k: [] for k in SURFACE_BITS}
    tri_lists: dict[str, list[np.ndarray]] = {k: [] for k in SURFACE_BITS}
    if "surface" in point_data:
        flags = point_data.pop("surface").astype(np.int64).ravel()
        for key, bit in SURFACE_BITS.items():
            surfaces[key].append(np.flatnonzero(flags & bit))
    else:
        # labelled boundary triangles: Cobiveco 'class' or gmsh physical groups
        names_by_tag: dict[int, str] = {}
        for name, value in (mesh.field_data or {}).items():
            value = np.asarray(value).ravel()
            if value.size >= 2 and int(value[1]) == 2 and surface_alias(name):
                names_by_tag[int(value[0])] = surface_alias(name)  # type: ignore[assignment]
        for ib, block in enumerate(mesh.cells):
            if block.type != "triangle":
                continue
            labels = None
            use_names = False
            for array in ("class", "gmsh:physical", "medit:ref", "CellEntityIds"):
                if array in mesh.cell_data:
                    labels = np.asarray(mesh.cell_data[array][ib]).astype(np.int64).ravel()
                    use_names = array == "gmsh:physical" and bool(names_by_tag)
                    break
            if labels is None:
                continue
            for lab in np.unique(labels):
                found = names_by_tag.get(int(lab)) if use_names else COBIVECO_CLASSES.get(int(lab))
                if found is not None:
                    tri_lists[found].append(np.asarray(block.data[labels == lab], dtype=np.int64))
                    surfaces[found].append(np.unique(tri_lists[found][-1]))
    surf = {k: np.unique(np.concatenate(v)).astype(np.int64) if v else np.zeros(0, np.int64)
            for k, v in surfaces.items()}
    triangles = {k: np.concatenate(v) for k, v in tri_lists.items() if v}
    if any(s.size and (s.min() < 0 or s.max() >= n) for s in surf.values()):
        raise MeshError(f"path: surface labels in {str(path)!r} refer to nodes outside [0, {n})")

    electrodes = None
    meta: dict = {}
    fd = mesh.field_data or {}
    if "electrodes" in fd:
        arr = np.asarray(fd["electrodes"], dtype=np.float64).reshape(-1, 3)
        if arr.shape == (len(ELECTRODE_ORDER), 3):
            electrodes = {k: arr[i].copy() for i, k in enumerate(ELECTRODE_ORDER)}
    if "mitwin_meta" in fd:
        try:
            meta = json.loads(bytes(np.asarray(fd["mitwin_meta"], dtype=np.uint8)).decode())
        except (ValueError, UnicodeDecodeError) as exc:
            raise MeshError(f"path: corrupt mitwin_meta field data in {str(path)!r}") from exc
    return {"points": points, "tets": tets, "point_data": point_data, "surfaces": surf, "triangles": triangles,
            "electrodes": electrodes, "meta": meta}
