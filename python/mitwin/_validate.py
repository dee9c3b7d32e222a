"""Input validation shared by every public function that hands arrays to the C++ core.

Each helper returns a C-contiguous array of the dtype the core expects, or raises a
ValueError (or a :class:`mitwin.errors.MeshError`) naming the argument, what was expected
and what came.
"""

from __future__ import annotations

import os
from typing import Any

import numpy as np

from .errors import MeshError

#: Largest thread count accepted anywhere (the C++ core enforces the same bound).
MAX_THREADS = 1024

#: Largest |coordinate| of a point, mm (the C++ core enforces the same bound): a heart is ~100 mm,
#: and beyond this squared distances lose all precision or overflow.
MAX_COORDINATE = 1e6
#: Shortest mean edge length of a mesh (mm) that check_tets accepts.
MIN_EDGE = 1e-6


def check_n_threads(n_threads: Any, name: str = "n_threads") -> int:
    """Return a thread count in [1, MAX_THREADS]; None means every core of this machine.

    >>> check_n_threads(2)
    2
    >>> check_n_threads(None) >= 1
    True
    """
    if n_threads is None:
        return max(1, min(os.cpu_count() or 1, MAX_THREADS))
    if isinstance(n_threads, bool) or not isinstance(n_threads, (int, np.integer)) or not 1 <= n_threads <= MAX_THREADS:
        raise ValueError(f"{name}: expected None (all cores) or an integer in [1, {MAX_THREADS}], got {n_threads!r}")
    return int(n_threads)


def _describe(a: Any) -> str:
    arr = np.asarray(a)
    return f"shape {arr.shape} dtype {arr.dtype}"


def _reject_reinterpreted(x: Any, name: str, what: str, shape: tuple[int | None, ...]) -> None:
    """Raise on booleans (a mask read as 0/1), complex numbers (imaginary part dropped) and strings (parsed)."""
    dtype = getattr(x, "dtype", None)
    if dtype is None:
        try:
            dtype = np.asarray(x).dtype
        except (TypeError, ValueError):
            return  # the conversion below reports it
    if np.issubdtype(dtype, np.bool_) or np.issubdtype(dtype, np.complexfloating) or dtype.kind in "USV":
        raise ValueError(f"{name}: expected {what} of shape {_fmt(shape)}, got {_describe(x)}")
    odd = (str, bytes, bool, complex, np.bool_, np.complexfloating)
    if (dtype.kind == "O" or isinstance(x, (list, tuple))) and any(isinstance(v, odd)
                                 for v in np.asarray(x, dtype=object).flat):
        raise ValueError(f"{name}: expected {what} of shape {_fmt(shape)}, got {_describe(x)} "
                         "with booleans, strings or complex entries")


def as_float_array(x: Any, name: str, shape: tuple[int | None, ...], *, finite: bool = True) -> np.ndarray:
    """Return ``x`` as C-contiguous float64 of the given shape (None = any length).

    Booleans and complex numbers are rejected, not cast.

    >>> as_float_array([True, False], "x", (2,))
    Traceback (most recent call last):
    ...
    ValueError: x: expected a real array of shape (2,), got shape (2,) dtype bool
    """
    _reject_reinterpreted(x, name, "a real array", shape)
    try:
        arr = np.ascontiguousarray(x, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"{name}: expected a float array of shape {_fmt(shape)}, got {type(x).__name__}") from exc
    _check_shape(arr, name, shape, x)
    if finite and not np.all(np.isfinite(arr)):
        bad = int(np.count_nonzero(~np.isfinite(arr)))
        raise ValueError(f"{name}: expected finite values, got {bad} NaN/inf entries")
    return arr


def as_index_array(x: Any, name: str, shape: tuple[int | None, ...], *, upper: int | None = None) -> np.ndarray:
    """Return ``x`` as C-contiguous int64 of the given shape, each entry in [0, upper).

    Whole-valued floats are accepted; booleans (a mask is not a list of indices) and complex
    numbers are not.

    >>> as_index_array(np.array([True, False]), "roots", (None,))
    Traceback (most recent call last):
    ...
    ValueError: roots: expected integer indices of shape (N,), got shape (2,) dtype bool
    """
    _reject_reinterpreted(x, name, "integer indices", shape)
    arr = np.asarray(x)
    if arr.size and not np.issubdtype(arr.dtype, np.integer):
        if not np.issubdtype(arr.dtype, np.floating) or not np.all(np.mod(arr, 1) == 0):
            raise ValueError(f"{name}: expected integer indices of shape {_fmt(shape)}, got {_describe(x)}")
    arr = np.ascontiguousarray(arr, dtype=np.int64)
    _check_shape(arr, name, shape, x)
    if upper is not None and arr.size:
        lo, hi = int(arr.min()), int(arr.max())
        if lo < 0 or hi >= upper:
            raise ValueError(f"{name}: indices must lie in [0, {upper}), got values from {lo} to {hi}")
    return arr


def as_points(x: Any, name: str = "points") -> np.ndarray:
    """(N, 3) float64 node coordinates in mm, finite and within +-:data:`MAX_COORDINATE`."""
    arr = as_float_array(x, name, (None, 3))
    if arr.shape[0] == 0:
        raise ValueError(f"{name}: expected at least one point, got shape {arr.shape}")
    peak = float(np.max(np.abs(arr)))
    if peak > MAX_COORDINATE:
        raise ValueError(f"{name}: expected coordinates within +-{MAX_COORDINATE:g} mm, got |x| up to {peak:.6g}")
    return arr


def as_tets(x: Any, n_points: int, name: str = "tets") -> np.ndarray:
    """(M, 4) int64 tetrahedra, 0-based indices into the points; no tet listed twice (in any order)."""
    arr = as_index_array(x, name, (None, 4), upper=n_points)
    if arr.shape[0] == 0:
        raise ValueError(f"{name}: expected at least one tetrahedron, got shape {arr.shape}")
    _check_distinct_rows(arr, name)
    return arr


def _check_distinct_rows(tets: np.ndarray, name: str) -> None:
    # sort each row, hash it to one uint64 (wrapping), and compare the rows of equal hashes
    rows = np.sort(tets, axis=1).astype(np.uint64)
    with np.errstate(over="ignore"):
        h = rows[:, 0] * np.uint64(0x9E3779B97F4A7C15)
        for k in (1, 2, 3):
            h = (h ^ rows[:, k]) * np.uint64(0xBF58476D1CE4E5B9)
    sorted_h = np.sort(h)
    if not np.any(sorted_h[1:] == sorted_h[:-1]):
        return
    order = np.argsort(h, kind="stable")
    hs = h[order]
    cand = np.flatnonzero(hs[1:] == hs[:-1])
    if cand.size:
        a, b = order[cand], order[cand + 1]
        same = np.all(rows[a] == rows[b], axis=1)
        if np.any(same):
            k = int(np.flatnonzero(same)[0])
            first, second = sorted((int(a[k]), int(b[k])))
            raise MeshError(
                f"{name}: tets {first} and {second} have the same nodes {rows[first].astype(np.int64).tolist()} "
                "(a duplicate)"
            )


def tet_signed_volumes(points: np.ndarray, tets: np.ndarray) -> np.ndarray:
    """Signed volume of each tet: positive when (p1-p0, p2-p0, p3-p0) is right-handed."""
    p0 = points[tets[:, 0]]
    e1 = points[tets[:, 1]] - p0
    e2 = points[tets[:, 2]] - p0
    e3 = points[tets[:, 3]] - p0
    return np.einsum("ij,ij->i", np.cross(e1, e2), e3) / 6.0


def check_tets(points: np.ndarray, tets: np.ndarray, name: str = "tets", *, allow_inverted: bool = False) -> np.ndarray:
    """Raise MeshError on degenerate (zero-volume) or inverted tets; return the signed volumes.

    A tet counts as degenerate when |volume| < 1e-12 * (mean edge length)**3 of the mesh.
    """
    vol = tet_signed_volumes(points, tets)
    scale = float(np.mean(np.linalg.norm(points[tets[:, 1]] - points[tets[:, 0]], axis=1)))
    if not scale >= MIN_EDGE:  # below it volumes underflow and the relative test below cannot see degeneracy
        raise MeshError(f"{name}: mean edge length {scale:.3g} mm; expected a mesh in mm with edges of at least "
                        f"{MIN_EDGE:g} mm")
    degenerate = np.abs(vol) < 1e-12 * scale**3
    if np.any(degenerate):
        idx = np.flatnonzero(degenerate)
        raise MeshError(f"{name}: {idx.size} degenerate (zero-volume) tetrahedra, the first at index {int(idx[0])}")
    if not allow_inverted:
        inverted = vol < 0
        if np.any(inverted) and not np.all(inverted):
            idx = np.flatnonzero(inverted)
            raise MeshError(
                f"{name}: {idx.size} of {tets.shape[0]} tetrahedra are inverted (negative volume), "
                f"the first at index {int(idx[0])}; fix their node order"
            )
    return vol


def _fmt(shape: tuple[int | None, ...]) -> str:
    return "(" + ", ".join("N" if s is None else str(s) for s in shape) + ("," if len(shape) == 1 else "") + ")"


def _check_shape(arr: np.ndarray, name: str, shape: tuple[int | None, ...], original: Any) -> None:
    ok = arr.ndim == len(shape) and all(s is None or s == d for s, d in zip(shape, arr.shape))
    if not ok:
        raise ValueError(f"{name}: expected shape {_fmt(shape)}, got {_describe(original)}")
