"""mitwin._core bounds every count and size it is given, and validates its arrays itself.

Each input here once crashed the interpreter, hung it or was silently reinterpreted. Anything that
could kill the interpreter runs in a subprocess, which must exit cleanly having seen a ValueError
that names the argument. Hypothesis then throws random counts and dtypes at every entry point.
"""

from __future__ import annotations

import subprocess
import sys
import textwrap

import numpy as np
import pytest

from mitwin import _core
from mitwin.anatomy.synthetic import box_mesh

PRELUDE = """
import numpy as np
from mitwin import _core
from mitwin.anatomy.synthetic import box_mesh
points, tets = box_mesh((3.0, 3.0, 3.0), 1.0)
n = len(points)
f = np.tile([1.0, 0.0, 0.0], (n, 1)); s = np.tile([0.0, 1.0, 0.0], (n, 1))
elec = np.array([[100.0, 0.0, 0.0], [0.0, 100.0, 0.0]])
def expect(fn, name):
    try:
        fn()
    except ValueError as exc:
        assert str(exc).startswith(name + ":"), str(exc)
        print("ValueError", exc)
    else:
        raise SystemExit("accepted: " + name)
"""

# (case, code): each line calls `expect(lambda: ..., argument name)`
CRASHERS = {
    "dtw band 2**63-1, unequal lengths": "r = _core.dtw_leads(np.ones((1, 10)), 10, np.ones((1, 5)), 5, "
    "band=2**63 - 1); assert np.all(np.isfinite(r)), r",
    "lead field n_threads 10**6": "expect(lambda: _core.lead_field(points, tets, elec, n_threads=10**6), 'n_threads')",
    "qrs n_threads 10**6": "expect(lambda: _core.synthesize_qrs(np.ones((n, 8)), np.zeros((1, n)), 0.0, 1.0, 10, "
    "np.ones(3), 0, n_threads=10**6), 'n_threads')",
    "dtw all pairs n_threads 2**31-1": "expect(lambda: _core.dtw_all_pairs(np.ones((3, 1, 10)), np.full(3, 10), "
    "n_threads=2**31 - 1), 'n_threads')",
    "n_samples 2**33": "expect(lambda: _core.synthesize_qrs(np.ones((n, 8)), np.zeros((1, n)), 0.0, 1.0, 2**33, "
    "np.ones(3), 0), 'n_samples')",
    "n_samples 2**70": "expect(lambda: _core.synthesize_qrs(np.ones((n, 8)), np.zeros((1, n)), 0.0, 1.0, 2**70, "
    "np.ones(3), 0), 'n_samples')",
    "template_first -2**63": "expect(lambda: _core.synthesize_qrs(np.ones((n, 8)), np.zeros((1, n)), 0.0, 1.0, 10, "
    "np.ones(3), -2**63), 'template_first')",
    "all-pairs result larger than memory": "expect(lambda: _core.dtw_all_pairs(np.ones((2_000_000, 1, 1)), "
    "np.ones(2_000_000, dtype=np.int64)), 'signals')",
    "root time 1e16 (hang)": "expect(lambda: _core.ActivationSolver(points, tets, f, s, (0.6, 0.6, 0.6)).solve("
    "np.array([0]), np.array([1e16])), 'root_times')",
    "tet index out of range": "expect(lambda: _core.lead_field(points, np.where(tets == 0, 10**12, tets), elec), "
    "'tets')",
}


@pytest.mark.parametrize("case", list(CRASHERS))
def test_crash_inputs_raise_in_a_subprocess(case):
    code = PRELUDE + "\n" + CRASHERS[case]
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, (case, proc.returncode, proc.stderr[-2000:])


def test_dtw_saturated_band_equals_no_band():
    rng = np.random.default_rng(0)
    a, b = rng.normal(size=(2, 10)), rng.normal(size=(2, 5))
    for band in (2**63 - 1, 2**80, 10, 5):
        np.testing.assert_array_equal(_core.dtw_leads(a, 10, b, 5, band=band), _core.dtw_leads(a, 10, b, 5))
    # equal lengths once overflowed into an empty band (all inf)
    assert np.all(np.isfinite(_core.dtw_leads(a, 10, a + 1, 10, band=2**63 - 1)))


def _cube():
    points, tets = box_mesh((3.0, 3.0, 3.0), 1.0)
    n = len(points)
    return points, tets, np.tile([1.0, 0.0, 0.0], (n, 1)), np.tile([0.0, 1.0, 0.0], (n, 1))


def test_late_roots_finish_and_are_exact():
    """Two roots 1e6 ms apart: the second is reached from the first long before it starts."""
    points, tets, f, s = _cube()
    for method in ("dijkstra", "eikonal"):
        solver = _core.ActivationSolver(points, tets, f, s, (0.6, 0.6, 0.6), None, method)
        far = len(points) - 1
        at = solver.solve(np.array([0, far]), np.array([0.0, 1e6]))
        only = solver.solve(np.array([0]))
        np.testing.assert_array_equal(at, only)
        # the late root alone: everything shifted by its start
        late = solver.solve(np.array([far]), np.array([1e6]))
        from_far = solver.solve(np.array([far]))
        np.testing.assert_allclose(late - 1e6, from_far, atol=1e-6)


@pytest.mark.parametrize("speeds", [(1e-300, 0.6, 0.6), (1e300, 0.6, 0.6), (0.6, 0.6, np.inf)])
def test_absurd_speeds_name_the_speed(speeds):
    points, tets, f, s = _cube()
    with pytest.raises(ValueError, match=r"^speeds: expected speeds in \[0.0001, 10000\] m/s"):
        _core.ActivationSolver(points, tets, f, s, speeds)


def test_absurd_coordinates_rejected():
    points, tets, f, s = _cube()
    elec = np.array([[100.0, 0.0, 0.0]])
    with pytest.raises(ValueError, match="^points: expected coordinates within"):
        _core.lead_field(points * 1e160, tets, elec)
    with pytest.raises(ValueError, match="^points: expected coordinates within"):
        _core.ActivationSolver(points * 1e160, tets, f, s, (0.6, 0.6, 0.6))
    with pytest.raises(ValueError, match="^electrodes: expected coordinates within"):
        _core.lead_field(points, tets, elec * 1e10)


def test_duplicate_tets_rejected():
    points, tets, f, s = _cube()
    dup = np.vstack([tets, tets[3:4, ::-1]])
    with pytest.raises(ValueError, match="^tets: tets 3 and .* have the same nodes"):
        _core.lead_field(points, dup, np.array([[100.0, 0.0, 0.0]]))
    with pytest.raises(ValueError, match="^tets: tets 3 and .* have the same nodes"):
        _core.ActivationSolver(points, dup, f, s, (0.6, 0.6, 0.6))


@pytest.mark.parametrize(
    "make, name",
    [
        (lambda n: np.array([True, False]), "roots"),
        (lambda n: np.array([0.0, 1.0]), "roots"),
        (lambda n: np.ones(n, dtype=complex), "speed_factor"),
        (lambda n: np.ones(n, dtype=bool), "speed_factor"),
    ],
)
def test_masks_and_complex_rejected(make, name):
    points, tets, f, s = _cube()
    solver = _core.ActivationSolver(points, tets, f, s, (0.6, 0.6, 0.6))
    n = len(points)
    args = {"roots": np.array([0]), "root_times": None, "speed_factor": None}
    args[name] = make(n)
    with pytest.raises(ValueError, match=f"^{name}: expected"):
        solver.solve(**args)


def test_value_range_skips_inf_only_when_asked():
    x = np.array([3.0, np.inf, 1.0])
    assert _core.value_range(x) == (1.0, np.inf)
    assert _core.value_range(x, skip_inf=True) == (1.0, 3.0)
    assert _core.value_range(np.full(3, np.inf), skip_inf=True) == (np.inf, -np.inf)
    lo, hi = _core.value_range(np.array([np.nan, np.inf]), skip_inf=True)
    assert np.isnan(lo) and np.isnan(hi)


# ---------------------------------------------------------------------------------------------
# random counts, sizes and dtypes at every entry point: ValueError or a result, never a crash

hypothesis = pytest.importorskip("hypothesis")
from hypothesis import HealthCheck, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

COUNTS = st.one_of(
    st.integers(-(2**70), 2**70), st.sampled_from([0, 1, 2, 1024, 1025, 2**31 - 1, 2**63 - 1, -1]), st.none(),
    st.just(True), st.just(2.0), st.just("2"),
)
DTYPES = st.sampled_from([np.float64, np.float32, np.int64, np.int8, bool, complex, object])


def _cast(a, dtype):
    return a.astype(dtype)


@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(n_threads=COUNTS, n_samples=COUNTS, first=COUNTS, dtype=DTYPES, band=COUNTS)
def test_random_counts_raise_value_error_or_work(n_threads, n_samples, first, dtype, band):
    points, tets = box_mesh((2.0, 2.0, 2.0), 1.0)
    n = len(points)
    lead = np.ones((n, 3))
    calls = [
        lambda: _core.lead_field(points, tets, np.array([[50.0, 0, 0]]), n_threads=n_threads),
        lambda: _core.synthesize_qrs(lead, np.zeros((1, n)), 0.0, 1.0, n_samples, np.ones(2), first,
                                     n_threads=n_threads),
        lambda: _core.synthesize_qrs(_cast(lead, dtype), np.zeros((1, n)), 0.0, 1.0, 5, np.ones(2), 0),
        lambda: _core.value_range(_cast(np.ones(5), dtype), n_threads=n_threads),
        lambda: _core.dtw_all_pairs(_cast(np.ones((2, 1, 4)), dtype), np.array([4, 3]), band=band,
                                    n_threads=n_threads),
        lambda: _core.dtw_one_to_many(np.ones((1, 4)), n_samples, np.ones((2, 1, 4)), np.array([4, 3]), band=band),
        lambda: _core.dtw_leads(np.ones((1, 4)), first, np.ones((1, 6)), 6, band=band),
    ]
    for call in calls:
        try:
            call()
        except (ValueError, TypeError) as exc:
            # TypeError only from pybind11's own argument matching (a str where a float is due)
            assert isinstance(exc, ValueError) or "incompatible function arguments" in str(exc), exc


def test_script_prelude_is_valid():
    """The subprocess prelude itself runs (so a failing case above is the case, not the prelude)."""
    proc = subprocess.run([sys.executable, "-c", textwrap.dedent(PRELUDE)], capture_output=True, text=True,
                          timeout=300)
    assert proc.returncode == 0, proc.stderr
