"""Checkpoints and run descriptions of a training run: written atomically, read without unpickling.

A checkpoint (``best.pt``, ``last.pt``) holds tensors and plain metadata only (str, int, float, bool,
None, and lists / tuples / dicts of them). It is read with ``torch.load(..., weights_only=True)``,
whose restricted unpickler refuses anything else, so a crafted file cannot run code: it is reported
as a :class:`~mitwin.errors.CheckpointError`, as are truncated or otherwise corrupt files. Each
checkpoint also carries a SHA-256 digest of its content (key ``sha256``; torch's own reader does not
check the stored CRCs, so zeroed bytes inside a tensor would otherwise load silently), verified on
reading; checkpoints written before the digest existed load with a logged note.
``run.json`` is plain JSON; a corrupt one is named in the error.
"""

from __future__ import annotations

import hashlib
import json
import logging
import pickle
import warnings
import zipfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch

from .._atomic import atomic_path
from ..errors import CheckpointError

logger = logging.getLogger(__name__)

__all__ = ["DIGEST_KEY", "check_plain", "content_digest", "load_checkpoint", "read_run_info", "save_checkpoint"]

#: Key of the content digest in a checkpoint.
DIGEST_KEY = "sha256"

_PLAIN = (str, int, float, bool, type(None))
_LOAD_ERRORS = (pickle.UnpicklingError, zipfile.BadZipFile, RuntimeError, EOFError, ValueError, KeyError, TypeError,
                AttributeError, IndexError, ImportError, OSError, OverflowError, MemoryError, UnicodeDecodeError)


def check_plain(obj: Any, where: str = "checkpoint") -> None:
    """Raise ``TypeError`` unless ``obj`` is tensors and plain values (nested lists, tuples, dicts with str/int keys).

    Examples
    --------
    >>> check_plain({"model": {"w": torch.zeros(2)}, "epoch": 3, "log": [{"loss": 0.5}]})
    >>> check_plain({"f": len})
    Traceback (most recent call last):
    ...
    TypeError: checkpoint['f']: expected tensors and plain values, got builtin_function_or_method
    """
    if isinstance(obj, (torch.Tensor, *_PLAIN)):
        return
    if isinstance(obj, (list, tuple)):
        for k, v in enumerate(obj):
            check_plain(v, f"{where}[{k}]")
        return
    if isinstance(obj, Mapping):
        for k, v in obj.items():
            if not isinstance(k, (str, int)):
                raise TypeError(f"{where}: keys must be str or int, got {type(k).__name__}")
            check_plain(v, f"{where}[{k!r}]")
        return
    raise TypeError(f"{where}: expected tensors and plain values, got {type(obj).__name__}")


def content_digest(obj: Any) -> str:
    """SHA-256 over a checkpoint's content: key names, plain values and the raw bytes, dtype and shape of tensors."""
    h = hashlib.sha256()

    def walk(x: Any) -> None:
        if isinstance(x, torch.Tensor):
            t = x.detach().cpu().contiguous()
            h.update(f"T{t.dtype}{tuple(t.shape)}".encode())
            h.update(t.reshape(-1).view(torch.uint8).numpy().tobytes() if t.numel() else b"")
        elif isinstance(x, Mapping):
            h.update(b"{")
            for k in sorted(x, key=repr):
                h.update(repr(k).encode())
                walk(x[k])
            h.update(b"}")
        elif isinstance(x, (list, tuple)):
            h.update(b"[")
            for v in x:
                walk(v)
            h.update(b"]")
        else:
            h.update(repr(x).encode())

    walk(obj)
    return h.hexdigest()


def save_checkpoint(obj: Mapping[str, Any], path: str | Path) -> Path:
    """Check that ``obj`` is tensors and plain values, then ``torch.save`` it with its digest atomically to ``path``."""
    check_plain(obj)
    content = {k: v for k, v in obj.items() if k != DIGEST_KEY}
    path = Path(path)
    with atomic_path(path) as tmp:
        torch.save({**content, DIGEST_KEY: content_digest(content)}, tmp)
    return path


def load_checkpoint(path: str | Path, map_location: str | torch.device | None = "cpu",
                    required: tuple[str, ...] = ("model",)) -> dict[str, Any]:
    """Read a checkpoint written by :func:`save_checkpoint`, never unpickling arbitrary objects.

    Parameters
    ----------
    path : checkpoint file
    map_location : device the tensors are mapped to
    required : keys the checkpoint must hold

    Raises
    ------
    FileNotFoundError
        When ``path`` does not exist.
    CheckpointError
        When the file is corrupt, is not a mitwin checkpoint, or holds anything but tensors and plain values.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"checkpoint: no such file {str(path)!r}")
    try:
        with warnings.catch_warnings():  # torch warns about odd pickle protocols before refusing them
            warnings.simplefilter("ignore")
            ckpt = torch.load(path, map_location=map_location, weights_only=True)
    except _LOAD_ERRORS as exc:  # the restricted unpickler, zip and storage readers raise these
        reason = " ".join(str(exc).split())
        if "Weights only load failed" in reason or "Unsupported global" in reason:
            reason = "it holds objects other than tensors and plain values (refused, not unpickled)"
        raise CheckpointError(f"checkpoint {path}: not a readable mitwin checkpoint: {reason[:300]}") from None
    if not isinstance(ckpt, dict):
        raise CheckpointError(f"checkpoint {path}: expected a dict, got {type(ckpt).__name__}")
    digest = ckpt.pop(DIGEST_KEY, None)
    if digest is None:
        logger.info("checkpoint %s has no content digest (written by an older mitwin); not verified", path)
    elif digest != content_digest(ckpt):
        raise CheckpointError(f"checkpoint {path}: content does not match its SHA-256 digest (the file is damaged)")
    missing = [k for k in required if k not in ckpt]
    if missing:
        raise CheckpointError(f"checkpoint {path}: missing {missing}")
    if "model" in ckpt:
        state = ckpt["model"]
        if not isinstance(state, dict) or not all(isinstance(v, torch.Tensor) for v in state.values()):
            raise CheckpointError(f"checkpoint {path}: 'model' must map parameter names to tensors")
        for name, t in state.items():
            if t.is_floating_point() and not bool(torch.isfinite(t).all()):
                raise CheckpointError(f"checkpoint {path}: parameter {name!r} holds NaN or inf")
    return ckpt


def read_run_info(path: str | Path) -> dict[str, Any]:
    """``run.json`` of a run directory as a dict.

    Raises
    ------
    FileNotFoundError
        When the file does not exist.
    CheckpointError
        When it is not a JSON object of a mitwin run (naming the file).
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path.parent} is not a training run (no {path.name})")
    try:
        info = json.loads(path.read_text(encoding="utf-8"))
    except (ValueError, UnicodeDecodeError) as exc:
        raise CheckpointError(f"{path}: not valid JSON ({exc})") from None
    if not isinstance(info, dict):
        raise CheckpointError(f"{path}: expected a JSON object, got {type(info).__name__}")
    problems = []
    if not isinstance(info.get("preset"), dict):
        problems.append("'preset' (an object)")
    split = info.get("split")
    if not (isinstance(split, dict) and all(isinstance(split.get(k), list) and all(isinstance(s, str)
                                                                                   for s in split[k])
                                            for k in ("train", "val", "test"))):
        problems.append("'split' (train/val/test lists of subject ids)")
    scen = info.get("scenarios")
    if scen is not None and not (isinstance(scen, list) and all(isinstance(s, str) for s in scen)):
        problems.append("'scenarios' (a list of names)")
    seed = info.get("seed", 0)
    if isinstance(seed, bool) or not isinstance(seed, int):
        problems.append("'seed' (an integer)")
    if problems:
        raise CheckpointError(f"{path}: not a mitwin run description: expected {', '.join(problems)}")
    return info

