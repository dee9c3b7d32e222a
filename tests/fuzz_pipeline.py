"""Fuzz entries above the kernels (tests/fuzz_entries.py): forward model, cohort, campaign, scenarios, ECG
records, and the command line itself with one bad option at a time."""

from __future__ import annotations

import atexit
import math
import shutil
import tempfile
from pathlib import Path
from typing import Any

import numpy as np
from hypothesis import strategies as st

_TMP = Path(tempfile.mkdtemp(prefix="mitwin-fuzz-cli-"))
atexit.register(shutil.rmtree, _TMP, ignore_errors=True)
_LEADS = ["I", "II", "V1", "V2", "V3", "V4", "V5", "V6"]


def _values(*vals: Any, expect: str = "raise") -> st.SearchStrategy:
    return st.sampled_from([(v, expect) for v in vals])


_HEART: list[Any] = []


def _heart() -> Any:
    if not _HEART:
        from test_heart import _random_heart

        _HEART.append(_random_heart())
    return _HEART[0]


def _prepare(kw: dict[str, Any]) -> Any:
    import mitwin

    fwd = mitwin.prepare(_heart(), **{k: v for k, v in kw.items() if k != "infarct"})
    return fwd.simulate(kw["infarct"]).qrs


def _file_under_a_file() -> str:
    f = _TMP / "a-file"
    f.write_text("x")
    return str(f / "below")


def _cli(kw: dict[str, Any]) -> Any:
    """``mitwin`` with one bad option: must exit 2 with a one-line error (argparse's own exit 2 included)."""
    from mitwin.cli import main

    try:
        code = main(kw["argv"])
    except SystemExit as exc:  # argparse: a bad choice or a non-number for a typed option
        code = exc.code
    if code == 2:
        raise ValueError("refused with exit status 2")
    return None


def _argv(command: str, *args: str) -> list[str]:
    return [command, *args]


def _cli_cases() -> st.SearchStrategy:
    ds, missing = str(_TMP / "no-such.h5"), str(_TMP / "nowhere")
    under = _file_under_a_file()
    cases = [
        _argv("cohort", "--n", "0"), _argv("cohort", "--n", "-3"), _argv("cohort", "--n", "x"),
        _argv("cohort", "--n", "1", "--seed", "-1"), _argv("cohort", "--n", "1", "--resolution", "nan"),
        _argv("cohort", "--n", "1", "--resolution", "1e300"), _argv("cohort", "--n", "1", "--out", under),
        _argv("simulate", "--cohort", missing), _argv("simulate", "--cohort", missing, "--subjects", "0"),
        _argv("simulate", "--cohort", missing, "--method", "fmm"),
        _argv("sensitivity", ds), _argv("train", ds), _argv("train", ds, "--epochs", "0"),
        _argv("train", ds, "--device", "gpu"), _argv("train", ds, "--preset", "huge"),
        _argv("evaluate", missing, ds), _argv("infer", missing, "--heart", missing, "--qrs", missing, "--out", under),
        _argv("scenarios", "--extra", missing), _argv("mesh", missing), _argv("ecg", missing, "--out", under),
        _argv("check-ecg", missing), _argv("demo", "--size", "huge"), _argv("fit", missing),
        _argv("personalise", missing),
    ]
    return st.sampled_from([(c, "raise") for c in cases])


def pipeline_entries(Entry: Any, bad_number: Any, bad_count: Any) -> list[Any]:
    """Entries built with the harness's Entry class and value strategies."""
    import mitwin
    from mitwin.anatomy.cohort import make_cohort
    from mitwin.ep.records import read_ecg

    ecg = np.sin(np.arange(3000)[None] / 40.0 + np.arange(8)[:, None])
    return [
        Entry("prepare+simulate", "core", _prepare, lambda: {"method": "eikonal", "infarct": None},
              {"speeds": _values((0, 1, 1), (math.nan, 1, 1), "fast", (1, 1)), "method": _values("fmm", None, 3),
               "dt": bad_number(low_ok=False, extra=(1e9,)), "n_threads": bad_count(),
               "dense_speed": bad_number(low_ok=False), "qrs_options": _values({"margin": "10"}, {"bogus": 1}, 3),
               "infarct": _values("septal", 3, {"centre": 1})}),
        Entry("make_cohort", "core", lambda kw: make_cohort(**kw),
              lambda: {"n": 1, "seed": 0, "out": str(_TMP / "never"), "resolution_mm": 5.0},
              {"n": bad_count(big_ok=True), "seed": _values(-1, 1.5, "0", None, math.nan, True),
               "resolution_mm": bad_number(low_ok=False, extra=(1e300, 1e-300), none_ok=True),
               "out": _values(_file_under_a_file())}),
        Entry("run_campaign", "core", lambda kw: mitwin.run_campaign(progress=False, **kw),
              lambda: {"cohort_dir": str(_TMP / "nowhere"), "out": str(_TMP / "d.h5")},
              {"subjects": bad_count(), "n_workers": bad_count(), "method": _values("fmm", None, 1),
               "cohort_dir": _values(str(_TMP), _file_under_a_file(), 3)}),
        Entry("paper_scenarios", "python", lambda kw: mitwin.paper_scenarios(**kw), lambda: {"tissue": "paper"},
              {"tissue": _values("False", "", None, 1, "PAPER", "slowest")}),
        Entry("read_ecg", "python", lambda kw: read_ecg(kw["source"], fs=kw["fs"], leads=kw["leads"]),
              lambda: {"source": ecg, "fs": 1000.0, "leads": _LEADS},
              {"fs": bad_number(low_ok=False, extra=(1e300,)),
               "leads": _values(_LEADS[:7], ["I"] * 8, "I,II", None, [1] * 8),
               "source": _values(np.full((8, 3000), np.nan), ecg.astype(complex), np.zeros((8, 3000)), ecg[:, :10],
                                 ecg.astype(str), ecg[0], "no-such-record")}),
        Entry("command line", "core", _cli, lambda: {"argv": ["scenarios"]}, {"argv": _cli_cases()}),
    ]
