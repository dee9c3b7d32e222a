"""The dual-branch VAE + inference model (paper Fig. 5-6)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch
from torch import Tensor, nn

from .decoders import DecoderInf, DecoderPC
from .pointnet2 import GlobalAbstraction, LevelSpec, SamplingPlan, SetAbstraction, sampling_plan
from .presets import ModelConfig
from .qrs import DecoderQRS, EncoderQRS


class EncoderPC(nn.Module):
    """PointNet++ set-abstraction encoder over the point cloud -> (mu, logvar) and per-level features.

    Parameters
    ----------
    point_features : int
        Features per input point (7: normalised xyz, tm, ab, rt, tv); all are used as point features,
        the first 3 also as coordinates.
    sa_mlps : MLP channels of each set-abstraction level
    global_mlp : MLP channels of the final group-all level
    latent : int
    """

    def __init__(self, *, point_features: int = 7, sa_mlps: Sequence[Sequence[int]],
                 global_mlp: Sequence[int], latent: int) -> None:
        super().__init__()
        layers = []
        cin = point_features
        for mlp in sa_mlps:
            layers.append(SetAbstraction(in_channels=cin, mlp=mlp))
            cin = mlp[-1]
        self.sa = nn.ModuleList(layers)
        self.glob = GlobalAbstraction(in_channels=cin, mlp=global_mlp)
        self.head = nn.Linear(global_mlp[-1], 2 * latent)
        self.level_channels = [int(m[-1]) for m in sa_mlps]

    def forward(self, cloud: Tensor, plan: SamplingPlan) -> tuple[Tensor, Tensor, list[Tensor]]:
        """cloud (B, N, F) -> mu (B, latent), logvar (B, latent), level features [(B, C_l, S_l)]."""
        xyz = cloud[..., :3]
        feats = cloud.transpose(1, 2)
        level_feats = []
        for k, sa in enumerate(self.sa):
            xyz, feats = sa(xyz, feats, plan.fps[k], plan.group[k])
            level_feats.append(feats)
        mu, logvar = self.head(self.glob(xyz, feats)).chunk(2, dim=-1)
        return mu, logvar, level_feats


@dataclass
class ModelOutput:
    """What :class:`DualVAE` returns.

    Attributes
    ----------
    logits : (B, n_labels, N) per-point class scores (healthy, BZ, scar)
    qrs : (B, n_leads, length) reconstructed QRS
    coarse, dense : (B, n_coarse, 3), (B, n_dense, 3) reconstructed clouds, or None without the PC branch
    mu, logvar : (B, latent) posterior of the concatenated latent
    """

    logits: Tensor
    qrs: Tensor
    coarse: Tensor | None
    dense: Tensor | None
    mu: Tensor
    logvar: Tensor


class DualVAE(nn.Module):
    """Dual-branch VAE (point cloud + QRS) with a PointNet++ inference decoder.

    Keyword arguments are the fields of :class:`mitwin.model.presets.ModelConfig` (its defaults
    are the paper-sized network). With ``use_pc_branch=False`` the point-cloud latent and decoder
    are dropped (paper Sec. IV-E): the latent is the QRS one only; the inference decoder still
    propagates the point-cloud encoder's level features. With ``inference_from_mean`` (default) the
    inference decoder reads the posterior mean and the reconstruction decoders a sample: with the
    small KL weight and the small reconstruction errors of normalised signals, a sampled latent
    collapsed towards the prior in our runs and left the segmentation without information.

    Examples
    --------
    >>> from mitwin.model.presets import TINY
    >>> m = DualVAE(**TINY.model.__dict__)
    >>> out = m(torch.rand(2, 256, 7), torch.rand(2, 8, 512))
    >>> tuple(out.logits.shape)
    (2, 3, 256)
    """

    def __init__(self, *, n_points: int = 4096,
                 levels: Sequence[LevelSpec] = ModelConfig.levels,
                 sa_mlps: Sequence[Sequence[int]] = ModelConfig.sa_mlps,
                 global_mlp: Sequence[int] = ModelConfig.global_mlp,
                 fp_mlps: Sequence[Sequence[int]] = ModelConfig.fp_mlps,
                 latent_pc: int = 64, latent_qrs: int = 64, n_leads: int = 8, qrs_length: int = 512,
                 qrs_channels: Sequence[int] = (32, 64, 128), lstm_hidden: int = 128,
                 n_coarse: int = 1024, n_dense: int = 4096, n_surface_classes: int = 3, n_labels: int = 3,
                 use_pc_branch: bool = True, inference_from_mean: bool = True, point_features: int = 7) -> None:
        super().__init__()
        if len(levels) != len(sa_mlps):
            raise ValueError(f"levels and sa_mlps must have the same length, got {len(levels)} and {len(sa_mlps)}")
        self.levels = tuple(levels)
        self.n_points = n_points
        self.use_pc_branch = use_pc_branch
        self.inference_from_mean = inference_from_mean
        self.encoder_pc = EncoderPC(point_features=point_features, sa_mlps=sa_mlps, global_mlp=global_mlp,
                                    latent=latent_pc)
        self.encoder_qrs = EncoderQRS(n_leads=n_leads, length=qrs_length, channels=qrs_channels,
                                      lstm_hidden=lstm_hidden, latent=latent_qrs)
        latent = latent_qrs + (latent_pc if use_pc_branch else 0)
        self.latent = latent
        self.decoder_pc = (DecoderPC(latent=latent, n_coarse=n_coarse, n_dense=n_dense,
                                     n_classes=n_surface_classes, hidden=max(global_mlp[-1], 64))
                           if use_pc_branch else None)
        self.decoder_qrs = DecoderQRS(latent=latent, n_leads=n_leads, length=qrs_length, channels=qrs_channels)
        self.decoder_inf = DecoderInf(latent=latent, level_channels=self.encoder_pc.level_channels,
                                      point_features=point_features, fp_mlps=fp_mlps, n_labels=n_labels,
                                      cond=max(16, min(128, latent)))

    def plan(self, cloud: Tensor) -> SamplingPlan:
        """Sampling plan of clouds (B, N, F) (normally precomputed per subject by the Dataset)."""
        return sampling_plan(cloud[..., :3], self.levels)

    def forward(self, cloud: Tensor, qrs: Tensor, plan: SamplingPlan | None = None) -> ModelOutput:
        """Encode, sample the latent (its mean in eval mode) and decode.

        Parameters
        ----------
        cloud : (B, N, 7) normalised point cloud
        qrs : (B, 8, 512) normalised QRS
        plan : precomputed sampling plan of ``cloud`` (computed here when None)
        """
        if plan is None:
            plan = self.plan(cloud)
        mu_pc, logvar_pc, level_feats = self.encoder_pc(cloud, plan)
        mu_q, logvar_q = self.encoder_qrs(qrs)
        if self.use_pc_branch:
            mu, logvar = torch.cat([mu_pc, mu_q], dim=-1), torch.cat([logvar_pc, logvar_q], dim=-1)
        else:
            mu, logvar = mu_q, logvar_q
        if self.training:
            z = mu + torch.randn_like(mu) * torch.exp(0.5 * logvar)
        else:
            z = mu
        coarse = dense = None
        if self.decoder_pc is not None:
            coarse, dense = self.decoder_pc(z)
        qrs_hat = self.decoder_qrs(z)
        logits = self.decoder_inf(mu if self.inference_from_mean else z, level_feats, cloud.transpose(1, 2), plan)
        return ModelOutput(logits=logits, qrs=qrs_hat, coarse=coarse, dense=dense, mu=mu, logvar=logvar)


def build_model(config: ModelConfig) -> DualVAE:
    """A :class:`DualVAE` with the sizes of ``config``."""
    return DualVAE(**{k: getattr(config, k) for k in config.__dataclass_fields__})
