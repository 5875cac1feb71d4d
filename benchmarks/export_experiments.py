"""Commit the results of ``styleinv experiment all`` for chapter 9: the results file and three small exports.

After ``make experiments PROFILE=cpu`` (``styleinv experiment all --profile cpu --root runs/experiments``), this
writes

* ``checkpoints/experiments_cpu.jsonl`` — the rows of that profile, with the machine they ran on;
* ``checkpoints/experiment_{ape,autoregressive}_cpu.safetensors`` — the motion networks of two runs (the moving
  averages only; the generator and encoder stay the committed chapter 2 and 3 files), for chapter 9's long videos.
  The ``full`` run is the chapter 6 configuration: when its network equals the committed
  ``styleinv_synthfaces32_v2_cpu.safetensors`` bit for bit (the v1 run did), that file serves and no copy is
  written.

    python benchmarks/export_experiments.py --root runs/experiments --out checkpoints --profile cpu

The SynthSky rows (Table 1's sky column: the full model, the baseline and the two references, trained from a
generator and encoder of their own) go to ``experiments_sky_cpu.jsonl`` and ``experiment_{full,autoregressive}_
sky_cpu.safetensors``:

    python benchmarks/export_experiments.py --root runs/experiments-sky --tag sky \
        --names full,autoregressive,real_heldout,static
"""
import argparse
import json
import platform
from pathlib import Path

from styleinv_lib.experiments import EXPERIMENTS, latest_rows, read_results
from styleinv_lib.train.autoregressive import export_autoregressive
from styleinv_lib.train.styleinv import export_styleinv

EXPORTED = ("full", "ape", "autoregressive")
CHAPTER6 = "styleinv_synthfaces32_v2_{profile}.safetensors"
HARDWARE = "2-core x86-64 CPU, no GPU; two experiments at a time, one torch thread each"


def _same_as_committed(run: Path, committed: Path) -> bool:
    """Whether the run's StyleInV moving average equals the committed file's, tensor for tensor."""
    import torch

    from styleinv_lib.loading import resolve_checkpoint
    from styleinv_lib.checkpoint import load_snapshot

    if not committed.exists():
        return False
    a = load_snapshot(resolve_checkpoint(run)).modules_state("SI_ema")
    b = load_snapshot(committed).modules_state("SI_ema")
    return a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--root", type=Path, default=Path("runs/experiments"))
    ap.add_argument("--out", type=Path, default=Path("checkpoints"))
    ap.add_argument("--profile", default="cpu")
    ap.add_argument("--hardware", default=HARDWARE)
    ap.add_argument("--names", default=",".join(EXPERIMENTS), help="comma-separated experiments to export")
    ap.add_argument("--tag", default="", help="dataset tag in the file names (e.g. sky)")
    args = ap.parse_args()
    names = [n for n in args.names.split(",") if n]
    unknown = set(names) - set(EXPERIMENTS)
    if unknown:
        raise SystemExit(f"unknown experiments: {', '.join(sorted(unknown))}")
    suffix = f"{args.tag}_{args.profile}" if args.tag else args.profile
    latest = latest_rows(read_results(args.root), args.profile)
    missing = set(names) - set(latest)
    if missing:
        raise SystemExit(f"{args.root}: no {args.profile} row for {', '.join(sorted(missing))}; run "
                         f"styleinv experiment all --profile {args.profile} first")
    lines = []
    for name in names:
        row = dict(latest[name])
        row["run"] = Path(row["run"]).name if row["run"] else ""
        row["hardware"] = f"{args.hardware} ({platform.machine()})"
        lines.append(json.dumps(row, sort_keys=True))
    results = args.out / f"experiments_{suffix}.jsonl"
    results.write_text("\n".join(lines) + "\n")
    print(f"wrote {results} ({len(lines)} rows)")
    for name in (n for n in EXPORTED if n in names):
        if name == "full" and not args.tag and _same_as_committed(args.root / f"full-{args.profile}",
                                                 args.out / CHAPTER6.format(profile=args.profile)):
            print(f"full            == {CHAPTER6.format(profile=args.profile)} bit for bit: no copy written")
            continue
        export = export_autoregressive if EXPERIMENTS[name].kind == "autoregressive" else export_styleinv
        path = export(args.root / f"{name}-{args.profile}", args.out / f"experiment_{name}_{suffix}.safetensors")
        print(f"{name:15s} -> {path} ({path.stat().st_size / 1e6:.1f} MB)")


if __name__ == "__main__":
    main()
