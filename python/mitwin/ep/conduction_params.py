"""The conduction system as one record: :class:`ConductionParams` (root sites with start times, endocardial
regions and speeds, myocardial speeds) and its defaults, :data:`DEFAULT_PARAMS`.

:func:`mitwin.ep.conduction.conduction_system` turns a record into the per-node fast layer and the root
nodes of one heart. Every value is in Cobiveco coordinates, ms or m/s, so a record transfers between hearts
and is saved as plain JSON (:meth:`ConductionParams.to_dict`).

The defaults (:data:`DEFAULT_PARAMS`) and their sources
-------------------------------------------------------
The paper's system (:meth:`ConductionParams.paper`: Purkinje delays at 2.5 m/s from a basal-septal
His point, dense 1.5 / sparse 1.0 m/s) starts the RV free-wall roots 22-24 ms after the first LV
root and leaves the basal RV late; on the virtual cohort that gives right axis deviation and late
positive forces in V1 (8 of 72 subject-poses normal by :func:`mitwin.ep.criteria.check_ecg` on a
held-out default-resolution cohort, 62 of 72 with the defaults below; README, "Forward simulation").
The defaults follow the isolated human heart instead:

=============================  =========  ==================================================================
value                          default    source
=============================  =========  ==================================================================
LV septal and anterior         0 ms       Durrer et al. 1970 (Circulation 41:899): the earliest LV
paraseptal roots                          endocardial sites, high anterior paraseptal and central
                                          left septum, excited 0-5 ms after the onset
LV posterior paraseptal root   0.5 ms     Durrer 1970: the third early area, posterior paraseptal at
                                          about a third of the apex-base distance, also within 0-5 ms
LV mid-posterior root          7 ms       Durrer 1970: the three early areas become confluent within
                                          15-20 ms; the posterior wall is reached after the septum
RV septal root                 5 ms       Durrer 1970: RV activation starts near the insertion of the
RV anterior free wall root     9 ms       anterior papillary muscle 5-10 ms after the LV
RV posterior free wall root    12.5 ms    after the anterior RV root (spread from the moderator band;
                                          Durrer 1970)
LV layer up to ab 0.9,         0.9, 0.8   the Purkinje network covers the LV nearly to the base and is
RV layer up to ab 0.8                     absent from the RV outflow tract (conus), which with the
                                          posterobasal LV is excited last (Durrer 1970; Ono et al.
                                          2009, Circ J 73:1713)
dense / sparse endocardial     2.1 / 1.7  the speed of the subendocardial Purkinje network that the
speed                          m/s        layer stands for: Purkinje fibres conduct at 2-4 m/s
                                          (Durrer 1970; Myerburg et al. 1972, Circ Res 30:217), the
                                          sparse region at the low end of it; the paper's 1.5 / 1.0
                                          m/s (Camps et al. 2021) leave the RV free wall late
dense regions                  LV ab<=0.2 denser Purkinje network towards the apex and in the RV
                               RV ab<=0.75 trabeculated body and free wall (Ono et al. 2009)
                               or rt .2-.5
myocardial speeds              0.65, 0.48, the paper (Sec. IV-A.1), after Camps et al. 2021
(fibre, sheet, normal)         0.51 m/s
=============================  =========  ==================================================================

The start times, speeds and region bounds were chosen inside those ranges by CMA-ES (the ``cma``
package) scoring the normal-ECG criteria on the 12 default-resolution (1.9 mm) subjects of the seed-0
virtual cohort in 6 poses each, then rounded; a second cohort (seed 1, 12 subjects, 6 poses) was kept
out of the choice and is reported beside it (README, "Forward simulation").

Units: mm, ms, m/s (= mm/ms).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass, field, replace
from typing import Any

import numpy as np

from .activation import DEFAULT_SPEEDS

__all__ = [
    "DEFAULT_PARAMS",
    "DEFAULT_SITES",
    "DENSE_SPEED",
    "HIS_SITE",
    "PURKINJE_SPEED",
    "ROOT_SITES",
    "SPARSE_SPEED",
    "TIMINGS",
    "ConductionParams",
    "RootSite",
]

#: Conduction speed along the Purkinje network for ``timing="purkinje"``, m/s: the delay of a root is
#: its distance from the His bundle along the endocardium at this speed. Human Purkinje fibres
#: conduct at about 2-4 m/s (Durrer et al. 1970); 2.5 m/s is a middle value.
PURKINJE_SPEED = 2.5
#: His-bundle site (ventricle, ab, rt) for ``timing="purkinje"``: the basal LV septum.
HIS_SITE: tuple[str, float, float] = ("lv", 0.85, 0.80)
TIMINGS = ("sites", "purkinje")


@dataclass(frozen=True)
class RootSite:
    """A root node site: ventricle (``"lv"``/``"rv"``), Cobiveco ``ab`` and ``rt`` on that endocardium, and
    its start time ``t0`` (ms after the earliest root; used by ``timing="sites"``)."""

    ventricle: str
    ab: float
    rt: float
    t0: float = 0.0

    def __post_init__(self) -> None:
        if self.ventricle not in ("lv", "rv"):
            raise ValueError(f"ventricle: expected 'lv' or 'rv', got {self.ventricle!r}")
        for name in ("ab", "rt", "t0"):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, (int, float, np.floating, np.integer)) or not np.isfinite(v):
                raise ValueError(f"{name}: expected a finite number, got {v!r}")
            object.__setattr__(self, name, float(v))
        if not 0.0 <= self.ab <= 1.0:
            raise ValueError(f"ab: expected a value in [0, 1], got {self.ab}")
        if not 0.0 <= self.t0 <= 200.0:
            raise ValueError(f"t0: expected a start time in [0, 200] ms, got {self.t0}")
        object.__setattr__(self, "rt", float(np.mod(self.rt, 1.0)))


#: Default root sites and start times (module docs for the sources). rt: 0 posterior RV junction, 2/3
#: anterior junction, septum 2/3..1 (the LV sectors of mitwin.anatomy.aha).
DEFAULT_SITES: dict[str, RootSite] = {
    "lv_mid_septum": RootSite("lv", 0.50, 0.83, 0.0),  # middle of the septum (AHA 8/9 border)
    "lv_basal_anterior_paraseptal": RootSite("lv", 0.75, 0.62, 0.0),  # anterior wall by the anterior junction
    "lv_mid_posterior_paraseptal": RootSite("lv", 0.50, 0.05, 0.5),  # inferior wall by the posterior junction
    "lv_mid_posterior": RootSite("lv", 0.45, 0.20, 7.0),  # inferolateral wall
    "rv_mid_septum": RootSite("rv", 0.50, 0.83, 5.0),
    "rv_free_wall_anterior": RootSite("rv", 0.35, 0.40, 9.0),  # near the moderator-band insertion
    "rv_free_wall_posterior": RootSite("rv", 0.55, 0.20, 12.5),
}
#: The root sites as (ventricle, ab, rt), in the order of :data:`DEFAULT_SITES`.
ROOT_SITES: dict[str, tuple[str, float, float]] = {k: (s.ventricle, s.ab, s.rt) for k, s in DEFAULT_SITES.items()}


def _positive(name: str, v: Any) -> float:
    if isinstance(v, bool) or not isinstance(v, (int, float, np.floating, np.integer)) or not np.isfinite(v) or v <= 0:
        raise ValueError(f"{name}: expected a speed > 0 m/s, got {v!r}")
    if v > 20.0:
        raise ValueError(f"{name}: expected a speed <= 20 m/s, got {v!r}")
    return float(v)


def _fraction(name: str, v: Any) -> float:
    if isinstance(v, bool) or not isinstance(v, (int, float, np.floating, np.integer)) or not 0.0 <= v <= 1.0:
        raise ValueError(f"{name}: expected a value in [0, 1], got {v!r}")
    return float(v)


@dataclass(frozen=True)
class ConductionParams:
    """Every value of the healthy conduction system (module docs: defaults and sources).

    Attributes
    ----------
    sites : mapping name -> RootSite
    dense_speed, sparse_speed : float, m/s
        Isotropic speeds of the dense and sparse regions of the fast endocardial layer.
    speeds : (3,) float, m/s
        Myocardial speeds along fibre, sheet, sheet-normal.
    lv_dense_max_ab, rv_dense_max_ab : float
        Dense region: LV ``ab <=`` the first; RV ``ab <=`` the second or ``rt`` in ``rv_dense_rt``.
    rv_dense_rt : (2,) float
    lv_layer_max_ab, rv_layer_max_ab : float
        The fast layer covers each endocardium up to this ``ab``.
    timing : {"sites", "purkinje"}
        Root start times from the sites' ``t0``, or from Purkinje delays (the paper's rule).
    site_nodes : int
        Endocardial nodes that seed each site: 1 (default) snaps the site to its nearest node; k > 1
        seeds the k nearest nodes (in (ab, rt)) at ``t0 + |x - x_site| / v``, with ``x_site`` their
        inverse-distance weighted position and ``v`` their layer speed, so that the activation
        changes continuously with the site's (ab, rt) on a coarse mesh (used by the personalisation).
    purkinje_speed : float, m/s, and his : (ventricle, ab, rt)
        Used by ``timing="purkinje"`` only.

    Examples
    --------
    >>> p = ConductionParams()
    >>> p.with_changes(sparse_speed=1.2).sparse_speed
    1.2
    >>> ConductionParams.from_dict(p.to_dict()) == p
    True
    """

    sites: Mapping[str, RootSite] = field(default_factory=lambda: dict(DEFAULT_SITES))
    dense_speed: float = 2.1
    sparse_speed: float = 1.7
    speeds: tuple[float, float, float] = DEFAULT_SPEEDS
    lv_dense_max_ab: float = 0.2
    rv_dense_max_ab: float = 0.75
    rv_dense_rt: tuple[float, float] = (0.2, 0.5)
    lv_layer_max_ab: float = 0.9
    rv_layer_max_ab: float = 0.8
    timing: str = "sites"
    purkinje_speed: float = PURKINJE_SPEED
    his: tuple[str, float, float] = HIS_SITE
    site_nodes: int = 1

    def __post_init__(self) -> None:
        if not isinstance(self.sites, Mapping) or not self.sites:
            raise ValueError(f"sites: expected a non-empty mapping name -> RootSite, got {self.sites!r}")
        sites = {}
        for name, site in self.sites.items():
            if isinstance(site, RootSite):
                sites[str(name)] = site
            else:
                try:
                    sites[str(name)] = RootSite(*site)
                except (TypeError, ValueError) as exc:
                    raise ValueError(f"sites[{name!r}]: expected RootSite(ventricle, ab, rt, t0), got {site!r} "
                                     f"({exc})") from None
        object.__setattr__(self, "sites", sites)
        for name in ("dense_speed", "sparse_speed", "purkinje_speed"):
            object.__setattr__(self, name, _positive(name, getattr(self, name)))
        speeds = tuple(self.speeds)
        if len(speeds) != 3:
            raise ValueError(f"speeds: expected (fibre, sheet, sheet-normal) m/s, got {self.speeds!r}")
        object.__setattr__(self, "speeds", tuple(_positive("speeds", v) for v in speeds))
        for name in ("lv_dense_max_ab", "rv_dense_max_ab", "lv_layer_max_ab", "rv_layer_max_ab"):
            object.__setattr__(self, name, _fraction(name, getattr(self, name)))
        rt = tuple(self.rv_dense_rt)
        if len(rt) != 2:
            raise ValueError(f"rv_dense_rt: expected (low, high) in [0, 1], got {self.rv_dense_rt!r}")
        object.__setattr__(self, "rv_dense_rt", tuple(_fraction("rv_dense_rt", v) for v in rt))
        k = self.site_nodes
        if isinstance(k, bool) or not isinstance(k, (int, np.integer)) or not 1 <= k <= 16:
            raise ValueError(f"site_nodes: expected an integer in [1, 16], got {k!r}")
        object.__setattr__(self, "site_nodes", int(k))
        if self.timing not in TIMINGS:
            raise ValueError(f"timing: expected one of {TIMINGS}, got {self.timing!r}")
        his: tuple[Any, ...] = tuple(self.his)
        if len(his) != 3:
            raise ValueError(f"his: expected (ventricle, ab, rt), got {self.his!r}")
        site = RootSite(str(his[0]), his[1], his[2])
        object.__setattr__(self, "his", (site.ventricle, site.ab, site.rt))

    @classmethod
    def paper(cls) -> ConductionParams:
        """The paper's system: Purkinje delays at 2.5 m/s from the His point, dense 1.5 / sparse 1.0 m/s,
        dense LV ab <= 0.4 and RV ab <= 0.2 or free wall rt 0.2-0.5, layer up to ab 0.9."""
        return cls(dense_speed=1.5, sparse_speed=1.0, lv_dense_max_ab=0.4, rv_dense_max_ab=0.2,
                   lv_layer_max_ab=0.9, rv_layer_max_ab=0.9, timing="purkinje")

    def with_changes(self, **changes: Any) -> ConductionParams:
        """A copy with some fields replaced (validated again)."""
        return replace(self, **changes)

    def scaled(self, myocardial: float = 1.0, fast: float = 1.0) -> ConductionParams:
        """A copy with the myocardial speeds times ``myocardial`` and the fast endocardial layer's and
        Purkinje speeds times ``fast`` (a patient whose tissue conducts faster or slower than the defaults).

        >>> ConductionParams().scaled(1.0, 0.5).dense_speed
        1.05
        """
        for name, v in (("myocardial", myocardial), ("fast", fast)):
            if isinstance(v, bool) or not isinstance(v, (int, float, np.floating)) or not 0.1 <= float(v) <= 10.0:
                raise ValueError(f"{name}: expected a speed factor in [0.1, 10], got {v!r}")
        m = float(myocardial)
        return replace(self, speeds=(self.speeds[0] * m, self.speeds[1] * m, self.speeds[2] * m),
                       dense_speed=self.dense_speed * float(fast), sparse_speed=self.sparse_speed * float(fast),
                       purkinje_speed=self.purkinje_speed * float(fast))

    def with_site(self, name: str, **changes: Any) -> ConductionParams:
        """A copy with one root site's fields (``ab``, ``rt``, ``t0``, ``ventricle``) replaced."""
        if name not in self.sites:
            raise ValueError(f"name: expected one of {list(self.sites)}, got {name!r}")
        sites = dict(self.sites)
        sites[name] = replace(sites[name], **changes)
        return replace(self, sites=sites)

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-able dict (sites as name -> {ventricle, ab, rt, t0})."""
        d = asdict(self)
        d["sites"] = {k: asdict(v) for k, v in self.sites.items()}
        d["speeds"], d["rv_dense_rt"], d["his"] = list(self.speeds), list(self.rv_dense_rt), list(self.his)
        return d

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> ConductionParams:
        """Inverse of :meth:`to_dict`; unknown keys raise."""
        if not isinstance(d, Mapping):
            raise ValueError(f"d: expected a mapping, got {type(d).__name__}")
        known = set(cls.__dataclass_fields__)
        unknown = sorted(set(d) - known)
        if unknown:
            raise ValueError(f"d: unknown conduction fields {unknown}; expected some of {sorted(known)}")
        kw = dict(d)
        if "sites" in kw:
            kw["sites"] = {k: RootSite(**v) if isinstance(v, Mapping) else v for k, v in kw["sites"].items()}
        for key in ("speeds", "rv_dense_rt", "his"):
            if key in kw:
                kw[key] = tuple(kw[key])
        return cls(**kw)


#: The default conduction system.
DEFAULT_PARAMS = ConductionParams()
#: Speeds of the default fast endocardial layer, m/s.
DENSE_SPEED, SPARSE_SPEED = DEFAULT_PARAMS.dense_speed, DEFAULT_PARAMS.sparse_speed
