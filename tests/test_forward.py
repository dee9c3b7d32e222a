"""The conduction system (fast layer, roots, Purkinje delays) and the forward model."""

from __future__ import annotations

import numpy as np
import pytest

from mitwin.ep.conduction import (
    ROOT_SITES,
    ConductionParams,
    endocardial_speed,
    purkinje_delays,
    root_nodes,
)
from mitwin.infarct import SCENARIOS, TARGET_SEGMENTS, Infarct

# The flat "heart" of the tests on known geometry: the ``slab`` fixture of conftest.py.


def _kuhn_graph_distance(dx, dy):
    """Shortest path on a unit grid whose squares carry the (+1, +1) diagonal (the Kuhn split)."""
    same = dx * dy >= 0
    a, b = np.abs(dx), np.abs(dy)
    return np.where(same, np.maximum(a, b) + (np.sqrt(2) - 1) * np.minimum(a, b), a + b)


def test_endocardial_layer_regions(slab):
    """The paper's regions (the defaults are tested in test_conduction.py)."""
    v = endocardial_speed(slab, params=ConductionParams.paper())
    ab, rt = slab.ab, slab.rt
    expected = np.full(len(ab), np.nan)
    for i in slab.surfaces["lv_endo"]:
        if ab[i] <= 0.9:
            expected[i] = 1.5 if ab[i] <= 0.4 else 1.0
    for i in slab.surfaces["rv_endo"]:
        if ab[i] <= 0.9:
            expected[i] = 1.5 if (ab[i] <= 0.2 or 0.2 <= rt[i] <= 0.5) else 1.0
    np.testing.assert_array_equal(v, expected)
    with pytest.raises(ValueError, match="dense"):
        endocardial_speed(slab, dense=0.0)


def test_roots_snap_to_the_nearest_node_of_their_ventricle(slab):
    roots = root_nodes(slab)
    assert roots.shape == (7,) and roots.dtype == np.int64
    for node, (ventricle, ab0, rt0) in zip(roots, ROOT_SITES.values()):
        surface = slab.surfaces[f"{ventricle}_endo"]
        assert node in surface
        # brute force: no node of that surface is closer in (ab, rt)
        d = [min(abs(slab.rt[j] - rt0), 1 - abs(slab.rt[j] - rt0)) ** 2 + (slab.ab[j] - ab0) ** 2 for j in surface]
        drt = min(abs(slab.rt[node] - rt0), 1 - abs(slab.rt[node] - rt0))
        assert drt**2 + (slab.ab[node] - ab0) ** 2 == pytest.approx(min(d))
    with pytest.raises(ValueError, match="ventricle"):
        root_nodes(slab, {"x": ("la", 0.5, 0.5)})


def test_purkinje_delays_follow_the_surface_graph(slab):
    """His at the middle of the LV face: LV delays are the exact graph distance on the Kuhn
    grid / speed; RV delays add the 6 mm septal crossing. Both lie within 0-41 % above the
    Euclidean (geodesic) distance, the graph metric's known bound on this grid."""
    his = ("lv", 0.5, 0.5)  # node (10, 10, 0)
    lv, rv = slab.surfaces["lv_endo"], slab.surfaces["rv_endo"]
    nodes = np.concatenate([lv, rv])
    speed = 2.5
    d = purkinje_delays(slab, nodes, speed=speed, his=his)
    p = slab.points[nodes]
    dx, dy = p[:, 0] - 10.0, p[:, 1] - 10.0
    plane = _kuhn_graph_distance(dx, dy)
    expected = np.where(p[:, 2] == 0.0, plane, 6.0 + plane) / speed
    np.testing.assert_allclose(d, expected, rtol=1e-12, atol=1e-12)
    euclid = np.where(p[:, 2] == 0.0, np.hypot(dx, dy), 6.0 + np.hypot(dx, dy)) / speed
    assert np.all(d >= euclid - 1e-12) and np.all(d <= np.sqrt(2) * euclid + 1e-12)
    with pytest.raises(ValueError, match="endocardial"):
        purkinje_delays(slab, [int(np.flatnonzero(slab.points[:, 2] == 3.0)[0])])
    with pytest.raises(ValueError, match="speed"):
        purkinje_delays(slab, lv[:2], speed=-1.0)


# --------------------------------------------------------------------------------------------
# The forward model on a coarse virtual subject
# --------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def heart(tmp_path_factory):
    from mitwin.anatomy.cohort import COARSE_RESOLUTION_MM, make_cohort
    from mitwin.anatomy.heart import Heart

    out = tmp_path_factory.mktemp("cohort")
    paths = make_cohort(1, seed=0, out=out, resolution_mm=COARSE_RESOLUTION_MM)
    return Heart.load(paths[0])


@pytest.fixture(scope="module")
def forward(heart):
    from mitwin.ep.forward import prepare

    return prepare(heart)


@pytest.fixture(scope="module")
def batch(forward):
    return forward.simulate_batch([None, *SCENARIOS.values()])


@pytest.mark.slow
def test_roots_on_the_heart(heart, forward):
    c = forward.conduction
    for node, (ventricle, ab0, rt0) in zip(c.roots, ROOT_SITES.values()):
        assert node in heart.surfaces[f"{ventricle}_endo"]
        assert abs(heart.ab[node] - ab0) < 0.1
        assert min(abs(heart.rt[node] - rt0), 1 - abs(heart.rt[node] - rt0)) < 0.06
    assert c.root_times.min() == 0.0 and np.all(c.root_times < 40.0)


@pytest.mark.slow
def test_simulate_matches_the_batch_and_the_one_call(heart, forward, batch):
    from mitwin.ep.forward import simulate

    inf = SCENARIOS["lateral_transmural"]
    one = forward.simulate(inf)
    k = 1 + list(SCENARIOS).index("lateral_transmural")
    np.testing.assert_array_equal(one.at, batch.at[k])
    np.testing.assert_array_equal(one.labels, inf.labels(heart.tm, heart.ab, heart.rt, heart.tv))
    assert one.qrs.signals.shape[0] == 8
    np.testing.assert_allclose(batch[k].qrs.signals, one.qrs.signals, atol=1e-6 * np.abs(one.qrs.signals).max())
    again = simulate(heart, inf)
    np.testing.assert_array_equal(again.at, one.at)


@pytest.mark.slow
def test_infarcts_only_delay_activation(heart, batch):
    """Slower conduction can only delay: AT with an infarct >= healthy AT, slow CV >= normal CV.

    Exact for shortest paths on the edge graph; the Eikonal solver's local updates are not
    exactly monotone in the speeds, so there up to 1 % of the nodes may come up to 3 ms early (on this
    coarse subject with the default conduction system: at most 0.9 %, by at most 1.3 ms)."""
    from mitwin.ep.forward import prepare

    names = ["baseline", *SCENARIOS]
    slow, normal = names.index("lateral_transmural_slow_cv"), names.index("lateral_transmural")
    graph = prepare(heart, method="dijkstra").simulate_batch([None, *SCENARIOS.values()])
    for b, tol, frac in ((graph, 1e-9, 0.0), (batch, 3.0, 0.01)):
        for k in range(1, len(b)):
            early = b.at[k] < b.at[0] - 1e-9
            assert early.mean() <= frac and np.all(b.at[k] >= b.at[0] - tol), names[k]
            assert np.any(b.at[k] > b.at[0] + 1.0), names[k]
        assert np.all(b.at[slow] >= b.at[normal] - tol)
    np.testing.assert_array_equal(batch.labels[slow], batch.labels[normal])


@pytest.mark.slow
def test_scar_on_the_heart_is_in_its_segments(heart, batch):
    names = ["baseline", *SCENARIOS]
    for k, name in enumerate(names[1:], start=1):
        scar = batch.labels[k] == 2
        location = SCENARIOS.record(name).location
        assert np.isin(heart.aha[scar], TARGET_SEGMENTS[location]).mean() >= 0.85, name
        rv_free = (heart.tv > 0.5) & (np.mod(heart.rt, 1.0) <= 2 / 3)
        assert not np.any(scar & rv_free), name


@pytest.mark.slow
def test_healthy_physiology(heart, batch):
    """Healthy QRS in the human range and LV endocardium activated before the RV.

    Normal QRS 85 +- 8 ms, 2nd-98th percentile 70-104 ms (Rautaharju et al. 2013); on this
    coarse (5 mm) mesh a wider band is allowed. Durrer et al. (1970): the RV starts 5-10 ms
    after the LV."""
    h = batch[0]
    assert 60.0 <= h.qrs_duration <= 125.0
    assert 60.0 <= h.total_activation_time <= 125.0
    lv_first = h.at[heart.surfaces["lv_endo"]].min()
    rv_first = h.at[heart.surfaces["rv_endo"]].min()
    assert lv_first == 0.0 and rv_first >= 3.0


@pytest.mark.slow
def test_transmural_changes_qrs_more_than_subendocardial(batch):
    names = ["baseline", *SCENARIOS]
    base = batch.qrs.signals[0]
    more = 0
    for location in TARGET_SEGMENTS:
        l2 = {e: np.linalg.norm(batch.qrs.signals[names.index(f"{location}_{e}")] - base)
              for e in ("transmural", "subendocardial")}
        more += l2["transmural"] > l2["subendocardial"]
    assert more >= 6  # the paper: all locations but limited anterior


@pytest.mark.slow
def test_slow_conduction_prolongs_qrs(batch):
    """The slow variant ends activation, and so the QRS, later (paper: 113.8 vs 99.5 ms): on the end of
    activation, the QRS length and the QRS duration measured from the signal, which keeps the slow scar's
    late, low-slope tail (:func:`mitwin.ep.delineation.qrs_duration`)."""
    names = ["baseline", *SCENARIOS]
    slow, normal = names.index("lateral_transmural_slow_cv"), names.index("lateral_transmural")
    assert batch[slow].total_activation_time > 1.5 * batch[normal].total_activation_time
    assert batch.qrs_length[slow] > batch.qrs_length[normal] > batch.qrs_length[0]
    assert batch[slow].qrs.signals.shape[1] == batch.qrs_length[slow]
    assert batch[slow].qrs_duration > batch[normal].qrs_duration > batch[0].qrs_duration


@pytest.mark.slow
def test_empty_infarct_is_an_error(forward):
    far = Infarct(centre=(1.0, 5.0, 0.5), radii=(0.1, 0.01, 0.01), name="nowhere")
    with pytest.raises(ValueError, match="no node"):
        forward.simulate(far)
    with pytest.raises(ValueError, match="at least one"):
        forward.simulate_batch([])
