"""Infarct ellipsoids (Eq. 1 of the paper) and the scenario table."""

from __future__ import annotations

import json

import numpy as np
import pytest

from mitwin.anatomy.aha import aha_segments
from mitwin.infarct import (
    INFERENCE_SCENARIOS,
    SCENARIO_NAMES,
    SCENARIOS,
    TARGET_SEGMENTS,
    Infarct,
    aha_overlap,
    load_scenarios,
    node_volumes,
    scenario_location,
    scenario_table,
)


def _grid(n_tm=6, n_ab=100, n_rt=240, tv=0.0):
    """A uniform (tm, ab, rt) grid; returns flat arrays and the grid shape."""
    tm = np.linspace(0.0, 1.0, n_tm)
    ab = (np.arange(n_ab) + 0.5) / n_ab
    rt = (np.arange(n_rt) + 0.5) / n_rt
    TM, AB, RT = np.meshgrid(tm, ab, rt, indexing="ij")
    return TM.ravel(), AB.ravel(), RT.ravel(), np.full(TM.size, tv), TM.shape


def _eq1_reference(tm, ab, rt, centre, radii):
    """Eq. (1) point by point, the periodic rt difference as the shorter way round."""
    out = np.zeros(len(tm), dtype=bool)
    for i in range(len(tm)):
        d = abs(rt[i] - centre[2]) % 1.0
        d = min(d, 1.0 - d)
        v = ((tm[i] - centre[0]) / radii[0]) ** 2 + ((ab[i] - centre[1]) / radii[1]) ** 2 + (d / radii[2]) ** 2
        out[i] = v <= 1.0
    return out


# -- Eq. (1) ---------------------------------------------------------------------------------------

def test_labels_match_pointwise_eq1(rng):
    inf = Infarct(centre=(0.9, 0.45, 0.95), radii=(0.4, 0.2, 0.15), bz_radii=(0.5, 0.3, 0.2))
    n = 3000
    tm, ab, rt = rng.uniform(0, 1, n), rng.uniform(0, 1, n), rng.uniform(0, 1, n)
    tv = np.zeros(n)
    lab = inf.labels(tm, ab, rt, tv)
    assert lab.dtype == np.int8 and lab.shape == (n,)
    scar = _eq1_reference(tm, ab, rt, inf.centre, inf.radii)
    bz = _eq1_reference(tm, ab, rt, inf.centre, inf.bz_radii) & ~scar
    np.testing.assert_array_equal(lab == 2, scar)
    np.testing.assert_array_equal(lab == 1, bz)
    assert scar.sum() > 50 and bz.sum() > 50  # the sample exercised both regions


def test_rt_wraps_around():
    inf = Infarct(centre=(1.0, 0.5, 0.98), radii=(3.0, 0.2, 0.05))
    lab = inf.labels([1.0, 1.0, 1.0], [0.5, 0.5, 0.5], [0.02, 0.94, 0.5], [0, 0, 0])
    assert lab.tolist() == [2, 2, 0]


def test_only_lv_region_is_infarcted():
    # the same coordinates on the LV, on the RV septal side (rt > 2/3) and on the RV free wall
    inf = Infarct(centre=(1.0, 0.5, 0.66), radii=(3.0, 0.3, 0.2))
    rt = np.array([0.6, 0.7, 0.6, 0.7])
    tv = np.array([0.0, 0.0, 1.0, 1.0])
    lab = inf.labels(np.ones(4), np.full(4, 0.5), rt, tv)
    assert lab.tolist() == [2, 2, 0, 2]


def test_speed_factor_maps_labels():
    inf = Infarct(centre=(1, 0.5, 0.5), radii=(1, 0.1, 0.1), scar_factor=0.2, bz_factor=0.6)
    sf = inf.speed_factor(np.array([0, 1, 2, 2, 0], dtype=np.int8))
    assert sf.dtype == np.float64
    assert sf.tolist() == [1.0, 0.6, 0.2, 0.2, 1.0]


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"centre": (1, 0.5), "radii": (1, 1, 1)}, "centre"),
        ({"centre": (1, 0.5, 0.5), "radii": (1, 0, 1)}, "radii"),
        ({"centre": (1, 0.5, np.nan), "radii": (1, 1, 1)}, "centre"),
        ({"centre": (1, 0.5, 0.5), "radii": (1, 0.3, 0.3), "bz_radii": (1, 0.2, 0.4)}, "bz_radii"),
        ({"centre": (1, 0.5, 0.5), "radii": (1, 1, 1), "scar_factor": -0.1}, "scar_factor"),
        ({"centre": (1, 0.5, 0.5), "radii": (1, 1, 1), "scar_factor": True}, "scar_factor"),
        ({"centre": (1, 0.5, 0.5), "radii": (1, 1, 1), "bz_factor": 0.0}, "bz_factor"),
        ({"centre": (1, 0.5, 0.5), "radii": (1, 1, 1), "bz_factor": 1.5}, "bz_factor"),
        ({"centre": (1, 0.5, 0.5), "radii": (1, 1, 1), "name": ""}, "name"),
    ],
)
def test_invalid_parameters_raise(kwargs, match):
    with pytest.raises(ValueError, match=match):
        Infarct(**kwargs)


def test_invalid_inputs_raise():
    inf = SCENARIOS["lateral_transmural"]
    with pytest.raises(ValueError, match="equal shapes"):
        inf.labels(np.ones(3), np.ones(3), np.ones(2), np.ones(3))
    with pytest.raises(ValueError, match="finite"):
        inf.labels([np.nan], [0.5], [0.5], [0.0])
    with pytest.raises(ValueError, match="labels"):
        inf.speed_factor(np.array([0, 3]))
    with pytest.raises(ValueError, match="labels"):
        inf.speed_factor(np.array([0.0, 1.0]))


# -- the scenario table ------------------------------------------------------------------------------

def test_the_17_scenarios():
    assert len(SCENARIOS) == 17 and SCENARIO_NAMES == tuple(SCENARIOS)
    assert len(INFERENCE_SCENARIOS) == 16 and "lateral_transmural_slow_cv" not in INFERENCE_SCENARIOS
    assert all(n.replace("_", "").isalpha() and n.islower() for n in SCENARIO_NAMES)
    for location in TARGET_SEGMENTS:
        for extent, r_tm in (("transmural", 3.0), ("subendocardial", 0.5)):
            inf = SCENARIOS[f"{location}_{extent}"]
            assert inf.centre[0] == 1.0 and inf.radii[0] == r_tm  # tm0 = 1 (paper Sec. IV-A.1)
            assert (inf.scar_factor, inf.bz_factor) == (0.1, 0.5)
    assert all(SCENARIOS[n].name == n for n in SCENARIO_NAMES)


@pytest.mark.parametrize("name", SCENARIO_NAMES)
def test_scar_lies_in_its_aha_segments(name):
    """Independent check of the stated overlap: >= 90 % of the scar in the Nikus segments."""
    inf = SCENARIOS[name]
    targets = TARGET_SEGMENTS[scenario_location(name)]
    tm, ab, rt, tv, _ = _grid()
    scar = inf.labels(tm, ab, rt, tv) == 2
    seg = aha_segments(ab, rt, tv)
    assert scar.any()
    assert np.isin(seg[scar], targets).mean() >= 0.9
    touched = {s for s in targets if (scar & (seg == s) & (tm == 1.0)).sum() >= 0.05 * ((seg == s) & (tm == 1.0)).sum()}
    if name.startswith("small_"):
        assert {11, 12} <= touched  # the small lateral infarct sits on the mid lateral wall
    else:
        assert touched == set(targets)
    ov = aha_overlap(inf, targets)
    assert abs(ov.in_target - np.isin(seg[scar], targets).mean()) < 0.03  # two grids, same answer


@pytest.mark.parametrize("name", SCENARIO_NAMES)
def test_no_scar_in_rv_free_wall(name):
    tm, ab, rt, tv, _ = _grid(tv=1.0)
    lab = SCENARIOS[name].labels(tm, ab, rt, tv)
    assert not np.any(lab[rt < 2 / 3])


@pytest.mark.parametrize("name", [n for n in SCENARIO_NAMES if "subendocardial" in n])
def test_subendocardial_scar_stays_inner(name):
    tm, ab, rt, tv, _ = _grid(n_tm=41)
    lab = SCENARIOS[name].labels(tm, ab, rt, tv)
    assert np.all(tm[lab == 2] >= 0.5)
    transmural = SCENARIOS[name.replace("subendocardial", "transmural")].labels(tm, ab, rt, tv)
    assert np.any(tm[transmural == 2] == 0.0)  # while the transmural one reaches the epicardium


@pytest.mark.parametrize("extent", ["transmural", "subendocardial"])
def test_small_lateral_is_a_quarter_of_the_large(extent):
    tm, ab, rt, tv, _ = _grid(n_tm=2, n_ab=400, n_rt=960)
    endo = tm == 1.0
    large = (SCENARIOS[f"lateral_{extent}"].labels(tm, ab, rt, tv) == 2) & endo
    small = (SCENARIOS[f"small_lateral_{extent}"].labels(tm, ab, rt, tv) == 2) & endo
    assert small.sum() / large.sum() == pytest.approx(0.25, abs=0.01)
    # and the large one is the analytic ellipse area pi r_ab r_rt (it lies inside 0 < ab < 1)
    r = SCENARIOS[f"lateral_{extent}"].radii
    assert large.sum() / endo.sum() == pytest.approx(np.pi * r[1] * r[2], rel=0.01)
    assert not np.any(small & ~large)


@pytest.mark.parametrize("name", SCENARIO_NAMES)
def test_bz_surrounds_scar(name):
    """On a grid, no scar node touches a healthy LV node: a BZ layer always lies between."""
    tm, ab, rt, tv, shape = _grid(n_tm=21, n_ab=100, n_rt=240)
    lab = SCENARIOS[name].labels(tm, ab, rt, tv).reshape(shape)
    assert (lab == 1).any()
    for axis in range(3):
        a = lab
        b = np.roll(lab, -1, axis=axis)  # rt wraps around; for tm and ab drop the wrapped pair
        if axis < 2:
            a, b = np.take(a, range(shape[axis] - 1), axis=axis), np.take(b, range(shape[axis] - 1), axis=axis)
        assert not np.any((a == 2) & (b == 0)) and not np.any((a == 0) & (b == 2))


def test_bz_surrounds_scar_on_a_mesh():
    """Also on tets, once the mesh is finer than the BZ margin (0.2, 0.08, 0.05)."""
    from mitwin.anatomy.synthetic import shell_mesh

    s = shell_mesh(64, 40, 8)
    rt = s.theta / (2 * np.pi)
    tv = np.zeros_like(rt)
    lab = SCENARIOS["lateral_subendocardial"].labels(s.tm, s.ab, rt, tv)
    edges = np.concatenate([s.tets[:, [i, j]] for i in range(4) for j in range(i + 1, 4)])
    la, lb = lab[edges[:, 0]], lab[edges[:, 1]]
    assert (lab == 2).any()
    assert not np.any(((la == 2) & (lb == 0)) | ((la == 0) & (lb == 2)))


def test_slow_variant_differs_only_in_speeds():
    slow, normal = SCENARIOS["lateral_transmural_slow_cv"], SCENARIOS["lateral_transmural"]
    assert (slow.centre, slow.radii, slow.bz_radii) == (normal.centre, normal.radii, normal.bz_radii)
    assert (slow.scar_factor, slow.bz_factor) == (0.05, 0.25)  # paper Sec. IV-A.1
    tm, ab, rt, tv, _ = _grid(n_tm=4, n_ab=30, n_rt=60)
    np.testing.assert_array_equal(slow.labels(tm, ab, rt, tv), normal.labels(tm, ab, rt, tv))


def test_small_lateral_halves_r_ab_and_r_rt():
    small, large = SCENARIOS["small_lateral_transmural"], SCENARIOS["lateral_transmural"]
    assert small.centre == large.centre
    assert small.radii == (large.radii[0], large.radii[1] / 2, large.radii[2] / 2)


# -- user scenarios and the printed table ------------------------------------------------------------

def test_load_scenarios_roundtrip(tmp_path):
    path = tmp_path / "mine.json"
    mine = {"basal_lateral": {"centre": [1.0, 0.85, 0.3], "radii": [3.0, 0.1, 0.08]},
            "septal_slow": SCENARIOS["septal_transmural"].to_dict() | {"scar_factor": 0.05}}
    path.write_text(json.dumps(mine))
    loaded = load_scenarios(path)
    assert list(loaded) == ["basal_lateral", "septal_slow"]
    assert loaded["basal_lateral"].bz_radii == pytest.approx((3.2, 0.18, 0.13))
    assert loaded["septal_slow"].radii == SCENARIOS["septal_transmural"].radii
    assert loaded["septal_slow"].name == "septal_slow" and loaded["septal_slow"].scar_factor == 0.05
    # list form
    path.write_text(json.dumps([{"name": "a", "centre": [1, 0.5, 0.5], "radii": [1, 0.1, 0.1]}]))
    assert list(load_scenarios(path)) == ["a"]


@pytest.mark.parametrize(
    ("content", "match"),
    [
        ('{"baseline": {"centre": [1, 0.5, 0.5], "radii": [1, 0.1, 0.1]}}', "baseline"),
        ('{"a": {"centre": [1, 0.5, 0.5]}}', "missing"),
        ('{"a": {"centre": [1, 0.5, 0.5], "radii": [1, 0.1, 0.1], "colour": 3}}', "unknown"),
        ('{"a": {"centre": [1, 0.5, 0.5], "radii": [1, -0.1, 0.1]}}', "radii"),
        ("[1, 2]", "entry 0"),
        ("{}", "no scenarios"),
        ("not json", "could not read"),
    ],
)
def test_load_scenarios_errors(tmp_path, content, match):
    path = tmp_path / "bad.json"
    path.write_text(content)
    with pytest.raises(ValueError, match=match):
        load_scenarios(path)


def test_scenario_table_lists_everything(tmp_path):
    table = scenario_table()
    for name in SCENARIO_NAMES:
        assert f"| {name} " in table
    extra = tmp_path / "extra.json"
    extra.write_text(json.dumps({"my_scar": {"centre": [1, 0.5, 0.1], "radii": [0.5, 0.1, 0.1]}}))
    table = scenario_table(extra=extra)
    assert "| my_scar " in table
    extra.write_text(json.dumps({"septal_transmural": {"centre": [1, 0.5, 0.1], "radii": [0.5, 0.1, 0.1]}}))
    with pytest.raises(ValueError, match="already exist"):
        scenario_table(extra=extra)


def test_node_volumes_sum_to_mesh_volume(small_box):
    points, tets = small_box
    vol = node_volumes(points, tets)
    assert vol.shape == (points.shape[0],)
    assert vol.sum() == pytest.approx(1000.0)  # the 10 mm cube
    # an inner node of a regular 1 mm Kuhn grid owns 1 mm^3 (24 tets of 1/6 mm^3, a quarter each)
    inner = np.flatnonzero(np.all((points > 0.5) & (points < 9.5), axis=1))
    assert vol[inner] == pytest.approx(np.ones(inner.size))


def test_shipped_example_scenarios():
    from mitwin.infarct import EXAMPLES_DIR

    sizes = load_scenarios(EXAMPLES_DIR / "apical_sizes.json")
    assert len(sizes) == 6
    for name, inf in sizes.items():
        ref = SCENARIOS["apical_transmural" if "transmural" in name else "apical_subendocardial"]
        assert inf.centre == ref.centre and inf.radii[0] == ref.radii[0]
        assert inf.radii[1] == int(name[-2:]) / 100
        assert inf.bz_radii == pytest.approx(tuple(r + m for r, m in zip(inf.radii, (0.2, 0.08, 0.05))))
