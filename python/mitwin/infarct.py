"""Ellipsoidal infarcts in Cobiveco coordinates, and the scenario table of the paper.

An infarct is Eq. (1) of Li et al. (the paper this package reproduces): a node with coordinates
(tm, ab, rt) is scar when

    ((tm - tm0) / r_tm)**2 + ((ab - ab0) / r_ab)**2 + (drt / r_rt)**2 <= 1,

with ``drt`` the periodic difference of ``rt - rt0`` (rt lives on [0, 1)). The border zone (BZ)
is a larger ellipsoid with the same centre, minus the scar. Only nodes of the LV region
(``tv == 0`` or ``tv == 1 and rt > 2/3``, see :func:`mitwin.anatomy.aha.lv_region`) are ever
infarcted. Conduction speeds are scaled by ``scar_factor`` (default 0.1) in scar and
``bz_factor`` (default 0.5) in the BZ.

The 17 scenarios (:data:`SCENARIOS`) are 7 locations x 2 transmural extents, the small lateral
infarct x 2 extents, and the transmural large lateral infarct with slower conduction. Their
centres and radii are in :data:`LOCATIONS` - the one place they are defined. Each location is
placed on the AHA 17-segment map so that it covers the segments Nikus et al. (2014) assign to
it (:data:`TARGET_SEGMENTS`); :func:`aha_overlap` measures how well, and :func:`scenario_table`
prints it all.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np

from .anatomy.aha import aha_segments, lv_region

log = logging.getLogger(__name__)

__all__ = [
    "BZ_MARGIN",
    "EXAMPLES_DIR",
    "INFERENCE_SCENARIOS",
    "Infarct",
    "LOCATIONS",
    "SCENARIOS",
    "SCENARIO_NAMES",
    "SLOW_FACTORS",
    "TARGET_SEGMENTS",
    "aha_overlap",
    "load_scenarios",
    "node_volumes",
    "scenario_location",
    "scenario_table",
]

HEALTHY, BORDER_ZONE, SCAR = 0, 1, 2

#: Folder of the example scenario files shipped with mitwin (``apical_sizes.json``: the apical
#: infarct with r_ab 0.3, 0.2 and 0.1, the shrinking series of the paper's Fig. 11).
EXAMPLES_DIR = Path(__file__).resolve().parent / "scenarios"

#: Default border-zone margin added to the scar radii (tm, ab, rt), in Cobiveco units. On the
#: default cohort 0.08 in ab is about 6-7 mm along the LV and 0.05 in rt about 8 mm around
#: the mid LV; 0.2 in tm puts the subendocardial BZ down to tm = 0.3.
BZ_MARGIN: tuple[float, float, float] = (0.2, 0.08, 0.05)

#: Speed factors (scar, BZ) of the slow-conduction variant (paper Sec. IV-A.1: 5 % and 25 %).
SLOW_FACTORS: tuple[float, float] = (0.05, 0.25)

#: r_tm of the two transmural extents (paper Sec. IV-A.1), both centred on the endocardium (tm0 = 1).
EXTENTS: dict[str, float] = {"transmural": 3.0, "subendocardial": 0.5}


def _triple(value: Any, name: str, *, positive: bool) -> tuple[float, float, float]:
    try:
        arr = np.asarray(value, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"{name}: expected 3 numbers (tm, ab, rt), got {value!r}") from exc
    if arr.shape != (3,):
        raise ValueError(f"{name}: expected 3 numbers (tm, ab, rt), got shape {arr.shape}")
    if not np.all(np.isfinite(arr)):
        raise ValueError(f"{name}: expected finite values, got {arr.tolist()}")
    if positive and np.any(arr <= 0):
        raise ValueError(f"{name}: expected radii > 0, got {arr.tolist()}")
    return (float(arr[0]), float(arr[1]), float(arr[2]))


@dataclass(frozen=True)
class Infarct:
    """A scar ellipsoid and its border zone in Cobiveco coordinates (Eq. 1 of the paper).

    Parameters
    ----------
    centre : (3,) float
        (tm0, ab0, rt0): transmural (1 endocardium, 0 epicardium), apicobasal (0 apex, 1 base)
        and rotational (periodic, [0, 1)) coordinates of the centre.
    radii : (3,) float
        (r_tm, r_ab, r_rt) of the scar ellipsoid, > 0.
    bz_radii : (3,) float, optional
        Radii of the border-zone ellipsoid, each >= the scar radius; default ``radii + BZ_MARGIN``.
    scar_factor, bz_factor : float
        Conduction speed in scar / BZ as a fraction of healthy, in (0, 1].
    name : str
        A label for tables and datasets.

    Examples
    --------
    >>> inf = Infarct(centre=(1.0, 0.5, 0.3), radii=(0.5, 0.2, 0.1))
    >>> inf.labels([1.0, 1.0, 0.2], [0.5, 0.5, 0.5], [0.3, 0.36, 0.3], [0, 0, 0]).tolist()
    [2, 1, 0]
    >>> inf.speed_factor(np.array([0, 1, 2], dtype=np.int8)).tolist()
    [1.0, 0.5, 0.1]
    """

    centre: tuple[float, float, float]
    radii: tuple[float, float, float]
    bz_radii: tuple[float, float, float] | None = None
    scar_factor: float = 0.1
    bz_factor: float = 0.5
    name: str = "infarct"

    def __post_init__(self) -> None:
        centre = _triple(self.centre, "centre", positive=False)
        radii = _triple(self.radii, "radii", positive=True)
        if self.bz_radii is None:
            bz = tuple(r + m for r, m in zip(radii, BZ_MARGIN))
        else:
            bz = _triple(self.bz_radii, "bz_radii", positive=True)
        if any(b < r for b, r in zip(bz, radii)):
            raise ValueError(f"bz_radii: expected each >= the scar radius {list(radii)}, got {list(bz)}")
        for attr in ("scar_factor", "bz_factor"):
            value = getattr(self, attr)
            if not isinstance(value, (int, float, np.floating, np.integer)) or not 0.0 < float(value) <= 1.0:
                raise ValueError(f"{attr}: expected a speed fraction in (0, 1], got {value!r}")
        if not isinstance(self.name, str) or not self.name:
            raise ValueError(f"name: expected a non-empty string, got {self.name!r}")
        object.__setattr__(self, "centre", centre)
        object.__setattr__(self, "radii", radii)
        object.__setattr__(self, "bz_radii", tuple(float(b) for b in bz))
        object.__setattr__(self, "scar_factor", float(self.scar_factor))
        object.__setattr__(self, "bz_factor", float(self.bz_factor))

    # -- geometry ---------------------------------------------------------------------------------
    def _level(self, tm: np.ndarray, ab: np.ndarray, rt: np.ndarray, radii: tuple[float, float, float]) -> np.ndarray:
        """Left-hand side of Eq. (1): <= 1 inside the ellipsoid with these radii."""
        tm0, ab0, rt0 = self.centre
        drt = np.mod(rt - rt0 + 0.5, 1.0) - 0.5  # periodic difference in [-0.5, 0.5)
        return ((tm - tm0) / radii[0]) ** 2 + ((ab - ab0) / radii[1]) ** 2 + (drt / radii[2]) ** 2

    def labels(self, tm: Any, ab: Any, rt: Any, tv: Any) -> np.ndarray:
        """Per-node label: 0 healthy, 1 border zone, 2 scar (only LV-region nodes are infarcted).

        Parameters
        ----------
        tm, ab, rt, tv : (N,) float
            Cobiveco coordinates of the nodes.

        Returns
        -------
        (N,) int8
        """
        arrays = []
        for name, a in (("tm", tm), ("ab", ab), ("rt", rt), ("tv", tv)):
            arr = np.asarray(a, dtype=np.float64)
            if arr.ndim != 1:
                raise ValueError(f"{name}: expected shape (N,), got shape {arr.shape}")
            if not np.all(np.isfinite(arr)):
                raise ValueError(f"{name}: expected finite values, got NaN/inf")
            arrays.append(arr)
        tm, ab, rt, tv = arrays
        if not (tm.shape == ab.shape == rt.shape == tv.shape):
            raise ValueError(f"tm, ab, rt, tv: expected equal shapes, got {tm.shape}, {ab.shape}, {rt.shape}, {tv.shape}")
        lv = lv_region(tv, rt)
        out = np.zeros(tm.shape, dtype=np.int8)
        out[lv & (self._level(tm, ab, rt, self.bz_radii) <= 1.0)] = BORDER_ZONE
        out[lv & (self._level(tm, ab, rt, self.radii) <= 1.0)] = SCAR
        return out

    def speed_factor(self, labels: Any) -> np.ndarray:
        """Per-node conduction-speed factor: 1 healthy, ``bz_factor`` BZ, ``scar_factor`` scar.

        Parameters
        ----------
        labels : (N,) int
            Labels from :meth:`labels`.

        Returns
        -------
        (N,) float64
        """
        lab = np.asarray(labels)
        if lab.ndim != 1 or not (np.issubdtype(lab.dtype, np.integer)):
            raise ValueError(f"labels: expected (N,) integer labels 0/1/2, got shape {lab.shape} dtype {lab.dtype}")
        if lab.size and (lab.min() < 0 or lab.max() > 2):
            raise ValueError(f"labels: expected values 0, 1, 2, got values from {lab.min()} to {lab.max()}")
        table = np.array([1.0, self.bz_factor, self.scar_factor])
        return table[lab]

    # -- derived scenarios and serialisation -------------------------------------------------------
    def scaled(self, ab: float = 1.0, rt: float = 1.0, *, name: str | None = None) -> Infarct:
        """The same infarct with r_ab and r_rt (scar and BZ) multiplied by ``ab`` and ``rt``."""
        radii = (self.radii[0], self.radii[1] * ab, self.radii[2] * rt)
        margin = [b - r for b, r in zip(self.bz_radii, self.radii)]
        bz = tuple(r + m for r, m in zip(radii, margin))
        return replace(self, radii=radii, bz_radii=bz, name=name or self.name)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready parameters (the inverse of :meth:`from_dict`)."""
        d = asdict(self)
        d["centre"], d["radii"], d["bz_radii"] = list(self.centre), list(self.radii), list(self.bz_radii)
        return d

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], name: str | None = None) -> Infarct:
        """Build an infarct from a mapping with keys centre, radii and optionally bz_radii,
        scar_factor, bz_factor, name."""
        if not isinstance(data, Mapping):
            raise ValueError(f"scenario {name!r}: expected a mapping of parameters, got {type(data).__name__}")
        allowed = {"centre", "radii", "bz_radii", "scar_factor", "bz_factor", "name"}
        unknown = set(data) - allowed
        if unknown:
            raise ValueError(f"scenario {name!r}: unknown keys {sorted(unknown)}; expected some of {sorted(allowed)}")
        missing = {"centre", "radii"} - set(data)
        if missing:
            raise ValueError(f"scenario {name!r}: missing keys {sorted(missing)}")
        kwargs = dict(data)
        kwargs["name"] = name if name is not None else kwargs.get("name", "infarct")
        return cls(**kwargs)


# ---------------------------------------------------------------------------------------------
# The scenario table: the one place where the paper's infarcts are defined.
# ---------------------------------------------------------------------------------------------

#: AHA segments of each location after Nikus et al. (2014), "Updated electrocardiographic
#: classification of acute coronary syndromes", Curr. Cardiol. Rev. 10(3):229-236, as used in
#: Fig. 2 of the paper.
TARGET_SEGMENTS: dict[str, tuple[int, ...]] = {
    "septal": (7, 8, 9, 13, 14),
    "apical": (13, 14, 15, 16, 17),
    "extensive_anterior": (1, 2, 3, 7, 8, 9, 13, 14, 15, 16, 17),
    "limited_anterior": (1, 6, 7, 12, 13, 16, 17),
    "lateral": (5, 6, 11, 12, 16),
    "inferior": (3, 4, 9, 10, 14, 15, 17),
    "inferolateral": (3, 4, 5, 9, 10, 11, 12, 15, 16),
}

#: Location -> ((ab0, rt0), (r_ab, r_rt)). tm0 = 1 and r_tm come from the extent. Chosen by a
#: search over a dense (ab, rt) grid for the ellipse that best matches the target segments
#: (F1 of area, with >= 90 % of the ellipse inside them), then rounded; :func:`aha_overlap`
#: states the result. The apical infarct is a cap around the apex (ab0 = 0 and an r_rt so
#: large that it spans all rt); its size is set by r_ab alone, as in the paper's Fig. 11.
LOCATIONS: dict[str, tuple[tuple[float, float], tuple[float, float]]] = {
    "septal": ((0.40, 0.73), (0.32, 0.28)),
    "apical": ((0.00, 0.00), (0.40, 5.00)),
    "extensive_anterior": ((0.08, 0.75), (0.95, 0.40)),
    "limited_anterior": ((0.25, 0.48), (0.95, 0.22)),
    "lateral": ((0.55, 0.333), (0.45, 0.175)),
    "inferior": ((0.25, 0.00), (0.95, 0.22)),
    "inferolateral": ((0.55, 0.15), (0.50, 0.32)),
}


def _scenario(location: str, extent: str, *, size: float = 1.0, factors: tuple[float, float] = (0.1, 0.5),
              name: str) -> Infarct:
    (ab0, rt0), (r_ab, r_rt) = LOCATIONS[location]
    return Infarct(centre=(1.0, ab0, rt0), radii=(EXTENTS[extent], r_ab, r_rt),
                   scar_factor=factors[0], bz_factor=factors[1], name=name).scaled(size, size)


def _paper_scenarios() -> dict[str, Infarct]:
    out: dict[str, Infarct] = {}
    for location in LOCATIONS:
        for extent in EXTENTS:
            name = f"{location}_{extent}"
            out[name] = _scenario(location, extent, name=name)
    for extent in EXTENTS:  # small lateral: r_ab and r_rt halved (paper Sec. IV-A.1)
        name = f"small_lateral_{extent}"
        out[name] = _scenario("lateral", extent, size=0.5, name=name)
    name = "lateral_transmural_slow_cv"
    out[name] = _scenario("lateral", "transmural", factors=SLOW_FACTORS, name=name)
    return out


#: The paper's 17 scenarios, name -> Infarct, in a fixed order.
SCENARIOS: dict[str, Infarct] = _paper_scenarios()
#: Their names, in order.
SCENARIO_NAMES: tuple[str, ...] = tuple(SCENARIOS)
#: The 16 used for inference (the slow-conduction variant excluded, as in the paper).
INFERENCE_SCENARIOS: tuple[str, ...] = tuple(n for n in SCENARIO_NAMES if not n.endswith("_slow_cv"))


def scenario_location(name: str) -> str | None:
    """The location of one of the paper's scenarios (``"small_lateral_x"`` -> ``"lateral"``)."""
    for location in sorted(TARGET_SEGMENTS, key=len, reverse=True):
        if name.startswith(location) or name.startswith(f"small_{location}"):
            return location
    return None


# ---------------------------------------------------------------------------------------------
# Checks and tables
# ---------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Overlap:
    """How an infarct sits on the AHA map (measured on a uniform (tm, ab, rt) grid of the LV)."""

    in_target: float  # fraction of the scar volume (grid) that lies in the target segments
    touched: tuple[int, ...]  # target segments with at least ``min_coverage`` of their area scarred
    coverage: dict[int, float] = field(default_factory=dict)  # scarred fraction of each segment's endocardium


def aha_overlap(infarct: Infarct, targets: tuple[int, ...], *, n: tuple[int, int, int] = (6, 120, 288),
                min_coverage: float = 0.05) -> Overlap:
    """Measure an infarct's scar against target AHA segments on a dense coordinate grid.

    The grid is uniform in (tm, ab, rt) over the LV (tv = 0), cell-centred in ab and rt. The
    fraction of scar inside the targets is taken over the whole grid (volume in coordinate
    space); the coverage of each segment over its endocardial layer (tm = 1), as segments are
    areas of the AHA map.

    Parameters
    ----------
    infarct : Infarct
    targets : tuple of int
        AHA segment numbers (1-17).
    n : (3,) int
        Grid size along tm, ab and rt.
    min_coverage : float
        A target segment counts as touched when at least this fraction of its endocardial
        (tm = 1) area is scar.
    """
    tm = np.linspace(0.0, 1.0, n[0])
    ab = (np.arange(n[1]) + 0.5) / n[1]
    rt = (np.arange(n[2]) + 0.5) / n[2]
    TM, AB, RT = (a.ravel() for a in np.meshgrid(tm, ab, rt, indexing="ij"))
    tv = np.zeros_like(TM)
    seg = aha_segments(AB, RT, tv)
    scar = infarct.labels(TM, AB, RT, tv) == SCAR
    if not scar.any():
        return Overlap(0.0, (), {s: 0.0 for s in targets})
    in_target = float(np.isin(seg[scar], targets).mean())
    endo = TM == 1.0  # segments are areas of the AHA map: coverage measured on the endocardium
    coverage = {s: float(scar[endo & (seg == s)].mean()) for s in targets}
    touched = tuple(s for s in targets if coverage[s] >= min_coverage)
    return Overlap(in_target, touched, coverage)


def node_volumes(points: np.ndarray, tets: np.ndarray) -> np.ndarray:
    """Volume (mm^3) attributed to each node: a quarter of every adjacent tet's volume.

    Parameters
    ----------
    points : (N, 3) float, mm
    tets : (M, 4) int

    Returns
    -------
    (N,) float64, summing to the mesh volume.
    """
    from ._validate import as_points, as_tets, tet_signed_volumes

    points = as_points(points)
    tets = as_tets(tets, points.shape[0])
    vol = np.abs(tet_signed_volumes(points, tets))
    return np.bincount(tets.ravel(), weights=np.repeat(vol / 4.0, 4), minlength=points.shape[0])


def load_scenarios(json_path: str | Path) -> dict[str, Infarct]:
    """Read user scenarios from a JSON file.

    The file holds an object ``{name: {"centre": [tm0, ab0, rt0], "radii": [r_tm, r_ab, r_rt],
    "bz_radii": [...], "scar_factor": 0.1, "bz_factor": 0.5}}`` (bz_radii and the factors are
    optional), or a list of such objects each with a ``"name"``. Names must be unique,
    non-empty, and may not be ``"baseline"``.

    Returns
    -------
    dict name -> Infarct, in file order.
    """
    path = Path(json_path)
    try:
        data = json.loads(path.read_text())
    except FileNotFoundError:
        raise
    except (OSError, json.JSONDecodeError) as exc:
        raise ValueError(f"json_path: could not read scenarios from {path}: {exc}") from exc
    if isinstance(data, list):
        items = []
        for i, entry in enumerate(data):
            if not isinstance(entry, Mapping) or "name" not in entry:
                raise ValueError(f"json_path: entry {i} of {path} must be an object with a 'name'")
            items.append((str(entry["name"]), {k: v for k, v in entry.items() if k != "name"}))
    elif isinstance(data, Mapping):
        items = [(str(k), v) for k, v in data.items()]
    else:
        raise ValueError(f"json_path: expected a JSON object or list in {path}, got {type(data).__name__}")
    out: dict[str, Infarct] = {}
    for name, params in items:
        if name in out:
            raise ValueError(f"json_path: scenario {name!r} appears twice in {path}")
        if name == "baseline" or not name:
            raise ValueError(f"json_path: {name!r} is not a valid scenario name (reserved or empty)")
        out[name] = Infarct.from_dict(params, name=name)
    if not out:
        raise ValueError(f"json_path: no scenarios in {path}")
    return out


def _fmt(x: float) -> str:
    return f"{x:g}" if abs(x) < 100 else f"{x:.3g}"


def scenario_table(reference: str | Path | None = None, extra: str | Path | None = None) -> str:
    """The scenario table as Markdown: centres, radii, speed factors and the AHA overlap.

    Parameters
    ----------
    reference : path, optional
        A subject mesh (``Heart.load``); adds each scenario's scar and BZ volume there, in mL
        (node volume = a quarter of the adjacent tets' volumes).
    extra : path, optional
        A JSON file of user scenarios (:func:`load_scenarios`) appended to the table.

    Returns
    -------
    str
    """
    scenarios = dict(SCENARIOS)
    if extra is not None:
        user = load_scenarios(extra)
        clash = set(user) & set(scenarios)
        if clash:
            raise ValueError(f"extra: scenario names {sorted(clash)} already exist")
        scenarios.update(user)
    heart = None
    vols = None
    if reference is not None:
        from .anatomy.heart import Heart

        heart = Heart.load(reference)
        vols = node_volumes(heart.points, heart.tets)
    header = ["scenario", "centre (tm, ab, rt)", "radii (tm, ab, rt)", "BZ radii", "scar/BZ speed",
              "Nikus segments", "scar in them", "segments touched"]
    if heart is not None:
        header += ["scar mL", "BZ mL"]
    rows = []
    for name, inf in scenarios.items():
        location = scenario_location(name) if name in SCENARIOS else None
        row = [name, "(" + ", ".join(_fmt(c) for c in inf.centre) + ")", "(" + ", ".join(_fmt(r) for r in inf.radii) + ")",
               "(" + ", ".join(_fmt(r) for r in inf.bz_radii) + ")", f"{inf.scar_factor:g} / {inf.bz_factor:g}"]
        if location is not None:
            targets = TARGET_SEGMENTS[location]
            ov = aha_overlap(inf, targets)
            missed = [s for s in targets if s not in ov.touched]
            row += [",".join(map(str, targets)), f"{100 * ov.in_target:.0f} %",
                    ",".join(map(str, ov.touched)) + (f" (not {','.join(map(str, missed))})" if missed else "")]
        else:
            row += ["-", "-", "-"]
        if heart is not None:
            lab = inf.labels(heart.tm, heart.ab, heart.rt, heart.tv)
            row += [f"{vols[lab == SCAR].sum() / 1000:.1f}", f"{vols[lab == BORDER_ZONE].sum() / 1000:.1f}"]
        rows.append(row)
    widths = [max(len(h), *(len(r[i]) for r in rows)) for i, h in enumerate(header)]
    lines = ["| " + " | ".join(h.ljust(w) for h, w in zip(header, widths)) + " |",
             "|" + "|".join("-" * (w + 2) for w in widths) + "|"]
    lines += ["| " + " | ".join(c.ljust(w) for c, w in zip(r, widths)) + " |" for r in rows]
    notes = ["", "Scar: Eq. (1) ellipsoid; BZ: the larger ellipsoid minus the scar; LV region only.",
             "Segments after Nikus et al. 2014; 'scar in them' on a uniform (tm, ab, rt) grid of the LV; a "
             "segment counts as touched when >= 5 % of its endocardial area is scar."]
    if heart is not None:
        notes.append(f"Volumes on {Path(reference).name} ({heart.n_nodes} nodes, "
                     f"myocardium {vols.sum() / 1000:.0f} mL).")
    return "\n".join(lines + notes)
