"""Shapes through every module, PointNet++ sampling against brute force, gradients reach every parameter."""

from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from mitwin.model.decoders import DecoderInf, DecoderPC, point_classes  # noqa: E402
from mitwin.model.dualvae import DualVAE, EncoderPC, build_model  # noqa: E402
from mitwin.model.losses import InferenceLoss  # noqa: E402
from mitwin.model.pointnet2 import (  # noqa: E402
    LevelSpec,
    ball_query,
    farthest_point_sample,
    sampling_plan,
    three_nn,
)
from mitwin.model.presets import PRESETS, TINY, get_preset  # noqa: E402
from mitwin.model.qrs import DecoderQRS, EncoderQRS  # noqa: E402


def _fps_reference(x: np.ndarray, k: int) -> list[int]:
    chosen = [0]
    d = np.full(len(x), np.inf)
    for _ in range(k - 1):
        d = np.minimum(d, ((x - x[chosen[-1]]) ** 2).sum(1))
        chosen.append(int(np.argmax(d)))
    return chosen


def test_fps_matches_reference(rng):
    x = rng.normal(size=(2, 60, 3))
    idx = farthest_point_sample(torch.from_numpy(x), 12)
    for b in range(2):
        assert idx[b].tolist() == _fps_reference(x[b], 12)


def test_ball_query_matches_reference(rng):
    x = rng.random((1, 80, 3))
    centres = x[:, :10]
    idx = ball_query(0.3, 6, torch.from_numpy(x), torch.from_numpy(centres)).numpy()[0]
    for s in range(10):
        inside = np.flatnonzero(np.linalg.norm(x[0] - centres[0, s], axis=1) <= 0.3)
        expected = list(inside[:6]) + [inside[0]] * max(0, 6 - len(inside))
        assert idx[s].tolist() == expected


def test_three_nn_matches_reference(rng):
    unknown, known = rng.random((1, 30, 3)), rng.random((1, 7, 3))
    idx, w = three_nn(torch.from_numpy(unknown), torch.from_numpy(known))
    d = np.linalg.norm(unknown[0][:, None] - known[0][None], axis=2)
    ref = np.argsort(d, axis=1)[:, :3]
    np.testing.assert_array_equal(np.sort(idx[0].numpy(), 1), np.sort(ref, 1))
    inv = 1 / (np.take_along_axis(d, idx[0].numpy(), 1) + 1e-8)
    np.testing.assert_allclose(w[0].numpy(), inv / inv.sum(1, keepdims=True), rtol=1e-6)


def test_module_shapes():
    b = 3
    enc = EncoderQRS(n_leads=8, length=512, channels=(4, 8, 8), lstm_hidden=6, latent=5)
    mu, logvar = enc(torch.randn(b, 8, 512))
    assert mu.shape == logvar.shape == (b, 5)
    assert DecoderQRS(latent=5, channels=(4, 8, 8))(mu).shape == (b, 8, 512)
    dec = DecoderPC(latent=5, n_coarse=32, n_dense=128, n_classes=3, hidden=16)
    coarse, dense = dec(mu)
    assert coarse.shape == (b, 32, 3) and dense.shape == (b, 128, 3)
    assert dec.dense_class.tolist() == point_classes(32, 3).repeat_interleave(4).tolist()
    with pytest.raises(ValueError, match="perfect square"):
        DecoderPC(latent=5, n_coarse=32, n_dense=64)
    cloud = torch.rand(b, 100, 7)
    levels = (LevelSpec(40, 0.3, 8), LevelSpec(10, 0.6, 8))
    plan = sampling_plan(cloud[..., :3], levels)
    pc = EncoderPC(point_features=7, sa_mlps=((8, 16), (16, 24)), global_mlp=(32,), latent=6)
    mu_pc, lv_pc, feats = pc(cloud, plan)
    assert mu_pc.shape == lv_pc.shape == (b, 6)
    assert [tuple(f.shape) for f in feats] == [(b, 16, 40), (b, 24, 10)]
    inf = DecoderInf(latent=11, level_channels=[16, 24], point_features=7, fp_mlps=((16,), (16, 8)), cond=8)
    assert inf(torch.randn(b, 11), feats, cloud.transpose(1, 2), plan).shape == (b, 3, 100)


@pytest.mark.parametrize("use_pc", [True, False])
def test_dualvae_shapes_and_plan_cache(use_pc):
    torch.manual_seed(0)
    m = build_model(TINY.model.__class__(**{**TINY.model.__dict__, "use_pc_branch": use_pc})).eval()
    cloud, qrs = torch.rand(2, 256, 7), torch.randn(2, 8, 512)
    out = m(cloud, qrs)
    assert out.logits.shape == (2, 3, 256) and out.qrs.shape == (2, 8, 512)
    latent = 16 if use_pc else 8
    assert out.mu.shape == out.logvar.shape == (2, latent)
    if use_pc:
        assert out.coarse.shape == (2, 64, 3) and out.dense.shape == (2, 256, 3)
    else:
        assert out.coarse is None and out.dense is None
    # a precomputed plan gives the same output as the plan computed in the forward pass
    out2 = m(cloud, qrs, m.plan(cloud))
    torch.testing.assert_close(out.logits, out2.logits)


def test_presets_roundtrip():
    for p in PRESETS.values():
        assert p.from_dict(p.to_dict()) == p
    assert get_preset("paper").model.n_coarse == 1024 and get_preset("paper").train.lr == 1e-4
    assert get_preset("paper").train.lr_step == 6800 and get_preset("paper").loss.alpha == 5.0
    with pytest.raises(ValueError, match="preset must be one of"):
        get_preset("huge")
    with pytest.raises(ValueError, match="unknown preset field"):
        TINY.with_overrides(nonsense=1)
    assert TINY.with_overrides(lambda_size=0.0).loss.lambda_size == 0.0


def test_every_parameter_gets_gradient():
    torch.manual_seed(0)
    m = build_model(TINY.model).train()
    b = 4
    cloud = torch.rand(b, 256, 7)
    cloud[..., 6] = (cloud[..., 6] > 0.7).float()
    labels = torch.zeros(b, 256, dtype=torch.long)
    labels[:, :30] = 2
    labels[:, 30:50] = 1
    batch = {"cloud": cloud, "qrs": torch.randn(b, 8, 512), "labels": labels,
             "coarse": torch.cat([torch.rand(b, 64, 3), torch.randint(0, 3, (b, 64, 1)).float()], -1),
             "dense": torch.cat([torch.rand(b, 200, 3), torch.randint(0, 3, (b, 200, 1)).float()], -1)}
    loss_fn = InferenceLoss(TINY.loss, m.decoder_pc.coarse_class, m.decoder_pc.dense_class)
    out = m(batch["cloud"], batch["qrs"])
    loss, terms = loss_fn(out, batch)
    loss.backward()
    for name, p in m.named_parameters():
        assert p.grad is not None, name
        assert float(p.grad.abs().sum()) > 0, name
    for k in ("chamfer_coarse", "chamfer_dense", "qrs_mse", "qrs_dtw", "kl", "ce", "dice", "compact", "size"):
        assert terms[k] > 0, k


def test_dualvae_default_is_paper_sized():
    m = DualVAE()
    assert m.n_points == 4096 and m.decoder_pc.n_coarse == 1024 and m.decoder_pc.n_dense == 4096
    assert [lv.npoint for lv in m.levels] == [1024, 256, 64]
