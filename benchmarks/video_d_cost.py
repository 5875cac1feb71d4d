"""Cost of one discriminator step against clip length: a dense video D (every frame, 3-D convolutions, the
autoregressive baselines' D) against FFA-ST's sparse D (four frames, whatever the clip spans), paper §3.4.

For each clip length T (16 → 1,024 frames) it measures one D step — forward and backward on B real and B fake
clips — three ways: wall-clock seconds, floating-point operations (``torch.utils.flop_counter``) and the bytes
autograd saves for the backward pass (the activation memory a step needs; ``torch.cuda.max_memory_allocated`` is
also reported on CUDA).  The sparse D's input does not depend on T (four frames at t0 = 0 < t1 < t2 < t3 ≤ T), so
its row is the same for every T; the dense D's grows linearly.  Untrained networks: cost does not depend on the
weights.  Results go to ``--out`` as JSON (chapter 9 plots them).

    python benchmarks/video_d_cost.py --resolution 32 --out benchmarks/results/video_d_cost_cpu.json
    python benchmarks/video_d_cost.py --resolution 128 --device cuda --out video_d_cost_gpu.json
"""
import argparse
import json
import platform
import time
from pathlib import Path

import torch

from styleinv_lib.nn.temporal_disc import TemporalVideoDiscriminator
from styleinv_lib.nn.video_disc import SparseVideoDiscriminator


def saved_bytes(fn) -> tuple[object, int]:
    """Run ``fn()`` and count the bytes of the tensors autograd saves for backward."""
    total = 0

    def pack(t):
        nonlocal total
        total += t.numel() * t.element_size()
        return t

    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        out = fn()
    return out, total


def d_step(D, clips: torch.Tensor, extra: dict, repeats: int) -> dict:
    """D steps on ``clips`` (2B clips: reals and fakes): the fastest of ``repeats`` timed steps, then one counted
    step for FLOPs and saved activation bytes (and the CUDA peak), so that counting does not slow the timing."""
    from torch.utils.flop_counter import FlopCounterMode

    device = clips.device

    def step(count: bool = False):
        D.zero_grad(set_to_none=True)
        logits, activation = saved_bytes(lambda: D(clips, **extra)) if count else (D(clips, **extra), 0)
        torch.nn.functional.softplus(logits).mean().backward()
        return activation

    seconds = []
    for _ in range(repeats):
        if device.type == "cuda":
            torch.cuda.synchronize()
        start = time.perf_counter()
        step()
        if device.type == "cuda":
            torch.cuda.synchronize()
        seconds.append(time.perf_counter() - start)
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats()
    counter = FlopCounterMode(display=False)
    with counter:
        activation = step(count=True)
    row = {"seconds": min(seconds), "gflops": counter.get_total_flops() / 1e9, "activation_mb": activation / 2**20}
    if device.type == "cuda":
        row["cuda_peak_mb"] = torch.cuda.max_memory_allocated() / 2**20
    return row


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--resolution", type=int, default=32)
    ap.add_argument("--batch", type=int, default=4, help="real clips (and as many fakes) per step")
    ap.add_argument("--lengths", default="16,32,64,128,256,512,1024")
    ap.add_argument("--channel-base", type=int, default=2048, help="both Ds' width (the cpu profile's)")
    ap.add_argument("--channel-max", type=int, default=64)
    ap.add_argument("--repeats", type=int, default=2, help="timed steps per length (the fastest is kept)")
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--out", type=Path, default=None)
    args = ap.parse_args()
    device = torch.device(args.device)
    torch.manual_seed(0)
    dense = TemporalVideoDiscriminator(args.resolution, channel_base=args.channel_base,
                                       channel_max=args.channel_max).to(device)
    sparse = SparseVideoDiscriminator(args.resolution, num_frames=4, channel_base=args.channel_base,
                                      channel_max=args.channel_max, max_num_frames=2048).to(device)
    b = 2 * args.batch
    rows = []
    for T in [int(v) for v in args.lengths.split(",")]:
        clips = torch.randn(b, T, 3, args.resolution, args.resolution, device=device)
        t = torch.stack([torch.tensor([0, T // 4, T // 2, T - 1])] * b).to(device)
        four = clips[:, [0, T // 4, T // 2, T - 1]].contiguous()
        for name, D, x, extra in (("dense", dense, clips, {}), ("sparse", sparse, four, {"t": t})):
            d_step(D, x, extra, 1)                                                  # warm-up
            best = d_step(D, x, extra, args.repeats)
            rows.append({"discriminator": name, "clip_length": T, "frames_seen": x.shape[1], **best})
            print(f"T={T:5d} {name:6s} {best['seconds']:8.3f} s  {best['gflops']:9.2f} GFLOP  "
                  f"{best['activation_mb']:9.1f} MB saved for backward", flush=True)
    result = {"benchmark": "video D step cost vs clip length", "resolution": args.resolution,
              "batch": args.batch, "channel_base": args.channel_base, "channel_max": args.channel_max,
              "device": str(device), "torch": torch.__version__, "threads": torch.get_num_threads(),
              "machine": platform.processor() or platform.machine(),
              "params": {"dense": sum(p.numel() for p in dense.parameters()),
                         "sparse": sum(p.numel() for p in sparse.parameters())}, "rows": rows}
    if args.out is not None:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(result, indent=1) + "\n")
        print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
