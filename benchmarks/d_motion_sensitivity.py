"""Does the trained video discriminator ask for motion?

    python benchmarks/d_motion_sensitivity.py runs/experiments/full-cpu runs/experiments/no_ffa_d-cpu \\
        --out benchmarks/results/d_motion_sensitivity_v2_cpu.json

Loads the newest snapshot of each StyleInV run and lets its own D score real clips, the same clips held still,
real clips whose frames come from other subjects, the run's fakes and the fakes held still
(:mod:`styleinv_lib.train.motion_sensitivity`).  If D scores a real clip held still as high as the moving one, the
adversarial loss has no reason to make StyleInV move, whatever the generator can draw
(``benchmarks/motion_ceiling.py``).
"""
from __future__ import annotations

import argparse
import json
import time
from pathlib import Path


def score_run(run: Path, batches: int, seed: int) -> dict:
    from styleinv_lib.train.motion_sensitivity import discriminator_scores, load_stage, score_gaps

    stage = load_stage(run)
    scores = discriminator_scores(stage, batches, seed=seed)
    latest = sorted(run.glob("snapshot-*.safetensors"))[-1] if run.is_dir() else run
    return {"run": str(run), "snapshot": latest.name, "first_frame_in_d": stage.cfg.first_frame_in_d,
            "lambda_d_slow": stage.cfg.lambda_d_slow, "clips": int(scores["real"].numel()),
            "mean_logit": {k: float(v.mean()) for k, v in scores.items()}, "pairs": score_gaps(scores)}


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("runs", type=Path, nargs="+", help="StyleInV run folders (their newest snapshot is scored)")
    p.add_argument("--batches", type=int, default=16, help="batches of the run's batch size")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", type=Path, default=None)
    args = p.parse_args(argv)

    t0 = time.perf_counter()
    results = [score_run(run, args.batches, args.seed) for run in args.runs]
    for r in results:
        print(f"{r['run']} ({r['snapshot']}, FFA-D {r['first_frame_in_d']}, {r['clips']} clips)")
        for name, v in r["pairs"].items():
            print(f"  {name:40s} gap {v['gap']:+7.3f}   ranked above {v['ranked_above']:.2f}")
    if args.out is not None:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps({"results": results, "batches": args.batches, "seed": args.seed,
                                        "seconds": round(time.perf_counter() - t0, 1)}, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
