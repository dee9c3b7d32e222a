"""A heart posed in a torso and the standard 12-lead electrode positions on it.

Coordinate system: patient LPS (as DICOM), right-handed, mm: **x** towards the patient's
left, **y** posterior, **z** superior. The torso is an elliptic cylinder about the z axis
through ``(x0, y0)``, with half-width ``a`` (x) and half-depth ``b`` (y).

Pose of an idealised heart (:func:`pose_rotation`): the long axis (base -> apex) points
anterior, left and inferior: its horizontal projection makes ``azimuth`` degrees with the
sagittal plane (towards the left) and it dips ``elevation`` degrees below the horizontal
plane. Typical values: 45 deg and 25-30 deg (the anatomical axis of the LV is about 45 deg
from the sagittal plane and points downward; e.g. Netter's atlas, and the 'LAO 45'
view that looks along the septum). The septal direction (LV -> RV) points right and anterior.

Electrodes (:func:`standard_electrodes`), following the AHA recommendations for the
standardisation of the ECG (Kligfield et al. 2007, Circulation 115:1306):

* V1, V2: 4th intercostal space at the right / left sternal border (x = -/+ 25 mm);
* V4: 5th intercostal space, mid-clavicular line (x = 0.55 a);
* V3: midway between V2 and V4;
* V5: anterior axillary line (x = 0.85 a), V6: mid-axillary line (x = a), both at V4's level;
* RA, LA: at the shoulders (x = -/+ a, 200 mm above the heart's centre); LL at the left hip
  (x = 0.5 a, 450 mm below). Limb electrodes are far from the heart, as in a body.

The 5th intercostal space is placed 10 mm above the apex (the apex beat lies there) and the
4th 25 mm above the 5th (one rib plus an intercostal space).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np

ELECTRODE_NAMES: tuple[str, ...] = ("RA", "LA", "LL", "V1", "V2", "V3", "V4", "V5", "V6")


@dataclass(frozen=True)
class Torso:
    """An elliptic-cylinder torso (mm): half-width ``a`` (x), half-depth ``b`` (y), axis at (x0, y0)."""

    a: float = 165.0
    b: float = 110.0
    x0: float = 0.0
    y0: float = 0.0

    def anterior_y(self, x: np.ndarray) -> np.ndarray:
        """y of the anterior (y < y0) torso surface at lateral position x (clipped to the torso)."""
        u = np.clip((np.asarray(x, dtype=float) - self.x0) / self.a, -1.0, 1.0)
        return self.y0 - self.b * np.sqrt(1.0 - u * u)

    def inside(self, points: np.ndarray, margin: float = 0.0) -> np.ndarray:
        """Whether points lie inside the torso, at least ``margin`` mm from its surface (approx.)."""
        p = np.asarray(points, dtype=float)
        return ((p[:, 0] - self.x0) / (self.a - margin)) ** 2 + ((p[:, 1] - self.y0) / (self.b - margin)) ** 2 < 1.0

    def as_dict(self) -> dict:
        return asdict(self)


def pose_rotation(azimuth_deg: float = 45.0, elevation_deg: float = 25.0, roll_deg: float = 0.0) -> np.ndarray:
    """Rotation from the mesh frame of an idealised heart to the LPS body frame.

    The mesh frame has the long axis along +z (apex at low z, base at high z) and the RV on
    the +x side of the LV. Mesh -z (base -> apex) goes to the body long axis (anterior, left,
    inferior), mesh +x (LV -> RV) to right-anterior, then a roll about the long axis.

    Returns
    -------
    (3, 3) proper rotation matrix R; body = R @ mesh.
    """
    az, el, ro = np.deg2rad([azimuth_deg, elevation_deg, roll_deg])
    apex_dir = np.array([np.sin(az) * np.cos(el), -np.cos(az) * np.cos(el), -np.sin(el)])
    septal = np.array([-np.cos(az), -np.sin(az), 0.0])  # right-anterior, perpendicular to apex_dir
    # roll the septal direction about the long axis
    k = apex_dir
    septal = septal * np.cos(ro) + np.cross(k, septal) * np.sin(ro) + k * np.dot(k, septal) * (1 - np.cos(ro))
    ez = -apex_dir
    ex = septal / np.linalg.norm(septal)
    ey = np.cross(ez, ex)
    return np.stack([ex, ey, ez], axis=1)


def place_torso(points: np.ndarray, torso: Torso = Torso(), *, left_offset: float = 30.0,
                chest_gap: float = 20.0) -> Torso:
    """Position an elliptic torso of the given size around a heart already oriented in LPS.

    The torso axis is ``left_offset`` mm to the right of the heart's centroid (the heart lies
    left of the midline), and the anterior chest surface is ``chest_gap`` mm in front of the
    most anterior heart point (chest wall and pericardial fat).
    """
    p = np.asarray(points, dtype=float)
    x0 = float(p[:, 0].mean() - left_offset)
    t = Torso(a=torso.a, b=torso.b, x0=x0, y0=0.0)
    # smallest y0 shift so that every point is >= chest_gap behind the anterior surface
    # the anterior surface is y0 + t.anterior_y(x); it must stay chest_gap in front of every point
    y0 = float(np.min(p[:, 1] - chest_gap - t.anterior_y(p[:, 0])))
    return Torso(a=torso.a, b=torso.b, x0=x0, y0=y0)


def standard_electrodes(points: np.ndarray, apex_point: np.ndarray, torso: Torso) -> dict[str, np.ndarray]:
    """12-lead electrode positions (LPS, mm) on the torso around a posed heart.

    Parameters
    ----------
    points : (N, 3) heart nodes in LPS (mm); apex_point : (3,) the apex.
    torso : the torso (:func:`place_torso`).

    Returns
    -------
    dict name -> (3,) float64 for RA, LA, LL, V1..V6.
    """
    p = np.asarray(points, dtype=float)
    centre = p.mean(axis=0)
    z5 = float(apex_point[2]) + 10.0
    z4 = z5 + 25.0
    a, x0 = torso.a, torso.x0

    def chest(x, z):
        return np.array([x, float(torso.anterior_y(x)), z])

    v1 = chest(x0 - 25.0, z4)
    v2 = chest(x0 + 25.0, z4)
    v4 = chest(x0 + 0.55 * a, z5)
    v3 = chest(0.5 * (v2[0] + v4[0]), 0.5 * (z4 + z5))
    v5 = chest(x0 + 0.85 * a, z5)
    v6 = np.array([x0 + a, torso.y0, z5])
    out = {
        "RA": np.array([x0 - a, torso.y0, centre[2] + 200.0]),
        "LA": np.array([x0 + a, torso.y0, centre[2] + 200.0]),
        "LL": np.array([x0 + 0.5 * a, torso.y0, centre[2] - 450.0]),
        "V1": v1, "V2": v2, "V3": v3, "V4": v4, "V5": v5, "V6": v6,
    }
    return {k: np.asarray(out[k], dtype=np.float64) for k in ELECTRODE_NAMES}


def check_electrodes(electrodes: dict, name: str = "electrodes") -> dict[str, np.ndarray]:
    """Validate a user electrode dict: keys RA LA LL V1..V6, each a finite (3,) position in mm."""
    if not isinstance(electrodes, dict):
        raise ValueError(f"{name}: expected a dict name -> (3,) position, got {type(electrodes).__name__}")
    missing = [k for k in ELECTRODE_NAMES if k not in electrodes]
    if missing:
        raise ValueError(f"{name}: expected keys {list(ELECTRODE_NAMES)}, missing {missing}")
    out = {}
    for k in ELECTRODE_NAMES:
        v = np.asarray(electrodes[k], dtype=np.float64)
        if v.shape != (3,) or not np.all(np.isfinite(v)):
            raise ValueError(f"{name}[{k!r}]: expected a finite (3,) position in mm, got shape {v.shape}")
        out[k] = v.copy()
    return out
