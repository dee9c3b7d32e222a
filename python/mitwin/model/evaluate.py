"""Evaluation of a trained run on its test subjects: the paper's Table I, Fig. 9-10, exports.

Predictions are made at the model's input points (a fixed subset of each stored cloud for the
``cpu``/``tiny`` presets) and carried to every stored cloud point (4096) by nearest neighbour; the
metrics of :mod:`mitwin.model.metrics` are computed on the stored cloud against its labels. The
scenario-classification baseline of :mod:`mitwin.model.baseline` is fitted on the run's training
subjects and evaluated the same way.

Writes in the run directory: ``table1.md`` / ``table1.csv`` (model), ``baseline_table1.md`` /
``baseline_table1.csv``, ``per_item.csv`` (every test item, both methods), ``dice_boxplot.png``,
``prediction_3d.png`` (one test subject, truth vs prediction), ``predictions/<subject>.vtu`` (truth
and prediction of every scenario on the cloud, mm) and ``predictions/<subject>_<scenario>.ply``.
"""

from __future__ import annotations

import csv
import io
import logging
from pathlib import Path
from typing import Any

import numpy as np
import torch
from scipy.spatial import cKDTree
from torch.utils.data import DataLoader

from .._atomic import write_text_atomic
from ..data.torchdata import InfarctDataset
from ..infarct import scenarios_from_json
from .baseline import Labeller, ScenarioBaseline
from .figures import cloud_views, dice_boxplot, export_cloud_ply, export_cloud_vtu
from .metrics import METRICS, all_scores, summarise, table_csv, table_markdown
from .train import load_run, make_dataset, pick_device, predict_batch, to_device

logger = logging.getLogger(__name__)


def predict_full_clouds(model, preset, dataset: str | Path, subjects: list[str], scenarios: list[str],
                        device: torch.device, progress: bool = False) -> dict[tuple[int, int], np.ndarray]:
    """Predicted labels on every stored cloud point, keyed by (subject index, scenario index)."""
    ds = make_dataset(dataset, subjects, preset, scenarios)
    full = InfarctDataset(dataset, subjects, scenarios, qrs_length=preset.model.qrs_length)
    loader = DataLoader(ds, batch_size=preset.train.batch_size, shuffle=False)
    maps: dict[int, np.ndarray] = {}
    preds: dict[tuple[int, int], np.ndarray] = {}
    it: Any = loader
    if progress:
        from tqdm.auto import tqdm

        it = tqdm(loader, desc="predict", unit="batch")
    for batch in it:
        batch_d = to_device(batch, device)
        _, pred_t = predict_batch(model, batch_d)
        pred = pred_t.cpu().numpy()
        for b in range(pred.shape[0]):
            i, j = int(batch["subject"][b]), int(batch["scenario"][b])
            if i not in maps:  # nearest model input point of every stored cloud point
                full_xyz = full.subject(i)["cloud"][:, :3].numpy()
                sub_xyz = full_xyz[batch["point_index"][b].numpy()]
                maps[i] = cKDTree(sub_xyz).query(full_xyz)[1]
            preds[(i, j)] = pred[b][maps[i]]
    return preds


def _records_csv(records: list[dict]) -> str:
    buf = io.StringIO()
    fields = ["method", "subject", "scenario", *METRICS]
    w = csv.DictWriter(buf, fieldnames=fields, lineterminator="\n", extrasaction="ignore")
    w.writeheader()
    for r in records:
        w.writerow({k: (f"{r[k]:.6f}" if isinstance(r[k], float) else r[k]) for k in fields})
    return buf.getvalue()


def evaluate(run: str | Path, dataset: str | Path, progress: bool = True, *, baseline: bool = True,
             labeller: Labeller | None = None, device: str | None = None, figure_subject: str | None = None,
             figure_scenarios: int = 4) -> str:
    """Evaluate the best checkpoint of ``run`` on its test subjects of ``dataset``.

    Parameters
    ----------
    run : run directory written by :func:`mitwin.model.train.train`
    dataset : the HDF5 dataset (the run's split and scenarios are used)
    progress : show a progress bar
    baseline : also fit and evaluate the scenario-classification baseline
    labeller : placement function of the baseline (see :mod:`mitwin.model.baseline`)
    device : torch device (default CPU)
    figure_subject : test subject of the 3D views (default: the first)
    figure_scenarios : number of scenarios in the 3D views

    Returns
    -------
    The Markdown Table I of the model (followed by the baseline's when computed).
    """
    run = Path(run)
    dev = pick_device(device or "cpu")
    model, preset, info = load_run(run, "best", dev)
    test_ids: list[str] = info["split"]["test"]
    scenarios: list[str] = info["scenarios"]
    preds = predict_full_clouds(model, preset, dataset, test_ids, scenarios, dev, progress)
    full = InfarctDataset(dataset, test_ids, scenarios, qrs_length=preset.model.qrs_length)
    methods: dict[str, list[dict]] = {"model": []}
    base_preds: dict[tuple[int, int], np.ndarray] = {}
    if baseline:
        train_ds = InfarctDataset(dataset, info["split"]["train"], scenarios, qrs_length=preset.model.qrs_length)
        items = [train_ds[k] for k in range(len(train_ds))]
        bl = ScenarioBaseline(seed=info.get("seed", 0), labeller=labeller)
        bl.fit(np.stack([it["qrs"].numpy() for it in items]), [scenarios[int(it["scenario"])] for it in items],
               [it["cloud"][:, 3:].numpy() for it in items], [it["labels"].numpy() for it in items])
        test_items = [full[k] for k in range(len(full))]
        names, labs = bl.predict(np.stack([it["qrs"].numpy() for it in test_items]),
                                 [it["cloud"][:, 3:].numpy() for it in test_items])
        acc = float(np.mean([n == scenarios[int(it["scenario"])] for n, it in zip(names, test_items)]))
        logger.info("baseline scenario accuracy on the test items: %.3f", acc)
        for it, lab in zip(test_items, labs):
            base_preds[(int(it["subject"]), int(it["scenario"]))] = lab
        methods["baseline"] = []
    for k in range(len(full)):
        item = full[k]
        key = (int(item["subject"]), int(item["scenario"]))
        cloud = item["cloud"].numpy()
        truth = item["labels"].numpy()
        meta = {"subject": test_ids[key[0]], "scenario": scenarios[key[1]]}
        methods["model"].append({"method": "model", **meta, **all_scores(preds[key], truth, cloud)})
        if baseline:
            methods["baseline"].append({"method": "baseline", **meta, **all_scores(base_preds[key], truth, cloud)})

    title = f"Table I — {preset.name} preset, {len(test_ids)} test subjects x {len(scenarios)} scenarios"
    extents = {r.name: r.extent for r in scenarios_from_json(full.all_scenarios, full.header.scenarios_json).records}
    rows = summarise(methods["model"], scenarios, extents)
    md = table_markdown(rows, title)
    write_text_atomic(run / "table1.md", md)
    write_text_atomic(run / "table1.csv", table_csv(rows))
    all_records = list(methods["model"])
    if baseline:
        brows = summarise(methods["baseline"], scenarios, extents)
        bmd = table_markdown(brows, f"Baseline (QRS -> scenario -> ellipsoid), scenario accuracy {acc:.3f}")
        write_text_atomic(run / "baseline_table1.md", bmd)
        write_text_atomic(run / "baseline_table1.csv", table_csv(brows))
        md = md + "\n" + bmd
        all_records += methods["baseline"]
    write_text_atomic(run / "per_item.csv", _records_csv(all_records))
    dice_boxplot(methods, scenarios, run / "dice_boxplot.png")

    sid = figure_subject or test_ids[0]
    if sid not in test_ids:
        raise ValueError(f"figure_subject must be a test subject {test_ids}, got {sid!r}")
    i = test_ids.index(sid)
    sub = full.subject(i)
    xyz_mm = sub["cloud"][:, :3].numpy() * float(sub["scale"]) + sub["centre"].numpy()
    chosen = sorted(set(np.linspace(0, len(scenarios) - 1, min(figure_scenarios, len(scenarios))).round().astype(int)))
    cloud_views(xyz_mm, [sub["labels"][j].numpy() for j in chosen], [preds[(i, j)] for j in chosen],
                [scenarios[j] for j in chosen], run / "prediction_3d.png")
    arrays: dict[str, np.ndarray] = {}
    for j, name in enumerate(scenarios):
        arrays[f"truth_{name}"] = sub["labels"][j].numpy().astype(np.int32)
        arrays[f"pred_{name}"] = preds[(i, j)].astype(np.int32)
    export_cloud_vtu(run / "predictions" / f"{sid}.vtu", xyz_mm, arrays)
    for j in chosen:
        export_cloud_ply(run / "predictions" / f"{sid}_{scenarios[j]}.ply", xyz_mm, preds[(i, j)])
    return md
