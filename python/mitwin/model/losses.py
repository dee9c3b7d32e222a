"""Loss terms of the paper (Eq. 4-11), all differentiable.

* :func:`chamfer_multiclass` — Eq. 4, per surface class, squared Euclidean distances.
* :func:`soft_dtw` / :func:`soft_dtw_divergence` — the DTW term of Eq. 5 as soft-DTW (Cuturi &
  Blondel, ICML 2017) with an analytic backward pass; both passes sweep the anti-diagonals of the
  cost matrix, vectorised over the batch and the cells of a diagonal.
* :func:`kl_standard_normal` — the KL term of Eq. 6.
* :func:`ce_dice` — Eq. 7.
* :func:`compactness_loss`, :func:`size_loss`, :func:`rv_spatial_loss` — Eq. 8-10 evaluated on softmax
  probabilities: soft counts ``sum_i p_i`` replace point counts and probability-weighted centroids
  replace the centres of the predicted region, so that gradients reach the network. Eq. 9 is used as
  an absolute relative error ``|N_pre - N_gd| / N_gd`` (the signed form is minimised by predicting
  nothing). Each is applied to the scar (label 2) and to the whole infarct (scar + BZ) and averaged.
* :class:`InferenceLoss` — Eq. 11 with the weights and ablation switches of
  :class:`mitwin.model.presets.LossConfig`; returns every term separately.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from .presets import LossConfig

_EPS = 1e-6
#: Lower bound of d_max in Eq. 8 (normalised units, the cloud fits the unit sphere): a true region
#: of one or two sampled points would otherwise make the loss explode.
D_MAX_FLOOR = 0.1
_CLASS_PENALTY = 1e6


# ----------------------------------------------------------------------------------------------
# chamfer (Eq. 4)


def chamfer_multiclass(pred: Tensor, pred_class: Tensor, target: Tensor, n_classes: int = 3) -> Tensor:
    """Sum over classes of the symmetric chamfer distance between same-class points.

    Parameters
    ----------
    pred : (B, P, 3) predicted points
    pred_class : (P,) int64 class of each predicted point
    target : (B, M, 4) target points, column 3 = class
    n_classes : int

    Returns
    -------
    (B,) ``sum_k [mean_{p in k} min_{t in k} |p - t|^2 + mean_{t in k} min_{p in k} |p - t|^2]``;
    classes without target points in a sample are skipped.
    """
    tcls = target[..., 3].round().long()  # (B, M)
    t = target[..., :3]
    d = (pred.pow(2).sum(-1, keepdim=True) + t.pow(2).sum(-1).unsqueeze(1)
         - 2.0 * pred @ t.transpose(1, 2)).clamp(min=0.0)  # (B, P, M) squared distances
    # pairs of different classes are pushed out of the minima by a large additive penalty
    penalty = (pred_class.view(1, -1, 1) != tcls.unsqueeze(1)).to(d.dtype) * _CLASS_PENALTY
    dm = d + penalty
    p2t = dm.min(dim=2).values  # (B, P)
    t2p = dm.min(dim=1).values  # (B, M)
    total = pred.new_zeros(pred.shape[0])
    for k in range(n_classes):
        pk = pred_class == k
        tk = tcls == k  # (B, M)
        nt = tk.sum(1)
        ok = (nt > 0) & pk.any()
        if not bool(ok.any()):
            continue
        a = torch.where(ok.unsqueeze(1), p2t[:, pk], torch.zeros_like(p2t[:, pk])).mean(1)
        b = (torch.where(tk, t2p, torch.zeros_like(t2p)).sum(1) / nt.clamp(min=1))
        total = total + torch.where(ok, a + b, torch.zeros_like(a))
    return total


# ----------------------------------------------------------------------------------------------
# soft-DTW (Eq. 5)


def _skew_index(n: int, m: int, device: torch.device) -> tuple[Tensor, Tensor]:
    """Flat cost index and validity of the skewed layout ``[d, i]`` (cell (i, j = d - i), 1-based).

    Returns (n + m + 3, n + 2) int64 indices into the flattened (n, m) cost, and a bool mask of
    the cells inside the matrix. An anti-diagonal of the DP becomes a contiguous row ``d``.
    """
    d = torch.arange(n + m + 3, device=device).view(-1, 1)
    i = torch.arange(n + 2, device=device).view(1, -1)
    j = d - i
    valid = (i >= 1) & (i <= n) & (j >= 1) & (j <= m)
    flat = ((i - 1).clamp(0, n - 1) * m + (j - 1).clamp(0, m - 1))
    return flat, valid


def _skew(cost: Tensor, fill: float) -> tuple[Tensor, Tensor, Tensor]:
    b, n, m = cost.shape
    flat, valid = _skew_index(n, m, cost.device)
    sk = cost.reshape(b, -1)[:, flat.reshape(-1)].view(b, *flat.shape)
    sk = torch.where(valid, sk, torch.full_like(sk, fill))
    return sk.permute(1, 0, 2).contiguous(), flat, valid  # (D, B, n + 2)


class _SoftDTW(torch.autograd.Function):
    @staticmethod
    def forward(ctx, cost: Tensor, gamma: float) -> Tensor:
        b, n, m = cost.shape
        c, _, valid = _skew(cost, float("inf"))
        r = torch.full_like(c, float("inf"))
        r[0, :, 0] = 0.0
        for d in range(2, n + m + 1):
            prev = torch.stack([r[d - 2, :, 0:n], r[d - 1, :, 0:n], r[d - 1, :, 1:n + 1]], dim=0)
            smin = -gamma * torch.logsumexp(-prev / gamma, dim=0)
            r[d, :, 1:n + 1] = c[d, :, 1:n + 1] + smin
        ctx.save_for_backward(cost, r, valid)
        ctx.gamma = gamma
        return r[n + m, :, n].clone()

    @staticmethod
    def backward(ctx, grad_out: Tensor) -> tuple[Tensor, None]:
        cost, r, valid = ctx.saved_tensors
        gamma = ctx.gamma
        b, n, m = cost.shape
        c, flat, _ = _skew(cost, 0.0)
        vd = valid.unsqueeze(1)  # (D, 1, n + 2)
        r_out = torch.where(vd, r, torch.full_like(r, -float("inf")))  # neighbours outside: no flow
        r_in = torch.where(vd, r, torch.full_like(r, float("inf")))
        end_d, end_i = n + m + 2, n + 1
        r_out[end_d, :, end_i] = r[n + m, :, n]
        e = torch.zeros_like(r)
        e[end_d, :, end_i] = 1.0
        s = slice(1, n + 1)
        t = slice(2, n + 2)
        for d in range(n + m, 1, -1):
            rij = r_in[d, :, s]
            a = torch.exp((r_out[d + 1, :, t] - rij - c[d + 1, :, t]) / gamma)
            bb = torch.exp((r_out[d + 1, :, s] - rij - c[d + 1, :, s]) / gamma)
            cc = torch.exp((r_out[d + 2, :, t] - rij - c[d + 2, :, t]) / gamma)
            e[d, :, s] = e[d + 1, :, t] * a + e[d + 1, :, s] * bb + e[d + 2, :, t] * cc
        # back to (B, n, m): cell (i, j) sits at [i + j, i]
        ii = torch.arange(1, n + 1, device=cost.device).view(-1, 1)
        jj = torch.arange(1, m + 1, device=cost.device).view(1, -1)
        pos = ((ii + jj) * (n + 2) + ii).reshape(-1)
        grad = e.permute(1, 0, 2).reshape(b, -1)[:, pos].view(b, n, m)
        return grad_out.view(-1, 1, 1) * grad, None


def soft_dtw(x: Tensor, y: Tensor, gamma: float = 0.1) -> Tensor:
    """Soft-DTW value between sequences with a squared Euclidean frame cost.

    Parameters
    ----------
    x : (B, N, D), y : (B, M, D)
    gamma : float > 0
        Smoothing; soft-DTW tends to DTW as ``gamma -> 0``.

    Returns
    -------
    (B,) values, differentiable in ``x`` and ``y``.
    """
    if not gamma > 0:
        raise ValueError(f"gamma must be > 0, got {gamma}")
    if x.dim() != 3 or y.dim() != 3 or x.shape[0] != y.shape[0] or x.shape[2] != y.shape[2]:
        raise ValueError(f"x and y must be (B, N, D) and (B, M, D), got {tuple(x.shape)} and {tuple(y.shape)}")
    cost = (x.unsqueeze(2) - y.unsqueeze(1)).pow(2).sum(-1)
    return _SoftDTW.apply(cost, float(gamma))


def soft_dtw_divergence(x: Tensor, y: Tensor, gamma: float = 0.1) -> Tensor:
    """``sdtw(x, y) - (sdtw(x, x) + sdtw(y, y)) / 2`` (Blondel et al., AISTATS 2021): >= 0, 0 iff x = y.

    Shapes as :func:`soft_dtw`; returns (B,).
    """
    if x.shape != y.shape:
        return soft_dtw(x, y, gamma) - 0.5 * (soft_dtw(x, x, gamma) + soft_dtw(y, y, gamma))
    # one sweep over the three cost matrices stacked along the batch (the sweep is sequential)
    b = x.shape[0]
    v = soft_dtw(torch.cat([x, x, y]), torch.cat([y, x, y]), gamma)
    return v[:b] - 0.5 * (v[b:2 * b] + v[2 * b:])


def qrs_dtw_loss(pred: Tensor, target: Tensor, gamma: float = 0.1, downsample: int = 1) -> Tensor:
    """Per-lead soft-DTW divergence between QRS (B, L, T), divided by T, mean over leads -> (B,).

    ``downsample > 1`` average-pools both signals in time first (cheaper: the sweep is sequential
    in ``2 T`` diagonals).
    """
    if downsample > 1:
        pred = F.avg_pool1d(pred, downsample)
        target = F.avg_pool1d(target, downsample)
    b, n_leads, t = pred.shape
    div = soft_dtw_divergence(pred.reshape(b * n_leads, t, 1), target.reshape(b * n_leads, t, 1), gamma)
    return div.view(b, n_leads).mean(1) / t


# ----------------------------------------------------------------------------------------------
# KL, segmentation


def kl_standard_normal(mu: Tensor, logvar: Tensor) -> Tensor:
    """KL(N(mu, exp(logvar)) || N(0, I)) summed over latent dimensions -> (B,)."""
    return -0.5 * (1.0 + logvar - mu.pow(2) - logvar.exp()).sum(-1)


def dice_loss(logits: Tensor, labels: Tensor, classes: tuple[int, ...] = (1, 2)) -> Tensor:
    """1 - mean over ``classes`` of the soft Dice of softmax(logits) (B, C, N) vs labels (B, N) -> (B,).

    The default averages the foreground classes (BZ, scar) only: the healthy class holds ~90 % of the
    points and its Dice, near 1 from the start, would dilute the term meant to fight the imbalance.
    """
    p = logits.softmax(1)
    g = F.one_hot(labels, p.shape[1]).transpose(1, 2).to(p.dtype)
    idx = list(classes)
    p, g = p[:, idx], g[:, idx]
    inter = (p * g).sum(-1)
    dice = (2 * inter + _EPS) / (p.sum(-1) + g.sum(-1) + _EPS)
    return 1.0 - dice.mean(-1)


def ce_dice(logits: Tensor, labels: Tensor, lambda_dice: float = 1.0) -> tuple[Tensor, Tensor]:
    """Cross entropy (mean over points) and soft Dice loss per sample -> ((B,), (B,)); Eq. 7 is ce + lambda * dice."""
    ce = F.cross_entropy(logits, labels, reduction="none").mean(-1)
    return ce, lambda_dice * dice_loss(logits, labels)


# ----------------------------------------------------------------------------------------------
# shape losses on probabilities (Eq. 8-10)


def _regions(logits: Tensor, labels: Tensor) -> list[tuple[Tensor, Tensor]]:
    """(probability, truth mask) of the scar and of scar + BZ, each (B, N)."""
    p = logits.softmax(1)
    return [(p[:, 2], (labels == 2).to(p.dtype)), (p[:, 1] + p[:, 2], (labels > 0).to(p.dtype))]


def _masked_mean(values: Tensor, valid: Tensor) -> Tensor:
    return torch.where(valid, values, torch.zeros_like(values))


def compactness_loss(logits: Tensor, labels: Tensor, xyz: Tensor) -> Tensor:
    """Eq. 8 with soft membership -> (B,).

    ``sum_i q_i (|x_i - c_pre| + |x_i - c_gd|) / (sum_i q_i * d_max_gd)`` with ``q`` the predicted
    probability of the region, ``c_pre`` the q-weighted centroid, ``c_gd`` the true region's centroid
    and ``d_max_gd`` its largest point-to-centroid distance (at least :data:`D_MAX_FLOOR`). Samples without a
    true region give 0.
    """
    out = logits.new_zeros(logits.shape[0])
    for q, g in _regions(logits, labels):
        n_gd = g.sum(-1)
        valid = n_gd > 0
        n_pre = q.sum(-1) + _EPS
        c_pre = (q.unsqueeze(-1) * xyz).sum(1) / n_pre.unsqueeze(-1)
        c_gd = (g.unsqueeze(-1) * xyz).sum(1) / n_gd.clamp(min=1).unsqueeze(-1)
        d_pre = ((xyz - c_pre.unsqueeze(1)).pow(2).sum(-1) + 1e-12).sqrt()
        d_gd = ((xyz - c_gd.unsqueeze(1)).pow(2).sum(-1) + 1e-12).sqrt()
        d_max = torch.where(g > 0, d_gd, torch.zeros_like(d_gd)).amax(-1).clamp(min=D_MAX_FLOOR)
        val = (q * (d_pre + d_gd)).sum(-1) / (n_pre * d_max)
        out = out + 0.5 * _masked_mean(val, valid)
    return out


def size_loss(logits: Tensor, labels: Tensor) -> Tensor:
    """Eq. 9 as ``|sum_i q_i - N_gd| / N_gd`` -> (B,) (0 for samples without a true region)."""
    out = logits.new_zeros(logits.shape[0])
    for q, g in _regions(logits, labels):
        n_gd = g.sum(-1)
        val = (q.sum(-1) - n_gd).abs() / n_gd.clamp(min=1)
        out = out + 0.5 * _masked_mean(val, n_gd > 0)
    return out


def rv_free_wall(tv: Tensor, rt: Tensor) -> Tensor:
    """Points of the RV outside the septum (``tv >= 0.5`` and ``rt mod 1 <= 2/3``), as float."""
    return ((tv >= 0.5) & (torch.remainder(rt, 1.0) <= 2.0 / 3.0)).to(tv.dtype)


def rv_spatial_loss(logits: Tensor, rv: Tensor) -> Tensor:
    """Eq. 10: soft share of the predicted region lying in the RV free wall ``rv`` (B, N) -> (B,)."""
    out = logits.new_zeros(logits.shape[0])
    p = logits.softmax(1)
    for q in (p[:, 2], p[:, 1] + p[:, 2]):
        out = out + 0.5 * (q * rv).sum(-1) / (q.sum(-1) + _EPS)
    return out


# ----------------------------------------------------------------------------------------------
# total (Eq. 11)

TERMS = ("chamfer_coarse", "chamfer_dense", "pc_rec", "qrs_mse", "qrs_dtw", "kl", "vae", "ce", "dice",
         "compact", "size", "spa", "total")


class InferenceLoss(nn.Module):
    """Eq. 11: ``lambda_VAE L_VAE + L_CE + lambda_Dice L_Dice + lambda_c L_compact + lambda_s L_size
    + lambda_spa L_spa``.

    with ``L_VAE = lambda_PC (L_coarse + alpha L_dense) + lambda_QRS (MSE + soft-DTW) + lambda_KL KL``.

    Parameters
    ----------
    config : LossConfig
        Weights; a weight of 0 (or a ``use_*`` switch off) skips the term's computation.
    coarse_class, dense_class : (P,) int64 classes of the decoder's output points (or None without
        the point-cloud branch).
    """

    def __init__(self, config: LossConfig, coarse_class: Tensor | None = None,
                 dense_class: Tensor | None = None) -> None:
        super().__init__()
        self.config = config
        self.coarse_class = coarse_class
        self.dense_class = dense_class

    def forward(self, out, batch: dict[str, Tensor]) -> tuple[Tensor, dict[str, float]]:
        """Total loss (scalar, mean over the batch) and each (unweighted) term as a float.

        ``out`` is a :class:`mitwin.model.dualvae.ModelOutput`; ``batch`` holds ``cloud`` (B, N, 7),
        ``labels`` (B, N), ``qrs`` (B, 8, T), ``coarse`` (B, Nc, 4), ``dense`` (B, Nd, 4).
        """
        c = self.config
        zero = out.logits.new_zeros(())
        t: dict[str, Tensor] = {k: zero for k in TERMS}
        if out.coarse is not None and out.dense is not None and c.lambda_pc > 0:
            if self.coarse_class is None or self.dense_class is None:
                raise ValueError("a point-cloud decoder's output needs coarse_class and dense_class (see __init__)")
            t["chamfer_coarse"] = chamfer_multiclass(out.coarse, self.coarse_class, batch["coarse"]).mean()
            t["chamfer_dense"] = chamfer_multiclass(out.dense, self.dense_class, batch["dense"]).mean()
            t["pc_rec"] = t["chamfer_coarse"] + c.alpha * t["chamfer_dense"]
        if c.lambda_qrs > 0:
            if c.use_mse:
                t["qrs_mse"] = F.mse_loss(out.qrs, batch["qrs"])
            if c.use_dtw:
                t["qrs_dtw"] = qrs_dtw_loss(out.qrs, batch["qrs"], c.dtw_gamma, c.dtw_downsample).mean()
        if c.lambda_kl > 0:
            t["kl"] = kl_standard_normal(out.mu, out.logvar).mean()
        t["vae"] = c.lambda_pc * t["pc_rec"] + c.lambda_qrs * (t["qrs_mse"] + t["qrs_dtw"]) + c.lambda_kl * t["kl"]
        labels = batch["labels"]
        if c.use_ce or c.use_dice:
            ce, dice = ce_dice(out.logits, labels, 1.0)
            if c.use_ce:
                t["ce"] = ce.mean()
            if c.use_dice:
                t["dice"] = dice.mean()
        cloud = batch["cloud"]
        if c.lambda_compact > 0:
            t["compact"] = compactness_loss(out.logits, labels, cloud[..., :3]).mean()
        if c.lambda_size > 0:
            t["size"] = size_loss(out.logits, labels).mean()
        if c.lambda_spa > 0:
            t["spa"] = rv_spatial_loss(out.logits, rv_free_wall(cloud[..., 6], cloud[..., 5])).mean()
        total = (c.lambda_vae * t["vae"] + t["ce"] + c.lambda_dice * t["dice"] + c.lambda_compact * t["compact"]
                 + c.lambda_size * t["size"] + c.lambda_spa * t["spa"])
        t["total"] = total
        return total, {k: float(v.detach()) for k, v in t.items()}
