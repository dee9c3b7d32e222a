"""The per-subject arrays of a dataset (names, dtypes, shapes) and the checks of their content.

See :mod:`mitwin.data.store` for the file layout these arrays live in.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Protocol

import numpy as np

from ..errors import DatasetError

__all__ = ["DATASETS", "N_ELECTRODES", "N_LEADS", "SubjectRecord", "check_arrays"]


class _HeaderLike(Protocol):
    @property
    def n_scenarios(self) -> int: ...

    @property
    def qrs_samples(self) -> int | None: ...


N_LEADS = 8
N_ELECTRODES = 9
_F32_MAX = float(np.finfo(np.float32).max)

# name -> (dtype, shape pattern); letters: N nodes, P cloud points, S scenarios, C/D targets, T QRS samples
DATASETS: dict[str, tuple[str, tuple[str | int, ...]]] = {
    "points": ("f8", ("N", 3)),
    "coords": ("f8", ("N", 4)),
    "aha": ("i8", ("N",)),
    "electrodes": ("f8", (N_ELECTRODES, 3)),
    "cloud": ("f4", ("P", 7)),
    "cloud_index": ("i8", ("P",)),
    "coarse": ("f4", ("C", 4)),
    "dense": ("f4", ("D", 4)),
    "at": ("f4", ("S", "N")),
    "labels": ("i1", ("S", "N")),
    "cloud_labels": ("i1", ("S", "P")),
    "qrs": ("f4", ("S", N_LEADS, "T")),
    "qrs_length": ("i4", ("S",)),
    "qrs_duration": ("f4", ("S",)),
}
_COMPRESSED = {"at", "labels", "points", "coords"}  # the (., N) arrays; gzip is deterministic for fixed input
_GZIP_LEVEL = 4
_FINITE = ("points", "coords", "electrodes", "cloud", "coarse", "dense", "qrs")
_LABELS = ("labels", "cloud_labels")


@dataclass(frozen=True)
class SubjectRecord:
    """Everything stored for one subject (see the module docstring for shapes and dtypes)."""

    sid: str
    seed: int
    parameters_json: str
    points: np.ndarray
    coords: np.ndarray
    aha: np.ndarray
    electrodes: np.ndarray
    cloud: np.ndarray
    cloud_index: np.ndarray
    coarse: np.ndarray
    dense: np.ndarray
    at: np.ndarray
    labels: np.ndarray
    cloud_labels: np.ndarray
    qrs: np.ndarray
    qrs_length: np.ndarray
    qrs_duration: np.ndarray

    @property
    def n_nodes(self) -> int:
        return int(self.points.shape[0])

    def arrays(self) -> dict[str, np.ndarray]:
        """Dataset name -> array, cast to the stored dtype, C-contiguous."""
        return {name: np.ascontiguousarray(getattr(self, name), dtype=np.dtype(dt))
                for name, (dt, _) in DATASETS.items()}


def check_arrays(arrays: Mapping[str, np.ndarray], header: _HeaderLike, where: str = "record", *,
                 complete: bool = False) -> None:
    """Check a subject's arrays: dtypes kinds, shapes against each other, values in range.

    Arrays absent from ``arrays`` are skipped unless ``complete``. Checks: the layout's shapes with
    consistent N, P, S (= the header's scenarios) and T; finite geometry, clouds, targets and QRS, and
    QRS within float32 range; activation times non-negative or ``inf`` (never NaN); labels in 0/1/2
    with a label-free baseline row; ``cloud_index`` in 0..N-1 and ``cloud_labels`` equal to the node
    labels there; ``qrs_length`` in 1..T; ``aha`` in 0..17.

    Raises
    ------
    DatasetError
        Naming ``where``, the array and what is wrong.
    """
    if complete:
        missing = [n for n in DATASETS if n not in arrays]
        if missing:
            raise DatasetError(f"{where}: lacks {missing}")
    dims: dict[str, int] = {"S": header.n_scenarios}
    for name, (dt, pattern) in DATASETS.items():
        if name not in arrays:
            continue
        arr = np.asarray(arrays[name])
        kind = np.dtype(dt).kind
        if arr.dtype.kind not in ("f" if kind == "f" else "iu") or arr.dtype.kind == "c":
            raise DatasetError(f"{where}: {name} has dtype {arr.dtype}, expected {np.dtype(dt)}")
        if arr.ndim != len(pattern):
            raise DatasetError(f"{where}: {name} has {arr.ndim} dimensions, expected {len(pattern)} {pattern}")
        for d, p in zip(arr.shape, pattern):
            if isinstance(p, int):
                if d != p:
                    raise DatasetError(f"{where}: {name} has shape {arr.shape}, expected {pattern}")
            elif dims.setdefault(p, d) != d:
                raise DatasetError(f"{where}: {name} has shape {arr.shape}, expected {p} = {dims[p]}")
    for name in _FINITE:
        if name in arrays and not np.all(np.isfinite(arrays[name])):
            raise DatasetError(f"{where}: {name} holds NaN or infinite values (non-finite)")
    if "qrs" in arrays and arrays["qrs"].size and float(np.abs(arrays["qrs"]).max()) > _F32_MAX:
        raise DatasetError(f"{where}: qrs exceeds the float32 range (|value| > {_F32_MAX:.3g})")
    if "at" in arrays:
        at = np.asarray(arrays["at"])
        if np.any(np.isnan(at)) or np.any(at < 0):
            raise DatasetError(f"{where}: at (activation times) holds NaN or negative values (non-finite)")
    for name in _LABELS:
        if name in arrays:
            lab = np.asarray(arrays[name])
            if lab.size and (lab.min() < 0 or lab.max() > 2):
                raise DatasetError(f"{where}: {name} holds labels outside 0/1/2 (got {lab.min()}..{lab.max()})")
    if "labels" in arrays and np.asarray(arrays["labels"]).size and np.any(arrays["labels"][0] != 0):
        raise DatasetError(f"{where}: the baseline row of labels has infarct labels")
    if "aha" in arrays and arrays["aha"].size and (arrays["aha"].min() < 0 or arrays["aha"].max() > 17):
        raise DatasetError(f"{where}: aha segments outside 0..17")
    if "cloud_index" in arrays and arrays["cloud_index"].size:
        idx = np.asarray(arrays["cloud_index"])
        n = dims.get("N")
        if idx.min() < 0 or (n is not None and idx.max() >= n):
            raise DatasetError(f"{where}: cloud_index out of range (got {idx.min()}..{idx.max()}, nodes {n})")
        if "labels" in arrays and "cloud_labels" in arrays and \
                not np.array_equal(arrays["cloud_labels"], arrays["labels"][:, idx]):
            raise DatasetError(f"{where}: cloud_labels differ from the node labels at cloud_index")
    if "qrs_length" in arrays:
        lens = np.asarray(arrays["qrs_length"])
        t = dims.get("T", header.qrs_samples)
        if lens.size and (lens.min() < 1 or (t is not None and lens.max() > t)):
            raise DatasetError(f"{where}: qrs_length outside 1..{t} (got {lens.min()}..{lens.max()})")


