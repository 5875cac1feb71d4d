"""How much of the real motion can the image generator and the encoder show at all?

    python benchmarks/motion_ceiling.py --generator checkpoints/stylegan2_synthfaces32_v2_cpu.safetensors \\
        --encoder checkpoints/encoder_synthfaces32_v2_cpu.safetensors --data data/synthfaces \\
        --out benchmarks/results/motion_ceiling_synthfaces_v2_cpu.json

StyleInV moves a frame only by moving its latent in G's W space, through a copy of the inversion encoder
(Eq. 2).  So a head turn, a blink or a spoken syllable can appear in its videos only if G can draw it and the
encoder can find it.  This script reads the SynthFaces factors (yaw, pitch, mouth opening, blink) with the probe
on held-out real frames, and on

* ``G samples``: images of random latents (does G draw the variety at all?),
* ``encoder``: ``G(E(x))``, the real frames inverted by the encoder (what StyleInV starts from),
* ``optimise``: ``G(w*)`` with ``w*`` optimised per frame (the best W can do, as far as a few hundred Adam steps
  find it),
* ``real, blurred``: the real frames blurred (Gaussian, sigma ``--blur`` pixels), a check of the reader: a probe
  that loses a factor on a frame a little less sharp than the data would make any generator look short of it,

and reports, per factor, the spread (std) as a share of the real frames' spread and, for the two inversions, the
correlation with the real frame's value.  A factor that even ``optimise`` cannot reproduce is beyond the motion
model: the generator has to learn it first.  ``--figure PATH`` also draws ``--figure-samples`` samples of G and
puts, for yaw values across the real frames' range, the real frame the probe reads nearest each value above the
two samples it reads nearest (are G's most turned samples turned faces?), and reports the share of samples read
beyond the real frames' 5th and 95th percentiles.  Without ``--encoder`` only ``G samples`` is read (a generator no
encoder has been trained for, such as a snapshot of a continued run).
"""
from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

FACTORS = ("yaw", "pitch", "mouth_open", "blink")


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--generator", type=Path, required=True)
    p.add_argument("--encoder", type=Path, default=None,
                   help="without it only the generator's samples are read (e.g. a generator no encoder was trained on)")
    p.add_argument("--data", type=Path, required=True, help="a SynthFaces render (its last videos are used)")
    p.add_argument("--frames", type=int, default=96, help="real frames (random videos among the last --videos)")
    p.add_argument("--videos", type=int, default=40, help="draw frames from the last this many videos")
    p.add_argument("--steps", type=int, default=150, help="optimisation steps per frame")
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--blur", type=float, default=1.2, help="sigma (pixels) of the blurred real frames' row")
    p.add_argument("--out", type=Path, default=None)
    p.add_argument("--figure", type=Path, default=None,
                   help="a PNG: real frames and G's samples at the same probe-read yaw, across the real range")
    p.add_argument("--figure-samples", type=int, default=2000, help="G samples searched for the figure")
    p.add_argument("--figure-columns", type=int, default=7)
    args = p.parse_args(argv)

    import numpy as np
    import torch

    from styleinv_lib.data.export import synthfaces_version
    from styleinv_lib.data.video import VideoFolder
    from styleinv_lib.inversion import invert
    from styleinv_lib.loading import load_encoder, load_generator
    from styleinv_lib.metrics.probe import load_probe
    from styleinv_lib.pixels import to_uint8

    t0 = time.perf_counter()
    G = load_generator(args.generator).eval()
    E = load_encoder(args.encoder).eval() if args.encoder is not None else None
    probe = load_probe(version=synthfaces_version(args.data))
    ds = VideoFolder(args.data, G.img_resolution, mode="frames")
    rng = np.random.default_rng(args.seed)
    first = max(0, ds.num_videos - args.videos)
    picks = [(int(v), int(rng.integers(0, ds.num_frames(int(v)))))
             for v in rng.integers(first, ds.num_videos, args.frames)]
    real = torch.stack([ds.read_frames(v, np.array([t]))[0] for v, t in picks])
    with torch.no_grad():
        z = torch.randn(args.frames, G.z_dim, generator=torch.Generator().manual_seed(args.seed))
        samples = to_uint8(G(z, noise_mode="const"))
    images = {"G samples": samples, "real, blurred": gaussian_blur(real, args.blur)}
    for method in ("encoder", "optimise") if E is not None else ():
        result = invert(real, G, E, method=method, steps=None if method == "encoder" else args.steps)
        with torch.no_grad():
            images[method] = to_uint8(G.synthesis(result.w, noise_mode="const"))
    truth = probe.predict_factors(real)

    def percentiles(values) -> list[float]:
        return [round(float(x), 3) for x in np.percentile(values, [5, 50, 95])]

    rows = {}
    for name, imgs in images.items():
        read = probe.predict_factors(imgs)
        rows[name] = {}
        for f in FACTORS:
            a, b = truth[f].double().numpy(), read[f].double().numpy()
            row = {"spread_share": float(b.std() / a.std()),
                   "percentiles_5_50_95": percentiles(b)}
            if name != "G samples":
                row["correlation"] = float(np.corrcoef(a, b)[0, 1])
            rows[name][f] = row
    out = {"generator": str(args.generator), "encoder": args.encoder and str(args.encoder), "data": str(args.data),
           "frames": args.frames, "steps": args.steps, "seed": args.seed, "blur_sigma": args.blur, "real_std": {
               f: float(truth[f].double().std()) for f in FACTORS}, "real_percentiles_5_50_95": {
               f: percentiles(truth[f].double().numpy()) for f in FACTORS},
           "rows": rows}
    if args.figure is not None:
        out["yaw_figure"] = yaw_figure(G, probe, real, truth["yaw"].double().numpy(), args)
    out["seconds"] = round(time.perf_counter() - t0, 1)
    for name, r in rows.items():
        print(f"{name:13s} " + "  ".join(
            f"{f} spread {v['spread_share']:.2f}" + (f" corr {v['correlation']:+.2f}" if "correlation" in v else "")
            for f, v in r.items()))
    if args.out is not None:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(out, indent=1) + "\n")
    return 0


def nearest_per_target(values, targets, k: int):
    """Indices (len(targets) x k) of the ``k`` values nearest each target, nearest first."""
    import numpy as np

    values = np.asarray(values, dtype=np.float64)
    targets = np.asarray(targets, dtype=np.float64)
    return np.stack([np.argsort(np.abs(values - t), kind="stable")[:k] for t in targets])


def yaw_figure(G, probe, real, real_yaw, args) -> dict:
    """Draw the ``--figure`` grid (see the module docstring) and return what it shows, as numbers."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np
    import torch

    from styleinv_lib.pixels import to_uint8

    gen = torch.Generator().manual_seed(args.seed + 1)
    with torch.no_grad():
        z = torch.randn(args.figure_samples, G.z_dim, generator=gen)
        samples = torch.cat([to_uint8(G(c, noise_mode="const")) for c in z.split(250)])
    sample_yaw = probe.predict_factors(samples)["yaw"].double().numpy()
    lo, hi = np.percentile(real_yaw, [5, 95])
    targets = np.linspace(*np.percentile(real_yaw, [3, 97]), args.figure_columns)
    real_idx = nearest_per_target(real_yaw, targets, 1)[:, 0]
    fake_idx = nearest_per_target(sample_yaw, targets, 2)
    rows = [("real frame", real, real_idx, real_yaw)] + [
        (f"G sample, {'nearest' if j == 0 else 'second'}", samples, fake_idx[:, j], sample_yaw) for j in range(2)]
    fig, axes = plt.subplots(len(rows), len(targets), figsize=(1.3 * len(targets), 1.5 * len(rows) + 0.6))
    for r, (name, imgs, idx, read) in enumerate(rows):
        for c, i in enumerate(idx):
            ax = axes[r, c]
            ax.imshow(imgs[i].permute(1, 2, 0).numpy(), interpolation="nearest")
            ax.set_xticks([]), ax.set_yticks([])
            ax.set_xlabel(f"read {read[i]:+.2f}", fontsize=7)
            if r == 0:
                ax.set_title(f"yaw {targets[c]:+.2f}", fontsize=8)
            if c == 0:
                ax.set_ylabel(name, fontsize=7)
    fig.suptitle(f"Real frames and G's samples at the same probe-read yaw (rad; {args.figure_samples:,} samples "
                 f"searched)", fontsize=9)
    fig.tight_layout()
    args.figure.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(args.figure, dpi=130)
    plt.close(fig)

    def share(mask) -> float:
        return round(float(mask.mean()), 4)

    return {"figure": str(args.figure), "samples": args.figure_samples,
            "targets": [round(float(t), 3) for t in targets],
            "real_read": [round(float(real_yaw[i]), 3) for i in real_idx],
            "G_read": [[round(float(sample_yaw[i]), 3) for i in col] for col in fake_idx],
            "samples_percentiles_1_5_50_95_99": [round(float(x), 3)
                                                 for x in np.percentile(sample_yaw, [1, 5, 50, 95, 99])],
            "share_beyond_real_5_95": {"real": share((real_yaw < lo) | (real_yaw > hi)),
                                       "G samples": share((sample_yaw < lo) | (sample_yaw > hi)),
                                       "G below 5th": share(sample_yaw < lo), "G above 95th": share(sample_yaw > hi)}}


def gaussian_blur(images, sigma: float):
    """uint8 ``N x 3 x H x W`` images blurred by a separable Gaussian of ``sigma`` pixels (edges replicated)."""
    import torch
    import torch.nn.functional as F

    radius = max(1, int(3 * sigma + 0.5))
    k = torch.exp(-torch.arange(-radius, radius + 1, dtype=torch.float32) ** 2 / (2 * sigma ** 2))
    k = (k / k.sum()).repeat(3, 1, 1, 1)
    x = images.float()
    x = F.conv2d(F.pad(x, (radius, radius, 0, 0), mode="replicate"), k.view(3, 1, 1, -1), groups=3)
    x = F.conv2d(F.pad(x, (0, 0, radius, radius), mode="replicate"), k.view(3, 1, -1, 1), groups=3)
    return x.round().clamp(0, 255).to(torch.uint8)


if __name__ == "__main__":
    raise SystemExit(main())
