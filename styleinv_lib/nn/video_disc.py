"""The sparse video discriminator of StyleGAN-V, with StyleInV's first-frame awareness (FFA-D, paper §3.4, Eq. 3).

``D(x_{t_0}, …, x_{t_{F−1}}; δ)`` sees F frames of one clip (F = 4 in StyleInV: the first frame t_0 = 0 and three
sparse timestamps t_1 < t_2 < t_3; F = 3 and any t_0 in StyleGAN-V) and the time differences
``δ_i = t_{i+1} − t_i`` (F − 1 of them), and returns one logit per clip.

Architecture (StyleGAN2 "resnet" D, made temporal as in StyleGAN-V):

* **shared blocks** — every frame goes alone through the StyleGAN2 blocks from the image resolution down to
  ``concat_res`` (the blocks at resolutions > concat_res); the last of them outputs ``channels[concat_res] //
  num_frames_div_factor`` maps, so that the clip's tensor stays small;
* **fusion** — at ``concat_res`` the F frames' features are concatenated along channels,
  (B, F·C/div, r, r), frame order kept (t_0 first);
* **joint blocks** — the remaining blocks (concat_res … 8) and the 4² epilogue (minibatch std, conv, FC) run on
  the clip;
* **time conditioning** — each δ_i is encoded by fixed Fourier features (StyleGAN-V's ``FixedTimeEncoder``:
  ``sin/cos(π·2^j·δ/T)``, j = 0 … log2 T − 1, T = the next power of two ≥ ``max_num_frames``, δ in frames) plus,
  when ``time_emb_dim`` > 0, a learned embedding of round(δ) (StyleGAN-V's ``const_embed``, 256-d); the
  concatenation over the F − 1 differences goes through a mapping network
  (:class:`~styleinv_lib.nn.stylegan2.ConditionMap`: linear embed, 2nd-moment normalisation, ``mapping_layers``
  = 2 leaky-ReLU layers at lr × 0.01, as both official codes configure it) into ``cmap``;
* **projection** (StyleGAN2-ADA's conditional D): ``logit = (x · cmap).sum / sqrt(cmap_dim)`` with x the
  epilogue's ``cmap_dim`` output.

Timestamps are in **frames** (real-valued).  The official codes pass t normalised to [0, 1] by the clip length
minus one (127 for 128-frame windows) and multiply δ back by 127 before encoding it; frames are the same numbers
without the round trip.

``concat_res``: default ``min(16, img_resolution // 2)``.  StyleGAN-V and StyleInV use 16 at 256² (4 shared blocks:
256 … 32, then 2 joint blocks 16, 8 and the epilogue).  Keeping 16 at our smaller resolutions keeps the temporal
part of D the same size everywhere (two joint blocks + epilogue, where the frames are compared) and still leaves
≥ 1 shared block: 32² → 1 shared block (32), 64² → 2, 128² → 3.  At 16² it becomes 8 (1 shared, 1 joint).

``first_frame_aware=True`` (StyleInV's FFA-D) requires ``t[:, 0] == 0``; the ablation without it (StyleGAN-V's D)
accepts any t_0.

Sources followed (facts only; no code copied): ``universome/stylegan-v`` ``src/training/networks.py``
(``Discriminator``: ``concat_res``, ``num_frames_div_factor``, per-frame blocks then a channel concatenation, the
mapping network with z_dim 0 on the time embedding), ``src/training/layers.py`` (``TemporalDifferenceEncoder``,
``FixedTimeEncoder``, ``construct_log_spaced_freqs``), ``configs/model/stylegan-v.yaml`` (concat_res 16, div 2),
``src/train.py`` (D mapping: 2 layers); ``johannwyh/StyleInV`` ``training/networks_sgv.py`` (the same D, with
``use_const_embed`` optional), ``training/loss_styleinv.py`` (the first frame t_0 = 0 prepended to the D's clip),
``training/sampling.py`` and ``configs/ffs.yaml`` (4 frames, 3 differences, ``use_const_embed: true``).
The blocks, epilogue, minibatch std and condition mapping are this library's StyleGAN2 ones
(:mod:`styleinv_lib.nn.stylegan2`).
"""
from __future__ import annotations

import math

import torch
from torch import nn

from .stylegan2 import ConditionMap, DiscriminatorBlock, DiscriminatorEpilogue, _log2_resolution, channels_for

Tensor = torch.Tensor

__all__ = ["SparseVideoDiscriminator", "TimeDeltaEncoder", "log_spaced_frequencies"]


def log_spaced_frequencies(max_num_frames: int) -> Tensor:
    """StyleGAN-V's fixed time frequencies: ``π·2^j / T`` for j = 0 … log2(T) − 1, T = the smallest power of two
    ≥ ``max_num_frames`` (7 frequencies for 128 frames: periods 256, 128, …, 4 frames).  Shape (num_freqs,)."""
    time_resolution = 2 ** math.ceil(math.log2(max(int(max_num_frames), 2)))
    num = int(math.log2(time_resolution))
    return math.pi * torch.pow(2.0, torch.arange(num, dtype=torch.float32)) / time_resolution


class TimeDeltaEncoder(nn.Module):
    """δ (B, num_deltas), in frames → (B, num_deltas · (2·num_freqs + const_dim)): fixed Fourier features of each δ
    and, with ``const_dim`` > 0, a learned embedding of round(δ) clamped to [0, max_num_frames − 1]."""

    def __init__(self, num_deltas: int, max_num_frames: int = 128, const_dim: int = 0):
        super().__init__()
        self.num_deltas, self.max_num_frames, self.const_dim = num_deltas, int(max_num_frames), int(const_dim)
        self.register_buffer("freqs", log_spaced_frequencies(max_num_frames))
        self.const_embed = nn.Embedding(self.max_num_frames, const_dim) if const_dim > 0 else None

    @property
    def dim(self) -> int:
        return self.num_deltas * (2 * self.freqs.numel() + self.const_dim)

    def forward(self, delta: Tensor) -> Tensor:
        b = delta.shape[0]
        d = delta.float().reshape(-1, 1)
        raw = d * self.freqs
        parts = [raw.sin(), raw.cos()]
        if self.const_embed is not None:
            idx = d.squeeze(1).round().clamp(0, self.max_num_frames - 1).long()
            parts.insert(0, self.const_embed(idx))
        return torch.cat(parts, dim=1).reshape(b, -1)


class SparseVideoDiscriminator(nn.Module):
    """Frames (B, F, C, H, W) in [-1, 1] plus timestamps t (B, F) or differences δ (B, F − 1), in frames →
    logits (B, 1), fp32.  See the module docstring for the architecture and the sources.

    Attributes: ``shared_resolutions`` (blocks run per frame), ``joint_resolutions`` (blocks run on the
    concatenated clip), ``blocks`` (ModuleDict keyed by the block's input resolution), ``time_encoder``,
    ``mapping`` (δ embedding → cmap), ``b4`` (epilogue with the projection), ``config`` (rebuild with
    ``SparseVideoDiscriminator(**D.config)``).
    """

    def __init__(self, img_resolution: int, num_frames: int = 4, img_channels: int = 3, channel_base: int = 16384,
                 channel_max: int = 512, concat_res: int | None = None, num_frames_div_factor: int = 2,
                 max_num_frames: int = 128, time_emb_dim: int = 256, cmap_dim: int | None = None,
                 mapping_layers: int = 2, mapping_lr_multiplier: float = 0.01, mbstd_group_size: int = 4,
                 mbstd_num_channels: int = 1, conv_clamp: float | None = None, first_frame_aware: bool = True):
        super().__init__()
        log2 = _log2_resolution(img_resolution)
        if log2 < 4:
            raise ValueError(f"the video discriminator needs img_resolution >= 16, got {img_resolution}")
        if num_frames < 2:
            raise ValueError(f"num_frames must be >= 2 (a clip), got {num_frames}")
        concat_res = min(16, img_resolution // 2) if concat_res is None else int(concat_res)
        if concat_res < 8 or concat_res >= img_resolution or 2 ** int(round(math.log2(concat_res))) != concat_res:
            raise ValueError(f"concat_res must be a power of two with 8 <= concat_res <= {img_resolution // 2} "
                             f"(at least one shared and one joint block), got {concat_res}")
        self.config = dict(img_resolution=img_resolution, num_frames=num_frames, img_channels=img_channels,
                           channel_base=channel_base, channel_max=channel_max, concat_res=concat_res,
                           num_frames_div_factor=num_frames_div_factor, max_num_frames=max_num_frames,
                           time_emb_dim=time_emb_dim, cmap_dim=cmap_dim, mapping_layers=mapping_layers,
                           mapping_lr_multiplier=mapping_lr_multiplier, mbstd_group_size=mbstd_group_size,
                           mbstd_num_channels=mbstd_num_channels, conv_clamp=conv_clamp,
                           first_frame_aware=first_frame_aware)
        self.img_resolution, self.img_channels, self.num_frames = img_resolution, img_channels, num_frames
        self.concat_res, self.first_frame_aware = concat_res, bool(first_frame_aware)
        self.block_resolutions = [2 ** i for i in range(log2, 2, -1)]
        self.shared_resolutions = [r for r in self.block_resolutions if r > concat_res]
        self.joint_resolutions = [r for r in self.block_resolutions if r <= concat_res]
        self.channels = {r: channels_for(r, channel_base, channel_max) for r in self.block_resolutions + [4]}
        fused_channels = self.channels[concat_res] // num_frames_div_factor
        if min(self.channels.values()) < 1 or fused_channels < 1:
            raise ValueError(f"channel_base={channel_base} / num_frames_div_factor={num_frames_div_factor} leave "
                             f"no channels (channels per resolution: {self.channels})")

        self.blocks = nn.ModuleDict()
        for r in self.block_resolutions:
            in_ch = 0 if r == img_resolution else self.channels[r]
            out_ch = self.channels[r // 2]
            if r // 2 == concat_res:
                out_ch = fused_channels                      # the last shared block: thinner per frame
            if r == concat_res:
                in_ch = fused_channels * num_frames          # the first joint block reads the clip
            self.blocks[str(r)] = DiscriminatorBlock(in_ch, self.channels[r], out_ch, r, img_channels,
                                                     conv_clamp=conv_clamp)

        self.time_encoder = TimeDeltaEncoder(num_frames - 1, max_num_frames, time_emb_dim)
        self.cmap_dim = int(cmap_dim or self.channels[4])
        self.mapping = ConditionMap(self.time_encoder.dim, self.cmap_dim, num_layers=mapping_layers,
                                    lr_multiplier=mapping_lr_multiplier)
        self.b4 = DiscriminatorEpilogue(self.channels[4], 4, self.cmap_dim, mbstd_group_size, mbstd_num_channels,
                                        conv_clamp)

    def time_differences(self, t: Tensor | None = None, delta: Tensor | None = None) -> Tensor:
        """δ (B, F − 1) from t (B, F) or as given; checks shapes and, for the FFA-D, that t_0 = 0."""
        if (t is None) == (delta is None):
            raise ValueError("pass exactly one of t (B, num_frames) and delta (B, num_frames - 1)")
        f = self.num_frames
        if t is not None:
            t = torch.as_tensor(t)
            if t.ndim != 2 or t.shape[1] != f:
                raise ValueError(f"t must be (batch, {f}), got {tuple(t.shape)}")
            # checked in eager mode (a compiled D would break its graph on the host sync of this test)
            if self.first_frame_aware and not torch.compiler.is_compiling() and bool((t[:, 0] != 0).any()):
                raise ValueError("the first-frame-aware discriminator needs t[:, 0] == 0 (the clip's first frame is "
                                 f"the video's frame 0); got t0 = {t[:, 0].tolist()}.  Build it with "
                                 "first_frame_aware=False for StyleGAN-V's D, which accepts any t0.")
            return t[:, 1:] - t[:, :-1]
        delta = torch.as_tensor(delta)
        if delta.ndim != 2 or delta.shape[1] != f - 1:
            raise ValueError(f"delta must be (batch, {f - 1}), got {tuple(delta.shape)}")
        return delta

    def cmap(self, delta: Tensor) -> Tensor:
        """The projection vector for the time differences δ (B, F − 1): (B, cmap_dim)."""
        return self.mapping(self.time_encoder(delta))

    def forward(self, frames: Tensor, t: Tensor | None = None, delta: Tensor | None = None) -> Tensor:
        """``frames`` (B, F, C, H, W); ``t`` (B, F) timestamps in frames, or ``delta`` (B, F − 1) differences
        (with ``delta`` the FFA check cannot run: the caller vouches that t_0 = 0).  Returns (B, 1) logits."""
        if frames.ndim != 5 or frames.shape[1:] != (self.num_frames, self.img_channels, self.img_resolution,
                                                    self.img_resolution):
            raise ValueError(f"frames must be (batch, {self.num_frames}, {self.img_channels}, "
                             f"{self.img_resolution}, {self.img_resolution}), got {tuple(frames.shape)}")
        b = frames.shape[0]
        delta = self.time_differences(t, delta)
        if delta.shape[0] != b:
            raise ValueError(f"{b} clips but {delta.shape[0]} rows of timestamps")
        x = frames.reshape(b * self.num_frames, *frames.shape[2:])
        for r in self.shared_resolutions:
            x = self.blocks[str(r)](x)
        x = x.reshape(b, self.num_frames * x.shape[1], *x.shape[2:])        # frames concatenated along channels
        for r in self.joint_resolutions:
            x = self.blocks[str(r)](x)
        return self.b4(x, self.cmap(delta.to(frames.device)))

    def extra_repr(self) -> str:
        return (f"num_frames={self.num_frames}, concat_res={self.concat_res}, shared={self.shared_resolutions}, "
                f"joint={self.joint_resolutions}, first_frame_aware={self.first_frame_aware}")
