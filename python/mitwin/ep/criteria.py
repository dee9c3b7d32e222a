"""The normal-ECG check: QRS duration, frontal axis, V1/V6 polarity and R/S transition of a QRS.

:func:`check_ecg` measures, on any simulated or measured QRS with the leads I, II and V1..V6,

* the **QRS duration** (ms), by :func:`mitwin.ep.ecg.qrs_duration` (spatial velocity and distance from the
  final level, 5 % thresholds);
* the **frontal QRS axis** (degrees) from the net areas (integral over the QRS, mV ms) of I and
  aVF = II - I/2 (Goldberger's augmented lead, with Einthoven's law III = II - I). For a heart
  vector of frontal angle theta and magnitude E, Einthoven's triangle gives I = E cos(theta) and
  aVF = (sqrt(3)/2) E sin(theta), so theta = atan2(2 aVF / sqrt(3), I), in (-180, 180];
* the **net sign of V1 and V6** (sign of the net area);
* the **R/S transition lead**: the first precordial lead V1..V6 whose R amplitude (largest
  positive deflection) is at least its S amplitude (largest negative deflection); None when no
  lead reaches it.

and compares them with the normal adult ranges (:data:`NORMAL_RANGES`):

=====================  ==============  ==========================================================
criterion              normal          source
=====================  ==============  ==========================================================
QRS duration           75-110 ms       Surawicz et al. 2009, AHA/ACCF/HRS recommendations part
                                       III (Circulation 119:e235): >= 110 ms is incomplete
                                       and >= 120 ms complete bundle-branch block; lower limit
                                       of normal adults about 70-80 ms (Macfarlane & Lawrie,
                                       Comprehensive Electrocardiology, 2nd ed. 2011)
frontal axis           -30..+90 deg    Surawicz & Knilans, Chou's Electrocardiography in
                                       Clinical Practice, 6th ed. 2008; left axis deviation
                                       beyond -30 deg, right beyond +90 deg (Mason et al. 2007,
                                       AHA/ACCF/HRS part II, Circulation 115:1325)
V1 net negative        rS              the normal right precordial QRS is rS: septal r,
                                       dominant S from the LV free wall (Chou's, ch. 1)
V6 net positive        qR / R          the normal left precordial QRS is qR (Chou's, ch. 1)
R/S transition         V2..V4          normal transition zone V3-V4, within V2-V4; earlier is
                                       counter-clockwise rotation, later clockwise rotation /
                                       poor R-wave progression (Zema et al. 1980, J
                                       Electrocardiol 13:135; Goldberger, Clinical
                                       Electrocardiography, 9th ed. 2017)
=====================  ==============  ==========================================================

Amplitudes do not enter any criterion except the per-lead R/S ratio, so the check applies to the
infinite-medium pseudo-ECG (whose precordial leads are 20-30x its limb leads) as it does to a
body-surface recording. Units: ms, mV (or the pseudo-ECG's units), degrees.

Examples
--------
>>> import numpy as np
>>> from mitwin.ep.ecg import ECG
>>> t = np.arange(90.0)
>>> wave = np.sin(np.pi * t / 89.0)                       # one positive hump, 90 ms
>>> sig = np.stack([wave, 2 * wave, -wave, -wave, wave, wave, wave, wave])
>>> c = check_ecg(ECG(sig))
>>> round(c.axis_deg), c.v1_net < 0, c.v6_net > 0, c.transition
(60, True, True, 'V3')
"""

from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass
from typing import Any, Protocol

import numpy as np

__all__ = ["NORMAL_RANGES", "ECGCriteria", "check_ecg", "frontal_axis"]

#: Normal adult ranges: QRS duration (ms), frontal axis (deg), transition leads (see the module docs).
NORMAL_RANGES: dict[str, Any] = {
    "qrs_ms": (75.0, 110.0),
    "axis_deg": (-30.0, 90.0),
    "transition": ("V2", "V3", "V4"),
}

_PRECORDIAL = ("V1", "V2", "V3", "V4", "V5", "V6")
_NEEDED = ("I", "II", *_PRECORDIAL)


class _Leads(Protocol):
    @property
    def signals(self) -> np.ndarray: ...

    @property
    def dt(self) -> float: ...

    @property
    def leads(self) -> tuple[str, ...]: ...

    @property
    def t0(self) -> float: ...


@dataclass(frozen=True)
class ECGCriteria:
    """The normal-ECG criteria of one QRS (:func:`check_ecg`).

    Attributes
    ----------
    qrs_ms : float
        QRS duration, ms.
    axis_deg : float
        Frontal QRS axis from the net areas of I and aVF, degrees in (-180, 180].
    net_area : dict
        Net area of each lead (I, II, aVF, V1..V6) over the QRS, signal units x ms.
    v1_net, v6_net : float
        Net areas of V1 and V6.
    rs_ratio : dict
        R amplitude / S amplitude of each precordial lead (inf when there is no S).
    transition : str or None
        First precordial lead with R >= S; None when none.
    passed : dict
        Criterion -> bool: ``qrs``, ``axis``, ``v1_negative``, ``v6_positive``, ``transition``.
    """

    qrs_ms: float
    axis_deg: float
    net_area: dict[str, float]
    v1_net: float
    v6_net: float
    rs_ratio: dict[str, float]
    transition: str | None
    passed: dict[str, bool]

    @property
    def normal(self) -> bool:
        """True when every criterion is within its normal range."""
        return all(self.passed.values())

    @property
    def failed(self) -> list[str]:
        """Names of the criteria outside the normal range."""
        return [k for k, ok in self.passed.items() if not ok]

    def summary(self) -> str:
        """One line: the measured values and PASS or the failed criteria."""
        verdict = "normal" if self.normal else "ABNORMAL: " + ", ".join(self.failed)
        return (f"QRS {self.qrs_ms:.0f} ms, axis {self.axis_deg:+.0f} deg, V1 net {'-' if self.v1_net < 0 else '+'}, "
                f"V6 net {'+' if self.v6_net > 0 else '-'}, transition {self.transition or 'none'}: {verdict}")

    def as_dict(self) -> dict[str, Any]:
        """Plain JSON-able dict (also ``normal``)."""
        d = asdict(self)
        d["rs_ratio"] = {k: (None if not math.isfinite(v) else v) for k, v in self.rs_ratio.items()}
        d["normal"] = self.normal
        return d

    def to_json(self) -> str:
        return json.dumps(self.as_dict(), indent=1)


def frontal_axis(area_i: float, area_avf: float) -> float:
    """Frontal axis (deg) from the net areas of lead I and aVF: ``atan2(2 aVF / sqrt(3), I)``.

    Einthoven's triangle: a frontal heart vector of angle theta projects as I = E cos(theta) and
    aVF = (sqrt(3)/2) E sin(theta). Returns NaN when both areas are zero.
    """
    if area_i == 0.0 and area_avf == 0.0:
        return float("nan")
    return float(np.degrees(np.arctan2(2.0 * area_avf / np.sqrt(3.0), area_i)))


def _validate(ecg: Any) -> tuple[np.ndarray, float, tuple[str, ...]]:
    if not all(hasattr(ecg, a) for a in ("signals", "dt", "leads")):
        raise ValueError(f"ecg: expected an ECG (signals, dt, leads), got {type(ecg).__name__}")
    leads = tuple(str(x) for x in ecg.leads)
    missing = [name for name in _NEEDED if name not in leads]
    if missing:
        raise ValueError(f"ecg: expected the leads {', '.join(_NEEDED)}; missing {', '.join(missing)}")
    sig = np.asarray(ecg.signals, dtype=np.float64)
    if sig.ndim != 2 or sig.shape[0] != len(leads):
        raise ValueError(f"ecg.signals: expected shape ({len(leads)}, T), got {sig.shape}")
    if sig.shape[1] < 3:
        raise ValueError(f"ecg.signals: expected at least 3 samples, got {sig.shape[1]}")
    if not np.all(np.isfinite(sig)):
        raise ValueError("ecg.signals: expected finite values, got NaN or inf")
    dt = float(ecg.dt)
    if not (math.isfinite(dt) and dt > 0):
        raise ValueError(f"ecg.dt: expected a sampling interval > 0 ms, got {ecg.dt!r}")
    if not np.any(sig):
        raise ValueError("ecg.signals: every lead is flat (all zero); no QRS to check")
    return sig, dt, leads


def check_ecg(ecg: _Leads, *, window: tuple[float, float] | str | None = None) -> ECGCriteria:
    """Measure the normal-ECG criteria of a QRS and compare them with :data:`NORMAL_RANGES`.

    Parameters
    ----------
    ecg : ECG
        Any QRS with the leads I, II, V1..V6 (more are ignored) at any sampling interval ``dt`` ms:
        a simulated QRS (``Simulation.qrs``) or a measured one (:func:`mitwin.ep.extract.extract_qrs`).
    window : (onset, offset), "signal" or None
        QRS onset and offset in ms (the time axis of ``ecg``, i.e. including ``t0``); ``"signal"``:
        the whole signal is the QRS (a QRS already delineated, e.g. by
        :func:`mitwin.ep.extract.extract_qrs`; its duration is the signal's); None (default): the
        bounds found by :func:`mitwin.ep.ecg.qrs_duration` (spatial velocity and the return to the final
        level), as for a simulated QRS that starts and ends at rest. Areas and amplitudes are taken in the window.

    Returns
    -------
    ECGCriteria

    Raises
    ------
    ValueError
        A missing lead, non-finite or flat signals, a bad window.
    """
    from .delineation import qrs_duration

    sig, dt, leads = _validate(ecg)
    t0 = float(getattr(ecg, "t0", 0.0))
    if window is None:
        dur, onset, offset = qrs_duration(sig, dt, return_bounds=True)
        onset, offset = onset + t0, offset + t0
    elif isinstance(window, str):
        if window != "signal":
            raise ValueError(f"window: expected (onset, offset) ms, 'signal' or None, got {window!r}")
        onset, offset = t0, t0 + (sig.shape[1] - 1) * dt
        dur = offset - onset
    else:
        onset, offset = (float(v) for v in window)
        if not (math.isfinite(onset) and math.isfinite(offset) and offset > onset):
            raise ValueError(f"window: expected (onset, offset) ms with offset > onset, got {window!r}")
        dur = offset - onset
    i0 = max(round((onset - t0) / dt), 0)
    i1 = min(round((offset - t0) / dt), sig.shape[1] - 1)
    if i1 <= i0:
        raise ValueError(f"window: ({onset}, {offset}) ms holds fewer than 2 samples of the signal")
    seg = {name: sig[leads.index(name), i0:i1 + 1] for name in _NEEDED}
    seg["aVF"] = seg["II"] - 0.5 * seg["I"]
    area = {k: float(np.trapezoid(v, dx=dt)) for k, v in seg.items()}
    rs: dict[str, float] = {}
    for name in _PRECORDIAL:
        r, s = max(float(seg[name].max()), 0.0), max(-float(seg[name].min()), 0.0)
        rs[name] = float("inf") if s == 0.0 else r / s
    transition = next((name for name in _PRECORDIAL if rs[name] >= 1.0), None)
    axis = frontal_axis(area["I"], area["aVF"])
    lo, hi = NORMAL_RANGES["qrs_ms"]
    alo, ahi = NORMAL_RANGES["axis_deg"]
    passed = {
        "qrs": bool(lo <= dur <= hi),
        "axis": bool(alo <= axis <= ahi),
        "v1_negative": area["V1"] < 0.0,
        "v6_positive": area["V6"] > 0.0,
        "transition": transition in NORMAL_RANGES["transition"],
    }
    return ECGCriteria(float(dur), axis, area, area["V1"], area["V6"], rs, transition, passed)
