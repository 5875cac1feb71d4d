"""Where a training run's wall time went, from its own logs: steps, evaluations, snapshots and stalls.

    python benchmarks/run_time.py checkpoints/logs/styleinv-synthfaces-v2-g1100-cpu-rerun --quiet-after-min 20

``stats.jsonl`` holds a row with the wall time every few steps.  Every interval between two rows is put in one
class: it holds an evaluation (``config.json``'s ``metrics_kimg``, or ``eval_kimg``, crossed), else a snapshot
(``snapshot_kimg`` crossed), else only steps.  The reference step time is the median seconds per step of the
step-only intervals (of those after ``--quiet-after-min`` minutes, for a run that shared the machine before);
each class's time beyond its steps at that rate is its cost (a slowdown inside an interval counts for its class).
What the step-only intervals take beyond it are stalls: other work on the machine, or noise.  The time before
the first row (start-up, the first compilation) is not in the logs and not counted.
"""
from __future__ import annotations

import argparse
import json
from pathlib import Path


def crosses(a: int, b: int, batch: int, every_kimg: float | None) -> bool:
    """Whether the image count passes a multiple of ``every_kimg`` thousand between steps ``a`` and ``b``."""
    if not every_kimg:
        return False
    period = every_kimg * 1000
    return int(b * batch // period) > int(a * batch // period)


def split_run_time(stats: list[dict], batch: int, metrics_kimg: float | None, snapshot_kimg: float | None,
                   quiet_after_s: float = 0.0) -> dict:
    """Seconds of the logged span by class (see the module docstring); ``stats`` rows need ``step`` and ``time``."""
    import numpy as np

    rows = sorted(stats, key=lambda r: r["step"])
    if len(rows) < 3:
        raise ValueError(f"need at least 3 rows of stats with step and time, got {len(rows)}")
    t0 = rows[0]["time"]
    intervals = []
    for prev, cur in zip(rows, rows[1:]):
        a, b = int(prev["step"]), int(cur["step"])
        kind = ("metrics" if crosses(a, b, batch, metrics_kimg) else
                "snapshot" if crosses(a, b, batch, snapshot_kimg) else "steps")
        intervals.append((kind, b - a, cur["time"] - prev["time"], prev["time"] - t0 >= quiet_after_s))
    quiet = [sec / n for kind, n, sec, late in intervals if kind == "steps" and late and n > 0]
    if not quiet:
        raise ValueError("no step-only interval after --quiet-after-min: lower it")
    step_s = float(np.median(quiet))
    out = {"span_min": round((rows[-1]["time"] - t0) / 60, 2), "steps": rows[-1]["step"] - rows[0]["step"],
           "median_step_s": round(step_s, 3),
           "steps_min": round((rows[-1]["step"] - rows[0]["step"]) * step_s / 60, 2)}
    for kind, name in (("metrics", "evaluations"), ("snapshot", "snapshots"), ("steps", "stalls")):
        mine = [(n, sec, late) for k, n, sec, late in intervals if k == kind]
        cost = {"min": sum(sec - n * step_s for n, sec, _ in mine) / 60}
        if quiet_after_s > 0:
            cost["min_before_quiet"] = sum(sec - n * step_s for n, sec, late in mine if not late) / 60
        out[name] = {k: round(v, 2) for k, v in cost.items()}
        if kind != "steps":
            out[name]["intervals"] = len(mine)
    return out


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("run", type=Path, help="a run folder (or its logs) with stats.jsonl and config.json")
    p.add_argument("--quiet-after-min", type=float, default=0.0,
                   help="take the reference step time from after this many minutes (the machine was shared before)")
    args = p.parse_args(argv)
    for name in ("stats.jsonl", "config.json"):
        if not (args.run / name).is_file():
            raise SystemExit(f"{args.run / name}: missing (a run folder holds stats.jsonl and config.json)")
    cfg = json.loads((args.run / "config.json").read_text())
    stats = [json.loads(line) for line in (args.run / "stats.jsonl").read_text().splitlines() if line.strip()]
    every = cfg.get("metrics_kimg") if cfg.get("metrics") else cfg.get("eval_kimg")  # eval_kimg: encoder, style
    result = split_run_time(stats, int(cfg["batch"]), every, cfg.get("snapshot_kimg"), args.quiet_after_min * 60)
    print(json.dumps(result, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
