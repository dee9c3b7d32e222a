"""Time a campaign and report its physiology (run as a script, not collected by pytest).

    python bench/campaign_report.py COHORT_DIR OUT.h5 [--workers 2] [--subjects N] [--tissue paper|blocked]

Prints the wall time, and on the healthy baseline: QRS duration and total activation time (mean +- sd;
normal QRS 85 +- 8 ms, Rautaharju et al. 2013), the delay of the first RV-endocardial activation after the
first LV one (Durrer et al. 1970: 5-10 ms); per location the L2 distance of the transmural and the
subendocardial QRS to the baseline; the tissue variant vs its twin (paper, slow vs normal CV lateral
transmural: 113.8 vs 99.5 ms); and a Markdown table of QRS durations per scenario next to the paper's values
and the clinical post-MI range (VALIANT quartiles < 75, 75-88, 89-108, > 108 ms). Scenarios are found by
the dataset's records (location, extent, size, variant), not by their names.
"""

from __future__ import annotations

import argparse
import logging
import time
from pathlib import Path

import numpy as np


def _mean_sd(x: np.ndarray) -> str:
    sd = x.std(ddof=1) if x.size > 1 else 0.0
    return f"{x.mean():.1f} +- {sd:.1f}"


def main() -> None:
    from mitwin.anatomy.heart import Heart
    from mitwin.data.campaign import CampaignSettings, run_campaign
    from mitwin.data.store import open_dataset
    from mitwin.infarct import paper_scenarios, scenarios_from_json
    from mitwin.paper import PAPER_QRS_MS, PAPER_SLOW_CV_MS

    ap = argparse.ArgumentParser()
    ap.add_argument("cohort", type=Path)
    ap.add_argument("out", type=Path)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--subjects", type=int, default=None)
    ap.add_argument("--tissue", default="paper", help="tissue preset of the paper's scenarios (paper, blocked)")
    args = ap.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(name)s: %(message)s")

    settings = CampaignSettings(scenarios=paper_scenarios(args.tissue))
    t0 = time.perf_counter()
    run_campaign(args.cohort, args.out, subjects=args.subjects, n_workers=args.workers, progress=False,
                 settings=settings)
    wall = time.perf_counter() - t0

    with open_dataset(args.out) as ds:
        names = list(ds.scenario_names)
        records = scenarios_from_json(names, ds.header.scenarios_json).records
        n_sub = len(ds.subjects)
        qrsd = np.array([ds.subject(s)["qrs_duration"][()] for s in ds.subjects])  # (n, S)
        at = [ds.subject(s)["at"][()] for s in ds.subjects]
        tat = np.array([[np.max(a[k][np.isfinite(a[k])]) for k in range(a.shape[0])] for a in at])
        qrs = [ds.subject(s)["qrs"][()] for s in ds.subjects]
        rv_delay = []
        for s, a in zip(ds.subjects, at):
            heart = Heart.load(args.cohort / f"{s}.vtu")
            rv_delay.append(a[0][heart.surfaces["rv_endo"]].min() - a[0][heart.surfaces["lv_endo"]].min())
    row = {r.name: k + 1 for k, r in enumerate(records)}
    n_sims = n_sub * len(names)
    print(f"\ntissue {args.tissue}: {n_sub} subjects x {len(names)} simulations = {n_sims}: wall {wall:.1f} s with "
          f"{args.workers} workers, {wall / n_sims:.3f} s per simulation")
    print(f"healthy QRS duration {_mean_sd(qrsd[:, 0])} ms; total activation time {_mean_sd(tat[:, 0])} ms")
    print(f"first RV endocardial activation after the first LV one: {np.mean(rv_delay):.1f} ms "
          f"(range {np.min(rv_delay):.1f}-{np.max(rv_delay):.1f})")
    for r in records:
        if r.variant_of is not None:
            v, t = row[r.name], row[r.variant_of]
            print(f"{r.label} ({r.tissue}) vs {r.variant_of}: QRS {_mean_sd(qrsd[:, v])} vs {_mean_sd(qrsd[:, t])} ms "
                  f"(paper {PAPER_SLOW_CV_MS['slow_cv']} vs {PAPER_SLOW_CV_MS['normal_cv']}); variant longer in "
                  f"{int(np.sum(qrsd[:, v] > qrsd[:, t]))}/{n_sub}")
    print("location: L2 to baseline transmural / subendocardial (mean over subjects); QRS duration ms")
    pairs: dict[tuple[str | None, float | None], dict[str | None, int]] = {}
    for r in records:
        if r.variant_of is None:
            pairs.setdefault((r.location, r.size), {})[r.extent] = row[r.name]
    for (loc, size), d in pairs.items():
        if "transmural" not in d or "subendocardial" not in d:
            continue
        t, e = d["transmural"], d["subendocardial"]
        l2t = np.mean([np.linalg.norm(q[t] - q[0]) for q in qrs])
        l2e = np.mean([np.linalg.norm(q[e] - q[0]) for q in qrs])
        more = sum(np.linalg.norm(q[t] - q[0]) > np.linalg.norm(q[e] - q[0]) for q in qrs)
        where = f"{'small ' if size is not None and size < 1 else ''}{loc}"
        print(f"  {where:24s} {l2t:8.0f} / {l2e:8.0f}  (transmural larger in {more}/{n_sub});  "
              f"QRSd {qrsd[:, t].mean():.0f} / {qrsd[:, e].mean():.0f}")
    print(f"\n| scenario | QRS duration (ms), tissue {args.tissue} | paper (ms) |\n|---|---|---|")
    print(f"| baseline | {_mean_sd(qrsd[:, 0])} | {PAPER_QRS_MS['normal']} |")
    for r in records:
        paper = PAPER_QRS_MS.get(r.location or "", "") if r.variant_of is None and r.size == 1.0 else ""
        print(f"| {r.label} | {_mean_sd(qrsd[:, row[r.name]])} | {paper} |")
    print("clinical post-MI QRS (VALIANT quartiles): < 75, 75-88, 89-108, > 108 ms; >= 120 ms in ~6 %")


if __name__ == "__main__":
    main()
