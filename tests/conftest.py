"""Shared fixtures: tiny canonical meshes with known geometry."""

from __future__ import annotations

import matplotlib
import numpy as np
import pytest

matplotlib.use("Agg")


@pytest.fixture(scope="session")
def small_box():
    """A 10 x 10 x 10 mm block of 1 mm cubes split into tets: (points, tets)."""
    from mitwin.anatomy.synthetic import box_mesh

    return box_mesh((10.0, 10.0, 10.0), 1.0)


@pytest.fixture(scope="session")
def small_shell():
    """A coarse thick ellipsoidal shell (idealised LV) with analytic coordinates and fibres."""
    from mitwin.anatomy.synthetic import shell_mesh

    return shell_mesh(24, 16, 4)


@pytest.fixture(scope="session")
def slab():
    """A flat "heart": a 20 x 20 x 6 mm block whose bottom face is the LV endocardium and whose top face is
    the RV endocardium, with ab = x / 20, rt = y / 20 and tv = 1 above mid-height. Everything is known exactly."""
    from types import SimpleNamespace

    from mitwin.anatomy.synthetic import box_mesh

    points, tets = box_mesh((20.0, 20.0, 6.0), 1.0)
    lv = np.flatnonzero(points[:, 2] == 0.0)
    rv = np.flatnonzero(points[:, 2] == 6.0)
    return SimpleNamespace(points=points, tets=tets, surfaces={"lv_endo": lv, "rv_endo": rv},
                           ab=points[:, 0] / 20.0, rt=points[:, 1] / 20.0, tv=(points[:, 2] > 3).astype(float))


@pytest.fixture
def rng():
    return np.random.default_rng(1234)
