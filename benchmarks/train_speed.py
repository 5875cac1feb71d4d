"""Training throughput of the StyleGAN2 stage: images per second for one full step (G and D), with and without
the lazy regularisers, at a given resolution and batch.

    python benchmarks/train_speed.py --profile cpu --steps 20
    python benchmarks/train_speed.py --profile gpu --precision bf16 --compile      # on a CUDA machine
"""
import argparse
import tempfile
import time
from dataclasses import replace

import torch

from styleinv_lib.data import export_synthfaces
from styleinv_lib.train.stylegan2 import StyleGAN2Stage, config_for_profile


def measure(stage: StyleGAN2Stage, steps: int, first_step: int) -> float:
    for s in range(2):  # warm-up (and compilation)
        stage.step(first_step + s)
    if stage.device.type == "cuda":
        torch.cuda.synchronize()
    t0 = time.perf_counter()
    for s in range(steps):
        stage.step(first_step + 2 + s)
    if stage.device.type == "cuda":
        torch.cuda.synchronize()
    return steps * stage.cfg.batch / (time.perf_counter() - t0)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--profile", default="cpu")
    ap.add_argument("--resolution", type=int, default=None)
    ap.add_argument("--batch", type=int, default=None)
    ap.add_argument("--steps", type=int, default=20)
    ap.add_argument("--precision", default="auto")
    ap.add_argument("--compile", action="store_true")
    args = ap.parse_args()
    cfg = config_for_profile(args.profile, resolution=args.resolution, batch=args.batch, precision=args.precision,
                             compile=args.compile)
    with tempfile.TemporaryDirectory() as tmp:
        export_synthfaces(tmp + "/d", num_videos=8, num_frames=16, resolution=cfg.resolution, progress=False)
        cfg = replace(cfg, data=tmp + "/d")
        plain = StyleGAN2Stage(replace(cfg, r1_interval=0, pl_weight=0.0, augment="none"))
        full = StyleGAN2Stage(replace(cfg, r1_interval=1, pl_interval=1, pl_weight=2.0))
        print(f"{cfg.resolution}², batch {cfg.batch}, device {plain.device}, precision {plain.policy.mode}, "
              f"compile {cfg.compile}, torch {torch.__version__}, {torch.get_num_threads()} threads")
        print(f"G+D step, no regularisation, no augmentation: {measure(plain, args.steps, 1):8.1f} img/s")
        print(f"G+D step + R1 + path length every step, ADA : {measure(full, args.steps, 0):8.1f} img/s")


if __name__ == "__main__":
    main()
