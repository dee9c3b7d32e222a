"""PointNet++ building blocks (Qi et al., NeurIPS 2017): sampling, grouping, set abstraction, propagation.

Farthest-point sampling (FPS), ball-query grouping and the three-nearest-neighbour interpolation
weights depend only on a subject's point coordinates, which are the same for all its infarct
scenarios. They are therefore computed once per subject by :func:`sampling_plan` (the torch
Dataset caches the result) and passed to the network, instead of being recomputed in every
forward pass.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch
from torch import Tensor, nn


@dataclass(frozen=True)
class LevelSpec:
    """One set-abstraction level: ``npoint`` centroids, ball ``radius``, ``nsample`` neighbours.

    ``radius`` is in the normalised coordinates of the cloud (unit sphere, see
    :mod:`mitwin.data.torchdata`).
    """

    npoint: int
    radius: float
    nsample: int


def farthest_point_sample(xyz: Tensor, npoint: int) -> Tensor:
    """Farthest-point sampling, vectorised over the batch, starting from point 0.

    Parameters
    ----------
    xyz : (B, N, 3) float tensor
    npoint : int
        Number of points to pick (``<= N``).

    Returns
    -------
    (B, npoint) int64 indices into ``N``. Deterministic (the first pick is index 0).
    """
    b, n, _ = xyz.shape
    if not 0 < npoint <= n:
        raise ValueError(f"npoint must be in [1, {n}], got {npoint}")
    idx = torch.zeros(b, npoint, dtype=torch.long, device=xyz.device)
    dist = torch.full((b, n), float("inf"), dtype=xyz.dtype, device=xyz.device)
    farthest = torch.zeros(b, dtype=torch.long, device=xyz.device)
    rows = torch.arange(b, device=xyz.device)
    for i in range(npoint):
        idx[:, i] = farthest
        centre = xyz[rows, farthest].unsqueeze(1)  # (B, 1, 3)
        dist = torch.minimum(dist, ((xyz - centre) ** 2).sum(-1))
        farthest = dist.argmax(-1)
    return idx


def ball_query(radius: float, nsample: int, xyz: Tensor, new_xyz: Tensor) -> Tensor:
    """Indices of up to ``nsample`` points of ``xyz`` within ``radius`` of each ``new_xyz`` point.

    As in the reference implementation, the first ``nsample`` points in index order are taken and
    missing slots are filled with the first neighbour found (each centroid is a point of ``xyz``,
    so at least one neighbour exists when ``new_xyz`` was sampled from ``xyz``).

    Parameters
    ----------
    xyz : (B, N, 3), new_xyz : (B, S, 3)

    Returns
    -------
    (B, S, nsample) int64 indices into ``N``.
    """
    b, n, _ = xyz.shape
    d2 = torch.cdist(new_xyz, xyz) ** 2  # (B, S, N)
    idx = torch.arange(n, device=xyz.device).expand(d2.shape).clone()
    idx[d2 > radius * radius] = n
    idx = idx.sort(dim=-1).values[..., :nsample]
    if idx.shape[-1] < nsample:  # fewer points than nsample
        idx = torch.cat([idx, idx.new_full((*idx.shape[:2], nsample - idx.shape[-1]), n)], dim=-1)
    first = idx[..., :1].expand_as(idx)
    nearest = d2.argmin(-1, keepdim=True).expand_as(idx)
    first = torch.where(first == n, nearest, first)  # no point within radius: use the nearest
    return torch.where(idx == n, first, idx)


def three_nn(unknown: Tensor, known: Tensor) -> tuple[Tensor, Tensor]:
    """Three nearest ``known`` points of each ``unknown`` point and inverse-distance weights.

    Parameters
    ----------
    unknown : (B, N, 3), known : (B, S, 3) with ``S >= 3``

    Returns
    -------
    idx : (B, N, 3) int64, weight : (B, N, 3) float, rows summing to 1.
    """
    d = torch.cdist(unknown, known)
    dist, idx = d.topk(3, dim=-1, largest=False)
    w = 1.0 / (dist + 1e-8)
    return idx, w / w.sum(-1, keepdim=True)


def index_points(points: Tensor, idx: Tensor) -> Tensor:
    """Gather ``points`` (B, N, C) at ``idx`` (B, *S) -> (B, *S, C)."""
    b = points.shape[0]
    flat = idx.reshape(b, -1)
    out = torch.gather(points, 1, flat.unsqueeze(-1).expand(-1, -1, points.shape[-1]))
    return out.reshape(*idx.shape, points.shape[-1])


@dataclass
class SamplingPlan:
    """Precomputed sampling and grouping of one cloud (or a batch of clouds) for all levels.

    Attributes (per level ``l = 0..L-1``; level inputs are the previous level's points, level 0's
    input is the full cloud)
    ----------
    fps : list of (B, S_l) int64
        Centroid indices into the level's input points.
    group : list of (B, S_l, K_l) int64
        Ball-query neighbour indices into the level's input points.
    interp_idx, interp_w : list of (B, N_l, 3)
        For propagation from level ``l`` back to its input points: three nearest centroids and
        their weights (``N_l`` = number of input points of level ``l``).
    """

    fps: list[Tensor]
    group: list[Tensor]
    interp_idx: list[Tensor]
    interp_w: list[Tensor]

    def to(self, device: torch.device | str) -> SamplingPlan:
        """The plan on ``device``."""
        return SamplingPlan(*[[t.to(device) for t in ts] for ts in
                              (self.fps, self.group, self.interp_idx, self.interp_w)])

    def as_dict(self) -> dict[str, Tensor]:
        """Flat dict of tensors (used to batch plans with the default collate)."""
        out: dict[str, Tensor] = {}
        for name in ("fps", "group", "interp_idx", "interp_w"):
            for i, t in enumerate(getattr(self, name)):
                out[f"{name}{i}"] = t
        return out

    @classmethod
    def from_dict(cls, d: dict[str, Tensor], n_levels: int) -> SamplingPlan:
        """Inverse of :meth:`as_dict`."""
        return cls(*[[d[f"{name}{i}"] for i in range(n_levels)]
                     for name in ("fps", "group", "interp_idx", "interp_w")])


@torch.no_grad()
def sampling_plan(xyz: Tensor, levels: Sequence[LevelSpec]) -> SamplingPlan:
    """FPS, ball query and interpolation indices of every level for clouds ``xyz``.

    Parameters
    ----------
    xyz : (B, N, 3) or (N, 3) float tensor, normalised coordinates.
    levels : sequence of :class:`LevelSpec`

    Returns
    -------
    SamplingPlan with a leading batch dimension (squeezed back when ``xyz`` was 2-D).
    """
    squeeze = xyz.dim() == 2
    if squeeze:
        xyz = xyz.unsqueeze(0)
    fps, group, iidx, iw = [], [], [], []
    cur = xyz
    for spec in levels:
        f = farthest_point_sample(cur, spec.npoint)
        new = index_points(cur, f)
        group.append(ball_query(spec.radius, spec.nsample, cur, new))
        i, w = three_nn(cur, new)
        fps.append(f)
        iidx.append(i)
        iw.append(w)
        cur = new
    plan = SamplingPlan(fps, group, iidx, iw)
    if squeeze:
        plan = SamplingPlan(*[[t[0] for t in ts] for ts in (plan.fps, plan.group, plan.interp_idx, plan.interp_w)])
    return plan


class ChannelsLastMLP(nn.Module):
    """Shared MLP on the last dimension (Linear + BatchNorm + ReLU); any leading shape."""

    def __init__(self, channels: Sequence[int]) -> None:
        super().__init__()
        self.linears = nn.ModuleList(nn.Linear(a, b, bias=False) for a, b in zip(channels[:-1], channels[1:]))
        self.norms = nn.ModuleList(nn.BatchNorm1d(b) for b in channels[1:])

    def forward(self, x: Tensor) -> Tensor:
        """(..., C_in) -> (..., C_out)."""
        shape = x.shape[:-1]
        x = x.reshape(-1, x.shape[-1])
        for lin, bn in zip(self.linears, self.norms):
            x = torch.relu(bn(lin(x)))
        return x.reshape(*shape, x.shape[-1])


class PointwiseMLP(nn.Module):
    """Shared per-point MLP on (B, C, N) tensors (Linear + BatchNorm + ReLU on the channels).

    ``last_activation=False`` makes the last layer a plain affine map (an output layer).
    """

    def __init__(self, channels: Sequence[int], *, last_activation: bool = True) -> None:
        super().__init__()
        hidden = list(channels) if last_activation else list(channels[:-1])
        self.body = ChannelsLastMLP(hidden) if len(hidden) > 1 else nn.Identity()
        self.out = None if last_activation else nn.Linear(channels[-2], channels[-1])

    def forward(self, x: Tensor) -> Tensor:
        """(B, C_in, N) -> (B, C_out, N)."""
        y = self.body(x.transpose(1, 2))
        if self.out is not None:
            y = self.out(y)
        return y.transpose(1, 2)


def mlp1d(channels: Sequence[int], *, last_activation: bool = True) -> PointwiseMLP:
    """Shared per-point MLP (see :class:`PointwiseMLP`)."""
    return PointwiseMLP(channels, last_activation=last_activation)


class SetAbstraction(nn.Module):
    """Set abstraction: group the neighbours of each centroid, shared MLP, max-pool.

    Parameters
    ----------
    in_channels : int
        Feature channels of the input points (0 for none); 3 relative coordinates are added.
    mlp : sequence of int
        Output channels of the shared MLP layers.
    """

    def __init__(self, *, in_channels: int, mlp: Sequence[int]) -> None:
        super().__init__()
        self.mlp = ChannelsLastMLP([in_channels + 3, *mlp])
        self.out_channels = int(mlp[-1])

    def forward(self, xyz: Tensor, feats: Tensor | None, fps: Tensor, group: Tensor) -> tuple[Tensor, Tensor]:
        """Abstract one level.

        Parameters
        ----------
        xyz : (B, N, 3); feats : (B, C, N) or None; fps : (B, S); group : (B, S, K)

        Returns
        -------
        new_xyz : (B, S, 3), new_feats : (B, C_out, S)
        """
        new_xyz = index_points(xyz, fps)
        grouped = index_points(xyz, group) - new_xyz.unsqueeze(2)  # (B, S, K, 3)
        if feats is not None:
            grouped = torch.cat([grouped, index_points(feats.transpose(1, 2), group)], dim=-1)
        x = self.mlp(grouped).max(dim=2).values  # (B, S, C_out)
        return new_xyz, x.transpose(1, 2)


class GlobalAbstraction(nn.Module):
    """Group-all set abstraction: shared MLP on (xyz, feats) of all points, max-pool -> (B, C_out)."""

    def __init__(self, *, in_channels: int, mlp: Sequence[int]) -> None:
        super().__init__()
        self.mlp = mlp1d([in_channels + 3, *mlp])
        self.out_channels = int(mlp[-1])

    def forward(self, xyz: Tensor, feats: Tensor) -> Tensor:
        """xyz (B, S, 3), feats (B, C, S) -> (B, C_out)."""
        return self.mlp(torch.cat([xyz.transpose(1, 2), feats], dim=1)).max(dim=-1).values


class FeaturePropagation(nn.Module):
    """Feature propagation: inverse-distance interpolation to the denser level, skip link, shared MLP.

    Parameters
    ----------
    in_channels : int
        Channels of the interpolated (coarse) features + skip features + any extra conditioning.
    mlp : sequence of int
    """

    def __init__(self, *, in_channels: int, mlp: Sequence[int]) -> None:
        super().__init__()
        self.mlp = mlp1d([in_channels, *mlp])
        self.out_channels = int(mlp[-1])

    def forward(self, coarse_feats: Tensor, idx: Tensor, weight: Tensor, skip: Tensor | None,
                extra: Tensor | None = None) -> Tensor:
        """Propagate.

        Parameters
        ----------
        coarse_feats : (B, C1, S); idx, weight : (B, N, 3); skip : (B, C2, N) or None;
        extra : (B, C3) conditioning broadcast to every point, or None.

        Returns
        -------
        (B, C_out, N)
        """
        gathered = index_points(coarse_feats.transpose(1, 2), idx)  # (B, N, 3, C1)
        x = (gathered * weight.unsqueeze(-1)).sum(2).transpose(1, 2)  # (B, C1, N)
        parts = [x]
        if skip is not None:
            parts.append(skip)
        if extra is not None:
            parts.append(extra.unsqueeze(-1).expand(-1, -1, x.shape[-1]))
        return self.mlp(torch.cat(parts, dim=1))
