"""Tissue presets through the forward model and the campaign: the blocked scar never activates."""

from __future__ import annotations

import json

import numpy as np
import pytest

from mitwin.infarct import SCENARIOS, paper_scenarios


@pytest.fixture(scope="module")
def cohort(tmp_path_factory):
    from mitwin.anatomy.cohort import COARSE_RESOLUTION_MM, make_cohort

    out = tmp_path_factory.mktemp("cohort")
    make_cohort(1, seed=2, out=out, resolution_mm=COARSE_RESOLUTION_MM)
    return out


@pytest.fixture(scope="module")
def heart(cohort):
    from mitwin.anatomy.heart import Heart

    return Heart.load(cohort / "subject_000.vtu")


def test_paper_preset_simulates_exactly_the_papers_factors(heart):
    """The preset's batch equals a batch of infarcts built from the paper's numbers written out here."""
    from mitwin.ellipsoid import Infarct
    from mitwin.ep.forward import prepare

    fwd = prepare(heart, n_threads=1)
    names = ["lateral_transmural", "lateral_transmural_slow_cv", "septal_subendocardial"]
    literal = []
    for n, (scar, bz) in zip(names, [(0.1, 0.5), (0.05, 0.25), (0.1, 0.5)]):
        g = SCENARIOS[n]
        literal.append(Infarct(centre=g.centre, radii=g.radii, bz_radii=g.bz_radii, scar_factor=scar, bz_factor=bz))
    a = fwd.simulate_batch([paper_scenarios("paper")[n] for n in names])
    b = fwd.simulate_batch(literal)
    np.testing.assert_array_equal(a.at, b.at)
    np.testing.assert_array_equal(a.qrs.signals, b.qrs.signals)


@pytest.mark.slow
@pytest.mark.parametrize("method", ["dijkstra", "eikonal"])
def test_blocked_preset_scar_never_activates(heart, method):
    from mitwin.ep.forward import prepare

    fwd = prepare(heart, n_threads=1, method=method)
    blocked = paper_scenarios("blocked")
    names = ["lateral_transmural", "apical_subendocardial", "lateral_transmural_slow_cv"]
    batch = fwd.simulate_batch([None, *(blocked[n] for n in names)])
    paper = fwd.simulate_batch([SCENARIOS[n] for n in names])
    assert np.all(np.isfinite(batch.at[0]))
    for k, n in enumerate(names, start=1):
        lab = blocked[n].labels(heart.tm, heart.ab, heart.rt, heart.tv)
        at = batch.at[k]
        assert lab.max() == 2 and np.all(np.isinf(at[lab == 2]))  # scar: never
        assert np.all(np.isfinite(at[lab == 0]))  # healthy tissue is reached around the scar
        if blocked.record(n).variant_of is None:
            # the silent scar ends activation (and the QRS) earlier than the paper's slowly conducting one
            assert np.max(at[np.isfinite(at)]) < np.max(paper.at[k - 1])
            if method == "dijkstra":
                # shortest paths on the same edges, some removed: no node outside the scar gets earlier
                outside = lab != 2
                assert np.all(at[outside] >= paper.at[k - 1][outside] - 1e-9)


@pytest.mark.slow
def test_simulate_command_line_records_the_tissue(cohort, tmp_path):
    from mitwin.cli import main
    from mitwin.data.store import open_dataset
    from mitwin.infarct import scenarios_from_json

    out = tmp_path / "blocked.h5"
    assert main(["simulate", "--cohort", str(cohort), "--out", str(out), "--workers", "1", "--tissue",
                 "blocked"]) == 0
    with open_dataset(out) as ds:
        assert json.loads(ds.header.config_json)["tissue"] == "blocked"
        recs = scenarios_from_json(ds.scenario_names, ds.header.scenarios_json)
        assert recs.tissue == "blocked" and recs.record("lateral_transmural_slow_cv").tissue == "blocked_slow"
        g = ds.subject("subject_000")
        at, labels = g["at"][...], g["labels"][...]
    assert np.all(np.isfinite(at[0])) and np.all(np.isinf(at[1:][labels[1:] == 2]))


@pytest.mark.slow
def test_blocked_scar_gives_clinical_qrs_durations(tmp_path):
    """A default-resolution subject (1.9 mm, the cohort's default) with the blocked preset: healthy QRS in the
    normal adult range (75-105 ms), every inference scenario within 80-160 ms, inside the clinical post-MI
    range (VALIANT, Solomon et al. 2006, ancillary analysis: quartiles < 75, 75-88, 89-108, > 108 ms; >= 120 ms
    in ~6 % of survivors), far from the several hundred ms of the paper's slow scar on the same heart."""
    import mitwin
    from mitwin.anatomy.cohort import make_cohort
    from mitwin.ep.delineation import qrs_duration

    path = make_cohort(1, seed=0, out=tmp_path / "cohort", progress=False)[0]
    fwd = mitwin.prepare(mitwin.Heart.load(path), n_threads=1)
    blocked, paper = paper_scenarios("blocked"), paper_scenarios("paper")
    names = list(blocked.inference_names)
    durations = {}
    for tissue, scenarios in (("blocked", blocked), ("paper", paper)):
        batch = fwd.simulate_batch([None, *(scenarios[n] for n in names)], n_threads=1)
        durations[tissue] = np.array([qrs_duration(batch[k].qrs) for k in range(len(batch))])
    healthy, mi = durations["blocked"][0], durations["blocked"][1:]
    assert 75.0 <= healthy <= 105.0
    assert np.all((mi >= 80.0) & (mi <= 160.0)), dict(zip(names, mi.round()))
    assert durations["paper"][0] == healthy  # the tissue does not touch the healthy heart
    assert durations["paper"][1:].max() > 200.0 > mi.max()
