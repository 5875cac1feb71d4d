"""GAN inversion: find the ``w`` in W whose image ``G.synthesis(w)`` reconstructs a frame (paper Eq. 1, §3.1).

Three ways, all returning an :class:`InversionResult`:

* ``"encoder"``: one forward pass, ``w = E(x)`` with E's offset added to w̄ (Eq. 1) — what StyleInV uses: fast,
  and the inverted frames of a video land close together in W (§3.1), which the motion generator relies on;
* ``"optimise"``: Adam on ``w`` itself, starting from w̄, minimising the reconstruction loss for ``steps`` steps
  (the StyleGAN2 projector's recipe in W: learning rate ramped up over the first 5 % of the steps and down with a
  cosine over the last 25 %; optionally also the per-pixel noise maps, renormalised after every step and kept
  noise-like by the projector's multi-scale autocorrelation penalty);
* ``"hybrid"``: the encoder's ``w`` as the starting point of a few optimisation steps.

The reconstruction loss is the one the encoder is trained with (pSp's weights, see ``train/inversion.py``):
per image ``MSE(x̂, x) + lpips_weight · LPIPS_alex(x̂↑, x↑)``, where ``↑`` upsamples images smaller than
``lpips_size`` (64) bilinearly first: LPIPS-AlexNet's first layer is an 11×11 stride-4 convolution, which leaves
only a 7×7 map of a 32² image and collapses the deeper taps to 1×1.  G stays frozen (no gradient to its weights;
eval mode while inverting); images are ``B×3×R×R`` floats in [-1, 1] (uint8 0..255 is accepted).
"""
from __future__ import annotations

import contextlib
import copy
import math
import time
from dataclasses import dataclass, field

import torch
import torch.nn.functional as F

Tensor = torch.Tensor

__all__ = ["METHODS", "InversionResult", "invert", "lpips_input", "psnr", "reconstruction_distance",
           "reconstruction_summary"]

METHODS = ("encoder", "optimise", "hybrid")
DEFAULT_STEPS = {"encoder": 0, "optimise": 200, "hybrid": 50}


# --------------------------------------------------------------------------------------------------------------
# Metrics and the reconstruction loss
# --------------------------------------------------------------------------------------------------------------

def psnr(a: Tensor, b: Tensor) -> Tensor:
    """Peak signal-to-noise ratio in dB per image (shape ``B``) of images in [-1, 1] (both clamped to it; the
    peak-to-peak range is 2)."""
    if a.shape != b.shape:
        raise ValueError(f"psnr: shapes differ, {tuple(a.shape)} and {tuple(b.shape)}")
    mse = (a.float().clamp(-1, 1) - b.float().clamp(-1, 1)).square().flatten(1).mean(dim=1)
    return 10.0 * torch.log10(4.0 / mse.clamp_min(1e-12))


def lpips_input(x: Tensor, size: int = 64) -> Tensor:
    """``x`` upsampled bilinearly to ``size`` when it is smaller (LPIPS-AlexNet sees too little of a 32² image)."""
    if size and x.shape[-1] < size:
        return F.interpolate(x, size=(size, size), mode="bilinear", align_corners=False)
    return x


def reconstruction_distance(x_hat: Tensor, x: Tensor, lpips_model=None, lpips_weight: float = 0.8,
                            lpips_size: int = 64) -> Tensor:
    """Per-image ``MSE(x̂, x) + lpips_weight · LPIPS(x̂↑, x↑)``, shape ``B`` (differentiable in ``x̂``)."""
    d = (x_hat.float() - x.float()).square().flatten(1).mean(dim=1)
    if lpips_weight and lpips_model is not None:
        d = d + lpips_weight * lpips_model(lpips_input(x_hat, lpips_size), lpips_input(x, lpips_size)).float()
    return d


@torch.no_grad()
def reconstruction_summary(x_hat: Tensor, x: Tensor, lpips_model=None, lpips_size: int = 64) -> dict[str, float]:
    """Means over the batch: ``psnr`` (dB), ``mse``, and ``lpips`` (AlexNet, at ``lpips_size``) when a model is
    given."""
    out = {"psnr": float(psnr(x_hat, x).mean()),
           "mse": float((x_hat.float() - x.float()).square().mean())}
    if lpips_model is not None:
        out["lpips"] = float(lpips_model(lpips_input(x_hat.float(), lpips_size),
                                         lpips_input(x.float(), lpips_size)).mean())
    return out


def _default_lpips(device) -> torch.nn.Module:
    from .metrics.lpips import _cached_model

    return _cached_model("alex", torch.device(device))


# --------------------------------------------------------------------------------------------------------------
# Inversion
# --------------------------------------------------------------------------------------------------------------

@dataclass
class InversionResult:
    """What :func:`invert` found for a batch of ``B`` images.

    ``loss_history`` is ``(steps + 1) × B``: the per-image reconstruction loss of the starting ``w`` (w̄ for
    ``optimise``, E(x) for ``encoder`` and ``hybrid``) and after every step, so ``loss_history[-1]`` belongs to the
    returned ``w``.  ``w_history`` (``(steps + 1) × B × w_dim``) only with ``return_history=True``.
    """

    method: str
    w: Tensor                      # B × w_dim, in W
    images: Tensor                 # B × 3 × R × R reconstructions G.synthesis(w), about [-1, 1]
    seconds: float                 # wall-clock time of the whole batch
    loss_history: Tensor           # (steps + 1) × B
    w_history: Tensor | None = None
    noise: list[Tensor] | None = field(default=None, repr=False)   # optimised noise maps (noise=True)

    @property
    def steps(self) -> int:
        return self.loss_history.shape[0] - 1

    @property
    def seconds_per_image(self) -> float:
        return self.seconds / max(1, self.w.shape[0])

    def summary(self, target: Tensor, lpips_model=None, lpips_size: int = 64) -> dict[str, float]:
        """PSNR / MSE / LPIPS of the reconstructions against ``target``, plus ``seconds_per_image``."""
        target = _as_images(target).to(self.images.device)
        return {**reconstruction_summary(self.images, target, lpips_model, lpips_size),
                "seconds_per_image": self.seconds_per_image}


def _as_images(images) -> Tensor:
    x = torch.as_tensor(images)
    if x.ndim == 3:
        x = x.unsqueeze(0)
    if x.ndim != 4 or x.shape[1] != 3:
        raise ValueError(f"images must be B×3×H×W (or 3×H×W), got {tuple(x.shape)}")
    if x.dtype == torch.uint8:
        return x.float().div(127.5).sub(1.0)
    if not x.is_floating_point():
        raise ValueError(f"images must be float in [-1, 1] or uint8, got {x.dtype}")
    return x.float()


@contextlib.contextmanager
def _frozen(*modules):
    """Eval mode and no parameter gradients inside the block; the modules' own settings are restored after."""
    saved = [(m, m.training, [p.requires_grad for p in m.parameters()]) for m in modules if m is not None]
    try:
        for m, _, _ in saved:
            m.eval().requires_grad_(False)
        yield
    finally:
        for m, training, flags in saved:
            m.train(training)
            for p, flag in zip(m.parameters(), flags):
                p.requires_grad_(flag)


def _lr_at(t: float, lr: float, rampdown: float = 0.25, rampup: float = 0.05) -> float:
    """The StyleGAN2 projector's schedule: linear ramp-up over ``rampup``, cosine ramp-down over ``rampdown``."""
    ramp = min(1.0, (1.0 - t) / rampdown)
    ramp = 0.5 - 0.5 * math.cos(ramp * math.pi)
    return lr * ramp * min(1.0, t / rampup)


def _noise_layers(synthesis) -> list:
    from .nn.layers import SynthesisLayer

    return [m for m in synthesis.modules() if isinstance(m, SynthesisLayer) and m.use_noise]


def _noise_regulariser(maps: list[Tensor]) -> Tensor:
    """Per image, the StyleGAN2 projector's penalty on the noise maps' autocorrelation at every scale ≥ 8²."""
    reg = maps[0].new_zeros(maps[0].shape[0])
    for n in maps:
        while True:
            reg = reg + (n * n.roll(1, dims=3)).mean(dim=(1, 2, 3)).square()
            reg = reg + (n * n.roll(1, dims=2)).mean(dim=(1, 2, 3)).square()
            if n.shape[2] <= 8:
                break
            n = F.avg_pool2d(n, 2)
    return reg


def invert(images, G, encoder=None, method: str = "encoder", steps: int | None = None, lr: float = 0.05,
           lpips_weight: float = 0.8, lpips_size: int = 64, noise: bool = False, noise_reg_weight: float = 1e5,
           progress: bool = False, return_history: bool = False, lpips_model=None) -> InversionResult:
    """Invert ``images`` (``B×3×R×R`` in [-1, 1], or uint8) into W of the StyleGAN2 generator ``G``.

    ``method``: ``"encoder"`` (needs ``encoder``; ``steps`` must be 0/None), ``"optimise"`` (Adam on w from w̄,
    ``steps`` default 200) or ``"hybrid"`` (from ``encoder(x)``, ``steps`` default 50).  ``lr``: peak Adam learning
    rate on w.  ``noise``: also optimise per-image noise maps (``const`` noise otherwise, the same for every image).
    ``lpips_model``: an :class:`~styleinv_lib.metrics.lpips.LPIPS` to use (default: the cached AlexNet one).
    Every image is optimised independently (the loss is a sum over images and Adam is per element).
    """
    if method not in METHODS:
        raise ValueError(f"unknown inversion method {method!r}: choose one of {', '.join(METHODS)}")
    if method in ("encoder", "hybrid") and encoder is None:
        raise ValueError(f"method {method!r} needs an encoder (load one with styleinv_lib.loading.load_encoder)")
    steps = DEFAULT_STEPS[method] if steps is None else int(steps)
    if method == "encoder" and steps:
        raise ValueError("method 'encoder' takes no optimisation steps; use method='hybrid' to refine")
    if steps < 0:
        raise ValueError(f"steps must be >= 0, got {steps}")
    device = G.mapping.w_avg.device
    x = _as_images(images).to(device)
    if tuple(x.shape[2:]) != (G.img_resolution, G.img_resolution):
        raise ValueError(f"the generator makes {G.img_resolution}×{G.img_resolution} images, got "
                         f"{x.shape[2]}×{x.shape[3]}")
    if lpips_model is None and lpips_weight:
        lpips_model = _default_lpips(device)

    start = time.perf_counter()
    with _frozen(G, encoder):
        synthesis = G.synthesis
        noise_maps = None
        if noise:
            synthesis = copy.deepcopy(G.synthesis)
            noise_maps = []
            for layer in _noise_layers(synthesis):
                n = layer.noise_const.detach().expand(x.shape[0], 1, -1, -1).clone().requires_grad_(True)
                layer.noise_const = n      # (B, 1, H, W): broadcasts as a per-image noise map
                noise_maps.append(n)

        def loss_of(w: Tensor) -> Tensor:
            return reconstruction_distance(synthesis(w, noise_mode="const"), x, lpips_model, lpips_weight,
                                           lpips_size)

        with torch.no_grad():
            if method == "optimise":
                w0 = G.mapping.w_avg.detach().float().expand(x.shape[0], -1).clone()
            else:
                w0 = encoder(x).float()
        w = w0.clone().requires_grad_(steps > 0)
        history, w_hist = [], [w0.detach().clone()] if return_history else None
        if steps:
            opt = torch.optim.Adam([w] + (noise_maps or []), lr=lr, betas=(0.9, 0.999))
            bar = range(steps)
            if progress:
                from tqdm.auto import tqdm

                bar = tqdm(bar, desc=f"invert ({method})", unit="step")
            with torch.enable_grad():
                for i in bar:
                    for g in opt.param_groups:
                        g["lr"] = _lr_at((i + 0.5) / steps, lr)
                    per_image = loss_of(w)
                    history.append(per_image.detach())
                    loss = per_image.sum()
                    if noise_maps:
                        loss = loss + noise_reg_weight * _noise_regulariser(noise_maps).sum()
                    opt.zero_grad(set_to_none=True)
                    loss.backward()
                    opt.step()
                    if noise_maps:
                        with torch.no_grad():
                            for n in noise_maps:
                                n.sub_(n.mean(dim=(1, 2, 3), keepdim=True))
                                n.div_(n.square().mean(dim=(1, 2, 3), keepdim=True).sqrt().clamp_min(1e-8))
                    if w_hist is not None:
                        w_hist.append(w.detach().clone())
                    if progress:
                        bar.set_postfix(loss=f"{float(per_image.mean()):.4f}", refresh=False)
        with torch.no_grad():
            w_final = w.detach()
            images_out = synthesis(w_final, noise_mode="const")
            history.append(reconstruction_distance(images_out, x, lpips_model, lpips_weight, lpips_size))
    seconds = time.perf_counter() - start
    return InversionResult(method=method, w=w_final, images=images_out.detach(), seconds=seconds,
                           loss_history=torch.stack(history).cpu(),
                           w_history=torch.stack(w_hist).cpu() if w_hist is not None else None,
                           noise=[n.detach() for n in noise_maps] if noise_maps else None)
