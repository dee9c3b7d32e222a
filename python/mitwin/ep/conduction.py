"""The healthy conduction system of the forward model, from Cobiveco coordinates.

Everything is defined on any heart through its coordinates (tm, ab, rt, tv) and endocardial
surfaces, so that it lands on homologous places in every subject and transfers between hearts.
One record, :class:`ConductionParams`, holds every value; :func:`conduction_system` turns it into
the per-node fast endocardial layer, the root nodes and their start times (:class:`Conduction`).

* **Fast endocardial layer** (:func:`endocardial_speed`): endocardial nodes up to ``ab`` =
  ``lv_layer_max_ab`` (LV) / ``rv_layer_max_ab`` (RV) conduct isotropically, at ``dense_speed`` in
  the dense region (LV ``ab <= lv_dense_max_ab``; RV ``ab <= rv_dense_max_ab`` or free wall
  ``rt`` in ``rv_dense_rt``) and at ``sparse_speed`` elsewhere.
* **Root nodes** (:func:`root_nodes`): each :class:`RootSite` (ventricle, ab, rt) snapped to the
  nearest node of its ventricle's endocardium; the sites of Cardone-Noot et al. (2016) as used by
  the paper: LV mid-septum, LV basal-anterior paraseptal, two LV mid-posterior; RV mid-septum,
  two RV free wall.
* **Start times**: ``timing="sites"`` (default) takes each site's ``t0``; ``timing="purkinje"``
  (the paper's rule, Eq. 2) uses ``t0 = pk - min(pk)`` with ``pk`` the Purkinje delay from a His
  point along the endocardium (:func:`purkinje_delays`).

The defaults (:data:`DEFAULT_PARAMS`) and their sources
-------------------------------------------------------
The paper's system (:meth:`ConductionParams.paper`: Purkinje delays at 2.5 m/s from a basal-septal
His point, dense 1.5 / sparse 1.0 m/s) starts the RV free-wall roots 22-24 ms after the first LV
root and leaves the basal RV late; on the virtual cohort and on real meshes that gives right axis
deviation and late positive forces in V1 (11 of 72 subject-poses of the coarse cohort normal by
:func:`mitwin.ep.criteria.check_ecg`, 50 of 72 with the defaults below; README, "Forward simulation"). The
defaults follow the isolated human heart instead:

=============================  =========  ==================================================================
value                          default    source
=============================  =========  ==================================================================
LV septal and anterior         0 ms       Durrer et al. 1970 (Circulation 41:899): the earliest LV
paraseptal roots                          endocardial sites, high anterior paraseptal and central
                                          left septum, excited 0-5 ms after the onset
LV posterior paraseptal root   3 ms       Durrer 1970: the third early area, posterior paraseptal at
                                          about a third of the apex-base distance, also within 0-5 ms
LV mid-posterior root          11 ms      Durrer 1970: the three early areas become confluent within
                                          15-20 ms; the posterior wall is reached after the septum
RV septal and anterior free    8 ms       Durrer 1970: RV activation starts near the insertion of the
wall roots                                anterior papillary muscle 5-10 ms after the LV
RV posterior free wall root    12 ms      after the anterior RV root (spread from the moderator band;
                                          Durrer 1970)
LV layer up to ab 0.95,        0.95, 0.85 the Purkinje network covers the LV up to the base and
RV layer up to ab 0.85                    is absent from the RV outflow tract (conus), which with
                                          the posterobasal LV is excited last (Durrer 1970; Ono et
                                          al. 2009, Circ J 73:1713)
dense / sparse endocardial     1.75 / 1.5 between working myocardium (0.65 m/s) and Purkinje
speed                          m/s        fibres (2-4 m/s; Durrer 1970; Myerburg et al. 1972, Circ
                                          Res 30:217): the endocardial spread of a Purkinje-coupled
                                          layer; the paper's 1.5 / 1.0 m/s (Camps et al. 2021) raised
                                          so that the RV free wall is excited early, as Durrer found
dense regions                  LV ab<=0.3 denser Purkinje network towards the apex and in the RV
                               RV ab<=0.65 trabeculated body and free wall (Ono et al. 2009)
                               or rt .2-.5
myocardial speeds              0.65, 0.48, the paper (Sec. IV-A.1), after Camps et al. 2021
(fibre, sheet, normal)         0.51 m/s
=============================  =========  ==================================================================

The region bounds and times were chosen inside those ranges by scoring the normal-ECG criteria on
8 subjects of a coarse virtual cohort in 6 poses each; 4 further subjects were kept out of the
choice (README, "Forward simulation", reports both).

Units: mm, ms, m/s (= mm/ms).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field, replace
from typing import Any

import numpy as np
import scipy.sparse as sp
from scipy.sparse.csgraph import dijkstra

from .activation import DEFAULT_SPEEDS

log = logging.getLogger(__name__)

__all__ = [
    "DEFAULT_PARAMS",
    "DENSE_SPEED",
    "HIS_SITE",
    "PURKINJE_SPEED",
    "ROOT_SITES",
    "SPARSE_SPEED",
    "Conduction",
    "ConductionParams",
    "RootSite",
    "conduction_system",
    "endocardial_speed",
    "purkinje_delays",
    "root_nodes",
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
    "lv_mid_posterior_paraseptal": RootSite("lv", 0.50, 0.05, 3.0),  # inferior wall by the posterior junction
    "lv_mid_posterior": RootSite("lv", 0.45, 0.20, 11.0),  # inferolateral wall
    "rv_mid_septum": RootSite("rv", 0.50, 0.83, 8.0),
    "rv_free_wall_anterior": RootSite("rv", 0.35, 0.40, 8.0),  # near the moderator-band insertion
    "rv_free_wall_posterior": RootSite("rv", 0.55, 0.20, 12.0),
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
    dense_speed: float = 1.75
    sparse_speed: float = 1.5
    speeds: tuple[float, float, float] = DEFAULT_SPEEDS
    lv_dense_max_ab: float = 0.3
    rv_dense_max_ab: float = 0.65
    rv_dense_rt: tuple[float, float] = (0.2, 0.5)
    lv_layer_max_ab: float = 0.95
    rv_layer_max_ab: float = 0.85
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

_SURFACE = {"lv": "lv_endo", "rv": "rv_endo"}


def _coordinate_distance2(ab: np.ndarray, rt: np.ndarray, ab0: float, rt0: float) -> np.ndarray:
    drt = np.mod(rt - rt0 + 0.5, 1.0) - 0.5
    return (ab - ab0) ** 2 + drt**2


def _nearest_on(heart: Any, ventricle: str, ab0: float, rt0: float) -> int:
    """Node of the ventricle's endocardium nearest to (ab0, rt0) (periodic rt)."""
    nodes = np.asarray(heart.surfaces[_SURFACE[ventricle]], dtype=np.int64)
    if nodes.size == 0:
        raise ValueError(f"heart: the {_SURFACE[ventricle]} surface has no nodes")
    d2 = _coordinate_distance2(heart.ab[nodes], heart.rt[nodes], ab0, rt0)
    return int(nodes[np.argmin(d2)])


def endocardial_speed(heart: Any, dense: float | None = None, sparse: float | None = None, *,
                      params: ConductionParams | None = None) -> np.ndarray:
    """Speed of the fast endocardial layer per node (m/s), NaN off the layer.

    Parameters
    ----------
    heart : Heart
        Needs ``surfaces["lv_endo"]``, ``surfaces["rv_endo"]``, ``ab`` and ``rt``.
    dense, sparse : float, optional
        Speeds (m/s) of the dense and sparse regions, > 0; default those of ``params``.
    params : ConductionParams, optional
        Regions and speeds (default :data:`DEFAULT_PARAMS`).

    Returns
    -------
    (N,) float64
    """
    params = DEFAULT_PARAMS if params is None else params
    dense = params.dense_speed if dense is None else _positive("dense", dense)
    sparse = params.sparse_speed if sparse is None else _positive("sparse", sparse)
    n = heart.points.shape[0]
    out = np.full(n, np.nan)
    ab, rt = np.asarray(heart.ab), np.mod(np.asarray(heart.rt), 1.0)
    lo, hi = params.rv_dense_rt
    for ventricle, key in _SURFACE.items():
        nodes = np.asarray(heart.surfaces[key], dtype=np.int64)
        if ventricle == "lv":
            nodes = nodes[ab[nodes] <= params.lv_layer_max_ab]
            is_dense = ab[nodes] <= params.lv_dense_max_ab
        else:
            nodes = nodes[ab[nodes] <= params.rv_layer_max_ab]
            is_dense = (ab[nodes] <= params.rv_dense_max_ab) | ((rt[nodes] >= lo) & (rt[nodes] <= hi))
        # a node on both surfaces (a thin septal ridge) keeps the faster speed
        speed = np.where(is_dense, dense, sparse)
        out[nodes] = np.fmax(out[nodes], speed)
    return out


def _as_sites(sites: Mapping[str, Any] | None) -> dict[str, RootSite]:
    if sites is None:
        return dict(DEFAULT_SITES)
    if not isinstance(sites, Mapping):
        raise ValueError(f"sites: expected a mapping name -> (ventricle, ab, rt[, t0]), got {type(sites).__name__}")
    out = {}
    for name, site in sites.items():
        if isinstance(site, RootSite):
            out[name] = site
            continue
        try:
            out[name] = RootSite(*site)
        except TypeError:
            raise ValueError(f"sites[{name!r}]: expected (ventricle, ab, rt[, t0]), got {site!r}") from None
        except ValueError as exc:
            raise ValueError(f"sites[{name!r}]: {exc}") from None
    return out


def root_nodes(heart: Any, sites: Mapping[str, Any] | None = None) -> np.ndarray:
    """Root nodes: each site snapped to the nearest node of its ventricle's endocardium (in (ab, rt), rt periodic).

    Parameters
    ----------
    heart : Heart
    sites : mapping, optional
        name -> :class:`RootSite` or (``"lv"`` or ``"rv"``, ab, rt[, t0]); default :data:`DEFAULT_SITES`.

    Returns
    -------
    (R,) int64 node indices, in the order of ``sites``.
    """
    return np.asarray([_nearest_on(heart, s.ventricle, s.ab, s.rt) for s in _as_sites(sites).values()],
                      dtype=np.int64)


def _endocardial_graph(heart: Any) -> tuple[sp.csr_matrix, np.ndarray]:
    """Edge-length graph (mm) over the endocardial surface nodes; returns (graph, node ids)."""
    tets = np.asarray(heart.tets, dtype=np.int64)
    points = np.asarray(heart.points, dtype=np.float64)
    n = points.shape[0]
    side = np.full(n, -1, dtype=np.int8)  # 0 LV endo, 1 RV endo
    side[np.asarray(heart.surfaces["lv_endo"], dtype=np.int64)] = 0
    side[np.asarray(heart.surfaces["rv_endo"], dtype=np.int64)] = 1
    pairs = np.concatenate([tets[:, [i, j]] for i in range(4) for j in range(i + 1, 4)])
    keep = (side[pairs[:, 0]] >= 0) & (side[pairs[:, 0]] == side[pairs[:, 1]])
    pairs = np.unique(np.sort(pairs[keep], axis=1), axis=0)
    nodes = np.flatnonzero(side >= 0)
    local = np.full(n, -1, dtype=np.int64)
    local[nodes] = np.arange(nodes.size)
    w = np.linalg.norm(points[pairs[:, 0]] - points[pairs[:, 1]], axis=1)
    a, b = local[pairs[:, 0]], local[pairs[:, 1]]
    graph = sp.coo_matrix((np.concatenate([w, w]), (np.concatenate([a, b]), np.concatenate([b, a]))),
                          shape=(nodes.size, nodes.size)).tocsr()
    return graph, nodes


def purkinje_delays(heart: Any, nodes: Any, *, speed: float = PURKINJE_SPEED,
                    his: tuple[str, float, float] = HIS_SITE) -> np.ndarray:
    """Purkinje delay (ms) from the His bundle to the given endocardial nodes.

    The His point is the node of its ventricle's endocardium nearest to ``his`` (ab, rt). The
    delay is the shortest path along the edges of the endocardial surfaces (a graph metric, a
    few per cent above the true geodesic on triangulated surfaces), divided by ``speed``. The
    other ventricle is entered at its endocardial node nearest (in space) to the His point, at
    the straight-line distance (the bundle branch crossing the septum).

    Parameters
    ----------
    heart : Heart
    nodes : (R,) int
        Endocardial node indices (e.g. :func:`root_nodes`).
    speed : float
        Purkinje conduction speed, m/s.
    his : (ventricle, ab, rt)
        His-bundle site.

    Returns
    -------
    (R,) float64 delays, ms.

    Raises
    ------
    ValueError
        A node that is not endocardial or not reachable along the endocardium.
    """
    if not (np.isfinite(speed) and speed > 0):
        raise ValueError(f"speed: expected a Purkinje speed > 0 m/s, got {speed!r}")
    nodes = np.asarray(nodes, dtype=np.int64)
    graph, endo = _endocardial_graph(heart)
    local = np.full(heart.points.shape[0], -1, dtype=np.int64)
    local[endo] = np.arange(endo.size)
    if np.any(local[nodes] < 0):
        bad = nodes[local[nodes] < 0]
        raise ValueError(f"nodes: expected endocardial nodes, got {bad.size} that are not (e.g. {int(bad[0])})")
    ventricle = his[0]
    other = "rv" if ventricle == "lv" else "lv"
    his_node = _nearest_on(heart, ventricle, float(his[1]), float(his[2]))
    other_nodes = np.asarray(heart.surfaces[_SURFACE[other]], dtype=np.int64)
    gap = np.linalg.norm(heart.points[other_nodes] - heart.points[his_node], axis=1)
    entry = int(other_nodes[np.argmin(gap)])
    # paths from the His node (0 mm) and from the other branch's entry (`gap` mm)
    dist = dijkstra(graph, indices=[local[his_node], local[entry]])
    d = np.minimum(dist[0, local[nodes]], dist[1, local[nodes]] + float(gap.min()))
    if not np.all(np.isfinite(d)):
        raise ValueError("nodes: some nodes cannot be reached along the endocardium from the His bundle")
    return d / speed


@dataclass(frozen=True)
class Conduction:
    """The healthy conduction system of one heart.

    Attributes
    ----------
    endo_speed : (N,) float64, m/s on the fast layer, NaN elsewhere.
    roots : (R,) int64 root nodes (one per site, or up to ``site_nodes`` per site).
    root_times : (R,) float64 ms, the start time of each root (the earliest is 0).
    delays : (R,) float64 ms: the Purkinje delay ``pk`` from the His bundle (``timing="purkinje"``), or
        the sites' ``t0`` (``timing="sites"``).
    names : (R,) tuple of str, the site of each root.
    params : ConductionParams that made it.
    """

    endo_speed: np.ndarray
    roots: np.ndarray
    root_times: np.ndarray
    delays: np.ndarray
    names: tuple[str, ...]
    params: ConductionParams = DEFAULT_PARAMS


def conduction_system(heart: Any, params: ConductionParams | None = None, *, dense: float | None = None,
                      sparse: float | None = None, purkinje_speed: float | None = None,
                      sites: Mapping[str, Any] | None = None,
                      his: tuple[str, float, float] | None = None) -> Conduction:
    """Fast endocardial layer, root nodes and their start times for ``heart``.

    Parameters
    ----------
    heart : Heart
    params : ConductionParams, optional
        Default :data:`DEFAULT_PARAMS`.
    dense, sparse, purkinje_speed, sites, his : optional
        Replace those fields of ``params`` (``sites`` as name -> RootSite or (ventricle, ab, rt[, t0])).

    Returns
    -------
    Conduction

    Examples
    --------
    >>> c = conduction_system(heart)  # doctest: +SKIP
    >>> c.roots.shape, float(c.root_times.min())  # doctest: +SKIP
    ((7,), 0.0)
    """
    params = DEFAULT_PARAMS if params is None else params
    if not isinstance(params, ConductionParams):
        raise ValueError(f"params: expected a ConductionParams, got {type(params).__name__}")
    changes: dict[str, Any] = {}
    if dense is not None:
        changes["dense_speed"] = dense
    if sparse is not None:
        changes["sparse_speed"] = sparse
    if purkinje_speed is not None:
        changes["purkinje_speed"] = purkinje_speed
    if sites is not None:
        changes["sites"] = _as_sites(sites)
    if his is not None:
        changes["his"] = his
    if changes:
        try:
            params = params.with_changes(**changes)
        except ValueError as exc:
            raise ValueError(str(exc).replace("dense_speed", "dense").replace("sparse_speed", "sparse")) from None
    roots = root_nodes(heart, params.sites)
    if params.timing == "purkinje":
        pk = purkinje_delays(heart, roots, speed=params.purkinje_speed, his=params.his)
    else:
        pk = np.array([site.t0 for site in params.sites.values()], dtype=np.float64)
    endo = endocardial_speed(heart, params=params)
    names = tuple(params.sites)
    if params.site_nodes > 1:
        roots, pk, names = _seed_sites(heart, params, endo, pk)
    log.debug("roots %s, delays %s ms", roots.tolist(), np.round(pk, 2).tolist())
    return Conduction(endo, roots, pk - pk.min(), pk, names, params)


def _seed_sites(heart: Any, params: ConductionParams, endo: np.ndarray,
                t0: np.ndarray) -> tuple[np.ndarray, np.ndarray, tuple[str, ...]]:
    """The k nearest endocardial nodes of each site, started at t0 + distance to the site's interpolated
    position / their speed (the fast layer's, or the fibre speed off the layer); a node seeded by two
    sites keeps the earlier time."""
    points = np.asarray(heart.points, dtype=np.float64)
    best: dict[int, tuple[float, str]] = {}
    for (name, site), t in zip(params.sites.items(), t0):
        nodes = np.asarray(heart.surfaces[_SURFACE[site.ventricle]], dtype=np.int64)
        d = np.sqrt(_coordinate_distance2(heart.ab[nodes], heart.rt[nodes], site.ab, site.rt))
        k = min(params.site_nodes, nodes.size)
        near = np.argsort(d, kind="stable")[:k]
        w = 1.0 / (d[near] + 1e-6) ** 2
        x = (w[:, None] * points[nodes[near]]).sum(axis=0) / w.sum()
        v = np.where(np.isfinite(endo[nodes[near]]), endo[nodes[near]], params.speeds[0])
        for node, tt in zip(nodes[near], t + np.linalg.norm(points[nodes[near]] - x, axis=1) / v):
            if int(node) not in best or tt < best[int(node)][0]:
                best[int(node)] = (float(tt), name)
    roots = np.fromiter(best, dtype=np.int64, count=len(best))
    times = np.array([best[int(n)][0] for n in roots])
    return roots, times, tuple(best[int(n)][1] for n in roots)
