"""Render speed of the embedded datasets: videos per second, rendering only and rendering + writing PNGs.

    python benchmarks/render_speed.py --videos 50 --frames 128 --resolution 64
"""
import argparse
import tempfile
import time

import torch

from styleinv_lib.data import SynthFaces, SynthSky, export_synthfaces


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--videos", type=int, default=50)
    ap.add_argument("--frames", type=int, default=128)
    ap.add_argument("--resolution", type=int, default=64)
    args = ap.parse_args()
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads; "
          f"{args.videos} videos × {args.frames} frames at {args.resolution}²")
    datasets = {"SynthFaces": SynthFaces(args.resolution, args.frames),
                "SynthSky": SynthSky(args.resolution, args.frames)}
    for name, ds in datasets.items():
        ds.render(0)  # warm-up
        t0 = time.perf_counter()
        for i in range(args.videos):
            ds.render(i)
        dt = time.perf_counter() - t0
        fps = args.videos * args.frames / dt
        print(f"{name:10s} render only      {args.videos / dt:7.2f} videos/s  ({fps:8.0f} frames/s)")
    with tempfile.TemporaryDirectory() as tmp:
        t0 = time.perf_counter()
        export_synthfaces(tmp + "/d", num_videos=args.videos, num_frames=args.frames, resolution=args.resolution,
                          progress=False)
        dt = time.perf_counter() - t0
    print(f"SynthFaces render + PNG + metadata {args.videos / dt:7.2f} videos/s")


if __name__ == "__main__":
    main()
