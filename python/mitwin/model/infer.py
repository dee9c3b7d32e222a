"""Inference for a new subject: anatomy (VTU) + 8-lead QRS (CSV) -> scar / BZ labels on its nodes.

The QRS CSV has a header row with one column per lead, ``I, II, V1, V2, V3, V4, V5, V6`` (any
order, case-insensitive), sampled at 1 kHz from the QRS onset (16 to 10000 samples). An optional time
column (``t``, ``t_ms``, ``time`` or ``time_ms``, in ms) is checked for a uniform 1 ms step. As in
training (:mod:`mitwin.data.torchdata`), the signals are divided by their maximum absolute value over
leads and time, then fitted to the model's input length (512 samples for the shipped presets): a
shorter QRS is zero-padded, a longer one cropped to its first samples, with a logged warning.
"""

from __future__ import annotations

import csv
import logging
import time
import zlib
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from scipy.spatial import cKDTree

from .._atomic import atomic_path
from ..anatomy.aha import SEGMENT_NAMES, aha_segments
from ..data.store import QRS_SAMPLES
from ..data.torchdata import fit_length, normalise_xyz, subsample_indices
from ..ep.ecg import ECG, LEADS
from ..ep.normalise import normalise

logger = logging.getLogger(__name__)

TIME_COLUMNS = ("t", "t_ms", "time", "time_ms")
LABEL_NAMES = ("healthy", "BZ", "scar")


#: The longest QRS accepted (samples at 1 kHz): longer inputs are not a QRS complex.
MAX_SAMPLES = 10_000
_F32_MAX = float(np.finfo(np.float32).max)


def _check_signals(signals: Any, name: str = "qrs") -> np.ndarray:
    arr = np.asarray(signals)
    if arr.dtype.kind not in "iuf":
        raise ValueError(f"{name} must hold real numbers (float or int), got dtype {arr.dtype}")
    signals = arr.astype(np.float64)
    if signals.ndim != 2 or signals.shape[0] != len(LEADS):
        raise ValueError(f"{name} must be (8, T) for leads {', '.join(LEADS)}, got shape {signals.shape}")
    t = signals.shape[1]
    if t > MAX_SAMPLES:
        raise ValueError(f"{name} must have at most {MAX_SAMPLES} samples ({MAX_SAMPLES} ms at 1 kHz), got {t}")
    if t < 16:
        raise ValueError(f"{name} must have at least 16 samples (16 ms at 1 kHz), got {t}")
    if not np.all(np.isfinite(signals)):
        raise ValueError(f"{name} holds NaN or infinite values")
    peak = float(np.abs(signals).max())
    if peak > _F32_MAX:
        raise ValueError(f"{name}: values must lie within the float32 range (|x| <= {_F32_MAX:.3g}), got {peak:.3g}")
    if peak == 0 or peak < 1e-30:
        raise ValueError(f"{name} is all zeros (largest |value| {peak:.3g})")
    return signals


def read_qrs_csv(path: str | Path) -> np.ndarray:
    """Read an 8-lead QRS CSV -> (8, T) float64 in the order of :data:`LEADS`.

    Raises
    ------
    ValueError for a wrong lead set, a wrong length, a sampling rate other than 1 kHz, or
    non-numeric values.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"QRS file {path} does not exist")
    with open(path, newline="", encoding="utf-8") as f:
        rows = list(csv.reader(f))
    if not rows:
        raise ValueError(f"{path} is empty")
    header = [h.strip() for h in rows[0]]
    lookup = {h.upper(): k for k, h in enumerate(header)}
    time_col = next((lookup[c.upper()] for c in TIME_COLUMNS if c.upper() in lookup), None)
    missing = [lead for lead in LEADS if lead.upper() not in lookup]
    known = {lead.upper() for lead in LEADS} | {c.upper() for c in TIME_COLUMNS}
    extra = [h for h in header if h.upper() not in known]
    if missing or extra:
        raise ValueError(f"{path}: the QRS columns must be the leads {', '.join(LEADS)} (plus an optional time "
                         f"column {'/'.join(TIME_COLUMNS)}); missing {missing}, unexpected {extra}")
    try:
        data = np.array([[float(v) for v in row] for row in rows[1:] if any(c.strip() for c in row)])
    except ValueError as exc:
        raise ValueError(f"{path}: non-numeric value in the QRS ({exc})") from None
    if data.ndim != 2 or data.shape[1] != len(header):
        raise ValueError(f"{path}: every row must have {len(header)} values")
    if time_col is not None:
        dt = np.diff(data[:, time_col])
        if dt.size and not np.allclose(dt, 1.0, rtol=0, atol=1e-6):
            rate = 1000.0 / float(np.median(dt)) if np.median(dt) > 0 else float("nan")
            raise ValueError(f"{path}: the QRS must be sampled at 1 kHz (1 ms steps); the time column gives "
                             f"steps of {np.median(dt):g} ms ({rate:g} Hz); resample it first")
    signals = np.stack([data[:, lookup[lead.upper()]] for lead in LEADS])
    return _check_signals(signals, str(path))


def prepare_qrs(qrs: np.ndarray | Mapping[str, np.ndarray] | str | Path | ECG, length: int = QRS_SAMPLES
                ) -> np.ndarray:
    """An 8-lead QRS (CSV path, (8, T) array, lead -> signal mapping or an :class:`~mitwin.ep.ecg.ECG` at 1 kHz,
    e.g. from :func:`mitwin.ep.extract.extract_qrs`) -> normalised (8, ``length``) float32.

    Normalised on the whole signal (mode ``"peak"`` of :func:`mitwin.ep.normalise.normalise`), then
    zero-padded or cropped to ``length`` samples (a crop is logged as a warning).
    """
    if isinstance(qrs, ECG):
        if qrs.dt != 1.0:
            raise ValueError(f"qrs: expected an ECG sampled every 1 ms (1 kHz), got dt = {qrs.dt:g} ms; resample it")
        qrs = {lead: qrs.lead(lead) for lead in LEADS if lead in qrs.leads}
    if isinstance(qrs, (str, Path)):
        signals = read_qrs_csv(qrs)
    elif isinstance(qrs, Mapping):
        missing = [lead for lead in LEADS if lead not in qrs]
        extra = [k for k in qrs if k not in LEADS]
        if missing or extra:
            raise ValueError(f"qrs must map the leads {', '.join(LEADS)}; missing {missing}, unexpected {extra}")
        leads = [np.asarray(qrs[lead]) for lead in LEADS]
        shapes = {a.shape for a in leads}
        if len(shapes) != 1 or any(a.ndim != 1 for a in leads):
            raise ValueError(f"qrs leads must be 1-D signals of the same length, got shapes {sorted(map(str, shapes))}")
        signals = _check_signals(np.stack(leads))
    else:
        signals = _check_signals(qrs)
    fit_length(signals[:, :1], length)  # validates length
    t = signals.shape[1]
    if t > length:
        logger.warning("qrs: %d samples, longer than the model's %d; only the first %d samples are used (cropped)",
                       t, length, length)
    return fit_length(normalise(signals, "peak"), length).astype(np.float32)


@torch.no_grad()
def predict_cloud(model, n_points: int, cloud: np.ndarray, qrs: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Labels and class probabilities on every point of a cloud.

    Parameters
    ----------
    model : a trained :class:`mitwin.model.dualvae.DualVAE` (eval mode)
    n_points : number of input points the model was trained with
    cloud : (P, 7) [x, y, z (mm), tm, ab, rt, tv]
    qrs : (8, 512) normalised QRS

    Returns
    -------
    labels (P,) int64 and probabilities (P, 3) float32; with ``P > n_points`` the model sees a fixed
    random subset and the other points take the prediction of their nearest subset point.
    """
    cloud = np.asarray(cloud, dtype=np.float32)
    if cloud.ndim != 2 or cloud.shape[1] != 7:
        raise ValueError(f"cloud must be (P, 7), got {cloud.shape}")
    if cloud.shape[0] < n_points:
        raise ValueError(f"cloud must have at least {n_points} points, got {cloud.shape[0]}")
    # as in training: subset first, then normalise the subset
    idx = subsample_indices(len(cloud), n_points, zlib.crc32(b"infer"))
    xyz, _, _ = normalise_xyz(cloud[idx, :3])
    feats = np.concatenate([xyz, cloud[idx, 3:]], axis=1).astype(np.float32)
    dev = next(model.parameters()).device
    model.eval()
    x = torch.from_numpy(feats).unsqueeze(0).to(dev)
    q = torch.from_numpy(np.asarray(qrs, dtype=np.float32)).unsqueeze(0).to(dev)
    prob = model(x, q).logits.softmax(1)[0].T.cpu().numpy()  # (n_points, 3)
    nearest = cKDTree(cloud[idx, :3]).query(cloud[:, :3])[1]
    prob = prob[nearest]
    return prob.argmax(1).astype(np.int64), prob.astype(np.float32)


def summarise_segments(labels: np.ndarray, segments: np.ndarray, min_share: float = 0.05) -> str:
    """Text listing the AHA segments holding scar and BZ (segments with >= ``min_share`` of a region)."""
    lines = []
    for lab in (2, 1):
        mask = labels == lab
        n = int(mask.sum())
        if n == 0:
            lines.append(f"{LABEL_NAMES[lab]}: none predicted")
            continue
        segs, counts = np.unique(segments[mask], return_counts=True)
        keep = [(int(s), int(c)) for s, c in zip(segs, counts) if c >= min_share * n and s > 0]
        keep.sort(key=lambda sc: -sc[1])
        parts = [f"{s} {SEGMENT_NAMES[s]} ({100 * c / n:.0f}%)" for s, c in keep]
        lines.append(f"{LABEL_NAMES[lab]}: {n} nodes; AHA segments " + (", ".join(parts) if parts else "none"))
    return "\n".join(lines)


def infer(run: str | Path, heart: str | Path, qrs: str | Path | np.ndarray | ECG, out: str | Path,
          device: str | None = None) -> str:
    """Predict scar and BZ for a subject and write them on its mesh.

    Parameters
    ----------
    run : run directory of :func:`mitwin.model.train.train` (its best checkpoint is used)
    heart : the subject's VTU (read with :meth:`mitwin.anatomy.heart.Heart.load`)
    qrs : 8-lead QRS CSV at 1 kHz (see the module docstring), an (8, T) array or an ECG at 1 kHz
        (e.g. :func:`mitwin.ep.extract.extract_qrs` of a patient's recording)
    out : output VTU: the mesh with point arrays ``infarct_label`` (0 healthy, 1 BZ, 2 scar),
        ``p_bz``, ``p_scar`` and ``aha``
    device : torch device (default CPU)

    Returns
    -------
    A short text summary: counts and the AHA segments involved.
    """
    import meshio

    from ..anatomy.heart import Heart
    from ..anatomy.pointcloud import point_cloud
    from .train import load_run

    heart, out = Path(heart), Path(out)
    if out.resolve() == heart.resolve():
        raise ValueError(f"out: must differ from heart ({str(heart)!r}); the input mesh would be overwritten")
    if out.suffix.lower() != ".vtu":
        raise ValueError(f"out: expected a .vtu file path, got {str(out)!r}")
    model, preset, _ = load_run(run, "best", device or "cpu")
    signals = prepare_qrs(qrs if not isinstance(qrs, str) else Path(qrs), preset.model.qrs_length)
    h = Heart.load(heart)
    pc = point_cloud(h, n=min(4096, h.n_nodes), seed=0)
    labels_pc, prob_pc = predict_cloud(model, preset.model.n_points, pc.features, signals)
    node_xyz = np.asarray(h.points, dtype=np.float64)
    nearest = cKDTree(np.asarray(pc.features[:, :3], dtype=np.float64)).query(node_xyz)[1]
    labels = labels_pc[nearest]
    prob = prob_pc[nearest]
    segs = np.asarray(h.aha) if getattr(h, "aha", None) is not None else aha_segments(h.ab, h.rt, h.tv)
    mesh = meshio.Mesh(node_xyz, [("tetra", np.asarray(h.tets, dtype=np.int64))],
                       point_data={"infarct_label": labels.astype(np.int32), "p_bz": prob[:, 1],
                                   "p_scar": prob[:, 2], "aha": segs.astype(np.int32)})
    with atomic_path(out, suffix=".vtu") as tmp:
        meshio.write(tmp, mesh, file_format="vtu")
    summary = f"{out}: {h.n_nodes} nodes\n" + summarise_segments(labels, segs)
    logger.info("%s", summary)
    return summary


@dataclass
class VAEPredictor:
    """A trained dual VAE ready to label one heart from any number of QRS (the benchmark's ``vae`` method).

    Build it with :meth:`from_run`; the heart's point cloud and its node -> cloud-point map are computed once.

    Attributes
    ----------
    model : DualVAE (eval mode)
    n_points, qrs_length : int, the preset's input sizes
    cloud : (P, 7) float32, the heart's point cloud (:func:`mitwin.anatomy.pointcloud.point_cloud`)
    nearest : (N,) int64, each node's nearest cloud point
    """

    model: Any
    n_points: int
    qrs_length: int
    cloud: np.ndarray
    nearest: np.ndarray

    @classmethod
    def from_run(cls, run: str | Path, heart: Any) -> VAEPredictor:
        """The best checkpoint of a run directory of :func:`mitwin.model.train.train`, on ``heart``."""
        from ..anatomy.pointcloud import point_cloud
        from .train import load_run

        model, preset, _ = load_run(run, "best", "cpu")
        pc = point_cloud(heart, n=min(4096, heart.n_nodes), seed=0)
        nearest = cKDTree(np.asarray(pc.features[:, :3], dtype=np.float64)).query(np.asarray(heart.points))[1]
        return cls(model, preset.model.n_points, preset.model.qrs_length, np.asarray(pc.features), nearest)

    def predict(self, observed: np.ndarray) -> dict[str, Any]:
        """Node labels of one raw (8, T) QRS at 1 kHz: ``labels`` (N,) int8, ``score`` (the mean scar
        probability over the nodes: the predicted scar share), ``seconds``."""
        t0 = time.perf_counter()
        signals = prepare_qrs(np.asarray(observed, dtype=float), self.qrs_length)
        labels_pc, prob_pc = predict_cloud(self.model, self.n_points, self.cloud, signals)
        labels = labels_pc[self.nearest].astype(np.int8)
        return {"labels": labels, "score": float(prob_pc[self.nearest, 2].mean()),
                "seconds": time.perf_counter() - t0}
