"""SynthFaces and SynthSky: determinism, identity constancy, smooth motion, distinct identities, any resolution."""
import hashlib
import subprocess
import sys

import numpy as np
import pytest
import torch

from styleinv_lib.data.synthetic import (
    FACTOR_NAMES, TEMPERAMENTS, FaceMotion, SynthFaces, SynthSky, render_face, sample_identity,
)

NEUTRAL = {k: np.array([1.0 if k == "zoom" else 0.0]) for k in FACTOR_NAMES}

# Largest change of each factor between consecutive frames (25 fps): a blink takes about four frames.
MAX_STEP = {"yaw": 0.2, "pitch": 0.12, "roll": 0.06, "tx": 0.03, "ty": 0.02, "zoom": 0.02, "blink": 0.85,
            "mouth_open": 0.65, "brow_raise": 0.35, "gaze_x": 0.35, "gaze_y": 0.15}


def sha(t: torch.Tensor) -> str:
    return hashlib.sha256(t.numpy().tobytes()).hexdigest()


def test_render_shape_dtype_and_range():
    v = SynthFaces(resolution=32, num_frames=12, seed=1).render(0)
    assert v.shape == (12, 32, 32, 3) and v.dtype == torch.uint8
    assert v.float().std() > 20, "a face on a background has contrast"


def test_same_seed_same_bytes_even_in_another_process():
    ds = SynthFaces(resolution=32, num_frames=8, seed=7)
    a, b = ds.render(3), SynthFaces(resolution=32, num_frames=8, seed=7).render(3)
    assert sha(a) == sha(b)
    code = ("import hashlib; from styleinv_lib.data.synthetic import SynthFaces;"
            "print(hashlib.sha256(SynthFaces(resolution=32, num_frames=8, seed=7).render(3).numpy().tobytes())"
            ".hexdigest())")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.strip()
    assert out == sha(a)


def test_other_seed_or_video_differs():
    a = SynthFaces(resolution=32, num_frames=4, seed=0).render(0)
    assert sha(a) != sha(SynthFaces(resolution=32, num_frames=4, seed=1).render(0))
    assert sha(a) != sha(SynthFaces(resolution=32, num_frames=4, seed=0).render(1))


def test_identity_is_constant_within_and_across_videos_of_one_subject():
    ds = SynthFaces(resolution=48, num_frames=16, seed=3, videos_per_identity=3)
    metas = [ds.video_metadata(i) for i in range(3)]
    assert len({m["identity_id"] for m in metas}) == 1
    assert metas[0]["attributes"] == metas[1]["attributes"] == metas[2]["attributes"]
    assert metas[0]["factors"] != metas[1]["factors"], "each video has its own motion"
    # In the neutral pose the picture is a function of the identity alone: the same subject renders identically.
    neutral = [render_face(ds.identity(i), NEUTRAL, 48) for i in range(4)]
    assert torch.equal(neutral[0], neutral[1]) and torch.equal(neutral[0], neutral[2])
    assert not torch.equal(neutral[0], neutral[3]), "video 3 belongs to the next identity"


def test_background_and_clothes_stay_put_while_the_head_moves():
    v = SynthFaces(resolution=64, num_frames=64, seed=0).render(5).float()
    corner = v[:, :4, :4]  # top-left corner: background only
    assert (corner - corner[:1]).abs().max() <= 1
    centre = v[:, 20:44, 20:44]
    assert (centre - centre[:1]).abs().mean() > 2, "the face region changes over time"


@pytest.mark.parametrize("seed", [0, 1])
def test_factor_trajectories_are_smooth_and_bounded(seed):
    ds = SynthFaces(num_frames=256, seed=seed)
    for i in range(60):
        f = ds.factors(i)
        for name in FACTOR_NAMES:
            step = np.abs(np.diff(f[name])).max()
            assert step <= MAX_STEP[name], f"video {i}: {name} jumps by {step:.3f} in one frame"
        assert np.all((f["blink"] >= 0) & (f["blink"] <= 1))
        assert np.all((f["mouth_open"] >= 0) & (f["mouth_open"] <= 1))
        assert np.abs(f["yaw"]).max() <= 0.45 + 1e-9


def test_factors_are_continuous_in_real_time():
    m = SynthFaces(seed=0).motion(4)
    t = np.linspace(0, 127, 2000)
    a, b = m.factors(t), m.factors(t + 1e-3)
    for name in FACTOR_NAMES:
        assert np.abs(a[name] - b[name]).max() < 2e-3, name


def test_fractional_timestamps_render_between_frames():
    ds = SynthFaces(resolution=64, num_frames=32, seed=2)
    v = ds.render(0, t=[10.0, 10.5, 11.0]).float()
    d_mid = (v[1] - (v[0] + v[2]) / 2).abs().mean()
    d_ends = (v[0] - v[2]).abs().mean()
    assert d_mid <= d_ends + 1e-6


def test_consecutive_frames_are_closer_than_other_subjects():
    ds = SynthFaces(resolution=32, num_frames=32, seed=0)
    vids = [ds.render(i).float() for i in range(6)]
    within = np.mean([(v[1:] - v[:-1]).abs().mean().item() for v in vids])
    across = np.mean([(vids[i][0] - vids[j][0]).abs().mean().item() for i in range(6) for j in range(i + 1, 6)])
    assert within * 4 < across


def test_a_thousand_identities_look_distinct():
    ids = [sample_identity(i, seed=0) for i in range(1000)]
    assert len({i.signature() for i in ids}) >= 980, "categorical attributes nearly always tell subjects apart"
    for attr in ("face_shape", "hair_style", "hair_colour_name", "eye_colour_name", "skin_tone_index"):
        assert len({getattr(i, attr) for i in ids}) >= 5, attr
    assert 0.2 < np.mean([i.glasses is not None for i in ids]) < 0.4
    # and their neutral renders are pairwise different pictures
    imgs = torch.stack([render_face(i, NEUTRAL, 32)[0] for i in ids[:150]]).float().reshape(150, -1)
    dist = torch.cdist(imgs, imgs) / np.sqrt(imgs.shape[1])
    dist.fill_diagonal_(1e9)
    assert dist.min() > 5, f"two identities render almost identically (rms {dist.min():.2f})"


def test_temperaments_change_motion_statistics():
    stats = {}
    for name in TEMPERAMENTS:
        speed, talk = [], []
        for s in range(25):
            f = FaceMotion.sample(np.random.default_rng(s), 256, name).factors(np.arange(256.0))
            speed.append(np.abs(np.diff(f["yaw"])).mean())
            talk.append((f["mouth_open"] > 0.2).mean())
        stats[name] = (np.mean(speed), np.mean(talk))
    assert stats["animated"][0] > 3 * stats["calm"][0]
    assert stats["talkative"][1] > 3 * stats["calm"][1]
    assert stats["drowsy"][0] < stats["talkative"][0]


@pytest.mark.parametrize("resolution", [16, 32, 128, 256])
def test_any_resolution_renders_the_same_picture(resolution):
    """Analytic anti-aliasing: a render at R, area-downsampled to 16², matches the 16² render."""
    ds = SynthFaces(resolution=resolution, num_frames=2, seed=4)
    v = ds.render(1).permute(0, 3, 1, 2).float()
    assert v.shape[-1] == resolution
    small = SynthFaces(resolution=16, num_frames=2, seed=4).render(1).permute(0, 3, 1, 2).float()
    down = torch.nn.functional.adaptive_avg_pool2d(v, 16)
    assert (down - small).abs().mean() < 6


def test_edges_are_antialiased():
    v = SynthFaces(resolution=64, num_frames=1, seed=0).render(2)[0].float()
    colours = {tuple(p) for p in v.reshape(-1, 3).int().tolist()}
    assert len(colours) > 400, "shading and AA give many intermediate colours, not a few flat ones"


def test_bad_settings_are_refused():
    with pytest.raises(ValueError, match="resolution"):
        SynthFaces(resolution=4)
    with pytest.raises(ValueError, match="num_frames"):
        SynthFaces(num_frames=0)


# --- SynthSky ---

def test_sky_is_deterministic_and_moves():
    sky = SynthSky(resolution=32, num_frames=16, seed=0)
    a, b = sky.render(2), SynthSky(resolution=32, num_frames=16, seed=0).render(2)
    assert sha(a) == sha(b)
    steps = (a[1:].float() - a[:-1].float()).abs().mean(dim=(1, 2, 3))
    assert (steps > 0.05).all() and (steps < 20).all(), "clouds move a little every frame"


def _shift_x(a: np.ndarray, b: np.ndarray) -> int:
    """Horizontal displacement from a to b by circular cross-correlation of row-mean-removed images."""
    a = a - a.mean(axis=1, keepdims=True)
    b = b - b.mean(axis=1, keepdims=True)
    corr = np.fft.ifft(np.fft.fft(b, axis=1) * np.conj(np.fft.fft(a, axis=1)), axis=1).real.sum(0)
    k = int(np.argmax(corr))
    return k if k <= a.shape[1] // 2 else k - a.shape[1]


def test_sky_clouds_drift_with_the_wind():
    agree = 0
    for i in range(8):
        sky = SynthSky(resolution=64, num_frames=24, seed=0)
        wind = sky.scene(i).wind[0]
        v = sky.render(i).float().mean(-1).numpy()[:, :32]  # upper half: sky, not ground
        shift = _shift_x(v[0], v[-1])
        agree += int(np.sign(shift) == np.sign(wind)) if shift != 0 else 0
    assert agree >= 6, "cloud motion follows the wind direction in most videos"


def test_sky_has_no_identity_but_global_factors():
    f = SynthSky(num_frames=10).factors(0)
    assert set(f) == {"shift_x", "shift_y", "colour_mix"}
    assert np.allclose(np.diff(f["shift_x"]), np.diff(f["shift_x"])[0])
