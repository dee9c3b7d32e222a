"""The inverse benchmark at a tiny size: every method, condition and metric present; tables and figure."""

from __future__ import annotations

import numpy as np
import pytest


@pytest.mark.slow
def test_tiny_benchmark(tmp_path):
    from mitwin.anatomy.cohort import COARSE_RESOLUTION_MM, make_cohort
    from mitwin.anatomy.heart import Heart
    from mitwin.inverse.benchmark import BenchmarkSettings, run_benchmark
    from mitwin.inverse.figures import plot_calibration
    from mitwin.inverse.report import bins_table, calibration_table, summary_table

    heart = Heart.load(make_cohort(1, seed=0, out=tmp_path / "c", resolution_mm=COARSE_RESOLUTION_MM)[0])
    s = BenchmarkSettings(n_random=2, n_simulations=60, conditions=("clean", "speed-10"), irregular=0.0, double=0.0)
    records, rel = run_benchmark([(0, heart)], s)
    assert len(records) == 3 * 3 * 2  # (2 random + healthy) x 3 methods x 2 conditions
    assert {r["method"] for r in records} == {"fit", "nearest", "template"}
    inf = [r for r in records if not r["healthy"]]
    assert all(0 <= r["scar_dice"] <= 1 and r["scar_volume_ml"] > 0 for r in inf)
    fits = [r for r in inf if r["method"] == "fit"]
    assert all(isinstance(r["volume_cov90"], bool) and r["n_simulations"] <= 60 for r in fits)
    assert rel.counts.sum() == 3 * 2 * heart.n_nodes
    table = summary_table(records)
    assert "| clean | fit |" in table and "| speed-10 | template |" in table
    assert " mL |" in bins_table(records) and "volume 90 %" in calibration_table(records, rel)
    assert plot_calibration(records, rel, tmp_path / "cal.png").stat().st_size > 1000
    # the template baseline recovers a template exactly when the case is one
    t = BenchmarkSettings(n_random=1, n_simulations=60, conditions=("clean",), cases="templates")
    rec_t, _ = run_benchmark([(0, heart)], t)
    tpl = [r for r in rec_t if r["method"] == "template" and not r["healthy"]]
    assert len(tpl) == 16 and np.mean([r["scar_dice"] for r in tpl]) > 0.9
