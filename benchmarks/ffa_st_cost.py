"""Cost of first-frame-aware sparse training (FFA-ST, §3.4) against the clip span, and generation speed.

FFA-ST shows D four frames ``t0 = 0 < t1 < t2 < t3`` whatever the span ``t3 − t0``; so the step time and memory
of a training step should be flat in the maximum clip distance (16 → 2,048 frames), unlike a dense video D whose
input grows with the clip.  The second table is generation throughput (frames per second, chunked, any length).

    python benchmarks/ffa_st_cost.py --profile cpu                 # 32² (the committed generator's size)
    python benchmarks/ffa_st_cost.py --profile cpu --resolution 64
    python benchmarks/ffa_st_cost.py --profile gpu --device cuda   # on a GPU

The networks are untrained (random G of the profile's StyleGAN2 preset, random encoder): cost does not depend
on the weights.  Peak memory is the process's peak RSS growth on the CPU, ``torch.cuda.max_memory_allocated`` on
CUDA.
"""
import argparse
import json
import resource
import tempfile
import time
from pathlib import Path

import torch

from styleinv_lib.data import export_synthfaces
from styleinv_lib.generate import generate_video
from styleinv_lib.nn import Generator
from styleinv_lib.nn.encoder import InversionEncoder
from styleinv_lib.checkpoint import save_snapshot
from styleinv_lib.train.styleinv import StyleInVStage, config_for_profile
from styleinv_lib.train.stylegan2 import config_for_profile as sg2_config


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--profile", default="cpu")
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--resolution", type=int, default=None, help="override the profile's G resolution (e.g. 64)")
    ap.add_argument("--steps", type=int, default=5)
    ap.add_argument("--distances", default="16,128,1024,2048")
    ap.add_argument("--gen-frames", type=int, default=256)
    ap.add_argument("--out", type=Path, default=None, help="write the results as JSON here")
    args = ap.parse_args()
    dev = torch.device(args.device)
    distances = [int(d) for d in args.distances.split(",")]
    work = Path(tempfile.mkdtemp(prefix="ffa_st_cost_"))
    g_cfg = sg2_config(args.profile, resolution=args.resolution)
    G = Generator(**g_cfg.generator_kwargs()).eval()
    save_snapshot(work / "G.safetensors", stage="stylegan2", config={"stage": "stylegan2", "generator": G.config},
                  modules={"G_ema": G}, rng={})
    E = InversionEncoder.for_generator(G, channel_base=g_cfg.channel_base, channel_max=g_cfg.channel_max)
    save_snapshot(work / "E.safetensors", stage="encoder", config={"stage": "encoder", "encoder": E.config},
                  modules={"E": E}, rng={})
    longest = max(distances) + 2
    export_synthfaces(work / "data", num_videos=2, num_frames=longest, resolution=g_cfg.resolution, progress=False)

    rows = []
    for d in distances:
        cfg = config_for_profile(args.profile, data=str(work / "data"), generator=str(work / "G.safetensors"),
                                 encoder=str(work / "E.safetensors"), max_distance=d, window=d + 1, metrics="",
                                 device=args.device)
        stage = StyleInVStage(cfg)
        stage.step(0)                                   # warm-up
        if dev.type == "cuda":
            torch.cuda.synchronize()
            torch.cuda.reset_peak_memory_stats()
        rss0 = peak_rss_mb()
        t0 = time.perf_counter()
        for s in range(1, args.steps + 1):
            stage.step(s)
        if dev.type == "cuda":
            torch.cuda.synchronize()
        sec = (time.perf_counter() - t0) / args.steps
        mem = torch.cuda.max_memory_allocated() / 2**20 if dev.type == "cuda" else peak_rss_mb()
        rows.append({"max_distance": d, "step_s": sec, "clips_per_s": cfg.batch / sec, "peak_mb": mem,
                     "peak_rss_growth_mb": peak_rss_mb() - rss0 if dev.type != "cuda" else None})
        print(f"max distance {d:5d}: {sec * 1000:7.1f} ms/step ({cfg.batch / sec:6.1f} clips/s), peak {mem:8.1f} MB")

    SI = stage.SI_ema
    w0 = G.to(dev).mapping(torch.randn(4, G.z_dim, device=dev))[:, 0]
    t = torch.arange(args.gen_frames, dtype=torch.float32)
    generate_video(G, SI, w0, t[:16], chunk=16)          # warm-up
    t0 = time.perf_counter()
    generate_video(G, SI, w0, t, chunk=64)
    if dev.type == "cuda":
        torch.cuda.synchronize()
    fps = 4 * args.gen_frames / (time.perf_counter() - t0)
    print(f"generation at {G.img_resolution}²: {fps:.0f} frames/s (4 videos × {args.gen_frames} frames, chunks of 64)")
    result = {"profile": args.profile, "device": str(dev), "resolution": G.img_resolution, "batch": cfg.batch,
              "threads": torch.get_num_threads(), "training": rows, "generation_fps": fps}
    if args.out:
        args.out.write_text(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
