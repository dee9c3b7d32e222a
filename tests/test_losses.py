"""Loss terms (Eq. 4-11): zero or minimal on a perfect prediction, positive otherwise, against references."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from mitwin.model.losses import (  # noqa: E402
    InferenceLoss,
    ce_dice,
    chamfer_multiclass,
    compactness_loss,
    dice_loss,
    kl_standard_normal,
    qrs_dtw_loss,
    rv_free_wall,
    rv_spatial_loss,
    size_loss,
    soft_dtw,
    soft_dtw_divergence,
)
from mitwin.model.presets import LossConfig  # noqa: E402


def _dtw_reference(x: np.ndarray, y: np.ndarray, gamma: float) -> float:
    """Plain Python DP of (soft-)DTW with squared Euclidean cost; gamma = 0 is hard DTW."""
    n, m = len(x), len(y)
    r = [[float("inf")] * (m + 1) for _ in range(n + 1)]
    r[0][0] = 0.0
    for i in range(1, n + 1):
        for j in range(1, m + 1):
            prev = [r[i - 1][j - 1], r[i - 1][j], r[i][j - 1]]
            if gamma == 0:
                soft = min(prev)
            else:
                lo = min(prev)
                soft = lo - gamma * np.log(sum(np.exp(-(p - lo) / gamma) for p in prev))
            r[i][j] = float(((x[i - 1] - y[j - 1]) ** 2).sum()) + soft
    return r[n][m]


@pytest.mark.parametrize(("n", "m", "gamma"), [(5, 5, 1.0), (4, 7, 0.1), (8, 3, 0.5), (1, 4, 0.3)])
def test_soft_dtw_matches_python_dp(rng, n, m, gamma):
    x, y = rng.normal(size=(3, n, 2)), rng.normal(size=(3, m, 2))
    got = soft_dtw(torch.from_numpy(x), torch.from_numpy(y), gamma).numpy()
    ref = [_dtw_reference(x[b], y[b], gamma) for b in range(3)]
    np.testing.assert_allclose(got, ref, rtol=1e-10)


def test_soft_dtw_tends_to_dtw(rng):
    x, y = rng.normal(size=(2, 9, 1)), rng.normal(size=(2, 6, 1))
    hard = [_dtw_reference(x[b], y[b], 0.0) for b in range(2)]
    errs = [np.abs(soft_dtw(torch.from_numpy(x), torch.from_numpy(y), g).numpy() - hard).max()
            for g in (1.0, 0.1, 0.01, 0.001)]
    assert all(a > b for a, b in itertools.pairwise(errs))
    assert errs[-1] < 0.02


def test_soft_dtw_gradient(rng):
    x = torch.from_numpy(rng.normal(size=(2, 5, 2))).requires_grad_()
    y = torch.from_numpy(rng.normal(size=(2, 6, 2))).requires_grad_()
    assert torch.autograd.gradcheck(lambda a, b: soft_dtw(a, b, 0.3), (x, y))
    with pytest.raises(ValueError, match="gamma"):
        soft_dtw(x, y, 0.0)


def test_soft_dtw_divergence_zero_iff_equal(rng):
    x = torch.from_numpy(rng.normal(size=(2, 12, 1)))
    assert torch.allclose(soft_dtw_divergence(x, x, 0.1), torch.zeros(2, dtype=x.dtype), atol=1e-10)
    y = x + 0.3
    assert bool((soft_dtw_divergence(x, y, 0.1) > 0).all())
    q = torch.randn(2, 8, 64)
    assert torch.allclose(qrs_dtw_loss(q, q, 0.1, 2), torch.zeros(2), atol=1e-6)
    assert bool((qrs_dtw_loss(q, torch.roll(q, 5, -1), 0.1, 2) > 0).all())


def test_chamfer_against_brute_force(rng):
    tgt = np.concatenate([rng.random((2, 30, 3)), rng.integers(0, 3, (2, 30, 1))], -1)
    pred_class = torch.tensor([0] * 5 + [1] * 5 + [2] * 6)
    pred = rng.random((2, 16, 3))
    got = chamfer_multiclass(torch.from_numpy(pred), pred_class, torch.from_numpy(tgt)).numpy()
    for b in range(2):
        ref = 0.0
        for k in range(3):
            p = pred[b][pred_class.numpy() == k]
            t = tgt[b, tgt[b, :, 3] == k, :3]
            if len(t) == 0:
                continue
            d = ((p[:, None] - t[None]) ** 2).sum(-1)
            ref += d.min(1).mean() + d.min(0).mean()
        assert got[b] == pytest.approx(ref, rel=1e-6)


def test_chamfer_zero_on_perfect(rng):
    pts = torch.from_numpy(rng.random((1, 12, 3)))
    cls = torch.tensor([0] * 4 + [1] * 4 + [2] * 4)
    tgt = torch.cat([pts, cls.view(1, -1, 1).double()], -1)
    assert float(chamfer_multiclass(pts, cls, tgt)[0]) == pytest.approx(0.0, abs=1e-12)
    wrong = torch.tensor([1] * 4 + [0] * 4 + [2] * 4)  # right points, wrong classes
    assert float(chamfer_multiclass(pts, wrong, tgt)[0]) > 0


def test_kl():
    z = torch.zeros(3, 4)
    assert torch.equal(kl_standard_normal(z, z), torch.zeros(3))
    mu, lv = torch.tensor([[1.0, 0.0]]), torch.tensor([[0.0, 1.0]])
    assert float(kl_standard_normal(mu, lv)[0]) == pytest.approx(0.5 * (1 + np.e - 1 - 1))


def _logits(labels: torch.Tensor, scale: float = 30.0) -> torch.Tensor:
    return torch.nn.functional.one_hot(labels, 3).transpose(1, 2).float() * scale


@pytest.fixture
def region():
    """A cloud on a line, scar on points 10-19, BZ 8-9 and 20-21, RV free wall 40-49."""
    n = 50
    xyz = torch.zeros(1, n, 3)
    xyz[0, :, 0] = torch.linspace(0, 1, n)
    labels = torch.zeros(1, n, dtype=torch.long)
    labels[0, 10:20] = 2
    labels[0, [8, 9, 20, 21]] = 1
    tv = torch.zeros(1, n)
    tv[0, 40:] = 1.0
    rt = torch.full((1, n), 0.3)
    return xyz, labels, tv, rt


def test_segmentation_losses_minimal_on_perfect(region):
    xyz, labels, tv, rt = region
    perfect = _logits(labels)
    shifted = _logits(torch.roll(labels, 15, 1))
    ce_p, dice_p = ce_dice(perfect, labels)
    ce_s, dice_s = ce_dice(shifted, labels)
    assert float(ce_p[0]) < 1e-6 and float(dice_p[0]) < 1e-6
    assert float(ce_s[0]) > 1 and float(dice_s[0]) > 0.3
    assert float(dice_loss(perfect, labels)[0]) == pytest.approx(0.0, abs=1e-6)
    assert float(size_loss(perfect, labels)[0]) == pytest.approx(0.0, abs=1e-6)
    bigger = labels.clone()
    bigger[0, 22:30] = 2  # 8 more scar points: |18 - 10| / 10 and |22 - 14| / 14
    assert float(size_loss(_logits(bigger), labels)[0]) == pytest.approx(0.5 * (8 / 10 + 8 / 14), rel=1e-4)
    c_p = float(compactness_loss(perfect, labels, xyz)[0])
    c_s = float(compactness_loss(shifted, labels, xyz)[0])
    assert c_p < c_s
    rv = rv_free_wall(tv, rt)
    assert float(rv_spatial_loss(perfect, rv)[0]) == pytest.approx(0.0, abs=1e-6)
    in_rv = torch.zeros_like(labels)
    in_rv[0, 40:45] = 2  # the whole predicted scar in the RV
    assert float(rv_spatial_loss(_logits(in_rv), rv)[0]) == pytest.approx(1.0, abs=1e-4)


def test_compactness_by_hand():
    # two points, truth = prediction = both scar: centres coincide at the midpoint
    xyz = torch.tensor([[[0.0, 0, 0], [1.0, 0, 0]]])
    labels = torch.tensor([[2, 2]])
    got = float(compactness_loss(_logits(labels, 50.0), labels, xyz)[0])
    # each region: sum q (0.5 + 0.5) / (N d_max) = 2 * 1 / (2 * 0.5) = 2
    assert got == pytest.approx(2.0, rel=1e-4)


def test_rv_free_wall_excludes_septum():
    tv = torch.tensor([0.0, 1.0, 1.0, 1.0])
    rt = torch.tensor([0.3, 0.3, 0.8, 0.5])
    assert rv_free_wall(tv, rt).tolist() == [0.0, 1.0, 0.0, 1.0]


def test_inference_loss_switches(region):
    xyz, labels, tv, rt = region
    cloud = torch.cat([xyz, torch.zeros(1, 50, 1), torch.zeros(1, 50, 1), rt.unsqueeze(-1), tv.unsqueeze(-1)], -1)

    class Out:
        logits = _logits(torch.roll(labels, 5, 1), 2.0).requires_grad_()
        qrs = torch.randn(1, 8, 64)
        coarse = dense = None
        mu = torch.ones(1, 4)
        logvar = torch.zeros(1, 4)

    batch = {"cloud": cloud, "labels": labels, "qrs": torch.zeros(1, 8, 64)}
    full, terms = InferenceLoss(LossConfig(dtw_downsample=2))(Out, batch)
    assert all(terms[k] > 0 for k in ("qrs_mse", "qrs_dtw", "kl", "ce", "dice", "compact", "size"))
    assert terms["pc_rec"] == 0.0  # no point-cloud branch
    expected = (terms["qrs_mse"] + terms["qrs_dtw"] + 0.01 * terms["kl"] + terms["ce"] + terms["dice"]
                + terms["compact"] + terms["size"] + terms["spa"])
    assert terms["total"] == pytest.approx(expected, rel=1e-5)
    off = LossConfig(lambda_compact=0, lambda_size=0, lambda_spa=0, use_dtw=False, lambda_kl=0)
    total, t2 = InferenceLoss(off)(Out, batch)
    assert t2["compact"] == t2["size"] == t2["spa"] == t2["qrs_dtw"] == t2["kl"] == 0.0
    assert t2["total"] == pytest.approx(terms["qrs_mse"] + terms["ce"] + terms["dice"], rel=1e-5)
    total.backward()
    assert float(Out.logits.grad.abs().sum()) > 0
