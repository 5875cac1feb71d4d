"""The evaluation protocol of StyleInV's Tables 1-3: StyleGAN-V's FVD (Skorokhodov et al. 2022, §4) and StyleInV's FID.

What the protocol fixes, read from StyleGAN-V's ``src/metrics/metric_main.py`` / ``metric_utils.py`` and StyleInV's
``scripts/calc_metrics_video.py`` / ``metrics_styleinv`` / ``training/dataset_styleinv.py``:

* **FVD₁₆ / FVD₁₂₈** (``fvd2048_16f`` / ``fvd2048_128f``, StyleGAN-V's, used unchanged by StyleInV): 2,048 real
  clips of 16 (or 128) consecutive frames, one per video in dataset order, each starting at a random offset; videos
  too short for the clip are skipped; 2,048 generated videos, each from t = 0.
* **FID, StyleInV's** (``fid50k``, the default here, ``Protocol.fid = "styleinv"``): StyleInV changes StyleGAN-V's
  FID ("we modify the paper FID to be fid50k, not using all frames of a dataset").  Real: 50,000 frames, each a
  uniformly random frame of a video, the videos visited in a shuffled order; generated: 50,000 frames drawn without
  replacement from the pool of *all* frames of the 2,048 generated 128-frame videos.
* **FID, StyleGAN-V's** (``fid50k_full``, ``Protocol.fid = "stylegan-v"``): real statistics over every frame of the
  dataset; generated: the first 16 frames of generated videos.  It sees only the start of each video, where a
  model that drifts has not drifted yet, so the two variants can order models differently.
* Real statistics are cached on disk, keyed by the dataset and the protocol.

Everything here is configurable (``Protocol``) so that a laptop can run the same pipeline on fewer clips; the
numbers are then *not* comparable to the paper's, and every result records the protocol it used (its ``fid``
field names the FID variant; a record without it predates the field and used StyleGAN-V's).  Real statistics
are cached under ``$STYLEINV_CACHE/stats`` keyed by a fingerprint of the dataset files (names, sizes, mtimes),
the resolution, the metric, the protocol fields it depends on and the feature network's checksum; change any of
them and the statistics are recomputed.

Generated videos come from a :class:`ClipSource`: a trained video generator, a folder of generated videos
(:class:`DatasetClips`), or, for an image generator alone, :class:`StaticImageClips` (each "video" is one
generated image held still: the honest no-motion baseline, useful to see what FVD charges for missing motion).
Sources of still images (``fid_frames_per_clip = 1``) get the image FID of independent samples under either variant.
"""
from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator, Protocol as TypingProtocol, Sequence

import numpy as np
import torch

from ..pixels import to_uint8
from .assets import ASSETS, cache_dir
from .frechet import FeatureStats, frechet_distance_from_stats

METRICS = ("fid", "fvd16", "fvd128")
FID_FRAMES_PER_CLIP = 16  # StyleGAN-V: FID frames are the first 16 frames of generated videos
#: The FID variants, by the name a result records in ``protocol["fid"]``.
FID_VARIANTS = {
    "styleinv": "StyleInV's fid50k: random frames of shuffled real videos; generated frames drawn from all frames "
                "of the generated videos",
    "stylegan-v": "StyleGAN-V's fid50k_full: every real frame (or a random subset); the first 16 frames of each "
                  "generated video",
}


@dataclass(frozen=True)
class Protocol:
    """Sizes and choices of one evaluation. Defaults are the paper's (StyleGAN-V's FVD, StyleInV's FID)."""

    num_clips: int = 2048               # real and generated clips for FVD
    fid_frames: int = 50_000            # generated frames for FID
    fid_real_frames: int | None = 50_000  # real frames for FID; None = as many as the dataset has frames
    seed: int = 0                       # clip offsets, real-frame subset, generator latents
    batch: int = 16                     # clips per generator / network call
    fid: str = "styleinv"               # the FID variant (FID_VARIANTS): "styleinv" or "stylegan-v"
    fid_video_frames: int = 128         # "styleinv": the length of the generated videos whose frames FID draws

    def __post_init__(self):
        if self.num_clips < 2 or self.fid_frames < 2 or self.batch < 1:
            raise ValueError("a protocol needs at least 2 clips and 2 frames, and a batch of at least 1")
        if self.fid_real_frames is not None and self.fid_real_frames < 2:
            raise ValueError("fid_real_frames must be at least 2 (or None for all frames)")
        if self.fid not in FID_VARIANTS:
            raise ValueError(f"unknown FID variant {self.fid!r}: choose one of {', '.join(FID_VARIANTS)}")
        if self.fid_video_frames < 1:
            raise ValueError("fid_video_frames must be at least 1")

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)


# Sizes per profile: "gpu" is the paper's protocol; the others are scaled down (and so not comparable to it).
PROTOCOL_PRESETS = {
    "smoke": Protocol(num_clips=8, fid_frames=64, fid_real_frames=64, batch=4, fid_video_frames=16),
    "cpu": Protocol(num_clips=64, fid_frames=1024, fid_real_frames=2048, batch=8),
    "gpu": Protocol(),
}
#: StyleGAN-V's protocol as its paper states it (FID over every real frame and the first 16 generated frames).
STYLEGAN_V_PROTOCOL = Protocol(fid="stylegan-v", fid_real_frames=None)


def protocol_for_profile(profile: str | None = None, **overrides) -> Protocol:
    """The profile's protocol with ``overrides`` (None values ignored).  ``fid="stylegan-v"`` on the ``gpu`` profile
    also takes StyleGAN-V's real side (every frame) unless ``fid_real_frames`` is given."""
    from ..profiles import get_profile

    name = get_profile(profile).name
    base = PROTOCOL_PRESETS[name]
    if name == "gpu" and overrides.get("fid") == "stylegan-v":
        base = STYLEGAN_V_PROTOCOL
    return dataclasses.replace(base, **{k: v for k, v in overrides.items() if v is not None})


def fid_variant(protocol_record: dict) -> str:
    """The FID variant a result recorded (``protocol["fid"]``); records from before the field used StyleGAN-V's."""
    return protocol_record.get("fid", "stylegan-v")


def metric_length(metric: str) -> int | None:
    """Clip length of an FVD metric (``fvd16`` → 16), ``None`` for FID."""
    if metric == "fid":
        return None
    if metric.startswith("fvd") and metric[3:].isdigit() and int(metric[3:]) >= 9:
        return int(metric[3:])
    raise ValueError(f"unknown metric {metric!r}: use fid or fvdN (N ≥ 9 frames, e.g. fvd16, fvd128)")


# ----------------------------------------------------------------------------------------------------------------
# Where generated clips come from


class ClipSource(TypingProtocol):
    """Anything that makes ``n`` uint8 clips (n, T, 3, R, R) deterministically from a seed."""

    resolution: int
    description: str

    def clips(self, n: int, num_frames: int, *, seed: int, batch: int) -> Iterator[torch.Tensor]:
        ...


class StaticImageClips:
    """An image generator's samples held still for ``num_frames`` frames: the no-motion baseline."""

    def __init__(self, G: torch.nn.Module, *, device: str | torch.device = "cpu", truncation_psi: float = 1.0):
        self.G = G.eval().to(device)
        self.device = torch.device(device)
        self.resolution = int(G.img_resolution)
        self.truncation_psi = truncation_psi
        self.description = f"StyleGAN2 {self.resolution}² images held still (no motion)"
        # FID of an image generator is over independent images (StyleGAN2-ADA's fid50k_full), not 16 copies
        self.fid_frames_per_clip = 1

    @torch.no_grad()
    def clips(self, n: int, num_frames: int, *, seed: int, batch: int) -> Iterator[torch.Tensor]:
        gen = torch.Generator().manual_seed(seed)
        for start in range(0, n, batch):
            b = min(batch, n - start)
            z = torch.randn(b, self.G.z_dim, generator=gen).to(self.device)
            img = to_uint8(self.G(z, truncation_psi=self.truncation_psi, noise_mode="const")).cpu()
            yield img.unsqueeze(1).expand(-1, num_frames, -1, -1, -1)


class RealFrames:
    """Random frames of a real dataset (another split than the statistics'), each held still like
    :class:`StaticImageClips`: the FID an image generator would get if its samples were real frames, i.e. the
    floor of the image FID at these sample sizes (``fid_frames_per_clip = 1``: independent frames)."""

    def __init__(self, root, resolution: int):
        from ..data.video import VideoFolder

        self.folder = VideoFolder(root, resolution, mode="frames")
        self.resolution = int(resolution)
        self.description = f"random real frames of {root}, {self.resolution}²"
        self.fid_frames_per_clip = 1

    def clips(self, n: int, num_frames: int, *, seed: int, batch: int) -> Iterator[torch.Tensor]:
        order = np.random.default_rng([seed, 0xF1D]).permutation(len(self.folder))
        if n > len(order):
            order = np.resize(order, n)
        for start in range(0, n, batch):
            frames = torch.stack([self.folder[int(i)]["image"] for i in order[start:start + batch]])
            yield frames.unsqueeze(1).expand(-1, num_frames, -1, -1, -1)


class DatasetClips:
    """Clips read from a folder of videos (generated ones, or a second real split), from frame 0 by default."""

    def __init__(self, root, resolution: int, *, random_offset: bool = False):
        from ..data.video import VideoFolder

        self.folder = VideoFolder(root, resolution)
        self.resolution = int(resolution)
        self.random_offset = random_offset
        self.description = f"videos in {root}"
        self.longest = max(self.folder.lengths)

    def clips(self, n: int, num_frames: int, *, seed: int, batch: int) -> Iterator[torch.Tensor]:
        yield from real_clip_batches(self.folder, n, num_frames, seed=seed, batch=batch,
                                     random_offset=self.random_offset, cycle=True)


class HeldOutClips:
    """Real clips from the videos the real FVD statistics do not use (dataset order ``skip`` onwards, where
    ``skip`` is the protocol's ``num_clips``): a second, independent real sample.  FID/FVD of it against the real
    statistics is the metric's floor at this protocol's size — what sampling noise alone scores.  With fewer
    held-out videos than clips, the held-out videos are revisited at new random offsets (never the real ones)."""

    def __init__(self, root, resolution: int, *, skip: int):
        from ..data.video import VideoFolder

        self.folder = VideoFolder(root, resolution)
        self.resolution = int(resolution)
        self.skip = int(skip)
        if self.folder.num_videos <= self.skip:
            raise ValueError(f"{root}: {self.folder.num_videos} videos leave none held out after the {self.skip} "
                             "the real statistics use")
        self.held_out_videos = self.folder.num_videos - self.skip
        self.description = f"held-out real videos {self.skip}..{self.folder.num_videos - 1} of {root}"

    def clips(self, n: int, num_frames: int, *, seed: int, batch: int) -> Iterator[torch.Tensor]:
        yield from real_clip_batches(self.folder, n, num_frames, seed=seed, batch=batch, random_offset=True,
                                     cycle=True, first=self.skip)


# ----------------------------------------------------------------------------------------------------------------
# Real data


def real_clip_batches(folder, n: int, num_frames: int, *, seed: int, batch: int, random_offset: bool = True,
                      cycle: bool = False, first: int = 0) -> Iterator[torch.Tensor]:
    """Up to ``n`` clips of ``num_frames`` consecutive frames, one per long-enough video in dataset order.

    ``random_offset``: each clip starts at a seeded random frame (StyleGAN-V for real data), else at frame 0.
    ``cycle``: wrap around the videos (with new offsets) until ``n`` clips are made, instead of stopping.
    ``first``: ignore the videos before this index (a held-out split, :class:`HeldOutClips`).
    """
    eligible = [i for i, length in enumerate(folder.lengths) if length >= num_frames and i >= first]
    if not eligible:
        raise ValueError(f"{folder.root}: no video{f' from index {first} on' if first else ''} has {num_frames} "
                         f"frames (longest: {max(folder.lengths)}); use a shorter FVD (e.g. fvd16) or longer videos")
    rng = np.random.default_rng([seed, num_frames])
    total = n if cycle else min(n, len(eligible))
    pending: list[torch.Tensor] = []
    for k in range(total):
        v = eligible[k % len(eligible)]
        slack = folder.num_frames(v) - num_frames
        start = int(rng.integers(0, slack + 1)) if random_offset and slack > 0 else 0
        pending.append(folder.read_frames(v, range(start, start + num_frames)))
        if len(pending) == batch or k == total - 1:
            yield torch.stack(pending)
            pending = []


def real_frame_batches(folder, n: int | None, *, seed: int, batch: int) -> Iterator[torch.Tensor]:
    """``n`` frames drawn without replacement from all frames of the dataset (all of them when ``n`` is None)."""
    total = folder.total_frames
    if n is None or n >= total:
        order = np.arange(total)
    else:
        order = np.sort(np.random.default_rng([seed, 1]).choice(total, size=n, replace=False))
    offsets = np.cumsum([0] + folder.lengths)
    for start in range(0, len(order), batch):
        chunk = order[start: start + batch]
        frames = []
        for index in chunk:
            v = int(np.searchsorted(offsets, index, side="right")) - 1
            frames.append(folder.read_frames(v, [int(index - offsets[v])])[0])
        yield torch.stack(frames)


def random_frame_batches(folder, n: int, *, seed: int, batch: int) -> Iterator[torch.Tensor]:
    """``n`` real frames the way StyleInV's FID draws them (``return_one`` with ``random_select``): the videos in a
    seeded shuffled order, cycled, and from each visit one uniformly random frame of that video."""
    rng = np.random.default_rng([seed, 0x51])
    order = rng.permutation(folder.num_videos)
    pending: list[torch.Tensor] = []
    for k in range(n):
        v = int(order[k % len(order)])
        pending.append(folder.read_frames(v, [int(rng.integers(0, folder.num_frames(v)))])[0])
        if len(pending) == batch or k == n - 1:
            yield torch.stack(pending)
            pending = []


def dataset_fingerprint(root) -> str:
    """sha256 over every file under ``root`` (relative name, size, mtime): changes when any file changes."""
    root = Path(root).expanduser().resolve()
    h = hashlib.sha256()
    if root.is_file():
        st = root.stat()
        h.update(f"{root.name}\0{st.st_size}\0{st.st_mtime_ns}".encode())
        return h.hexdigest()
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames.sort()
        for name in sorted(filenames):
            p = Path(dirpath) / name
            st = p.stat()
            h.update(f"{p.relative_to(root).as_posix()}\0{st.st_size}\0{st.st_mtime_ns}\n".encode())
    return h.hexdigest()


def stats_dir() -> Path:
    return cache_dir().parent / "stats"


def real_stats_key(root, resolution: int, metric: str, protocol: Protocol) -> str:
    fields = {"fid": {"fid_real_frames": protocol.fid_real_frames, "seed": protocol.seed, "fid": protocol.fid}}.get(
        metric, {"num_clips": protocol.num_clips, "seed": protocol.seed})
    network = ASSETS["inception" if metric == "fid" else "i3d"].sha256
    payload = json.dumps({"dataset": dataset_fingerprint(root), "resolution": int(resolution), "metric": metric,
                          "protocol": fields, "network": network, "version": 1}, sort_keys=True)
    return hashlib.sha256(payload.encode()).hexdigest()[:24]


def _extractor(metric: str, device):
    if metric == "fid":
        from .fid import inception

        return inception(device)
    from .fvd import i3d_features

    return i3d_features(device)


def _features(metric: str, network, batch: torch.Tensor) -> torch.Tensor:
    if metric == "fid":
        return network(batch)
    from .fvd import clip_features

    return clip_features(network, batch)


def _dim(metric: str) -> int:
    if metric == "fid":
        from .fid import FEATURE_DIM
    else:
        from .i3d import FEATURE_DIM
    return FEATURE_DIM


def real_stats(root, resolution: int, metric: str, protocol: Protocol, *, device="cpu", cache: bool = True,
               progress: bool = False) -> FeatureStats:
    """Feature statistics of the real data for one metric, from the cache when it holds them."""
    from ..data.video import VideoFolder

    path = stats_dir() / f"{Path(root).name}-{resolution}-{metric}-{real_stats_key(root, resolution, metric, protocol)}.npz"
    if cache and path.is_file():
        try:
            return FeatureStats.load(path)
        except ValueError:
            pass  # a damaged cache file is recomputed
    folder = VideoFolder(root, resolution)
    network = _extractor(metric, device)
    length = metric_length(metric)
    if length is None and protocol.fid == "styleinv":
        total = protocol.fid_real_frames or folder.total_frames
        batches = random_frame_batches(folder, total, seed=protocol.seed, batch=protocol.batch)
    elif length is None:
        batches = real_frame_batches(folder, protocol.fid_real_frames, seed=protocol.seed, batch=protocol.batch)
        total = min(protocol.fid_real_frames or folder.total_frames, folder.total_frames)
    else:
        batches = real_clip_batches(folder, protocol.num_clips, length, seed=protocol.seed, batch=protocol.batch)
        total = min(protocol.num_clips, sum(n >= length for n in folder.lengths))
    stats = FeatureStats(_dim(metric), meta={"root": str(root), "metric": metric, "protocol": protocol.to_dict()})
    bar = _bar(progress, total, f"real {metric}")
    for b in batches:
        stats.update(_features(metric, network, b))
        bar.update(len(b))
    bar.close()
    if cache:
        stats.save(path)
    return stats


def _bar(enabled: bool, total: int, desc: str):
    from tqdm.auto import tqdm

    return tqdm(total=total, desc=desc, unit="clip" if "fvd" in desc else "img", disable=not enabled,
                leave=False)


def check_fid_pool(source: ClipSource, protocol: Protocol) -> None:
    """Whether StyleInV's FID can draw ``fid_frames`` frames from the source's ``num_clips`` videos of
    ``fid_video_frames`` frames (a clear error before any statistics are computed, if not)."""
    if protocol.fid != "styleinv" or getattr(source, "fid_frames_per_clip", None) is not None:
        return
    video_frames, pool = protocol.fid_video_frames, protocol.num_clips * protocol.fid_video_frames
    longest = getattr(source, "longest", None)
    if longest is not None and longest < video_frames:
        raise ValueError(f"{source.description}: the videos have at most {longest} frames, StyleInV's FID draws "
                         f"from their first {video_frames}: lower fid_video_frames (--fid-video-frames "
                         f"{longest}) or use StyleGAN-V's FID (--fid-protocol stylegan-v)")
    if protocol.fid_frames > pool:
        raise ValueError(f"StyleInV's FID draws {protocol.fid_frames} frames from {protocol.num_clips} videos of "
                         f"{video_frames} frames ({pool} in all): raise num_clips or fid_video_frames, or lower "
                         "fid_frames")


def fake_stats(source: ClipSource, metrics: Sequence[str], protocol: Protocol, *, device="cpu",
               progress: bool = False) -> dict[str, FeatureStats]:
    """Statistics of generated clips for several metrics from one pass over the generator.

    The ``num_clips`` videos are generated once, at the longest length any metric needs; FVD_N uses their first N
    frames.  FID, StyleInV's variant: ``fid_frames`` frames drawn without replacement from all frames of those
    videos (their first ``fid_video_frames``); StyleGAN-V's: their first 16 frames, further videos (another seed)
    when FID needs more.  A source of still images (``fid_frames_per_clip = 1``) gives independent images.  FID
    asked alone draws exactly the frames it draws beside FVD (the ``num_clips`` videos are generated as long as FID
    needs), so one protocol seed gives one FID whichever other metrics are asked.
    """
    lengths = sorted({metric_length(m) for m in metrics if m != "fid"})
    nets = {m: _extractor(m, device) for m in metrics}
    stats = {m: FeatureStats(_dim(m)) for m in metrics}
    want_fid = "fid" in metrics
    per_clip = getattr(source, "fid_frames_per_clip", None)
    pooled = want_fid and per_clip is None and protocol.fid == "styleinv"
    per_clip = int(per_clip or FID_FRAMES_PER_CLIP)
    if want_fid and not pooled:
        lengths = sorted({*lengths, per_clip})          # FID alone starts from the same videos as beside FVD
    if pooled:
        check_fid_pool(source, protocol)
        video_frames = protocol.fid_video_frames
        pool = protocol.num_clips * video_frames
        picks = np.sort(np.random.default_rng([protocol.seed, 0xF1D]).choice(pool, protocol.fid_frames,
                                                                            replace=False))
        lengths = sorted({*lengths, video_frames})

    def feed_fid(clips):
        if want_fid and stats["fid"].count < protocol.fid_frames:
            frames = clips[:, :per_clip].reshape(-1, *clips.shape[2:])
            frames = frames[: protocol.fid_frames - stats["fid"].count]
            stats["fid"].update(_features("fid", nets["fid"], frames))

    def feed_pool(clips, first: int):
        """The drawn frames among those of videos ``first``, ``first + 1``, ... (one generated batch)."""
        lo, hi = np.searchsorted(picks, [first * video_frames, (first + len(clips)) * video_frames])
        chosen = torch.from_numpy(picks[lo:hi] - first * video_frames)
        frames = clips[:, :video_frames].reshape(-1, *clips.shape[2:])[chosen]
        for start in range(0, len(frames), 64):
            stats["fid"].update(_features("fid", nets["fid"], frames[start:start + 64]))

    if lengths:
        bar = _bar(progress, protocol.num_clips, "generated clips")
        done = 0
        for clips in source.clips(protocol.num_clips, max(lengths), seed=protocol.seed, batch=protocol.batch):
            for m in metrics:
                if m != "fid":
                    stats[m].update(_features(m, nets[m], clips[:, : metric_length(m)].contiguous()))
            if pooled:
                feed_pool(clips, done)
            else:
                feed_fid(clips)
            done += len(clips)
            bar.update(len(clips))
        bar.close()
    if want_fid and stats["fid"].count < protocol.fid_frames and not pooled:
        missing = protocol.fid_frames - stats["fid"].count
        n_clips = -(-missing // per_clip)
        bar = _bar(progress, missing, "generated frames (fid)")
        for clips in source.clips(n_clips, per_clip, seed=protocol.seed + 1_000_003, batch=protocol.batch):
            before = stats["fid"].count
            feed_fid(clips)
            bar.update(stats["fid"].count - before)
        bar.close()
    return stats


def evaluate(source: ClipSource, data_root, metrics: Sequence[str] = METRICS, protocol: Protocol | None = None, *,
             device="cpu", cache: bool = True, progress: bool = False) -> dict:
    """FID / FVD_N of generated clips against a real dataset under ``protocol``; a JSON-ready dict."""
    protocol = protocol or Protocol()
    metrics = list(dict.fromkeys(metrics))
    for m in metrics:
        metric_length(m)
    if "fid" in metrics:
        check_fid_pool(source, protocol)
    t0 = time.perf_counter()
    reals = {m: real_stats(data_root, source.resolution, m, protocol, device=device, cache=cache, progress=progress)
             for m in metrics}
    fakes = fake_stats(source, metrics, protocol, device=device, progress=progress)
    results = {m: frechet_distance_from_stats(reals[m], fakes[m]) for m in metrics}
    return {
        "metrics": results,
        "counts": {m: {"real": reals[m].count, "fake": fakes[m].count} for m in metrics},
        "protocol": protocol.to_dict(),
        "comparable_to_paper": protocol == Protocol(),
        "fid_variant": (FID_VARIANTS[protocol.fid] + ("; here the generated frames are independent still images"
                                                       if getattr(source, "fid_frames_per_clip", None) else "")
                        if "fid" in metrics else None),
        "data": str(data_root),
        "generator": source.description,
        "resolution": source.resolution,
        "seconds": round(time.perf_counter() - t0, 2),
    }


def append_results(run_dir, record: dict) -> Path:
    """Append one JSON line to ``run_dir/metrics.jsonl`` (created if needed)."""
    path = Path(run_dir) / "metrics.jsonl"
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a", encoding="utf-8") as f:
        f.write(json.dumps({"time": time.strftime("%Y-%m-%dT%H:%M:%S"), **record}) + "\n")
        f.flush()
        os.fsync(f.fileno())
    return path


__all__ = ["ClipSource", "DatasetClips", "FID_VARIANTS", "HeldOutClips", "METRICS", "PROTOCOL_PRESETS", "Protocol",
           "RealFrames", "STYLEGAN_V_PROTOCOL", "StaticImageClips", "append_results", "check_fid_pool",
           "dataset_fingerprint", "evaluate", "fake_stats", "fid_variant", "metric_length", "protocol_for_profile",
           "random_frame_batches", "real_stats", "to_uint8"]
