"""Can FFA-ST's sparse discriminator learn motion at all, when motion is the only thing to learn?

    python benchmarks/d_motion_learnability.py --profile cpu --steps 1000 \\
        --out benchmarks/results/d_motion_learnability_v2_cpu.json

``benchmarks/d_motion_sensitivity.py`` shows that a D trained by FFA-ST scores a real clip held still as high as
the moving clip.  This script asks whether that D architecture, at the profile's size, can tell them apart when
trained for nothing else: a fresh D (the profile's preset: channels, first-frame awareness, timestamps as
training draws them) learns with the logistic loss that real clips are real and the same clips held still (every
frame replaced by the first) are fake, on a fixed set of cached training batches, and is tested every
``steps / 10`` steps on held-out clips: the share of clips it ranks above their still version (0.5: blind).
"""
from __future__ import annotations

import argparse
import json
import time
from pathlib import Path


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--profile", default="cpu")
    p.add_argument("--data", type=Path, default=Path("data/synthfaces"))
    p.add_argument("--generator", type=Path, default=Path("checkpoints/stylegan2_synthfaces32_v2_cpu.safetensors"))
    p.add_argument("--encoder", type=Path, default=Path("checkpoints/encoder_synthfaces32_v2_cpu.safetensors"))
    p.add_argument("--batches", type=int, default=60, help="cached training batches, cycled")
    p.add_argument("--steps", type=int, default=1000)
    p.add_argument("--lr", type=float, default=None, help="D's learning rate (default: the preset's lr_d)")
    p.add_argument("--out", type=Path, default=None)
    args = p.parse_args(argv)

    import torch
    import torch.nn.functional as F

    from styleinv_lib.train.motion_sensitivity import held_still, score_clips
    from styleinv_lib.train.styleinv import StyleInVStage, config_for_profile

    cfg = config_for_profile(args.profile, data=str(args.data), generator=str(args.generator),
                             encoder=str(args.encoder), compile=False, metrics="", device="cpu")
    stage = StyleInVStage(cfg)
    D = stage.D
    lr = cfg.lr_d if args.lr is None else args.lr
    t0 = time.perf_counter()
    train = [stage.real_clips(i) for i in range(args.batches)]
    test = [stage.real_clips(900_000 + i) for i in range(8)]

    def ranked_above() -> float:
        with torch.no_grad():
            return float(torch.stack([(score_clips(stage, r, t) > score_clips(stage, held_still(r), t)).float().mean()
                                      for r, t in test]).mean())

    opt = torch.optim.Adam(D.parameters(), lr=lr, betas=(0.0, 0.99), eps=1e-8)
    curve = []
    every = max(1, args.steps // 10)
    for step in range(args.steps + 1):
        if step % every == 0:
            curve.append({"step": step, "ranked_above": ranked_above(),
                          "seconds": round(time.perf_counter() - t0, 1)})
            print(f"step {step:5d}: ranked above its still version in {curve[-1]['ranked_above']:.2f} of clips",
                  flush=True)
        if step == args.steps:
            break
        r, t = train[step % args.batches]
        loss = F.softplus(-score_clips(stage, r, t)).mean() + F.softplus(score_clips(stage, held_still(r), t)).mean()
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
    if args.out is not None:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps({
            "profile": args.profile, "data": str(args.data), "lr": lr, "batch": cfg.batch,
            "batches": args.batches, "d_channel_base": cfg.d_channel_base, "d_channel_max": cfg.d_channel_max,
            "first_frame_in_d": cfg.first_frame_in_d, "curve": curve}, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
