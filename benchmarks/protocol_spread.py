"""How far FID, FVD16 and FVD128 move with the protocol's seed alone, at a profile's protocol size.

Chapter 9's Table 3 rows differ by a few per cent on 64-clip FVD; this measures the yardstick.  For each named run
of ``styleinv experiment`` (training seed 0) it re-evaluates the profile's metrics (``protocol_metrics``: FID, FVD16
and, outside smoke, FVD128) under the profile's protocol with other seeds (the seed draws the real clips' offsets,
the real-frame subset and the generated latents; the model is unchanged) and writes every value with the mean, the
standard deviation and the largest relative spread per metric.  Each seed is written as soon as it is measured, and
a rerun skips the (run, seed) pairs the output already holds for the same protocol and results row:

    python benchmarks/protocol_spread.py --root runs/experiments --names full --seeds 1,2,3 \\
        --out checkpoints/protocol_spread_v2_cpu.json

In a fresh checkout (``runs/`` empty) the committed results and the committed network of the run serve instead:
``--committed checkpoints/experiments_v2_cpu.jsonl --model full=checkpoints/experiment_full_v2_cpu.safetensors``
(the file must record the row's configuration: its configuration hash is checked).
"""
import argparse
import json
import time
from dataclasses import replace
from pathlib import Path

import numpy as np

from styleinv_lib.experiments import (
    EXPERIMENTS, latest_rows, protocol_metrics, read_results, recorded_config_hash, run_folder,
)
from styleinv_lib.fileio import atomic_write_text
from styleinv_lib.generate import load_video_generator
from styleinv_lib.metrics.protocol import PROTOCOL_PRESETS, evaluate


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--root", type=Path, default=Path("runs/experiments"))
    ap.add_argument("--data", type=Path, default=Path("data/synthfaces"))
    ap.add_argument("--profile", default="cpu")
    ap.add_argument("--names", default="full")
    ap.add_argument("--seeds", default="1,2,3", help="protocol seeds besides 0 (the results file's)")
    ap.add_argument("--metrics", default=None, help="joined by commas (default: the profile's protocol metrics)")
    ap.add_argument("--out", type=Path, default=Path("protocol_spread.json"))
    ap.add_argument("--committed", type=Path, default=None,
                    help="a committed results file whose rows count too (e.g. checkpoints/experiments_v2_cpu.jsonl)")
    ap.add_argument("--model", action="append", default=[], metavar="NAME=PATH",
                    help="evaluate this run folder or exported network for NAME, not <root>/<NAME>-<profile>")
    args = ap.parse_args()
    models = dict(m.split("=", 1) for m in args.model)
    names = [n for n in args.names.split(",") if n]
    if any(EXPERIMENTS[n].kind != "styleinv" for n in names):
        raise SystemExit("only StyleInV experiments are supported")
    metrics = tuple(args.metrics.split(",")) if args.metrics else protocol_metrics(args.profile)
    rows = latest_rows(read_results(args.root, args.committed), args.profile)
    base = PROTOCOL_PRESETS[args.profile]
    out = {"profile": args.profile, "protocol": base.to_dict(), "metrics": list(metrics), "runs": {}}
    if args.out.exists():
        old = json.loads(args.out.read_text())
        if old.get("protocol") == out["protocol"] and old.get("metrics") == out["metrics"]:
            out["runs"] = old.get("runs", {})
    for name in names:
        if name not in rows:
            raise SystemExit(f"{args.root}: no {args.profile} row for {name}")
        row = rows[name]
        kept = out["runs"].get(name, {})
        if kept.get("config_hash") != row["config_hash"]:
            kept = {}                                   # another model: start again from its seed-0 row
        seeds = kept.get("seeds", [0])
        values = {m: kept[m]["values"] if kept else [row["protocol"]["metrics"][m]] for m in metrics}
        model = Path(models.get(name, run_folder(args.root, name, args.profile)))
        if name in models and (key := recorded_config_hash(model)) != row["config_hash"]:
            raise SystemExit(f"{model}: its configuration (hash {key}) is not that of the {name} row "
                             f"({row['config_hash']})")
        gen = None
        for seed in (int(s) for s in args.seeds.split(",")):
            if seed in seeds:
                print(f"{name} seed {seed}: already measured", flush=True)
                continue
            gen = gen or load_video_generator(model)
            t0 = time.perf_counter()
            res = evaluate(gen.clip_source(), args.data, metrics, replace(base, seed=seed))
            seeds = seeds + [seed]
            for m in metrics:
                values[m].append(res["metrics"][m])
            print(f"{name} seed {seed}: " + ", ".join(f"{m} {res['metrics'][m]:.1f}" for m in metrics) +
                  f" ({time.perf_counter() - t0:.0f} s)", flush=True)
            out["runs"][name] = {"config_hash": row["config_hash"], "seeds": seeds, **summarise(values)}
            atomic_write_text(args.out, json.dumps(out, indent=1) + "\n")          # each seed is kept at once
    print(f"wrote {args.out}")


def summarise(values: dict[str, list[float]]) -> dict:
    """Every value per metric (in the order of ``seeds``), with the mean, the sample std and (max - min) / mean."""
    return {m: {"values": v, "mean": float(np.mean(v)), "std": float(np.std(v, ddof=1)) if len(v) > 1 else 0.0,
                "relative_range": float((max(v) - min(v)) / np.mean(v))} for m, v in values.items()}


if __name__ == "__main__":
    main()
