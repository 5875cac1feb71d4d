"""dlib's face descriptor (styleinv_lib.metrics.identity): the port against face-api, chips, gradients, SynthFaces.

The reference descriptors in fixtures/face_descriptor_reference.npz were computed by @vladmandic/face-api 1.7.15
(tfjs 4.22 CPU backend) with benchmarks/face_api_reference.js on the integer patterns of
``identity.reference_patterns``; the port matches them to about 3e-7.
"""
import json
from pathlib import Path

import numpy as np
import pytest
import torch

from styleinv_lib import SynthFaces
from styleinv_lib.metrics.assets import locate_asset
from styleinv_lib.metrics.identity import (
    CHIP_SIZE, DESCRIPTOR_DIM, REFERENCE_PATTERNS, FaceDescriptor, FaceWeightsError, IdentityLoss, default_face_box,
    face_chips, identity_distance, identity_similarity, read_tfjs_weights, reference_patterns,
)

FIXTURE = Path(__file__).parent / "fixtures" / "face_descriptor_reference.npz"


@pytest.fixture(scope="module")
def net():
    return FaceDescriptor()


def _patterns() -> torch.Tensor:
    return torch.from_numpy(reference_patterns()).permute(0, 3, 1, 2).float()


def test_matches_face_api_reference(net):
    ref = np.load(FIXTURE)
    assert tuple(map(tuple, ref["patterns"].tolist())) == REFERENCE_PATTERNS
    with torch.no_grad():
        got = net(_patterns()).numpy()
    assert got.shape == ref["descriptors"].shape == (len(REFERENCE_PATTERNS), DESCRIPTOR_DIM)
    assert np.abs(got - ref["descriptors"]).max() < 1e-4
    # face-api returns the raw fc output: not unit length
    assert not np.allclose(np.linalg.norm(got, axis=1), 1.0, atol=0.05)


def test_reference_pattern_recipe():
    img = reference_patterns()
    assert img.shape == (4, CHIP_SIZE, CHIP_SIZE, 3) and img.dtype == np.uint8
    a, b, d, e, f = REFERENCE_PATTERNS[2]
    y, x, c = 17, 101, 2
    assert img[2, y, x, c] == (a * x + b * y + d * c + e * ((x * y) >> 5) + f * 2) % 256


def test_shape_determinism_batching_frozen(net):
    torch.manual_seed(0)
    chips = torch.rand(3, 3, CHIP_SIZE, CHIP_SIZE) * 255
    with torch.no_grad():
        a, b = net(chips), net(chips)
        single = net(chips[1:2])
    assert a.shape == (3, DESCRIPTOR_DIM)
    assert torch.equal(a, b)
    assert torch.allclose(a[1:2], single, atol=1e-5)
    assert all(not p.requires_grad for p in net.parameters())
    net.train()
    assert not net.training
    with pytest.raises(ValueError, match="chips"):
        net(chips[:, :1])


def test_face_chips_geometry():
    torch.manual_seed(1)
    img = torch.rand(2, 3, 40, 40) * 2 - 1
    # the full image at its own size is the identity resampling
    full = face_chips(img, (0, 0, 40, 40), size=40)
    assert torch.allclose(full, (img + 1) * 127.5, atol=1e-3)
    # an integer box at its own size is an exact crop
    crop = face_chips(img, (5, 8, 25, 28), size=20)
    assert torch.allclose(crop, (img[:, :, 8:28, 5:25] + 1) * 127.5, atol=1e-3)
    # per-image boxes
    boxes = torch.tensor([[0, 0, 20, 20], [20, 20, 40, 40]], dtype=torch.float32)
    per = face_chips(img, boxes, size=20)
    assert torch.allclose(per[1], (img[1, :, 20:, 20:] + 1) * 127.5, atol=1e-3)
    # default: the SynthFaces box, a centred square, 150x150 chips in [0, 255]
    x0, y0, x1, y1 = default_face_box(64, 64)
    assert x1 - x0 == pytest.approx(y1 - y0) and (x0 + x1) / 2 == pytest.approx(32)
    chips = face_chips(torch.zeros(1, 3, 64, 64))
    assert chips.shape == (1, 3, CHIP_SIZE, CHIP_SIZE) and torch.allclose(chips, torch.full_like(chips, 127.5))
    # large boxes are pre-pooled (anti-aliasing) and still give the right size
    assert face_chips(torch.zeros(1, 3, 512, 512), (0, 0, 512, 512)).shape == (1, 3, CHIP_SIZE, CHIP_SIZE)


def test_distances():
    a = torch.tensor([[0.0, 3.0, 4.0], [1.0, 0.0, 0.0]])
    b = torch.tensor([[0.0, 0.0, 0.0], [2.0, 0.0, 0.0]])
    assert torch.allclose(identity_distance(a, b), torch.tensor([5.0, 1.0]))
    assert torch.allclose(identity_similarity(a[1:], b[1:]), torch.tensor([1.0]))
    assert torch.allclose(identity_similarity(a[:1], -a[:1]), torch.tensor([-1.0]))


def test_identity_loss_gradient_flows(net):
    torch.manual_seed(2)
    loss_fn = IdentityLoss(net)
    x = (torch.rand(2, 3, 64, 64) * 2 - 1).requires_grad_()
    y = torch.rand(2, 3, 64, 64) * 2 - 1
    loss = loss_fn(x, y)
    assert loss.ndim == 0 and 0 < loss.item() < 2
    loss.backward()
    assert x.grad is not None and torch.isfinite(x.grad).all() and x.grad.abs().sum() > 0
    assert all(p.grad is None for p in net.parameters())
    with torch.no_grad():
        assert loss_fn(y, y).item() == pytest.approx(0.0, abs=1e-5)


def test_gradient_matches_finite_difference(net):
    """Directional derivative through face_chips + descriptor, in float64 (a copy of the net)."""
    net64 = FaceDescriptor().double()
    torch.manual_seed(3)
    x = (torch.rand(1, 3, 48, 48, dtype=torch.float64) * 2 - 1).requires_grad_()
    v = torch.randn(1, 3, 48, 48, dtype=torch.float64)
    w = torch.randn(DESCRIPTOR_DIM, dtype=torch.float64)

    def f(img):
        return net64(face_chips(img)) @ w

    f(x).sum().backward()
    analytic = (x.grad * v).sum().item()
    eps = 1e-7   # small enough not to cross a ReLU/max-pool kink (1e-6 already does here)
    with torch.no_grad():
        numeric = ((f(x + eps * v) - f(x - eps * v)) / (2 * eps)).item()
    assert analytic == pytest.approx(numeric, rel=1e-4, abs=1e-7)


@pytest.mark.parametrize("version, margin, rows", [(1, 0.08, 0.9), (2, 0.04, 0.75)])
def test_synthfaces_same_identity_closer(net, version, margin, rows):
    """Frames of one identity (two videos each) are closer than frames of different identities.

    Measured at 64x64 (upsampled to the 150x150 chip), 12 identities x 2 videos x 2 frames: version 1 (seeds 0-7),
    mean distance 0.24-0.26 within an identity across videos vs 0.39-0.48 between identities; version 2, where
    each video has its own clothes, background and light (seeds 0-4), 0.34-0.40 vs 0.45-0.52, rows closer to their
    own identity 83-96 %. The assertions leave a wide margin."""
    ds = SynthFaces(resolution=64, num_frames=32, seed=0, videos_per_identity=2, version=version)
    frames, ids, vids = [], [], []
    for v in range(12):
        frames.append(ds.render(v, np.array([3.0, 20.0])))
        ids += [ds.identity_id(v)] * 2
        vids += [v] * 2
    x = torch.cat(frames).permute(0, 3, 1, 2).float() / 127.5 - 1
    with torch.no_grad():
        d = net(face_chips(x))
    ids, vids = torch.tensor(ids), torch.tensor(vids)
    assert len(set(ids.tolist())) == 6
    dist = identity_distance(d[:, None], d[None])
    same = (ids[:, None] == ids[None]) & (vids[:, None] != vids[None])
    diff = ids[:, None] != ids[None]
    assert dist[same].mean() + margin < dist[diff].mean()
    row_same = torch.stack([dist[i][same[i]].mean() for i in range(len(ids))])
    row_diff = torch.stack([dist[i][diff[i]].mean() for i in range(len(ids))])
    assert (row_same < row_diff).float().mean() >= rows
    cos_loss = 1 - identity_similarity(d[:, None], d[None])
    assert cos_loss[same].mean() < cos_loss[diff].mean()


# ---------------- malformed weight files ----------------

@pytest.fixture()
def weight_copy(tmp_path):
    manifest = tmp_path / "face_recognition_model-weights_manifest.json"
    binary = tmp_path / "face_recognition_model.bin"
    manifest.write_bytes(locate_asset("face_recognition_manifest").read_bytes())
    binary.write_bytes(locate_asset("face_recognition").read_bytes())
    return manifest, binary


def test_explicit_paths_load(weight_copy):
    manifest, binary = weight_copy
    weights = read_tfjs_weights(manifest, binary)
    assert weights["fc"].shape == (256, DESCRIPTOR_DIM) and weights["fc"].dtype == np.float32
    assert FaceDescriptor(manifest).fc.shape == (256, DESCRIPTOR_DIM)   # shard found next to the manifest


def test_truncated_binary(weight_copy):
    manifest, binary = weight_copy
    binary.write_bytes(binary.read_bytes()[:-100])
    with pytest.raises(FaceWeightsError, match="face_recognition_model.bin.*too short"):
        FaceDescriptor(manifest, binary)


def test_binary_too_long(weight_copy):
    manifest, binary = weight_copy
    binary.write_bytes(binary.read_bytes() + b"\0" * 8)
    with pytest.raises(FaceWeightsError, match="face_recognition_model.bin.*does not belong"):
        FaceDescriptor(manifest, binary)


def test_wrong_shape_in_manifest(weight_copy):
    manifest, binary = weight_copy
    groups = json.loads(manifest.read_text())
    fc = next(w for w in groups[0]["weights"] if w["name"] == "fc")
    fc["shape"] = [128, 256]
    manifest.write_text(json.dumps(groups))
    with pytest.raises(FaceWeightsError, match=r"weights_manifest.json.*'fc'.*shape"):
        FaceDescriptor(manifest, binary)


def test_missing_tensor_and_bad_json(weight_copy):
    manifest, binary = weight_copy
    groups = json.loads(manifest.read_text())
    groups[0]["weights"][0]["name"] = "something_else"
    manifest.write_text(json.dumps(groups))
    with pytest.raises(FaceWeightsError, match="weights_manifest.json.*missing tensors"):
        FaceDescriptor(manifest, binary)
    manifest.write_text("{not json")
    with pytest.raises(FaceWeightsError, match="weights_manifest.json.*JSON"):
        FaceDescriptor(manifest, binary)
