"""The GAN inversion encoder E of StyleInV (paper Eq. 1, §3.1-3.2): an image → one latent ``w`` in W.

StyleInV reconstructs a frame as ``x̂ = G(E(x) + w̄)`` (Eq. 1): E predicts an *offset* from the generator's mean
latent w̄, and the result is a single ``w_dim`` vector in W (not W+, one w per layer), because the motion generator
of §3.2 moves inside W and W is where inverted frames of one video cluster together (§3.1).  StyleInV then
initialises its motion network from this encoder and inserts AdaIN after every residual block; that is why the
blocks are public here: ``blocks``, ``block_resolutions``, ``block_channels`` and ``forward(x, block_hook)``.

The backbone is the pSp family's IR-SE design (Richardson et al. 2021, "pixel2style2pixel", which took it from
ArcFace's IR-SE50); the facts kept from it:

* input layer: 3×3 conv → BatchNorm → PReLU;
* residual unit ``bottleneck_IR_SE``: BN → 3×3 conv → PReLU → 3×3 conv (stride 1 or 2) → BN → squeeze-excitation
  (reduction 16), added to a shortcut that is a strided subsampling (pSp: ``MaxPool2d(1, stride)``) when the width
  is unchanged and a strided 1×1 conv + BN otherwise;
* every stage starts with a stride-2 unit; for W the last feature map is average-pooled and a linear layer maps it
  to w_dim, then ``latent_avg`` (w̄) is added (pSp's ``BackboneEncoderUsingLastLayerIntoW``,
  ``start_from_latent_avg``).

What differs here: any resolution (a stage per halving, down to ``min_res``), widths chosen like StyleGAN2's
(``min(channel_base // res, channel_max)``), ``blocks_per_stage`` units per stage instead of IR-SE50's 3/4/14/3,
an SE bottleneck of at least 4 channels (tiny widths), and a head initialised small so that an untrained encoder
already outputs ≈ w̄ (the reconstruction starts at G's mean image, not at a random latent).
"""
from __future__ import annotations

from typing import Callable

import torch
from torch import nn

from .stylegan2 import channels_for

Tensor = torch.Tensor
BlockHook = Callable[[int, Tensor], Tensor]

__all__ = ["InversionEncoder", "IRSEBlock", "SqueezeExcite"]


class SqueezeExcite(nn.Module):
    """Channel attention: global average → 1×1 conv (C → C/r) → ReLU → 1×1 conv → sigmoid → rescale the input."""

    def __init__(self, channels: int, reduction: int = 16):
        super().__init__()
        hidden = max(channels // reduction, 4)
        self.fc1 = nn.Conv2d(channels, hidden, 1, bias=False)
        self.fc2 = nn.Conv2d(hidden, channels, 1, bias=False)

    def forward(self, x: Tensor) -> Tensor:
        s = torch.sigmoid(self.fc2(torch.relu(self.fc1(x.mean(dim=(2, 3), keepdim=True)))))
        return x * s


class IRSEBlock(nn.Module):
    """pSp's ``bottleneck_IR_SE``: ``res(x) + shortcut(x)`` with
    ``res = BN → conv3×3 → PReLU → conv3×3/stride → BN → SE`` (see the module docstring)."""

    def __init__(self, in_channels: int, out_channels: int, stride: int = 1, se_reduction: int = 16):
        super().__init__()
        if stride not in (1, 2):
            raise ValueError(f"stride must be 1 or 2, got {stride}")
        self.in_channels, self.out_channels, self.stride = in_channels, out_channels, stride
        self.res = nn.Sequential(
            nn.BatchNorm2d(in_channels),
            nn.Conv2d(in_channels, out_channels, 3, 1, 1, bias=False),
            nn.PReLU(out_channels),
            nn.Conv2d(out_channels, out_channels, 3, stride, 1, bias=False),
            nn.BatchNorm2d(out_channels),
            SqueezeExcite(out_channels, se_reduction),
        )
        if in_channels == out_channels:
            self.shortcut = None  # identity, or pSp's MaxPool2d(1, stride) == keep every stride-th pixel
        else:
            self.shortcut = nn.Sequential(nn.Conv2d(in_channels, out_channels, 1, stride, bias=False),
                                          nn.BatchNorm2d(out_channels))

    def forward(self, x: Tensor) -> Tensor:
        if self.shortcut is not None:
            skip = self.shortcut(x)
        else:
            skip = x[:, :, ::self.stride, ::self.stride] if self.stride > 1 else x
        return self.res(x) + skip


class InversionEncoder(nn.Module):
    """E of Eq. 1: images ``B×3×R×R`` in [-1, 1] → ``w = head(pool(blocks(stem(x)))) + w̄``, shape ``B×w_dim``.

    * ``blocks`` (``nn.ModuleList``, in order): for every resolution ``r`` from ``resolution`` down to
      ``2·min_res`` a stride-2 :class:`IRSEBlock` (``channels(r) → channels(r/2)``) and ``blocks_per_stage − 1``
      stride-1 blocks; ``block_resolutions[i]`` / ``block_channels[i]`` give block ``i``'s output size and width.
    * ``forward(x, block_hook)`` / ``features(x, block_hook)``: after block ``i`` the encoder runs
      ``h = block_hook(i, h)`` (StyleInV's AdaIN, issue 7, goes there); ``features`` is the pooled vector before
      the head.
    * ``w_avg``: a buffer holding G's w̄ (``G.mapping.w_avg``), saved with the weights; ``head`` starts at
      ``head_init`` × the default scale with zero bias, so ``E(x) ≈ w̄`` before training.
    * ``InversionEncoder(**E.config)`` rebuilds the architecture.
    """

    def __init__(self, resolution: int, w_dim: int, channel_base: int = 16384, channel_max: int = 512,
                 blocks_per_stage: int = 2, min_res: int = 4, se_reduction: int = 16, head_init: float = 0.01,
                 w_avg: Tensor | None = None):
        super().__init__()
        r = int(resolution)
        if r < 8 or r & (r - 1):
            raise ValueError(f"resolution must be a power of two >= 8, got {resolution}")
        if min_res < 1 or min_res & (min_res - 1) or min_res >= r:
            raise ValueError(f"min_res must be a power of two below the resolution {r}, got {min_res}")
        if blocks_per_stage < 1:
            raise ValueError(f"blocks_per_stage must be >= 1, got {blocks_per_stage}")
        self.config = dict(resolution=r, w_dim=int(w_dim), channel_base=int(channel_base),
                           channel_max=int(channel_max), blocks_per_stage=int(blocks_per_stage),
                           min_res=int(min_res), se_reduction=int(se_reduction), head_init=float(head_init))
        self.resolution, self.w_dim = r, int(w_dim)

        def width(res: int) -> int:
            c = channels_for(res, channel_base, channel_max)
            if c < 1:
                raise ValueError(f"channel_base={channel_base} leaves no channels at {res}²")
            return c

        c0 = width(r)
        self.stem = nn.Sequential(nn.Conv2d(3, c0, 3, 1, 1, bias=False), nn.BatchNorm2d(c0), nn.PReLU(c0))
        self.blocks = nn.ModuleList()
        self.block_resolutions: list[int] = []
        self.block_channels: list[int] = []
        res, cin = r, c0
        while res > min_res:
            res //= 2
            cout = width(res)
            for k in range(blocks_per_stage):
                self.blocks.append(IRSEBlock(cin if k == 0 else cout, cout, stride=2 if k == 0 else 1,
                                             se_reduction=se_reduction))
                self.block_resolutions.append(res)
                self.block_channels.append(cout)
            cin = cout
        self.feature_dim = cin
        self.head = nn.Linear(cin, self.w_dim)
        with torch.no_grad():
            self.head.weight.mul_(head_init)
            self.head.bias.zero_()
        self.register_buffer("w_avg", torch.zeros(self.w_dim) if w_avg is None
                             else torch.as_tensor(w_avg, dtype=torch.float32).detach().clone().reshape(self.w_dim))

    @classmethod
    def for_generator(cls, G, **kwargs) -> "InversionEncoder":
        """An encoder for generator ``G``: its resolution, w_dim and w̄ (``G.mapping.w_avg``)."""
        return cls(G.img_resolution, G.w_dim, w_avg=G.mapping.w_avg, **kwargs)

    def check_input(self, x: Tensor) -> None:
        """Raise ``ValueError`` unless ``x`` is a float ``B×3×R×R`` batch at this encoder's resolution."""
        r = self.resolution
        if not isinstance(x, torch.Tensor) or x.ndim != 4 or x.shape[1] != 3:
            shape = tuple(x.shape) if isinstance(x, torch.Tensor) else type(x).__name__
            raise ValueError(f"the encoder takes images B×3×{r}×{r} in [-1, 1], got {shape}")
        if tuple(x.shape[2:]) != (r, r):
            raise ValueError(f"the encoder was built for {r}×{r} images, got {x.shape[2]}×{x.shape[3]} "
                             "(resize the frames to the generator's resolution)")
        if not x.is_floating_point():
            raise ValueError(f"the encoder takes float images in [-1, 1], got dtype {x.dtype} "
                             "(uint8 frames: x.float() / 127.5 - 1)")

    def features(self, x: Tensor, block_hook: BlockHook | None = None) -> Tensor:
        """The pooled feature vector ``B×feature_dim`` before the head."""
        self.check_input(x)
        h = self.stem(x.to(self.stem[0].weight.dtype))
        for i, block in enumerate(self.blocks):
            h = block(h)
            if block_hook is not None:
                h = block_hook(i, h)
        return h.mean(dim=(2, 3))

    def forward(self, x: Tensor, block_hook: BlockHook | None = None) -> Tensor:
        """``w = E(x)`` in W: the head's offset plus w̄ (Eq. 1), shape ``B×w_dim``, float32 (also under
        autocast: w must not be rounded)."""
        return self.head(self.features(x, block_hook)).float() + self.w_avg

    def extra_repr(self) -> str:
        return (f"resolution={self.resolution}, w_dim={self.w_dim}, blocks={len(self.blocks)}, "
                f"widths={sorted(set(self.block_channels), reverse=True)}")
