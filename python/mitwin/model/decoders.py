"""Point-cloud decoder (coarse + folded dense clouds per surface class) and the inference decoder."""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
from torch import Tensor, nn

from .pointnet2 import FeaturePropagation, SamplingPlan, mlp1d


def point_classes(n: int, n_classes: int) -> Tensor:
    """Fixed class of each output point: ``n`` points in ``n_classes`` contiguous blocks -> (n,) int64."""
    return torch.arange(n) * n_classes // n


class DecoderPC(nn.Module):
    """Coarse and dense surface clouds with a class per point (after PCN, Yuan et al. 2018).

    The coarse cloud (``n_coarse`` points) comes from a fully connected layer; each coarse point is
    then folded into ``n_dense / n_coarse`` points by a shared MLP on (latent, 2-D grid offset, coarse
    point) that predicts an offset. Point ``i`` belongs to class ``point_classes(n, K)[i]`` (the
    classes of the surface targets: LV endocardium, RV endocardium, epicardium); the chamfer loss
    matches each class with its own target points.

    Parameters
    ----------
    latent : int
    n_coarse, n_dense : int
        ``n_dense`` must be ``n_coarse`` times a perfect square.
    n_classes : int
    hidden : int
        Width of the layers.
    grid_scale : float
        Half-size of the folding grid, normalised units.
    """

    grid: Tensor
    coarse_class: Tensor
    dense_class: Tensor

    def __init__(self, *, latent: int, n_coarse: int = 1024, n_dense: int = 4096, n_classes: int = 3,
                 hidden: int = 1024, grid_scale: float = 0.05) -> None:
        super().__init__()
        ratio = n_dense // n_coarse
        side = math.isqrt(max(ratio, 1))
        if n_dense % n_coarse or side * side != ratio:
            raise ValueError(f"n_dense / n_coarse must be a perfect square, got {n_dense} / {n_coarse}")
        self.n_coarse, self.n_dense, self.ratio = n_coarse, n_dense, ratio
        self.fc = nn.Sequential(nn.Linear(latent, hidden), nn.ReLU(inplace=True), nn.Linear(hidden, hidden),
                                nn.ReLU(inplace=True), nn.Linear(hidden, 3 * n_coarse))
        g = torch.linspace(-grid_scale, grid_scale, side)
        grid = torch.stack(torch.meshgrid(g, g, indexing="ij"), dim=-1).reshape(-1, 2)  # (ratio, 2)
        self.register_buffer("grid", grid, persistent=False)
        self.register_buffer("coarse_class", point_classes(n_coarse, n_classes), persistent=False)
        self.register_buffer("dense_class", point_classes(n_coarse, n_classes).repeat_interleave(ratio),
                             persistent=False)
        self.fold = mlp1d([latent + 2 + 3, hidden // 2, hidden // 2, 3], last_activation=False)

    def forward(self, z: Tensor) -> tuple[Tensor, Tensor]:
        """z (B, latent) -> coarse (B, n_coarse, 3), dense (B, n_dense, 3)."""
        b = z.shape[0]
        coarse = self.fc(z).view(b, self.n_coarse, 3)
        centres = coarse.repeat_interleave(self.ratio, dim=1)  # (B, n_dense, 3)
        grid = self.grid.repeat(self.n_coarse, 1).unsqueeze(0).expand(b, -1, -1)
        feat = torch.cat([z.unsqueeze(1).expand(-1, self.n_dense, -1), grid, centres], dim=-1)
        dense = centres + self.fold(feat.transpose(1, 2)).transpose(1, 2)
        return coarse, dense


class DecoderInf(nn.Module):
    """Per-point 3-class logits by PointNet++ feature propagation, conditioned on the latent.

    The deepest set-abstraction features are propagated back level by level to the input points;
    the (projected) latent is concatenated at every level, since the encoder features of a subject's
    cloud are the same for all its scenarios and the infarct information comes from the latent.

    Parameters
    ----------
    latent : int
        Dimension of the concatenated latent.
    level_channels : sequence of int
        Output channels of the set-abstraction levels (coarsest last).
    point_features : int
        Input features per point (7).
    fp_mlps : sequence of sequences of int
        MLPs of the propagation steps, from the coarsest level to the input points.
    n_labels : int
        Output classes (healthy, BZ, scar).
    cond : int
        Size of the latent projection concatenated at every level.
    """

    def __init__(self, *, latent: int, level_channels: Sequence[int], point_features: int = 7,
                 fp_mlps: Sequence[Sequence[int]], n_labels: int = 3, cond: int = 64) -> None:
        super().__init__()
        if len(fp_mlps) != len(level_channels):
            raise ValueError(f"need one fp mlp per level ({len(level_channels)}), got {len(fp_mlps)}")
        self.cond = nn.Sequential(nn.Linear(latent, cond), nn.ReLU(inplace=True))
        skips = [point_features, *level_channels[:-1]]  # channels of each level's input points
        fps = []
        cin = level_channels[-1]
        for skip, mlp in zip(reversed(skips), fp_mlps):
            fps.append(FeaturePropagation(in_channels=cin + skip + cond, mlp=mlp))
            cin = mlp[-1]
        self.fp = nn.ModuleList(fps)
        self.head = mlp1d([cin + cond, cin, n_labels], last_activation=False)

    def forward(self, z: Tensor, level_feats: Sequence[Tensor], point_feats: Tensor, plan: SamplingPlan) -> Tensor:
        """Segment.

        Parameters
        ----------
        z : (B, latent)
        level_feats : features of each set-abstraction level, (B, C_l, S_l), coarsest last
        point_feats : (B, point_features, N) input point features
        plan : the sampling plan used by the encoder

        Returns
        -------
        (B, n_labels, N) logits.
        """
        c = self.cond(z)
        skips = [point_feats, *level_feats[:-1]]
        x = level_feats[-1]
        for k, fp in enumerate(self.fp):
            lvl = len(level_feats) - 1 - k
            x = fp(x, plan.interp_idx[lvl], plan.interp_w[lvl], skips[lvl], c)
        return self.head(torch.cat([x, c.unsqueeze(-1).expand(-1, -1, x.shape[-1])], dim=1))
