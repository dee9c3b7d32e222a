"""QRS biomarkers of myocardial infarction on simulated, amplitude-normalised 8-lead QRS complexes.

The QRS window is given by the simulation (samples ``0 .. length - 1`` at ``dt_ms``; the dataset's
``qrs_length`` and ``qrs_duration``), so no onset/offset delineation is done here. Within the window
each lead is split into *lobes*: maximal runs of samples of one sign whose peak magnitude is at least
``lobe_fraction`` (default 5 %) of the lead's largest magnitude and at least ``min_amplitude``
(default 0.01 of the normalisation amplitude, so that a nearly isoelectric lead is not read at noise
level); smaller excursions are treated as baseline. The criteria, each computed per lead and combined
over contiguous leads:

R amplitude
    ``max(0, max x)`` over the window (units of the input, i.e. of the normalisation amplitude).
Q wave
    The first lobe is negative and comes before the R peak. Its duration (samples x dt) and depth
    (``-min x`` over the lobe) are the Q duration and Q amplitude.
Pathological Q wave (lead)
    A Q wave with duration >= 30 ms, or with depth > 0.25 x R amplitude (a QS complex, no R, counts),
    following the Q-wave criteria reviewed by Delewi et al. 2013 (JACC Cardiovasc Imaging 6:324) and the
    Fourth Universal Definition of MI (Thygesen et al. 2018: >= 30 ms, or QS).
Poor R-wave progression (subject)
    ``R(V3) <= prwp_r_v3`` (default 0.15, i.e. 0.3 mV for a 2 mV normalisation amplitude, the 3 mm
    criterion used by Kurisu et al. 2015) or a reversed progression ``R(V_{k+1}) < R(V_k)`` for some
    ``k`` in 1..3 by more than ``prwp_tolerance`` (default 0.02; R does not grow from V1 to V4).
Fragmented QRS (lead)
    An extra deflection as defined by Das et al. 2006 (Circulation 113:2495): an additional R wave
    (two or more positive lobes, RSR') or a notch, i.e. two or more local extrema of the lobe's polarity
    inside one lobe. Extrema are found with hysteresis: walking along the lobe, a maximum counts once the
    signal has fallen from it by at least ``theta`` and the next one once it has risen again by ``theta``,
    with ``theta`` = ``notch_fraction`` (default 5 %) of the lead's largest magnitude, and at least
    ``min_amplitude``. A notch is thus a direction reversal in R or S, deeper than ``theta``, that does
    not cross zero.
Contiguous leads
    Anatomical groups available in the 8 leads: the precordial chain V1-V2-V3-V4-V5-V6 and the lateral
    pair I-V6 (I, aVL, V5, V6 form the lateral group). Lead II (inferior: II, III, aVF) has no
    recorded neighbour, so it is reported per lead but cannot make a 2-lead finding on its own.
    Subject-level pathological Q and fQRS require the finding in >= 2 contiguous leads.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

import numpy as np

from .._validate import as_float_array
from ..ep.ecg import LEADS

logger = logging.getLogger(__name__)

__all__ = [
    "CONTIGUOUS_PAIRS",
    "LEADS",
    "LeadFeatures",
    "QRSBiomarkers",
    "biomarker_table_row",
    "contiguous",
    "lead_features",
    "qrs_biomarkers",
]

#: Pairs of contiguous leads (indices into :data:`LEADS`): V1-V2, ..., V5-V6 and I-V6.
CONTIGUOUS_PAIRS: tuple[tuple[int, int], ...] = ((2, 3), (3, 4), (4, 5), (5, 6), (6, 7), (0, 7))

Q_DURATION_MS = 30.0
Q_TO_R = 0.25
PRWP_R_V3 = 0.15
PRWP_TOLERANCE = 0.02
MIN_AMPLITUDE = 0.01


@dataclass(frozen=True)
class LeadFeatures:
    """Features of one lead's QRS (amplitudes in the input unit, durations in ms)."""

    r_amplitude: float
    s_amplitude: float
    q_duration_ms: float
    q_amplitude: float
    n_positive_lobes: int
    n_notches: int
    pathological_q: bool
    fragmented: bool


@dataclass(frozen=True)
class QRSBiomarkers:
    """Biomarkers of one 8-lead QRS.

    Attributes
    ----------
    qrs_duration_ms : float
    leads : tuple of LeadFeatures, one per lead of :data:`LEADS`
    pathological_q : bool
        Pathological Q in >= 2 contiguous leads.
    prwp : bool
        Poor R-wave progression.
    fragmented : bool
        Fragmented QRS in >= 2 contiguous leads.
    """

    qrs_duration_ms: float
    leads: tuple[LeadFeatures, ...]
    pathological_q: bool
    prwp: bool
    fragmented: bool

    @property
    def r_amplitudes(self) -> np.ndarray:
        """(8,) R amplitude per lead."""
        return np.array([f.r_amplitude for f in self.leads])


def _lobes(x: np.ndarray, floor: float) -> list[tuple[int, int, int]]:
    """(start, stop, sign) of each sign run of x whose peak magnitude reaches floor."""
    sign = np.sign(x).astype(np.int64)
    out: list[tuple[int, int, int]] = []
    n = x.size
    i = 0
    while i < n:
        s = sign[i]
        j = i + 1
        while j < n and sign[j] == s:
            j += 1
        if s != 0 and np.max(np.abs(x[i:j])) >= floor:
            out.append((i, j, int(s)))
        i = j
    return out


def _count_maxima(y: np.ndarray, theta: float) -> int:
    """Maxima of y that are followed by a fall of at least theta (hysteresis extremum detector)."""
    n = 0
    rising = True
    ext = float(y[0])
    for v in y[1:]:
        v = float(v)
        if rising:
            if v > ext:
                ext = v
            elif ext - v >= theta:
                n += 1
                rising = False
                ext = v
        elif v < ext:
            ext = v
        elif v - ext >= theta:
            rising = True
            ext = v
    return n


def lead_features(
    x: Any,
    *,
    dt_ms: float = 1.0,
    lobe_fraction: float = 0.05,
    notch_fraction: float = 0.05,
    min_amplitude: float = MIN_AMPLITUDE,
    q_duration_ms: float = Q_DURATION_MS,
    q_to_r: float = Q_TO_R,
) -> LeadFeatures:
    """Features of a single lead over its QRS window.

    Parameters
    ----------
    x : array_like, shape (n,)
        One lead over the QRS window (valid samples only).
    dt_ms : float
        Sampling interval in ms.
    lobe_fraction, notch_fraction : float
        Lobe floor and notch prominence as fractions of ``max |x|``.
    min_amplitude : float
        Absolute lower bound of both, in the unit of ``x``.
    q_duration_ms, q_to_r : float
        Pathological Q thresholds (duration in ms, depth relative to R).

    Returns
    -------
    LeadFeatures
    """
    sig = as_float_array(x, "x", (None,))
    if sig.size < 1:
        raise ValueError("x: expected at least one sample, got shape (0,)")
    if not dt_ms > 0:
        raise ValueError(f"dt_ms: expected a positive sampling interval, got {dt_ms}")
    peak = float(np.max(np.abs(sig)))
    r_amp = max(0.0, float(np.max(sig)))
    s_amp = max(0.0, float(-np.min(sig)))
    if peak == 0.0:
        return LeadFeatures(0.0, 0.0, 0.0, 0.0, 0, 0, False, False)
    lobes = _lobes(sig, max(lobe_fraction * peak, min_amplitude))
    r_index = int(np.argmax(sig))
    q_dur = 0.0
    q_amp = 0.0
    if lobes and lobes[0][2] < 0 and lobes[0][0] < r_index:
        start, stop, _ = lobes[0]
        q_dur = (stop - start) * dt_ms
        q_amp = float(-np.min(sig[start:stop]))
    has_r = r_amp >= max(lobe_fraction * peak, min_amplitude)
    pathological_q = q_amp > 0 and (q_dur >= q_duration_ms or not has_r or q_amp > q_to_r * r_amp)
    n_pos = sum(1 for lobe in lobes if lobe[2] > 0)
    n_notches = 0
    theta = max(notch_fraction * peak, min_amplitude)
    for start, stop, sgn in lobes:
        n_notches += max(0, _count_maxima(np.concatenate(([0.0], sgn * sig[start:stop], [0.0])), theta) - 1)
    fragmented = n_pos >= 2 or n_notches >= 1
    return LeadFeatures(r_amp, s_amp, q_dur, q_amp, n_pos, n_notches, bool(pathological_q), bool(fragmented))


def contiguous(flags: Any) -> bool:
    """True when a per-lead flag (8,) holds in at least one pair of :data:`CONTIGUOUS_PAIRS`."""
    f = np.asarray(flags, dtype=bool)
    if f.shape != (len(LEADS),):
        raise ValueError(f"flags: expected shape ({len(LEADS)},), got shape {f.shape}")
    return any(f[i] and f[j] for i, j in CONTIGUOUS_PAIRS)


def qrs_biomarkers(
    qrs: Any,
    length: int | None = None,
    *,
    duration_ms: float | None = None,
    dt_ms: float = 1.0,
    prwp_r_v3: float = PRWP_R_V3,
    prwp_tolerance: float = PRWP_TOLERANCE,
    lobe_fraction: float = 0.05,
    notch_fraction: float = 0.05,
    min_amplitude: float = MIN_AMPLITUDE,
) -> QRSBiomarkers:
    """Biomarkers of one amplitude-normalised 8-lead QRS.

    Parameters
    ----------
    qrs : array_like, shape (8, T)
        Leads I, II, V1..V6 (:data:`LEADS`), zero-padded after ``length`` samples, amplitude-normalised
        (see :func:`mitwin.ep.normalise.normalise_batch`) so that ``prwp_r_v3`` is meaningful.
    length : int, optional
        Valid samples (the QRS window); default T.
    duration_ms : float, optional
        QRS duration in ms (the dataset's ``qrs_duration``); default ``length * dt_ms``.
    dt_ms : float
        Sampling interval in ms.
    prwp_r_v3 : float
        R(V3) at or below this is poor R-wave progression.
    prwp_tolerance : float
        A drop of R from one precordial lead to the next (V1..V4) larger than this is a reversed
        progression.
    lobe_fraction, notch_fraction, min_amplitude : float
        See :func:`lead_features`.

    Returns
    -------
    QRSBiomarkers
    """
    arr = as_float_array(qrs, "qrs", (len(LEADS), None))
    n = arr.shape[1] if length is None else int(length)
    if not 1 <= n <= arr.shape[1]:
        raise ValueError(f"length: expected an integer in [1, {arr.shape[1]}], got {length}")
    if not dt_ms > 0:
        raise ValueError(f"dt_ms: expected a positive sampling interval, got {dt_ms}")
    feats = tuple(
        lead_features(arr[k, :n], dt_ms=dt_ms, lobe_fraction=lobe_fraction, notch_fraction=notch_fraction,
                      min_amplitude=min_amplitude)
        for k in range(len(LEADS))
    )
    r = np.array([f.r_amplitude for f in feats])
    v = r[2:8]  # V1..V6
    prwp = bool(v[2] <= prwp_r_v3 or np.any(np.diff(v[:4]) < -prwp_tolerance))
    dur = float(n * dt_ms) if duration_ms is None else float(duration_ms)
    return QRSBiomarkers(
        qrs_duration_ms=dur,
        leads=feats,
        pathological_q=contiguous([f.pathological_q for f in feats]),
        prwp=prwp,
        fragmented=contiguous([f.fragmented for f in feats]),
    )


def biomarker_table_row(b: QRSBiomarkers) -> dict[str, float | int | bool]:
    """Flatten :class:`QRSBiomarkers` into one table row (column name -> value)."""
    row: dict[str, float | int | bool] = {
        "qrs_duration_ms": b.qrs_duration_ms,
        "pathological_q": b.pathological_q,
        "prwp": b.prwp,
        "fqrs": b.fragmented,
    }
    for name, f in zip(LEADS, b.leads):
        row[f"r_{name}"] = f.r_amplitude
    for name, f in zip(LEADS, b.leads):
        row[f"q_path_{name}"] = f.pathological_q
    for name, f in zip(LEADS, b.leads):
        row[f"fqrs_{name}"] = f.fragmented
    return row
