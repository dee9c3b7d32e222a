"""The torch Dataset over the campaign's HDF5 layout, and subject-wise splits."""

from __future__ import annotations

import h5py
import numpy as np
import pytest

torch = pytest.importorskip("torch")

from model_synthetic import write_dataset  # noqa: E402

from mitwin.data.store import read_header  # noqa: E402
from mitwin.data.torchdata import (  # noqa: E402
    InfarctDataset,
    fit_length,
    inference_scenarios,
    split_subjects,
)
from mitwin.errors import DatasetError  # noqa: E402
from mitwin.model.pointnet2 import LevelSpec  # noqa: E402


@pytest.fixture(scope="module")
def h5(tmp_path_factory):
    return write_dataset(tmp_path_factory.mktemp("ds") / "d.h5", n_subjects=4, n_cloud=300, seed=3)


def test_items_shapes_and_values(h5):
    ds = InfarctDataset(h5)
    assert len(ds.scenario_names) == 16 and "baseline" not in ds.scenario_names
    assert not any("slow" in s for s in ds.scenario_names)
    assert len(ds) == 4 * 16
    item = ds[17]  # subject 1, scenario 1
    assert item["cloud"].shape == (300, 7) and item["cloud"].dtype == torch.float32
    assert item["qrs"].shape == (8, 512) and item["labels"].shape == (300,)
    assert item["labels"].dtype == torch.int64
    assert item["coarse"].shape == (128, 4) and item["dense"].shape == (512, 4)
    assert int(item["subject"]) == 1 and int(item["scenario"]) == 1
    with h5py.File(h5) as f:
        g = f["subjects/subject_001"]
        names = [s.decode() if isinstance(s, bytes) else s for s in f.attrs["scenario_names"]]
        row = names.index(ds.scenario_names[1])
        raw = g["cloud"][:]
        np.testing.assert_array_equal(item["labels"].numpy(), g["cloud_labels"][row])
        qrs = g["qrs"][row]
        length = int(g["qrs_length"][row])
    assert qrs.shape[1] < 512 and np.all(qrs[:, length:] == 0)  # stored whole, padded to the subject's longest
    # xyz: centred on the centroid, scaled so that the farthest point is at distance 1
    centre = raw[:, :3].astype(float).mean(0)
    scale = np.linalg.norm(raw[:, :3] - centre, axis=1).max()
    np.testing.assert_allclose(item["cloud"][:, :3].numpy(), (raw[:, :3] - centre) / scale, atol=1e-5)
    np.testing.assert_array_equal(item["cloud"][:, 3:].numpy(), raw[:, 3:])
    expect = np.zeros((8, 512))
    expect[:, :length] = qrs[:, :length] / np.abs(qrs).max()
    np.testing.assert_allclose(item["qrs"].numpy(), expect, rtol=1e-6, atol=1e-7)
    assert float(item["qrs"].abs().max()) == pytest.approx(1.0)


def test_subsets_and_plan(h5):
    levels = (LevelSpec(32, 0.3, 8), LevelSpec(8, 0.6, 4))
    ds = InfarctDataset(h5, ["subject_002"], ["apical_transmural"], n_points=128, n_coarse=64, n_dense=100,
                        levels=levels)
    a = ds[0]
    assert a["cloud"].shape == (128, 7) and a["coarse"].shape == (64, 4) and a["dense"].shape == (100, 4)
    assert a["fps0"].shape == (32,) and a["group0"].shape == (32, 8) and a["interp_idx0"].shape == (128, 3)
    assert a["fps1"].shape == (8,) and a["group1"].shape == (8, 4)
    # the same subject gives the same point subset in another dataset object (split-independent)
    b = InfarctDataset(h5, ["subject_000", "subject_002"], n_points=128)
    np.testing.assert_array_equal(b[16]["point_index"].numpy(), a["point_index"].numpy())
    # ball-query neighbours lie within the radius (or are the nearest point when none is)
    xyz = a["cloud"][:, :3]
    d = (xyz[a["group0"]] - xyz[a["fps0"]].unsqueeze(1)).norm(dim=-1)
    assert float(d.max()) <= 0.3 + 1e-6


def test_fit_length_crops_and_pads():
    q = np.arange(2 * 8 * 6, dtype=float).reshape(2, 8, 6)
    np.testing.assert_array_equal(fit_length(q, 4), q[..., :4])
    padded = fit_length(q, 9)
    np.testing.assert_array_equal(padded[..., :6], q)
    assert padded.shape == (2, 8, 9) and np.all(padded[..., 6:] == 0)
    with pytest.raises(ValueError, match="length"):
        fit_length(q, 0)


def test_model_length_crop_is_counted_and_logged(h5, caplog):
    with h5py.File(h5) as f:
        lens = np.concatenate([f[f"subjects/{s}/qrs_length"][()] for s in sorted(f["subjects"])])
        names = [s.decode() if isinstance(s, bytes) else s for s in f.attrs["scenario_names"]]
    cut = int(np.median(lens))
    full = InfarctDataset(h5)
    rows = [names.index(s) for s in full.scenario_names]
    n = lens.reshape(4, -1)[:, rows].ravel()
    with caplog.at_level("INFO", logger="mitwin.data.torchdata"):
        ds = InfarctDataset(h5, qrs_length=cut)
    assert ds.n_cropped == int(np.sum(n > cut)) > 0 and ds.n_padded == int(np.sum(n < cut))
    assert f"{ds.n_cropped} of {n.size} QRS are longer" in caplog.text
    item, ref = ds[5], full[5]
    assert item["qrs"].shape == (8, cut)
    np.testing.assert_array_equal(item["qrs"].numpy(), ref["qrs"].numpy()[:, :cut])  # normalised whole, then cropped
    assert full.n_cropped == 0 and full.n_padded == n.size


def test_header_and_errors(h5, tmp_path):
    head = read_header(h5)
    assert head.leads == ("I", "II", "V1", "V2", "V3", "V4", "V5", "V6")
    assert inference_scenarios(head.scenario_names, head.scenarios_json) == InfarctDataset(h5).scenario_names
    bad = tmp_path / "bad.h5"
    with h5py.File(bad, "w") as f:
        f.attrs["format"] = "something-else"
    with pytest.raises(DatasetError, match="not a mitwin dataset"):
        InfarctDataset(bad)
    with pytest.raises(FileNotFoundError):
        InfarctDataset(tmp_path / "missing.h5")
    with pytest.raises(ValueError, match="subjects not in"):
        InfarctDataset(h5, ["subject_999"])
    with pytest.raises(ValueError, match="scenarios not in"):
        InfarctDataset(h5, scenarios=["nowhere"])


def test_dataloader_workers_pickle(h5):
    import pickle

    ds = InfarctDataset(h5, ["subject_000"])
    _ = ds[0]  # opens the file
    clone = pickle.loads(pickle.dumps(ds))
    assert clone._h5 is None
    np.testing.assert_array_equal(clone[3]["labels"].numpy(), ds[3]["labels"].numpy())
    ds.close()


def test_split_paper_proportions():
    ids = [f"subject_{i:03d}" for i in range(49)]
    tr, va, te = split_subjects(ids, "paper", seed=0)
    assert (len(tr), len(va), len(te)) == (34, 5, 10)
    assert set(tr) | set(va) | set(te) == set(ids)
    assert not (set(tr) & set(va)) and not (set(tr) & set(te)) and not (set(va) & set(te))
    assert split_subjects(ids, "paper", seed=0) == (tr, va, te)
    assert split_subjects(ids, "paper", seed=1) != (tr, va, te)
    tr, va, te = split_subjects(ids[:12], "paper", seed=0)
    assert (len(tr), len(va), len(te)) == (9, 1, 2)
    tr, va, te = split_subjects(ids[:10], (0.6, 0.2, 0.2), seed=0)
    assert (len(tr), len(va), len(te)) == (6, 2, 2)
    with pytest.raises(ValueError, match="preset"):
        split_subjects(ids, "random")
    with pytest.raises(ValueError, match="at least 3"):
        split_subjects(ids[:2])


@pytest.mark.parametrize("edit, match", [
    (lambda g: g["at"].__setitem__((2, 5), np.nan), "NaN"),
    (lambda g: g["labels"].__setitem__((3, 0), 7), "labels outside 0/1/2"),
    (lambda g: g["cloud_index"].__setitem__(4, 10**6), "cloud_index out of range"),
    (lambda g: g["qrs"].__setitem__((1, 0, 3), np.inf), "non-finite"),
])
def test_invalid_content_is_refused_on_open(tmp_path, edit, match):
    """NaN activation times, a label 7 or an out-of-range cloud index stop training and evaluation at once."""
    import shutil

    from mitwin.data.seal import seal
    from mitwin.model.train import train

    path = write_dataset(tmp_path / "d.h5", n_subjects=3, n_cloud=300, seed=8)
    for name in ("bad.h5",):
        shutil.copy(path, tmp_path / name)
    with h5py.File(tmp_path / "bad.h5", "r+") as f:
        edit(f["subjects/subject_001"])
    seal(tmp_path / "bad.h5")  # valid seal, invalid content: the content checks must find it
    with pytest.raises(DatasetError, match=match):
        InfarctDataset(tmp_path / "bad.h5", ["subject_000"])  # the whole file is checked, not only the subjects used
    with pytest.raises(DatasetError, match=match):
        train(tmp_path / "bad.h5", tmp_path / "run", preset="tiny", epochs=1, progress=False)
    assert not (tmp_path / "run").exists()
    InfarctDataset(path, ["subject_000"])  # the untouched file opens
