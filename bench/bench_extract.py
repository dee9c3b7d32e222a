"""QRS extraction from a 10 s, 12-lead record, paired with the plain neurokit2 call a user would otherwise make.

* ``extract_qrs_report`` (8 leads: resampling, high-pass, R peaks, aligned median beat, slope-envelope
  delineation with neurokit2's wavelet delineation as the cross-check; also timed without it) against
  ``neurokit2.ecg_process`` on lead II at the native rate (clean, R peaks, wavelet delineation), on a PTB-XL
  normal (HR06004) when it is in ``../shared/data/ecg`` and on a synthetic Gaussian-wave record with known QRS
  bounds.

Both the time and the QRS duration each gives are recorded:

    python -m pytest bench/bench_extract.py --benchmark-json=bench/results/extract.json
"""

from __future__ import annotations

import logging
import statistics
import time
from pathlib import Path

import numpy as np
import pytest

from mitwin.ep.ecg import LEADS
from mitwin.ep.extract import extract_qrs_report
from mitwin.ep.records import quiet_deprecations, read_ecg

logger = logging.getLogger(__name__)

DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "ecg"
#: Q, R, S waves (centre ms from R, sd ms) and their amplitudes (mV) in I, II, V1..V6 for the synthetic record.
WAVES = ((-22.0, 5.0), (0.0, 9.0), (24.0, 6.0))
AMPS = np.array([[-0.05, 0.6, -0.1], [-0.1, 1.0, -0.2], [0.0, 0.25, -1.0], [0.0, 0.5, -1.3], [-0.05, 0.9, -0.8],
                 [-0.1, 1.4, -0.5], [-0.12, 1.3, -0.3], [-0.1, 1.0, -0.15]])


def _synthetic(fs: float = 500.0, hr: float = 72.0) -> tuple[np.ndarray, float]:
    """(8, 10 s) QRS-only beats with wander and noise, and the true QRS duration (2 % of each lead's peak), ms."""
    rng = np.random.default_rng(0)
    t = np.arange(0.0, 10_000.0, 1000.0 / fs)
    x = 0.2 * np.sin(2 * np.pi * 0.3 * t / 1000.0) + 0.02 * rng.standard_normal((8, t.size))
    for r in np.arange(400.0, 9_600.0, 60_000.0 / hr):
        x += sum(AMPS[:, [k]] * np.exp(-0.5 * ((t - r - c) / s) ** 2) for k, (c, s) in enumerate(WAVES))
    tt = np.arange(-150.0, 150.0, 0.1)
    q = np.abs(sum(AMPS[:, [k]] * np.exp(-0.5 * ((tt - c) / s) ** 2) for k, (c, s) in enumerate(WAVES)))
    active = np.any(q > 0.02 * q.max(axis=1, keepdims=True), axis=0)
    return x, float(tt[active][-1] - tt[active][0])


def _neurokit_process(lead: np.ndarray, fs: float) -> tuple[int, float]:
    """neurokit2's one-call pipeline on one lead: number of R peaks and median QRS (R onset to R offset), ms."""
    import neurokit2 as nk

    with quiet_deprecations():
        _, info = nk.ecg_process(lead, sampling_rate=int(fs))
    on = np.asarray(info["ECG_R_Onsets"], dtype=float)
    off = np.asarray(info["ECG_R_Offsets"], dtype=float)
    return len(info["ECG_R_Peaks"]), float(np.nanmedian(off - on)) * 1000.0 / fs


def _timed(fn, rounds: int = 3) -> tuple[float, object]:
    times, out = [], None
    for _ in range(rounds):
        t0 = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times), out


@pytest.mark.parametrize("source", ["HR06004", "synthetic"])
def test_extract_vs_neurokit_process(benchmark, source):
    if source == "synthetic":
        x, truth = _synthetic()
        ecg = read_ecg(x, fs=500.0, leads=LEADS)
    else:
        if not (DATA / f"{source}.hea").is_file():
            pytest.skip(f"the PTB-XL record {source} is not in {DATA}")
        ecg, truth = read_ecg(DATA / source), float("nan")
    result = benchmark.pedantic(lambda: extract_qrs_report(ecg), rounds=3, iterations=1, warmup_rounds=1)
    t_nk, (n_peaks, nk_qrs) = _timed(lambda: _neurokit_process(ecg.lead("II"), 1000.0 / ecg.dt))
    t_quick, quick = _timed(lambda: extract_qrs_report(ecg, cross_check=False))
    assert quick.qrs_duration_ms == result.qrs_duration_ms  # the cross-check never changes the default result
    assert abs(n_peaks - result.n_beats) <= 1  # both find every beat
    assert 70.0 <= result.qrs_duration_ms <= 110.0
    if truth == truth:
        assert abs(result.qrs_duration_ms - truth) <= 10.0
    t_ours = benchmark.stats.stats.median
    benchmark.extra_info.update(neurokit2_process_s=t_nk, without_cross_check_s=t_quick,
                                mitwin_qrs_ms=result.qrs_duration_ms,
                                neurokit2_qrs_ms=nk_qrs, true_qrs_ms=truth, ratio_vs_neurokit2=t_ours / t_nk)
    logger.warning("%s: extract_qrs_report %.3f s (%.3f s without the neurokit2 cross-check), QRS %.0f ms; "
                   "neurokit2.ecg_process(II) %.3f s, median QRS %.0f ms; truth %s ms", source, t_ours, t_quick,
                   result.qrs_duration_ms, t_nk, nk_qrs, f"{truth:.0f}")
