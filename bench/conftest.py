"""Benchmark fixtures.

The suite runs in a short mode by default (small meshes, so that CI stays quick) and at full
size with ``MITWIN_BENCH=full`` (the >= 150k-node mesh the performance claims refer to):

    MITWIN_BENCH=full python -m pytest bench --benchmark-json=bench/results/full.json
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import matplotlib
import numpy as np
import pytest

matplotlib.use("Agg")

FULL = os.environ.get("MITWIN_BENCH", "short").lower() == "full"


@dataclass(frozen=True)
class BenchHeart:
    """A thick ellipsoidal shell with fibres, a fast endocardial layer and seven roots."""

    points: np.ndarray
    tets: np.ndarray
    fibres: np.ndarray
    sheets: np.ndarray
    endo_speed: np.ndarray  # (N,) m/s on the endocardial layer, NaN elsewhere
    roots: np.ndarray  # (7,) node indices on the endocardium
    root_times: np.ndarray  # (7,) ms
    electrodes: dict[str, np.ndarray]


def _bench_heart() -> BenchHeart:
    from mitwin.anatomy.synthetic import shell_mesh

    s = shell_mesh(128, 100, 12) if FULL else shell_mesh(48, 30, 6)
    n = s.points.shape[0]
    endo_speed = np.full(n, np.nan)
    endo_speed[s.endo] = np.where(s.ab[s.endo] <= 0.4, 1.5, 1.0)
    rng = np.random.default_rng(0)
    ab_targets = [0.5, 0.8, 0.45, 0.55, 0.5, 0.3, 0.6]
    th_targets = [0.0, 1.0, 2.5, 3.5, 4.0, 5.0, 5.5]
    endo = s.endo
    roots = np.array(
        [
            endo[np.argmin((s.ab[endo] - a) ** 2 + (np.angle(np.exp(1j * (s.theta[endo] - t)))) ** 2)]
            for a, t in zip(ab_targets, th_targets)
        ]
    )
    root_times = rng.uniform(0.0, 10.0, size=roots.size)
    root_times[0] = 0.0
    # electrodes on a 'torso' well outside the shell (mm)
    positions = {
        "RA": (-300.0, 150.0, 100.0), "LA": (300.0, 150.0, 100.0), "LL": (100.0, 0.0, -400.0),
        "V1": (-30.0, -120.0, 0.0), "V2": (10.0, -120.0, 0.0), "V3": (40.0, -110.0, -20.0),
        "V4": (70.0, -100.0, -40.0), "V5": (110.0, -60.0, -40.0), "V6": (130.0, 0.0, -40.0),
    }
    electrodes = {name: np.array(p) for name, p in positions.items()}
    return BenchHeart(s.points, s.tets, s.fibres, s.sheets, endo_speed, roots, root_times, electrodes)


@pytest.fixture(scope="session")
def bench_heart() -> BenchHeart:
    return _bench_heart()
