"""Structured tetrahedral meshes with known geometry, for tests, benchmarks and examples.

* :func:`box_mesh` - a block of cubes, each split into 6 tets (Kuhn/Freudenthal split,
  conforming across cubes), optionally with the inner nodes jittered.
* :func:`shell_mesh` - a thick truncated prolate-ellipsoidal shell (an idealised LV wall)
  with analytic transmural and apicobasal coordinates and a rule-based fibre frame.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass

import numpy as np

from .._validate import tet_signed_volumes

# The 6 Kuhn tets of the unit cube: each is a monotone lattice path 000 -> 111.
_CUBE_CORNERS = np.array(list(itertools.product((0, 1), repeat=3)))  # index = 4*i + 2*j + k


def _kuhn_tets() -> np.ndarray:
    tets = []
    for perm in itertools.permutations(range(3)):
        v = np.zeros(3, dtype=int)
        path = [v.copy()]
        for axis in perm:
            v[axis] = 1
            path.append(v.copy())
        tets.append([4 * p[0] + 2 * p[1] + p[2] for p in path])
    return np.array(tets)


_KUHN = _kuhn_tets()


def _hex_grid_tets(shape: tuple[int, int, int], index_of) -> np.ndarray:
    """Tets of an (n0-1, n1-1, n2-1) grid of hexes; ``index_of(i, j, k)`` maps lattice to node ids."""
    n0, n1, n2 = shape
    grid = np.meshgrid(np.arange(n0), np.arange(n1), np.arange(n2), indexing="ij")
    i, j, k = (g.ravel() for g in grid)
    corners = np.stack([index_of(i + c[0], j + c[1], k + c[2]) for c in _CUBE_CORNERS], axis=1)
    return corners[:, _KUHN].reshape(-1, 4)


def _orient(points: np.ndarray, tets: np.ndarray) -> np.ndarray:
    """Swap two nodes of every negatively oriented tet, so that all volumes are positive."""
    neg = tet_signed_volumes(points, tets) < 0
    tets = tets.copy()
    tets[neg, 2], tets[neg, 3] = tets[neg, 3], tets[neg, 2].copy()
    return tets


def box_mesh(
    size: tuple[float, float, float] = (30.0, 30.0, 30.0),
    spacing: float = 1.0,
    *,
    jitter: float = 0.0,
    seed: int = 0,
) -> tuple[np.ndarray, np.ndarray]:
    """Tetrahedral mesh of the block [0, size] (mm) with cubes of edge ``spacing``.

    Parameters
    ----------
    size : (3,) float
        Block extent in mm along x, y, z.
    spacing : float
        Cube edge in mm (rounded so that the block is covered exactly).
    jitter : float
        Inner nodes are moved uniformly at random by up to ``jitter * spacing`` per axis.
    seed : int
        Seed of the jitter.

    Returns
    -------
    points : (N, 3) float64, tets : (M, 4) int64, all positively oriented.

    Examples
    --------
    >>> points, tets = box_mesh((2.0, 2.0, 2.0), 1.0)
    >>> points.shape, tets.shape
    ((27, 3), (48, 4))
    """
    if spacing <= 0:
        raise ValueError(f"spacing: expected > 0, got {spacing}")
    if not 0 <= jitter < 0.5:
        raise ValueError(f"jitter: expected a fraction in [0, 0.5), got {jitter}")
    counts = [max(1, int(round(s / spacing))) for s in size]
    axes = [np.linspace(0.0, s, c + 1) for s, c in zip(size, counts)]
    n0, n1, n2 = (c + 1 for c in counts)
    grid = np.stack(np.meshgrid(*axes, indexing="ij"), axis=-1).reshape(-1, 3)
    if jitter > 0:
        rng = np.random.default_rng(seed)
        inner = np.all([(grid[:, d] > 0) & (grid[:, d] < size[d]) for d in range(3)], axis=0)
        h = np.array([s / c for s, c in zip(size, counts)])
        grid[inner] += rng.uniform(-jitter, jitter, size=(int(inner.sum()), 3)) * h
    tets = _hex_grid_tets((n0 - 1, n1 - 1, n2 - 1), lambda i, j, k: (i * n1 + j) * n2 + k)
    return grid, _orient(grid, tets.astype(np.int64))


@dataclass(frozen=True)
class ShellMesh:
    """A thick truncated prolate-ellipsoidal shell with analytic coordinates.

    Attributes
    ----------
    points : (N, 3) float64, mm; long axis along +z, apex at the bottom.
    tets : (M, 4) int64.
    tm : (N,) transmural coordinate, 1 on the endocardium, 0 on the epicardium.
    ab : (N,) apicobasal coordinate: 0 at the apical hole, 1 at the base, linear in the
        prolate angle.
    theta : (N,) circumferential angle in [0, 2*pi).
    fibres, sheets : (N, 3) unit fibre and sheet directions (helix angle +60 deg endo to
        -60 deg epi, sheet along the wall normal).
    endo, epi, base : node index arrays of the three surfaces.
    """

    points: np.ndarray
    tets: np.ndarray
    tm: np.ndarray
    ab: np.ndarray
    theta: np.ndarray
    fibres: np.ndarray
    sheets: np.ndarray
    endo: np.ndarray
    epi: np.ndarray
    base: np.ndarray


def shell_mesh(
    n_circ: int = 64,
    n_long: int = 40,
    n_wall: int = 6,
    *,
    endo_radii: tuple[float, float] = (25.0, 70.0),
    thickness: float = 10.0,
    apex_angle: float = 0.15,
    base_angle: float = 0.5 * np.pi,
    helix_deg: tuple[float, float] = (60.0, -60.0),
) -> ShellMesh:
    """Structured thick shell between two confocal-free prolate ellipsoids.

    A node at (tm, u, theta) lies at ``((a+w) sin u cos theta, (a+w) sin u sin theta,
    -(c+w) cos u)`` with ``w = (1 - tm) * thickness``, ``a, c = endo_radii`` (short, long
    semi-axes of the endocardium, mm) and ``u`` the prolate angle from ``apex_angle`` (a small
    hole at the apex, so that no tet degenerates) to ``base_angle`` (the base plane).
    ``n_circ * n_long * n_wall`` nodes: the defaults give 15,360; (128, 100, 12) gives 153,600.
    """
    if min(n_circ, n_long, n_wall) < 2 or n_circ < 3:
        raise ValueError(f"n_circ >= 3, n_long >= 2, n_wall >= 2 expected, got {n_circ}, {n_long}, {n_wall}")
    a, c = endo_radii
    tm = np.linspace(1.0, 0.0, n_wall)
    u = np.linspace(apex_angle, base_angle, n_long)
    theta = np.linspace(0.0, 2 * np.pi, n_circ, endpoint=False)
    TM, U, TH = np.meshgrid(tm, u, theta, indexing="ij")  # node (iw, il, ic)
    w = (1.0 - TM) * thickness
    points = np.stack(
        [(a + w) * np.sin(U) * np.cos(TH), (a + w) * np.sin(U) * np.sin(TH), -(c + w) * np.cos(U)], axis=-1
    ).reshape(-1, 3)

    def index_of(iw, il, ic):
        return (iw * n_long + il) * n_circ + np.mod(ic, n_circ)

    # hexes wrap around in theta: n_circ hexes per ring
    grid = np.meshgrid(np.arange(n_wall - 1), np.arange(n_long - 1), np.arange(n_circ), indexing="ij")
    iw, il, ic = (g.ravel() for g in grid)
    corners = np.stack([index_of(iw + cc[0], il + cc[1], ic + cc[2]) for cc in _CUBE_CORNERS], axis=1)
    tets = _orient(points, corners[:, _KUHN].reshape(-1, 4).astype(np.int64))

    # local frame: circumferential e_c, longitudinal e_l (apex -> base along the surface), normal e_n
    W, UU, T = w.ravel(), U.ravel(), TH.ravel()
    e_c = np.stack([-np.sin(T), np.cos(T), np.zeros_like(T)], axis=1)
    d_u = np.stack([(a + W) * np.cos(UU) * np.cos(T), (a + W) * np.cos(UU) * np.sin(T), (c + W) * np.sin(UU)], axis=1)
    e_l = d_u / np.linalg.norm(d_u, axis=1, keepdims=True)
    e_n = np.cross(e_c, e_l)  # outward
    alpha = np.deg2rad(helix_deg[1] + (helix_deg[0] - helix_deg[1]) * TM.ravel())
    fibres = np.cos(alpha)[:, None] * e_c + np.sin(alpha)[:, None] * e_l
    node = np.arange(points.shape[0]).reshape(n_wall, n_long, n_circ)
    return ShellMesh(
        points=points,
        tets=tets,
        tm=TM.ravel().copy(),
        ab=((UU - apex_angle) / (base_angle - apex_angle)).copy(),
        theta=T.copy(),
        fibres=fibres,
        sheets=e_n,
        endo=node[0].ravel().copy(),
        epi=node[-1].ravel().copy(),
        base=node[:, -1, :].ravel().copy(),
    )
