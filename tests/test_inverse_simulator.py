"""The QRS shape distance: time warping against numpy's interpolation, invariances, observation checks."""

from __future__ import annotations

import numpy as np
import pytest

from mitwin.ep.ecg import ECG
from mitwin.inverse.simulator import QRSSimulator, as_observation, shape_features, time_warp


def _qrs(t: int = 90, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    x = np.arange(t)
    centres, widths, amps = rng.uniform(20, 70, (8, 3)), rng.uniform(4, 12, (8, 3)), rng.normal(0, 5, (8, 3))
    return np.sum(amps[..., None] * np.exp(-0.5 * ((x - centres[..., None]) / widths[..., None]) ** 2), axis=1)


@pytest.mark.parametrize("scale", [0.88, 0.95, 1.1])
def test_time_warp_equals_numpy_interp(scale):
    x = _qrs()[None]
    warped, length = time_warp(x, np.array([90]), scale)
    t = np.arange(warped.shape[-1]) * scale
    ref = np.stack([np.interp(t, np.arange(90), lead, right=0.0) for lead in x[0]])
    assert np.allclose(warped[0], ref)
    assert length[0] == int(np.ceil(90 / scale))


class _Sim(QRSSimulator):
    def __post_init__(self) -> None:  # no forward model needed for the distance
        self.n_simulations = 0


def test_distance_is_zero_for_itself_and_blind_to_amplitude_and_warp():
    y = _qrs()
    sim = _Sim(None, time_scales=(0.9, 1.0, 1.1))
    scaled = y * np.arange(1, 9)[:, None]  # per-lead amplitudes do not matter
    assert sim.distances(scaled[None], np.array([90]), y)[0] == pytest.approx(0.0, abs=1e-12)
    fast, length = time_warp(y[None], np.array([90]), 1 / 1.1)  # the same QRS 10 % slower
    plain = _Sim(None)
    assert sim.distances(fast, length, y)[0] < 0.01 < plain.distances(fast, length, y)[0]
    other = _qrs(seed=1)
    assert sim.distances(other[None], np.array([90]), y)[0] > 0.1


def test_shape_features_normalise_each_lead_and_pad():
    y = _qrs()
    f = shape_features(y[None], np.array([60]), 120)
    assert f.shape == (1, 8, 120)
    assert np.allclose(np.max(np.abs(f), axis=-1), 1.0)
    assert not np.any(f[..., 60:])


def test_as_observation_reorders_resamples_and_checks():
    y = _qrs()
    perm = [2, 0, 1, 3, 4, 5, 6, 7]  # rows stored as V1, I, II, V2..V6
    ecg = ECG(y[perm], 1.0, ("V1", "I", "II", "V2", "V3", "V4", "V5", "V6"))
    assert np.array_equal(as_observation(ecg, 1.0), y)
    half = ECG(y[:, ::2], 2.0)
    assert as_observation(half, 1.0).shape == (8, 89)
    with pytest.raises(ValueError, match="qrs"):
        as_observation(np.zeros((8, 50)), 1.0)
    with pytest.raises(ValueError, match="qrs"):
        as_observation(np.ones((3, 50)), 1.0)
    with pytest.raises(ValueError, match="scale"):
        time_warp(y[None], np.array([90]), 0.0)
