"""SynthFaces and SynthSky: determinism, identity constancy, smooth motion, distinct identities, any resolution."""
import hashlib
import subprocess
import sys

import numpy as np
import pytest
import torch

from styleinv_lib.data.synthetic import (
    FACTOR_NAMES, TEMPERAMENTS, FaceMotion, SynthFaces, SynthSky, VideoScene, render_face, sample_identity,
    sample_scene,
)

NEUTRAL = {k: np.array([1.0 if k == "zoom" else 0.0]) for k in FACTOR_NAMES}

# Largest change of each factor between consecutive frames (25 fps), per SynthFaces version, from the largest
# amplitude times the largest angular frequency: a blink takes about four frames; version 2 turns faster.
MAX_STEP = {1: {"yaw": 0.2, "pitch": 0.12, "roll": 0.06, "tx": 0.03, "ty": 0.02, "zoom": 0.02, "blink": 0.85,
                "mouth_open": 0.65, "brow_raise": 0.35, "gaze_x": 0.35, "gaze_y": 0.15},
            2: {"yaw": 0.36, "pitch": 0.2, "roll": 0.08, "tx": 0.04, "ty": 0.025, "zoom": 0.025, "blink": 0.9,
                "mouth_open": 0.65, "brow_raise": 0.35, "gaze_x": 0.45, "gaze_y": 0.2}}
YAW_LIMIT = {1: 0.45, 2: 0.7}


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


@pytest.mark.parametrize("version", [1, 2])
def test_identity_is_constant_within_and_across_videos_of_one_subject(version):
    ds = SynthFaces(resolution=48, num_frames=16, seed=3, videos_per_identity=3, version=version)
    metas = [ds.video_metadata(i) for i in range(3)]
    assert len({m["identity_id"] for m in metas}) == 1
    assert metas[0]["attributes"] == metas[1]["attributes"] == metas[2]["attributes"]
    assert metas[0]["factors"] != metas[1]["factors"], "each video has its own motion"
    # In the neutral pose and one scene the picture is a function of the identity alone.
    scene = ds.scene(0)
    neutral = [render_face(ds.identity(i), NEUTRAL, 48, scene=scene) for i in range(4)]
    assert torch.equal(neutral[0], neutral[1]) and torch.equal(neutral[0], neutral[2])
    assert not torch.equal(neutral[0], neutral[3]), "video 3 belongs to the next identity"
    if version == 1:   # version 1: the scene is the identity's
        assert metas[0]["scene"] == metas[1]["scene"] == metas[2]["scene"]


def test_version2_scene_is_per_video_and_independent_of_identity():
    """Version 2: clothes, hat, background, light and framing are drawn per video, from a stream that does not
    see the identity: the same video index has the same scene whoever is in it, and one person's videos differ."""
    one = SynthFaces(resolution=32, num_frames=4, seed=5, videos_per_identity=1, version=2)
    three = SynthFaces(resolution=32, num_frames=4, seed=5, videos_per_identity=3, version=2)
    for i in range(6):
        assert one.scene(i) == three.scene(i) == sample_scene(i, seed=5)
        assert one.identity(i).shirt is None and one.identity(i).background_top is None
    scenes = [three.scene(i) for i in range(3)]          # the three videos of identity 0
    assert len({s.background_top for s in scenes}) == 3 and len({s.shirt for s in scenes}) == 3
    assert len({round(s.framing, 6) for s in scenes}) == 3 and len({s.light for s in scenes}) == 3
    # the same person in two scenes: the background corner differs, the neutral face centre changes less
    a = render_face(three.identity(0), NEUTRAL, 64, scene=scenes[0])[0].float()
    b = render_face(three.identity(0), NEUTRAL, 64, scene=scenes[1])[0].float()
    assert (a[:6, :6] - b[:6, :6]).abs().mean() > 10, "another background"
    # two people can share a scene: the scene object renders any identity
    c = render_face(three.identity(3), NEUTRAL, 64, scene=scenes[0])[0].float()
    assert torch.equal(a[:3, :3], c[:3, :3]) and (a[24:40, 24:40] - c[24:40, 24:40]).abs().mean() > 5
    assert VideoScene.from_dict(scenes[0].to_dict()) == scenes[0]


def test_version2_motion_is_legible_in_16_frame_windows():
    """At 25 fps, 16 frames: a head turn of a quarter radian or more in the median window, and a blink or a
    spoken syllable in most windows (version 1 turned five times less)."""
    turns, events = {}, {}
    for version in (1, 2):
        ds = SynthFaces(num_frames=128, seed=0, version=version)
        yaw_range, event = [], []
        for i in range(60):
            f = ds.factors(i)
            for s in range(0, 112, 16):
                w = slice(s, s + 16)
                yaw_range.append(np.ptp(f["yaw"][w]))
                event.append(f["blink"][w].max() > 0.5 or np.ptp(f["mouth_open"][w]) > 0.3)
        turns[version], events[version] = np.median(yaw_range), np.mean(event)
    assert turns[2] > 0.25 and turns[2] > 3 * turns[1]
    assert events[2] > 0.8


def test_background_and_clothes_stay_put_while_the_head_moves():
    v = SynthFaces(resolution=64, num_frames=64, seed=0).render(5).float()
    corner = v[:, :4, :4]  # top-left corner: background only
    assert (corner - corner[:1]).abs().max() <= 1
    centre = v[:, 20:44, 20:44]
    assert (centre - centre[:1]).abs().mean() > 2, "the face region changes over time"


@pytest.mark.parametrize("seed", [0, 1])
@pytest.mark.parametrize("version", [1, 2])
def test_factor_trajectories_are_smooth_and_bounded(seed, version):
    ds = SynthFaces(num_frames=256, seed=seed, version=version)
    for i in range(60):
        f = ds.factors(i)
        for name in FACTOR_NAMES:
            step = np.abs(np.diff(f[name])).max()
            assert step <= MAX_STEP[version][name], f"video {i}: {name} jumps by {step:.3f} in one frame"
        assert np.all((f["blink"] >= 0) & (f["blink"] <= 1))
        assert np.all((f["mouth_open"] >= 0) & (f["mouth_open"] <= 1))
        assert np.abs(f["yaw"]).max() <= YAW_LIMIT[version] + 1e-9


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
    ids = [sample_identity(i, seed=0, version=2) for i in range(1000)]
    assert len({i.signature() for i in ids}) >= 980, "categorical attributes nearly always tell subjects apart"
    for attr in ("face_shape", "hair_style", "hair_colour_name", "eye_colour_name", "skin_tone_index"):
        assert len({getattr(i, attr) for i in ids}) >= 5, attr
    assert 0.2 < np.mean([i.glasses is not None for i in ids]) < 0.4
    # and their neutral renders in one shared scene are pairwise different pictures: the face alone tells them apart
    scene = sample_scene(0, seed=0)
    imgs = torch.stack([render_face(i, NEUTRAL, 32, scene=scene)[0] for i in ids[:150]]).float().reshape(150, -1)
    dist = torch.cdist(imgs, imgs) / np.sqrt(imgs.shape[1])
    dist.fill_diagonal_(1e9)
    assert dist.min() > 5, f"two identities render almost identically (rms {dist.min():.2f})"


@pytest.mark.parametrize("version,ratio", [(1, 3.0), (2, 1.8)])
def test_temperaments_change_motion_statistics(version, ratio):
    """Temperaments keep their order; version 2 raises every floor (calm people move too), so the gaps shrink."""
    stats = {}
    for name in TEMPERAMENTS:
        speed, talk, blink = [], [], []
        for s in range(25):
            f = FaceMotion.sample(np.random.default_rng(s), 256, name, version=version).factors(np.arange(256.0))
            speed.append(np.abs(np.diff(f["yaw"])).mean())
            talk.append((f["mouth_open"] > 0.2).mean())
            blink.append((f["blink"] > 0.5).mean())
        stats[name] = (np.mean(speed), np.mean(talk), np.mean(blink))
    assert stats["animated"][0] > ratio * stats["calm"][0]
    assert stats["talkative"][1] > ratio * stats["calm"][1]
    assert stats["drowsy"][0] < stats["talkative"][0]
    assert stats["drowsy"][2] > 2 * stats["calm"][2]


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
    with pytest.raises(ValueError, match="version"):
        SynthFaces(version=3)


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


def test_a_render_folder_can_be_rendered_again_longer(tmp_path):
    """``synthfaces_of``: the dataset a folder came from, from its metadata: the same frames at the folder's length,
    and at a longer one the same people, scenes and head motion (the probe's 1,024-frame reference)."""
    from styleinv_lib.data.export import export_synthfaces, load_metadata, synthfaces_of
    from styleinv_lib.data.video import VideoFolder

    export_synthfaces(tmp_path / "d", num_videos=2, num_frames=12, resolution=16, seed=3, progress=False)
    again = synthfaces_of(tmp_path / "d")
    assert again.num_frames == 12 and again.seed == 3 and again.resolution == 16
    assert torch.equal(again.render(1).permute(0, 3, 1, 2), VideoFolder(tmp_path / "d", 16).read_frames(1, range(12)))
    longer = synthfaces_of(tmp_path / "d", 40)
    assert longer.render(0).shape[0] == 40 and longer.identity(1) == again.identity(1)
    yaw = np.asarray(load_metadata(tmp_path / "d")["videos"][0]["factors"]["yaw"])
    np.testing.assert_allclose(longer.factors(0)["yaw"][:12], yaw, atol=1e-5)
    (tmp_path / "sky").mkdir()
    (tmp_path / "sky" / "metadata.json").write_text('{"dataset": "SynthSky", "num_frames": 8}')
    with pytest.raises(ValueError, match="metadata.json: not a SynthFaces"):
        synthfaces_of(tmp_path / "sky")
