"""Fine-tuning-based style transfer (§3.5, Fig. 5), plug-and-play decoding (Fig. 8) and their inputs."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from styleinv_lib.cli import main as cli_main
from styleinv_lib.data import DEFAULT_VERSION
from styleinv_lib.data.export import export_style_images
from styleinv_lib.data.images import ImageFolder
from styleinv_lib.data.styles import StyleImages
from styleinv_lib.data.video import VideoDataError
from styleinv_lib.generate import VideoGenerator, check_compatible, decode_latents, side_by_side
from styleinv_lib.loading import export_generator, load_generator
from styleinv_lib.metrics.alignment import generator_alignment
from styleinv_lib.metrics.probe import default_probe_path, load_probe, parse_styles
from styleinv_lib.nn import Generator
from styleinv_lib.nn.motion import MotionEncoder
from styleinv_lib.nn.styleinv import StyleInV
from styleinv_lib.checkpoint import CheckpointError, save_snapshot
from styleinv_lib.train.style_transfer import (
    StyleTransferStage, config_for_profile, default_freeze_res, frozen_parameter_names, train_style_transfer,
)

W = 32


def _small_G(seed: int = 0, resolution: int = 32, w_dim: int = W) -> Generator:
    torch.manual_seed(seed)
    return Generator(z_dim=w_dim, w_dim=w_dim, img_resolution=resolution, mapping_kwargs=dict(num_layers=2),
                     synthesis_kwargs=dict(channel_base=256, channel_max=16)).eval()


@pytest.fixture(scope="module")
def assets(tmp_path_factory):
    """A small parent G as a file and 8 toon images at 32²."""
    root = tmp_path_factory.mktemp("style")
    G = _small_G()
    save_snapshot(root / "G.safetensors", stage="stylegan2", config={"stage": "stylegan2", "generator": G.config},
                  modules={"G_ema": G}, rng={})
    export_style_images(root / "toon", style="toon", num_images=8, resolution=32, progress=False)
    return root


def _cfg(assets, **kw):
    base = dict(parent=str(assets / "G.safetensors"), images=str(assets / "toon"), device="cpu", eval_images=4)
    return config_for_profile("smoke", **{**base, **kw})


def _stage(assets, **kw) -> StyleTransferStage:
    return StyleTransferStage(_cfg(assets, **kw), load_generator(assets / "G.safetensors"))


# ------------------------------------------------------------------------------------------------------------------
# What is frozen
# ------------------------------------------------------------------------------------------------------------------

def test_default_freeze_res_scales_like_the_paper():
    assert [default_freeze_res(r) for r in (32, 64, 128, 256, 1024)] == [8, 8, 16, 32, 128]
    G = _small_G()
    names = frozen_parameter_names(G, 8)
    assert all(n.startswith("mapping.") or n.split(".")[2] in ("0", "1") for n in names)       # blocks 4², 8²
    assert any(n.startswith("mapping.") for n in names) and any(n.startswith("synthesis.blocks.1.torgb") for n in names)
    assert not any(n.startswith(("synthesis.blocks.2", "synthesis.blocks.3")) for n in names)
    assert frozen_parameter_names(G, 0, freeze_mapping=False) == []
    assert len(frozen_parameter_names(G, 16)) > len(names)


def test_fine_tuning_keeps_frozen_layers_and_the_w_space_bit_identical(assets):
    stage = _stage(assets)
    parent = {k: v.clone() for k, v in stage.G_parent.state_dict().items()}
    w_avg = stage.G.mapping.w_avg.clone()
    for step in range(3):
        logs = stage.step(step)
    assert {"Loss/G/lpips", "Loss/G/identity", "Loss/D/loss"} <= set(logs)
    after = dict(stage.G.named_parameters())
    changed = [n for n in after if not torch.equal(after[n], parent[n])]
    assert set(stage.frozen).isdisjoint(changed)
    for n in stage.frozen:
        assert torch.equal(after[n], parent[n]), n
    trainable = [n for n in after if n not in stage.frozen]
    assert len(changed) >= 0.8 * len(trainable)                    # the fine blocks did move
    assert torch.equal(stage.G.mapping.w_avg, w_avg) and torch.equal(stage.G_ema.mapping.w_avg, w_avg)
    z = torch.randn(16, W)
    assert torch.equal(stage.G.mapping(z, update_w_avg=False), stage.G_parent.mapping(z))
    assert torch.equal(stage.G_ema.mapping(z), stage.G_parent.mapping(z))
    for n in stage.frozen:                                          # G_ema's copy of a frozen weight stays too
        assert torch.equal(dict(stage.G_ema.named_parameters())[n], parent[n]), n


def test_the_identity_probe_reads_the_synthfaces_version_of_the_image_set(assets, tmp_path):
    """A style set of either SynthFaces version is read by that version's style-robust probe (framing and scenes
    differ by version)."""
    assert Path(_stage(assets).probe.info["path"]) == default_probe_path(styles=True, version=DEFAULT_VERSION)
    other = 2 if DEFAULT_VERSION == 1 else 1
    export_style_images(tmp_path / "toon", style="toon", num_images=4, resolution=32, version=other, progress=False)
    stage = _stage(assets, images=str(tmp_path / "toon"))
    assert stage.identity_net == "probe"
    assert Path(stage.probe.info["path"]) == default_probe_path(styles=True, version=other)


def test_path_length_regularisation_runs_with_a_frozen_mapping(assets):
    stage = _stage(assets, pl_weight=2.0, pl_interval=1)
    logs = stage.step(0)
    assert np.isfinite(logs["Loss/pl_penalty"]) and logs["Loss/pl_penalty"] > 0


def test_nothing_frozen_ablation_moves_the_mapping_and_coarse_blocks(assets):
    stage = _stage(assets, freeze_res=0, freeze_mapping=False)
    assert stage.frozen == [] and len(stage.g_params) == len(list(stage.G.parameters()))
    before = stage.G.synthesis.blocks[0].conv1.weight.clone()
    stage.step(0)
    assert not torch.equal(stage.G.synthesis.blocks[0].conv1.weight, before)


def test_preservation_losses_are_zero_for_identical_generators_and_not_otherwise(assets):
    stage = _stage(assets)
    with torch.no_grad():
        fake, ws = stage._generate(4)
        ref = stage.parent_images(ws, stage._noise_seed)
        assert torch.equal(fake, ref)                              # same w, same noise, same weights
        losses = stage.preservation_losses(fake, ref)
        assert set(losses) == {"lpips", "identity"}
        assert float(losses["lpips"]) == 0.0 and abs(float(losses["identity"])) < 1e-6
        w = stage.G.synthesis.blocks[-1].conv1.weight
        w.add_(torch.randn_like(w) * w.std())             # (a scale alone is undone by weight demodulation)
        fake2 = stage.synthesis_fwd(ws, noise_mode="const")
        losses = stage.preservation_losses(fake2, stage.G_parent.synthesis(ws, noise_mode="const", fused=False))
        assert float(losses["lpips"]) > 1e-3 and float(losses["identity"]) > 1e-5


def test_style_transfer_resumes_bit_exactly_and_exports_a_generator(assets, tmp_path):
    cfg = _cfg(assets, total_kimg=0.016, snapshot_kimg=0.008)                 # 4 steps of batch 4
    straight = train_style_transfer(cfg, tmp_path / "a", progress=False, tensorboard=False)
    train_style_transfer(_cfg(assets, total_kimg=0.008, snapshot_kimg=0.008), tmp_path / "b", progress=False,
                         tensorboard=False)
    resumed = train_style_transfer(cfg, tmp_path / "b", resume="auto", progress=False, tensorboard=False)
    assert straight.step == resumed.step == 4
    for name in ("G", "G_ema", "D", "G_parent"):
        a, b = getattr(straight.stage, name).state_dict(), getattr(resumed.stage, name).state_dict()
        for k in a:
            assert torch.equal(a[k], b[k]), (name, k)
    metrics = [json.loads(line) for line in (tmp_path / "a" / "metrics.jsonl").read_text().splitlines()]
    assert 0.5 < metrics[-1]["alignment/identity_cos"] <= 1.0001
    G = load_generator(tmp_path / "a")                                      # a run folder loads as a generator
    assert G.info["fine_tuned"]["freeze_res"] == 8 and G.info["fine_tuned"]["style"] == "toon"
    assert torch.equal(G.state_dict()["synthesis.blocks.3.conv1.weight"],
                       straight.stage.G_ema.state_dict()["synthesis.blocks.3.conv1.weight"])
    small = export_generator(tmp_path / "a", tmp_path / "toon.safetensors")
    assert load_generator(small).info["fine_tuned"]["parent"] == str(assets / "G.safetensors")


# ------------------------------------------------------------------------------------------------------------------
# Bad inputs
# ------------------------------------------------------------------------------------------------------------------

def test_image_folder_reads_mixed_sizes_and_names_bad_files(tmp_path):
    (tmp_path / "ok" / "sub").mkdir(parents=True)
    Image.fromarray(np.full((40, 60, 3), 200, np.uint8)).save(tmp_path / "ok" / "b.png")
    Image.fromarray(np.full((50, 50), 10, np.uint8)).save(tmp_path / "ok" / "sub" / "a.jpg")
    (tmp_path / "ok" / "notes.txt").write_text("not an image")
    ds = ImageFolder(tmp_path / "ok", 32)
    assert len(ds) == 2 and ds[0]["image"].shape == (3, 32, 32) and ds[0]["image"].dtype == torch.uint8
    assert int(ds[1]["image"][0, 0, 0]) == 10                      # grey replicated to RGB
    (tmp_path / "empty").mkdir()
    with pytest.raises(VideoDataError, match="holds no images"):
        ImageFolder(tmp_path / "empty", 32)
    with pytest.raises(FileNotFoundError, match="not found"):
        ImageFolder(tmp_path / "missing", 32)
    Image.fromarray(np.zeros((16, 16, 3), np.uint8)).save(tmp_path / "ok" / "small.png")
    with pytest.raises(VideoDataError, match=r"small\.png.*smaller than the 32²"):
        ImageFolder(tmp_path / "ok", 32)
    assert len(ImageFolder(tmp_path / "ok", 32, allow_upscale=True)) == 3
    (tmp_path / "ok" / "broken.png").write_bytes(b"not a png")
    with pytest.raises(VideoDataError, match=r"broken\.png.*unreadable"):
        ImageFolder(tmp_path / "ok", 32, allow_upscale=True)


def test_image_folder_cache_serves_the_decoded_bytes_once_decoded(tmp_path, monkeypatch):
    import styleinv_lib.data.images as images_module

    noisy = np.random.default_rng(0).integers(0, 256, (3, 40, 48, 3), dtype=np.uint8)
    for i, img in enumerate(noisy):
        Image.fromarray(img).save(tmp_path / f"{i}.png")
    expected = [ImageFolder(tmp_path, 32)[i]["image"] for i in range(3)]
    opened = []
    real_open = images_module.Image.open
    monkeypatch.setattr(images_module.Image, "open", lambda path, *a: opened.append(path) or real_open(path, *a))
    ds = ImageFolder(tmp_path, 32, cache_mb=1)
    opened.clear()                                      # construction reads the headers
    for _ in range(3):
        for i in (2, 0, 1):
            assert torch.equal(ds[i]["image"], expected[i])
    assert len(opened) == 3 and len(ds.cache) == 3
    ds[0]["image"].fill_(0)                             # a caller's batch is its own
    assert torch.equal(ds[0]["image"], expected[0])


def test_fine_tuning_refuses_bad_inputs(assets, tmp_path):
    parent = load_generator(assets / "G.safetensors")
    with pytest.raises(ValueError, match="makes 32² images, but resolution=64"):
        StyleTransferStage(_cfg(assets, resolution=64), parent)
    with pytest.raises(ValueError, match="freeze_res must be in"):
        StyleTransferStage(_cfg(assets, freeze_res=32), parent)
    with pytest.raises(ValueError, match="no discriminator"):
        StyleTransferStage(_cfg(assets, d_init="parent"), parent)
    with pytest.raises(CheckpointError, match="expected 64x64"):
        load_generator(assets / "G.safetensors", resolution=64)
    (tmp_path / "empty").mkdir()
    assert cli_main(["finetune-style", "--generator", str(assets / "G.safetensors"), "--images",
                     str(tmp_path / "empty"), "--out", str(tmp_path / "run"), "--profile", "smoke"]) == 2
    assert cli_main(["finetune-style", "--generator", str(tmp_path / "nope.safetensors"), "--images",
                     str(assets / "toon"), "--out", str(tmp_path / "run"), "--profile", "smoke"]) == 2
    with pytest.raises(ValueError, match="W space"):
        check_compatible(parent, _small_G(w_dim=16))
    with pytest.raises(ValueError, match="styles must name"):
        parse_styles("photo,watercolour")


# ------------------------------------------------------------------------------------------------------------------
# Plug-and-play decoding (Fig. 8)
# ------------------------------------------------------------------------------------------------------------------

def _video_generator(G) -> VideoGenerator:
    torch.manual_seed(3)
    SI = StyleInV(W, MotionEncoder("ffa_ape", motion_dim=16, noise_dim=16, anchor_spacing=8), None)
    with torch.no_grad():
        for p in SI.parameters():
            p.normal_(0, 0.05)
    return VideoGenerator(G, SI)


def test_plug_and_play_decodes_one_latent_sequence_with_every_generator():
    G = _small_G(0)
    styled = _small_G(0)
    with torch.no_grad():                         # a "fine-tune": only the last block differs
        styled.synthesis.blocks[-1].torgb.weight.mul_(-1)
    gen = _video_generator(G)
    w0 = gen.w0_from_seeds([1, 2])
    videos, latents = gen.plug_and_play([G, styled, _small_G(0)], w0, 6, motion_seeds=[5, 6])
    assert latents.shape == (2, 6, W) and [v.shape for v in videos] == [(2, 6, 3, 32, 32)] * 3
    assert torch.equal(videos[0], videos[2])                      # same weights, same latents: same video
    assert not torch.allclose(videos[0], videos[1])
    assert torch.equal(videos[1], decode_latents(styled, latents))
    direct = gen.video(w0, 6, motion_seeds=[5, 6])                # what the motion's own G shows
    assert torch.allclose(videos[0], direct, atol=1e-5)
    assert latents[:, 1:].std(1).mean() > 0                        # the latents move over time
    grid = side_by_side(videos)
    assert grid.shape == (6, 2 * 32 + 2, 3 * 32 + 2 * 2, 3) and grid.dtype == np.uint8
    with pytest.raises(ValueError, match="W space"):
        gen.plug_and_play([_small_G(w_dim=16)], w0, 4)


def test_video_generator_returns_cpu_tensors_and_never_moves_a_callers_decoder():
    """Chapters 6-8 run the models on a GPU when there is one and use the outputs on the CPU: every output of
    VideoGenerator is on the CPU, and a plug-and-play decoder on another device is copied, not moved."""
    from styleinv_lib.generate import on_device

    G = _small_G(0)
    gen = _video_generator(G)
    w0 = gen.w0_from_seeds([1, 2])
    x0 = gen.first_frame(w0)
    assert w0.device.type == x0.device.type == "cpu" and x0.shape == (2, 3, 32, 32)
    assert torch.equal(x0, G.synthesis(w0, noise_mode="const"))             # G(w0), the gen's noise mode
    assert on_device(G, "cpu") is G                                          # already there: itself
    elsewhere = on_device(G, "meta")                                         # another device: a copy there
    assert elsewhere is not G and next(elsewhere.parameters()).device.type == "meta"
    assert all(p.device.type == "cpu" for p in G.parameters())


def test_paired_style_images_show_the_same_content_in_two_renderings():
    from styleinv_lib.data.styles import paired_style_images

    photo, toon = paired_style_images("toon", 3, resolution=32, seed=4)
    assert torch.equal(photo[1], StyleImages("photo", resolution=32, seed=4).render(1).permute(2, 0, 1))
    assert torch.equal(toon[2], StyleImages("toon", resolution=32, seed=4).render(2).permute(2, 0, 1))
    small, _ = paired_style_images("sketch", 2, resolution=64, size=32)
    assert small.shape == (2, 3, 32, 32) and small.dtype == torch.uint8


def test_alignment_is_perfect_for_identical_images_and_low_for_shuffled_ones():
    probe = load_probe(styles=True)
    images = torch.stack([StyleImages("photo", resolution=32, seed=9).render(i) for i in range(24)]).permute(0, 3, 1, 2)
    same = generator_alignment(images, images.clone(), probe)
    assert same["factor_r_mean"] > 0.999 and same["identity_cos"] > 0.999 and same["identity_match"] == 1.0
    shuffled = generator_alignment(images, images.roll(1, 0), probe, bootstrap=50)
    assert shuffled["factor_r_mean"] < 0.5 and shuffled["identity_cos"] < same["identity_cos"] - 0.2
    lo, hi = shuffled["factor_r_mean_ci"]
    assert lo < shuffled["factor_r_mean"] < hi and hi < same["factor_r_mean"]
    videos = images.reshape(4, 6, 3, 32, 32)
    assert generator_alignment(videos, videos, probe)["trajectory_r_mean"] > 0.99


@pytest.mark.parametrize("style", ["toon", "sketch", "popart"])
def test_the_style_robust_probe_reads_pose_in_every_style(style):
    """The shipped style-robust probe reads head pose from 32² renderings of each art style (the photo-only probe
    does not: yaw r 0.44 on sketch and 0.13 on pop-art), which chapter 8's alignment numbers rely on."""
    probe = load_probe(styles=True)
    images = StyleImages(style, resolution=64, seed=11)
    x = torch.stack([images.render(i) for i in range(96)]).permute(0, 3, 1, 2)
    x = torch.nn.functional.interpolate(x.float(), size=32, mode="area").round().to(torch.uint8)
    pred = probe.predict_factors(x)
    for name in ("yaw", "roll", "tx"):
        truth = np.array([images.image_metadata(i)["factors"][name] for i in range(96)])
        assert np.corrcoef(truth, pred[name].numpy())[0, 1] > 0.8, name


def test_cli_finetune_export_and_generate_with_decoders(assets, tmp_path):
    """finetune-style → export-generator → generate --decoder with the committed StyleInV (and its G) as motion."""
    from styleinv_lib.loading import checkpoint_path

    run = tmp_path / "toon"
    parent = checkpoint_path("stylegan2_synthfaces32_v2_cpu.safetensors")
    images = tmp_path / "toon-images"
    export_style_images(images, style="toon", num_images=8, resolution=32, progress=False)
    assert cli_main(["finetune-style", "--generator", str(parent), "--images", str(images), "--out", str(run),
                     "--profile", "smoke", "--kimg", "0.008", "--device", "cpu", "--quiet"]) == 0
    assert cli_main(["export-generator", str(run), "--out", str(tmp_path / "toon.safetensors")]) == 0
    out = tmp_path / "videos"
    assert cli_main(["generate", "--motion", str(checkpoint_path("styleinv_synthfaces32_v2_cpu.safetensors")),
                     "--decoder", str(tmp_path / "toon.safetensors"), "--decoder", str(run), "--num-videos", "2",
                     "--frames", "8", "--out", str(out), "--device", "cpu"]) == 0
    meta = json.loads((out / "generate.json").read_text())
    assert meta["videos"] == ["video_0000.mp4", "video_0001.mp4", "video_0000_toon.mp4", "video_0001_toon.mp4",
                              "video_0000_toon-2.mp4", "video_0001_toon-2.mp4", "grid.mp4"]
    from safetensors.torch import load_file

    saved = load_file(str(out / "latents.safetensors"))
    assert saved["latents"].shape == (2, 8, 128) and saved["w0"].shape == (2, 128)


def test_cli_generate_from_initial_images(tmp_path):
    """Initial-frame conditioned generation (§4.2): one video per image, starting from its inversion."""
    from styleinv_lib.loading import checkpoint_path

    images = tmp_path / "faces"
    images.mkdir()
    for i in range(2):
        Image.fromarray(StyleImages("photo", resolution=64, seed=3).render(i).numpy()).save(images / f"{i}.png")
    out = tmp_path / "videos"
    assert cli_main(["generate", "--motion", str(checkpoint_path("styleinv_synthfaces32_v2_cpu.safetensors")),
                     "--init-images", str(images), "--frames", "4", "--out", str(out), "--device", "cpu"]) == 0
    meta = json.loads((out / "generate.json").read_text())
    assert meta["videos"] == ["video_0000.mp4", "video_0001.mp4", "grid.mp4"] and meta["init_images"] == str(images)
    (images / "tiny.png").write_bytes(b"broken")
    assert cli_main(["generate", "--motion", str(checkpoint_path("styleinv_synthfaces32_v2_cpu.safetensors")),
                     "--init-images", str(images), "--frames", "4", "--out", str(tmp_path / "v2"),
                     "--device", "cpu"]) == 2
    assert not (tmp_path / "v2").exists() and not list(tmp_path.glob(".v2.partial-*")), "nothing left behind"


def test_probe_batches_draw_the_requested_renderings():
    """The style-robust probe trains on every rendering with the same labels: a sketch-only batch is grey, a photo
    batch is not, and both carry the same identities and factor targets for a given step."""
    from styleinv_lib.train.probe import ProbeBatches, ProbeConfig

    def batch(styles):
        cfg = ProbeConfig(resolution=32, identities=8, ids_per_batch=2, frames_per_id=2, styles=styles,
                          lowres_fraction=0.0, noise_std=0.0)
        return ProbeBatches(cfg)(step=3)

    photo, sketch = batch("photo"), batch("sketch")
    chroma = lambda x: (x - x.mean(1, keepdim=True)).abs().mean().item()
    # tinted paper keeps a little colour: 0.23-0.32 of the photos' chroma over steps 3-5 in SynthFaces v1 and v2;
    # a sketch batch that drew photos would be near 1
    assert chroma(sketch[0]) < 0.45 * chroma(photo[0])
    assert torch.equal(photo[1], sketch[1]) and torch.equal(photo[2], sketch[2])
    mixed = batch("photo,toon,sketch,popart")
    assert mixed[0].shape == photo[0].shape and torch.equal(mixed[2], photo[2])


def test_two_process_gloo_fine_tuning(assets, tmp_path):
    """`finetune-style --gpus 2` relaunches with torchrun: two CPU ranks (gloo) share the batch, both RNG streams
    are saved, the frozen layers stay the parent's while the fine blocks train."""
    import os
    import subprocess
    import sys

    from styleinv_lib.checkpoint import RunDir, load_snapshot

    run = tmp_path / "ddp"
    cmd = [sys.executable, "-m", "styleinv_lib.cli", "finetune-style", "--generator", str(assets / "G.safetensors"),
           "--images", str(assets / "toon"), "--out", str(run), "--profile", "smoke", "--kimg", "0.008",
           "--device", "cpu", "--gpus", "2", "--quiet"]
    res = subprocess.run(cmd, capture_output=True, text=True, timeout=600, env={**os.environ, "OMP_NUM_THREADS": "1"})
    assert res.returncode == 0, res.stdout[-3000:] + res.stderr[-3000:]
    snap = load_snapshot(RunDir(run).latest(), expected_stage="style_transfer")
    assert snap.extra_json["loop"]["world_size"] == 2 and snap.step == 2 and sorted(snap.rng_ranks) == [0, 1]
    G, parent = snap.modules_state("G"), load_generator(assets / "G.safetensors").state_dict()
    assert torch.equal(G["synthesis.blocks.0.conv1.weight"], parent["synthesis.blocks.0.conv1.weight"])
    assert not torch.equal(G["synthesis.blocks.3.conv1.weight"], parent["synthesis.blocks.3.conv1.weight"])


def test_generate_checks_its_arguments_first_and_never_mixes_old_and_new_files(tmp_path, capsys):
    from styleinv_lib.loading import checkpoint_path

    motion = str(checkpoint_path("styleinv_synthfaces32_v2_cpu.safetensors"))
    for bad, what in ((["--chunk", "0"], "--chunk must be at least 1"), (["--fps", "0"], "--fps must be"),
                      (["--fps", "nan"], "--fps must be")):
        assert cli_main(["generate", "--motion", "missing.safetensors", "--out", str(tmp_path / "x"), *bad]) == 2
        assert what in capsys.readouterr().err, "checked before anything is loaded"
    out = tmp_path / "videos"
    out.mkdir()
    (out / "video_0000.mp4").write_bytes(b"an older video")
    (out / "notes.txt").write_text("keep me")
    args = ["generate", "--motion", motion, "--num-videos", "1", "--frames", "3", "--out", str(out), "--device", "cpu"]
    assert cli_main(args) == 2
    assert "not empty" in capsys.readouterr().err
    assert sorted(p.name for p in out.iterdir()) == ["notes.txt", "video_0000.mp4"]
    assert cli_main(args + ["--overwrite", "--chunk", "2"]) == 0      # replaced whole: no old file survives
    assert sorted(p.name for p in out.iterdir()) == ["generate.json", "grid.mp4", "latents.safetensors",
                                                     "video_0000.mp4"]
    assert (out / "video_0000.mp4").stat().st_size > 1000
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".videos.")], "no partial or old folder left"


