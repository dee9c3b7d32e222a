"""The upstroke of the transmembrane potential, sampled for the QRS synthesis.

Every node's Vm is ``rest + amplitude * s(t - AT)``; :func:`upstroke_samples` gives ``s`` on the
sampling grid (:mod:`mitwin.ep.leadfield` convolves the binned lead field with it).
"""

from __future__ import annotations

import functools
import math

import numpy as np

__all__ = ["TEMPLATES", "upstroke_samples"]

#: Upstroke shapes.
TEMPLATES = ("logistic", "step")


@functools.lru_cache(maxsize=64)
def _upstroke_cached(template: str, dt: float, width: float) -> tuple[np.ndarray, int]:
    values, first = _upstroke(template, dt, width)
    values.setflags(write=False)
    return values, first


def upstroke_samples(template: str, dt: float, width: float = 1.0) -> tuple[np.ndarray, int]:
    """Normalised upstroke ``s`` (0 at rest, 1 at the plateau) sampled at ``m * dt``.

    Parameters
    ----------
    template : {"logistic", "step"}
        ``"logistic"``: ``s(tau) = 1 / (1 + exp(-tau / width))``, centred at the activation time
        (10-90 % rise ``2 ln 9 * width`` = 4.4 ms at the default width 1 ms), sampled over
        ``|tau| <= 12 width``. ``"step"``: ``s = 1`` from the first sample at or after AT; between samples
        the synthesis interpolates linearly in AT, i.e. ``s(tau) = clip(1 + tau / dt, 0, 1)``.
    dt : float
        Sampling interval, ms.
    width : float
        Logistic width, ms (ignored by the step).

    Returns
    -------
    values : (W,) float64
        ``s(m * dt)`` for ``m = first .. first + W - 1``; 0 before, ``values[-1]`` (= 1) after.
    first : int
    """
    if not isinstance(template, str):
        raise ValueError(f"template: expected one of {TEMPLATES}, got {template!r}")
    values, first = _upstroke_cached(template, float(dt), float(width))
    return values.copy(), first


def _upstroke(template: str, dt: float, width: float) -> tuple[np.ndarray, int]:
    if template == "step":
        return np.ones(1), 0
    if template == "logistic":
        if not (math.isfinite(width) and width > 0):
            raise ValueError(f"template_width: expected a width > 0 ms, got {width}")
        half = max(1, int(math.ceil(12.0 * width / dt)))
        m = np.arange(-half, half + 1)
        values = 0.5 * (1.0 + np.tanh(0.5 * m * dt / width))  # = logistic, without overflow
        values[-1] = 1.0
        return values, -half
    raise ValueError(f"template: expected one of {TEMPLATES}, got {template!r}")
