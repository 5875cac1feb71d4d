"""The cpu generator's FID over training against the results issue's target and its 60-minute budget.

    python benchmarks/generator_curve.py        # reads the committed logs, writes stylegan2_curve_v2_cpu.{json,png}

The book's generator before the 60-minute recipe (lr 0.0025, batch 16; ``stylegan2-synthfaces-v2-cpu-continued/``)
trained 1,100 kimg over several sessions and machines, so the wall time in its logs is not one run's. This script
puts its in-training FID (``metrics.jsonl``: 1,000 samples against 2,000 training frames) on a kimg axis and
converts kimg into the hours a run would take at the training-step throughput ``benchmarks/train_speed.py`` measured
for the cpu preset (bf16 + compile) on each CPU class. That throughput leaves out data loading, snapshots and the
FID evaluations, so the hours are a lower bound and the kimg reachable in the budget an upper one. The target is
twice the FID of held-out real frames at the same sizes (``benchmarks/fid_floor.py``).
"""
from __future__ import annotations

import argparse
import json
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
LOGS = ROOT / "checkpoints/logs"
RESULTS = ROOT / "benchmarks/results"


DEFAULT_METRICS = [LOGS / "stylegan2-synthfaces-v2-cpu/metrics.jsonl",
                   LOGS / "stylegan2-synthfaces-v2-cpu-continued/metrics.jsonl"]
COMMITTED_RUNS = ("0-400 kimg in bf16 + compile on a 2-core AMX Xeon, 400-900 in fp32 + compile on a 2-core AVX2 EPYC, "
                  "900-1,100 in bf16 + compile on a 2-core AVX-512 BF16 EPYC (checkpoints/logs/README.md); 1,000-1,100 "
                  "is trajectory B of two from the same 1,000-kimg state: the other read 75.4 at 1,100 kimg "
                  "(benchmarks/results/stylegan2_continued_v2_cpu.json), so the readings move by several points "
                  "between trajectories of one recipe")


def merged_history(paths) -> dict[float, float]:
    """``{kimg: fid}`` from ``metrics.jsonl`` files; a later file's reading replaces an earlier one at the same kimg
    (a continued run repeats its parent's history)."""
    history: dict[float, float] = {}
    for path in paths:
        for line in Path(path).read_text().splitlines():
            if line.strip():
                row = json.loads(line)
                if "fid" in row:
                    history[float(row["kimg"])] = float(row["fid"])
    return dict(sorted(history.items()))


def fid_at(history: dict[float, float], kimg: float) -> float | None:
    """FID linearly interpolated between the logged readings around ``kimg`` (None outside the logged range)."""
    import numpy as np

    kimgs = sorted(history)
    if not kimgs or not kimgs[0] <= kimg <= kimgs[-1]:
        return None
    return float(np.interp(kimg, kimgs, [history[k] for k in kimgs]))


def first_kimg_at_or_below(history: dict[float, float], target: float) -> float | None:
    """The first logged kimg whose FID is at most ``target`` (None if none is)."""
    return next((k for k, f in sorted(history.items()) if f <= target), None)


def stylegan2_throughput(speed_json: Path, mode: str = "bf16+compile") -> tuple[str, float]:
    """``(cpu name, images/s)`` of the StyleGAN2 step at the cpu preset in ``mode`` from a train_speed.py file."""
    data = json.loads(Path(speed_json).read_text())
    rows = [r for r in data["rows"] if r["stage"] == "stylegan2" and r["config"] == "cpu" and r["mode"] == mode]
    if not rows:
        raise SystemExit(f"{speed_json}: no StyleGAN2 row at the cpu preset in mode {mode!r}")
    return data["machine"]["cpu"], float(rows[-1]["images_per_s"])


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--metrics", type=Path, nargs="+", default=DEFAULT_METRICS)
    p.add_argument("--floor", type=Path, default=RESULTS / "fid_floor_synthfaces_v2_cpu.json")
    p.add_argument("--speed", type=Path, nargs="+",
                   default=[RESULTS / "train_speed_cpu.json", RESULTS / "train_speed_cpu_zen4.json"])
    p.add_argument("--budget-min", type=float, default=60.0)
    p.add_argument("--out", type=Path, default=RESULTS / "stylegan2_curve_v2_cpu.json",
                   help="the JSON; the figure goes beside it as .png")
    args = p.parse_args(argv)

    history = merged_history(args.metrics)
    floor = float(json.loads(args.floor.read_text())["fid_mean"])
    target = 2 * floor
    reached = first_kimg_at_or_below(history, target)
    machines = []
    for path in args.speed:
        cpu, ips = stylegan2_throughput(path)
        kimg_in_budget = ips * args.budget_min * 60 / 1000
        fid = fid_at(history, kimg_in_budget)
        machines.append({"speed_file": path.name, "cpu": cpu, "images_per_s": round(ips, 1),
                         "kimg_in_budget": round(kimg_in_budget, 1),
                         "fid_at_budget": None if fid is None else round(fid, 1),
                         "fid_at_budget_over_floor": None if fid is None else round(fid / floor, 2),
                         "hours_to_target": None if reached is None else round(reached * 1000 / ips / 3600, 2)})
    out = {"what": " ".join(__doc__.split("\n\n")[2].split()),
           **({"runs": COMMITTED_RUNS} if args.metrics == DEFAULT_METRICS else {}),
           "fid_by_kimg": history, "floor": round(floor, 2), "target": round(target, 2),
           "first_kimg_at_target": reached, "budget_min": args.budget_min, "machines": machines}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(out, indent=1) + "\n")
    plot(history, floor, target, machines, args.budget_min, args.out.with_suffix(".png"))
    for m in machines:
        print(f"{m['cpu']}: {m['images_per_s']} img/s -> {m['kimg_in_budget']} kimg in {args.budget_min:g} min, FID "
              f"{m['fid_at_budget']} ({m['fid_at_budget_over_floor']}x the floor); the target at {reached} kimg, "
              f"{m['hours_to_target']} h")
    return 0


def plot(history, floor, target, machines, budget_min, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 4))
    ax.plot(list(history), list(history.values()), "o-", color="C0", label="G_ema, in training")
    ax.axhline(target, color="C3", ls="--", label=f"target: 2x the held-out floor ({target:.1f})")
    ax.axhline(floor, color="0.5", ls=":", label=f"held-out real frames ({floor:.1f})")
    for i, m in enumerate(machines):
        ax.axvline(m["kimg_in_budget"], color=f"C{i + 1}", ls="-.", lw=1,
                   label=f"{budget_min:g} min at {m['images_per_s']:.0f} img/s ({m['cpu'].replace('(R)', '')})")
    ax.set_xlabel("training images shown (kimg)")
    ax.set_ylabel("FID (1,000 samples vs 2,000 frames)")
    ax.set_title("The cpu StyleGAN2 on SynthFaces v2 (32²): FID over training")
    ax.set_ylim(0, None)
    ax.legend(fontsize=8, loc="lower left")
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


if __name__ == "__main__":
    raise SystemExit(main())
