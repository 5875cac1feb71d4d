"""The inversion encoder of Eq. 1 (nn/encoder.py) and its training stage (train/inversion.py) on tiny inputs:
starts at w̄, block hooks for StyleInV's AdaIN, input checks, loss goes down, bit-exact resume, held-out split."""
from dataclasses import replace

import pytest
import torch

from styleinv_lib.data import export_synthfaces
from styleinv_lib.nn.encoder import InversionEncoder
from styleinv_lib.nn.stylegan2 import Generator
from styleinv_lib.checkpoint import RunDir, load_snapshot, save_snapshot
from styleinv_lib.train.inversion import InversionStage, config_for_profile, heldout_split, train_encoder



@pytest.fixture(autouse=True, scope="module")
def _one_thread():
    """One intra-op thread: these tiny networks gain nothing from more, and on a shared 2-core machine a second
    thread only adds contention.  The previous setting is restored afterwards."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)
TINY = dict(channel_base=256, channel_max=16)


def tiny_generator(seed: int = 0) -> Generator:
    """An untrained smoke-sized G (32², w_dim 64) whose w̄ is the mean of 256 mapped z."""
    torch.manual_seed(seed)
    G = Generator(z_dim=64, w_dim=64, img_resolution=32, mapping_kwargs=dict(num_layers=2),
                  synthesis_kwargs=dict(channel_base=512, channel_max=32))
    with torch.no_grad():
        G.mapping.w_avg.copy_(G.mapping(torch.randn(256, 64))[:, 0].mean(0))
    return G.eval().requires_grad_(False)


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    root = tmp_path_factory.mktemp("enc")
    export_synthfaces(root / "faces", num_videos=5, num_frames=6, resolution=32, seed=0, progress=False)
    G = tiny_generator()
    gpath = save_snapshot(root / "G.safetensors", stage="stylegan2", config={"generator": G.config},
                          modules={"G_ema": G})
    return root / "faces", gpath, G


def smoke_cfg(setup, **kw):
    faces, gpath, _ = setup
    return config_for_profile("smoke", **{"data": str(faces), "generator": str(gpath), "heldout_fraction": 0.2,
                                          **kw})


# -- the network ---------------------------------------------------------------------------------------------------

def test_shape_and_untrained_output_is_w_avg():
    w_avg = torch.randn(64)
    E = InversionEncoder(32, 64, blocks_per_stage=2, w_avg=w_avg, **TINY)
    assert E.block_resolutions == [16, 16, 8, 8, 4, 4] and len(E.blocks) == 6
    assert E.block_channels == [16] * 6
    x = torch.rand(3, 3, 32, 32) * 2 - 1
    for mode in (E.train, E.eval):
        mode()
        w = E(x)
        assert w.shape == (3, 64) and w.dtype == torch.float32
        assert (w - w_avg).abs().max() < 0.05 * w_avg.abs().max(), "an untrained encoder starts at w̄ (Eq. 1)"
    assert E(x).std(dim=0).max() > 0, "the output still depends on the image"
    E2 = InversionEncoder(**E.config)
    E2.load_state_dict(E.state_dict())
    E2.eval()
    assert torch.equal(E2(x), E(x)), "config + state dict rebuild the encoder (w̄ included)"


def test_block_hook_called_once_per_block_and_identity_changes_nothing():
    E = InversionEncoder(32, 64, blocks_per_stage=2, **TINY).eval()
    x = torch.rand(2, 3, 32, 32) * 2 - 1
    calls = []

    def hook(i, h):
        calls.append((i, tuple(h.shape)))
        return h

    assert torch.equal(E(x, block_hook=hook), E(x))
    expected = [(i, (2, c, r, r)) for i, (c, r) in enumerate(zip(E.block_channels, E.block_resolutions))]
    assert calls == expected
    assert E.features(x).shape == (2, E.feature_dim)
    doubled = E(x, block_hook=lambda i, h: h * 2 if i == 1 else h)
    assert not torch.allclose(doubled, E(x)), "a modulating hook (StyleInV's AdaIN) reaches the output"


def test_bad_inputs_raise_clear_errors():
    E = InversionEncoder(32, 64, **TINY)
    with pytest.raises(ValueError, match="B×3×32×32"):
        E(torch.zeros(2, 1, 32, 32))
    with pytest.raises(ValueError, match="built for 32×32"):
        E(torch.zeros(2, 3, 64, 64))
    with pytest.raises(ValueError, match="float images"):
        E(torch.zeros(2, 3, 32, 32, dtype=torch.uint8))
    with pytest.raises(ValueError, match="power of two"):
        InversionEncoder(48, 64)


# -- the training stage --------------------------------------------------------------------------------------------

def test_training_reduces_the_loss_on_a_fixed_batch(setup):
    stage = InversionStage(smoke_cfg(setup))
    assert not any(p.requires_grad for p in stage.G.parameters()), "G is frozen"
    batch = stage.make_batch(0)
    assert batch["real"].shape == (2, 3, 32, 32) and batch["fake"].shape == (2, 3, 32, 32)
    first = stage.optimise(batch)
    assert set(first) == {"Loss/l2", "Loss/lpips", "Loss/latent", "Loss/reg", "Loss/total"}
    for _ in range(12):
        last = stage.optimise(batch)
    assert last["Loss/total"] < 0.85 * first["Loss/total"]
    assert last["Loss/l2"] < first["Loss/l2"]


def test_resume_is_bit_exact(setup, tmp_path):
    cfg = smoke_cfg(setup)                          # 4 steps of batch 4
    train_encoder(cfg, tmp_path / "straight", progress=False, tensorboard=False)
    train_encoder(replace(cfg, total_kimg=0.008), tmp_path / "split", progress=False, tensorboard=False)
    with pytest.warns(UserWarning, match="total_kimg"):
        train_encoder(cfg, tmp_path / "split", resume="auto", progress=False, tensorboard=False)
    a = load_snapshot(RunDir(tmp_path / "straight").latest(), expected_stage="encoder")
    b = load_snapshot(RunDir(tmp_path / "split").latest(), expected_stage="encoder")
    assert a.step == b.step == 4
    sa, sb = a.modules_state("E"), b.modules_state("E")
    assert sa.keys() == sb.keys()
    for k in sa:
        assert torch.equal(sa[k], sb[k]), f"{k} differs after resume"
    oa, ob = a.optimizer_state("E"), b.optimizer_state("E")
    for p in oa["state"]:
        for k in oa["state"][p]:
            assert torch.equal(torch.as_tensor(oa["state"][p][k]), torch.as_tensor(ob["state"][p][k]))
    metrics = (tmp_path / "straight" / "metrics.jsonl").read_text().splitlines()
    assert len(metrics) == 1 and "heldout_psnr" in metrics[0] and "gsample_latent_mse" in metrics[0]
    assert list((tmp_path / "straight" / "samples").glob("kimg*.png"))
    assert a.config["generator"] == cfg.generator and a.config["generator_config"]["w_dim"] == 64


def test_heldout_videos_are_never_trained_on(setup):
    assert heldout_split(10, 0.1) == 9 and heldout_split(5, 0.2) == 4 and heldout_split(3, 0.0) == 3
    stage = InversionStage(smoke_cfg(setup))
    assert list(stage.heldout_videos) == [4]
    seen = {int(i) for s in range(40) for i in stage.stream.batch(s)}   # 80 draws over 24 training frames
    assert seen == set(range(stage.num_train_frames)), "every training frame is used, nothing else"
    assert {stage.data[i]["video"] for i in seen} == {0, 1, 2, 3}
    assert {stage.data[int(i)]["video"] for i in stage.eval_index} == {4}, "evaluation reads held-out frames"


def test_identity_loss_needs_the_probe_file(setup, tmp_path):
    with pytest.raises(FileNotFoundError, match="missing.safetensors: SynthFaces probe not found"):
        InversionStage(smoke_cfg(setup, id_weight=0.1, probe=str(tmp_path / "missing.safetensors")))
    from styleinv_lib.metrics.probe import EXPORT_STAGE, SynthFacesProbe

    probe = SynthFacesProbe(width=8, embed_dim=16)
    path = save_snapshot(tmp_path / "probe.safetensors", stage=EXPORT_STAGE, config={"model": probe.config},
                         modules={"probe": probe})
    stage = InversionStage(smoke_cfg(setup, id_weight=0.1, probe=str(path)))
    logs = stage.optimise(stage.make_batch(0))
    assert 0 <= logs["Loss/id"] <= 2
    assert "heldout_id_cos" in stage.evaluate()


def test_factor_loss_pulls_the_reconstructions_motion_toward_the_input(setup, tmp_path):
    """factor_weight > 0 (the probe's motion factors of x̂ against x): the term is logged, weighted into the total,
    differentiable in E only through x̂, and goes down when E is trained on it alone; the held-out report says how
    well the reconstructions follow the input's factors."""
    from styleinv_lib.metrics.probe import EXPORT_STAGE, SynthFacesProbe
    from styleinv_lib.train.inversion import factor_correlation

    torch.manual_seed(0)
    probe = SynthFacesProbe(width=8, embed_dim=16)
    path = save_snapshot(tmp_path / "probe.safetensors", stage=EXPORT_STAGE, config={"model": probe.config},
                         modules={"probe": probe})
    only = dict(l2_weight=0.0, lpips_weight=0.0, latent_weight=0.0, reg_weight=0.0, id_weight=0.0)
    stage = InversionStage(smoke_cfg(setup, factor_weight=1.0, probe=str(path), lr=1e-2, **only))
    batch = stage.make_batch(0)
    first = stage.optimise(batch)
    assert "Loss/factors" in first and "Loss/id" not in first
    assert first["Loss/total"] == pytest.approx(first["Loss/factors"], rel=1e-6)
    for _ in range(15):
        last = stage.optimise(batch)
    assert last["Loss/factors"] < 0.8 * first["Loss/factors"], (first, last)
    assert not any(p.requires_grad for p in stage.probe.parameters()), "the probe stays frozen"
    report = stage.evaluate()
    assert -1 <= report["heldout_factor_r"] <= 1 and -1 <= report["heldout_yaw_r"] <= 1
    # the correlation helper: perfect, anti and constant columns
    a = torch.tensor([[0.0, 1.0, 5.0], [1.0, 0.0, 5.0], [2.0, -1.0, 5.0]])
    assert torch.allclose(factor_correlation(a, a[:, [0, 0, 0]]), torch.tensor([1.0, -1.0, 0.0]))


def test_data_smaller_than_the_generator_is_refused(setup, tmp_path):
    export_synthfaces(tmp_path / "small", num_videos=2, num_frames=2, resolution=16, seed=0, progress=False)
    with pytest.raises(ValueError, match=r"000000: frames are 16×16, smaller than the generator's 32×32"):
        InversionStage(smoke_cfg(setup, data=str(tmp_path / "small")))
    with pytest.raises(FileNotFoundError, match="nope.safetensors: generator checkpoint not found"):
        InversionStage(smoke_cfg(setup, generator=str(tmp_path / "nope.safetensors")))
