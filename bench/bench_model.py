"""Benchmarks of the model's hot spots, each paired with what a user would otherwise run.

* soft-DTW value + gradient of 8-lead QRS batches: the anti-diagonal torch sweep with an analytic
  backward vs tslearn's ``soft_dtw_alignment`` called per lead (value and alignment matrix, from
  which the gradient follows).
* per-subject PointNet++ sampling plan, computed once and cached, vs recomputing it in every
  forward pass (the cost the cache removes from each iteration).

Short by default; ``MITWIN_BENCH=full`` uses the paper's sizes (512 samples, 4096 points).
"""

from __future__ import annotations

import os

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from mitwin.model.losses import soft_dtw  # noqa: E402
from mitwin.model.pointnet2 import sampling_plan  # noqa: E402
from mitwin.model.presets import CPU, PAPER  # noqa: E402

FULL = os.environ.get("MITWIN_BENCH", "short").lower() == "full"
T = 512 if FULL else 128
BATCH = 4 if FULL else 2
N_LEADS = 8


@pytest.fixture(scope="module")
def qrs_pair():
    rng = np.random.default_rng(0)
    t = np.linspace(0, 1, T)
    x = np.sin(2 * np.pi * (3 * t[None, None] + rng.random((BATCH, N_LEADS, 1))))
    y = np.sin(2 * np.pi * (3 * t[None, None] + rng.random((BATCH, N_LEADS, 1))))
    return x, y


def _torch_sdtw(x: np.ndarray, y: np.ndarray, gamma: float) -> tuple[np.ndarray, np.ndarray]:
    xt = torch.from_numpy(x.reshape(-1, T, 1)).requires_grad_()
    yt = torch.from_numpy(y.reshape(-1, T, 1))
    v = soft_dtw(xt, yt, gamma)
    v.sum().backward()
    return v.detach().numpy(), xt.grad.numpy().reshape(x.shape)


def _tslearn_sdtw(x: np.ndarray, y: np.ndarray, gamma: float) -> tuple[np.ndarray, np.ndarray]:
    from tslearn.metrics import soft_dtw_alignment

    vals, grads = [], []
    for a, b in zip(x.reshape(-1, T), y.reshape(-1, T)):
        e, v = soft_dtw_alignment(a[:, None], b[:, None], gamma=gamma)
        vals.append(v)
        grads.append(2 * (e.sum(1) * a - e @ b))  # d/dx_i of sum_ij e_ij (x_i - y_j)^2
    return np.array(vals), np.array(grads).reshape(x.shape)


def test_soft_dtw_torch(benchmark, qrs_pair):
    pytest.importorskip("tslearn")
    x, y = qrs_pair
    torch.set_num_threads(1)
    vals, grads = benchmark(_torch_sdtw, x, y, 0.1)
    ref_v, ref_g = _tslearn_sdtw(x, y, 0.1)
    np.testing.assert_allclose(vals, ref_v, rtol=1e-8)
    np.testing.assert_allclose(grads, ref_g, rtol=1e-6, atol=1e-8)


def test_soft_dtw_tslearn_per_lead(benchmark, qrs_pair):
    pytest.importorskip("tslearn")
    x, y = qrs_pair
    vals, _ = benchmark(_tslearn_sdtw, x, y, 0.1)
    assert np.all(np.isfinite(vals))


@pytest.mark.parametrize("preset", [CPU, PAPER] if FULL else [CPU], ids=lambda p: p.name)
def test_sampling_plan_per_subject(benchmark, preset):
    torch.set_num_threads(1)
    rng = np.random.default_rng(1)
    xyz = torch.from_numpy(rng.normal(size=(preset.model.n_points, 3)).astype(np.float32))
    xyz = xyz / xyz.norm(dim=1).max()
    plan = benchmark(sampling_plan, xyz, preset.model.levels)
    assert plan.fps[0].shape == (preset.model.levels[0].npoint,)
    assert int(plan.group[-1].max()) < preset.model.levels[-2].npoint if len(preset.model.levels) > 1 else True
