"""The StyleInV recipe search: what each tried setting gave, from the runs' own logs.

    python benchmarks/styleinv_recipe.py runs/si-A runs/si-B --profile cpu \\
        --out benchmarks/results/styleinv_recipe_cpu
    python benchmarks/styleinv_recipe.py runs/experiments/full-cpu runs/si-slow1 --profile cpu \\
        --out benchmarks/results/styleinv_recipe_cpu --append      # add rows, keep the earlier ones

Each run folder's ``config.json`` is compared with the profile's preset (paths and bookkeeping left out), so a row
names only what was changed; ``metrics.jsonl`` holds the in-training SynthFaces probe evaluations (identity share,
motion ratios against the training videos, largest jump, first frame) and ``stats.jsonl`` the losses, among them
the latent distance ``||w_t - w0||`` (``Loss/SI/wreg``), the size of the motion in W.  Writes ``OUT.json`` (every
evaluation of every run), ``OUT.md`` (the table: the last evaluation of each run, and the targets of the results
issue) and ``OUT.png`` (the motion ratios and the latent distance against kimg).
"""
from __future__ import annotations

import argparse
import json
from pathlib import Path

#: Settings that say where and how a run was kept, not how it learns.
IGNORED = {"data", "generator", "encoder", "device", "total_kimg", "snapshot_kimg", "keep_snapshots", "metrics_kimg",
           "stage", "networks", "discriminator", "skip_bad", "data_cache_mb"}
#: The targets of item 3 of the results issue.
TARGETS = {"motion ratio": "0.5-2 each", "identity@128": ">= 0.9", "identity@1024": ">= 0.8",
           "max jump ratio": "<= 3"}


def read_jsonl(path: Path) -> list[dict]:
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def changed_settings(config: dict, preset: dict) -> dict:
    """The run's settings that differ from the preset, leaving out the shape of a penalty the run had off."""
    from styleinv_lib.experiments import unused_penalty_settings

    skip = IGNORED | unused_penalty_settings(config)
    return {k: v for k, v in sorted(config.items()) if k not in skip and preset.get(k) != v}


def latent_distance(stats: list[dict], kimg: float, window: float = 0.5) -> float | None:
    """Mean ``Loss/SI/wreg`` over the logged steps within ``window`` kimg before ``kimg``."""
    values = [r["Loss/SI/wreg"] for r in stats if kimg - window <= r["kimg"] <= kimg and "Loss/SI/wreg" in r]
    return sum(values) / len(values) if values else None


def summarise(run: Path, preset: dict) -> dict:
    from styleinv_lib.experiments import _BEFORE_THE_SETTING

    # a setting the library gained after the run was recorded: the run had the behaviour from before it
    config = {**_BEFORE_THE_SETTING, **json.loads((run / "config.json").read_text())}
    stats, evals = read_jsonl(run / "stats.jsonl"), read_jsonl(run / "metrics.jsonl")
    for e in evals:
        e["latent_distance"] = latent_distance(stats, e["kimg"])
    seconds = stats[-1]["time"] - stats[0]["time"] if len(stats) > 1 else 0.0
    return {"run": run.name, "changed": changed_settings(config, preset), "kimg": stats[-1]["kimg"] if stats else 0.0,
            "train_hours_logged": round(seconds / 3600, 2), "evaluations": evals}


def table(rows: list[dict], at: float | None = None) -> str:
    """The last evaluation of each run (``at``: the last one at or before that many kimg, so that runs of different
    lengths are compared at the same point)."""
    stats = ("yaw_std", "yaw_speed", "pitch_speed", "mouth_speed", "blink_rate")
    head = ["run", "changed from the preset", "note", "kimg", "‖w_t − w0‖"] + [f"{s} ratio" for s in stats] + \
        ["identity@16", "identity@128", "max jump", "first-frame PSNR"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for r in rows:
        evals = [e for e in r["evaluations"] if at is None or e["kimg"] <= at + 1e-9]
        if not evals:
            continue
        e = evals[-1]
        changed = ", ".join(f"{k}={v}" for k, v in r["changed"].items()) or "(preset)"
        cells = [r["run"], changed, r.get("note", ""), f"{e['kimg']:.1f}",
                 "" if e["latent_distance"] is None else f"{e['latent_distance']:.3f}"]
        cells += [f"{e.get(f'motion_ratio/{s}', float('nan')):.2f}" for s in stats]
        cells += [f"{e.get('probe_identity@16', float('nan')):.2f}", f"{e.get('probe_identity@128', float('nan')):.2f}",
                  f"{e.get('max_jump_ratio', float('nan')):.2f}", f"{e.get('first_frame_psnr', float('nan')):.1f}"]
        lines.append("| " + " | ".join(cells) + " |")
    lines.append("")
    lines.append("Each run at its last evaluation" + ("." if at is None else f" up to {at:g} kimg."))
    lines.append("Targets (results issue, item 3): " + "; ".join(f"{k} {v}" for k, v in TARGETS.items()) + ".")
    return "\n".join(lines) + "\n"


def plot(rows: list[dict], path: Path, highlight: str | None = None) -> None:
    """Three panels over training, one colour per run (one legend under them): the motion ratio the runs reached
    last (yaw speed), the one most short of the target (mouth speed) and the largest frame change (max jump);
    the run named ``highlight`` is drawn thick and black."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    panels = (("motion_ratio/yaw_speed", "yaw speed: generated / real", (0.5, 2.0), "log"),
              ("motion_ratio/mouth_speed", "mouth speed: generated / real", (0.5, 2.0), "log"),
              ("max_jump_ratio", "largest / median frame change", (0.0, 3.0), "linear"))
    runs = [r for r in rows if r["evaluations"]]
    colours = plt.get_cmap("tab20")(range(20)).tolist() + plt.get_cmap("Dark2")(range(8)).tolist()
    legend_rows = -(-len(runs) // 3)
    height = 4.4 + 0.2 * legend_rows
    fig, axes = plt.subplots(1, 3, figsize=(13, height))
    for i, r in enumerate(runs):
        marked = r["run"] == highlight
        k = [e["kimg"] for e in r["evaluations"]]
        for ax, (key, _, _, _) in zip(axes, panels):
            ax.plot(k, [e.get(key, float("nan")) for e in r["evaluations"]], marker="o", markersize=3,
                    color="black" if marked else colours[i % len(colours)], linewidth=2.5 if marked else 1.2,
                    label=r["run"])
    for ax, (_, title, band, scale) in zip(axes, panels):
        ax.axhspan(*band, color="tab:green", alpha=0.12)
        ax.set(xlabel="training (kimg)", ylabel=title, title=title + " (green: target)", yscale=scale)
        ax.grid(alpha=0.3)
    handles, labels = axes[0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="lower center", ncol=3, fontsize=8, frameon=False)
    fig.tight_layout(rect=(0, (0.2 * legend_rows + 0.15) / height, 1, 1))
    fig.savefig(path, dpi=110)
    plt.close(fig)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("runs", nargs="+", type=Path, help="StyleInV run folders")
    p.add_argument("--profile", default="cpu", help="the preset the runs are compared with")
    p.add_argument("--out", type=Path, required=True, help="path without suffix: writes .json, .md, .png")
    p.add_argument("--at", type=float, default=None, help="table: each run's last evaluation up to this kimg")
    p.add_argument("--append", action="store_true", help="keep the rows already in OUT.json (runs whose folders are "
                                                         "gone); a run of the same name is replaced")
    p.add_argument("--highlight", default=None, metavar="RUN", help="the plot draws this run thick and black")
    p.add_argument("--note", action="append", default=[], metavar="RUN=TEXT",
                   help="what the configuration does not say about RUN (another generator, code since changed)")
    args = p.parse_args(argv)
    notes = dict(n.split("=", 1) for n in args.note)

    from dataclasses import asdict

    from styleinv_lib.train.styleinv import config_for_profile

    preset = asdict(config_for_profile(args.profile))
    rows = [{**summarise(run, preset), **({"note": notes[run.name]} if run.name in notes else {})}
            for run in args.runs]
    previous = args.out.with_suffix(".json")
    if args.append and previous.exists():
        earlier = json.loads(previous.read_text())
        if earlier.get("profile") != args.profile:
            raise ValueError(f"{previous}: rows of the {earlier.get('profile')} profile, not {args.profile}")
        names = {r["run"] for r in rows}
        rows = [r for r in earlier["runs"] if r["run"] not in names] + rows
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.with_suffix(".json").write_text(json.dumps({"profile": args.profile, "runs": rows}, indent=1) + "\n")
    args.out.with_suffix(".md").write_text(table(rows) if args.at is None else
                                           table(rows) + "\n" + table(rows, args.at))
    plot(rows, args.out.with_suffix(".png"), args.highlight)
    print(args.out.with_suffix(".md").read_text())
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
