"""``styleinv finetune-style`` and ``styleinv export-generator``: style transfer by fine-tuning G (§3.5, Fig. 5),
wired in by :mod:`styleinv_lib.cli` (every handler is the parser's ``handler`` default)."""
from __future__ import annotations

import argparse
from pathlib import Path

from .cli_common import add_run_args, add_settings_arg, add_speed_args, merge_settings, relaunch_with_torchrun
from .profiles import PROFILES


def add_style_cli(sub) -> None:
    p = sub.add_parser("finetune-style", help="fine-tune a StyleGAN2 generator on a style's images (stage 4)",
                       description="Fine-tune G on still images of another style with the mapping network and the "
                                   "low-resolution synthesis blocks frozen, so that StyleInV's latent sequences play "
                                   "in the new style (paper §3.5). Rerunning with --resume auto continues a run.")
    p.add_argument("--generator", required=True, type=Path, help="the parent: a stylegan2 run folder or .safetensors")
    p.add_argument("--images", required=True, type=Path, help="a folder of images of the target style (recursive)")
    p.add_argument("--out", required=True, type=Path, help="run folder (snapshots, config.json, tb/, samples/)")
    p.add_argument("--profile", default=None, help=f"one of {', '.join(PROFILES)} (default: $STYLEINV_PROFILE)")
    p.add_argument("--freeze-res", type=int, default=None,
                   help="largest frozen synthesis resolution (default: resolution/8, at least 8; 0: none)")
    p.add_argument("--train-mapping", action="store_true", help="ablation: also fine-tune the mapping network")
    p.add_argument("--kimg", type=float, default=None, help="training length in thousands of images")
    p.add_argument("--batch", type=int, default=None, help="global batch size (all GPUs together)")
    p.add_argument("--lambda-lpips", type=float, default=None, help="LPIPS-VGG weight between parent and fine-tune "
                                                                    "(default 30)")
    p.add_argument("--lambda-id", type=float, default=None, help="identity loss weight (default 1)")
    p.add_argument("--identity", choices=["auto", "probe", "dlib", "none"], default=None,
                   help="identity network: the style-robust SynthFaces probe, dlib's face descriptor (real faces), "
                        "or auto (probe for a SynthFaces image set)")
    p.add_argument("--d-init", choices=["auto", "parent", "scratch"], default=None,
                   help="start D from the parent run's D (auto: when it has one) or from scratch")
    add_speed_args(p)
    add_settings_arg(p)
    add_run_args(p)
    p.set_defaults(handler=run_finetune_style)

    p = sub.add_parser("export-generator", help="write the generator of a stylegan2 / finetune-style run to one file")
    p.add_argument("run", type=Path, help="a run folder or snapshot")
    p.add_argument("--out", required=True, type=Path, help="the .safetensors file to write")
    p.set_defaults(handler=run_export_generator)


def run_finetune_style(args: argparse.Namespace) -> int:
    import os

    if args.gpus > 1 and "WORLD_SIZE" not in os.environ:
        return relaunch_with_torchrun(args.gpus, args.argv)
    from .train.loop import exit_status
    from .train.style_transfer import StyleTransferConfig, config_for_profile, train_style_transfer

    for what, path in (("generator", args.generator), ("images", args.images)):
        if not path.exists():
            raise FileNotFoundError(f"--{what} {path} does not exist")
    cfg = config_for_profile(args.profile, **merge_settings(StyleTransferConfig, dict(
        parent=str(args.generator), images=str(args.images), freeze_res=args.freeze_res,
        freeze_mapping=False if args.train_mapping else None, total_kimg=args.kimg, batch=args.batch,
        lambda_lpips=args.lambda_lpips, lambda_id=args.lambda_id, identity=args.identity, d_init=args.d_init,
        snapshot_kimg=args.snapshot_kimg, seed=args.seed, device=args.device, precision=args.precision,
        compile=args.compile), args.settings))
    resume = None if args.resume in (None, "none") else args.resume
    result = train_style_transfer(cfg, args.out, resume=resume, progress=not args.quiet)
    state = f"stopped early ({result.interrupted}; rerun with --resume auto)" if result.interrupted else "finished"
    print(f"{state} at {result.kimg:.1f} kimg; snapshots in {args.out}")
    metrics = args.out / "metrics.jsonl"
    if metrics.exists() and metrics.read_text().strip():
        print("alignment with the parent:", metrics.read_text().strip().splitlines()[-1])
    return exit_status(result.interrupted)


def run_export_generator(args: argparse.Namespace) -> int:
    from .loading import export_generator

    if not args.run.exists():
        raise FileNotFoundError(f"{args.run} does not exist")
    path = export_generator(args.run, args.out)
    print(f"wrote {path} ({path.stat().st_size / 1e6:.1f} MB)")
    return 0
