"""Atomic file writes: write to a temporary file beside the target, then ``os.replace`` it.

A reader never sees a half-written file, and an interrupted write leaves the old file (or none).
A write killed before it could clean up leaves a hidden temporary file ``.<name>.<random><suffix>``
beside the target; :func:`remove_leftovers` removes those of a target (resumable writers call it
before writing again), and :func:`atomic_path` removes them on each new write of the same target.
"""

from __future__ import annotations

import contextlib
import io
import logging
import os
import re
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike, suffix: str | None = None) -> Iterator[Path]:
    """Yield a temporary path in the target's folder; move it onto ``path`` when the block succeeds.

    Temporary files that killed earlier writes of ``path`` left behind are removed first.

    The temporary file keeps the target's suffix (or ``suffix``) so that writers that look at it
    (meshio, matplotlib) pick the right format.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> target = pathlib.Path(tempfile.mkdtemp()) / "x.txt"
    >>> with atomic_path(target) as tmp:
    ...     _ = tmp.write_text("done")
    >>> target.read_text()
    'done'
    """
    path = Path(path)
    _make_parent(path)
    remove_leftovers(path)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.",
                               suffix=suffix if suffix is not None else path.suffix)
    os.close(fd)
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(tmp, 0o666 & ~umask)  # mkstemp creates 0600; give the file the usual permissions
    tmp_path = Path(tmp)
    try:
        yield tmp_path
        os.replace(tmp_path, path)
    finally:
        if tmp_path.exists():
            tmp_path.unlink()


def _make_parent(path: Path) -> None:
    """Create the folder of ``path``; a clear ``ValueError`` when the path runs through a file."""
    for parent in path.parents:
        if parent.exists():
            if not parent.is_dir():
                raise ValueError(f"{path}: cannot write here, {str(parent)!r} is a file, not a folder")
            break
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.is_dir():
        raise ValueError(f"{path}: is a folder, expected a file path")


def _temp_pattern(name: str) -> re.Pattern[str]:
    # mkstemp's names: the prefix, 8 characters from [a-z0-9_], then the suffix
    return re.compile(re.escape(f".{name}.") + r"[a-z0-9_]{8}" + r"(\.[A-Za-z0-9]+)?$")


def remove_leftovers(path: str | os.PathLike) -> list[Path]:
    """Remove the temporary files that killed atomic writes of ``path`` left beside it; returns them.

    Only files named as :func:`atomic_path` names its temporaries for this target are touched.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> d = pathlib.Path(tempfile.mkdtemp())
    >>> _ = (d / ".x.h5.abcd1234.tmp").write_text("half")
    >>> [p.name for p in remove_leftovers(d / "x.h5")]
    ['.x.h5.abcd1234.tmp']
    """
    path = Path(path)
    if not path.parent.is_dir():
        return []
    pattern = _temp_pattern(path.name)
    removed = []
    for p in path.parent.iterdir():
        if pattern.match(p.name) and p.is_file():
            p.unlink(missing_ok=True)
            removed.append(p)
    if removed:
        log.info("removed %d temporary file(s) of an interrupted write of %s", len(removed), path)
    return removed


def write_figure_atomic(fig: Any, path: str | os.PathLike, **savefig_kwargs: Any) -> Path:
    """Render a matplotlib figure to memory, then write it to ``path`` atomically.

    The figure is rendered before any file exists, so the temporary file lives only for the
    time of one write; leftovers of earlier killed writes of ``path`` are removed first.
    ``savefig_kwargs`` go to ``fig.savefig`` (the format defaults to the path's suffix).
    """
    path = Path(path)
    savefig_kwargs.setdefault("format", path.suffix.lstrip(".") or "png")
    buf = io.BytesIO()
    fig.savefig(buf, **savefig_kwargs)
    remove_leftovers(path)
    return write_bytes_atomic(path, buf.getvalue())


def write_bytes_atomic(path: str | os.PathLike, data: bytes) -> Path:
    """Write ``data`` to ``path`` atomically; returns the path."""
    with atomic_path(path) as tmp:
        tmp.write_bytes(data)
    return Path(path)


def write_text_atomic(path: str | os.PathLike, text: str) -> Path:
    """Write ``text`` (UTF-8) to ``path`` atomically; returns the path."""
    return write_bytes_atomic(path, text.encode("utf-8"))
