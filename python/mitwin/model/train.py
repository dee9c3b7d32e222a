"""Training of the dual-branch VAE + inference model.

A run directory holds ``run.json`` (preset, split, dataset, seed), ``last.pt`` (the latest
checkpoint: model, optimiser, scheduler, RNG states, log), ``best.pt`` (best validation Dice),
``log.csv`` / ``log.json`` (every loss term and metric per epoch) and ``loss_curve.png``.
Checkpoints are written atomically; calling :func:`train` again on the same run directory resumes
after the last completed epoch (and returns at once when the run is complete).
"""

from __future__ import annotations

import json
import logging
import math
import random
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch.utils.data import DataLoader, Subset

from .._atomic import remove_leftovers, write_figure_atomic, write_text_atomic
from ..data.store import open_dataset
from ..data.torchdata import InfarctDataset, split_subjects
from ..errors import CheckpointError
from .checkpoints import load_checkpoint, read_run_info, save_checkpoint
from .decoders import DecoderPC
from .dualvae import DualVAE, build_model
from .losses import TERMS, InferenceLoss
from .metrics import segmentation_scores
from .pointnet2 import SamplingPlan
from .presets import Preset, get_preset

logger = logging.getLogger(__name__)

RUN_FILE = "run.json"
#: Files of a run directory (each written atomically).
RUN_FILES = (RUN_FILE, "last.pt", "best.pt", "log.json", "log.csv", "loss_curve.png")
_LAST_KEYS = ("model", "optimizer", "scheduler", "epoch", "best", "log", "elapsed_s", "rng_cpu")


def seed_everything(seed: int) -> None:
    """Seed Python, numpy and torch."""
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


def pick_device(device: str | torch.device | None, prefer_cuda: bool = True) -> torch.device:
    """``device`` if given, else CUDA when available and preferred, else CPU.

    Raises
    ------
    ValueError
        When ``device`` is not a torch device string, or names an accelerator this machine does not have.
    """
    if device is None:
        return torch.device("cuda" if prefer_cuda and torch.cuda.is_available() else "cpu")
    if not isinstance(device, (str, torch.device)):
        raise ValueError(f"device: expected a torch device such as 'cpu' or 'cuda:0', got {device!r}")
    try:
        dev = torch.device(device)
    except (RuntimeError, ValueError, TypeError):
        raise ValueError(f"device: expected a torch device such as 'cpu' or 'cuda:0', got {device!r}") from None
    if dev.type == "cuda":
        n = torch.cuda.device_count() if torch.cuda.is_available() else 0
        if n == 0:
            raise ValueError(f"device: {str(device)!r} asked for, but torch sees no CUDA device here; use 'cpu'")
        if dev.index is not None and dev.index >= n:
            raise ValueError(f"device: {str(device)!r} asked for, but torch sees {n} CUDA device(s)")
    elif dev.type not in ("cpu", "mps"):
        raise ValueError(f"device: expected 'cpu' or a CUDA device, got {device!r}")
    return dev


def make_dataset(path: str | Path, subjects: list[str], preset: Preset, scenarios: list[str] | None = None,
                 seed: int = 0) -> InfarctDataset:
    """The dataset of ``subjects`` with the point counts and sampling plan of ``preset``."""
    m, t = preset.model, preset.train
    return InfarctDataset(path, subjects, scenarios, n_points=m.n_points, n_coarse=t.n_target_coarse,
                          n_dense=t.n_target_dense, levels=m.levels, seed=seed, qrs_length=m.qrs_length,
                          healthy_share=t.healthy_share)


def to_device(batch: dict[str, torch.Tensor], device: torch.device) -> dict[str, torch.Tensor]:
    """Move every tensor of ``batch`` to ``device``."""
    return {k: v.to(device, non_blocking=True) for k, v in batch.items()}


def batch_plan(batch: dict[str, torch.Tensor], n_levels: int) -> SamplingPlan:
    """The sampling plan carried by a collated batch."""
    return SamplingPlan.from_dict(batch, n_levels)


def load_run(run: str | Path, which: str = "best", device: str | torch.device | None = "cpu"
             ) -> tuple[DualVAE, Preset, dict[str, Any]]:
    """Model (eval mode), preset and ``run.json`` of a run directory; ``which`` is ``best`` or ``last``."""
    if which not in ("best", "last"):
        raise ValueError(f"which: expected 'best' or 'last', got {which!r}")
    run = Path(run)
    info_path = run / RUN_FILE
    info = read_run_info(info_path)
    preset = _preset_of(info, info_path)
    dev = pick_device(device if device is not None else "cpu")
    ckpt = load_checkpoint(run / f"{which}.pt", map_location=dev)
    model = build_model(preset.model).to(dev)
    _load_state(model, ckpt["model"], run / f"{which}.pt")
    model.eval()
    return model, preset, info


def _preset_of(info: dict[str, Any], path: Path) -> Preset:
    try:
        return Preset.from_dict(info["preset"])
    except (TypeError, ValueError, KeyError) as exc:
        raise CheckpointError(f"{path}: its preset is not a valid mitwin preset ({exc})") from None


def _load_state(module: Any, state: Any, path: Path, what: str = "model") -> None:
    """``module.load_state_dict(state)`` with a one-line CheckpointError when the shapes or keys do not fit."""
    try:
        module.load_state_dict(state)
    except (RuntimeError, ValueError, KeyError, TypeError, IndexError) as exc:
        first = " ".join(str(exc).split())[:300]
        raise CheckpointError(f"checkpoint {path}: its {what} state does not fit this run ({first})") from None


def _epoch_order(n: int, seed: int, epoch: int) -> list[int]:
    return np.random.default_rng([seed, epoch]).permutation(n).tolist()


@torch.no_grad()
def predict_batch(model: DualVAE, batch: dict[str, torch.Tensor]) -> tuple[Any, torch.Tensor]:
    """Model output (eval mode, latent mean) and predicted labels (B, N) of a collated batch on the model's device."""
    model.eval()
    out = model(batch["cloud"], batch["qrs"], batch_plan(batch, len(model.levels)))
    return out, out.logits.argmax(1)


def _validate(model: DualVAE, loader: DataLoader, loss_fn: InferenceLoss, device: torch.device
              ) -> dict[str, float]:
    sums: dict[str, float] = {k: 0.0 for k in TERMS}
    scores: dict[str, list[float]] = {"scar_dice": [], "bz_dice": []}
    n = 0
    for batch in loader:
        batch = to_device(batch, device)
        out, pred = predict_batch(model, batch)
        _, terms = loss_fn(out, batch)
        b = batch["cloud"].shape[0]
        n += b
        for k, v in terms.items():
            sums[k] += v * b
        for p, t in zip(pred.cpu().numpy(), batch["labels"].cpu().numpy()):
            s = segmentation_scores(p, t)
            scores["scar_dice"].append(s["scar_dice"])
            scores["bz_dice"].append(s["bz_dice"])
    res = {f"val_{k}": v / max(n, 1) for k, v in sums.items()}
    res["val_scar_dice"] = float(np.mean(scores["scar_dice"])) if n else float("nan")
    res["val_bz_dice"] = float(np.mean(scores["bz_dice"])) if n else float("nan")
    res["val_dice"] = 0.5 * (res["val_scar_dice"] + res["val_bz_dice"])
    return res


def plot_loss_curve(log: list[dict[str, float]], path: Path) -> Path:
    """Training/validation total loss and validation Dice per epoch -> PNG."""
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    ep = [r["epoch"] for r in log]
    fig, axes = plt.subplots(1, 3, figsize=(13, 3.6))
    axes[0].plot(ep, [r["train_total"] for r in log], label="train")
    axes[0].plot(ep, [r["val_total"] for r in log], label="validation")
    axes[0].set_title("total loss (Eq. 11)")
    axes[0].legend()
    for k in ("ce", "dice", "compact", "size", "spa", "qrs_mse", "qrs_dtw", "pc_rec", "kl"):
        vals = [r[f"train_{k}"] for r in log]
        if any(v != 0 for v in vals):
            axes[1].plot(ep, vals, label=k)
    axes[1].set_yscale("log")
    axes[1].set_title("training loss terms")
    axes[1].legend(fontsize=7, ncol=2)
    axes[2].plot(ep, [r["val_scar_dice"] for r in log], label="scar")
    axes[2].plot(ep, [r["val_bz_dice"] for r in log], label="BZ")
    axes[2].set_ylim(0, 1)
    axes[2].set_title("validation Dice")
    axes[2].legend()
    for ax in axes:
        ax.set_xlabel("epoch")
    fig.tight_layout()
    try:
        write_figure_atomic(fig, path, dpi=110)
    finally:
        plt.close(fig)
    return path


def _write_logs(out: Path, log: list[dict[str, float]]) -> None:
    write_text_atomic(out / "log.json", json.dumps(log, indent=1))
    if log:
        keys = list(log[0].keys())
        lines = [",".join(keys)] + [",".join(f"{r[k]:.6g}" if isinstance(r[k], float) else str(r[k])
                                             for k in keys) for r in log]
        write_text_atomic(out / "log.csv", "\n".join(lines) + "\n")
        plot_loss_curve(log, out / "loss_curve.png")


def train(dataset: str | Path, out: str | Path, preset: str | Preset = "cpu", epochs: int | None = None,
          seed: int = 0, device: str | torch.device | None = None, progress: bool = True,
          val_subjects: list[str] | None = None, **overrides: Any) -> Path:
    """Train the model on ``dataset`` into the run directory ``out`` (resumes if it holds a run).

    Parameters
    ----------
    dataset : path to the campaign's HDF5 file
    out : run directory (created)
    preset : ``"cpu"``, ``"paper"``, ``"tiny"`` or a :class:`~mitwin.model.presets.Preset`
    epochs : int, optional
        Overrides the preset's number of epochs (a resumed run can be extended this way).
    seed : int
        Seeds the split, the initialisation, the batch order and the latent sampling.
    device : torch device (default: CUDA when available and the preset prefers it, else CPU)
    progress : bool
        Show a tqdm bar.
    val_subjects : list of str, optional
        Validation subjects; every other subject of the file trains and none is held out as a test set (for
        training sets whose test subjects live elsewhere, e.g. the random-infarct benchmark's). Default: the
        paper's split by subject (:func:`mitwin.data.torchdata.split_subjects`).
    **overrides
        Fields of the preset's model/loss/train settings, e.g. ``lambda_compact=0`` (ablation) or
        ``use_pc_branch=False``.

    Returns
    -------
    Path of the run directory.
    """
    p = get_preset(preset)
    dev = pick_device(device, p.train.prefer_cuda)
    threads = p.train.cpu_threads if dev.type == "cpu" else None
    old_threads = torch.get_num_threads()
    if threads:
        torch.set_num_threads(threads)
    try:
        return _train(dataset, out, p, epochs, seed, dev, progress, overrides, val_subjects)
    finally:
        torch.set_num_threads(old_threads)


def _run_dir(out: str | Path) -> Path:
    """``out`` as a run directory, created; a clear error when it or a folder above it is a file."""
    out = Path(out)
    for parent in (out, *out.parents):
        if parent.exists() and not parent.is_dir():
            raise ValueError(f"out: expected a run directory, but {str(parent)!r} is a file")
    out.mkdir(parents=True, exist_ok=True)
    return out


def _check_same_run(old: dict[str, Any], info: dict[str, Any], out: Path) -> None:
    same = old.get("seed") == info["seed"] and old.get("split") == info["split"]
    old_p = json.loads(json.dumps(old.get("preset", {})))
    new_p = json.loads(json.dumps(info["preset"]))
    for d in (old_p, new_p):
        d.get("train", {}).pop("epochs", None)
    if not same or old_p != new_p:
        raise ValueError(f"{out} holds a run with another preset, seed or split; use a new directory")
    if old.get("scenarios") not in (None, info["scenarios"]):
        raise ValueError(f"{out} holds a run on other scenarios than this dataset's; use a new directory")


def _train(dataset: str | Path, out: str | Path, p: Preset, epochs: int | None, seed: int,
           dev: torch.device, progress: bool, overrides: dict[str, Any], val_subjects: list[str] | None = None
           ) -> Path:
    if epochs is not None:
        if isinstance(epochs, bool) or not isinstance(epochs, (int, np.integer)) or epochs < 1:
            raise ValueError(f"epochs: expected an integer >= 1, got {epochs!r}")
        overrides["epochs"] = int(epochs)
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or not 0 <= seed < 2**63:
        raise ValueError(f"seed: expected a non-negative integer, got {seed!r}")
    seed = int(seed)
    if overrides:
        p = p.with_overrides(**overrides)
    dataset = Path(dataset)
    with open_dataset(dataset) as ds:
        subject_ids = sorted(ds.subjects)
    if val_subjects is None:
        train_ids, val_ids, test_ids = split_subjects(subject_ids, "paper", seed)
    else:
        val_ids = sorted(str(v) for v in val_subjects)
        unknown = sorted(set(val_ids) - set(subject_ids))
        if unknown or not val_ids or len(val_ids) >= len(subject_ids):
            raise ValueError(f"val_subjects: expected some but not all subjects of {dataset}, got {val_ids}")
        train_ids, test_ids = [s for s in subject_ids if s not in val_ids], []

    out = Path(out)
    info_path = out / RUN_FILE
    last_path = out / "last.pt"
    info: dict[str, Any] = {
        "format": "mitwin-run", "preset": p.to_dict(), "dataset": str(dataset.resolve()), "seed": seed,
        "split": {"train": train_ids, "val": val_ids, "test": test_ids},
    }
    seed_everything(seed)
    train_ds = make_dataset(dataset, train_ids, p, seed=0)
    val_ds = make_dataset(dataset, val_ids, p, seed=0)
    info["scenarios"] = train_ds.scenario_names
    info["device"] = str(dev)
    _run_dir(out)  # created only once the dataset has been checked
    for name in RUN_FILES:  # temporaries of writes killed in an earlier run
        remove_leftovers(out / name)
    if info_path.exists():
        _check_same_run(read_run_info(info_path), info, out)

    model = build_model(p.model).to(dev)
    opt = torch.optim.Adam(model.parameters(), lr=p.train.lr, weight_decay=p.train.weight_decay)
    sched = torch.optim.lr_scheduler.StepLR(opt, step_size=p.train.lr_step, gamma=p.train.lr_gamma)
    dec: DecoderPC | None = model.decoder_pc
    loss_fn = InferenceLoss(p.loss, dec.coarse_class if dec is not None else None,
                            dec.dense_class if dec is not None else None)
    log: list[dict[str, float]] = []
    start_epoch, best, elapsed = 1, -math.inf, 0.0
    if last_path.is_file():  # resume: everything is read and checked before anything is written
        ckpt = load_checkpoint(last_path, map_location=dev, required=_LAST_KEYS)
        _load_state(model, ckpt["model"], last_path)
        _load_state(opt, ckpt["optimizer"], last_path, "optimizer")
        _load_state(sched, ckpt["scheduler"], last_path, "scheduler")
        try:
            torch.set_rng_state(ckpt["rng_cpu"])
            if dev.type == "cuda" and ckpt.get("rng_cuda") is not None:
                torch.cuda.set_rng_state(ckpt["rng_cuda"], dev)
            log, best, elapsed = list(ckpt["log"]), float(ckpt["best"]), float(ckpt["elapsed_s"])
            start_epoch = int(ckpt["epoch"]) + 1
        except (RuntimeError, TypeError, ValueError) as exc:
            raise CheckpointError(f"checkpoint {last_path}: bad training state ({exc})") from None
        write_text_atomic(info_path, json.dumps(info, indent=1))
        logger.info("resuming %s after epoch %d", out, start_epoch - 1)
        if ckpt.get("stopped_by_budget"):
            logger.info("%s stopped at its time budget; nothing to do", out)
            return out
    else:
        write_text_atomic(info_path, json.dumps(info, indent=1))

    val_loader = DataLoader(val_ds, batch_size=p.train.batch_size, shuffle=False)
    n_levels = len(p.model.levels)
    budget = p.train.time_budget_s
    bar = None
    if progress and start_epoch <= p.train.epochs:
        from tqdm.auto import tqdm

        bar = tqdm(total=p.train.epochs, initial=start_epoch - 1, desc="train", unit="epoch")
    for epoch in range(start_epoch, p.train.epochs + 1):
        t0 = time.perf_counter()
        c0 = time.process_time()
        model.train()
        order = _epoch_order(len(train_ds), seed, epoch)
        loader = DataLoader(Subset(train_ds, order), batch_size=p.train.batch_size, shuffle=False, drop_last=False)
        sums = {k: 0.0 for k in TERMS}
        n = 0
        for batch in loader:
            batch = to_device(batch, dev)
            out_ = model(batch["cloud"], batch["qrs"], batch_plan(batch, n_levels))
            loss, terms = loss_fn(out_, batch)
            if not torch.isfinite(loss):
                raise FloatingPointError(f"non-finite loss at epoch {epoch}: {terms}")
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            sched.step()
            b = batch["cloud"].shape[0]
            n += b
            for k, v in terms.items():
                sums[k] += v * b
            if bar is not None:
                bar.set_postfix(loss=f"{terms['total']:.3f}", refresh=False)
        row: dict[str, float] = {"epoch": epoch, "lr": opt.param_groups[0]["lr"]}
        row.update({f"train_{k}": v / max(n, 1) for k, v in sums.items()})
        row.update(_validate(model, val_loader, loss_fn, dev))
        elapsed += time.perf_counter() - t0
        row["time_s"] = elapsed
        row["epoch_cpu_s"] = time.process_time() - c0  # CPU time of this process (all threads)
        log.append(row)
        improved = row["val_dice"] > best or not (out / "best.pt").is_file()
        if improved:
            best = row["val_dice"]
        stop = budget is not None and elapsed >= budget and epoch < p.train.epochs
        ckpt = {"model": model.state_dict(), "optimizer": opt.state_dict(), "scheduler": sched.state_dict(),
                "epoch": epoch, "best": best, "log": log, "elapsed_s": elapsed, "rng_cpu": torch.get_rng_state(),
                "rng_cuda": torch.cuda.get_rng_state(dev) if dev.type == "cuda" else None,
                "stopped_by_budget": stop}
        if improved:
            save_checkpoint({"model": model.state_dict(), "epoch": epoch, "val_dice": best}, out / "best.pt")
        save_checkpoint(ckpt, last_path)
        _write_logs(out, log)
        logger.info("epoch %d: train %.4f, val %.4f, val Dice scar %.3f BZ %.3f", epoch, row["train_total"],
                    row["val_total"], row["val_scar_dice"], row["val_bz_dice"])
        if bar is not None:
            bar.update(1)
            bar.set_postfix(loss=f"{row['train_total']:.3f}", val_dice=f"{row['val_dice']:.3f}")
        if stop:
            logger.info("time budget of %.0f s reached after epoch %d", budget, epoch)
            break
    if bar is not None:
        bar.close()
    return out
