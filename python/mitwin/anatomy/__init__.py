"""Anatomy: the Heart, Cobiveco-style coordinates, fibres, AHA segments, electrodes, cohort, point clouds."""

from __future__ import annotations

import importlib
from typing import Any

_EXPORTS: dict[str, str] = {
    "Heart": "mitwin.anatomy.heart",
    "mesh_surface": "mitwin.anatomy.surface_mesh",
    "read_labelled_surface": "mitwin.anatomy.surface_io",
    "labelled_boundary": "mitwin.anatomy.surface_io",
    "LabelledSurface": "mitwin.anatomy.surface_io",
    "make_cohort": "mitwin.anatomy.cohort",
    "load_cohort": "mitwin.anatomy.cohort",
    "point_cloud": "mitwin.anatomy.pointcloud",
    "surface_targets": "mitwin.anatomy.pointcloud",
    "PointCloud": "mitwin.anatomy.pointcloud",
    "plot_heart": "mitwin.anatomy.plot",
    "aha_segments": "mitwin.anatomy.aha",
    "lv_region": "mitwin.anatomy.aha",
}

__all__ = list(_EXPORTS)


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'mitwin.anatomy' has no attribute {name!r}")
    return getattr(importlib.import_module(module), name)
