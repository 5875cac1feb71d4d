"""The sparse video discriminator (styleinv_lib.nn.video_disc): shapes and structure at our resolutions, the time
conditioning, the first-frame-aware check, gradients, and two short trainings on clips whose answer needs the frame
order (shuffled frames) or the time differences (frames paired with the δ of another clip).  Tiny widths (≤ 32
channels), one CPU thread, a few seconds."""
import math

import pytest
import torch
import torch.nn.functional as F

from styleinv_lib.nn.video_disc import SparseVideoDiscriminator, TimeDeltaEncoder, log_spaced_frequencies

T_CLIP = [[0.0, 3.0, 5.0, 9.0]]


def tiny_D(res=32, **kw):
    torch.manual_seed(kw.pop("seed", 0))
    kw = {"channel_base": 32 * res, "channel_max": 32, "time_emb_dim": 8, **kw}
    return SparseVideoDiscriminator(res, **kw)


def clips(b, res, seed=0):
    g = torch.Generator().manual_seed(seed)
    return torch.rand(b, 4, 3, res, res, generator=g) * 2 - 1


# ------------------------------------------------------------------------------------------------ structure


@pytest.mark.parametrize("res", [32, 64])
def test_output_shape(res):
    D = tiny_D(res)
    out = D(clips(6, res), torch.tensor(T_CLIP * 6))
    assert out.shape == (6, 1) and out.dtype == torch.float32 and torch.isfinite(out).all()


def test_default_concat_res_keeps_shared_and_joint_blocks():
    expected = {16: (8, [16], [8]), 32: (16, [32], [16, 8]), 64: (16, [64, 32], [16, 8]),
                128: (16, [128, 64, 32], [16, 8])}
    for res, (concat, shared, joint) in expected.items():
        D = SparseVideoDiscriminator(res, channel_base=8 * res, channel_max=8, time_emb_dim=0)
        assert (D.concat_res, D.shared_resolutions, D.joint_resolutions) == (concat, shared, joint)
    # StyleGAN-V's 256² layout (fmaps 0.5): 4 shared blocks, the last one halved, 4 frames × 256 maps at 16²
    D = SparseVideoDiscriminator(256, channel_base=16384, channel_max=512, time_emb_dim=0)
    assert D.shared_resolutions == [256, 128, 64, 32] and D.concat_res == 16
    assert D.blocks["32"].out_channels == 256 and D.blocks["16"].in_channels == 1024
    # explicit concat_res, and the ones that would leave no shared or no joint block
    assert tiny_D(64, concat_res=8).shared_resolutions == [64, 32, 16]
    for bad in (4, 32, 12):
        with pytest.raises(ValueError, match="concat_res"):
            tiny_D(32, concat_res=bad)


def test_time_encoder_features():
    freqs = log_spaced_frequencies(128)
    torch.testing.assert_close(freqs, math.pi * 2.0 ** torch.arange(7.0) / 128)  # StyleGAN-V: 7 for 128 frames
    enc = TimeDeltaEncoder(3, 128, const_dim=5)
    delta = torch.tensor([[1.0, 2.0, 300.0], [0.0, 0.4, 126.6]])
    out = enc(delta)
    assert out.shape == (2, 3 * (14 + 5)) == (2, enc.dim)
    # round(δ) clamped into the table; the Fourier part sees the real δ
    assert torch.equal(out[0, 38:43], enc.const_embed.weight[127]) and torch.equal(out[1, 19:24], out[1, :5])
    torch.testing.assert_close(out[0, 5:12], torch.sin(1.0 * freqs))


# ------------------------------------------------------------------------------------------------ conditioning


def test_time_differences_change_the_logits_at_init():
    D = tiny_D(32)
    x = clips(4, 32)
    a = D(x, torch.tensor(T_CLIP * 4))
    b = D(x, torch.tensor([[0.0, 1.0, 20.0, 21.0]] * 4))
    assert (a - b).abs().min() > 1e-4
    # t and the equivalent δ give the same logits
    torch.testing.assert_close(D(x, delta=torch.tensor([[3.0, 2.0, 4.0]] * 4)), a)


def test_first_frame_aware_check():
    x = clips(2, 32)
    D = tiny_D(32)
    with pytest.raises(ValueError, match=r"t\[:, 0\] == 0"):
        D(x, torch.tensor([[0.0, 2.0, 3.0, 4.0], [1.0, 2.0, 3.0, 4.0]]))
    D(x, torch.tensor([[0.0, 2.0, 3.0, 4.0]] * 2))
    # the ablation without FFA-D (StyleGAN-V's D) takes any t0, and only the differences matter to it
    D = tiny_D(32, first_frame_aware=False)
    torch.testing.assert_close(D(x, torch.tensor([[5.0, 7.0, 8.0, 9.0]] * 2)),
                               D(x, torch.tensor([[0.0, 2.0, 3.0, 4.0]] * 2)))
    with pytest.raises(ValueError, match="exactly one"):
        D(x)
    with pytest.raises(ValueError, match="frames must be"):
        D(x[:, :3], torch.zeros(2, 4))
    with pytest.raises(ValueError, match=r"t must be \(batch, 4\)"):
        D(x, torch.zeros(2, 3))


def test_one_backward_reaches_shared_blocks_time_embedding_and_projection():
    D = tiny_D(32)
    D(clips(4, 32), torch.tensor(T_CLIP * 4)).sum().backward()
    must = {
        "shared block": D.blocks["32"].fromrgb.weight,
        "shared block conv": D.blocks["32"].conv1.weight,
        "joint block": D.blocks["16"].conv0.weight,
        "time embedding (table)": D.time_encoder.const_embed.weight,
        "time embedding (mapping)": D.mapping.embed.weight,
        "mapping layer": D.mapping.layers[-1].weight,
        "projection head": D.b4.out.weight,
    }
    for name, p in must.items():
        assert p.grad is not None and p.grad.abs().sum() > 0, name
    assert all(p.grad is not None for p in D.parameters())


def test_config_rebuilds():
    D = tiny_D(32, concat_res=8, num_frames=3, first_frame_aware=False)
    twin = SparseVideoDiscriminator(**D.config)
    twin.load_state_dict(D.state_dict())
    x, t = clips(2, 32)[:, :3], torch.tensor([[2.0, 4.0, 9.0]] * 2)
    assert torch.equal(D(x, t), twin(x, t))


# ------------------------------------------------------------------------------------------------ training

RES, SPAN = 16, 32


def brightness_clip(t):
    """Frames whose grey level encodes their timestamp: (B, 4) → (B, 4, 3, RES, RES) in [-1, 1]."""
    g = t / SPAN * 2 - 1
    return g[:, :, None, None, None].expand(-1, -1, 3, RES, RES).contiguous()


def train(D, make_batch, steps=30, lr=5e-3):
    opt = torch.optim.Adam(D.parameters(), lr=lr, betas=(0.0, 0.99))
    for step in range(steps):
        real, t_real, fake, t_fake = make_batch(16, step)
        loss = F.softplus(-D(real, t_real)).mean() + F.softplus(D(fake, t_fake)).mean()
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
    with torch.no_grad():
        real, t_real, fake, t_fake = make_batch(128, 10_000)
        return ((D(real, t_real) > 0).float().mean() + (D(fake, t_fake) < 0).float().mean()).item() / 2


def test_learns_frame_order_in_30_steps():
    """Real: frames in temporal order; fake: the same frames with t_1..t_3's frames shuffled, same timestamps."""
    def batch(b, step):
        g = torch.Generator().manual_seed(step)
        t = torch.sort(torch.randint(1, SPAN, (b, 3), generator=g).float(), dim=1).values
        t = torch.cat([torch.zeros(b, 1), t], dim=1)
        frames = brightness_clip(t)
        shuffled = frames[:, [0, 3, 1, 2]]
        return frames, t, shuffled, t

    D = tiny_D(RES, channel_base=32 * RES, time_emb_dim=0, max_num_frames=SPAN)
    assert train(D, batch) > 0.85


def test_learns_to_use_the_time_differences_in_30_steps():
    """Real: a clip with its own δ; fake: the *same frames* with the δ of a clip of the other kind (short gaps of
    1-2 frames vs long gaps of 7-9).  Frames and δ have the same marginals in both classes, so a D that ignored δ
    (or the frames) would score exactly 50%: only the pairing tells real from fake."""
    def batch(b, step):
        g = torch.Generator().manual_seed(step)
        long = (torch.arange(b) % 2).bool()[:, None]
        gaps = torch.where(long, torch.randint(7, 10, (b, 3), generator=g), torch.randint(1, 3, (b, 3), generator=g))
        t = torch.cat([torch.zeros(b, 1), gaps.float().cumsum(1)], dim=1)
        frames = brightness_clip(t)
        return frames, t, frames, t.roll(1, dims=0)

    D = tiny_D(RES, channel_base=32 * RES, time_emb_dim=0, max_num_frames=SPAN)
    assert train(D, batch) > 0.9
