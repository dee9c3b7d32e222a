"""fit_infarct against the baselines a user would otherwise pick, at an equal simulation budget.

As a pytest-benchmark module (short): one fit on a coarse cohort heart, timed, against the nearest neighbour
in a same-heart library of the same budget; the fit must be at least as good on the easy case.

As a script, the full random-infarct benchmark (README "Inverse inference beyond the templates"); every
subject's records are cached as JSON in ``--out`` so that an interrupted run resumes:

    python bench/bench_fit.py --cohort cohort4 --subjects 2 3 4 5 6 7 --n-random 6 \\
        --budget 800 --out bench/results/inverse --tag test

``--net RUN`` / ``--vae RUN`` add the trained deep models (:mod:`mitwin.model.cobiveco_train`,
:mod:`mitwin.model.train`) as methods ``cobiveco_net`` / ``vae``.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
import time
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

logger = logging.getLogger(__name__)


# --------------------------------------------------------------------------------------------- pytest
@pytest.fixture(scope="module")
def heart(tmp_path_factory):
    from mitwin.anatomy.cohort import COARSE_RESOLUTION_MM, make_cohort
    from mitwin.anatomy.heart import Heart

    return Heart.load(make_cohort(1, seed=0, out=tmp_path_factory.mktemp("c"), resolution_mm=COARSE_RESOLUTION_MM)[0])


def test_fit_against_nearest_neighbour(benchmark, heart):
    from mitwin.ellipsoid import SCAR
    from mitwin.ep.forward import prepare
    from mitwin.inverse.fit import build_library, fit_infarct
    from mitwin.inverse.prior import DEFAULT_PRIOR
    from mitwin.inverse.simulator import QRSSimulator

    fwd = prepare(heart)
    truth = fwd.simulate(DEFAULT_PRIOR.infarct((0.5, 0.33, 1.2, 0.3, 0.15)))
    budget = 300
    fit = benchmark.pedantic(lambda: fit_infarct(heart, truth.qrs, forward=fwd, n_simulations=budget), rounds=1)
    t0 = time.perf_counter()
    lib = build_library(fwd, budget, seed=1)
    sim = QRSSimulator(fwd)
    d = sim.distances(lib.signals, lib.lengths, np.asarray(truth.qrs.signals))
    nn = DEFAULT_PRIOR.labels(DEFAULT_PRIOR.params(lib.u[np.argmin(d)]), *sim.coords)[0]
    t_nn = time.perf_counter() - t0

    def dice(a):
        return 2 * np.sum((a == SCAR) & (truth.labels == SCAR)) / (np.sum(a == SCAR) + np.sum(truth.labels == SCAR))

    logger.info("fit Dice %.3f in %.1f s; nearest neighbour Dice %.3f in %.1f s (%d simulations each)",
                dice(fit.labels), fit.seconds, dice(nn), t_nn, budget)
    assert dice(fit.labels) >= 0.6
    assert dice(fit.labels) >= dice(nn) - 0.05


# --------------------------------------------------------------------------------------------- script
def main(argv: list[str] | None = None) -> int:
    import mitwin
    from mitwin._atomic import write_text_atomic
    from mitwin.inverse.benchmark import BenchmarkSettings, benchmark_heart, settings_dict
    from mitwin.inverse.calibration import Reliability
    from mitwin.inverse.figures import plot_calibration
    from mitwin.inverse.report import bins_table, calibration_table, summary_table, timing_table

    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--cohort", required=True, help="folder of subject_XXX.vtu (mitwin.make_cohort)")
    p.add_argument("--subjects", type=int, nargs="+", required=True)
    p.add_argument("--n-random", type=int, default=6)
    p.add_argument("--budget", type=int, default=800)
    p.add_argument("--bandwidth", type=float, default=None)
    p.add_argument("--relative-bandwidth", type=float, default=None)
    p.add_argument("--conditions", nargs="+", default=None)
    p.add_argument("--cases", choices=("random", "templates"), default="random")
    p.add_argument("--tissue", choices=("paper", "blocked"), default="paper")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--out", required=True)
    p.add_argument("--tag", default="run")
    p.add_argument("--net", default=None, metavar="RUN", help="run directory of a trained Cobiveco network")
    p.add_argument("--vae", default=None, metavar="RUN", help="run directory of a trained dual VAE")
    p.add_argument("--methods", nargs="*", default=None, help="which of fit nearest template run (default all)")
    p.add_argument("--merge", nargs="+", default=(), metavar="TAG",
                   help="also tabulate the cached records of these tags (same subjects), e.g. a deep-model-only run")
    a = p.parse_args(argv)
    logging.basicConfig(level=logging.WARNING)
    s = BenchmarkSettings(n_random=a.n_random, n_simulations=a.budget, cases=a.cases, seed=a.seed,
                          n_threads=a.threads, tissue=a.tissue, net_run=a.net, vae_run=a.vae)
    if a.bandwidth is not None:
        s = replace(s, bandwidth=a.bandwidth)
    if a.relative_bandwidth is not None:
        s = replace(s, relative_bandwidth=a.relative_bandwidth)
    if a.conditions:
        s = replace(s, conditions=tuple(a.conditions))
    if a.methods is not None:
        s = replace(s, methods=tuple(a.methods))
    out = Path(a.out)
    records: list[dict] = []
    rel: Reliability | None = None
    for subject in a.subjects:
        cache = out / f"{a.tag}_subject{subject}.json"
        if cache.exists():
            data = json.loads(cache.read_text())
        else:
            heart = mitwin.Heart.load(Path(a.cohort) / f"subject_{subject:03d}.vtu")
            t0 = time.perf_counter()
            recs, rl = benchmark_heart(heart, subject, s, progress=lambda m: print(m, file=sys.stderr, flush=True))
            data = {"settings": settings_dict(s), "records": recs, "seconds": time.perf_counter() - t0,
                    "n_nodes": heart.n_nodes, "reliability": {k: getattr(rl, k).tolist() for k in
                                                              ("edges", "counts", "prob_sum", "positives")}}
            write_text_atomic(cache, json.dumps(data, default=float))
        records += data["records"]
        for tag in a.merge:
            records += json.loads((out / f"{tag}_subject{subject}.json").read_text())["records"]
        r = Reliability(*(np.asarray(data["reliability"][k]) for k in ("edges", "counts", "prob_sum", "positives")))
        rel = r if rel is None else rel + r
    assert rel is not None
    text = (f"# Inverse benchmark {a.tag}\n\nsettings: {json.dumps(settings_dict(s))}\nsubjects: {a.subjects}\n\n"
            f"## Methods x metrics\n\n{summary_table(records)}\n## Scar Dice by bin (clean)\n\n"
            f"{bins_table(records)}\n## Calibration of fit_infarct\n\n{calibration_table(records, rel)}\n")
    text += f"\n## Time per case (s; fit: library share included)\n\n{timing_table(records)}"
    write_text_atomic(out / f"{a.tag}.md", text)
    plot_calibration(records, rel, out / f"{a.tag}_calibration.png")
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
