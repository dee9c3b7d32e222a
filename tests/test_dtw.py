"""DTW against a brute-force O(n*m) reference, dtaidistance and tslearn; properties; validation."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from mitwin._core_loader import core
from mitwin.analysis.dtw import DEFAULT_PENALTY, dtw, dtw_all_pairs, dtw_one_to_many


def reference_dtw(a, b, band=None, cost="squared", normalize=True, penalty=0.0):
    """Full (n+1) x (m+1) table, band test per cell, written independently of the C++ code."""
    n, m = len(a), len(b)
    acc = np.full((n + 1, m + 1), np.inf)
    acc[0, 0] = 0.0
    for i in range(1, n + 1):
        for j in range(1, m + 1):
            di, dj = i - 1, j - 1
            if band is not None and not (-band - max(0, n - m) <= dj - di <= band + max(0, m - n)):
                continue
            c = (a[di] - b[dj]) ** 2 if cost == "squared" else abs(a[di] - b[dj])
            acc[i, j] = c + min(acc[i - 1, j], acc[i, j - 1], acc[i - 1, j - 1])
    z = (n + m) if normalize else 1.0
    d = np.sqrt(acc[n, m] / z) if cost == "squared" else acc[n, m] / z
    return d + penalty * (n - m) ** 2 / min(n, m)


@pytest.mark.parametrize("n,m", [(30, 30), (41, 27), (12, 35), (1, 9), (1, 1)])
@pytest.mark.parametrize("band", [None, 0, 3, 50])
@pytest.mark.parametrize("cost", ["squared", "absolute"])
def test_matches_reference(rng, n, m, band, cost):
    a = rng.normal(size=(2, n))
    b = rng.normal(size=(2, m))
    got = dtw(a, b, band=band, cost=cost, penalty=0.3)
    for lead in range(2):
        assert got[lead] == pytest.approx(reference_dtw(a[lead], b[lead], band, cost, True, 0.3), rel=1e-12)
    raw = dtw(a, b, band=band, cost=cost, penalty=0.0, normalize=False)
    assert raw[0] == pytest.approx(reference_dtw(a[0], b[0], band, cost, False, 0.0), rel=1e-12)


@pytest.mark.parametrize("n,m,band", [(60, 45, None), (45, 60, 4), (50, 50, 2), (70, 33, 0)])
def test_matches_dtaidistance(rng, n, m, band):
    """dtaidistance returns sqrt of the summed squared differences on the optimal path; its window w
    keeps |shift| < w beyond the length difference, i.e. our band r is its window r + 1."""
    dtaidistance = pytest.importorskip("dtaidistance")
    a = rng.normal(size=n)
    b = rng.normal(size=m)
    ours = float(dtw(a, b, band=band, penalty=0.0, normalize=False)[0])
    window = None if band is None else band + 1
    assert ours == pytest.approx(dtaidistance.dtw.distance(a, b, window=window), rel=1e-12)
    assert ours == pytest.approx(dtaidistance.dtw.distance_fast(a, b, window=window), rel=1e-12)


@pytest.mark.slow
def test_matches_tslearn(rng):
    """tslearn.metrics.dtw (numba; the first call compiles) with a Sakoe-Chiba radius, unequal lengths."""
    tslearn_metrics = pytest.importorskip("tslearn.metrics")
    for n, m, band in [(60, 45, None), (45, 60, 4), (70, 33, 0)]:
        a = rng.normal(size=n)
        b = rng.normal(size=m)
        ours = float(dtw(a, b, band=band, penalty=0.0, normalize=False)[0])
        kw = {} if band is None else {"global_constraint": "sakoe_chiba", "sakoe_chiba_radius": band}
        assert ours == pytest.approx(tslearn_metrics.dtw(a, b, **kw), rel=1e-12)


def test_band_changes_result_and_is_monotone(rng):
    t = np.linspace(0, 1, 60)
    a = np.sin(2 * np.pi * 3 * t)
    b = np.sin(2 * np.pi * 3 * (t - 0.1))
    ds = [float(dtw(a, b, band=r, penalty=0)[0]) for r in (0, 2, 5, 10, None)]
    assert all(x >= y - 1e-15 for x, y in zip(ds, ds[1:]))
    assert ds[0] > ds[-1]


def test_identity_symmetry_and_zero_diagonal(rng):
    a = rng.normal(size=(8, 64))
    b = rng.normal(size=(8, 50))
    np.testing.assert_array_equal(dtw(a, a), 0.0)
    np.testing.assert_allclose(dtw(a, b, band=5), dtw(b, a, band=5), rtol=0, atol=0)


def test_penalty_grows_with_length_difference():
    # Constant signals: the warping cost is 0 for any lengths, so only the penalty remains.
    base = np.ones((1, 100))
    prev = -1.0
    for extra in (0, 5, 10, 20, 40):
        d = float(dtw(base, np.ones((1, 100 + extra)), penalty=DEFAULT_PENALTY)[0])
        assert d == pytest.approx(DEFAULT_PENALTY * extra**2 / 100)
        assert d > prev
        prev = d


def test_padding_is_ignored(rng):
    a = rng.normal(size=(3, 40))
    b = rng.normal(size=(3, 25))
    pa = np.concatenate([a, rng.normal(size=(3, 10))], axis=1)
    pb = np.concatenate([b, np.zeros((3, 30))], axis=1)
    np.testing.assert_array_equal(dtw(pa, pb, len_a=40, len_b=25, band=3), dtw(a, b, band=3))


def test_all_pairs_equals_pairwise_and_one_to_many(rng):
    s, leads, t = 7, 3, 48
    x = rng.normal(size=(s, leads, t))
    lens = rng.integers(20, t + 1, size=s)
    allp = dtw_all_pairs(x, lens, band=6, n_threads=2)
    assert allp.shape == (s, s, leads)
    for i in range(s):
        for j in range(s):
            np.testing.assert_allclose(allp[i, j], dtw(x[i], x[j], len_a=int(lens[i]), len_b=int(lens[j]), band=6),
                                       rtol=1e-13, atol=0)
    np.testing.assert_array_equal(allp, allp.transpose(1, 0, 2))
    one = dtw_one_to_many(x[0], x[1:], lens[1:], ref_length=int(lens[0]), band=6, n_threads=2)
    np.testing.assert_allclose(one, allp[0, 1:], rtol=1e-13, atol=0)
    np.testing.assert_array_equal(dtw_all_pairs(x, lens, band=6, n_threads=1), allp)


@pytest.mark.parametrize(
    "kwargs,match",
    [
        ({"band": -1}, "band"),
        ({"band": 2.5}, "band"),
        ({"penalty": -0.1}, "penalty"),
        ({"penalty": float("nan")}, "penalty"),
        ({"cost": "cubic"}, "cost"),
        ({"len_a": 0}, "len_a"),
        ({"len_b": 11}, "len_b"),
    ],
)
def test_validation_dtw(kwargs, match):
    with pytest.raises(ValueError, match=match):
        dtw(np.zeros((2, 10)), np.zeros((2, 10)), **kwargs)


def test_validation_shapes_and_values():
    with pytest.raises(ValueError, match="b"):
        dtw(np.zeros((2, 10)), np.zeros((3, 10)))
    with pytest.raises(ValueError, match="finite"):
        dtw(np.array([[0.0, np.nan]]), np.zeros((1, 3)))
    with pytest.raises(ValueError, match="a"):
        dtw(np.zeros((2, 0)), np.zeros((2, 3)))
    with pytest.raises(ValueError, match="lengths"):
        dtw_all_pairs(np.zeros((3, 2, 10)), [5, 11, 3])
    with pytest.raises(ValueError, match="lengths"):
        dtw_all_pairs(np.zeros((3, 2, 10)), [5, 6])
    with pytest.raises(ValueError, match="lengths"):
        dtw_all_pairs(np.zeros((3, 2, 10)), [5.5, 6, 7])
    with pytest.raises(ValueError, match="signals"):
        dtw_all_pairs(np.zeros((3, 10)), [5, 6, 7])
    with pytest.raises(ValueError, match="n_threads"):
        dtw_all_pairs(np.zeros((3, 2, 10)), n_threads=0)
    with pytest.raises(ValueError, match="reference"):
        dtw_one_to_many(np.zeros((3, 10)), np.zeros((2, 2, 10)))
    with pytest.raises(ValueError, match="ref_length"):
        dtw_one_to_many(np.zeros((2, 10)), np.zeros((2, 2, 10)), ref_length=20)


@settings(max_examples=40, deadline=None)
@given(
    a=hnp.arrays(np.float64, st.tuples(st.integers(1, 3), st.integers(1, 12)),
                 elements=st.floats(-1e3, 1e3, allow_nan=False)),
    m=st.integers(1, 12),
    band=st.one_of(st.none(), st.integers(0, 15)),
    penalty=st.floats(0, 5),
)
def test_property_against_reference(a, m, band, penalty):
    b = np.cos(np.arange(a.shape[0] * m, dtype=np.float64)).reshape(a.shape[0], m) * 10.0
    got = dtw(a, b, band=band, penalty=penalty)
    for lead in range(a.shape[0]):
        assert got[lead] == pytest.approx(reference_dtw(a[lead], b[lead], band, "squared", True, penalty),
                                          rel=1e-9, abs=1e-12)
    assert np.all(got >= 0)


@settings(max_examples=40, deadline=None)
@given(
    shape=st.tuples(st.integers(0, 3), st.integers(0, 3), st.integers(0, 6)),
    length=st.integers(-3, 9),
    band=st.integers(-5, 5),
    cost=st.sampled_from(["squared", "absolute", "bogus"]),
)
def test_core_boundary_never_crashes(shape, length, band, cost):
    """Raw calls into the compiled module with arbitrary shapes and lengths raise, never crash."""
    x = np.ones(shape)
    lens = np.full(shape[0], length, dtype=np.int64)
    invalid = cost == "bogus" or (shape[0] >= 1 and not 1 <= length <= shape[2])
    if invalid:
        with pytest.raises(ValueError):
            core.dtw_all_pairs(x, lens, band, cost, True, 0.0, 1)
    else:
        out = core.dtw_all_pairs(x, lens, band, cost, True, 0.0, 1)
        assert out.shape == (shape[0], shape[0], shape[1])
        assert np.all(out == 0.0)
    with pytest.raises(ValueError):
        core.dtw_all_pairs(np.ones((2, 2)), np.ones(2, dtype=np.int64), band, "squared", True, 0.0, 1)
    try:
        core.dtw_leads(np.ones(shape[1:]), length, np.ones((shape[1], 4)), 4, band, cost, True, 0.0)
    except ValueError:
        pass


@pytest.mark.parametrize("band", [2**63 - 1, 2**100, 10])
def test_huge_band_saturates_to_no_band(rng, band):
    """A band radius past the longest signal keeps every cell (it once overflowed: abort, or all inf)."""
    a, b = rng.normal(size=10), rng.normal(size=5)
    for x, y in ((a, b), (b, a), (a, a + 1.0)):
        got = dtw(x, y, band=band)
        assert got[0] == pytest.approx(reference_dtw(x, y, None, "squared", True, DEFAULT_PENALTY), rel=1e-12)


@pytest.mark.parametrize("n_threads", [0, 1025, 10**6, 2**31 - 1, -1])
def test_thread_counts_bounded(rng, n_threads):
    signals = rng.normal(size=(3, 2, 8))
    with pytest.raises(ValueError, match=r"^n_threads: expected None \(all cores\) or an integer in \[1, 1024\]"):
        dtw_all_pairs(signals, n_threads=n_threads)
    with pytest.raises(ValueError, match=r"^n_threads: expected an integer in \[1, 1024\]"):
        core.dtw_all_pairs(signals, np.full(3, 8), n_threads=n_threads)
