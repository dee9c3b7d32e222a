"""A PyTorch ``Dataset`` over the campaign's HDF5 file, and subject-wise splits.

One item per (subject, scenario) of the inference set: the inference targets of the file's
scenario records (:attr:`mitwin.scenario_records.ScenarioRecord.is_inference_target`: every scenario but
``baseline`` and tissue variants such as the paper's slow-conduction case), unless a list of
scenarios is given. Items hold

* ``cloud`` (P, 7) float32: x, y, z normalised per subject, then tm, ab, rt, tv unchanged. The
  normalisation centres the subject's cloud on its centroid and divides by the largest distance of a
  cloud point to that centroid (the cloud fits the unit sphere; the ball-query radii of
  :mod:`mitwin.model.presets` are in these units). ``centre`` (3,) and ``scale`` () are returned too.
* ``qrs`` (8, L) float32, L = ``qrs_length`` (512 by default, the models' input length): the raw
  pseudo-ECG divided by its own maximum absolute value over leads and time
  (:func:`mitwin.ep.normalise.normalise`, mode ``"peak"``; relative lead amplitudes and timing are
  kept, and the same normalisation is applied at inference to a measured QRS, which has no healthy
  baseline to compare with), computed on the whole stored QRS, then fitted to L samples: a shorter
  QRS is zero-padded after its end, a longer one is cropped to its first L samples (1 kHz: the first
  L ms). The dataset stores every QRS whole (:mod:`mitwin.data.store`); how many items were cropped
  and padded is logged when the dataset is opened and kept in :attr:`InfarctDataset.n_cropped` and
  :attr:`InfarctDataset.n_padded`.
* ``labels`` (P,) int64 (0 healthy, 1 BZ, 2 scar), ``coarse`` (Nc, 4) and ``dense`` (Nd, 4)
  float32 surface targets (xyz normalised as the cloud, then the class), ``subject`` and
  ``scenario`` int64 indices into :attr:`InfarctDataset.subject_ids` and
  :attr:`InfarctDataset.scenario_names`, ``point_index`` (P,) int64 rows of the stored cloud used.
* the PointNet++ sampling plan of the subject's cloud when ``levels`` is given (keys ``fps0``,
  ``group0``, ...; see :func:`mitwin.model.pointnet2.sampling_plan`), computed once per subject.

Opening verifies the whole file once (every array read, so HDF5 checks its checksums, and every
subject's content checked with :func:`mitwin.data.layout.check_arrays`; a damaged or invalid file
raises :class:`~mitwin.errors.DatasetError`). The file is then opened lazily (in each DataLoader
worker) and read-only; each subject is read once and kept in memory (a 49-subject dataset takes a
few tens of MB).
"""

from __future__ import annotations

import json
import logging
import zlib
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch.utils.data import Dataset

from ..ep.normalise import normalise
from ..errors import DatasetError
from ..infarct import scenarios_from_json
from .store import QRS_SAMPLES, DatasetFile, open_dataset, read_arrays

logger = logging.getLogger(__name__)

#: The paper's split of 49 subjects (Sec. IV-A.1): train, validation, test.
PAPER_SPLIT = (34, 5, 10)

_REQUIRED = ("cloud", "cloud_labels", "coarse", "dense", "qrs", "qrs_length")
_VERIFIED: set[tuple[str, int, int]] = set()
#: The longest model input accepted by :func:`fit_length` (100 s at 1 kHz).
MAX_LENGTH = 100_000


def verify_dataset(path: str | Path) -> None:
    """Read and check every subject of a dataset once per file version (cached by path, size and mtime).

    Raises
    ------
    DatasetError
        When the file is damaged (checksum or structure) or a subject's content is invalid.
    """
    path = Path(path)
    st = path.stat()
    key = (str(path.resolve()), st.st_size, st.st_mtime_ns)
    if key in _VERIFIED:
        return
    with open_dataset(path) as ds:
        for sid in ds.subjects:
            ds.check(sid)
    _VERIFIED.add(key)


def fit_length(qrs: np.ndarray, length: int) -> np.ndarray:
    """QRS ``(..., 8, T)`` cropped to its first ``length`` samples, or zero-padded at the end to ``length``.

    Examples
    --------
    >>> fit_length(np.ones((8, 3)), 5)[0].tolist(), fit_length(np.ones((8, 7)), 5).shape
    ([1.0, 1.0, 1.0, 0.0, 0.0], (8, 5))
    """
    qrs = np.asarray(qrs)
    if isinstance(length, bool) or not isinstance(length, (int, np.integer)) or not 1 <= length <= MAX_LENGTH:
        raise ValueError(f"length: expected a number of samples in [1, {MAX_LENGTH}], got {length!r}")
    t = qrs.shape[-1]
    if t >= length:
        return qrs[..., :length]
    pad = [(0, 0)] * (qrs.ndim - 1) + [(0, length - t)]
    return np.pad(qrs, pad)


def inference_scenarios(scenario_names: Sequence[str], scenarios_json: str | None = None) -> list[str]:
    """The scenarios used for inference, by the records' rule (:func:`mitwin.infarct.scenarios_from_json`).

    ``scenarios_json`` is the header's; without it only the paper's scenario names can be resolved.
    """
    return list(scenarios_from_json(scenario_names, scenarios_json).inference_names)


def _default_scenarios(header: Any) -> list[str]:
    """Inference scenarios of a file: every row but ``baseline`` for a per-subject random set
    (:mod:`mitwin.inverse.training_set`, whose slots hold a different infarct per subject), else
    :func:`inference_scenarios`."""
    from ..inverse.training_set import CONFIG_KEY

    try:
        config = json.loads(header.config_json) if header.config_json else {}
    except json.JSONDecodeError:
        config = {}
    if isinstance(config, dict) and CONFIG_KEY in config:
        return [s for s in header.scenario_names if s != "baseline"]
    return inference_scenarios(header.scenario_names, header.scenarios_json)


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
    qrs_length : int
        Samples of every item's QRS (see the module docstring: longer QRS are cropped, shorter padded).
    healthy_share : float in [0, 1)
        Add the ``baseline`` row (the healthy heart, all labels 0) to every subject's items, repeated so that
        it makes about this share of the items (0: no healthy items, the paper's setting).

    Attributes
    ----------
    n_cropped, n_padded : int
        Items whose stored QRS is longer (cropped) or shorter (zero-padded) than ``qrs_length``.

    Examples
    --------
    >>> ds = InfarctDataset("dataset.h5")  # doctest: +SKIP
    >>> item = ds[0]; item["cloud"].shape, item["qrs"].shape  # doctest: +SKIP
    (torch.Size([4096, 7]), torch.Size([8, 512]))
    """

    def __init__(self, path: str | Path, subjects: Sequence[str] | None = None,
                 scenarios: Sequence[str] | None = None, *, n_points: int | None = None,
                 n_coarse: int | None = None, n_dense: int | None = None,
                 levels: Sequence[Any] | None = None, seed: int = 0, qrs_length: int = QRS_SAMPLES,
                 healthy_share: float = 0.0) -> None:
        self.path = Path(path)
        with open_dataset(self.path) as ds:
            self.header = ds.header
            all_subjects = sorted(ds.subjects)
        verify_dataset(self.path)
        self.all_scenarios: list[str] = list(self.header.scenario_names)
        self.leads: list[str] = list(self.header.leads)
        if subjects is None:
            subjects = all_subjects
        missing = sorted(set(subjects) - set(all_subjects))
        if missing:
            raise ValueError(f"subjects not in {self.path}: {missing[:5]}")
        self.subject_ids: list[str] = list(subjects)
        if scenarios is None:
            scenarios = _default_scenarios(self.header)
        bad = sorted(set(scenarios) - set(self.all_scenarios))
        if bad:
            raise ValueError(f"scenarios not in {self.path}: {bad}")
        if not 0.0 <= float(healthy_share) < 1.0:
            raise ValueError(f"healthy_share: expected a value in [0, 1), got {healthy_share!r}")
        n_healthy = int(round(float(healthy_share) * len(scenarios) / (1.0 - float(healthy_share))))
        if healthy_share > 0:
            n_healthy = max(1, n_healthy)
        #: Item scenarios; ``baseline`` repeated ``n_healthy`` times first when ``healthy_share`` > 0.
        self.scenario_names: list[str] = ["baseline"] * n_healthy + list(scenarios)
        self._rows = [self.all_scenarios.index(s) for s in self.scenario_names]
        self.n_points, self.n_coarse, self.n_dense = n_points, n_coarse, n_dense
        self.levels = tuple(levels) if levels is not None else None
        self.seed = int(seed)
        self.items: list[tuple[int, int]] = [(i, j) for i in range(len(self.subject_ids))
                                             for j in range(len(self.scenario_names))]
        self._h5: DatasetFile | None = None
        self._cache: dict[int, dict[str, Any]] = {}
        self.qrs_length = int(fit_length(np.zeros((1, 1)), qrs_length).shape[-1])
        self.n_cropped, self.n_padded = self._count_fitted()

    def _count_fitted(self) -> tuple[int, int]:
        """Items whose QRS is cropped or padded to ``qrs_length``; logged."""
        lens = []
        for sid in self.subject_ids:
            lens.append(read_arrays(self._file().subject(sid, check=False), self.path, sid,
                                    ["qrs_length"])["qrs_length"][self._rows])
        n = np.concatenate(lens) if lens else np.zeros(0, int)
        cropped, padded = int(np.sum(n > self.qrs_length)), int(np.sum(n < self.qrs_length))
        if cropped:
            logger.warning("%s: %d of %d QRS are longer than the model's %d samples; only their first %d samples "
                           "are used (cropped; longest %d)", self.path, cropped, n.size, self.qrs_length,
                           self.qrs_length, int(n.max()))
        logger.info("%s: %d of %d QRS zero-padded and %d cropped to %d samples", self.path, padded, n.size, cropped,
                    self.qrs_length)
        return cropped, padded

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

    def _file(self) -> DatasetFile:
        if self._h5 is None:
            self._h5 = open_dataset(self.path)
        return self._h5

    def subject(self, i: int) -> dict[str, Any]:
        """All tensors of subject ``i`` (cached): cloud, labels (S, P), qrs (S, 8, T), targets, plan."""
        if i in self._cache:
            return self._cache[i]
        sid = self.subject_ids[i]
        g = read_arrays(self._file().subject(sid, check=False), self.path, sid, _REQUIRED)
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
        qrs = fit_length(normalise(g["qrs"][self._rows], "peak").astype(np.float32), self.qrs_length)

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
        return json.loads(self.header.scenarios_json) if self.header.scenarios_json else {}
