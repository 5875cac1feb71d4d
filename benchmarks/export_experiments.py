"""Commit the results of ``styleinv experiment`` for chapter 9: the results file and three small exports.

After ``make experiments PROFILE=cpu`` (``styleinv experiment all --profile cpu --root runs/experiments --seeds
0,1,2``), this writes

* ``checkpoints/experiments_<tag>_cpu.jsonl`` — every training seed's row of that profile, with the machine they
  ran on;
* ``checkpoints/experiment_{ape,autoregressive}_<tag>_cpu.safetensors`` — the motion networks of two training-seed-0
  runs (the moving averages only; the generator and encoder stay the committed chapter 2 and 3 files), for chapter
  9's long videos;
* ``checkpoints/experiment_full_<tag>_cpu.safetensors`` — the same for the full model.  It was chapter 6's
  committed StyleInV until the cpu preset moved on (FFA-APE periods from 4 frames, longer training); the experiments
  keep the recipe their rows were trained with (``styleinv_lib.experiments.EXPERIMENT_SETTINGS``).

    python benchmarks/export_experiments.py --root runs/experiments --out checkpoints --profile cpu --tag v2

``--partial`` writes the rows that have finished so far (an interrupted multi-session run commits what it has) and
lists the (experiment, seed) pairs still missing; without it a missing experiment is an error.  Rows the results
file already holds are kept (a fresh checkout's empty ``runs/`` loses nothing; ``styleinv experiment --committed``
skips them); a row of the root for the same experiment and seed replaces the committed one.

The SynthSky rows (Table 1's sky column: the full model, the baseline and the two references, trained from a
generator and encoder of their own, with the official sky configuration) go to ``experiments_sky_v2_cpu.jsonl`` and
``experiment_{full,autoregressive}_sky_v2_cpu.safetensors`` (the first edition's ``sky`` files, trained with the
face settings, were retired; git history keeps them):

    python benchmarks/export_experiments.py --root runs/experiments-sky --tag sky_v2 \
        --names full,autoregressive,real_heldout,static
"""
import argparse
import json
import platform
from pathlib import Path

from styleinv_lib.fileio import atomic_write_text
from styleinv_lib.experiments import EXPERIMENTS, REFERENCE_KINDS, read_results, rows_by_seed, run_folder
from styleinv_lib.train.autoregressive import export_autoregressive
from styleinv_lib.train.styleinv import export_styleinv

EXPORTED = ("full", "ape", "autoregressive")
HARDWARE = "2-core x86-64 CPU, no GPU; two experiments at a time, one torch thread each"


def _same_as_committed(run: Path, committed: Path, module: str = "SI_ema") -> bool:
    """Whether the run's motion network (``module``: StyleInV's or the baseline's moving average) equals the
    committed file's, tensor for tensor: then the file stays as it is (a re-export would change only its date)."""
    import torch

    from styleinv_lib.loading import resolve_checkpoint
    from styleinv_lib.checkpoint import load_snapshot

    if not committed.exists():
        return False
    a = load_snapshot(resolve_checkpoint(run)).modules_state(module)
    b = load_snapshot(committed).modules_state(module)
    return a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--root", type=Path, default=Path("runs/experiments"))
    ap.add_argument("--out", type=Path, default=Path("checkpoints"))
    ap.add_argument("--profile", default="cpu")
    ap.add_argument("--hardware", default=HARDWARE)
    ap.add_argument("--names", default=",".join(EXPERIMENTS), help="comma-separated experiments to export")
    ap.add_argument("--tag", default="", help="dataset or version tag in the file names (e.g. v2, sky)")
    ap.add_argument("--seeds", default="0,1,2", help="the training seeds every trained row should have")
    ap.add_argument("--partial", action="store_true", help="write the finished rows and list the missing ones")
    args = ap.parse_args()
    names = [n for n in args.names.split(",") if n]
    unknown = set(names) - set(EXPERIMENTS)
    if unknown:
        raise SystemExit(f"unknown experiments: {', '.join(sorted(unknown))}")
    seeds = [int(s) for s in args.seeds.split(",") if s.strip()]
    suffix = f"{args.tag}_{args.profile}" if args.tag else args.profile
    results = args.out / f"experiments_{suffix}.jsonl"
    local = rows_by_seed(read_results(args.root), args.profile)
    seeded = rows_by_seed(read_results(args.root, results if results.exists() else None), args.profile)
    wanted = [(n, s) for n in names for s in ([0] if EXPERIMENTS[n].kind in REFERENCE_KINDS else seeds)]
    missing = [(n, s) for n, s in wanted if s not in seeded.get(n, {})]
    if missing and not args.partial:
        raise SystemExit(f"{args.root}: no {args.profile} row for " + ", ".join(f"{n} seed {s}" for n, s in missing)
                         + f"; run styleinv experiment all --profile {args.profile} --seeds {args.seeds} first "
                           "(or pass --partial)")
    lines = []
    others = [(n, s) for n in EXPERIMENTS for s in sorted(seeded.get(n, {})) if (n, s) not in wanted]
    for name, seed in wanted + others:                   # the wanted rows first, then what else the file holds
        if seed not in seeded.get(name, {}):
            continue
        row = dict(seeded[name][seed])
        if seed in local.get(name, {}):                  # measured here: a committed row keeps its machine
            row["run"] = Path(row["run"]).name if row["run"] else ""
            row["hardware"] = f"{args.hardware} ({platform.machine()})"
        lines.append(json.dumps(row, sort_keys=True))
    atomic_write_text(results, "\n".join(lines) + "\n")
    print(f"wrote {results} ({len(lines)} rows)")
    if missing:
        print("still missing: " + ", ".join(f"{n} seed {s}" for n, s in missing))
    for name in (n for n in EXPORTED if n in names and 0 in local.get(n, {})):
        run = run_folder(args.root, name, args.profile)
        if not run.is_dir():
            print(f"{name:15s} {run} is not here: the network exported with its row stays as it is")
            continue
        baseline = EXPERIMENTS[name].kind == "autoregressive"
        path = args.out / f"experiment_{name}_{suffix}.safetensors"
        if _same_as_committed(run, path, "M_ema" if baseline else "SI_ema"):
            print(f"{name:15s} == {path.name} bit for bit: left as it is")
            continue
        path = (export_autoregressive if baseline else export_styleinv)(run, path)
        print(f"{name:15s} -> {path} ({path.stat().st_size / 1e6:.1f} MB)")


if __name__ == "__main__":
    main()
