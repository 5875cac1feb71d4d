"""Procedural video datasets rendered by the library itself: **SynthFaces** and **SynthSky**.

No real video dataset can be downloaded where this book is built, so the embedded default is rendered here,
deterministically per seed, at any resolution (16² to 256²), with the ground truth that real datasets lack:

* **SynthFaces** — subject-centric "talking head" videos, the setting of the paper's face benchmarks
  (FaceForensics, DeeperForensics).  Each video has one identity (face shape, skin tone, hair style and colour,
  eyes, brows, nose, mouth, facial hair, glasses, earrings), constant over time, and smooth motion: head
  yaw/pitch/roll drawn as 2.5-D shifts and squashes of the features, translation and zoom, blinks, a talking
  mouth, brow raises and gaze.  A *temperament* per video (calm, talkative, nodder, animated, drowsy) sets the
  motion statistics.  Identity attributes, the video's scene and per-frame factor values are saved as metadata.

  **Version 2** makes identity the face alone: the *scene* — clothes, hat, background, lighting
  direction, exposure and white balance, and the framing of the crop — is drawn per video, independently of who
  it is (:class:`VideoScene`), so two videos of one person can look different around the face and two people can
  share a background; and the motion is large and fast enough to read at 32² (a tighter crop, wider and quicker
  head turns and nods, a blink or a spoken syllable in most 16-frame clips); it is the default
  (``DEFAULT_VERSION``), the data of chapters 1-8's checkpoints.  **Version 1** (the first release) ties clothes
  and background to the identity and moves less; chapter 9's experiments were run on it, and it stays available
  with ``version=1`` (``styleinv data synthfaces --synthfaces-version 1``).
* **SynthSky** — cloud timelapses with global motion (multi-octave value-noise clouds advected by wind, a slowly
  changing sky colour, an optional horizon): no subject and no identity, the paper's weak case (§5.1).

Motion factors are continuous functions of real-valued time ``t`` (in frames), so any timestamp can be rendered,
not only integer frames.  Everything is vectorised over frames and pixels (:mod:`.raster`).
"""
from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import numpy as np
import torch

from .raster import (
    Layer, color_tensor, composite_photo, coverage, hsv_to_rgb, per_frame, pixel_grid, rotate, sd_box, sd_circle,
    sd_ellipse, sd_intersect, sd_ring, sd_segment, sd_union, smoothstep, to_uint8,
)

Tensor = torch.Tensor

#: Per-frame motion factors of SynthFaces, in the order they are stored.
FACTOR_NAMES = ("yaw", "pitch", "roll", "tx", "ty", "zoom", "blink", "mouth_open", "brow_raise", "gaze_x", "gaze_y")

#: Units of the factors (angles in radians, translations in half-image units, the others unitless).
FACTOR_UNITS = {"yaw": "rad", "pitch": "rad", "roll": "rad", "tx": "half-image", "ty": "half-image",
                "zoom": "scale", "blink": "0 open..1 shut", "mouth_open": "0..1", "brow_raise": "0..1",
                "gaze_x": "-1..1", "gaze_y": "-1..1"}

#: The SynthFaces versions (see the module docstring); renders of one version never change.  The default is the
#: version the committed checkpoints of chapters 1-8 were trained on.
SYNTHFACES_VERSIONS = (1, 2)
DEFAULT_VERSION = 2


def check_version(version: int) -> int:
    if int(version) not in SYNTHFACES_VERSIONS:
        raise ValueError(f"SynthFaces version must be one of {SYNTHFACES_VERSIONS}, got {version!r}")
    return int(version)


# ----------------------------------------------------------------------------------------------------------
# Identity
# ----------------------------------------------------------------------------------------------------------

SKIN_TONES = [  # light to deep, sRGB in [0, 1]
    (0.98, 0.87, 0.78), (0.95, 0.80, 0.69), (0.90, 0.73, 0.60), (0.82, 0.63, 0.49),
    (0.72, 0.53, 0.39), (0.60, 0.42, 0.30), (0.47, 0.32, 0.23), (0.36, 0.24, 0.18),
]
HAIR_COLOURS = {
    "black": (0.08, 0.07, 0.07), "dark brown": (0.22, 0.14, 0.09), "brown": (0.40, 0.26, 0.15),
    "auburn": (0.52, 0.21, 0.12), "ginger": (0.80, 0.42, 0.18), "blonde": (0.88, 0.74, 0.45),
    "platinum": (0.93, 0.90, 0.80), "grey": (0.62, 0.62, 0.62), "blue": (0.18, 0.35, 0.80),
    "pink": (0.92, 0.45, 0.68), "green": (0.25, 0.62, 0.36),
}
HAIR_COLOUR_WEIGHTS = [0.2, 0.18, 0.16, 0.08, 0.07, 0.1, 0.05, 0.08, 0.03, 0.03, 0.02]
EYE_COLOURS = {
    "dark brown": (0.22, 0.12, 0.06), "brown": (0.42, 0.25, 0.10), "hazel": (0.55, 0.45, 0.18),
    "green": (0.25, 0.55, 0.30), "blue": (0.25, 0.50, 0.85), "grey": (0.55, 0.60, 0.65),
}
FACE_SHAPES = {  # width, height, jaw taper (0 straight .. 1 pointed), jaw squareness
    "oval": (1.0, 1.0, 0.35, 0.0), "round": (1.08, 0.95, 0.15, 0.0), "square": (1.05, 0.98, 0.1, 0.6),
    "heart": (1.04, 1.0, 0.6, 0.0), "long": (0.92, 1.08, 0.3, 0.2),
}
HAIR_STYLES = ("bald", "buzz", "short", "bangs", "side part", "bob", "long", "curly", "mohawk", "bun")
FACIAL_HAIR = ("none", "stubble", "moustache", "beard")


def _pick(rng: np.random.Generator, options, p=None):
    return options[int(rng.choice(len(options), p=p))]


def _json_dict(record) -> dict:
    """A dataclass as a JSON-ready dict (tuples become lists)."""
    return {k: (list(v) if isinstance(v, tuple) else v) for k, v in asdict(record).items()}


def _with_tuples(d: dict, keys) -> dict:
    """The inverse for ``keys``: lists back to tuples (``None`` stays ``None``)."""
    return {**d, **{k: None if d.get(k) is None else tuple(d[k]) for k in keys}}


def _jitter(rng, rgb, amount=0.04):
    return tuple(float(np.clip(c + rng.normal(0, amount), 0, 1)) for c in rgb)


@dataclass
class FaceIdentity:
    """Identity attributes of one SynthFaces subject: constant over a video (and over all its videos).

    ``hat``, ``shirt`` and the background belong to the identity in version 1 only; in version 2 they are
    ``None`` here and drawn per video (:class:`VideoScene`)."""

    identity_id: int
    face_shape: str
    face_width: float
    face_height: float
    jaw_taper: float
    jaw_square: float
    skin_tone_index: int
    skin: tuple
    hair_style: str
    hair_colour_name: str
    hair: tuple
    eye_colour_name: str
    eye: tuple
    eye_size: float
    eye_spacing: float
    brow_thickness: float
    brow_tilt: float
    nose_length: float
    nose_width: float
    mouth_width: float
    lips: tuple
    facial_hair: str
    glasses: dict | None
    earrings: dict | None
    hat: dict | None
    shirt: tuple | None
    background_top: tuple | None
    background_bottom: tuple | None
    hair_phase: float = 0.0

    def to_dict(self) -> dict:
        return _json_dict(self)

    @classmethod
    def from_dict(cls, d: dict) -> "FaceIdentity":
        d = _with_tuples(d, ("skin", "hair", "eye", "lips", "shirt", "background_top", "background_bottom"))
        return cls(**d)

    def signature(self) -> tuple:
        """The categorical attributes: what a person would name when telling two subjects apart."""
        return (self.face_shape, self.skin_tone_index, self.hair_style, self.hair_colour_name,
                self.eye_colour_name, self.facial_hair, None if self.glasses is None else self.glasses["shape"],
                self.earrings is not None, None if self.hat is None else self.hat["kind"])


def sample_identity(identity_id: int, seed: int = 0, version: int = DEFAULT_VERSION) -> FaceIdentity:
    """Draw the attributes of identity ``identity_id`` (deterministic in ``(seed, identity_id)``).  Both versions
    draw the same face; version 2 leaves out what it draws per video (hat, shirt, background)."""
    version = check_version(version)
    rng = np.random.default_rng([seed, identity_id, 0xFACE])
    shape = _pick(rng, list(FACE_SHAPES))
    w, h, taper, square = FACE_SHAPES[shape]
    tone = int(rng.integers(len(SKIN_TONES)))
    hair_name = _pick(rng, list(HAIR_COLOURS), p=HAIR_COLOUR_WEIGHTS)
    hair_style = _pick(rng, HAIR_STYLES, p=[0.06, 0.08, 0.16, 0.1, 0.12, 0.12, 0.14, 0.09, 0.05, 0.08])
    eye_name = _pick(rng, list(EYE_COLOURS))
    lips = tuple(float(c) for c in np.clip(np.array(SKIN_TONES[tone]) * [0.85, 0.55, 0.55] + [0.08, 0, 0.02], 0, 1))
    if rng.random() < 0.25:  # lipstick
        lips = _jitter(rng, _pick(rng, [(0.75, 0.12, 0.2), (0.55, 0.1, 0.25), (0.85, 0.35, 0.4)]), 0.05)
    facial_hair = _pick(rng, FACIAL_HAIR, p=[0.7, 0.1, 0.08, 0.12])
    glasses = None
    if rng.random() < 0.3:
        glasses = {"shape": _pick(rng, ["round", "square"]),
                   "colour": list(_jitter(rng, _pick(rng, [(0.05, 0.05, 0.05), (0.75, 0.6, 0.2),
                                                           (0.6, 0.1, 0.1), (0.35, 0.2, 0.1)]), 0.03))}
    earrings = {"colour": list(_pick(rng, [(0.95, 0.8, 0.3), (0.85, 0.85, 0.9)]))} if rng.random() < 0.25 else None
    hat = None
    if rng.random() < 0.15:
        hat = {"kind": _pick(rng, ["beanie", "brimmed"]), "colour": list(hsv_to_rgb(rng.random(), 0.6, 0.7))}
    bg_h = rng.random()
    bg_top = hsv_to_rgb(bg_h, rng.uniform(0.15, 0.55), rng.uniform(0.55, 0.95))
    bg_bottom = hsv_to_rgb((bg_h + rng.normal(0, 0.05)) % 1, rng.uniform(0.15, 0.6), rng.uniform(0.35, 0.8))
    face = dict(  # drawn in this order in both versions (keyword values are evaluated left to right)
        identity_id=int(identity_id), face_shape=shape,
        face_width=float(w * rng.uniform(0.93, 1.07)), face_height=float(h * rng.uniform(0.94, 1.06)),
        jaw_taper=float(np.clip(taper + rng.normal(0, 0.08), 0, 0.8)),
        jaw_square=float(np.clip(square + rng.normal(0, 0.1), 0, 1)),
        skin_tone_index=tone, skin=_jitter(rng, SKIN_TONES[tone], 0.02),
        hair_style=hair_style, hair_colour_name=hair_name, hair=_jitter(rng, HAIR_COLOURS[hair_name], 0.03),
        eye_colour_name=eye_name, eye=_jitter(rng, EYE_COLOURS[eye_name], 0.03),
        eye_size=float(rng.uniform(0.8, 1.25)), eye_spacing=float(rng.uniform(0.36, 0.46)),
        brow_thickness=float(rng.uniform(0.6, 1.5)), brow_tilt=float(rng.uniform(-0.35, 0.35)),
        nose_length=float(rng.uniform(0.8, 1.25)), nose_width=float(rng.uniform(0.75, 1.3)),
        mouth_width=float(rng.uniform(0.8, 1.2)), lips=lips, facial_hair=facial_hair,
        glasses=glasses, earrings=earrings,
    )
    if version == 1:  # the surroundings belong to the identity
        around = dict(hat=hat, shirt=hsv_to_rgb(rng.random(), rng.uniform(0.2, 0.8), rng.uniform(0.25, 0.9)),
                      background_top=bg_top, background_bottom=bg_bottom)
    else:             # drawn per video instead (sample_scene)
        around = dict(hat=None, shirt=None, background_top=None, background_bottom=None)
    return FaceIdentity(**face, **around, hair_phase=float(rng.uniform(0, 2 * math.pi)))


# ----------------------------------------------------------------------------------------------------------
# Scene: what surrounds the face in one video
# ----------------------------------------------------------------------------------------------------------

_LIGHT = np.array([-0.35, -0.5, 0.8]) / np.linalg.norm([-0.35, -0.5, 0.8])


@dataclass
class VideoScene:
    """Everything around the face in one video: clothes, hat, background, lighting and the crop's framing.

    ``light``: unit direction of the key light (x right, y down, z to the camera); ``exposure`` scales the whole
    picture and ``tint`` is the white balance (per-channel gains); ``framing`` > 1 crops tighter around the head;
    ``panel``: an optional soft vertical band behind the subject (a door, a window, a shelf), or ``None``.
    """

    shirt: tuple
    background_top: tuple
    background_bottom: tuple
    hat: dict | None = None
    light: tuple = tuple(float(v) for v in _LIGHT)
    exposure: float = 1.0
    tint: tuple = (1.0, 1.0, 1.0)
    framing: float = 1.0
    panel: dict | None = None
    version: int = 1                    # the SynthFaces version whose geometry renders it (mouth opening)

    def to_dict(self) -> dict:
        return _json_dict(self)

    @classmethod
    def from_dict(cls, d: dict) -> "VideoScene":
        d = _with_tuples(d, ("shirt", "background_top", "background_bottom", "light", "tint"))
        return cls(**d)


def scene_of_identity(ident: FaceIdentity) -> VideoScene:
    """Version 1's scene: the identity's own clothes, hat and background, one fixed light, no crop."""
    if ident.shirt is None:
        raise ValueError(f"identity {ident.identity_id} is a version-2 identity: its scene is drawn per video "
                         "(sample_scene)")
    return VideoScene(shirt=ident.shirt, background_top=ident.background_top,
                      background_bottom=ident.background_bottom, hat=ident.hat)


def sample_scene(video_index: int, seed: int = 0) -> VideoScene:
    """Version 2: the scene of video ``video_index``, drawn from its own stream, independent of the identity."""
    rng = np.random.default_rng([seed, int(video_index), 0x5CE4E])
    bg_h = rng.random()
    bg_top = hsv_to_rgb(bg_h, rng.uniform(0.1, 0.6), rng.uniform(0.45, 0.95))
    bg_bottom = hsv_to_rgb((bg_h + rng.normal(0, 0.08)) % 1, rng.uniform(0.1, 0.6), rng.uniform(0.3, 0.85))
    hat = None
    if rng.random() < 0.12:
        hat = {"kind": _pick(rng, ["beanie", "brimmed"]), "colour": list(hsv_to_rgb(rng.random(), 0.6, 0.7))}
    azimuth, elevation = rng.uniform(-0.9, 0.9), rng.uniform(0.2, 0.75)
    light = np.array([np.sin(azimuth) * np.cos(elevation), -np.sin(elevation), np.cos(azimuth) * np.cos(elevation)])
    warmth = rng.normal(0, 0.05)
    panel = None
    if rng.random() < 0.5:
        panel = {"x": float(rng.uniform(-0.9, 0.9)), "width": float(rng.uniform(0.12, 0.4)),
                 "colour": list(hsv_to_rgb(rng.random(), rng.uniform(0.05, 0.5), rng.uniform(0.3, 0.95)))}
    return VideoScene(
        shirt=hsv_to_rgb(rng.random(), rng.uniform(0.2, 0.8), rng.uniform(0.25, 0.9)),
        background_top=bg_top, background_bottom=bg_bottom, hat=hat,
        light=tuple(float(v) for v in light / np.linalg.norm(light)),
        exposure=float(rng.uniform(0.85, 1.12)),
        tint=(float(1 + warmth), 1.0, float(1 - warmth)),
        framing=float(rng.uniform(1.22, 1.38)), panel=panel, version=2)


# ----------------------------------------------------------------------------------------------------------
# Motion
# ----------------------------------------------------------------------------------------------------------

#: Motion temperaments: scales of head motion amplitude and speed, translation, talking duty cycle, blink
#: rate (blinks per frame) and length (frames), brow activity and nodding.
TEMPERAMENTS = {
    "calm":      dict(head=0.35, speed=0.6, shift=0.3, talk=0.15, blink_rate=1 / 70, blink_len=1.1, brow=0.2, nod=0.0),
    "talkative": dict(head=0.7, speed=1.0, shift=0.5, talk=0.85, blink_rate=1 / 45, blink_len=1.0, brow=0.8, nod=0.2),
    "nodder":    dict(head=0.5, speed=0.9, shift=0.4, talk=0.4, blink_rate=1 / 55, blink_len=1.0, brow=0.3, nod=1.0),
    "animated":  dict(head=1.0, speed=1.5, shift=1.0, talk=0.6, blink_rate=1 / 35, blink_len=0.9, brow=1.0, nod=0.3),
    "drowsy":    dict(head=0.3, speed=0.4, shift=0.2, talk=0.05, blink_rate=1 / 25, blink_len=2.2, brow=0.05, nod=0.1),
}
# Full-scale amplitudes (temperament "head"/"shift" = 1): radians and half-image units.
_HEAD_AMPLITUDE = {"yaw": 0.45, "pitch": 0.2, "roll": 0.14}
_SHIFT_AMPLITUDE = {"tx": 0.07, "ty": 0.04, "zoom": 0.05}
_BASE_FREQUENCY = (1 / 100, 1 / 28)  # cycles per frame at speed 1
#: Version 2's motion, legible at 32²: wider and quicker head turns, nods in every temperament, blinks about
#: twice as often, more talking.  Each temperament's value v becomes ``floor + (1 - floor) * v`` (or ``v * gain``).
_MOTION_V2 = dict(head_amplitude={"yaw": 0.7, "pitch": 0.3, "roll": 0.16}, frequency=(1 / 56, 1 / 16),
                  head_floor=0.5, speed_floor=0.5, talk_floor=0.35, nod_floor=0.4, nod_amplitude=0.2,
                  blink_gain=2.2, brow_gain=1.5)


@dataclass
class FaceMotion:
    """The random motion script of one video: smooth functions of real-valued time ``t`` (frames).

    Head pose and translation are sums of three sinusoids with random frequencies and phases (amplitudes sum to
    the temperament's limit, so they stay bounded); blinks and brow raises are Gaussian bumps at Poisson event
    times; the mouth follows a syllable-rate oscillation gated by a smooth talking envelope.
    """

    temperament: str
    sinusoids: dict            # factor -> (amplitudes[3], frequencies[3], phases[3])
    blink_times: np.ndarray
    blink_sigma: float
    brow_times: np.ndarray
    brow_heights: np.ndarray
    talk: dict
    nod: dict
    horizon: float
    version: int = 1                    # SynthFaces version: version 2 renders larger, faster motion

    @staticmethod
    def sample(rng: np.random.Generator, horizon: float, temperament: str | None = None,
               version: int = DEFAULT_VERSION) -> "FaceMotion":
        name = temperament or _pick(rng, list(TEMPERAMENTS))
        k = dict(TEMPERAMENTS[name])
        lo, hi = _BASE_FREQUENCY
        head_amplitude, nod_amplitude = _HEAD_AMPLITUDE, 0.11
        if check_version(version) == 2:
            v2 = _MOTION_V2
            lo, hi = v2["frequency"]
            head_amplitude, nod_amplitude = v2["head_amplitude"], v2["nod_amplitude"]
            for key, floor in (("head", "head_floor"), ("speed", "speed_floor"), ("talk", "talk_floor"),
                               ("nod", "nod_floor")):
                k[key] = v2[floor] + (1 - v2[floor]) * k[key]
            k["blink_rate"] *= v2["blink_gain"]
            k["brow"] *= v2["brow_gain"]
        sinusoids = {}
        for factor, base in {**head_amplitude, **_SHIFT_AMPLITUDE, "gaze_x": 0.6, "gaze_y": 0.35}.items():
            scale = k["head"] if factor in head_amplitude else k["shift"] if factor in _SHIFT_AMPLITUDE else 1.0
            weights = rng.dirichlet([2.0, 2.0, 2.0])
            freqs = np.exp(rng.uniform(np.log(lo), np.log(hi), 3)) * k["speed"]
            sinusoids[factor] = (base * scale * weights, freqs, rng.uniform(0, 2 * np.pi, 3))
        margin = 4 * k["blink_len"]
        n_blinks = rng.poisson(k["blink_rate"] * (horizon + 2 * margin))
        blink_times = np.sort(rng.uniform(-margin, horizon + margin, n_blinks))
        n_brows = rng.poisson(k["brow"] / 60 * (horizon + 40))
        brow_times = np.sort(rng.uniform(-20, horizon + 20, n_brows))
        talk = dict(level=k["talk"], envelope_freq=rng.uniform(1 / 120, 1 / 50),
                    envelope_phase=rng.uniform(0, 2 * np.pi),
                    syllable_freq=rng.uniform(1 / 7.5, 1 / 5), syllable_phase=rng.uniform(0, 2 * np.pi),
                    wobble_freq=rng.uniform(1 / 15, 1 / 9), wobble_phase=rng.uniform(0, 2 * np.pi))
        nod = dict(amplitude=nod_amplitude * k["nod"], freq=rng.uniform(1 / 18, 1 / 11),
                   phase=rng.uniform(0, 2 * np.pi), gate_freq=rng.uniform(1 / 90, 1 / 40),
                   gate_phase=rng.uniform(0, 2 * np.pi))
        return FaceMotion(name, sinusoids, blink_times, 1.1 * k["blink_len"], brow_times,
                          rng.uniform(0.6, 1.0, n_brows), talk, nod, float(horizon), int(version))

    def factors(self, t) -> dict[str, np.ndarray]:
        """Factor values at timestamps ``t`` (any real numbers, in frames), each an array shaped like ``t``."""
        t = np.asarray(t, dtype=np.float64)
        out = {}
        for factor, (amp, freq, phase) in self.sinusoids.items():
            out[factor] = (amp[:, None] * np.sin(2 * np.pi * freq[:, None] * t.reshape(1, -1) + phase[:, None])
                           ).sum(0).reshape(t.shape)
        nod = self.nod
        gate = 0.5 + 0.5 * np.sin(2 * np.pi * nod["gate_freq"] * t + nod["gate_phase"])
        out["pitch"] = out["pitch"] + nod["amplitude"] * gate * np.sin(2 * np.pi * nod["freq"] * t + nod["phase"])
        out["zoom"] = 1.0 + out["zoom"]
        out["blink"] = np.clip(_bumps(t, self.blink_times, self.blink_sigma), 0, 1)
        talk = self.talk
        threshold = np.cos(np.pi * talk["level"])  # sin(.) > threshold for a fraction `level` of the time
        envelope = smoothstep_np(-0.35, 0.35, np.sin(2 * np.pi * talk["envelope_freq"] * t + talk["envelope_phase"])
                                 - threshold)
        syllables = 0.5 - 0.5 * np.cos(2 * np.pi * talk["syllable_freq"] * t + talk["syllable_phase"])
        wobble = 0.7 + 0.3 * np.sin(2 * np.pi * talk["wobble_freq"] * t + talk["wobble_phase"])
        out["mouth_open"] = envelope * syllables * wobble
        brows = _bumps(t, self.brow_times, 5.0, self.brow_heights)
        out["brow_raise"] = np.clip(brows + 0.25 * out["mouth_open"] * min(1.0, 2 * talk["level"]), 0, 1)
        yaw_range = (_MOTION_V2["head_amplitude"] if self.version == 2 else _HEAD_AMPLITUDE)["yaw"]
        out["gaze_x"] = np.clip(out["gaze_x"] + 0.4 * out["yaw"] / yaw_range, -1, 1)
        out["gaze_y"] = np.clip(out["gaze_y"], -1, 1)
        return {name: out[name] for name in FACTOR_NAMES}


def _bumps(t: np.ndarray, centres: np.ndarray, sigma: float, heights=None) -> np.ndarray:
    if len(centres) == 0:
        return np.zeros_like(t)
    z = (t.reshape(-1, 1) - centres.reshape(1, -1)) / sigma
    g = np.exp(-0.5 * z * z)
    if heights is not None:
        g = g * heights.reshape(1, -1)
    return g.sum(1).reshape(t.shape)


def smoothstep_np(edge0, edge1, x):
    s = np.clip((x - edge0) / (edge1 - edge0), 0, 1)
    return s * s * (3 - 2 * s)


# ----------------------------------------------------------------------------------------------------------
# Face geometry: identity + per-frame factors -> layers
# ----------------------------------------------------------------------------------------------------------

HEAD_CENTRE_Y = -0.06       # image units (y down); the face sits slightly above the middle
FACE_RX, FACE_RY = 0.40, 0.50


def face_layers(ident: FaceIdentity, factors: dict, resolution: int,
                scene: VideoScene | None = None) -> tuple[list[Layer], Tensor]:
    """Build the layers of every frame at once.  ``factors`` maps names to (T,) arrays; ``scene``: the video's
    surroundings (default: version 1's, from the identity).

    Returns the layer list (back to front) and the background image (T or 1, 3, R, R).  Head pose is 2.5-D: a
    feature at azimuth φ on the head moves to ``rx·sin(φ + yaw)`` and is squashed by ``cos(φ + yaw)``; pitch moves
    features vertically with their depth; roll, translation and zoom transform the head frame as a whole.
    """
    scene = scene_of_identity(ident) if scene is None else scene
    f = {k: per_frame(np.asarray(v, dtype=np.float64)) for k, v in factors.items()}
    T = f["yaw"].shape[0]
    x, y = pixel_grid(resolution)
    # the crop: framing > 1 zooms in about the head centre, which stays where it is in the picture
    x, y = x / scene.framing, (y - HEAD_CENTRE_Y) / scene.framing + HEAD_CENTRE_Y
    px = 2.0 / resolution / scene.framing
    # head frame: undo translation, zoom and roll (about the head centre)
    hx = (x - f["tx"]) / f["zoom"]
    hy = (y - f["ty"] - HEAD_CENTRE_Y) / f["zoom"]
    hx, hy = rotate(hx, hy, f["roll"])
    aa = px / f["zoom"]
    # body frame: the shoulders follow the head's translation only half way
    bx, by = x - 0.5 * f["tx"], y - 0.5 * f["ty"]

    rx, ry = FACE_RX * ident.face_width, FACE_RY * ident.face_height
    yaw, pitch = f["yaw"], f["pitch"]
    s_yaw, c_yaw = torch.sin(yaw), torch.cos(yaw)
    s_pitch = torch.sin(pitch)
    layers: list[Layer] = []
    skin, hair = color_tensor(ident.skin), color_tensor(ident.hair)

    def add(name, sdf, color, aa_=aa, **kw):
        layers.append(Layer(name, sdf, color if torch.is_tensor(color) else color_tensor(color), aa_, **kw))

    def feature_x(azimuth, depth=1.0):
        return rx * depth * torch.sin(azimuth + yaw)

    def feature_y(base, depth=1.0):
        return base * torch.cos(pitch) + ry * 0.55 * depth * s_pitch

    # --- face outline with jaw taper (narrower below the cheeks) and a squarer jaw option
    fcx = rx * 0.06 * s_yaw
    below = (hy / ry).clamp(0, 1)
    jaw_scale = 1 - ident.jaw_taper * below ** (2 - ident.jaw_square) * 0.55
    face_sdf = sd_ellipse((hx - fcx) / jaw_scale, hy, 0, 0, rx, ry) * jaw_scale
    nx = ((hx - fcx) / rx).clamp(-1, 1)
    ny = (hy / ry).clamp(-1, 1)
    nz = (1 - nx ** 2 - ny ** 2).clamp(min=0).sqrt()
    light = scene.light
    face_shade = 0.62 + 0.38 * (nx * light[0] + ny * light[1] + nz * light[2]).clamp(min=0)

    # strand texture for hair: fine stripes along a sweep direction, moving with the head
    strands = 0.93 + 0.07 * torch.sin(60 * (hx - 0.4 * rx * s_yaw) + 15 * hy + ident.hair_phase)
    hair_shade = strands * (0.8 + 0.2 * (-hy / ry).clamp(0, 1))

    # --- body and background hair
    add("shoulders", sd_ellipse(bx, by, 0, 1.08, 0.95, 0.44), scene.shirt, aa_=px, tone="clothes",
        shade=0.8 + 0.2 * (-(by - 1.08) / 0.44).clamp(0, 1))
    style = ident.hair_style
    hx_part = hx - 0.35 * rx * s_yaw   # the parting drifts with yaw
    if style == "long":
        add("hair_back", sd_box(hx_part, hy, 0, 0.32 * ry, 1.18 * rx, 1.2 * ry, corner=0.5 * rx), hair,
            shade=hair_shade * 0.85, tone="hair")
    elif style == "bob":
        add("hair_back", sd_ellipse(hx_part, hy, 0, -0.05 * ry, 1.2 * rx, 0.98 * ry), hair, shade=hair_shade * 0.85,
            tone="hair")
    elif style == "curly":
        ang = torch.atan2(hy + 0.25 * ry, hx_part)
        wave = 0.045 * torch.sin(9 * ang + ident.hair_phase)
        add("hair_back", sd_ellipse(hx_part, hy, 0, -0.25 * ry, 1.42 * rx, 1.12 * ry) + wave, hair,
            shade=hair_shade * 0.85, tone="hair")
    add("neck", sd_box(hx, hy, 0, 0.95 * ry, 0.42 * rx, 0.55 * ry, corner=0.1 * rx), skin, shade=0.72 + 0 * hx,
        tone="skin")
    add("neckline", sd_ellipse(bx, by, 0, 0.67, 0.17, 0.11), skin, aa_=px, shade=0.7 + 0 * bx, tone="skin")

    # --- ears (behind the face) and earrings
    ear_y = feature_y(-0.02 * ry)
    for side in (-1, 1):
        ex = side * rx * 0.97 + rx * 0.12 * s_yaw
        add(f"ear_{side}", sd_ellipse(hx, hy, ex, ear_y, 0.13 * rx, 0.2 * ry), skin, shade=0.82 + 0 * hx, tone="skin")
        if ident.earrings is not None:
            add(f"earring_{side}", sd_circle(hx, hy, ex, ear_y + 0.22 * ry, 0.035), ident.earrings["colour"],
                tone="light")

    add("face", face_sdf, skin, shade=face_shade, tone="skin")

    # --- facial hair under the mouth
    mouth_y = feature_y(0.45 * ry)
    mouth_x = feature_x(0.0, 0.95)
    if ident.facial_hair in ("beard", "stubble"):
        beard = sd_intersect(face_sdf, -(hy - (mouth_y - 0.1 * ry)))
        add("beard", beard, hair, shade=hair_shade, opacity=0.9 if ident.facial_hair == "beard" else 0.3,
            tone="hair")

    # --- nose: a side shadow that moves with yaw (the nose sticks out), nostrils
    nose_x = feature_x(0.0, 1.12)
    nose_len = 0.2 * ry * ident.nose_length
    nose_top, nose_bottom = feature_y(0.02 * ry, 1.1), feature_y(0.02 * ry + nose_len, 1.15)
    shadow_side = torch.sign(s_yaw + 1e-3) * 0.045 * rx * ident.nose_width
    add("nose_shadow", sd_segment(hx, hy, nose_x + shadow_side, nose_top, nose_x + shadow_side * 1.4, nose_bottom,
                                  0.025 * rx * ident.nose_width), skin, shade=0.7 + 0 * hx, opacity=0.8,
        outline=False, tone="skin")
    for side in (-1, 1):
        add(f"nostril_{side}", sd_ellipse(hx, hy, nose_x + side * 0.075 * rx * ident.nose_width * c_yaw,
                                          nose_bottom, 0.035 * rx * ident.nose_width * c_yaw.clamp(min=0.3) + 0.004,
                                          0.018 * ry + 0.002), skin, shade=0.45 + 0 * hx, tone="dark")

    # --- mouth: lips, the inside of the mouth when it opens, upper teeth
    mw = 0.3 * rx * ident.mouth_width * c_yaw
    open_ = f["mouth_open"] * (1.8 if scene.version == 2 else 1.0)   # version 2: a wider-opening mouth
    lip_h = 0.045 * ry + 0.1 * ry * open_
    add("lips", sd_ellipse(hx, hy, mouth_x, mouth_y + 0.03 * ry * open_, mw, lip_h), ident.lips,
        shade=0.9 + 0 * hx, tone="lips")
    inner = sd_ellipse(hx, hy, mouth_x, mouth_y + 0.03 * ry * open_, mw * 0.78, 0.012 * ry + 0.08 * ry * open_)
    add("mouth", inner, (0.3, 0.06, 0.08), tone="dark", outline=False)
    teeth = sd_intersect(inner, hy - (mouth_y + 0.03 * ry * open_ - 0.035 * ry * open_ + 0.005))
    add("teeth", teeth, (0.95, 0.93, 0.88), clip=(open_ > 0.05).float(), outline=False, tone="light")
    if ident.facial_hair == "moustache":
        add("moustache", sd_segment(hx, hy, mouth_x - mw * 0.9, mouth_y - 0.085 * ry, mouth_x + mw * 0.9,
                                    mouth_y - 0.085 * ry, 0.03 * ry), hair, shade=hair_shade, tone="hair")

    # --- eyes: white, iris (clipped by the lids), pupil, highlight, lash line; blinks close the white
    eye_y = feature_y(-0.1 * ry)
    openness = 1 - f["blink"]
    gaze_x, gaze_y = f["gaze_x"], f["gaze_y"]
    eye_centres = []
    for side in (-1, 1):
        az = side * ident.eye_spacing
        ex = feature_x(torch.as_tensor(az))
        squash = torch.cos(az + yaw).clamp(min=0.15)
        ew = 0.2 * rx * ident.eye_size * squash
        eh = 0.095 * ry * ident.eye_size
        eye_centres.append((ex, ew, eh))
        white = sd_ellipse(hx, hy, ex, eye_y + eh * 0.25 * (1 - openness), ew, eh * openness + 1e-4)
        lid_fade = (openness * 6).clamp(0, 1)  # a shut eye is only its lash line
        add(f"eye_white_{side}", white, (0.96, 0.95, 0.93), clip=lid_fade, tone="light")
        white_mask = coverage(white, aa) * lid_fade
        ir = 0.85 * eh
        ix = ex + gaze_x * ew * 0.35
        iy = eye_y + gaze_y * eh * 0.3
        add(f"iris_{side}", sd_ellipse(hx, hy, ix, iy, ir * squash, ir), ident.eye, clip=white_mask,
            outline=False, tone="eye", shade=0.75 + 0.25 * ((iy - hy) / ir + 0.5).clamp(0, 1))
        add(f"pupil_{side}", sd_ellipse(hx, hy, ix, iy, 0.45 * ir * squash, 0.45 * ir), (0.03, 0.03, 0.03),
            clip=white_mask, outline=False, tone="dark")
        add(f"glint_{side}", sd_circle(hx, hy, ix - 0.3 * ir, iy - 0.35 * ir, 0.18 * ir), (1, 1, 1),
            clip=white_mask, outline=False, tone="light")
        lid_y = eye_y - eh * openness + eh * 0.25 * (1 - openness)
        add(f"lash_{side}", sd_segment(hx, hy, ex - ew * 0.95, lid_y + 0.2 * eh * openness, ex + ew * 0.95,
                                       lid_y + 0.2 * eh * openness, 0.012 * ry), (0.1, 0.07, 0.06),
            tone="dark", outline=False)

        # brows: thickness, tilt (inner end up or down) and raises
        brow_y = eye_y - 0.2 * ry - f["brow_raise"] * 0.06 * ry
        tilt = ident.brow_tilt * 0.05 * ry
        inner_x, outer_x = ex - side * ew * 1.1, ex + side * ew * 1.15
        brow_colour = tuple(0.8 * c for c in ident.hair) if ident.hair_colour_name not in ("platinum", "grey") \
            else (0.45, 0.42, 0.4)
        add(f"brow_{side}", sd_segment(hx, hy, inner_x, brow_y + tilt, outer_x, brow_y - 0.3 * tilt - 0.01 * ry,
                                       0.018 * ry * ident.brow_thickness), brow_colour, tone="hair")

    # --- front hair: a cap on the head above a hairline that depends on the style
    if style != "bald" and style != "mohawk":
        xn = hx_part / rx
        hair_top = feature_y(-0.55 * ry, 0.3)
        hairline = {
            "buzz": -0.6 * ry + 0.5 * ry * xn ** 2,
            "short": -0.55 * ry + 0.45 * ry * xn ** 2,
            "bangs": -0.32 * ry + 0.15 * ry * xn ** 2,
            "side part": -0.5 * ry + 0.2 * ry * xn + 0.4 * ry * xn ** 2,
            "bob": -0.35 * ry + 0.75 * ry * xn ** 2,
            "long": -0.55 * ry + 0.05 * ry * torch.exp(-(xn / 0.06) ** 2) + 0.8 * ry * xn ** 2,
            "curly": -0.5 * ry + 0.45 * ry * xn ** 2 + 0.03 * torch.sin(20 * xn + ident.hair_phase),
            "bun": -0.58 * ry + 0.45 * ry * xn ** 2,
        }[style] + (hair_top + 0.55 * ry)
        cap_scale = 1.02 if style == "buzz" else 1.07
        cap = sd_intersect(sd_ellipse(hx, hy, fcx, -0.04 * ry, cap_scale * rx, 1.05 * ry), hy - hairline)
        if style == "bun":
            cap = sd_union(cap, sd_circle(hx, hy, fcx - 0.2 * rx * s_yaw, -1.08 * ry, 0.3 * rx))
        add("hair_front", cap, hair, shade=hair_shade, opacity=0.8 if style == "buzz" else 1.0, tone="hair")
    elif style == "mohawk":
        add("hair_sides", sd_intersect(sd_ellipse(hx, hy, fcx, -0.04 * ry, 1.02 * rx, 1.03 * ry),
                                       hy - feature_y(-0.45 * ry, 0.3)), hair, opacity=0.3, tone="hair",
            outline=False)
        add("hair_front", sd_box(hx_part, hy, 0, -1.02 * ry, 0.13 * rx, 0.35 * ry, corner=0.1 * rx), hair,
            shade=hair_shade, tone="hair")

    # --- hat
    if scene.hat is not None:
        hat_c = scene.hat["colour"]
        top = feature_y(-0.55 * ry, 0.3)
        if scene.hat["kind"] == "beanie":
            dome = sd_intersect(sd_ellipse(hx, hy, fcx, -0.3 * ry, 1.12 * rx, 0.9 * ry), hy - (top + 0.02 * ry))
            add("hat", dome, hat_c, shade=0.75 + 0.25 * (-hy / ry).clamp(0, 1), tone="clothes")
            add("hat_band", sd_box(hx, hy, fcx, top - 0.02 * ry, 1.1 * rx, 0.09 * ry, corner=0.05 * rx),
                tuple(0.8 * c for c in hat_c), tone="clothes")
        else:
            add("hat", sd_box(hx, hy, fcx, top - 0.42 * ry, 0.78 * rx, 0.42 * ry, corner=0.15 * rx), hat_c,
                tone="clothes", shade=0.85 + 0 * hx)
            add("hat_brim", sd_ellipse(hx, hy, fcx + 0.05 * rx * s_yaw, top, 1.5 * rx, 0.11 * ry),
                tuple(0.85 * c for c in hat_c), tone="clothes")

    # --- glasses: rims around the eyes and a bridge, slightly tinted lenses
    if ident.glasses is not None:
        g_col = ident.glasses["colour"]
        rims = []
        for (ex, ew, eh) in eye_centres:
            if ident.glasses["shape"] == "round":
                lens = sd_ellipse(hx, hy, ex, eye_y, 1.5 * ew + 0.01, 2.1 * eh + 0.01)
            else:
                lens = sd_box(hx, hy, ex, eye_y, 1.45 * ew + 0.01, 1.9 * eh + 0.01, corner=0.3 * eh)
            add("lens", lens, (0.75, 0.85, 0.95), opacity=0.18, outline=False, tone="light")
            rims.append(sd_ring(lens, 0.025 * ry))
        (lx, lw, _), (rx_, rw, _) = eye_centres
        bridge = sd_segment(hx, hy, lx + 1.45 * lw, eye_y - 0.03 * ry, rx_ - 1.45 * rw, eye_y - 0.03 * ry, 0.012 * ry)
        add("glasses", sd_union(sd_union(rims[0], rims[1]), bridge), g_col, tone="dark", outline=False)

    # --- background: vertical gradient, an optional soft vertical panel and a vignette, identical in every frame
    top, bottom = color_tensor(scene.background_top), color_tensor(scene.background_bottom)
    g = ((y + 1) / 2).unsqueeze(1)
    vignette = 1 - 0.18 * (x ** 2 + y ** 2).unsqueeze(1)
    background = top * (1 - g) + bottom * g
    if scene.panel is not None:
        band = smoothstep(-0.03, 0.03, scene.panel["width"] / 2 - (x - scene.panel["x"]).abs()).unsqueeze(1)
        background = background * (1 - 0.85 * band) + 0.85 * band * color_tensor(scene.panel["colour"])
    return layers, (background * vignette).expand(T, -1, -1, -1)


def light_picture(canvas: Tensor, scene: VideoScene) -> Tensor:
    """The scene's exposure and white balance applied to a composited (T, 3, H, W) picture."""
    if scene.exposure == 1.0 and tuple(scene.tint) == (1.0, 1.0, 1.0):
        return canvas
    return canvas * (scene.exposure * torch.tensor(scene.tint, dtype=canvas.dtype).view(1, 3, 1, 1))


def render_face(ident: FaceIdentity, factors: dict, resolution: int, *, scene: VideoScene | None = None,
                chunk: int = 32) -> Tensor:
    """Render the photographic SynthFaces frames: uint8 tensor (T, R, R, 3).  ``scene``: the video's surroundings
    (default: version 1's, from the identity).  Frames are rendered ``chunk`` at a time to bound memory."""
    scene = scene_of_identity(ident) if scene is None else scene
    T = len(np.asarray(factors["yaw"]).reshape(-1))
    out = []
    for s in range(0, T, chunk):
        part = {k: np.asarray(v, dtype=np.float64).reshape(-1)[s:s + chunk] for k, v in factors.items()}
        layers, background = face_layers(ident, part, resolution, scene)
        out.append(to_uint8(light_picture(composite_photo(layers, background), scene)))
    return torch.cat(out)


# ----------------------------------------------------------------------------------------------------------
# Dataset objects
# ----------------------------------------------------------------------------------------------------------

@dataclass
class SynthFaces:
    """SynthFaces: video ``i`` shows identity ``i // videos_per_identity`` with its own motion.

    ``render(i)`` gives the frames as a uint8 tensor (T, R, R, 3); ``factors(i)`` the ground-truth motion;
    ``identity(i)`` the attributes.  Everything is a pure function of ``(seed, i)``: two calls, two processes or
    two machines give the same bytes.
    """

    resolution: int = 64
    num_frames: int = 128
    seed: int = 0
    videos_per_identity: int = 1
    version: int = DEFAULT_VERSION

    def __post_init__(self):
        check_version(self.version)
        if not 8 <= self.resolution <= 1024:
            raise ValueError(f"resolution must be between 8 and 1024, got {self.resolution}")
        if self.num_frames < 1:
            raise ValueError(f"num_frames must be positive, got {self.num_frames}")
        if self.videos_per_identity < 1:
            raise ValueError(f"videos_per_identity must be positive, got {self.videos_per_identity}")

    def identity_id(self, video_index: int) -> int:
        return int(video_index) // self.videos_per_identity

    def identity(self, video_index: int) -> FaceIdentity:
        return sample_identity(self.identity_id(video_index), self.seed, self.version)

    def scene(self, video_index: int) -> VideoScene:
        """The video's surroundings: drawn per video (version 2) or the identity's own (version 1)."""
        if self.version == 1:
            return scene_of_identity(self.identity(video_index))
        return sample_scene(video_index, self.seed)

    def motion(self, video_index: int) -> FaceMotion:
        rng = np.random.default_rng([self.seed, int(video_index), 0x5EED])
        return FaceMotion.sample(rng, horizon=self.num_frames, version=self.version)

    def timestamps(self) -> np.ndarray:
        return np.arange(self.num_frames, dtype=np.float64)

    def factors(self, video_index: int, t=None) -> dict[str, np.ndarray]:
        return self.motion(video_index).factors(self.timestamps() if t is None else t)

    def render(self, video_index: int, t=None) -> Tensor:
        """Frames of video ``video_index`` at timestamps ``t`` (default: 0..num_frames-1; any real values)."""
        return render_face(self.identity(video_index), self.factors(video_index, t), self.resolution,
                           scene=self.scene(video_index))

    def video_metadata(self, video_index: int, decimals: int = 5) -> dict:
        motion = self.motion(video_index)
        factors = motion.factors(self.timestamps())
        return {
            "identity_id": self.identity_id(video_index),
            "temperament": motion.temperament,
            "attributes": self.identity(video_index).to_dict(),
            "scene": self.scene(video_index).to_dict(),
            "factors": {k: np.round(v, decimals).tolist() for k, v in factors.items()},
        }


# ---------------- SynthSky ----------------

def _value_noise3(table: Tensor, x: Tensor, y: Tensor, z: Tensor) -> Tensor:
    """Periodic 3-D value noise with quintic fade: ``table`` (P, P, P) of random values, coordinates in cells."""
    P = table.shape[0]
    flat = table.reshape(-1)
    xi, yi, zi = torch.floor(x), torch.floor(y), torch.floor(z)
    xf, yf, zf = x - xi, y - yi, z - zi
    fade = lambda u: u * u * u * (u * (u * 6 - 15) + 10)  # noqa: E731
    u, v, w = fade(xf), fade(yf), fade(zf)
    xi, yi, zi = xi.long() % P, yi.long() % P, zi.long() % P
    x1, y1, z1 = (xi + 1) % P, (yi + 1) % P, (zi + 1) % P

    def at(a, b, c):
        return torch.take(flat, (c * P + b) * P + a)

    c00 = at(xi, yi, zi) * (1 - u) + at(x1, yi, zi) * u
    c10 = at(xi, y1, zi) * (1 - u) + at(x1, y1, zi) * u
    c01 = at(xi, yi, z1) * (1 - u) + at(x1, yi, z1) * u
    c11 = at(xi, y1, z1) * (1 - u) + at(x1, y1, z1) * u
    return (c00 * (1 - v) + c10 * v) * (1 - w) + (c01 * (1 - v) + c11 * v) * w


SKY_PALETTES = {  # (zenith, horizon) colours
    "noon": ((0.25, 0.5, 0.9), (0.7, 0.85, 0.98)),
    "afternoon": ((0.3, 0.45, 0.8), (0.85, 0.85, 0.85)),
    "dusk": ((0.25, 0.25, 0.55), (0.98, 0.6, 0.35)),
    "overcast": ((0.5, 0.55, 0.62), (0.75, 0.77, 0.8)),
    "dawn": ((0.35, 0.4, 0.7), (0.98, 0.78, 0.65)),
}


@dataclass
class SkyScene:
    """The parameters of one SynthSky video (constant over time, except what they make move)."""

    wind: tuple            # cells per frame at the base octave (x, y)
    evolution: float       # how fast clouds change shape (noise z per frame)
    cover: float           # threshold of the cloud density: lower = cloudier
    softness: float
    palette_from: str
    palette_to: str
    colour_period: float   # frames for a full from->to->from colour cycle
    colour_phase: float
    horizon: list | None   # ground silhouette heights per x sample, or None
    ground: tuple
    scale: float           # cloud feature size (cells across the image)

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass
class SynthSky:
    """SynthSky: cloud timelapses with global motion; no subject, no identity (the paper's weak case, §5.1)."""

    resolution: int = 64
    num_frames: int = 128
    seed: int = 0
    octaves: int = 5
    lattice: int = 64

    def _rng(self, video_index: int, salt: int) -> np.random.Generator:
        return np.random.default_rng([self.seed, int(video_index), salt])

    def scene(self, video_index: int) -> SkyScene:
        rng = self._rng(video_index, 0x5C1)
        speed = rng.uniform(0.01, 0.045)
        angle = rng.normal(0, 0.5) + (0 if rng.random() < 0.5 else np.pi)
        names = list(SKY_PALETTES)
        horizon = None
        if rng.random() < 0.7:
            xs = np.linspace(0, 1, 49)
            hills = sum(rng.uniform(0.02, 0.08) / (k + 1) * np.sin(2 * np.pi * rng.uniform(0.3, 1.2) * (k + 1) * xs
                                                                   + rng.uniform(0, 6.3)) for k in range(5))
            horizon = (0.72 + rng.uniform(-0.1, 0.12) + hills).round(4).tolist()
        return SkyScene(
            wind=(float(speed * np.cos(angle)), float(0.3 * speed * np.sin(angle))),
            evolution=float(rng.uniform(0.004, 0.015)), cover=float(rng.uniform(0.38, 0.62)),
            softness=float(rng.uniform(0.08, 0.2)), palette_from=_pick(rng, names), palette_to=_pick(rng, names),
            colour_period=float(rng.uniform(200, 600)), colour_phase=float(rng.uniform(0, 2 * np.pi)),
            horizon=horizon, ground=tuple(float(c) for c in rng.uniform(0.03, 0.18, 3)),
            scale=float(rng.uniform(2.0, 4.0)),
        )

    def factors(self, video_index: int, t=None) -> dict[str, np.ndarray]:
        """Global ground truth per timestamp: wind displacement and the sky colour mix."""
        sc = self.scene(video_index)
        t = np.arange(self.num_frames, dtype=np.float64) if t is None else np.asarray(t, dtype=np.float64)
        mix = 0.5 - 0.5 * np.cos(2 * np.pi * t / sc.colour_period + sc.colour_phase)
        return {"shift_x": sc.wind[0] * t, "shift_y": sc.wind[1] * t, "colour_mix": mix}

    def render(self, video_index: int, t=None) -> Tensor:
        """Frames (T, R, R, 3) uint8 at timestamps ``t`` (default 0..num_frames-1; any real values)."""
        sc = self.scene(video_index)
        fac = self.factors(video_index, t)
        g = torch.Generator().manual_seed(int(self._rng(video_index, 0x701).integers(2 ** 62)))
        tables = torch.rand(self.octaves, self.lattice, self.lattice, self.lattice, generator=g)
        x, y = pixel_grid(self.resolution)
        xs, ys = (x + 1) / 2 * sc.scale * 0.55, (y + 1) / 2 * sc.scale  # clouds are wider than tall
        times = np.arange(self.num_frames, dtype=np.float64) if t is None else np.asarray(t, dtype=np.float64)
        t_ = torch.as_tensor(times.reshape(-1), dtype=torch.float32).reshape(-1, 1, 1)
        density = torch.zeros(t_.shape[0], self.resolution, self.resolution)
        light = torch.zeros_like(density)
        total = 0.0
        for o in range(self.octaves):
            freq, amp = 2.0 ** o, 0.45 ** o
            drift = 1.0 + 0.15 * o  # finer octaves drift a little faster: parallax and shearing
            ox = (xs - sc.wind[0] * t_ * drift) * freq
            oy = (ys - sc.wind[1] * t_ * drift) * freq
            oz = t_ * sc.evolution * freq + 7.3 * o
            density += amp * _value_noise3(tables[o], ox, oy, oz)
            # the same octave sampled a little towards the light (upper left): lit tops, darker bellies
            light += amp * _value_noise3(tables[o], ox - 0.06 * freq, oy - 0.08 * freq, oz)
            total += amp
        density, light = density / total, light / total
        cloud = smoothstep(sc.cover, sc.cover + sc.softness, density + 0.12 * (1 - (y + 1) / 2))
        shade = (0.82 + 1.8 * (density - light)).clamp(0.55, 1.05)
        mix = torch.as_tensor(fac["colour_mix"], dtype=torch.float32).reshape(-1, 1, 1, 1)
        z0, h0 = (color_tensor(c) for c in SKY_PALETTES[sc.palette_from])
        z1, h1 = (color_tensor(c) for c in SKY_PALETTES[sc.palette_to])
        zenith, horizon_c = z0 * (1 - mix) + z1 * mix, h0 * (1 - mix) + h1 * mix
        gy = ((y + 1) / 2).unsqueeze(1) ** 1.3
        sky = zenith * (1 - gy) + horizon_c * gy
        cloud_colour = (0.55 + 0.45 * horizon_c) * shade.unsqueeze(1)
        canvas = sky * (1 - cloud.unsqueeze(1)) + cloud_colour * cloud.unsqueeze(1)
        if sc.horizon is not None:
            hx = np.linspace(-1, 1, len(sc.horizon))
            ground_y = torch.as_tensor(np.interp(x[0, 0].numpy(), hx, sc.horizon), dtype=torch.float32)
            ground_y = ground_y * 2 - 1  # stored in [0, 1] image fractions
            a = coverage(ground_y.reshape(1, 1, -1) - y, 2.0 / self.resolution)
            canvas = canvas * (1 - a.unsqueeze(1)) + color_tensor(sc.ground) * a.unsqueeze(1)
        return to_uint8(canvas)

    def video_metadata(self, video_index: int, decimals: int = 5) -> dict:
        return {"scene": self.scene(video_index).to_dict(),
                "factors": {k: np.round(v, decimals).tolist() for k, v in self.factors(video_index).items()}}
