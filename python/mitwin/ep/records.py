"""Reading a patient's ECG: WFDB records, CSV tables and numpy arrays -> :class:`~mitwin.ep.ecg.ECG` in mV.

A clinical or database record (PhysioNet, PTB, PTB-XL) is typically 10 s of 12 leads at 250-1000 Hz.
:func:`read_ecg` reads it at its native sampling rate (``dt = 1000 / fs`` ms), converts every lead to mV
and names the leads the standard way (:data:`STANDARD_LEADS`; aliases such as ``"lead ii"``, ``"MLII"``,
``"avr"`` or ``"v1"`` are accepted, case-insensitively). Channels that are not ECG leads (respiration,
pacing marks, ...) are dropped. The signals are then checked, lead by lead: a NaN sample, a flat lead
(peak-to-peak below :data:`FLAT_MV`) or a clipped lead (its extreme value held by many samples: the
amplifier's rail) raises :class:`ECGRecordError`, as does a record shorter than :data:`MIN_DURATION_MS`.

Formats
-------
* **WFDB**: a header ``.hea`` with its signal file (``.dat`` or ``.mat``), read by the ``wfdb`` package;
  the path may name the header, the signal file or the record without an extension. Units from the header.
* **CSV** (``.csv``, ``.txt``, ``.tsv``): a header row of lead names and optionally a time column
  (``t``, ``t_ms``, ``time``, ``time_ms`` in ms; ``t_s``, ``time_s``, ``seconds`` in s). The sampling rate
  is ``fs`` or, without it, read from the time column (they must agree when both are given).
  Comma, semicolon or tab separated.
* **numpy**: an ``(n_leads, T)`` array with ``fs`` and ``leads`` (the row names).

Examples
--------
>>> import numpy as np
>>> t = np.arange(2000) / 500.0
>>> beats = np.exp(-((t % 0.8 - 0.4) / 0.01) ** 2)
>>> ecg = read_ecg(np.stack([beats, 1.5 * beats]), fs=500, leads=("lead I", "ii"))
>>> ecg.leads, ecg.dt, ecg.n_samples
(('I', 'II'), 2.0, 2000)
"""

from __future__ import annotations

import contextlib
import csv
import logging
import math
import os
import re
import warnings
from collections.abc import Iterator, Sequence
from pathlib import Path

import numpy as np

from ..errors import MitwinError
from .ecg import ECG

__all__ = [
    "STANDARD_LEADS",
    "ECGRecordError",
    "MissingLeadError",
    "derive_leads",
    "lead_name",
    "read_ecg",
]

logger = logging.getLogger(__name__)

#: The 12 standard leads, in the usual order.
STANDARD_LEADS: tuple[str, ...] = ("I", "II", "III", "aVR", "aVL", "aVF", "V1", "V2", "V3", "V4", "V5", "V6")
#: A lead whose peak-to-peak amplitude is below this (mV) is flat (disconnected electrode).
FLAT_MV = 0.01
#: Shortest record accepted, ms: one beat at 50 bpm.
MIN_DURATION_MS = 1200.0
#: A lead is clipped when its maximum or its minimum, away from its median, is held by more than this share of samples.
CLIP_SHARE = 0.005

WFDB_SUFFIXES = (".hea", ".dat", ".mat")
CSV_SUFFIXES = (".csv", ".txt", ".tsv")
TIME_COLUMNS_MS = ("t", "t_ms", "time", "time_ms", "ms")
TIME_COLUMNS_S = ("t_s", "time_s", "seconds", "sec", "s")
#: mV per unit, for the unit strings found in WFDB headers and given by users.
UNIT_SCALE: dict[str, float] = {"mv": 1.0, "uv": 1e-3, "µv": 1e-3, "μv": 1e-3, "nv": 1e-6, "v": 1e3}

#: Limb leads as vectors in the basis (I, II): Einthoven (III = II - I) and Goldberger (aVR = -(I + II) / 2, ...).
LIMB_BASIS: dict[str, tuple[float, float]] = {
    "I": (1.0, 0.0),
    "II": (0.0, 1.0),
    "III": (-1.0, 1.0),
    "aVR": (-0.5, -0.5),
    "aVL": (1.0, -0.5),
    "aVF": (-0.5, 1.0),
}


class ECGRecordError(MitwinError, ValueError):
    """An ECG record cannot be used: unknown format, NaN, flat or clipped leads, too short, no beats."""


class MissingLeadError(ECGRecordError):
    """A lead that is needed is neither in the record nor derivable from the leads that are."""


@contextlib.contextmanager
def quiet_deprecations() -> Iterator[None]:
    """Silence the deprecation warnings that wfdb and neurokit2 trigger inside pandas (not the user's to act on)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        warnings.simplefilter("ignore", FutureWarning)
        yield


# ------------------------------------------------------------------------------------------ lead names
def _alias_table() -> dict[str, str]:
    table = {name.lower(): name for name in STANDARD_LEADS}
    table.update({"mlii": "II", "mli": "I", "mliii": "III", "d1": "I", "d2": "II", "d3": "III",
                  "di": "I", "dii": "II", "diii": "III", "avr": "aVR", "avl": "aVL", "avf": "aVF"})
    return table


_ALIASES = _alias_table()


def lead_name(name: str) -> str | None:
    """The standard name of a lead label, or None when it is not an ECG lead.

    Case, spaces, dashes, underscores and a leading ``"lead"`` / ``"ecg"`` are ignored; ``MLII`` (modified
    lead II, MIT-BIH) counts as II, ``D1``-``D3`` as I-III.

    >>> [lead_name(x) for x in ("lead_ii", "AVF", "v1", "MLII", "ECG V5", "resp")]
    ['II', 'aVF', 'V1', 'II', 'V5', None]
    """
    key = re.sub(r"[\s_\-.]", "", str(name).strip().lower())
    key = re.sub(r"^(lead|ecg)", "", key)
    return _ALIASES.get(key)


def _standardise_names(labels: Sequence[str], source: str) -> tuple[list[int], list[str]]:
    """Rows to keep and their standard names; non-lead channels dropped, duplicates refused."""
    keep: list[int] = []
    names: list[str] = []
    for k, label in enumerate(labels):
        std = lead_name(label)
        if std is None:
            logger.info("%s: channel %r is not an ECG lead; dropped", source, label)
            continue
        if std in names:
            first = labels[keep[names.index(std)]]
            raise ECGRecordError(f"{source}: channels {first!r} and {label!r} are both lead {std}")
        keep.append(k)
        names.append(std)
    if not names:
        raise MissingLeadError(f"{source}: expected ECG leads among the channels, got {list(labels)}")
    return keep, names


def derive_leads(ecg: ECG, leads: Sequence[str]) -> ECG:
    """An ECG with exactly ``leads`` (standard names, in that order), deriving missing limb leads.

    Any two independent limb leads (of I, II, III, aVR, aVL, aVF) give all six by Einthoven's and
    Goldberger's relations; precordial leads cannot be derived.

    Raises
    ------
    MissingLeadError
        When a lead is neither present nor derivable; the message names it and the leads that came.

    Examples
    --------
    >>> e = ECG(np.array([[1.0, 2.0], [0.5, 0.5]]), 2.0, ("II", "III"))
    >>> np.round(derive_leads(e, ("I", "II")).signals, 6).tolist()
    [[0.5, 1.5], [1.0, 2.0]]
    """
    wanted = [lead_name(x) or str(x) for x in leads]
    have = {name: ecg.signals[k] for k, name in enumerate(ecg.leads)}
    limb = [name for name in ecg.leads if name in LIMB_BASIS]
    basis: np.ndarray | None = None
    if len(limb) >= 2:
        a = np.array([LIMB_BASIS[name] for name in limb])  # (n_limb, 2)
        if np.linalg.matrix_rank(a) == 2:
            basis = np.linalg.lstsq(a, np.stack([have[name] for name in limb]), rcond=None)[0]  # (2, T): I, II
    rows, derived = [], []
    for name in wanted:
        if name in have:
            rows.append(have[name])
        elif name in LIMB_BASIS and basis is not None:
            rows.append(np.asarray(LIMB_BASIS[name]) @ basis)
            derived.append(name)
        else:
            how = " (two independent limb leads would give it)" if name in LIMB_BASIS else ""
            raise MissingLeadError(f"leads: expected lead {name} in the record or derivable from it{how}; "
                                   f"the record has {', '.join(ecg.leads)}")
    if derived:
        logger.info("leads %s derived from the limb leads %s", ", ".join(derived), ", ".join(limb))
    return ECG(np.stack(rows), ecg.dt, tuple(wanted), ecg.t0)


# ------------------------------------------------------------------------------------------ checks
def _unit_scale(unit: str | None, source: str, lead: str) -> float:
    key = (unit or "").strip().lower().replace(" ", "")
    if key not in UNIT_SCALE:
        raise ECGRecordError(f"{source}: lead {lead} has unit {unit!r}; expected one of mV, uV, V "
                             "(pass units='mV' (or uV, V) to read_ecg to state it)")
    return UNIT_SCALE[key]


def _check_signals(signals: np.ndarray, leads: Sequence[str], dt: float, source: str, min_duration_ms: float) -> None:
    """Raise ECGRecordError for NaN, flat or clipped leads and records too short for a beat."""
    n = signals.shape[1]
    if n * dt < min_duration_ms:
        raise ECGRecordError(f"{source}: expected a record of at least {min_duration_ms:g} ms (one beat at 50 bpm), "
                             f"got {n} samples at {dt:g} ms = {n * dt:g} ms")
    for row, lead in zip(signals, leads):
        bad = int(np.count_nonzero(~np.isfinite(row)))
        if bad:
            raise ECGRecordError(f"{source}: lead {lead} has {bad} NaN/inf samples (missing or invalid values); "
                                 "expected a complete recording")
        ptp = float(np.ptp(row))
        if ptp < FLAT_MV:
            raise ECGRecordError(f"{source}: lead {lead} is flat (peak-to-peak {ptp:.3g} mV < {FLAT_MV} mV); "
                                 "expected a connected electrode")
        median = float(np.median(row))
        for which, extreme in (("maximum", row.max()), ("minimum", row.min())):
            at = row == extreme
            # a value held at the very start or end is padding (PTB-XL holds the last sample), not a rail
            first, last = int(np.argmin(at)), n - int(np.argmin(at[::-1]))
            held = int(np.count_nonzero(at[first:last])) if first < last else 0
            # a rail holds the extreme far from the signal's usual level (a noise-free baseline at the extreme does not)
            if held > max(3, CLIP_SHARE * n) and abs(extreme - median) > 0.25 * ptp:
                raise ECGRecordError(f"{source}: lead {lead} is clipped: its {which} {extreme:.4g} mV is held by "
                                     f"{held} of {n} samples (expected an unsaturated amplifier)")


def _select(signals: np.ndarray, names: list[str], leads: Sequence[str] | None, dt: float, source: str) -> ECG:
    ecg = ECG(signals, dt, tuple(names))
    if leads is None:
        order = [name for name in STANDARD_LEADS if name in names]
        return ECG(np.stack([ecg.lead(name) for name in order]), dt, tuple(order))
    return derive_leads(ecg, leads)


# ------------------------------------------------------------------------------------------ readers
def _read_wfdb(path: Path, units: str | None) -> tuple[np.ndarray, list[str], float]:
    with quiet_deprecations():
        import wfdb

    base = path.with_suffix("") if path.suffix.lower() in WFDB_SUFFIXES else path
    if not base.with_suffix(".hea").is_file():
        raise FileNotFoundError(f"path: expected a WFDB header {base.with_suffix('.hea')}, not found")
    try:
        with quiet_deprecations():
            record = wfdb.rdrecord(str(base))
    except Exception as exc:  # wfdb raises a mix of ValueError, OSError, IndexError on broken records
        raise ECGRecordError(f"{base}: wfdb could not read the record ({type(exc).__name__}: {exc})") from exc
    if record.p_signal is None or record.fs is None:
        raise ECGRecordError(f"{base}: the record holds no physical signals or no sampling frequency")
    labels = list(record.sig_name or [f"ch{k}" for k in range(record.n_sig)])
    signals = np.array(record.p_signal, dtype=np.float64).T
    for k, label in enumerate(labels):
        signals[k] *= _unit_scale(units or (record.units[k] if record.units else None), str(base), label)
    return signals, labels, 1000.0 / float(record.fs)


def _read_csv(path: Path, fs: float | None, units: str | None) -> tuple[np.ndarray, list[str], float]:
    with open(path, newline="", encoding="utf-8") as fh:
        first = fh.readline()
        delimiter = "\t" if "\t" in first else (";" if first.count(";") > first.count(",") else ",")
        header = [h.strip() for h in next(csv.reader([first], delimiter=delimiter), [])]
        try:
            with warnings.catch_warnings():
                warnings.filterwarnings("ignore", "loadtxt: input contained no data", UserWarning)
                data = np.loadtxt(fh, delimiter=delimiter, ndmin=2, dtype=np.float64)
        except ValueError as exc:
            raise ECGRecordError(f"{path}: expected rows of {len(header)} numbers below the header row "
                                 f"({exc})") from None
    if not header or data.shape[0] < 1:
        raise ECGRecordError(f"{path}: expected a header row of lead names and data rows, got {data.shape[0]} rows")
    if data.shape[1] != len(header):
        raise ECGRecordError(f"{path}: expected {len(header)} values per row (the header's columns), "
                             f"got {data.shape[1]}")
    lower = [h.lower() for h in header]
    time_col, time_scale = None, 1.0
    for names, scale in ((TIME_COLUMNS_MS, 1.0), (TIME_COLUMNS_S, 1000.0)):
        hit = next((lower.index(c) for c in names if c in lower), None)
        if hit is not None and time_col is None:
            time_col, time_scale = hit, scale
    dt = None if fs is None else 1000.0 / fs
    if time_col is not None:
        steps = np.diff(data[:, time_col]) * time_scale
        step = float(np.median(steps)) if steps.size else float("nan")
        if not (step > 0 and np.allclose(steps, step, rtol=1e-3, atol=1e-6)):
            raise ECGRecordError(f"{path}: the time column {header[time_col]!r} must increase in uniform steps")
        if dt is not None and not math.isclose(step, dt, rel_tol=1e-3):
            raise ECGRecordError(f"{path}: fs={fs:g} Hz disagrees with the time column ({1000.0 / step:g} Hz)")
        dt = step
    if dt is None:
        raise ECGRecordError(f"{path}: fs: expected the sampling rate in Hz (the CSV has no time column "
                             f"{'/'.join(TIME_COLUMNS_MS + TIME_COLUMNS_S)})")
    cols = [k for k in range(len(header)) if k != time_col]
    signals = data[:, cols].T * _unit_scale(units or "mV", str(path), "all")
    return signals, [header[k] for k in cols], dt


def read_ecg(
    source: str | os.PathLike | np.ndarray,
    *,
    fs: float | None = None,
    leads: Sequence[str] | None = None,
    units: str | None = None,
    min_duration_ms: float = MIN_DURATION_MS,
) -> ECG:
    """Read a patient's ECG (WFDB, CSV or an array) at its native rate, in mV, with standard lead names.

    Parameters
    ----------
    source : path or (n_leads, T) array
        A WFDB record (``.hea``, ``.dat``, ``.mat`` or no extension), a CSV file, or an array of signals.
    fs : float, optional
        Sampling rate, Hz. Required for an array and for a CSV without a time column; ignored for WFDB.
    leads : sequence of str, optional
        For an array: the names of its rows (required). For a file: the leads to return, in that order
        (missing limb leads derived by :func:`derive_leads`). Default: every ECG lead of the record, in the
        order of :data:`STANDARD_LEADS`.
    units : str, optional
        Unit of the values (``"mV"``, ``"uV"``, ``"V"``). Default: the WFDB header's units; mV for CSV and arrays.
    min_duration_ms : float
        Shortest record accepted, ms.

    Returns
    -------
    ECG
        ``signals`` (n_leads, T) in mV, ``dt = 1000 / fs`` ms, ``leads`` standard names, ``t0 = 0``.

    Raises
    ------
    ECGRecordError
        Unknown format, unreadable file, NaN, flat or clipped lead, record too short.
    MissingLeadError
        A requested lead is neither in the record nor derivable.
    FileNotFoundError
        The file (or a WFDB record's header) does not exist.
    """
    if fs is not None and not (isinstance(fs, (int, float, np.integer, np.floating)) and math.isfinite(fs) and fs > 0):
        raise ValueError(f"fs: expected a sampling rate > 0 Hz, got {fs!r}")
    if isinstance(source, np.ndarray) or (not isinstance(source, (str, os.PathLike)) and hasattr(source, "__array__")):
        arr = np.asarray(source)
        if arr.ndim != 2 or not (np.issubdtype(arr.dtype, np.floating) or np.issubdtype(arr.dtype, np.integer)):
            raise ValueError(f"source: expected a real (n_leads, T) array, got shape {arr.shape} dtype {arr.dtype}")
        if fs is None:
            raise ValueError("fs: expected the sampling rate in Hz of the array, got None")
        if leads is None or len(leads) != arr.shape[0]:
            raise ValueError(f"leads: expected {arr.shape[0]} names, one per row of the array, got {leads!r}")
        labels = [str(x) for x in leads]
        signals = arr.astype(np.float64) * _unit_scale(units or "mV", "source", "all")
        unknown = [x for x in labels if lead_name(x) is None]
        if unknown:
            raise ValueError(f"leads: expected ECG lead names ({', '.join(STANDARD_LEADS)} or aliases), got {unknown}")
        keep, names = _standardise_names(labels, "source")
        dt, source_name, wanted = 1000.0 / float(fs), "source", None
    elif isinstance(source, (str, os.PathLike)):
        path = Path(source)
        suffix = path.suffix.lower()
        if suffix in CSV_SUFFIXES:
            if not path.is_file():
                raise FileNotFoundError(f"path: {path} does not exist")
            signals, labels, dt = _read_csv(path, fs, units)
        elif suffix in WFDB_SUFFIXES or (suffix == "" and path.with_suffix(".hea").is_file()) \
                or Path(f"{path}.hea").is_file():
            signals, labels, dt = _read_wfdb(path if suffix in WFDB_SUFFIXES else Path(f"{path}.hea"), units)
        elif suffix == "" and not path.exists():
            raise FileNotFoundError(f"path: no WFDB record {path}.hea and no file {path}")
        else:
            raise ECGRecordError(f"{path}: unknown ECG format {suffix or '(no extension)'!r}; expected a WFDB record "
                                 f"({', '.join(WFDB_SUFFIXES)}), a CSV ({', '.join(CSV_SUFFIXES)}) or a numpy array")
        keep, names = _standardise_names(labels, str(path))
        source_name, wanted = str(path), leads
    else:
        raise ValueError(f"source: expected a path or an (n_leads, T) array, got {type(source).__name__}")
    signals = signals[keep]
    _check_signals(signals, names, dt, source_name, min_duration_ms)
    ecg = _select(signals, names, wanted, dt, source_name)
    logger.info("%s: %d leads (%s), %.0f Hz, %.1f s", source_name, len(ecg.leads), ", ".join(ecg.leads),
                1000.0 / dt, ecg.n_samples * dt / 1000.0)
    return ecg
