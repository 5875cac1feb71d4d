"""Training throughput of every stage's step in fp32, bf16 autocast and bf16 + ``torch.compile``, side by side,
with the FLOPs of a step and the achieved FLOP/s against the machine's bf16 peak.

    python benchmarks/train_speed.py                                     # cpu preset + the wide 32² config
    python benchmarks/train_speed.py --stages styleinv --configs cpu --modes fp32,bf16 --steps 8
    python benchmarks/train_speed.py --device cuda --modes fp32,bf16,bf16+compile --configs gpu   # on a GPU

Stages: ``stylegan2`` (G and D phases, lazy R1 every 16 steps), ``encoder`` (Eq. 1: E → G → MSE + LPIPS + latent
loss) and ``styleinv`` (one FFA-ST step: StyleInV through the frozen G, the sparse D, lazy R1). Configs: ``cpu``
(the cpu preset of each stage: 32², batch 8 / 16 / 8 clips of 4 frames; StyleGAN2's was 16 before the 60-minute
recipe, as in ``train_speed_cpu*.json``), ``wide`` (32², batch 32, channel_base 8192, channel_max 256 for G, D, E
and StyleInV's D), ``gpu`` (the gpu presets). Every mode times the same step indices (so the same data and the same
lazy-regulariser steps) after warm-up steps that also compile; FLOPs are counted once per stage and config with
``torch.utils.flop_counter`` on the fp32 model (multiply-adds ×2 of matmuls and convolutions, forward and backward;
elementwise work is not counted).

The bf16 peak of a CPU is ``cores × GHz × FLOPs/cycle``: 2,048 per core per cycle with AMX (Sapphire Rapids' TMUL:
16×32 bf16 pairs → 1,024 multiply-adds), 128 with AVX-512 BF16 alone (two 512-bit VDPBF16PS units), 64 in fp32
with AVX-512 (two FMA units × 16 lanes × 2); AMD Zen 4 (family 25) runs 512-bit instructions on 256-bit datapaths,
half those rates (64 bf16, 32 fp32: its fp32 GEMM reaches 97 % of 32 at the nominal clock).  The clock is the
nominal one from ``/proc/cpuinfo`` (``model name`` "@ x GHz" or "cpu MHz"); turbo clocks make the true peak
somewhat higher.  Results are appended to the ``--out``
JSON after every measurement; entries already there are skipped, so an interrupted run resumes.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import re
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path

import torch

from styleinv_lib.train.host_memory import OPT_OUT

MODES = {"fp32-before": ("fp32", False), "fp32": ("fp32", False), "fp32+compile": ("fp32", True),
         "bf16": ("bf16", False), "bf16+compile": ("bf16", True), "fp16": ("fp16", False),
         "fp16+compile": ("fp16", True)}
#: ``fp32-before``: the step as it was before bf16/compile were added (fp32, NCHW, glibc's own malloc, R1 through
#: torch's own double backward instead of ``nn.conv_gradfix``, and for the encoder and StyleInV stages the fused
#: modulated convolution through the frozen G: one grouped convolution with a kernel per image)
WIDE = dict(channel_base=8192, channel_max=256, batch=32)
ROOT = Path(__file__).resolve().parents[1]


def per_cycle_flops(cpuinfo: str) -> tuple[int, int]:
    """bf16 and fp32 FLOPs per core per cycle of the CPU ``/proc/cpuinfo`` describes (bf16 0 without native bf16)."""
    flags = set(cpuinfo.split())
    bf16 = 2048 if "amx_bf16" in flags else 128 if "avx512_bf16" in flags else 0
    fp32 = 64 if "avx512f" in flags else 32 if "avx2" in flags else 16
    vendor = re.search(r"vendor_id\s*:\s*(\S+)", cpuinfo)
    family = re.search(r"cpu family\s*:\s*(\d+)", cpuinfo)
    if vendor and family and vendor.group(1) == "AuthenticAMD" and int(family.group(1)) == 25 and "avx512f" in flags:
        bf16, fp32 = bf16 // 2, fp32 // 2      # Zen 4: AVX-512 on 256-bit datapaths
    return bf16, fp32


def cpu_peak() -> dict:
    """Nominal bf16 and fp32 peak FLOP/s of the cores torch uses (see the module docstring)."""
    from styleinv_lib.train.loop import cpu_has_native_bf16

    text = Path("/proc/cpuinfo").read_text() if Path("/proc/cpuinfo").is_file() else ""
    model = re.search(r"model name\s*:\s*(.*)", text)
    model = model.group(1).strip() if model else platform.processor()
    ghz = re.search(r"@\s*([\d.]+)\s*GHz", model)
    if ghz:
        ghz = float(ghz.group(1))
    else:
        mhz = re.findall(r"cpu MHz\s*:\s*([\d.]+)", text)
        ghz = max(map(float, mhz)) / 1000 if mhz else float("nan")
    cores = torch.get_num_threads()
    per_cycle_bf16, per_cycle_fp32 = per_cycle_flops(text)
    return {"cpu": model, "threads": cores, "ghz_nominal": ghz, "native_bf16": cpu_has_native_bf16()[1],
            "bf16_peak_tflops": cores * ghz * per_cycle_bf16 / 1000,
            "fp32_peak_tflops": cores * ghz * per_cycle_fp32 / 1000}


def gemm_tflops(dtype: torch.dtype, device: str = "cpu", n: int = 2048, reps: int = 10) -> float:
    """Achieved FLOP/s of a large square matrix product: what the math library reaches on this machine, the
    practical ceiling a training step's convolutions can approach."""
    a, b = (torch.randn(n, n, device=device).to(dtype) for _ in range(2))
    for _ in range(2):
        a @ b
    sync(device)
    t = time.perf_counter()
    for _ in range(reps):
        a @ b
    sync(device)
    return 2 * n ** 3 * reps / (time.perf_counter() - t) / 1e12


def make_assets(tmp: Path, config: str, device: str, num_videos: int = 6, num_frames: int = 128) -> dict:
    """Data, a generator and an encoder of the config's sizes (committed checkpoints for ``cpu``; for the other
    configs, networks of that width made by one training step each: the step time does not depend on weights)."""
    from styleinv_lib.data import export_synthfaces
    from styleinv_lib.train.inversion import config_for_profile as enc_cfg, train_encoder
    from styleinv_lib.train.stylegan2 import config_for_profile as g_cfg, train_stylegan2

    res = g_cfg(config if config != "wide" else "cpu").resolution
    data = tmp / f"faces{res}"
    export_synthfaces(data, num_videos=num_videos, num_frames=num_frames, resolution=res, progress=False)
    if config == "cpu":
        return {"data": str(data), "generator": str(ROOT / "checkpoints/stylegan2_synthfaces32_v2_cpu.safetensors"),
                "encoder": str(ROOT / "checkpoints/encoder_synthfaces32_v2_cpu.safetensors")}
    widths = WIDE if config == "wide" else {}
    prof = "cpu" if config == "wide" else config
    g = replace(g_cfg(prof, **widths), data=str(data), total_kimg=widths.get("batch", 32) / 1000, metrics="",
                snapshot_kimg=1.0, device=device)
    train_stylegan2(g, tmp / f"G-{config}", progress=False, tensorboard=False, handle_signals=False)
    e = replace(enc_cfg(prof, channel_base=widths.get("channel_base"), channel_max=widths.get("channel_max")),
                data=str(data), generator=str(tmp / f"G-{config}"), total_kimg=0.016, batch=16, eval_kimg=None,
                device=device)
    train_encoder(e, tmp / f"E-{config}", progress=False, tensorboard=False, handle_signals=False)
    return {"data": str(data), "generator": str(tmp / f"G-{config}"), "encoder": str(tmp / f"E-{config}")}


def build_stage(stage: str, config: str, assets: dict, precision: str, compile_: bool, device: str):
    """The training stage object of ``stage`` at ``config``, with metrics and snapshots off."""
    prof = "cpu" if config == "wide" else config
    common = dict(precision=precision, compile=compile_, device=device)
    if stage == "stylegan2":
        from styleinv_lib.train.stylegan2 import StyleGAN2Stage, config_for_profile

        cfg = config_for_profile(prof, data=assets["data"], metrics="", **common,
                                 **(WIDE if config == "wide" else {}))
        return StyleGAN2Stage(cfg)
    if stage == "encoder":
        from styleinv_lib.train.inversion import InversionStage, config_for_profile

        cfg = config_for_profile(prof, data=assets["data"], generator=assets["generator"], **common,
                                 **(WIDE if config == "wide" else {}))
        return InversionStage(cfg)
    if stage == "styleinv":
        from styleinv_lib.train.styleinv import StyleInVStage, config_for_profile

        wide = dict(d_channel_base=WIDE["channel_base"], d_channel_max=WIDE["channel_max"], batch=WIDE["batch"])
        cfg = config_for_profile(prof, data=assets["data"], generator=assets["generator"],
                                 encoder=assets["encoder"], metrics="", **common,
                                 **(wide if config == "wide" else {}))
        return StyleInVStage(cfg)
    raise ValueError(f"unknown stage {stage!r}")


def fused_synthesis(G):
    """G's synthesis forced onto the fused path (one grouped convolution with a kernel per image), whatever
    ``fused`` the stage asks for: the encoder and StyleInV steps before this change."""
    def synthesis(*args, **kwargs):
        return G.synthesis(*args, **{**kwargs, "fused": True})
    return synthesis


def units_per_step(stage_obj) -> int:
    """Images per step (StyleInV: generated frames, clips × frames per clip)."""
    cfg = stage_obj.cfg
    return cfg.batch * getattr(cfg, "num_frames", 1)


def sync(device) -> None:
    if torch.device(device).type == "cuda":
        torch.cuda.synchronize()


#: Steps FIRST_TIMED_STEP .. FIRST_TIMED_STEP + steps - 1 are timed: step 16 (and 32) is an R1 step, like one in every
#: 16 in training; the warm-up steps are the ones just before it.
FIRST_TIMED_STEP = 16


def time_steps(stage_obj, first: int, steps: int, warmup: int) -> dict:
    """Wall time of ``steps`` steps from ``first`` (after ``warmup`` steps, which also compile)."""
    t0 = time.perf_counter()
    for s in range(warmup):
        stage_obj.step(first - warmup + s)
    sync(stage_obj.device)
    warm = time.perf_counter() - t0
    per_step = []
    for s in range(steps):
        t = time.perf_counter()
        stage_obj.step(first + s)
        sync(stage_obj.device)
        per_step.append(time.perf_counter() - t)
    return {"seconds": sum(per_step), "median_step_s": statistics.median(per_step), "warmup_s": warm}


def count_step_flops(stage_obj, first: int, steps: int) -> float:
    from styleinv_lib.cost import count_flops

    return float(count_flops(lambda: [stage_obj.step(first + s) for s in range(steps)])[1])


def add_shares(row: dict, machine: dict) -> dict:
    """``row``'s achieved FLOP/s as shares of the machine's nominal peaks and measured GEMMs (in place)."""
    for name in ("bf16", "fp32"):          # a CPU without native bf16 has no bf16 peak (0)
        if machine.get(f"{name}_peak_tflops"):
            row[f"share_of_{name}_peak"] = row["achieved_tflops"] / machine[f"{name}_peak_tflops"]
    for name, tflops in machine["gemm_tflops"].items():
        row[f"share_of_{name}_gemm"] = row["achieved_tflops"] / tflops
    return row


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--stages", default="stylegan2,encoder,styleinv")
    ap.add_argument("--configs", default="cpu,wide", help="cpu, wide, gpu (comma-separated)")
    ap.add_argument("--modes", default="fp32-before,fp32,bf16,bf16+compile", help=f"of {', '.join(MODES)}")
    ap.add_argument("--steps", type=int, default=16, help="timed steps (16: one lazy R1 step among them)")
    ap.add_argument("--warmup", type=int, default=FIRST_TIMED_STEP,
                    help=f"untimed steps before the first timed one (at most {FIRST_TIMED_STEP}, its index; the "
                         f"default takes them all, a lazy R1 step among them: the first R1 step of a process costs "
                         f"over a second more at the cpu preset's batch 8; the committed rows before it took 3)")
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--out", type=Path, default=ROOT / "benchmarks/results/train_speed_cpu.json")
    args = ap.parse_args(argv)
    if not 0 <= args.warmup <= FIRST_TIMED_STEP:
        ap.error(f"--warmup must be between 0 and {FIRST_TIMED_STEP} (the warm-up steps come before step "
                 f"{FIRST_TIMED_STEP}, the first timed one), got {args.warmup}")
    stages, configs, modes = (x.split(",") for x in (args.stages, args.configs, args.modes))
    bad = [m for m in modes if m not in MODES]
    if bad:
        raise SystemExit(f"unknown modes {bad}: choose from {', '.join(MODES)}")

    if "fp32-before" in modes and args.device == "cpu" and os.environ.get(OPT_OUT) != "system":
        # the step before also ran on glibc's own malloc: training stages now keep freed host memory
        # (styleinv_lib.train.host_memory), a process-wide setting, so the before rows are measured in a child
        child = [sys.executable, __file__, "--stages", args.stages, "--configs", args.configs, "--modes",
                 "fp32-before", "--steps", str(args.steps), "--warmup", str(args.warmup), "--device", args.device,
                 "--out", str(args.out)]
        subprocess.run(child, env={**os.environ, OPT_OUT: "system"}, check=True)
        modes = [m for m in modes if m != "fp32-before"]
    machine = cpu_peak() if args.device == "cpu" else {"gpu": torch.cuda.get_device_name(0)}
    # the GEMM ceiling of each precision the modes use (a bf16 product on a CPU without native bf16 is emulated and
    # takes minutes: measured only when a bf16 mode asks for it)
    gemm = {"fp32": gemm_tflops(torch.float32, args.device)}
    if any(MODES[m][0] == "bf16" for m in modes):
        gemm["bf16"] = gemm_tflops(torch.bfloat16, args.device)
    machine.update(torch=torch.__version__, python=platform.python_version(), gemm_tflops=gemm)
    results = json.loads(args.out.read_text()) if args.out.is_file() else {"machine": machine, "rows": []}
    results["machine"] = machine
    for row in results["rows"]:     # rows measured in a child (the before rows) or on another run: this run's GEMMs
        add_shares(row, machine)
    done = {(r["stage"], r["config"], r["mode"]) for r in results["rows"]}

    def save():
        args.out.parent.mkdir(parents=True, exist_ok=True)
        tmp_out = args.out.with_suffix(".part")
        tmp_out.write_text(json.dumps(results, indent=1) + "\n")
        os.replace(tmp_out, args.out)

    first = FIRST_TIMED_STEP
    with tempfile.TemporaryDirectory() as tmp:
        for config in configs:
            assets = None
            for stage in stages:
                for mode in modes:
                    if (stage, config, mode) in done:
                        continue
                    if assets is None:
                        assets = make_assets(Path(tmp), config, args.device)
                    precision, compile_ = MODES[mode]
                    fused = mode == "fp32-before" and stage != "stylegan2"
                    torch._dynamo.reset()
                    obj = build_stage(stage, config, assets, precision, compile_, args.device)
                    if fused:
                        obj.synthesis_fwd = fused_synthesis(obj.G)
                    gradfix = getattr(obj, "regulariser_gradfix", False) and mode != "fp32-before"
                    if hasattr(obj, "regulariser_gradfix"):
                        obj.regulariser_gradfix = gradfix
                    t = time_steps(obj, first, args.steps, args.warmup)
                    # FLOPs of the same path on the plain fp32 model, counted once per path: the fused modulated
                    # convolution also computes the gradient of its per-image kernels (about twice the conv work)
                    flops = next((r["flops_per_step"] for r in results["rows"]
                                  if (r["stage"], r["config"]) == (stage, config)
                                  and r.get("fused_modconv", False) == fused
                                  and r.get("r1_gradfix", False) == gradfix), None)
                    if flops is None:
                        counter = build_stage(stage, config, assets, "fp32", False, args.device)
                        if fused:
                            counter.synthesis_fwd = fused_synthesis(counter.G)
                        if hasattr(counter, "regulariser_gradfix"):
                            counter.regulariser_gradfix = gradfix
                        flops = count_step_flops(counter, first, args.steps) / args.steps
                    units = units_per_step(obj) * args.steps
                    row = {"stage": stage, "config": config, "mode": mode, "precision": obj.policy.mode,
                           "compile": compile_, "fused_modconv": fused, "r1_gradfix": gradfix,
                           "channels_last": obj.policy.channels_last,
                           "batch": obj.cfg.batch, "images_per_s": units / t["seconds"],
                           "steps_per_s": args.steps / t["seconds"], "median_step_s": t["median_step_s"],
                           "warmup_s": t["warmup_s"], "steps": args.steps, "flops_per_step": flops,
                           "achieved_tflops": flops * args.steps / t["seconds"] / 1e12}
                    results["rows"].append(add_shares(row, machine))
                    save()
                    print(f"{stage:9s} {config:5s} {mode:13s} {row['images_per_s']:8.1f} img/s  "
                          f"{row['achieved_tflops']:.3f} TFLOP/s  (warm-up {t['warmup_s']:.0f} s)", flush=True)
    print_table(results)
    return 0


def print_table(results: dict) -> None:
    """Throughput per stage and config, each mode against the step before this change (``fp32-before``)."""
    rows = results["rows"]
    base = {(r["stage"], r["config"]): r["images_per_s"] for r in rows if r["mode"] == "fp32-before"}
    m = results["machine"]
    print(f"\n{m.get('cpu', m.get('gpu'))}, {m.get('threads', '')} threads; bf16 peak (nominal) "
          f"{m.get('bf16_peak_tflops', float('nan')):.2f} TFLOP/s; measured GEMM fp32 {m['gemm_tflops']['fp32']:.2f}, "
          f"bf16 {m['gemm_tflops'].get('bf16', float('nan')):.2f} TFLOP/s")
    print(f"{'stage':9s} {'config':6s} {'mode':13s} {'img/s':>8s} {'× before':>8s} {'TFLOP/s':>8s} "
          f"{'% bf16 peak':>11s} {'% bf16 GEMM':>11s}")
    for r in rows:
        ratio = r["images_per_s"] / base[(r["stage"], r["config"])] if (r["stage"], r["config"]) in base else None
        share = f"{100 * r['share_of_bf16_peak']:.1f}" if "share_of_bf16_peak" in r else "-"
        print(f"{r['stage']:9s} {r['config']:6s} {r['mode']:13s} {r['images_per_s']:8.1f} "
              f"{(f'{ratio:.2f}' if ratio else '-'):>8s} {r['achieved_tflops']:8.3f} {share:>11s} "
              f"{100 * r.get('share_of_bf16_gemm', float('nan')):11.1f}")


if __name__ == "__main__":
    raise SystemExit(main())
