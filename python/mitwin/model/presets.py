"""Model sizes and training settings: the ``paper``, ``cpu`` and ``tiny`` presets.

``paper`` follows the paper (Sec. IV-A.3): Adam, lr 1e-4, weight decay 1e-3, batch 4, lr x 0.5 every
6800 iterations, 300 epochs, alpha = 5, lambda_KL = 0.01, lambda_compact = lambda_size = lambda_spa =
lambda_VAE = 1, n_coarse = 1024, n_dense = 4096, 8 leads x 512 samples. The paper does not give the
layer widths; the set-abstraction levels are PointNet++'s single-scale segmentation network (Qi et al.
2017: 1024/256/64 centroids, radii 0.1/0.2/0.4, 32 neighbours) and the latent sizes are ours.

``cpu`` is sized for a 2-core machine: 1024 input points, two abstraction levels, narrower layers,
128/512 reconstructed points, soft-DTW on the QRS average-pooled by 8 (64 samples), 40 epochs with
a 28-minute wall-clock budget (training stops cleanly after the epoch that exceeds it) and one torch
thread (on a shared 2-core machine two threads made the small layers and the sequential soft-DTW
sweep several times slower). Its lr is 1e-3, ten times the paper's, because the budget allows
about a tenth of the paper's iterations; 3e-3 did not learn faster in a short comparison.
``tiny`` is for tests only.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields, replace
from typing import Any

from .pointnet2 import LevelSpec


@dataclass(frozen=True)
class ModelConfig:
    """Network sizes (keyword arguments of :class:`mitwin.model.dualvae.DualVAE`)."""

    n_points: int = 4096
    levels: tuple[LevelSpec, ...] = (LevelSpec(1024, 0.1, 32), LevelSpec(256, 0.2, 32), LevelSpec(64, 0.4, 32))
    sa_mlps: tuple[tuple[int, ...], ...] = ((64, 64, 128), (128, 128, 256), (256, 256, 512))
    global_mlp: tuple[int, ...] = (512, 1024)
    fp_mlps: tuple[tuple[int, ...], ...] = ((256, 256), (256, 128), (128, 128, 128))
    latent_pc: int = 64
    latent_qrs: int = 64
    n_leads: int = 8
    qrs_length: int = 512
    qrs_channels: tuple[int, ...] = (32, 64, 128)
    lstm_hidden: int = 128
    n_coarse: int = 1024
    n_dense: int = 4096
    n_surface_classes: int = 3
    n_labels: int = 3
    use_pc_branch: bool = True
    inference_from_mean: bool = True

    def to_dict(self) -> dict[str, Any]:
        """JSON-able dict."""
        d = asdict(self)
        d["levels"] = [list(asdict(lv).values()) for lv in self.levels]
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> ModelConfig:
        """Inverse of :meth:`to_dict`."""
        d = dict(d)
        d["levels"] = tuple(LevelSpec(int(a), float(b), int(c)) for a, b, c in d["levels"])
        for k in ("sa_mlps", "fp_mlps"):
            d[k] = tuple(tuple(int(x) for x in m) for m in d[k])
        for k in ("global_mlp", "qrs_channels"):
            d[k] = tuple(int(x) for x in d[k])
        return cls(**d)


@dataclass(frozen=True)
class LossConfig:
    """Loss weights (paper Eq. 4-11) and ablation switches (a weight of 0 switches a term off)."""

    alpha: float = 5.0
    lambda_pc: float = 1.0
    lambda_qrs: float = 1.0
    lambda_kl: float = 0.01
    lambda_vae: float = 1.0
    lambda_dice: float = 1.0
    lambda_compact: float = 1.0
    lambda_size: float = 1.0
    lambda_spa: float = 1.0
    dtw_gamma: float = 0.1
    dtw_downsample: int = 1
    use_mse: bool = True
    use_dtw: bool = True
    use_ce: bool = True
    use_dice: bool = True


@dataclass(frozen=True)
class TrainConfig:
    """Optimisation settings."""

    epochs: int = 300
    batch_size: int = 4
    lr: float = 1e-4
    weight_decay: float = 1e-3
    lr_step: int = 6800
    lr_gamma: float = 0.5
    time_budget_s: float | None = None
    n_target_coarse: int | None = None
    n_target_dense: int | None = None
    prefer_cuda: bool = True
    cpu_threads: int | None = None
    healthy_share: float = 0.0


@dataclass(frozen=True)
class Preset:
    """A named combination of model, loss and training settings."""

    name: str
    model: ModelConfig = field(default_factory=ModelConfig)
    loss: LossConfig = field(default_factory=LossConfig)
    train: TrainConfig = field(default_factory=TrainConfig)

    def to_dict(self) -> dict[str, Any]:
        """JSON-able dict."""
        return {"name": self.name, "model": self.model.to_dict(), "loss": asdict(self.loss),
                "train": asdict(self.train)}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Preset:
        """Inverse of :meth:`to_dict`."""
        return cls(name=d["name"], model=ModelConfig.from_dict(d["model"]), loss=LossConfig(**d["loss"]),
                   train=TrainConfig(**d["train"]))

    def with_overrides(self, **kw: Any) -> Preset:
        """A copy with fields of ``model``, ``loss`` or ``train`` replaced (names are unique across them)."""
        parts: dict[str, dict[str, Any]] = {"model": {}, "loss": {}, "train": {}}
        for key, value in kw.items():
            for part in parts:
                if key in {f.name for f in fields(getattr(self, part))}:
                    parts[part][key] = value
                    break
            else:
                raise ValueError(f"unknown preset field {key!r}")
        return Preset(self.name, replace(self.model, **parts["model"]), replace(self.loss, **parts["loss"]),
                      replace(self.train, **parts["train"]))


PAPER = Preset("paper")

CPU = Preset(
    "cpu",
    model=ModelConfig(
        n_points=1024,
        levels=(LevelSpec(256, 0.15, 16), LevelSpec(64, 0.3, 16)),
        sa_mlps=((32, 32, 64), (64, 64, 128)),
        global_mlp=(128, 256),
        fp_mlps=((128, 128), (128, 64)),
        latent_pc=32, latent_qrs=32,
        qrs_channels=(16, 32, 64), lstm_hidden=64,
        n_coarse=128, n_dense=512,
    ),
    loss=LossConfig(dtw_downsample=8),
    train=TrainConfig(epochs=40, lr=1e-3, lr_step=6800, time_budget_s=28 * 60.0,
                      n_target_coarse=128, n_target_dense=512, prefer_cuda=False, cpu_threads=1),
)

TINY = Preset(
    "tiny",
    model=ModelConfig(
        n_points=256,
        levels=(LevelSpec(64, 0.25, 8), LevelSpec(16, 0.5, 8)),
        sa_mlps=((16, 16), (16, 32)),
        global_mlp=(32, 32),
        fp_mlps=((32,), (32, 16)),
        latent_pc=8, latent_qrs=8,
        qrs_channels=(8, 8, 16), lstm_hidden=16,
        n_coarse=64, n_dense=256,
    ),
    loss=LossConfig(dtw_downsample=8),
    train=TrainConfig(epochs=3, lr=3e-3, n_target_coarse=64, n_target_dense=256, prefer_cuda=False, cpu_threads=1),
)

PRESETS: dict[str, Preset] = {p.name: p for p in (PAPER, CPU, TINY)}


def get_preset(preset: str | Preset) -> Preset:
    """The preset named ``preset`` (``"paper"``, ``"cpu"``, ``"tiny"``), or ``preset`` itself."""
    if isinstance(preset, Preset):
        return preset
    if preset not in PRESETS:
        raise ValueError(f"preset must be one of {sorted(PRESETS)}, got {preset!r}")
    return PRESETS[preset]
