"""The dataset file (HDF5): layout, atomic writing, merging, integrity and content validation.

Layout (format ``mitwin-dataset``, version 2)::

    /                      attrs: format, format_version, mitwin_version, dt_ms,
                                  leads, scenario_names (["baseline", ...]), scenarios_json, config_json
    /subjects/<sid>/       attrs: seed, parameters_json, n_nodes
        points (N,3) f8 | coords (N,4) f8 [tm ab rt tv] | aha (N,) i8 | electrodes (9,3) f8
        cloud (P,7) f4 | cloud_index (P,) i8 | coarse (1024,4) f4 | dense (4096,4) f4
        at (S,N) f4 | labels (S,N) i1 | cloud_labels (S,P) i1
        qrs (S,8,T) f4 | qrs_length (S,) i4 | qrs_duration (S,) f4

Each QRS is stored whole: ``qrs[k, :, :qrs_length[k]]`` is row ``k``'s complete signal (from time 0
to its end of activation plus the margin, at ``dt_ms``) and ``T`` is the longest QRS of the subject
(shorter rows are zero-padded). Nothing is cut; models that need a fixed input length crop or pad
themselves (:class:`mitwin.data.torchdata.InfarctDataset`). Activation times are ``inf`` at nodes
that never activate (blocked tissue); NaN is never valid.

Integrity: the file starts with a SHA-256 seal of its bytes (:mod:`mitwin.data.seal`), verified
before HDF5 reads anything; every non-empty array also carries the HDF5 Fletcher-32 checksum
filter and the metadata HDF5's own checksums (1.10 format). Any damage (data, B-trees, headers) is
reported as a :class:`~mitwin.errors.DatasetError`. Content (finite values, labels in
0/1/2, indices in range, consistent shapes) is checked on reading a subject for training, evaluation
or analysis (:meth:`DatasetFile.check`, :func:`validate_dataset`).

Version 1 files (before integrity checks and whole QRS: ``qrs`` (S, 8, 512) with a root attribute
``qrs_samples``; longer QRS had been cut to 512 samples) are still read, with a logged note that
they carry no checksums and a warning when rows reach the old limit.

Files are written atomically (temporary name + ``os.replace``) and deterministically (no
timestamps, creation order tracked, fixed chunks and gzip level): the same records, the same bytes.
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

from .._atomic import atomic_path, remove_leftovers
from ..errors import DatasetError
from .layout import _COMPRESSED, _GZIP_LEVEL, DATASETS, N_LEADS, SubjectRecord, check_arrays
from .seal import USERBLOCK, check_seal, seal

log = logging.getLogger(__name__)

__all__ = [
    "FORMAT",
    "FORMAT_VERSION",
    "QRS_SAMPLES",
    "DatasetFile",
    "Header",
    "SubjectRecord",
    "merge",
    "check_arrays",
    "N_LEADS",
    "open_dataset",
    "read_arrays",
    "read_header",
    "read_subject",
    "remove_leftovers",
    "validate_dataset",
    "write_part",
]

FORMAT = "mitwin-dataset"
FORMAT_VERSION = 2
#: Versions this mitwin reads (1: before checksums and whole QRS).
READABLE_VERSIONS = (1, 2)
#: The fixed QRS array length of format 1 files, and the default input length of the models.
QRS_SAMPLES = 512
#: What reading a damaged HDF5 file raises (h5py maps HDF5 errors to these).
_H5_ERRORS = (OSError, KeyError, RuntimeError, ValueError, TypeError)


@dataclass(frozen=True)
class Header:
    """Root attributes of a dataset.

    ``qrs_samples`` is the fixed QRS array length of format 1 files (512); None for format 2,
    where each subject's QRS array is as long as its longest QRS.
    """

    mitwin_version: str
    leads: tuple[str, ...]
    scenario_names: tuple[str, ...]  # "baseline" first
    scenarios_json: str
    config_json: str
    dt_ms: float = 1.0
    qrs_samples: int | None = None

    def __post_init__(self) -> None:
        if not self.scenario_names or self.scenario_names[0] != "baseline":
            raise ValueError(f"scenario_names: expected 'baseline' first, got {list(self.scenario_names)[:3]}")
        if len(set(self.scenario_names)) != len(self.scenario_names):
            raise ValueError("scenario_names: expected distinct names")
        if len(self.leads) != N_LEADS:
            raise ValueError(f"leads: expected {N_LEADS} lead names, got {len(self.leads)}")
        if not (isinstance(self.dt_ms, (int, float)) and 0 < self.dt_ms < 1e6):
            raise ValueError(f"dt_ms: expected a positive time step in ms, got {self.dt_ms!r}")
        if self.qrs_samples is not None and not (isinstance(self.qrs_samples, int) and self.qrs_samples >= 1):
            raise ValueError(f"qrs_samples: expected None or a positive integer, got {self.qrs_samples!r}")

    @property
    def n_scenarios(self) -> int:
        """S = 1 + number of scenarios."""
        return len(self.scenario_names)

    def same_content(self, other: Header) -> bool:
        """True when two headers describe the same campaign (version included)."""
        return self == other


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
    if header.qrs_samples is not None:
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
        if arr.size:  # every stored value is covered by a Fletcher-32 checksum (chunked storage)
            chunks = (1,) + arr.shape[1:] if name in ("at", "labels") else arr.shape
            kwargs.update(chunks=chunks, fletcher32=True)
            if name in _COMPRESSED:
                kwargs.update(compression="gzip", compression_opts=_GZIP_LEVEL, shuffle=True)
        g.create_dataset(name, data=arr, **kwargs)


@contextmanager
def _atomic_h5(path: Path) -> Iterator[h5py.File]:
    """An HDF5 file written under a temporary name and moved to ``path`` when complete."""
    with atomic_path(path, suffix=".tmp") as tmp:
        fcpl = h5py.h5p.create(h5py.h5p.FILE_CREATE)
        fcpl.set_obj_track_times(False)
        fcpl.set_link_creation_order(h5py.h5p.CRT_ORDER_TRACKED | h5py.h5p.CRT_ORDER_INDEXED)
        fcpl.set_attr_creation_order(h5py.h5p.CRT_ORDER_TRACKED | h5py.h5p.CRT_ORDER_INDEXED)
        fcpl.set_userblock(USERBLOCK)  # holds the whole-file seal
        fapl = h5py.h5p.create(h5py.h5p.FILE_ACCESS)
        fapl.set_libver_bounds(h5py.h5f.LIBVER_V110, h5py.h5f.LIBVER_LATEST)  # checksummed metadata (HDF5 >= 1.10)
        fid = h5py.h5f.create(str(tmp).encode(), h5py.h5f.ACC_TRUNC, fcpl=fcpl, fapl=fapl)
        with h5py.File(fid) as f:
            yield f
        seal(tmp)


def write_part(path: str | Path, header: Header, record: SubjectRecord) -> Path:
    """Write one subject as a complete single-subject dataset file, atomically.

    Leftover temporary files of an interrupted earlier write of ``path`` are removed first.
    """
    path = Path(path)
    check_arrays({n: getattr(record, n) for n in DATASETS}, header, f"record {record.sid}", complete=True)
    remove_leftovers(path)
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
    remove_leftovers(out)
    with _atomic_h5(out) as f:
        _write_header(f, header)
        subjects = _create_group(f, "subjects")
        for sid, src in records:
            rec = read_subject(src, sid)
            check_arrays(rec.arrays(), header, f"{src}: {sid}", complete=True)
            _write_subject(subjects, rec)
    log.info("wrote %s (%d subjects)", out, len(records))
    return out


# ------------------------------------------------------------------------------------ reading

def _damaged(path: Path, what: str, exc: BaseException) -> DatasetError:
    reason = " ".join(str(exc).split())[:200] or type(exc).__name__
    return DatasetError(f"{path}: damaged or unreadable dataset ({what}: {reason})")


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
    if path.is_dir():
        raise DatasetError(f"{path}: is a folder, expected a dataset file")
    sealed = check_seal(path)  # before HDF5 parses anything: damaged metadata can make HDF5 loop
    try:
        f = h5py.File(path, "r")
    except _H5_ERRORS as exc:
        raise DatasetError(f"{path}: not a readable HDF5 file ({' '.join(str(exc).split())[:200]})") from None
    if not sealed:
        try:
            version = int(f.attrs.get("format_version", 1))
        except (*_H5_ERRORS, TypeError):
            version = -1
        if version == FORMAT_VERSION:
            f.close()
            raise DatasetError(f"{path}: damaged dataset (format {version} files start with a SHA-256 seal; "
                               "this one has none)")
    return f


def _header_of(f: h5py.File, path: Path) -> Header:
    try:
        a = dict(f.attrs)
    except _H5_ERRORS as exc:
        raise _damaged(path, "root attributes", exc) from None
    fmt = a.get("format")
    fmt = fmt.decode() if isinstance(fmt, bytes) else fmt
    if fmt != FORMAT:
        raise DatasetError(f"{path}: not a mitwin dataset (not a {FORMAT} file: format attribute {fmt!r})")
    try:
        version = int(a.get("format_version", -1))
    except (TypeError, ValueError):
        version = -1
    if version not in READABLE_VERSIONS:
        raise DatasetError(f"{path}: format_version {a.get('format_version')!r}; this mitwin reads versions "
                           f"{', '.join(map(str, READABLE_VERSIONS))} (write it again with this mitwin's campaign)")
    try:
        qrs_samples = int(a.get("qrs_samples", QRS_SAMPLES if version == 1 else -1))
        return Header(
            mitwin_version=_attr_str(a, "mitwin_version", path),
            leads=_attr_strs(a, "leads", path),
            scenario_names=_attr_strs(a, "scenario_names", path),
            scenarios_json=_attr_str(a, "scenarios_json", path),
            config_json=_attr_str(a, "config_json", path),
            dt_ms=float(a.get("dt_ms", np.nan)),
            qrs_samples=None if qrs_samples < 0 else qrs_samples,
        )
    except (ValueError, TypeError) as exc:
        raise DatasetError(f"{path}: bad root attributes: {exc}") from None


def read_header(path: str | Path) -> Header:
    """The root attributes of a dataset file."""
    with _open(path) as f:
        return _header_of(f, Path(path))


def _subject_names(f: h5py.File, path: Path) -> list[str]:
    try:
        return list(f["subjects"]) if "subjects" in f else []
    except _H5_ERRORS as exc:
        raise _damaged(path, "subject list", exc) from None


def read_arrays(g: h5py.Group, path: Path, sid: str, names: Iterable[str] | None = None) -> dict[str, np.ndarray]:
    """The subject's arrays (all the layout's that are present, or ``names``), checksums verified by HDF5."""
    out: dict[str, np.ndarray] = {}
    try:
        present = set(g)
        for name in DATASETS if names is None else names:
            if name in present:
                out[name] = g[name][()]
    except _H5_ERRORS as exc:
        raise _damaged(path, f"subject {sid!r}", exc) from None
    return out


def read_subject(path: str | Path, sid: str) -> SubjectRecord:
    """Read one subject completely (checksums verified; shapes and values are checked by :func:`check_arrays`)."""
    path = Path(path)
    with _open(path) as f:
        if sid not in _subject_names(f, path):
            raise DatasetError(f"{path}: no subject {sid!r}")
        try:
            g = f["subjects"][sid]
            seed, params = int(g.attrs["seed"]), g.attrs["parameters_json"]
        except _H5_ERRORS as exc:
            raise _damaged(path, f"subject {sid!r}", exc) from None
        arrays = read_arrays(g, path, sid)
        missing = [n for n in DATASETS if n not in arrays]
        if missing:
            raise DatasetError(f"{path}: subject {sid!r} lacks {missing}")
        params = params.decode() if isinstance(params, bytes) else str(params)
        return SubjectRecord(sid=sid, seed=seed, parameters_json=params, **arrays)


def _check_header(header: Header, path: Path) -> None:
    try:
        json.loads(header.scenarios_json)
        json.loads(header.config_json)
    except ValueError as exc:
        raise DatasetError(f"{path}: scenarios_json / config_json is not JSON ({exc})") from None


def validate_dataset(path: str | Path, *, deep: bool = True) -> Header:
    """Check that a file has the dataset layout; return its header.

    Parameters
    ----------
    path : dataset file
    deep : bool
        Also read every subject (checksums verified) and check its values with :func:`check_arrays`.

    Raises
    ------
    DatasetError
        Naming the file, the subject and what is wrong (damaged files included).
    """
    path = Path(path)
    with DatasetFile(path) as ds:
        if "subjects" not in ds._f:
            raise DatasetError(f"{path}: no /subjects group")
        for sid in ds.subjects:
            if deep:
                ds.check(sid)
            else:
                g = ds.subject(sid, check=False)
                missing = [n for n in DATASETS if n not in g]
                if missing:
                    raise DatasetError(f"{path}: subject {sid!r} lacks {missing}")
                try:
                    shapes = {n: g[n].shape for n in ("at", "qrs")}
                except _H5_ERRORS as exc:
                    raise _damaged(path, f"subject {sid!r}", exc) from None
                if shapes["at"][0] != ds.header.n_scenarios or shapes["qrs"][:2] != (ds.header.n_scenarios, N_LEADS):
                    raise DatasetError(f"{path}: subject {sid!r} has {shapes['at'][0]} scenario rows, expected "
                                       f"{ds.header.n_scenarios}")
    return ds.header


# ------------------------------------------------------------------------------------ convenient reader

class DatasetFile:
    """Read access to a dataset: ``with open_dataset(path) as ds: ds.subject("subject_000")["qrs"]``.

    Opening reads and checks the header; each subject is read completely and checked
    (:meth:`check`: checksums, shapes, values) the first time :meth:`subject` returns it.

    Attributes
    ----------
    header : Header
    subjects : list of str, subject ids in file order
    scenario_names : tuple of str, "baseline" first
    """

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self._f = _open(self.path)
        try:
            self.header = _header_of(self._f, self.path)
            _check_header(self.header, self.path)
            self.subjects: list[str] = _subject_names(self._f, self.path)
        except BaseException:
            self._f.close()
            raise
        self.scenario_names = self.header.scenario_names
        self.version = int(self._f.attrs.get("format_version", FORMAT_VERSION))
        self._checked: set[str] = set()
        if self.version == 1:
            log.info("%s: format 1 dataset (no checksums; QRS longer than %d samples were cut when it was written)",
                     self.path, self.header.qrs_samples)

    @property
    def scenarios(self) -> dict[str, Any]:
        """Scenario parameters, name -> dict (from ``scenarios_json``)."""
        return json.loads(self.header.scenarios_json)

    @property
    def config(self) -> dict[str, Any]:
        """Campaign settings (from ``config_json``)."""
        return json.loads(self.header.config_json)

    def check(self, sid: str, *, complete: bool = True) -> None:
        """Read every array of subject ``sid`` (HDF5 verifies the checksums) and check it with :func:`check_arrays`.

        Raises
        ------
        DatasetError
            When the subject is damaged, incomplete (with ``complete``) or holds invalid values.
        """
        g = self.subject(sid, check=False)
        arrays = read_arrays(g, self.path, sid)
        check_arrays(arrays, self.header, f"{self.path}: {sid}", complete=complete)
        if self.version == 1 and "qrs_length" in arrays and self.header.qrs_samples is not None:
            n_cut = int(np.sum(arrays["qrs_length"] >= self.header.qrs_samples))
            if n_cut:
                log.warning("%s: %s: %d QRS reach the format-1 limit of %d samples and may have been cut",
                            self.path, sid, n_cut, self.header.qrs_samples)
        self._checked.add(sid)

    def subject(self, sid: str, *, check: bool = True) -> h5py.Group:
        """The HDF5 group of a subject (datasets are read lazily: ``group["at"][3]``).

        With ``check`` (default) the subject is first checked once with :meth:`check` (arrays that
        are absent are skipped, so partial files can still be analysed).
        """
        if sid not in self.subjects:
            raise KeyError(f"no subject {sid!r} in {self.path} (have {len(self.subjects)})")
        try:
            g = self._f["subjects"][sid]
        except _H5_ERRORS as exc:
            raise _damaged(self.path, f"subject {sid!r}", exc) from None
        if check and sid not in self._checked:
            self.check(sid, complete=False)
        return g

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
    """Open a dataset for reading (use as a context manager); see :class:`DatasetFile`."""
    return DatasetFile(path)
