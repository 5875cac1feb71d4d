"""Export the style-transfer runs of chapter 8 to small generator files in checkpoints/ and collect their logs.

After ``make style PROFILE=cpu``, this writes ``checkpoints/stylegan2_synthfaces32_<name>_v2_cpu.safetensors``
(G_ema only, about 1.7 MB each) and ``checkpoints/style_transfer_cpu.json``: per run its settings, steps,
wall-clock training minutes (from the run's ``stats.jsonl``) and the alignment history it logged (``metrics.jsonl``).

The three toon ablations train for 10 kimg (half the styles' 20; ``make style`` passes ``--kimg``), and chapter 8
compares them with the toon run's own 10-kimg snapshot, exported here as ``..._toon_10kimg_v2_cpu``: the cpu
preset's schedule does not depend on the run's length, so that snapshot is what a 10-kimg toon run gives.

    python benchmarks/export_style_checkpoints.py --runs runs --out checkpoints
"""
import argparse
import json
from pathlib import Path

from styleinv_lib.loading import export_generator

#: chapter-8 name -> (run folder name, checkpoint file name, training step to export or None for the last)
RUNS = {
    "toon": ("style-toon-cpu", "stylegan2_synthfaces32_toon_v2_cpu.safetensors", None),
    "sketch": ("style-sketch-cpu", "stylegan2_synthfaces32_sketch_v2_cpu.safetensors", None),
    "popart": ("style-popart-cpu", "stylegan2_synthfaces32_popart_v2_cpu.safetensors", None),
    "toon, 10 kimg": ("style-toon-cpu", "stylegan2_synthfaces32_toon_10kimg_v2_cpu.safetensors", 625),
    "toon, nothing frozen": ("style-toon-unfrozen-cpu", "stylegan2_synthfaces32_toon_unfrozen_v2_cpu.safetensors",
                             625),
    "toon, frozen ≤ 16²": ("style-toon-freeze16-cpu", "stylegan2_synthfaces32_toon_freeze16_v2_cpu.safetensors",
                           625),
    "toon, LPIPS x 30": ("style-toon-lpips30-cpu", "stylegan2_synthfaces32_toon_lpips30_v2_cpu.safetensors", 625),
}
SETTINGS = ("images", "effective_freeze_res", "freeze_mapping", "lambda_lpips", "lambda_id", "identity_net",
            "d_init", "batch", "total_kimg", "lr", "seed", "style")


def _jsonl(path: Path, step: int | None) -> list[dict]:
    rows = [json.loads(line) for line in path.read_text().splitlines() if line.strip()] if path.exists() else []
    return [r for r in rows if step is None or r["step"] <= step]


def collect(run: Path, step: int | None = None) -> dict:
    """The run's settings, length, training minutes and alignment history, up to ``step`` when given."""
    config = json.loads((run / "config.json").read_text())
    stats, metrics = _jsonl(run / "stats.jsonl", step), _jsonl(run / "metrics.jsonl", step)
    # wall-clock minutes between logged steps (a resumed run's pause is not counted: gaps over 10 min are dropped)
    times = [s["time"] for s in stats]
    minutes = sum(b - a for a, b in zip(times, times[1:]) if b - a < 600) / 60
    settings = {k: config.get(k) for k in SETTINGS}
    settings["total_kimg"] = stats[-1]["kimg"]      # what was trained (the config holds the latest --kimg)
    return {"run": run.name, "settings": settings, "steps": stats[-1]["step"],
            "kimg": stats[-1]["kimg"], "train_minutes": round(minutes, 1),
            "hardware": "2-core x86-64 CPU, one torch thread per run, two runs at a time",
            "alignment_history": metrics}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=Path, default=Path("runs"))
    parser.add_argument("--out", type=Path, default=Path("checkpoints"))
    args = parser.parse_args()
    logs = {}
    for name, (folder, file, step) in RUNS.items():
        run = args.runs / folder
        source = run if step is None else run / f"snapshot-{step:08d}.safetensors"
        if not source.exists():
            print(f"skipped {name}: {source} not found")
            continue
        path = export_generator(source, args.out / file)
        logs[name] = {**collect(run, step), "checkpoint": file}
        print(f"{name:22s} -> {path} ({path.stat().st_size / 1e6:.1f} MB), {logs[name]['train_minutes']} min")
    (args.out / "style_transfer_cpu.json").write_text(json.dumps(logs, indent=1) + "\n")


if __name__ == "__main__":
    main()
