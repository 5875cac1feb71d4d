"""How far FID and FVD16 move with the protocol's seed alone, at a profile's protocol size.

Chapter 9's Table 3 rows differ by a few per cent on 64-clip FVD; this measures the yardstick.  For each named run
of ``styleinv experiment`` it re-evaluates FID and FVD16 under the profile's protocol with other seeds (the seed
draws the real clips' offsets, the real-frame subset and the generated latents; the model is unchanged) and writes
every value with the mean, the standard deviation and the largest relative spread per metric:

    python benchmarks/protocol_spread.py --root runs/experiments --names full,no_ffa_d --seeds 1,2,3 \\
        --out checkpoints/protocol_spread_cpu.json
"""
import argparse
import json
import time
from dataclasses import replace
from pathlib import Path

import numpy as np

from styleinv_lib.experiments import EXPERIMENTS, latest_rows, read_results
from styleinv_lib.fileio import atomic_write_text
from styleinv_lib.generate import load_video_generator
from styleinv_lib.metrics.protocol import PROTOCOL_PRESETS, evaluate

METRICS = ("fid", "fvd16")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--root", type=Path, default=Path("runs/experiments"))
    ap.add_argument("--data", type=Path, default=Path("data/synthfaces"))
    ap.add_argument("--profile", default="cpu")
    ap.add_argument("--names", default="full,no_ffa_d")
    ap.add_argument("--seeds", default="1,2,3", help="protocol seeds besides 0 (the results file's)")
    ap.add_argument("--out", type=Path, default=Path("protocol_spread.json"))
    args = ap.parse_args()
    names = [n for n in args.names.split(",") if n]
    if any(EXPERIMENTS[n].kind != "styleinv" for n in names):
        raise SystemExit("only StyleInV experiments are supported")
    rows = latest_rows(read_results(args.root), args.profile)
    base = PROTOCOL_PRESETS[args.profile]
    out = {"profile": args.profile, "protocol": base.to_dict(), "runs": {}}
    for name in names:
        if name not in rows:
            raise SystemExit(f"{args.root}: no {args.profile} row for {name}")
        gen = load_video_generator(args.root / f"{name}-{args.profile}")
        values = {m: [rows[name]["protocol"]["metrics"][m]] for m in METRICS}       # seed 0: the table's value
        for seed in (int(s) for s in args.seeds.split(",")):
            t0 = time.perf_counter()
            res = evaluate(gen.clip_source(), args.data, METRICS, replace(base, seed=seed))
            for m in METRICS:
                values[m].append(res["metrics"][m])
            print(f"{name} seed {seed}: " + ", ".join(f"{m} {res['metrics'][m]:.1f}" for m in METRICS) +
                  f" ({time.perf_counter() - t0:.0f} s)", flush=True)
            out["runs"][name] = summarise(values)
            atomic_write_text(args.out, json.dumps(out, indent=1) + "\n")          # each seed is kept at once
    print(f"wrote {args.out}")


def summarise(values: dict[str, list[float]]) -> dict:
    """Every value per metric (seed 0 first), with the mean, the sample std and (max - min) / mean."""
    return {m: {"values": v, "mean": float(np.mean(v)), "std": float(np.std(v, ddof=1)),
                "relative_range": float((max(v) - min(v)) / np.mean(v))} for m, v in values.items()}


if __name__ == "__main__":
    main()
