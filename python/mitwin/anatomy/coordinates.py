"""Cobiveco-style ventricular coordinates (tm, ab, rt, tv) by Laplace-Dirichlet solves.

Definitions follow Schuler et al. 2021 (Cobiveco, Med. Image Anal. 74:102247) as summarised
in the README (Conventions); the routes taken here to compute them on an arbitrary labelled tet mesh:

* **tv** (transventricular): Laplace solution with LV endocardium 0 and RV endocardium 1,
  binarised at 0.5 (0 LV, 1 RV).
* **tm** (transmural): ``tm = min(u, |2 tv_c - 1|)`` with ``u`` the Laplace solution with both
  endocardia at 1 and the epicardium at 0 (re-parametrised monotonically to the mean of
  ``d_epi / (d_epi + d_endo)`` over each of its level sets, as for ab below, so that it is close
  to linear in depth), and ``tv_c`` the continuous transventricular solution. In the free walls
  ``|2 tv_c - 1|`` is close to 1 and ``u`` wins; in the septum,
  which lies between two Dirichlet surfaces of the tv problem, ``tv_c`` runs almost linearly
  from 0 to 1 so that ``|2 tv_c - 1|`` is 1 on either endocardium and 0 on the mid-septal
  surface ``tv_c = 0.5``: the septal junction surface where Cobiveco puts tm = 0.
* **ab** (apicobasal): Laplace solution ``phi`` with the apex node at 0 and the base at 1,
  re-parametrised monotonically so that each level set of ``phi`` takes the mean of
  ``d_apex / (d_apex + d_base)`` over its nodes, the two distances measured along the mesh
  edges (paths stay in the myocardium). This keeps the smooth level sets of the Laplace
  solution and makes ab close to uniform in arc length from the apex.
* **rt** (rotational): angle about the LV long axis (apex to the centre of the LV basal
  ring), measured from the septal direction. The two RV insertion junctions are where the
  surface ``tv_c = 0.5`` meets the epicardium, located per apicobasal level. The angle is
  mapped piecewise-linearly: free wall from the posterior junction (0) to the anterior one
  (2/3), septum 2/3..1. The anterior junction is the one on the side of ``s x l``, with ``s``
  the LV->RV (septal) direction and ``l`` the base->apex axis: a property of an unmirrored
  heart in any right-handed patient frame. RV free-wall nodes (RV nodes closer to the
  epicardium than to the LV endocardium in the sense of a Laplace solve with LV endo 1 and
  epi 0) get 0..2/3 from the posterior to the anterior junction.

The stiffness matrix is linear FEM (P1 tets), assembled vectorised; the solves use
conjugate gradients with a Jacobi preconditioner (``solver="cg"``, default) or SuperLU
(``solver="direct"``). See ``bench/bench_anatomy.py`` for their timings.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp
import scipy.sparse.linalg as spla
from scipy.sparse.csgraph import connected_components, dijkstra

from ..errors import MeshError
from .mesh_io import edges_of

log = logging.getLogger(__name__)

_SOLVERS = ("cg", "direct")


# ----------------------------------------------------------------------------- FEM


def tet_gradients(points: np.ndarray, tets: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Gradients of the four P1 basis functions in every tet.

    Returns
    -------
    grads : (M, 4, 3) float64, 1/mm
    volumes : (M,) float64 signed volumes, mm^3
    """
    p = points[tets]
    d = p[:, 1:, :] - p[:, :1, :]  # (M, 3, 3), rows = edges from node 0
    vol = np.linalg.det(d) / 6.0
    g123 = np.linalg.inv(d).transpose(0, 2, 1)  # row i = grad of barycentric coordinate i+1
    grads = np.concatenate([-g123.sum(axis=1, keepdims=True), g123], axis=1)
    return grads, vol


def stiffness_matrix(points: np.ndarray, tets: np.ndarray) -> sp.csr_array:
    """P1 Laplace stiffness matrix K_ij = integral of grad(phi_i) . grad(phi_j), (N, N) CSR.

    Examples
    --------
    >>> from mitwin.anatomy.synthetic import box_mesh
    >>> p, t = box_mesh((2.0, 2.0, 2.0), 1.0)
    >>> K = stiffness_matrix(p, t)
    >>> bool(np.allclose(K @ np.ones(len(p)), 0.0))  # constants are in the kernel
    True
    """
    grads, vol = tet_gradients(points, tets)
    ke = np.einsum("mik,mjk->mij", grads, grads) * np.abs(vol)[:, None, None]
    rows = np.repeat(tets, 4, axis=1).ravel()
    cols = np.tile(tets, (1, 4)).ravel()
    n = points.shape[0]
    return sp.csr_array(sp.coo_array((ke.ravel(), (rows, cols)), shape=(n, n)))


def node_gradients(points: np.ndarray, tets: np.ndarray, values: np.ndarray,
                   grads: np.ndarray | None = None, volumes: np.ndarray | None = None) -> np.ndarray:
    """Volume-weighted average at the nodes of the per-tet gradient of a P1 field, (N, 3)."""
    if grads is None or volumes is None:
        grads, volumes = tet_gradients(points, tets)
    g = np.einsum("mi,mik->mk", values[tets], grads)
    w = np.abs(volumes)
    m = tets.shape[0]
    incidence = sp.csr_array((np.repeat(w, 4), (tets.ravel(), np.repeat(np.arange(m), 4))),
                             shape=(points.shape[0], m))
    out = incidence @ g
    wsum = incidence @ np.ones(m)
    return out / np.maximum(wsum, 1e-300)[:, None]


def laplace_solve(K: sp.csr_array, fixed: np.ndarray, values: np.ndarray, *, solver: str = "cg",
                  rtol: float = 1e-9) -> np.ndarray:
    """Solve the Laplace equation K u = 0 with u[fixed] = values (natural BC elsewhere).

    Parameters
    ----------
    K : (N, N) sparse stiffness matrix (:func:`stiffness_matrix`).
    fixed : (B,) int node indices with a Dirichlet value.
    values : (B,) float Dirichlet values.
    solver : "cg" (Jacobi-preconditioned conjugate gradients) or "direct" (scipy spsolve).
    rtol : relative residual tolerance of CG.

    Returns
    -------
    (N,) float64 solution.
    """
    if solver not in _SOLVERS:
        raise ValueError(f"solver: expected one of {_SOLVERS}, got {solver!r}")
    n = K.shape[0]
    fixed = np.asarray(fixed, dtype=np.int64).ravel()
    values = np.asarray(values, dtype=np.float64).ravel()
    if fixed.size == 0:
        raise ValueError("fixed: expected at least one Dirichlet node (the problem is singular without), got none")
    if fixed.shape != values.shape:
        raise ValueError(f"values: expected one value per fixed node ({fixed.size}), got {values.size}")
    if fixed.min() < 0 or fixed.max() >= n:
        raise ValueError(f"fixed: node indices must lie in [0, {n}), got {int(fixed.min())}..{int(fixed.max())}")
    u = np.zeros(n)
    u[fixed] = values
    free = np.ones(n, dtype=bool)
    free[fixed] = False
    if not free.any():
        return u
    Kff = K[free][:, free].tocsr()
    rhs = -(K[free][:, ~free] @ u[~free])
    if solver == "direct":
        uf = spla.spsolve(Kff.tocsc(), rhs)
    else:
        uf, iters = _pcg_jacobi(Kff, rhs, np.full(rhs.size, float(np.mean(values))), rtol,
                                maxiter=20 * int(np.sqrt(n)) + 2000)
        if iters < 0:
            log.warning("CG did not reach rtol=%g; falling back to a direct solve", rtol)
            uf = spla.spsolve(Kff.tocsc(), rhs)
    u[free] = uf
    return u


def _dot(a: np.ndarray, b: np.ndarray) -> float:
    # einsum's own loop, not BLAS: a threaded BLAS dot of a 1e5-vector is slower than serial,
    # and far slower on a loaded machine
    return float(np.einsum("i,i->", a, b))


def _pcg_jacobi(A: sp.csr_array, b: np.ndarray, x0: np.ndarray, rtol: float, maxiter: int) -> tuple[np.ndarray, int]:
    """Conjugate gradients with a Jacobi preconditioner; returns (x, iterations) or (x, -1)."""
    dinv = 1.0 / A.diagonal()
    x = x0.copy()
    r = b - A @ x
    bnorm = np.sqrt(_dot(b, b)) or 1.0
    z = dinv * r
    p = z.copy()
    rz = _dot(r, z)
    for k in range(maxiter):
        if np.sqrt(_dot(r, r)) <= rtol * bnorm:
            return x, k
        ap = A @ p
        alpha = rz / _dot(p, ap)
        x += alpha * p
        r -= alpha * ap
        z = dinv * r
        rz_new = _dot(r, z)
        p *= rz_new / rz
        p += z
        rz = rz_new
    return x, -1


def edge_graph(points: np.ndarray, tets: np.ndarray, edges: np.ndarray | None = None) -> sp.csr_array:
    """Symmetric sparse graph of the mesh edges weighted by their length (mm)."""
    e = edges_of(tets) if edges is None else edges
    w = np.linalg.norm(points[e[:, 1]] - points[e[:, 0]], axis=1)
    n = points.shape[0]
    g = sp.coo_array((np.concatenate([w, w]), (np.concatenate([e[:, 0], e[:, 1]]), np.concatenate([e[:, 1], e[:, 0]]))),
                     shape=(n, n))
    return sp.csr_array(g)


def graph_distance(graph: sp.csr_array, sources: np.ndarray) -> np.ndarray:
    """Shortest edge-path distance (mm) from the nearest of ``sources`` to every node."""
    return dijkstra(graph, directed=False, indices=np.asarray(sources, dtype=np.int64), min_only=True)


# ----------------------------------------------------------------------------- coordinates


@dataclass
class Coordinates:
    """Result of :func:`compute_coordinates`.

    Attributes
    ----------
    tm, ab, rt, tv : (N,) float64 Cobiveco-style coordinates (tv binary 0/1).
    tv_continuous : (N,) float64 the Laplace solution behind tv.
    apex : int node index of the apex.
    long_axis : (3,) unit vector from the apex towards the LV base.
    septal_direction : (3,) unit vector (perpendicular to the long axis) towards the RV.
    junction_levels : (K,) ab levels at which the junction angles are tabulated.
    junction_angles : (K, 2) angles (rad) of the posterior and anterior junctions about the
        long axis, measured from the septal direction towards ``septal x (base->apex)``.
    """

    tm: np.ndarray
    ab: np.ndarray
    rt: np.ndarray
    tv: np.ndarray
    tv_continuous: np.ndarray
    apex: int
    long_axis: np.ndarray
    septal_direction: np.ndarray
    junction_levels: np.ndarray
    junction_angles: np.ndarray


def find_apex(points: np.ndarray, lv_epi: np.ndarray, base: np.ndarray) -> int:
    """The LV epicardial node farthest from the base plane (least-squares plane of the base)."""
    bp = points[base]
    centre = bp.mean(axis=0)
    normal = np.linalg.svd(bp - centre, full_matrices=False)[2][-1]
    if np.dot(centre - points.mean(axis=0), normal) < 0:
        normal = -normal
    depth = (centre - points[lv_epi]) @ normal
    return int(lv_epi[int(np.argmax(depth))])


def arc_length_reparametrise(phi: np.ndarray, target: np.ndarray, n_bins: int = 200) -> np.ndarray:
    """Monotone map g with g(phi) ~ target on average over the level sets of phi; g(0)=0, g(1)=1."""
    order = np.argsort(phi, kind="stable")
    n_bins = int(max(10, min(n_bins, phi.size // 20)))
    chunks = np.array_split(order, n_bins)
    xs = np.array([phi[c].mean() for c in chunks if c.size])
    ys = np.array([target[c].mean() for c in chunks if c.size])
    xs = np.concatenate([[0.0], xs, [1.0]])
    ys = np.concatenate([[0.0], np.clip(ys, 0.0, 1.0), [1.0]])
    ys = np.maximum.accumulate(ys)
    xs, idx = np.unique(xs, return_index=True)
    return np.interp(phi, xs, ys[idx])


def transmural(K: sp.csr_array, endo: np.ndarray, epi: np.ndarray, tv_continuous: np.ndarray | None = None,
               graph: sp.csr_array | None = None, *, solver: str = "cg") -> np.ndarray:
    """Transmural coordinate: 1 on the endocardium, 0 on the epicardium (and the mid-septum).

    Parameters
    ----------
    K : stiffness matrix.
    endo, epi : node index arrays (both endocardia together in ``endo`` for a biventricle).
    tv_continuous : (N,) optional Laplace LV(0)->RV(1) solution; with it the septal junction
        surface tv = 0.5 also gets tm = 0 (see the module docstring).
    graph : optional edge graph (:func:`edge_graph`); with it the Laplace solution is
        re-parametrised, level set by level set, to the mean of ``d_epi / (d_epi + d_endo)``
        (edge-path distances), which makes tm close to linear in depth: a Laplace solution
        across a curved wall is not (about 1/r across a sphere shell).
    """
    endo = np.asarray(endo, dtype=np.int64)
    epi = np.asarray(epi, dtype=np.int64)
    fixed = np.concatenate([endo, epi])
    u = laplace_solve(K, fixed, np.concatenate([np.ones(endo.size), np.zeros(epi.size)]), solver=solver)
    u = np.clip(u, 0.0, 1.0)
    if graph is not None:
        d_endo = graph_distance(graph, endo)
        d_epi = graph_distance(graph, epi)
        u = arc_length_reparametrise(u, d_epi / np.maximum(d_epi + d_endo, 1e-300))
        u[endo] = 1.0
        u[epi] = 0.0
    if tv_continuous is not None:
        u = np.minimum(u, np.abs(2.0 * tv_continuous - 1.0))
    return np.clip(u, 0.0, 1.0)


def apicobasal(K: sp.csr_array, graph: sp.csr_array, apex: np.ndarray, base: np.ndarray,
               *, solver: str = "cg") -> np.ndarray:
    """Apicobasal coordinate: 0 at the apex node(s), 1 on the base, close to uniform in arc length."""
    apex = np.atleast_1d(np.asarray(apex, dtype=np.int64))
    base = np.asarray(base, dtype=np.int64)
    fixed = np.concatenate([apex, base])
    phi = laplace_solve(K, fixed, np.concatenate([np.zeros(apex.size), np.ones(base.size)]), solver=solver)
    phi = np.clip(phi, 0.0, 1.0)
    d_a = graph_distance(graph, apex)
    d_b = graph_distance(graph, base)
    ratio = d_a / np.maximum(d_a + d_b, 1e-300)
    ab = arc_length_reparametrise(phi, ratio)
    ab[apex] = 0.0
    ab[base] = 1.0
    return ab


def _angles(points: np.ndarray, origin: np.ndarray, axis: np.ndarray, e1: np.ndarray) -> np.ndarray:
    e2 = np.cross(axis, e1)  # = e1 x (base->apex)
    q = points - origin
    return np.arctan2(q @ e2, q @ e1)


def _junction_table(points, edges, epi, tv_c, ab, theta_of, n_levels: int = 12):
    """Angles of the posterior (<0) and anterior (>0) junctions per ab level."""
    e = edges
    on_epi = np.zeros(points.shape[0], dtype=bool)
    on_epi[epi] = True
    e = e[on_epi[e].all(axis=1)]
    s0, s1 = tv_c[e[:, 0]] - 0.5, tv_c[e[:, 1]] - 0.5
    cross = e[(s0 * s1) < 0]
    if cross.shape[0] < 4:
        raise MeshError("surfaces: could not find the RV insertion junctions (the tv = 0.5 surface does not "
                        "meet the epicardium); pass junctions= explicitly")
    t = (0.5 - tv_c[cross[:, 0]]) / (tv_c[cross[:, 1]] - tv_c[cross[:, 0]])
    x = points[cross[:, 0]] + t[:, None] * (points[cross[:, 1]] - points[cross[:, 0]])
    lev = ab[cross[:, 0]] + t * (ab[cross[:, 1]] - ab[cross[:, 0]])
    th = theta_of(x)
    levels = (np.arange(n_levels) + 0.5) / n_levels
    table = np.full((n_levels, 2), np.nan)
    for k in range(n_levels):
        sel = (lev >= k / n_levels) & (lev < (k + 1) / n_levels)
        post, ant = th[sel & (th < 0)], th[sel & (th > 0)]
        if post.size >= 2 and ant.size >= 2:
            table[k] = (np.median(post), np.median(ant))
    ok = np.isfinite(table[:, 0])
    if ok.any():
        # below the RV (near the apex) the tv = 0.5 line turns around: keep the levels where the
        # septal arc is well formed and extend the lowest of them towards the apex
        arc = np.where(ok, table[:, 1] - table[:, 0], 0.0)
        ok &= arc >= 0.5 * arc.max()
    if not ok.any():
        table[:] = (np.median(th[th < 0]), np.median(th[th > 0])) if (th < 0).any() and (th > 0).any() else np.nan
        if not np.isfinite(table).all():
            raise MeshError("surfaces: the RV insertion junctions lie on one side of the septum; pass junctions=")
        ok[:] = True
    return levels[ok], table[ok]


def rotational(theta: np.ndarray, ab: np.ndarray, levels: np.ndarray, table: np.ndarray,
               free_wall_rv: np.ndarray) -> np.ndarray:
    """Map angles to rt: LV-type nodes 0..2/3 free wall, 2/3..1 septum; RV free wall 0..2/3."""
    tp = np.interp(ab, levels, table[:, 0])
    ta = np.interp(ab, levels, table[:, 1])
    two_pi = 2.0 * np.pi
    phi = np.mod(tp - theta, two_pi)  # from the posterior junction through the free wall
    lfw = np.mod(tp - ta, two_pi)
    rt = np.where(phi <= lfw, (2.0 / 3.0) * phi / lfw, 2.0 / 3.0 + (phi - lfw) / (3.0 * (two_pi - lfw)))
    # RV free wall: from the posterior junction over the septal direction to the anterior one
    span = ta - tp
    frac = np.clip((theta - tp) / span, 0.0, 1.0)
    rt = np.where(free_wall_rv, (2.0 / 3.0) * frac, rt)
    rt = np.mod(rt, 1.0)
    rt[rt >= 1.0] = 0.0
    return rt


def compute_coordinates(points: np.ndarray, tets: np.ndarray, surfaces: dict[str, np.ndarray], *,
                        apex: int | None = None, junctions: tuple | None = None,
                        solver: str = "cg") -> Coordinates:
    """Cobiveco-style coordinates of a biventricular tet mesh with labelled surfaces.

    Parameters
    ----------
    points : (N, 3) float64, mm.
    tets : (M, 4) int64, positively oriented.
    surfaces : dict with node-index arrays ``lv_endo``, ``rv_endo``, ``epi``, ``base``.
    apex : optional node index of the apex (default: the LV epicardial node farthest from the
        base plane).
    junctions : optional ``(posterior, anterior)`` node indices (an int or an array each) on
        the RV insertion lines; default: found where tv = 0.5 meets the epicardium.
    solver : "cg" or "direct" (see :func:`laplace_solve`).

    Returns
    -------
    :class:`Coordinates`
    """
    n = points.shape[0]
    missing = [k for k in ("lv_endo", "rv_endo", "epi", "base") if k not in surfaces or np.size(surfaces[k]) == 0]
    if missing:
        raise MeshError("surfaces: expected non-empty node sets lv_endo, rv_endo, epi, base; "
                        f"missing or empty: {missing}")
    lv, rv, epi, base = (np.asarray(surfaces[k], dtype=np.int64) for k in ("lv_endo", "rv_endo", "epi", "base"))
    edges = edges_of(tets)
    graph = edge_graph(points, tets, edges)
    ncomp, _ = connected_components(graph, directed=False)
    if ncomp > 1:
        raise MeshError(f"tets: the mesh has {ncomp} disconnected parts; expected one myocardium")
    K = stiffness_matrix(points, tets)

    tv_c = laplace_solve(K, np.concatenate([lv, rv]), np.concatenate([np.zeros(lv.size), np.ones(rv.size)]),
                         solver=solver)
    tv_c = np.clip(tv_c, 0.0, 1.0)
    tm = transmural(K, np.concatenate([lv, rv]), epi, tv_c, graph, solver=solver)
    # septal (LV endo reaches) versus RV free wall (epicardium reaches): Laplace LV endo 1, epi 0
    w = laplace_solve(K, np.concatenate([lv, epi]), np.concatenate([np.ones(lv.size), np.zeros(epi.size)]),
                      solver=solver)

    lv_epi = epi[tv_c[epi] < 0.5]
    if lv_epi.size == 0:
        raise MeshError("surfaces: no LV epicardium (every epicardial node is closer to the RV)")
    if apex is None:
        apex = find_apex(points, lv_epi, base)
    apex = int(apex)
    if not 0 <= apex < n:
        raise ValueError(f"apex: expected a node index in [0, {n}), got {apex}")
    ab = apicobasal(K, graph, np.array([apex]), base, solver=solver)

    base_set = np.zeros(n, dtype=bool)
    base_set[base] = True
    lv_ring = lv[base_set[lv]]
    if lv_ring.size < 3:
        lv_ring = lv[ab[lv] >= np.quantile(ab[lv], 0.95)]
    axis = points[lv_ring].mean(axis=0) - points[apex]
    axis /= np.linalg.norm(axis)
    to_rv = points[rv].mean(axis=0) - points[apex]
    sdir = to_rv - np.dot(to_rv, axis) * axis
    if np.linalg.norm(sdir) < 1e-9:
        raise MeshError("surfaces: the RV cavity lies on the LV long axis; cannot orient rt")
    sdir /= np.linalg.norm(sdir)
    origin = points[apex]

    def theta_of(x):
        return _angles(x, origin, axis, sdir)

    theta = theta_of(points)
    if junctions is None:
        levels, table = _junction_table(points, edges, epi, tv_c, ab, theta_of)
    else:
        if len(junctions) != 2:
            raise ValueError(f"junctions: expected (posterior, anterior) node indices, got {junctions!r}")
        ang = []
        for name, j in zip(("posterior", "anterior"), junctions):
            j = np.atleast_1d(np.asarray(j, dtype=np.int64))
            if j.size == 0 or j.min() < 0 or j.max() >= n:
                raise ValueError(f"junctions: {name} indices must lie in [0, {n}), got {j.tolist()}")
            ang.append(float(np.angle(np.mean(np.exp(1j * theta[j])))))
        levels, table = np.array([0.5]), np.array([ang])
    if np.any(table[:, 0] >= 0) or np.any(table[:, 1] <= 0):
        raise MeshError(f"junctions: expected the posterior junction at a negative and the anterior at a positive "
                        f"angle from the septum, got {np.degrees(table).round(1).tolist()} deg")
    free_wall_rv = (tv_c >= 0.5) & (w < 0.5)
    rt = rotational(theta, ab, levels, table, free_wall_rv)
    tv = (tv_c >= 0.5).astype(np.float64)
    return Coordinates(tm=tm, ab=ab, rt=rt, tv=tv, tv_continuous=tv_c, apex=apex, long_axis=axis,
                       septal_direction=sdir, junction_levels=levels, junction_angles=table)
