"""An autoregressive motion generator in W: the MoCoGAN-HD-style baseline StyleInV is compared with (chapter 9).

MoCoGAN-HD (Tian et al. 2021) keeps a pretrained StyleGAN2 fixed and generates a video as a walk in its latent
space: a recurrent network, started from the first frame's code, predicts the next code from the previous state
and fresh noise.  Our version works in W, like StyleInV, so both decode with the same generator:

* the LSTM state starts from ``w0`` (two linear maps give ``h_0`` and ``c_0``);
* at step ``t ≥ 1`` the LSTM reads noise ``ε_t`` (drawn from the video's motion seed, so a video is reproducible
  and can be extended) and updates its state;
* the frame latent is a bounded residual, ``w_t = w0 + scale ⊙ tanh(A h_t)``, and ``w_0 = w0`` exactly.

The contrast with StyleInV (Eq. 2) is structural: frame ``t`` needs the ``t − 1`` frames before it (generation is
sequential and training must unroll whole clips, judged by a dense video discriminator,
:class:`~styleinv_lib.nn.temporal_disc.TemporalVideoDiscriminator`), and nothing ties a late frame to ``w0``
except the recurrence, so long videos can drift or freeze.
"""
from __future__ import annotations

import torch
from torch import nn

Tensor = torch.Tensor

__all__ = ["AutoregressiveMotion"]


class AutoregressiveMotion(nn.Module):
    """``forward(w0 (B, w_dim), num_frames, motion_seeds (B,)) -> w (B, T, w_dim)`` with ``w[:, 0] == w0``.

    ``config`` rebuilds it: ``AutoregressiveMotion(**M.config)``.
    """

    def __init__(self, w_dim: int, hidden_dim: int = 512, noise_dim: int = 128, residual_scale: float = 1.0):
        super().__init__()
        self.config = dict(w_dim=w_dim, hidden_dim=hidden_dim, noise_dim=noise_dim, residual_scale=residual_scale)
        self.w_dim, self.hidden_dim, self.noise_dim = w_dim, hidden_dim, noise_dim
        self.init_h = nn.Linear(w_dim, hidden_dim)
        self.init_c = nn.Linear(w_dim, hidden_dim)
        self.cell = nn.LSTMCell(noise_dim, hidden_dim)
        self.to_w = nn.Linear(hidden_dim, w_dim)
        self.scale = nn.Parameter(torch.full((w_dim,), float(residual_scale)))

    def noise(self, motion_seeds, num_frames: int, device=None) -> Tensor:
        """``ε`` (B, T, noise_dim): video ``b``'s noise is a function of its seed only, so the first frames of a
        longer video are those of a shorter one."""
        seeds = [int(s) for s in torch.as_tensor(motion_seeds).reshape(-1).tolist()]
        eps = torch.stack([torch.randn(num_frames, self.noise_dim, generator=torch.Generator().manual_seed(s))
                           for s in seeds])
        return eps.to(device)

    def forward(self, w0: Tensor, num_frames: int, motion_seeds=None) -> Tensor:
        if w0.ndim != 2 or w0.shape[1] != self.w_dim:
            raise ValueError(f"w0 must be (batch, {self.w_dim}), got {tuple(w0.shape)}")
        if num_frames < 1:
            raise ValueError(f"num_frames must be >= 1, got {num_frames}")
        b = w0.shape[0]
        seeds = torch.arange(b) if motion_seeds is None else torch.as_tensor(motion_seeds)
        if seeds.numel() != b:
            raise ValueError(f"motion_seeds must hold one seed per video ({b}), got {seeds.numel()}")
        eps = self.noise(seeds, num_frames, w0.device).to(w0.dtype)
        h, c = torch.tanh(self.init_h(w0)), self.init_c(w0)
        out = [w0]
        for t in range(1, num_frames):                                  # sequential: frame t needs frame t-1
            h, c = self.cell(eps[:, t], (h, c))
            out.append(w0 + self.scale * torch.tanh(self.to_w(h)))
        return torch.stack(out, dim=1)
