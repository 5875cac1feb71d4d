"""SynthFaces ground-truth metrics: identity preservation, first-frame error, motion statistics.

FID and FVD (:mod:`.protocol`) compare feature *distributions*; they cannot say whether one generated video keeps
its subject for 1024 frames, or whether its head turns as fast as the real ones.  On SynthFaces we can measure
that, because every training frame was rendered from known identity and motion factors: the
:class:`~.probe.SynthFacesProbe`, trained on such renders, reads them back off generated frames.

* :func:`identity_preservation` — share of frames of a video whose identity still matches frame 0 (probe
  embedding cosine >= the probe's calibrated threshold), at horizons 16 / 128 / 1024 frames (the paper's Fig. 7
  and §4.1 claim: StyleInV keeps the identity of the first frame over long videos).
* :func:`first_frame_error` — how far the first generated frame is from the frame it should reproduce (FFA-ST's
  L2 first-frame loss, §3.4, and initial-frame conditioned generation, Fig. 9): pixel MSE/PSNR, probe identity
  cosine and, optionally, LPIPS.
* :func:`motion_statistics` / :func:`motion_statistics_from_factors` and :func:`compare_motion` — blink rate,
  yaw speed, head-turn amplitude and mouth activity of generated vs real videos.
* :func:`motion_over_time` — the same speeds in consecutive windows of a long video, so that motion that dies
  out (collapse) or runs away far beyond the training clip length shows as a trend.

**These are SynthFaces probe metrics, not FID/FVD.**  They are only meaningful on SynthFaces-like frames, depend on
the committed probe (its held-out accuracy is in ``probe.info["heldout"]``) and are not comparable with any
published number.  Motion statistics of generated videos should be compared with the *same probe's* measurements
of real videos (:func:`compare_motion`): per-frame regression noise adds jitter to every speed, and measuring both
sides with one instrument cancels that bias.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Iterable, Mapping, Sequence

import numpy as np
import torch

from .probe import SynthFacesProbe, check_frames

Tensor = torch.Tensor

__all__ = [
    "BLINK_CLOSED", "BLINK_OPEN", "DEFAULT_HORIZONS", "MOTION_STATS", "MOTION_TARGETS", "MotionComparison",
    "PERIOD_BANDS", "SPEED_FACTORS", "compare_motion", "count_blinks", "first_frame_error", "identity_preservation",
    "jump_ratio", "motion_over_time", "motion_spectrum", "motion_statistics", "motion_statistics_from_factors",
    "pixel_change_over_time",
]

#: Horizons (frames) of :func:`identity_preservation`: the paper's FVD16 / FVD128 lengths and a long video.
DEFAULT_HORIZONS = (16, 128, 1024)
#: Blink hysteresis: an eye counts as shut above ``BLINK_CLOSED`` and as open again below ``BLINK_OPEN``.
BLINK_CLOSED = 0.5
BLINK_OPEN = 0.25
#: Per-video motion statistics, their units and meaning.
MOTION_STATS = {
    "blink_rate": "blinks per 100 frames (hysteresis on the blink factor)",
    "yaw_speed": "mean |yaw(t+1) - yaw(t)|, rad per frame",
    "yaw_std": "std of yaw over the video (head-turn amplitude), rad",
    "yaw_accel": "mean |yaw(t+1) - 2 yaw(t) + yaw(t-1)|, rad per frame^2 (high for a trembling head, low for a "
                 "smooth turn)",
    "pitch_speed": "mean |pitch(t+1) - pitch(t)|, rad per frame",
    "mouth_speed": "mean |mouth_open(t+1) - mouth_open(t)| per frame (talking)",
    "mouth_mean": "mean mouth opening (0..1)",
}
#: The statistics a video model's motion is judged by (each within 0.5-2x of the real videos' mean).
MOTION_TARGETS = ("yaw_std", "yaw_speed", "pitch_speed", "mouth_speed", "blink_rate")


# --------------------------------------------------------------------------------------------------------------
# Input handling
# --------------------------------------------------------------------------------------------------------------

def _as_video_batch(videos, what: str = "videos") -> Tensor:
    """``N x T x 3 x H x W`` (uint8 or float in [-1, 1]); a single ``T x 3 x H x W`` video becomes ``N = 1``."""
    if isinstance(videos, np.ndarray):
        videos = torch.from_numpy(videos)
    if not isinstance(videos, torch.Tensor):
        raise ValueError(f"{what} must be a torch tensor N x T x 3 x H x W, got {type(videos).__name__}")
    if videos.ndim == 4:
        videos = videos[None]
    if videos.ndim != 5 or videos.shape[2] != 3:
        hint = " (channels-last? use videos.permute(0, 1, 4, 2, 3))" if videos.ndim == 5 and videos.shape[-1] == 3 \
            else ""
        raise ValueError(f"{what} must be N x T x 3 x H x W, got shape {tuple(videos.shape)}{hint}")
    if videos.shape[1] < 2:
        raise ValueError(f"{what} must have at least 2 frames, got {videos.shape[1]}")
    return videos


def _iter_videos(videos) -> Iterable[Tensor]:
    """Yield ``T x 3 x H x W`` videos from a batch tensor or from an iterable of videos / batches."""
    if isinstance(videos, (torch.Tensor, np.ndarray)):
        yield from _as_video_batch(videos)
        return
    for item in videos:
        yield from _as_video_batch(item)


# --------------------------------------------------------------------------------------------------------------
# Identity preservation over time
# --------------------------------------------------------------------------------------------------------------

def identity_preservation(videos, probe: SynthFacesProbe, horizons: Sequence[int] = DEFAULT_HORIZONS,
                          batch: int = 256) -> dict[str, Any]:
    """Share of frames whose probe identity matches frame 0, for each horizon ``h`` (frames 1..h-1 of each video).

    ``videos``: ``N x T x 3 x H x W`` (uint8 or float in [-1, 1]) or an iterable of such batches (long videos can be
    streamed one by one).  A horizon longer than the videos is reported as ``None``.  Returns::

        {"share@16": ..., "cosine@16": ..., ...,            # means over videos
         "video_share@16": [N floats], ...,                 # each video's share (a few drifting videos or all?)
         "curve_share": [T-1 floats], "curve_cosine": [...],  # per frame offset t = 1..T-1, averaged over videos
         "videos": N, "frames": T, "threshold": probe.threshold}
    """
    thr = probe.threshold
    if not math.isfinite(thr):
        raise ValueError("the probe has no calibrated identity threshold: load a trained probe with load_probe()")
    cos_rows = []
    length = None
    for video in _iter_videos(videos):
        if length is None:
            length = video.shape[0]
        elif video.shape[0] != length:
            raise ValueError(f"all videos must have the same length, got {length} and {video.shape[0]} frames")
        emb = probe.embed(video, batch=batch)
        cos_rows.append((emb[1:] @ emb[0]).double())
    if not cos_rows:
        raise ValueError("no videos given")
    cos = torch.stack(cos_rows)                                  # N x (T-1)
    match = (cos >= thr).double()
    out: dict[str, Any] = {"videos": cos.shape[0], "frames": length, "threshold": thr}
    for h in horizons:
        h = int(h)
        if h < 2:
            raise ValueError(f"horizons must be >= 2 frames, got {h}")
        if h > length:
            out[f"share@{h}"] = out[f"cosine@{h}"] = out[f"video_share@{h}"] = None
        else:
            out[f"share@{h}"] = float(match[:, :h - 1].mean())
            out[f"cosine@{h}"] = float(cos[:, :h - 1].mean())
            out[f"video_share@{h}"] = match[:, :h - 1].mean(1).tolist()
    out["curve_share"] = match.mean(0).tolist()
    out["curve_cosine"] = cos.mean(0).tolist()
    return out


# --------------------------------------------------------------------------------------------------------------
# First-frame error
# --------------------------------------------------------------------------------------------------------------

def first_frame_error(generated, reference, probe: SynthFacesProbe | None = None, lpips=None) -> dict[str, float]:
    """Error between first generated frames and the frames they should reproduce (``B x 3 x H x W`` each).

    ``generated`` may also be videos ``B x T x 3 x H x W`` (frame 0 is taken).  Both are uint8 or float in
    [-1, 1] and must have the same size.  Returns pixel ``mse`` (in [-1, 1] units), ``psnr`` (dB, peak-to-peak 2),
    and with a ``probe`` the mean identity ``id_cosine`` and ``id_match`` share; with an ``lpips`` module
    (:class:`~.lpips.LPIPS`) the mean LPIPS distance.
    """
    if isinstance(generated, torch.Tensor) and generated.ndim == 5:
        generated = generated[:, 0]
    gen = check_frames(generated, "generated first frames")
    ref = check_frames(reference, "reference frames")
    if gen.shape != ref.shape:
        raise ValueError(f"generated first frames {tuple(gen.shape)} and reference frames {tuple(ref.shape)} "
                         "must have the same shape")
    mse_each = (gen.double() - ref.double()).pow(2).flatten(1).mean(1)
    psnr_each = 10 * torch.log10(4.0 / mse_each.clamp(min=1e-12))
    out = {"mse": float(mse_each.mean()), "psnr": float(psnr_each.mean()), "frames": int(gen.shape[0])}
    if probe is not None:
        cos = (probe.embed(gen) * probe.embed(ref)).sum(1).double()
        out["id_cosine"] = float(cos.mean())
        if math.isfinite(probe.threshold):
            out["id_match"] = float((cos >= probe.threshold).double().mean())
    if lpips is not None:
        dev = next(lpips.parameters()).device
        with torch.no_grad():
            out["lpips"] = float(lpips(gen.to(dev), ref.to(dev)).double().mean())
    return out


# --------------------------------------------------------------------------------------------------------------
# Motion statistics
# --------------------------------------------------------------------------------------------------------------

def count_blinks(blink: np.ndarray, closed: float = BLINK_CLOSED, open_: float = BLINK_OPEN) -> int:
    """Number of eye closures in a blink-factor sequence, with hysteresis (shut above ``closed``, open again below
    ``open_``), so that regression noise around one threshold does not count as many blinks."""
    if not open_ < closed:
        raise ValueError(f"the open threshold ({open_}) must be below the closed threshold ({closed})")
    shut, count = False, 0
    for value in np.asarray(blink, dtype=np.float64):
        if not shut and value > closed:
            shut, count = True, count + 1
        elif shut and value < open_:
            shut = False
    return count


def motion_statistics_from_factors(factors: Mapping[str, Any]) -> dict[str, Any]:
    """Per-video motion statistics (:data:`MOTION_STATS`) from factor sequences ``{name: N x T}`` (or ``T``).

    Works on ground-truth factors (``SynthFaces.factors``) and on the probe's predictions alike.  Returns
    ``{"per_video": {stat: [N floats]}, "mean": {stat: float}, "videos": N, "frames": T}``.
    """
    need = ("yaw", "pitch", "blink", "mouth_open")
    missing = [n for n in need if n not in factors]
    if missing:
        raise ValueError(f"factor sequences are missing {', '.join(missing)}")
    arr = {n: np.atleast_2d(np.asarray(factors[n], dtype=np.float64)) for n in need}
    n_videos, length = arr["yaw"].shape
    if length < 2:
        raise ValueError(f"motion statistics need at least 2 frames per video, got {length}")
    per_video = {
        "blink_rate": [100.0 * count_blinks(b) / length for b in arr["blink"]],
        "yaw_speed": np.abs(np.diff(arr["yaw"], axis=1)).mean(1).tolist(),
        "yaw_std": arr["yaw"].std(1).tolist(),
        "yaw_accel": (np.abs(np.diff(arr["yaw"], n=2, axis=1)).mean(1) if length > 2
                      else np.full(n_videos, np.nan)).tolist(),
        "pitch_speed": np.abs(np.diff(arr["pitch"], axis=1)).mean(1).tolist(),
        "mouth_speed": np.abs(np.diff(arr["mouth_open"], axis=1)).mean(1).tolist(),
        "mouth_mean": arr["mouth_open"].mean(1).tolist(),
    }
    return {"per_video": per_video, "mean": {k: float(np.mean(v)) for k, v in per_video.items()},
            "videos": int(n_videos), "frames": int(length)}


def factor_sequences(videos, probe: SynthFacesProbe, batch: int = 256) -> dict[str, np.ndarray]:
    """The probe's factors of every frame, ``{factor: N x T}`` (float64), for videos ``N x T x 3 x H x W`` (or an
    iterable of videos / batches of one length): the input of :func:`motion_statistics_from_factors` and
    :func:`motion_spectrum`."""
    seqs: dict[str, list] = {}
    for video in _iter_videos(videos):
        pred = probe.predict_factors(video, batch=batch)
        for name, values in pred.items():
            seqs.setdefault(name, []).append(values.double().numpy())
    if not seqs:
        raise ValueError("no videos given")
    lengths = {len(s) for s in seqs["yaw"]}
    if len(lengths) != 1:
        raise ValueError(f"all videos must have the same length, got {sorted(lengths)} frames")
    return {k: np.stack(v) for k, v in seqs.items()}


def motion_statistics(videos, probe: SynthFacesProbe, batch: int = 256) -> dict[str, Any]:
    """Motion statistics of videos (``N x T x 3 x H x W`` or an iterable of batches) measured by the probe's factor
    regressor; see :func:`motion_statistics_from_factors` for the result."""
    return motion_statistics_from_factors(factor_sequences(videos, probe, batch))


#: Factors whose per-frame change :func:`motion_over_time` tracks.
SPEED_FACTORS = ("yaw", "pitch", "roll", "mouth_open", "blink")


def motion_over_time(videos, probe: SynthFacesProbe, window: int = 64, batch: int = 256) -> dict[str, Any]:
    """Probe-read motion speed in consecutive windows of long videos (``N x T x 3 x H x W`` or an iterable).

    For each factor of :data:`SPEED_FACTORS`, the mean ``|f(t+1) - f(t)|`` over the frame pairs of each window of
    ``window`` frames, averaged over videos.  A generator whose motion collapses beyond its training clips shows
    speeds falling towards the probe's noise floor (measure still real videos, or a static video, for that floor);
    one that drifts shows them rising.  Returns ``{"start": [window starts], factor: [mean speed per window], ...,
    "videos": N, "frames": T, "window": window}``.
    """
    speeds: dict[str, list] = {name: [] for name in SPEED_FACTORS}
    for video in _equal_length_videos(videos, window):
        pred = probe.predict_factors(video, batch=batch)
        for name in SPEED_FACTORS:
            speeds[name].append(_window_means(np.abs(np.diff(pred[name].double().numpy())), window))
    length = video.shape[0]
    out: dict[str, Any] = {"start": [i * window for i in range(length // window)]}
    out.update({name: np.mean(np.asarray(v), axis=0).tolist() for name, v in speeds.items()})
    out.update({"videos": len(speeds["yaw"]), "frames": int(length), "window": int(window)})
    return out


#: Period bands (frames per cycle, ``(shortest, longest]``) of :func:`motion_spectrum`: from the frame rate's limit
#: to slow swings.  SynthFaces draws syllables every 5-7.5 frames, nods every 11-18, head turns slower still.
PERIOD_BANDS = ((2, 4), (4, 8), (8, 16), (16, 32), (32, None))


def _band_name(lo: int, hi: int | None) -> str:
    return f"{lo}-{hi} frames" if hi is not None else f"over {lo} frames"


def motion_spectrum(series) -> dict[str, Any]:
    """How a factor moves within a video: its swing, speed, acceleration, and at which periods.

    ``series``: factor values per frame, ``N videos x T frames`` (``T >= 8``; the probe's ``predict_factors`` of
    each video, or ground truth).  Returns ``std`` (the swing: std over a video's frames, mean over videos),
    ``speed`` (mean ``|f(t+1) - f(t)|``), ``accel`` (mean ``|f(t+1) - 2 f(t) + f(t-1)|``) and ``power``: the share
    of each video's variance at the periods of each band of :data:`PERIOD_BANDS` (mean over videos).  A speed is a
    swing times a rate: a smooth swing of period P frames has ``accel`` of about ``speed * 2 pi / P``; a value that
    flips every frame has ``2 * speed`` and all its power at 2-4 frames, independent noise ``sqrt(3) * speed``.
    """
    series = np.asarray(series, dtype=np.float64)
    if series.ndim != 2 or series.shape[1] < 8:
        raise ValueError(f"need N x T factor sequences with T >= 8, got shape {series.shape}")
    centred = series - series.mean(axis=1, keepdims=True)
    power = (np.abs(np.fft.rfft(centred, axis=1)) ** 2)[:, 1:]     # without the mean (frequency 0)
    period = 1.0 / np.fft.rfftfreq(series.shape[1])[1:]             # frames per cycle: T .. 2
    total = power.sum(axis=1)
    total = np.where(total > 0, total, 1.0)
    shares = {}
    for lo, hi in PERIOD_BANDS:
        inside = period > lo if hi is None else (period > lo) & (period <= hi)
        if lo == PERIOD_BANDS[0][0]:
            inside |= period == lo                                  # the 2-frame period belongs to the fastest band
        shares[_band_name(lo, hi)] = float((power[:, inside].sum(axis=1) / total).mean())
    return {"std": float(series.std(axis=1).mean()), "speed": float(np.abs(np.diff(series, axis=1)).mean()),
            "accel": float(np.abs(np.diff(series, n=2, axis=1)).mean()), "power": shares}


def pixel_change_over_time(videos, window: int = 64) -> dict[str, Any]:
    """How much the picture changes per frame, in consecutive windows of long videos: the mean absolute difference
    of consecutive frames (pixels in [0, 1]) over the frame pairs of each window, averaged over videos.

    It needs no probe, so it serves data no probe can read (SynthSky, whose clouds drift and whose light changes):
    a generator whose motion collapses shows it falling towards zero, one that runs away shows it rising.  Returns
    ``{"start": [window starts], "change": [mean change per window], "videos": N, "frames": T, "window": window}``.
    """
    changes = []
    for video in _equal_length_videos(videos, window):
        frames = video.double() / 255 if video.dtype == torch.uint8 else (video.double() + 1) / 2
        changes.append(_window_means((frames[1:] - frames[:-1]).abs().flatten(1).mean(1).numpy(), window))
    length = video.shape[0]
    return {"start": [i * window for i in range(length // window)], "change": np.mean(changes, axis=0).tolist(),
            "videos": len(changes), "frames": int(length), "window": int(window)}


def jump_ratio(videos) -> list[float]:
    """Per video, its largest frame-to-frame change over its median one (mean absolute pixel difference of
    consecutive frames).  A video that cuts to another identity shows one change far above its usual motion: the
    results issue asks for at most 3.  A still video has a median of zero; its ratio is 1 if nothing changes at all
    and infinite if one frame alone changes."""
    ratios = []
    for video in _iter_videos(videos):
        if video.shape[0] < 3:
            raise ValueError(f"a jump ratio needs at least 3 frames per video, got {video.shape[0]}")
        frames = video.double() / 255 if video.dtype == torch.uint8 else (video.double() + 1) / 2
        change = (frames[1:] - frames[:-1]).abs().flatten(1).mean(1)
        largest, median = float(change.max()), float(change.median())
        ratios.append(largest / median if median > 0 else (1.0 if largest == 0 else math.inf))
    if not ratios:
        raise ValueError("no videos given")
    return ratios


def _equal_length_videos(videos, window: int) -> Iterable[Tensor]:
    """The videos of ``videos``, refused unless all are equally long and hold at least one ``window`` of frames."""
    if window < 2:
        raise ValueError(f"a window needs at least 2 frames, got {window}")
    length = None
    for video in _iter_videos(videos):
        if length is None:
            length = video.shape[0]
            if length < window:
                raise ValueError(f"videos of {length} frames are shorter than one window of {window}")
        elif video.shape[0] != length:
            raise ValueError(f"all videos must have the same length, got {length} and {video.shape[0]} frames")
        yield video
    if length is None:
        raise ValueError("no videos given")


def _window_means(step: np.ndarray, window: int) -> list[float]:
    """Means of the per-pair values ``step`` (T - 1 of them) over the frame pairs inside each whole window."""
    return [float(step[i * window:(i + 1) * window - 1].mean()) for i in range((len(step) + 1) // window)]


def _wasserstein_1d(a: Sequence[float], b: Sequence[float]) -> float:
    """Earth mover's distance between two 1-D empirical distributions (integral of |F_a - F_b|)."""
    a, b = np.sort(np.asarray(a, np.float64)), np.sort(np.asarray(b, np.float64))
    grid = np.sort(np.concatenate([a, b]))
    fa = np.searchsorted(a, grid[:-1], side="right") / len(a)
    fb = np.searchsorted(b, grid[:-1], side="right") / len(b)
    return float(np.sum(np.abs(fa - fb) * np.diff(grid)))


@dataclass
class MotionComparison:
    """Generated vs real motion: per statistic, both means, their ratio and the 1-D Wasserstein distance between the
    per-video distributions."""

    rows: dict[str, dict[str, float]]

    def as_dict(self) -> dict[str, dict[str, float]]:
        return self.rows

    def format(self) -> str:
        lines = [f"{'statistic':<12} {'generated':>10} {'real':>10} {'ratio':>7} {'W1':>9}"]
        for name, r in self.rows.items():
            lines.append(f"{name:<12} {r['generated']:>10.4f} {r['real']:>10.4f} {r['ratio']:>7.2f} "
                         f"{r['wasserstein']:>9.4f}")
        return "\n".join(lines)


def compare_motion(generated: Mapping[str, Any], real: Mapping[str, Any]) -> MotionComparison:
    """Compare two results of :func:`motion_statistics` (measure both with the same probe)."""
    rows = {}
    for name in MOTION_STATS:
        g, r = generated["per_video"][name], real["per_video"][name]
        gm, rm = float(np.mean(g)), float(np.mean(r))
        rows[name] = {"generated": gm, "real": rm, "ratio": gm / rm if rm != 0 else float("nan"),
                      "wasserstein": _wasserstein_1d(g, r)}
    return MotionComparison(rows)
