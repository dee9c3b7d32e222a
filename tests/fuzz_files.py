"""Damaged files for the fuzz suite (tests/fuzz_entries.py): datasets, checkpoints and QRS CSV files."""

from __future__ import annotations

import atexit
import json
import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
from hypothesis import strategies as st

_FILES: dict[str, bytes] = {}
_TMP = Path(tempfile.mkdtemp(prefix="mitwin-fuzz-"))
atexit.register(shutil.rmtree, _TMP, ignore_errors=True)


def _dataset_bytes() -> bytes:
    if "dataset" not in _FILES:
        from mitwin.data.store import Header, SubjectRecord, write_part

        rng = np.random.default_rng(0)
        s, n, p = 3, 40, 12
        labels = np.zeros((s, n), np.int8)
        labels[1:, :5] = 2
        idx = np.arange(p)
        rec = SubjectRecord(sid="subject_000", seed=0, parameters_json="{}", points=rng.normal(size=(n, 3)),
                            coords=rng.uniform(size=(n, 4)), aha=np.ones(n, int), electrodes=rng.normal(size=(9, 3)),
                            cloud=rng.normal(size=(p, 7)), cloud_index=idx, coarse=rng.normal(size=(8, 4)),
                            dense=rng.normal(size=(8, 4)), at=rng.uniform(0, 50, (s, n)), labels=labels,
                            cloud_labels=labels[:, idx], qrs=rng.normal(size=(s, 8, 30)),
                            qrs_length=np.array([30, 20, 25]), qrs_duration=np.array([30.0, 20.0, 25.0]))
        header = Header("fuzz", ("I", "II", "V1", "V2", "V3", "V4", "V5", "V6"), ("baseline", "a", "b"),
                        json.dumps({"a": {}, "b": {}}), "{}")
        _FILES["dataset"] = write_part(_TMP / "base.h5", header, rec).read_bytes()
    return _FILES["dataset"]


def _checkpoint_bytes() -> bytes:
    if "checkpoint" not in _FILES:
        import torch

        from mitwin.model.checkpoints import save_checkpoint

        state = {"model": {"w": torch.arange(300, dtype=torch.float32), "b": torch.ones(7)}, "epoch": 3,
                 "log": [{"loss": 0.5}]}
        _FILES["checkpoint"] = save_checkpoint(state, _TMP / "base.pt").read_bytes()
    return _FILES["checkpoint"]


def damaged(source: Callable[[], bytes]) -> st.SearchStrategy:
    """A file's bytes with zeros, flipped bytes, random bytes or a truncation somewhere."""
    def apply(args: tuple[str, int, int, int]) -> tuple[bytes, str]:
        kind, frac, length, byte = args
        data = bytearray(source())
        at = frac * len(data) // 10_000
        if kind == "zeros":
            data[at:at + length] = bytes(len(data[at:at + length]))
        elif kind == "flip":
            data[at] ^= 0xFF
        elif kind == "byte":
            data[at:at + length] = bytes([byte]) * len(data[at:at + length])
        else:
            del data[at:]
        return bytes(data), "any"
    return st.tuples(st.sampled_from(["zeros", "flip", "byte", "truncate"]), st.integers(0, 9_999),
                     st.integers(1, 5_000), st.integers(0, 255)).map(apply)


def _open_dataset_file(kw: dict[str, Any]) -> Any:
    from mitwin.data.store import open_dataset, read_subject, validate_dataset

    path = _TMP / "case.h5"
    path.write_bytes(kw["data"])
    validate_dataset(path)
    with open_dataset(path) as ds:
        for sid in ds.subjects:
            ds.subject(sid)
    return read_subject(path, "subject_000")


def _same_dataset(rec: Any) -> str | None:
    from mitwin.data.store import read_subject

    ref = read_subject(_TMP / "base.h5", "subject_000")
    same = all(np.array_equal(getattr(rec, k), getattr(ref, k)) for k in ref.arrays())
    return None if same else "a damaged dataset was read with other content"


def _load_checkpoint_file(kw: dict[str, Any]) -> Any:
    from mitwin.model.checkpoints import load_checkpoint

    path = _TMP / "case.pt"
    path.write_bytes(kw["data"])
    return load_checkpoint(path)


def _same_checkpoint(ckpt: Any) -> str | None:
    from mitwin.model.checkpoints import content_digest, load_checkpoint

    same = content_digest(ckpt) == content_digest(load_checkpoint(_TMP / "base.pt"))
    return None if same else "a damaged checkpoint was loaded with other content"


def _read_csv_text(kw: dict[str, Any]) -> Any:
    from mitwin.model.infer import read_qrs_csv

    path = _TMP / "case.csv"
    path.write_bytes(kw["data"])
    return read_qrs_csv(path)


def _finite_qrs(q: Any) -> str | None:
    return None if q.shape[0] == 8 and np.all(np.isfinite(q)) else "QRS read with a wrong shape or non-finite values"


def _csv_bytes() -> bytes:
    t = np.arange(60)
    sig = np.sin(t[None] / 7.0 + np.arange(8)[:, None])
    head = "t_ms,I,II,V1,V2,V3,V4,V5,V6\n"
    return (head + "\n".join(f"{i}," + ",".join(f"{v:.5f}" for v in sig[:, i]) for i in t) + "\n").encode()




def _vtu_bytes() -> bytes:
    if "vtu" not in _FILES:
        from test_heart import _random_heart

        _random_heart().save(_TMP / "base.vtu")
        _FILES["vtu"] = (_TMP / "base.vtu").read_bytes()
    return _FILES["vtu"]


def _load_vtu(kw: dict[str, Any]) -> Any:
    """A damaged VTU may load (the format has no checksum) but must not crash, hang or fail unclearly."""
    from mitwin.anatomy.heart import Heart

    path = _TMP / "case.vtu"
    path.write_bytes(kw["data"])
    Heart.load(path)
