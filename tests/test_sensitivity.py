"""End-to-end sensitivity analysis on a small synthetic dataset written in the documented HDF5 layout."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pytest
from model_synthetic import write_header

from mitwin.analysis.biomarkers import LEADS
from mitwin.analysis.dtw import DEFAULT_PENALTY, dtw
from mitwin.analysis.sensitivity import describe_scenarios, run_sensitivity
from mitwin.ep.normalise import normalise_batch
from mitwin.errors import DatasetError

h5py = pytest.importorskip("h5py")

LOCATIONS = ("septal", "apical", "extensive_anterior", "limited_anterior", "lateral", "small_lateral", "inferior",
             "inferolateral")


def _scenarios(locations: tuple[str, ...] = LOCATIONS) -> dict[str, dict]:
    out = {}
    for k, loc in enumerate(locations):
        r_ab = 0.15 if loc == "small_lateral" else 0.3
        for ext, r_tm in (("subendocardial", 0.5), ("transmural", 3.0)):
            out[f"{loc}_{ext}"] = {"centre": [1.0, 0.5, k / 8], "radii": [r_tm, r_ab, r_ab],
                                   "bz_radii": [r_tm + 0.2, r_ab + 0.1, r_ab + 0.1], "scar_factor": 0.1,
                                   "bz_factor": 0.5}
    if "lateral_transmural" in out:
        out["lateral_transmural_slow_cv"] = dict(out["lateral_transmural"], scar_factor=0.05, bz_factor=0.25)
    return out


def amplitude_normalised(x: np.ndarray) -> np.ndarray:
    """(8, n) QRS: I, II by the mean of their two peaks, V1-V6 by the mean of their six peaks."""
    peaks = np.abs(x).max(axis=1)
    out = x.copy()
    out[:2] /= peaks[:2].mean()
    out[2:] /= peaks[2:].mean()
    return out


def _gauss(t: np.ndarray, mu: float, sigma: float) -> np.ndarray:
    return np.exp(-0.5 * ((t - mu) / sigma) ** 2)


def _qrs(n: int, lead: int, effect: float, shift: int, rng: np.random.Generator) -> np.ndarray:
    """A q-R-S complex of n samples whose R shrinks and S widens with the infarct effect."""
    t = np.arange(n, dtype=np.float64)
    r_amp = (0.3 + 0.25 * lead) * (1.0 - 0.6 * effect * ((lead + shift) % 3 == 0)) * (1 + 0.05 * rng.standard_normal())
    q = -0.1 * _gauss(t, 0.15 * n, 0.04 * n)
    r = r_amp * _gauss(t, 0.45 * n, 0.08 * n)
    s = -(0.5 - 0.05 * lead + 0.3 * effect) * _gauss(t, 0.72 * n, (0.07 + 0.03 * effect) * n)
    return 2.0 * (q + r + s)


def write_dataset(path: Path, n_subjects: int = 2, seed: int = 0, locations: tuple[str, ...] = LOCATIONS) -> Path:
    """A dataset following the documented layout: Gaussian QRS whose shape depends on the scenario."""
    rng = np.random.default_rng(seed)
    sc = _scenarios(locations)
    names = ["baseline", *sc]
    with h5py.File(path, "w") as fh:
        write_header(fh, sc, {})
        for i in range(n_subjects):
            g = fh.create_group(f"subjects/subject_{i:03d}")
            qrs = np.zeros((len(names), 8, 512), np.float32)
            lens = np.zeros(len(names), np.int32)
            for s, name in enumerate(names):
                effect = 0.0 if s == 0 else (1.0 if "transmural" in name else 0.4) * (0.5 if "small" in name else 1.0)
                n = 90 + i * 3 + int(round(25 * effect)) + (12 if "slow" in name else 0)
                lens[s] = n
                for lead in range(8):
                    qrs[s, lead, :n] = _qrs(n, lead, effect, s, rng)
            g["qrs"] = qrs
            g["qrs_length"] = lens
            g["qrs_duration"] = lens.astype(np.float32)
    return path


@pytest.fixture(scope="module")
def dataset(tmp_path_factory) -> Path:
    return write_dataset(tmp_path_factory.mktemp("data") / "dataset.h5")


@pytest.fixture(scope="module")
def analysis(dataset, tmp_path_factory) -> Path:
    return run_sensitivity(dataset, tmp_path_factory.mktemp("out") / "sens", progress=False, n_threads=2)


def _read(path: Path) -> list[dict]:
    with open(path, newline="") as fh:
        return list(csv.DictReader(fh))


@pytest.mark.slow
def test_outputs_exist(analysis):
    out = analysis.parent
    assert analysis.name == "report.md"
    for name in ("dtw_to_baseline.csv", "dtw_to_baseline_summary.csv", "dtw_pairs.csv", "dtw_pairs_max.csv",
                 "dtw_pairs_avg.csv", "biomarkers.csv", "biomarkers_summary.csv", "fig7a_dtw_to_baseline.png",
                 "fig7b_dtw_pairs.png", "fig8_qrs_overlay.png", "qrs_duration.png", "biomarker_prevalence.png"):
        p = out / name
        assert p.is_file() and p.stat().st_size > 0, name
    for png in out.glob("*.png"):
        assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    text = analysis.read_text()
    for fig in ("fig7a_dtw_to_baseline.png", "fig7b_dtw_pairs.png", "fig8_qrs_overlay.png"):
        assert f"({fig})" in text
    assert "Transmural > subendocardial" in text
    assert not list(out.glob(".*")), "temporary files left behind"


@pytest.mark.slow
def test_csv_numbers_equal_direct_dtw(analysis, dataset):
    rows = _read(analysis.parent / "dtw_to_baseline.csv")
    with h5py.File(dataset, "r") as fh:
        names = [n.decode() if isinstance(n, bytes) else n for n in fh.attrs["scenario_names"]]
        g = fh["subjects/subject_001"]
        qrs = g["qrs"][...].astype(np.float64)
        lens = g["qrs_length"][...]
    k = names.index("apical_transmural")
    base = amplitude_normalised(qrs[0, :, : lens[0]])
    expect = dtw(base, amplitude_normalised(qrs[k, :, : lens[k]]), band=32)
    row = next(r for r in rows if r["subject"] == "subject_001" and r["scenario"] == "apical_transmural")
    got = np.array([float(row[f"dtw_{ld}"]) for ld in LEADS])
    np.testing.assert_allclose(got, expect, rtol=1e-5)
    assert float(row["dtw_avg"]) == pytest.approx(expect.mean(), rel=1e-5)
    assert float(row["dtw_max"]) == pytest.approx(expect.max(), rel=1e-5)
    n, m = int(lens[0]), int(lens[k])
    assert float(row["duration_term"]) == pytest.approx(DEFAULT_PENALTY * (n - m) ** 2 / min(n, m), rel=1e-5)

    pairs = _read(analysis.parent / "dtw_pairs.csv")
    a, b = names.index("septal_subendocardial"), names.index("inferior_transmural")
    d = dtw(amplitude_normalised(qrs[a, :, : lens[a]]), amplitude_normalised(qrs[b, :, : lens[b]]), band=32)
    prow = next(r for r in pairs if r["subject"] == "subject_001" and r["scenario_a"] == names[a]
                and r["scenario_b"] == names[b])
    assert float(prow["dtw_max"]) == pytest.approx(d.max(), rel=1e-5)
    assert float(prow["dtw_avg"]) == pytest.approx(d.mean(), rel=1e-5)

    summary = _read(analysis.parent / "dtw_to_baseline_summary.csv")
    srow = next(r for r in summary if r["scenario"] == "apical_transmural")
    per_subj = [float(r["dtw_V1"]) for r in rows if r["scenario"] == "apical_transmural"]
    assert float(srow["dtw_V1_mean"]) == pytest.approx(np.mean(per_subj), rel=1e-5)
    assert float(srow["dtw_V1_sd"]) == pytest.approx(np.std(per_subj, ddof=1), rel=1e-4)
    assert srow["extent"] == "transmural" and srow["location"] == "apical"


@pytest.mark.slow
def test_biomarker_csv_durations_and_matrix_symmetry(analysis, dataset):
    rows = _read(analysis.parent / "biomarkers.csv")
    with h5py.File(dataset, "r") as fh:
        durs = fh["subjects/subject_000/qrs_duration"][...]
    got = [float(r["qrs_duration_ms"]) for r in rows if r["subject"] == "subject_000"]
    np.testing.assert_allclose(got, durs, rtol=1e-6)
    with open(analysis.parent / "dtw_pairs_avg.csv", newline="") as fh:
        m = np.array([[float(v) for v in r[1:]] for r in list(csv.reader(fh))[1:]])
    np.testing.assert_allclose(m, m.T, rtol=1e-12)
    np.testing.assert_allclose(np.diag(m), 0.0)


def test_describe_scenarios_from_parameters():
    infos = describe_scenarios(list(_scenarios()), json.dumps(_scenarios()))
    by = {s.name: s for s in infos}
    assert by["apical_transmural"].extent == "transmural" and by["apical_transmural"].location == "apical"
    assert by["septal_subendocardial"].extent == "subendocardial"
    slow = by["lateral_transmural_slow_cv"]
    assert slow.variant_of == "lateral_transmural" and slow.location == "lateral" and slow.extent == "transmural"
    from mitwin.analysis.report import _lateral_sizes

    sizes = _lateral_sizes(infos)
    assert infos[sizes["transmural"]["small"]].name == "small_lateral_transmural"
    assert infos[sizes["transmural"]["large"]].name == "lateral_transmural"
    assert sum(s.variant_of is not None for s in infos) == 1


def test_normalise_qrs_modes(rng):
    q = np.zeros((2, 8, 10))
    q[0, 3, 2] = -4.0
    q[1, 1, 1] = 2.0
    q[1, 1, 9] = 99.0  # past the valid length: zeroed
    norm = normalise_batch(q, [5, 5], "baseline")
    assert norm[0, 3, 2] == -1.0 and norm[1, 1, 1] == 0.5 and norm[1, 1, 9] == 0.0
    x = rng.normal(size=(3, 8, 20))
    got = normalise_batch(x, [20, 20, 20], "amplitude")
    for s in range(3):
        np.testing.assert_allclose(got[s], amplitude_normalised(x[s]), rtol=1e-13)
    np.testing.assert_allclose(normalise_batch(x, [20] * 3, "lead"), x / np.abs(x).max(axis=2, keepdims=True))
    np.testing.assert_array_equal(normalise_batch(x, [20] * 3, None), x)
    with pytest.raises(ValueError, match="lengths"):
        normalise_batch(q, [0, 5])
    with pytest.raises(ValueError, match="reference"):
        normalise_batch(np.zeros((2, 8, 10)), [5, 5], "baseline")
    with pytest.raises(ValueError, match="mode"):
        normalise_batch(q, [5, 5], "zscore")
    with pytest.raises(ValueError, match="qrs"):
        normalise_batch(np.zeros((2, 12, 10)), [5, 5])


def test_bad_dataset_raises(tmp_path):
    with pytest.raises(FileNotFoundError):
        run_sensitivity(tmp_path / "nope.h5", tmp_path / "o", progress=False)
    bad = tmp_path / "bad.h5"
    with h5py.File(bad, "w") as fh:
        fh.attrs["format"] = "something-else"
    with pytest.raises(DatasetError, match="format"):
        run_sensitivity(bad, tmp_path / "o", progress=False)
    p = write_dataset(tmp_path / "d.h5", n_subjects=1)
    with pytest.raises(ValueError, match="cohort"):
        run_sensitivity(p, tmp_path / "o", apical_sizes=True, progress=False)
    with h5py.File(p, "a") as fh:
        fh["subjects/subject_000/qrs_length"][0] = 600
    with pytest.raises(DatasetError, match="qrs_length"):
        run_sensitivity(p, tmp_path / "o", progress=False)
    with h5py.File(p, "a") as fh:
        fh["subjects/subject_000/qrs_length"][0] = 90
        del fh["subjects/subject_000/qrs"]
    with pytest.raises(DatasetError, match="no complete subjects"):
        run_sensitivity(p, tmp_path / "o", progress=False)


def test_describe_scenarios_from_names_only():
    """Without parameters only the paper's names resolve (to the paper's records); names are never parsed."""
    infos = describe_scenarios(["septal_transmural", "small_lateral_subendocardial", "lateral_transmural",
                                "lateral_transmural_slow_cv"])
    assert [s.extent for s in infos] == ["transmural", "subendocardial", "transmural", "transmural"]
    assert [s.location for s in infos] == ["septal", "lateral", "lateral", "lateral"]
    assert [s.size for s in infos] == [1.0, 0.5, 1.0, 1.0]
    assert [s.variant_of for s in infos] == [None, None, None, "lateral_transmural"]
    with pytest.raises(DatasetError, match="septal_transmu"):
        describe_scenarios(["septal_transmu"])


def test_describe_scenarios_reads_record_fields_not_names():
    """Records written with fields are read as written, whatever the names say; without fields, unknown."""
    inf = {"centre": [1.0, 0.4, 0.2], "radii": [3.0, 0.2, 0.1]}
    recorded = {"x1": dict(inf, location="inferior", extent="transmural", size=1.0, variant_of=None),
                "x2": dict(inf, scar_factor=0.05, bz_factor=0.25, location="inferior", extent="transmural",
                           size=1.0, variant_of="x1"),
                "apical_transmural": dict(inf, location="septal", extent="subendocardial", variant_of=None),
                "lateral_transmural_slow_cv": dict(inf, radii=[0.5, 0.2, 0.1]),
                "user_slow_scar": dict(inf, radii=[0.4, 0.3, 0.3], scar_factor=0.05)}
    infos = describe_scenarios(list(recorded), json.dumps(recorded))
    by = {s.name: s for s in infos}
    assert (by["x1"].location, by["x1"].extent, by["x1"].variant_of) == ("inferior", "transmural", None)
    assert by["x2"].variant_of == "x1" and by["x2"].tissue == "paper_slow"
    assert (by["apical_transmural"].location, by["apical_transmural"].extent) == ("septal", "subendocardial")
    # a user scenario without fields: location and extent unknown, and not a variant (no twin geometry)
    assert (by["user_slow_scar"].location, by["user_slow_scar"].extent) == (None, None)
    assert by["user_slow_scar"].variant_of is None and by["user_slow_scar"].label == "user_slow_scar"
    # an old entry with a paper name gets the paper's fields (the documented fallback)
    assert by["lateral_transmural_slow_cv"].location == "lateral"


def test_analyse_subject_consistent_and_independent_of_scale():
    from mitwin.analysis.sensitivity import analyse_subject

    t = np.arange(120.0)
    qrs = np.zeros((4, 8, 150))
    lens = np.array([100, 110, 95, 120])
    for s, n in enumerate(lens):
        for k in range(8):
            qrs[s, k, :n] = (k + 1 + s) * np.exp(-0.5 * ((t[:n] - 0.45 * n) / 8) ** 2) - 0.5 * np.exp(
                -0.5 * ((t[:n] - 0.75 * n) / 6) ** 2)
    res = analyse_subject("s", qrs, lens, band=10, n_threads=1)
    np.testing.assert_allclose(res.to_baseline, res.pairs[0, 1:], rtol=1e-13)
    scaled = analyse_subject("s", 7.5 * qrs, lens, band=10, n_threads=1)
    np.testing.assert_allclose(scaled.pairs, res.pairs, rtol=1e-12)
    # Without durations: the ECG module's definition on each valid window; given: passed through.
    from mitwin.ep.ecg import qrs_duration

    expect = [qrs_duration(qrs[s, :, :n], 1.0) for s, n in enumerate(lens)]
    assert [r["qrs_duration_ms"] for r in res.biomarkers] == pytest.approx(expect)
    given = analyse_subject("s", qrs, lens, [90.0, 91.0, 92.0, 93.0], band=10, n_threads=1)
    assert [r["qrs_duration_ms"] for r in given.biomarkers] == [90.0, 91.0, 92.0, 93.0]


def test_describe_scenarios_from_a_list_and_bad_json():
    lst = [dict(v, name=k) for k, v in _scenarios(("septal",)).items()]
    infos = describe_scenarios([d["name"] for d in lst], json.dumps(lst))
    assert [s.extent for s in infos] == ["subendocardial", "transmural"]
    with pytest.raises(DatasetError, match="scenarios_json"):
        describe_scenarios(["a"], "{not json")


# --------------------------------------------------------------------------- apical-size experiment
@pytest.mark.slow
def test_apical_sizes_with_the_forward_model(tmp_path):
    """Real cohort mesh and forward model: r_ab = 0.4 is the paper's apical transmural scenario itself."""
    from mitwin.analysis.sensitivity import apical_size_experiment
    from mitwin.anatomy.cohort import make_cohort
    from mitwin.anatomy.heart import Heart
    from mitwin.ep.forward import simulate
    from mitwin.infarct import SCENARIOS

    paths = make_cohort(1, seed=3, out=tmp_path / "cohort", resolution_mm=5.0)
    rows = apical_size_experiment(tmp_path / "cohort", ["subject_000"], (0.4, 0.05), n_threads=1)
    assert [r["r_ab"] for r in rows] == [0.4, 0.05]
    heart = Heart.load(paths[0])
    base = simulate(heart, None).qrs.signals
    apical = simulate(heart, SCENARIOS["apical_transmural"]).qrs.signals
    expect = dtw(amplitude_normalised(base), amplitude_normalised(apical), band=32)
    assert rows[0]["dtw_avg"] == pytest.approx(expect.mean(), rel=1e-9)
    assert rows[0]["dtw_avg"] > rows[1]["dtw_avg"]


@pytest.mark.slow
def test_blocked_tissue_dataset_with_opaque_names(tmp_path):
    """A dataset whose scenario names say nothing: the analysis groups by the records and reports the tissue."""
    from dataclasses import replace

    from mitwin.infarct import ScenarioSet, paper_scenarios

    paper = paper_scenarios("blocked")
    new = {name: f"s{k:02d}" for k, name in enumerate(paper)}
    recs = ScenarioSet([replace(r, name=new[r.name], infarct=replace(r.infarct, name=new[r.name]),
                                variant_of=new.get(r.variant_of or "")) for r in paper.records])
    rng = np.random.default_rng(5)
    names = ["baseline", *recs]
    path = tmp_path / "blocked.h5"
    with h5py.File(path, "w") as fh:
        write_header(fh, recs.to_dict(), {"tissue": "blocked"})
        for i in range(2):
            g = fh.create_group(f"subjects/subject_{i:03d}")
            qrs = np.zeros((len(names), 8, 512), np.float32)
            lens = np.zeros(len(names), np.int32)
            for s, r in enumerate([None, *recs.records]):
                effect = 0.0 if r is None else (1.0 if r.extent == "transmural" else 0.4) * (r.size or 1.0)
                n = 90 + i * 3 + int(round(25 * effect)) + (12 if r is not None and r.variant_of else 0)
                lens[s] = n
                for lead in range(8):
                    qrs[s, lead, :n] = _qrs(n, lead, effect, s, rng)
            g["qrs"], g["qrs_length"], g["qrs_duration"] = qrs, lens, lens.astype(np.float32)
    report = run_sensitivity(path, tmp_path / "out", progress=False, n_threads=1).read_text()
    assert "tissue `blocked`" in report
    assert "Slow CV lengthens QRS (lateral, blocked_slow tissue, ms)" in report
    summary = {r["scenario"]: r for r in _read(tmp_path / "out" / "dtw_to_baseline_summary.csv")}
    for old, opaque in new.items():
        rec = paper.record(old)
        assert (summary[opaque]["location"], summary[opaque]["extent"]) == (rec.location, rec.extent)
        assert summary[opaque]["tissue"] == rec.tissue and summary[opaque]["slow_cv"] == str(int(bool(rec.variant_of)))
    section = report.split("## Transmural vs subendocardial, per location")[1].split("##")[0]
    assert section.count("\n| ") - 1 == 8  # 7 locations and the small lateral infarct (header row excluded)
