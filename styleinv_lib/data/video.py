"""Real video datasets: folders of frames, video files or a zip of either, with frame and clip sampling.

Layouts understood by :class:`VideoFolder` and :func:`inspect_dataset` (the *root* may be any of them):

* StyleGAN-V's layout: one sub-folder per video holding its numbered frames (png/jpg/jpeg/webp). Frames are
  ordered by a *natural* sort of their file names, so ``frame_2.png`` comes before ``frame_10.png``.
* A folder of video files (mp4/avi/webm/mov/mkv), decoded with PyAV (``pip install styleinv-lib[video]``).
* A ``.zip`` of either layout, read in place (video files inside a zip are extracted lazily to a temp dir).
* A folder that itself holds frames (no sub-folders) is one video; a single video file is one video.

Hidden files, ``metadata.json`` and other non-media files are ignored; videos are sorted by (natural) name.
A zip (or folder) whose only content is one wrapper folder around the dataset is looked into.

Clip sampling implements the real-data side of first-frame-aware sparse training (FFA-ST, paper §3.4): every
clip holds the initial frame ``t0 = 0`` plus three later frames, and the discriminator sees the frames and their
time differences. :class:`DenseClipSampler` gives consecutive frames (for FVD and autoregressive baselines).
"""
from __future__ import annotations

import io
import json
import os
import re
import shutil
import tempfile
import warnings
import weakref
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Sequence

import numpy as np
import torch
from PIL import Image
from tqdm.auto import tqdm

from .frame_cache import FrameCache

__all__ = [
    "FRAME_EXTENSIONS", "VIDEO_EXTENSIONS", "DatasetReport", "DenseClipSampler", "SparseClipSampler",
    "VideoDataError", "VideoFolder", "fit_square", "inspect_dataset", "natural_key", "to_rgb_array",
    "write_video_frames",
]

FRAME_EXTENSIONS = (".png", ".jpg", ".jpeg", ".webp")
VIDEO_EXTENSIONS = (".mp4", ".avi", ".webm", ".mov", ".mkv")
_IGNORED_NAMES = {"metadata.json", "__macosx", "thumbs.db", "desktop.ini"}
_DIGITS = re.compile(r"(\d+)")


class VideoDataError(ValueError):
    """A problem with one file or folder of a video dataset; the message starts with the offending path.

    ``usable_frames``: for a video file that ends early, how many frames decode before the end (``None`` when
    nothing of the video can be used); with ``skip_bad`` those frames are kept rather than the whole video dropped.
    """

    def __init__(self, path, problem: str, usable_frames: int | None = None):
        self.path = path
        self.problem = problem
        self.usable_frames = usable_frames
        super().__init__(f"{path}: {problem}")

    def __reduce__(self):  # keep (path, problem) through pickling (DataLoader workers, multiprocessing)
        return type(self), (self.path, self.problem, self.usable_frames)


def natural_key(name: str):
    """Sort key that orders digit runs by value: ``frame_2.png`` < ``frame_10.png``."""
    parts = [int(t) if t.isdigit() else t.casefold() for t in _DIGITS.split(name)]
    return parts, name


def _ext(name: str) -> str:
    return os.path.splitext(name)[1].lower()


def _ignored(name: str) -> bool:
    return name.startswith(".") or name.casefold() in _IGNORED_NAMES


def _import_av():
    try:
        import av
    except ImportError as err:  # pragma: no cover - exercised only without PyAV
        raise ImportError("reading video files needs PyAV: pip install styleinv-lib[video]") from err
    return av


# ----------------------------------------------------------------------------------------------------------------
# Writing StyleGAN-V's layout


def write_video_frames(frames, folder, *, ext: str = "png", compress_level: int = 1) -> list[Path]:
    """Write ``frames`` (uint8 array or tensor, T×H×W×3) as ``folder/000000.png``, ``000001.png``, ...

    Each file is written under a hidden temporary name and renamed, so an interrupted run never leaves a
    half-written frame behind. Numbered frames of the same extension beyond ``T`` left by an earlier, longer
    write are removed, so the folder holds exactly this video. Returns the paths written, in order.
    """
    if isinstance(frames, torch.Tensor):
        frames = frames.detach().cpu().numpy()
    frames = np.asarray(frames)
    if frames.ndim != 4 or frames.shape[-1] != 3:
        raise ValueError(f"frames must be shaped (T, H, W, 3), got {tuple(frames.shape)}")
    if frames.dtype != np.uint8:
        raise ValueError(f"frames must be uint8, got {frames.dtype}")
    ext = ext.lower().lstrip(".")
    if f".{ext}" not in FRAME_EXTENSIONS:
        raise ValueError(f"ext must be one of {[e[1:] for e in FRAME_EXTENSIONS]}, got {ext!r}")
    options = {"png": {"compress_level": compress_level}, "webp": {"lossless": True}}.get(ext, {"quality": 95})
    fmt = {"jpg": "JPEG", "jpeg": "JPEG", "png": "PNG", "webp": "WEBP"}[ext]
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for k, frame in enumerate(frames):
        path = folder / f"{k:06d}.{ext}"
        tmp = folder / f".{path.name}.tmp"
        Image.fromarray(np.ascontiguousarray(frame)).save(tmp, format=fmt, **options)
        os.replace(tmp, path)
        paths.append(path)
    stale = re.compile(rf"^(\d{{6}})\.{re.escape(ext)}$")
    for old in folder.iterdir():
        m = stale.match(old.name)
        if m and int(m.group(1)) >= len(frames):
            old.unlink()
    return paths


# ----------------------------------------------------------------------------------------------------------------
# Frame conversion


def to_rgb_array(img: Image.Image) -> np.ndarray:
    """Convert a PIL image of any mode to an H×W×3 uint8 RGB array.

    Grayscale (``1``, ``L``, ``I;16``, ``I``) is replicated to three channels; 16-bit values are scaled to 8 bits
    by ``v / 257`` with rounding (so 65535 → 255 and 32896 → 128; ``I`` is assumed to hold 16-bit data, as PIL
    gives for 16-bit PNGs). Images with transparency (RGBA, LA, P or L/RGB with a transparent colour) are
    **composited over black**: ``rgb * alpha / 255``. Other modes (CMYK, YCbCr, ...) use PIL's conversion.
    """
    mode = img.mode
    if mode == "RGB" and "transparency" not in img.info:
        return np.asarray(img, dtype=np.uint8)
    if mode in ("I;16", "I;16L", "I;16B", "I;16N", "I"):
        v = np.clip(np.asarray(img).astype(np.int64), 0, 65535)
        gray = ((v * 255 + 32767) // 65535).astype(np.uint8)
        return np.repeat(gray[..., None], 3, axis=2)
    if mode == "F":
        gray = np.clip(np.rint(np.asarray(img)), 0, 255).astype(np.uint8)
        return np.repeat(gray[..., None], 3, axis=2)
    if mode in ("P", "L", "RGB") and "transparency" in img.info or mode in ("PA", "RGBa"):
        img, mode = img.convert("RGBA"), "RGBA"
    if mode == "La":
        img, mode = img.convert("LA"), "LA"
    if mode in ("RGBA", "LA"):
        a = np.asarray(img).astype(np.uint16)
        color, alpha = a[..., :-1], a[..., -1:]
        out = ((color * alpha + 127) // 255).astype(np.uint8)
        return np.repeat(out, 3, axis=2) if mode == "LA" else out
    if mode in ("1", "L"):
        return np.repeat(np.asarray(img.convert("L"))[..., None], 3, axis=2)
    return np.asarray(img.convert("RGB"), dtype=np.uint8)


def fit_square(frame: np.ndarray, resolution: int) -> np.ndarray:
    """Resize so the shorter side is ``resolution`` (Lanczos, antialiased) and centre-crop to a square.

    Done in one PIL call by resampling the centred square box of the source: the same geometry as resizing
    the whole frame and cropping its centre, without rounding the intermediate size.
    """
    h, w = frame.shape[:2]
    if h == w == resolution:
        return frame
    side = min(h, w)
    x0, y0 = (w - side) / 2, (h - side) / 2
    out = Image.fromarray(frame).resize((resolution, resolution), Image.Resampling.LANCZOS,
                                        box=(x0, y0, x0 + side, y0 + side))
    return np.asarray(out)


# ----------------------------------------------------------------------------------------------------------------
# Storage: a folder or a zip, addressed by '/'-separated relative names


class _DirStore:
    """Files under a folder on disk."""

    is_zip = False

    def __init__(self, root: Path):
        self.root = root

    def listdir(self, rel: str) -> tuple[list[str], list[str]]:
        dirs, files = [], []
        with os.scandir(self.root / rel if rel else self.root) as entries:
            for e in entries:
                if not _ignored(e.name):
                    (dirs if e.is_dir() else files).append(e.name)
        return dirs, files

    def display(self, rel: str) -> str:
        return str(self.root / rel) if rel else str(self.root)

    def open(self, rel: str):
        return open(self.root / rel, "rb")

    def read(self, rel: str) -> bytes:
        return (self.root / rel).read_bytes()

    def local_path(self, rel: str) -> str:
        return str(self.root / rel)


class _ZipStore:
    """Members of a zip archive, read in place; the archive is reopened in each process (DataLoader workers)."""

    is_zip = True

    def __init__(self, path: Path):
        self.path = path
        try:
            with zipfile.ZipFile(path) as zf:
                names = zf.namelist()
        except (zipfile.BadZipFile, OSError) as err:
            raise VideoDataError(path, f"is not a readable zip archive ({err})") from None
        self._tree: dict[str, tuple[set, list]] = {"": (set(), [])}
        self._members: dict[str, str] = {}  # normalised relative name -> name in the archive
        for name in names:
            parts = [p for p in name.split("/") if p not in ("", ".")]
            if not parts or any(p.startswith(".") or p.casefold() == "__macosx" for p in parts):
                continue
            is_dir = name.endswith("/")
            for depth in range(len(parts) - (0 if is_dir else 1)):
                self._tree.setdefault("/".join(parts[:depth]), (set(), []))[0].add(parts[depth])
                self._tree.setdefault("/".join(parts[:depth + 1]), (set(), []))
            if not is_dir:
                self._tree.setdefault("/".join(parts[:-1]), (set(), []))[1].append(parts[-1])
                self._members["/".join(parts)] = name
        self._zip = None
        self._pid = None
        self._tmp = None

    def __getstate__(self):
        return {**self.__dict__, "_zip": None, "_pid": None, "_tmp": None}

    def _zipfile(self) -> zipfile.ZipFile:
        if self._zip is None or self._pid != os.getpid():
            self._zip, self._pid = zipfile.ZipFile(self.path), os.getpid()
        return self._zip

    def listdir(self, rel: str) -> tuple[list[str], list[str]]:
        dirs, files = self._tree.get(rel, (set(), []))
        return [d for d in sorted(dirs) if not _ignored(d)], [f for f in files if not _ignored(f)]

    def display(self, rel: str) -> str:
        return f"{self.path}/{rel}" if rel else str(self.path)

    def _member(self, rel: str) -> str:
        try:
            return self._members[rel]
        except KeyError:
            raise FileNotFoundError(f"{self.display(rel)}: no such member") from None

    def open(self, rel: str):
        return self._zipfile().open(self._member(rel))

    def read(self, rel: str) -> bytes:
        return self._zipfile().read(self._member(rel))

    def local_path(self, rel: str) -> str:
        """Extract one member to this process's temp dir (once) and return its path, for PyAV."""
        if self._tmp is None:
            tmp = tempfile.mkdtemp(prefix="styleinv-zip-")
            weakref.finalize(self, _remove_dir, tmp, os.getpid())
            self._tmp = tmp
        target = os.path.join(self._tmp, *rel.split("/"))
        if not os.path.exists(target):
            os.makedirs(os.path.dirname(target), exist_ok=True)
            part = f"{target}.{os.getpid()}.part"  # forked workers may extract the same member at once
            with self._zipfile().open(self._member(rel)) as src, open(part, "wb") as dst:
                shutil.copyfileobj(src, dst)
            os.replace(part, target)
        return target


def _remove_dir(path: str, owner_pid: int) -> None:
    """Delete a temp dir, but only from the process that made it (not from forked DataLoader workers)."""
    if os.getpid() == owner_pid:
        shutil.rmtree(path, ignore_errors=True)


def _join(base: str, name: str) -> str:
    return f"{base}/{name}" if base else name


@dataclass
class _Video:
    rel: str                                   # folder or file, relative to the store
    is_file: bool                              # a video file (PyAV) rather than a folder of frames
    frames: list[str] = field(default_factory=list)
    length: int = 0
    size: tuple[int, int] | None = None        # (H, W) of the frames as stored


def _open_store(root) -> tuple[object, list[_Video] | None]:
    """The store for ``root``; for a root that is a single video file, also that one video."""
    root = Path(root).expanduser()
    if not root.exists():
        raise FileNotFoundError(f"dataset root not found: {root}")
    if root.is_dir():
        return _DirStore(root), None
    if _ext(root.name) == ".zip":
        return _ZipStore(root), None
    if _ext(root.name) in VIDEO_EXTENSIONS:
        return _DirStore(root.parent), [_Video(root.name, True)]
    raise VideoDataError(root, "is neither a folder, a .zip archive nor a video file "
                               f"({'/'.join(e[1:] for e in VIDEO_EXTENSIONS)})")


def _discover(store) -> tuple[str, list[_Video], str]:
    """Find the videos of a store: returns (dataset folder, videos sorted by name, layout description)."""
    base = ""
    while True:
        dirs, files = store.listdir(base)
        frames = [f for f in files if _ext(f) in FRAME_EXTENSIONS]
        videos = [f for f in files if _ext(f) in VIDEO_EXTENSIONS]
        if len(dirs) == 1 and not frames and not videos:
            inner_dirs, inner_files = store.listdir(_join(base, dirs[0]))
            if inner_dirs or any(_ext(f) in VIDEO_EXTENSIONS for f in inner_files):  # a wrapper folder
                base = _join(base, dirs[0])
                continue
        break
    if frames and (dirs or videos):
        raise VideoDataError(store.display(base), "holds loose frame images next to sub-folders or video files; "
                                                  "put each video's frames in a sub-folder of their own")
    if frames:
        ordered = sorted(frames, key=natural_key)
        return base, [_Video(base, False, [_join(base, f) for f in ordered])], "one folder of frames"
    found = []
    for d in dirs:
        _, sub_files = store.listdir(_join(base, d))
        ordered = sorted((f for f in sub_files if _ext(f) in FRAME_EXTENSIONS), key=natural_key)
        found.append(_Video(_join(base, d), False, [_join(_join(base, d), f) for f in ordered]))
    found += [_Video(_join(base, f), True) for f in videos]
    if not found:
        raise VideoDataError(store.display(base), "no videos found: expected sub-folders of frames "
                                                  f"({'/'.join(e[1:] for e in FRAME_EXTENSIONS)}), video files "
                                                  f"({'/'.join(e[1:] for e in VIDEO_EXTENSIONS)}) or frames")
    found.sort(key=lambda v: natural_key(v.rel.rsplit("/", 1)[-1]))
    layout = "frame folders" if not videos else "video files" if not dirs else "frame folders + video files"
    return base, found, layout


# ----------------------------------------------------------------------------------------------------------------
# Probing (construction-time checks) and decoding


def _probe(store, video: _Video) -> None:
    """Fill ``video.length`` and ``video.size`` with cheap checks, or raise VideoDataError naming the culprit."""
    if video.is_file:
        _probe_file(store, video)
        return
    if not video.frames:
        raise VideoDataError(store.display(video.rel), "has no frames (expected numbered "
                                                       f"{'/'.join(e[1:] for e in FRAME_EXTENSIONS)} files)")
    first = None
    for rel in video.frames:  # PIL's open parses the header only: cheap enough to check every frame
        try:
            with store.open(rel) as f, Image.open(f) as im:
                w, h = im.size
        except Exception as err:
            raise VideoDataError(store.display(rel), f"unreadable image ({type(err).__name__}: {err})") from None
        if first is None:
            first = (h, w)
        elif (h, w) != first:
            raise VideoDataError(store.display(rel), f"frame size {w}×{h} differs from {first[1]}×{first[0]} of "
                                                     f"the video's first frame {video.frames[0].rsplit('/', 1)[-1]}")
    video.length, video.size = len(video.frames), first


def _probe_file(store, video: _Video) -> None:
    """Count a video file's frames by demuxing (no decoding): one non-empty packet per frame.

    The header's frame count is not trusted: a variable-frame-rate AVI lists a slot for every tick of its nominal
    rate, most of them empty "drop frame" entries.  A file is called truncated only when its packets stop before
    the end of its stream (the last frame ends more than two frame periods and 2 % short of the stream's duration)
    or demuxing fails part-way; the error then carries the number of frames present (``usable_frames``).
    """
    av = _import_av()
    where = store.display(video.rel)
    count, last_end, failure = 0, None, None
    try:
        with av.open(store.local_path(video.rel)) as container:
            if not container.streams.video:
                raise VideoDataError(where, "has no video stream")
            stream = container.streams.video[0]
            size = (stream.codec_context.height, stream.codec_context.width)
            video.size = size
            listed, tb = stream.frames, stream.time_base
            duration = (float(stream.duration * tb) if stream.duration and tb else
                        container.duration / 1e6 if container.duration else None)
            rate = float(stream.average_rate or stream.base_rate or 0) or None
            try:
                for packet in container.demux(stream):
                    if not packet.size:
                        continue
                    count += 1
                    if packet.pts is not None and tb:
                        end = float((packet.pts + (packet.duration or 0)) * tb)
                        last_end = end if last_end is None else max(last_end, end)
            except Exception as err:                      # noqa: BLE001 - a damaged file: report what demuxed
                failure = err
            if count == 0 and listed == 0:
                count = sum(1 for _ in container.decode(stream))
    except VideoDataError:
        raise
    except Exception as err:
        raise VideoDataError(where, f"unreadable video ({type(err).__name__}: {err})") from None
    if count == 0:
        raise VideoDataError(where, "has no frames")
    if failure is not None:
        raise VideoDataError(where, f"is damaged after {count} frames ({type(failure).__name__}: {failure})",
                             usable_frames=count)
    if listed > count and (duration or rate):
        period = 1.0 / rate if rate else duration / listed
        # the header's slot count at the nominal rate is the length the file was written with; a demuxer that
        # lost the index (a cut AVI) estimates ``duration`` from what is left, so the longer of the two counts
        duration = max(duration or 0.0, listed * period)
        missing = duration - (last_end if last_end is not None else count * period)
        if missing > max(2 * period, 0.02 * duration):
            raise VideoDataError(where, f"is truncated: its frames stop at {duration - missing:.2f} s of a "
                                        f"{duration:.2f} s stream ({count} frame{'s' * (count != 1)} present)",
                                  usable_frames=count)
    video.length, video.size = count, size


def _deep_check(store, video: _Video, bar=None) -> None:
    """Decode every frame of ``video`` (zip members are CRC-checked as they are read); raise VideoDataError at the
    first frame that does not decode, or when a video file decodes to fewer frames than its packets promised."""
    if not video.is_file:
        for rel in video.frames:
            _load_image(store, rel)
            if bar is not None:
                bar.update(1)
        return
    av = _import_av()
    where = store.display(video.rel)
    decoded = 0
    try:
        with av.open(store.local_path(video.rel)) as container:
            stream = container.streams.video[0]
            stream.thread_type = "AUTO"
            for frame in container.decode(stream):
                frame.to_ndarray(format="rgb24")
                decoded += 1
                if bar is not None:
                    bar.update(1)
    except Exception as err:                              # noqa: BLE001 - any decoder failure is the file's
        raise VideoDataError(where, f"cannot decode frame {decoded + 1} ({type(err).__name__}: {err})",
                             usable_frames=decoded or None) from None
    if decoded < video.length:
        raise VideoDataError(where, f"decodes to {decoded} frames, its packets promised {video.length}",
                             usable_frames=decoded or None)
    video.length = decoded


def _load_image(store, rel: str) -> np.ndarray:
    try:
        with Image.open(io.BytesIO(store.read(rel))) as im:
            im.load()
            return to_rgb_array(im)
    except Exception as err:
        raise VideoDataError(store.display(rel), f"cannot decode frame ({type(err).__name__}: {err})") from None


def _decode_file(store, video: _Video, wanted: Sequence[int]) -> dict[int, np.ndarray]:
    """Decode a video file from its start up to the last wanted frame; returns {index: H×W×3 uint8}."""
    av = _import_av()
    where = store.display(video.rel)
    need, last, out, k = set(wanted), max(wanted), {}, -1
    try:
        with av.open(store.local_path(video.rel)) as container:
            stream = container.streams.video[0]
            stream.thread_type = "AUTO"
            for k, frame in enumerate(container.decode(stream)):
                if k in need:
                    out[k] = frame.to_ndarray(format="rgb24")
                if k >= last:
                    break
    except Exception as err:
        raise VideoDataError(where, f"cannot decode frame {k + 1} ({type(err).__name__}: {err})") from None
    if len(out) < len(need):
        raise VideoDataError(where, f"ended after {k + 1} frames; frame {min(need - out.keys())} was requested")
    return out


# ----------------------------------------------------------------------------------------------------------------
# Clip samplers


_POWERS_OF_TWO = tuple(2 ** i for i in range(12))


@dataclass(frozen=True)
class SparseClipSampler:
    """Timestamps for first-frame-aware sparse training (FFA-ST, paper §3.4): ``t0 = 0`` plus K-1 later frames.

    ``scheme="compact"`` (default): ``t3`` (the last timestamp) is drawn first, uniformly in
    ``[max(min_distance, K-1), max_distance]``; the K-2 middle timestamps are then drawn uniformly without
    replacement from ``1 .. t3-1``. So ``0 = t0 < t1 < t2 < t3 <= max_distance`` (strictly increasing; with K=4
    the smallest possible ``t3`` is 3 even though ``min_distance`` defaults to 2). The video start is uniform
    over every offset where the clip fits, and ``required_length = max_distance + 1``.

    ``scheme="official"`` follows the released StyleInV code (``training/sampling.py``, ``RandomSampling`` with
    ``add_0``, itself StyleGAN-V's ``random_frame_sampling``; configs ``max_dist: 32``, ``total_dists`` powers of
    two, ``nframes: 128``): a window of ``window`` frames starts uniformly in the video and ``t0 = 0`` is its
    first frame; a span ``d`` is drawn uniformly from the ``distances`` in ``[max(min_distance, K-2),
    min(max_distance, window-1)]``, ``t1`` uniformly in ``[0, window-1-d]``, ``t_{K-1} = t1 + d`` and the rest
    uniformly between them. There ``t1`` may equal ``t0`` and ``t3`` may reach ``window - 1``;
    ``required_length = window``.
    """

    num_frames: int = 4
    max_distance: int = 32
    min_distance: int = 2
    scheme: str = "compact"
    window: int = 128
    distances: tuple[int, ...] = _POWERS_OF_TWO

    def __post_init__(self):
        if self.scheme not in ("compact", "official"):
            raise ValueError(f"scheme must be 'compact' or 'official', got {self.scheme!r}")
        if self.num_frames < 2:
            raise ValueError(f"num_frames must be at least 2 (t0 and one more), got {self.num_frames}")
        if self.min_distance < 1:
            raise ValueError(f"min_distance must be positive, got {self.min_distance}")
        if self.scheme == "compact" and self.max_distance < max(self.min_distance, self.num_frames - 1):
            raise ValueError(f"max_distance={self.max_distance} leaves no room for {self.num_frames} strictly "
                             f"increasing timestamps with t3 >= {self.min_distance}")
        if self.scheme == "official" and not self._spans():
            raise ValueError(f"no distance in {self.distances} lies in [{max(self.min_distance, self.num_frames - 2)}"
                             f", {min(self.max_distance, self.window - 1)}]")

    def _spans(self) -> list[int]:
        lo, hi = max(self.min_distance, self.num_frames - 2), min(self.max_distance, self.window - 1)
        return [d for d in self.distances if lo <= d <= hi]

    @property
    def required_length(self) -> int:
        """The fewest frames a video needs for every possible clip."""
        return self.max_distance + 1 if self.scheme == "compact" else self.window

    def timestamps(self, rng: np.random.Generator) -> np.ndarray:
        """K sorted int64 timestamps relative to the clip start, with ``t0 = 0``."""
        k = self.num_frames
        if self.scheme == "compact":
            last = int(rng.integers(max(self.min_distance, k - 1), self.max_distance, endpoint=True))
            middle = rng.choice(np.arange(1, last), size=k - 2, replace=False)
            return np.sort(np.concatenate([[0, last], middle])).astype(np.int64)
        span = int(rng.choice(self._spans()))
        t1 = int(rng.integers(0, self.window - 1 - span, endpoint=True))
        later = [t1] + ([t1 + span] if k > 2 else [])
        if k > 3:
            later += list(t1 + rng.choice(np.arange(1, span), size=k - 3, replace=False))
        return np.array([0] + sorted(later), dtype=np.int64)

    def __call__(self, rng: np.random.Generator, video_length: int) -> tuple[int, np.ndarray]:
        """Sample ``(start, timestamps)`` for a video of ``video_length`` frames: frames ``start + timestamps``."""
        if video_length < self.required_length:
            raise ValueError(f"a video of {video_length} frames is shorter than the clip "
                             f"({self.required_length} frames)")
        ts = self.timestamps(rng)
        extent = int(ts[-1]) + 1 if self.scheme == "compact" else self.window
        return int(rng.integers(0, video_length - extent, endpoint=True)), ts


@dataclass(frozen=True)
class DenseClipSampler:
    """``length`` frames ``stride`` apart (consecutive by default) from a uniformly random start (FVD, baselines)."""

    length: int
    stride: int = 1

    def __post_init__(self):
        if self.length < 1 or self.stride < 1:
            raise ValueError(f"length and stride must be positive, got {self.length} and {self.stride}")

    @property
    def required_length(self) -> int:
        return (self.length - 1) * self.stride + 1

    def timestamps(self, rng: np.random.Generator | None = None) -> np.ndarray:
        return np.arange(self.length, dtype=np.int64) * self.stride

    def __call__(self, rng: np.random.Generator, video_length: int) -> tuple[int, np.ndarray]:
        if video_length < self.required_length:
            raise ValueError(f"a video of {video_length} frames is shorter than the clip "
                             f"({self.required_length} frames)")
        return int(rng.integers(0, video_length - self.required_length, endpoint=True)), self.timestamps()


# ----------------------------------------------------------------------------------------------------------------
# The dataset


class VideoFolder(torch.utils.data.Dataset):
    """Frames or clips of a real video dataset (see the module docstring for the layouts).

    Frames are converted to RGB (:func:`to_rgb_array`: grayscale replicated, 16-bit scaled by 1/257, transparent
    images composited over black), resized so the shorter side is ``resolution`` (Lanczos) and centre-cropped.
    Items are uint8 tensors (3, R, R), or float in [-1, 1] with ``return_uint8=False``.

    * ``mode="frames"``: one item per frame of every video, ``{"image", "video", "frame"}``.
    * ``mode="clips"``: one item per video, ``{"frames" (K,3,R,R), "timestamps" (K,) relative to t0 = 0,
      "start" (absolute index of t0), "video"}``, drawn by ``clip_sampler`` (default
      :class:`SparseClipSampler`, FFA-ST §3.4) with ``numpy.random.default_rng([seed, epoch, index])``: the same
      in every DataLoader worker; call :meth:`set_epoch` to draw new clips.

    Construction checks every video cheaply (frame-file headers, video-file headers and packet counts) and raises
    :class:`VideoDataError` naming the bad file or folder, or with ``skip_bad=True`` skips it, records
    ``(path, problem)`` in ``self.skipped`` and warns once. Frame files are decoded only when read; video files
    are decoded from their start up to the last frame needed, so frame folders are the fast layout for training.

    ``cache_mb``: keep up to this many MiB of frames in memory as they are first read, already resized (uint8), so
    that later epochs do not decode them again; reading returns the same bytes either way.  Frames read once the
    cache is full are decoded every time.  A copy of the dataset sent to another process (DataLoader workers)
    starts with an empty cache.
    """

    def __init__(self, root, resolution: int, *, mode: str = "frames", clip_sampler=None,
                 min_frames: int | None = None, skip_bad: bool = False, seed: int = 0, return_uint8: bool = True,
                 cache_mb: float = 0.0):
        self.cache = FrameCache(cache_mb)              # (video, frame) -> (R, R, 3) uint8
        if int(resolution) != resolution or resolution < 1:
            raise ValueError(f"resolution must be a positive integer, got {resolution!r}")
        if mode not in ("frames", "clips"):
            raise ValueError(f"mode must be 'frames' or 'clips', got {mode!r}")
        if mode == "frames" and clip_sampler is not None:
            raise ValueError("clip_sampler is used only with mode='clips'")
        if mode == "clips" and clip_sampler is None:
            clip_sampler = SparseClipSampler()
        self.root = Path(root).expanduser()
        self.resolution = int(resolution)
        self.mode = mode
        self.clip_sampler = clip_sampler
        self.min_frames = min_frames
        self.seed = int(seed)
        self.epoch = 0
        self.return_uint8 = return_uint8
        self.skipped: list[tuple[str, str]] = []

        store, single = _open_store(self.root)
        if single is not None:
            _, candidates, self.layout = "", single, "one video file"
        else:
            _, candidates, self.layout = _discover(store)
        self.kind = "zip" if store.is_zip else self.layout
        self._store = store
        need_clip = clip_sampler.required_length if clip_sampler is not None else 0
        self.skip_bad = bool(skip_bad)
        self.truncated: list[tuple[str, str]] = []     # kept with the frames that decode (skip_bad only)
        self._failed: set[int] = set()                  # videos whose frames stopped decoding during use
        videos = []
        for video in candidates:
            try:
                try:
                    _probe(store, video)
                except VideoDataError as err:
                    if not (skip_bad and err.usable_frames):
                        raise
                    video.length = err.usable_frames
                    self.truncated.append((err.path, err.problem))
                if video.length < need_clip and need_clip >= (min_frames or 0):
                    raise VideoDataError(store.display(video.rel),
                                         f"has {video.length} frames, the clip needs {need_clip}")
                if min_frames is not None and video.length < min_frames:
                    raise VideoDataError(store.display(video.rel),
                                         f"has {video.length} frames, fewer than min_frames={min_frames}")
            except VideoDataError as err:
                if not skip_bad:
                    raise
                self.skipped.append((err.path, err.problem))
                continue
            videos.append(video)
        if not videos:
            path, problem = self.skipped[0]
            raise VideoDataError(self.root, f"all {len(self.skipped)} videos are unusable; the first: "
                                            f"{path}: {problem}")
        if self.skipped:
            path, problem = self.skipped[0]
            warnings.warn(f"{self.root}: skipped {len(self.skipped)} bad video(s) of {len(candidates)}; "
                          f"the first: {path}: {problem}", stacklevel=2)
        if self.truncated:
            path, problem = self.truncated[0]
            warnings.warn(f"{self.root}: {len(self.truncated)} video(s) end early and are used up to their last "
                          f"frame; the first: {path}: {problem}", stacklevel=2)
        self._videos = videos
        self._offsets = np.cumsum([0] + [v.length for v in videos])

    # -- bookkeeping -------------------------------------------------------------------------------------------

    def __len__(self) -> int:
        return int(self._offsets[-1]) if self.mode == "frames" else len(self._videos)

    def __repr__(self) -> str:
        return (f"VideoFolder({str(self.root)!r}, resolution={self.resolution}, mode={self.mode!r}, "
                f"videos={self.num_videos}, frames={self.total_frames}, kind={self.kind!r})")

    @property
    def num_videos(self) -> int:
        return len(self._videos)

    @property
    def total_frames(self) -> int:
        return int(self._offsets[-1])

    @property
    def video_paths(self) -> list[Path]:
        """The folder or file of each video (for a zip: ``archive.zip/member``)."""
        return [Path(self._store.display(v.rel)) for v in self._videos]

    @property
    def lengths(self) -> list[int]:
        return [v.length for v in self._videos]

    def num_frames(self, i: int) -> int:
        return self._videos[i].length

    def frame_size(self, i: int) -> tuple[int, int]:
        """(H, W) of video ``i``'s frames as stored, before resizing."""
        return self._videos[i].size

    def set_epoch(self, epoch: int) -> None:
        """Choose the clips of another epoch (clip mode); every worker must be given the same epoch."""
        self.epoch = int(epoch)

    # -- reading -----------------------------------------------------------------------------------------------

    def read_frames(self, i: int, indices) -> torch.Tensor:
        """Frames ``indices`` of video ``i`` as a uint8 tensor (len(indices), 3, R, R), in the order given."""
        video = self._videos[i]
        indices = [int(k) for k in np.asarray(indices, dtype=np.int64).reshape(-1)]
        if not indices:
            return torch.empty(0, 3, self.resolution, self.resolution, dtype=torch.uint8)
        bad = [k for k in indices if not 0 <= k < video.length]
        if bad:
            raise IndexError(f"frame {bad[0]} out of range for {self._store.display(video.rel)} "
                             f"({video.length} frames)")
        wanted = set(indices)
        arrays = {k: a for k in wanted if (a := self.cache.get((i, k))) is not None}
        missing = sorted(wanted - arrays.keys())
        if missing:
            if video.is_file:
                # a video file is decoded from its start anyway: keep every frame passed on the way if they fit
                on_the_way = [k for k in range(missing[-1] + 1) if (i, k) not in self.cache]
                if self.cache.has_room(len(on_the_way) * 3 * self.resolution ** 2):
                    missing = on_the_way
                decoded = _decode_file(self._store, video, missing)
                fresh = {k: fit_square(a, self.resolution) for k, a in decoded.items()}
            else:
                fresh = {k: fit_square(_load_image(self._store, video.frames[k]), self.resolution) for k in missing}
            for k, a in fresh.items():
                self.cache.put((i, k), a)
            arrays.update(fresh)
        stacked = np.stack([arrays[k] for k in indices])
        return torch.from_numpy(stacked).permute(0, 3, 1, 2).contiguous()

    def read_video(self, i: int) -> torch.Tensor:
        """The whole of video ``i`` as a uint8 tensor (T, 3, R, R)."""
        return self.read_frames(i, range(self._videos[i].length))

    def _output(self, x: torch.Tensor) -> torch.Tensor:
        return x if self.return_uint8 else x.float().div_(127.5).sub_(1.0)

    def __getitem__(self, index: int) -> dict:
        n = len(self)
        if not -n <= index < n:
            raise IndexError(f"index {index} out of range for {n} items")
        index %= n
        if not self.skip_bad:
            return self._item(index)
        # skip_bad: a video whose frame fails to decode is named once, then never read again; its items are
        # served by the same position in the next good video, the same way in every worker and after a resume
        for _ in range(self.num_videos):
            v = self._video_of(index)
            if v not in self._failed:
                try:
                    return self._item(index)
                except VideoDataError as err:
                    self._failed.add(v)
                    self.skipped.append((err.path, err.problem))
                    warnings.warn(f"{err.path}: {err.problem}; skipping this video from now on (skip_bad: "
                                  f"{len(self._failed)} skipped during training)", stacklevel=2)
            index = self._same_place_in_next_video(index)
        raise VideoDataError(self.root, f"no video decodes any more ({len(self._failed)} failed during use)")

    def _video_of(self, index: int) -> int:
        if self.mode == "clips":
            return index
        return int(np.searchsorted(self._offsets, index, side="right")) - 1

    def _same_place_in_next_video(self, index: int) -> int:
        v = self._video_of(index)
        nxt = (v + 1) % self.num_videos
        if self.mode == "clips":
            return nxt
        k = index - int(self._offsets[v])
        return int(self._offsets[nxt]) + k % self._videos[nxt].length

    def _item(self, index: int) -> dict:
        if self.mode == "frames":
            v = self._video_of(index)
            k = index - int(self._offsets[v])
            return {"image": self._output(self.read_frames(v, [k])[0]), "video": v, "frame": k}
        rng = np.random.default_rng([self.seed, self.epoch, index])
        start, ts = self.clip_sampler(rng, self._videos[index].length)
        frames = self.read_frames(index, start + ts)
        return {"frames": self._output(frames), "timestamps": torch.from_numpy(ts.astype(np.int64)),
                "start": start, "video": index}


# ----------------------------------------------------------------------------------------------------------------
# Inspection


@dataclass
class DatasetReport:
    """What :func:`inspect_dataset` found; ``format()`` gives the text printed by ``styleinv data inspect``."""

    root: str
    kind: str                                  # "frame folders", "video files", ..., or "zip"
    layout: str                                # what the videos are, also for a zip
    num_videos: int                            # readable videos
    num_frames_total: int
    lengths: list[int]
    min_length: int | None
    max_length: int | None
    frame_size: tuple[int, int] | set | None   # (H, W), or a set of them when videos differ
    bad: list[tuple[str, str]]
    metadata: dict | None
    names: list[str] = field(default_factory=list)

    def format(self) -> str:
        kind = self.kind if self.kind != "zip" else f"zip of {self.layout}"
        lines = [f"dataset     {self.root}  ({kind})",
                 f"videos      {self.num_videos} readable" + (f", {len(self.bad)} bad" if self.bad else "")]
        if self.lengths:
            spread = (f"{self.min_length} per video" if self.min_length == self.max_length else
                      f"per video min {self.min_length}, median {int(np.median(self.lengths))}, "
                      f"max {self.max_length}")
            lines.append(f"frames      {self.num_frames_total:,} in total; {spread}")
        if isinstance(self.frame_size, tuple):
            lines.append(f"frame size  {self.frame_size[1]}×{self.frame_size[0]} (W×H)")
        elif self.frame_size:
            sizes = ", ".join(f"{w}×{h}" for h, w in sorted(self.frame_size))
            lines.append(f"frame size  mixed across videos (W×H): {sizes}")
        if self.metadata is not None:
            scalars = [f"{k}={v}" for k, v in self.metadata.items() if isinstance(v, (str, int, float, bool))]
            text = ", ".join(scalars) or "(no scalar fields)"
            lines.append(f"metadata    {text if len(text) <= 110 else text[:107] + '...'}")
        if self.bad:
            lines.append(f"bad ({len(self.bad)}):")
            lines += [f"  {path}: {problem}" for path, problem in self.bad]
        return "\n".join(lines)


def inspect_dataset(root, *, deep: bool = False, min_frames: int | None = None, purpose: str = "",
                    progress: bool = False) -> DatasetReport:
    """Count videos and frames of a dataset; lists bad videos rather than raising.

    By default only headers are read (image headers, video packets), which is quick but cannot see a PNG cut off
    in the middle or a zip member with a bad CRC.  ``deep=True`` decodes every frame (and so verifies every zip
    member's CRC), as training would, with a progress bar over the frames.  ``min_frames``: videos shorter than
    this are listed as bad, ``purpose`` saying what needs that length (e.g. ``"styleinv clips (cpu profile)"``).
    ``progress`` shows progress bars (the CLI turns them on).

    Raises only for the root itself: ``FileNotFoundError`` when missing, :class:`VideoDataError` when it holds
    no videos or is not a readable zip.
    """
    store, single = _open_store(root)
    if single is not None:
        base, candidates, layout = "", single, "one video file"
    else:
        base, candidates, layout = _discover(store)
    good, bad = [], []
    for video in tqdm(candidates, desc="inspect", unit="video", disable=not progress, leave=False):
        try:
            _probe(store, video)
            good.append(video)
        except VideoDataError as err:
            bad.append((err.path, err.problem))
    if deep:
        checked = []
        with tqdm(total=sum(v.length for v in good), desc="decode every frame", unit="frame",
                  disable=not progress, leave=False) as bar:
            for video in good:
                try:
                    _deep_check(store, video, bar)
                    checked.append(video)
                except VideoDataError as err:
                    bad.append((err.path, err.problem))
        good = checked
    if min_frames:
        short = [v for v in good if v.length < min_frames]
        bad += [(store.display(v.rel), f"has {v.length} frames; {min_frames} are needed"
                                       + (f" for {purpose}" if purpose else "")) for v in short]
        good = [v for v in good if v.length >= min_frames]
    metadata = None
    if single is None:
        meta_rel = _join(base, "metadata.json")
        try:
            metadata = json.loads(store.read(meta_rel))
        except FileNotFoundError:
            pass
        except (ValueError, OSError) as err:
            bad.append((store.display(meta_rel), f"unreadable metadata ({type(err).__name__}: {err})"))
    lengths = [v.length for v in good]
    sizes = {v.size for v in good}
    return DatasetReport(
        root=str(root), kind="zip" if store.is_zip else layout, layout=layout, num_videos=len(good),
        num_frames_total=sum(lengths), lengths=lengths, min_length=min(lengths, default=None),
        max_length=max(lengths, default=None),
        frame_size=next(iter(sizes)) if len(sizes) == 1 else (sizes or None), bad=bad, metadata=metadata,
        names=[store.display(v.rel) for v in good])
