"""The ``mitwin`` command line: one entry point, one subcommand per stage of the pipeline."""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Sequence
from pathlib import Path

from ._version import __version__
from .tissue import DEFAULT_TISSUE


def _cmd_cohort(args: argparse.Namespace) -> int:
    from .anatomy.cohort import make_cohort

    paths = make_cohort(n=args.n, seed=args.seed, out=args.out, resolution_mm=args.resolution, progress=True,
                        variety=args.variety)
    print(f"{len(paths)} subjects in {args.out}")
    return 0


def _cmd_mesh(args: argparse.Namespace) -> int:
    from .anatomy.surface_mesh import mesh_surface

    parts = {"lv_endo": args.lv_endo, "rv_endo": args.rv_endo, "epi": args.epi, "base": args.base}
    given = {k: v for k, v in parts.items() if v is not None}
    if (args.surface is None) == (not given) or (given and len(given) != 4):
        raise ValueError("SURFACE: expected one labelled surface file, or all four of --lv-endo --rv-endo --epi "
                         f"--base; got {'SURFACE and ' if args.surface else ''}{sorted(given) or 'neither'}")
    heart = mesh_surface(args.surface if args.surface is not None else given, resolution_mm=args.resolution,
                         units=args.units, pose=args.pose, label_array=args.label_array, gap_mm=args.gap)
    heart.save(args.out)
    print(f"{args.out}: {heart.n_nodes} nodes, {heart.tets.shape[0]} tets")
    return 0


def _cmd_scenarios(args: argparse.Namespace) -> int:
    from .infarct import scenario_table

    print(scenario_table(reference=args.reference, extra=args.extra, tissue=args.tissue))
    return 0


def _cmd_simulate(args: argparse.Namespace) -> int:
    from .data.campaign import CampaignSettings, run_campaign
    from .infarct import load_scenarios, paper_scenarios

    settings = None
    if args.random_per_subject or args.indices is not None or args.healthy_variants or args.speed_spread:
        return _simulate_per_subject(args)
    if args.random:  # the paper's 17 and N random infarcts, the same on every subject
        from .infarct import ScenarioSet
        from .inverse.prior import random_scenarios

        tissue = args.tissue or DEFAULT_TISSUE
        base = paper_scenarios(tissue) if args.scenarios is None else load_scenarios(args.scenarios)
        records = [*base.records, *random_scenarios(args.random, seed=args.random_seed, tissue=tissue)]
        settings = CampaignSettings(scenarios=ScenarioSet(records), method=args.method)
    elif args.scenarios is None:  # the paper's 17 with the chosen (or the default) tissue
        settings = CampaignSettings(scenarios=paper_scenarios(args.tissue or DEFAULT_TISSUE), method=args.method)
    elif args.tissue is not None:  # a scenario file's infarcts with the factors of a preset
        settings = CampaignSettings(scenarios=load_scenarios(args.scenarios).with_tissue(args.tissue),
                                    method=args.method)
    out = run_campaign(
        args.cohort, args.out, subjects=args.subjects, n_workers=args.workers,
        scheduler=args.scheduler, scenarios_file=args.scenarios, method=args.method, progress=True,
        settings=settings,
    )
    print(f"dataset: {out}")
    return 0


def _simulate_per_subject(args: argparse.Namespace) -> int:
    """``--random N --random-per-subject``: every subject its own N random infarcts (training sets)."""
    from .anatomy.cohort import load_cohort
    from .inverse.training_set import write_random_set

    if not args.random_per_subject or args.random < 1 or args.scenarios is not None:
        raise ValueError("--random-per-subject needs --random N (N >= 1) and no --scenarios; --indices, "
                         "--healthy-variants and --speed-spread only go with --random-per-subject")
    n = len(load_cohort(args.cohort))
    indices = args.indices if args.indices is not None else list(range(args.subjects or n))
    out = write_random_set(args.cohort, args.out, indices, args.random, seed=args.random_seed,
                           tissue=args.tissue or "paper", n_healthy=args.healthy_variants,
                           speed_spread=args.speed_spread, progress=lambda sid: print(sid, flush=True))
    print(f"dataset: {out}")
    return 0


def _cmd_train_net(args: argparse.Namespace) -> int:
    from .data.store import open_dataset
    from .model.cobiveco_train import TrainSettings, load_net_data, train_net

    with open_dataset(args.dataset) as ds:
        ids = sorted(ds.subjects)
    val_ids = list(args.val or [])
    train_ids = [s for s in ids if s not in val_ids]
    settings = TrainSettings(epochs=args.epochs, time_budget_s=args.time_budget, seed=args.seed)
    run = train_net(load_net_data(args.dataset, train_ids), load_net_data(args.dataset, val_ids) if val_ids else None,
                    args.out, settings, info={"dataset": str(args.dataset)})
    print(f"run: {run}")
    return 0


def _cmd_sensitivity(args: argparse.Namespace) -> int:
    from .analysis.sensitivity import run_sensitivity

    report = run_sensitivity(args.dataset, args.out, apical_sizes=args.apical_sizes, progress=True, cohort=args.cohort)
    print(f"report: {report}")
    return 0


def _cmd_train(args: argparse.Namespace) -> int:
    from .model.train import train

    overrides = {k: v for k, v in (("healthy_share", args.healthy_share), ("time_budget_s", args.time_budget))
                 if v is not None}
    run = train(args.dataset, args.out, preset=args.preset, epochs=args.epochs, seed=args.seed,
                device=args.device, progress=True, val_subjects=args.val, **overrides)
    print(f"run: {run}")
    return 0


def _cmd_evaluate(args: argparse.Namespace) -> int:
    from .model.evaluate import evaluate

    table = evaluate(args.run, args.dataset, progress=True)
    print(table)
    return 0


def _cmd_infer(args: argparse.Namespace) -> int:
    from .model.infer import infer

    qrs = args.qrs
    if args.ecg is not None:
        from .ep.extract import extract_qrs_report

        extraction = extract_qrs_report(args.ecg)
        print(f"{args.ecg}: {extraction.summary()}")
        qrs = extraction.qrs
    summary = infer(args.run, heart=args.heart, qrs=qrs, out=args.out)
    print(summary)
    return 0


def _cmd_ecg(args: argparse.Namespace) -> int:
    import json

    from ._atomic import write_text_atomic
    from .ep.extract import extract_qrs_report
    from .ep.extract_plot import plot_extraction
    from .ep.records import read_ecg

    extraction = extract_qrs_report(read_ecg(args.record, fs=args.fs), method=args.method)
    args.out.mkdir(parents=True, exist_ok=True)
    extraction.qrs.to_csv(args.out / "qrs.csv")
    write_text_atomic(args.out / "extraction.json", json.dumps(extraction.to_dict(), indent=1) + "\n")
    plot_extraction(extraction, args.out / "beats.png", title=str(args.record))
    print(f"{args.record}: {extraction.summary()}\nwritten: {args.out / 'qrs.csv'}, {args.out / 'beats.png'}, "
          f"{args.out / 'extraction.json'}")
    return 0


def _read_qrs(path: Path, record: bool) -> object:
    """A QRS from a mitwin CSV (8 leads), or, with ``record`` or a WFDB header, from a whole recording."""
    from .ep.ecg import ECG

    if record or path.suffix.lower() in (".hea", ".mat", ".dat", ""):
        from .ep.extract import extract_qrs
        from .ep.records import read_ecg

        return extract_qrs(read_ecg(path))
    return ECG.from_csv(path)


def _cmd_check_ecg(args: argparse.Namespace) -> int:
    from .ep.criteria import check_ecg

    record = args.record or args.ecg.suffix.lower() in (".hea", ".mat", ".dat", "")
    # an extracted QRS runs from its delineated onset to its offset: the whole signal is the QRS
    c = check_ecg(_read_qrs(args.ecg, record), window="signal" if record else None)  # type: ignore[arg-type]
    print(c.to_json() if args.json else c.summary())
    return 0 if c.normal else 1


def _cmd_personalise(args: argparse.Namespace) -> int:
    from .anatomy.heart import Heart
    from .personalisation import personalise

    if (args.ecg is None) == (args.qrs is None):
        raise ValueError("personalise: expected exactly one of --ecg RECORD or --qrs QRS.csv")
    qrs = _read_qrs(args.ecg, True) if args.ecg is not None else _read_qrs(args.qrs, False)
    fit = personalise(Heart.load(args.heart), qrs, seed=args.seed, budget_s=args.budget, max_evals=args.evals,
                      n_starts=args.starts, progress=True)
    fit.save(args.out)
    fit.plot(args.out / "overlay.png")
    print(fit.summary())
    print(f"personalised conduction in {args.out} (use it with --conduction {args.out})")
    return 0


def _cmd_fit(args: argparse.Namespace) -> int:
    from .inverse.command import fit_to_files

    conduction = None
    if args.conduction is not None:
        from .personalisation import Personalisation

        conduction = Personalisation.load(args.conduction).params
    qrs = _read_qrs(args.ecg, args.record)
    fit, paths = fit_to_files(args.heart, qrs, args.out, seed=args.seed, n_simulations=args.simulations,
                              tissue=args.tissue, conduction=conduction, n_threads=args.threads)
    s = fit.summary()
    print(f"p(infarct) {s['p_infarct']:.3f} ({'infarct' if s['detected'] else 'no infarct'}), scar "
          f"{s['scar_nodes']} nodes, BZ {s['bz_nodes']} nodes, {s['n_simulations']} simulations in "
          f"{s['seconds']:.1f} s")
    print("written: " + ", ".join(str(p) for p in paths.values()))
    return 0


def _cmd_demo(args: argparse.Namespace) -> int:
    from .demo import run_demo

    run_demo(args.out, size=args.size)
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="mitwin", description="Cardiac digital twins of myocardial infarction.")
    parser.add_argument("--version", action="version", version=f"mitwin {__version__}")
    parser.add_argument("-v", "--verbose", action="store_true", help="log progress details")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    p = sub.add_parser("cohort", help="build (or reuse) a virtual cohort of biventricular meshes")
    p.add_argument("--n", type=int, default=5, help="number of subjects (default 5)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", type=Path, default=Path("cohort"))
    p.add_argument("--resolution", type=float, default=None,
                   help="target edge length in mm (default 1.9, about 30k nodes)")
    p.add_argument("--variety", choices=("standard", "wide", "shaped"), default="standard",
                   help="shape ranges: standard, wide (wider right ventricles) or shaped (normal right ventricles "
                        "in proportion to the LV, a tilted base and a bulged or flattened septum)")
    p.set_defaults(func=_cmd_cohort)

    p = sub.add_parser("mesh", help="tetrahedralise a closed labelled surface into a heart (.vtu)")
    p.add_argument("surface", type=Path, nargs="?", default=None,
                   help="VTP/PLY/VTK surface with a per-cell or per-point class (1 base, 2 epi, 3 LV, 4 RV)")
    for key in ("lv-endo", "rv-endo", "epi", "base"):
        p.add_argument(f"--{key}", type=Path, default=None, help=f"the {key} surface as its own file (also STL/OBJ)")
    p.add_argument("--out", type=Path, required=True, help="the heart to write (.vtu)")
    p.add_argument("--resolution", type=float, default=None, help="remesh at this edge length in mm (default: keep "
                   "the surface's triangles)")
    p.add_argument("--units", choices=("mm", "cm"), default=None, help="default: cm when the extent is below 30")
    p.add_argument("--pose", choices=("auto", "standard", "as_is"), default="auto")
    p.add_argument("--label-array", default=None, help="name of the class array (default: class, label, ...)")
    p.add_argument("--gap", type=float, default=1.0, help="largest gap in mm closed between separate files")
    p.set_defaults(func=_cmd_mesh)

    p = sub.add_parser("scenarios", help="print the infarct scenario table")
    p.add_argument("--reference", type=Path, default=None, help="a subject (.vtu) to report scar/BZ volumes on")
    p.add_argument("--extra", type=Path, default=None, help="a JSON file of user scenarios to add")
    p.add_argument("--tissue", choices=("paper", "blocked"), default=DEFAULT_TISSUE,
                   help=f"tissue preset of the paper's scenarios (default {DEFAULT_TISSUE}, as mitwin simulate)")
    p.set_defaults(func=_cmd_scenarios)

    p = sub.add_parser("simulate", help="simulate cohort x (baseline + scenarios) into an HDF5 dataset")
    p.add_argument("--cohort", type=Path, required=True)
    p.add_argument("--out", type=Path, default=Path("dataset.h5"))
    p.add_argument("--subjects", type=int, default=None, help="only the first N subjects")
    p.add_argument("--workers", type=int, default=None, help="local worker processes (default: cores)")
    p.add_argument("--scheduler", default=None, help="dask.distributed scheduler address, e.g. tcp://host:8786")
    p.add_argument("--scenarios", type=Path, default=None, help="JSON file of scenarios instead of the paper's")
    p.add_argument("--tissue", choices=("paper", "blocked"), default=None,
                   help="infarct tissue preset: blocked (silent scar, BZ 50 %%) or paper (the paper's slow scar 10 %%, "
                        "BZ 50 %%); default: blocked for the paper's scenarios, the file's own factors for --scenarios")
    p.add_argument("--method", choices=("eikonal", "dijkstra"), default="eikonal")
    p.add_argument("--random", type=int, default=0, metavar="N",
                   help="add N random ellipsoid infarcts (mitwin.inverse.prior; the same on every subject)")
    p.add_argument("--random-seed", type=int, default=0)
    p.add_argument("--random-per-subject", action="store_true",
                   help="every subject gets its own N random infarcts (also irregular and double ones) and the "
                        "healthy heart, drawn with subject = its cohort index (training sets; tissue default paper)")
    p.add_argument("--indices", type=int, nargs="+", default=None, help="cohort indices (with --random-per-subject)")
    p.add_argument("--healthy-variants", type=int, default=0, metavar="K",
                   help="K more healthy rows per subject, each with its own conduction speeds (with "
                        "--random-per-subject and --speed-spread)")
    p.add_argument("--speed-spread", type=float, default=0.0, metavar="S",
                   help="every row but the healthy reference with myocardial and fast-layer speeds each times "
                        "U(1-S, 1+S) (with --random-per-subject; e.g. 0.15)")
    p.set_defaults(func=_cmd_simulate)

    p = sub.add_parser("sensitivity", help="DTW, QRS biomarkers and figures from a dataset")
    p.add_argument("dataset", type=Path)
    p.add_argument("--out", type=Path, default=Path("sensitivity"))
    p.add_argument("--apical-sizes", action="store_true", help="also run the shrinking apical MI experiment")
    p.add_argument("--cohort", type=Path, default=None, help="cohort directory (for --apical-sizes)")
    p.set_defaults(func=_cmd_sensitivity)

    p = sub.add_parser("train", help="train the dual-branch VAE + inference model")
    p.add_argument("dataset", type=Path)
    p.add_argument("--out", type=Path, default=Path("run"))
    p.add_argument("--preset", choices=("cpu", "paper", "tiny"), default="cpu")
    p.add_argument("--epochs", type=int, default=None)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--device", default=None, help="torch device (default: cuda when available, else cpu)")
    p.add_argument("--healthy-share", type=float, default=None, help="share of healthy (baseline) items")
    p.add_argument("--val", nargs="+", default=None, help="validation subject ids (the rest train; no test split)")
    p.add_argument("--time-budget", type=float, default=None, help="stop after the epoch that passes this many s")
    p.set_defaults(func=_cmd_train)

    p = sub.add_parser("train-net", help="train the Cobiveco network (QRS -> p(infarct) and ellipsoid)")
    p.add_argument("dataset", type=Path, help="a per-subject random set (simulate --random-per-subject)")
    p.add_argument("--out", type=Path, default=Path("net"))
    p.add_argument("--val", nargs="+", default=None, help="validation subject ids (the rest train)")
    p.add_argument("--epochs", type=int, default=60)
    p.add_argument("--time-budget", type=float, default=None, help="seconds")
    p.add_argument("--seed", type=int, default=0)
    p.set_defaults(func=_cmd_train_net)

    p = sub.add_parser("evaluate", help="Dice / precision / recall / AHA-loc-score per scenario (Table I)")
    p.add_argument("run", type=Path)
    p.add_argument("dataset", type=Path)
    p.set_defaults(func=_cmd_evaluate)

    p = sub.add_parser("infer", help="infer scar and border zone for a new heart and QRS")
    p.add_argument("run", type=Path)
    p.add_argument("--heart", type=Path, required=True)
    given = p.add_mutually_exclusive_group(required=True)
    given.add_argument("--qrs", type=Path, help="CSV with a column per lead (I, II, V1..V6), 1 kHz")
    given.add_argument("--ecg", type=Path, help="a patient's recording (WFDB .hea/.dat/.mat, CSV): QRS extracted")
    p.add_argument("--out", type=Path, required=True)
    p.set_defaults(func=_cmd_infer)

    p = sub.add_parser("ecg", help="extract the QRS of a patient's recording: qrs.csv, beats.png, extraction.json")
    p.add_argument("record", type=Path, help="WFDB record (.hea/.dat/.mat or no extension) or CSV")
    p.add_argument("--out", type=Path, required=True, help="output folder")
    p.add_argument("--fs", type=float, default=None, help="sampling rate in Hz of a CSV without a time column")
    p.add_argument("--method", choices=("envelope", "neurokit2", "auto"), default="envelope",
                   help="the QRS delineation rule that decides (default: the multi-lead slope envelope; the other "
                        "is reported as a cross-check; auto: neurokit2 where the two agree)")
    p.set_defaults(func=_cmd_ecg)

    p = sub.add_parser("check-ecg", help="the normal-ECG criteria of a QRS (exit 0 normal, 1 abnormal)")
    p.add_argument("ecg", type=Path, help="QRS CSV (t_ms, I, II, V1..V6) or, with --record, a 12-lead recording")
    p.add_argument("--record", action="store_true", help="a whole recording (WFDB, CSV): read it and extract the QRS")
    p.add_argument("--json", action="store_true", help="print every measured value as JSON")
    p.set_defaults(func=_cmd_check_ecg)

    p = sub.add_parser("personalise", help="fit a healthy heart's conduction system to a patient's QRS")
    p.add_argument("--heart", type=Path, required=True, help="the heart (.vtu)")
    p.add_argument("--ecg", type=Path, default=None, help="a 12-lead recording (WFDB, CSV): its QRS is extracted")
    p.add_argument("--qrs", type=Path, default=None, help="or an extracted QRS CSV (t_ms, I, II, V1..V6) at 1 kHz")
    p.add_argument("--out", type=Path, required=True, help="folder for personalisation.json, qrs.npz, overlay.png")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--evals", type=int, default=6000, help="forward simulations over all starts (default 6000)")
    p.add_argument("--starts", type=int, default=2, help="CMA-ES starts (default 2)")
    p.add_argument("--budget", type=float, default=None, help="wall-clock cap in seconds")
    p.set_defaults(func=_cmd_personalise)

    p = sub.add_parser("fit", help="fit an infarct with a posterior to a QRS on a heart (simulation-based)")
    p.add_argument("--heart", type=Path, required=True, help="the heart (.vtu)")
    p.add_argument("--ecg", type=Path, required=True, help="QRS CSV (t_ms, I, II, V1..V6) or a recording (WFDB)")
    p.add_argument("--record", action="store_true", help="--ecg is a whole recording: extract its QRS")
    p.add_argument("--out", type=Path, required=True, help="output .vtu (labels and probabilities; .json, .png beside)")
    p.add_argument("--simulations", type=int, default=None, help="simulation budget (default 1000)")
    p.add_argument("--tissue", choices=("paper", "blocked"), default=None, help="tissue of the fitted infarct")
    p.add_argument("--conduction", type=Path, default=None, help="a personalisation folder (mitwin personalise)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--threads", type=int, default=1)
    p.set_defaults(func=_cmd_fit)

    p = sub.add_parser("demo", help="the whole pipeline end to end on a small default")
    p.add_argument("--out", type=Path, default=Path("mitwin-demo"))
    p.add_argument("--size", choices=("small", "paper", "tiny"), default="small")
    p.set_defaults(func=_cmd_demo)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the ``mitwin`` command line; returns the exit status."""
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING,
                        format="%(levelname)s %(name)s: %(message)s")
    try:
        return int(args.func(args))
    except (ValueError, OSError) as exc:  # OSError: unwritable or missing paths, an output path under a file
        print(f"mitwin {args.command}: error: {' '.join(str(exc).split())}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"mitwin {args.command}: interrupted; finished work is kept, rerun to resume", file=sys.stderr)
        return 130


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
