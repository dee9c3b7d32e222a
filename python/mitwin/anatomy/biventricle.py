"""The idealised biventricle of the virtual cohort (:mod:`mitwin.anatomy.cohort`): its four ellipsoids from the
shape parameters, volumes computed from them, meshing with gmsh (cardiac-geometries-core), the ``shaped``
variety's smooth displacements, and the labels of its boundary. Mesh frame, mm: long axis along +z (apex low),
RV on the +x side."""

from __future__ import annotations

import contextlib
import os
import tempfile
import time
from pathlib import Path

import numpy as np

from .._validate import tet_signed_volumes
from ..errors import MeshError
from .mesh_io import boundary_faces

__all__ = ["analytic_lv_cavity_ml", "cavity_volumes_ml", "ellipsoids", "label_surfaces", "mesh_biventricle",
           "shape_mesh"]


def cavity_volumes_ml(p: dict[str, float], grid_mm: float = 1.0) -> tuple[float, float]:
    """LV and RV cavity volumes (mL) of the ellipsoids of parameters ``p``, before any shape change.

    The LV cavity is the truncated ellipsoid (:func:`analytic_lv_cavity_ml`); the RV cavity, inside the RV
    endocardial ellipsoid, outside the LV epicardial one and below the base, is counted on a ``grid_mm`` grid
    (within 1 % of the meshed cavity at 1 mm).
    """
    e = ellipsoids(p)
    (o, r), (_, r_lv) = e["rv_in"], e["lv_out"]
    lo, hi = o - r, o + r
    hi[2] = min(hi[2], p["base_cut_z"])
    x, y, z = np.meshgrid(*(np.arange(lo[k] + grid_mm / 2, hi[k], grid_mm) for k in range(3)), indexing="ij")
    inside = ((((x - o[0]) / r[0]) ** 2 + ((y - o[1]) / r[1]) ** 2 + ((z - o[2]) / r[2]) ** 2 < 1.0)
              & ((x / r_lv[0]) ** 2 + (y / r_lv[1]) ** 2 + (z / r_lv[2]) ** 2 > 1.0))
    return analytic_lv_cavity_ml(p), float(inside.sum()) * grid_mm**3 / 1000.0


def analytic_lv_cavity_ml(p: dict[str, float]) -> float:
    """LV cavity volume (mL) of the truncated ellipsoid: pi a b [h + c - (h^3 + c^3) / (3 c^2)]."""
    a = p["lv_endo_rx"]
    b = a * p["lv_endo_y_ratio"]
    c, h = p["lv_endo_rz"], p["base_cut_z"]
    return float(np.pi * a * b * (h + c - (h**3 + c**3) / (3 * c * c)) / 1000.0)


def ellipsoids(p: dict[str, float]) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """Centre and radii of the four ellipsoids in the mesh frame (mm).

    The RV epicardial ellipsoid (centre (d, 0, 0), radii rx, ry, rz) is fixed by its y and z
    radii, the RV cavity width W at the equator (its outer x extent is ``Rx + W + rv_wall``)
    and the angle phi at which it meets the LV epicardium (Rx cos phi, Ry sin phi) in the
    equatorial plane: with k = sqrt(1 - (Ry sin phi / ry)^2), rx = (Rx + W + w - Rx cos phi) /
    (1 + k) and d = Rx + W + w - rx.
    """
    lv_in = np.array([p["lv_endo_rx"], p["lv_endo_rx"] * p["lv_endo_y_ratio"], p["lv_endo_rz"]])
    lv_out = lv_in + p["lv_wall"]
    ry, rz = lv_out[1] * p["rv_y_ratio"], lv_out[2] * p["rv_z_ratio"]
    phi = np.deg2rad(p["junction_half_angle_deg"])
    k = np.sqrt(1.0 - (lv_out[1] * np.sin(phi) / ry) ** 2)
    x_max = lv_out[0] + p["rv_cavity_width"] + p["rv_wall"]
    rx = (x_max - lv_out[0] * np.cos(phi)) / (1.0 + k)
    rv_out = np.array([rx, ry, rz])
    rv_in = rv_out - p["rv_wall"]
    o, r = np.zeros(3), np.array([x_max - rx, 0.0, 0.0])
    return {"lv_in": (o, lv_in), "lv_out": (o, lv_out), "rv_in": (r, rv_in), "rv_out": (r, rv_out)}


def mesh_biventricle(p: dict[str, float], resolution_mm: float) -> tuple[np.ndarray, np.ndarray, float]:
    """Mesh the biventricle with gmsh (mesh frame, mm). Returns points, tets, seconds."""
    try:
        from cardiac_geometries_core import biv_ellipsoid
    except ImportError as exc:  # pragma: no cover - depends on the environment
        raise ImportError("the virtual cohort needs gmsh and cardiac-geometries-core: "
                          "pip install 'mitwin[cohort]'") from exc
    import meshio

    e = ellipsoids(p)
    t0 = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="mitwin-biv-") as tmp:
        path = Path(tmp) / "biv.msh"
        with open(os.devnull, "w") as devnull, contextlib.redirect_stdout(devnull):
            biv_ellipsoid(
                path, char_length=float(resolution_mm), base_cut_z=p["base_cut_z"], box_size=1000.0,
                rv_wall_thickness=p["rv_wall"], lv_wall_thickness=p["lv_wall"], rv_offset_x=float(e["rv_out"][0][0]),
                lv_radius_x=float(e["lv_out"][1][0]), lv_radius_y=float(e["lv_out"][1][1]),
                lv_radius_z=float(e["lv_out"][1][2]), rv_radius_x=float(e["rv_out"][1][0]),
                rv_radius_y=float(e["rv_out"][1][1]), rv_radius_z=float(e["rv_out"][1][2]),
            )
        mesh = meshio.read(path)
    seconds = time.perf_counter() - t0
    tets = np.concatenate([c.data for c in mesh.cells if c.type == "tetra"]).astype(np.int64)
    used = np.unique(tets)
    remap = np.full(mesh.points.shape[0], -1, dtype=np.int64)
    remap[used] = np.arange(used.size)
    return np.ascontiguousarray(mesh.points[used, :3], dtype=np.float64), remap[tets], seconds


def shape_mesh(points: np.ndarray, tets: np.ndarray, p: dict[str, float]) -> np.ndarray:
    """Tilt the base and bulge or flatten the septum of a biventricle in the mesh frame (:data:`SHAPED_RANGES`).

    With s = (z - z_apex) / (z_base - z_apex) in [0, 1]:

    * base tilt: ``z += tan(base_tilt) (x cos(dir) + y sin(dir)) s^2``, which turns the basal plane by
      ``base_tilt_deg`` about the LV axis and leaves the apex where it is;
    * septum: ``x += septal_bulge_mm * s * exp(-((x - x_mid(z)) / 12)^2 - (y / (0.6 h))^2)``, with x_mid(z) the
      middle of the LV wall on the septal (+x) side at height z and h the septum's half-span (the RV
      junctions at ``Ry sin(junction_half_angle)``); the RV free wall and the other LV walls, 25 mm and more
      away, do not move.

    Parameters without the three shape keys (the standard and wide varieties) leave the points unchanged.

    Raises
    ------
    MeshError
        If a tetrahedron would be inverted (not for the ranges of :data:`SHAPED_RANGES`).
    """
    if not all(k in p for k in ("base_tilt_deg", "base_tilt_dir_deg", "septal_bulge_mm")):
        return points
    e = ellipsoids(p)
    lv_in, lv_out = e["lv_in"][1], e["lv_out"][1]
    x, y, z = points.T
    z_apex = float(z.min())
    s = np.clip((z - z_apex) / (p["base_cut_z"] - z_apex), 0.0, 1.0)
    out = points.copy()
    x_mid = 0.5 * (lv_in[0] * np.sqrt(np.clip(1 - (z / lv_in[2]) ** 2, 0, None))
                   + lv_out[0] * np.sqrt(np.clip(1 - (z / lv_out[2]) ** 2, 0, None)))
    half = lv_out[1] * np.sin(np.deg2rad(p["junction_half_angle_deg"]))
    out[:, 0] += p["septal_bulge_mm"] * s * np.exp(-(((x - x_mid) / 12.0) ** 2) - (y / (0.6 * half)) ** 2)
    th, di = np.deg2rad(p["base_tilt_deg"]), np.deg2rad(p["base_tilt_dir_deg"])
    out[:, 2] += np.tan(th) * (x * np.cos(di) + y * np.sin(di)) * s**2
    before, after = tet_signed_volumes(points, tets), tet_signed_volumes(out, tets)
    if np.any(np.sign(before) != np.sign(after)) or np.any(np.abs(after) < 1e-3 * np.abs(before)):
        raise MeshError(f"shape_mesh: the shape parameters {p} invert or flatten tetrahedra")
    return out


def label_surfaces(points: np.ndarray, tets: np.ndarray, p: dict[str, float]) -> dict[str, np.ndarray]:
    """Label the boundary of a biventricular ellipsoid mesh (mesh frame) from the analytic surfaces.

    Every boundary face goes to the closest of: the base plane, the LV/RV endocardial and
    epicardial ellipsoids; faces on the LV epicardial ellipsoid that lie inside the RV are the
    septal RV endocardium.
    """
    faces = boundary_faces(tets)
    c = points[faces].mean(axis=1)
    e = ellipsoids(p)
    dist = {}
    for k, (o, r) in e.items():
        q = (c - o) / r
        dist[k] = np.abs(np.sqrt((q * q).sum(axis=1)) - 1.0) * r.min()
    dist["base"] = np.abs(c[:, 2] - p["base_cut_z"])
    # the RV ellipsoids bound the myocardium only outside the LV epicardial ellipsoid
    o, r = e["lv_out"]
    inside_lv = np.sqrt((((c - o) / r) ** 2).sum(axis=1)) < 0.97
    dist["rv_in"][inside_lv] = np.inf
    dist["rv_out"][inside_lv] = np.inf
    keys = list(dist)
    which = np.argmin(np.stack([dist[k] for k in keys], axis=1), axis=1)
    label = np.array(keys)[which]
    o, r = e["rv_in"]  # the LV epicardial ellipsoid bounds the RV cavity only inside the RV endocardium
    inside_rv = (((c - o) / r) ** 2).sum(axis=1) < 1.0
    classes = {
        "lv_endo": label == "lv_in",
        "rv_endo": (label == "rv_in") | ((label == "lv_out") & inside_rv),
        "epi": (label == "rv_out") | ((label == "lv_out") & ~inside_rv),
        "base": label == "base",
    }
    return {k: np.ascontiguousarray(faces[m]) for k, m in classes.items()}
