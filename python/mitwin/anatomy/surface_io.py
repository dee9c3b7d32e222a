"""Reading labelled heart surfaces: one closed surface with a class array, or one file per surface.

Formats: PLY, VTK (legacy), OBJ, OFF and STL through meshio, and VTK XML PolyData (``.vtp``),
which meshio does not read, through meshio's VTU reader: a PolyData file differs from an
UnstructuredGrid one only in its tags (``Polys`` with ``connectivity``/``offsets`` instead of
``Cells`` with a ``types`` array too), so the file's header is rewritten in memory, the data
blocks (ASCII, base64, compressed or raw appended) left byte for byte as they are, and meshio
decodes them.

A single file (VTP, PLY, VTK) carries the labels: a per-cell (triangle) or per-point integer
array. Its name is ``label_array`` or the first of :data:`LABEL_ARRAYS` that the file has; its
values map to the surfaces by ``labels`` (default: Cobiveco's classes, 1 base, 2 epi, 3 lv_endo,
4 rv_endo). A per-point array labels each triangle by the majority of its three nodes (three
different labels: the first of lv_endo, rv_endo, epi, base among them). STL, OBJ and OFF files
carry no labels: give one file per surface (any of the formats above).
"""

from __future__ import annotations

import contextlib
import os
import re
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from ..errors import MeshError
from .mesh_io import COBIVECO_CLASSES

if TYPE_CHECKING:
    from .heart import Heart

#: Surface keys in the order used for labels (index = label id of :class:`LabelledSurface`).
KEYS: tuple[str, ...] = ("lv_endo", "rv_endo", "epi", "base")
#: Array names tried, in order, when ``label_array`` is not given (cell data first, then point data).
LABEL_ARRAYS: tuple[str, ...] = ("class", "label", "labels", "surface_label", "CellEntityIds", "gmsh:physical",
                                 "medit:ref")


@dataclass(frozen=True)
class LabelledSurface:
    """A triangulated surface with one label per triangle.

    Attributes
    ----------
    points : (N, 3) float64, file units.
    triangles : (F, 3) int64 node indices.
    labels : (F,) int64 index into :data:`KEYS` (0 lv_endo, 1 rv_endo, 2 epi, 3 base).
    """

    points: np.ndarray
    triangles: np.ndarray
    labels: np.ndarray


def read_any(path: Path):
    """Read a surface file with meshio (VTP through the VTU reader); returns a ``meshio.Mesh``."""
    import meshio

    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"path: no such file: {str(path)!r}")
    try:
        with open(os.devnull, "w") as devnull, contextlib.redirect_stdout(devnull), \
                contextlib.redirect_stderr(devnull):
            if path.suffix.lower() == ".vtp":
                return _read_vtp(path)
            return meshio.read(path)
    except (MeshError, FileNotFoundError):
        raise
    except (Exception, SystemExit) as exc:  # meshio raises a variety of errors on bad files
        raise MeshError(f"path: could not read {str(path)!r} as a surface: {exc}") from exc


def _read_vtp(path: Path):
    """Read VTK XML PolyData by rewriting its header as an UnstructuredGrid for meshio."""
    import meshio

    raw = path.read_bytes()
    m = re.search(rb"<AppendedData[^>]*>", raw)
    head, tail = (raw[:m.start()], raw[m.start():]) if m else (raw, b"")
    text = head.decode("utf-8")
    if 'type="PolyData"' not in text:
        raise MeshError(f"path: {str(path)!r} is not a VTK PolyData file")
    moved = []  # the (empty) Verts/Lines/Strips arrays go to FieldData: raw appended data is read by offset
    for section in ("Verts", "Lines", "Strips"):
        n = re.findall(rf'NumberOf{section}="(\d+)"', text)
        if any(int(v) for v in n):
            raise MeshError(f"path: {str(path)!r} holds {section.lower()}; expected triangles (Polys) only")
        if m:  # only appended data needs them (by offset); inline arrays are dropped
            for body in re.findall(rf"<{section}>(.*?)</{section}>", text, flags=re.S):
                moved.append(re.sub(r'Name="', f'Name="{section}_', body))
        text = re.sub(rf"<{section}>.*?</{section}>|<{section}\s*/>", "", text, flags=re.S)
        text = re.sub(rf'\s+NumberOf{section}="\d+"', "", text)
    if moved:
        text = re.sub(r"(<PolyData[^>]*>)", lambda mm: mm.group(1) + "<FieldData>" + "".join(moved) + "</FieldData>",
                      text, count=1)
    n_polys = [int(v) for v in re.findall(r'NumberOfPolys="(\d+)"', text)]
    if len(n_polys) != 1:
        raise MeshError(f"path: {str(path)!r}: expected one Piece with Polys, found {len(n_polys)}")
    types = f'<DataArray type="UInt8" Name="types" format="ascii">{" 7" * n_polys[0]}</DataArray>'
    text = (text.replace('type="PolyData"', 'type="UnstructuredGrid"').replace("<PolyData", "<UnstructuredGrid")
            .replace("</PolyData>", "</UnstructuredGrid>").replace("NumberOfPolys=", "NumberOfCells="))
    text = re.sub(r"<Polys>(.*?)</Polys>", lambda mm: f"<Cells>{mm.group(1)}{types}</Cells>", text, flags=re.S)
    with tempfile.TemporaryDirectory(prefix="mitwin-vtp-") as tmp:
        vtu = Path(tmp) / "surface.vtu"
        vtu.write_bytes(text.encode("utf-8") + tail)
        return meshio.read(vtu)


def _triangles(mesh, path: Path) -> tuple[np.ndarray, list[tuple[int, int]]]:
    """All triangles of a meshio mesh and, per cell block, (block index, first triangle row)."""
    blocks, rows, start = [], [], 0
    for ib, c in enumerate(mesh.cells):
        data = np.asarray(c.data)
        if c.type == "triangle" or (c.type.startswith("polygon") and data.ndim == 2 and data.shape[1] == 3):
            blocks.append(data.astype(np.int64))
            rows.append((ib, start))
            start += data.shape[0]
        elif c.type in ("vertex", "line"):
            continue
        else:
            raise MeshError(f"path: {str(path)!r} holds {c.type} cells; expected a triangulated surface")
    if not blocks:
        raise MeshError(f"path: {str(path)!r} has no triangles (cell types: {sorted({c.type for c in mesh.cells})})")
    return np.concatenate(blocks), rows


def _label_ids(values: np.ndarray, labels: dict[int, str], name: str, path: Path) -> np.ndarray:
    values = np.asarray(values).ravel()
    if values.size and not np.all(np.mod(values, 1) == 0):
        raise MeshError(f"path: the label array {name!r} of {str(path)!r} holds non-integer values")
    values = values.astype(np.int64)
    ids = np.full(values.shape, -1, dtype=np.int64)
    for value, key in labels.items():
        if key not in KEYS:
            raise ValueError(f"labels: expected values among {list(KEYS)}, got {key!r} for {value}")
        ids[values == int(value)] = KEYS.index(key)
    return ids


def _majority(node_ids: np.ndarray) -> np.ndarray:
    a, b, c = node_ids.T
    first = np.minimum(np.minimum(np.where(a < 0, 99, a), np.where(b < 0, 99, b)), np.where(c < 0, 99, c))
    out = np.where((a == b) | (a == c), a, np.where(b == c, b, first))
    return np.where(out == 99, -1, out)


def read_labelled_surface(path: str | Path, *, label_array: str | None = None,
                          labels: dict[int, str] | None = None) -> LabelledSurface:
    """Read one closed surface whose triangles (or points) carry the surface class.

    Parameters
    ----------
    path : a VTP, PLY or VTK file.
    label_array : name of the per-cell or per-point integer array (default: the first of
        :data:`LABEL_ARRAYS` present).
    labels : label value -> surface key; default Cobiveco's (1 base, 2 epi, 3 lv_endo, 4 rv_endo).

    Returns
    -------
    :class:`LabelledSurface` (points in file units).

    Raises
    ------
    MeshError
        No triangles, no label array, or triangles whose label maps to no surface.
    """
    path = Path(path)
    labels = dict(COBIVECO_CLASSES if labels is None else labels)
    mesh = read_any(path)
    triangles, rows = _triangles(mesh, path)
    points = np.ascontiguousarray(np.asarray(mesh.points, dtype=np.float64)[:, :3])
    cell_names = [k for k in mesh.cell_data if all(np.asarray(mesh.cell_data[k][ib]).ndim == 1 for ib, _ in rows)]
    names = [label_array] if label_array is not None else list(LABEL_ARRAYS)
    ids = None
    for name in names:
        if name in cell_names:
            ids = _label_ids(np.concatenate([np.asarray(mesh.cell_data[name][ib]) for ib, _ in rows]),
                             labels, name, path)
            break
        if name in mesh.point_data and np.asarray(mesh.point_data[name]).ndim == 1:
            ids = _majority(_label_ids(mesh.point_data[name], labels, name, path)[triangles])
            break
    if ids is None:
        available = sorted(set(cell_names) | set(mesh.point_data))
        wanted = repr(label_array) if label_array is not None else f"one of {list(LABEL_ARRAYS)}"
        raise MeshError(f"path: {str(path)!r} has no label array {wanted} (arrays: {available}); a single surface "
                        "file needs a per-cell or per-point class (1 base, 2 epi, 3 lv_endo, 4 rv_endo by default), "
                        "or give one file per surface")
    if np.any(ids < 0):
        raise MeshError(f"path: {int(np.count_nonzero(ids < 0))} triangles of {str(path)!r} carry a label that maps "
                        f"to no surface (labels={labels})")
    return LabelledSurface(points=points, triangles=triangles, labels=ids)


def labelled_boundary(heart: Heart) -> LabelledSurface:
    """The closed labelled boundary surface of a heart (e.g. to export it, or to remesh it).

    Each boundary triangle is labelled once: by the first of lv_endo, rv_endo, epi, base whose node
    set holds all three of its nodes, otherwise by the majority of its nodes' labels.

    Parameters
    ----------
    heart : :class:`~mitwin.anatomy.heart.Heart`.

    Returns
    -------
    :class:`LabelledSurface` with the heart's boundary nodes only (mm), triangles outward.
    """
    from .mesh_io import boundary_faces

    faces = boundary_faces(heart.tets)
    label = np.full(faces.shape[0], -1, dtype=np.int64)
    node = np.full(heart.n_nodes, -1, dtype=np.int64)
    for i in range(len(KEYS) - 1, -1, -1):
        node[heart.surfaces[KEYS[i]]] = i
    for i, key in enumerate(KEYS):
        inside = np.zeros(heart.n_nodes, dtype=bool)
        inside[heart.surfaces[key]] = True
        label[(label < 0) & inside[faces].all(axis=1)] = i
    rest = label < 0
    label[rest] = _majority(node[faces[rest]])
    if np.any(label < 0):
        raise MeshError(f"heart: {int(np.count_nonzero(label < 0))} boundary triangles touch no labelled surface")
    used = np.unique(faces)
    remap = np.full(heart.n_nodes, -1, dtype=np.int64)
    remap[used] = np.arange(used.size)
    return LabelledSurface(points=np.ascontiguousarray(heart.points[used]), triangles=remap[faces], labels=label)


def read_surface_part(path: str | Path) -> tuple[np.ndarray, np.ndarray]:
    """Read one surface file (any format above) as points (N, 3) and triangles (F, 3), labels ignored."""
    path = Path(path)
    mesh = read_any(path)
    triangles, _ = _triangles(mesh, path)
    return np.ascontiguousarray(np.asarray(mesh.points, dtype=np.float64)[:, :3]), triangles
