"""read_ecg: WFDB, CSV and arrays in mV with standard lead names, checked against the raw file and known signals."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import scipy.io

from mitwin.ep.ecg import ECG
from mitwin.ep.records import STANDARD_LEADS, ECGRecordError, MissingLeadError, derive_leads, lead_name, read_ecg

DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "ecg"
RECORDS = ("HR06004", "HR06005", "HR06006")
needs_data = pytest.mark.skipif(not (DATA / "HR06004.hea").is_file(),
                                reason=f"the PTB-XL records are not in {DATA}")


def _raw_mat(record: str) -> tuple[np.ndarray, list[str], float, list[float], list[int]]:
    """The digital samples of a .mat record and its header fields, parsed without wfdb."""
    lines = (DATA / f"{record}.hea").read_text().splitlines()
    n_sig, fs = int(lines[0].split()[1]), float(lines[0].split()[2])
    gains, baselines, names = [], [], []
    for line in lines[1 : 1 + n_sig]:
        fields = line.split()
        gain_text = fields[2].split("/")[0]
        gains.append(float(gain_text.split("(")[0]))
        baselines.append(int(gain_text.split("(")[1].rstrip(")")) if "(" in gain_text else 0)
        names.append(fields[-1])
    return scipy.io.loadmat(DATA / f"{record}.mat")["val"].astype(float), names, fs, gains, baselines


def _beats(fs: float = 500.0, seconds: float = 4.0) -> np.ndarray:
    """(3, T) a smooth periodic signal: Gaussian 'R waves' every 800 ms, small noise, for leads I, II, V1."""
    t = np.arange(0.0, seconds, 1.0 / fs)
    r = np.exp(-0.5 * (((t % 0.8) - 0.4) / 0.01) ** 2)
    noise = 0.005 * np.random.default_rng(0).standard_normal((3, t.size))
    return np.stack([0.6 * r, 1.0 * r, -0.8 * r]) + noise


# ------------------------------------------------------------------------------------------ WFDB
@needs_data
@pytest.mark.parametrize("record", RECORDS)
def test_wfdb_mat_matches_the_raw_samples(record):
    raw, names, fs, gains, baselines = _raw_mat(record)
    ecg = read_ecg(DATA / record)
    assert ecg.leads == STANDARD_LEADS == tuple(names)
    assert ecg.dt == pytest.approx(1000.0 / fs) and ecg.n_samples == raw.shape[1] and ecg.t0 == 0.0
    expected = (raw - np.array(baselines)[:, None]) / np.array(gains)[:, None]  # header units are mV
    np.testing.assert_allclose(ecg.signals, expected, atol=1e-12)


@needs_data
def test_wfdb_path_forms_agree():
    base = read_ecg(DATA / "HR06005")
    for form in (DATA / "HR06005.hea", DATA / "HR06005.mat", str(DATA / "HR06005")):
        np.testing.assert_array_equal(read_ecg(form).signals, base.signals)


@pytest.mark.filterwarnings("ignore::DeprecationWarning")  # wfdb's writer calls pandas in a deprecated way
def test_wfdb_dat_in_microvolts_is_read_in_millivolts(tmp_path):
    wfdb = pytest.importorskip("wfdb")
    sig = _beats(fs=250.0)  # mV
    names = ["lead I", "MLII", "v1"]
    wfdb.wrsamp("rec", fs=250, units=["uV"] * 3, sig_name=names, p_signal=sig.T * 1000.0, fmt=["16"] * 3,
                adc_gain=[10.0] * 3, baseline=[0] * 3, write_dir=str(tmp_path))
    ecg = read_ecg(tmp_path / "rec.dat")
    assert ecg.leads == ("I", "II", "V1") and ecg.dt == 4.0
    np.testing.assert_allclose(ecg.signals, sig, atol=0.051e-3)  # 16-bit at 10 units per uV: 0.05 uV steps


@needs_data
def test_leads_selected_and_derived_match_the_recorded_ones(tmp_path):
    full = read_ecg(DATA / "HR06004")
    eight = read_ecg(DATA / "HR06004", leads=("I", "II", "V1", "V2", "V3", "V4", "V5", "V6"))
    assert eight.leads == ("I", "II", "V1", "V2", "V3", "V4", "V5", "V6")
    np.testing.assert_array_equal(eight.lead("V3"), full.lead("V3"))
    # drop I, aVL and aVR; derive them from II and III and compare with the recorded ones
    keep = [k for k, name in enumerate(full.leads) if name not in ("I", "aVL", "aVR")]
    partial = ECG(full.signals[keep], full.dt, tuple(full.leads[k] for k in keep))
    derived = derive_leads(partial, ("I", "aVL", "aVR", "V2"))
    for name in ("I", "aVL", "aVR"):
        np.testing.assert_allclose(derived.lead(name), full.lead(name), atol=0.0051)  # leads rounded to 1 uV each
    with pytest.raises(MissingLeadError, match="V7"):
        read_ecg(DATA / "HR06004", leads=("I", "V7"))


def test_lead_names():
    assert [lead_name(x) for x in ("I", "lead II", "iii", "AVR", "aVl", "ECG_aVF", "V6", "D2", "Pleth")] == [
        "I", "II", "III", "aVR", "aVL", "aVF", "V6", "II", None]


# ------------------------------------------------------------------------------------------ CSV
def _write_csv(path: Path, header: list[str], table: np.ndarray, sep: str = ",") -> Path:
    path.write_text(sep.join(header) + "\n" + "\n".join(sep.join(f"{v:.9g}" for v in row) for row in table) + "\n")
    return path


def test_csv_with_time_column_in_ms_and_in_s(tmp_path):
    sig = _beats(fs=500.0)
    t_ms = np.arange(sig.shape[1]) * 2.0
    a = read_ecg(_write_csv(tmp_path / "a.csv", ["t_ms", "I", "II", "V1"], np.column_stack([t_ms, sig.T])))
    b = read_ecg(_write_csv(tmp_path / "b.csv", ["time_s", "lead_i", "Lead II", "v1"],
                            np.column_stack([t_ms / 1000.0, sig.T]), sep=";"))
    for ecg in (a, b):
        assert ecg.leads == ("I", "II", "V1") and ecg.dt == pytest.approx(2.0)
        np.testing.assert_allclose(ecg.signals, sig, atol=1e-8)


def test_csv_without_time_column_needs_fs(tmp_path):
    sig = _beats(fs=250.0)
    path = _write_csv(tmp_path / "c.csv", ["II", "I", "V1"], sig[[1, 0, 2]].T)
    ecg = read_ecg(path, fs=250)
    assert ecg.leads == ("I", "II", "V1") and ecg.dt == 4.0  # standard order
    np.testing.assert_allclose(ecg.signals, sig, atol=1e-8)
    with pytest.raises(ECGRecordError, match="fs: expected the sampling rate"):
        read_ecg(path)
    t_ms = np.arange(sig.shape[1]) * 4.0
    timed = _write_csv(tmp_path / "d.csv", ["t", "I", "II", "V1"], np.column_stack([t_ms, sig.T]))
    with pytest.raises(ECGRecordError, match="disagrees"):
        read_ecg(timed, fs=500)


def test_csv_in_microvolts(tmp_path):
    sig = _beats()
    path = _write_csv(tmp_path / "u.csv", ["I", "II", "V1"], sig.T * 1000.0)
    np.testing.assert_allclose(read_ecg(path, fs=500, units="uV").signals, sig, atol=1e-9)


# ------------------------------------------------------------------------------------------ arrays
def test_array_input_and_its_errors():
    sig = _beats()
    ecg = read_ecg(sig, fs=500, leads=("i", "II", "V1"))
    assert ecg.leads == ("I", "II", "V1") and ecg.dt == 2.0
    np.testing.assert_array_equal(ecg.signals, sig)
    with pytest.raises(ValueError, match="fs: expected"):
        read_ecg(sig, leads=("I", "II", "V1"))
    with pytest.raises(ValueError, match="leads: expected 3 names"):
        read_ecg(sig, fs=500, leads=("I", "II"))
    with pytest.raises(ValueError, match="leads: expected ECG lead names"):
        read_ecg(sig, fs=500, leads=("I", "II", "resp"))
    with pytest.raises(ValueError, match="fs: expected a sampling rate > 0"):
        read_ecg(sig, fs=-5, leads=("I", "II", "V1"))
    with pytest.raises(ValueError, match=r"source: expected a real \(n_leads, T\) array"):
        read_ecg(sig[0], fs=500, leads=("I",))
    with pytest.raises(ECGRecordError, match="both lead II"):
        read_ecg(sig, fs=500, leads=("I", "II", "MLII"))


# ------------------------------------------------------------------------------------------ bad records
LEADS3 = ("I", "II", "V1")


def test_nan_lead_is_named():
    sig = _beats()
    sig[2, 100:110] = np.nan
    with pytest.raises(ECGRecordError, match="lead V1 has 10 NaN"):
        read_ecg(sig, fs=500, leads=LEADS3)


def test_flat_lead_is_named():
    sig = _beats()
    sig[1] = 0.3 + 1e-4 * np.sin(np.arange(sig.shape[1]))
    with pytest.raises(ECGRecordError, match="lead II is flat"):
        read_ecg(sig, fs=500, leads=LEADS3)


def test_clipped_lead_is_named_but_a_padded_tail_is_not():
    sig = _beats()
    clipped = sig.copy()
    clipped[1] = np.minimum(clipped[1], 0.7)  # every R wave hits a 0.7 mV rail
    with pytest.raises(ECGRecordError, match="lead II is clipped: its maximum 0.7 mV"):
        read_ecg(clipped, fs=500, leads=LEADS3)
    padded = sig.copy()
    padded[:, -60:] = padded[:, -61:-60] - 0.5  # a constant tail below everything, as PTB-XL pads
    padded[:, -60:] = padded[:, -60:].min()
    assert read_ecg(padded, fs=500, leads=LEADS3).n_samples == sig.shape[1]


def test_short_record_is_refused():
    with pytest.raises(ECGRecordError, match="at least 1200 ms"):
        read_ecg(_beats(seconds=1.0), fs=500, leads=LEADS3)


def test_unknown_format_and_missing_files(tmp_path):
    other = tmp_path / "x.edf"
    other.write_bytes(b"0       ")
    with pytest.raises(ECGRecordError, match="unknown ECG format '.edf'"):
        read_ecg(other)
    with pytest.raises(FileNotFoundError):
        read_ecg(tmp_path / "nothing")
    with pytest.raises(FileNotFoundError):
        read_ecg(tmp_path / "nothing.hea")
    with pytest.raises(FileNotFoundError):
        read_ecg(tmp_path / "nothing.csv")
    broken = tmp_path / "broken.hea"
    broken.write_text("broken 3 500 x\n")
    with pytest.raises(ECGRecordError, match="wfdb could not read"):
        read_ecg(broken)
    text = tmp_path / "t.csv"
    text.write_text("I,II\n0.1,abc\n")
    with pytest.raises(ECGRecordError, match="expected rows of 2 numbers"):
        read_ecg(text, fs=500)
    text.write_text("I,II\n0.1,0.2\n0.3\n")
    with pytest.raises(ECGRecordError, match="expected rows of 2 numbers"):
        read_ecg(text, fs=500)
    text.write_text("I,II\n")
    with pytest.raises(ECGRecordError, match="data rows, got 0 rows"):
        read_ecg(text, fs=500)
    with pytest.raises(ValueError, match="source: expected a path"):
        read_ecg(3.5)  # type: ignore[arg-type]


def test_channels_that_are_not_leads_are_dropped(tmp_path):
    sig = _beats()
    resp = np.sin(np.arange(sig.shape[1]) / 300.0)
    path = _write_csv(tmp_path / "r.csv", ["I", "RESP", "II", "V1"], np.column_stack([sig[0], resp, sig[1], sig[2]]))
    assert read_ecg(path, fs=500).leads == LEADS3
    only = _write_csv(tmp_path / "o.csv", ["RESP", "SpO2"], np.column_stack([resp, resp + 1]))
    with pytest.raises(MissingLeadError, match="expected ECG leads"):
        read_ecg(only, fs=500)
