"""A virtual cohort of idealised biventricular hearts (cardiac-geometries-core + gmsh).

Each subject is a pair of truncated ellipsoids (LV and RV, the RV cavity trimmed by the LV
epicardium) meshed with tets by :func:`cardiac_geometries_core.biv_ellipsoid`, with shape
parameters drawn from uniform ranges around adult end-diastolic values (mm):

==================  ============  ==============================================================
parameter           range         basis
==================  ============  ==============================================================
LV endo radius x    24 - 28       LV end-diastolic diameter 42-58 mm (men), Lang et al. 2015,
                                  J Am Soc Echocardiogr 28:1 (ASE/EACVI chamber quantification);
                                  the truncated ellipsoid's basal diameter is a bit smaller
LV endo y / x       0.92 - 1.00   near-circular LV short axis
LV endo radius z    62 - 75       with the base cut, an LV cavity 77-100 mm long (apex to base),
                                  LV length ~ 80-95 mm (Lang et al. 2015)
base cut height     15 - 25       base plane above the equator of the LV ellipsoid
LV wall             8 - 12        LV wall thickness (issue range; Lang et al. 2015: 6-10 mm septum)
RV wall             3 - 5         RV free-wall thickness < 5 mm (Lang et al. 2015)
RV cavity width     24 - 36       septum to RV free wall at the LV equator (RV basal diameter
                                  25-41 mm, Lang et al. 2015)
junction half-angle 60 - 75 deg   epicardial RV insertion points seen from the LV axis: the
                                  septum spans about a third of the LV circumference (two of
                                  the six AHA basal sectors, Cerqueira et al. 2002)
RV outer y / LV y   1.00 - 1.10   the RV wraps around the septum
RV outer z / LV z   0.80 - 0.90   the RV does not reach the apex
pose azimuth        40 - 55 deg   long axis from the sagittal plane (electrodes.py)
pose elevation      20 - 35 deg   long axis below the horizontal
pose roll           -10 - 10 deg  about the long axis
torso half-width    150 - 180     chest width 30-36 cm
torso half-depth    100 - 120     chest depth 20-24 cm
==================  ============  ==============================================================

These give LV cavity volumes of about 90-185 mL (analytic truncated ellipsoid), within the
range of normal adult LV end-diastolic volumes by CMR (Kawel-Boehm et al. 2020, J Cardiovasc
Magn Reson 22:87).

Subject ``i`` of seed ``s`` is drawn from ``SeedSequence(s).spawn(i + 1)[i]``, so it does not
depend on ``n``: a larger cohort with the same seed reuses the smaller one's subjects.
"""

from __future__ import annotations

import json
import logging
import time
from pathlib import Path
from typing import Any

import numpy as np

from .._atomic import write_text_atomic
from .._version import __version__
from ..errors import DatasetError, MeshError
from .biventricle import analytic_lv_cavity_ml, cavity_volumes_ml, label_surfaces, mesh_biventricle, shape_mesh
from .electrodes import Torso, pose_rotation
from .heart import Heart
from .measures import cavity_volume_ml, wall_masses_g

log = logging.getLogger(__name__)

#: Default target edge length (mm): about 28k-37k nodes per subject (the 30k-80k range's low end,
#: so that a cohort x scenarios campaign stays quick on a laptop).
DEFAULT_RESOLUTION_MM = 1.9
#: Coarse setting for tests and quick looks: a few thousand nodes, about a second of meshing.
COARSE_RESOLUTION_MM = 5.0
COHORT_FORMAT_VERSION = 1

_RANGES: dict[str, tuple[float, float]] = {
    "lv_endo_rx": (24.0, 28.0),
    "lv_endo_y_ratio": (0.92, 1.00),
    "lv_endo_rz": (62.0, 75.0),
    "base_cut_z": (15.0, 25.0),
    "lv_wall": (8.0, 12.0),
    "rv_wall": (3.0, 5.0),
    "rv_cavity_width": (24.0, 36.0),
    "junction_half_angle_deg": (60.0, 75.0),
    "rv_y_ratio": (1.00, 1.10),
    "rv_z_ratio": (0.80, 0.90),
    "azimuth_deg": (40.0, 55.0),
    "elevation_deg": (20.0, 35.0),
    "roll_deg": (-10.0, 10.0),
    "torso_a": (150.0, 180.0),
    "torso_b": (100.0, 120.0),
}


#: ``variety="wide"``: wider right-ventricular shapes than the default ranges - RV basal diameter over the
#: whole normal range and a little beyond (20-42 mm; Lang et al. 2015: 25-41 mm), an RV that wraps more or
#: less of the septum (y ratio 1.00-1.25, insertion half-angle 55-80 deg), reaches 70-95 % of the LV length,
#: and a 2.5-6 mm free wall. The other ranges are the default ones.
WIDE_RANGES: dict[str, tuple[float, float]] = {
    **_RANGES,
    "rv_wall": (2.5, 6.0),
    "rv_cavity_width": (20.0, 42.0),
    "junction_half_angle_deg": (55.0, 80.0),
    "rv_y_ratio": (1.00, 1.25),
    "rv_z_ratio": (0.70, 0.95),
}
#: ``variety="shaped"``: varied but normal hearts. The wide RV ranges held to the normal adult limits (RV basal
#: diameter 25-41 mm and free wall at most 5 mm, Lang et al. 2015; beyond them the RV is dilated or
#: hypertrophied, and a healthy-ECG test needs healthy hearts), and two departures from the ellipsoids that
#: real hearts show, applied to the mesh as smooth displacements before it is posed (:func:`shape_mesh`): a
#: base turned by ``base_tilt_deg`` towards the short-axis direction ``base_tilt_dir_deg`` about the LV axis,
#: the apex fixed (the valve planes are not perpendicular to the long axis), and a septum pushed into the RV
#: (positive ``septal_bulge_mm``) or flattened towards the LV (negative) at its centre, fading to the RV
#: junctions and the apex. These two ranges are ours.
SHAPED_RANGES: dict[str, tuple[float, float]] = {
    **WIDE_RANGES,
    "rv_wall": (2.5, 5.0),
    "rv_cavity_width": (25.0, 41.0),
    "base_tilt_deg": (0.0, 15.0),
    "base_tilt_dir_deg": (0.0, 360.0),
    "septal_bulge_mm": (-3.0, 3.0),
}
#: ``variety="shaped"`` also holds the RV to the LV: the RV/LV end-diastolic cavity volume ratio lies in its normal
#: range by CMR, 0.91-1.27 in 152 healthy controls (Altmayer et al. 2018, Sci Rep 8:7200, who grade RV dilation
#: from 1.27 up). Each linear RV dimension can be normal while their combination is a dilated RV; a draw outside
#: this range is drawn again (:func:`sample_parameters`).
RV_LV_VOLUME_RATIO: tuple[float, float] = (0.91, 1.27)
_MAX_DRAWS = 1000
VARIETIES = ("standard", "wide", "shaped")


def _ranges(variety: str) -> dict[str, tuple[float, float]]:
    if variety not in VARIETIES:
        raise ValueError(f"variety: expected one of {VARIETIES}, got {variety!r}")
    return {"standard": _RANGES, "wide": WIDE_RANGES, "shaped": SHAPED_RANGES}[variety]


def sample_parameters(seed: int, index: int, variety: str = "standard") -> dict[str, float]:
    """Shape, pose and torso parameters of subject ``index`` (deterministic from ``seed``); ``variety="wide"``
    draws the right ventricle from :data:`WIDE_RANGES` (the same random numbers, wider ranges), ``"shaped"``
    from :data:`SHAPED_RANGES`, with the base tilt and septal bulge drawn after the others, and draws again
    (from the same generator) until the RV/LV cavity volume ratio is in :data:`RV_LV_VOLUME_RATIO`."""
    ranges = _ranges(variety)
    ss = np.random.SeedSequence(int(seed)).spawn(int(index) + 1)[int(index)]
    rng = np.random.default_rng(ss)
    for _ in range(_MAX_DRAWS):
        draw = {k: round(float(rng.uniform(lo, hi)), 6) for k, (lo, hi) in ranges.items()}
        if variety != "shaped":
            return draw
        lv, rv = cavity_volumes_ml(draw)
        if RV_LV_VOLUME_RATIO[0] <= rv / lv <= RV_LV_VOLUME_RATIO[1]:
            return draw
    raise RuntimeError(f"subject {index} of seed {seed}: no draw in {_MAX_DRAWS} has a normal RV/LV volume ratio")


def make_subject(seed: int, index: int, resolution_mm: float | None = None, variety: str = "standard") -> Heart:
    """Build subject ``index`` of the cohort of ``seed``: meshed, posed in LPS, with everything computed."""
    h = DEFAULT_RESOLUTION_MM if resolution_mm is None else float(resolution_mm)
    p = sample_parameters(seed, index, variety)
    points, tets, mesh_s = mesh_biventricle(p, h)
    surfaces = label_surfaces(points, tets, p)
    for k, f in surfaces.items():
        if f.shape[0] == 0:
            raise MeshError(f"subject {index}: the meshed biventricle has no {k} faces (parameters {p})")
    points = shape_mesh(points, tets, p)  # labels come from the ellipsoids, before the shape changes
    rot = pose_rotation(p["azimuth_deg"], p["elevation_deg"], p["roll_deg"])
    body = points @ rot.T
    body -= body.mean(axis=0)
    t0 = time.perf_counter()
    heart = Heart.from_labelled_mesh(body, tets, surfaces, torso=Torso(a=p["torso_a"], b=p["torso_b"]))
    heart.meta.update({
        "seed": int(seed), "index": int(index), "resolution_mm": h, "parameters": p,
        "rotation": rot.tolist(), "lv_cavity_ml_analytic": analytic_lv_cavity_ml(p), "variety": variety,
        "mitwin_version": __version__,
    })
    # timings are logged only: the saved VTU must not depend on the wall clock (reproducible files)
    log.info("subject %d: %d nodes, meshing %.1f s, coordinates+fibres %.1f s", index, heart.n_nodes, mesh_s,
             time.perf_counter() - t0)
    return heart


#: Ranges (deg) of the anatomical poses drawn by :func:`random_poses`: wider than the cohort's own draws,
#: spanning vertical to horizontal hearts (long axis 10-45 deg below the horizontal, 30-65 deg from the
#: sagittal plane; e.g. the LV axis of 30-60 deg to the sagittal plane in adult CT, and its steeper dip in
#: slender subjects), and +-25 deg of roll about the long axis.
POSE_RANGES: dict[str, tuple[float, float]] = {
    "azimuth_deg": (30.0, 65.0),
    "elevation_deg": (10.0, 45.0),
    "roll_deg": (-25.0, 25.0),
}


def random_poses(n: int, seed: int = 0) -> list[tuple[float, float, float]]:
    """``n`` anatomical poses (azimuth, elevation, roll) in degrees, uniform in :data:`POSE_RANGES`."""
    if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 0:
        raise ValueError(f"n: expected a non-negative integer, got {n!r}")
    rng = np.random.default_rng(np.random.SeedSequence([int(seed), 7919]))
    out = []
    for _ in range(n):
        az, el, ro = (float(rng.uniform(*POSE_RANGES[k])) for k in ("azimuth_deg", "elevation_deg", "roll_deg"))
        out.append((az, el, ro))
    return out


def repose(heart: Heart, azimuth_deg: float, elevation_deg: float, roll_deg: float) -> Heart:
    """The same cohort subject in another anatomical pose in its torso, with standard electrodes.

    The subject's mesh frame is recovered from ``meta["rotation"]`` (:func:`make_subject`), rotated by
    :func:`mitwin.anatomy.electrodes.pose_rotation`; the fibre frame turns with it; coordinates, AHA
    segments and surfaces are unchanged; the torso (``meta["parameters"]`` torso_a, torso_b) is placed
    around the new pose and the electrodes at their standard positions on it.

    Raises
    ------
    ValueError
        A heart without the cohort's ``rotation`` and ``parameters`` metadata, or non-finite angles.
    """
    from dataclasses import replace

    from .electrodes import place_torso, standard_electrodes

    if "rotation" not in heart.meta or "parameters" not in heart.meta:
        raise ValueError("heart: expected a virtual-cohort subject (meta 'rotation' and 'parameters'); "
                         "move other hearts with Heart.from_labelled_mesh(..., pose='standard')")
    angles = np.array([azimuth_deg, elevation_deg, roll_deg], dtype=float)
    if not np.all(np.isfinite(angles)):
        raise ValueError(f"azimuth_deg, elevation_deg, roll_deg: expected finite angles, got {angles.tolist()}")
    old = np.asarray(heart.meta["rotation"], dtype=float)
    turn = pose_rotation(*angles) @ old.T  # body -> mesh frame -> new body
    points = heart.points @ turn.T
    points -= points.mean(axis=0)
    p = heart.meta["parameters"]
    torso = place_torso(points, Torso(a=p["torso_a"], b=p["torso_b"]))
    apex = points[int(heart.meta["apex"])] if "apex" in heart.meta else points[int(np.argmin(heart.ab))]
    meta = dict(heart.meta)
    meta.update({"rotation": (turn @ old).tolist(), "torso": torso.as_dict(),
                 "pose_deg": {"azimuth": float(angles[0]), "elevation": float(angles[1]), "roll": float(angles[2])}})
    return replace(heart, points=np.ascontiguousarray(points), fibres=heart.fibres @ turn.T,
                   sheets=heart.sheets @ turn.T, normals=heart.normals @ turn.T,
                   electrodes=standard_electrodes(points, apex, torso), meta=meta)


def _read_manifest(out: Path) -> dict[str, Any]:
    path = out / "manifest.json"
    if not path.exists():
        return {}
    try:
        manifest = json.loads(path.read_text())
    except ValueError as exc:
        raise DatasetError(f"out: {str(path)!r} is not valid JSON ({exc}); delete it to rebuild the cohort") from exc
    if not isinstance(manifest, dict) or not isinstance(manifest.get("subjects", []), list):
        raise DatasetError(f"out: {str(path)!r} is not a mitwin cohort manifest (expected an object with a "
                           f"'subjects' list, got {str(manifest)[:80]}); delete it to rebuild the cohort")
    return manifest


def _write_manifest(out: Path, manifest: dict[str, Any]) -> None:
    write_text_atomic(out / "manifest.json", json.dumps(manifest, indent=1, sort_keys=True))


def make_cohort(n: int, seed: int = 0, out: str | Path = "cohort", resolution_mm: float | None = None,
                progress: bool = False, variety: str = "standard") -> list[Path]:
    """Build (or reuse) ``n`` virtual subjects as VTU files plus ``manifest.json`` in ``out``.

    Parameters
    ----------
    n : number of subjects (>= 1).
    seed : cohort seed; subject i depends only on (seed, i).
    out : folder; subjects already there with the same parameters and resolution are reused.
    resolution_mm : target tet edge length in mm (default 1.9: about 28k-37k nodes per subject;
        ``COARSE_RESOLUTION_MM`` = 5.0 gives a few thousand).
    progress : show a tqdm progress bar.
    variety : "standard" (default), "wide" (wider right ventricles, :data:`WIDE_RANGES`) or "shaped" (right
        ventricles over the normal range and in proportion to the LV, :data:`RV_LV_VOLUME_RATIO`, a tilted base
        and a bulged or flattened septum, :data:`SHAPED_RANGES`).

    Returns
    -------
    list of the n subject paths ``out/subject_000.vtu``, ...

    Examples
    --------
    >>> paths = make_cohort(2, seed=0, out="cohort", resolution_mm=5.0)  # doctest: +SKIP
    >>> Heart.load(paths[0]).n_nodes  # doctest: +SKIP
    """
    if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 1:
        raise ValueError(f"n: expected a positive integer, got {n!r}")
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise ValueError(f"seed: expected a non-negative integer, got {seed!r}")
    if resolution_mm is not None and (isinstance(resolution_mm, bool)
                                      or not isinstance(resolution_mm, (int, float, np.integer, np.floating))):
        raise ValueError(f"resolution_mm: expected a target edge length in [0.3, 20] mm, got {resolution_mm!r}")
    _ranges(variety)
    h = DEFAULT_RESOLUTION_MM if resolution_mm is None else float(resolution_mm)
    if not np.isfinite(h) or not 0.3 <= h <= 20.0:
        raise ValueError(f"resolution_mm: expected a target edge length in [0.3, 20] mm, got {resolution_mm!r}")
    out = Path(out)
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ValueError(f"out: cannot create the cohort folder {str(out)!r} ({exc.strerror or exc})") from None
    manifest = _read_manifest(out)
    entries = {e["id"]: e for e in manifest.get("subjects", [])
               if isinstance(e, dict) and "id" in e and e.get("seed") == int(seed) and e.get("resolution_mm") == h}
    manifest = {"format": "mitwin-cohort", "format_version": COHORT_FORMAT_VERSION, "seed": int(seed),
                "resolution_mm": h, "subjects": []}
    iterator = range(n)
    if progress:
        from tqdm.auto import tqdm

        iterator = tqdm(iterator, desc="cohort", unit="subject")
    paths = []
    for i in iterator:
        sid = f"subject_{i:03d}"
        path = out / f"{sid}.vtu"
        params = sample_parameters(seed, i, variety)
        old = entries.get(sid)
        if (old is not None and path.exists() and old.get("parameters") == params
                and old.get("resolution_mm") == h and old.get("seed") == int(seed)):
            log.info("%s: reusing %s", sid, path)
        else:
            heart = make_subject(seed, i, h, variety)
            heart.save(path)
            entries[sid] = {
                "id": sid, "file": path.name, "seed": int(seed), "index": i, "resolution_mm": h,
                "parameters": params, "n_nodes": heart.n_nodes, "n_tets": int(heart.tets.shape[0]),
                "lv_cavity_ml": round(cavity_volume_ml(heart, "lv"), 3),
                "rv_cavity_ml": round(cavity_volume_ml(heart, "rv"), 3),
                "wall_masses_g": {k: round(v, 2) for k, v in wall_masses_g(heart).items()},
            }
            # keep finished subjects on disk: an interrupted run resumes from here
            manifest["subjects"] = [entries[k] for k in sorted(entries)]
            _write_manifest(out, manifest)
        paths.append(path)
    manifest["subjects"] = [entries[k] for k in sorted(entries)]
    _write_manifest(out, manifest)
    return paths


def load_cohort(out: str | Path) -> list[Path]:
    """Paths of the subjects listed in ``out/manifest.json`` (in subject order)."""
    out = Path(out)
    manifest = _read_manifest(out)
    if not manifest:
        raise FileNotFoundError(f"out: no manifest.json in {str(out)!r}; build the cohort with make_cohort")
    if manifest.get("format") != "mitwin-cohort":
        raise DatasetError(f"out: {str(out / 'manifest.json')!r} is not a mitwin cohort manifest")
    entries = manifest.get("subjects")
    if not isinstance(entries, list) or not entries or not all(
            isinstance(e, dict) and isinstance(e.get("file"), str) and e["file"] for e in entries):
        raise DatasetError(f"out: {str(out / 'manifest.json')!r} lists no subjects (expected 'subjects': a non-empty "
                           f"list of {{'file': ...}} entries, got {str(entries)[:80]})")
    paths = [out / e["file"] for e in entries]
    missing = [str(p) for p in paths if not p.is_file()]
    if missing:
        raise FileNotFoundError(f"out: the manifest lists missing files: {missing[:3]}")
    return paths
