"""A synthetic dataset in the campaign's HDF5 layout, for the model tests and timings.

Independent of the simulation code: an analytic biventricular point cloud (LV and RV half
ellipsoid shells with per-subject sizes), ellipsoidal infarcts in (tm, ab, rt) (paper Eq. 1) on the
LV region, and an 8-lead QRS from a crude dipole sum whose activation is delayed in scar and BZ, so
that the QRS depends on the scenario.
"""

from __future__ import annotations

import json
from pathlib import Path

import h5py
import numpy as np

from mitwin.anatomy.aha import aha_segments, lv_region

LEADS = ("I", "II", "V1", "V2", "V3", "V4", "V5", "V6")

# name -> (centre (tm0, ab0, rt0), radii (r_tm, r_ab, r_rt)); BZ radii are 1.35x (r_ab, r_rt)
_LOCATIONS = {
    "septal": ((0.83, 0.55), (0.25, 0.09)),
    "apical": ((0.0, 0.5), (0.3, 1.0)),
    "extensive_anterior": ((0.4, 0.62), (0.45, 0.14)),
    "limited_anterior": ((0.3, 0.5), (0.25, 0.08)),
    "lateral_large": ((0.5, 0.35), (0.3, 0.1)),
    "lateral_small": ((0.5, 0.35), (0.15, 0.05)),
    "inferior": ((0.5, 0.08), (0.3, 0.08)),
    "inferolateral": ((0.5, 0.2), (0.3, 0.12)),
}


def scenarios() -> dict[str, dict]:
    """The 17 synthetic scenarios (8 locations x 2 extents + a slow variant), name -> parameters."""
    out = {}
    for loc, ((ab0, rt0), (rab, rrt)) in _LOCATIONS.items():
        for ext, rtm in (("subendocardial", 0.5), ("transmural", 3.0)):
            out[f"{loc}_{ext}"] = {"centre": [1.0, ab0, rt0], "radii": [rtm, rab, rrt],
                                   "bz_radii": [rtm * 1.35, rab * 1.35, rrt * 1.35], "scar_factor": 0.1}
    out["lateral_large_transmural_slow"] = dict(out["lateral_large_transmural"], scar_factor=0.05)
    return out


def ellipsoid_labels(params: dict, tm: np.ndarray, ab: np.ndarray, rt: np.ndarray, tv: np.ndarray) -> np.ndarray:
    """Eq. 1 labels (0 healthy, 1 BZ, 2 scar) with periodic rt, on the LV region only."""
    c = params["centre"]
    drt = np.abs(np.mod(rt - c[2] + 0.5, 1.0) - 0.5)

    def inside(r):
        return ((tm - c[0]) / r[0]) ** 2 + ((ab - c[1]) / r[1]) ** 2 + (drt / r[2]) ** 2 <= 1.0

    lab = np.zeros(tm.shape, dtype=np.int8)
    lab[inside(params["bz_radii"])] = 1
    lab[inside(params["radii"])] = 2
    lab[~lv_region(tv, rt)] = 0
    return lab


def _geometry(rng: np.random.Generator) -> dict:
    return {"L": rng.uniform(70, 90), "R": rng.uniform(22, 28), "wall": rng.uniform(8, 12),
            "Lrv": rng.uniform(60, 75), "Rrv": rng.uniform(20, 26), "off": rng.uniform(18, 24),
            "tilt": rng.normal(0, 0.08, size=3)}


def _xyz(g: dict, tm: np.ndarray, ab: np.ndarray, rt: np.ndarray, tv: np.ndarray) -> np.ndarray:
    phi = 0.5 * np.pi * np.clip(ab, 0, 1) ** 0.7
    theta = 2 * np.pi * rt
    lv = tv < 0.5
    shrink = 1.0 - tm * g["wall"] / g["R"]
    r = np.where(lv, g["R"], g["Rrv"]) * shrink
    length = np.where(lv, g["L"], g["Lrv"]) * (1.0 - tm * g["wall"] / g["L"])
    x = r * np.sin(phi) * np.cos(theta)
    y = r * np.sin(phi) * np.sin(theta)
    z = -length * np.cos(phi)
    # RV: a shell shifted towards the free wall (rt = 1/3)
    off = np.where(lv, 0.0, g["off"])
    x = x + off * np.cos(2 * np.pi / 3)
    y = y + off * np.sin(2 * np.pi / 3)
    p = np.stack([x, y, z], axis=1)
    a, b, c = g["tilt"]
    rx = np.array([[1, 0, 0], [0, np.cos(a), -np.sin(a)], [0, np.sin(a), np.cos(a)]])
    ry = np.array([[np.cos(b), 0, np.sin(b)], [0, 1, 0], [-np.sin(b), 0, np.cos(b)]])
    rz = np.array([[np.cos(c), -np.sin(c), 0], [np.sin(c), np.cos(c), 0], [0, 0, 1]])
    return p @ (rz @ ry @ rx).T


def _sample_coords(rng: np.random.Generator, n: int) -> np.ndarray:
    tv = (rng.random(n) < 0.3).astype(float)
    tm = rng.random(n)
    ab = rng.random(n)
    rt = rng.random(n)
    return np.stack([tm, ab, rt, tv], axis=1)


_ELECTRODES = np.array([[-150, 100, 60], [150, 100, 60], [0, 0, -250],  # RA LA LL
                        [-20, -90, 20], [10, -95, 15], [35, -90, 5], [55, -80, -5], [75, -60, -10],
                        [90, -30, -10]], dtype=float)


def _qrs(xyz: np.ndarray, coords: np.ndarray, labels: np.ndarray, length: int = 512) -> tuple[np.ndarray, int]:
    tm, ab, rt, tv = coords.T
    targets = ((0.8, 0.0), (0.3, 0.0), (0.4, 1.0))  # (rt, tv) of the roots, endocardial mid-cavity
    roots = np.stack([xyz[np.argmin(np.abs(tm - 1) + np.abs(ab - 0.5) + np.abs(rt - r) + np.abs(tv - v))]
                      for r, v in targets])
    d = np.linalg.norm(xyz[:, None, :] - roots[None], axis=2)
    k = d.argmin(axis=1)
    at = d[np.arange(len(xyz)), k] / 0.6 + 5.0
    at = at + 12.0 * (labels == 1) + 30.0 * (labels == 2)
    direction = xyz - roots[k]
    direction /= np.linalg.norm(direction, axis=1, keepdims=True) + 1e-9
    amp = np.where(labels == 2, 0.2, np.where(labels == 1, 0.6, 1.0))
    rel = _ELECTRODES[None] - xyz[:, None, :]  # (P, 9, 3)
    w = (rel * direction[:, None, :]).sum(-1) / np.linalg.norm(rel, axis=2) ** 3 * amp[:, None]
    bins = np.clip(np.round(at).astype(int), 0, length - 1)
    phi = np.stack([np.bincount(bins, weights=w[:, e], minlength=length) for e in range(9)])
    t = np.arange(-15, 16)
    kern = np.exp(-0.5 * (t / 4.0) ** 2)
    phi = np.stack([np.convolve(p, kern, mode="same") for p in phi])
    wct = phi[:3].mean(0)
    leads = np.stack([phi[1] - phi[0], phi[2] - phi[0], *(phi[3:] - wct)])
    n_valid = int(min(length, np.ceil(at.max()) + 20))
    leads[:, n_valid:] = 0.0
    return leads.astype(np.float32), n_valid


def write_header(f: h5py.File, scenarios: dict, config: dict) -> None:
    """The file attributes of the documented layout (1 ms, 512 samples, 8 leads), written by hand."""
    f.attrs["format"] = "mitwin-dataset"
    f.attrs["format_version"] = 1
    f.attrs["mitwin_version"] = "test"
    f.attrs["dt_ms"] = 1.0
    f.attrs["qrs_samples"] = 512
    f.attrs["leads"] = np.array(LEADS, dtype=h5py.string_dtype())
    f.attrs["scenario_names"] = np.array(["baseline", *scenarios], dtype=h5py.string_dtype())
    f.attrs["scenarios_json"] = json.dumps(scenarios)
    f.attrs["config_json"] = json.dumps(config)


def write_dataset(path: str | Path, n_subjects: int = 6, n_cloud: int = 512, n_coarse: int = 128,
                  n_dense: int = 512, seed: int = 0, noise: float = 0.01) -> Path:
    """Write a synthetic dataset through :mod:`mitwin.data.store` (format 2, checksummed); returns its path.

    Each QRS is stored whole: a subject's array is as long as its longest QRS.
    """
    from mitwin.data.store import Header, SubjectRecord, merge, write_part

    path = Path(path)
    rng = np.random.default_rng(seed)
    scen = scenarios()
    header = Header("test", LEADS, ("baseline", *scen), json.dumps(scen), json.dumps({"synthetic": True, "seed": seed}))
    parts = {}
    for s in range(n_subjects):
        sid = f"subject_{s:03d}"
        g = _geometry(rng)
        coords = _sample_coords(rng, n_cloud)
        xyz = _xyz(g, *coords.T)
        targets = {}
        for name, n in (("coarse", n_coarse), ("dense", n_dense)):
            cls = rng.integers(0, 3, size=n)
            c = _sample_coords(rng, n)
            c[:, 0] = np.where(cls == 2, 0.0, 1.0)
            c[:, 3] = (cls == 1).astype(float)
            targets[name] = np.concatenate([_xyz(g, *c.T), cls[:, None]], axis=1)
        labels = np.stack([np.zeros(n_cloud, np.int8)] + [ellipsoid_labels(scen[n], *coords.T) for n in scen])
        qrs, lengths = [], []
        for lab in labels:
            q, n_valid = _qrs(xyz, coords, lab)
            q += noise * np.abs(q).max() * rng.standard_normal(q.shape).astype(np.float32)
            q[:, n_valid:] = 0.0
            qrs.append(q)
            lengths.append(n_valid)
        t_max = max(lengths)
        rec = SubjectRecord(
            sid=sid, seed=seed, parameters_json=json.dumps({k: np.asarray(v).tolist() for k, v in g.items()}),
            points=xyz, coords=coords, aha=aha_segments(coords[:, 1], coords[:, 2], coords[:, 3]),
            electrodes=_ELECTRODES, cloud=np.concatenate([xyz, coords], axis=1), cloud_index=np.arange(n_cloud),
            coarse=targets["coarse"], dense=targets["dense"], at=np.zeros((len(labels), n_cloud)), labels=labels,
            cloud_labels=labels, qrs=np.stack(qrs)[:, :, :t_max], qrs_length=np.array(lengths),
            qrs_duration=np.array(lengths, float),
        )
        parts[sid] = write_part(path.with_name(f".{path.name}.{sid}.part.h5"), header, rec)
    merge(parts, path, header)
    for p in parts.values():
        p.unlink()
    return path


def labeller(name: str, tm: np.ndarray, ab: np.ndarray, rt: np.ndarray, tv: np.ndarray) -> np.ndarray:
    """Labels of the synthetic scenario ``name`` (for the baseline)."""
    return ellipsoid_labels(scenarios()[name], tm, ab, rt, tv)
