"""The motion code v_t of StyleInV: acyclic positional encoding (APE, StyleGAN-V) and its first-frame-aware variant
(FFA-APE, StyleInV §3.3, Fig. 4).  One module, :class:`MotionEncoder`, for both; ``kind`` picks the variant.

How v_t is made (both kinds)
----------------------------
* **Anchors.**  A video owns one noise vector ``z_k ~ N(0, I)`` (``noise_dim``) per anchor point ``t_k = k·Δ``,
  k = 0, 1, 2, ... (Δ = ``anchor_spacing``: 16 frames for faces, 128 for sky timelapses in the official configs).
* **Tokens.**  A stack of ``num_layers`` 1-D convolutions over the anchor axis (kernel ``kernel_size`` = 11,
  leaky ReLU 0.2 *without* the √2 gain, equalised learning rate with ``lr_multiplier`` 0.01) maps the noise
  sequence to tokens ``u_k`` (``token_dim``).
* **Interpolation with an aligned Fourier encoding.**  For a real t ≥ 0 with anchors ``t_l = ⌊t/Δ⌋·Δ`` and
  ``t_r = t_l + Δ``, ``α = (t − t_l)/Δ``::

      PE(τ)   = [sin φ(τ), cos φ(τ)],   φ(τ) = ω ⊙ p · τ + ψ ⊙ s        (p = tanh(P u_l) + 1 ∈ (0, 2), ψ = Φ u_l)
      v_t     = PE(t) − lerp(PE(t_l), PE(t_r), α) + lerp(A u_l, A u_r, α)

  ``ω``: ``motion_dim / 2`` fixed frequencies whose periods are log-spaced between ``min_period`` (default Δ) and
  ``max_period`` (StyleInV: the clip length, 128; StyleGAN-V: 1024); ``s = max_period·ω/2π`` scales the phases;
  ``P``, ``Φ`` and the "aligner" ``A`` are bias-free equalised-lr linear layers (no bias: StyleGAN-V's guard
  against motion collapse).  At t = t_l the first two terms cancel and v = A u_l; at t → t_r, v → A u_r; so v_t is
  continuous in t everywhere (Lipschitz, with a kink at the anchors) and defined for any real t ≥ 0.

The two kinds
-------------
``"ape"`` (StyleGAN-V, the paper's ablation "w/o FFA-APE"): noise at *every* anchor, padding-less ("valid")
convolutions with full, non-causal kernels: token ``u_k`` reads noises ``z_k … z_{k + L(K−1)}`` (StyleGAN-V's
indexing: it draws ``L(K−1)`` extra codes at the end).  Hence v_0 = A u_0 depends on random noise: the first frame
of a video changes with the motion noise (the paper's Fig. 10).

``"ffa_ape"`` (StyleInV): the first anchor's noise is a learned constant ``c0`` (``self.c0``), and the convolutions
are *causal* ("left-sided"): the right half of each kernel is masked away (K = 11 keeps the 6 taps at offsets
−5 … 0) and every layer's input is padded with zeros on the left.  Token ``u_k`` reads ``z_{k − L·r} … z_k``
(r = K // 2), and positions < 0 are zeros.  **Invariance:** ``v_0 = A u_0`` and ``u_0`` depends only on ``c0`` and
the zero padding, so v_0 is the same vector, bit for bit, for every noise sequence; in APE it varies.

Noise without a trajectory: lazy, seeded anchors
------------------------------------------------
The official codes draw a whole ``[batch, max_traj_len, z_dim]`` noise trajectory up to ``max(t)`` for every call,
so a frame at t = 5000 costs 300+ anchors.  Here a video is a 64-bit **seed**, and the noise of anchor k is a pure
function of (seed, k): a counter-based hash (:func:`anchor_noise`; a 2×32-bit key per (seed, k), a per-coordinate
stream, then Box–Muller) evaluated only at the anchors inside the receptive field of the two tokens around each t
(``2 + L·(K−1)`` anchors at most: 12 for FFA-APE, 22 for APE at K = 11).  The cost of v_t therefore does not depend
on t or on the video's length, and the value for one timestamp does not depend on the other timestamps in the
batch (windows are de-duplicated per video, never merged).  Any other source of noise (stored trajectories, a
test's counter) can be passed instead of seeds: a callable ``noise(video, anchor) -> (N, noise_dim)``.

Sources followed (facts only; no code copied):
``johannwyh/StyleInV`` ``training/styleinv/motion.py`` (``MotionMappingNetwork``: ``frame_0_const``, the
``conv`` / ``abl_no_ffa`` strategies, ``AlignedTimeEncoder``), ``training/networks_sgv.py`` (``EqLRConv1d`` with
``mask_right``: weight ``randn / lr_mul``, gain ``lr_mul / sqrt(in · K)``, leaky ReLU without gain, taps with index
≥ (K + 1)//2 zeroed under padding K//2) and ``configs/ffs.yaml`` / ``configs/sky.yaml`` (z 512, tokens 512,
``time_enc.dim`` 256 → v 512, Δ = 16 / 128, K = 11, periods from Δ to the 128-frame clip);
``universome/stylegan-v`` ``src/training/motion.py`` (the padding-less two-layer conv, ``num_additional_codes =
2(K − 1)``, the same aligned time encoder, ``construct_linspaced_frequencies``) and ``configs/model/stylegan-v.yaml``.

Deviations, deliberate: (1) the FFA convolutions store only the live (r + 1) taps and use the equalised-lr gain of
that true fan-in, ``lr_mul / sqrt(in · (r + 1))``; the official layer stores K taps, zeroes the right half and keeps
the gain of all K, which starts the tokens √(K/(r+1)) ≈ 1.35× smaller (a constant the next layers absorb).
(2) Noise comes from seeds through a hash rather than ``torch.randn`` over a trajectory (see above).
"""
from __future__ import annotations

import math
from typing import Callable, Sequence

import torch
import torch.nn.functional as F
from torch import nn

from .layers import EqualLinear, fp32_region, leaky_relu_gain

Tensor = torch.Tensor
#: ``noise(video, anchor) -> Tensor (N, noise_dim)``: ``video`` (N,) indexes the batch row, ``anchor`` (N,) ≥ 0.
AnchorNoiseFn = Callable[[Tensor, Tensor], Tensor]

__all__ = ["MotionEncoder", "EqualConv1d", "SeededAnchorNoise", "anchor_noise", "KINDS"]

KINDS = ("ffa_ape", "ape")

# ----------------------------------------------------------------------------------------------------------------
# Counter-based Gaussian noise: z = f(seed, anchor, coordinate), no state, any device, any order
# ----------------------------------------------------------------------------------------------------------------

_M32 = 0xFFFFFFFF


def _mul32(x: Tensor, c: int) -> Tensor:
    """``(x · c) mod 2³²`` for int64 ``x`` in [0, 2³²) without int64 overflow (16-bit limbs)."""
    lo = (x & 0xFFFF) * c                                   # < 2⁴⁸
    hi = ((x >> 16) * (c & 0xFFFF)) & 0xFFFF                # the only bits of x_hi·c that survive mod 2³² after <<16
    return (lo + (hi << 16)) & _M32


def _mix32(x: Tensor) -> Tensor:
    """A 32-bit integer finaliser ("lowbias32", C. Wellons' hash-prospector): a bijection on [0, 2³²) with full
    avalanche.  ``x``: int64 tensor with values in [0, 2³²)."""
    x = x ^ (x >> 16)
    x = _mul32(x, 0x7FEB352D)
    x = x ^ (x >> 15)
    x = _mul32(x, 0x846CA68B)
    return x ^ (x >> 16)


def _anchor_keys(seeds: Tensor, anchors: Tensor) -> tuple[Tensor, Tensor]:
    """Two independent 32-bit keys per (seed, anchor) pair (int64 inputs of equal shape)."""
    s_lo, s_hi = seeds & _M32, (seeds >> 32) & _M32
    a_lo, a_hi = anchors & _M32, (anchors >> 32) & _M32
    keys = []
    for salt in (0x9E3779B9, 0x85EBCA6B):
        k = _mix32(s_lo ^ salt)
        for word in (s_hi, a_lo, a_hi):
            k = _mix32((k + word) & _M32)
        keys.append(k)
    return keys[0], keys[1]


def anchor_noise(seeds: Tensor, anchors: Tensor, dim: int) -> Tensor:
    """Standard normal vectors ``z[i] ~ N(0, I_dim)`` that are a pure function of ``(seeds[i], anchors[i])``.

    ``seeds``, ``anchors``: int64 tensors of the same shape S (any values; seeds may be negative).  Returns
    float32 of shape S + (dim,), on the inputs' device.  Each coordinate pair comes from two 32-bit hashes of the
    (seed, anchor) key and the pair's index through Box–Muller (tails to ≈ 6.7σ); no generator state is touched,
    so the value never depends on what else is computed, on the batch, or on the order of calls.
    """
    seeds = torch.as_tensor(seeds, dtype=torch.int64)
    anchors = torch.as_tensor(anchors, dtype=torch.int64, device=seeds.device)
    seeds, anchors = torch.broadcast_tensors(seeds, anchors)
    ka, kb = _anchor_keys(seeds.reshape(-1), anchors.reshape(-1))
    pairs = (dim + 1) // 2
    streams = _mix32(torch.arange(2 * pairs, device=seeds.device, dtype=torch.int64) + 0x27D4EB2F)  # (2P,)
    h = _mix32(_mix32((ka[:, None] + streams[None]) & _M32) ^ kb[:, None])                        # (N, 2P)
    h = h.view(-1, pairs, 2)
    two_32 = 2.0 ** -32
    u1 = (h[..., 0].to(torch.float32) + 1.0) * two_32          # (0, 1]
    u2 = h[..., 1].to(torch.float32) * two_32                  # [0, 1)
    radius = torch.sqrt(-2.0 * torch.log(u1))
    angle = (2 * math.pi) * u2
    z = torch.stack([radius * torch.cos(angle), radius * torch.sin(angle)], dim=-1).reshape(-1, 2 * pairs)
    return z[:, :dim].reshape(*seeds.shape, dim)


class SeededAnchorNoise:
    """The anchor noise of a batch of videos identified by int64 seeds: ``noise(video, anchor)`` returns
    :func:`anchor_noise` of ``(seeds[video], anchor)``.  Video b's noise never depends on the other videos."""

    def __init__(self, seeds: Tensor | Sequence[int] | int, noise_dim: int):
        seeds = torch.as_tensor(seeds, dtype=torch.int64)
        self.seeds = seeds.reshape(-1) if seeds.ndim else seeds.reshape(1)
        self.noise_dim = int(noise_dim)

    def __len__(self) -> int:
        return self.seeds.numel()

    def __call__(self, video: Tensor, anchor: Tensor) -> Tensor:
        seeds = self.seeds.to(video.device)[video]
        return anchor_noise(seeds, anchor, self.noise_dim)


# ----------------------------------------------------------------------------------------------------------------
# Layers
# ----------------------------------------------------------------------------------------------------------------

class EqualConv1d(nn.Module):
    """A "valid" 1-D convolution with equalised learning rate (StyleGAN-V's ``EqLRConv1d``): weight stored as
    ``randn / lr_multiplier`` (out, in, taps) and used times ``lr_multiplier / sqrt(in · taps)``, bias used times
    ``lr_multiplier``, then leaky ReLU(0.2) *without* a gain (as in the official layer) or nothing.  No padding:
    the caller feeds exactly the window it needs (see :class:`MotionEncoder`)."""

    def __init__(self, in_channels: int, out_channels: int, taps: int, lr_multiplier: float = 1.0,
                 activation: str = "lrelu", bias_init: float = 0.0):
        super().__init__()
        if activation not in ("lrelu", "linear"):
            raise ValueError(f"activation must be 'lrelu' or 'linear', got {activation!r}")
        self.weight = nn.Parameter(torch.randn(out_channels, in_channels, taps) / lr_multiplier)
        self.bias = nn.Parameter(torch.full([out_channels], float(bias_init)))
        self.weight_gain = lr_multiplier / math.sqrt(in_channels * taps)
        self.bias_gain = lr_multiplier
        self.activation = activation

    def forward(self, x: Tensor) -> Tensor:
        """``x`` (N, in, W) → (N, out, W − taps + 1)."""
        w = self.weight.to(x.dtype) * self.weight_gain
        y = F.conv1d(x, w, self.bias.to(x.dtype) * self.bias_gain)
        return leaky_relu_gain(y) if self.activation == "lrelu" else y

    def extra_repr(self) -> str:
        o, i, k = self.weight.shape
        return f"{i}, {o}, taps={k}, act={self.activation}, lr_mul={self.bias_gain:g}"


def linspaced_frequencies(num_freqs: int, min_period: float, max_period: float) -> Tensor:
    """Angular frequencies ``2π / period`` for ``num_freqs`` periods log-spaced from ``min_period`` to
    ``max_period`` (StyleGAN-V's ``construct_linspaced_frequencies``), in the same order: longest period first.
    Shape (num_freqs,)."""
    log_periods = torch.linspace(math.log2(min_period), math.log2(max_period), num_freqs, dtype=torch.float64)
    return (2 * math.pi / torch.pow(2.0, log_periods)).flip(0).to(torch.float32)


# ----------------------------------------------------------------------------------------------------------------
# The motion encoder
# ----------------------------------------------------------------------------------------------------------------

class MotionEncoder(nn.Module):
    """v_t for videos identified by seeds (or by any anchor-noise callable) at arbitrary real timestamps t ≥ 0.

    Args:
        kind: ``"ffa_ape"`` (StyleInV) or ``"ape"`` (StyleGAN-V, the ablation); see the module docstring.
        motion_dim: dimension of v_t; even (``motion_dim / 2`` Fourier frequencies, sin and cos).  Official: 512.
        noise_dim: dimension of the anchor noise z (and of c0).  Official: 512.
        anchor_spacing: Δ, frames between anchors (16 faces, 128 sky).
        kernel_size: K, odd; FFA-APE keeps the K//2 + 1 causal taps.
        num_layers: L, number of 1-D convolutions (2).
        lr_multiplier: learning-rate multiplier of the convolutions (0.01).
        token_dim: dimension of the tokens u (conv output); default ``noise_dim`` (official v_dim = 512).
        min_period, max_period: range of the fixed periods of PE, in frames; defaults Δ and max(128, Δ)
            (StyleInV: Δ and the 128-frame clip; StyleGAN-V: 16 and 1024).

    ``forward(videos, t)``: ``videos`` is an int64 tensor/sequence of B seeds, or a callable
    ``noise(video, anchor) -> (N, noise_dim)`` (video indexes the batch row); ``t`` is a float tensor (B, T) in
    frames, any order, any real value ≥ 0.  Returns v (B, T, motion_dim), float32.
    """

    def __init__(self, kind: str = "ffa_ape", motion_dim: int = 512, noise_dim: int = 512, anchor_spacing: float = 16,
                 kernel_size: int = 11, num_layers: int = 2, lr_multiplier: float = 0.01,
                 token_dim: int | None = None, min_period: float | None = None, max_period: float | None = None):
        super().__init__()
        if kind not in KINDS:
            raise ValueError(f"kind must be one of {KINDS}, got {kind!r}")
        if motion_dim < 2 or motion_dim % 2:
            raise ValueError(f"motion_dim must be even (sin and cos per frequency), got {motion_dim}")
        if kernel_size < 1 or kernel_size % 2 == 0:
            raise ValueError(f"kernel_size must be odd, got {kernel_size}")
        if num_layers < 1:
            raise ValueError(f"num_layers must be >= 1, got {num_layers}")
        if not anchor_spacing > 0:
            raise ValueError(f"anchor_spacing must be > 0, got {anchor_spacing}")
        token_dim = noise_dim if token_dim is None else token_dim
        min_period = float(anchor_spacing if min_period is None else min_period)
        max_period = float(max(128.0, anchor_spacing) if max_period is None else max_period)
        self.config = dict(kind=kind, motion_dim=motion_dim, noise_dim=noise_dim, anchor_spacing=anchor_spacing,
                           kernel_size=kernel_size, num_layers=num_layers, lr_multiplier=lr_multiplier,
                           token_dim=token_dim, min_period=min_period, max_period=max_period)
        self.kind, self.motion_dim, self.noise_dim, self.token_dim = kind, motion_dim, noise_dim, token_dim
        self.anchor_spacing, self.kernel_size, self.num_layers = float(anchor_spacing), kernel_size, num_layers

        # Receptive field of one token: output k reads inputs k - left … k + right of each layer.
        if kind == "ffa_ape":
            taps, self.left, self.right = kernel_size // 2 + 1, kernel_size // 2, 0
            self.c0 = nn.Parameter(torch.randn(noise_dim))          # the first anchor's noise, learned (c_0^m)
        else:
            taps, self.left, self.right = kernel_size, 0, kernel_size - 1
            self.c0 = None
        dims = [noise_dim] + [noise_dim] * (num_layers - 1) + [token_dim]
        self.convs = nn.ModuleList(EqualConv1d(dims[i], dims[i + 1], taps, lr_multiplier=lr_multiplier)
                                   for i in range(num_layers))
        #: anchors read to produce the two tokens around one t
        self.window = 2 + num_layers * (self.left + self.right)

        num_freqs = motion_dim // 2
        freqs = linspaced_frequencies(num_freqs, min_period, max_period)
        self.register_buffer("freqs", freqs)                                             # ω (F,)
        self.register_buffer("phase_scales", max_period * freqs / (2 * math.pi))        # s (F,)
        self.periods = EqualLinear(token_dim, num_freqs, bias=False)                     # P
        self.phases = EqualLinear(token_dim, num_freqs, bias=False)                      # Φ
        self.aligners = EqualLinear(token_dim, motion_dim, bias=False)                   # A

    # -- noise and tokens --------------------------------------------------------------------------------------

    def _noise_fn(self, videos) -> tuple[AnchorNoiseFn, int | None]:
        if callable(videos) and not isinstance(videos, Tensor):
            return videos, None
        provider = SeededAnchorNoise(videos, self.noise_dim)
        return provider, len(provider)

    def tokens(self, noise: AnchorNoiseFn, video: Tensor, first_anchor: Tensor, count: int = 2) -> Tensor:
        """Tokens ``u_k`` for ``k = first_anchor[i] … first_anchor[i] + count − 1`` of video ``video[i]``:
        (N, count, token_dim).  Only the anchors in their receptive field are generated (each (video, anchor)
        once per call); ``first_anchor`` ≥ 0."""
        device = self.freqs.device
        n = video.shape[0]
        span = count - 1 + self.num_layers * (self.left + self.right)
        pos = first_anchor[:, None] - self.num_layers * self.left + torch.arange(span + 1, device=device)  # (N, W)
        vid = video[:, None].expand_as(pos)
        first_noisy = 1 if self.kind == "ffa_ape" else 0
        need = pos >= first_noisy
        z = torch.zeros(n, span + 1, self.noise_dim, device=device)
        if bool(need.any()):
            # one noise vector per distinct (video, anchor) pair in the call
            stride = int(pos.max()) + 1
            keys, inverse = torch.unique(vid[need] * stride + pos[need], return_inverse=True)
            fresh = noise(keys // stride, keys % stride).to(device=device, dtype=torch.float32)
            if fresh.shape != (keys.numel(), self.noise_dim):
                raise ValueError(f"the noise callable must return ({keys.numel()}, {self.noise_dim}), "
                                 f"got {tuple(fresh.shape)}")
            z = z.index_put((need.nonzero(as_tuple=True)), fresh[inverse])
        if self.c0 is not None:
            # anchor 0 is the learned constant; anchors < 0 stay zero (the causal convs' left padding)
            z = torch.where((pos == 0)[..., None], self.c0.to(z.dtype).expand_as(z), z)
        h = z.transpose(1, 2)                                                   # (N, noise_dim, W)
        start = pos[:, :1]                                                       # position of h[..., 0]
        for conv in self.convs:
            h = conv(h)
            start = start + self.left
            if self.kind == "ffa_ape":
                # outputs at negative anchors are the next layer's zero padding, not conv(zeros)
                p = start + torch.arange(h.shape[2], device=device)
                h = h * (p >= 0).to(h.dtype)[:, None, :]
        return h.transpose(1, 2)                                                # (N, count, token_dim)

    # -- v_t ---------------------------------------------------------------------------------------------------

    def positional(self, t: Tensor, u_left: Tensor) -> Tensor:
        """``PE(t)`` with periods and phases predicted from ``u_left``: t (N,), u_left (N, token_dim)."""
        periods = torch.tanh(self.periods(u_left)) + 1.0
        phases = self.phases(u_left)
        raw = self.freqs * periods * t[:, None] + phases * self.phase_scales
        return torch.cat([raw.sin(), raw.cos()], dim=1)

    def forward(self, videos: Tensor | Sequence[int] | AnchorNoiseFn, t: Tensor) -> Tensor:
        """v (B, T, motion_dim), float32.  Always computed in fp32, also inside an autocast region: the phases
        ω·p·t of a frame at t = 5000 would lose whole radians in bf16/fp16."""
        with fp32_region(self.freqs.device.type):
            return self._forward(videos, t)

    def _forward(self, videos, t: Tensor) -> Tensor:
        t = torch.as_tensor(t, device=self.freqs.device)
        if not t.is_floating_point():
            t = t.float()
        if t.ndim != 2:
            raise ValueError(f"t must be (batch, num_timestamps), got shape {tuple(t.shape)}")
        if not bool(torch.isfinite(t).all()) or bool((t < 0).any()):
            raise ValueError("timestamps must be finite and >= 0")
        noise, n_videos = self._noise_fn(videos)
        b, nt = t.shape
        if n_videos is not None and n_videos != b:
            raise ValueError(f"{n_videos} video seeds for a batch of {b} timestamp rows")
        if t.numel() == 0:
            return torch.zeros(b, nt, self.motion_dim, device=t.device)
        t = t.to(torch.float32)
        delta = self.anchor_spacing
        left = torch.floor(t / delta)
        alpha = ((t - left * delta) / delta).clamp(0.0, 1.0).reshape(-1, 1)     # (BT, 1)
        left = left.long()
        video = torch.arange(b, device=t.device)[:, None].expand(b, nt)
        # one token pair per distinct (video, left anchor); timestamps never influence each other's values
        stride = int(left.max()) + 1
        keys, inverse = torch.unique((video * stride + left).reshape(-1), return_inverse=True)
        u = self.tokens(noise, keys // stride, keys % stride, count=2)[inverse]  # (BT, 2, token_dim)
        u_l, u_r = u[:, 0], u[:, 1]
        t_l = left.reshape(-1).to(torch.float32) * delta
        t_flat = t.reshape(-1)
        pe = self.positional(t_flat, u_l)
        pe_l = self.positional(t_l, u_l)
        pe_r = self.positional(t_l + delta, u_l)
        aligned = torch.lerp(self.aligners(u_l), self.aligners(u_r), alpha)
        v = pe - torch.lerp(pe_l, pe_r, alpha) + aligned
        return v.reshape(b, nt, self.motion_dim)

    def extra_repr(self) -> str:
        return (f"kind={self.kind}, motion_dim={self.motion_dim}, noise_dim={self.noise_dim}, "
                f"anchor_spacing={self.anchor_spacing:g}, kernel_size={self.kernel_size}, "
                f"num_layers={self.num_layers}, window={self.window}")
