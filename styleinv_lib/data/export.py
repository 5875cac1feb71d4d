"""Write the procedural datasets to disk in StyleGAN-V's layout (a folder of numbered frames per video).

Each dataset folder gets a ``metadata.json`` beside the video folders: the render settings, and per video the
identity, its attributes, the motion temperament and every frame's factor values (SynthFaces), or the scene
parameters (SynthSky), or per image the identity and pose (style sets).  Writes are resumable: a folder that holds
a partial render with the same settings is completed, never overwritten; a folder with other settings is refused.
"""
from __future__ import annotations

import json
import os
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
from PIL import Image
from tqdm.auto import tqdm

from .._version import __version__
from ..fileio import atomic_write_text
from .styles import ALL_STYLES, ART_STYLES, StyleImages
from .synthetic import DEFAULT_VERSION, FACTOR_NAMES, FACTOR_UNITS, TEMPERAMENTS, SynthFaces, SynthSky
from .video import write_video_frames

SETTINGS_FILE = "render.json"
METADATA_FILE = "metadata.json"
NOMINAL_FPS = 25


def write_json_atomic(path: Path, obj) -> None:
    """Write compact JSON atomically (see :func:`styleinv_lib.fileio.atomic_write_text`)."""
    atomic_write_text(path, json.dumps(obj, separators=(",", ":")))


def _prepare(out: Path, settings: dict, overwrite: bool) -> None:
    out.mkdir(parents=True, exist_ok=True)
    existing = out / SETTINGS_FILE
    if existing.exists() and not overwrite:
        previous = json.loads(existing.read_text())
        if previous != settings:
            changed = sorted(k for k in set(previous) | set(settings) if previous.get(k) != settings.get(k))
            raise FileExistsError(
                f"{out}: already holds a render with other settings ({', '.join(changed)} differ); "
                f"choose another --out folder or pass --overwrite")
    elif not existing.exists() and not overwrite and any(p for p in out.iterdir() if not p.name.startswith(".")):
        raise FileExistsError(f"{out}: the folder is not empty and holds no {SETTINGS_FILE}; "
                              f"choose an empty or new --out folder, or pass --overwrite")
    write_json_atomic(existing, settings)


def _complete(folder: Path, count: int) -> bool:
    return folder.is_dir() and len(list(folder.glob("*.png"))) == count


def _render_videos(out: Path, dataset, num_videos: int, desc: str, progress: bool) -> None:
    """Render video after video, writing the PNGs of one video while the next one renders."""
    with ThreadPoolExecutor(max_workers=1) as pool:
        pending = None
        for i in tqdm(range(num_videos), desc=desc, unit="video", disable=not progress):
            folder = out / f"{i:06d}"
            if _complete(folder, dataset.num_frames):
                continue
            frames = dataset.render(i).numpy()
            if pending is not None:
                pending.result()
            pending = pool.submit(write_video_frames, frames, folder)
        if pending is not None:
            pending.result()


def export_synthfaces(out, *, num_videos: int, num_frames: int = 128, resolution: int = 64, seed: int = 0,
                      videos_per_identity: int = 1, version: int = DEFAULT_VERSION, overwrite: bool = False,
                      progress: bool = True) -> Path:
    """Render ``num_videos`` SynthFaces videos into ``out`` and return the path of its ``metadata.json``.
    ``version``: ``DEFAULT_VERSION`` of :mod:`.synthetic` by default (2, the data of the committed models)."""
    out = Path(out)
    ds = SynthFaces(resolution=resolution, num_frames=num_frames, seed=seed, videos_per_identity=videos_per_identity,
                    version=version)
    settings = {"dataset": "SynthFaces", "num_videos": num_videos, "num_frames": num_frames,
                "resolution": resolution, "seed": seed, "videos_per_identity": videos_per_identity}
    if version != 1:   # version 1 folders were written before versions existed: their settings stay as they were
        settings["version"] = int(version)
    _prepare(out, settings, overwrite)
    _render_videos(out, ds, num_videos, "SynthFaces", progress)
    videos = [{"name": f"{i:06d}", **ds.video_metadata(i)} for i in range(num_videos)]
    meta = {**settings, "library_version": __version__, "fps": NOMINAL_FPS, "layout": "folder of frames per video",
            "factor_names": list(FACTOR_NAMES), "factor_units": FACTOR_UNITS, "temperaments": list(TEMPERAMENTS),
            "num_identities": len({v["identity_id"] for v in videos}), "videos": videos}
    write_json_atomic(out / METADATA_FILE, meta)
    return out / METADATA_FILE


def export_synthsky(out, *, num_videos: int, num_frames: int = 128, resolution: int = 64, seed: int = 0,
                    overwrite: bool = False, progress: bool = True) -> Path:
    """Render ``num_videos`` SynthSky videos into ``out`` and return the path of its ``metadata.json``."""
    out = Path(out)
    ds = SynthSky(resolution=resolution, num_frames=num_frames, seed=seed)
    settings = {"dataset": "SynthSky", "num_videos": num_videos, "num_frames": num_frames,
                "resolution": resolution, "seed": seed}
    _prepare(out, settings, overwrite)
    _render_videos(out, ds, num_videos, "SynthSky", progress)
    meta = {**settings, "library_version": __version__, "fps": NOMINAL_FPS, "layout": "folder of frames per video",
            "videos": [{"name": f"{i:06d}", **ds.video_metadata(i)} for i in range(num_videos)]}
    write_json_atomic(out / METADATA_FILE, meta)
    return out / METADATA_FILE


def export_style_images(out, *, style: str, num_images: int, resolution: int = 64, seed: int = 0,
                        version: int = DEFAULT_VERSION, overwrite: bool = False, progress: bool = True) -> Path:
    """Render a still-image set of ``style`` into ``out`` (``000000.png``, ...) with a ``metadata.json``.
    ``style="all"`` writes one sub-folder per art style; ``version``: the SynthFaces version of the subjects."""
    out = Path(out)
    if style == "all":
        for s in ART_STYLES:
            export_style_images(out / s, style=s, num_images=num_images, resolution=resolution, seed=seed,
                                version=version, overwrite=overwrite, progress=progress)
        return out
    if style not in ALL_STYLES:
        raise ValueError(f"unknown style {style!r}: choose one of {', '.join(ALL_STYLES)} or 'all'")
    images = StyleImages(style=style, resolution=resolution, seed=seed, version=version)
    settings = {"dataset": f"SynthFaces-{style}", "num_images": num_images, "resolution": resolution, "seed": seed}
    if version != 1:
        settings["version"] = int(version)
    _prepare(out, settings, overwrite)
    for i in tqdm(range(num_images), desc=f"style {style}", unit="image", disable=not progress):
        path = out / f"{i:06d}.png"
        if not path.exists():
            tmp = out / f".{i:06d}.png.tmp"
            Image.fromarray(images.render(i).numpy()).save(tmp, format="png", compress_level=1)
            os.replace(tmp, path)
    meta = {**settings, "library_version": __version__, "style": style, "layout": "folder of images",
            "images": [{"name": f"{i:06d}.png", **images.image_metadata(i)} for i in range(num_images)]}
    write_json_atomic(out / METADATA_FILE, meta)
    return out / METADATA_FILE


def load_metadata(root) -> dict:
    """The ``metadata.json`` of a dataset folder written by this module."""
    path = Path(root) / METADATA_FILE
    if not path.exists():
        raise FileNotFoundError(f"{path}: no metadata file; was this folder written by `styleinv data`?")
    return json.loads(path.read_text())


def synthfaces_version(root) -> int:
    """The SynthFaces version a dataset folder was rendered with (``metadata.json``; renders from before versions
    were recorded are version 1), or :data:`DEFAULT_VERSION` for folders without SynthFaces metadata: what picks
    the probe that reads its frames.  An art-style image set (``SynthFaces-toon``, ...) has the version of the
    subjects it draws."""
    try:
        meta = json.loads((Path(root) / METADATA_FILE).read_text())
    except (OSError, ValueError):
        return DEFAULT_VERSION
    dataset = meta.get("dataset") if isinstance(meta, dict) else None
    if not isinstance(dataset, str) or not (dataset == "SynthFaces" or dataset.startswith("SynthFaces-")):
        return DEFAULT_VERSION
    return int(meta.get("version", 1))


def synthfaces_of(root, num_frames: int | None = None) -> SynthFaces:
    """The :class:`SynthFaces` a video folder was rendered from (its ``metadata.json``), with ``num_frames`` frames
    per video instead of the folder's if given: the same identities and scenes, and the same head motion as a
    function of time, over a longer stretch (blinks and brow raises are drawn for the new length, at the same
    rates).  What a real video of 1,024 frames would have looked like, for measures of long videos."""
    meta = load_metadata(root)
    if meta.get("dataset") != "SynthFaces":
        raise ValueError(f"{Path(root) / METADATA_FILE}: not a SynthFaces video render "
                         f"(dataset {meta.get('dataset')!r})")
    return SynthFaces(resolution=int(meta["resolution"]), num_frames=int(num_frames or meta["num_frames"]),
                      seed=int(meta["seed"]), videos_per_identity=int(meta.get("videos_per_identity", 1)),
                      version=int(meta.get("version", 1)))


def factor_array(video_meta: dict, names=FACTOR_NAMES) -> np.ndarray:
    """The per-frame factors of one video's metadata as an array (T, len(names))."""
    return np.stack([np.asarray(video_meta["factors"][n], dtype=np.float64) for n in names], axis=1)
