"""StyleGAN2 (Karras et al., CVPR 2020), config-F essentials: mapping network, "skip" generator, "resnet"
discriminator, style mixing.  Plain PyTorch; runs on CPU, under CUDA autocast (bf16/fp16) and channels_last.

The generator is used in two halves, as StyleInV needs them: ``G.mapping`` (z → w, with the running mean w̄ that
the inversion encoder is built around and that truncation pulls toward) and ``G.synthesis`` (w in W, shape
(N, w_dim), or W+, shape (N, num_ws, w_dim) → image in about [-1, 1]).

Channel counts follow StyleGAN2-ADA: ``min(channel_base // resolution, channel_max)``.  ``channel_base=32768``
(the default) is config F (512 channels up to 64², 256 at 128², 128 at 256²); StyleGAN2-ADA's own 256² setting
("paper256") halves it to 16384; tiny values (512-2048 with ``channel_max`` 32-64) give CPU-sized models.

The discriminator's blocks are public and composable: :meth:`Discriminator.features` stops at a resolution and
:meth:`Discriminator.head` continues from there, so a video discriminator can run several frames through the
first blocks, fuse them along channels and finish with blocks of its own (:class:`DiscriminatorBlock` accepts any
input width).
"""
from __future__ import annotations

import math

import torch
from torch import nn

from .layers import (
    DEFAULT_FILTER, EqualConv2d, EqualLinear, MinibatchStd, SynthesisLayer, ToRGB, fp32_region, setup_filter,
    upsample2d,
)

Tensor = torch.Tensor

__all__ = [
    "MappingNetwork", "SynthesisBlock", "SynthesisNetwork", "Generator", "style_mix", "DiscriminatorBlock",
    "ConditionMap", "DiscriminatorEpilogue", "Discriminator", "channels_for", "normalize_2nd_moment",
]


def channels_for(resolution: int, channel_base: int, channel_max: int) -> int:
    """Feature maps at ``resolution`` (StyleGAN2-ADA's rule)."""
    return min(channel_base // resolution, channel_max)


def _log2_resolution(resolution: int) -> int:
    r = int(round(math.log2(resolution))) if resolution > 0 else 0
    if resolution < 4 or 2 ** r != resolution:
        raise ValueError(f"resolution must be a power of two >= 4, got {resolution}")
    return r


def normalize_2nd_moment(x: Tensor, dim: int = 1, eps: float = 1e-8) -> Tensor:
    """Scale each vector to unit root-mean-square (the mapping network's input "pixel norm")."""
    return x * (x.square().mean(dim=dim, keepdim=True) + eps).rsqrt()


# ----------------------------------------------------------------------------------------------------------------
# Generator
# ----------------------------------------------------------------------------------------------------------------

class MappingNetwork(nn.Module):
    """z → w: normalise z to unit second moment, then ``num_layers`` fully connected leaky-ReLU layers whose
    learning rate is scaled by ``lr_multiplier`` (0.01), and broadcast w to ``num_ws`` rows.

    The buffer ``w_avg`` (w̄) tracks the mean of w: every call in training mode moves it toward the batch mean,
    ``w̄ ← mean(w) + β (w̄ − mean(w))`` with β = ``w_avg_beta``.  Truncation replaces row ``l`` by
    ``w̄ + ψ (w − w̄)`` for ``l < truncation_cutoff`` (all rows when the cutoff is None).
    Runs in fp32 even inside an autocast region (it is cheap, and w̄ must not be rounded).
    """

    def __init__(self, z_dim: int, w_dim: int, num_ws: int, num_layers: int = 8, lr_multiplier: float = 0.01,
                 w_avg_beta: float | None = 0.995):
        super().__init__()
        self.z_dim, self.w_dim, self.num_ws, self.w_avg_beta = z_dim, w_dim, num_ws, w_avg_beta
        dims = [z_dim] + [w_dim] * num_layers
        self.layers = nn.ModuleList(EqualLinear(dims[i], dims[i + 1], activation="lrelu", lr_multiplier=lr_multiplier)
                                    for i in range(num_layers))
        self.register_buffer("w_avg", torch.zeros(w_dim))

    def forward(self, z: Tensor, truncation_psi: float = 1.0, truncation_cutoff: int | None = None,
                update_w_avg: bool | None = None) -> Tensor:
        """ws (N, num_ws, w_dim).  ``update_w_avg``: None = only in training mode."""
        if z.ndim != 2 or z.shape[1] != self.z_dim:
            raise ValueError(f"z must be (batch, {self.z_dim}), got {tuple(z.shape)}")
        with fp32_region(z.device.type):
            x = normalize_2nd_moment(z.float())
            for layer in self.layers:
                x = layer(x)
            if update_w_avg is None:
                update_w_avg = self.training
            if update_w_avg and self.w_avg_beta is not None:
                with torch.no_grad():
                    self.w_avg.copy_(x.detach().mean(dim=0).lerp(self.w_avg, self.w_avg_beta))
            ws = x.unsqueeze(1).repeat(1, self.num_ws, 1)
            if truncation_psi != 1:
                if self.w_avg_beta is None:
                    raise ValueError("truncation needs w_avg, which this mapping network does not track")
                cutoff = self.num_ws if truncation_cutoff is None else truncation_cutoff
                ws[:, :cutoff] = self.w_avg.lerp(ws[:, :cutoff], truncation_psi)
        return ws


class SynthesisBlock(nn.Module):
    """One resolution of the skip generator.  The 4² block starts from a learned constant and has one conv; the
    others upsample with their first conv (``conv0``) and refine with ``conv1``.  Every block ends in a toRGB whose
    output is added to the FIR-upsampled image of the previous block.  Uses ``num_conv + 1`` consecutive ws (the
    toRGB shares its w with the next block's first conv)."""

    def __init__(self, in_channels: int, out_channels: int, w_dim: int, resolution: int, img_channels: int,
                 conv_clamp: float | None = None, resample_filter=DEFAULT_FILTER):
        super().__init__()
        self.resolution, self.in_channels, self.out_channels = resolution, in_channels, out_channels
        if in_channels == 0:
            self.const = nn.Parameter(torch.randn(out_channels, resolution, resolution))
            self.conv0 = None
        else:
            self.conv0 = SynthesisLayer(in_channels, out_channels, w_dim, resolution, up=2, conv_clamp=conv_clamp,
                                        resample_filter=resample_filter)
        self.conv1 = SynthesisLayer(out_channels, out_channels, w_dim, resolution, conv_clamp=conv_clamp)
        self.torgb = ToRGB(out_channels, img_channels, w_dim, conv_clamp=conv_clamp)
        self.num_conv = 1 if in_channels == 0 else 2
        self.num_torgb = 1
        self.register_buffer("resample_filter", setup_filter(resample_filter), persistent=False)

    def forward(self, x: Tensor | None, img: Tensor | None, ws: Tensor, noise_mode: str = "random",
                fused: bool | None = None):
        """``ws`` (N, num_conv + 1, w_dim); returns (features, image so far); the image is fp32."""
        w_iter = iter(ws.unbind(dim=1))
        if self.conv0 is None:
            x = self.const.unsqueeze(0).expand(ws.shape[0], -1, -1, -1)
        else:
            x = self.conv0(x, next(w_iter), noise_mode=noise_mode, fused=fused)
        x = self.conv1(x, next(w_iter), noise_mode=noise_mode, fused=fused)
        y = self.torgb(x, next(w_iter), fused=fused).float()
        img = y if img is None else upsample2d(img, self.resample_filter) + y
        return x, img


class SynthesisNetwork(nn.Module):
    """W (N, w_dim) or W+ (N, num_ws, w_dim) → image (N, img_channels, R, R), about [-1, 1].

    ``num_ws = 2·log2(R) − 2``: one w per conv plus one for the final toRGB.  ``noise_mode``: see
    :class:`~styleinv_lib.nn.layers.SynthesisLayer`.  ``fused``: None = the layers' own setting (fused grouped
    convolution in eval mode, activation scaling while training); True/False forces one path.
    """

    def __init__(self, w_dim: int, img_resolution: int, img_channels: int = 3, channel_base: int = 32768,
                 channel_max: int = 512, conv_clamp: float | None = None):
        super().__init__()
        self.w_dim, self.img_resolution, self.img_channels = w_dim, img_resolution, img_channels
        self.resolutions = [2 ** i for i in range(2, _log2_resolution(img_resolution) + 1)]
        self.channels = {r: channels_for(r, channel_base, channel_max) for r in self.resolutions}
        if min(self.channels.values()) < 1:
            raise ValueError(f"channel_base={channel_base} leaves no channels at {img_resolution}²")
        self.blocks = nn.ModuleList(
            SynthesisBlock(self.channels[r // 2] if r > 4 else 0, self.channels[r], w_dim, r, img_channels,
                           conv_clamp=conv_clamp)
            for r in self.resolutions)
        self.num_ws = sum(b.num_conv for b in self.blocks) + self.blocks[-1].num_torgb

    def forward(self, ws: Tensor, noise_mode: str = "random", fused: bool | None = None,
                return_levels: bool = False):
        """The image; with ``return_levels`` also the running RGB sum after each block (4² up), the skip
        architecture's coarse-to-fine picture."""
        if ws.ndim == 2:
            ws = ws.unsqueeze(1).expand(-1, self.num_ws, -1)
        if ws.ndim != 3 or ws.shape[1:] != (self.num_ws, self.w_dim):
            raise ValueError(f"ws must be (N, {self.w_dim}) or (N, {self.num_ws}, {self.w_dim}), "
                             f"got {tuple(ws.shape)}")
        x = img = None
        idx, levels = 0, []
        for block in self.blocks:
            x, img = block(x, img, ws[:, idx: idx + block.num_conv + block.num_torgb], noise_mode=noise_mode,
                           fused=fused)
            idx += block.num_conv
            levels.append(img)
        return (img, levels) if return_levels else img


class Generator(nn.Module):
    """StyleGAN2 generator ``G(z) = G.synthesis(G.mapping(z))``.

    ``G.config`` is a plain JSON-serialisable dict and ``Generator(**G.config)`` rebuilds the same architecture
    (load the weights with ``load_state_dict``).  ``mapping_kwargs`` go to :class:`MappingNetwork`
    (num_layers, lr_multiplier, w_avg_beta), ``synthesis_kwargs`` to :class:`SynthesisNetwork`
    (channel_base, channel_max, conv_clamp).
    """

    def __init__(self, z_dim: int = 512, w_dim: int = 512, img_resolution: int = 256, img_channels: int = 3,
                 mapping_kwargs: dict | None = None, synthesis_kwargs: dict | None = None):
        super().__init__()
        mapping_kwargs, synthesis_kwargs = dict(mapping_kwargs or {}), dict(synthesis_kwargs or {})
        self.config = dict(z_dim=z_dim, w_dim=w_dim, img_resolution=img_resolution, img_channels=img_channels,
                           mapping_kwargs=mapping_kwargs, synthesis_kwargs=synthesis_kwargs)
        self.z_dim, self.w_dim, self.img_resolution, self.img_channels = z_dim, w_dim, img_resolution, img_channels
        self.synthesis = SynthesisNetwork(w_dim, img_resolution, img_channels, **synthesis_kwargs)
        self.num_ws = self.synthesis.num_ws
        self.mapping = MappingNetwork(z_dim, w_dim, self.num_ws, **mapping_kwargs)

    @property
    def w_avg(self) -> Tensor:
        """w̄, the tracked mean of w (the centre of truncation and of StyleInV's inversion)."""
        return self.mapping.w_avg

    def forward(self, z: Tensor, truncation_psi: float = 1.0, truncation_cutoff: int | None = None,
                noise_mode: str = "random", return_ws: bool = False, fused: bool | None = None):
        ws = self.mapping(z, truncation_psi=truncation_psi, truncation_cutoff=truncation_cutoff)
        img = self.synthesis(ws, noise_mode=noise_mode, fused=fused)
        return (img, ws) if return_ws else img


def style_mix(G: Generator, z: Tensor, ws: Tensor, prob: float = 0.9,
              generator: torch.Generator | None = None) -> Tensor:
    """Style-mixing regularisation (StyleGAN2-ADA's loss): with probability ``prob`` draw one cutoff
    ``c ∈ [1, num_ws)`` for the batch, map a second latent ``z2 ~ N(0, I)`` (without updating w̄) and return ws
    whose rows ``c:`` come from z2; otherwise ``ws`` unchanged.  ``ws`` itself is never modified.
    ``generator`` makes the draw reproducible (a CPU generator works for CUDA tensors too)."""
    num_ws = ws.shape[1]
    if prob <= 0 or num_ws < 2:
        return ws
    gen_device = generator.device if generator is not None else torch.device("cpu")
    cutoff = int(torch.randint(1, num_ws, (), generator=generator, device=gen_device))
    if float(torch.rand((), generator=generator, device=gen_device)) >= prob:
        return ws
    if generator is not None:
        z2 = torch.randn(z.shape, generator=generator, device=gen_device, dtype=z.dtype).to(z.device)
    else:
        z2 = torch.randn_like(z)
    mixed = ws.clone()
    mixed[:, cutoff:] = G.mapping(z2, update_w_avg=False)[:, cutoff:].to(ws.dtype)
    return mixed


# ----------------------------------------------------------------------------------------------------------------
# Discriminator
# ----------------------------------------------------------------------------------------------------------------

class DiscriminatorBlock(nn.Module):
    """Resnet block at ``resolution``: (fromRGB, 1×1, on the first block) → 3×3 conv → 3×3 conv with 2×
    downsampling, plus a 1×1 downsampling skip without bias; both branches are scaled by √½ before the sum, which
    keeps the variance.  Output: ``out_channels`` at resolution/2.

    ``first`` (default: ``in_channels == 0``) makes the block read an image through fromRGB.  Otherwise the input
    has ``in_channels`` maps; in StyleGAN2 that equals ``tmp_channels``, but any width works (e.g. several frames'
    features concatenated along channels), the first conv and the skip then map ``in_channels`` onward.
    """

    def __init__(self, in_channels: int, tmp_channels: int, out_channels: int, resolution: int,
                 img_channels: int = 3, conv_clamp: float | None = None, first: bool | None = None,
                 resample_filter=DEFAULT_FILTER):
        super().__init__()
        self.first = (in_channels == 0) if first is None else bool(first)
        self.resolution, self.img_channels = resolution, img_channels
        self.in_channels = tmp_channels if self.first else in_channels
        self.tmp_channels, self.out_channels = tmp_channels, out_channels
        self.fromrgb = EqualConv2d(img_channels, tmp_channels, 1, activation="lrelu", conv_clamp=conv_clamp) \
            if self.first else None
        self.conv0 = EqualConv2d(self.in_channels, tmp_channels, 3, activation="lrelu", conv_clamp=conv_clamp)
        self.conv1 = EqualConv2d(tmp_channels, out_channels, 3, activation="lrelu", down=2,
                                 resample_filter=resample_filter, conv_clamp=conv_clamp)
        self.skip = EqualConv2d(self.in_channels, out_channels, 1, bias=False, down=2,
                                resample_filter=resample_filter)

    def forward(self, x: Tensor | None, img: Tensor | None = None) -> Tensor:
        """``x``: features (N, in_channels, R, R), or None on the first block, which reads ``img`` instead
        (for convenience the first block also accepts the image as ``x``)."""
        if self.fromrgb is not None:
            x = self.fromrgb(img if img is not None else x)
        y = self.skip(x, gain=math.sqrt(0.5))
        x = self.conv1(self.conv0(x), gain=math.sqrt(0.5))
        return y + x


class ConditionMap(nn.Module):
    """Embeds a condition vector ``c`` (a class, or a video discriminator's time differences) into the
    ``cmap_dim`` vector of projection conditioning: a linear embedding, 2nd-moment normalisation, then
    ``num_layers`` leaky-ReLU FC layers at ``lr_multiplier`` (StyleGAN2-ADA: a mapping network with z_dim=0,
    8 layers, lr × 0.01, the defaults here)."""

    def __init__(self, c_dim: int, cmap_dim: int, num_layers: int = 8, lr_multiplier: float = 0.01):
        super().__init__()
        self.c_dim, self.cmap_dim = c_dim, cmap_dim
        self.embed = EqualLinear(c_dim, cmap_dim)
        self.layers = nn.ModuleList(EqualLinear(cmap_dim, cmap_dim, activation="lrelu", lr_multiplier=lr_multiplier)
                                    for _ in range(num_layers))

    def forward(self, c: Tensor) -> Tensor:
        with fp32_region(c.device.type):
            x = normalize_2nd_moment(self.embed(c.float()))
            for layer in self.layers:
                x = layer(x)
        return x


class DiscriminatorEpilogue(nn.Module):
    """The 4² end of the discriminator: minibatch-std → 3×3 conv → FC → output.  Unconditional: one logit.
    Conditional (``cmap_dim > 0``): the output is a ``cmap_dim`` vector projected on the condition embedding,
    ``(x · cmap).sum(1) / sqrt(cmap_dim)`` (projection discriminator)."""

    def __init__(self, in_channels: int, resolution: int = 4, cmap_dim: int = 0, mbstd_group_size: int = 4,
                 mbstd_num_channels: int = 1, conv_clamp: float | None = None):
        super().__init__()
        self.in_channels, self.resolution, self.cmap_dim = in_channels, resolution, cmap_dim
        self.mbstd = MinibatchStd(mbstd_group_size, mbstd_num_channels) if mbstd_num_channels > 0 else None
        self.conv = EqualConv2d(in_channels + mbstd_num_channels, in_channels, 3, activation="lrelu",
                                conv_clamp=conv_clamp)
        self.fc = EqualLinear(in_channels * resolution ** 2, in_channels, activation="lrelu")
        self.out = EqualLinear(in_channels, cmap_dim if cmap_dim > 0 else 1)

    def forward(self, x: Tensor, cmap: Tensor | None = None) -> Tensor:
        if self.mbstd is not None:
            x = self.mbstd(x)
        x = self.fc(self.conv(x).flatten(1))
        x = self.out(x).float()
        if self.cmap_dim > 0:
            if cmap is None:
                raise ValueError("this discriminator is conditional: pass c")
            x = (x * cmap.float()).sum(dim=1, keepdim=True) / math.sqrt(self.cmap_dim)
        return x


class Discriminator(nn.Module):
    """StyleGAN2 "resnet" discriminator: image (N, C, R, R) [and condition c (N, c_dim)] → logits (N, 1), fp32.

    ``blocks`` is a ModuleDict keyed by the block's input resolution as a string ('256', '128', ..., '8');
    block ``r`` maps ``channels[r]`` maps at r² to ``channels[r // 2]`` at (r/2)²; ``b4`` is the epilogue.
    ``D.config`` rebuilds it: ``Discriminator(**D.config)``.
    """

    def __init__(self, img_resolution: int, img_channels: int = 3, channel_base: int = 32768,
                 channel_max: int = 512, mbstd_group_size: int = 4, mbstd_num_channels: int = 1, c_dim: int = 0,
                 cmap_dim: int | None = None, conv_clamp: float | None = None, mapping_kwargs: dict | None = None):
        super().__init__()
        mapping_kwargs = dict(mapping_kwargs or {})
        self.config = dict(img_resolution=img_resolution, img_channels=img_channels, channel_base=channel_base,
                           channel_max=channel_max, mbstd_group_size=mbstd_group_size,
                           mbstd_num_channels=mbstd_num_channels, c_dim=c_dim, cmap_dim=cmap_dim,
                           conv_clamp=conv_clamp)
        if mapping_kwargs:
            self.config["mapping_kwargs"] = mapping_kwargs
        self.img_resolution, self.img_channels, self.c_dim = img_resolution, img_channels, c_dim
        if _log2_resolution(img_resolution) < 3:
            raise ValueError(f"the discriminator needs img_resolution >= 8, got {img_resolution}")
        self.block_resolutions = [2 ** i for i in range(_log2_resolution(img_resolution), 2, -1)]
        self.channels = {r: channels_for(r, channel_base, channel_max) for r in self.block_resolutions + [4]}
        if min(self.channels.values()) < 1:
            raise ValueError(f"channel_base={channel_base} leaves no channels at {img_resolution}²")
        self.blocks = nn.ModuleDict()
        for r in self.block_resolutions:
            first = r == img_resolution
            self.blocks[str(r)] = DiscriminatorBlock(0 if first else self.channels[r], self.channels[r],
                                                     self.channels[r // 2], r, img_channels, conv_clamp=conv_clamp)
        if c_dim > 0:
            self.cmap_dim = cmap_dim or self.channels[4]
            self.mapping = ConditionMap(c_dim, self.cmap_dim, **mapping_kwargs)
        else:
            self.cmap_dim, self.mapping = 0, None
        self.b4 = DiscriminatorEpilogue(self.channels[4], 4, self.cmap_dim, mbstd_group_size, mbstd_num_channels,
                                        conv_clamp)

    def _check_res(self, res: int, name: str) -> int:
        res = int(res)
        if res not in self.channels or res == self.img_resolution:
            raise ValueError(f"{name} must be one of {sorted(r for r in self.channels if r < self.img_resolution)}, "
                             f"got {res}")
        return res

    def features(self, img: Tensor, stop_res: int | None = None, *, until: int | None = None) -> Tensor:
        """The activations at resolution ``stop_res`` (< img_resolution): the output of the block that
        downsamples to it, shape (N, channels[stop_res], stop_res, stop_res).  (``until`` is an alias.)"""
        stop_res = self._check_res(stop_res if stop_res is not None else until, "stop_res")
        x = None
        for r in self.block_resolutions:
            if r <= stop_res:
                break
            x = self.blocks[str(r)](x, img)
        return x

    def head(self, x: Tensor, from_res: int, c: Tensor | None = None) -> Tensor:
        """Continue from activations at ``from_res`` (as :meth:`features` returns them) to the logits."""
        from_res = self._check_res(from_res, "from_res")
        for r in self.block_resolutions:
            if r <= from_res:
                x = self.blocks[str(r)](x)
        cmap = None
        if self.mapping is not None:
            if c is None:
                raise ValueError(f"this discriminator is conditional (c_dim={self.c_dim}): pass c")
            cmap = self.mapping(c)
        return self.b4(x, cmap)

    def forward(self, img: Tensor, c: Tensor | None = None) -> Tensor:
        return self.head(self.features(img, 4), 4, c)
