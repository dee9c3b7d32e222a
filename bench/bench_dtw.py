"""All-pairs DTW of 18 QRS x 8 leads: C++ core vs a batched numpy DTW vs dtaidistance's C code.

Short mode: 18 signals x 8 leads x 128 samples. Full (MITWIN_BENCH=full): x 512 samples, the
dataset's QRS length. Every variant asserts the same matrix as dtaidistance (squared local cost,
no normalisation, no penalty, no band: the definition the three share). A pure-Python O(n m) loop
is timed on a single lead pair against the C++ code on the same pair.

    python -m pytest bench/bench_dtw.py --benchmark-group-by=group
"""

from __future__ import annotations

import os

import numpy as np
import pytest

from mitwin.analysis.dtw import dtw, dtw_all_pairs

FULL = os.environ.get("MITWIN_BENCH", "short").lower() == "full"

N_SIGNALS, N_LEADS = 18, 8
N_SAMPLES = 512 if FULL else 128


@pytest.fixture(scope="module")
def signals() -> np.ndarray:
    rng = np.random.default_rng(7)
    x = np.cumsum(rng.normal(size=(N_SIGNALS, N_LEADS, N_SAMPLES)), axis=2)
    return x / np.abs(x).max(axis=2, keepdims=True)


@pytest.fixture(scope="module")
def expected(signals) -> np.ndarray:
    """(S, S, L) from dtaidistance (an independent C implementation), upper triangle mirrored; from the
    batched numpy DTW below when dtaidistance is not installed."""
    try:
        from dtaidistance import dtw as dtw_dd
    except ImportError:
        return numpy_all_pairs(signals)
    out = np.zeros((N_SIGNALS, N_SIGNALS, N_LEADS))
    iu = np.triu_indices(N_SIGNALS, 1)
    for lead in range(N_LEADS):
        m = dtw_dd.distance_matrix_fast([np.ascontiguousarray(s) for s in signals[:, lead]], parallel=False)
        out[iu[0], iu[1], lead] = m[iu]
        out[iu[1], iu[0], lead] = m[iu]
    return out


def numpy_all_pairs(signals: np.ndarray) -> np.ndarray:
    """Anti-diagonal DTW vectorised over every (pair, lead): what one writes without a compiled kernel."""
    s, leads, n = signals.shape
    ii, jj = np.triu_indices(s, 1)
    a = signals[ii].reshape(-1, n)  # (P * L, n)
    b = signals[jj].reshape(-1, n)
    p = a.shape[0]
    inf = np.inf
    # d2[k] holds C(i, j) on anti-diagonal i + j = k for i = 0..n-1 (padded), two previous diagonals kept.
    prev2 = np.full((p, n + 1), inf)
    prev1 = np.full((p, n + 1), inf)
    for k in range(2 * n - 1):
        cur = np.full((p, n + 1), inf)
        i = np.arange(max(0, k - n + 1), min(n, k + 1))
        j = k - i
        cost = (a[:, i] - b[:, j]) ** 2
        if k == 0:
            cur[:, 1] = cost[:, 0]
        else:
            # neighbours: (i-1, j) on k-1 at row i-1; (i, j-1) on k-1 at row i; (i-1, j-1) on k-2 at row i-1
            best = np.minimum(np.minimum(prev1[:, i], prev1[:, i + 1]), prev2[:, i])
            cur[:, i + 1] = cost + best
        prev2, prev1 = prev1, cur
    acc = np.sqrt(prev1[:, n])
    out = np.zeros((s, s, leads))
    out[ii, jj] = acc.reshape(-1, leads)
    out[jj, ii] = out[ii, jj]
    return out


def python_loop(a: np.ndarray, b: np.ndarray) -> float:
    n, m = len(a), len(b)
    prev = [0.0] + [float("inf")] * m
    for i in range(n):
        cur = [float("inf")] * (m + 1)
        ai = float(a[i])
        for j in range(m):
            d = ai - float(b[j])
            cur[j + 1] = d * d + min(prev[j + 1], cur[j], prev[j])
        prev = cur
    return prev[m] ** 0.5


def _ours(signals: np.ndarray, n_threads: int | None) -> np.ndarray:
    return dtw_all_pairs(signals, band=None, penalty=0.0, normalize=False, n_threads=n_threads)


@pytest.mark.benchmark(group="dtw-all-pairs")
def test_cpp_one_thread(benchmark, signals, expected):
    got = benchmark(_ours, signals, 1)
    np.testing.assert_allclose(got, expected, rtol=1e-10)


@pytest.mark.benchmark(group="dtw-all-pairs")
def test_cpp_all_threads(benchmark, signals, expected):
    got = benchmark(_ours, signals, None)
    np.testing.assert_allclose(got, expected, rtol=1e-10)


@pytest.mark.benchmark(group="dtw-all-pairs")
def test_dtaidistance_c_one_thread(benchmark, signals, expected):
    dtw_dd = pytest.importorskip("dtaidistance.dtw")
    series = [[np.ascontiguousarray(s) for s in signals[:, lead]] for lead in range(N_LEADS)]
    mats = benchmark(lambda: [dtw_dd.distance_matrix_fast(ss, parallel=False) for ss in series])
    iu = np.triu_indices(N_SIGNALS, 1)
    for lead in range(N_LEADS):
        np.testing.assert_allclose(mats[lead][iu], expected[iu[0], iu[1], lead], rtol=1e-12)


@pytest.mark.benchmark(group="dtw-all-pairs")
def test_numpy_batched(benchmark, signals, expected):
    got = benchmark.pedantic(numpy_all_pairs, args=(signals,), rounds=3 if FULL else 5, iterations=1)
    np.testing.assert_allclose(got, expected, rtol=1e-10)


@pytest.mark.benchmark(group="dtw-one-lead-pair")
def test_one_pair_cpp(benchmark, signals, expected):
    got = benchmark(lambda: dtw(signals[0, 0], signals[1, 0], penalty=0.0, normalize=False)[0])
    assert got == pytest.approx(expected[0, 1, 0], rel=1e-10)


@pytest.mark.benchmark(group="dtw-one-lead-pair")
def test_one_pair_python_loop(benchmark, signals, expected):
    got = benchmark.pedantic(python_loop, args=(signals[0, 0], signals[1, 0]), rounds=3, iterations=1)
    assert got == pytest.approx(expected[0, 1, 0], rel=1e-10)
