"""Amortised inference on random infarcts: the per-subject training set, the Cobiveco network (training,
decoding by Eq. 1, weights-only checkpoints), the dual VAE with healthy items, and both in the benchmark."""

from __future__ import annotations

import json

import numpy as np
import pytest

torch = pytest.importorskip("torch")


@pytest.fixture(scope="module")
def cohort(tmp_path_factory):
    from mitwin.anatomy.cohort import COARSE_RESOLUTION_MM, make_cohort

    out = tmp_path_factory.mktemp("cohort")
    make_cohort(3, seed=0, out=out, resolution_mm=COARSE_RESOLUTION_MM)
    return out


@pytest.fixture(scope="module")
def random_set(cohort, tmp_path_factory):
    from mitwin.inverse.training_set import write_random_set

    out = tmp_path_factory.mktemp("set") / "random.h5"
    return write_random_set(cohort, out, [0, 1, 2], 4, seed=3, irregular=0.5, double=0.25, n_cloud=256,
                            n_coarse=64, n_dense=256)


def _eq1_scar(p, tm, ab, rt, tv):
    """Brute-force Eq. (1) scar mask of an endocardial ellipsoid (tm0 = 1) inside the LV region."""
    ab0, rt0, r_tm, r_ab, r_rt = p
    d = rt - rt0
    d = np.where(d > 0.5, d - 1.0, np.where(d < -0.5, d + 1.0, d))
    inside = ((tm - 1.0) / r_tm) ** 2 + ((ab - ab0) / r_ab) ** 2 + (d / r_rt) ** 2 <= 1.0
    from mitwin.anatomy.aha import lv_region

    return inside & lv_region(tv, rt)


def test_random_set_draws_per_subject(cohort, random_set):
    from mitwin.anatomy.heart import Heart
    from mitwin.data.store import open_dataset, read_arrays
    from mitwin.ellipsoid import SCAR
    from mitwin.ep.forward import prepare
    from mitwin.inverse.prior import random_infarcts
    from mitwin.inverse.training_set import subject_infarcts

    with open_dataset(random_set) as ds:
        assert ds.header.scenario_names == ("baseline", "random_000", "random_001", "random_002", "random_003")
        rows = {}
        for i, sid in enumerate(sorted(ds.subjects)):
            g = ds.subject(sid)
            a = read_arrays(g, random_set, sid, ["labels", "qrs", "qrs_length"])
            recs = subject_infarcts(str(g.attrs["parameters_json"]))
            heart = Heart.load(cohort / f"{sid}.vtu")
            # each subject holds its own draws: subject = its cohort index
            assert recs == random_infarcts(4, seed=3, subject=i, heart=heart, irregular=0.5, double=0.25)
            assert not np.any(a["labels"][0])  # the healthy heart
            for k, r in enumerate(recs):
                if r.kind == "ellipsoid":  # a regular draw is Eq. (1) itself
                    truth = _eq1_scar(r.params, heart.tm, heart.ab, heart.rt, heart.tv)
                    assert np.array_equal(a["labels"][k + 1] == SCAR, truth)
            # the healthy row is what the one-infarct simulation path gives for no infarct
            sim = prepare(heart).simulate(None)
            n = int(a["qrs_length"][0])
            np.testing.assert_allclose(a["qrs"][0, :, :n], sim.qrs.signals[:, :n], rtol=1e-4, atol=1e-6)
            rows[sid] = [r.params.tolist() for r in recs]
    first = list(rows.values())
    assert first[0] != first[1] != first[2]  # different infarcts on every subject


def _synthetic(n=96, n_nodes=200, seed=0):
    """QRS whose shape is a smooth function of the ellipsoid parameters, and random nodes."""
    from mitwin.anatomy.aha import lv_region
    from mitwin.inverse.prior import DEFAULT_PRIOR
    from mitwin.model.cobiveco_train import NetData

    rng = np.random.default_rng(seed)
    u = rng.random((n, 5))
    params = DEFAULT_PRIOR.params(u)
    infarct = rng.random(n) > 0.2
    t = np.arange(120) / 120.0
    lead = np.arange(8)[:, None]
    sig = np.zeros((n, 8, 140), dtype=np.float32)
    for k in range(n):
        shift = infarct[k] * (0.2 * u[k, 0] + 0.1 * np.cos(2 * np.pi * params[k, 1] + lead))
        sig[k, :, :120] = np.sin(np.pi * t[None] * (1 + lead / 4)) * (1 + shift) + infarct[k] * u[k, 2:3] * t
    coords = rng.random((1, n_nodes, 4))
    coords[..., 0] = 0.6 + 0.4 * coords[..., 0]
    lv = lv_region(coords[0, :, 3], coords[0, :, 2])
    scar = np.stack([_eq1_scar(p, *coords[0].T) if f else np.zeros(n_nodes, bool) for p, f in zip(params, infarct)])
    params[~infarct] = np.nan
    ref = np.sin(np.pi * t[None] * (1 + lead / 4))[None].astype(np.float32)
    return NetData(sig, np.full(n, 120), np.zeros(n, dtype=np.int64), infarct, params, scar, ref, np.array([120]),
                   coords[:, :, :3].astype(np.float32), lv[None], ["synthetic"])


def test_net_loss_falls_and_checkpoint_is_weights_only(tmp_path):
    from mitwin.model.checkpoints import load_checkpoint
    from mitwin.model.cobiveco_net import NetPredictor
    from mitwin.model.cobiveco_train import TrainSettings, train_net

    data = _synthetic()
    run = train_net(data, data, tmp_path / "net", TrainSettings(epochs=25, batch_size=32, lr=3e-3, noise=0.02))
    log = json.loads((run / "net.json").read_text())["log"]
    first, last = log[0]["train_total"], np.mean([r["train_total"] for r in log[-3:]])
    assert last < 0.8 * first
    # the checkpoint loads through the restricted (weights-only) unpickler and holds only tensors and plain data
    ckpt = load_checkpoint(run / "net.pt", required=("model", "config"))
    assert all(isinstance(v, torch.Tensor) for v in ckpt["model"].values())
    raw = torch.load(run / "net.pt", weights_only=True)
    assert set(raw) == {"model", "config", "epoch", "score", "sha256"}
    pred = NetPredictor.from_run(run)
    for a, b in zip(pred.model.state_dict().values(), ckpt["model"].values()):
        assert torch.equal(a, b)
    # the detection threshold was chosen on the validation rows and is the one the predictor applies
    info = json.loads((run / "net.json").read_text())
    assert pred.threshold == info["threshold"] and 0.05 <= pred.threshold <= 0.95
    assert info["val_sensitivity"] + info["val_specificity"] > 1.5


def test_choose_threshold_maximises_youden():
    from mitwin.model.cobiveco_train import THRESHOLDS, choose_threshold

    rng = np.random.default_rng(0)
    healthy, infarct = rng.uniform(0.0, 0.8, 40), rng.uniform(0.85, 1.0, 200)
    p = np.concatenate([healthy, infarct])
    truth = np.arange(p.size) >= healthy.size
    r = choose_threshold(p, truth)
    # every candidate in (max healthy, min infarct] separates both; the one nearest 0.5 is the smallest
    assert r["threshold"] == THRESHOLDS[THRESHOLDS > healthy.max()].min()
    assert r["val_sensitivity"] == 1.0 and r["val_specificity"] == 1.0
    # overlapping classes: brute force over every candidate
    p2 = np.concatenate([rng.uniform(0.0, 0.7, 50), rng.uniform(0.3, 1.0, 50)])
    t2 = np.arange(100) >= 50
    j = [np.mean(p2[t2] >= t) + np.mean(p2[~t2] < t) for t in THRESHOLDS]
    got = choose_threshold(p2, t2)
    assert got["val_sensitivity"] + got["val_specificity"] == pytest.approx(max(j))
    with pytest.raises(ValueError, match="both infarct and healthy"):
        choose_threshold(p2[t2], t2[t2])


def test_healthy_variants_with_conduction_spread(cohort, tmp_path):
    from mitwin.anatomy.heart import Heart
    from mitwin.data.store import open_dataset, read_arrays
    from mitwin.ep.conduction import DEFAULT_PARAMS
    from mitwin.ep.forward import prepare
    from mitwin.inverse.training_set import conduction_scales, write_random_set
    from mitwin.model.cobiveco_train import load_net_data

    out = write_random_set(cohort, tmp_path / "v.h5", [0, 2], 2, seed=4, n_healthy=2, speed_spread=0.15,
                           n_cloud=128, n_coarse=32, n_dense=128)
    with open_dataset(out) as ds:
        assert ds.header.scenario_names == ("baseline", "healthy_001", "healthy_002", "random_000", "random_001")
        g = ds.subject("subject_002")
        a = read_arrays(g, out, "subject_002", ["labels", "qrs", "qrs_length"])
        scales = np.array(json.loads(str(g.attrs["parameters_json"]))["conduction_scales"])
    np.testing.assert_allclose(scales, conduction_scales(5, 0.15, 4, 2), atol=1e-6)
    assert np.all(scales[0] == 1.0) and np.all(np.abs(scales[1:] - 1) <= 0.15) and np.ptp(scales[1:]) > 0.02
    assert not np.any(a["labels"][:3]) and np.all(a["labels"][3:].max(axis=1) > 0)
    heart = Heart.load(cohort / "subject_002.vtu")
    for k in (0, 1):  # each healthy row is the one-infarct path with the row's own speeds
        sim = prepare(heart, conduction=DEFAULT_PARAMS.scaled(*scales[k])).simulate(None)
        n = int(a["qrs_length"][k])
        assert n == sim.qrs.signals.shape[1]
        peak = np.abs(sim.qrs.signals).max()
        np.testing.assert_allclose(a["qrs"][k, :, :n], sim.qrs.signals[:, :n], rtol=1e-3, atol=1e-4 * peak)
    assert int(a["qrs_length"][1]) != int(a["qrs_length"][0]) or not np.allclose(a["qrs"][1], a["qrs"][0])
    data = load_net_data(out, n_nodes=32)
    assert data.infarct.tolist() == [False, False, False, True, True] * 2
    assert np.all(np.isnan(data.params[~data.infarct])) and np.all(np.isfinite(data.params[data.infarct]))


def _net_with_output(params, logit):
    """A CobivecoNet whose output is a fixed parameter vector, whatever the input."""
    from mitwin.inverse.prior import DEFAULT_PRIOR
    from mitwin.model.cobiveco_net import CobivecoNet

    net = CobivecoNet()
    u = DEFAULT_PRIOR.unit(np.asarray(params))[0]
    raw = np.array([logit, *np.log(u[[0]] / (1 - u[[0]])), np.cos(2 * np.pi * params[1]),
                    np.sin(2 * np.pi * params[1]), *np.log(u[2:] / (1 - u[2:]))])
    last = net.head[-1]
    with torch.no_grad():
        last.weight.zero_()
        last.bias.copy_(torch.as_tensor(raw, dtype=torch.float32))
    net.eval()
    return net


def test_decoded_prediction_is_eq1(cohort):
    from mitwin.anatomy.heart import Heart
    from mitwin.ellipsoid import SCAR
    from mitwin.ep.forward import prepare
    from mitwin.model.cobiveco_net import NetPredictor, decode_output, soft_scar

    heart = Heart.load(cohort / "subject_000.vtu")
    p = np.array([0.45, 0.93, 1.1, 0.3, 0.15])  # rt0 near the wrap-around
    net = _net_with_output(p, logit=3.0)
    healthy = prepare(heart).simulate(None).qrs.signals
    coords = (heart.tm, heart.ab, heart.rt, heart.tv)
    r = NetPredictor(net, {}).predict(healthy * 1.1, healthy, coords)
    np.testing.assert_allclose(r["params"], p, atol=1e-5)
    truth = _eq1_scar(p, *coords)
    assert truth.sum() > 10 and np.array_equal(r["labels"] == SCAR, truth)
    assert r["p_infarct"] > 0.9
    # the differentiable mask used in training agrees with Eq. 1 (away from the boundary's float32 rounding)
    from mitwin.anatomy.aha import lv_region

    with torch.no_grad():
        _, par = decode_output(net(torch.zeros(1, net.config.in_channels, 200), torch.zeros(1, 18)))
    c = torch.as_tensor(np.stack(coords[:3], 1)[None], dtype=torch.float32)
    soft = soft_scar(par, c, torch.as_tensor(lv_region(heart.tv, heart.rt))[None]).numpy()[0]
    d = np.mod(heart.rt - p[1] + 0.5, 1.0) - 0.5
    level = ((heart.tm - 1) / p[2]) ** 2 + ((heart.ab - p[0]) / p[3]) ** 2 + (d / p[4]) ** 2
    clear = np.abs(level - 1) > 1e-3
    assert np.array_equal((soft > 0.5)[clear], truth[clear])
    # "no infarct": below the threshold every node is healthy
    r0 = NetPredictor(_net_with_output(p, logit=-3.0), {}).predict(healthy, healthy, coords)
    assert r0["p_infarct"] < 0.1 and not np.any(r0["labels"])


def test_vae_trains_with_healthy_items(random_set, tmp_path):
    from mitwin.data.torchdata import InfarctDataset
    from mitwin.model.train import train

    ds = InfarctDataset(random_set, healthy_share=0.2)
    assert ds.scenario_names == ["baseline"] + [f"random_{k:03d}" for k in range(4)]
    healthy = [ds[i] for i in range(len(ds)) if ds.scenario_names[ds.items[i][1]] == "baseline"]
    assert healthy and all(int(item["labels"].sum()) == 0 for item in healthy)
    run = train(random_set, tmp_path / "vae", "tiny", epochs=1, progress=False, healthy_share=0.2,
                val_subjects=["subject_000"])
    info = json.loads((run / "run.json").read_text())
    assert info["scenarios"][0] == "baseline" and info["preset"]["train"]["healthy_share"] == 0.2
    assert info["split"] == {"train": ["subject_001", "subject_002"], "val": ["subject_000"], "test": []}
    assert np.isfinite(json.loads((run / "log.json").read_text())[0]["train_total"])


def test_benchmark_with_deep_models(cohort, random_set, tmp_path):
    from mitwin.anatomy.heart import Heart
    from mitwin.inverse.benchmark import BenchmarkSettings, benchmark_heart
    from mitwin.inverse.report import summary_table, timing_table
    from mitwin.model.cobiveco_train import TrainSettings, load_net_data, train_net
    from mitwin.model.train import train

    data = load_net_data(random_set, n_nodes=64)
    net = train_net(data, None, tmp_path / "net", TrainSettings(epochs=1, batch_size=8))
    vae = train(random_set, tmp_path / "vae", "tiny", epochs=1, progress=False, healthy_share=0.2)
    heart = Heart.load(cohort / "subject_001.vtu")
    s = BenchmarkSettings(n_random=1, n_simulations=40, conditions=("clean",), irregular=0.0, double=0.0,
                          net_run=str(net), vae_run=str(vae))
    records, _ = benchmark_heart(heart, 1, s)
    methods = {r["method"] for r in records}
    assert methods == {"fit", "nearest", "template", "cobiveco_net", "cobiveco_net_checked", "vae"}
    for r in records:
        if r["method"] in ("cobiveco_net", "vae"):
            assert r["seconds"] > 0 and np.isfinite(r["score"])
            if not r["healthy"]:
                assert 0 <= r["scar_dice"] <= 1
    assert "| clean | cobiveco_net |" in summary_table(records) and "| vae |" in timing_table(records)


def test_damaged_part_is_simulated_again(cohort, tmp_path):
    """A resumed random set treats a damaged part file as unfinished, as the campaign does."""
    from mitwin.data.campaign import parts_folder
    from mitwin.data.store import open_dataset
    from mitwin.inverse.training_set import write_random_set

    out = tmp_path / "r.h5"
    parts_folder(out).mkdir()
    (parts_folder(out) / "subject_000.h5").write_bytes(b"not a dataset")
    write_random_set(cohort, out, [0], 1, n_cloud=64, n_coarse=16, n_dense=64)
    with open_dataset(out) as ds:
        assert list(ds.subjects) == ["subject_000"]
    assert not parts_folder(out).exists()


def test_physics_check_of_an_amortised_answer(cohort):
    """explains_better: an infarct's own QRS is explained by that infarct, not by the healthy heart; a healthy
    QRS (distance 0 to itself) by no infarct."""
    from mitwin.anatomy.heart import Heart
    from mitwin.ep.forward import prepare
    from mitwin.inverse.benchmark import explains_better
    from mitwin.inverse.prior import DEFAULT_PRIOR
    from mitwin.inverse.simulator import QRSSimulator

    heart = Heart.load(cohort / "subject_001.vtu")
    sim = QRSSimulator(prepare(heart), "paper")
    labels = DEFAULT_PRIOR.labels(np.array([0.4, 0.3, 1.2, 0.3, 0.15]), *sim.coords)[0]
    (sig, ln), (hs, hl) = sim.simulate(labels[None]), sim.simulate(np.zeros((1, heart.n_nodes), np.int8))
    obs, healthy = sig[0, :, : ln[0]], hs[0, :, : hl[0]]
    assert explains_better(sim, labels, obs, healthy)
    assert not explains_better(sim, labels, healthy, healthy)


def test_inputs_are_checked():
    from mitwin.inverse.training_set import write_random_set
    from mitwin.model.cobiveco_net import qrs_input
    from mitwin.model.cobiveco_train import TrainSettings

    with pytest.raises(ValueError, match="signals, lengths"):
        qrs_input(np.zeros((2, 7, 10)), np.array([5, 5]))
    with pytest.raises(ValueError, match="healthy_share"):
        TrainSettings(healthy_share=1.0)
    with pytest.raises(ValueError, match="n_random"):
        write_random_set(".", "x.h5", [0], 0)
    with pytest.raises(ValueError, match="speed_spread"):
        write_random_set(".", "x.h5", [0], 1, speed_spread=0.9)
    with pytest.raises(ValueError, match="n_healthy"):
        write_random_set(".", "x.h5", [0], 1, n_healthy=-1)


def test_cli_per_subject_random_set_and_train_net(cohort, tmp_path, capsys):
    from mitwin.cli import main
    from mitwin.data.store import open_dataset
    from mitwin.inverse.prior import random_infarcts
    from mitwin.inverse.training_set import subject_infarcts

    out = tmp_path / "set.h5"
    assert main(["simulate", "--cohort", str(cohort), "--out", str(out), "--random", "2", "--random-per-subject",
                 "--indices", "0", "2", "--random-seed", "5"]) == 0
    with open_dataset(out) as ds:
        assert sorted(ds.subjects) == ["subject_000", "subject_002"]
        recs = subject_infarcts(str(ds.subject("subject_002").attrs["parameters_json"]))
    assert [r.subject for r in recs] == [2, 2] and [r.seed for r in recs] == [5, 5]
    assert recs[0].params.tolist() != random_infarcts(1, seed=5, subject=0)[0].params.tolist()
    # a later call adds a subject to the same file and keeps the others
    assert main(["simulate", "--cohort", str(cohort), "--out", str(out), "--random", "2", "--random-per-subject",
                 "--indices", "1", "--random-seed", "5"]) == 0
    with open_dataset(out) as ds:
        assert sorted(ds.subjects) == ["subject_000", "subject_001", "subject_002"]
        assert subject_infarcts(str(ds.subject("subject_002").attrs["parameters_json"])) == recs
    assert main(["simulate", "--cohort", str(cohort), "--out", str(out), "--random", "3", "--random-per-subject",
                 "--indices", "1"]) != 0
    assert "other settings" in capsys.readouterr().err
    assert main(["simulate", "--cohort", str(cohort), "--out", str(tmp_path / "y.h5"), "--indices", "0"]) != 0
    assert "--random-per-subject needs --random N" in capsys.readouterr().err
    assert main(["train-net", str(out), "--out", str(tmp_path / "net"), "--val", "subject_000", "--epochs", "1"]) == 0
    assert (tmp_path / "net" / "net.pt").is_file()
