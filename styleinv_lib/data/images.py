"""Still-image datasets: the target domain of fine-tuning-based style transfer (§3.5, Fig. 5).

:class:`ImageFolder` reads every image under a folder (recursively, natural file-name order), converts it to RGB
like :class:`~styleinv_lib.data.video.VideoFolder` does, resizes its shorter side to ``resolution`` (Lanczos) and
centre-crops it.  Unlike a video, the images of a set may have different sizes.  Construction reads every header
once and refuses, naming the file, an unreadable image or one smaller than ``resolution`` (upscaling a small image
would teach G blur; pass ``allow_upscale=True`` to accept it anyway).
"""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from .frame_cache import FrameCache
from .video import FRAME_EXTENSIONS, VideoDataError, _ignored, fit_square, natural_key, to_rgb_array

__all__ = ["IMAGE_EXTENSIONS", "ImageFolder"]

IMAGE_EXTENSIONS = FRAME_EXTENSIONS


class ImageFolder(torch.utils.data.Dataset):
    """Every image under ``root`` as ``{"image": uint8 (3, R, R), "index": i}`` (float in [-1, 1] with
    ``return_uint8=False``).  ``self.paths`` lists the files, ``self.sizes`` their (H, W) as stored, and
    ``self.metadata`` the folder's ``metadata.json`` (written by ``styleinv data styles``) or ``{}``.  ``cache_mb``:
    keep up to this many MiB of decoded, resized images in memory
    (:class:`~styleinv_lib.data.frame_cache.FrameCache`)."""

    def __init__(self, root, resolution: int, *, allow_upscale: bool = False, return_uint8: bool = True,
                 cache_mb: float = 0.0):
        self.cache = FrameCache(cache_mb)
        if int(resolution) != resolution or resolution < 1:
            raise ValueError(f"resolution must be a positive integer, got {resolution!r}")
        self.root = Path(root).expanduser()
        self.resolution = int(resolution)
        self.return_uint8 = return_uint8
        if not self.root.exists():
            raise FileNotFoundError(f"image folder not found: {self.root}")
        if not self.root.is_dir():
            raise VideoDataError(self.root, "is not a folder of images")
        paths = [p for p in self.root.rglob("*")
                 if p.is_file() and p.suffix.lower() in IMAGE_EXTENSIONS
                 and not any(_ignored(part) for part in p.relative_to(self.root).parts)]
        if not paths:
            raise VideoDataError(self.root, f"holds no images ({'/'.join(e[1:] for e in IMAGE_EXTENSIONS)}, "
                                            "searched recursively)")
        self.paths = sorted(paths, key=lambda p: natural_key(p.relative_to(self.root).as_posix()))
        self.sizes: list[tuple[int, int]] = []
        for p in self.paths:
            try:
                with Image.open(p) as im:
                    w, h = im.size
            except Exception as err:
                raise VideoDataError(p, f"unreadable image ({type(err).__name__}: {err})") from None
            if min(h, w) < self.resolution and not allow_upscale:
                raise VideoDataError(p, f"is {w}×{h}, smaller than the {self.resolution}² the generator makes; "
                                        "use larger images (or allow_upscale=True to upscale them)")
            self.sizes.append((h, w))
        meta = self.root / "metadata.json"
        self.metadata = json.loads(meta.read_text()) if meta.is_file() else {}

    def __len__(self) -> int:
        return len(self.paths)

    def __repr__(self) -> str:
        return f"ImageFolder({str(self.root)!r}, resolution={self.resolution}, images={len(self)})"

    def read(self, index: int) -> torch.Tensor:
        """Image ``index`` as uint8 (3, R, R)."""
        cached = self.cache.get(index)
        if cached is not None:
            return torch.from_numpy(cached.copy()).permute(2, 0, 1).contiguous()
        path = self.paths[index]
        try:
            with Image.open(path) as im:
                im.load()
                array = to_rgb_array(im)
        except Exception as err:
            raise VideoDataError(path, f"cannot decode image ({type(err).__name__}: {err})") from None
        square = np.array(fit_square(array, self.resolution))
        self.cache.put(index, square)
        return torch.from_numpy(square).permute(2, 0, 1).contiguous()

    def __getitem__(self, index: int) -> dict:
        n = len(self)
        if not -n <= index < n:
            raise IndexError(f"index {index} out of range for {n} images")
        index %= n
        x = self.read(index)
        return {"image": x if self.return_uint8 else x.float().div_(127.5).sub_(1.0), "index": index}
