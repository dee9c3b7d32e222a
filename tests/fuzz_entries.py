"""Fuzzing of mitwin's public entry points: the entries, the input classes, the oracle and a subprocess worker.

Each case takes a valid call of an entry point and replaces one argument by a value of one of the
input classes of the hardening work: wrong shapes and dtypes (bool, complex, str, object), NaN and
inf, absurd magnitudes, out-of-range indices and counts, truthy strings for flags, empty arrays,
damaged files. The oracle:

* ``"raise"`` values must raise ``ValueError`` (mitwin's errors included) or ``FileNotFoundError``
  with a one-line message; returning is a *silent acceptance*, any other exception an *unclear error*;
* ``"any"`` values (e.g. huge but finite counts that may be clamped, or random finite signals) may
  return, but the result must be sane (no NaN; finite where finite is promised);
* nothing may crash the interpreter (*crash*) or run longer than the case time limit (*hang*).

``python tests/fuzz_entries.py GROUP N`` runs ``N`` hypothesis examples per entry of ``GROUP``
(``core``: everything that reaches compiled code, HDF5 or torch's readers; ``python``: the rest)
and prints one ``START`` line before each case and a JSON summary at the end; the pytest driver
(tests/test_fuzz.py) runs it in a subprocess, so that a crash or a hang is seen, not suffered.
"""

from __future__ import annotations

import faulthandler
import json
import math
import sys
import tempfile
import traceback
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

CASE_SECONDS = 20.0  # a case that runs longer is a hang
ACCEPTED = (ValueError, FileNotFoundError)

# ----------------------------------------------------------------------------------------------- base inputs


def _base() -> dict[str, Any]:
    from mitwin.anatomy.synthetic import box_mesh

    points, tets = box_mesh((3.0, 3.0, 3.0), 1.0)
    n = len(points)
    fibres = np.tile([1.0, 0.0, 0.0], (n, 1))
    sheets = np.tile([0.0, 1.0, 0.0], (n, 1))
    electrodes = np.array([[50, 0, 0], [-50, 0, 0], [0, 50, 0], [0, -50, 0], [0, 0, 50], [0, 0, -50],
                           [30, 30, 30], [-30, 30, 30], [30, -30, -30]], dtype=float)
    from mitwin.ep.activation import ActivationSolver

    at = ActivationSolver(points, tets, fibres, sheets).solve([0])
    return {"points": points, "tets": tets, "fibres": fibres, "sheets": sheets, "electrodes": electrodes, "at": at,
            "qrs": np.sin(np.arange(120)[None] / 9.0 + np.arange(8)[:, None])}


BASE: dict[str, Any] = {}


def base() -> dict[str, Any]:
    if not BASE:
        BASE.update(_base())
    return BASE


# ----------------------------------------------------------------------------------------------- bad values

_NOT_NUMBERS = ["1", "nan", b"1", [1.0], {"a": 1}, 1 + 2j, None, object()]
_TRUTHY = ["False", "no", "0", "", "True", 1, 0, 2, None, 0.0, np.array([True, False])]
_BAD_FLOATS = [math.nan, math.inf, -math.inf]
_BAD_COUNTS = [0, -1, -(2**31), 2**31 - 1, 2**33, 2**63 - 1, 2**64, 10**6, 1.5, math.nan, "2", True]


def _values(*vals: Any, expect: str = "raise") -> st.SearchStrategy:
    return st.sampled_from([(v, expect) for v in vals])


def bad_number(low_ok: bool = True, extra: tuple = (), none_ok: bool = False) -> st.SearchStrategy:
    """Things that are not usable real numbers (None too, unless ``none_ok``)."""
    vals = [v for v in (*_NOT_NUMBERS, *_BAD_FLOATS, *extra) if not (none_ok and v is None)]
    if not low_ok:
        vals += [0.0, -1.0, -1e300, 1e-300 * -1]
    return _values(*vals)


def bad_count(*, big_ok: bool = False) -> st.SearchStrategy:
    """Counts that are not positive integers, or (unless ``big_ok``) absurdly large ones."""
    vals = [v for v in _BAD_COUNTS if not (big_ok and isinstance(v, int) and v > 1)]
    return _values(*vals) | _values(*_NOT_NUMBERS[:6])


def bad_flag() -> st.SearchStrategy:
    return _values(*_TRUTHY)


def _mutations(v: np.ndarray, *, index: bool = False, trailing_free: bool = False, inf_ok: bool = False
               ) -> list[Any]:
    out: list[Any] = [v.reshape(-1) if v.ndim > 1 else v[None], v[:0], v.astype(complex) + 1j,
                      v.astype(bool), v.astype(str), v.astype(str).astype(object), None]
    if not index:
        out.append(v.tolist()[:1])
    if v.ndim > 1 and not trailing_free:
        out.append(v[..., :-1])
    if index:
        out += [np.where(np.arange(v.size).reshape(v.shape) == 0, -1, v), v + int(base()["points"].shape[0]),
                v.astype(float) + 0.5, np.full(v.shape, 2**62, dtype=np.int64)]
    else:
        for bad in (math.nan, -math.inf) if inf_ok else (math.nan, math.inf, -math.inf):
            w = np.array(v, dtype=float, copy=True)
            w.flat[w.size // 2] = bad
            out.append(w)
    return out


def bad_array(name: str, *, index: bool = False, huge: bool = False, trailing_free: bool = False,
              inf_ok: bool = False) -> st.SearchStrategy:
    """Mutations of the valid base array ``name`` (all must be refused)."""
    v = np.asarray(base()[name])
    vals = _mutations(v, index=index, trailing_free=trailing_free, inf_ok=inf_ok)
    if huge:
        vals += [v * 1e160, v * 1e-160]
    return st.sampled_from([(x, "raise") for x in vals])


def any_signal(shape: tuple[int, ...]) -> st.SearchStrategy:
    """Finite arrays of any magnitude: may be accepted, but the result must be sane."""
    elems = st.floats(-1e30, 1e30, allow_nan=False, allow_infinity=False, width=64)
    return hnp.arrays(np.float64, shape, elements=elems).map(lambda a: (a, "any"))


# ----------------------------------------------------------------------------------------------- sanity


def _sane(result: Any) -> str | None:
    """Why a returned result is not sane (None when it is)."""
    arrays = []
    if isinstance(result, np.ndarray):
        arrays.append(result)
    for attr in ("signals", "values", "lead_field", "matrix"):
        if hasattr(result, attr) and isinstance(getattr(result, attr), np.ndarray):
            arrays.append(getattr(result, attr))
    for a in arrays:
        if a.dtype.kind in "fc" and np.isnan(a).any():
            return "result holds NaN"
    return None


# ----------------------------------------------------------------------------------------------- entries


@dataclass
class Entry:
    name: str
    group: str  # "core": reaches compiled code / C libraries, run in a subprocess; "python": in-process
    call: Callable[[dict[str, Any]], Any]
    valid: Callable[[], dict[str, Any]]
    bad: dict[str, st.SearchStrategy]
    check: Callable[[Any], str | None] | None = None  # extra check of a returned result


def _mesh_kwargs() -> dict[str, Any]:
    b = base()
    return {k: b[k] for k in ("points", "tets", "fibres", "sheets")}


def _solver(kw: dict[str, Any]) -> Any:
    from mitwin.ep.activation import ActivationSolver

    return ActivationSolver(kw["points"], kw["tets"], kw["fibres"], kw["sheets"], speeds=kw["speeds"],
                            method=kw["method"])


def _lead_field(kw: dict[str, Any]) -> Any:
    from mitwin.ep.leadfield import LeadField

    return LeadField(kw["points"], kw["tets"], kw["electrodes"], n_threads=kw["n_threads"])


def _entries() -> list[Entry]:
    from mitwin.analysis.dtw import dtw, dtw_all_pairs
    from mitwin.ep.leadfield import QRSOptions

    b = base
    n = lambda: int(b()["points"].shape[0])  # noqa: E731
    sig = np.sin(np.arange(40)[None] / 5.0 + np.arange(8)[:, None])
    entries = [
        Entry("ActivationSolver", "core", _solver,
              lambda: {**_mesh_kwargs(), "speeds": (0.65, 0.48, 0.51), "method": "eikonal"},
              {"points": bad_array("points", huge=True), "tets": bad_array("tets", index=True),
               "fibres": bad_array("fibres"), "sheets": bad_array("sheets"),
               "speeds": _values((0.0, 1, 1), (-1, 1, 1), (math.nan, 1, 1), (1e-300, 1, 1), (1e300, 1, 1), "fast",
                                 (1, 1), None, (True, 1, 1), (1j, 1, 1)),
               "method": _values("fmm", "", None, 1, "EIKONAL ", b"eikonal")}),
        Entry("ActivationSolver.solve", "core",
              lambda kw: _solver({**_mesh_kwargs(), "speeds": (0.65, 0.48, 0.51), "method": kw["method"]}).solve(
                  kw["roots"], kw["root_times"], kw["speed_factor"]),
              lambda: {"roots": [0, 5], "root_times": [0.0, 2.0], "speed_factor": np.ones(n()), "method": "eikonal"},
              {"roots": _values(np.array([True] + [False] * 63), [-1], [10**9], [0.5], [], "0", [[0]], [2**63 - 1],
                                np.array([0 + 1j]), None),
               "root_times": _values([1e16, 0], [math.nan, 0], [-1e16, 0], [math.inf, 0], ["0", "1"], [0.0], [1j, 0]),
               "speed_factor": _values(np.full(64, -0.5), np.full(64, 1.5), np.full(64, np.nan), np.ones(63),
                                       np.ones(64, complex), np.ones(64, bool), "ones")
               | _values(np.where(np.arange(64) < 10, 0.0, 1.0), expect="any"),
               "method": _values("dijkstra", expect="any")}),
        Entry("ActivationSolver.solve_batch", "core",
              lambda kw: _solver({**_mesh_kwargs(), "speeds": (0.65, 0.48, 0.51), "method": "eikonal"}).solve_batch(
                  kw["roots"], kw["root_times"], kw["speed_factors"], n_threads=kw["n_threads"]),
              lambda: {"roots": [0], "root_times": [0.0], "speed_factors": np.ones((3, n())), "n_threads": 2},
              {"n_threads": bad_count(), "speed_factors": _values(np.ones(64), np.ones((2, 63)),
                                                                  np.full((2, 64), np.nan), np.ones((2, 64), complex))
               | _values(np.ones((0, 64)), expect="any")}),
        Entry("LeadField", "core", _lead_field,
              lambda: {k: b()[k] for k in ("points", "tets", "electrodes")} | {"n_threads": 1},
              {"points": bad_array("points", huge=True), "tets": bad_array("tets", index=True),
               "electrodes": bad_array("electrodes", huge=True), "n_threads": bad_count()}),
        Entry("LeadField.qrs", "core",
              lambda kw: _lead_field({k: b()[k] for k in ("points", "tets", "electrodes")} | {"n_threads": 1}).qrs(
                  kw["at"], n_threads=kw["n_threads"], n_samples=kw["n_samples"], options=kw["options"]),
              lambda: {"at": b()["at"], "n_threads": 1, "n_samples": None, "options": None},
              {"at": bad_array("at", inf_ok=True) | _values(np.full(64, 1e300), np.full(64, 1e16))
               | _values(np.full(64, np.inf), np.full(64, -5.0), expect="any"),
               "n_threads": bad_count(), "n_samples": bad_count(big_ok=True) | _values(2**33, 2**63, 10**8),
               "options": _values("fast", 1) | _values({"dt": 1.0}, expect="any")}),
        Entry("LeadField.qrs_batch", "core",
              lambda kw: _lead_field({k: b()[k] for k in ("points", "tets", "electrodes")} | {"n_threads": 1}
                                     ).qrs_batch(kw["ats"], n_threads=kw["n_threads"]),
              lambda: {"ats": np.stack([b()["at"]] * 3), "n_threads": 2},
              {"ats": _values(np.zeros((2, 63)), np.full((2, 64), np.nan), b()["at"].astype(bool))
               | _values(np.zeros((0, 64)), expect="any"),
               "n_threads": bad_count()}),
        Entry("pseudo_ecg", "core",
              lambda kw: __import__("mitwin.ep.leadfield", fromlist=["pseudo_ecg"]).pseudo_ecg(
                  kw["points"], kw["tets"], kw["electrodes"], kw["at"], **kw["options"]),
              lambda: {k: b()[k] for k in ("points", "tets", "electrodes", "at")} | {"options": {}},
              {"points": bad_array("points", huge=True), "at": bad_array("at", inf_ok=True),
               "options": _values({"dt": "1"}, {"margin": "10"}, {"amplitude": "x"}, {"lowpass_hz": 1e-300},
                                  {"lowpass_hz": 1e300}, {"lowpass_hz": "150"}, {"normalise": "False"},
                                  {"remove_baseline": "no"}, {"remove_baseline": "False"}, {"dt": 0.0},
                                  {"n_samples": 2**33}, {"n_samples": 2**70}, {"n_threads": 10**6},
                                  {"n_threads": math.nan}, {"bogus": 1})}),
        Entry("dtw", "core", lambda kw: dtw(kw["a"], kw["b"], band=kw["band"], penalty=kw["penalty"],
                                            normalize=kw["normalize"]),
              lambda: {"a": sig, "b": sig[:, :30], "band": 5, "penalty": 0.01, "normalize": True},
              {"band": _values(-1, 1.5, "5", math.nan) | _values(2**63 - 1, 2**62, 10**6, expect="any"),
               "penalty": bad_number(extra=(-1.0,)) | _values(1e300, expect="any"), "normalize": bad_flag(),
               "a": _values(sig.astype(complex), np.full((8, 40), np.nan), sig[:, :0], sig.astype(str))
               | _values(sig[0], expect="any") | any_signal((8, 40)),
               "b": _values(np.ones((7, 30)), np.full((8, 30), np.inf)) | any_signal((8, 25))}),
        Entry("dtw_all_pairs", "core", lambda kw: dtw_all_pairs(kw["signals"], band=kw["band"],
                                                                n_threads=kw["n_threads"]),
              lambda: {"signals": np.stack([sig] * 3), "band": 4, "n_threads": 2},
              {"n_threads": bad_count(), "band": _values(-3, "x") | _values(2**63 - 1, expect="any"),
               "signals": _values(np.stack([sig] * 3).astype(complex), np.zeros((0, 8, 40)))
               | _values(sig, expect="any")}),
        Entry("QRSOptions", "python", lambda kw: QRSOptions(**kw), lambda: {"dt": 1.0, "margin": 10.0},
              {"dt": bad_number(low_ok=False), "margin": bad_number(extra=(-1.0, 1e300)),
               "amplitude": bad_number(extra=(1e300,)),
               "lowpass_hz": bad_number(low_ok=False, extra=(1e-300, 1e300), none_ok=True),
               "remove_baseline": bad_flag(), "normalise": _values("False", "no", "", 1, "PEAK", True),
               "filter_order": bad_count(), "template": _values("box", None, 1)}),
    ]
    from fuzz_files import (
        _checkpoint_bytes,
        _csv_bytes,
        _dataset_bytes,
        _finite_qrs,
        _load_checkpoint_file,
        _load_vtu,
        _open_dataset_file,
        _read_csv_text,
        _same_checkpoint,
        _same_dataset,
        _vtu_bytes,
        damaged,
    )

    files = [
        Entry("dataset file", "core", _open_dataset_file, lambda: {"data": _dataset_bytes()},
              {"data": damaged(_dataset_bytes)}, _same_dataset),
        Entry("checkpoint file", "core", _load_checkpoint_file, lambda: {"data": _checkpoint_bytes()},
              {"data": damaged(_checkpoint_bytes)}, _same_checkpoint),
        Entry("VTU file", "core", _load_vtu, lambda: {"data": _vtu_bytes()}, {"data": damaged(_vtu_bytes)}),
        Entry("QRS CSV file", "core", _read_csv_text, lambda: {"data": _csv_bytes()},
              {"data": damaged(_csv_bytes) | st.binary(max_size=400).map(lambda b: (b, "any"))}, _finite_qrs),
    ]
    from fuzz_pipeline import pipeline_entries

    return entries + files + _python_entries() + pipeline_entries(Entry, bad_number, bad_count)


def _python_entries() -> list[Entry]:
    from mitwin.data.torchdata import fit_length, split_subjects
    from mitwin.infarct import Infarct
    from mitwin.model.infer import prepare_qrs

    ids = [f"s{i}" for i in range(10)]
    return [
        Entry("Infarct", "python", lambda kw: Infarct(**kw),
              lambda: {"centre": (1.0, 0.5, 0.3), "radii": (0.5, 0.2, 0.1)},
              {"centre": _values((1, 2), "a", (math.nan, 0.5, 0.3), None, (1j, 0.5, 0.3)),
               "radii": _values((0, 0.2, 0.1), (-1, 0.2, 0.1), (math.inf, 0.2, 0.1), "r"),
               "scar_factor": bad_number(extra=(-0.1, 1.5)), "bz_factor": bad_number(extra=(-0.1, 1.5)),
               "name": _values(None, 1)}),
        Entry("prepare_qrs", "python", lambda kw: prepare_qrs(kw["qrs"], kw["length"]),
              lambda: {"qrs": base()["qrs"], "length": 512},
              {"qrs": bad_array("qrs", trailing_free=True)
               | _values("no-such-file.csv", np.full((8, 50), 3.5e38), np.zeros((8, 50)), np.ones((8, 10**4 + 1)),
                                                 np.ones((12, 100)), {"I": np.ones(50)})
               | any_signal((8, 60)),
               "length": bad_count()}),
        Entry("fit_length", "python", lambda kw: fit_length(kw["qrs"], kw["length"]),
              lambda: {"qrs": np.ones((8, 30)), "length": 64}, {"length": bad_count()}),
        Entry("split_subjects", "python", lambda kw: split_subjects(kw["ids"], kw["preset"], kw["seed"]),
              lambda: {"ids": ids, "preset": "paper", "seed": 0},
              {"ids": _values(ids[:2], ["a", "a", "b"], []), "preset": _values("random", (1, 1), (-1, 1, 1), (0, 0, 0),
                                                                                (math.nan, 1, 1), None)}),
        Entry("train-arguments", "python", _train_args,
              lambda: {"epochs": 1, "seed": 0, "device": "cpu", "preset": "tiny"},
              {"epochs": bad_count(big_ok=True), "seed": _values(-1, 1.5, "0", math.nan, 2**64),
               "device": _values("gpu", "cuda:99", "", "cpu:x", 3, "meta", "cuda:-1"),
               "preset": _values("huge", None, 1)}),
    ]


def _train_args(kw: dict[str, Any]) -> Any:
    """Training with one bad argument on a dataset that does not exist: the argument must be refused first."""
    from mitwin.model.train import train

    missing = Path(tempfile.gettempdir()) / "mitwin-fuzz-no-such-dataset.h5"
    try:
        return train(missing, Path(tempfile.mkdtemp()) / "run", progress=False, **kw)
    except FileNotFoundError:
        return None  # the argument was accepted (the missing dataset is the only error): silent for a bad value


ENTRIES: dict[str, Entry] = {}


def entries() -> dict[str, Entry]:
    if not ENTRIES:
        ENTRIES.update({e.name: e for e in _entries()})
    return ENTRIES


# ----------------------------------------------------------------------------------------------- running


def run_case(entry: Entry, param: str, value: Any, expect: str) -> str | None:
    """Run one case; returns the failure ("silent", "unclear: ...", "insane: ...") or None."""
    kw = entry.valid()
    kw[param] = value
    try:
        with warnings.catch_warnings():  # numeric warnings (overflow, invalid value) are findings; mitwin's own
            warnings.simplefilter("ignore")  # documented warnings (e.g. blocked tissue) are not
            warnings.simplefilter("error", RuntimeWarning)
            result = entry.call(kw)
    except TypeError as exc:
        if "unexpected keyword" in str(exc):  # Python's own convention for unknown keyword arguments
            return None
        return f"unclear: TypeError: {' '.join(str(exc).split())[:120]}"
    except ACCEPTED as exc:
        text = str(exc)
        if not text.strip() or "\n" in text.strip():
            return f"unclear: multi-line or empty {type(exc).__name__}"
        return None
    except Exception as exc:  # noqa: BLE001 - the point: anything but ValueError is a finding
        return f"unclear: {type(exc).__name__}: {' '.join(str(exc).split())[:120]}"
    if expect == "raise":
        return "silent"
    why = None if result is None else _sane(result) or (entry.check(result) if entry.check else None)
    return f"insane: {why}" if why else None


def fuzz(group: str, n_examples: int, log: Callable[[str], None] = lambda s: None) -> dict[str, Any]:
    """Run ``n_examples`` hypothesis examples per entry of ``group``; returns the counts and failures."""
    summary: dict[str, Any] = {"cases": 0, "failures": [], "per_entry": {}}
    for entry in entries().values():
        if entry.group == group:
            summary["per_entry"][entry.name] = _fuzz_entry(entry, n_examples, summary, log)
            summary["cases"] += summary["per_entry"][entry.name]
    return summary


def _fuzz_entry(entry: Entry, n_examples: int, summary: dict[str, Any], log: Callable[[str], None]) -> int:
    count = 0

    @settings(max_examples=n_examples, database=None, deadline=None, derandomize=True,
              suppress_health_check=list(HealthCheck))
    @given(data=st.data())
    def check(data: st.DataObject) -> None:
        nonlocal count
        param = data.draw(st.sampled_from(sorted(entry.bad)))
        value, expect = data.draw(entry.bad[param])
        desc = f"{entry.name}({param}={_short(value)}) expect={expect}"
        log(f"START {desc}")
        faulthandler.dump_traceback_later(CASE_SECONDS, exit=True)
        try:
            failure = run_case(entry, param, value, expect)
        finally:
            faulthandler.cancel_dump_traceback_later()
        count += 1
        if failure:
            summary["failures"].append(f"{desc}: {failure}")

    check()
    return count


def _short(value: Any) -> str:
    if isinstance(value, np.ndarray):
        return f"array{value.shape}:{value.dtype}"
    text = repr(value)
    return text if len(text) < 60 else text[:57] + "..."


def main(argv: list[str]) -> int:
    group, n = argv[0], int(argv[1])

    def log(line: str) -> None:
        print(line, flush=True)

    try:
        summary = fuzz(group, n, log)
    except Exception:  # noqa: BLE001
        traceback.print_exc()
        return 3
    print("SUMMARY " + json.dumps(summary), flush=True)
    return 0


if __name__ == "__main__":
    sys.path.insert(0, str(Path(__file__).parent))
    raise SystemExit(main(sys.argv[1:]))
