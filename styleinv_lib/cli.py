"""The ``styleinv`` command: a thin layer over the library's functions.

Groups arrive with the stages; today: ``styleinv data ...`` (render, inspect) and ``styleinv profiles``.
Every error a user can cause (a missing folder, a bad video, a folder holding another render) is printed as one
line naming the file and the problem, with exit status 2.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

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


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="styleinv", description="StyleInV, the book: training library CLI")
    sub = parser.add_subparsers(dest="command", required=True)

    data = sub.add_parser("data", help="render the embedded datasets, inspect a dataset folder")
    dsub = data.add_subparsers(dest="data_command", required=True)
    p = dsub.add_parser("synthfaces", help="render SynthFaces talking-head videos")
    _add_render_args(p)
    p.add_argument("--videos-per-identity", type=int, default=1,
                   help="videos sharing one identity, each with its own motion (default 1)")
    p = dsub.add_parser("synthsky", help="render SynthSky cloud timelapses")
    _add_render_args(p)
    p = dsub.add_parser("styles", help="render still images of SynthFaces subjects in an art style")
    _add_render_args(p, videos=False)
    p.add_argument("--style", default="all", help="toon, sketch, popart, photo, or all (default: all art styles)")
    p.add_argument("--images", type=int, required=True, help="images per style")
    p = dsub.add_parser("all", help="render every embedded dataset at a profile's size into --root")
    p.add_argument("--profile", default=None, help=f"one of {', '.join(PROFILES)} (default: $STYLEINV_PROFILE)")
    p.add_argument("--root", type=Path, default=Path("data"), help="parent folder (default ./data)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--quiet", action="store_true")
    p = dsub.add_parser("inspect", help="count videos and frames, check sizes, list bad files")
    p.add_argument("root", type=Path, help="a dataset folder, a folder of video files, or a zip")

    sub.add_parser("profiles", help="list the size presets")
    return parser


def _render_all(args) -> None:
    from .data.export import export_style_images, export_synthfaces, export_synthsky

    prof = get_profile(args.profile)
    progress = not args.quiet
    root = args.root
    print(f"profile {prof.name}: {prof.description}")
    export_synthfaces(root / "synthfaces", num_videos=prof.num_videos, num_frames=prof.num_frames,
                      resolution=prof.resolution, seed=args.seed, progress=progress)
    export_synthsky(root / "synthsky", num_videos=prof.sky_videos, num_frames=prof.num_frames,
                    resolution=prof.resolution, seed=args.seed, progress=progress)
    export_style_images(root / "styles", style="all", num_images=prof.style_images, resolution=prof.resolution,
                        seed=args.seed, progress=progress)
    print(f"wrote {root}/synthfaces, {root}/synthsky and {root}/styles/{{toon,sketch,popart}}")


def _check_size(args) -> None:
    if not 16 <= args.resolution <= 256:
        raise ValueError(f"--resolution must be between 16 and 256, got {args.resolution}")
    for name in ("videos", "frames", "images"):
        value = getattr(args, name, None)
        if value is not None and value < 1:
            raise ValueError(f"--{name} must be positive, got {value}")


def run(args) -> int:
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
                                        videos_per_identity=args.videos_per_identity, overwrite=args.overwrite,
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
                                   seed=args.seed, overwrite=args.overwrite, progress=not args.quiet)
        print(f"wrote {args.images} images per style to {args.out}")
    elif cmd == "all":
        _render_all(args)
    elif cmd == "inspect":
        from .data.video import inspect_dataset

        report = inspect_dataset(args.root, progress=True)
        print(report.format())
        return 1 if report.bad else 0
    return 0


def main(argv=None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return run(args)
    except (FileNotFoundError, FileExistsError, ValueError, NotADirectoryError) as err:
        print(f"styleinv: error: {err}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("styleinv: interrupted; run the same command again to resume", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
