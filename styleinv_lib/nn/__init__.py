"""Networks.  StyleGAN2 (``stylegan2``, built from ``layers``): mapping, synthesis, generator, discriminator and its
composable blocks, style mixing.  (Later modules here: the inversion encoders, the motion mapping, the video D.)"""
from .layers import (
    Blur, EqualConv2d, EqualLinear, MinibatchStd, ModulatedConv2d, SynthesisLayer, ToRGB, bias_act, conv2d_resample,
    downsample2d, modulated_conv2d, setup_filter, upfirdn2d, upsample2d,
)
from .stylegan2 import (
    ConditionMap, Discriminator, DiscriminatorBlock, DiscriminatorEpilogue, Generator, MappingNetwork,
    SynthesisBlock, SynthesisNetwork, style_mix,
)

__all__ = [
    "Blur", "ConditionMap", "Discriminator", "DiscriminatorBlock", "DiscriminatorEpilogue", "EqualConv2d",
    "EqualLinear", "Generator", "MappingNetwork", "MinibatchStd", "ModulatedConv2d", "SynthesisBlock",
    "SynthesisLayer", "SynthesisNetwork", "ToRGB", "bias_act", "conv2d_resample", "downsample2d",
    "modulated_conv2d", "setup_filter", "style_mix", "upfirdn2d", "upsample2d",
]
