"""fit_infarct on a tiny coarse heart: easy infarcts recovered, a healthy QRS gives no scar, clear errors."""

from __future__ import annotations

import numpy as np
import pytest

from mitwin.ellipsoid import SCAR
from mitwin.inverse.prior import DEFAULT_PRIOR


@pytest.fixture(scope="module")
def heart(tmp_path_factory):
    from mitwin.anatomy.cohort import COARSE_RESOLUTION_MM, make_cohort
    from mitwin.anatomy.heart import Heart

    paths = make_cohort(1, seed=0, out=tmp_path_factory.mktemp("cohort"), resolution_mm=COARSE_RESOLUTION_MM)
    return Heart.load(paths[0])


@pytest.fixture(scope="module")
def forward(heart):
    from mitwin.ep.forward import prepare

    return prepare(heart)


@pytest.fixture(scope="module")
def library(forward):
    from mitwin.inverse.fit import build_library

    return build_library(forward, 150, seed=0)


def _dice(a: np.ndarray, b: np.ndarray) -> float:
    return 2 * np.sum(a & b) / (a.sum() + b.sum())


@pytest.mark.slow
@pytest.mark.parametrize("params", [(0.5, 0.33, 1.4, 0.35, 0.18), (0.45, 0.85, 1.4, 0.35, 0.18)])
def test_recovers_a_large_transmural_infarct(heart, forward, library, params):
    from mitwin.inverse.fit import fit_infarct

    truth = DEFAULT_PRIOR.infarct(params)
    sim = forward.simulate(truth)  # the observation through the public forward path
    fit = fit_infarct(heart, sim.qrs, forward=forward, library=library, n_simulations=400, seed=1)
    assert fit.infarct_detected and fit.p_infarct > 0.9
    assert _dice(fit.labels == SCAR, sim.labels == SCAR) >= 0.6
    assert fit.labels.shape == (heart.n_nodes,) and fit.labels.dtype == np.int8
    assert np.all((fit.scar_probability >= 0) & (fit.scar_probability + fit.bz_probability <= 1 + 1e-9))
    assert fit.n_simulations <= 400 and fit.seconds > 0
    assert fit.weights.sum() == pytest.approx(1.0) and len(fit.samples) == len(fit.weights)
    lo, hi = fit.credible_interval(0.9)
    assert lo <= hi
    assert fit.qrs.signals.shape[0] == 8


@pytest.mark.slow
def test_healthy_qrs_gives_no_scar(heart, forward, library):
    from mitwin.inverse.fit import fit_infarct

    fit = fit_infarct(heart, forward.simulate(None).qrs, forward=forward, library=library, n_simulations=300)
    assert not fit.infarct_detected and fit.p_infarct < 0.5
    assert not np.any(fit.labels == SCAR) and fit.best is None
    assert fit.scar_probability.max() < 0.5


@pytest.mark.slow
def test_fit_builds_its_own_library_within_budget(heart):
    import mitwin

    fit = mitwin.fit_infarct(heart, mitwin.simulate(heart, DEFAULT_PRIOR.infarct((0.5, 0.33, 1.4, 0.35, 0.18))).qrs,
                             n_simulations=120, seed=0)
    assert fit.n_simulations <= 120 and fit.labels.shape == (heart.n_nodes,)


@pytest.mark.slow
@pytest.mark.parametrize("kwargs, name", [({"n_simulations": 10}, "n_simulations"), ({"bandwidth": -1.0}, "bandwidth"),
                                          ({"healthy_prior": 1.0}, "healthy_prior"), ({"seed": -1}, "seed"),
                                          ({"tissue": "blocked"}, "tissue")])
def test_bad_arguments(heart, forward, library, kwargs, name):
    from mitwin.inverse.fit import fit_infarct

    with pytest.raises(ValueError, match=name):
        fit_infarct(heart, forward.simulate(None).qrs, forward=forward, library=library, **kwargs)


@pytest.mark.slow
def test_bad_qrs(heart, forward, library):
    from mitwin.inverse.fit import fit_infarct

    with pytest.raises(ValueError, match="qrs"):
        fit_infarct(heart, np.zeros((3, 50)), forward=forward, library=library)
    with pytest.raises(ValueError, match="qrs"):
        fit_infarct(heart, np.zeros((8, 50)), forward=forward, library=library)


@pytest.mark.slow
def test_cli_fit_writes_vtu_json_png(heart, forward, tmp_path):
    import json

    import meshio

    from mitwin.cli import main

    heart_path = heart.save(tmp_path / "heart.vtu")
    truth = forward.simulate(DEFAULT_PRIOR.infarct((0.5, 0.33, 1.4, 0.35, 0.18)))
    truth.qrs.to_csv(tmp_path / "qrs.csv")
    out = tmp_path / "fit" / "fitted.vtu"
    assert main(["fit", "--heart", str(heart_path), "--ecg", str(tmp_path / "qrs.csv"), "--out", str(out),
                 "--simulations", "120"]) == 0
    mesh = meshio.read(out)
    for name in ("fit_labels", "scar_probability", "bz_probability", "tm"):
        assert mesh.point_data[name].shape[0] == heart.n_nodes
    p = mesh.point_data["scar_probability"]
    assert p.min() >= 0 and p.max() <= 1
    summary = json.loads(out.with_suffix(".json").read_text())
    assert summary["n_simulations"] <= 120 and len(summary["samples"]) > 0
    assert out.with_suffix(".png").stat().st_size > 1000
    assert main(["fit", "--heart", str(heart_path), "--ecg", str(tmp_path / "qrs.csv"), "--out",
                 str(tmp_path / "x.txt")]) == 2
