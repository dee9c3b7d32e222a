"""Ellipsoidal infarcts in Cobiveco coordinates: Eq. (1) of Li et al. (IEEE TMI 2024).

A node with coordinates (tm, ab, rt) is scar when

    ((tm - tm0) / r_tm)**2 + ((ab - ab0) / r_ab)**2 + (drt / r_rt)**2 <= 1,

with ``drt`` the periodic difference of ``rt - rt0`` (rt lives on [0, 1)). The border zone (BZ)
is a larger ellipsoid with the same centre, minus the scar. Only nodes of the LV region
(``tv == 0`` or ``tv == 1 and rt > 2/3``, see :func:`mitwin.anatomy.aha.lv_region`) are ever
infarcted. Conduction speeds are scaled by ``scar_factor`` in scar (0 = blocked: never activates)
and ``bz_factor`` in the BZ; the defaults are the paper's (:data:`mitwin.tissue.TISSUES` ``"paper"``).
:func:`aha_overlap` measures an infarct against AHA segments, :func:`node_volumes` gives the
volume each node stands for.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field, replace
from typing import Any

import numpy as np

from ._validate import as_points, as_tets, tet_signed_volumes
from .anatomy.aha import aha_segments, lv_region
from .tissue import TISSUES, check_factors, get_tissue

log = logging.getLogger(__name__)

__all__ = ["BORDER_ZONE", "BZ_MARGIN", "HEALTHY", "RECORD_FIELDS", "SCAR", "Infarct", "Overlap", "aha_overlap",
           "node_volumes"]

#: Node labels.
HEALTHY, BORDER_ZONE, SCAR = 0, 1, 2

#: Default border-zone margin added to the scar radii (tm, ab, rt), in Cobiveco units. On the
#: default cohort 0.08 in ab is about 6-7 mm along the LV and 0.05 in rt about 8 mm around
#: the mid LV; 0.2 in tm puts the subendocardial BZ down to tm = 0.3.
BZ_MARGIN: tuple[float, float, float] = (0.2, 0.08, 0.05)

#: Keys a scenario entry of a JSON file may carry besides the infarct's parameters: the fields of
#: :class:`mitwin.scenario_records.ScenarioRecord`. :meth:`Infarct.from_dict` accepts and ignores them.
RECORD_FIELDS: tuple[str, ...] = ("location", "extent", "size", "tissue", "variant_of", "params")


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
    scar_factor : float
        Conduction speed in scar as a fraction of healthy, in [0, 1]; 0 is a blocked scar (never
        activates, silent in the ECG). Default: the ``"paper"`` tissue, 0.1.
    bz_factor : float
        Conduction speed in the BZ as a fraction of healthy, in (0, 1]; default 0.5.
    name : str
        A label for tables and datasets.

    Examples
    --------
    >>> inf = Infarct(centre=(1.0, 0.5, 0.3), radii=(0.5, 0.2, 0.1))
    >>> inf.labels([1.0, 1.0, 0.2], [0.5, 0.5, 0.5], [0.3, 0.42, 0.3], [0, 0, 0]).tolist()
    [2, 1, 0]
    >>> inf.speed_factor(np.array([0, 1, 2], dtype=np.int8)).tolist()
    [1.0, 0.5, 0.1]
    """

    centre: tuple[float, float, float]
    radii: tuple[float, float, float]
    bz_radii: tuple[float, float, float] | None = None
    scar_factor: float = TISSUES["paper"].scar_factor
    bz_factor: float = TISSUES["paper"].bz_factor
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
        check_factors(self.scar_factor, self.bz_factor)
        if not isinstance(self.name, str) or not self.name:
            raise ValueError(f"name: expected a non-empty string, got {self.name!r}")
        object.__setattr__(self, "centre", centre)
        object.__setattr__(self, "radii", radii)
        object.__setattr__(self, "bz_radii", tuple(float(b) for b in bz))
        object.__setattr__(self, "scar_factor", float(self.scar_factor))
        object.__setattr__(self, "bz_factor", float(self.bz_factor))

    @property
    def bz(self) -> tuple[float, float, float]:
        """Radii of the border-zone ellipsoid (``bz_radii`` after the default is filled in)."""
        bz = self.bz_radii
        if bz is None:  # never after __post_init__; keeps the type checker informed
            raise AttributeError("bz_radii is unset")
        return bz

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
            raise ValueError(f"tm, ab, rt, tv: expected equal shapes, got {tm.shape}, {ab.shape}, {rt.shape}, "
                             f"{tv.shape}")
        lv = lv_region(tv, rt)
        out = np.zeros(tm.shape, dtype=np.int8)
        out[lv & (self._level(tm, ab, rt, self.bz) <= 1.0)] = BORDER_ZONE
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
        margin = [b - r for b, r in zip(self.bz, self.radii)]
        bz = (radii[0] + margin[0], radii[1] + margin[1], radii[2] + margin[2])
        return replace(self, radii=radii, bz_radii=bz, name=name or self.name)

    def with_tissue(self, tissue: str | Any) -> Infarct:
        """The same infarct with the speed factors of a tissue preset (:func:`mitwin.tissue.get_tissue`).

        >>> Infarct(centre=(1, 0.5, 0.3), radii=(3, 0.2, 0.1)).with_tissue("blocked").scar_factor
        0.0
        """
        t = get_tissue(tissue)
        return replace(self, scar_factor=t.scar_factor, bz_factor=t.bz_factor)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready parameters (the inverse of :meth:`from_dict`)."""
        d = asdict(self)
        d["centre"], d["radii"], d["bz_radii"] = list(self.centre), list(self.radii), list(self.bz)
        return d

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], name: str | None = None) -> Infarct:
        """Build an infarct from a mapping with keys centre, radii and optionally bz_radii,
        scar_factor, bz_factor, name; the scenario-record keys of :data:`RECORD_FIELDS` are ignored."""
        if not isinstance(data, Mapping):
            raise ValueError(f"scenario {name!r}: expected a mapping of parameters, got {type(data).__name__}")
        allowed = {"centre", "radii", "bz_radii", "scar_factor", "bz_factor", "name"}
        unknown = set(data) - allowed - set(RECORD_FIELDS)
        if unknown:
            raise ValueError(f"scenario {name!r}: unknown keys {sorted(unknown)}; expected some of {sorted(allowed)}")
        missing = {"centre", "radii"} - set(data)
        if missing:
            raise ValueError(f"scenario {name!r}: missing keys {sorted(missing)}")
        kwargs = {k: v for k, v in data.items() if k in allowed}
        kwargs["name"] = name if name is not None else kwargs.get("name", "infarct")
        return cls(**kwargs)


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
    points = as_points(points)
    tets = as_tets(tets, points.shape[0])
    vol = np.abs(tet_signed_volumes(points, tets))
    return np.bincount(tets.ravel(), weights=np.repeat(vol / 4.0, 4), minlength=points.shape[0])


