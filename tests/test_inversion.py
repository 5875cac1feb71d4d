"""Inversion by encoder / optimisation / hybrid (inversion.py), the encoder's loader and exporter, and the CLI."""
import json

import pytest
import torch

from styleinv_lib.cli import main
from styleinv_lib.data import export_synthfaces
from styleinv_lib.inversion import invert, psnr, reconstruction_summary
from styleinv_lib.loading import export_encoder, load_encoder
from styleinv_lib.nn.encoder import InversionEncoder
from test_encoder import tiny_generator  # the same untrained smoke-sized G
from styleinv_lib.checkpoint import CheckpointError, save_snapshot
from styleinv_lib.train.inversion import config_for_profile, train_encoder



@pytest.fixture(autouse=True, scope="module")
def _one_thread():
    """One intra-op thread: these tiny networks gain nothing from more, and on a shared 2-core machine a second
    thread only adds contention.  The previous setting is restored afterwards."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="module")
def G():
    """An untrained smoke-sized generator (32², w_dim 64) with w̄ set to the mean of 256 mapped z."""
    return tiny_generator()


@pytest.fixture(scope="module")
def samples(G):
    """Four images of G with their true w (the inversion target and its ground truth)."""
    torch.manual_seed(1)
    w = G.mapping(torch.randn(4, G.z_dim))[:, 0]
    return G.synthesis(w, noise_mode="const"), w


@pytest.fixture(scope="module")
def run(G, tmp_path_factory):
    """A 2-step smoke encoder run on a tiny SynthFaces folder, and the paths it used."""
    root = tmp_path_factory.mktemp("inv")
    export_synthfaces(root / "faces", num_videos=3, num_frames=4, resolution=32, seed=0, progress=False)
    gpath = save_snapshot(root / "G.safetensors", stage="stylegan2", config={"generator": G.config},
                          modules={"G_ema": G})
    cfg = config_for_profile("smoke", data=str(root / "faces"), generator=str(gpath), total_kimg=0.008)
    result = train_encoder(cfg, root / "run", progress=False, tensorboard=False)
    return root, gpath, result


def test_psnr_and_summary():
    a = torch.zeros(2, 3, 8, 8)
    assert torch.allclose(psnr(a, a + 0.1), torch.full((2,), 26.0206), atol=1e-3)   # 10 log10(4 / 0.01)
    assert torch.all(psnr(a, a) > 100)
    s = reconstruction_summary(a, a + 0.1)
    assert s["psnr"] == pytest.approx(26.0206, abs=1e-3) and s["mse"] == pytest.approx(0.01)


def test_optimisation_lowers_the_loss_and_recovers_w(G, samples):
    x, w_true = samples
    r = invert(x, G, method="optimise", steps=40, lr=0.05)
    h = r.loss_history.mean(dim=1)
    assert r.loss_history.shape == (41, 4) and r.w.shape == (4, 64) and r.images.shape == x.shape
    assert h[-1] < 0.5 * h[0], "the reconstruction loss falls"
    assert h[-10:].mean() < h[:10].mean(), "and keeps falling on average over the steps"
    err = (r.w - w_true).square().mean()
    assert err < (G.w_avg - w_true).square().mean(), "the optimised w is nearer the truth than w̄"
    assert psnr(r.images, x).mean() > psnr(G.synthesis(G.w_avg.expand(4, -1), noise_mode="const"), x).mean()
    assert not any(p.requires_grad for p in G.parameters()) and not G.training, "G is left as it was"


def test_images_are_inverted_independently(G, samples):
    x, _ = samples
    both = invert(x[:2], G, method="optimise", steps=5, lpips_weight=0)
    one = invert(x[1:2], G, method="optimise", steps=5, lpips_weight=0)
    assert torch.allclose(both.w[1], one.w[0], atol=1e-5)


def test_encoder_and_hybrid_start_from_the_encoder(G, samples):
    x, _ = samples
    E = InversionEncoder.for_generator(G, channel_base=256, channel_max=16)
    enc = invert(x, G, E, method="encoder")
    assert enc.steps == 0 and torch.allclose(enc.w, E.eval()(x))
    hyb = invert(x, G, E, method="hybrid", steps=8, return_history=True)
    assert torch.allclose(hyb.loss_history[0], enc.loss_history[0], atol=1e-5), "hybrid starts at E's loss"
    assert hyb.loss_history[-1].mean() < hyb.loss_history[0].mean()
    assert hyb.w_history.shape == (9, 4, 64) and torch.allclose(hyb.w_history[0], enc.w)
    assert E.training is False and hyb.seconds_per_image > 0


def test_noise_optimisation(G, samples):
    x, _ = samples
    r = invert(x, G, method="optimise", steps=6, noise=True)
    assert r.noise and all(n.shape[:2] == (4, 1) for n in r.noise)
    assert torch.allclose(r.noise[0].std(dim=(1, 2, 3), unbiased=False), torch.ones(4), atol=1e-3)
    assert r.loss_history[-1].mean() < r.loss_history[0].mean()
    assert G.synthesis.blocks[0].conv1.noise_const.ndim == 2, "G's own noise buffers are untouched"


def test_invert_refuses_bad_requests(G, samples):
    x, _ = samples
    E = InversionEncoder.for_generator(G, channel_base=256, channel_max=16)
    with pytest.raises(ValueError, match="unknown inversion method"):
        invert(x, G, E, method="magic")
    with pytest.raises(ValueError, match="needs an encoder"):
        invert(x, G, method="hybrid")
    with pytest.raises(ValueError, match="takes no optimisation steps"):
        invert(x, G, E, method="encoder", steps=3)
    with pytest.raises(ValueError, match="makes 32×32 images"):
        invert(torch.zeros(1, 3, 64, 64), G, method="optimise", steps=1)


def test_load_and_export_round_trip(run, tmp_path):
    root, gpath, result = run
    E = load_encoder(root / "run")
    x = torch.rand(2, 3, 32, 32) * 2 - 1
    # the stage may hold E in channels_last (bf16 on a CPU with AMX): compare in one memory format, same kernels
    stage_E = result.stage.E.eval().to(memory_format=torch.contiguous_format)
    assert all(torch.equal(a, b) for a, b in zip(E.state_dict().values(), stage_E.state_dict().values()))
    assert torch.equal(E(x), stage_E(x))
    assert E.info["generator"] == str(gpath) and E.info["generator_config"]["w_dim"] == 64
    out = export_encoder(root / "run", tmp_path / "E.safetensors")
    assert out.stat().st_size < 200_000
    E2 = load_encoder(out)
    assert torch.equal(E2(x), E(x)) and torch.equal(E2.w_avg, result.stage.G.w_avg)
    with pytest.raises(CheckpointError, match="expected 64x64"):
        load_encoder(out, resolution=64)
    with pytest.raises(CheckpointError, match="stylegan2"):
        load_encoder(gpath)


def test_cli_train_encoder_and_invert(run, tmp_path, capsys):
    root, gpath, _ = run
    base = ["train-encoder", "--generator", str(gpath), "--out", str(tmp_path / "e"), "--profile", "smoke",
            "--kimg", "0.004", "--quiet"]
    assert main(base + ["--data", str(tmp_path / "missing")]) == 2
    assert "missing: data folder not found" in capsys.readouterr().err
    assert main(base + ["--data", str(root / "faces")]) == 0
    assert "held-out evaluation" in capsys.readouterr().out
    out = tmp_path / "inv"
    assert main(["invert", "--generator", str(gpath), "--encoder", str(tmp_path / "e"), "--data",
                 str(root / "faces"), "--num", "3", "--method", "hybrid", "--steps", "2", "--out", str(out)]) == 0
    summary = json.loads((out / "summary.json").read_text())
    assert summary["images"] == 3 and summary["psnr"] > 0 and (out / "pairs.png").exists()
    assert torch.load(out / "latents.pt")["w"].shape == (3, 64)
