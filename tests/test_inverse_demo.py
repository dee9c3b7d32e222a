"""The inverse stage of the demo at its tiny size: files written, the table holds every method."""

from __future__ import annotations

import json

import pytest


@pytest.mark.slow
def test_inverse_demo_tiny(tmp_path):
    from mitwin.anatomy.cohort import COARSE_RESOLUTION_MM, make_cohort
    from mitwin.anatomy.heart import Heart
    from mitwin.inverse.demo import run_inverse_demo

    heart = Heart.load(make_cohort(1, seed=0, out=tmp_path / "c", resolution_mm=COARSE_RESOLUTION_MM)[0])
    text = run_inverse_demo([(0, heart)], tmp_path / "inv", size="tiny")
    for method in ("fit", "nearest", "template"):
        assert f"| clean | {method} |" in text
    for name in ("benchmark.md", "calibration.png", "fit_example.png", "records.json"):
        assert (tmp_path / "inv" / name).stat().st_size > 100
    data = json.loads((tmp_path / "inv" / "records.json").read_text())
    assert data["settings"]["n_simulations"] == 150 and len(data["records"]) == 3 * 3 * 2
    with pytest.raises(ValueError, match="size"):
        run_inverse_demo([(0, heart)], tmp_path / "x", size="huge")
