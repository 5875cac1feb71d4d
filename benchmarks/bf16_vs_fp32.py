"""Does bf16 autocast train as well as fp32? The same short StyleGAN2 run (the cpu preset, same seed, same data,
same steps; the committed results are of the preset before, batch 16) in both precisions: loss curves and FID (real
Inception, the cpu protocol's sizes) side by side.

    python benchmarks/bf16_vs_fp32.py --data data/synthfaces --kimg 24
    python benchmarks/bf16_vs_fp32.py --data data/synthfaces --kimg 24 --plot   # also a PNG of the curves

Both runs go to ``--root`` (resumable: a finished run is not trained again) and the comparison to ``--out``: the
smoothed losses at a few points, their mean absolute difference relative to the losses' spread over training, FID
every ``--fid-kimg``, and the wall time of each (bf16 is also the faster one on CPUs with AMX).  The two runs cannot
be bit-identical (bf16 rounds every convolution); what must hold is that the curves follow each other and that
FID ends up within the noise of the protocol.
"""
from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]


def smooth(values: np.ndarray, window: int = 25) -> np.ndarray:
    kernel = np.ones(window) / window
    return np.convolve(values, kernel, mode="valid")


def main(argv=None) -> int:
    from styleinv_lib.train.stylegan2 import config_for_profile, train_stylegan2

    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", type=Path, default=ROOT / "data/synthfaces")
    ap.add_argument("--kimg", type=float, default=24.0)
    ap.add_argument("--fid-kimg", type=float, default=12.0)
    ap.add_argument("--root", type=Path, default=ROOT / "runs/bf16_vs_fp32")
    ap.add_argument("--out", type=Path, default=ROOT / "benchmarks/results/bf16_vs_fp32_cpu.json")
    ap.add_argument("--plot", action="store_true", help="write <out>.png with the loss curves")
    args = ap.parse_args(argv)

    runs = {}
    for precision in ("fp32", "bf16"):
        cfg = config_for_profile("cpu", data=str(args.data), total_kimg=args.kimg, precision=precision,
                                 compile=False, metrics="fid", metrics_kimg=args.fid_kimg,
                                 snapshot_kimg=args.fid_kimg)
        out = args.root / precision
        start = time.perf_counter()
        train_stylegan2(cfg, out, resume="auto" if (out / "config.json").exists() else None, progress=True,
                        tensorboard=False)
        stats = [json.loads(line) for line in (out / "stats.jsonl").read_text().splitlines()]
        fid = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
        runs[precision] = {"stats": stats, "fid": fid, "seconds_this_call": time.perf_counter() - start}

    keys = ("Loss/G/loss", "Loss/D/loss", "Loss/scores/real", "Loss/scores/fake")
    report = {"kimg": args.kimg, "data": str(args.data), "batch": 16, "losses": {}, "fid": {}}
    for k in keys:
        curves = {}
        for p, r in runs.items():
            curves[p] = smooth(np.array([s[k] for s in r["stats"] if k in s]))
        n = min(len(c) for c in curves.values())
        a, b = curves["fp32"][:n], curves["bf16"][:n]
        spread = float(np.std(np.concatenate([a, b])))
        picks = np.linspace(0, n - 1, 5).round().astype(int)
        report["losses"][k] = {"fp32": [round(float(a[i]), 4) for i in picks],
                               "bf16": [round(float(b[i]), 4) for i in picks],
                               "mean_abs_difference": float(np.abs(a - b).mean()),
                               "relative_to_spread": float(np.abs(a - b).mean() / max(spread, 1e-8))}
    for p, r in runs.items():
        report["fid"][p] = [{"kimg": round(m["kimg"], 1), "fid": round(m["fid"], 2)} for m in r["fid"]]
        report.setdefault("img_per_s", {})[p] = float(np.median([s["img_per_s"] for s in r["stats"]]))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=1) + "\n")
    print(json.dumps(report, indent=1))
    if args.plot:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        fig, axes = plt.subplots(1, 2, figsize=(10, 3.5))
        for ax, k in zip(axes, ("Loss/G/loss", "Loss/D/loss")):
            for p, r in runs.items():
                kimg = np.array([s["kimg"] for s in r["stats"]])
                ax.plot(kimg[24:], smooth(np.array([s[k] for s in r["stats"]])), label=p)
            ax.set_xlabel("kimg")
            ax.set_ylabel(k.split("/")[1] + " loss (25-step mean)")
            ax.set_title(k)
            ax.legend()
        fig.tight_layout()
        fig.savefig(args.out.with_suffix(".png"), dpi=100)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
