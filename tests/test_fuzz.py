"""Fuzzing the public entry points (hypothesis): no crash, no hang, no silent acceptance, only clear errors.

The cases and the oracle are in ``tests/fuzz_entries.py``. Pure-Python entry points run in this
process; everything that reaches compiled code (the C++ core, HDF5, torch's file reader) runs in a
subprocess, so that a crash or a hang is detected and named instead of taking the test run down.
The budget is small by default (``CI_EXAMPLES`` hypothesis examples per entry point); set
``MITWIN_FUZZ=full`` for ``FULL_EXAMPLES`` per entry point.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip("torch")

import fuzz_entries  # noqa: E402

CI_EXAMPLES = 12
FULL_EXAMPLES = 400
HERE = Path(__file__).parent


def _budget() -> int:
    return FULL_EXAMPLES if os.environ.get("MITWIN_FUZZ", "").lower() == "full" else CI_EXAMPLES


def run_worker(args: list[str], timeout: float) -> dict:
    """Run a fuzz worker in a subprocess; returns its summary, or a summary naming the crash / hang."""
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(HERE), os.environ.get("PYTHONPATH", "")]))
    try:
        proc = subprocess.run([sys.executable, "-W", "error::RuntimeWarning", *args], capture_output=True,
                              text=True, timeout=timeout, env=env, cwd=HERE)
        out, err, code = proc.stdout, proc.stderr, proc.returncode
    except subprocess.TimeoutExpired as exc:
        out = exc.stdout.decode() if isinstance(exc.stdout, bytes) else (exc.stdout or "")
        err, code = "the whole run timed out", None
    lines = out.splitlines()
    summary = next((json.loads(ln[8:]) for ln in lines if ln.startswith("SUMMARY ")), None)
    if summary is not None and code == 0:
        return summary
    last = next((ln[6:] for ln in reversed(lines) if ln.startswith("START ")), "(before the first case)")
    kind = "hang" if code is None or "Timeout" in err else "crash"
    return {"cases": sum(ln.startswith("START ") for ln in lines), "per_entry": {},
            "failures": [f"{kind} (exit {code}) in {last}: {err.strip().splitlines()[-1:] if err else ''}"]}


def test_python_entry_points_in_process():
    summary = fuzz_entries.fuzz("python", _budget())
    print(f"fuzz python: {summary['cases']} cases, per entry {summary['per_entry']}")
    assert summary["cases"] >= 5 * 5
    assert summary["failures"] == []


def test_compiled_entry_points_in_a_subprocess():
    n = _budget()
    summary = run_worker(["fuzz_entries.py", "core", str(n)], timeout=120 + 3.0 * n * 12)
    print(f"fuzz core: {summary['cases']} cases, per entry {summary['per_entry']}")
    assert summary["failures"] == []
    assert summary["cases"] >= 12 * min(n, 10)


def test_the_harness_sees_crashes_hangs_and_silent_acceptance(tmp_path):
    # a real segmentation fault in the worker is reported as a crash of the case that was running
    crash = run_worker(["-c", "import ctypes; print('START probe(x=1)', flush=True); ctypes.string_at(0)"], 60)
    assert crash["failures"] and crash["failures"][0].startswith("crash") and "probe(x=1)" in crash["failures"][0]
    hang = run_worker(["-c", "import time; print('START sleeper()', flush=True); time.sleep(60)"], 3)
    assert hang["failures"][0].startswith("hang") and "sleeper()" in hang["failures"][0]
    # the oracle: returning on a bad value is silent acceptance, a TypeError is an unclear error
    entry = fuzz_entries.Entry("probe", "python", lambda kw: float(kw["x"]), lambda: {"x": 1.0}, {})
    assert fuzz_entries.run_case(entry, "x", "2", "raise") == "silent"
    assert fuzz_entries.run_case(entry, "x", [1, 2], "raise").startswith("unclear: TypeError")
    assert fuzz_entries.run_case(entry, "x", "x", "raise") is None  # ValueError: a clear refusal
    nan = fuzz_entries.Entry("nan", "python", lambda kw: fuzz_entries.np.full(3, kw["x"]), lambda: {"x": 1.0}, {})
    assert fuzz_entries.run_case(nan, "x", float("nan"), "any") == "insane: result holds NaN"
