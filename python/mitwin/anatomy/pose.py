"""Units and pose of a user's heart mesh, and a check that the LV and RV labels are not swapped.

**Units** (:func:`to_mm`): one rule for :meth:`Heart.load <mitwin.anatomy.heart.Heart.load>`,
:meth:`Heart.from_labelled_mesh <mitwin.anatomy.heart.Heart.from_labelled_mesh>` and
:func:`mitwin.anatomy.surface_mesh.mesh_surface`: ``units="mm"`` keeps the values, ``"cm"``
multiplies by 10, and ``None`` takes a mesh whose largest bounding-box side is below
:data:`CM_EXTENT` (30 units; an adult heart is 100-130 mm long) to be in cm: it is converted,
with a warning.

**Pose** (:func:`pose_heart`): mitwin works in the patient LPS frame (x left, y posterior,
z superior; :mod:`mitwin.anatomy.electrodes`) and places the default electrodes assuming it.
The anatomical frame of a mesh (:func:`anatomical_frame`) is read from its labelled surfaces:

* apex: the epicardial node deepest below the least-squares base plane;
* long axis: from the apex to the centre of the LV basal ring (LV endocardial nodes on the base);
* septal direction: from the LV to the RV cavity centroid, made perpendicular to the long axis.

The standard pose is the cohort's nominal one, :func:`pose_rotation(45, 25, 0)
<mitwin.anatomy.electrodes.pose_rotation>`: the long axis points left, anterior and inferior
(45 deg from the sagittal plane, 25 deg below the horizontal), the septal direction right and
anterior. A mesh *lies like a heart in LPS* when its long axis is within
:data:`LONG_AXIS_TOLERANCE_DEG` of the standard one and its septal direction within
:data:`SEPTAL_TOLERANCE_DEG` of the standard one (measured about the long axis). The tolerances hold
the range of adult heart orientations (:data:`mitwin.anatomy.cohort.POSE_RANGES`: azimuth 30-65 deg,
elevation 10-45 deg, roll +-25 deg, which lie up to 26 deg (long axis) and 39 deg (septum) from the
standard pose), with a few degrees for the anatomical frame's own scatter (the virtual cohort's poses
measure within 11 deg of both); a mesh further off is not in a patient frame. ``pose="auto"`` keeps
such a mesh as it is and moves any other rigidly (rotation about the mesh centroid, centroid to the
origin) into the standard pose, with a warning; ``"standard"`` always moves it (without a warning: it was asked for);
``"as_is"`` never does. Electrodes given by the user tie the mesh to a torso: with them,
``"auto"`` keeps the mesh as it is and ``"standard"`` moves mesh and electrodes together, so that
the ECG does not change.

**LV/RV labels** (:func:`check_ventricle_labels`): the LV has the thicker wall and the nearly
convex cavity; the RV a thin free wall and a crescent-shaped cavity wrapped around the septum
(which bulges into the RV). Two measures, each independent of the pose and the size:

* wall thickness: the median distance from a cavity's endocardial nodes to the nearest epicardial
  node (LV free wall 6-12 mm, RV free wall 2-5 mm; Lang et al. 2015, J Am Soc Echocardiogr 28:1);
* convexity: the cavity volume (endocardium closed over its basal opening) over the volume of the
  convex hull of its nodes (close to 1 for the LV, well below for the crescent RV).

When both say that ``lv_endo`` is the RV, the labels are swapped: :class:`~mitwin.errors.MeshError`.
When only one does, a warning.
"""

from __future__ import annotations

import logging
import warnings
from dataclasses import dataclass

import numpy as np

from ..errors import MeshError
from .electrodes import pose_rotation

log = logging.getLogger(__name__)

#: A mesh whose largest bounding-box side is below this (in file units) is taken to be in cm.
CM_EXTENT = 30.0
#: Accepted values of ``units``.
UNITS: tuple[str, ...] = ("mm", "cm")
#: Accepted values of ``pose``.
POSES: tuple[str, ...] = ("auto", "standard", "as_is")
#: Largest angle (deg) between a mesh's long axis and the standard one for ``pose="auto"`` to keep it.
LONG_AXIS_TOLERANCE_DEG = 30.0
#: Largest angle (deg) between a mesh's septal direction and the standard one, about the long axis.
SEPTAL_TOLERANCE_DEG = 45.0
#: The standard pose: mesh frame (long axis +z, RV on +x) to LPS.
STANDARD_ROTATION = pose_rotation(45.0, 25.0, 0.0)


def check_units(units: object) -> str | None:
    """Return ``units`` if it is None, "mm" or "cm"; raise ValueError otherwise."""
    if units is not None and units not in UNITS:
        raise ValueError(f"units: expected 'mm', 'cm' or None (detect), got {units!r}")
    return units


def check_pose(pose: object) -> str:
    """Return ``pose`` if it is one of "auto", "standard", "as_is"; raise ValueError otherwise."""
    if pose not in POSES:
        raise ValueError(f"pose: expected one of {list(POSES)}, got {pose!r}")
    return pose


def unit_scale(points: np.ndarray, units: str | None, *, source: str = "points", stacklevel: int = 3) -> float:
    """mitwin's units rule: the factor (1 or 10) that takes node coordinates to mm.

    Parameters
    ----------
    points : (N, 3) float64 in file units.
    units : "mm" (1), "cm" (10) or None (10 when the largest bounding-box side is below
        :data:`CM_EXTENT`, with a warning; else 1).
    source : what the points came from (a path or "points"), for the messages.
    stacklevel : passed to :func:`warnings.warn` (so that the warning names the user's call).

    Examples
    --------
    >>> unit_scale(np.array([[0.0, 0.0, 0.0], [100.0, 0.0, 0.0]]), None)
    1.0
    """
    units = check_units(units)
    if units is None:
        extent = float(np.max(np.ptp(points, axis=0)))
        if extent < CM_EXTENT:
            warnings.warn(f"{source}: the mesh extent is {extent:.3g} units, which suggests cm; converting to mm "
                          "(pass units='mm' to keep the values)", UserWarning, stacklevel=stacklevel)
            units = "cm"
    if units == "cm":
        log.info("%s: converting cm to mm", source)
        return 10.0
    return 1.0


def to_mm(points: np.ndarray, units: str | None, *, source: str = "points", stacklevel: int = 4) -> np.ndarray:
    """Node coordinates (N, 3) in mm by :func:`unit_scale` (``points`` itself when nothing is converted).

    Examples
    --------
    >>> to_mm(np.array([[0.0, 0.0, 0.0], [10.0, 0.0, 0.0]]), "cm")[1, 0]
    np.float64(100.0)
    """
    scale = unit_scale(points, units, source=source, stacklevel=stacklevel)
    return points * scale if scale != 1.0 else points


# ----------------------------------------------------------------------------- anatomical frame


@dataclass(frozen=True)
class AnatomicalFrame:
    """Where a heart mesh points, from its labelled surfaces.

    Attributes
    ----------
    centre : (3,) float64 centroid of the nodes, mm.
    long_axis : (3,) unit vector from the apex to the centre of the LV basal ring.
    septal : (3,) unit vector from the LV towards the RV, perpendicular to ``long_axis``.
    apex : int node index of the apex.
    """

    centre: np.ndarray
    long_axis: np.ndarray
    septal: np.ndarray
    apex: int

    def to_mesh_frame(self) -> np.ndarray:
        """(3, 3) rotation R with ``R @ v`` in the idealised mesh frame (long axis +z, RV on +x)."""
        return np.stack([self.septal, np.cross(self.long_axis, self.septal), self.long_axis])

    def deviation_deg(self, rotation: np.ndarray = STANDARD_ROTATION) -> tuple[float, float]:
        """Angles (deg) of the long axis and of the septal direction (about the long axis) from a pose."""
        u_std, s_std = rotation @ [0.0, 0.0, 1.0], rotation @ [1.0, 0.0, 0.0]
        long_deg = float(np.degrees(np.arccos(np.clip(self.long_axis @ u_std, -1.0, 1.0))))
        s = s_std - (s_std @ self.long_axis) * self.long_axis
        norm = float(np.linalg.norm(s))
        if norm < 1e-9:
            return long_deg, 180.0
        sep_deg = float(np.degrees(np.arccos(np.clip(self.septal @ (s / norm), -1.0, 1.0))))
        return long_deg, sep_deg


def anatomical_frame(points: np.ndarray, surfaces: dict[str, np.ndarray]) -> AnatomicalFrame:
    """Apex, long axis and septal direction of a biventricular mesh (see the module docstring).

    Parameters
    ----------
    points : (N, 3) float64, mm.
    surfaces : node-index arrays ``lv_endo``, ``rv_endo``, ``epi``, ``base`` (non-empty).

    Returns
    -------
    :class:`AnatomicalFrame`
    """
    lv, rv, epi, base = (np.asarray(surfaces[k], dtype=np.int64) for k in ("lv_endo", "rv_endo", "epi", "base"))
    centre = points.mean(axis=0)
    bp = points[base]
    bc = bp.mean(axis=0)
    normal = np.linalg.svd(bp - bc, full_matrices=False)[2][-1]
    if np.dot(bc - centre, normal) < 0:
        normal = -normal
    apex = int(epi[int(np.argmax((bc - points[epi]) @ normal))])
    ring = np.intersect1d(lv, base)
    if ring.size < 3:  # no shared rim nodes: the LV endocardial nodes nearest the base plane
        depth = (bc - points[lv]) @ normal
        ring = lv[depth <= np.quantile(depth, 0.05)]
    axis = points[ring].mean(axis=0) - points[apex]
    if np.linalg.norm(axis) < 1e-9:
        raise MeshError("surfaces: the apex lies on the LV basal ring; cannot find the long axis")
    axis /= np.linalg.norm(axis)
    to_rv = points[rv].mean(axis=0) - points[lv].mean(axis=0)
    sep = to_rv - (to_rv @ axis) * axis
    if np.linalg.norm(sep) < 1e-9:
        raise MeshError("surfaces: the RV cavity lies on the LV long axis; cannot find the septal direction")
    return AnatomicalFrame(centre=centre, long_axis=axis, septal=sep / np.linalg.norm(sep), apex=apex)


@dataclass(frozen=True)
class Pose:
    """A rigid motion ``x -> x @ rotation.T + translation`` (mm) and why it was chosen.

    Attributes
    ----------
    rotation : (3, 3) float64 proper rotation.
    translation : (3,) float64, mm.
    moved : whether the mesh is moved (False: identity).
    mode : the ``pose`` argument ("auto", "standard", "as_is").
    long_axis_deg, septal_deg : deviation of the given mesh from the standard pose (deg), or NaN
        when it was not measured.
    """

    rotation: np.ndarray
    translation: np.ndarray
    moved: bool
    mode: str
    long_axis_deg: float = float("nan")
    septal_deg: float = float("nan")

    def apply(self, x: np.ndarray) -> np.ndarray:
        """Move positions (..., 3) mm."""
        return x if not self.moved else np.asarray(x, dtype=np.float64) @ self.rotation.T + self.translation

    def rotate(self, v: np.ndarray) -> np.ndarray:
        """Rotate directions (..., 3) (fibres and other vectors)."""
        return v if not self.moved else np.ascontiguousarray(np.asarray(v, dtype=np.float64) @ self.rotation.T)

    def as_dict(self) -> dict:
        """JSON-serialisable record (kept in ``Heart.meta["pose"]``)."""
        out: dict = {"mode": self.mode, "moved": self.moved}
        if np.isfinite(self.long_axis_deg):
            out.update(long_axis_deg=round(self.long_axis_deg, 3), septal_deg=round(self.septal_deg, 3))
        if self.moved:
            out.update(rotation=self.rotation.tolist(), translation=self.translation.tolist())
        return out


_IDENTITY = np.eye(3)


def pose_heart(points: np.ndarray, surfaces: dict[str, np.ndarray], pose: str = "auto", *,
               has_electrodes: bool = False, source: str = "points", stacklevel: int = 3) -> Pose:
    """Decide how to move a heart mesh into the patient LPS frame (see the module docstring).

    Parameters
    ----------
    points : (N, 3) float64, mm.
    surfaces : node-index arrays ``lv_endo``, ``rv_endo``, ``epi``, ``base``.
    pose : "auto", "standard" or "as_is".
    has_electrodes : the user gave electrode positions (then "auto" keeps the mesh as it is).
    source : what the mesh came from, for the messages.
    stacklevel : passed to :func:`warnings.warn`.

    Returns
    -------
    :class:`Pose` (apply it to the points, the electrodes and, with :meth:`Pose.rotate`, vectors).
    """
    pose = check_pose(pose)
    if pose == "as_is":
        return Pose(_IDENTITY, np.zeros(3), False, pose)
    frame = anatomical_frame(points, surfaces)
    long_deg, sep_deg = frame.deviation_deg()
    fits = long_deg <= LONG_AXIS_TOLERANCE_DEG and sep_deg <= SEPTAL_TOLERANCE_DEG
    if pose == "auto" and (fits or has_electrodes):
        if not fits:
            log.info("%s: the mesh is not in the standard LPS pose (long axis %.0f deg, septum %.0f deg off); "
                     "kept as it is because electrodes were given", source, long_deg, sep_deg)
        return Pose(_IDENTITY, np.zeros(3), False, pose, long_deg, sep_deg)
    rotation = STANDARD_ROTATION @ frame.to_mesh_frame()
    translation = -rotation @ frame.centre
    if pose == "auto":
        warnings.warn(f"{source}: the mesh does not lie like a heart in the patient LPS frame (x left, y posterior, "
                      f"z superior): its long axis is {long_deg:.0f} deg and its septal direction {sep_deg:.0f} deg "
                      f"from mitwin's standard pose; moving it rigidly into the standard pose (pass pose='as_is' to "
                      f"keep it, or give electrodes)", UserWarning, stacklevel=stacklevel)
    else:
        log.info("%s: moving the mesh into the standard pose", source)
    return Pose(rotation, translation, True, pose, long_deg, sep_deg)


# ----------------------------------------------------------------------------- LV / RV labels


def _cavity_volume(points: np.ndarray, faces: np.ndarray) -> float:
    """Volume (mm^3) enclosed by an open surface closed by a fan from the centroid of its rim."""
    if faces.shape[0] == 0:
        return 0.0
    edges = np.sort(faces[:, [[0, 1], [1, 2], [2, 0]]].reshape(-1, 2), axis=1)
    uniq, counts = np.unique(edges, axis=0, return_counts=True)
    rim = uniq[counts == 1]
    o = points[np.unique(rim)].mean(axis=0) if rim.size else points[np.unique(faces)].mean(axis=0)
    p = points[faces] - o
    return float(abs(np.einsum("ij,ij->i", np.cross(p[:, 0], p[:, 1]), p[:, 2]).sum()) / 6.0)


@dataclass(frozen=True)
class VentricleShape:
    """Per cavity: median wall thickness (mm) and convexity (cavity / convex-hull volume)."""

    wall_mm: float
    convexity: float


def ventricle_shape(points: np.ndarray, endo: np.ndarray, epi: np.ndarray, endo_faces: np.ndarray) -> VentricleShape:
    """Wall thickness and convexity of one cavity (see the module docstring).

    Parameters
    ----------
    points : (N, 3) mm; endo, epi : node indices; endo_faces : (F, 3) boundary triangles of ``endo``.
    """
    from scipy.spatial import ConvexHull, QhullError, cKDTree

    wall = float(np.median(cKDTree(points[epi]).query(points[endo])[0]))
    try:
        hull = ConvexHull(points[endo]).volume
    except (QhullError, ValueError):
        hull = 0.0
    convexity = _cavity_volume(points, endo_faces) / hull if hull > 0 else float("nan")
    return VentricleShape(wall_mm=wall, convexity=float(convexity))


def check_ventricle_labels(points: np.ndarray, surfaces: dict[str, np.ndarray], boundary: np.ndarray,
                           *, source: str = "surfaces") -> tuple[VentricleShape, VentricleShape]:
    """Raise MeshError when ``lv_endo`` and ``rv_endo`` are swapped (see the module docstring).

    Parameters
    ----------
    points : (N, 3) mm; surfaces : node-index arrays; boundary : (F, 3) boundary triangles.

    Returns
    -------
    The :class:`VentricleShape` of the LV and of the RV.
    """
    mask = np.zeros(points.shape[0], dtype=bool)
    shapes = []
    for key in ("lv_endo", "rv_endo"):
        mask[:] = False
        mask[surfaces[key]] = True
        shapes.append(ventricle_shape(points, surfaces[key], surfaces["epi"], boundary[mask[boundary].all(axis=1)]))
    lv, rv = shapes
    thinner = lv.wall_mm < rv.wall_mm
    less_convex = lv.convexity < rv.convexity  # False when either is NaN
    detail = (f"the 'lv_endo' cavity has a median wall of {lv.wall_mm:.1f} mm and fills {lv.convexity:.0%} of its "
              f"convex hull, the 'rv_endo' cavity {rv.wall_mm:.1f} mm and {rv.convexity:.0%}")
    if thinner and less_convex:
        raise MeshError(f"{source}: lv_endo and rv_endo are swapped: {detail} (the LV has the thicker wall and the "
                        "convex cavity); exchange the two labels")
    if thinner or less_convex:
        warnings.warn(f"{source}: the LV and RV labels may be swapped: {detail}", UserWarning, stacklevel=3)
    return lv, rv
