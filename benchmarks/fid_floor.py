"""The floor of a StyleGAN2 run's FID: real frames of a held-out split scored exactly as training scores G_ema.

    styleinv data synthfaces --out data/synthfaces-heldout --videos 64 --frames 128 --resolution 64 --seed 1 \\
        --synthfaces-version 2
    python benchmarks/fid_floor.py --data data/synthfaces --heldout data/synthfaces-heldout --resolution 32 \\
        --fake-frames 1000 --real-frames 2000 --out benchmarks/results/fid_floor_synthfaces_v2_cpu.json

Training reports FID of ``--fake-frames`` independent G_ema images against ``--real-frames`` training frames
(:meth:`styleinv_lib.train.stylegan2.StyleGAN2Stage.evaluate`); here the same number of independent *real* frames
(other videos, other identities) take G_ema's place, over several protocol seeds.  A generator within 2x of this
floor is as sharp and as diverse as these sample sizes can tell.
"""
from __future__ import annotations

import argparse
import json
import time
from pathlib import Path


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--data", type=Path, required=True, help="the training videos (the real statistics)")
    p.add_argument("--heldout", type=Path, required=True, help="another split of the same distribution")
    p.add_argument("--resolution", type=int, default=32)
    p.add_argument("--fake-frames", type=int, default=1000)
    p.add_argument("--real-frames", type=int, default=2000)
    p.add_argument("--seeds", default="0,1,2", help="protocol seeds (which held-out frames are drawn)")
    p.add_argument("--out", type=Path, default=None, help="write the result here as JSON")
    args = p.parse_args(argv)

    import numpy as np

    from styleinv_lib.metrics.protocol import Protocol, RealFrames, evaluate

    source = RealFrames(args.heldout, args.resolution)
    fids, t0 = [], time.perf_counter()
    for seed in (int(s) for s in args.seeds.split(",")):
        protocol = Protocol(num_clips=2, fid_frames=args.fake_frames, fid_real_frames=args.real_frames, seed=seed,
                            batch=16, fid="stylegan-v")  # the real side of the in-training image FID
        fids.append(evaluate(source, args.data, ["fid"], protocol)["metrics"]["fid"])
        print(f"seed {seed}: FID {fids[-1]:.2f}")
    result = {"data": str(args.data), "heldout": str(args.heldout), "resolution": args.resolution,
              "fake_frames": args.fake_frames, "real_frames": args.real_frames, "fid_per_seed": fids,
              "fid_mean": float(np.mean(fids)), "fid_std": float(np.std(fids)),
              "seconds": round(time.perf_counter() - t0, 1)}
    print(json.dumps(result, indent=2))
    if args.out is not None:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(result, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
