"""Time a campaign and report its physiology (run as a script, not collected by pytest).

    python bench/campaign_report.py COHORT_DIR OUT.h5 [--workers 2] [--subjects N]

Prints the wall time, the time per stage summed over subjects, and on the healthy baseline:
QRS duration and total activation time (mean +- sd; normal QRS 85 +- 8 ms, Rautaharju et al.
2013), the delay of the first RV-endocardial activation after the first LV one (Durrer et al.
1970: 5-10 ms); per location the L2 distance of the transmural and the subendocardial QRS to the
baseline; the slow-CV vs normal-CV transmural lateral QRS duration (paper: 113.8 vs 99.5 ms).
"""

from __future__ import annotations

import argparse
import logging
import time
from pathlib import Path

import numpy as np


def main() -> None:
    from mitwin.anatomy.heart import Heart
    from mitwin.data.campaign import run_campaign
    from mitwin.data.store import open_dataset
    from mitwin.infarct import TARGET_SEGMENTS

    ap = argparse.ArgumentParser()
    ap.add_argument("cohort", type=Path)
    ap.add_argument("out", type=Path)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--subjects", type=int, default=None)
    args = ap.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(name)s: %(message)s")

    t0 = time.perf_counter()
    run_campaign(args.cohort, args.out, subjects=args.subjects, n_workers=args.workers, progress=False)
    wall = time.perf_counter() - t0

    with open_dataset(args.out) as ds:
        names = list(ds.scenario_names)
        n_sub = len(ds.subjects)
        qrsd = np.array([ds.subject(s)["qrs_duration"][()] for s in ds.subjects])  # (n, S)
        tat = np.array([ds.subject(s)["at"][()].max(axis=1) for s in ds.subjects])
        qrs = [ds.subject(s)["qrs"][()] for s in ds.subjects]
        rv_delay = []
        for s in ds.subjects:
            heart = Heart.load(args.cohort / f"{s}.vtu")
            at0 = ds.subject(s)["at"][0]
            rv_delay.append(at0[heart.surfaces["rv_endo"]].min() - at0[heart.surfaces["lv_endo"]].min())
    n_sims = n_sub * len(names)
    print(f"\n{n_sub} subjects x {len(names)} simulations = {n_sims}: wall {wall:.1f} s with {args.workers} workers, "
          f"{wall / n_sims:.3f} s per simulation")
    print(f"healthy QRS duration {qrsd[:, 0].mean():.1f} +- {qrsd[:, 0].std(ddof=1) if n_sub > 1 else 0:.1f} ms; "
          f"total activation time {tat[:, 0].mean():.1f} +- {tat[:, 0].std(ddof=1) if n_sub > 1 else 0:.1f} ms")
    print(f"first RV endocardial activation after the first LV one: {np.mean(rv_delay):.1f} ms "
          f"(range {np.min(rv_delay):.1f}-{np.max(rv_delay):.1f})")
    slow, normal = names.index("lateral_transmural_slow_cv"), names.index("lateral_transmural")
    print(f"lateral transmural QRS duration: normal CV {qrsd[:, normal].mean():.1f} +- {qrsd[:, normal].std():.1f}, "
          f"slow CV {qrsd[:, slow].mean():.1f} +- {qrsd[:, slow].std():.1f} ms; slow > normal in "
          f"{int(np.sum(qrsd[:, slow] > qrsd[:, normal]))}/{n_sub}; total activation "
          f"{tat[:, normal].mean():.0f} vs {tat[:, slow].mean():.0f} ms")
    print("location: L2 to baseline transmural / subendocardial (mean over subjects); QRS duration ms")
    for loc in TARGET_SEGMENTS:
        t, e = names.index(f"{loc}_transmural"), names.index(f"{loc}_subendocardial")
        l2t = np.mean([np.linalg.norm(q[t] - q[0]) for q in qrs])
        l2e = np.mean([np.linalg.norm(q[e] - q[0]) for q in qrs])
        more = sum(np.linalg.norm(q[t] - q[0]) > np.linalg.norm(q[e] - q[0]) for q in qrs)
        print(f"  {loc:20s} {l2t:8.0f} / {l2e:8.0f}  (transmural larger in {more}/{n_sub});  "
              f"QRSd {qrsd[:, t].mean():.0f} / {qrsd[:, e].mean():.0f}")


if __name__ == "__main__":
    main()
