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


@pytest.fixture
def rng():
    return np.random.default_rng(1234)
