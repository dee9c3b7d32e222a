"""Exceptions raised by mitwin. All derive from ValueError or RuntimeError as well."""

from __future__ import annotations


class MitwinError(Exception):
    """Base class of mitwin's own exceptions."""


class MeshError(MitwinError, ValueError):
    """A mesh is unusable: degenerate or inverted tets, missing surfaces, bad indices."""


class UnreachableError(MitwinError, ValueError):
    """Some nodes cannot be reached from any activation root."""


class DatasetError(MitwinError, ValueError):
    """A dataset file does not have the layout mitwin expects."""


class CheckpointError(MitwinError, ValueError):
    """A training run's checkpoint or run description is corrupt, or holds more than tensors and plain values."""


class BlockedTissueWarning(UserWarning):
    """Some nodes are cut off from every activation root by blocked tissue and never activate."""
