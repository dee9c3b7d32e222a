"""The inverse stage of ``mitwin demo``: the random-infarct benchmark at a small size and one fitted case.

Writes into its folder: ``benchmark.md`` (methods x metrics, bins, calibration), ``records.json``,
``calibration.png`` and ``fit_example.png`` (observed vs fitted QRS, scar probability against the true scar).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np

from .._atomic import write_text_atomic
from ..ep.forward import prepare
from .benchmark import BenchmarkSettings, run_benchmark, settings_dict
from .figures import plot_calibration, plot_fit
from .fit import fit_infarct
from .prior import random_infarcts
from .report import bins_table, calibration_table, summary_table
from .simulator import QRSSimulator

log = logging.getLogger(__name__)

__all__ = ["DEMO_SETTINGS", "DEMO_SUBJECTS", "run_inverse_demo"]

#: Test hearts of the demo sizes (the cohort's last subjects).
DEMO_SUBJECTS: dict[str, int] = {"tiny": 1, "small": 2, "paper": 4}
#: Benchmark settings of the demo sizes.
DEMO_SETTINGS: dict[str, BenchmarkSettings] = {
    "tiny": BenchmarkSettings(n_random=2, n_simulations=150, conditions=("clean", "noise")),
    "small": BenchmarkSettings(n_random=3, n_simulations=400),
    "paper": BenchmarkSettings(n_random=6, n_simulations=1000),
}


def run_inverse_demo(hearts: Sequence[tuple[int, Any]], out: str | Path, size: str = "small",
                     seed: int = 0) -> str:
    """Benchmark ``fit_infarct`` and its baselines on (subject, heart) pairs, fit one case, write the files.

    Returns
    -------
    str
        The Markdown report (also written to ``out/benchmark.md``).
    """
    if size not in DEMO_SETTINGS:
        raise ValueError(f"size: expected one of {sorted(DEMO_SETTINGS)}, got {size!r}")
    if not hearts:
        raise ValueError("hearts: expected at least one (subject, heart) pair")
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    s = replace(DEMO_SETTINGS[size], seed=seed)
    records, rel = run_benchmark(hearts, s)
    text = (f"# Inverse inference on random infarcts (demo, size {size})\n\nsubjects {[i for i, _ in hearts]}, "
            f"{s.n_random} random infarcts + the healthy heart each, budget {s.n_simulations} simulations per "
            f"method; QRS compared by shape (per-lead peak-normalised).\n\n{summary_table(records)}\n"
            f"## Scar Dice by bin (clean)\n\n{bins_table(records)}\n## Calibration\n\n"
            f"{calibration_table(records, rel)}")
    write_text_atomic(out / "benchmark.md", text)
    write_text_atomic(out / "records.json", json.dumps({"settings": settings_dict(s), "records": records},
                                                       default=float))
    plot_calibration(records, rel, out / "calibration.png")
    subject, heart = hearts[0]
    case = random_infarcts(1, seed=seed + 1, subject=subject, heart=heart)[0]
    fwd = prepare(heart)
    truth = case.labels(heart.tm, heart.ab, heart.rt, heart.tv)
    sig, ln = QRSSimulator(fwd, s.tissue).simulate(truth[None])
    observed = sig[0, :, : int(ln[0])]
    fit = fit_infarct(heart, observed, seed=seed, n_simulations=s.n_simulations, forward=fwd)
    dice = 2 * np.sum((fit.labels == 2) & (truth == 2)) / max(1, np.sum(fit.labels == 2) + np.sum(truth == 2))
    plot_fit(fit, heart, observed, out / "fit_example.png", truth=truth,
             title=f"subject {subject}, {case.name} (scar Dice {dice:.2f})")
    return text
