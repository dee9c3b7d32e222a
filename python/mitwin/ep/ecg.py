"""ECG containers: one ECG (leads x samples) or a batch on a common time axis, and their CSV form.

A simulated QRS (:mod:`mitwin.ep.leadfield`), a measured record and an extracted QRS are all
:class:`ECG` objects: signals in mV (times K for a raw pseudo-ECG), sampled every ``dt`` ms from ``t0``.
"""

from __future__ import annotations

import logging
import math
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from .._validate import as_float_array
from .delineation import qrs_duration
from .leads import ELECTRODES, LEAD_TRANSFORM, LEADS
from .normalise import normalise

__all__ = ["ECG", "ECGBatch", "ELECTRODES", "LEADS", "LEAD_TRANSFORM"]

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class ECG:
    """An 8-lead (pseudo-)ECG sampled every ``dt`` ms from ``t0``.

    Attributes
    ----------
    signals : (n_leads, T) float64, read-only
        One row per lead, in the order of ``leads`` (mV times K for a raw pseudo-ECG).
    dt : float
        Sampling interval, ms.
    leads : tuple of str
        Lead names, by default :data:`LEADS`.
    t0 : float
        Time of the first sample, ms.
    """

    signals: np.ndarray
    dt: float = 1.0
    leads: tuple[str, ...] = LEADS
    t0: float = 0.0

    def __post_init__(self) -> None:
        leads = tuple(str(x) for x in self.leads)
        sig = as_float_array(self.signals, "signals", (len(leads), None))
        if not (math.isfinite(self.dt) and self.dt > 0):
            raise ValueError(f"dt: expected a finite sampling interval > 0 ms, got {self.dt}")
        if len(set(leads)) != len(leads):
            raise ValueError(f"leads: expected distinct names, got {leads}")
        sig.setflags(write=False)
        object.__setattr__(self, "signals", sig)
        object.__setattr__(self, "leads", leads)
        object.__setattr__(self, "dt", float(self.dt))
        object.__setattr__(self, "t0", float(self.t0))

    @property
    def t(self) -> np.ndarray:
        """(T,) sample times, ms."""
        return self.t0 + self.dt * np.arange(self.signals.shape[1])

    @property
    def n_samples(self) -> int:
        """Number of samples T."""
        return int(self.signals.shape[1])

    def lead(self, name: str) -> np.ndarray:
        """(T,) signal of the lead called ``name`` (e.g. ``"V1"``)."""
        try:
            return self.signals[self.leads.index(name)]
        except ValueError:
            raise KeyError(f"lead {name!r} not in {self.leads}") from None

    def padded(self, n_samples: int = 512) -> np.ndarray:
        """(n_leads, n_samples) signals zero-padded (or cut) to a fixed length, as stored in datasets."""
        if n_samples < 0:
            raise ValueError(f"n_samples: expected >= 0, got {n_samples}")
        out = np.zeros((self.signals.shape[0], n_samples))
        m = min(n_samples, self.n_samples)
        if m < self.n_samples:
            logger.warning("ECG of %d samples cut to %d", self.n_samples, n_samples)
        out[:, :m] = self.signals[:, :m]
        return out

    def normalised(self, mode: str | None = "amplitude") -> ECG:
        """A copy normalised as :func:`mitwin.ep.normalise.normalise` describes."""
        return ECG(normalise(self.signals, mode, self.leads), self.dt, self.leads, self.t0)

    def qrs_duration(self, fraction: float = 0.05) -> float:
        """QRS duration in ms by :func:`mitwin.ep.delineation.qrs_duration`."""
        return float(qrs_duration(self, fraction=fraction))

    def to_csv(self, path: str | os.PathLike) -> Path:
        """Write ``t_ms`` and one column per lead to a CSV file (atomically); return the path."""
        from .._atomic import atomic_path

        table = np.column_stack([self.t, self.signals.T])
        header = ",".join(("t_ms",) + self.leads)
        with atomic_path(path) as tmp:
            np.savetxt(tmp, table, delimiter=",", header=header, comments="", fmt="%.10g")
        return Path(path)

    @classmethod
    def from_csv(cls, path: str | os.PathLike, dt: float | None = None) -> ECG:
        """Read a CSV with a header row: one column per lead of :data:`LEADS` (any order, extra
        columns ignored) and optionally ``t_ms``. ``dt`` defaults to the spacing of ``t_ms`` or 1 ms."""
        path = Path(path)
        with open(path) as fh:
            header = [h.strip() for h in fh.readline().strip().split(",")]
        missing = [name for name in LEADS if name not in header]
        if missing:
            raise ValueError(f"{path}: expected a header with columns {', '.join(LEADS)}; missing {', '.join(missing)}")
        data = np.loadtxt(path, delimiter=",", skiprows=1, ndmin=2)
        if data.shape[1] != len(header):
            raise ValueError(f"{path}: header has {len(header)} columns but the rows have {data.shape[1]}")
        signals = np.stack([data[:, header.index(name)] for name in LEADS])
        t0 = 0.0
        if "t_ms" in header:
            t = data[:, header.index("t_ms")]
            t0 = float(t[0]) if t.size else 0.0
            if dt is None and t.size > 1:
                dt = float(np.median(np.diff(t)))
        return cls(signals, 1.0 if dt is None else dt, LEADS, t0)


@dataclass(frozen=True)
class ECGBatch:
    """K ECGs with a common time axis: ``signals`` (K, n_leads, T). ``batch[k]`` is an :class:`ECG`;
    ``np.asarray(batch)`` gives ``signals``."""

    signals: np.ndarray
    dt: float = 1.0
    leads: tuple[str, ...] = LEADS
    t0: float = 0.0

    def __post_init__(self) -> None:
        leads = tuple(str(x) for x in self.leads)
        sig = as_float_array(self.signals, "signals", (None, len(leads), None))
        sig.setflags(write=False)
        object.__setattr__(self, "signals", sig)
        object.__setattr__(self, "leads", leads)

    @property
    def t(self) -> np.ndarray:
        """(T,) sample times, ms."""
        return self.t0 + self.dt * np.arange(self.signals.shape[2])

    def __len__(self) -> int:
        return int(self.signals.shape[0])

    def __getitem__(self, k: int) -> ECG:
        return ECG(self.signals[k], self.dt, self.leads, self.t0)

    def __iter__(self) -> Iterator[ECG]:
        return (self[k] for k in range(len(self)))

    def __array__(self, dtype: Any = None, copy: Any = None) -> np.ndarray:
        return np.array(self.signals, dtype=dtype, copy=True if copy is None else copy)

    @property
    def shape(self) -> tuple[int, int, int]:
        return tuple(self.signals.shape)
