"""Pseudo-ECG: lead field and QRS synthesis against an independent evaluation of Eq. (3)."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import mitwin
from mitwin.anatomy.synthetic import box_mesh
from mitwin.ep.delineation import qrs_duration, total_activation_time
from mitwin.ep.ecg import ECG, ELECTRODES, LEADS, ECGBatch
from mitwin.ep.filters import lowpass, remove_baseline
from mitwin.ep.leadfield import LeadField, pseudo_ecg
from mitwin.ep.normalise import normalise
from mitwin.errors import MeshError

REST, PLATEAU = -85.0, 15.0


# ----------------------------------------------------------------------------------------- fixtures
def _electrodes(centre, radius=80.0):
    """Nine electrodes on a sphere around ``centre`` (limb leads far, chest leads nearer)."""
    c = np.asarray(centre, dtype=float)
    pos = {
        "RA": c + [-2.5 * radius, 1.2 * radius, 0.8 * radius],
        "LA": c + [2.5 * radius, 1.2 * radius, 0.8 * radius],
        "LL": c + [0.5 * radius, -0.3 * radius, -3.0 * radius],
    }
    for i in range(6):
        ang = np.deg2rad(-100 + 25 * i)
        pos[f"V{i + 1}"] = c + radius * np.array([np.cos(ang), np.sin(ang), 0.1 * i - 0.2])
    return pos


@pytest.fixture(scope="module")
def jittered():
    points, tets = box_mesh((6.0, 5.0, 4.0), 1.0, jitter=0.2, seed=3)
    return points, tets, _electrodes(points.mean(axis=0), radius=30.0)


def _brute_force_leads(points, tets, electrodes, vm_of_t, times, k=1.0):
    """Eq. (3) evaluated time step by time step: Vm at the nodes, grad Vm per tet from the inverse of the
    edge matrix, grad(1/r) at the centroid, phi_e = -K sum vol * grad Vm . grad(1/r); then the leads."""
    p = points[tets]
    edges = p[:, 1:] - p[:, :1]  # (M, 3, 3) rows p_i - p_0
    vol = np.abs(np.linalg.det(edges)) / 6.0
    inv_edges = np.linalg.inv(edges)  # grad = inv(E) @ (v_i - v_0)
    centroid = p.mean(axis=1)
    names = list(ELECTRODES)
    pos = np.stack([electrodes[n] for n in names])
    d = centroid[:, None, :] - pos[None]  # (M, E, 3) x - x_e
    grad_inv_r = -d / np.linalg.norm(d, axis=2, keepdims=True) ** 3
    phi = np.zeros((len(names), len(times)))
    for i, t in enumerate(times):
        v = vm_of_t(t)[tets]
        g = np.einsum("mij,mj->mi", inv_edges, v[:, 1:] - v[:, :1])
        phi[:, i] = -k * np.einsum("m,mi,mei->e", vol, g, grad_inv_r)
    e = dict(zip(names, phi))
    wct = (e["RA"] + e["LA"] + e["LL"]) / 3.0
    return np.stack([e["LA"] - e["RA"], e["LL"] - e["RA"]] + [e[f"V{i}"] - wct for i in range(1, 7)])


def _rel_err(a, b):
    return float(np.max(np.abs(a - b)) / np.max(np.abs(b)))


def _at_from_corner(points, speed=0.6):
    return np.linalg.norm(points - points.min(axis=0), axis=1) / speed


# ------------------------------------------------------------------------------------- correctness
def test_step_template_matches_brute_force_on_grid(jittered):
    points, tets, electrodes = jittered
    at = np.round(_at_from_corner(points))  # on the 1 ms grid: the step is unambiguous
    ecg = LeadField(points, tets, electrodes).qrs(at, dt=1.0, template="step", lowpass_hz=None)
    ref = _brute_force_leads(points, tets, electrodes, lambda t: np.where(t >= at, PLATEAU, REST), ecg.t)
    assert ecg.leads == LEADS
    assert ecg.signals.shape == ref.shape == (8, int(at.max()) + 11)
    assert _rel_err(ecg.signals, ref) <= 1e-6


def test_step_template_off_grid_is_the_interpolated_step(jittered):
    points, tets, electrodes = jittered
    at = _at_from_corner(points, 0.7) + 0.3
    dt = 0.5
    ecg = pseudo_ecg(points, tets, electrodes, at, dt=dt, template="step", lowpass_hz=None)

    def vm(t):  # the step, linearly interpolated in AT between samples
        return REST + (PLATEAU - REST) * np.clip(1.0 + (t - at) / dt, 0.0, 1.0)

    assert _rel_err(ecg.signals, _brute_force_leads(points, tets, electrodes, vm, ecg.t)) <= 1e-6


def test_logistic_template_converges_to_brute_force(jittered):
    points, tets, electrodes = jittered
    at = _at_from_corner(points, 0.5)
    width, dt = 1.0, 0.05
    ecg = LeadField(points, tets, electrodes).qrs(at, dt=dt, template_width=width, lowpass_hz=None)

    def vm(t):
        return REST + (PLATEAU - REST) / (1.0 + np.exp(-(t - at) / width))

    assert _rel_err(ecg.signals, _brute_force_leads(points, tets, electrodes, vm, ecg.t)) <= 1e-3


def test_far_field_is_a_dipole():
    # plane wave along +x through a 10 x 10 x 10 mm block; the front is a dipole layer of area A
    points, tets = box_mesh((10.0, 10.0, 10.0), 1.0)
    speed, area, jump, dist = 0.5, 100.0, PLATEAU - REST, 200.0
    centre = np.array([5.0, 5.0, 5.0])
    electrodes = _electrodes(centre, radius=dist)
    electrodes["V1"] = centre + [dist, 0.0, 0.0]  # ahead of the front
    electrodes["V2"] = centre - [dist, 0.0, 0.0]  # behind it
    electrodes["V3"] = centre + [0.0, dist, 0.0]  # beside it
    lf = LeadField(points, tets, electrodes, k=2.0)
    at = points[:, 0] / speed
    phi = lf.potentials(at, template="step")
    t = np.arange(phi.shape[1])
    for i in range(6, 15):  # front well inside the block
        x_front = speed * (t[i] - 0.5)  # the sampled step is a ramp over one sample
        ahead = 2.0 * jump * area / (centre[0] + dist - x_front) ** 2
        behind = 2.0 * jump * area / (x_front - centre[0] + dist) ** 2
        assert phi[3, i] == pytest.approx(ahead, rel=0.02)  # positive: the front approaches
        assert phi[4, i] == pytest.approx(-behind, rel=0.02)  # negative: it moves away
        assert abs(phi[5, i]) < 0.02 * ahead  # perpendicular to the dipole
    assert np.allclose(phi[:, -1], 0.0, atol=1e-12 * np.abs(phi).max())  # all depolarised: no signal


def test_doubling_the_lead_field_doubles_every_lead(jittered):
    points, tets, electrodes = jittered
    at = _at_from_corner(points)
    one = LeadField(points, tets, electrodes).qrs(at)
    two = LeadField(points, tets, electrodes, k=2.0).qrs(at)
    assert np.allclose(two.signals, 2.0 * one.signals, rtol=1e-12, atol=0)
    assert np.allclose(LeadField(points, tets, electrodes).qrs(at, amplitude=200.0).signals, two.signals, rtol=1e-12)


def test_mirroring_mesh_and_electrodes_mirrors_the_signals(jittered):
    points, tets, electrodes = jittered
    at = _at_from_corner(points)
    flip = np.array([-1.0, 1.0, 1.0])
    mirrored = {name: pos * flip for name, pos in electrodes.items()}
    mirrored["RA"], mirrored["LA"] = electrodes["LA"] * flip, electrodes["RA"] * flip  # left <-> right
    a = LeadField(points, tets, electrodes).qrs(at, lowpass_hz=None)
    b = LeadField(points * flip, tets, mirrored).qrs(at, lowpass_hz=None)  # tets now inverted: allowed
    scale = np.abs(a.signals).max()
    assert np.allclose(b.lead("I"), -a.lead("I"), atol=1e-12 * scale)
    assert np.allclose(b.lead("II"), a.lead("II") - a.lead("I"), atol=1e-12 * scale)
    assert np.allclose(b.signals[2:], a.signals[2:], atol=1e-12 * scale)


def test_leads_are_assembled_from_electrode_potentials(jittered):
    points, tets, electrodes = jittered
    at = _at_from_corner(points)
    lf = LeadField(points, tets, electrodes)
    phi = dict(zip(ELECTRODES, lf.potentials(at)))
    ecg = lf.qrs(at, lowpass_hz=None)
    wct = (phi["RA"] + phi["LA"] + phi["LL"]) / 3.0
    scale = np.abs(ecg.signals).max()
    assert np.allclose(ecg.lead("I"), phi["LA"] - phi["RA"], atol=1e-12 * scale)
    assert np.allclose(ecg.lead("II"), phi["LL"] - phi["RA"], atol=1e-12 * scale)
    for i in range(1, 7):
        assert np.allclose(ecg.lead(f"V{i}"), phi[f"V{i}"] - wct, atol=1e-12 * scale)


def test_lead_field_rows_sum_to_zero_and_do_not_depend_on_threads(jittered):
    points, tets, electrodes = jittered
    a = LeadField(points, tets, electrodes, n_threads=1).matrix
    b = LeadField(points, tets, electrodes, n_threads=2).matrix
    assert np.array_equal(a, b)
    assert np.allclose(a.sum(axis=0), 0.0, atol=1e-12 * np.abs(a).sum(axis=0).max())


def test_signal_is_continuous_in_activation_time(jittered):
    points, tets, electrodes = jittered
    lf = LeadField(points, tets, electrodes)
    at = np.round(_at_from_corner(points))
    j = int(np.argmax(np.abs(lf.lead_matrix).sum(axis=1)))
    out = []
    for eps in (-1e-9, 1e-9):  # across a sample boundary
        shifted = at.copy()
        shifted[j] = 5.0 + eps
        out.append(lf.qrs(shifted, template="step", lowpass_hz=None).signals)
    assert np.max(np.abs(out[0] - out[1])) < 1e-6 * np.abs(out[0]).max()


def test_batch_equals_serial(jittered):
    points, tets, electrodes = jittered
    lf = LeadField(points, tets, electrodes)
    base = _at_from_corner(points)
    ats = np.stack([base, base / 0.8, base[::-1].copy(), np.roll(base, 7)])
    batch = lf.qrs_batch(ats, n_threads=2, normalise="amplitude")
    assert isinstance(batch, ECGBatch) and len(batch) == 4
    assert np.asarray(batch).shape == (4, 8, int(np.floor(ats.max())) + 11)
    for k in range(4):
        one = lf.qrs(ats[k], n_samples=batch.signals.shape[2], normalise="amplitude")
        assert np.allclose(batch[k].signals, one.signals, rtol=0, atol=1e-12)
    # fixed summation order: bit-identical for any thread count
    assert np.array_equal(lf.qrs_batch(ats, n_threads=1).signals, lf.qrs_batch(ats, n_threads=2).signals)
    assert np.array_equal(lf.qrs(base, n_threads=1).signals, lf.qrs(base, n_threads=2).signals)


def test_public_names_resolve():
    assert mitwin.LeadField is LeadField and mitwin.pseudo_ecg is pseudo_ecg
    assert mitwin.ECG is ECG and mitwin.qrs_duration is qrs_duration
    assert LEADS == ("I", "II", "V1", "V2", "V3", "V4", "V5", "V6")
    assert ELECTRODES == ("RA", "LA", "LL", "V1", "V2", "V3", "V4", "V5", "V6")


# -------------------------------------------------------------------------------------- validation
def test_electrode_validation(jittered):
    points, tets, electrodes = jittered
    missing = {k: v for k, v in electrodes.items() if k != "V4"}
    with pytest.raises(ValueError, match=r"missing \['V4'\]"):
        LeadField(points, tets, missing)
    with pytest.raises(ValueError, match=r"unexpected \['RL'\]"):
        LeadField(points, tets, {**electrodes, "RL": np.zeros(3) + 500})
    with pytest.raises(ValueError, match="V2.*finite"):
        LeadField(points, tets, {**electrodes, "V2": np.array([np.nan, 0.0, 0.0])})
    with pytest.raises(ValueError, match="V2.*shape"):
        LeadField(points, tets, {**electrodes, "V2": np.zeros(2)})
    with pytest.raises(ValueError, match="V3.*inside the myocardium"):
        LeadField(points, tets, {**electrodes, "V3": points.mean(axis=0)})
    with pytest.raises(ValueError, match="LL.*mesh node"):
        LeadField(points, tets, {**electrodes, "LL": points[0] + 1e-6})
    with pytest.raises(ValueError, match="electrodes"):
        LeadField(points, tets, "RA LA LL")
    # a (9, 3) array in ELECTRODES order is accepted
    arr = np.stack([electrodes[n] for n in ELECTRODES])
    assert np.array_equal(LeadField(points, tets, arr).matrix, LeadField(points, tets, electrodes).matrix)


def test_mesh_and_at_validation(jittered):
    points, tets, electrodes = jittered
    bad = tets.copy()
    bad[0, 1] = bad[0, 0]
    with pytest.raises(MeshError, match="degenerate"):
        LeadField(points, bad, electrodes)
    with pytest.raises(ValueError, match="tets"):
        LeadField(points, tets + points.shape[0], electrodes)
    lf = LeadField(points, tets, electrodes)
    at = _at_from_corner(points)
    with pytest.raises(ValueError, match=r"at: expected shape"):
        lf.qrs(at[:-1])
    with pytest.raises(ValueError, match="at: expected finite"):
        lf.qrs(np.where(np.arange(at.size) == 3, np.nan, at))
    with pytest.raises(ValueError, match=">= 0"):
        lf.qrs(at - 1.0)
    with pytest.raises(ValueError, match="ats: expected shape"):
        lf.qrs_batch(at)
    with pytest.raises(ValueError, match="dt"):
        lf.qrs(at, dt=0.0)
    with pytest.raises(ValueError, match="template"):
        lf.qrs(at, template="square")
    with pytest.raises(ValueError, match="normalise"):
        lf.qrs(at, normalise="max")
    with pytest.raises(ValueError, match="lowpass_hz"):
        lf.qrs(at, lowpass_hz=-5.0)
    with pytest.raises(ValueError, match="n_threads"):
        lf.qrs_batch(at[None], n_threads=-2)


def test_core_value_range(rng):
    from mitwin import _core

    x = rng.normal(size=(3, 70000))
    assert _core.value_range(x, n_threads=2) == (x.min(), x.max())
    x[2, 5] = np.nan
    assert all(np.isnan(v) for v in _core.value_range(x))
    assert _core.value_range(np.zeros(0)) == (np.inf, -np.inf)


def test_core_boundary_rejects_bad_input():
    from mitwin import _core

    lead = np.ones((4, 2))
    with pytest.raises(ValueError, match="at"):
        _core.synthesize_qrs(lead, np.array([[0.0, 1.0, np.nan, 2.0]]), 0.0, 1.0, 5, np.ones(1), 0)
    with pytest.raises(ValueError, match="at"):
        _core.synthesize_qrs(lead, np.zeros((1, 3)), 0.0, 1.0, 5, np.ones(1), 0)
    with pytest.raises(ValueError, match="tets"):
        _core.lead_field(np.zeros((3, 3)), np.array([[0, 1, 2, 3]]), np.ones((1, 3)))


# ----------------------------------------------------------------------------------- signal tools
def test_lowpass_is_zero_phase_and_handles_short_signals():
    dt = 1.0
    t = np.arange(400) * dt
    slow = np.sin(2 * np.pi * 10.0 * t / 1000.0)
    fast = np.sin(2 * np.pi * 300.0 * t / 1000.0)
    out = lowpass(np.stack([slow, fast]), dt, 150.0)
    assert np.max(np.abs(out[0, 50:-50] - slow[50:-50])) < 1e-3  # passband untouched, no phase shift
    assert np.max(np.abs(out[1, 50:-50])) < 0.01  # 300 Hz suppressed (8th order after filtfilt)
    bump = np.exp(-0.5 * ((t - 200.0) / 4.0) ** 2)
    assert int(np.argmax(lowpass(bump, dt, 40.0))) == 200
    for n in (1, 2, 5):
        assert np.allclose(lowpass(np.ones((8, n)), dt, 150.0), 1.0)
    # the same as scipy's forward-backward filter on the edge-extended signal
    from scipy.signal import butter, sosfiltfilt

    x = np.random.default_rng(0).normal(size=(3, 2, 120)).cumsum(axis=-1)
    ext = np.concatenate([np.repeat(x[..., :1], 67, axis=-1), x, np.repeat(x[..., -1:], 67, axis=-1)], axis=-1)
    ref = sosfiltfilt(butter(4, 150.0, fs=1000.0, output="sos"), ext, axis=-1, padtype=None)[..., 67:-67]
    assert np.allclose(lowpass(x, 1.0, 150.0), ref, atol=1e-10)


def test_core_filter_equals_scipy_forward_backward(jittered):
    from scipy.signal import butter, sosfilt_zi, sosfiltfilt

    from mitwin import _core

    points, tets, electrodes = jittered
    lf = LeadField(points, tets, electrodes)
    at = _at_from_corner(points, 0.3)[None]
    values, first = np.array([0.1, 0.5, 0.9, 1.0]), -1
    sos = butter(4, 150.0, fs=1000.0, output="sos")
    raw = _core.synthesize_qrs(lf.lead_matrix, at, -40.0, 1.0, 120, values, first)
    filt = _core.synthesize_qrs(lf.lead_matrix, at, -40.0, 1.0, 120, values, first, sos=sos, zi=sosfilt_zi(sos))
    ref = sosfiltfilt(sos, raw, axis=-1, padtype=None)
    assert np.allclose(filt, ref, rtol=0, atol=1e-12 * np.abs(ref).max())
    with pytest.raises(ValueError, match="sos"):
        _core.synthesize_qrs(lf.lead_matrix, at, 0.0, 1.0, 10, values, first, sos=np.ones((2, 5)), zi=np.ones((2, 2)))


def test_qrs_lowpass_keeps_timing(jittered):
    points, tets, electrodes = jittered
    lf = LeadField(points, tets, electrodes)
    at = _at_from_corner(points, 0.3)
    raw = lf.qrs(at, lowpass_hz=None)
    filt = lf.qrs(at, lowpass_hz=150.0)
    assert filt.signals.shape == raw.signals.shape
    # the default upstroke has little content above 150 Hz: the filter changes the signal only slightly
    assert _rel_err(filt.signals, raw.signals) < 0.05
    strong = lf.qrs(at, lowpass_hz=40.0)
    lead = int(np.argmax(np.abs(raw.signals).max(axis=1)))
    assert abs(int(np.argmax(np.abs(strong.signals[lead]))) - int(np.argmax(np.abs(raw.signals[lead])))) <= 2


def test_normalisations(jittered):
    points, tets, electrodes = jittered
    lf = LeadField(points, tets, electrodes)
    at = _at_from_corner(points)
    raw = lf.qrs(at).signals
    peaks = np.abs(raw).max(axis=1)
    per_lead = lf.qrs(at, normalise="lead").signals
    assert np.allclose(np.abs(per_lead).max(axis=1), 1.0)
    amp = lf.qrs(at, normalise="amplitude").signals
    assert np.allclose(amp[:2], raw[:2] / peaks[:2].mean())
    assert np.allclose(amp[2:], raw[2:] / peaks[2:].mean())
    assert np.allclose(np.abs(amp[2:]).max(axis=1) / np.abs(amp[2:]).max(), peaks[2:] / peaks[2:].max())
    zero = normalise(np.zeros((8, 5)), "amplitude")
    assert np.array_equal(zero, np.zeros((8, 5)))
    based = lf.qrs(at, remove_baseline=True).signals
    assert np.allclose(based[:, [0, -1]], 0.0, atol=1e-12)
    x = np.linspace(1.0, 3.0, 11)[None] + np.sin(np.linspace(0, np.pi, 11))[None]
    assert np.allclose(remove_baseline(x), np.sin(np.linspace(0, np.pi, 11))[None], atol=1e-12)


def test_qrs_duration_on_a_synthetic_signal():
    dt, onset, offset = 1.0, 30.0, 110.0
    t = np.arange(200) * dt
    inside = (t >= onset) & (t <= offset)
    phase = (t - onset) / (offset - onset)
    signals = np.stack([np.where(inside, a * np.sin(2 * np.pi * n * phase), 0.0)
                        for a, n in zip(np.linspace(-1, 2, 8), range(1, 9))])
    duration, on, off = qrs_duration(signals, dt, return_bounds=True)
    assert on == pytest.approx(onset, abs=dt) and off == pytest.approx(offset, abs=dt)
    assert duration == pytest.approx(offset - onset, abs=dt)
    ecg = ECG(signals, dt)
    assert ecg.qrs_duration() == pytest.approx(duration)
    batch = qrs_duration(np.stack([signals, np.zeros_like(signals)]), dt)
    assert batch.shape == (2,) and batch[0] == pytest.approx(duration) and np.isnan(batch[1])


def test_qrs_duration_keeps_a_slow_terminal_deflection():
    """A fast QRS (30-80 ms, three cycles) followed by a slow deflection at 15 % of each lead's amplitude
    (80-130 ms): its slope stays under 5 % of the peak spatial velocity, but the leads are still away from
    baseline, so the QRS ends where the slow part falls under 5 % of the largest distance from the final
    level (sin = 1/3, at 124.6 ms), not at 80 ms."""
    t = np.arange(200.0)
    fast = (t >= 30) & (t <= 80)
    slow = (t > 80) & (t <= 130)
    shape = (np.where(fast, np.sin(6 * np.pi * (t - 30) / 50), 0.0)
             + np.where(slow, 0.15 * np.sin(np.pi * (t - 80) / 50), 0.0))
    signals = np.linspace(-1, 2, 8)[:, None] * shape[None]
    velocity = np.abs(np.gradient(signals, axis=1)).sum(axis=0)
    assert velocity[82:130].max() < 0.05 * velocity.max()  # the slope rule alone would stop at 80 ms
    duration, on, off = qrs_duration(signals, 1.0, return_bounds=True)
    expected = 80 + 50 * (1 - np.arcsin(1 / 3) / np.pi)
    assert on == pytest.approx(30.0, abs=1.0) and off == pytest.approx(expected, abs=1.0)
    assert duration == pytest.approx(expected - 30, abs=2.0)


def test_qrs_duration_of_a_plane_wave_matches_the_activation_time():
    points, tets = box_mesh((20.0, 6.0, 6.0), 1.0)
    electrodes = _electrodes(points.mean(axis=0), radius=60.0)
    at = points[:, 0] / 0.4
    ecg = pseudo_ecg(points, tets, electrodes, at, template="step", lowpass_hz=None)
    assert total_activation_time(at) == pytest.approx(50.0)
    assert qrs_duration(ecg) == pytest.approx(total_activation_time(at), abs=2.0)


def test_csv_round_trip(tmp_path, jittered):
    points, tets, electrodes = jittered
    ecg = pseudo_ecg(points, tets, electrodes, _at_from_corner(points), dt=0.5)
    path = ecg.to_csv(tmp_path / "qrs.csv")
    back = ECG.from_csv(path)
    assert back.leads == LEADS and back.dt == pytest.approx(0.5)
    assert np.allclose(back.signals, ecg.signals, rtol=1e-9, atol=1e-12 * np.abs(ecg.signals).max())
    assert list(tmp_path.iterdir()) == [path]
    (tmp_path / "bad.csv").write_text("t_ms,I,II\n0,1,2\n")
    with pytest.raises(ValueError, match="missing V1"):
        ECG.from_csv(tmp_path / "bad.csv")
    assert ecg.padded(512).shape == (8, 512)
    with pytest.raises(KeyError):
        ecg.lead("aVR")


def test_plot_ecg_writes_a_png(tmp_path, jittered):
    import matplotlib.pyplot as plt

    points, tets, electrodes = jittered
    lf = LeadField(points, tets, electrodes)
    at = _at_from_corner(points)
    base, slow = lf.qrs(at), lf.qrs(at / 0.7)
    fig = mitwin.plot_ecg(base, tmp_path / "ecg.png", other=slow, title="plane wave")
    try:
        data = (tmp_path / "ecg.png").read_bytes()
        assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 10_000
        assert [a.get_title(loc="left") for a in fig.axes] == ["I", "II", "V1", "V2", "V3", "V4", "V5", "V6"]
        assert len(fig.axes[0].lines) == 3  # ecg, other, zero line
    finally:
        plt.close(fig)
    with pytest.raises(ValueError, match="ecg"):
        mitwin.plot_ecg(base.signals)


# ----------------------------------------------------------------------------- C++ boundary (hypothesis)
def _direct_synthesis(lead, at, t0, dt, n_samples, values, first):
    """out[k, e, i] = sum_j lead[j, e] ((1 - f) s(i - b) + f s(i - b - 1)), node by node."""
    last = first + len(values) - 1

    def s(m):
        return np.where(m < first, 0.0, np.where(m > last, values[-1], values[np.clip(m - first, 0, len(values) - 1)]))

    out = np.zeros((at.shape[0], lead.shape[1], n_samples))
    i = np.arange(n_samples)
    for k in range(at.shape[0]):
        for j in range(lead.shape[0]):
            u = (at[k, j] - t0) / dt
            b = int(np.floor(u))
            f = u - b
            out[k] += lead[j][:, None] * ((1 - f) * s(i - b) + f * s(i - b - 1))[None]
    return out


@settings(max_examples=60, deadline=None)
@given(
    n=st.integers(1, 12),
    n_leads=st.integers(1, 4),
    n_maps=st.integers(1, 3),
    dt=st.floats(0.1, 2.0),
    t0=st.floats(-3.0, 0.0),
    first=st.integers(-4, 3),
    width=st.integers(1, 5),
    n_samples=st.integers(0, 30),
    seed=st.integers(0, 2**31 - 1),
)
def test_core_synthesis_matches_direct_sum(n, n_leads, n_maps, dt, t0, first, width, n_samples, seed):
    from mitwin import _core

    rng = np.random.default_rng(seed)
    lead = rng.normal(size=(n, n_leads))
    at = rng.uniform(0.0, 25.0, size=(n_maps, n))
    values = rng.normal(size=width)
    out = _core.synthesize_qrs(lead, at, t0, dt, n_samples, values, first, n_threads=2)
    assert out.shape == (n_maps, n_leads, n_samples)
    assert np.allclose(out, _direct_synthesis(lead, at, t0, dt, n_samples, values, first), atol=1e-10)


@settings(max_examples=30, deadline=None)
@given(bad=st.sampled_from([np.nan, -np.inf, -1.0]), where=st.integers(0, 5))
def test_core_synthesis_rejects_bad_times(bad, where):
    from mitwin import _core

    at = np.linspace(0.0, 10.0, 6)[None].copy()
    at[0, where] = bad
    with pytest.raises(ValueError, match="at"):
        _core.synthesize_qrs(np.ones((6, 2)), at, 0.0, 1.0, 12, np.ones(1), 0)


def test_from_heart_uses_the_heart_electrodes(jittered):
    from types import SimpleNamespace

    points, tets, electrodes = jittered
    heart = SimpleNamespace(points=points, tets=tets, electrodes=electrodes)
    lf = LeadField.from_heart(heart)
    assert np.array_equal(lf.matrix, LeadField(points, tets, electrodes).matrix)
    assert set(lf.electrodes) == set(ELECTRODES) and lf.n_nodes == points.shape[0]


def test_standard_electrodes_on_a_posed_shell():
    """The 12-lead positions of mitwin.anatomy.electrodes are valid for the lead field, and a wave
    from the endocardium gives a finite QRS about as long as the activation."""
    from mitwin.anatomy.electrodes import Torso, place_torso, pose_rotation, standard_electrodes
    from mitwin.anatomy.synthetic import shell_mesh

    s = shell_mesh(24, 16, 4)
    points = s.points @ pose_rotation(45.0, 25.0, 0.0).T
    points -= points.mean(axis=0)
    apex = points[np.argmin(s.points[:, 2])]
    electrodes = standard_electrodes(points, apex, place_torso(points, Torso(a=165.0, b=110.0)))
    at = (1.0 - s.tm) * 10.0 / 0.5 + s.ab * 40.0  # endo -> epi and apex -> base, ms
    ecg = pseudo_ecg(points, s.tets, electrodes, at)
    assert np.all(np.isfinite(ecg.signals)) and np.abs(ecg.signals).max() > 0
    assert qrs_duration(ecg) == pytest.approx(total_activation_time(at), abs=8.0)


def test_blocked_nodes_are_silent_like_removed_rows(jittered):
    """inf activation times contribute nothing: the QRS equals that of the mesh with those nodes' lead-field rows
    removed (potentials against a node-by-node numpy synthesis; the filtered QRS against a lead field without the
    rows), and the QRS length follows the finite times only."""
    import copy

    from mitwin.ep.leadfield import QRSOptions
    from mitwin.ep.upstroke import _upstroke_cached

    points, tets, electrodes = jittered
    lf = LeadField(points, tets, electrodes)
    rng = np.random.default_rng(11)
    at = np.linalg.norm(points - points[0], axis=1) / 0.6
    blocked = rng.random(len(points)) < 0.2
    blocked[np.argmax(at)] = True  # the latest node never activates: the QRS must end earlier
    at[blocked] = np.inf
    keep = ~blocked
    opts = QRSOptions()
    values, first = _upstroke_cached(opts.template, opts.dt, opts.template_width)

    pot = lf.potentials(at)
    n_samples = int(np.floor(at[keep].max() / opts.dt)) + 1 + int(np.ceil(opts.margin / opts.dt))
    assert pot.shape == (len(ELECTRODES), n_samples)
    expected = _direct_synthesis(lf.matrix[keep], at[keep][None], 0.0, opts.dt, n_samples, opts.amplitude * values,
                                 first)[0]
    np.testing.assert_allclose(pot, expected, rtol=0, atol=1e-9 * np.abs(expected).max())

    removed = copy.copy(lf)  # the same lead field without the blocked nodes' rows
    removed.matrix, removed.lead_matrix, removed._n = lf.matrix[keep], lf.lead_matrix[keep], int(keep.sum())
    np.testing.assert_allclose(lf.qrs(at).signals, removed.qrs(at[keep]).signals, rtol=0, atol=1e-12)
    batch = lf.qrs_batch(np.stack([at, np.where(blocked, np.inf, at + 1.0)]))
    np.testing.assert_allclose(batch.signals[0][:, :n_samples], removed.qrs(at[keep], n_samples=n_samples).signals,
                               rtol=0, atol=1e-12)
    # nothing activates: a flat signal, not an error
    assert np.all(lf.potentials(np.full(len(points), np.inf)) == 0.0)
