"""Videos for people: H.264 mp4, GIF, an HTML5 ``<video>`` element, grids of clips, atomic files.

Everything the library generates is a ``uint8`` array of frames, ``T x H x W x 3``.  This module turns such an
array into something a reader can *watch*:

* :func:`encode_mp4` — H.264 (libx264, ``yuv420p``) in an mp4 container, written in memory with PyAV and laid out
  "fast start" (the ``moov`` index before the media data), so that every browser plays it;
* :func:`encode_gif` — an animated GIF with Pillow, the fallback when PyAV is not installed;
* :func:`video_html` / :func:`show_video` — an HTML5 ``<video>`` whose source is the mp4 itself, as a base64
  ``data:`` URI.  Nothing refers to a file on disk, so the same output plays inline in Jupyter, in Colab and in the
  static HTML book built from the stored notebook outputs;
* :func:`video_grid` / :func:`frame_grid` — tile several clips (or still images) into one;
* :func:`save_video` — write ``.mp4`` or ``.gif`` atomically (a temporary file, then :func:`os.replace`).

Frames may be numpy arrays or torch tensors, channels last ``(T, H, W, 3)`` or channels first ``(T, 3, H, W)``;
grey ``(T, H, W)`` / ``(T, H, W, 1)`` and RGBA inputs are turned into RGB.  They must be ``uint8``: a float tensor
has no unambiguous range (a GAN emits ``[-1, 1]``, matplotlib expects ``[0, 1]``), so it is refused with a hint.

Small frames are the rule in this book (32² or 64² on a CPU), and two details matter for them.  H.264 in
``yuv420p`` stores colour at half resolution, which smears a 32-pixel face; and a browser shows a 64-pixel video
as a 64-pixel stamp.  :func:`video_html` therefore enlarges small videos by an integer factor with
nearest-neighbour *before* encoding (blocky pixels compress very well) and asks the browser for
``image-rendering: pixelated`` for any further scaling.
"""
from __future__ import annotations

import base64
import html
import io
import math
import os
import struct
import tempfile
from fractions import Fraction
from pathlib import Path
from typing import Any

import numpy as np

__all__ = [
    "Mp4Writer", "encode_mp4", "encode_gif", "video_html", "show_video", "video_grid", "frame_grid", "save_video",
    "rgb_to_yuv420p", "to_uint8_frames", "difference_from_first",
]

#: Default on-screen width (CSS pixels) below which :func:`video_html` enlarges a video.
MIN_DISPLAY_WIDTH = 256
#: Displayed height (CSS pixels) below which :func:`video_html` leaves out the browser's controls: they are drawn
#: over the bottom of the picture (about 40 px in Chromium) and would hide much of a short strip of clips.  Such a
#: video pauses and plays on a click instead.
MIN_CONTROLS_HEIGHT = 160
_AV_HINT = ("writing mp4 needs PyAV (FFmpeg with libx264, bundled in its wheels): "
            "pip install styleinv-lib[video]   (or: pip install av)")


# ------------------------------------------------------------------------------------------------ input handling
def _to_numpy(x: Any) -> np.ndarray:
    if hasattr(x, "detach") and hasattr(x, "cpu"):          # a torch tensor, without importing torch here
        return x.detach().cpu().numpy()
    return np.asarray(x)


def to_uint8_frames(frames: Any) -> np.ndarray:
    """Return ``frames`` as a C-contiguous ``uint8`` numpy array shaped ``(T, H, W, 3)``.

    Accepts numpy arrays, torch tensors or a sequence of single frames; channels last ``(T, H, W, C)`` or first
    ``(T, C, H, W)`` with ``C`` in 1, 3, 4 (grey is repeated, alpha dropped), and grey ``(T, H, W)``.
    """
    if isinstance(frames, (list, tuple)):
        if not frames:
            raise ValueError("no frames: got an empty sequence")
        arr = np.stack([_to_numpy(f) for f in frames])
    else:
        arr = _to_numpy(frames)
    if arr.dtype != np.uint8:
        raise TypeError(
            f"frames must be uint8 (0..255), got {arr.dtype}; convert first, e.g. from a generator's [-1, 1] "
            "output: ((x.clamp(-1, 1) + 1) * 127.5).round().to(torch.uint8)")
    if arr.ndim == 3:                                          # (T, H, W) grey
        arr = arr[..., None]
    if arr.ndim != 4:
        raise ValueError(f"frames must be (T, H, W, 3) or (T, 3, H, W), got shape {tuple(arr.shape)}")
    last, second = arr.shape[-1], arr.shape[1]
    if last != 3 and (second == 3 or (last not in (1, 4) and second in (1, 4))):
        arr = arr.transpose(0, 2, 3, 1)                        # channels first -> channels last (RGB wins ties)
    if arr.shape[-1] not in (1, 3, 4):
        raise ValueError(f"cannot find the colour axis in frames of shape {tuple(arr.shape)}: "
                         "expected 1, 3 or 4 channels first or last")
    if arr.shape[-1] == 1:
        arr = np.repeat(arr, 3, axis=-1)
    elif arr.shape[-1] == 4:
        arr = arr[..., :3]
    if arr.shape[0] == 0 or arr.shape[1] == 0 or arr.shape[2] == 0:
        raise ValueError(f"empty video: shape {tuple(arr.shape)}")
    return np.ascontiguousarray(arr)


def _pad_to_even(frames: np.ndarray) -> np.ndarray:
    """yuv420p needs even width and height: repeat the last row / column where one is odd."""
    _, h, w, _ = frames.shape
    if h % 2 == 0 and w % 2 == 0:
        return frames
    return np.pad(frames, ((0, 0), (0, h % 2), (0, w % 2), (0, 0)), mode="edge")


def _upscale(frames: np.ndarray, factor: int) -> np.ndarray:
    """Nearest-neighbour enlargement by an integer factor (each pixel becomes a ``factor x factor`` block)."""
    if factor <= 1:
        return frames
    return np.repeat(np.repeat(frames, factor, axis=1), factor, axis=2)


def _import_av():
    try:
        import av  # noqa: F401
    except ImportError as err:                                 # also raised when sys.modules["av"] is None
        raise ImportError(_AV_HINT) from err
    return av


# ---------------------------------------------------------------------------------------------------- encoders
def encode_mp4(frames: Any, fps: float = 12, *, crf: int = 20, preset: str = "medium") -> bytes:
    """Encode frames as an H.264 mp4 that browsers play, entirely in memory; return the file's bytes.

    Args:
        frames: ``uint8`` video, ``(T, H, W, 3)`` or ``(T, 3, H, W)``, numpy or torch (see :func:`to_uint8_frames`).
            An odd height or width is padded by one repeated row / column (``yuv420p`` needs even sizes).
        fps: frames per second (may be fractional, e.g. ``29.97``).
        crf: x264 constant rate factor: 0 is lossless-ish luma, 18-23 is visually transparent, 51 is worst.
        preset: x264 speed/size trade-off.

    The stream is ``libx264`` / ``yuv420p`` / BT.709 (tagged, so browsers convert colours back as we converted
    them; the conversion is :func:`rgb_to_yuv420p`), and the mp4 is rearranged the way FFmpeg's
    ``-movflags +faststart`` does it: the ``moov`` index comes before the media data.  (FFmpeg's own option
    re-opens the output *by file name* to do this, which an in-memory buffer cannot offer, so :func:`_faststart`
    does it here; the result is byte-for-byte the same layout.)  :class:`Mp4Writer` encodes chunk by chunk.

    Raises:
        ImportError: PyAV is not installed (the message says ``pip install styleinv-lib[video]``).
    """
    writer = Mp4Writer(None, fps, crf=crf, preset=preset)
    writer.write(frames)
    return writer.close()


class Mp4Writer:
    """Encode a video chunk by chunk: memory holds one chunk of frames and the compressed stream, never the video.

    ``Mp4Writer(path, fps)`` writes ``path`` on :meth:`close` (atomically: a temporary file in the same folder,
    renamed into place); ``Mp4Writer(None, fps)`` returns the file's bytes from :meth:`close`.  As a context manager,
    an exception discards the partial video.  x264 runs on one thread per file: a generator writes several files at
    once, and threaded x264 encoders hold frame buffers whose number depends on timing (peak memory then wandered by
    ~100 MB between identical runs); one thread encodes a 128² frame in ~2 ms.  (x264's rate decisions are not
    bit-reproducible from run to run in one process, so two encodings of the same frames may differ by a few bytes
    and, after decoding, by a rounding step here and there; they are equally valid files.)

    >>> with Mp4Writer("clip.mp4", fps=25) as mp4:        # doctest: +SKIP
    ...     for chunk in chunks:                          # each (n, H, W, 3) uint8
    ...         mp4.write(chunk)
    """

    def __init__(self, path: str | os.PathLike | None, fps: float = 12, *, crf: int = 20, preset: str = "medium"):
        if not fps > 0 or not math.isfinite(fps):
            raise ValueError(f"fps must be a positive number, got {fps}")
        self._av = _import_av()
        self.path = Path(path) if path is not None else None
        self.fps, self.crf, self.preset = fps, int(crf), preset
        self.frames_written = 0
        self._file = io.BytesIO()      # the compressed stream: small, and read whole anyway for the fast start
        self._container = self._stream = None
        self._closed = False
        self._size: tuple[int, int] | None = None          # (height, width) before padding to even

    def _open(self, h: int, w: int) -> None:
        self._container = self._av.open(self._file, mode="w", format="mp4")
        stream = self._container.add_stream("libx264", rate=Fraction(self.fps).limit_denominator(1001))
        stream.width, stream.height, stream.pix_fmt = w + w % 2, h + h % 2, "yuv420p"
        stream.options = {"crf": str(self.crf), "preset": self.preset}
        cc = stream.codec_context
        # AVCOL_PRI/TRC/SPC_BT709 = 1, AVCOL_RANGE_MPEG ("tv", 16-235) = 1: written into the H.264 VUI.
        cc.color_primaries = cc.color_trc = cc.colorspace = 1
        cc.color_range = 1
        cc.thread_count = 1
        self._stream = stream

    def write(self, frames: Any) -> None:
        """Append frames (any layout :func:`to_uint8_frames` accepts); every chunk must have the first's size."""
        video = to_uint8_frames(frames)
        _, h, w, _ = video.shape
        if self._size is None:
            self._size = (h, w)
            self._open(h, w)
        elif (h, w) != self._size:
            raise ValueError(f"frames of {h}x{w} cannot follow frames of {self._size[0]}x{self._size[1]} "
                             "in one video")
        for rgb in _pad_to_even(video):
            frame = self._av.VideoFrame.from_ndarray(rgb_to_yuv420p(rgb), format="yuv420p")
            frame.pts = self.frames_written
            self.frames_written += 1
            for packet in self._stream.encode(frame):
                self._container.mux(packet)

    def close(self) -> bytes | Path:
        """Finish the file: the bytes (in memory) or the path (on disk, renamed into place)."""
        if self._container is None:
            self.discard()
            raise ValueError("no frames: an mp4 needs at least one frame")
        for packet in self._stream.encode():                   # flush the encoder's delayed frames
            self._container.mux(packet)
        self._container.close()
        self._container, self._closed = None, True
        data = _faststart(self._file.getvalue())
        self._file = io.BytesIO()
        return data if self.path is None else _write_atomically(data, self.path)

    def discard(self) -> None:
        """Drop the partial video (nothing appears under ``path``)."""
        if self._container is not None:
            try:
                self._container.close()
            except Exception:                                  # noqa: BLE001 - the video is thrown away anyway
                pass
            self._container = None
        self._file, self._closed = io.BytesIO(), True

    def __enter__(self) -> "Mp4Writer":
        return self

    def __exit__(self, exc_type, *exc) -> None:
        if exc_type is not None:
            self.discard()
        elif not self._closed:
            self.close()


def rgb_to_yuv420p(rgb: np.ndarray) -> np.ndarray:
    """Convert one ``(H, W, 3)`` ``uint8`` RGB frame (even H and W) to planar BT.709 limited-range ``yuv420p``.

    Returns the ``(3H/2, W)`` array PyAV expects: the Y plane, then the U and V planes (each ``H/2 x W/2``, the
    mean of each 2x2 block) packed row after row.  ``Y = 16 + 219 (0.2126 R + 0.7152 G + 0.0722 B)``,
    ``U = 128 + 224 (B - Y') / 1.8556``, ``V = 128 + 224 (R - Y') / 1.5748`` (ITU-R BT.709, with ``R, G, B, Y'``
    in [0, 1]).  Written out in numpy rather than left to libswscale, so the conversion is the documented one.
    """
    h, w, _ = rgb.shape
    if h % 2 or w % 2:
        raise ValueError(f"yuv420p needs an even height and width, got {h}x{w}")
    x = rgb.astype(np.float64) / 255.0
    kr, kb = 0.2126, 0.0722
    luma = kr * x[..., 0] + (1.0 - kr - kb) * x[..., 1] + kb * x[..., 2]
    chroma = np.stack([(x[..., 2] - luma) / (2.0 * (1.0 - kb)), (x[..., 0] - luma) / (2.0 * (1.0 - kr))])
    chroma = chroma.reshape(2, h // 2, 2, w // 2, 2).mean(axis=(2, 4))
    y_plane = np.clip(np.round(16.0 + 219.0 * luma), 0, 255)
    uv_planes = np.clip(np.round(128.0 + 224.0 * chroma), 0, 255)
    return np.concatenate([y_plane.ravel(), uv_planes.ravel()]).astype(np.uint8).reshape(h * 3 // 2, w)


def _iter_boxes(data: bytes, start: int = 0, end: int | None = None):
    """Yield ``(type, box_start, payload_start, box_end)`` for the ISO-BMFF boxes in ``data[start:end]``."""
    end = len(data) if end is None else end
    pos = start
    while pos + 8 <= end:
        size, kind = struct.unpack(">I4s", data[pos:pos + 8])
        header = 8
        if size == 1:                                          # 64-bit "largesize" follows the type
            size = struct.unpack(">Q", data[pos + 8:pos + 16])[0]
            header = 16
        elif size == 0:                                        # the box runs to the end of the file
            size = end - pos
        if size < header or pos + size > end:
            raise ValueError(f"malformed mp4: box {kind!r} at {pos} has size {size}")
        yield kind, pos, pos + header, pos + size
        pos += size


_CONTAINER_BOXES = {b"moov", b"trak", b"mdia", b"minf", b"stbl"}   # the path from moov down to the chunk offsets


def _shift_chunk_offsets(moov: bytearray, shift: int, start: int = 0, end: int | None = None) -> None:
    """Add ``shift`` to every chunk offset (``stco`` 32-bit, ``co64`` 64-bit tables) inside ``moov``, in place."""
    for kind, _, payload, box_end in _iter_boxes(moov, start, end):
        if kind in _CONTAINER_BOXES:
            _shift_chunk_offsets(moov, shift, payload, box_end)
        elif kind in (b"stco", b"co64"):
            count = struct.unpack(">I", moov[payload + 4:payload + 8])[0]      # after version + flags
            fmt, width = (">I", 4) if kind == b"stco" else (">Q", 8)
            for k in range(count):
                at = payload + 8 + k * width
                value = struct.unpack(fmt, moov[at:at + width])[0] + shift
                if kind == b"stco" and value >= 2 ** 32:
                    raise ValueError("mp4 too large to move its index in memory (32-bit chunk offsets)")
                moov[at:at + width] = struct.pack(fmt, value)


def _faststart(data: bytes) -> bytes:
    """Move the ``moov`` box in front of ``mdat`` (what ``-movflags +faststart`` does) and fix the chunk offsets.

    A browser can then start playing before it has the whole file, and learns the duration at once.  Files whose
    ``moov`` already precedes ``mdat`` are returned unchanged.
    """
    boxes = list(_iter_boxes(data))
    kinds = [b[0] for b in boxes]
    if b"moov" not in kinds or b"mdat" not in kinds or kinds.index(b"moov") < kinds.index(b"mdat"):
        return data
    moov_box = next(b for b in boxes if b[0] == b"moov")
    moov = bytearray(data[moov_box[1]:moov_box[3]])
    _shift_chunk_offsets(moov, len(moov))        # everything after ftyp moves down by the size of moov
    head = [data[s:e] for k, s, _, e in boxes if k == b"ftyp"]
    rest = [data[s:e] for k, s, _, e in boxes if k not in (b"ftyp", b"moov")]
    if not head or boxes[0][0] != b"ftyp":
        raise ValueError("malformed mp4: the file does not start with an ftyp box")
    return b"".join(head + [bytes(moov)] + rest)


def encode_gif(frames: Any, fps: float = 12, *, loop: bool = True) -> bytes:
    """Encode frames as an animated GIF with Pillow; return the file's bytes.

    The fallback format: no extra dependency, but 256 colours per frame and a frame delay in whole centiseconds
    (browsers also slow down delays under 20 ms), so prefer :func:`encode_mp4`.
    """
    from PIL import Image

    video = to_uint8_frames(frames)
    if fps <= 0:
        raise ValueError(f"fps must be positive, got {fps}")
    images = [Image.fromarray(f) for f in video]
    buf = io.BytesIO()
    extra = {"loop": 0} if loop else {}                       # loop=0: forever; no key: play once
    images[0].save(buf, format="GIF", save_all=True, append_images=images[1:],
                   duration=max(10, int(round(1000 / fps))), optimize=False, **extra)
    return buf.getvalue()


# --------------------------------------------------------------------------------------------------------- HTML
def _auto_upscale(width_px: int, target: int) -> int:
    """Smallest integer factor that makes ``width_px`` at least ``target`` wide (at most 8, at most ~2048 px)."""
    if width_px >= target:
        return 1
    factor = math.ceil(target / width_px)
    return max(1, min(factor, 8, 2048 // width_px))


def video_html(frames: Any, fps: float = 12, *, width: int | None = None, loop: bool = True,
               autoplay: bool = True, controls: bool = True, upscale: int | None = None, crf: int = 20) -> str:
    """Return an HTML5 ``<video>`` element that carries the video itself as a base64 mp4 ``data:`` URI.

    Args:
        frames: ``uint8`` video (see :func:`to_uint8_frames`).
        fps: playback rate.
        width: display width in CSS pixels (default: the encoded width, at least 256 px).  The element never
            exceeds its container (``max-width: 100%``).
        loop, autoplay, controls: the usual ``<video>`` attributes.  The element is also ``muted`` and
            ``playsinline``, without which browsers refuse to autoplay.  A video shown less than
            :data:`MIN_CONTROLS_HEIGHT` px tall gets no controls (they would cover it) and pauses on a click.
        upscale: integer nearest-neighbour enlargement applied before encoding.  ``None`` picks the smallest
            factor that reaches the display width (so a 64² clip is encoded at 256², a 32² clip at 256²);
            ``1`` disables it.
        crf: x264 quality, see :func:`encode_mp4`.

    Without PyAV an animated GIF ``<img>`` is returned instead (no controls; plays ``loop``-ed or once).
    """
    video = to_uint8_frames(frames)
    _, h, w, _ = video.shape
    target = int(width) if width else MIN_DISPLAY_WIDTH
    factor = _auto_upscale(w, target) if upscale is None else max(1, int(upscale))
    video = _upscale(video, factor)
    disp_w = int(width) if width else w * factor
    disp_h = int(round(disp_w * h / w))
    style = (f"width:{disp_w}px; max-width:100%; height:auto; aspect-ratio:{w}/{h}; "
             "image-rendering:pixelated; display:block")
    try:
        data = encode_mp4(video, fps, crf=crf)
    except ImportError:
        gif = base64.b64encode(encode_gif(video, fps, loop=loop)).decode("ascii")
        return (f'<img src="data:image/gif;base64,{gif}" width="{disp_w}" height="{disp_h}" '
                f'style="{style}" alt="video, {len(video)} frames at {fps:g} fps (GIF fallback)"/>')
    attrs = ["muted", "playsinline", 'preload="auto"']
    hint = ""
    if controls and disp_h < MIN_CONTROLS_HEIGHT:          # the controls would cover the picture: click instead
        controls, hint = False, "; click to pause or play"
        attrs.append('onclick="this.paused ? this.play() : this.pause()"')
        style += "; cursor:pointer"
    attrs += [a for a, on in (("autoplay", autoplay), ("loop", loop), ("controls", controls)) if on]
    b64 = base64.b64encode(data).decode("ascii")
    title = html.escape(f"{len(video)} frames at {fps:g} fps, {w}x{h} px{hint}")
    return (f'<video width="{disp_w}" height="{disp_h}" {" ".join(attrs)} style="{style}" title="{title}">'
            f'<source src="data:video/mp4;base64,{b64}" type="video/mp4"/>'
            "Your browser cannot play this H.264 video.</video>")


def show_video(frames: Any, **kwargs):
    """Display a video inline: ``IPython.display.HTML`` of :func:`video_html` (same keyword arguments).

    The data is embedded in the output, so the video also plays in the static book built from stored outputs.
    """
    from IPython.display import HTML

    return HTML(video_html(frames, **kwargs))


# -------------------------------------------------------------------------------------------------------- grids
def _tile(items: np.ndarray, nrow: int | None, gap: int, pad_value: int) -> np.ndarray:
    """Tile ``items`` shaped ``(N, ..., H, W, 3)`` into ``(..., H', W', 3)``, ``nrow`` tiles per row."""
    n, h, w = items.shape[0], items.shape[-3], items.shape[-2]
    per_row = n if not nrow else max(1, min(int(nrow), n))
    rows = math.ceil(n / per_row)
    out = np.full(items.shape[1:-3] + (rows * h + (rows - 1) * gap, per_row * w + (per_row - 1) * gap, 3),
                  pad_value, dtype=np.uint8)
    for i in range(n):
        r, c = divmod(i, per_row)
        y, x = r * (h + gap), c * (w + gap)
        out[..., y:y + h, x:x + w, :] = items[i]
    return out


def video_grid(videos: Any, nrow: int | None = None, *, gap: int = 2, pad_value: int = 255) -> np.ndarray:
    """Tile equally long videos into one video, ``uint8`` ``(T, H', W', 3)``.

    Args:
        videos: a sequence of videos (each as accepted by :func:`to_uint8_frames`, all the same length and size)
            or one array shaped ``(N, T, H, W, 3)``.
        nrow: tiles per row, as in ``torchvision.utils.make_grid`` (default: all in one row).  Video ``i`` lands
            in row ``i // nrow``, column ``i % nrow``.
        gap: pixels between tiles, filled with ``pad_value`` (white by default).
    """
    if not isinstance(videos, (list, tuple)):
        arr = _to_numpy(videos)
        if arr.ndim != 5:
            raise ValueError(f"video_grid expects a list of videos or an (N, T, H, W, 3) array, got {arr.shape}")
        videos = list(arr)
    if len(videos) == 0:
        raise ValueError("video_grid needs at least one video")
    clips = [to_uint8_frames(v) for v in videos]
    shapes = {c.shape for c in clips}
    if len(shapes) != 1:
        raise ValueError(f"videos must all have the same length and size, got shapes {sorted(shapes)}")
    return _tile(np.stack(clips), nrow, gap, pad_value)


def frame_grid(images: Any, nrow: int | None = None, *, gap: int = 2, pad_value: int = 255) -> np.ndarray:
    """Tile still images ``(N, H, W, 3)`` (or ``(N, 3, H, W)``, numpy or torch) into one ``uint8`` image.

    ``nrow`` is the number of images per row (default: all in one row); image ``i`` lands in row ``i // nrow``,
    column ``i % nrow``, with ``gap`` pixels of ``pad_value`` between tiles.
    """
    return _tile(to_uint8_frames(images), nrow, gap, pad_value)


def difference_from_first(frames: Any, gain: float = 4.0) -> np.ndarray:
    """``|x_t - x_0|`` of a video as grey ``uint8`` frames ``(T, H, W, 3)``: the mean absolute change of the
    three channels from frame 0, times ``gain``, white where a pixel changed by ``255 / gain`` or more.  Small
    motion that is hard to see in the frames themselves shows up here; frame 0's difference is black."""
    video = to_uint8_frames(frames).astype(np.float32)
    if gain <= 0:
        raise ValueError(f"gain must be > 0, got {gain}")
    diff = np.abs(video - video[:1]).mean(axis=-1, keepdims=True) * gain
    return np.repeat(np.clip(diff + 0.5, 0, 255).astype(np.uint8), 3, axis=-1)


# --------------------------------------------------------------------------------------------------------- files
def save_video(frames: Any, path: str | os.PathLike, fps: float = 12, **kwargs) -> Path:
    """Write ``frames`` to ``path`` as ``.mp4`` (H.264, :func:`encode_mp4`) or ``.gif`` (:func:`encode_gif`).

    The file appears atomically: the bytes go to a temporary file in the same folder, which is then renamed over
    ``path`` with :func:`os.replace`, so a reader (or a run interrupted half-way) never sees a partial video.
    Missing parent folders are created.  Extra keyword arguments go to the encoder.  Returns the path.
    """
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix in (".mp4", ".m4v"):
        data = encode_mp4(frames, fps, **kwargs)
    elif suffix == ".gif":
        data = encode_gif(frames, fps, **kwargs)
    else:
        raise ValueError(f"save_video writes .mp4 or .gif, not {suffix or 'a file without extension'}: {path}")
    return _write_atomically(data, path)


def _write_atomically(data: bytes, path: Path) -> Path:
    """``data`` into ``path`` through a temporary file in the same folder and :func:`os.replace` (parents made)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
    return path
