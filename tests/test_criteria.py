"""The normal-ECG check on hand-built signals: a frontal heart vector of known angle projected
onto Einthoven's leads, precordial leads of known R/S, and the named errors."""

from __future__ import annotations

import numpy as np
import pytest

from mitwin.ep.criteria import NORMAL_RANGES, check_ecg, frontal_axis
from mitwin.ep.ecg import ECG, LEADS


def _hump(n: int) -> np.ndarray:
    t = np.arange(n, dtype=float)
    return np.sin(np.pi * t / (n - 1)) ** 2


def _limb_leads(ex: np.ndarray, ey: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """I and II of a frontal heart vector (ex towards the patient's left, ey inferior): lead I at 0 deg,
    II at +60 deg of the hexaxial reference system (Einthoven's triangle)."""
    lead_i = ex
    lead_ii = ex * np.cos(np.radians(60.0)) + ey * np.sin(np.radians(60.0))
    return lead_i, lead_ii


def _ecg(lead_i, lead_ii, precordial, dt=1.0) -> ECG:
    return ECG(np.vstack([lead_i, lead_ii, precordial]), dt, LEADS)


def _normal_precordial(n: int) -> np.ndarray:
    """V1..V6 as r_gain x (an R hump over the first half) + s_gain x (an S hump over the second half):
    R/S = 0.3, 0.6 (rS), 1.2 (transition in V3), 2.5, 5, 6 (qR)."""
    h = n // 2
    r_wave = np.concatenate([_hump(h), np.zeros(n - h)])
    s_wave = -np.concatenate([np.zeros(h), _hump(n - h)])
    gains = ((0.3, 1.0), (0.6, 1.0), (1.2, 1.0), (1.5, 0.6), (1.5, 0.3), (1.2, 0.2))
    return np.stack([r * r_wave + s * s_wave for r, s in gains])


@pytest.mark.parametrize("theta", [-75.0, -30.0, -10.0, 0.0, 35.0, 60.0, 89.0, 120.0, 179.0, -150.0])
def test_axis_of_a_fixed_heart_vector(theta):
    """A heart vector of constant direction theta and a bell-shaped magnitude: the check returns
    theta (the independent reference is the vector's own angle, projected by Einthoven's law)."""
    n = 90
    e = 2.0 * _hump(n)
    lead_i, lead_ii = _limb_leads(e * np.cos(np.radians(theta)), e * np.sin(np.radians(theta)))
    c = check_ecg(_ecg(lead_i, lead_ii, _normal_precordial(n)))
    assert c.axis_deg == pytest.approx(theta, abs=1e-6)
    assert c.passed["axis"] == (-30.0 <= theta <= 90.0)
    assert frontal_axis(c.net_area["I"], c.net_area["aVF"]) == pytest.approx(theta, abs=1e-6)


def test_axis_of_a_rotating_heart_vector_is_the_angle_of_its_mean():
    """A loop that turns from -60 to +150 deg: the axis is the angle of the time integral of the
    vector (the mean QRS vector), computed here independently by quadrature of the 2-D vector."""
    n = 100
    mag = 1.0 + _hump(n)
    ang = np.radians(np.linspace(-60.0, 150.0, n))
    ex, ey = mag * np.cos(ang) * _hump(n), mag * np.sin(ang) * _hump(n)
    lead_i, lead_ii = _limb_leads(ex, ey)
    c = check_ecg(_ecg(lead_i, lead_ii, _normal_precordial(n)), window=(0.0, n - 1.0))
    ref = np.degrees(np.arctan2(np.trapezoid(ey), np.trapezoid(ex)))
    assert c.axis_deg == pytest.approx(ref, abs=1e-6)
    assert c.net_area["aVF"] == pytest.approx(np.trapezoid(lead_ii - 0.5 * lead_i), rel=1e-12)


def test_normal_pattern_passes_and_each_criterion_can_fail():
    n = 90
    e = _hump(n)
    lead_i, lead_ii = _limb_leads(e * np.cos(np.radians(50)), e * np.sin(np.radians(50)))
    pre = _normal_precordial(n)
    c = check_ecg(_ecg(lead_i, lead_ii, pre))
    assert c.normal, c.summary()
    assert 75.0 <= c.qrs_ms <= 110.0 and c.transition == "V3"
    assert c.v1_net < 0 < c.v6_net and "normal" in c.summary()
    # V1 turned positive, V6 negative: both named
    bad = pre.copy()
    bad[0], bad[5] = -bad[0], -bad[5]
    c = check_ecg(_ecg(lead_i, lead_ii, bad))
    assert set(c.failed) >= {"v1_negative", "v6_positive"} and not c.normal
    # early transition (R >= S already in V1) and none at all
    early = pre.copy()
    early[0] = np.abs(early[0])
    assert check_ecg(_ecg(lead_i, lead_ii, early)).transition == "V1"
    assert "transition" in check_ecg(_ecg(lead_i, lead_ii, -np.abs(pre))).failed
    # a 140 ms QRS (left bundle-branch block width)
    m = 140
    e2 = _hump(m)
    c = check_ecg(_ecg(*_limb_leads(e2 * 0.6, e2 * 0.8), _normal_precordial(m)))
    assert c.qrs_ms > NORMAL_RANGES["qrs_ms"][1] and c.failed == ["qrs"]


def test_sampling_interval_and_window():
    """The same QRS at 500 Hz and 1 kHz gives the same duration and axis."""
    n = 90
    e = _hump(n)
    a = _ecg(*_limb_leads(e * 0.5, e * 0.5), _normal_precordial(n))
    b = ECG(a.signals[:, ::2], 2.0, LEADS, 0.0)
    ca, cb = check_ecg(a), check_ecg(b)
    assert cb.qrs_ms == pytest.approx(ca.qrs_ms, abs=2.0)
    assert cb.axis_deg == pytest.approx(ca.axis_deg, abs=1.0) and ca.axis_deg == pytest.approx(45.0, abs=1e-6)
    shifted = ECG(a.signals, 1.0, LEADS, t0=-30.0)
    assert check_ecg(shifted, window=(-30.0, 59.0)).axis_deg == pytest.approx(45.0, abs=1e-6)


def test_named_errors():
    n = 90
    e = _hump(n)
    good = _ecg(*_limb_leads(e, e), _normal_precordial(n))
    with pytest.raises(ValueError, match="V6"):
        check_ecg(ECG(good.signals[:7], 1.0, LEADS[:7]))
    nan = good.signals.copy()
    nan[3, 4] = np.nan
    with pytest.raises(ValueError, match="finite"):
        check_ecg(ECG(nan, 1.0, LEADS))
    with pytest.raises(ValueError, match="flat"):
        check_ecg(ECG(np.zeros((8, 50)), 1.0, LEADS))
    with pytest.raises(ValueError, match="window"):
        check_ecg(good, window=(50.0, 10.0))
    with pytest.raises(ValueError, match="window"):
        check_ecg(good, window="whole")
    with pytest.raises(ValueError, match="ecg"):
        check_ecg(np.zeros((8, 50)))  # type: ignore[arg-type]
    assert np.isnan(frontal_axis(0.0, 0.0))


def test_cli_check_ecg(tmp_path, capsys):
    from mitwin.cli import main

    n = 90
    e = _hump(n)
    path = _ecg(*_limb_leads(e * 0.5, e * 0.7), _normal_precordial(n)).to_csv(tmp_path / "qrs.csv")
    assert main(["check-ecg", str(path)]) == 0
    out = capsys.readouterr().out
    assert "axis +54 deg" in out and "normal" in out
    bad = _ecg(*_limb_leads(-e * 0.5, e * 0.1), _normal_precordial(n)).to_csv(tmp_path / "bad.csv")
    assert main(["check-ecg", str(bad), "--json"]) == 1
    assert '"axis": false' in capsys.readouterr().out


REAL = "/work/shared/data/ecg"


@pytest.mark.parametrize("record", ["HR06004", "HR06005", "HR06006"])
def test_real_normal_records(record):
    """PTB-XL records labelled normal (sinus rhythm, normal ECG): the extracted QRS has a normal axis,
    V1 net negative and V6 net positive (the labels of the database, independent of mitwin)."""
    import os

    if not os.path.exists(f"{REAL}/{record}.hea"):
        pytest.skip("the PTB-XL sample records are not available")
    from mitwin.ep.extract import extract_qrs
    from mitwin.ep.records import read_ecg

    qrs = extract_qrs(read_ecg(f"{REAL}/{record}"))
    c = check_ecg(qrs, window="signal")
    assert c.passed["axis"] and c.passed["v1_negative"] and c.passed["v6_positive"], c.summary()
    assert 70.0 <= c.qrs_ms <= 110.0
