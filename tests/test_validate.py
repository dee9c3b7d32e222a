"""The shared validators reject what a cast would silently reinterpret, and bound what is absurd."""

from __future__ import annotations

import numpy as np
import pytest

from mitwin._validate import (
    MAX_COORDINATE,
    MAX_THREADS,
    as_float_array,
    as_index_array,
    as_points,
    as_tets,
    check_n_threads,
)
from mitwin.anatomy.synthetic import box_mesh
from mitwin.errors import MeshError


@pytest.mark.parametrize("value", [np.array([True, False, True]), [True, False, True]])
def test_boolean_mask_is_not_a_list_of_indices(value):
    with pytest.raises(ValueError, match=r"^roots: expected integer indices of shape \(N,\), got .*bool"):
        as_index_array(value, "roots", (None,))


def test_boolean_is_not_a_float_array():
    with pytest.raises(ValueError, match=r"^speed_factor: expected a real array .*bool"):
        as_float_array(np.ones(3, dtype=bool), "speed_factor", (3,))


@pytest.mark.parametrize("dtype", [np.complex64, np.complex128])
def test_complex_is_rejected_not_truncated(dtype):
    x = np.array([1.0 + 2.0j, 3.0 + 0.0j], dtype=dtype)
    with pytest.raises(ValueError, match=r"^at: expected a real array .*complex"):
        as_float_array(x, "at", (2,))
    with pytest.raises(ValueError, match=r"^roots: expected integer indices .*complex"):
        as_index_array(x, "roots", (2,))


def test_whole_floats_still_work_as_indices():
    np.testing.assert_array_equal(as_index_array(np.array([0.0, 2.0]), "roots", (None,)), [0, 2])
    with pytest.raises(ValueError, match="roots"):
        as_index_array(np.array([0.5]), "roots", (None,))


def test_duplicate_tets_in_any_vertex_order():
    points, tets = box_mesh((2.0, 2.0, 2.0), 1.0)
    as_tets(tets, len(points))  # the clean mesh passes
    for perm in ([0, 1, 2, 3], [3, 1, 0, 2]):
        dup = np.vstack([tets, tets[5:6, perm]])
        with pytest.raises(MeshError, match=rf"^tets: tets 5 and {len(tets)} have the same nodes"):
            as_tets(dup, len(points))


def test_duplicate_check_finds_every_planted_pair():
    """Random large index tables: a duplicate planted anywhere is found (brute force: set of sorted rows)."""
    rng = np.random.default_rng(7)
    for _ in range(5):
        tets = rng.choice(10_000, size=(3000, 4), replace=True)
        tets = tets[np.all(np.diff(np.sort(tets, axis=1), axis=1) > 0, axis=1)]
        unique = {tuple(r) for r in np.sort(tets, axis=1)}
        if len(unique) == len(tets):
            i, j = rng.choice(len(tets), 2, replace=False)
            tets[j] = rng.permutation(tets[i])
        with pytest.raises(MeshError, match="same nodes"):
            as_tets(tets, 10_000)


def test_absurd_coordinates_rejected():
    points, _ = box_mesh((2.0, 2.0, 2.0), 1.0)
    as_points(points * 1e5)  # 200 km is silly but computable
    with pytest.raises(ValueError, match=r"^points: expected coordinates within \+-1e\+06 mm, got \|x\| up to 1e\+160"):
        as_points(points / 2.0 * 1e160)
    assert MAX_COORDINATE == 1e6


@pytest.mark.parametrize("bad", [0, -1, MAX_THREADS + 1, 10**6, 2**31 - 1, 1.0, "2", True, float("nan")])
def test_thread_counts_bounded(bad):
    with pytest.raises(ValueError, match=r"^n_threads: expected None \(all cores\) or an integer in \[1, 1024\]"):
        check_n_threads(bad)
    assert check_n_threads(np.int64(3)) == 3
