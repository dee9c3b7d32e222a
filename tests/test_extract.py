"""extract_qrs: synthetic beats (Gaussian waves, known onset, offset and rate), the PTB-XL normals, the CLI."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from scipy import signal

from mitwin.cli import main
from mitwin.ep.ecg import ECG, LEADS
from mitwin.ep.extract import QRSExtraction, extract_qrs, extract_qrs_report
from mitwin.ep.records import ECGRecordError, MissingLeadError, read_ecg

DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "ecg"
RECORDS = ("HR06004", "HR06005", "HR06006")
needs_data = pytest.mark.skipif(not (DATA / "HR06004.hea").is_file(),
                                reason=f"the PTB-XL records are not in {DATA}")

# ------------------------------------------------------------------------------------------ synthetic ECG
#: per lead: amplitudes (mV) of the Q, R, S, P and T waves
AMPLITUDES = {"I": (-0.05, 0.6, -0.1, 0.08, 0.2), "II": (-0.1, 1.0, -0.2, 0.12, 0.3),
              "V1": (0.0, 0.25, -1.0, 0.05, -0.1), "V2": (0.0, 0.5, -1.3, 0.06, 0.4),
              "V3": (-0.05, 0.9, -0.8, 0.06, 0.5), "V4": (-0.1, 1.4, -0.5, 0.06, 0.5),
              "V5": (-0.12, 1.3, -0.3, 0.06, 0.4), "V6": (-0.1, 1.0, -0.15, 0.05, 0.3)}
QRS_WAVES = ((-22.0, 5.0), (0.0, 9.0), (24.0, 6.0))  # (centre ms from R, sd ms) of Q, R, S
P_WAVE, T_WAVE = (-170.0, 15.0), (260.0, 45.0)


def _gauss(t: np.ndarray, centre: float, sd: float) -> np.ndarray:
    return np.exp(-0.5 * ((t - centre) / sd) ** 2)


def clean_qrs(t_from_r: np.ndarray) -> np.ndarray:
    """(8, T) the noise-free QRS waves (Q + R + S, no P or T) at times relative to R, ms."""
    return np.stack([sum(a * _gauss(t_from_r, c, sd) for a, (c, sd) in zip(AMPLITUDES[name][:3], QRS_WAVES))
                     for name in LEADS])


def true_bounds(fraction: float = 0.02) -> tuple[float, float]:
    """Onset / offset (ms from R): the first / last time any lead's QRS exceeds ``fraction`` of its QRS peak."""
    t = np.arange(-150.0, 150.0, 0.1)
    q = np.abs(clean_qrs(t))
    active = np.any(q > fraction * q.max(axis=1, keepdims=True), axis=0)
    return float(t[active][0]), float(t[active][-1])


def synthetic_record(fs: float = 500.0, hr: float = 72.0, seconds: float = 10.0, *, seed: int = 0,
                     wander_mv: float = 0.3, noise_mv: float = 0.02, hum_mv: float = 0.0, ectopic: int | None = None):
    """(8, T) P-QRS-T beats at a fixed rate + baseline wander + white noise + 60 Hz mains hum; returns (signals,
    R times ms)."""
    rng = np.random.default_rng(seed)
    t = np.arange(0.0, seconds * 1000.0, 1000.0 / fs)
    r_times = np.arange(400.0, t[-1] - 400.0, 60000.0 / hr)
    x = np.zeros((len(LEADS), t.size))
    for k, r in enumerate(r_times):
        if k == ectopic:  # a wide, inverted ventricular beat without P wave
            x += -np.array([AMPLITUDES[name][1] for name in LEADS])[:, None] * _gauss(t, r, 30.0)
            continue
        x += clean_qrs(t - r)
        for j, wave in ((3, P_WAVE), (4, T_WAVE)):
            x += np.array([AMPLITUDES[name][j] for name in LEADS])[:, None] * _gauss(t - r, *wave)
    x += wander_mv * np.sin(2 * np.pi * 0.25 * t / 1000.0 + rng.uniform(0, 6)) * rng.uniform(0.5, 1.0, (8, 1))
    x += noise_mv * rng.standard_normal(x.shape) + hum_mv * np.sin(2 * np.pi * 60.0 * t / 1000.0)
    return x, r_times


def _best_lag_fit(a: np.ndarray, b: np.ndarray, max_lag: int = 10) -> tuple[int, float, float]:
    """The lag (samples) that best correlates ``a`` with ``b``, the correlation, and the least-squares gain a ~ g b."""
    best = (0, -1.0, 0.0)
    for lag in range(-max_lag, max_lag + 1):
        x, y = (a[lag:], b[: b.size - lag]) if lag >= 0 else (a[:lag], b[-lag:])
        r = float(np.corrcoef(x, y)[0, 1])
        if r > best[1]:
            best = (lag, r, float(x @ y / (y @ y)))
    return best


@pytest.mark.parametrize(("fs", "hr", "seed", "noise_mv", "hum_mv"),
                         [(500.0, 72.0, 0, 0.02, 0.0), (250.0, 60.0, 1, 0.02, 0.0), (1000.0, 95.0, 2, 0.02, 0.0),
                          (360.0, 110.0, 3, 0.02, 0.0), (250.0, 150.0, 8, 0.02, 0.05), (500.0, 45.0, 9, 0.1, 0.05)])
def test_synthetic_beats_rate_bounds_and_shape(fs, hr, seed, noise_mv, hum_mv):
    x, r_times = synthetic_record(fs, hr, seed=seed, noise_mv=noise_mv, hum_mv=hum_mv)
    result = extract_qrs_report(read_ecg(x, fs=fs, leads=LEADS))
    assert isinstance(result, QRSExtraction)
    assert result.heart_rate_bpm == pytest.approx(hr, abs=0.5)
    on, off = true_bounds()
    assert abs(result.onset_ms - on) <= 10.0 and abs(result.offset_ms - off) <= 10.0, (result.summary(), on, off)
    assert abs(result.qrs_duration_ms - (off - on)) <= 10.0
    qrs = result.qrs
    assert qrs.leads == LEADS and qrs.dt == 1.0 and qrs.t0 == 0.0 and qrs.n_samples == result.qrs_duration_ms + 1
    assert result.n_beats == r_times.size and result.n_beats_used >= result.n_beats - 2  # all but the edge beats
    # the extracted QRS has the shape and size of the clean one (the R fiducial may sit a few ms off R's centre)
    truth = clean_qrs(result.onset_ms + qrs.t)
    min_r = 0.98 if noise_mv <= 0.02 and hum_mv == 0 else 0.95  # 0.1 mV noise + hum left in a median of 5 beats
    for k, name in enumerate(LEADS):
        lag, r, gain = _best_lag_fit(qrs.signals[k], truth[k])
        assert abs(lag) <= 3 and r >= min_r and 0.9 <= gain <= 1.1, (name, lag, r, gain)


def test_ectopic_beat_is_rejected():
    x, r_times = synthetic_record(500.0, 75.0, seed=4, ectopic=5)
    result = extract_qrs_report(read_ecg(x, fs=500.0, leads=LEADS))
    nearest = np.abs(result.r_peaks_ms[:, None] - r_times[None]).argmin(axis=1)
    assert np.any(nearest == 5) and not np.any(result.used[nearest == 5])
    assert result.n_beats_used >= result.n_beats - 3  # the ectopic one and at most the two edge beats
    on, off = true_bounds()
    assert abs(result.onset_ms - on) <= 10.0 and abs(result.offset_ms - off) <= 10.0


def test_missing_limb_lead_is_derived():
    x, _ = synthetic_record(500.0, 80.0, seed=5)
    full = extract_qrs(read_ecg(x, fs=500.0, leads=LEADS))
    iii = x[1] - x[0]  # Einthoven
    partial = read_ecg(np.vstack([x[1], iii, x[2:]]), fs=500.0, leads=("II", "III", *LEADS[2:]))
    result = extract_qrs_report(partial)
    assert result.derived_leads == ("I",)
    np.testing.assert_allclose(result.qrs.signals, full.signals, atol=1e-9)


def test_missing_precordial_lead_and_short_or_bad_input():
    x, _ = synthetic_record(500.0, 70.0, seed=6)
    no_v3 = read_ecg(np.delete(x, 4, axis=0), fs=500.0, leads=[n for n in LEADS if n != "V3"])
    with pytest.raises(MissingLeadError, match="lead V3"):
        extract_qrs(no_v3)
    one_beat = read_ecg(x[:, :650], fs=500.0, leads=LEADS, min_duration_ms=1000.0)  # 1.3 s: one R peak
    with pytest.raises(ECGRecordError, match="at least two beats"):
        extract_qrs(one_beat)
    ecg = read_ecg(x, fs=500.0, leads=LEADS)
    for kwargs, match in (({"method": "wavelet"}, "method: expected one of"),
                          ({"min_correlation": 0.0}, "min_correlation"),
                          ({"envelope_fraction": 1.5}, "envelope_fraction"),
                          ({"tolerance_ms": -1.0}, "tolerance_ms"),
                          ({"delineation_lead": "aVF"}, "delineation_lead"),
                          ({"cross_check": "yes"}, "cross_check")):
        with pytest.raises(ValueError, match=match):
            extract_qrs(ecg, **kwargs)


# ------------------------------------------------------------------------------------------ real records
def _independent_heart_rate(record: str) -> float:
    """60 / median RR from wfdb's lead II: scipy high-pass and peak picking, no neurokit2, no mitwin."""
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)  # wfdb's import calls pandas in a deprecated way
        import wfdb

        rec = wfdb.rdrecord(str(DATA / record))
    lead = rec.p_signal[:, rec.sig_name.index("II")]
    sos = signal.butter(2, 5.0, btype="highpass", fs=rec.fs, output="sos")
    x = np.abs(signal.sosfiltfilt(sos, lead))
    peaks, _ = signal.find_peaks(x, height=0.5 * x.max(), distance=int(0.3 * rec.fs))
    return 60.0 * rec.fs / float(np.median(np.diff(peaks)))


@needs_data
@pytest.mark.parametrize("record", RECORDS)
def test_real_records(record):
    result = extract_qrs_report(DATA / record)
    assert 70.0 <= result.qrs_duration_ms <= 110.0, result.summary()
    assert result.heart_rate_bpm == pytest.approx(_independent_heart_rate(record), abs=1.0)
    assert result.n_beats_used >= result.n_beats - 2 >= 9
    assert {result.onset_rule, result.offset_rule} <= {"neurokit2", "envelope"}
    assert result.onset_ms == result.candidates[result.onset_rule][0]
    assert result.offset_ms == result.candidates[result.offset_rule][1]
    # the QRS holds each lead's largest deflection of the representative beat, and starts at its PR level
    rep = result.representative
    i_on = round(result.onset_ms - result.beat_t[0])
    for k, name in enumerate(LEADS):
        peak = int(np.argmax(np.abs(rep[k] - rep[k, i_on])))
        assert result.onset_ms <= result.beat_t[peak] <= result.offset_ms, name
    assert np.max(np.abs(result.qrs.signals[:, 0])) < 0.1


@needs_data
def test_neurokit2_decides_when_asked():
    default = extract_qrs_report(DATA / "HR06005")
    assert default.onset_rule == default.offset_rule == "envelope"
    asked = extract_qrs_report(DATA / "HR06005", method="neurokit2")
    assert asked.onset_rule == asked.offset_rule == "neurokit2"
    assert (asked.onset_ms, asked.offset_ms) == asked.candidates["neurokit2"] == default.candidates["neurokit2"]
    assert asked.candidates["envelope"] == default.candidates["envelope"]


def test_without_cross_check_the_envelope_result_is_unchanged():
    x, _ = synthetic_record(500.0, 80.0, seed=11)
    ecg = read_ecg(x, fs=500.0, leads=LEADS)
    full, quick = extract_qrs_report(ecg), extract_qrs_report(ecg, cross_check=False)
    np.testing.assert_array_equal(quick.qrs.signals, full.qrs.signals)
    assert np.all(np.isnan(quick.candidates["neurokit2"])) and np.all(np.isfinite(full.candidates["neurokit2"]))
    assert "cross-check" not in quick.summary() and "cross-check neurokit2" in full.summary()


@pytest.mark.parametrize(("fs", "hr", "seed"), [(500.0, 72.0, 0), (1000.0, 95.0, 2)])
def test_neurokit2_cross_check_on_known_beats(fs, hr, seed):
    """neurokit2's wavelet bounds (the cross-check) lie within 10 ms of the true ones where it finds them."""
    x, _ = synthetic_record(fs, hr, seed=seed)
    on, off = extract_qrs_report(read_ecg(x, fs=fs, leads=LEADS)).candidates["neurokit2"]
    true_on, true_off = true_bounds()
    assert abs(on - true_on) <= 10.0 and abs(off - true_off) <= 10.0


# ------------------------------------------------------------------------------------------ command line
@needs_data
def test_cli_ecg_writes_qrs_figure_and_numbers(tmp_path, capsys):
    out = tmp_path / "out"
    assert main(["ecg", str(DATA / "HR06004.hea"), "--out", str(out)]) == 0
    assert "heart rate" in capsys.readouterr().out
    expected = extract_qrs_report(DATA / "HR06004")
    qrs = ECG.from_csv(out / "qrs.csv")
    assert qrs.leads == LEADS and qrs.dt == 1.0
    np.testing.assert_allclose(qrs.signals, expected.qrs.signals, atol=1e-8)
    numbers = json.loads((out / "extraction.json").read_text())
    assert numbers["qrs_duration_ms"] == expected.qrs_duration_ms
    assert numbers["heart_rate_bpm"] == pytest.approx(expected.heart_rate_bpm)
    png = (out / "beats.png").read_bytes()
    assert png[:8] == b"\x89PNG\r\n\x1a\n" and len(png) > 20_000


def test_cli_ecg_on_a_csv_and_a_bad_record(tmp_path, capsys):
    x, _ = synthetic_record(250.0, 66.0, seed=7)
    path = tmp_path / "rec.csv"
    path.write_text(",".join(LEADS) + "\n" + "\n".join(",".join(f"{v:.6f}" for v in row) for row in x.T) + "\n")
    assert main(["ecg", str(path), "--fs", "250", "--out", str(tmp_path / "o"), "--method", "envelope"]) == 0
    assert ECG.from_csv(tmp_path / "o" / "qrs.csv").leads == LEADS
    assert main(["ecg", str(path), "--out", str(tmp_path / "p")]) == 2  # no time column, no --fs
    assert "fs: expected the sampling rate" in capsys.readouterr().err


@needs_data
@pytest.mark.slow
def test_cli_infer_with_ecg_equals_infer_with_its_qrs(tmp_path):
    pytest.importorskip("torch")
    import meshio

    from mitwin.anatomy.aha import aha_segments
    from mitwin.anatomy.heart import Heart
    from mitwin.anatomy.mesh_io import boundary_faces
    from mitwin.anatomy.synthetic import box_mesh
    from mitwin.model.checkpoints import save_checkpoint
    from mitwin.model.dualvae import build_model
    from mitwin.model.presets import get_preset

    run = tmp_path / "run"  # a run of the tiny preset with an untrained model's weights
    run.mkdir()
    preset = get_preset("tiny")
    info = {"format": "mitwin-run", "preset": preset.to_dict(), "dataset": "none.h5", "seed": 0,
            "split": {"train": ["a"], "val": ["b"], "test": ["c"]}, "scenarios": ["x"]}
    (run / "run.json").write_text(json.dumps(info))
    save_checkpoint({"model": build_model(preset.model).state_dict(), "epoch": 1, "val_dice": 0.1}, run / "best.pt")
    # a 40 x 30 x 20 mm block posing as a heart (as in test_pointcloud): LV endo on x = 0, RV endo on x = 40
    points, tets = box_mesh((40.0, 30.0, 20.0), 2.5)
    faces = boundary_faces(tets)
    c = points[faces].mean(axis=1)
    patch = (c[:, 1] > 4) & (c[:, 1] < 26) & (c[:, 2] > 4) & (c[:, 2] < 16)
    surfaces = {"lv_endo": faces[(c[:, 0] < 1e-9) & patch], "rv_endo": faces[(c[:, 0] > 40 - 1e-9) & patch],
                "epi": faces[(c[:, 1] < 1e-9) | (c[:, 1] > 30 - 1e-9) | (c[:, 2] < 1e-9)],
                "base": faces[c[:, 2] > 20 - 1e-9]}
    n = points.shape[0]
    tm, ab, rt = 1 - points[:, 1] / 30, points[:, 2] / 20, (points[:, 0] / 40) % 1.0
    tv = (points[:, 0] > 20).astype(float)
    electrodes = {k: np.array([100.0 + 10 * i, 50.0 * (i % 2), 30.0 * (i % 3)])
                  for i, k in enumerate(("RA", "LA", "LL", "V1", "V2", "V3", "V4", "V5", "V6"))}
    heart = Heart(points=points, tets=tets, surfaces={k: np.unique(v) for k, v in surfaces.items()},
                  tm=tm, ab=ab, rt=rt, tv=tv, fibres=np.tile([1.0, 0, 0], (n, 1)),
                  sheets=np.tile([0, 1.0, 0], (n, 1)), normals=np.tile([0, 0, 1.0], (n, 1)),
                  aha=aha_segments(ab, rt, tv), electrodes=electrodes)
    h = heart.save(tmp_path / "h.vtu")
    record = str(DATA / "HR06006")
    assert main(["ecg", record, "--out", str(tmp_path / "e")]) == 0
    assert main(["infer", str(run), "--heart", str(h), "--ecg", record, "--out", str(tmp_path / "a.vtu")]) == 0
    assert main(["infer", str(run), "--heart", str(h), "--qrs", str(tmp_path / "e" / "qrs.csv"),
                 "--out", str(tmp_path / "b.vtu")]) == 0
    a, b = meshio.read(tmp_path / "a.vtu"), meshio.read(tmp_path / "b.vtu")
    np.testing.assert_array_equal(a.point_data["infarct_label"], b.point_data["infarct_label"])
    np.testing.assert_allclose(a.point_data["p_scar"], b.point_data["p_scar"], atol=1e-5)
