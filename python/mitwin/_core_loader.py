"""Import of the compiled core with a clear message when it is missing."""

from __future__ import annotations

try:
    from . import _core as core
except ImportError as exc:  # pragma: no cover - only on a broken install
    raise ImportError(
        "mitwin's compiled core (mitwin._core) could not be imported. Install mitwin with "
        "'pip install .' (or 'pip install --no-build-isolation -e . -Cbuild-dir=build' for "
        f"development) so that the C++ extension is built. Original error: {exc}"
    ) from exc

__all__ = ["core"]
