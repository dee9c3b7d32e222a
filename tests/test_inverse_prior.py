"""The infarct prior and random infarcts: determinism, statistics, labels against Eq. (1), records."""

from __future__ import annotations

import json
from types import SimpleNamespace

import numpy as np
import pytest
from scipy import stats

from mitwin.ellipsoid import SCAR, Infarct
from mitwin.inverse.prior import DEFAULT_PRIOR, EllipsoidPrior, RandomInfarct, random_infarcts


@pytest.fixture(scope="module")
def coords():
    rng = np.random.default_rng(5)
    n = 20000
    return SimpleNamespace(tm=rng.random(n), ab=rng.random(n), rt=rng.random(n),
                           tv=(rng.random(n) < 0.3).astype(float))


def test_deterministic_from_seed_subject_k():
    a = random_infarcts(5, seed=3, subject=1, irregular=0.4, double=0.3)
    b = random_infarcts(5, seed=3, subject=1, irregular=0.4, double=0.3)
    c = random_infarcts(2, seed=3, subject=1, start=3, irregular=0.4, double=0.3)
    assert a == b
    assert a[3:] == c
    other = random_infarcts(5, seed=3, subject=2, irregular=0.4, double=0.3)
    assert all(x.params.tolist() != y.params.tolist() for x, y in zip(a, other))


def test_parameter_statistics_match_the_box():
    samples = random_infarcts(1500, seed=0, subject=0)
    p = np.array([s.params for s in samples])
    prior = DEFAULT_PRIOR
    for j in range(5):
        lo, hi = prior.low[j], prior.high[j]
        assert p[:, j].min() >= lo and p[:, j].max() <= hi
        assert stats.kstest((p[:, j] - lo) / (hi - lo), "uniform").pvalue > 1e-3
    # centres all around the LV, septum (rt > 2/3) included, apex to base
    assert np.mean(p[:, 1] > 2 / 3) == pytest.approx(1 / 3, abs=0.05)
    assert p[:, 0].min() < 0.1 and p[:, 0].max() > 0.85


def test_kind_fractions():
    samples = random_infarcts(2000, seed=1, subject=0, irregular=0.3, double=0.2)
    kinds = np.array([s.kind for s in samples])
    for kind, expected in (("irregular", 0.3), ("double", 0.2), ("ellipsoid", 0.5)):
        sd = np.sqrt(expected * (1 - expected) / len(kinds))
        assert abs(np.mean(kinds == kind) - expected) < 4 * sd
    assert all(len(s.infarcts) == 2 for s in samples if s.kind == "double")
    assert all(s.noise and s.roughness > 0 for s in samples if s.kind == "irregular")


def test_ellipsoid_labels_equal_eq1(coords):
    for s in random_infarcts(10, seed=2, subject=0):
        ref = s.infarcts[0].labels(coords.tm, coords.ab, coords.rt, coords.tv)
        assert np.array_equal(s.labels(coords.tm, coords.ab, coords.rt, coords.tv), ref)
        lab = DEFAULT_PRIOR.labels(s.params, coords.tm, coords.ab, coords.rt, coords.tv)
        assert lab.shape == (1, coords.tm.size) and np.array_equal(lab[0], ref)


def test_irregular_and_double_shapes(coords):
    c = (coords.tm, coords.ab, coords.rt, coords.tv)
    irregular = [s for s in random_infarcts(30, seed=4, subject=0, irregular=1.0)]
    for s in irregular[:5]:
        smooth = s.infarcts[0].labels(*c) == SCAR
        rough = s.labels(*c) == SCAR
        flat = RandomInfarct(s.seed, s.subject, s.k, s.kind, s.infarcts, s.noise, 0.0, s.tissue)
        assert np.array_equal(flat.labels(*c) == SCAR, smooth)  # no roughness: the ellipsoid
        if smooth.sum() > 50:
            assert not np.array_equal(rough, smooth)
            assert 2 * np.sum(rough & smooth) / (rough.sum() + smooth.sum()) > 0.3
    for s in random_infarcts(5, seed=4, subject=0, double=1.0):
        union = s.labels(*c) == SCAR
        for inf in s.infarcts:
            assert np.all(union[inf.labels(*c) == SCAR])


def test_min_scar_nodes_on_a_heart(coords):
    out = random_infarcts(20, seed=0, subject=0, heart=coords, min_scar_nodes=200)
    assert all(np.sum(s.labels(coords.tm, coords.ab, coords.rt, coords.tv) == SCAR) >= 200 for s in out)


def test_record_round_trip():
    for s in random_infarcts(6, seed=9, subject=3, irregular=0.5, double=0.5, tissue="blocked"):
        d = json.loads(json.dumps(s.to_dict()))
        assert RandomInfarct.from_dict(d) == s
        assert s.infarcts[0].scar_factor == 0.0 and s.tissue == "blocked"


def test_prior_maps_unit_cube():
    u = np.random.default_rng(0).random((50, 5))
    assert np.allclose(DEFAULT_PRIOR.unit(DEFAULT_PRIOR.params(u)), u)
    inf = DEFAULT_PRIOR.infarct(DEFAULT_PRIOR.params(u[:1])[0])
    assert isinstance(inf, Infarct) and inf.centre[0] == 1.0


@pytest.mark.parametrize("kwargs, name", [({"n": -1}, "n"), ({"n": 2, "seed": 1.5}, "seed"),
                                          ({"n": 2, "irregular": 1.5}, "irregular"),
                                          ({"n": 2, "irregular": 0.6, "double": 0.6}, "irregular, double"),
                                          ({"n": 2, "roughness": -1.0}, "roughness")])
def test_bad_arguments(kwargs, name):
    n = kwargs.pop("n")
    with pytest.raises(ValueError, match=name):
        random_infarcts(n, **kwargs)


def test_bad_prior():
    with pytest.raises(ValueError, match="low, high"):
        EllipsoidPrior(low=(0.5, 0, 0.3, 0.1, 0.06), high=(0.4, 1, 1.5, 0.4, 0.2))
