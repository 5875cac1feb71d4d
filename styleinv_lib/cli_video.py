"""``styleinv train-styleinv`` and ``styleinv generate``: the video stages of the command line (wired in by
:mod:`styleinv_lib.cli`; every handler is the parser's ``handler`` default)."""
from __future__ import annotations

import argparse
import json
from pathlib import Path

from .cli_common import (add_run_args, add_settings_arg, add_skip_bad_arg, add_speed_args, merge_settings,
                         relaunch_with_torchrun)
from .profiles import PROFILES


def add_video_cli(sub) -> None:
    p = sub.add_parser("train-styleinv", help="train StyleInV with FFA-ST against a frozen StyleGAN2 (stage 3)",
                       description="Train the temporal-style-modulated inversion network (Eq. 2) with first-frame-"
                                   "aware sparse training (§3.4). Rerunning with --resume auto continues a run.")
    p.add_argument("--generator", required=True, type=Path, help="the stylegan2 run folder or .safetensors file")
    p.add_argument("--encoder", type=Path, default=None, help="the inversion encoder run or file (initialisation)")
    p.add_argument("--data", required=True, type=Path, help="dataset folder (frames per video, video files, zip)")
    p.add_argument("--out", required=True, type=Path, help="run folder (snapshots, config.json, tb/, samples/)")
    p.add_argument("--profile", default=None, help=f"one of {', '.join(PROFILES)} (default: $STYLEINV_PROFILE)")
    p.add_argument("--kimg", type=float, default=None, help="training length in thousands of clips")
    p.add_argument("--batch", type=int, default=None, help="clips per step")
    p.add_argument("--motion", dest="motion_kind", choices=["ffa_ape", "ape"], default=None,
                   help="motion code: ffa_ape (StyleInV, default) or ape (StyleGAN-V; ablation)")
    p.add_argument("--no-encoder", action="store_true", help="ablation: no inversion encoder, w_t = w0 + s_t")
    p.add_argument("--no-ffa-d", action="store_true", help="ablation: D does not see the first frame")
    p.add_argument("--lambda-recon", type=float, default=None, help="first-frame L2 weight (0: ablation w/o L2)")
    p.add_argument("--max-distance", type=int, default=None, help="largest t3 - t1 of a clip (faces 32, sky 64)")
    p.add_argument("--anchor-spacing", type=int, default=None, help="FFA-APE anchor spacing Δ (faces 16, sky 128)")
    p.add_argument("--metrics", default=None, help="'probe' (SynthFaces probe metrics) or 'none'")
    p.add_argument("--metrics-kimg", type=float, default=None, help="evaluate every this many kimg (and at the end)")
    add_speed_args(p)
    add_skip_bad_arg(p)
    add_settings_arg(p)
    add_run_args(p)
    p.set_defaults(handler=run_train_styleinv)

    p = sub.add_parser("generate", help="generate videos with a trained StyleInV (mp4 per video + a grid)")
    p.add_argument("--motion", required=True, type=Path, help="the styleinv run folder or .safetensors file")
    p.add_argument("--generator", type=Path, default=None, help="override the StyleGAN2 recorded in the run")
    p.add_argument("--decoder", type=Path, action="append", default=[],
                   help="another generator sharing G's W space (a finetune-style run or file); repeatable: each "
                        "decodes the same latent sequence into its own videos, shown side by side in grid.mp4")
    p.add_argument("--init-images", type=Path, default=None,
                   help="a folder of images: one video per image, starting from its raw-encoder inversion (§4.2)")
    p.add_argument("--num-videos", type=int, default=4)
    p.add_argument("--frames", type=int, default=128, help="frames per video (any length; generated in chunks)")
    p.add_argument("--fps", type=float, default=25)
    p.add_argument("--seed", type=int, default=0, help="video i uses content seed seed+i and motion seed seed+i")
    p.add_argument("--chunk", type=int, default=64,
                   help="frames per forward pass; each chunk is encoded and dropped, so memory does not grow with "
                        "--frames")
    p.add_argument("--device", default="auto")
    p.add_argument("--out", required=True, type=Path,
                   help="output folder: video_<seed>.mp4 per video (video_<seed>_<decoder>.mp4 per decoder), "
                        "grid.mp4 (videos in rows, generators side by side), latents.safetensors, generate.json")
    p.add_argument("--overwrite", action="store_true",
                   help="replace a non-empty --out (whole, once the new videos are complete)")
    p.set_defaults(handler=run_generate)


def run_train_styleinv(args: argparse.Namespace) -> int:
    import os

    if args.gpus > 1 and "WORLD_SIZE" not in os.environ:
        return relaunch_with_torchrun(args.gpus, args.argv)
    from .train.loop import exit_status
    from .train.styleinv import StyleInVConfig, config_for_profile, train_styleinv

    metrics = None if args.metrics is None else ("" if args.metrics.lower() in ("", "none") else args.metrics)
    cfg = config_for_profile(args.profile, **merge_settings(StyleInVConfig, dict(
        data=str(args.data), generator=str(args.generator),
        encoder=str(args.encoder) if args.encoder is not None else ("" if args.no_encoder else None),
        use_encoder=False if args.no_encoder else None, first_frame_in_d=False if args.no_ffa_d else None,
        motion_kind=args.motion_kind, lambda_recon=args.lambda_recon, max_distance=args.max_distance,
        anchor_spacing=args.anchor_spacing, total_kimg=args.kimg, batch=args.batch, metrics=metrics,
        metrics_kimg=args.metrics_kimg, snapshot_kimg=args.snapshot_kimg, seed=args.seed, device=args.device,
        precision=args.precision, compile=args.compile, skip_bad=args.skip_bad or None), args.settings))
    if cfg.use_encoder and not cfg.encoder:
        raise ValueError("train-styleinv needs --encoder RUN_E (or --no-encoder for the ablation)")
    for what, path in (("generator", cfg.generator), ("encoder", cfg.encoder), ("data", cfg.data)):
        if path and not Path(path).exists():
            raise FileNotFoundError(f"--{what} {path} does not exist")
    resume = None if args.resume in (None, "none") else args.resume
    result = train_styleinv(cfg, args.out, resume=resume, progress=not args.quiet)
    print(f"{args.out}: {result.step} steps, {result.kimg:.1f} kimg"
          + (f" (interrupted: {result.interrupted}; rerun with --resume auto)" if result.interrupted else ""))
    return exit_status(result.interrupted)


def _decoder_name(path: Path, taken: set) -> str:
    name = path.name.removesuffix(".safetensors") or "decoder"
    base, k = name, 2
    while name in taken:
        name, k = f"{base}-{k}", k + 1
    taken.add(name)
    return name


def _check_generate_args(args: argparse.Namespace) -> None:
    """Every argument checked before a network is loaded or a frame is generated."""
    import math

    if args.num_videos < 1 or args.frames < 1:
        raise ValueError("--num-videos and --frames must be positive")
    if args.chunk < 1:
        raise ValueError(f"--chunk must be at least 1 frame, got {args.chunk}")
    if not (args.fps > 0 and math.isfinite(args.fps)):
        raise ValueError(f"--fps must be a positive number of frames per second, got {args.fps}")
    for path in args.decoder:
        if not path.exists():
            raise FileNotFoundError(f"--decoder {path} does not exist")
    if args.out.exists() and not args.out.is_dir():
        raise NotADirectoryError(f"--out {args.out} is a file, not a folder")
    if args.out.is_dir() and any(args.out.iterdir()) and not args.overwrite:
        raise FileExistsError(f"--out {args.out} is not empty; choose a new folder, or pass --overwrite to replace "
                              "it whole once the new videos are complete")


def run_generate(args: argparse.Namespace) -> int:
    import os
    import shutil

    import torch
    from safetensors.torch import save_file

    from .generate import load_video_generator, write_videos
    from .loading import load_generator
    from .train.loop import pick_device

    _check_generate_args(args)
    device = pick_device(args.device)
    gen = load_video_generator(args.motion, generator=args.generator, device=device)
    decoders = [load_generator(path, device=device) for path in args.decoder]
    if args.init_images is not None:                  # initial-frame conditioned generation (§4.2, Fig. 9)
        from .data.images import ImageFolder

        images = ImageFolder(args.init_images, gen.resolution)
        w0 = gen.w0_from_images(torch.stack([images.read(i) for i in range(len(images))]))
        seeds = [args.seed + i for i in range(len(images))]
    else:
        seeds = [args.seed + i for i in range(args.num_videos)]
        w0 = gen.w0_from_seeds(seeds)
    taken: set = set()
    names = [""] + ["_" + _decoder_name(p, taken) for p in args.decoder]
    # everything is written into a hidden sibling folder that replaces --out only when complete: an interrupted
    # run leaves --out as it was, and old and new files never mix
    out = args.out.absolute()
    partial = out.with_name(f".{out.name}.partial-{os.getpid()}")
    shutil.rmtree(partial, ignore_errors=True)
    partial.mkdir(parents=True)
    try:
        paths = [[partial / f"video_{seed:04d}{suffix}.mp4" for seed in seeds] for suffix in names]
        latents = write_videos(gen, [gen.G, *decoders], w0, args.frames, motion_seeds=seeds, video_paths=paths,
                               grid_path=partial / "grid.mp4", fps=args.fps, chunk=args.chunk)
        written = [p.name for row in paths for p in row] + ["grid.mp4"]
        save_file({"latents": latents.contiguous(), "w0": w0.float().cpu().contiguous()},
                  str(partial / "latents.safetensors"))
        (partial / "generate.json").write_text(json.dumps({
            "motion": str(args.motion), "generator": gen.G.info["path"],
            "decoders": [str(p) for p in args.decoder], "init_images": str(args.init_images or ""),
            "frames": args.frames, "fps": args.fps, "seeds": seeds,
            "grid": "rows: videos; columns: the motion's generator, then each --decoder in order",
            "videos": written}, indent=2))
        if out.exists():
            old = out.with_name(f".{out.name}.old-{os.getpid()}")
            os.replace(out, old)
            try:
                os.replace(partial, out)
            except BaseException:
                os.replace(old, out)                     # put the old videos back
                raise
            shutil.rmtree(old)
        else:
            os.replace(partial, out)
    except BaseException:
        shutil.rmtree(partial, ignore_errors=True)
        raise
    print(f"wrote {len(written)} videos to {args.out}")
    return 0
