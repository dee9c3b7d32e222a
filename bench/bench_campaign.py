"""Benchmarks of the forward model and the campaign, each against what a user would otherwise do.

* one subject's 18 simulations as one prepared C++ batch vs 18 one-call ``mitwin.simulate``;
* a small campaign with two worker processes vs the serial in-process run (same bytes).

Short mode: coarse (5 mm) virtual subjects; ``MITWIN_BENCH=full``: the default 2 mm cohort.

    python -m pytest bench/bench_campaign.py
    MITWIN_BENCH=full python -m pytest bench/bench_campaign.py --benchmark-json=bench/results/campaign.json
"""

from __future__ import annotations

import hashlib
import itertools
import os

import numpy as np
import pytest

from mitwin.infarct import SCENARIOS

FULL = os.environ.get("MITWIN_BENCH", "short").lower() == "full"


@pytest.fixture(scope="module")
def cohort(tmp_path_factory):
    from mitwin.anatomy.cohort import COARSE_RESOLUTION_MM, make_cohort

    out = tmp_path_factory.mktemp("cohort")
    make_cohort(2, seed=0, out=out, resolution_mm=None if FULL else COARSE_RESOLUTION_MM)
    return out


@pytest.fixture(scope="module")
def heart(cohort):
    from mitwin.anatomy.heart import Heart

    return Heart.load(cohort / "subject_000.vtu")


def _settings():
    from mitwin.data.campaign import CampaignSettings

    # coarse meshes have ~3k nodes: sample fewer cloud points there
    return CampaignSettings(scenarios=dict(SCENARIOS), n_cloud=4096 if FULL else 2048)


def test_subject_batch(benchmark, heart):
    """18 simulations of one subject: prepare once + one C++ batch."""
    from mitwin.ep.forward import prepare

    infarcts = [None, *SCENARIOS.values()]

    def run():
        return prepare(heart).simulate_batch(infarcts, n_threads=1)

    batch = benchmark.pedantic(run, rounds=3, iterations=1)
    assert batch.at.shape == (18, heart.n_nodes) and np.all(np.isfinite(batch.at))
    assert batch.at[0].min() == 0.0


def test_subject_one_call_loop(benchmark, heart):
    """Baseline: 18 calls of the one-call ``simulate`` (each prepares the heart again)."""
    from mitwin.ep.forward import prepare, simulate

    infarcts = [None, *SCENARIOS.values()]

    def run():
        return [simulate(heart, inf) for inf in infarcts]

    sims = benchmark.pedantic(run, rounds=1 if FULL else 3, iterations=1)
    ref = prepare(heart).simulate_batch(infarcts, n_threads=1)
    for k, sim in enumerate(sims):
        np.testing.assert_array_equal(sim.at, ref.at[k])


_counter = itertools.count()


def _campaign(cohort, tmp_path, n_workers):
    from mitwin.data.campaign import run_campaign

    out = tmp_path / f"data_{next(_counter)}.h5"
    return run_campaign(cohort, out, n_workers=n_workers, progress=False, settings=_settings())


def test_campaign_two_workers(benchmark, cohort, tmp_path):
    """Two subjects x 18 simulations with two worker processes."""
    out = benchmark.pedantic(_campaign, args=(cohort, tmp_path, 2), rounds=2, iterations=1)
    ref = _campaign(cohort, tmp_path, 1)
    assert hashlib.md5(out.read_bytes()).hexdigest() == hashlib.md5(ref.read_bytes()).hexdigest()


def test_campaign_serial(benchmark, cohort, tmp_path):
    """Baseline: the same campaign in one process."""
    from mitwin.data.store import validate_dataset

    out = benchmark.pedantic(_campaign, args=(cohort, tmp_path, 1), rounds=2, iterations=1)
    assert validate_dataset(out).n_scenarios == 18
