"""Named size/budget presets shared by the CLI, the notebooks and the tests.

``smoke`` runs in seconds (CI, 2 CPU cores), ``cpu`` gives recognisable results on a laptop in minutes per stage,
``gpu`` is the full size, for a GPU (up to a day per stage on an H200 at today's speed: see its description).  A
notebook reads the profile once, at the top, with :func:`get_profile`, and passes it to the library.
"""
from __future__ import annotations

import os
from dataclasses import asdict, dataclass, replace

PROFILE_ENV = "STYLEINV_PROFILE"


@dataclass(frozen=True)
class Profile:
    """Sizes for one hardware budget.  Later stages add their own fields here."""

    name: str
    resolution: int          # training resolution of every stage (square frames)
    num_videos: int          # videos rendered for the embedded SynthFaces dataset
    num_frames: int          # frames per rendered video
    sky_videos: int          # videos rendered for SynthSky
    style_images: int        # still images per art style (style-transfer chapter)
    max_clip_distance: int   # FFA-ST: largest t3 - t0 of a sparse clip (frames)
    description: str

    def to_dict(self) -> dict:
        return asdict(self)

    def with_overrides(self, **changes) -> "Profile":
        return replace(self, **changes)


PROFILES: dict[str, Profile] = {
    "smoke": Profile(
        name="smoke", resolution=32, num_videos=12, num_frames=32, sky_videos=4, style_images=16,
        max_clip_distance=16, description="CI: tiny models, a handful of steps, seconds per stage on 2 CPU cores",
    ),
    "cpu": Profile(
        name="cpu", resolution=64, num_videos=400, num_frames=128, sky_videos=100, style_images=400,
        max_clip_distance=32, description="laptop CPU: recognisable results in tens of minutes per stage",
    ),
    "gpu": Profile(
        name="gpu", resolution=128, num_videos=2000, num_frames=128, sky_videos=500, style_images=2000,
        max_clip_distance=32, description="a GPU, full size: StyleGAN2's 3,000 kimg about 21 h on an H200 (39 img/s), "
                                       "the encoder about 1 h; not timed on a T4",
    ),
}


def default_profile_name() -> str:
    """``$STYLEINV_PROFILE`` if set, else ``gpu`` when CUDA is available, else ``cpu``."""
    name = os.environ.get(PROFILE_ENV, "").strip().lower()
    if name:
        return name
    try:
        import torch

        return "gpu" if torch.cuda.is_available() else "cpu"
    except Exception:  # torch missing or broken: the CPU preset is the safe choice
        return "cpu"


def get_profile(name: str | Profile | None = None) -> Profile:
    """Return the named profile (or the default one); raise a clear error for an unknown name."""
    if isinstance(name, Profile):
        return name
    name = (name or default_profile_name()).strip().lower()
    if name not in PROFILES:
        raise ValueError(f"unknown profile {name!r}: choose one of {', '.join(PROFILES)} "
                         f"(set ${PROFILE_ENV} or pass --profile)")
    return PROFILES[name]
