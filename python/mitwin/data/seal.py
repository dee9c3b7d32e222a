"""A whole-file SHA-256 seal for dataset files, kept in the HDF5 user block and checked before HDF5 reads the file.

HDF5's own checksums (Fletcher-32 on the data chunks, checksummed metadata of the 1.10 format)
catch most damage, but a damaged attribute or object header can make the HDF5 library loop for
ever while it parses the file. The seal closes that hole: a dataset file starts with a user block
of :data:`USERBLOCK` bytes (ignored by HDF5) holding ``MAGIC`` and the hex SHA-256 of every byte
after the block; :func:`check_seal` hashes the file and compares before any HDF5 call. A file edited
on purpose (e.g. with h5py) must be sealed again with :func:`seal`.
"""

from __future__ import annotations

import hashlib
import logging
import os
from pathlib import Path

from ..errors import DatasetError

log = logging.getLogger(__name__)

__all__ = ["MAGIC", "USERBLOCK", "check_seal", "seal"]

#: Size of the HDF5 user block that holds the seal (HDF5 requires a power of two >= 512).
USERBLOCK = 512
#: First bytes of a sealed file.
MAGIC = b"MITWIN-SHA256:"
_HEX = 64
_VERIFIED: dict[str, tuple[int, int, int]] = {}


def _digest(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        f.seek(USERBLOCK)
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def _stamp(path: Path) -> tuple[int, int, int]:
    st = path.stat()
    return st.st_size, st.st_mtime_ns, st.st_ino


def seal(path: str | os.PathLike) -> Path:
    """Write the SHA-256 of the file (after its user block) into its user block; returns the path.

    The file must have been created with a user block of :data:`USERBLOCK` bytes.
    """
    path = Path(path)
    with open(path, "r+b") as f:
        head = f.read(USERBLOCK)
        if len(head) < USERBLOCK or (any(head) and not head.startswith(MAGIC)):
            raise DatasetError(f"{path}: has no free {USERBLOCK}-byte user block to hold a seal")
        block = MAGIC + _digest(path).encode()
        f.seek(0)
        f.write(block + bytes(USERBLOCK - len(block)))
    _VERIFIED.pop(str(path.resolve()), None)
    return path


def check_seal(path: str | os.PathLike) -> bool:
    """Verify the seal of a file; False when the file carries none (files written before seals existed).

    Verified files are remembered by size, modification time and inode, so reopening does not hash again.

    Raises
    ------
    DatasetError
        When the file is sealed and its content does not match the seal (the file is damaged).
    """
    path = Path(path)
    key = str(path.resolve())
    stamp = _stamp(path)
    if _VERIFIED.get(key) == stamp:
        return True
    with open(path, "rb") as f:
        head = f.read(len(MAGIC) + _HEX)
    if not head.startswith(MAGIC):
        return False
    expected = head[len(MAGIC):].decode("ascii", errors="replace")
    if _digest(path) != expected:
        raise DatasetError(f"{path}: damaged dataset (its content does not match the SHA-256 seal written with it)")
    _VERIFIED[key] = stamp
    return True
