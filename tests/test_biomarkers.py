"""QRS biomarkers on synthetic signals with known Q waves, notches and R-wave progressions."""

from __future__ import annotations

import numpy as np
import pytest

from mitwin.analysis.biomarkers import LEADS, contiguous, lead_features, qrs_biomarkers


def lobes(spec, n=None):
    """Consecutive half-sine lobes [(amplitude, samples), ...]; sampled at k + 0.5 so each lobe has
    exactly `samples` samples of its sign and, for odd lengths, peaks at exactly `amplitude`."""
    parts = []
    for amp, d in spec:
        k = np.arange(d) + 0.5
        parts.append(amp * np.sin(np.pi * k / d))
    x = np.concatenate(parts)
    if n is not None:
        x = np.concatenate([x, np.zeros(n - x.size)])
    return x


def notched(amp, d, depth_fraction):
    """A positive lobe of d samples with two humps and a dip of depth_fraction * amp between them."""
    u = (np.arange(d) + 0.5) / d
    env = np.sin(np.pi * u)
    x = env * (1.0 - depth_fraction * np.exp(-0.5 * ((u - 0.5) / 0.05) ** 2) / env.max())
    return amp * x


def test_q_wave_duration_and_depth():
    x = lobes([(-0.2, 35), (1.0, 41), (-0.3, 21)])
    f = lead_features(x)
    assert f.q_duration_ms == 35.0
    assert f.q_amplitude == pytest.approx(0.2 * np.sin(np.pi * 17.5 / 35), rel=1e-12)
    assert f.r_amplitude == pytest.approx(1.0)
    assert f.pathological_q  # >= 30 ms
    assert f.s_amplitude == pytest.approx(0.3)
    assert not f.fragmented


@pytest.mark.parametrize(
    "q_amp,q_len,dt,expected",
    [
        (-0.10, 15, 1.0, False),  # 15 ms, Q/R = 0.1
        (-0.40, 15, 1.0, True),  # Q/R = 0.4 > 0.25
        (-0.24, 15, 1.0, False),  # Q/R = 0.24 (peak of an odd lobe is exact)
        (-0.10, 15, 2.0, True),  # 30 ms at 500 Hz
        (-0.10, 29, 1.0, False),  # 29 ms
        (-0.10, 31, 1.0, True),  # 31 ms
    ],
)
def test_pathological_q_thresholds(q_amp, q_len, dt, expected):
    x = lobes([(q_amp, q_len), (1.0, 41), (-0.3, 21)])
    assert lead_features(x, dt_ms=dt).pathological_q is expected


def test_qs_complex_and_no_q():
    assert lead_features(lobes([(-1.0, 61)])).pathological_q  # QS: no R at all
    f = lead_features(lobes([(1.0, 41), (-0.5, 21)]))
    assert f.q_duration_ms == 0.0 and not f.pathological_q
    flat = lead_features(np.zeros(50))
    assert flat.r_amplitude == 0.0 and not flat.pathological_q and not flat.fragmented


def test_notch_in_r_and_s():
    smooth = np.concatenate([lobes([(-0.1, 11)]), notched(1.0, 41, 0.0), lobes([(-0.4, 21)])])
    deep = np.concatenate([lobes([(-0.1, 11)]), notched(1.0, 41, 0.3), lobes([(-0.4, 21)])])
    tiny = np.concatenate([lobes([(-0.1, 11)]), notched(1.0, 41, 0.01), lobes([(-0.4, 21)])])
    s_notch = np.concatenate([lobes([(1.0, 41)]), -notched(0.6, 31, 0.3)])
    # The constructed dip really is there (independent check of the construction).
    seg = deep[11:52]
    mid = seg[15:26].min()
    assert seg[:20].max() - mid > 0.2
    assert not lead_features(smooth).fragmented and lead_features(smooth).n_notches == 0
    assert lead_features(deep).fragmented and lead_features(deep).n_notches == 1
    assert not lead_features(tiny).fragmented
    assert lead_features(s_notch).fragmented
    # A stricter threshold than the dip hides it.
    assert not lead_features(deep, notch_fraction=0.5).fragmented


def test_rsr_prime_is_fragmented():
    f = lead_features(lobes([(0.5, 21), (-0.4, 15), (0.8, 25)]))
    assert f.n_positive_lobes == 2 and f.fragmented
    f = lead_features(lobes([(0.5, 21), (-0.4, 15), (0.01, 25)]))  # r' below 5 % of the peak: ignored
    assert f.n_positive_lobes == 1 and not f.fragmented


def _qrs(r_amps, q_leads=(), notch_leads=(), n=120):
    out = np.zeros((8, n))
    for k in range(8):
        if k in notch_leads:
            x = np.concatenate([notched(r_amps[k], 41, 0.3), lobes([(-0.3, 21)])])
        elif k in q_leads:
            x = lobes([(-0.3, 35), (r_amps[k], 41), (-0.3, 21)])
        else:
            x = lobes([(-0.05, 9), (r_amps[k], 41), (-0.3, 21)])
        out[k, : x.size] = x
    return out


NORMAL_R = [0.8, 0.9, 0.1, 0.3, 0.5, 0.7, 0.9, 0.8]  # I, II, V1..V6


def test_r_amplitudes_and_progression():
    b = qrs_biomarkers(_qrs(NORMAL_R), 100)
    np.testing.assert_allclose(b.r_amplitudes, NORMAL_R, rtol=1e-12)
    assert not b.prwp and not b.pathological_q and not b.fragmented
    assert b.qrs_duration_ms == 100.0
    low_v3 = list(NORMAL_R)
    low_v3[4] = 0.12  # R(V3) <= 0.15
    low_v3[3] = 0.11
    assert qrs_biomarkers(_qrs(low_v3)).prwp
    reversed_ = list(NORMAL_R)
    reversed_[3], reversed_[4] = 0.6, 0.3  # V2 0.6 -> V3 0.3: reversed progression, V3 above 0.15
    assert qrs_biomarkers(_qrs(reversed_)).prwp
    small_drop = list(NORMAL_R)
    small_drop[5] = 0.49  # V4 0.49 < V3 0.5 by 0.01 < tolerance
    assert not qrs_biomarkers(_qrs(small_drop)).prwp


def test_contiguous_leads():
    idx = {name: k for k, name in enumerate(LEADS)}
    assert qrs_biomarkers(_qrs(NORMAL_R, q_leads=(idx["V2"], idx["V3"]))).pathological_q
    assert not qrs_biomarkers(_qrs(NORMAL_R, q_leads=(idx["V1"], idx["V3"]))).pathological_q
    assert qrs_biomarkers(_qrs(NORMAL_R, q_leads=(idx["I"], idx["V6"]))).pathological_q
    assert not qrs_biomarkers(_qrs(NORMAL_R, q_leads=(idx["I"], idx["II"]))).pathological_q
    assert qrs_biomarkers(_qrs(NORMAL_R, notch_leads=(idx["V3"], idx["V4"]))).fragmented
    one = qrs_biomarkers(_qrs(NORMAL_R, notch_leads=(idx["II"],)))
    assert not one.fragmented and one.leads[idx["II"]].fragmented
    assert contiguous([0, 0, 0, 0, 0, 0, 1, 1]) and not contiguous([1, 1, 0, 0, 0, 0, 0, 0])


def test_duration_and_validation():
    q = _qrs(NORMAL_R)
    assert qrs_biomarkers(q, 90, duration_ms=87.5).qrs_duration_ms == 87.5
    assert qrs_biomarkers(q, 90, dt_ms=2.0).qrs_duration_ms == 180.0
    with pytest.raises(ValueError, match="qrs"):
        qrs_biomarkers(np.zeros((12, 100)))
    with pytest.raises(ValueError, match="length"):
        qrs_biomarkers(q, 0)
    with pytest.raises(ValueError, match="finite"):
        qrs_biomarkers(np.full((8, 10), np.nan))
    with pytest.raises(ValueError, match="dt_ms"):
        lead_features(np.ones(5), dt_ms=0.0)
    with pytest.raises(ValueError, match="flags"):
        contiguous([1, 0])


def test_absolute_floor_on_small_leads():
    """A nearly isoelectric lead: its relative notch is 30 %, but below the absolute floor."""
    x = 0.02 * np.concatenate([notched(1.0, 41, 0.3), lobes([(-0.3, 21)])])
    assert not lead_features(x).fragmented  # dip 0.006 < 0.01
    assert lead_features(x, min_amplitude=0.001).fragmented


@pytest.mark.parametrize("valley,expected", [(0.76, False), (0.74, True), (0.5, True), (0.79, False)])
def test_notch_depth_threshold_exact(valley, expected):
    """Piecewise-linear R with peaks 1.0 and 0.8: the notch depth is 0.8 - valley; threshold 0.05."""
    k = np.arange(61, dtype=np.float64)
    r = np.interp(k, [0, 15, 25, 35, 60], [0.0, 1.0, valley, 0.8, 0.0])
    x = np.concatenate([r, lobes([(-0.3, 21)])])
    f = lead_features(x)
    assert f.fragmented is expected
    assert f.n_notches == int(expected)
