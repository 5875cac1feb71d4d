"""Export the style-transfer runs of chapter 8 to small generator files in checkpoints/ and collect their logs.

After ``make style PROFILE=cpu`` (and the two comparison runs below), this writes
``checkpoints/stylegan2_synthfaces32_<name>_v2_cpu.safetensors`` (G_ema only, about 1.7 MB each) and
``checkpoints/style_transfer_cpu.json``: per run its settings, steps, wall-clock training minutes (from the run's
``stats.jsonl``) and the alignment history it logged (``metrics.jsonl``).

    styleinv finetune-style --generator checkpoints/stylegan2_synthfaces32_v2_cpu.safetensors \\
        --images data/styles/toon --out runs/style-toon-lpips30-cpu --profile cpu --lambda-lpips 30
    styleinv finetune-style --generator checkpoints/stylegan2_synthfaces32_v2_cpu.safetensors \
        --images data/styles/toon --out runs/style-toon-freeze16-cpu --profile cpu --freeze-res 16
    python benchmarks/export_style_checkpoints.py --runs runs --out checkpoints
"""
import argparse
import json
from pathlib import Path

from styleinv_lib.loading import export_generator

#: chapter-8 name -> (run folder name, checkpoint file name)
RUNS = {
    "toon": ("style-toon-cpu", "stylegan2_synthfaces32_toon_v2_cpu.safetensors"),
    "sketch": ("style-sketch-cpu", "stylegan2_synthfaces32_sketch_v2_cpu.safetensors"),
    "popart": ("style-popart-cpu", "stylegan2_synthfaces32_popart_v2_cpu.safetensors"),
    "toon, nothing frozen": ("style-toon-unfrozen-cpu", "stylegan2_synthfaces32_toon_unfrozen_v2_cpu.safetensors"),
    "toon, frozen ≤ 16²": ("style-toon-freeze16-cpu", "stylegan2_synthfaces32_toon_freeze16_v2_cpu.safetensors"),
    "toon, LPIPS x 30": ("style-toon-lpips30-cpu", "stylegan2_synthfaces32_toon_lpips30_v2_cpu.safetensors"),
}
SETTINGS = ("images", "effective_freeze_res", "freeze_mapping", "lambda_lpips", "lambda_id", "identity_net",
            "d_init", "batch", "total_kimg", "lr", "seed", "style")


def collect(run: Path) -> dict:
    config = json.loads((run / "config.json").read_text())
    stats = [json.loads(line) for line in (run / "stats.jsonl").read_text().splitlines() if line.strip()]
    metrics = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines() if line.strip()] \
        if (run / "metrics.jsonl").exists() else []
    # wall-clock minutes between logged steps (a resumed run's pause is not counted: gaps over 10 min are dropped)
    times = [s["time"] for s in stats]
    minutes = sum(b - a for a, b in zip(times, times[1:]) if b - a < 600) / 60
    return {"run": run.name, "settings": {k: config.get(k) for k in SETTINGS}, "steps": stats[-1]["step"],
            "kimg": stats[-1]["kimg"], "train_minutes": round(minutes, 1),
            "hardware": "2-core x86-64 CPU, one torch thread per run, two runs at a time",
            "alignment_history": metrics}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=Path, default=Path("runs"))
    parser.add_argument("--out", type=Path, default=Path("checkpoints"))
    args = parser.parse_args()
    logs = {}
    for name, (folder, file) in RUNS.items():
        run = args.runs / folder
        if not run.exists():
            print(f"skipped {name}: {run} not found")
            continue
        path = export_generator(run, args.out / file)
        logs[name] = {**collect(run), "checkpoint": file}
        print(f"{name:22s} -> {path} ({path.stat().st_size / 1e6:.1f} MB), {logs[name]['train_minutes']} min")
    (args.out / "style_transfer_cpu.json").write_text(json.dumps(logs, indent=1) + "\n")


if __name__ == "__main__":
    main()
