"""Where the time of a training step goes: plain steps and regulariser steps timed apart, in variants (torch's
convolutions as they are, with cuDNN's autotuner, with ``nn.conv_gradfix``), and the top operations of one plain and
one regularised step by device time (``torch.profiler``).

    python benchmarks/profile_step.py --device cuda --config gpu                 # StyleGAN2, encoder, StyleInV
    python benchmarks/profile_step.py --stages stylegan2 --config cpu --steps 17  # on a CPU

Step ``s`` of StyleGAN2 runs path-length regularisation when ``s % pl_interval == 0`` (gpu preset: every 4) and
lazy R1 when ``s % r1_interval == 0`` (every 16); StyleInV's D runs R1 every 16.  A step's median over its kind is
reported, so one slow step does not hide in a mean.  The networks come from ``train_speed.make_assets`` (one
training step each: the time of a step does not depend on the weights).  ``--out`` writes the numbers as JSON.
"""
from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from train_speed import build_stage, make_assets, sync  # noqa: E402

from styleinv_lib.nn import conv_gradfix  # noqa: E402

VARIANTS = ("native", "cudnn-benchmark", "conv-gradfix")


def step_kinds(stage_obj, steps: range) -> dict[str, list[int]]:
    """Step indices by the regularisers they run (``plain``, ``pl``, ``r1``; R1 wins when both run)."""
    cfg = stage_obj.cfg
    pl = getattr(cfg, "pl_interval", 0) if getattr(cfg, "pl_weight", 0) > 0 else 0
    r1 = getattr(cfg, "r1_interval", 0)
    kinds: dict[str, list[int]] = {}
    for s in steps:
        kind = "r1" if r1 and s % r1 == 0 else "pl" if pl and s % pl == 0 else "plain"
        kinds.setdefault(kind, []).append(s)
    return kinds


def time_kinds(stage_obj, steps: range, warmup: int) -> dict[str, float]:
    """Median seconds per step kind, after ``warmup`` steps of every kind."""
    for s in range(warmup):
        stage_obj.step(1000 + s)
    times: dict[str, list[float]] = {}
    for kind, idx in step_kinds(stage_obj, steps).items():
        for s in idx:
            sync(stage_obj.device)
            t = time.perf_counter()
            stage_obj.step(s)
            sync(stage_obj.device)
            times.setdefault(kind, []).append(time.perf_counter() - t)
    return {k: statistics.median(v) for k, v in times.items()}


def profile_steps(stage_obj, indices: list[int], rows: int) -> None:
    """Print the top ``rows`` operations of each step in ``indices`` by device time (CPU time on a CPU), each table
    as soon as it is measured; a step that fails is reported and the next one still runs."""
    from torch.profiler import ProfilerActivity, profile

    acts = [ProfilerActivity.CPU] + ([ProfilerActivity.CUDA] if torch.device(stage_obj.device).type == "cuda" else [])
    key = "self_cuda_time_total" if len(acts) > 1 else "self_cpu_time_total"
    for s in indices:
        try:
            with profile(activities=acts) as prof:
                stage_obj.step(s)
                sync(stage_obj.device)
        except Exception as err:  # noqa: BLE001 - report and go on to the next step kind
            print(f"--- step {s}: failed: {type(err).__name__}: {err}", flush=True)
            continue
        avg = prof.key_averages()
        dev = sum(getattr(e, "self_device_time_total", 0) for e in avg) / 1e3
        cpu = sum(e.self_cpu_time_total for e in avg) / 1e3
        print(f"--- step {s}: self device time {dev:.1f} ms, self CPU time {cpu:.1f} ms\n"
              + avg.table(sort_by=key, row_limit=rows, max_name_column_width=60), flush=True)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--stages", default="stylegan2,encoder,styleinv")
    ap.add_argument("--config", default="gpu", help="cpu, wide or gpu (as in train_speed.py)")
    ap.add_argument("--precision", default="auto")
    ap.add_argument("--device", default="cuda")
    ap.add_argument("--steps", type=int, default=17, help="timed steps 1..N (17: one R1 step, four PL steps)")
    ap.add_argument("--warmup", type=int, default=4)
    ap.add_argument("--rows", type=int, default=18, help="operations listed per profiled step")
    ap.add_argument("--variants", default="native,cudnn-benchmark,conv-gradfix",
                    help="native, cudnn-benchmark (torch.backends.cudnn.benchmark), conv-gradfix (nn.conv_gradfix); "
                         "the last one listed is profiled")
    ap.add_argument("--out", type=Path, default=None)
    args = ap.parse_args(argv)
    results = []
    with tempfile.TemporaryDirectory() as tmp:
        assets = make_assets(Path(tmp), args.config, args.device, num_videos=3, num_frames=128)
        for stage in args.stages.split(","):
            for variant in args.variants.split(","):
                if variant not in VARIANTS:
                    raise SystemExit(f"unknown variant {variant!r}: choose from {', '.join(VARIANTS)}")
                torch.backends.cudnn.benchmark = variant == "cudnn-benchmark"
                with conv_gradfix.enabled(variant == "conv-gradfix"):
                    obj = build_stage(stage, args.config, assets, args.precision, False, args.device)
                    med = time_kinds(obj, range(1, args.steps + 1), args.warmup)
                    row = {"stage": stage, "config": args.config, "precision": obj.policy.mode, "variant": variant,
                           "batch": obj.cfg.batch, "median_step_s": med}
                    results.append(row)
                    print(f"{stage:9s} {variant:15s} " + ", ".join(f"{k} {1e3 * v:.1f} ms" for k, v in med.items()),
                          flush=True)
                    if args.out:
                        args.out.write_text(json.dumps(results, indent=1) + "\n")
                    if variant == args.variants.split(",")[-1]:
                        kinds = step_kinds(obj, range(1, args.steps + 1))
                        profile_steps(obj, [kinds["plain"][0]] + [kinds[k][0] for k in ("pl", "r1") if k in kinds],
                                      args.rows)
                del obj
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
