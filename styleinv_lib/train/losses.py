"""GAN losses and regularisers of StyleGAN2 / StyleGAN2-ADA, shared by every training stage.

* :func:`d_logistic_loss`, :func:`g_nonsaturating_loss`: the logistic GAN loss of Goodfellow et al. with the
  non-saturating generator loss, written with softplus (``-log σ(x) = softplus(-x)``, ``-log(1 - σ(x)) =
  softplus(x)``), which is exact and stable for any logit.
* :func:`r1_penalty`: Mescheder et al. 2018's R1, ``‖∇_x D(x)‖²`` on real data, weighted by ``γ/2``;
  :func:`default_r1_gamma` is the ADA heuristic for γ.
* :class:`PathLengthRegularizer`: StyleGAN2's path-length regulariser on G.
* Lazy regularisation (StyleGAN2, Sec. 3.1 / App. B): the regularisers are evaluated only every ``interval``
  minibatches, their loss multiplied by ``interval`` (:func:`lazy_interval_scale`) so the average strength is
  unchanged, and Adam's lr and betas corrected for the extra steps (:func:`adjusted_adam_params`).

Putting them together (one D iteration, as in StyleGAN2-ADA)::

    loss_D = d_logistic_loss(D(aug(reals)), D(aug(fakes.detach())))
    if step % D_REG_INTERVAL == 0:                          # lazy R1
        reals.requires_grad_(True)
        loss_D = loss_D + r1_penalty(D(aug(reals)), reals) * (gamma / 2) * lazy_interval_scale(D_REG_INTERVAL)

The values below were read from ``NVlabs/stylegan2-ada-pytorch`` (``train.py``, ``training/loss.py``,
``training/training_loop.py``): Adam(lr 0.0025 below 1024² else 0.002, betas (0, 0.99), eps 1e-8), G_reg_interval 4,
D_reg_interval 16, pl_weight 2, pl_decay 0.01, pl_batch_shrink 2, R1 γ from :func:`default_r1_gamma` in the "auto"
config.  R1 and the path-length penalty under mixed precision: compute them from float32 logits/images.
"""
from __future__ import annotations

import math
from typing import Optional, Sequence

import torch
import torch.nn.functional as F

__all__ = [
    "ADAM_BETAS", "D_REG_INTERVAL", "G_REG_INTERVAL", "PL_BATCH_SHRINK", "PL_DECAY", "PL_WEIGHT",
    "PathLengthRegularizer", "adjusted_adam_params", "d_logistic_loss", "default_pl_weight", "default_r1_gamma",
    "g_nonsaturating_loss", "lazy_interval_scale", "paper_pl_weight", "r1_penalty",
]

G_REG_INTERVAL = 4        #: path-length regularisation every 4 G minibatches
D_REG_INTERVAL = 16       #: R1 every 16 D minibatches
ADAM_BETAS = (0.0, 0.99)  #: StyleGAN2's Adam betas (eps 1e-8)
PL_WEIGHT = 2.0           #: path-length weight, with the normalisation of :class:`PathLengthRegularizer`
PL_DECAY = 0.01           #: EMA rate of the target length ``a``
PL_BATCH_SHRINK = 2       #: the path-length pass uses batch_size // 2 samples


def _reduce(values: torch.Tensor, reduction: str) -> torch.Tensor:
    if reduction == "mean":
        return values.mean()
    if reduction == "sum":
        return values.sum()
    if reduction == "none":
        return values
    raise ValueError(f"reduction must be 'mean', 'sum' or 'none', not {reduction!r}")


# ---------------------------------------------------------------------------------------------------------------
# Adversarial losses

def d_logistic_loss(real_logits: torch.Tensor, fake_logits: torch.Tensor) -> torch.Tensor:
    """Discriminator loss ``E[softplus(D(fake))] + E[softplus(-D(real))]`` (= ``-log(1-σ(fake)) - log σ(real)``).

    Each term is averaged over its own batch, so reals and fakes may come in different numbers.  Scalar.
    """
    return F.softplus(fake_logits).mean() + F.softplus(-real_logits).mean()


def g_nonsaturating_loss(fake_logits: torch.Tensor) -> torch.Tensor:
    """Non-saturating generator loss ``E[softplus(-D(fake))]`` (= ``-log σ(D(fake))``).  Scalar."""
    return F.softplus(-fake_logits).mean()


# ---------------------------------------------------------------------------------------------------------------
# R1

def r1_penalty(real_logits: torch.Tensor, real_images: torch.Tensor, reduction: str = "mean") -> torch.Tensor:
    """R1 gradient penalty: per sample, the squared norm of ``∂ D(x)/∂ x`` over all its pixels.

    ``real_images`` must have ``requires_grad=True`` and ``real_logits`` must come from it (through the augmentation
    pipe, if any: the gradient is taken w.r.t. the *un-augmented* reals, as in StyleGAN2-ADA).  Works for images
    ``(N, C, H, W)`` and clips ``(N, T, C, H, W)`` alike: per sample, the sum over every non-batch dimension.
    The graph is kept (``create_graph=True``) so the penalty can be back-propagated to D's weights.

    Returns the batch mean by default (``reduction="none"``: the per-sample vector, ``"sum"``: the sum).  The loss
    term is ``(gamma / 2) * r1_penalty(...)``, times :func:`lazy_interval_scale` when lazy.
    """
    if not real_images.requires_grad:
        raise ValueError("r1_penalty: real_images must require grad (call real_images.requires_grad_(True) "
                         "before running D on them)")
    (grad,) = torch.autograd.grad(outputs=real_logits.sum(), inputs=real_images, create_graph=True)
    return _reduce(grad.square().flatten(1).sum(1), reduction)


def default_r1_gamma(resolution: int, batch_size: int) -> float:
    """StyleGAN2-ADA's heuristic R1 weight for its "auto" config: ``γ = 0.0002 · resolution² / batch_size``.

    γ grows with the number of pixels (the squared gradient norm is a sum over pixels, and higher resolutions need
    a stronger penalty) and shrinks with the batch size (the total minibatch over all GPUs).  For reference, the
    "auto" config pairs it with ``batch_size = clamp(gpus * min(4096 // resolution, 32), gpus, 64)``: one GPU at
    64² gives batch 32, γ = 0.0256; at 256², batch 16, γ = 0.8192.  Hand-tuned configs used γ = 10 (StyleGAN2,
    FFHQ 1024²), 1 (256²), 0.5 (512²).
    """
    return 0.0002 * resolution ** 2 / batch_size


# ---------------------------------------------------------------------------------------------------------------
# Path length

def default_pl_weight() -> float:
    """The path-length weight of StyleGAN2 / StyleGAN2-ADA: 2, for the normalisation of
    :class:`PathLengthRegularizer` (probe ``y ~ N(0, I)/√(H·W)``, length averaged over the ``num_ws`` copies of w).

    This equals the paper's ``γ_pl = ln 2 / (r² (ln r − ln 2))`` (StyleGAN2, App. B) for an unnormalised probe and
    a length summed over the ``num_ws = 2 log2(r) − 2`` copies: the probe scaling divides the squared length by
    ``r²``, the average over w copies by ``num_ws``, and ``2 / num_ws = ln 2 / (ln r − ln 2)``.  So the constant 2
    stays correct at every resolution; see :func:`paper_pl_weight`.
    """
    return PL_WEIGHT


def paper_pl_weight(resolution: int) -> float:
    """``ln 2 / (r² (ln r − ln 2))``: the path-length weight of the StyleGAN2 paper, for the unnormalised
    formulation (``y ~ N(0, I)``, ``‖Jᵀy‖²`` summed over all w copies).  Not what :class:`PathLengthRegularizer`
    expects (use :func:`default_pl_weight` there); given to document the equivalence."""
    r = float(resolution)
    return math.log(2) / (r * r * (math.log(r) - math.log(2)))


class PathLengthRegularizer(torch.nn.Module):
    """StyleGAN2's path-length regulariser ``E_{w,y} (‖J_wᵀ y‖ − a)²`` with ``J_w = ∂g(w)/∂w``.

    ``y`` is Gaussian noise with the shape of the image, scaled by ``1/√(H·W)`` (so the length does not grow with
    the resolution); ``J_wᵀ y = ∇_w (g(w)·y)`` is obtained by one backward pass.  For ``ws`` of shape
    ``(N, num_ws, w_dim)`` the length is ``sqrt(mean over num_ws of sum over w_dim of (J_wᵀ y)²)``; for
    ``(N, w_dim)`` it is the plain norm.  ``a`` is the exponential moving average of the lengths, kept in the buffer
    :attr:`pl_mean` (so it is saved with ``state_dict()`` and moves with ``.to()``), updated at each call by
    ``pl_mean ← pl_mean + decay · (mean length − pl_mean)``; the penalty uses the updated value (as in the official
    code, where a sliver of gradient — weight ``decay`` — also flows through it).

    ``batch_shrink``: the regularisation pass runs on ``batch_size // batch_shrink`` samples (:meth:`batch_size`)
    to save memory; the caller generates that many images.  Loss term: ``default_pl_weight() * penalty``, times
    :func:`lazy_interval_scale` (``G_REG_INTERVAL``).
    """

    def __init__(self, decay: float = PL_DECAY, batch_shrink: int = PL_BATCH_SHRINK):
        super().__init__()
        self.decay, self.batch_shrink = float(decay), int(batch_shrink)
        self.register_buffer("pl_mean", torch.zeros([]))

    def extra_repr(self) -> str:
        return f"decay={self.decay:g}, batch_shrink={self.batch_shrink}, pl_mean={float(self.pl_mean):.4f}"

    def batch_size(self, batch_size: int) -> int:
        """How many samples the regularisation pass should use for a minibatch of ``batch_size``."""
        return max(batch_size // self.batch_shrink, 1)

    def lengths(self, fake_images: torch.Tensor, ws: torch.Tensor,
                noise: Optional[torch.Tensor] = None, generator: Optional[torch.Generator] = None) -> torch.Tensor:
        """Per-sample ``‖J_wᵀ y‖`` (N,), differentiable (graph kept).  ``noise`` overrides the random probe ``y``
        (given unscaled: it is divided by √(H·W) here)."""
        if not ws.requires_grad:
            raise ValueError("PathLengthRegularizer: ws must require grad and fake_images must be computed from it")
        h, w = fake_images.shape[-2:]
        if noise is None:
            src = generator.device if generator is not None else fake_images.device
            noise = torch.randn(fake_images.shape, generator=generator, device=src).to(fake_images.device)
        probe = noise.to(fake_images.dtype) / math.sqrt(h * w)
        (grad,) = torch.autograd.grad(outputs=(fake_images * probe).sum(), inputs=ws, create_graph=True)
        sq = grad.to(torch.promote_types(grad.dtype, torch.float32)).square().sum(-1)   # fp16 → fp32
        if sq.ndim == 2:                    # (N, num_ws)
            sq = sq.mean(1)
        return sq.sqrt()

    def penalty(self, fake_images: torch.Tensor, ws: torch.Tensor, reduction: str = "mean",
                noise: Optional[torch.Tensor] = None, generator: Optional[torch.Generator] = None) -> torch.Tensor:
        """``(‖J_wᵀ y‖ − a)²``: batch mean by default (``"none"``: per sample).  Updates :attr:`pl_mean`."""
        lengths = self.lengths(fake_images, ws, noise=noise, generator=generator)
        target = self.pl_mean.lerp(lengths.mean(), self.decay)
        with torch.no_grad():
            self.pl_mean.copy_(target.detach())
        return _reduce((lengths - target).square(), reduction)


# ---------------------------------------------------------------------------------------------------------------
# Lazy regularisation

def lazy_interval_scale(interval: Optional[int]) -> float:
    """Factor for a regulariser evaluated once every ``interval`` minibatches: ``interval`` (1 when not lazy), so
    that its average contribution per minibatch is the same as if evaluated every time."""
    return float(interval) if interval else 1.0


def adjusted_adam_params(lr: float, betas: Sequence[float], reg_interval: Optional[int]) -> tuple[float, tuple]:
    """Adam hyper-parameters corrected for lazy regularisation, as StyleGAN2 does.

    With a regularisation step every ``k = reg_interval`` main steps the optimiser takes ``k + 1`` steps where
    plain training would take ``k``; with ``c = k / (k + 1)``: ``lr → lr · c``, ``β → β ** c`` (the moments then
    decay per *main* step as they would without the extra steps).  ``reg_interval`` None or 0: unchanged.
    E.g. ``adjusted_adam_params(0.0025, (0, 0.99), 16) == (0.0023529…, (0.0, 0.99054…))``.
    """
    if not reg_interval:
        return float(lr), tuple(float(b) for b in betas)
    ratio = reg_interval / (reg_interval + 1)
    return lr * ratio, tuple(float(b) ** ratio for b in betas)
