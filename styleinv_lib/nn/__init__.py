"""Networks.  StyleGAN2 (``stylegan2``, built from ``layers``): mapping, synthesis, generator, discriminator and its
composable blocks, style mixing.  ``motion``: APE / FFA-APE motion codes v_t (§3.3).  ``video_disc``: the
first-frame-aware sparse video discriminator (§3.4).  ``encoder``: the inversion encoder (Eq. 1)."""
from .layers import (
    Blur, EqualConv2d, EqualLinear, MinibatchStd, ModulatedConv2d, SynthesisLayer, ToRGB, bias_act, conv2d_resample,
    downsample2d, modulated_conv2d, setup_filter, upfirdn2d, upsample2d,
)
from .motion import MotionEncoder, SeededAnchorNoise, anchor_noise
from .stylegan2 import (
    ConditionMap, Discriminator, DiscriminatorBlock, DiscriminatorEpilogue, Generator, MappingNetwork,
    SynthesisBlock, SynthesisNetwork, style_mix,
)
from .video_disc import SparseVideoDiscriminator

__all__ = [
    "Blur", "ConditionMap", "Discriminator", "DiscriminatorBlock", "DiscriminatorEpilogue", "EqualConv2d",
    "EqualLinear", "Generator", "MappingNetwork", "MinibatchStd", "ModulatedConv2d", "MotionEncoder",
    "SeededAnchorNoise", "SparseVideoDiscriminator", "SynthesisBlock", "SynthesisLayer", "SynthesisNetwork", "ToRGB",
    "anchor_noise", "bias_act", "conv2d_resample", "downsample2d", "modulated_conv2d", "setup_filter", "style_mix",
    "upfirdn2d", "upsample2d",
]
