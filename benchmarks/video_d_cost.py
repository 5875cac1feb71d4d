"""Cost of one discriminator step against clip length, dense video D against FFA-ST's sparse D (paper §3.4):
seconds, GFLOPs and the activation bytes saved for backward (:func:`styleinv_lib.cost.discriminator_cost`).
Results go to ``--out`` as JSON; chapter 9 plots them.

    python benchmarks/video_d_cost.py --resolution 32 --batch 2 --out benchmarks/results/video_d_cost_cpu.json
    python benchmarks/video_d_cost.py --resolution 128 --device cuda --out video_d_cost_gpu.json
"""
import argparse
import json
from pathlib import Path

from styleinv_lib.cost import discriminator_cost


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--resolution", type=int, default=32)
    ap.add_argument("--batch", type=int, default=2, help="real clips (and as many fakes) per step")
    ap.add_argument("--lengths", default="16,32,64,128,256,512,1024")
    ap.add_argument("--channel-base", type=int, default=2048, help="both Ds' width (the cpu profile's)")
    ap.add_argument("--channel-max", type=int, default=64)
    ap.add_argument("--repeats", type=int, default=2, help="timed steps per length (the fastest is kept)")
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--out", type=Path, default=None)
    args = ap.parse_args()
    result = discriminator_cost([int(v) for v in args.lengths.split(",")], resolution=args.resolution,
                                batch=args.batch, channel_base=args.channel_base, channel_max=args.channel_max,
                                device=args.device, repeats=args.repeats, log=lambda s: print(s, flush=True))
    if args.out is not None:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(result, indent=1) + "\n")
        print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
