"""The healthy conduction system of the forward model, from Cobiveco coordinates.

Three pieces, all defined on any :class:`mitwin.anatomy.heart.Heart` through its coordinates
(tm, ab, rt, tv) and its endocardial surfaces, so that they land on homologous places in
every subject:

* the **fast endocardial layer** (:func:`endocardial_speed`): the endocardial nodes with
  ``ab <= 0.9`` conduct isotropically at 1.5 m/s in the dense region - LV ``ab <= 0.4``, RV
  ``ab <= 0.2`` and the RV free wall ``0.2 <= rt <= 0.5`` - and at 1.0 m/s elsewhere (the
  dense / sparse endocardial speeds of the paper, Sec. IV-A.1, after Camps et al. 2022);
* seven **root nodes** (:data:`ROOT_SITES`, :func:`root_nodes`) at the homologous sites of
  Cardone-Noot et al. (2016), as used by the paper: LV mid-septum, LV basal-anterior
  paraseptal, two LV mid-posterior; RV mid-septum and two RV free wall;
* **Purkinje delays** (:func:`purkinje_delays`): the time from a His-bundle point on the basal
  LV septum to every endocardial node, along the shortest path over the endocardial surface
  edges at the Purkinje speed (default 2.5 m/s). The right bundle branch crosses the septum on
  the straight segment from the His point to the nearest RV-endocardial node. A root starts at
  ``t0 = pk - min(pk)`` (Eq. 2 of the paper).

Units: mm, ms, m/s (= mm/ms).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

import numpy as np
import scipy.sparse as sp
from scipy.sparse.csgraph import dijkstra

log = logging.getLogger(__name__)

__all__ = [
    "DENSE_SPEED",
    "HIS_SITE",
    "PURKINJE_SPEED",
    "ROOT_SITES",
    "SPARSE_SPEED",
    "Conduction",
    "conduction_system",
    "endocardial_speed",
    "purkinje_delays",
    "root_nodes",
]

#: Isotropic speeds of the fast endocardial layer, m/s (paper Sec. IV-A.1: 150 and 100 cm/s).
DENSE_SPEED, SPARSE_SPEED = 1.5, 1.0
#: The layer covers endocardial nodes up to this ab.
LAYER_MAX_AB = 0.9
#: Conduction speed along the Purkinje network, m/s: the delay of a root is its distance from
#: the His bundle along the endocardium at this speed. Human Purkinje fibres conduct at about
#: 2-4 m/s (Durrer et al. 1970); 2.5 m/s is a middle value.
PURKINJE_SPEED = 2.5

#: Root-node sites: name -> (ventricle, ab, rt), on the endocardium (tm = 1) of that ventricle.
#: After Cardone-Noot et al. (2016), placed in Cobiveco coordinates (rt: 0 posterior RV
#: junction, 2/3 anterior junction, septum 2/3..1; the LV sectors of mitwin.anatomy.aha).
ROOT_SITES: dict[str, tuple[str, float, float]] = {
    "lv_mid_septum": ("lv", 0.50, 0.83),  # middle of the septum (AHA 8/9 border)
    "lv_basal_anterior_paraseptal": ("lv", 0.75, 0.62),  # anterior wall next to the anterior junction
    "lv_mid_posterior_paraseptal": ("lv", 0.50, 0.05),  # inferior wall next to the posterior junction
    "lv_mid_posterior": ("lv", 0.45, 0.20),  # inferolateral wall
    "rv_mid_septum": ("rv", 0.50, 0.83),
    "rv_free_wall_anterior": ("rv", 0.35, 0.40),  # near the moderator-band insertion
    "rv_free_wall_posterior": ("rv", 0.55, 0.20),
}
#: His-bundle site (ventricle, ab, rt): the basal LV septum, below the membranous septum.
HIS_SITE: tuple[str, float, float] = ("lv", 0.85, 0.80)

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


def endocardial_speed(heart: Any, dense: float = DENSE_SPEED, sparse: float = SPARSE_SPEED) -> np.ndarray:
    """Speed of the fast endocardial layer per node (m/s), NaN off the layer.

    Parameters
    ----------
    heart : Heart
        Needs ``surfaces["lv_endo"]``, ``surfaces["rv_endo"]``, ``ab`` and ``rt``.
    dense, sparse : float
        Speeds (m/s) of the dense and sparse regions, > 0.

    Returns
    -------
    (N,) float64
    """
    for name, v in (("dense", dense), ("sparse", sparse)):
        if not (np.isfinite(v) and v > 0):
            raise ValueError(f"{name}: expected a speed > 0 m/s, got {v!r}")
    n = heart.points.shape[0]
    out = np.full(n, np.nan)
    ab, rt = np.asarray(heart.ab), np.mod(np.asarray(heart.rt), 1.0)
    for ventricle, key in _SURFACE.items():
        nodes = np.asarray(heart.surfaces[key], dtype=np.int64)
        nodes = nodes[ab[nodes] <= LAYER_MAX_AB]
        if ventricle == "lv":
            is_dense = ab[nodes] <= 0.4
        else:
            is_dense = (ab[nodes] <= 0.2) | ((rt[nodes] >= 0.2) & (rt[nodes] <= 0.5))
        # a node on both surfaces (a thin septal ridge) keeps the faster speed
        speed = np.where(is_dense, dense, sparse)
        out[nodes] = np.fmax(out[nodes], speed)
    return out


def root_nodes(heart: Any, sites: dict[str, tuple[str, float, float]] | None = None) -> np.ndarray:
    """Root nodes: each site snapped to the nearest node of its ventricle's endocardium.

    Parameters
    ----------
    heart : Heart
    sites : dict, optional
        name -> (``"lv"`` or ``"rv"``, ab, rt); default :data:`ROOT_SITES`.

    Returns
    -------
    (R,) int64 node indices, in the order of ``sites``.
    """
    sites = ROOT_SITES if sites is None else sites
    out = []
    for name, site in sites.items():
        try:
            ventricle, ab0, rt0 = site
        except (TypeError, ValueError):
            raise ValueError(f"sites[{name!r}]: expected (ventricle, ab, rt), got {site!r}") from None
        if ventricle not in _SURFACE:
            raise ValueError(f"sites[{name!r}]: ventricle must be 'lv' or 'rv', got {ventricle!r}")
        out.append(_nearest_on(heart, ventricle, float(ab0), float(rt0)))
    return np.asarray(out, dtype=np.int64)


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
    roots : (R,) int64 root nodes.
    root_times : (R,) float64 ms, ``pk - min(pk)``.
    delays : (R,) float64 ms, the Purkinje delay ``pk`` of each root from the His bundle.
    names : (R,) tuple of str, the site names.
    """

    endo_speed: np.ndarray
    roots: np.ndarray
    root_times: np.ndarray
    delays: np.ndarray
    names: tuple[str, ...]


def conduction_system(heart: Any, *, dense: float = DENSE_SPEED, sparse: float = SPARSE_SPEED,
                      purkinje_speed: float = PURKINJE_SPEED,
                      sites: dict[str, tuple[str, float, float]] | None = None,
                      his: tuple[str, float, float] = HIS_SITE) -> Conduction:
    """Fast endocardial layer, root nodes and their start times for ``heart``.

    Examples
    --------
    >>> c = conduction_system(heart)  # doctest: +SKIP
    >>> c.roots.shape, float(c.root_times.min())  # doctest: +SKIP
    ((7,), 0.0)
    """
    sites = ROOT_SITES if sites is None else sites
    roots = root_nodes(heart, sites)
    pk = purkinje_delays(heart, roots, speed=purkinje_speed, his=his)
    log.debug("roots %s, Purkinje delays %s ms", roots.tolist(), np.round(pk, 2).tolist())
    return Conduction(endocardial_speed(heart, dense, sparse), roots, pk - pk.min(), pk, tuple(sites))
