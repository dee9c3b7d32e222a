"""Point clouds of a heart: the network input and the surface reconstruction targets.

* :func:`point_cloud` - ``n`` nodes chosen by farthest-point sampling (seeded), with features
  ``[x, y, z, tm, ab, rt, tv]`` (xyz in mm, not normalised). Per-node labels (healthy / BZ /
  scar) follow through ``node_index``: ``labels[pc.node_index]``.
* :func:`surface_targets` - points sampled uniformly by area on the LV endocardium (class 0),
  RV endocardium (1) and epicardium (2): a coarse (1024) and a dense (4096) set.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .heart import Heart
from .mesh_io import boundary_faces, faces_in_set

#: Surface classes of :func:`surface_targets`.
SURFACE_CLASSES: dict[str, int] = {"lv_endo": 0, "rv_endo": 1, "epi": 2}


@dataclass(frozen=True)
class PointCloud:
    """A sampled point cloud.

    Attributes
    ----------
    features : (n, 7) float32 columns x, y, z (mm), tm, ab, rt, tv.
    node_index : (n,) int64 mesh node of each point.
    """

    features: np.ndarray
    node_index: np.ndarray


def farthest_point_sampling(points: np.ndarray, n: int, seed: int = 0) -> np.ndarray:
    """Indices of ``n`` points chosen greedily, each the farthest from those already chosen.

    The first point is drawn with ``seed``. O(n N) time, O(N) memory, vectorised per step.

    Parameters
    ----------
    points : (N, 3) float.
    n : number of points, 1 <= n <= N.
    seed : seed of the first point.

    Returns
    -------
    (n,) int64 distinct indices.

    Examples
    --------
    >>> p = np.array([[0.0, 0, 0], [1, 0, 0], [10, 0, 0], [5, 0, 0]])
    >>> farthest_point_sampling(p, 3, seed=1).tolist()  # starts at node 1, then the farthest
    [1, 2, 3]
    """
    pts = np.ascontiguousarray(points, dtype=np.float64)
    N = pts.shape[0]
    if not 1 <= n <= N:
        raise ValueError(f"n: expected 1 <= n <= {N} (the number of nodes), got {n}")
    rng = np.random.default_rng(seed)
    out = np.empty(n, dtype=np.int64)
    out[0] = int(rng.integers(N))
    xyz = [np.ascontiguousarray(pts[:, d]) for d in range(3)]
    d2 = np.full(N, np.inf)
    new, tmp = np.empty(N), np.empty(N)
    for k in range(n):
        if k:
            out[k] = int(np.argmax(d2))
        c = pts[out[k]]
        # squared distances to the newest point, in preallocated buffers (no (N, 3) temporaries)
        np.subtract(xyz[0], c[0], out=new)
        np.multiply(new, new, out=new)
        for d in (1, 2):
            np.subtract(xyz[d], c[d], out=tmp)
            np.multiply(tmp, tmp, out=tmp)
            np.add(new, tmp, out=new)
        np.minimum(d2, new, out=d2)
    return out


def point_cloud(heart: Heart, n: int = 4096, seed: int = 0) -> PointCloud:
    """The network input: ``n`` nodes by farthest-point sampling, with xyz and the coordinates.

    Parameters
    ----------
    heart : a :class:`~mitwin.anatomy.heart.Heart`.
    n : number of points (default 4096, the paper's).
    seed : seed of the first sampled node.

    Returns
    -------
    :class:`PointCloud` with ``features`` (n, 7) float32 [x, y, z, tm, ab, rt, tv] and
    ``node_index`` (n,) int64.
    """
    if isinstance(n, bool) or not isinstance(n, (int, np.integer)):
        raise ValueError(f"n: expected an integer number of points, got {n!r}")
    idx = farthest_point_sampling(heart.points, int(n), seed)
    feats = np.concatenate([heart.points[idx], np.stack([heart.tm, heart.ab, heart.rt, heart.tv], axis=1)[idx]],
                           axis=1).astype(np.float32)
    return PointCloud(features=np.ascontiguousarray(feats), node_index=idx)


def _area_sample(points: np.ndarray, faces: np.ndarray, labels: np.ndarray, n: int,
                 rng: np.random.Generator) -> np.ndarray:
    tri = points[faces]
    area = 0.5 * np.linalg.norm(np.cross(tri[:, 1] - tri[:, 0], tri[:, 2] - tri[:, 0]), axis=1)
    pick = rng.choice(faces.shape[0], size=n, p=area / area.sum())
    r1, r2 = rng.random(n), rng.random(n)
    s = np.sqrt(r1)
    w = np.stack([1.0 - s, s * (1.0 - r2), s * r2], axis=1)
    xyz = np.einsum("nk,nkd->nd", w, tri[pick])
    return np.concatenate([xyz, labels[pick, None]], axis=1).astype(np.float32)


def surface_targets(heart: Heart, n_coarse: int = 1024, n_dense: int = 4096,
                    seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Coarse and dense surface point sets, uniform by area over the three surfaces.

    Parameters
    ----------
    heart : the heart.
    n_coarse, n_dense : numbers of points (the paper's 1024 and 4096).
    seed : sampling seed.

    Returns
    -------
    coarse : (n_coarse, 4) float32 [x, y, z, class]; dense : (n_dense, 4) float32.
    Classes: 0 LV endocardium, 1 RV endocardium, 2 epicardium (the base is not sampled).
    """
    for name, v in (("n_coarse", n_coarse), ("n_dense", n_dense)):
        if isinstance(v, bool) or not isinstance(v, (int, np.integer)) or v < 1:
            raise ValueError(f"{name}: expected a positive integer, got {v!r}")
    bf = boundary_faces(heart.tets)
    faces, labels = [], []
    for key, cls in SURFACE_CLASSES.items():
        f = faces_in_set(bf, heart.surfaces[key], heart.n_nodes)
        if f.shape[0] == 0:
            raise ValueError(f"heart: the {key} surface has no boundary triangles; cannot sample targets")
        faces.append(f)
        labels.append(np.full(f.shape[0], cls, dtype=np.float64))
    faces_all, labels_all = np.concatenate(faces), np.concatenate(labels)
    rng = np.random.default_rng(seed)
    coarse = _area_sample(heart.points, faces_all, labels_all, int(n_coarse), rng)
    dense = _area_sample(heart.points, faces_all, labels_all, int(n_dense), rng)
    return coarse, dense
