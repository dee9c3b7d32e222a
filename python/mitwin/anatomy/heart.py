"""The :class:`Heart`: a biventricular tet mesh with coordinates, fibres, AHA segments and electrodes."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from .._validate import as_float_array, as_index_array, as_points, as_tets, check_tets
from ..errors import MeshError
from .aha import aha_segments
from .mesh_io import (
    SURFACE_BITS,
    boundary_faces,
    check_manifold_surface,
    check_triangle_labels,
    faces_in_set,
    read_mesh,
    separate_rims,
    write_vtu,
)
from .pose import check_pose, check_units, check_ventricle_labels, pose_heart, unit_scale

log = logging.getLogger(__name__)

SURFACE_KEYS: tuple[str, ...] = ("lv_endo", "rv_endo", "epi", "base")


@dataclass(eq=False)
class Heart:
    """A biventricular heart: mesh (mm), surfaces, Cobiveco-style coordinates, fibres, AHA, electrodes.

    Attributes
    ----------
    points : (N, 3) float64, mm (LPS patient frame for the virtual cohort).
    tets : (M, 4) int64, positively oriented.
    surfaces : dict of sorted unique node-index arrays (int64) ``lv_endo, rv_endo, epi, base``.
    tm, ab, rt, tv : (N,) float64 coordinates (tm 0 epi / 1 endo; ab 0 apex / 1 base;
        rt periodic [0, 1), free wall 0..2/3, septum 2/3..1; tv 0 LV / 1 RV).
    fibres, sheets, normals : (N, 3) float64 orthonormal fibre frame.
    aha : (N,) int64 AHA segment, 0 outside the LV region.
    electrodes : dict RA LA LL V1..V6 -> (3,) float64, mm.
    meta : dict (JSON-serialisable), e.g. cohort parameters and the seed.

    Examples
    --------
    >>> heart = Heart.load("subject_000.vtu")  # doctest: +SKIP
    >>> heart.n_nodes, heart.aha.max()  # doctest: +SKIP
    (31012, 17)
    """

    points: np.ndarray
    tets: np.ndarray
    surfaces: dict[str, np.ndarray]
    tm: np.ndarray
    ab: np.ndarray
    rt: np.ndarray
    tv: np.ndarray
    fibres: np.ndarray
    sheets: np.ndarray
    normals: np.ndarray
    aha: np.ndarray
    electrodes: dict[str, np.ndarray]
    meta: dict[str, Any] = field(default_factory=dict)

    def __repr__(self) -> str:
        sizes = ", ".join(f"{k}={np.size(v)}" for k, v in self.surfaces.items())
        return (f"Heart(n_nodes={self.n_nodes}, n_tets={int(self.tets.shape[0])}, surfaces({sizes}), "
                f"electrodes={sorted(self.electrodes)}, meta_keys={sorted(self.meta)})")

    @property
    def n_nodes(self) -> int:
        """Number of mesh nodes N."""
        return int(self.points.shape[0])

    @property
    def coords(self) -> np.ndarray:
        """(N, 4) float64 columns tm, ab, rt, tv."""
        return np.stack([self.tm, self.ab, self.rt, self.tv], axis=1)

    def surface_faces(self, key: str) -> np.ndarray:
        """Boundary triangles (F, 3) whose nodes all lie on surface ``key`` (lv_endo, rv_endo, epi, base)."""
        if key not in SURFACE_KEYS:
            raise ValueError(f"key: expected one of {SURFACE_KEYS}, got {key!r}")
        return faces_in_set(boundary_faces(self.tets), self.surfaces[key], self.n_nodes)

    # ------------------------------------------------------------------ construction

    @classmethod
    def from_labelled_mesh(cls, points: Any, tets: Any, surfaces: dict[str, Any], *, units: str | None = None,
                           pose: str = "auto", apex: int | None = None, junctions: tuple | None = None,
                           electrodes: dict | None = None, helix_endo: float = 60.0, helix_epi: float = -60.0,
                           meta: dict | None = None, torso: Any = None, solver: str = "cg") -> Heart:
        """Build a Heart from a tet mesh and its labelled surfaces: coordinates, fibres, AHA, electrodes.

        Parameters
        ----------
        points : (N, 3) float, in ``units``.
        tets : (M, 4) int, 0-based. Consistently inverted meshes are reoriented.
        surfaces : dict with keys ``lv_endo``, ``rv_endo``, ``epi``, ``base``; each value is
            either boundary triangles (K, 3) or node indices (K,). Nodes shared by an
            endocardium and the epicardium at a one-node rim become basal
            (:func:`mitwin.anatomy.mesh_io.separate_rims`).
        units : "mm", "cm" or None: a mesh whose extent is below 30 units is taken to be in cm,
            converted, with a warning (:func:`mitwin.anatomy.pose.to_mm`).
        pose : "auto" (keep a mesh that lies like a heart in the LPS patient frame, move any
            other rigidly into mitwin's standard pose with a warning), "standard" (always move)
            or "as_is" (never move); see :mod:`mitwin.anatomy.pose`. The motion is recorded in
            ``meta["pose"]``.
        apex : node index of the apex (default: found automatically).
        junctions : ``(posterior, anterior)`` node indices on the RV insertion lines (default:
            found automatically).
        electrodes : dict RA LA LL V1..V6 -> (3,) in ``units``, in the mesh's frame; they win over
            the default ones (with them ``pose="auto"`` keeps the mesh as it is, and "standard"
            moves them with it). Default: standard positions on a torso placed around the posed heart.
        helix_endo, helix_epi : fibre helix angles (degrees) at the endo- and epicardium.
        meta : extra metadata to keep with the heart.
        torso : :class:`mitwin.anatomy.electrodes.Torso` whose size (a, b) is used for the
            default electrodes (its position is fitted around the heart).
        solver : "cg" or "direct" for the Laplace solves.

        Raises
        ------
        MeshError
            No labelled surfaces, a missing cavity, inconsistent labels, swapped LV/RV labels,
            inverted or degenerate tets, a non-manifold boundary, a disconnected mesh.
        """
        from .coordinates import compute_coordinates
        from .electrodes import check_electrodes, place_torso, standard_electrodes
        from .fibres import compute_fibres

        check_units(units)
        check_pose(pose)
        points = as_points(points)
        scale = unit_scale(points, units, source="points", stacklevel=3)
        points = points * scale if scale != 1.0 else points
        tets = as_tets(tets, points.shape[0])
        tets = _oriented(points, tets)
        surf, triangles = _surfaces_to_nodes(surfaces, points.shape[0])
        faces = _check_topology(tets, surf, points.shape[0])
        surf = separate_rims(surf, faces, points.shape[0], triangles)
        check_ventricle_labels(points, surf, faces)
        if electrodes is not None:
            electrodes = {k: v * scale for k, v in check_electrodes(electrodes).items()}
        motion = pose_heart(points, surf, pose, has_electrodes=electrodes is not None, stacklevel=3)
        points = np.ascontiguousarray(motion.apply(points))
        c = compute_coordinates(points, tets, surf, apex=apex, junctions=junctions, solver=solver)
        f, s, n = compute_fibres(points, tets, c.tm, c.ab, c.rt, c.tv, helix_endo=helix_endo, helix_epi=helix_epi)
        aha = aha_segments(c.ab, c.rt, c.tv)
        meta = dict(meta or {})
        meta.setdefault("apex", c.apex)
        meta.setdefault("junctions", {"ab_levels": c.junction_levels.round(6).tolist(),
                                      "posterior_deg": np.degrees(c.junction_angles[:, 0]).round(4).tolist(),
                                      "anterior_deg": np.degrees(c.junction_angles[:, 1]).round(4).tolist()})
        if motion.moved:
            meta["pose"] = motion.as_dict()
        if electrodes is None:
            from .electrodes import Torso

            torso = place_torso(points, torso if torso is not None else Torso())
            electrodes = standard_electrodes(points, points[c.apex], torso)
            meta.setdefault("torso", torso.as_dict())
        else:
            electrodes = {k: motion.apply(v) for k, v in electrodes.items()}
        return cls(points=points, tets=tets, surfaces=surf, tm=c.tm, ab=c.ab, rt=c.rt, tv=c.tv, fibres=f, sheets=s,
                   normals=n, aha=aha, electrodes=electrodes, meta=meta)

    # ------------------------------------------------------------------ I/O

    def save(self, path: str | Path) -> Path:
        """Write the heart as a VTU file (atomically). Every array round-trips bit-exactly.

        Point data: tm ab rt tv fibre sheet normal aha surface; field data: electrodes, mitwin_meta.
        """
        path = Path(path)
        flags = np.zeros(self.n_nodes, dtype=np.uint8)
        for key, bit in SURFACE_BITS.items():
            flags[self.surfaces.get(key, np.zeros(0, np.int64))] |= np.uint8(bit)
        pd = {"tm": self.tm, "ab": self.ab, "rt": self.rt, "tv": self.tv, "fibre": self.fibres,
              "sheet": self.sheets, "normal": self.normals, "aha": self.aha.astype(np.int64), "surface": flags}
        pd = {k: np.ascontiguousarray(v) for k, v in pd.items()}
        write_vtu(path, self.points, self.tets, pd, self.electrodes, self.meta)
        return path

    @classmethod
    def load(cls, path: str | Path, units: str | None = None, *, electrodes: dict | None = None,
             pose: str = "auto") -> Heart:
        """Read a heart from VTU (or VTK / MSH via meshio).

        Arrays ``tm ab rt tv`` (Cobiveco output) are kept as they are; ``fibre sheet normal``
        and ``aha`` too when present (otherwise computed from the coordinates). A mesh with
        labelled surfaces but no coordinates gets them computed (:meth:`from_labelled_mesh`).
        Surfaces come from a ``surface`` bit-flag point array (mitwin), or from boundary
        triangles with a ``class`` cell array (Cobiveco: 1 base, 2 epi, 3 LV endo, 4 RV endo)
        or gmsh physical groups named LV/RV/EPI/BASE (or lv_endo, rv_endo, epi, base).
        A surface file (VTP, PLY, STL, OBJ) raises a MeshError that points to
        :func:`mitwin.anatomy.surface_mesh.mesh_surface`.

        Parameters
        ----------
        path : file to read.
        units : "mm", "cm" or None. With None, a mesh whose extent is below 30 units is taken
            to be in cm (with a warning) and converted to mm; "cm" converts without a warning;
            "mm" never converts (:func:`mitwin.anatomy.pose.to_mm`, the rule of
            :meth:`from_labelled_mesh`).
        electrodes : positions (in the file's units and frame) that replace those in the file.
            Without them and without electrodes in the file, standard positions are placed on a
            torso fitted around the posed heart.
        pose : "auto", "standard" or "as_is", as in :meth:`from_labelled_mesh` (electrodes in
            the file count as given). Fibre vectors read from the file move with the mesh.
        """
        from .electrodes import check_electrodes, place_torso, standard_electrodes
        from .fibres import compute_fibres

        check_units(units)
        check_pose(pose)
        data = read_mesh(Path(path))
        points = as_points(data["points"])
        scale = unit_scale(points, units, source=str(path), stacklevel=3)
        points = points * scale if scale != 1.0 else points
        tets = as_tets(data["tets"], points.shape[0])
        pd = data["point_data"]
        surf = data["surfaces"]
        meta = data["meta"]
        if electrodes is not None:
            electrodes = {k: v * scale for k, v in check_electrodes(electrodes).items()}
        elif data["electrodes"] is not None:
            electrodes = {k: v * scale for k, v in data["electrodes"].items()}

        if not all(k in pd for k in ("tm", "ab", "rt", "tv")):
            if not any(s.size for s in surf.values()):
                raise MeshError(f"path: {str(path)!r} has neither coordinates (tm ab rt tv) nor labelled surfaces")
            given = {**surf, **data["triangles"]}  # labelled triangles where the file has them
            return cls.from_labelled_mesh(points, tets, given, units="mm", pose=pose, electrodes=electrodes,
                                          meta=meta)

        n = points.shape[0]
        tm, ab, rt, tv = (as_float_array(np.asarray(pd[k]).ravel(), k, (n,)) for k in ("tm", "ab", "rt", "tv"))
        tets = _oriented(points, tets)
        if not any(s.size for s in surf.values()):
            surf = _surfaces_from_coordinates(tets, tm, ab, tv, n)
        if "aha" in pd:
            aha = as_index_array(np.asarray(pd["aha"]).ravel(), "aha", (n,), upper=18)
        else:
            aha = aha_segments(ab, rt, tv)
        if all(k in pd for k in ("fibre", "sheet")):
            fibres = as_float_array(pd["fibre"], "fibre", (n, 3))
            sheets = as_float_array(pd["sheet"], "sheet", (n, 3))
            normals = (as_float_array(pd["normal"], "normal", (n, 3)) if "normal" in pd
                       else np.cross(fibres, sheets))
        else:
            fibres, sheets, normals = compute_fibres(points, tets, tm, ab, rt, tv)
        surf = {k: np.ascontiguousarray(v, dtype=np.int64) for k, v in surf.items()}
        if pose != "as_is":
            if all(s.size for s in surf.values()):
                motion = pose_heart(points, surf, pose, has_electrodes=electrodes is not None, source=str(path),
                                    stacklevel=3)
                if motion.moved:
                    points = np.ascontiguousarray(motion.apply(points))
                    fibres, sheets, normals = (motion.rotate(v) for v in (fibres, sheets, normals))
                    if electrodes is not None:
                        electrodes = {k: motion.apply(v) for k, v in electrodes.items()}
                    meta = {**meta, "pose": motion.as_dict()}
            elif pose == "standard":
                raise MeshError(f"path: {str(path)!r} has no labelled lv_endo, rv_endo, epi and base (nor "
                                "coordinates that give them); cannot find its anatomical frame for pose='standard'")
            else:
                log.info("%s: no labelled surfaces to find the anatomical frame; the mesh is kept as it is", path)
        if electrodes is None:
            apex = int(meta.get("apex", int(np.argmin(ab))))
            electrodes = standard_electrodes(points, points[apex], place_torso(points))
        return cls(points=points, tets=tets, surfaces=surf, tm=tm, ab=ab, rt=rt, tv=tv, fibres=fibres, sheets=sheets,
                   normals=normals, aha=aha, electrodes=electrodes, meta=meta)


# ----------------------------------------------------------------------------- helpers


def _oriented(points: np.ndarray, tets: np.ndarray) -> np.ndarray:
    """Raise on degenerate or mixed-orientation tets; flip a consistently inverted mesh."""
    vol = check_tets(points, tets)
    if np.all(vol < 0):
        log.info("tets: all tetrahedra are negatively oriented; reordering their nodes")
        tets = tets[:, [0, 1, 3, 2]].copy()
    return np.ascontiguousarray(tets)


def _surfaces_to_nodes(surfaces: Any, n: int) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray]]:
    """Validated node sets of the four surfaces, and the triangles of those given as triangles."""
    if not isinstance(surfaces, dict) or not surfaces:
        raise MeshError("surfaces: no labelled surfaces; expected a dict with lv_endo, rv_endo, epi and base "
                        "(triangles (K, 3) or node indices (K,))")
    unknown = sorted(set(surfaces) - set(SURFACE_KEYS))
    if unknown:
        raise ValueError(f"surfaces: unknown keys {unknown}; expected {list(SURFACE_KEYS)}")
    out: dict[str, np.ndarray] = {}
    triangles: dict[str, np.ndarray] = {}
    for key in SURFACE_KEYS:
        v = surfaces.get(key)
        arr = np.zeros(0, np.int64) if v is None else np.asarray(v)
        if arr.ndim == 2:
            triangles[key] = as_index_array(arr, f"surfaces[{key!r}]", (None, 3), upper=n)
            arr = triangles[key].ravel()
        else:
            arr = as_index_array(arr, f"surfaces[{key!r}]", (None,), upper=n)
        out[key] = np.unique(arr).astype(np.int64)
    if not any(v.size for v in out.values()):
        raise MeshError("surfaces: no labelled surfaces (all four node sets are empty)")
    missing_cav = [k for k in ("lv_endo", "rv_endo") if out[k].size == 0]
    if missing_cav:
        raise MeshError(f"surfaces: missing cavity: {', '.join(missing_cav)} is empty; a biventricular mesh needs "
                        "both the LV and the RV endocardium")
    for key in ("epi", "base"):
        if out[key].size == 0:
            raise MeshError(f"surfaces: the {key} surface is empty")
    check_triangle_labels(triangles)
    return out, triangles


def _check_topology(tets: np.ndarray, surf: dict[str, np.ndarray], n: int) -> np.ndarray:
    """Raise unless the boundary is manifold and every surface node lies on it; returns the boundary faces."""
    faces = boundary_faces(tets)
    check_manifold_surface(faces)
    on_boundary = np.zeros(n, dtype=bool)
    on_boundary[faces] = True
    for key, nodes in surf.items():
        off = nodes[~on_boundary[nodes]]
        if off.size:
            raise MeshError(f"surfaces[{key!r}]: {off.size} nodes are not on the mesh boundary "
                            f"(e.g. node {int(off[0])})")
    return faces


def _surfaces_from_coordinates(tets: np.ndarray, tm, ab, tv, n: int) -> dict[str, np.ndarray]:
    """Surface node sets of a mesh that only carries coordinates: boundary faces classified by tm/ab/tv."""
    faces = boundary_faces(tets)
    f_tm, f_ab, f_tv = tm[faces], ab[faces], tv[faces]
    base = faces[(f_ab >= 0.99).all(axis=1)]
    endo = (f_tm >= 0.99).all(axis=1)
    lv = faces[endo & (f_tv < 0.5).all(axis=1)]
    rv = faces[endo & (f_tv >= 0.5).all(axis=1)]
    epi = faces[(f_tm <= 0.01).all(axis=1)]
    return {"lv_endo": np.unique(lv), "rv_endo": np.unique(rv), "epi": np.unique(epi), "base": np.unique(base)}
