"""Training on a tiny synthetic dataset: the loss goes down, resume is exact, evaluate and infer work."""

from __future__ import annotations

import json

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from model_synthetic import labeller, write_dataset  # noqa: E402

from mitwin.data.torchdata import InfarctDataset  # noqa: E402
from mitwin.model.baseline import ScenarioBaseline, qrs_features  # noqa: E402
from mitwin.model.infer import LEADS, predict_cloud, prepare_qrs, read_qrs_csv, summarise_segments  # noqa: E402
from mitwin.model.train import load_run, train  # noqa: E402


@pytest.fixture(scope="module")
def h5(tmp_path_factory):
    return write_dataset(tmp_path_factory.mktemp("ds") / "d.h5", n_subjects=6, n_cloud=300, seed=5)


@pytest.fixture(scope="module")
def tiny_run(h5, tmp_path_factory):
    return train(h5, tmp_path_factory.mktemp("run") / "tiny", preset="tiny", epochs=3, seed=0, progress=False)


def _log(run):
    return json.loads((run / "log.json").read_text())


@pytest.mark.slow
def test_loss_goes_down_and_files(tiny_run):
    log = _log(tiny_run)
    assert [r["epoch"] for r in log] == [1, 2, 3]
    assert log[-1]["train_total"] < log[0]["train_total"]
    for name in ("run.json", "last.pt", "best.pt", "log.csv", "loss_curve.png"):
        assert (tiny_run / name).is_file(), name
    header = (tiny_run / "log.csv").read_text().splitlines()[0].split(",")
    for term in ("train_chamfer_dense", "train_qrs_dtw", "train_compact", "val_spa", "val_scar_dice"):
        assert term in header
    info = json.loads((tiny_run / "run.json").read_text())
    split = info["split"]
    assert (len(split["train"]), len(split["val"]), len(split["test"])) == (4, 1, 1)
    assert not set(split["train"]) & set(split["test"])
    # calling again on a finished run does nothing
    before = (tiny_run / "last.pt").stat().st_mtime_ns
    train(info["dataset"], tiny_run, preset="tiny", epochs=3, seed=0, progress=False)
    assert (tiny_run / "last.pt").stat().st_mtime_ns == before


@pytest.mark.slow
def test_resume_is_exact(h5, tmp_path):
    a = train(h5, tmp_path / "a", preset="tiny", epochs=1, seed=1, progress=False)
    train(h5, a, preset="tiny", epochs=2, seed=1, progress=False)  # resumes after epoch 1
    b = train(h5, tmp_path / "b", preset="tiny", epochs=2, seed=1, progress=False)
    la, lb = _log(a), _log(b)
    assert len(la) == len(lb) == 2
    for ra, rb in zip(la, lb):
        for k in ra:
            if k not in ("time_s", "epoch_cpu_s"):
                assert ra[k] == pytest.approx(rb[k], rel=1e-5, abs=1e-7), k
    with pytest.raises(ValueError, match="another preset"):
        train(h5, a, preset="tiny", epochs=2, seed=1, progress=False, lambda_size=0.0)


@pytest.mark.slow
def test_evaluate_writes_table_and_figures(h5, tiny_run):
    import meshio

    from mitwin.model.evaluate import evaluate

    md = evaluate(tiny_run, h5, progress=False, labeller=labeller)
    assert "Table I" in md and "Baseline" in md
    table = (tiny_run / "table1.md").read_text()
    assert table.count("\n|") >= 16 + 3
    rows = (tiny_run / "table1.csv").read_text().splitlines()
    assert rows[0].startswith("scenario,n,scar_dice") and any(r.startswith("Average,16,") for r in rows)
    per_item = (tiny_run / "per_item.csv").read_text().splitlines()
    assert len(per_item) == 1 + 2 * 16
    for name in ("baseline_table1.md", "dice_boxplot.png", "prediction_3d.png"):
        assert (tiny_run / name).stat().st_size > 0, name
    vtus = list((tiny_run / "predictions").glob("*.vtu"))
    mesh = meshio.read(vtus[0])
    assert mesh.points.shape == (300, 3)
    assert any(k.startswith("pred_") for k in mesh.point_data)
    assert list((tiny_run / "predictions").glob("*.ply"))


def test_baseline_classifies_and_places(h5):
    ds = InfarctDataset(h5)
    items = [ds[k] for k in range(len(ds))]
    names = [ds.scenario_names[int(it["scenario"])] for it in items]
    qrs = np.stack([it["qrs"].numpy() for it in items])
    coords = [it["cloud"][:, 3:].numpy() for it in items]
    labels = [it["labels"].numpy() for it in items]
    assert qrs_features(qrs).shape == (len(items), 8 * 64)
    train_idx = [k for k in range(len(items)) if int(items[k]["subject"]) < 5]
    test_idx = [k for k in range(len(items)) if int(items[k]["subject"]) == 5]
    bl = ScenarioBaseline().fit(qrs[train_idx], [names[k] for k in train_idx], [coords[k] for k in train_idx],
                                [labels[k] for k in train_idx])
    pred = bl.predict_scenario(qrs[train_idx])
    assert np.mean(pred == np.array([names[k] for k in train_idx])) > 0.9  # fits its training data
    # placement by nearest neighbours in coordinate space agrees with the analytic ellipsoid
    for k in test_idx[:4]:
        placed = bl.place(names[k], coords[k])
        assert np.mean(placed == labels[k]) > 0.9
    # with a labeller the placement is exact
    bl.labeller = labeller
    k = test_idx[0]
    np.testing.assert_array_equal(bl.place(names[k], coords[k]), labels[k])


def test_read_qrs_csv_checks(tmp_path):
    t = np.arange(100)
    sig = np.sin(t[None] / 10.0 + np.arange(8)[:, None])
    good = tmp_path / "q.csv"
    good.write_text("t_ms," + ",".join(LEADS[::-1]) + "\n"
                    + "\n".join(f"{i}," + ",".join(f"{v:.6f}" for v in sig[::-1, i]) for i in t) + "\n")
    np.testing.assert_allclose(read_qrs_csv(good), sig, atol=1e-6)
    q = prepare_qrs(good)
    assert q.shape == (8, 512) and np.abs(q).max() == pytest.approx(1.0) and np.all(q[:, 100:] == 0)
    bad_leads = tmp_path / "leads.csv"
    bad_leads.write_text("I,II,III,V1,V2,V3,V4,V5\n" + "0,0,0,0,0,0,0,1\n")
    with pytest.raises(ValueError, match=r"missing \['V6'\], unexpected \['III'\]"):
        read_qrs_csv(bad_leads)
    fs = tmp_path / "fs.csv"
    fs.write_text("time_ms," + ",".join(LEADS) + "\n" + "\n".join(f"{2 * i}," + ",".join(["1"] * 8) for i in t))
    with pytest.raises(ValueError, match="1 kHz.*500 Hz"):
        read_qrs_csv(fs)
    long = np.sin(np.arange(600)[None] / 30.0 + np.arange(8)[:, None]) * np.linspace(1, 3, 600)
    cropped = prepare_qrs(long)  # normalised on the whole signal, then cropped to the first 512 samples
    np.testing.assert_allclose(cropped, long[:, :512] / np.abs(long).max(), rtol=1e-6)
    with pytest.raises(ValueError, match="at most 10000 samples"):
        prepare_qrs(np.ones((8, 10001)))
    with pytest.raises(ValueError, match="float32 range"):
        prepare_qrs(np.full((8, 50), 3.5e38))
    with pytest.raises(ValueError, match="real numbers"):
        prepare_qrs(np.ones((8, 50), complex))
    with pytest.raises(ValueError, match="real numbers"):
        prepare_qrs(np.ones((8, 50), bool))
    with pytest.raises(ValueError, match=r"\(8, T\)"):
        prepare_qrs(np.ones((12, 300)))
    with pytest.raises(ValueError, match="missing"):
        prepare_qrs({lead: np.ones(50) for lead in LEADS[:7]})
    with pytest.raises(ValueError, match="NaN"):
        prepare_qrs(np.full((8, 50), np.nan))


@pytest.mark.slow
def test_predict_cloud_and_summary(h5, tiny_run):
    model, preset, _ = load_run(tiny_run)
    ds = InfarctDataset(h5, ["subject_000"])
    item = ds[0]
    with __import__("h5py").File(h5) as f:
        cloud = f["subjects/subject_000/cloud"][:]
    labels, prob = predict_cloud(model, preset.model.n_points, cloud, item["qrs"].numpy())
    assert labels.shape == (300,) and prob.shape == (300, 3)
    np.testing.assert_allclose(prob.sum(1), 1.0, rtol=1e-5)
    with pytest.raises(ValueError, match="at least 256 points"):
        predict_cloud(model, preset.model.n_points, cloud[:100], item["qrs"].numpy())
    text = summarise_segments(np.array([2, 2, 2, 1, 0]), np.array([7, 7, 13, 1, 4]))
    assert "scar: 3 nodes; AHA segments 7 mid anterior (67%), 13 apical anterior (33%)" in text
    assert "BZ: 1 nodes; AHA segments 1 basal anterior (100%)" in text


@pytest.mark.slow
def test_infer_on_a_heart(tiny_run, tmp_path):
    heart_mod = pytest.importorskip("mitwin.anatomy.heart")
    pytest.importorskip("mitwin.anatomy.pointcloud")
    cohort = pytest.importorskip("mitwin.anatomy.cohort")
    import meshio

    from mitwin.model.infer import infer

    paths = cohort.make_cohort(1, seed=0, out=tmp_path / "cohort", resolution_mm=cohort.COARSE_RESOLUTION_MM)
    h = heart_mod.Heart.load(paths[0])
    sig = np.sin(np.arange(120)[None] / 9.0 + np.arange(8)[:, None])
    summary = infer(tiny_run, heart=paths[0], qrs=sig, out=tmp_path / "pred.vtu")
    assert "nodes" in summary
    mesh = meshio.read(tmp_path / "pred.vtu")
    assert mesh.point_data["infarct_label"].shape == (h.n_nodes,)
