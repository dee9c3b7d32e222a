"""``mitwin demo``: the whole pipeline end to end on a small default, rerunnable.

Stages (each reuses what an earlier run of the same folder finished):

1. a virtual cohort (:func:`mitwin.anatomy.cohort.make_cohort`);
2. the simulation campaign, baseline + 17 scenarios per subject (:func:`mitwin.data.campaign.run_campaign`);
3. the sensitivity analysis (:func:`mitwin.analysis.sensitivity.run_sensitivity`);
4. training of the dual-branch VAE (:func:`mitwin.model.train.train`);
5. evaluation on the test subjects, with the scenario-classification baseline
   (:func:`mitwin.model.evaluate.evaluate`);
6. inverse inference on random infarcts of the last subjects: :func:`mitwin.fit_infarct` against the
   same-heart nearest neighbour and the template classifier, calibration, one fitted case as a figure
   (:func:`mitwin.inverse.demo.run_inverse_demo`);

then a summary table next to the paper's numbers.
"""

from __future__ import annotations

import csv
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .paper import TABLE1, TABLE1_GROUP_AVERAGES

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class DemoSize:
    """How big a demo run is."""

    n_subjects: int
    resolution_mm: float | None  # None: the cohort's default
    preset: str
    train_budget_s: float | None  # wall-clock budget of the training stage (None: the preset's)


SIZES: dict[str, DemoSize] = {
    # seconds to a few minutes: coarse meshes, the tiny network (used by the test suite)
    "tiny": DemoSize(n_subjects=4, resolution_mm=3.5, preset="tiny", train_budget_s=None),
    # about 15 minutes on a 2-core laptop (meshing ~7 min, training ~6 min)
    "small": DemoSize(n_subjects=12, resolution_mm=None, preset="cpu", train_budget_s=600.0),
    # the paper's cohort size and network (for a GPU)
    "paper": DemoSize(n_subjects=49, resolution_mm=None, preset="paper", train_budget_s=None),
}


@dataclass
class DemoResult:
    out: Path
    dataset: Path
    report: Path
    run: Path
    table: str
    seconds: dict[str, float]


def _stage(name: str, seconds: dict[str, float], fn: Callable[[], Any]) -> Any:
    print(f"==> {name}", flush=True)
    t0 = time.perf_counter()
    result = fn()
    seconds[name] = time.perf_counter() - t0
    print(f"    {name}: {seconds[name]:.1f} s", flush=True)
    return result


def run_demo(out: str | Path = "mitwin-demo", size: str = "small", *, seed: int = 0,
             progress: bool = True) -> DemoResult:
    """Run cohort -> campaign -> sensitivity -> training -> evaluation in ``out``.

    Parameters
    ----------
    out : folder for everything the demo writes (created; reused by a rerun).
    size : ``"tiny"`` (seconds-to-minutes check), ``"small"`` (the default: 12 subjects, ~10 min of
        training on 2 cores) or ``"paper"`` (49 subjects, the paper's network; for a GPU).
    seed : seeds the cohort, the split and the training.
    """
    if size not in SIZES:
        raise ValueError(f"size: expected one of {sorted(SIZES)}, got {size!r}")
    spec = SIZES[size]
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    seconds: dict[str, float] = {}
    t_start = time.perf_counter()

    from .analysis.sensitivity import run_sensitivity
    from .anatomy.cohort import make_cohort
    from .data.campaign import run_campaign

    cohort_dir, dataset, sens_dir, run_dir = out / "cohort", out / "dataset.h5", out / "sensitivity", out / "run"
    _stage("cohort", seconds, lambda: make_cohort(
        spec.n_subjects, seed=seed, out=cohort_dir, resolution_mm=spec.resolution_mm, progress=progress))
    ecg_text = _stage("ecg check", seconds, lambda: healthy_ecg_check(cohort_dir))
    print(ecg_text, flush=True)
    _stage("simulate", seconds, lambda: run_campaign(cohort_dir, dataset, progress=progress))
    report = _stage("sensitivity", seconds, lambda: run_sensitivity(dataset, sens_dir, progress=progress))

    from .model.evaluate import evaluate
    from .model.train import train

    overrides: dict[str, Any] = {} if spec.train_budget_s is None else {"time_budget_s": spec.train_budget_s}
    _stage("train", seconds,
           lambda: train(dataset, run_dir, preset=spec.preset, seed=seed, progress=progress, **overrides))
    _stage("evaluate", seconds, lambda: evaluate(run_dir, dataset, progress=progress))

    from .anatomy.cohort import load_cohort
    from .anatomy.heart import Heart
    from .inverse.demo import DEMO_SUBJECTS, run_inverse_demo

    inverse_dir = out / "inverse"
    paths = load_cohort(cohort_dir)
    test = list(enumerate(paths))[-DEMO_SUBJECTS[size]:]
    inverse_text = _stage("inverse", seconds, lambda: run_inverse_demo(
        [(i, Heart.load(p)) for i, p in test], inverse_dir, size=size, seed=seed))

    table = summary_table(run_dir)
    total = time.perf_counter() - t_start
    print()
    print(table)
    print()
    print(inverse_text)
    print("Files:")
    for label, path in (
        ("cohort", cohort_dir), ("dataset", dataset), ("sensitivity report", report),
        ("figures", sens_dir), ("training log", run_dir / "log.csv"), ("Table I", run_dir / "table1.md"),
        ("baseline Table I", run_dir / "baseline_table1.md"), ("predictions", run_dir / "predictions"),
        ("inverse benchmark", inverse_dir / "benchmark.md"), ("fitted case", inverse_dir / "fit_example.png"),
    ):
        print(f"  {label:<20} {path}")
    print("Time per stage: " + ", ".join(f"{k} {v:.0f} s" for k, v in seconds.items()) + f"; total {total:.0f} s")
    return DemoResult(out, dataset, Path(report), run_dir, table, seconds)


def healthy_ecg_check(cohort_dir: str | Path) -> str:
    """The normal-ECG criteria (:func:`mitwin.ep.criteria.check_ecg`) of each subject's healthy QRS with the
    default conduction system, one line per subject and a count."""
    from .anatomy.cohort import load_cohort
    from .anatomy.heart import Heart
    from .ep.criteria import check_ecg
    from .ep.forward import prepare

    lines = ["Healthy ECG check (default conduction system; mitwin check-ecg):"]
    n_normal, paths = 0, load_cohort(cohort_dir)
    for path in paths:
        c = check_ecg(prepare(Heart.load(path)).simulate().qrs)
        n_normal += int(c.normal)
        lines.append(f"  {path.stem}: {c.summary()}")
    lines.append(f"  {n_normal} of {len(paths)} subjects normal")
    return "\n".join(lines)


def _read_table(path: Path) -> dict[str, dict[str, str]]:
    if not path.is_file():
        return {}
    with path.open(newline="") as f:
        return {row["scenario"]: row for row in csv.DictReader(f)}


def summary_table(run: str | Path) -> str:
    """Markdown table: Dice (scar, BZ) and AHA-loc-score per scenario, ours, the baseline's and the paper's.

    Reads ``table1.csv`` and ``baseline_table1.csv`` written by :func:`mitwin.model.evaluate.evaluate`.
    """
    run = Path(run)
    ours = _read_table(run / "table1.csv")
    base = _read_table(run / "baseline_table1.csv")
    if not ours:
        raise FileNotFoundError(f"{run / 'table1.csv'} not found: run 'mitwin evaluate' first")

    def cell(row: dict[str, str] | None, key: str) -> str:
        if not row or not row.get(key):
            return "–"
        return f"{float(row[key]):.3f} ± {float(row[key + '_sd']):.3f}"

    def paper_cell(name: str, column: int) -> str:
        values = TABLE1.get(name) or TABLE1_GROUP_AVERAGES.get(name)
        v = None if values is None else values[column]
        return "–" if v is None else f"{v[0]:.3f} ± {v[1]:.3f}"

    lines = [
        "| scenario | scar Dice | paper | baseline | BZ Dice | paper | baseline | AHA-loc | paper | baseline |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for name, row in ours.items():
        b = base.get(name)
        lines.append(
            f"| {name} | {cell(row, 'scar_dice')} | {paper_cell(name, 0)} | {cell(b, 'scar_dice')} "
            f"| {cell(row, 'bz_dice')} | {paper_cell(name, 3)} | {cell(b, 'bz_dice')} "
            f"| {cell(row, 'aha_loc')} | {paper_cell(name, 6)} | {cell(b, 'aha_loc')} |"
        )
    return "\n".join(lines)
