"""Training of :class:`mitwin.model.cobiveco_net.CobivecoNet` on a per-subject random-infarct set.

Data (:func:`load_net_data`): every row of a dataset written by :func:`mitwin.inverse.training_set.write_random_set`
(healthy baseline and random infarcts), with each subject's healthy QRS as the reference input, the first
ellipsoid's parameters as the regression target, and the truth scar on ``n_nodes`` random LV nodes of the
subject for the soft-Dice term.

Loss per batch: binary cross-entropy of p(infarct); on infarct rows, the squared error of the parameters in
unit-box units (rt0 through cos / sin) plus ``dice_weight`` x (1 - soft Dice) of :func:`soft_scar` against the
truth scar. Healthy rows are drawn ``healthy_share`` of the time (each subject has one healthy heart; the
augmentation makes the repeats differ). Augmentation of the observed QRS only: a time scale in
``warp`` (a global conduction-speed change stretches the QRS in time) and white noise of up to
``noise`` x each lead's peak. The best epoch on the validation subjects (mean scar Dice on their sampled
nodes, healthy rows counted 1 when nothing is predicted) is kept in ``net.pt`` (weights only,
:func:`mitwin.model.checkpoints.save_checkpoint`) and ``net.json``; so is the detection threshold on
p(infarct) that this epoch reaches on the validation rows (:func:`choose_threshold`), which
:class:`mitwin.model.cobiveco_net.NetPredictor` then applies.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from .._atomic import write_text_atomic
from ..anatomy.aha import lv_region
from ..data.store import open_dataset, read_arrays
from ..ellipsoid import SCAR
from ..inverse.prior import DEFAULT_PRIOR
from ..inverse.simulator import time_warp
from .checkpoints import load_checkpoint, save_checkpoint
from .cobiveco_net import CHECKPOINT, NET_FILE, CobivecoNet, NetConfig, decode_output, net_input, soft_scar

logger = logging.getLogger(__name__)

__all__ = ["THRESHOLDS", "NetData", "TrainSettings", "choose_threshold", "load_net_data", "train_net"]


@dataclass
class NetData:
    """Rows of a training set, as arrays.

    Attributes
    ----------
    signals : (K, 8, T) float32, raw QRS (zero beyond ``lengths``)
    lengths : (K,) int64
    subject : (K,) int64, row -> index into the per-subject arrays
    infarct : (K,) bool
    params : (K, 5) float64, (ab0, rt0, r_tm, r_ab, r_rt) of the first ellipsoid (NaN for healthy rows)
    scar : (K, M) bool, truth scar at the subject's sampled nodes
    ref_signals : (S, 8, T0) float32 and ref_lengths (S,) int64: each subject's healthy QRS
    coords : (S, M, 3) float32, tm, ab, rt of the sampled nodes; lv : (S, M) bool
    subject_ids : list of str
    """

    signals: np.ndarray
    lengths: np.ndarray
    subject: np.ndarray
    infarct: np.ndarray
    params: np.ndarray
    scar: np.ndarray
    ref_signals: np.ndarray
    ref_lengths: np.ndarray
    coords: np.ndarray
    lv: np.ndarray
    subject_ids: list[str]

    def __post_init__(self) -> None:
        k = self.signals.shape[0]
        if self.signals.ndim != 3 or self.signals.shape[1] != 8:
            raise ValueError(f"signals: expected (K, 8, T), got {self.signals.shape}")
        for name in ("lengths", "subject", "infarct", "params", "scar"):
            if getattr(self, name).shape[0] != k:
                raise ValueError(f"{name}: expected {k} rows, got {getattr(self, name).shape[0]}")
        if self.coords.ndim != 3 or self.coords.shape[1] != self.scar.shape[1]:
            raise ValueError(f"coords, scar: expected M nodes each, got {self.coords.shape} and {self.scar.shape}")

    def __len__(self) -> int:
        return int(self.signals.shape[0])


def _pad(arrays: Sequence[np.ndarray]) -> np.ndarray:
    t = max(a.shape[-1] for a in arrays)
    return np.concatenate([np.pad(a, [(0, 0)] * (a.ndim - 1) + [(0, t - a.shape[-1])]) for a in arrays])


def load_net_data(path: str | Path, subjects: Sequence[str] | None = None, n_nodes: int = 1024,
                  seed: int = 0) -> NetData:
    """The rows of a per-subject random set (:mod:`mitwin.inverse.training_set`) for ``subjects`` (default all)."""
    from ..inverse.training_set import n_healthy_rows, subject_infarcts

    path = Path(path)
    sig, lens, subj, inf, par, scar, ref, ref_len, coords, lvs = [], [], [], [], [], [], [], [], [], []
    with open_dataset(path) as ds:
        n_h = n_healthy_rows(ds.header)
        ids = sorted(ds.subjects) if subjects is None else list(subjects)
        missing = sorted(set(ids) - set(ds.subjects))
        if missing:
            raise ValueError(f"subjects: not in {path}: {missing[:5]}")
        for i, sid in enumerate(ids):
            g = ds.subject(sid)
            a = read_arrays(g, path, sid, ["qrs", "qrs_length", "labels", "coords"])
            records = subject_infarcts(str(g.attrs["parameters_json"]))
            if len(records) != a["labels"].shape[0] - n_h:
                raise ValueError(f"{path}: subject {sid} has {a['labels'].shape[0] - n_h} infarct rows, "
                                 f"{len(records)} records")
            c = np.asarray(a["coords"], dtype=float)
            lv_all = lv_region(c[:, 3], c[:, 2])
            cand = np.flatnonzero(lv_all)
            pick = np.sort(np.random.default_rng([seed, i]).choice(cand, size=min(n_nodes, cand.size),
                                                                   replace=False))
            pick = np.resize(pick, n_nodes)  # repeat nodes when the LV has fewer than n_nodes
            labels = np.asarray(a["labels"])
            ref.append(a["qrs"][:1].astype(np.float32))
            ref_len.append(a["qrs_length"][:1])
            sig.append(a["qrs"].astype(np.float32))
            lens.append(a["qrs_length"])
            subj.append(np.full(labels.shape[0], i))
            inf.append(np.arange(labels.shape[0]) >= n_h)
            par.append(np.concatenate([np.full((n_h, 5), np.nan), np.stack([r.params for r in records])]))
            scar.append(labels[:, pick] == SCAR)
            coords.append(c[pick, :3].astype(np.float32)[None])
            lvs.append(lv_all[pick][None])
    return NetData(_pad(sig), np.concatenate(lens).astype(np.int64), np.concatenate(subj).astype(np.int64),
                   np.concatenate(inf), np.concatenate(par), np.concatenate(scar), _pad(ref),
                   np.concatenate(ref_len).astype(np.int64), np.concatenate(coords), np.concatenate(lvs), ids)


@dataclass(frozen=True)
class TrainSettings:
    """Optimisation settings of :func:`train_net`."""

    epochs: int = 60
    batch_size: int = 64
    lr: float = 2e-3
    weight_decay: float = 1e-4
    healthy_share: float = 0.12
    warp: tuple[float, float] = (0.88, 1.12)
    noise: float = 0.08
    dice_weight: float = 1.0
    time_budget_s: float | None = None
    seed: int = 0
    threads: int = 1

    def __post_init__(self) -> None:
        if not 0.0 <= self.healthy_share < 1.0:
            raise ValueError(f"healthy_share: expected a value in [0, 1), got {self.healthy_share!r}")
        if self.epochs < 1 or self.batch_size < 1 or not self.lr > 0:
            raise ValueError(f"epochs, batch_size, lr: expected positive values, got {self.epochs}, "
                             f"{self.batch_size}, {self.lr}")


def _augment(data: NetData, rows: np.ndarray, rng: np.random.Generator, s: TrainSettings, difference: bool
             ) -> tuple[torch.Tensor, torch.Tensor]:
    """Network inputs of ``rows`` with the observed QRS time-scaled and noised at random."""
    out = []
    lengths = data.lengths[rows].copy()
    for j, r in enumerate(rows):
        x = data.signals[r : r + 1, :, : lengths[j]].astype(float)
        scale = rng.uniform(*s.warp)
        x, ln = time_warp(x, lengths[j : j + 1], scale)
        lengths[j] = max(2, int(ln[0]))
        x = x[:, :, : lengths[j]]
        if rng.random() < 0.5:
            peak = np.max(np.abs(x), axis=-1, keepdims=True)
            x = x + rng.uniform(0, s.noise) * peak * rng.standard_normal(x.shape)
        out.append(x)
    t = max(o.shape[-1] for o in out)
    sig = np.concatenate([np.pad(o, ((0, 0), (0, 0), (0, t - o.shape[-1]))) for o in out])
    subj = data.subject[rows]
    x_in, s_in = net_input((sig, lengths), (data.ref_signals[subj], data.ref_lengths[subj]), difference=difference)
    return torch.from_numpy(x_in), torch.from_numpy(s_in)


def _loss(model: CobivecoNet, x: torch.Tensor, s: torch.Tensor, data: NetData, rows: np.ndarray,
          dice_weight: float) -> tuple[torch.Tensor, dict[str, float]]:
    out = model(x, s)
    inf = torch.from_numpy(data.infarct[rows].astype(np.float32))
    bce = torch.nn.functional.binary_cross_entropy_with_logits(out[:, 0], inf)
    terms = {"bce": bce.item()}
    loss = bce
    m = data.infarct[rows]
    if m.any():
        o = out[torch.from_numpy(m)]
        u = torch.from_numpy(DEFAULT_PRIOR.unit(data.params[rows][m]).astype(np.float32))
        ang = 2 * np.pi * torch.from_numpy(data.params[rows][m][:, 1].astype(np.float32))
        mse = ((o[:, [1, 4, 5, 6]] - u[:, [0, 2, 3, 4]]) ** 2).mean() \
            + 0.5 * ((o[:, 2] - torch.cos(ang)) ** 2 + (o[:, 3] - torch.sin(ang)) ** 2).mean()
        _, params = decode_output(o)
        subj = data.subject[rows][m]
        soft = soft_scar(params, torch.from_numpy(data.coords[subj]), torch.from_numpy(data.lv[subj]))
        truth = torch.from_numpy(data.scar[rows][m].astype(np.float32))
        dice = (2 * (soft * truth).sum(1) + 1.0) / (soft.sum(1) + truth.sum(1) + 1.0)
        loss = loss + mse + dice_weight * (1 - dice).mean()
        terms.update(mse=mse.item(), soft_dice=dice.mean().item())
    terms["total"] = loss.item()
    return loss, terms


@torch.no_grad()
def evaluate_net(model: CobivecoNet, data: NetData, rows: np.ndarray, x: torch.Tensor, s: torch.Tensor
                 ) -> dict[str, float]:
    """Scar Dice on the sampled nodes (infarct rows; 0 when none is predicted) and healthy specificity."""
    model.eval()
    p, params = decode_output(model(x, s))
    subj = data.subject[rows]
    pred = soft_scar(params, torch.from_numpy(data.coords[subj]), torch.from_numpy(data.lv[subj])).numpy() > 0.5
    pred &= (p.numpy() >= 0.5)[:, None]
    truth = data.scar[rows]
    inter = (pred & truth).sum(1)
    denom = pred.sum(1) + truth.sum(1)
    dice = np.where(denom > 0, 2 * inter / np.maximum(denom, 1), 1.0)
    inf = data.infarct[rows]
    healthy_ok = ~pred[~inf].any(1)
    return {"dice": float(dice[inf].mean()) if inf.any() else float("nan"),
            "specificity": float(healthy_ok.mean()) if (~inf).any() else float("nan"),
            "sensitivity": float((p.numpy()[inf] >= 0.5).mean()) if inf.any() else float("nan")}


def _val_inputs(data: NetData, s: TrainSettings, difference: bool) -> tuple[np.ndarray, torch.Tensor, torch.Tensor]:
    """Fixed validation rows: every row clean-ish (one seeded augmentation) and each healthy row 10 times."""
    rows = np.concatenate([np.arange(len(data)), np.repeat(np.flatnonzero(~data.infarct), 9)])
    x, sc = _augment(data, rows, np.random.default_rng(12345), s, difference)
    return rows, x, sc


#: Candidate detection thresholds of :func:`choose_threshold`.
THRESHOLDS = np.round(np.linspace(0.05, 0.95, 91), 2)


def choose_threshold(p_infarct: np.ndarray, infarct: np.ndarray) -> dict[str, float]:
    """The detection threshold of a trained net, chosen on validation rows (never on test data).

    Rule: the candidate in :data:`THRESHOLDS` with the largest sensitivity + specificity (Youden's J) on
    ``p_infarct`` against the truth ``infarct``; among equals the one nearest 0.5. Returns the threshold
    and the validation sensitivity and specificity at it.

    >>> choose_threshold(np.array([0.1, 0.7, 0.8, 0.9]), np.array([False, False, True, True]))["threshold"]
    0.71
    """
    p, inf = np.asarray(p_infarct, dtype=float), np.asarray(infarct, dtype=bool)
    if p.shape != inf.shape or p.ndim != 1 or not inf.any() or inf.all():
        raise ValueError("p_infarct, infarct: expected equal 1-D arrays with both infarct and healthy rows")
    sens = np.array([(p[inf] >= t).mean() for t in THRESHOLDS])
    spec = np.array([(p[~inf] < t).mean() for t in THRESHOLDS])
    j = sens + spec
    best = np.flatnonzero(j >= j.max() - 1e-12)
    k = int(best[np.argmin(np.abs(THRESHOLDS[best] - 0.5))])
    return {"threshold": float(THRESHOLDS[k]), "val_sensitivity": float(sens[k]), "val_specificity": float(spec[k])}


def train_net(train: NetData, val: NetData | None, out: str | Path, settings: TrainSettings = TrainSettings(),
              config: NetConfig = NetConfig(), info: dict[str, Any] | None = None) -> Path:
    """Train a :class:`CobivecoNet` into the run directory ``out`` (``net.pt``, ``net.json``).

    Parameters
    ----------
    train, val : NetData (val optional: without it the last epoch is kept)
    out : run directory (created; an existing run is overwritten)
    settings : TrainSettings
    config : NetConfig
    info : dict, optional
        Extra plain data for ``net.json`` (dataset path, subject lists).

    Returns
    -------
    Path of the run directory.
    """
    s = settings
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    old_threads = torch.get_num_threads()
    torch.set_num_threads(s.threads)
    torch.manual_seed(s.seed)
    rng = np.random.default_rng(s.seed)
    model = CobivecoNet(config=config)
    opt = torch.optim.AdamW(model.parameters(), lr=s.lr, weight_decay=s.weight_decay)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=s.epochs)
    inf_rows, healthy_rows = np.flatnonzero(train.infarct), np.flatnonzero(~train.infarct)
    n_healthy = int(round(s.healthy_share * inf_rows.size / (1 - s.healthy_share))) if healthy_rows.size else 0
    val_in = _val_inputs(val, s, config.difference) if val is not None else None
    log: list[dict[str, float]] = []
    best, t0 = -np.inf, time.perf_counter()
    try:
        for epoch in range(1, s.epochs + 1):
            model.train()
            rows = np.concatenate([inf_rows, rng.choice(healthy_rows, n_healthy)]) if n_healthy else inf_rows
            rows = rng.permutation(rows)
            sums: dict[str, float] = {}
            for b in range(0, rows.size, s.batch_size):
                batch = rows[b : b + s.batch_size]
                if batch.size < 2:
                    continue
                x, sc = _augment(train, batch, rng, s, config.difference)
                loss, terms = _loss(model, x, sc, train, batch, s.dice_weight)
                opt.zero_grad(set_to_none=True)
                loss.backward()
                opt.step()
                for k, v in terms.items():
                    sums[k] = sums.get(k, 0.0) + v * batch.size
            sched.step()
            row: dict[str, float] = {"epoch": epoch, **{f"train_{k}": v / rows.size for k, v in sums.items()}}
            if val_in is not None and val is not None:
                row.update({f"val_{k}": v for k, v in evaluate_net(model, val, *val_in).items()})
                score = row["val_dice"] + row["val_specificity"]
            else:
                score = float(epoch)
            row["time_s"] = time.perf_counter() - t0
            log.append(row)
            logger.info("epoch %d: %s", epoch, {k: round(v, 4) for k, v in row.items()})
            if score > best:
                best = score
                save_checkpoint({"model": model.state_dict(), "config": config.to_dict(), "epoch": epoch,
                                 "score": float(score)}, out / CHECKPOINT)
            _write_info(out, model, train, val, s, config, log, best, row["time_s"], info)
            if s.time_budget_s is not None and row["time_s"] >= s.time_budget_s:
                logger.info("time budget reached after epoch %d", epoch)
                break
        if val_in is not None and val is not None:  # the detection threshold, on the best epoch
            model.load_state_dict(load_checkpoint(out / CHECKPOINT, required=("model",))["model"])
            model.eval()
            with torch.no_grad():
                p_val = decode_output(model(val_in[1], val_in[2]))[0].numpy()
            info = {**(info or {}), **choose_threshold(p_val, val.infarct[val_in[0]]),
                    "threshold_rule": "max sensitivity + specificity on the validation rows (choose_threshold)"}
            logger.info("detection threshold %.2f (validation sensitivity %.3f, specificity %.3f)",
                        info["threshold"], info["val_sensitivity"], info["val_specificity"])
    finally:
        torch.set_num_threads(old_threads)
    _write_info(out, model, train, val, s, config, log, best, time.perf_counter() - t0, info)
    return out


def _write_info(out: Path, model: CobivecoNet, train: NetData, val: NetData | None, s: TrainSettings,
                config: NetConfig, log: list[dict[str, float]], best: float, seconds: float,
                info: dict[str, Any] | None) -> None:
    """``net.json``: settings, sizes, subjects and the per-epoch log (rewritten after every epoch)."""
    meta = {"format": "mitwin-cobiveco-net", "settings": asdict(s), "config": config.to_dict(),
            "n_parameters": sum(p.numel() for p in model.parameters()), "n_train_rows": len(train),
            "train_subjects": train.subject_ids, "val_subjects": val.subject_ids if val is not None else [],
            "seconds": seconds, "best_score": float(best), "log": log, **(info or {})}
    write_text_atomic(out / NET_FILE, json.dumps(meta, indent=1))
