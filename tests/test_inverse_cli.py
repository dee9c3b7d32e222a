"""``mitwin simulate --random N``: the random infarcts travel into the dataset as structured records."""

from __future__ import annotations

import json

import pytest


@pytest.mark.slow
def test_simulate_random_adds_records(tmp_path):
    from mitwin.anatomy.cohort import COARSE_RESOLUTION_MM, make_cohort
    from mitwin.cli import main
    from mitwin.data.store import read_header
    from mitwin.inverse.prior import random_scenarios

    make_cohort(1, seed=0, out=tmp_path / "cohort", resolution_mm=COARSE_RESOLUTION_MM)
    out = tmp_path / "data.h5"
    assert main(["simulate", "--cohort", str(tmp_path / "cohort"), "--out", str(out), "--random", "2",
                 "--random-seed", "4", "--workers", "1", "--tissue", "paper"]) == 0
    header = read_header(out)
    expected = [r.name for r in random_scenarios(2, seed=4)]
    assert list(header.scenario_names[-2:]) == expected and len(header.scenario_names) == 1 + 17 + 2
    entry = json.loads(header.scenarios_json)[expected[0]]
    assert entry["location"] == "random" and entry["params"]["k"] == 0.0
    assert {"ab0", "rt0", "r_tm", "r_ab", "r_rt"} <= set(entry["params"])
