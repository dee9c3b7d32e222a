"""An amortised infarct network that decodes in Cobiveco coordinates.

Input: the observed 8-lead QRS and, as the anatomy's reference, the healthy QRS simulated on the same heart
(one simulation); each lead divided by its own peak, on a window of :data:`WINDOW_MS` ms at 1 kHz averaged
over :data:`POOL` samples (:func:`qrs_input`), plus per-QRS scalars (log duration, each lead's peak relative
to the largest); with ``NetConfig.difference`` also their difference (observed - reference), so that "the
QRS is the healthy one" is a zero input. A 1-D CNN maps them to

* the logit of p(infarct) (the "no infarct" answer), and
* the five ellipsoid parameters of :class:`mitwin.inverse.prior.EllipsoidPrior` (ab0; rt0 as cos / sin, since
  it is periodic; r_tm, r_ab, r_rt), each squashed into the prior's box.

Decoding is Eq. (1) on any heart's nodes (:meth:`EllipsoidPrior.labels`): the network never sees a mesh, so
it works on any resolution. :func:`soft_scar` is the same ellipsoid as a differentiable mask, used by the
training loss (:mod:`mitwin.model.cobiveco_train`).
"""

from __future__ import annotations

import json
import logging
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor, nn

from ..inverse.prior import DEFAULT_PRIOR, EllipsoidPrior
from ..inverse.simulator import shape_features
from .checkpoints import load_checkpoint

logger = logging.getLogger(__name__)

__all__ = ["NET_FILE", "POOL", "WINDOW_MS", "CobivecoNet", "NetConfig", "NetPredictor", "decode_output",
           "net_input", "qrs_input", "soft_scar"]

#: Window of the QRS input, ms (samples at 1 kHz); longer QRS are cut, shorter zero-padded.
WINDOW_MS = 400
#: Samples averaged into one input step.
POOL = 2
#: Files of a run directory.
NET_FILE = "net.json"
CHECKPOINT = "net.pt"
#: Scalars per QRS: log(duration / 100 ms) and the 8 relative lead peaks.
N_SCALARS = 9


def qrs_input(signals: np.ndarray, lengths: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Network input of K raw QRS.

    Parameters
    ----------
    signals : (K, 8, T) float
        Raw QRS at 1 kHz, zero beyond each row's length.
    lengths : (K,) int
        Valid samples of each row.

    Returns
    -------
    x : (K, 8, WINDOW_MS // POOL) float32, each lead divided by its peak
    s : (K, 9) float32, log(length / 100) and each lead's peak over the largest

    Examples
    --------
    >>> x, s = qrs_input(np.ones((2, 8, 50)), np.array([50, 20]))
    >>> x.shape, s.shape, float(x[1, 0, 9]), float(x[1, 0, 10])
    ((2, 8, 200), (2, 9), 1.0, 0.0)
    """
    sig = np.asarray(signals, dtype=float)
    lengths = np.asarray(lengths)
    if sig.ndim != 3 or sig.shape[1] != 8 or lengths.shape != (sig.shape[0],):
        raise ValueError(f"signals, lengths: expected (K, 8, T) and (K,), got {sig.shape} and {lengths.shape}")
    if np.any(lengths < 1):
        raise ValueError("lengths: expected every QRS to have at least one sample")
    m = min(sig.shape[-1], WINDOW_MS)
    valid = np.arange(m)[None, :] < lengths[:, None]
    peaks = np.max(np.abs(sig[:, :, :m] * valid[:, None, :]), axis=-1)
    x = shape_features(sig, lengths, WINDOW_MS)
    x = x.reshape(x.shape[0], 8, WINDOW_MS // POOL, POOL).mean(-1)
    top = np.max(peaks, axis=1, keepdims=True)
    s = np.concatenate([np.log(lengths / 100.0)[:, None], peaks / np.where(top > 0, top, 1.0)], axis=1)
    return x.astype(np.float32), s.astype(np.float32)


def net_input(observed: tuple[np.ndarray, np.ndarray], reference: tuple[np.ndarray, np.ndarray], *,
              difference: bool = False) -> tuple[np.ndarray, np.ndarray]:
    """(K, 16, L) and (K, 18) inputs: :func:`qrs_input` of the observed and of the healthy reference QRS,
    each given as (signals (K, 8, T), lengths (K,)); with ``difference`` (K, 24, L), the last 8 channels
    observed - reference."""
    xo, so = qrs_input(*observed)
    xr, sr = qrs_input(*reference)
    if xo.shape[0] != xr.shape[0]:
        raise ValueError(f"observed, reference: expected the same K, got {xo.shape[0]} and {xr.shape[0]}")
    x = [xo, xr, xo - xr] if difference else [xo, xr]
    return np.concatenate(x, axis=1), np.concatenate([so, sr], axis=1)


@dataclass(frozen=True)
class NetConfig:
    """Sizes of :class:`CobivecoNet`."""

    channels: tuple[int, ...] = (32, 64, 64, 64)
    kernel: int = 7
    hidden: int = 256
    dropout: float = 0.1
    difference: bool = True

    @property
    def in_channels(self) -> int:
        """Input channels: observed and reference (16), and their difference (24)."""
        return 24 if self.difference else 16

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> NetConfig:
        d = dict(d)
        d["channels"] = tuple(int(c) for c in d["channels"])
        d.setdefault("difference", False)  # runs written before the difference input
        return cls(**d)


class CobivecoNet(nn.Module):
    """1-D CNN: (observed, reference) QRS -> infarct logit and ellipsoid parameters.

    Parameters
    ----------
    config : NetConfig

    Shapes: ``forward(x (B, C, WINDOW_MS // POOL), s (B, 18)) -> (B, 7)`` with C = ``config.in_channels``:
    logit of p(infarct), ab0 in unit units, cos(2 pi rt0), sin(2 pi rt0), r_tm, r_ab, r_rt in unit units
    (:meth:`EllipsoidPrior.unit`).
    """

    def __init__(self, *, config: NetConfig = NetConfig()) -> None:
        super().__init__()
        self.config = config
        layers: list[nn.Module] = []
        c_in = config.in_channels
        for c in config.channels:
            layers += [nn.Conv1d(c_in, c, config.kernel, padding=config.kernel // 2), nn.BatchNorm1d(c), nn.ReLU(),
                       nn.MaxPool1d(2)]
            c_in = c
        self.conv = nn.Sequential(*layers)
        n_flat = c_in * ((WINDOW_MS // POOL) // 2 ** len(config.channels))
        self.head = nn.Sequential(nn.Linear(n_flat + 2 * N_SCALARS, config.hidden), nn.ReLU(),
                                  nn.Dropout(config.dropout), nn.Linear(config.hidden, config.hidden), nn.ReLU(),
                                  nn.Linear(config.hidden, 7))

    def forward(self, x: Tensor, s: Tensor) -> Tensor:
        """(B, C, L), (B, 18) -> (B, 7) (class docstring)."""
        h = self.conv(x).flatten(1)
        out = self.head(torch.cat([h, s], dim=1))
        unit = torch.sigmoid(out[:, [1, 4, 5, 6]])
        cs = out[:, 2:4] / out[:, 2:4].norm(dim=1, keepdim=True).clamp_min(1e-6)
        return torch.cat([out[:, :1], unit[:, :1], cs, unit[:, 1:]], dim=1)


def decode_output(out: Tensor, prior: EllipsoidPrior = DEFAULT_PRIOR) -> tuple[Tensor, Tensor]:
    """p(infarct) (B,) and parameters (B, 5) (ab0, rt0, r_tm, r_ab, r_rt) in Cobiveco units of network outputs
    (B, 7); differentiable."""
    lo = torch.as_tensor(prior.low, dtype=out.dtype, device=out.device)
    hi = torch.as_tensor(prior.high, dtype=out.dtype, device=out.device)
    rt0 = torch.remainder(torch.atan2(out[:, 3], out[:, 2]) / (2 * np.pi), 1.0)
    u = torch.stack([out[:, 1], out[:, 4], out[:, 5], out[:, 6]], dim=1)
    p = lo[[0, 2, 3, 4]] + u * (hi - lo)[[0, 2, 3, 4]]
    params = torch.stack([p[:, 0], rt0, p[:, 1], p[:, 2], p[:, 3]], dim=1)
    return torch.sigmoid(out[:, 0]), params


def soft_scar(params: Tensor, coords: Tensor, lv: Tensor, sharpness: float = 8.0) -> Tensor:
    """A differentiable scar mask of Eq. (1): ``sigmoid(sharpness * (1 - level))`` inside the LV region.

    Parameters
    ----------
    params : (B, 5) ab0, rt0, r_tm, r_ab, r_rt
    coords : (B, M, 3) tm, ab, rt of M nodes per sample
    lv : (B, M) bool or float, the LV region (the only place Eq. 1 labels)
    sharpness : float

    Returns
    -------
    (B, M) in (0, 1); above 0.5 exactly where :meth:`EllipsoidPrior.labels` gives scar.
    """
    tm, ab, rt = coords.unbind(-1)
    drt = torch.remainder(rt - params[:, 1:2] + 0.5, 1.0) - 0.5
    level = ((tm - 1.0) / params[:, 2:3]) ** 2 + ((ab - params[:, 0:1]) / params[:, 3:4]) ** 2 \
        + (drt / params[:, 4:5]) ** 2
    return torch.sigmoid(sharpness * (1.0 - level)) * lv.to(params.dtype)


@dataclass
class NetPredictor:
    """A trained :class:`CobivecoNet` ready for inference on any heart (load with :meth:`from_run`).

    Attributes
    ----------
    model : CobivecoNet (eval mode)
    info : dict, the run's ``net.json``
    threshold : float, p(infarct) above which an infarct is reported: the run's own, chosen on its
        validation subjects (``net.json`` ``"threshold"``), else 0.5
    """

    model: CobivecoNet
    info: dict[str, Any]
    threshold: float = 0.5

    @classmethod
    def from_run(cls, run: str | Path) -> NetPredictor:
        """The best checkpoint of a run directory of :func:`mitwin.model.cobiveco_train.train_net`."""
        run = Path(run)
        path = run / NET_FILE
        if not path.is_file():
            raise FileNotFoundError(f"run: {run} is not a Cobiveco-net run (no {NET_FILE})")
        info = json.loads(path.read_text(encoding="utf-8"))
        ckpt = load_checkpoint(run / CHECKPOINT, required=("model", "config"))
        model = CobivecoNet(config=NetConfig.from_dict(ckpt["config"]))
        model.load_state_dict(ckpt["model"])
        model.eval()
        return cls(model, info, float(info.get("threshold", 0.5)))

    @torch.no_grad()
    def predict(self, observed: np.ndarray, reference: np.ndarray, coords: tuple[np.ndarray, ...],
                prior: EllipsoidPrior = DEFAULT_PRIOR) -> dict[str, Any]:
        """Labels of one observed QRS on a heart.

        Parameters
        ----------
        observed : (8, T) raw QRS at 1 kHz
        reference : (8, T0) the healthy QRS simulated on the same heart
        coords : (tm, ab, rt, tv) of the heart's nodes, each (N,)

        Returns
        -------
        dict: ``labels`` (N,) int8 (all 0 when p(infarct) < threshold), ``p_infarct``, ``params`` (5,),
        ``seconds`` (network and decoding).
        """
        t0 = time.perf_counter()
        obs, ref = np.asarray(observed, dtype=float), np.asarray(reference, dtype=float)
        for name, a in (("observed", obs), ("reference", ref)):
            if a.ndim != 2 or a.shape[0] != 8 or a.shape[1] < 2 or not np.all(np.isfinite(a)):
                raise ValueError(f"{name}: expected a finite (8, T) QRS, got shape {a.shape}")
        x, s = net_input((obs[None], np.array([obs.shape[1]])), (ref[None], np.array([ref.shape[1]])),
                         difference=self.model.config.difference)
        p, params = decode_output(self.model(torch.from_numpy(x), torch.from_numpy(s)), prior)
        p_inf, par = float(p[0]), params[0].numpy().astype(float)
        n = np.asarray(coords[0]).shape[0]
        labels = prior.labels(par, *coords)[0] if p_inf >= self.threshold else np.zeros(n, dtype=np.int8)
        return {"labels": labels, "p_infarct": p_inf, "params": par, "seconds": time.perf_counter() - t0}
