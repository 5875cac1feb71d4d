"""An autoregressive motion generator in W: the MoCoGAN-HD-style baseline StyleInV is compared with (chapter 9).

MoCoGAN-HD (Tian et al. 2021) keeps a pretrained StyleGAN2 fixed and generates a video as a walk in its latent
space: a recurrent network, started from the first frame's code, predicts the next code from the previous state
and fresh noise.  Our version works in W, like StyleInV, so both decode with the same generator, and follows
MoCoGAN-HD's update rule:

* the LSTM state starts from ``w0`` (two linear maps give ``h_0`` and ``c_0``);
* at step ``t ≥ 1`` the LSTM reads noise ``ε_t`` (drawn from the video's motion seed, so a video is reproducible
  and can be extended) and updates its state;
* the latent takes a bounded step along W's principal directions, ``w_t = w_{t-1} + λ · tanh(A h_t + b) · P``,
  where the rows of ``P`` are W's principal axes scaled by their standard deviations
  (:func:`principal_basis`), ``λ`` is ``step_scale`` (0.2, as MoCoGAN-HD) and ``A`` starts small (std 0.02),
  so an untrained network barely moves and ``w_0 = w0`` exactly.

The contrast with StyleInV (Eq. 2) is structural: frame ``t`` needs the ``t − 1`` frames before it (generation is
sequential and training must unroll whole clips, judged by a dense video discriminator,
:class:`~styleinv_lib.nn.temporal_disc.TemporalVideoDiscriminator`), and the latent is a sum of ``t`` steps with
nothing tying it back to ``w0``, so a long video can drift away from its subject or freeze.
"""
from __future__ import annotations

import torch
from torch import nn

Tensor = torch.Tensor

__all__ = ["AutoregressiveMotion", "principal_basis"]


@torch.no_grad()
def principal_basis(w: Tensor) -> Tensor:
    """``(w_dim, w_dim)``: the principal axes of the latent samples ``w`` (N, w_dim), one per row, in decreasing
    order of variance, each scaled by its standard deviation (MoCoGAN-HD's ``pca_comp * pca_stdev``).  A unit step
    along every row moves a latent by about one standard deviation of W in that direction."""
    if w.ndim != 2 or w.shape[0] < 2:
        raise ValueError(f"principal_basis needs (N >= 2, w_dim) latent samples, got {tuple(w.shape)}")
    centred = (w - w.mean(0)).double()
    _, s, vh = torch.linalg.svd(centred, full_matrices=False)
    std = s / (w.shape[0] - 1) ** 0.5
    basis = torch.zeros(w.shape[1], w.shape[1], dtype=torch.float64)
    basis[: vh.shape[0]] = vh * std[:, None]
    return basis.to(w.dtype)


class AutoregressiveMotion(nn.Module):
    """``forward(w0 (B, w_dim), num_frames, motion_seeds (B,)) -> w (B, T, w_dim)`` with ``w[:, 0] == w0``.

    ``config`` rebuilds it: ``AutoregressiveMotion(**M.config)`` (the basis is a buffer, so it travels in the
    state dict; until :meth:`set_basis` is called it is the identity).
    """

    def __init__(self, w_dim: int, hidden_dim: int = 512, noise_dim: int = 128, step_scale: float = 0.2,
                 init_std: float = 0.02):
        super().__init__()
        self.config = dict(w_dim=w_dim, hidden_dim=hidden_dim, noise_dim=noise_dim, step_scale=step_scale,
                           init_std=init_std)
        self.w_dim, self.hidden_dim, self.noise_dim = w_dim, hidden_dim, noise_dim
        self.step_scale = float(step_scale)
        self.init_h = nn.Linear(w_dim, hidden_dim)
        self.init_c = nn.Linear(w_dim, hidden_dim)
        self.cell = nn.LSTMCell(noise_dim, hidden_dim)
        self.to_step = nn.Linear(hidden_dim, w_dim)
        nn.init.normal_(self.to_step.weight, std=init_std)
        nn.init.zeros_(self.to_step.bias)
        self.register_buffer("basis", torch.eye(w_dim))

    def set_basis(self, basis: Tensor) -> None:
        """Use ``basis`` (w_dim, w_dim), e.g. :func:`principal_basis` of the generator's W, for the steps."""
        if basis.shape != (self.w_dim, self.w_dim):
            raise ValueError(f"basis must be ({self.w_dim}, {self.w_dim}), got {tuple(basis.shape)}")
        self.basis.copy_(basis)

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
        basis = self.basis.to(w0.dtype)
        h, c = torch.tanh(self.init_h(w0)), self.init_c(w0)
        out = [w0]
        for t in range(1, num_frames):                                  # sequential: frame t needs frame t-1
            h, c = self.cell(eps[:, t], (h, c))
            out.append(out[-1] + self.step_scale * torch.tanh(self.to_step(h)) @ basis)
        return torch.stack(out, dim=1)
