"""Does the trained video discriminator ask for motion at all?

    python benchmarks/d_motion_sensitivity.py runs/experiments/full-cpu runs/experiments/no_ffa_d-cpu \\
        --out benchmarks/results/d_motion_sensitivity_v2_cpu.json

StyleInV learns to move only because its sparse discriminator D (§3.4) scores moving clips above still ones.  This
script loads the newest snapshot of each StyleInV run and scores, with that run's own D (no augmentation, the
run's timestamps), batches of:

* ``real``: real clips ``x_{t0..t3}`` as training draws them;
* ``real held still``: the same clips with every frame replaced by the first (same timestamps): a still video of a
  real face;
* ``real, other subjects``: each frame taken from the same time of another video: motion without one identity;
* ``fake``: the run's StyleInV (its moving average) with ``G(w0)`` first, as D sees it in training;
* ``fake held still``: every frame ``G(w0)``: the start StyleInV trains from.

For each pair it reports the mean logit gap and how often D ranks the first clip above the second.  If D scores a
real clip held still as high as the moving one, the adversarial loss has no reason to make StyleInV move, whatever
the generator can draw (``benchmarks/motion_ceiling.py``).
"""
from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

PAIRS = (("real", "real held still"), ("real", "real, other subjects"), ("real", "fake"),
         ("fake", "fake held still"), ("real held still", "fake held still"))


def score_run(run: Path, batches: int, seed: int) -> dict:
    import torch

    from styleinv_lib.checkpoint import RunDir, load_snapshot
    from styleinv_lib.train.styleinv import STAGE, StyleInVConfig, StyleInVStage

    snap = load_snapshot(RunDir(run).latest(), expected_stage=STAGE)
    cfg = StyleInVConfig.from_dict({**{k: v for k, v in snap.config.items()
                                       if k in StyleInVConfig.__dataclass_fields__},
                                    "compile": False, "device": "cpu", "metrics": ""})
    stage = StyleInVStage(cfg)
    stage.load_state(snap)
    stage.D.eval()

    def d(frames, ts):
        clip, t = stage.d_input(frames, ts)
        if cfg.first_frame_in_d:
            return stage.D(clip, t=t).float()
        return stage.D(clip, delta=t[:, 1:] - t[:, :-1]).float()

    logits = {name: [] for pair in PAIRS for name in pair}
    with torch.no_grad():
        for i in range(batches):
            step = 10_000_000 + seed * 1000 + i                 # steps training never drew
            real, ts = stage.real_clips(step)
            other, _ = stage.real_clips(step + 500)
            mixed = real.clone()
            mixed[:, 1:] = torch.stack([other.roll(k, dims=0)[:, k] for k in range(1, real.shape[1])], dim=1)
            z, seeds, ts_f = stage.fake_inputs(step, 2)
            _, x0, _, frames = stage.generate_clip(z, seeds, ts_f, net=stage.SI_ema)
            frames = torch.cat([x0[:, None], frames[:, 1:]], dim=1)
            logits["real"].append(d(real, ts))
            logits["real held still"].append(d(real[:, :1].expand_as(real).contiguous(), ts))
            logits["real, other subjects"].append(d(mixed, ts))
            logits["fake"].append(d(frames, ts_f))
            logits["fake held still"].append(d(x0[:, None].expand_as(frames).contiguous(), ts_f))
    logits = {k: torch.cat(v).flatten() for k, v in logits.items()}
    out = {"run": str(run), "snapshot": snap.path.name, "kimg": snap.extra_json.get("loop", {}).get("kimg"),
           "first_frame_in_d": cfg.first_frame_in_d, "clips": int(logits["real"].numel()),
           "mean_logit": {k: float(v.mean()) for k, v in logits.items()}, "pairs": {}}
    for a, b in PAIRS:
        out["pairs"][f"{a} > {b}"] = {"gap": float((logits[a] - logits[b]).mean()),
                                      "ranked_above": float((logits[a] > logits[b]).float().mean())}
    return out


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
