"""A PyTorch ``Dataset`` over the campaign's HDF5 file, and subject-wise splits.

One item per (subject, scenario) of the inference set: the inference targets of the file's
scenario records (:attr:`mitwin.scenario_records.ScenarioRecord.is_inference_target`: every scenario but
``baseline`` and tissue variants such as the paper's slow-conduction case), unless a list of
scenarios is given. Items hold

* ``cloud`` (P, 7) float32: x, y, z normalised per subject, then tm, ab, rt, tv unchanged. The
  normalisation centres the subject's cloud on its centroid and divides by the largest distance of a
  cloud point to that centroid (the cloud fits the unit sphere; the ball-query radii of
  :mod:`mitwin.model.presets` are in these units). ``centre`` (3,) and ``scale`` () are returned too.
* ``qrs`` (8, 512) float32: the raw pseudo-ECG divided by its own maximum absolute value over
  leads and time (relative lead amplitudes and timing are kept; the same normalisation is applied
  at inference to a measured QRS, which has no healthy baseline to compare with).
* ``labels`` (P,) int64 (0 healthy, 1 BZ, 2 scar), ``coarse`` (Nc, 4) and ``dense`` (Nd, 4)
  float32 surface targets (xyz normalised as the cloud, then the class), ``subject`` and
  ``scenario`` int64 indices into :attr:`InfarctDataset.subject_ids` and
  :attr:`InfarctDataset.scenario_names`, ``point_index`` (P,) int64 rows of the stored cloud used.
* the PointNet++ sampling plan of the subject's cloud when ``levels`` is given (keys ``fps0``,
  ``group0``, ...; see :func:`mitwin.model.pointnet2.sampling_plan`), computed once per subject.

The file is opened lazily (in each DataLoader worker) and read-only; each subject is read once and
kept in memory (a 49-subject dataset takes a few tens of MB).
"""

from __future__ import annotations

import dataclasses
import json
import logging
import zlib
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import h5py
import numpy as np
import torch
from torch.utils.data import Dataset

from ..errors import DatasetError
from ..infarct import scenarios_from_json

logger = logging.getLogger(__name__)

#: The paper's split of 49 subjects (Sec. IV-A.1): train, validation, test.
PAPER_SPLIT = (34, 5, 10)

_REQUIRED = ("cloud", "cloud_labels", "coarse", "dense", "qrs")


def read_header(path: str | Path) -> dict[str, Any]:
    """Root attributes of a dataset file (:func:`mitwin.data.store.open_dataset`) as a dict, with
    ``leads`` and ``scenario_names`` as lists of str and ``subject_ids`` sorted.

    Raises
    ------
    DatasetError if the file is not a mitwin dataset.
    """
    from .store import open_dataset

    with open_dataset(path) as ds:
        header = dataclasses.asdict(ds.header)
        header["subject_ids"] = sorted(ds.subjects)
    header["leads"] = list(header["leads"])
    header["scenario_names"] = list(header["scenario_names"])
    return header


def inference_scenarios(scenario_names: Sequence[str], scenarios_json: str | None = None) -> list[str]:
    """The scenarios used for inference, by the records' rule (:func:`mitwin.infarct.scenarios_from_json`).

    ``scenarios_json`` is the header's; without it only the paper's scenario names can be resolved.
    """
    return list(scenarios_from_json(scenario_names, scenarios_json).inference_names)


def normalise_xyz(xyz: np.ndarray) -> tuple[np.ndarray, np.ndarray, float]:
    """Centre ``xyz`` (P, 3) on its centroid and scale into the unit sphere.

    Returns
    -------
    normalised (P, 3) float32, centre (3,), scale (the largest distance to the centre, in mm).
    """
    xyz = np.asarray(xyz, dtype=np.float64)
    centre = xyz.mean(axis=0)
    scale = float(np.linalg.norm(xyz - centre, axis=1).max())
    if not scale > 0:
        raise DatasetError("point cloud is degenerate (all points coincide)")
    return ((xyz - centre) / scale).astype(np.float32), centre, scale


def normalise_qrs(qrs: np.ndarray) -> np.ndarray:
    """Divide each QRS (..., 8, T) by its maximum absolute value over leads and time."""
    qrs = np.asarray(qrs, dtype=np.float32)
    peak = np.abs(qrs).max(axis=(-2, -1), keepdims=True)
    return qrs / np.where(peak > 0, peak, 1.0)


def subsample_indices(n_total: int, n: int | None, seed: int) -> np.ndarray:
    """``n`` of ``n_total`` rows, a fixed random subset for ``seed`` (sorted); all rows if ``n`` is None."""
    if n is None or n >= n_total:
        return np.arange(n_total)
    return np.sort(np.random.default_rng(seed).choice(n_total, size=n, replace=False))


def split_subjects(subject_ids: Sequence[str], preset: str | Sequence[float] = "paper",
                   seed: int = 0) -> tuple[list[str], list[str], list[str]]:
    """Split subjects into train / validation / test (no subject in two sets).

    Parameters
    ----------
    subject_ids : sequence of str
    preset : ``"paper"`` or (train, val, test) fractions
        ``"paper"`` is 34/5/10 of 49 (Sec. IV-A.1); other cohort sizes get the same proportions,
        rounded, with at least one validation and one test subject.
    seed : int
        Seed of the random permutation.

    Returns
    -------
    (train, val, test) lists of subject ids, each sorted.
    """
    ids = list(subject_ids)
    n = len(ids)
    if len(set(ids)) != n:
        raise ValueError("subject_ids must be unique")
    if n < 3:
        raise ValueError(f"subject_ids must hold at least 3 subjects for a split, got {n}")
    if isinstance(preset, str):
        if preset != "paper":
            raise ValueError(f"preset must be 'paper' or (train, val, test) fractions, got {preset!r}")
        fr = np.array(PAPER_SPLIT, dtype=float) / sum(PAPER_SPLIT)
    else:
        fr = np.asarray(preset, dtype=float)
        if fr.shape != (3,) or np.any(fr < 0) or not fr.sum() > 0:
            raise ValueError(f"preset fractions must be 3 non-negative numbers, got {preset!r}")
        fr = fr / fr.sum()
    n_test = max(1, int(round(n * fr[2])))
    n_val = max(1, int(round(n * fr[1])))
    if n_test + n_val >= n:
        n_val = max(1, n - n_test - 1)
    perm = np.random.default_rng(seed).permutation(n)
    test = sorted(ids[i] for i in perm[:n_test])
    val = sorted(ids[i] for i in perm[n_test:n_test + n_val])
    train = sorted(ids[i] for i in perm[n_test + n_val:])
    return train, val, test


class InfarctDataset(Dataset):
    """Items (subject, scenario) of a mitwin HDF5 dataset as tensors.

    Parameters
    ----------
    path : path to the ``.h5`` file written by the campaign
    subjects : subject ids to include (default: all, sorted)
    scenarios : scenario names (default: :func:`inference_scenarios` of the file)
    n_points : int, optional
        Use a fixed random subset of this many cloud points per subject (default: all).
    n_coarse, n_dense : int, optional
        Subsample the surface targets likewise.
    levels : sequence of :class:`mitwin.model.pointnet2.LevelSpec`, optional
        Precompute and return the PointNet++ sampling plan of each subject's cloud.
    seed : int
        Seed of the point subsets.

    Examples
    --------
    >>> ds = InfarctDataset("dataset.h5")  # doctest: +SKIP
    >>> item = ds[0]; item["cloud"].shape, item["qrs"].shape  # doctest: +SKIP
    (torch.Size([4096, 7]), torch.Size([8, 512]))
    """

    def __init__(self, path: str | Path, subjects: Sequence[str] | None = None,
                 scenarios: Sequence[str] | None = None, *, n_points: int | None = None,
                 n_coarse: int | None = None, n_dense: int | None = None,
                 levels: Sequence[Any] | None = None, seed: int = 0) -> None:
        self.path = Path(path)
        header = read_header(self.path)
        self.header = header
        self.all_scenarios: list[str] = header["scenario_names"]
        self.leads: list[str] = header["leads"]
        all_subjects = header["subject_ids"]
        if subjects is None:
            subjects = all_subjects
        missing = sorted(set(subjects) - set(all_subjects))
        if missing:
            raise ValueError(f"subjects not in {self.path}: {missing[:5]}")
        self.subject_ids: list[str] = list(subjects)
        if scenarios is None:
            scenarios = inference_scenarios(self.all_scenarios, header.get("scenarios_json"))
        bad = sorted(set(scenarios) - set(self.all_scenarios))
        if bad:
            raise ValueError(f"scenarios not in {self.path}: {bad}")
        self.scenario_names: list[str] = list(scenarios)
        self._rows = [self.all_scenarios.index(s) for s in self.scenario_names]
        self.n_points, self.n_coarse, self.n_dense = n_points, n_coarse, n_dense
        self.levels = tuple(levels) if levels is not None else None
        self.seed = int(seed)
        self.items: list[tuple[int, int]] = [(i, j) for i in range(len(self.subject_ids))
                                             for j in range(len(self.scenario_names))]
        self._h5: h5py.File | None = None
        self._cache: dict[int, dict[str, Any]] = {}

    def __len__(self) -> int:
        return len(self.items)

    def __getstate__(self) -> dict[str, Any]:
        state = self.__dict__.copy()
        state["_h5"] = None  # h5py handles do not pickle; each worker opens its own
        return state

    def close(self) -> None:
        """Close the file handle (it reopens on the next access)."""
        if self._h5 is not None:
            self._h5.close()
            self._h5 = None

    def _file(self) -> h5py.File:
        if self._h5 is None:
            self._h5 = h5py.File(self.path, "r")
        return self._h5

    def subject(self, i: int) -> dict[str, Any]:
        """All tensors of subject ``i`` (cached): cloud, labels (S, P), qrs (S, 8, T), targets, plan."""
        if i in self._cache:
            return self._cache[i]
        sid = self.subject_ids[i]
        g = self._file()["subjects"][sid]
        for name in _REQUIRED:
            if name not in g:
                raise DatasetError(f"{self.path}: subject {sid} has no dataset {name!r}")
        cloud = np.asarray(g["cloud"], dtype=np.float32)
        if cloud.ndim != 2 or cloud.shape[1] != 7:
            raise DatasetError(f"{self.path}: {sid}/cloud must be (P, 7), got {cloud.shape}")
        sub_seed = self.seed * 100_003 + zlib.crc32(sid.encode())  # same subset in every split
        pidx = subsample_indices(cloud.shape[0], self.n_points, sub_seed)
        cloud = cloud[pidx]
        xyz, centre, scale = normalise_xyz(cloud[:, :3])
        cloud = np.concatenate([xyz, cloud[:, 3:]], axis=1).astype(np.float32)
        labels = np.asarray(g["cloud_labels"], dtype=np.int64)[self._rows][:, pidx]
        qrs = normalise_qrs(np.asarray(g["qrs"], dtype=np.float32)[self._rows])

        def target(name: str, n: int | None, salt: int) -> np.ndarray:
            t = np.asarray(g[name], dtype=np.float32)
            t = t[subsample_indices(t.shape[0], n, sub_seed + salt)]
            t[:, :3] = ((t[:, :3] - centre) / scale).astype(np.float32)
            return t

        entry: dict[str, Any] = {
            "cloud": torch.from_numpy(cloud),
            "labels": torch.from_numpy(labels),
            "qrs": torch.from_numpy(qrs),
            "coarse": torch.from_numpy(target("coarse", self.n_coarse, 1)),
            "dense": torch.from_numpy(target("dense", self.n_dense, 2)),
            "centre": torch.from_numpy(centre.astype(np.float32)),
            "scale": torch.tensor(scale, dtype=torch.float32),
            "point_index": torch.from_numpy(pidx.astype(np.int64)),
        }
        if self.levels is not None:
            from ..model.pointnet2 import sampling_plan

            entry["plan"] = sampling_plan(entry["cloud"][:, :3], self.levels).as_dict()
        self._cache[i] = entry
        return entry

    def __getitem__(self, index: int) -> dict[str, torch.Tensor]:
        i, j = self.items[index]
        s = self.subject(i)
        item = {k: s[k] for k in ("cloud", "coarse", "dense", "centre", "scale", "point_index")}
        item["labels"] = s["labels"][j]
        item["qrs"] = s["qrs"][j]
        item["subject"] = torch.tensor(i, dtype=torch.long)
        item["scenario"] = torch.tensor(j, dtype=torch.long)
        if "plan" in s:
            item.update(s["plan"])
        return item

    def scenarios_json(self) -> dict[str, Any]:
        """The scenario parameters stored in the file (``{}`` when absent)."""
        raw = self.header.get("scenarios_json")
        if raw is None:
            return {}
        return json.loads(raw.decode() if isinstance(raw, bytes) else raw)
