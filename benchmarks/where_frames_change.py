"""Where do StyleInV's frames change from one frame to the next: in the face, or around it?

    python benchmarks/where_frames_change.py --motion checkpoints/styleinv_synthfaces32_v2_cpu.safetensors \\
        --data data/synthfaces --out benchmarks/results/where_frames_change_v2_cpu.json

The jump ratio of the results issue (per video, the largest frame-to-frame change over the median one) and the
probe's motion ratios read two different things: pixels and face factors.  This script puts them side by side for
real SynthFaces videos and generated ones from the same number of videos and frames: the mean absolute change of
consecutive frames in the centre of the frame (the middle half in each direction, where SynthFaces draws the face)
and around it (background, hair, shoulders), the change of each frame's mean colour (a shift of the whole frame's
light or colour), and the median and largest step per video.  In SynthFaces the scene, the clothing and the light
are constant within a video, so a generated video that changes more than the real ones around the face spends its
motion on flicker that no probe factor reads.

``--frames`` longer than the folder's videos (the probe's 1,024): a SynthFaces folder's videos are rendered again
at that length from its ``metadata.json`` (``styleinv_lib.data.export.synthfaces_of``), so that the real jump ratio
is read over as many frames as the generated one (the largest of more steps is larger).
"""
from __future__ import annotations

import argparse
import json
import time
from pathlib import Path


def change_summary(videos) -> dict:
    """Frame-step statistics of ``videos`` (B×T×3×R×R, floats in [0, 1])."""
    from styleinv_lib.metrics.groundtruth import jump_ratio

    diff = videos[:, 1:] - videos[:, :-1]                              # B×(T-1)×3×R×R
    step = diff.abs()
    r = videos.shape[-1]
    lo, hi = r // 4, r - r // 4
    centre = step[..., lo:hi, lo:hi]
    inner, whole = centre.sum(dim=(2, 3, 4)), step.sum(dim=(2, 3, 4))  # B×(T-1)
    n_inner, n_whole = centre[0, 0].numel(), step[0, 0].numel()
    per_step = whole / n_whole                                         # B×(T-1)
    colour = diff.mean(dim=(3, 4)).abs().mean()
    ratios = jump_ratio(videos * 2 - 1)
    return {"mean_step": float(per_step.mean()), "centre_step": float((inner / n_inner).mean()),
            "surround_step": float(((whole - inner) / (n_whole - n_inner)).mean()),
            "colour_shift": float(colour), "median_step": float(per_step.median(dim=1).values.median()),
            "largest_step": float(per_step.max(dim=1).values.median()),
            "jump_ratio": [round(r, 3) for r in ratios], "jump_ratio_max": max(ratios)}


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--motion", type=Path, action="append", required=True,
                   help="a StyleInV run folder or exported file (repeatable)")
    p.add_argument("--data", type=Path, required=True, help="the SynthFaces render the model was trained on")
    p.add_argument("--videos", type=int, default=16)
    p.add_argument("--frames", type=int, default=128)
    p.add_argument("--seed", type=int, default=777)
    p.add_argument("--out", type=Path, default=None)
    args = p.parse_args(argv)

    import numpy as np
    import torch

    from styleinv_lib.data.video import VideoFolder
    from styleinv_lib.generate import load_video_generator
    from styleinv_lib.nn.styleinv import generate_video

    t0 = time.perf_counter()
    models = {str(path): load_video_generator(path) for path in args.motion}
    sizes = {vg.G.img_resolution for vg in models.values()}
    if len(sizes) != 1:
        raise SystemExit(f"the models draw frames of different sizes ({sorted(sizes)}); compare one size at a time")
    size = sizes.pop()
    ds = VideoFolder(args.data, size, mode="frames")
    if ds.num_videos < args.videos:
        raise SystemExit(f"{args.data}: need {args.videos} videos, the folder has {ds.num_videos}")
    if all(ds.num_frames(v) >= args.frames for v in range(args.videos)):
        real = torch.stack([ds.read_frames(v, np.arange(args.frames)) for v in range(args.videos)])
        real_source = "the data folder"
    else:                                   # longer than the folder's videos: render them longer, if we can
        from styleinv_lib.data.export import synthfaces_of
        from styleinv_lib.data.video import fit_square

        try:
            longer = synthfaces_of(args.data, args.frames)
        except (OSError, ValueError) as err:
            raise SystemExit(f"{args.data}: videos shorter than {args.frames} frames, and they cannot be rendered "
                             f"longer ({err})")
        real = torch.stack([torch.from_numpy(np.stack([fit_square(f, size) for f in longer.render(v).numpy()]))
                            .permute(0, 3, 1, 2) for v in range(args.videos)])
        real_source = f"SynthFaces rendered at {args.frames} frames with the folder's settings"
    real = real.double() / 255 if real.dtype == torch.uint8 else (real.double() + 1) / 2
    rows = {"real": change_summary(real)}
    for path, vg in models.items():
        G, SI = vg.G.eval(), vg.styleinv.eval()
        gen = torch.Generator().manual_seed(args.seed)
        with torch.no_grad():
            w0 = G.mapping(torch.randn(args.videos, G.z_dim, generator=gen))[:, 0]
            video = generate_video(G, SI, w0, torch.arange(args.frames, dtype=torch.float32),
                                   motion_seeds=list(range(args.videos)), chunk=32)
        rows[path] = change_summary((video.double() + 1) / 2)
    for name, r in rows.items():
        print(f"{name}: step {r['mean_step']:.4f} (centre {r['centre_step']:.4f}, around {r['surround_step']:.4f}), "
              f"colour shift {r['colour_shift']:.4f}, median step {r['median_step']:.4f}, largest "
              f"{r['largest_step']:.4f} (medians over videos), jump ratio max {r['jump_ratio_max']:.2f}")
    if args.out is not None:
        out = {"data": str(args.data), "real": real_source, "videos": args.videos, "frames": args.frames,
               "seed": args.seed,
               "rows": rows, "seconds": round(time.perf_counter() - t0, 1)}
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(out, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
