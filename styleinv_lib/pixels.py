"""Generator output and pixels: the one conversion every consumer of generated images must agree on."""
from __future__ import annotations

import torch

__all__ = ["to_uint8"]


def to_uint8(images: torch.Tensor) -> torch.Tensor:
    """Generator output in [-1, 1] → uint8, rounding like StyleGAN-V's metric code (``x * 127.5 + 128``, clamped,
    truncated), so that frames written to files and frames fed to the metrics are the same integers."""
    return (images * 127.5 + 128).clamp(0, 255).to(torch.uint8)
