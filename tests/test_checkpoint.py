"""Checkpoints hold tensors and plain metadata only: crafted or corrupt files are refused, never unpickled."""

from __future__ import annotations

import json
import os
import pickle

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from model_synthetic import write_dataset  # noqa: E402

from mitwin.cli import main  # noqa: E402
from mitwin.errors import CheckpointError  # noqa: E402
from mitwin.model.checkpoints import check_plain, load_checkpoint, read_run_info, save_checkpoint  # noqa: E402
from mitwin.model.dualvae import build_model  # noqa: E402
from mitwin.model.presets import get_preset  # noqa: E402
from mitwin.model.train import load_run, train  # noqa: E402


class _Payload:
    """Unpickling this object creates the marker directory: the code-execution probe."""

    def __init__(self, marker: str) -> None:
        self.marker = marker

    def __reduce__(self):
        return (os.mkdir, (self.marker,))


def _crafted(path, marker):
    """A checkpoint-shaped file whose unpickling would create ``marker``."""
    torch.save({"model": {}, "epoch": 1, "hook": _Payload(str(marker))}, path)
    return path


def _fake_run(tmp_path, name="run"):
    """A run directory with the tiny preset and an untrained model's weights (no training needed)."""
    run = tmp_path / name
    run.mkdir()
    p = get_preset("tiny")
    info = {"format": "mitwin-run", "preset": p.to_dict(), "dataset": "none.h5", "seed": 0,
            "split": {"train": ["a"], "val": ["b"], "test": ["c"]}, "scenarios": ["x"]}
    (run / "run.json").write_text(json.dumps(info))
    save_checkpoint({"model": build_model(p.model).state_dict(), "epoch": 1, "val_dice": 0.1}, run / "best.pt")
    return run


def test_the_probe_runs_code_when_unpickled(tmp_path):
    # the probe is real: an unrestricted load executes it
    marker = tmp_path / "pwned"
    path = _crafted(tmp_path / "x.pt", marker)
    torch.load(path, weights_only=False)
    assert marker.exists()


def test_crafted_checkpoint_is_refused_and_not_executed(tmp_path):
    run = _fake_run(tmp_path)
    model, preset, _ = load_run(run)  # the genuine one loads
    assert preset.name == "tiny" and not model.training
    marker = tmp_path / "pwned"
    _crafted(run / "best.pt", marker)
    with pytest.raises(CheckpointError, match="refused, not unpickled"):
        load_run(run)
    assert not marker.exists()


def test_crafted_checkpoint_via_cli_infer_and_evaluate(tmp_path, capsys):
    run = _fake_run(tmp_path)
    marker = tmp_path / "pwned"
    _crafted(run / "best.pt", marker)
    qrs = tmp_path / "q.csv"
    sig = np.sin(np.arange(100)[:, None] / 7.0 + np.arange(8)[None])
    qrs.write_text("I,II,V1,V2,V3,V4,V5,V6\n" + "\n".join(",".join(f"{v:.4f}" for v in r) for r in sig) + "\n")
    heart = tmp_path / "h.vtu"
    heart.write_text("not read")
    assert main(["infer", str(run), "--heart", str(heart), "--qrs", str(qrs), "--out", str(tmp_path / "o.vtu")]) == 2
    err = capsys.readouterr().err
    assert "checkpoint" in err and len(err.strip().splitlines()) == 1
    ds = write_dataset(tmp_path / "d.h5", n_subjects=3, n_cloud=300, seed=2)
    assert main(["evaluate", str(run), str(ds)]) == 2
    assert "checkpoint" in capsys.readouterr().err
    assert not marker.exists() and not (tmp_path / "o.vtu").exists()


def test_crafted_last_checkpoint_on_resume(tmp_path):
    ds = write_dataset(tmp_path / "d.h5", n_subjects=3, n_cloud=300, seed=2)
    out = tmp_path / "run"
    out.mkdir()
    marker = tmp_path / "pwned"
    _crafted(out / "last.pt", marker)
    with pytest.raises(CheckpointError):
        train(ds, out, preset="tiny", epochs=1, progress=False)
    assert not marker.exists()
    assert not (out / "run.json").exists()  # a failing resume writes nothing


@pytest.mark.parametrize("damage", ["truncate", "zeros", "text", "empty", "list"])
def test_corrupt_checkpoint_is_one_line_error(tmp_path, damage):
    run = _fake_run(tmp_path)
    path = run / "best.pt"
    data = path.read_bytes()
    if damage == "truncate":
        path.write_bytes(data[: len(data) // 2])
    elif damage == "zeros":
        mid = len(data) // 2
        path.write_bytes(data[:mid] + bytes(4096) + data[mid + 4096:])
    elif damage == "text":
        path.write_text("hello")
    elif damage == "empty":
        path.write_bytes(b"")
    else:
        torch.save([1, 2], path)
    with pytest.raises(CheckpointError) as info:
        load_run(run)
    assert "\n" not in str(info.value) and str(path) in str(info.value)


def test_checkpoint_of_another_model_or_nan(tmp_path):
    run = _fake_run(tmp_path)
    save_checkpoint({"model": {"w": torch.zeros(3)}}, run / "best.pt")
    with pytest.raises(CheckpointError, match="does not fit"):
        load_run(run)
    state = build_model(get_preset("tiny").model).state_dict()
    name = next(k for k, v in state.items() if v.is_floating_point())
    state[name] = state[name].clone().fill_(float("nan"))
    save_checkpoint({"model": state}, run / "best.pt")
    with pytest.raises(CheckpointError, match="NaN"):
        load_run(run)


def test_save_refuses_non_plain_objects(tmp_path):
    with pytest.raises(TypeError, match="plain values"):
        save_checkpoint({"model": {}, "x": np.zeros(2)}, tmp_path / "a.pt")
    assert not (tmp_path / "a.pt").exists()
    check_plain({"a": [1, 2.0, None, "s", True, {"b": torch.ones(1)}]})
    ckpt = load_checkpoint(save_checkpoint({"model": {"w": torch.ones(2)}, "log": [{"e": 1.5}]}, tmp_path / "b.pt"))
    assert ckpt["log"] == [{"e": 1.5}] and torch.equal(ckpt["model"]["w"], torch.ones(2))
    with pytest.raises(FileNotFoundError):
        load_checkpoint(tmp_path / "missing.pt")


@pytest.mark.parametrize("text, match", [("{", "not valid JSON"), ("[1]", "JSON object"),
                                         ('{"preset": 1}', "preset"), ('{"preset": {}, "split": {}}', "split")])
def test_corrupt_run_json_is_named(tmp_path, text, match):
    run = _fake_run(tmp_path)
    (run / "run.json").write_text(text)
    with pytest.raises(CheckpointError, match=match) as info:
        load_run(run)
    assert str(run / "run.json") in str(info.value)
    with pytest.raises(CheckpointError, match=match):
        read_run_info(run / "run.json")


def test_bad_preset_in_run_json(tmp_path):
    run = _fake_run(tmp_path)
    info = json.loads((run / "run.json").read_text())
    info["preset"] = {"name": "x", "model": {"levels": "zz"}, "loss": {}, "train": {}}
    (run / "run.json").write_text(json.dumps(info))
    with pytest.raises(CheckpointError, match="preset"):
        load_run(run)


def test_failing_resume_does_not_rewrite_run_json(tmp_path):
    ds = write_dataset(tmp_path / "d.h5", n_subjects=3, n_cloud=300, seed=2)
    out = _fake_run(tmp_path, "resume")
    info = json.loads((out / "run.json").read_text())
    # a run.json of this dataset and split, then a corrupt last.pt
    from mitwin.data.torchdata import split_subjects

    train_ids, val_ids, test_ids = split_subjects(["subject_000", "subject_001", "subject_002"], "paper", 0)
    info.update(dataset=str(ds), split={"train": train_ids, "val": val_ids, "test": test_ids}, scenarios=None)
    (out / "run.json").write_text(json.dumps(info))
    before = (out / "run.json").read_bytes()
    (out / "last.pt").write_bytes(pickle.dumps({"model": 1}))
    with pytest.raises(CheckpointError):
        train(ds, out, preset="tiny", epochs=1, progress=False)
    assert (out / "run.json").read_bytes() == before


def test_bad_device_and_out_under_a_file(tmp_path, capsys):
    ds = write_dataset(tmp_path / "d.h5", n_subjects=3, n_cloud=300, seed=2)
    for device in ("gpu", "cuda:99", "", "cpu:x"):
        assert main(["train", str(ds), "--out", str(tmp_path / "r"), "--preset", "tiny", "--device", device]) == 2
        err = capsys.readouterr().err
        assert "device" in err and "Traceback" not in err
    f = tmp_path / "file"
    f.write_text("x")
    assert main(["train", str(ds), "--out", str(f / "run"), "--preset", "tiny", "--epochs", "1"]) == 2
    assert "is a file" in capsys.readouterr().err
