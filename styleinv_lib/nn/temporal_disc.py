"""A dense video discriminator: 3-D convolutions over *every* frame of a clip (the autoregressive baselines' D).

MoCoGAN-HD (Tian et al. 2021) and its predecessors judge motion with a video discriminator that sees a whole clip
of consecutive frames; the paper (§1, §3.4) contrasts this with FFA-ST's sparse D, which sees four frames whatever
the clip spans.  This module is that dense D, for the autoregressive baseline and for the cost study of chapter 9:

* input ``(B, T, C, H, W)`` in [-1, 1], any ``T ≥ 1``;
* a 1×1×1 fromRGB, then one block per resolution ``R → … → 8``: two 3×3×3 convolutions with LeakyReLU(0.2), the
  second with stride 2 in space and, while more than one frame is left, in time; a 1×1×1 strided skip path
  (StyleGAN2's residual D, in 3-D);
* an epilogue that averages over the remaining frames, then a 4×4 conv, a linear layer and the logit.

Weights use StyleGAN's equalised learning rate (He-scaled at run time).  Compute and activation memory grow
linearly with ``T`` (the first blocks see every frame at full resolution); ``benchmarks/video_d_cost.py``
measures it against the sparse D.
"""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from .layers import leaky_relu_gain
from .stylegan2 import _log2_resolution, channels_for

Tensor = torch.Tensor

__all__ = ["EqualConv3d", "TemporalVideoDiscriminator"]


class EqualConv3d(nn.Module):
    """A 3-D convolution whose weight is scaled by ``1/sqrt(fan_in)`` at run time (equalised learning rate)."""

    def __init__(self, in_channels: int, out_channels: int, kernel: int = 3, stride=(1, 1, 1), bias: bool = True):
        super().__init__()
        self.weight = nn.Parameter(torch.randn(out_channels, in_channels, kernel, kernel, kernel))
        self.bias = nn.Parameter(torch.zeros(out_channels)) if bias else None
        self.scale = 1 / math.sqrt(in_channels * kernel ** 3)
        self.stride, self.padding = tuple(stride), kernel // 2

    def forward(self, x: Tensor, stride=None) -> Tensor:
        return F.conv3d(x, self.weight * self.scale, self.bias, stride=stride or self.stride, padding=self.padding)


class _Block3d(nn.Module):
    def __init__(self, in_channels: int, out_channels: int):
        super().__init__()
        self.conv0 = EqualConv3d(in_channels, in_channels)
        self.conv1 = EqualConv3d(in_channels, out_channels)
        self.skip = EqualConv3d(in_channels, out_channels, kernel=1, bias=False)

    def forward(self, x: Tensor) -> Tensor:
        stride = (2 if x.shape[2] > 1 else 1, 2, 2)                # halve time too, while frames are left
        y = leaky_relu_gain(self.conv0(x), math.sqrt(2))
        y = leaky_relu_gain(self.conv1(y, stride), math.sqrt(2))
        return (self.skip(x, stride) + y) * math.sqrt(0.5)


class TemporalVideoDiscriminator(nn.Module):
    """Clips ``(B, T, C, H, W)`` in [-1, 1] → logits ``(B, 1)``; see the module docstring.  ``config`` rebuilds it:
    ``TemporalVideoDiscriminator(**D.config)``."""

    def __init__(self, img_resolution: int, img_channels: int = 3, channel_base: int = 16384, channel_max: int = 512):
        super().__init__()
        log2 = _log2_resolution(img_resolution)
        if log2 < 3:
            raise ValueError(f"the video discriminator needs img_resolution >= 8, got {img_resolution}")
        self.config = dict(img_resolution=img_resolution, img_channels=img_channels, channel_base=channel_base,
                           channel_max=channel_max)
        self.img_resolution, self.img_channels = img_resolution, img_channels
        self.block_resolutions = [2 ** i for i in range(log2, 2, -1)]
        ch = {r: channels_for(r, channel_base, channel_max) for r in self.block_resolutions + [4]}
        if min(ch.values()) < 1:
            raise ValueError(f"channel_base={channel_base} leaves no channels at {img_resolution}²")
        self.from_rgb = EqualConv3d(img_channels, ch[img_resolution], kernel=1)
        self.blocks = nn.ModuleList(_Block3d(ch[r], ch[r // 2]) for r in self.block_resolutions)
        self.conv4 = nn.Conv2d(ch[4], ch[4], 3, padding=1)
        self.fc = nn.Linear(ch[4] * 16, ch[4])
        self.out = nn.Linear(ch[4], 1)

    def forward(self, frames: Tensor) -> Tensor:
        if frames.ndim != 5 or frames.shape[2:] != (self.img_channels, self.img_resolution, self.img_resolution):
            raise ValueError(f"frames must be (batch, T, {self.img_channels}, {self.img_resolution}, "
                             f"{self.img_resolution}), got {tuple(frames.shape)}")
        x = frames.transpose(1, 2)                                   # B, C, T, H, W (Conv3d layout)
        x = leaky_relu_gain(self.from_rgb(x), math.sqrt(2))
        for block in self.blocks:
            x = block(x)
        x = x.mean(dim=2)                                            # over the frames left: B, C, 4, 4
        x = leaky_relu_gain(self.conv4(x))
        x = leaky_relu_gain(self.fc(x.flatten(1)))
        return self.out(x).float()
