"""Ventricular activation times: the C++ solver behind a validating Python API.

Two methods, one set-up per mesh (:class:`ActivationSolver`), many solves:

``method="dijkstra"``
    Shortest paths along the mesh edges, the graph model of the paper (Camps et al. 2021).
    An edge ``d`` costs ``sqrt(d^T F diag(1/vf^2, 1/vs^2, 1/vn^2) F^T d)`` with ``F`` the
    frame of its two nodes (fibres and sheets sign-aligned, averaged, re-orthonormalised), or
    ``|d| / v_endo`` when both ends lie on the fast endocardial layer (``v_endo`` the mean of
    the two ends). Fast, but late on tetrahedral meshes: on a 30 mm block of 1 mm Kuhn tets
    with one corner source it is 8 % late on average from one corner and 34 % from another
    (see ``tests/test_activation.py``).

``method="eikonal"`` (default)
    The anisotropic Eikonal equation ``sqrt(grad t^T V^2 grad t) = 1`` on the tetrahedra: a
    Dijkstra-ordered solver with the tetrahedral local solver (update from a face with 3, 2 or 1
    settled nodes in the metric of the tet; a face with a node still queued is left to that
    node; nodes that a bucket may have processed out of order are corrected, the others are
    final as in fast marching), straight-ray updates from each root through its homogeneous
    surroundings (for up to ten edge lengths), the exact travel time within two edges of each
    root, and isotropic updates on the fast layer's triangles and edges. Measured on a 30 mm
    block of 1 mm tets (also with the inner nodes jittered by 20 %), isotropic and with a
    rotated orthotropic frame, from each of the 8 corners: mean relative error 0.2-0.8 %,
    maximum 1.4 % beyond 3 mm (edge Dijkstra on the same problems: mean 5-34 %, maximum 47 %); a
    point source under a half-space at half the speed: 0.2 % mean error at h = 1 mm (Dijkstra
    7.8 %); the head wave of a flat fast layer: 0.5 % mean, 1.7 % max (Dijkstra 5.4 %, 8.2 %).
    About 4x the time of ``dijkstra`` on a 153.6k-node shell (``bench/bench_activation.py``), also on
    heterogeneous tissue: with 10 % random nodes at factor 0.1 about 4.2x, with a blocked scar about
    4.0x (median CPU times, both solves in the same run). From one corner of a 166k-node jittered
    block it is 6-7x: a node there takes about 12 tetrahedral solves against 9 on the shell.

Speed factors are per node, 0 or in [1e-6, 1] (the paper's scar 0.1, border zone 0.5). Reaching a
node costs ``1 / factor`` of the node reached, so a layer of ``n`` slow nodes at spacing ``h``
delays a plane wave by ``n * h * (1 / factor - 1) / v``.

**Blocked tissue.** A factor of 0 blocks a node: it never activates (its time is ``np.inf``, also
when it is a root) and no wave passes through it. The exact rule, the same for both methods: a
blocked node is never a known value of any update, so

* ``dijkstra``: an edge with a blocked end carries nothing;
* ``eikonal``: a tet with a blocked vertex carries a wave only between its other vertices, over the
  face or edges they span, never across the blocked vertex (likewise the fast layer's triangles);
  and no straight ray is followed from a root with blocked tissue within the ray's reach.

The non-conducting region is the open star of the blocked nodes: a wall one node thick blocks a
wave, and a wave runs along the conducting faces beside it. Nodes cut off from every root by
blocked tissue get ``np.inf`` as well, with one :class:`~mitwin.errors.BlockedTissueWarning` that
says how many; a mesh that is disconnected without blocked tissue (a part holding no root) still
raises :class:`~mitwin.errors.UnreachableError`.

Units: mm, m/s (= mm/ms), ms.
"""

from __future__ import annotations

import logging
import warnings
from collections.abc import Sequence
from typing import Any

import numpy as np

from .._core_loader import core
from .._validate import as_float_array, as_index_array, as_points, as_tets, check_n_threads, check_tets
from ..errors import BlockedTissueWarning, UnreachableError

logger = logging.getLogger(__name__)

__all__ = ["ActivationSolver", "activation_times", "METHODS", "DEFAULT_SPEEDS"]

METHODS = ("dijkstra", "eikonal")
DEFAULT_SPEEDS = (0.65, 0.48, 0.51)  # fibre, sheet, sheet-normal, m/s

#: Accepted conduction speeds, m/s (tissue and fast layer; the C++ core checks the same range):
#: beyond it travel times overflow or round to zero.
SPEED_RANGE = (1e-4, 1e4)
#: Latest accepted root start time, ms: the solver reaches every start in bounded work.
MAX_ROOT_TIME = 1e6
#: Smallest speed factor of conducting tissue.
MIN_FACTOR = 1e-6

# Frames whose fibre/sheet norms differ from 1, or whose fibre-sheet cosine exceeds this, are
# re-orthonormalised with a warning; a sheet within 60 degrees of the fibre raises.
_FRAME_TOL = 1e-3
_FRAME_MAX_COS = 0.5


def _orthonormal_frames(fibres: np.ndarray, sheets: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    nf = np.linalg.norm(fibres, axis=1)
    ns = np.linalg.norm(sheets, axis=1)
    for name, norm in (("fibres", nf), ("sheets", ns)):
        bad = np.flatnonzero(norm < 1e-8)
        if bad.size:
            raise ValueError(f"{name}: expected unit vectors, got {bad.size} zero-length rows (first at node {bad[0]})")
    f = fibres / nf[:, None]
    s = sheets / ns[:, None]
    cos = np.einsum("ij,ij->i", f, s)
    bad = np.flatnonzero(np.abs(cos) > _FRAME_MAX_COS)
    if bad.size:
        raise ValueError(
            f"sheets: expected sheets orthogonal to the fibres, got {bad.size} nodes with |cos(fibre, sheet)| > "
            f"{_FRAME_MAX_COS} (first at node {bad[0]}: {cos[bad[0]]:.3f})"
        )
    off = (np.abs(nf - 1) > _FRAME_TOL) | (np.abs(ns - 1) > _FRAME_TOL) | (np.abs(cos) > _FRAME_TOL)
    if np.any(off):
        warnings.warn(
            f"fibres/sheets: {int(off.sum())} nodes had non-unit or non-orthogonal frames; normalised them and "
            "made the sheets orthogonal to the fibres",
            UserWarning,
            stacklevel=3,
        )
    s = s - cos[:, None] * f
    s /= np.linalg.norm(s, axis=1)[:, None]
    return np.ascontiguousarray(f), np.ascontiguousarray(s)


def _as_speeds(speeds: Any) -> tuple[float, float, float]:
    arr = as_float_array(speeds, "speeds", (3,))
    lo, hi = SPEED_RANGE
    if np.any((arr < lo) | (arr > hi)):
        raise ValueError(
            f"speeds: expected three speeds in [{lo:g}, {hi:g}] m/s (fibre, sheet, sheet-normal), got {arr.tolist()}"
        )
    return float(arr[0]), float(arr[1]), float(arr[2])


def _as_endo_speed(endo_speed: Any, n: int) -> np.ndarray | None:
    if endo_speed is None:
        return None
    arr = as_float_array(endo_speed, "endo_speed", (n,), finite=False)
    lo, hi = SPEED_RANGE
    with np.errstate(invalid="ignore"):
        bad = np.isinf(arr) | (arr < 0) | ((arr > 0) & ((arr < lo) | (arr > hi)))
    if np.any(bad):
        raise ValueError(
            f"endo_speed: expected speeds in [{lo:g}, {hi:g}] m/s on the fast layer and NaN or 0 elsewhere, got "
            f"{int(bad.sum())} values outside (the first {float(arr[np.flatnonzero(bad)[0]])})"
        )
    return arr


class ActivationSolver:
    """Activation times on a tetrahedral mesh; set up once per mesh, solve many times.

    Parameters
    ----------
    points : (N, 3) float
        Node coordinates, mm.
    tets : (M, 4) int
        Tetrahedra, 0-based node indices; degenerate or inconsistently oriented tets raise
        :class:`mitwin.errors.MeshError`.
    fibres, sheets : (N, 3) float
        Fibre and sheet directions per node. Rows that are not unit length or not orthogonal
        (beyond 1e-3) are normalised and the sheets made orthogonal to the fibres, with a
        ``UserWarning``; zero rows or a sheet within 60 degrees of its fibre raise ValueError.
    speeds : (3,) float
        Conduction speeds along fibre, sheet and sheet-normal, m/s.
    endo_speed : (N,) float or None
        Speed (m/s) of the fast endocardial layer at its nodes, NaN or 0 elsewhere; None: no
        layer.
    method : {"eikonal", "dijkstra"}
        See the module docstring for what each computes and how accurate it is.

    Examples
    --------
    >>> import numpy as np
    >>> from mitwin.anatomy.synthetic import box_mesh
    >>> points, tets = box_mesh((10.0, 10.0, 10.0), 1.0)
    >>> f = np.tile([1.0, 0.0, 0.0], (len(points), 1)); s = np.tile([0.0, 1.0, 0.0], (len(points), 1))
    >>> solver = ActivationSolver(points, tets, f, s, speeds=(0.6, 0.6, 0.6))
    >>> at = solver.solve([0])
    >>> round(float(at.max()), 2)  # corner to corner: sqrt(300) mm / 0.6 m/s
    28.87
    """

    def __init__(
        self,
        points: Any,
        tets: Any,
        fibres: Any,
        sheets: Any,
        speeds: Sequence[float] = DEFAULT_SPEEDS,
        endo_speed: Any = None,
        method: str = "eikonal",
    ) -> None:
        if method not in METHODS:
            raise ValueError(f"method: expected one of {METHODS}, got {method!r}")
        pts = as_points(points)
        n = pts.shape[0]
        tt = as_tets(tets, n)
        check_tets(pts, tt)
        f = as_float_array(fibres, "fibres", (n, 3))
        s = as_float_array(sheets, "sheets", (n, 3))
        f, s = _orthonormal_frames(f, s)
        sp = _as_speeds(speeds)
        endo = _as_endo_speed(endo_speed, n)
        self._inputs = (pts, tt, f, s, sp, endo, method)
        self._labels: np.ndarray | None = None  # connected components, computed when a node is unreached
        self._core = core.ActivationSolver(*self._inputs)
        self.method = method
        self.speeds = sp
        self.n_nodes = n
        logger.debug("activation solver (%s): %d nodes, %d edges", method, n, self._core.n_edges)

    def __getstate__(self) -> dict[str, Any]:
        # the compiled solver is rebuilt from the validated inputs (pickling for process pools)
        return {k: v for k, v in self.__dict__.items() if k != "_core"}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
        self._core = core.ActivationSolver(*self._inputs)

    @property
    def n_edges(self) -> int:
        """Number of unique mesh edges."""
        return int(self._core.n_edges)

    def edges(self) -> np.ndarray:
        """Unique undirected edges, (E, 2) int64, first index < second."""
        return self._core.edges()

    def edge_costs(self) -> np.ndarray:
        """Healthy travel time of each edge of :meth:`edges`, (E,) float64 ms (the Dijkstra weights)."""
        return self._core.edge_costs()

    def _sources(self, roots: Any, root_times: Any) -> tuple[np.ndarray, np.ndarray | None]:
        r = as_index_array(np.atleast_1d(roots), "roots", (None,), upper=self.n_nodes)
        if r.size == 0:
            raise ValueError("roots: expected at least one root node, got none")
        if root_times is None:
            return r, None
        t = as_float_array(np.atleast_1d(root_times), "root_times", (r.size,))
        if np.any((t < 0) | (t > MAX_ROOT_TIME)):
            raise ValueError(
                f"root_times: expected start times in [0, {MAX_ROOT_TIME:g}] ms, got {float(t.min()):g} to "
                f"{float(t.max()):g}"
            )
        return r, t

    def _factors(self, speed_factor: Any, name: str, shape: tuple[int | None, ...]) -> np.ndarray:
        sf = as_float_array(speed_factor, name, shape)
        bad = (sf != 0) & ((sf < MIN_FACTOR) | (sf > 1))
        if np.any(bad):
            raise ValueError(
                f"{name}: expected speed factors 0 (blocked) or in [{MIN_FACTOR:g}, 1], got {int(bad.sum())} values "
                f"outside (range {float(sf.min())} to {float(sf.max())})"
            )
        return sf

    def _components(self) -> np.ndarray:
        """(N,) connected-component label of each node over the mesh edges (computed once)."""
        if self._labels is None:
            from scipy.sparse import coo_matrix
            from scipy.sparse.csgraph import connected_components

            e = self._core.edges()
            graph = coo_matrix((np.ones(len(e)), (e[:, 0], e[:, 1])), shape=(self.n_nodes, self.n_nodes))
            self._labels = connected_components(graph, directed=False)[1]
        return self._labels

    def _check_reached(self, at: np.ndarray, roots: np.ndarray, factors: np.ndarray | None) -> np.ndarray:
        """Raise for nodes in a part of the mesh without a root; warn once for nodes cut off by blocked tissue."""
        unreached = ~np.isfinite(at)
        if not np.any(unreached):
            return at
        labels = self._components()
        rooted = np.zeros(labels.max() + 1, dtype=bool)
        rooted[labels[roots]] = True
        stranded = unreached & ~rooted[labels]
        if np.any(stranded):
            count = int(np.count_nonzero(stranded.reshape(-1, self.n_nodes).any(axis=0)))
            raise UnreachableError(
                f"{count} of {self.n_nodes} nodes cannot be reached from any root (the mesh is not connected)"
            )
        blocked = np.zeros(at.shape, dtype=bool) if factors is None else factors == 0
        cut_off = unreached & ~blocked
        if np.any(cut_off):
            counts = cut_off.reshape(-1, self.n_nodes).sum(axis=1)
            where = "" if at.ndim == 1 else f" (in total, over {int(np.count_nonzero(counts))} of {counts.size} maps)"
            warnings.warn(
                f"{int(counts.sum())} nodes{where} are cut off from every root by blocked tissue and never activate "
                "(activation time inf)",
                BlockedTissueWarning,
                stacklevel=3,
            )
        return at

    def solve(self, roots: Any, root_times: Any = None, speed_factor: Any = None) -> np.ndarray:
        """Activation times from the roots.

        Parameters
        ----------
        roots : int or (R,) int
            Root node indices.
        root_times : (R,) float or None
            Start time of each root, ms, >= 0 (default 0).
        speed_factor : (N,) float or None
            Per-node conduction speed factor, 0 (blocked) or in [1e-6, 1] (default 1).

        Returns
        -------
        (N,) float64
            Activation time of each node, ms; ``np.inf`` for blocked nodes and nodes cut off by them.

        Raises
        ------
        UnreachableError
            When some nodes lie in a part of the mesh without a root.

        Warns
        -----
        BlockedTissueWarning
            Once, with the count, when blocked tissue cuts nodes off from every root.
        """
        r, t = self._sources(roots, root_times)
        sf = None if speed_factor is None else self._factors(speed_factor, "speed_factor", (self.n_nodes,))
        return self._check_reached(self._core.solve(r, t, sf), r, sf)

    def solve_batch(
        self, roots: Any, root_times: Any, speed_factors: Any, n_threads: int | None = None
    ) -> np.ndarray:
        """K solves with different speed-factor fields, in parallel (OpenMP, GIL released).

        Parameters
        ----------
        roots, root_times
            As in :meth:`solve` (the same for every row).
        speed_factors : (K, N) float
            One speed-factor field per row, values 0 (blocked) or in [1e-6, 1].
        n_threads : int or None
            Number of threads; None uses all available.

        Returns
        -------
        (K, N) float64
            Activation times, ms; row k equals ``solve(roots, root_times, speed_factors[k])``.
        """
        r, t = self._sources(roots, root_times)
        sf = self._factors(speed_factors, "speed_factors", (None, self.n_nodes))
        return self._check_reached(self._core.solve_batch(r, t, sf, check_n_threads(n_threads)), r, sf)


def activation_times(
    points: Any,
    tets: Any,
    fibres: Any,
    sheets: Any,
    roots: Any,
    root_times: Any = None,
    speed_factor: Any = None,
    *,
    speeds: Sequence[float] = DEFAULT_SPEEDS,
    endo_speed: Any = None,
    method: str = "eikonal",
) -> np.ndarray:
    """One-call activation times: ``ActivationSolver(...).solve(roots, root_times, speed_factor)``.

    See :class:`ActivationSolver` for the parameters. Returns (N,) float64 ms.
    """
    solver = ActivationSolver(points, tets, fibres, sheets, speeds=speeds, endo_speed=endo_speed, method=method)
    return solver.solve(roots, root_times, speed_factor)
