"""The motion code v_t (styleinv_lib.nn.motion): FFA-APE and APE.

Checked here: FFA-APE's v_0 is the same vector, bit for bit, for every noise sequence and APE's is not (paper §3.3,
Fig. 4, Fig. 10); v_t is Lipschitz-continuous in t, across anchors too; values do not depend on the batch, the order
or the other timestamps; cost does not depend on t (counted anchors, and loosely timed); same seed → same v;
gradients reach c0 and the convolutions; the learning-rate multiplier; and agreement with a whole-trajectory
implementation written the way the official codes compute it (masked kernel + symmetric padding for FFA-APE,
padding-less convolutions for APE).  Sizes are tiny (noise 16, v 32) so the file runs in seconds on one thread."""
import math

import pytest
import torch
import torch.nn.functional as F

from styleinv_lib.cost import count_flops
from styleinv_lib.nn.motion import MotionEncoder, SeededAnchorNoise, anchor_noise

KINDS = ("ffa_ape", "ape")
DELTA = 16


def make(kind, seed=0, **kw):
    torch.manual_seed(seed)
    kw = {"motion_dim": 32, "noise_dim": 16, "anchor_spacing": DELTA, **kw}
    return MotionEncoder(kind, **kw)


class CountingNoise:
    """Seeded noise that records every (video, anchor) it was asked for."""

    def __init__(self, seeds, dim):
        self.inner = SeededAnchorNoise(seeds, dim)
        self.requests: list[tuple[int, int]] = []

    def __call__(self, video, anchor):
        self.requests += list(zip(video.tolist(), anchor.tolist()))
        return self.inner(video, anchor)


# ------------------------------------------------------------------------------------------------ noise


def test_anchor_noise_is_standard_normal_and_a_pure_function():
    seeds = torch.arange(-500, 500)
    z = anchor_noise(seeds, torch.full_like(seeds, 3), 64)
    assert z.shape == (1000, 64) and z.dtype == torch.float32
    assert abs(z.mean().item()) < 0.02 and abs(z.std().item() - 1) < 0.02
    assert abs((z ** 4).mean().item() - 3) < 0.15                          # Gaussian kurtosis
    corr = torch.corrcoef(z[:, :16].T).fill_diagonal_(0).abs().max()
    assert corr < 0.15                                                      # coordinates independent
    # neighbouring anchors and neighbouring seeds are unrelated
    a = anchor_noise(torch.full((2000,), 7), torch.arange(2000), 8)
    assert torch.corrcoef(torch.stack([a[:-1].flatten(), a[1:].flatten()]))[0, 1].abs() < 0.05
    # pure: element i depends only on (seed_i, anchor_i)
    again = anchor_noise(torch.tensor([12, 2 ** 40 + 12]), torch.tensor([3, 3]), 64)
    assert torch.equal(again[0], z[512])
    assert not torch.allclose(again[0], again[1])                           # the high seed word counts
    odd = anchor_noise(torch.tensor([5]), torch.tensor([1]), 7)
    assert odd.shape == (1, 7) and torch.equal(odd[0], anchor_noise(torch.tensor([5]), torch.tensor([1]), 8)[0, :7])


# ------------------------------------------------------------------------------------------------ FFA invariance


def test_ffa_v0_is_bit_identical_for_every_noise_sequence_and_ape_v0_is_not():
    for kind in KINDS:
        m = make(kind)
        with torch.no_grad():
            one_by_one = [m([s], torch.zeros(1, 1))[0, 0] for s in range(10)]
            batched = m(torch.arange(10) * 7919, torch.zeros(10, 1))[:, 0]
            mixed = m(torch.arange(10) + 100, torch.tensor([[0.0, 37.5, 5.0]] * 10))[:, 0]   # other t in the call
        if kind == "ffa_ape":
            # bit for bit for calls of one shape (10 calls of one video each); rows of a batch and calls of other
            # shapes agree to float rounding only: a multi-threaded matmul treats the last rows of a block with
            # another code path (measured: 2e-8 with 2 threads), while APE's v_0 differ by > 1e-2
            assert all(torch.equal(v, one_by_one[0]) for v in one_by_one)
            for v in list(batched) + list(mixed):
                torch.testing.assert_close(v, one_by_one[0], rtol=0, atol=1e-6)
        else:
            dists = [torch.dist(one_by_one[0], v).item() for v in one_by_one[1:]]
            assert min(dists) > 1e-2
            assert torch.cdist(batched, batched).fill_diagonal_(1).min() > 1e-2
    # FFA-APE: v_0 = A u_0 with u_0 = convs(c0, zero padding): changing c0 (a constant) changes it
    m = make("ffa_ape")
    with torch.no_grad():
        v0 = m([1], torch.zeros(1, 1)).clone()
        m.c0.add_(1.0)
        assert not torch.allclose(v0, m([1], torch.zeros(1, 1)))


def test_ffa_frames_after_zero_vary_with_the_noise():
    m = make("ffa_ape")
    with torch.no_grad():
        v = m(torch.arange(6), torch.full((6, 1), 5.0))[:, 0]
    assert torch.cdist(v, v).fill_diagonal_(1).min() > 1e-3


# ------------------------------------------------------------------------------------------------ continuity


@pytest.mark.parametrize("kind", KINDS)
def test_v_is_lipschitz_in_t_across_anchors(kind):
    m = make(kind)
    eps = 0.01
    g = torch.Generator().manual_seed(1)
    anchors = torch.arange(0, 20 * DELTA + 1, DELTA, dtype=torch.float32)
    t = torch.cat([torch.rand(400, generator=g) * 20 * DELTA,                   # anywhere
                   anchors, (anchors - eps / 2).clamp(min=0), anchors + 0.3])   # at and across the anchors
    seeds = torch.arange(3)
    with torch.no_grad():
        v0 = m(seeds, t.expand(3, -1))
        v1 = m(seeds, (t + eps).expand(3, -1))
        step = (v1 - v0).norm(dim=-1)                                           # (3, N)
        # a constant for |dv/dt| inside any cell: |d PE/dt| <= 2|ω|, |PE_r - PE_l| <= 2 sqrt(F), plus the aligners
        k = torch.arange(0, 22)
        u = m.tokens(SeededAnchorNoise(seeds, m.noise_dim), torch.arange(3).repeat_interleave(22), k.repeat(3), count=2)
        aligner_jump = (m.aligners(u[:, 1]) - m.aligners(u[:, 0])).norm(dim=-1).max()
        lip = 2 * m.freqs.norm() + (2 * math.sqrt(m.motion_dim / 2) + aligner_jump) / DELTA
    assert torch.isfinite(v0).all()
    assert step.max() <= 1.02 * lip * eps + 1e-4, (step.max().item(), (lip * eps).item())
    # and the curve really moves (not trivially constant)
    assert step.mean() > 1e-3 * eps
    # no jump at an anchor: the two sides meet
    with torch.no_grad():
        left = m(seeds, (anchors[1:] - 1e-3).expand(3, -1))
        right = m(seeds, anchors[1:].expand(3, -1))
    assert (left - right).norm(dim=-1).max() <= lip * 2e-3 + 1e-4


# ------------------------------------------------------------------------------------------------ batching, order


@pytest.mark.parametrize("kind", KINDS)
def test_batched_unsorted_timestamps_match_one_at_a_time(kind):
    m = make(kind)
    g = torch.Generator().manual_seed(2)
    t = torch.rand(3, 7, generator=g) * 300                                   # unsorted, fractional
    t[0, 3], t[1, 0], t[2, 6] = 0.0, 5000.25, t[2, 1]                         # zero, far, a repeat
    seeds = torch.tensor([11, -4, 2 ** 35])
    with torch.no_grad():
        v = m(seeds, t)
        assert v.shape == (3, 7, 32)
        for b in range(3):
            for j in range(7):
                single = m(seeds[b: b + 1], t[b: b + 1, j: j + 1])[0, 0]
                # float32 phases ω·p·t: a last-bit difference in p (another GEMM kernel for another batch size)
                # grows with t, hence a tolerance that does too
                tol = 2e-5 + 5e-7 * t[b, j].item()
                torch.testing.assert_close(v[b, j], single, rtol=tol, atol=tol)
        # permuting the timestamps permutes the values
        perm = torch.randperm(7, generator=g)
        torch.testing.assert_close(m(seeds, t[:, perm]), v[:, perm], rtol=1e-5, atol=1e-5)
        # a video's values do not depend on the other videos of the batch
        torch.testing.assert_close(m(seeds[[2, 0]], t[[2, 0]]), v[[2, 0]], rtol=1e-5, atol=1e-5)
        assert torch.equal(v[2, 6], v[2, 1])


@pytest.mark.parametrize("kind", KINDS)
def test_same_seed_same_motion(kind):
    m = make(kind)
    t = torch.tensor([[0.0, 3.5, 40.0, 1000.0]])
    with torch.no_grad():
        a, b = m([123], t), m(torch.tensor([123]), t)
        other = m([124], t)
    assert torch.equal(a, b)
    assert not torch.allclose(a[0, 1:], other[0, 1:])


# ------------------------------------------------------------------------------------------------ cost


@pytest.mark.parametrize("kind", KINDS)
def test_cost_does_not_depend_on_t(kind):
    m = make(kind)
    counts = {}
    for t in (500.0, 5000.0, 123456.5):
        noise = CountingNoise([9], m.noise_dim)
        with torch.no_grad():
            m(noise, torch.tensor([[t]]))
        counts[t] = noise.requests
        anchors = [a for _, a in noise.requests]
        assert len(anchors) == len(set(anchors))                            # each anchor generated once
        assert max(anchors) <= t / DELTA + 1 + (m.kernel_size - 1) * m.num_layers
    sizes = {len(r) for r in counts.values()}
    window = 2 + m.num_layers * (m.kernel_size // 2 if kind == "ffa_ape" else m.kernel_size - 1)
    assert sizes == {window}                                                # 12 (FFA-APE) / 22 (APE) at K = 11
    # a batch whose timestamps share anchors generates them once
    noise = CountingNoise([9, 9], m.noise_dim)
    with torch.no_grad():
        m(noise, torch.tensor([[5000.0, 5001.0, 5003.5], [5002.0, 5004.0, 5007.0]]))
    assert len(noise.requests) == 2 * window
    # and in arithmetic: a frame at t = 5000 costs exactly the operations of a frame at t = 50 (counted, not timed:
    # a count does not change when the machine is busy)
    big = MotionEncoder(kind, motion_dim=512, noise_dim=512, anchor_spacing=DELTA)
    seeds = torch.arange(8)
    with torch.no_grad():
        flops = {t: count_flops(lambda t=t: big(seeds, torch.full((8, 4), t) + torch.arange(4.0)))[1]
                 for t in (50.0, 5000.0, 123456.5)}
    assert flops[50.0] > 0 and flops[50.0] == flops[5000.0] == flops[123456.5], flops


# ------------------------------------------------------------------------------------------------ training


def test_gradients_reach_c0_and_the_convolutions():
    for kind in KINDS:
        m = make(kind)
        v = m(torch.arange(4), torch.tensor([[0.0, 3.0, 17.5, 40.0]] * 4))
        v.square().sum().backward()
        for name, p in m.named_parameters():
            assert p.grad is not None and p.grad.abs().sum() > 0, (kind, name)
        assert (m.c0 is not None) == (kind == "ffa_ape")
    # v_0 alone, in FFA-APE, is a function of c0 and the convolutions only
    m = make("ffa_ape")
    m([3], torch.zeros(1, 1)).sum().backward()
    assert m.c0.grad.abs().sum() > 0 and all(c.weight.grad.abs().sum() > 0 for c in m.convs)


def test_learning_rate_multiplier():
    slow, fast = make("ffa_ape", lr_multiplier=0.01), make("ffa_ape", lr_multiplier=1.0)
    for m, lr_mul in ((slow, 0.01), (fast, 1.0)):
        conv = m.convs[0]
        fan_in = conv.weight.shape[1] * conv.weight.shape[2]
        assert conv.weight_gain == pytest.approx(lr_mul / math.sqrt(fan_in)) and conv.bias_gain == lr_mul
        assert conv.weight.std().item() == pytest.approx(1 / lr_mul, rel=0.1)   # stored as N(0, 1/lr_mul²)
        assert (conv.weight * conv.weight_gain).std().item() == pytest.approx(1 / math.sqrt(fan_in), rel=0.1)
    # under Adam one step moves the *effective* weights lr_mul times as far
    moves = []
    for m in (slow, fast):
        conv = m.convs[0]
        before = (conv.weight * conv.weight_gain).detach().clone()
        opt = torch.optim.Adam(conv.parameters(), lr=1e-2)
        m(torch.arange(2), torch.tensor([[1.0, 20.0]] * 2)).square().sum().backward()
        opt.step()
        moves.append(((conv.weight * conv.weight_gain).detach() - before).abs().mean().item())
    assert moves[0] / moves[1] == pytest.approx(0.01, rel=0.2)


def test_fp32_inside_autocast():
    m = make("ffa_ape")
    t = torch.tensor([[0.0, 7.5, 5000.25]])
    with torch.no_grad():
        want = m([3], t)
        with torch.autocast("cpu", dtype=torch.bfloat16):
            got = m([3], t)
    assert got.dtype == torch.float32
    torch.testing.assert_close(got, want, rtol=0, atol=0)


# ------------------------------------------------------------------------------------------------ reference


def reference(m: MotionEncoder, seed: int, t: torch.Tensor) -> torch.Tensor:
    """v for one video at timestamps t (T,), computed the official way: draw the whole noise trajectory up to
    max(t), run the convolutions over all of it (FFA-APE: full K-tap kernel with its right half zeroed and
    symmetric zero padding K//2; APE: no padding and 2(K-1) extra codes), then interpolate."""
    k = m.kernel_size
    n_anchors = int(t.max() // m.anchor_spacing) + 2
    extra = 0 if m.kind == "ffa_ape" else m.num_layers * (k - 1)
    z = anchor_noise(torch.full((n_anchors + extra,), seed), torch.arange(n_anchors + extra), m.noise_dim)
    if m.kind == "ffa_ape":
        z[0] = m.c0
    h = z.T[None]
    for conv in m.convs:
        w = conv.weight * conv.weight_gain
        if m.kind == "ffa_ape":
            full = torch.zeros(w.shape[0], w.shape[1], k)
            full[:, :, : k // 2 + 1] = w                                       # live taps: offsets -K//2 … 0
            h = F.leaky_relu(F.conv1d(h, full, conv.bias * conv.bias_gain, padding=k // 2), 0.2)
        else:
            h = F.leaky_relu(F.conv1d(h, w, conv.bias * conv.bias_gain), 0.2)
    u = h[0].T                                                                   # (n_anchors, token_dim)
    left = torch.floor(t / m.anchor_spacing).long()
    t_l = t - t % m.anchor_spacing
    a = ((t % m.anchor_spacing) / m.anchor_spacing)[:, None]
    u_l, u_r = u[left], u[left + 1]
    pe = lambda tau: m.positional(tau, u_l)                                      # noqa: E731
    return pe(t) - (pe(t_l) * (1 - a) + pe(t_l + m.anchor_spacing) * a) \
        + m.aligners(u_l) * (1 - a) + m.aligners(u_r) * a


@pytest.mark.parametrize("kind", KINDS)
def test_matches_the_whole_trajectory_computation(kind):
    m = make(kind, kernel_size=5, num_layers=2)
    t = torch.tensor([0.0, 0.5, 15.99, 16.0, 31.0, 47.3, 100.0, 200.5])
    with torch.no_grad():
        got = m([77], t[None])[0]
        want = reference(m, 77, t)
    torch.testing.assert_close(got, want, rtol=1e-4, atol=1e-4)


# ------------------------------------------------------------------------------------------------ API


def test_config_rebuilds_and_validation():
    m = make("ape", kernel_size=3, num_layers=3, token_dim=8, max_period=1024)
    twin = MotionEncoder(**m.config)
    twin.load_state_dict(m.state_dict())
    t = torch.tensor([[0.0, 9.0, 70.0]])
    with torch.no_grad():
        assert torch.equal(m([5], t), twin([5], t))
    with pytest.raises(ValueError, match="kind"):
        MotionEncoder("lstm")
    with pytest.raises(ValueError, match="even"):
        MotionEncoder(motion_dim=33)
    with pytest.raises(ValueError, match="odd"):
        MotionEncoder(kernel_size=4)
    with pytest.raises(ValueError, match=">= 0"):
        m([1], torch.tensor([[-1.0]]))
    with pytest.raises(ValueError, match="seeds"):
        m([1, 2], torch.zeros(3, 1))
    with pytest.raises(ValueError, match=r"\(batch, num_timestamps\)"):
        m([1], torch.zeros(3))
    bad = lambda video, anchor: torch.zeros(video.shape[0], 3)                 # noqa: E731
    with pytest.raises(ValueError, match="noise callable"):
        m(bad, torch.zeros(1, 1))
