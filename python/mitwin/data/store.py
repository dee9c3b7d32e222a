"""The dataset file (HDF5): layout, atomic writing, merging and validation.

Layout (format ``mitwin-dataset``, version 1)::

    /                      attrs: format, format_version, mitwin_version, dt_ms, qrs_samples,
                                  leads, scenario_names (["baseline", ...]), scenarios_json, config_json
    /subjects/<sid>/       attrs: seed, parameters_json, n_nodes
        points (N,3) f8 | coords (N,4) f8 [tm ab rt tv] | aha (N,) i8 | electrodes (9,3) f8
        cloud (P,7) f4 | cloud_index (P,) i8 | coarse (1024,4) f4 | dense (4096,4) f4
        at (S,N) f4 | labels (S,N) i1 | cloud_labels (S,P) i1
        qrs (S,8,512) f4 | qrs_length (S,) i4 | qrs_duration (S,) f4

Every file is written to a temporary name in the target folder and moved into place with
``os.replace``, so a reader never sees a half-written file. Writing is deterministic: no
timestamps (object time tracking off), attribute and link creation order tracked, fixed chunk
shapes and gzip level; the same records give the same bytes.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import h5py
import numpy as np

from .._atomic import atomic_path
from ..errors import DatasetError

log = logging.getLogger(__name__)

__all__ = [
    "FORMAT",
    "FORMAT_VERSION",
    "QRS_SAMPLES",
    "DatasetFile",
    "Header",
    "SubjectRecord",
    "merge",
    "open_dataset",
    "read_header",
    "read_subject",
    "validate_dataset",
    "write_part",
]

FORMAT = "mitwin-dataset"
FORMAT_VERSION = 1
QRS_SAMPLES = 512
N_LEADS = 8
N_ELECTRODES = 9

# name -> (dtype, shape pattern); letters: N nodes, P cloud points, S scenarios, C/D targets
_DATASETS: dict[str, tuple[str, tuple[str | int, ...]]] = {
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
    "qrs": ("f4", ("S", N_LEADS, "Q")),
    "qrs_length": ("i4", ("S",)),
    "qrs_duration": ("f4", ("S",)),
}
_COMPRESSED = {"at", "labels", "points", "coords"}  # the (., N) arrays; gzip is deterministic for fixed input
_GZIP_LEVEL = 4


@dataclass(frozen=True)
class Header:
    """Root attributes of a dataset."""

    mitwin_version: str
    leads: tuple[str, ...]
    scenario_names: tuple[str, ...]  # "baseline" first
    scenarios_json: str
    config_json: str
    dt_ms: float = 1.0
    qrs_samples: int = QRS_SAMPLES

    def __post_init__(self) -> None:
        if not self.scenario_names or self.scenario_names[0] != "baseline":
            raise ValueError(f"scenario_names: expected 'baseline' first, got {list(self.scenario_names)[:3]}")
        if len(set(self.scenario_names)) != len(self.scenario_names):
            raise ValueError("scenario_names: expected distinct names")
        if len(self.leads) != N_LEADS:
            raise ValueError(f"leads: expected {N_LEADS} lead names, got {len(self.leads)}")

    @property
    def n_scenarios(self) -> int:
        """S = 1 + number of scenarios."""
        return len(self.scenario_names)

    def same_content(self, other: Header) -> bool:
        """True when two headers describe the same campaign (version included)."""
        return self == other


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
        return {name: np.ascontiguousarray(getattr(self, name), dtype=np.dtype(dt)) for name, (dt, _) in _DATASETS.items()}


# ------------------------------------------------------------------------------------ low-level writing

def _gcpl() -> h5py.h5p.PropGCID:
    gcpl = h5py.h5p.create(h5py.h5p.GROUP_CREATE)
    gcpl.set_obj_track_times(False)
    gcpl.set_link_creation_order(h5py.h5p.CRT_ORDER_TRACKED | h5py.h5p.CRT_ORDER_INDEXED)
    gcpl.set_attr_creation_order(h5py.h5p.CRT_ORDER_TRACKED | h5py.h5p.CRT_ORDER_INDEXED)
    return gcpl


def _create_group(parent: h5py.Group, name: str) -> h5py.Group:
    gid = h5py.h5g.create(parent.id, name.encode(), gcpl=_gcpl())
    return h5py.Group(gid)


def _str_array(values: Iterable[str]) -> np.ndarray:
    return np.array(list(values), dtype=h5py.string_dtype("utf-8"))


def _write_header(f: h5py.File, header: Header) -> None:
    a = f.attrs
    a["format"] = FORMAT
    a["format_version"] = np.int64(FORMAT_VERSION)
    a["mitwin_version"] = header.mitwin_version
    a["dt_ms"] = np.float64(header.dt_ms)
    a["qrs_samples"] = np.int64(header.qrs_samples)
    a["leads"] = _str_array(header.leads)
    a["scenario_names"] = _str_array(header.scenario_names)
    a["scenarios_json"] = header.scenarios_json
    a["config_json"] = header.config_json


def _write_subject(subjects: h5py.Group, rec: SubjectRecord) -> None:
    g = _create_group(subjects, rec.sid)
    g.attrs["seed"] = np.int64(rec.seed)
    g.attrs["parameters_json"] = rec.parameters_json
    g.attrs["n_nodes"] = np.int64(rec.n_nodes)
    for name, arr in rec.arrays().items():
        kwargs: dict[str, Any] = {"track_times": False}
        if name in _COMPRESSED and arr.size:
            chunks = (1,) + arr.shape[1:] if name in ("at", "labels") else arr.shape
            kwargs.update(chunks=chunks, compression="gzip", compression_opts=_GZIP_LEVEL, shuffle=True)
        g.create_dataset(name, data=arr, **kwargs)


@contextmanager
def _atomic_h5(path: Path) -> Iterator[h5py.File]:
    """An HDF5 file written under a temporary name and moved to ``path`` when complete."""
    with atomic_path(path, suffix=".tmp") as tmp:
        fcpl = h5py.h5p.create(h5py.h5p.FILE_CREATE)
        fcpl.set_obj_track_times(False)
        fcpl.set_link_creation_order(h5py.h5p.CRT_ORDER_TRACKED | h5py.h5p.CRT_ORDER_INDEXED)
        fcpl.set_attr_creation_order(h5py.h5p.CRT_ORDER_TRACKED | h5py.h5p.CRT_ORDER_INDEXED)
        fid = h5py.h5f.create(str(tmp).encode(), h5py.h5f.ACC_TRUNC, fcpl=fcpl)
        with h5py.File(fid) as f:
            yield f


def write_part(path: str | Path, header: Header, record: SubjectRecord) -> Path:
    """Write one subject as a complete single-subject dataset file, atomically."""
    path = Path(path)
    _check_record(record, header)
    with _atomic_h5(path) as f:
        _write_header(f, header)
        _write_subject(_create_group(f, "subjects"), record)
    return path


def merge(sources: Mapping[str, str | Path], out: str | Path, header: Header) -> Path:
    """Write the final dataset from per-subject sources, atomically and in subject order.

    Parameters
    ----------
    sources : dict sid -> file
        For each subject, a dataset file that holds it (a part file or an earlier dataset).
    out : path
    header : Header
        Root attributes; each source must carry the same.
    """
    out = Path(out)
    records = []
    for sid in sorted(sources):
        src = Path(sources[sid])
        if read_header(src) != header:
            raise DatasetError(f"{src}: was written with other settings than this campaign")
        records.append((sid, src))
    with _atomic_h5(out) as f:
        _write_header(f, header)
        subjects = _create_group(f, "subjects")
        for sid, src in records:
            _write_subject(subjects, read_subject(src, sid))
    log.info("wrote %s (%d subjects)", out, len(records))
    return out


# ------------------------------------------------------------------------------------ reading

def _attr_str(attrs: h5py.AttributeManager, key: str, path: Path) -> str:
    if key not in attrs:
        raise DatasetError(f"{path}: missing root attribute {key!r}")
    v = attrs[key]
    return v.decode() if isinstance(v, bytes) else str(v)


def _attr_strs(attrs: h5py.AttributeManager, key: str, path: Path) -> tuple[str, ...]:
    if key not in attrs:
        raise DatasetError(f"{path}: missing root attribute {key!r}")
    return tuple(x.decode() if isinstance(x, bytes) else str(x) for x in np.atleast_1d(attrs[key]))


def _open(path: str | Path) -> h5py.File:
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"dataset: no such file {str(path)!r}")
    try:
        return h5py.File(path, "r")
    except OSError as exc:
        raise DatasetError(f"{path}: not a readable HDF5 file ({exc})") from exc


def _header_of(f: h5py.File, path: Path) -> Header:
    a = f.attrs
    if a.get("format") != FORMAT:
        raise DatasetError(f"{path}: not a mitwin dataset (not a {FORMAT} file: format attribute {a.get('format')!r})")
    version = int(a.get("format_version", -1))
    if version != FORMAT_VERSION:
        raise DatasetError(f"{path}: format_version {version}, this mitwin reads {FORMAT_VERSION}")
    try:
        return Header(
            mitwin_version=_attr_str(a, "mitwin_version", path),
            leads=_attr_strs(a, "leads", path),
            scenario_names=_attr_strs(a, "scenario_names", path),
            scenarios_json=_attr_str(a, "scenarios_json", path),
            config_json=_attr_str(a, "config_json", path),
            dt_ms=float(a.get("dt_ms", np.nan)),
            qrs_samples=int(a.get("qrs_samples", -1)),
        )
    except ValueError as exc:
        raise DatasetError(f"{path}: bad root attributes: {exc}") from exc


def read_header(path: str | Path) -> Header:
    """The root attributes of a dataset file."""
    with _open(path) as f:
        return _header_of(f, Path(path))


def read_subject(path: str | Path, sid: str) -> SubjectRecord:
    """Read one subject completely."""
    with _open(path) as f:
        if "subjects" not in f or sid not in f["subjects"]:
            raise DatasetError(f"{path}: no subject {sid!r}")
        g = f["subjects"][sid]
        try:
            arrays = {name: g[name][()] for name in _DATASETS}
        except KeyError as exc:
            raise DatasetError(f"{path}: subject {sid!r} lacks a dataset ({exc})") from exc
        return SubjectRecord(sid=sid, seed=int(g.attrs["seed"]), parameters_json=str(g.attrs["parameters_json"]),
                             **arrays)


def _check_record(rec: SubjectRecord, header: Header, path: Path | str = "record") -> None:
    """Raise DatasetError when a record's arrays do not have the layout's shapes and dtypes."""
    dims: dict[str, int] = {"S": header.n_scenarios, "Q": header.qrs_samples}
    for name, (dt, pattern) in _DATASETS.items():
        arr = getattr(rec, name)
        if arr.ndim != len(pattern):
            raise DatasetError(f"{path}: {rec.sid}/{name} has {arr.ndim} dimensions, expected {len(pattern)}")
        for d, p in zip(arr.shape, pattern):
            if isinstance(p, int):
                if d != p:
                    raise DatasetError(f"{path}: {rec.sid}/{name} has shape {arr.shape}, expected {pattern}")
            elif dims.setdefault(p, d) != d:
                raise DatasetError(f"{path}: {rec.sid}/{name} has shape {arr.shape}, expected {p} = {dims[p]}")
    if rec.cloud_index.size and (rec.cloud_index.min() < 0 or rec.cloud_index.max() >= rec.n_nodes):
        raise DatasetError(f"{path}: {rec.sid}/cloud_index out of range")
    if np.any((rec.labels < 0) | (rec.labels > 2)) or np.any((rec.cloud_labels < 0) | (rec.cloud_labels > 2)):
        raise DatasetError(f"{path}: {rec.sid}: labels outside 0/1/2")
    if np.any((rec.qrs_length < 1) | (rec.qrs_length > header.qrs_samples)):
        raise DatasetError(f"{path}: {rec.sid}/qrs_length outside 1..{header.qrs_samples}")


def validate_dataset(path: str | Path, *, deep: bool = True) -> Header:
    """Check that a file has the dataset layout; return its header.

    Parameters
    ----------
    path : dataset file
    deep : bool
        Also read every subject and check values (labels in 0/1/2, cloud indices in range,
        cloud labels equal to the node labels at the cloud indices, finite AT and QRS).

    Raises
    ------
    DatasetError
        Naming the file, the subject and what is wrong.
    """
    path = Path(path)
    with _open(path) as f:
        header = _header_of(f, path)
        if header.dt_ms <= 0 or header.qrs_samples < 1:
            raise DatasetError(f"{path}: bad dt_ms {header.dt_ms} or qrs_samples {header.qrs_samples}")
        try:
            json.loads(header.scenarios_json)
            json.loads(header.config_json)
        except ValueError as exc:
            raise DatasetError(f"{path}: scenarios_json / config_json is not JSON ({exc})") from exc
        if "subjects" not in f:
            raise DatasetError(f"{path}: no /subjects group")
        sids = list(f["subjects"])
    for sid in sids:
        if deep:
            rec = read_subject(path, sid)
            _check_record(rec, header, path)
            if not np.array_equal(rec.cloud_labels, rec.labels[:, rec.cloud_index]):
                raise DatasetError(f"{path}: {sid}: cloud_labels differ from the node labels at cloud_index")
            if not (np.all(np.isfinite(rec.at)) and np.all(np.isfinite(rec.qrs))):
                raise DatasetError(f"{path}: {sid}: non-finite activation times or QRS")
            if np.any(rec.labels[0] != 0):
                raise DatasetError(f"{path}: {sid}: the baseline row has infarct labels")
        else:
            with _open(path) as f:
                g = f["subjects"][sid]
                missing = [n for n in _DATASETS if n not in g]
                if missing:
                    raise DatasetError(f"{path}: subject {sid!r} lacks {missing}")
                if g["at"].shape[0] != header.n_scenarios or g["qrs"].shape != (header.n_scenarios, N_LEADS,
                                                                                header.qrs_samples):
                    raise DatasetError(f"{path}: subject {sid!r} has {g['at'].shape[0]} scenario rows, expected "
                                       f"{header.n_scenarios}")
    return header


# ------------------------------------------------------------------------------------ convenient reader

class DatasetFile:
    """Read access to a dataset: ``with open_dataset(path) as ds: ds.subject("subject_000")["qrs"]``.

    Attributes
    ----------
    header : Header
    subjects : list of str, subject ids in file order
    scenario_names : tuple of str, "baseline" first
    """

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self._f = _open(self.path)
        self.header = _header_of(self._f, self.path)
        self.subjects: list[str] = list(self._f["subjects"]) if "subjects" in self._f else []
        self.scenario_names = self.header.scenario_names

    @property
    def scenarios(self) -> dict[str, Any]:
        """Scenario parameters, name -> dict (from ``scenarios_json``)."""
        return json.loads(self.header.scenarios_json)

    @property
    def config(self) -> dict[str, Any]:
        """Campaign settings (from ``config_json``)."""
        return json.loads(self.header.config_json)

    def subject(self, sid: str) -> h5py.Group:
        """The HDF5 group of a subject (datasets are read lazily: ``group["at"][3]``)."""
        if sid not in self.subjects:
            raise KeyError(f"no subject {sid!r} in {self.path} (have {len(self.subjects)})")
        return self._f["subjects"][sid]

    def scenario_index(self, name: str) -> int:
        """Row of a scenario in the (S, ...) arrays."""
        try:
            return self.scenario_names.index(name)
        except ValueError:
            raise KeyError(f"no scenario {name!r} in {self.path}") from None

    def close(self) -> None:
        self._f.close()

    def __enter__(self) -> DatasetFile:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()


def open_dataset(path: str | Path) -> DatasetFile:
    """Open a dataset for reading (use as a context manager)."""
    return DatasetFile(path)
