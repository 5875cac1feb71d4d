"""At what pace do the faces move: how wide each factor swings within a video, and at which periods.

    python benchmarks/motion_spectrum.py --motion checkpoints/styleinv_synthfaces32_v2_cpu.safetensors \\
        --data data/synthfaces --out benchmarks/results/motion_spectrum_v2_cpu.json

The probe's motion ratios (``styleinv metrics --metrics probe``) compare mean speeds: the mean change of a factor
from one frame to the next.  A speed is an amplitude times a rate, and it also counts jitter, so a model whose
mouth barely opens but trembles can match a real mouth that opens wide once a second.  This script reads the
SynthFaces factors (yaw, pitch, mouth opening, blink) with the probe, per frame, on real videos, on generated ones
and on ``G(E(x_t))`` (the real videos inverted frame by frame: what the generator and the encoder can show at
all), and reports per factor ``styleinv_lib.metrics.groundtruth.motion_spectrum``: the swing within a video
(``std``), the speed, the acceleration (``accel``; the probe metric's ``yaw_accel`` for yaw) and the share of the
variance in each band of periods (``power``).
"""
from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np

from styleinv_lib.metrics.groundtruth import factor_sequences, motion_spectrum

FACTORS = ("yaw", "pitch", "mouth_open", "blink")


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--motion", type=Path, required=True, help="a StyleInV run folder or exported file")
    p.add_argument("--data", type=Path, required=True, help="the SynthFaces render the model was trained on")
    p.add_argument("--videos", type=int, default=16)
    p.add_argument("--frames", type=int, default=128, help="at most the folder's video length")
    p.add_argument("--seed", type=int, default=777)
    p.add_argument("--out", type=Path, default=None)
    args = p.parse_args(argv)

    import torch

    from styleinv_lib.data.export import synthfaces_version
    from styleinv_lib.data.video import VideoFolder
    from styleinv_lib.generate import load_video_generator
    from styleinv_lib.metrics.probe import load_probe

    t0 = time.perf_counter()
    torch.set_grad_enabled(False)
    vg = load_video_generator(args.motion)
    ds = VideoFolder(args.data, vg.resolution, mode="frames")
    if ds.num_videos < args.videos:
        raise SystemExit(f"{args.data}: need {args.videos} videos, the folder has {ds.num_videos}")
    short = [v for v in range(args.videos) if ds.num_frames(v) < args.frames]
    if short:
        raise SystemExit(f"{args.data}: video {short[0]} has {ds.num_frames(short[0])} frames, fewer than "
                         f"--frames {args.frames}")
    probe = load_probe(version=synthfaces_version(args.data))
    real = [ds.read_frames(v, np.arange(args.frames)) for v in range(args.videos)]
    gen = torch.Generator().manual_seed(args.seed)
    w0 = vg.G.mapping(torch.randn(args.videos, vg.G.z_dim, generator=gen))[:, 0]
    fake = [vg.video(w0[i:i + 1], args.frames, motion_seeds=[args.seed + i])[0] for i in range(args.videos)]
    sources = {"real": real, "generated": fake}
    if vg.encoder is not None:
        sources["G(E(real))"] = [vg.first_frame(vg.w0_from_images(v)) for v in real]
    rows = {}
    for name, videos in sources.items():
        seqs = factor_sequences(videos, probe)
        rows[name] = {f: motion_spectrum(seqs[f]) for f in FACTORS}
    for f in FACTORS:
        print(f"{f}:")
        for name, r in rows.items():
            s = r[f]
            bands = ", ".join(f"{k} {v:.2f}" for k, v in s["power"].items())
            print(f"  {name:11s} std {s['std']:.3f}  speed {s['speed']:.4f}  accel {s['accel']:.4f}  power: {bands}")
    if args.out is not None:
        out = {"motion": str(args.motion), "data": str(args.data), "videos": args.videos, "frames": args.frames,
               "seed": args.seed, "rows": rows, "seconds": round(time.perf_counter() - t0, 1)}
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(out, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
