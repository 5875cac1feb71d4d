"""The StyleGAN2 recipe search: FID against kimg and against minutes of the cpu budget, from the runs' own logs.

    python benchmarks/stylegan2_recipe.py runs/gexp/base runs/gexp/wide128 --reference base \\
        --out benchmarks/results/stylegan2_recipe_cpu
    python benchmarks/stylegan2_recipe.py runs/gexp/gamma01 --out benchmarks/results/stylegan2_recipe_cpu --append

The runs of one search train side by side on one machine (one thread each), so their step speeds are measured in
the same conditions; that is not the cpu budget's condition (two threads, nothing else running).  Each run's
minutes in the budget are therefore its speed *relative to the reference run* (median logged images/s, measured
beside it) times the reference configuration's two-thread speed, unless a run's own two-thread speed was measured
(``--measured-speed``: a step that scales differently with threads, such as a smaller batch).  The reference
speed is measured in a training run (``--reference-speed``: with data loading and adaptive augmentation) or else
read from ``benchmarks/train_speed.py`` (the cpu preset, bf16 + compile), whose step is faster than a run's: its
frames are stored at the training resolution (no resizing) and augmentation stays at its starting strength, p = 0
or nearly. Snapshots and FID evaluations are left out either way. ``config.json`` is compared with the profile's
preset (or, once the preset has moved, with the configuration the search started from: ``--compare-with``), so a row
names only what was changed; ``metrics.jsonl`` holds the in-training FID (1,000 samples against 2,000 training
frames). Writes ``OUT.json``, ``OUT.md`` (the table) and ``OUT.png`` (FID over kimg and over budget
minutes, with the target: twice the held-out floor of ``benchmarks/fid_floor.py``).
"""
from __future__ import annotations

import argparse
import json
import shlex
import statistics
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from generator_curve import RESULTS, fid_at, first_kimg_at_or_below, merged_history, stylegan2_throughput  # noqa: E402
from styleinv_recipe import changed_settings, read_jsonl  # noqa: E402


def summarise(run: Path, preset: dict, timed_until: float | None = None) -> dict:
    """A run's changed settings, FID history and step speed beside the reference (the median of its logged
    images/s; ``timed_until``: of the steps up to that many kimg only, for a run that went on in other conditions)."""
    config = json.loads((run / "config.json").read_text())
    stats = read_jsonl(run / "stats.jsonl")
    speeds = [r["img_per_s"] for r in stats[1:]                          # the first window includes compiling
              if "img_per_s" in r and (timed_until is None or r["kimg"] <= timed_until)]
    return {"run": run.name, "changed": changed_settings(config, preset), "timed_until_kimg": timed_until,
            "kimg": stats[-1]["kimg"] if stats else 0.0,
            "images_per_s_beside": round(statistics.median(speeds), 1) if speeds else None,
            "fid_by_kimg": merged_history([run / "metrics.jsonl"]) if (run / "metrics.jsonl").exists() else {}}


def add_budget(rows: list[dict], reference: str, reference_speed: float, budget_min: float, target: float) -> None:
    """Each run's two-thread speed (``images_per_s_measured`` where a row has it, else the estimate), the kimg it
    reaches in the budget, its FID there (None beyond its logged readings) and the minutes to its first reading at
    or below the target."""
    ref = next((r for r in rows if r["run"] == reference), None)
    if ref is None or not ref["images_per_s_beside"]:
        raise SystemExit(f"reference run {reference!r} is not among the rows (or logged no speed)")
    for r in rows:
        relative = r["images_per_s_beside"] / ref["images_per_s_beside"] if r["images_per_s_beside"] else None
        ips = r.get("images_per_s_measured") or (None if relative is None else reference_speed * relative)
        kimg = None if ips is None else ips * budget_min * 60 / 1000
        fid = None if kimg is None else fid_at(r["fid_by_kimg"], kimg)
        reached = first_kimg_at_or_below(r["fid_by_kimg"], target)
        r.update(relative_speed=None if relative is None else round(relative, 3),
                 images_per_s_budget=None if ips is None else round(ips, 1),
                 kimg_in_budget=None if kimg is None else round(kimg, 1),
                 fid_at_budget=None if fid is None else round(fid, 1),
                 minutes_to_target=None if reached is None or ips is None else round(reached * 1000 / ips / 60, 1))


def changed_label(row: dict) -> str:
    """A row's changed settings as ``k=v, ...`` ("" for the preset)."""
    return ", ".join(f"{k}={v}" for k, v in row["changed"].items())


def table(rows: list[dict], target: float, floor: float, budget_min: float,
          columns=(50, 100, 150, 175, 200, 225, 250, 300, 400)) -> str:
    head = ["run", "changed from the preset", "note", "speed vs reference", "img/s, two threads"] + \
        [f"FID@{k}" for k in columns] + \
        [f"kimg in {budget_min:g} min", "FID there", "min to target"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]

    def cell(v, fmt):
        return "" if v is None else format(v, fmt)

    for r in rows:
        changed = changed_label(r) or "(preset)"
        speed = cell(r["images_per_s_budget"], ".0f") + (" measured" if r.get("images_per_s_measured") else
                                                        " estimated" if r["images_per_s_budget"] else "")
        cells = [r["run"], changed, r.get("note", ""), cell(r["relative_speed"], ".2f"), speed]
        # a reading lands a step past its kimg (125.008 at batch 16): the column takes the one within half a kimg
        cells += [cell(next((f for k, f in r["fid_by_kimg"].items() if abs(k - col) < 0.5), None), ".1f")
                  for col in columns]
        cells += [cell(r["kimg_in_budget"], ".0f"), cell(r["fid_at_budget"], ".1f"),
                  cell(r["minutes_to_target"], ".0f")]
        lines.append("| " + " | ".join(cells) + " |")
    lines += ["", f"FID: 1,000 samples of G_ema against 2,000 training frames; held-out floor {floor:.1f}, target "
                  f"(2x) {target:.1f}. Blank FID: not reached by the run; blank 'FID there': the budget lies beyond "
                  "the run's readings."]
    return "\n".join(lines) + "\n"


def plot(rows: list[dict], target: float, floor: float, budget_min: float, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(12, 4.4))
    for i, r in enumerate(rows):
        kimgs = list(r["fid_by_kimg"])
        fids = list(r["fid_by_kimg"].values())
        label = r["run"] + (f" ({changed_label(r)})" if r["changed"] else "")
        axes[0].plot(kimgs, fids, "o-", ms=3, color=f"C{i}", label=label)
        if r["images_per_s_budget"]:
            axes[1].plot([k * 1000 / r["images_per_s_budget"] / 60 for k in kimgs], fids, "o-", ms=3, color=f"C{i}")
    axes[1].axvline(budget_min, color="k", ls="-.", lw=1, label=f"the {budget_min:g}-minute budget")
    for ax, xlabel in zip(axes, ("training images shown (kimg)", "minutes of the two-thread training loop")):
        ax.axhline(target, color="C3", ls="--", lw=1, label=f"target {target:.1f}")
        ax.axhline(floor, color="0.5", ls=":", lw=1, label=f"held-out floor {floor:.1f}")
        ax.set(xlabel=xlabel, ylabel="FID (1,000 vs 2,000)", ylim=(0, None))
        ax.grid(alpha=0.3)
    axes[0].set_title("StyleGAN2 recipes (cpu profile, 32²): FID over kimg")
    axes[1].set_title("... over the minutes each would take")
    axes[0].legend(fontsize=7, loc="upper right")
    axes[1].legend(fontsize=7, loc="lower left")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("runs", nargs="*", type=Path, help="StyleGAN2 run folders")
    p.add_argument("--profile", default="cpu", help="the preset the runs are compared with")
    p.add_argument("--compare-with", type=Path, default=None, metavar="CONFIG_JSON",
                   help="a run's config.json to compare the runs with instead of the preset (the search's "
                        "starting point, when the preset has since moved)")
    p.add_argument("--out", type=Path, required=True, help="path without suffix: writes .json, .md, .png")
    p.add_argument("--reference", default=None, help="the run the others' speeds are compared with (default: the "
                                                     "first run whose settings are the preset's)")
    p.add_argument("--speed", type=Path, default=RESULTS / "train_speed_cpu_zen4.json",
                   help="train_speed.py results with the reference configuration's two-thread speed")
    p.add_argument("--reference-speed", type=float, default=None, metavar="IMG_S",
                   help="the reference configuration's two-thread speed measured in a training run (with data "
                        "loading and augmentation, which train_speed.py's step leaves out): used instead of --speed")
    p.add_argument("--floor", type=Path, default=RESULTS / "fid_floor_synthfaces_v2_cpu.json")
    p.add_argument("--budget-min", type=float, default=60.0)
    p.add_argument("--append", action="store_true", help="keep the rows already in OUT.json; a run of the same name "
                                                         "is replaced")
    p.add_argument("--note", action="append", default=[], metavar="RUN=TEXT",
                   help="what the configuration does not say")
    p.add_argument("--timed-until", action="append", default=[], metavar="RUN=KIMG",
                   help="RUN trained beside the reference up to KIMG only: its speed is read from those steps")
    p.add_argument("--measured-speed", action="append", default=[], metavar="RUN=IMG_S",
                   help="RUN's two-thread speed measured directly (a run whose step does not scale with threads as "
                        "the reference's does): used instead of the estimate")
    args = p.parse_args(argv)
    notes = dict(n.split("=", 1) for n in args.note)
    timed_until = {name: float(kimg) for name, kimg in (t.split("=", 1) for t in args.timed_until)}
    measured = {name: float(ips) for name, ips in (m.split("=", 1) for m in args.measured_speed)}

    from dataclasses import asdict

    from styleinv_lib.train.stylegan2 import config_for_profile

    if args.compare_with:
        preset = json.loads(args.compare_with.read_text())
    else:
        preset = asdict(config_for_profile(args.profile))
    rows = [{**summarise(run, preset, timed_until.get(run.name)),
             **({"note": notes[run.name]} if run.name in notes else {}),
             **({"images_per_s_measured": measured[run.name]} if run.name in measured else {})} for run in args.runs]
    previous = args.out.with_suffix(".json")
    if args.append and previous.exists():
        names = {r["run"] for r in rows}
        earlier = [r for r in json.loads(previous.read_text())["runs"] if r["run"] not in names]
        for r in earlier:
            r["fid_by_kimg"] = {float(k): v for k, v in r["fid_by_kimg"].items()}
            if r["run"] in notes:
                r["note"] = notes[r["run"]]
        rows = earlier + rows
    reference = args.reference or next((r["run"] for r in rows if not r["changed"]), None)
    floor = float(json.loads(args.floor.read_text())["fid_mean"])
    if args.reference_speed:
        cpu, reference_speed, source = "this machine", args.reference_speed, "measured in a training run"
    else:
        (cpu, reference_speed), source = stylegan2_throughput(args.speed), args.speed.name
    add_budget(rows, reference, reference_speed, args.budget_min, 2 * floor)
    command = "python benchmarks/stylegan2_recipe.py " + shlex.join(sys.argv[1:] if argv is None else argv)
    out = {"what": " ".join(__doc__.split("\n\n")[2].split()), "command": command, "profile": args.profile,
           "compared_with": str(args.compare_with) if args.compare_with else None, "reference": reference,
           "reference_speed": {"cpu": cpu, "images_per_s": reference_speed, "source": source},
           "floor": round(floor, 2), "target": round(2 * floor, 2), "budget_min": args.budget_min, "runs": rows}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.with_suffix(".json").write_text(json.dumps(out, indent=1) + "\n")
    args.out.with_suffix(".md").write_text(table(rows, 2 * floor, floor, args.budget_min))
    plot(rows, 2 * floor, floor, args.budget_min, args.out.with_suffix(".png"))
    print(args.out.with_suffix(".md").read_text())
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
