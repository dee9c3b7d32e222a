"""Scenario records, the inference-target rule and the tissue presets."""

from __future__ import annotations

import json
from dataclasses import replace

import numpy as np
import pytest

from mitwin.errors import DatasetError
from mitwin.infarct import (
    INFERENCE_SCENARIOS,
    SCENARIOS,
    Infarct,
    ScenarioRecord,
    ScenarioSet,
    load_scenarios,
    paper_scenarios,
    scenarios_from_json,
)
from mitwin.scenario_records import derive_variants
from mitwin.tissue import DEFAULT_TISSUE, TISSUES, Tissue, get_tissue, tissue_of

# The paper's numbers (Li et al. 2024, Sec. IV-A.1), written out here rather than read from mitwin.
PAPER_FACTORS = {"scar": 0.1, "bz": 0.5, "slow_scar": 0.05, "slow_bz": 0.25}
PAPER_LOCATIONS = {"septal", "apical", "extensive_anterior", "limited_anterior", "lateral", "inferior",
                   "inferolateral"}


def _inf(**kw):
    return Infarct(centre=kw.pop("centre", (1.0, 0.5, 0.3)), radii=kw.pop("radii", (3.0, 0.2, 0.1)), **kw)


# -- the paper's records ------------------------------------------------------------------------------

def test_paper_records_have_the_papers_structure():
    recs = SCENARIOS.records
    assert len(recs) == 17 and {r.location for r in recs} == PAPER_LOCATIONS
    per_location = {loc: sorted((r.extent, r.size) for r in recs if r.location == loc and r.variant_of is None)
                    for loc in PAPER_LOCATIONS}
    for loc, entries in per_location.items():
        expect = [("subendocardial", 1.0), ("transmural", 1.0)]
        if loc == "lateral":  # plus the small lateral infarct (r_ab, r_rt halved) at both extents
            expect = [("subendocardial", 0.5), ("subendocardial", 1.0), ("transmural", 0.5), ("transmural", 1.0)]
        assert entries == expect, loc
    # extent is what the geometry says: transmural reaches the epicardium (tm = 0), subendocardial does not
    for r in recs:
        reaches_epi = r.infarct.centre[0] - r.infarct.radii[0] <= 0.0
        assert reaches_epi == (r.extent == "transmural"), r.name
    (variant,) = [r for r in recs if r.variant_of is not None]
    twin = SCENARIOS.record(variant.variant_of)
    assert (twin.location, twin.extent, twin.size) == ("lateral", "transmural", 1.0)
    assert (variant.infarct.scar_factor, variant.infarct.bz_factor) == (PAPER_FACTORS["slow_scar"],
                                                                      PAPER_FACTORS["slow_bz"])
    assert variant.tissue == "paper_slow" and SCENARIOS.tissue == "paper"
    assert INFERENCE_SCENARIOS == tuple(r.name for r in recs if r is not variant)


def test_paper_preset_is_the_papers_tissue_to_the_last_digit():
    labels = np.array([0, 1, 2, 2, 1, 0], dtype=np.int8)
    for name, inf in paper_scenarios("paper").items():
        slow = SCENARIOS.record(name).variant_of is not None
        scar, bz = ((PAPER_FACTORS["slow_scar"], PAPER_FACTORS["slow_bz"]) if slow
                    else (PAPER_FACTORS["scar"], PAPER_FACTORS["bz"]))
        expect = np.array([1.0, bz, scar, scar, bz, 1.0])
        np.testing.assert_array_equal(inf.speed_factor(labels), expect)
        assert inf == SCENARIOS[name]
    assert paper_scenarios("paper").to_json() == SCENARIOS.to_json()
    assert DEFAULT_TISSUE == "blocked" and SCENARIOS.tissue == "paper"  # new CLI datasets; the paper's own


def test_blocked_preset_keeps_geometry_and_blocks_the_scar():
    blocked = paper_scenarios("blocked")
    assert list(blocked) == list(SCENARIOS) and blocked.tissue == "blocked"
    assert blocked.inference_names == INFERENCE_SCENARIOS
    tm, ab, rt = np.meshgrid(np.linspace(0, 1, 5), np.linspace(0, 1, 21), np.linspace(0, 1, 40), indexing="ij")
    tm, ab, rt = tm.ravel(), ab.ravel(), rt.ravel()
    tv = np.zeros_like(tm)
    for name, inf in blocked.items():
        paper = SCENARIOS[name]
        assert (inf.centre, inf.radii, inf.bz_radii) == (paper.centre, paper.radii, paper.bz_radii)
        lab = inf.labels(tm, ab, rt, tv)
        np.testing.assert_array_equal(lab, paper.labels(tm, ab, rt, tv))
        sf = inf.speed_factor(lab)
        assert np.all(sf[lab == 2] == 0.0) and np.all(sf[lab == 0] == 1.0)
        assert np.all(sf[lab == 1] == (0.25 if blocked.record(name).variant_of else 0.5))
    assert SCENARIOS.with_tissue("blocked").to_json() == blocked.to_json()


# -- JSON: round trip and the fallback for files without record fields -------------------------------

def test_records_round_trip_through_json():
    blocked = paper_scenarios("blocked")
    back = scenarios_from_json(["baseline", *blocked], blocked.to_json())
    assert back.records == blocked.records
    relabelled = ScenarioSet([replace(r, location=None) if r.name == "septal_transmural" else r
                              for r in blocked.records])
    assert relabelled != blocked and dict(relabelled.items()) == dict(blocked.items())  # records, not only infarcts
    extra = ScenarioRecord("r0", _inf(radii=(0.7, 0.15, 0.12)), location="random",
                           params={"seed": 3.0, "transmurality": 0.7})
    one = ScenarioSet([extra])
    assert scenarios_from_json(["r0"], one.to_json()).records == (extra,)


def test_old_json_without_fields_gives_the_papers_records():
    old = json.dumps({n: inf.to_dict() for n, inf in SCENARIOS.items()})  # a dataset written before records
    assert scenarios_from_json(["baseline", *SCENARIOS], old).records == SCENARIOS.records


def test_user_file_with_and_without_fields(tmp_path):
    path = tmp_path / "mine.json"
    path.write_text(json.dumps({
        "a": {"centre": [1, 0.4, 0.2], "radii": [0.5, 0.2, 0.1], "location": "inferior", "extent": "subendocardial"},
        "b": {"centre": [1, 0.8, 0.5], "radii": [3, 0.1, 0.1]},
        "c": {"centre": [1, 0.8, 0.5], "radii": [3, 0.1, 0.1], "scar_factor": 0.05, "bz_factor": 0.25},
    }))
    s = load_scenarios(path)
    assert (s.record("a").location, s.record("a").extent) == ("inferior", "subendocardial")
    assert (s.record("b").location, s.record("b").extent, s.record("b").size) == (None, None, None)
    assert s.record("c").variant_of == "b" and s.inference_names == ("a", "b")
    assert isinstance(s["a"], Infarct) and s["a"].name == "a"


def test_derive_variants_from_parameters_not_names():
    base, other = _inf(name="x"), _inf(centre=(1.0, 0.2, 0.7))
    slow = base.with_tissue("paper_slow")
    # the variant listed first, named to mislead: the dominant tissue decides, not the order or the name
    recs = [ScenarioRecord("normal_cv", slow), ScenarioRecord("slow_cv", base), ScenarioRecord("z", other),
            ScenarioRecord("y_slow", other.scaled(0.5, 0.5))]
    out = {r.name: r.variant_of for r in derive_variants(recs)}
    assert out == {"normal_cv": "slow_cv", "slow_cv": None, "z": None, "y_slow": None}
    # a recorded variant_of (even None) is kept
    kept = derive_variants(recs, known=["normal_cv"])
    assert all(r.variant_of is None for r in kept)


def test_inference_rule_of_the_torch_dataset_reads_records():
    pytest.importorskip("torch")
    from mitwin.data.torchdata import inference_scenarios

    inf = _inf()
    s = ScenarioSet([ScenarioRecord("slow_but_main", inf), ScenarioRecord("v", inf.with_tissue("paper_slow"),
                                                                          variant_of="slow_but_main")])
    assert inference_scenarios(["baseline", "slow_but_main", "v"], s.to_json()) == ["slow_but_main"]


def test_campaign_settings_record_the_tissue():
    from mitwin.data.campaign import CampaignSettings

    settings = CampaignSettings(scenarios=paper_scenarios("blocked"))
    assert settings.config()["tissue"] == "blocked"
    header = settings.header()
    assert scenarios_from_json(header.scenario_names, header.scenarios_json).records == settings.scenarios.records
    plain = CampaignSettings(scenarios={n: SCENARIOS[n] for n in ("lateral_transmural", "lateral_transmural_slow_cv")})
    assert plain.scenarios.record("lateral_transmural_slow_cv").variant_of == "lateral_transmural"
    assert plain.config()["tissue"] == "paper"


# -- validation ---------------------------------------------------------------------------------------

def test_tissue_presets_and_errors():
    assert set(TISSUES) >= {"paper", "paper_slow", "blocked", "blocked_slow"}
    assert get_tissue("blocked").blocked and not get_tissue("paper").blocked
    assert tissue_of(0.0, 0.5) == "blocked" and tissue_of(0.3, 0.5) is None
    with pytest.raises(ValueError, match="tissue: expected one of"):
        get_tissue("insulator")
    with pytest.raises(ValueError, match="bz_factor"):
        Tissue("t", 0.0, 0.0)
    with pytest.raises(ValueError, match="scar_factor"):
        Tissue("t", 1.5, 0.5)
    with pytest.raises(ValueError, match="slow-conduction variant"):
        paper_scenarios("paper_slow")
    with pytest.raises(ValueError, match="no slow-conduction variant"):
        SCENARIOS.with_tissue("blocked_slow")
    blocked = _inf(scar_factor=0.0)
    assert blocked.scar_factor == 0.0 and blocked.speed_factor(np.array([2, 1, 0])).tolist() == [0.0, 0.5, 1.0]


@pytest.mark.parametrize(("kwargs", "match"), [
    ({"name": "baseline"}, "name"),
    ({"extent": "transmu"}, "extent"),
    ({"size": -1.0}, "size"),
    ({"tissue": "blocked"}, "tissue"),
    ({"variant_of": "a"}, "variant_of"),
    ({"params": [1, 2]}, "params"),
])
def test_record_validation(kwargs, match):
    args = {"name": "a", "infarct": _inf(), **kwargs}
    with pytest.raises(ValueError, match=match):
        ScenarioRecord(**args)


def test_set_validation_and_bad_json():
    inf = _inf()
    with pytest.raises(ValueError, match="twice"):
        ScenarioSet([ScenarioRecord("a", inf), ScenarioRecord("a", inf)])
    with pytest.raises(ValueError, match="not in the set"):
        ScenarioSet([ScenarioRecord("a", inf, variant_of="b")])
    with pytest.raises(DatasetError, match="no parameters for scenario 'mine'"):
        scenarios_from_json(["baseline", "mine"], "{}")
    with pytest.raises(DatasetError, match="extent"):
        scenarios_from_json(["a"], json.dumps({"a": dict(inf.to_dict(), extent="deep")}))
