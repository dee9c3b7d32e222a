"""The HDF5 dataset layout: writing, merging, validating, determinism."""

from __future__ import annotations

import hashlib
import json

import h5py
import numpy as np
import pytest

from mitwin.data.seal import MAGIC, USERBLOCK, seal
from mitwin.data.store import (
    FORMAT,
    Header,
    SubjectRecord,
    merge,
    open_dataset,
    read_header,
    read_subject,
    validate_dataset,
    write_part,
)
from mitwin.errors import DatasetError

LEADS = ("I", "II", "V1", "V2", "V3", "V4", "V5", "V6")


def _header(names=("baseline", "a", "b"), config="{}"):
    return Header("0.0-test", LEADS, names, json.dumps({n: {} for n in names[1:]}), config)


def _record(sid, seed, S=3, N=300, P=40):
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, 3, (S, N)).astype(np.int8)
    labels[0] = 0
    idx = rng.choice(N, P, replace=False)
    return SubjectRecord(
        sid=sid, seed=seed, parameters_json=json.dumps({"seed": seed}),
        points=rng.normal(size=(N, 3)), coords=rng.uniform(size=(N, 4)), aha=rng.integers(0, 18, N),
        electrodes=rng.normal(size=(9, 3)), cloud=rng.normal(size=(P, 7)), cloud_index=idx,
        coarse=rng.normal(size=(16, 4)), dense=rng.normal(size=(32, 4)), at=rng.uniform(0, 90, (S, N)),
        labels=labels, cloud_labels=labels[:, idx], qrs=rng.normal(size=(S, 8, 512)),
        qrs_length=rng.integers(60, 120, S), qrs_duration=rng.uniform(60, 110, S),
    )


def _md5(path):
    return hashlib.md5(path.read_bytes()).hexdigest()


def test_layout_matches_the_documented_one(tmp_path):
    h = _header()
    rec = _record("subject_000", 1)
    write_part(tmp_path / "p.h5", h, rec)
    merge({"subject_000": tmp_path / "p.h5"}, tmp_path / "d.h5", h)
    with h5py.File(tmp_path / "d.h5", "r") as f:
        assert f.attrs["format"] == FORMAT and f.attrs["format_version"] == 2
        assert f.attrs["dt_ms"] == 1.0 and "qrs_samples" not in f.attrs
        assert [s.decode() if isinstance(s, bytes) else s for s in f.attrs["scenario_names"]] == ["baseline", "a", "b"]
        assert [s.decode() if isinstance(s, bytes) else s for s in f.attrs["leads"]] == list(LEADS)
        g = f["subjects/subject_000"]
        assert g.attrs["seed"] == 1 and g.attrs["n_nodes"] == 300
        assert json.loads(g.attrs["parameters_json"]) == {"seed": 1}
        expected = {"points": ("f8", (300, 3)), "coords": ("f8", (300, 4)), "aha": ("i8", (300,)),
                    "electrodes": ("f8", (9, 3)), "cloud": ("f4", (40, 7)), "cloud_index": ("i8", (40,)),
                    "coarse": ("f4", (16, 4)), "dense": ("f4", (32, 4)), "at": ("f4", (3, 300)),
                    "labels": ("i1", (3, 300)), "cloud_labels": ("i1", (3, 40)), "qrs": ("f4", (3, 8, 512)),
                    "qrs_length": ("i4", (3,)), "qrs_duration": ("f4", (3,))}
        assert set(g) == set(expected)
        for name, (dt, shape) in expected.items():
            assert g[name].dtype == np.dtype(dt), name
            assert g[name].shape == shape, name
            assert g[name].fletcher32, name  # every array checksummed
        np.testing.assert_array_equal(g["points"][()], rec.points)
        np.testing.assert_array_equal(g["at"][()], rec.at.astype(np.float32))


def test_roundtrip_and_reader(tmp_path):
    h = _header()
    recs = [_record(f"subject_{i:03d}", i) for i in range(3)]
    for r in recs:
        write_part(tmp_path / f"{r.sid}.h5", h, r)
    merge({r.sid: tmp_path / f"{r.sid}.h5" for r in recs}, tmp_path / "d.h5", h)
    assert validate_dataset(tmp_path / "d.h5") == h
    back = read_subject(tmp_path / "d.h5", "subject_002")
    for name, arr in recs[2].arrays().items():
        np.testing.assert_array_equal(getattr(back, name), arr)
    with open_dataset(tmp_path / "d.h5") as ds:
        assert ds.subjects == ["subject_000", "subject_001", "subject_002"]
        assert ds.scenario_index("b") == 2 and ds.scenarios == {"a": {}, "b": {}}
        assert ds.subject("subject_001")["qrs"].shape == (3, 8, 512)
        with pytest.raises(KeyError):
            ds.subject("subject_009")


def test_merge_is_deterministic(tmp_path):
    """Same records -> same bytes, whatever the order of the sources and the time of writing."""
    h = _header()
    recs = [_record(f"subject_{i:03d}", i) for i in range(3)]
    for r in recs:
        write_part(tmp_path / f"{r.sid}.h5", h, r)
    src = {r.sid: tmp_path / f"{r.sid}.h5" for r in recs}
    merge(src, tmp_path / "a.h5", h)
    merge(dict(reversed(list(src.items()))), tmp_path / "b.h5", h)
    # an earlier dataset as a source gives the same file again
    merge({"subject_000": tmp_path / "a.h5", "subject_001": src["subject_001"], "subject_002": tmp_path / "b.h5"},
          tmp_path / "c.h5", h)
    assert _md5(tmp_path / "a.h5") == _md5(tmp_path / "b.h5") == _md5(tmp_path / "c.h5")


def test_merge_refuses_foreign_parts(tmp_path):
    write_part(tmp_path / "p.h5", _header(config='{"method": "dijkstra"}'), _record("subject_000", 0))
    with pytest.raises(DatasetError, match="other settings"):
        merge({"subject_000": tmp_path / "p.h5"}, tmp_path / "d.h5", _header())
    assert not (tmp_path / "d.h5").exists()


def test_failed_write_leaves_nothing(tmp_path):
    bad = _record("subject_000", 0)
    bad = SubjectRecord(**{**bad.__dict__, "qrs": np.zeros((3, 8, 50))})  # shorter than its qrs_length
    with pytest.raises(DatasetError, match="qrs_length"):
        write_part(tmp_path / "p.h5", _header(), bad)
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize(
    ("corrupt", "match"),
    [
        (lambda f: f.attrs.__setitem__("format", "other"), "not a mitwin-dataset"),
        (lambda f: f.attrs.__setitem__("format_version", 99), "format_version"),
        (lambda f: f.attrs.__delitem__("config_json"), "config_json"),
        (lambda f: f.attrs.__setitem__("config_json", "{not json"), "not JSON"),
        (lambda f: f["subjects/subject_000"].__delitem__("qrs"), "lacks"),
        (lambda f: f["subjects/subject_000/labels"].__setitem__((1, 0), 5), "labels outside"),
        (lambda f: f["subjects/subject_000/cloud_labels"].__setitem__((1, slice(None)), 0), "cloud_labels"),
        (lambda f: f["subjects/subject_000/labels"].__setitem__((0, 0), 2), "baseline"),
        (lambda f: f["subjects/subject_000/at"].__setitem__((1, 0), np.nan), "non-finite"),
        (lambda f: f["subjects/subject_000/qrs"].__setitem__((1, 0, 0), np.inf), "non-finite"),
        (lambda f: f["subjects/subject_000/cloud_index"].__setitem__(0, 300), "cloud_index out of range"),
        (lambda f: f["subjects/subject_000/qrs_length"].__setitem__(0, 513), "qrs_length"),
    ],
)
def test_validator_names_the_problem(tmp_path, corrupt, match):
    h = _header()
    rec = _record("subject_000", 3)
    rec.labels[1, :] = 2  # so that the cloud-label corruption changes something
    rec = SubjectRecord(**{**rec.__dict__, "cloud_labels": rec.labels[:, rec.cloud_index]})
    path = write_part(tmp_path / "d.h5", h, rec)
    with h5py.File(path, "r+") as f:
        corrupt(f)
    with pytest.raises(DatasetError, match="does not match the SHA-256 seal"):
        validate_dataset(path)  # any edit breaks the seal
    seal(path)  # an edit on purpose is sealed again; the content checks then name the problem
    with pytest.raises(DatasetError, match=match):
        validate_dataset(path)


def test_not_a_dataset(tmp_path):
    (tmp_path / "x.h5").write_bytes(b"not hdf5")
    with pytest.raises(DatasetError, match="HDF5"):
        read_header(tmp_path / "x.h5")
    with pytest.raises(FileNotFoundError):
        read_header(tmp_path / "missing.h5")


def test_header_checks():
    with pytest.raises(ValueError, match="baseline"):
        Header("v", LEADS, ("a", "baseline"), "{}", "{}")
    with pytest.raises(ValueError, match="lead"):
        Header("v", LEADS[:3], ("baseline",), "{}", "{}")


def _zeroed(src, dst, offset, n):
    data = bytearray(src.read_bytes())
    data[offset:offset + n] = bytes(len(data[offset:offset + n]))
    dst.write_bytes(bytes(data))
    return dst


def test_damage_anywhere_is_a_dataset_error(tmp_path):
    """Zeros written over any 64-byte window (40 places, the user block, superblock, B-trees, data) -> DatasetError."""
    h = _header()
    path = write_part(tmp_path / "d.h5", h, _record("subject_000", 4))
    data = path.read_bytes()
    assert data.startswith(MAGIC) and len(data) > USERBLOCK
    checked = 0
    for offset in range(0, len(data), len(data) // 40):
        if not any(data[offset:offset + 64]):
            continue  # zeros over zeros change nothing
        bad = _zeroed(path, tmp_path / "bad.h5", offset, 64)
        with pytest.raises(DatasetError, match="damaged|not a readable|seal"):
            validate_dataset(bad)
        with pytest.raises(DatasetError):
            with open_dataset(bad) as ds:
                for sid in ds.subjects:
                    ds.subject(sid)
        checked += 1
    assert checked >= 30


def test_fletcher32_catches_chunk_damage_behind_the_seal(tmp_path):
    """With the seal recomputed over a damaged data chunk, HDF5's per-array checksum still refuses it."""
    path = write_part(tmp_path / "d.h5", _header(), _record("subject_000", 5))
    with h5py.File(path, "r") as f:
        info = f["subjects/subject_000/qrs"].id.get_chunk_info(0)
    bad = _zeroed(path, tmp_path / "bad.h5", info.byte_offset + 100, 400)
    seal(bad)
    with pytest.raises(DatasetError, match="damaged.*qrs|subject_000"):
        read_subject(bad, "subject_000")


def test_unsealed_format_2_and_unknown_versions(tmp_path):
    path = write_part(tmp_path / "d.h5", _header(), _record("subject_000", 6))
    data = bytearray(path.read_bytes())
    data[:USERBLOCK] = bytes(USERBLOCK)
    path.write_bytes(bytes(data))
    with pytest.raises(DatasetError, match="has none"):
        read_header(path)
    with h5py.File(tmp_path / "v9.h5", "w") as f:
        f.attrs["format"] = FORMAT
        f.attrs["format_version"] = 9
    with pytest.raises(DatasetError, match="this mitwin reads versions 1, 2"):
        read_header(tmp_path / "v9.h5")


def test_format_1_files_still_load(tmp_path, caplog):
    """A format-1 file (no seal, no checksums, QRS in a fixed 512-sample array, cut QRS at 512) is read."""
    rec = _record("subject_000", 7)
    lengths = np.array([80, 512, 100])
    with h5py.File(tmp_path / "v1.h5", "w") as f:
        f.attrs.update(format=FORMAT, format_version=1, mitwin_version="0.1", dt_ms=1.0, qrs_samples=512,
                       scenarios_json=json.dumps({"a": {}, "b": {}}), config_json="{}")
        f.attrs["leads"] = np.array(LEADS, dtype=h5py.string_dtype())
        f.attrs["scenario_names"] = np.array(["baseline", "a", "b"], dtype=h5py.string_dtype())
        g = f.create_group("subjects/subject_000")
        g.attrs.update(seed=7, parameters_json="{}", n_nodes=rec.n_nodes)
        for name, arr in rec.arrays().items():
            g[name] = lengths.astype(np.int32) if name == "qrs_length" else arr
    with caplog.at_level("INFO", logger="mitwin.data.store"):
        header = validate_dataset(tmp_path / "v1.h5")
    assert header.qrs_samples == 512
    assert "format 1 dataset" in caplog.text and "1 QRS reach the format-1 limit" in caplog.text
    np.testing.assert_array_equal(read_subject(tmp_path / "v1.h5", "subject_000").qrs, rec.arrays()["qrs"])


def test_write_refuses_float32_overflow_and_nan_times(tmp_path):
    rec = _record("subject_000", 8)
    qrs = rec.qrs.copy()
    qrs[1, 2, 3] = 3.5e38
    with pytest.raises(DatasetError, match="float32 range"):
        write_part(tmp_path / "a.h5", _header(), SubjectRecord(**{**rec.__dict__, "qrs": qrs}))
    at = rec.at.copy()
    at[1, :10] = np.inf  # blocked nodes never activate: allowed
    write_part(tmp_path / "b.h5", _header(), SubjectRecord(**{**rec.__dict__, "at": at}))
    at[2, 0] = np.nan
    with pytest.raises(DatasetError, match="NaN"):
        write_part(tmp_path / "c.h5", _header(), SubjectRecord(**{**rec.__dict__, "at": at}))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["b.h5"]


def test_leftovers_of_a_killed_write_are_removed(tmp_path):
    stale = tmp_path / ".p.h5.x1y2z3w4.tmp"
    stale.write_bytes(b"half")
    write_part(tmp_path / "p.h5", _header(), _record("subject_000", 9))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["p.h5"]
