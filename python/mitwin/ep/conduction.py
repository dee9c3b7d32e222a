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

The record, its defaults and the physiological source of every value are in
:mod:`mitwin.ep.conduction_params`.

Units: mm, ms, m/s (= mm/ms).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import scipy.sparse as sp
from scipy.sparse.csgraph import dijkstra

from .conduction_params import (
    DEFAULT_PARAMS,
    DEFAULT_SITES,
    DENSE_SPEED,
    HIS_SITE,
    PURKINJE_SPEED,
    ROOT_SITES,
    SPARSE_SPEED,
    ConductionParams,
    RootSite,
    _positive,
)

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
