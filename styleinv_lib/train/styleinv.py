"""Stage 3: StyleInV trained with first-frame-aware sparse training, FFA-ST (paper §3.4, Eqs. 3-6, Fig. 3).

G is frozen; StyleInV (``w_t = w0 + E_s(G(w0), s_t)``, :mod:`styleinv_lib.nn.styleinv`) and the sparse video
discriminator D (:mod:`styleinv_lib.nn.video_disc`) are trained on clips of 4 frames at ``t0 = 0 < t1 < t2 < t3``:

* **fake clips**: ``w0 = G.mapping(z)``, ``x0 = G(w0)``; frames ``G(w_t)`` at sampled times.  The clip D sees is
  ``[x0, G(w_t1), G(w_t2), G(w_t3)]``: the first fake frame given to D is ``G(w0)`` itself (official
  ``first_frame_in_D`` with ``add_0``: the "replace" mode);
* **real clips**: a 128-frame window of a training video; ``t0`` is its first frame (:class:`SparseClipSampler`,
  ``scheme="official"``: a span d from {2, 4, 8, 16, 32} up to ``max_distance``, ``t1`` uniform in the window);
* **losses** (official ``configs/ffs.yaml``, ``training/loss_styleinv.py``):
  ``L_adv`` non-saturating ×1 (Eq. 3), the first-frame pixel MSE ``‖G(w_{t0}) − G(w0)‖²`` ×10 (Eq. 4), the latent
  regulariser ``‖w_t − w0‖₂`` (unsquared) ×0.05 averaged over the four frames (Eq. 5), R1 (γ = 1) every 16 steps;
  ADA with one parameter draw per clip; Adam β = (0, 0.99), lr 1e-4 (StyleInV) and 2e-3 (D); an EMA of StyleInV
  with a 20-kimg half-life.

Ablation switches (Table 3), one flag each: ``motion_kind="ape"`` (w/o FFA-APE), ``use_encoder=False`` (w/o the
inversion encoder: the temporal style, read out linearly, is the residual), ``first_frame_in_d=False`` (w/o FFA-D:
D sees only ``t1..t3``, StyleGAN-V's D), ``lambda_recon=0`` (w/o the L2 first-frame loss).  Every variant starts
from the same still video ``G(w0)`` (``still_start``), so that a variant's numbers measure what it learned, not
where it began.

Aligned with the official training loop (``training_loop_styleinv.py``, ``train_styleinv.py``): D's Adam corrected
for the lazy R1 steps (lr and betas to the power 16/17), D's minibatch-std over groups of 8, the EMA without a
ramp-up, ADA at 500 kimg (the small profiles adapt faster, see :data:`PRESETS`).  Deviations, stated:

* fake timestamps are integers drawn by the same sampler as the real ones.  The official code draws fractional
  times for fakes and integers for reals; with D's Fourier features of the time differences that difference is a
  shortcut that tells fake from real without looking at the frames;
* ``x0 = G(w0)`` is rendered with G's constant noise, like every other frame (``x0_noise="const"``).  The official
  training code calls the synthesis network without a noise mode for x0 (random noise) and with constant noise for
  the frames at t > 0: the first-frame loss (Eq. 4) then has a floor no StyleInV can reach (it compares a const-noise
  frame with a random-noise one), and D can tell the first fake frame by its noise texture.  Its evaluation renders
  x0 with constant noise, as here.  ``x0_noise="random"`` gives the official behaviour;
* kimg counts clips (``batch`` clips per step); the official loop counts frames, four per clip.

Two terms that are not in the paper, off by default and on in the ``cpu`` preset (chapter 6, §6.5, measures why):
``lambda_d_slow`` shows D the step's real clips held still as extra fakes (:meth:`StyleInVStage.slowed_real_clips`),
so that D asks for motion when the frames alone tell fake from real; ``lambda_uneven`` charges StyleInV for latents
that leap between consecutive frames (:func:`leap_penalty`, or the quadratic :func:`uneven_motion`).
"""
from __future__ import annotations

import contextlib
import copy
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from ..data.video import SparseClipSampler, VideoFolder
from ..nn import conv_gradfix
from ..nn.motion import MotionEncoder
from ..nn.styleinv import StyleInV
from ..nn.video_disc import SparseVideoDiscriminator
from ..profiles import get_profile
from .augment import AUGMENT_PRESETS, AdaptiveAugment, AugmentPipe
from ..checkpoint import Snapshot
from .distributed import DistributedContext
from .host_memory import keep_freed_host_memory
from .loop import (
    StageState, TrainLoop, TrainResult, adaptive_state, apply_gradients, dataclass_from_dict, ema_beta, make_adam,
    make_grid, pick_device, precision_policy, restore_adaptive_state, save_sample_grid, seed_everything, update_ema,
)
from .losses import adjusted_adam_params, d_logistic_loss, g_nonsaturating_loss, r1_penalty

STAGE = "styleinv"

__all__ = ["PRESETS", "STAGE", "StyleInVConfig", "StyleInVStage", "build_styleinv", "config_for_profile",
           "export_styleinv", "frame_steps", "leap_penalty", "train_styleinv", "uneven_motion"]


@dataclass
class StyleInVConfig:
    """Every setting of a StyleInV run (``config.json`` and every snapshot)."""

    data: str = ""
    skip_bad: bool = False              # skip videos that do not decode (each named in a warning)
    data_cache_mb: float = 1024.0       # MiB of decoded, resized frames kept in memory (VideoFolder cache_mb)
    generator: str = ""                 # StyleGAN2 run folder or exported file (frozen)
    encoder: str = ""                   # inversion encoder run/file (initialisation); "" only with use_encoder=False
    # motion and networks
    motion_kind: str = "ffa_ape"        # "ffa_ape" (StyleInV) or "ape" (StyleGAN-V; Table 3 ablation)
    motion_dim: int = 512
    noise_dim: int = 512
    anchor_spacing: int = 16            # Δ: 16 frames for faces, 128 for sky timelapses
    kernel_size: int = 11
    min_period: float | None = None     # Fourier periods of v_t: None = Δ .. max(128, Δ) (faces: 16 .. 128);
    max_period: float | None = None     # the official sky config uses 32 .. 1024 with Δ = 128
    motion_lr_multiplier: float = 0.01
    style_lr_multiplier: float = 0.01
    use_encoder: bool = True            # False: Table 3 #1, w_t = w0 + A s_t + b (A, b start at zero)
    still_start: bool = True            # every variant starts as a still video of G(w0); False without the encoder:
                                        # the official w_t = w0 + s_t from the first step (no effect with it)
    d_channel_base: int = 16384
    d_channel_max: int = 512
    mbstd_group: int = 8                # D's minibatch-std group (the official 4c256 preset; 4 before this setting)
    concat_res: int | None = None       # None: min(16, resolution / 2)
    first_frame_in_d: bool = True       # False: "w/o FFA-D" (D sees t1..t3 only)
    # clips
    num_frames: int = 4
    max_distance: int = 32              # largest t3 - t1 span (faces 32, sky 64)
    window: int = 128                   # real clips: the 128-frame window t0 starts
    # losses
    lambda_adv: float = 1.0
    lambda_recon: float = 10.0          # Eq. 4 (0: "w/o L2")
    lambda_w_reg: float = 0.05          # Eq. 5
    lambda_d_slow: float = 0.0          # not in the paper: real clips slowed down (see slowed_real_clips) as extra
                                        # fakes for D, weighted so, so that frame quality alone cannot satisfy D
    d_slow_max: float = 0.25            # ... showing at most this share of their motion (0: held still)
    lambda_uneven: float = 0.0          # not in the paper: weight of a penalty on latents that leap, measured on
    uneven_frames: int = 4              # uneven_frames + 1 consecutive frames per video: with uneven_tolerance
    uneven_tolerance: float = 0.0       # 0 uneven_motion, > 0 leap_penalty with that tolerance
    lambda_frame_leap: float = 0.0      # not in the paper: leap_penalty on the frames G draws of the same window
    frame_leap_tolerance: float = 1.5   # (frame_steps: the jump ratio's own step), with this tolerance, from
    frame_leap_kimg: float = 0.0        # this many kimg on (the cpu preset: 36, the last 12 of 48 kimg)
    r1_gamma: float = 1.0
    r1_interval: int = 16
    # optimisation
    batch: int = 32                     # clips (of num_frames frames); kimg counts clips
    lr: float = 1e-4
    lr_d: float = 2e-3
    d_lazy_adam_correction: bool = True  # D's Adam lr and betas corrected for the lazy R1 steps, as the official loop
    ema_kimg: float = 20.0
    ema_rampup: float | None = None     # the official loop has no EMA ramp-up
    augment: str = "bgc"
    ada_target: float = 0.6
    ada_kimg: float = 500.0             # the official loop's ADA speed
    ada_interval: int = 4
    d_fresh_fakes: bool = True          # False: D judges the (detached) clips of the StyleInV phase; saves a G pass
    x0_noise: str = "const"             # G's noise for the first frame x0 = G(w0): "const" like every other frame,
                                        # or "random" as the official training code (see the module docstring)
    total_kimg: float = 1000.0
    # evaluation (SynthFaces probe: identity preservation, first-frame error) every metrics_kimg
    metrics: str = ""                   # "" or "probe"
    metrics_kimg: float | None = None
    metric_videos: int = 16
    metric_frames: int = 128
    # bookkeeping
    snapshot_kimg: float = 10.0
    keep_snapshots: int = 3
    seed: int = 0
    device: str = "auto"
    precision: str = "auto"             # auto | bf16 | fp16 | fp32 (auto: bf16 on AMX/AVX-512-BF16 CPUs and Ampere+)
    compile: bool = False               # torch.compile G's synthesis, D and StyleInV's encoder trunk (main phases)

    @classmethod
    def from_dict(cls, d: dict) -> "StyleInVConfig":
        return dataclass_from_dict(cls, d, "StyleInV")

    def validate(self) -> None:
        if self.motion_kind not in ("ffa_ape", "ape"):
            raise ValueError(f"motion_kind must be 'ffa_ape' or 'ape', got {self.motion_kind!r}")
        if not self.generator:
            raise ValueError("StyleInV training needs --generator: the StyleGAN2 run or file to decode with")
        if self.use_encoder and not self.encoder:
            raise ValueError("StyleInV training needs --encoder (the trained inversion encoder), or use_encoder=False "
                             "for the 'w/o inversion encoder' ablation")
        if self.num_frames < 3:
            raise ValueError(f"num_frames must be at least 3 (t0 and two more), got {self.num_frames}")
        if self.metrics not in ("", "probe"):
            raise ValueError(f"metrics must be '' or 'probe', got {self.metrics!r}")
        if self.x0_noise not in ("const", "random"):
            raise ValueError(f"x0_noise must be 'const' or 'random', got {self.x0_noise!r}")
        if self.lambda_d_slow < 0:
            raise ValueError(f"lambda_d_slow must be 0 (off) or positive, got {self.lambda_d_slow}")
        if self.lambda_uneven < 0:
            raise ValueError(f"lambda_uneven must be 0 (off) or positive, got {self.lambda_uneven}")
        if self.uneven_tolerance != 0 and self.uneven_tolerance < 1:
            raise ValueError(f"uneven_tolerance must be 0 (uneven_motion) or at least 1 (the largest step is never "
                             f"below the mean), got {self.uneven_tolerance}")
        if self.lambda_frame_leap < 0 or self.frame_leap_kimg < 0:
            raise ValueError(f"lambda_frame_leap and frame_leap_kimg must be >= 0, got {self.lambda_frame_leap} and "
                             f"{self.frame_leap_kimg}")
        if self.frame_leap_tolerance < 1:
            raise ValueError(f"frame_leap_tolerance must be at least 1 (the largest step is never below the mean), "
                             f"got {self.frame_leap_tolerance}")
        if not 2 <= self.uneven_frames < self.window:
            raise ValueError(f"uneven_frames must be in [2, window = {self.window}), got {self.uneven_frames}")
        if not 0 <= self.d_slow_max <= 1:
            raise ValueError(f"d_slow_max must be a share of the motion in [0, 1], got {self.d_slow_max}")
        if self.mbstd_group < 0:
            raise ValueError(f"mbstd_group must be 0 (the whole batch) or positive, got {self.mbstd_group}")


#: Per-profile defaults.  ``cpu``/``smoke`` decode with the small generators of the StyleGAN2 presets (w_dim 128 / 64)
#: and, for runs of a few kimg, adapt faster: an EMA half-life of 1 kimg with a ramp-up (without one, the EMA of a
#: smoke run of a few steps would stay at its initialisation), ADA that reacts within 1-5 kimg, and a higher
#: StyleInV learning rate (cpu).  ``gpu`` is the official face configuration (the ``4c256`` preset of
#: ``train_styleinv.py`` with ``configs/dfuf.yaml``: 32 clips per batch, D's minibatch-std over groups of 8, Adam lr
#: 1e-4 / 2e-3, D's Adam corrected for lazy R1, EMA half-life 20 kimg without ramp-up, ADA ``bgc`` at 500 kimg)
#: trained for 2,000 kimg of clips; the official run counts frames (4 per clip) and trains 25,000 kimg of them.
PRESETS = {
    "smoke": dict(motion_dim=32, noise_dim=32, d_channel_base=512, d_channel_max=32, batch=4, total_kimg=0.016,
                  snapshot_kimg=0.008, r1_interval=2, ada_kimg=1.0, ema_rampup=0.05, max_distance=8, window=16,
                  metric_videos=2, metric_frames=16),
    # cpu: D also rejects the step's real clips held still (lambda_d_slow, not in the paper): with the 32² generator
    # frozen the frames alone tell fake from real and D never learns to ask for motion (benchmarks/results/
    # styleinv_recipe_cpu.md: 3-5x the motion of the paper's objective at the same kimg).  The motion it then asks
    # for came in leaps (still for a while, then most of the way in one frame); leap_penalty on 9 consecutive
    # frames (lambda_uneven, not in the paper either) makes it continuous at about 80 % of the speed.  FFA-APE's
    # periods start at 4 frames, not at Δ = 16 (the official face configuration): SynthFaces talks in syllables
    # of 5-7.5 frames and nods in 11-18, which periods from 16 frames (8 at the fastest learned rate) cannot follow.
    # The faster motion shook the whole head by a pixel now and then (G turns some small steps in W into large
    # ones in pixels): from 36 kimg on the preset adds the leap penalty on the frames themselves
    # (lambda_frame_leap), which brought the largest frame change of 1,024-frame videos from 3.9 to under 3 times
    # the median.  From the first step it did the same but held the mouth to 0.4 of the data's speed (runs
    # pixleap_* of the recipe table).
    # 48 kimg, not 42: the 6 more kimg raised the mouth from 0.50-0.56 to 0.55-0.59 of held-out videos' speed,
    # with yaw speed 0.72-0.77 -> 0.80-0.87 and identity and jumps unchanged (README, results).
    "cpu": dict(motion_dim=128, noise_dim=128, d_channel_base=2048, d_channel_max=64, batch=8, total_kimg=48.0,
                snapshot_kimg=1.0, ada_kimg=5.0, ema_kimg=1.0, ema_rampup=0.05, lr=5e-4, d_fresh_fakes=False,
                lambda_d_slow=1.0, d_slow_max=0.0, lambda_uneven=1.0, uneven_frames=8, uneven_tolerance=2.0,
                min_period=4.0, lambda_frame_leap=50.0, frame_leap_tolerance=1.5, frame_leap_kimg=36.0,
                metrics="probe", metrics_kimg=3.0, compile=True),
    "gpu": dict(motion_dim=512, noise_dim=512, d_channel_base=16384, d_channel_max=512, batch=32, total_kimg=2000.0,
                snapshot_kimg=50.0, metrics="probe", metrics_kimg=100.0),
}


def uneven_motion(w: torch.Tensor) -> torch.Tensor:
    """How unevenly latents ``w`` (B×(k+1)×w_dim, consecutive frames) move: ``k·Σ‖Δ_i‖² − ‖w_k − w_0‖²`` per
    video, averaged over the batch (not in the paper).  By Cauchy–Schwarz it is ≥ 0 and zero exactly when the k
    steps ``Δ_i = w_i − w_{i−1}`` are equal (motion at constant speed along a line), so it charges a video that
    holds still and then leaps in one frame; it also charges curved or accelerating motion, in proportion to the
    square of its size (on the cpu preset it halved the motion; see :func:`leap_penalty`)."""
    steps = w[:, 1:] - w[:, :-1]
    k = steps.shape[1]
    return (k * steps.pow(2).sum(dim=(1, 2)) - (w[:, -1] - w[:, 0]).pow(2).sum(dim=1)).mean()


def leap_penalty(w: torch.Tensor, tolerance: float, steps: torch.Tensor | None = None) -> torch.Tensor:
    """How far the largest step of latents ``w`` (B×(k+1)×w_dim, consecutive frames) exceeds ``tolerance`` times
    their mean step: ``relu(max_i ‖Δ_i‖ − tolerance · mean_i ‖Δ_i‖)`` per video, averaged over the batch (not in
    the paper).  Linear in the size of the motion and zero for any motion whose steps vary less than that (a
    sinusoid over a few frames), so unlike :func:`uneven_motion` it charges a leap and not smooth curvature.
    ``steps`` (B×k): step sizes measured some other way (:func:`frame_steps`); then ``w`` is not read."""
    if steps is None:
        steps = (w[:, 1:] - w[:, :-1]).norm(dim=2)
    return F.relu(steps.max(dim=1).values - tolerance * steps.mean(dim=1)).mean()


def frame_steps(frames: torch.Tensor) -> torch.Tensor:
    """The mean absolute change between consecutive frames (B×(k+1)×C×H×W → B×k): the step the jump ratio of the
    results issue reads (:func:`styleinv_lib.metrics.groundtruth.jump_ratio`), here differentiable."""
    return (frames[:, 1:] - frames[:, :-1]).abs().flatten(2).mean(dim=2)


def config_for_profile(profile=None, **overrides) -> StyleInVConfig:
    """The profile's preset with ``overrides`` applied (``None`` values are ignored)."""
    prof = get_profile(profile)
    values = {**PRESETS[prof.name], **{k: v for k, v in overrides.items() if v is not None}}
    return StyleInVConfig.from_dict(values)


def clip_sampler(cfg: StyleInVConfig) -> SparseClipSampler:
    """The FFA-ST clips of a run (§3.4, the official scheme): what training draws and what a dataset must hold."""
    return SparseClipSampler(num_frames=cfg.num_frames, max_distance=cfg.max_distance, scheme="official",
                             window=cfg.window)


def build_styleinv(networks: dict, encoder=None) -> StyleInV:
    """StyleInV from the ``networks`` record of a run (``encoder``: the trained raw encoder to copy, or None to
    build its architecture from the record, e.g. before loading a snapshot)."""
    from ..nn.encoder import InversionEncoder

    motion = MotionEncoder(**networks["motion"])
    if networks["use_encoder"] and encoder is None:
        encoder = InversionEncoder(**networks["encoder"])
    # a run recorded before still_start existed had the official w_t = w0 + s_t without the encoder
    return StyleInV(networks["w_dim"], motion, encoder if networks["use_encoder"] else None,
                    style_layers=networks["style_layers"], style_lr_multiplier=networks["style_lr_multiplier"],
                    still_start=networks.get("still_start", False))


class StyleInVStage:
    """One FFA-ST run: frozen G, StyleInV + its EMA, the sparse D, ADA, and the G/D/R1 phases."""

    def __init__(self, cfg: StyleInVConfig, dist: DistributedContext | None = None, dataset=None):
        from ..loading import load_encoder, load_generator

        cfg.validate()
        self.cfg = cfg
        self.dist = dist if dist is not None else DistributedContext()
        self.device = self.dist.device if self.dist.is_distributed else pick_device(cfg.device)
        self.policy = precision_policy(self.device, cfg.precision)
        keep_freed_host_memory(self.device)
        seed_everything(cfg.seed, self.dist.rank)

        self.memory_format = self.policy.memory_format
        self.G = load_generator(cfg.generator, device=self.device).eval().requires_grad_(False)
        self.G.to(memory_format=self.memory_format)
        self.resolution = self.G.img_resolution
        E = None
        if cfg.use_encoder:
            E = load_encoder(cfg.encoder, device=self.device)
            if E.resolution != self.resolution or E.w_dim != self.G.w_dim:
                raise ValueError(f"{cfg.encoder}: the encoder is for {E.resolution}² / w_dim {E.w_dim}, the "
                                 f"generator {cfg.generator} is {self.resolution}² / w_dim {self.G.w_dim}")
        self.sampler = clip_sampler(cfg)
        if not cfg.data and dataset is None:
            raise ValueError("StyleInV training needs --data: a folder of videos (see `styleinv data --help`)")
        self.data = dataset if dataset is not None else VideoFolder(cfg.data, self.resolution, mode="clips",
                                                                    clip_sampler=self.sampler, seed=cfg.seed,
                                                                    skip_bad=cfg.skip_bad,
                                                                    cache_mb=cfg.data_cache_mb)
        if self.data.resolution != self.resolution:
            raise ValueError(f"the data is read at {self.data.resolution}², the generator makes {self.resolution}²")

        self.networks = {
            "w_dim": self.G.w_dim, "use_encoder": cfg.use_encoder,
            "encoder": E.config if E is not None else None,
            "motion": dict(kind=cfg.motion_kind, motion_dim=cfg.motion_dim, noise_dim=cfg.noise_dim,
                           anchor_spacing=cfg.anchor_spacing, kernel_size=cfg.kernel_size,
                           lr_multiplier=cfg.motion_lr_multiplier, min_period=cfg.min_period,
                           max_period=cfg.max_period),
            "style_layers": 2, "style_lr_multiplier": cfg.style_lr_multiplier, "still_start": cfg.still_start,
        }
        self.SI = build_styleinv(self.networks, encoder=E).to(self.device).train()
        self.SI.to(memory_format=self.memory_format)
        self.SI_ema = copy.deepcopy(self.SI).eval().requires_grad_(False)
        d_frames = cfg.num_frames if cfg.first_frame_in_d else cfg.num_frames - 1
        self.D = SparseVideoDiscriminator(self.resolution, num_frames=d_frames, channel_base=cfg.d_channel_base,
                                          channel_max=cfg.d_channel_max, concat_res=cfg.concat_res,
                                          max_num_frames=cfg.window, first_frame_aware=cfg.first_frame_in_d,
                                          mbstd_group_size=cfg.mbstd_group,
                                          ).to(self.device).to(memory_format=self.memory_format)
        # StyleInV has no regulariser phase (plain Adam); D takes an extra R1 step every r1_interval steps
        self.opt_SI = make_adam(self.SI.parameters(), lr=cfg.lr, betas=(0.0, 0.99))
        lazy_steps = cfg.r1_interval if cfg.d_lazy_adam_correction and cfg.r1_gamma > 0 else None
        d_lr, d_betas = adjusted_adam_params(cfg.lr_d, (0.0, 0.99), lazy_steps)
        self.opt_D = make_adam(self.D.parameters(), lr=d_lr, betas=d_betas)
        self.scalers = {k: self.policy.grad_scaler() for k in ("SI", "D")} if self.policy.use_grad_scaler else None
        # the main phases may run compiled; R1 (a double backward) and evaluation use the plain modules, R1 with
        # convolutions whose derivatives are first-order kernels where that is faster (conv_gradfix.pays_on)
        self.regulariser_gradfix = conv_gradfix.pays_on(self.device)
        self.synthesis_fwd, self.D_fwd = self.G.synthesis, self.D
        self.inversion_fwd = None                           # StyleInV's own modulated_inversion
        if cfg.compile:
            self.synthesis_fwd, self.D_fwd = torch.compile(self.G.synthesis), torch.compile(self.D)
            if self.SI.use_encoder:   # the copied encoder's trunk: 1.15x the cpu preset's step (eager BN, PReLU)
                self.inversion_fwd = torch.compile(self.SI.modulated_inversion, dynamic=False)
        self.augment = self.ada = None
        if cfg.augment != "none":
            if cfg.augment not in AUGMENT_PRESETS:
                raise ValueError(f"unknown augment preset {cfg.augment!r}: choose one of "
                                 f"{', '.join(AUGMENT_PRESETS)} or 'none'")
            self.augment = AugmentPipe(**AUGMENT_PRESETS[cfg.augment]).to(self.device)
            self.ada = AdaptiveAugment(self.augment, target=cfg.ada_target, ada_kimg=cfg.ada_kimg,
                                       interval=cfg.ada_interval)
        if cfg.metrics == "probe":
            from ..data.export import synthfaces_version
            from ..metrics.probe import default_probe_path

            probe_path = default_probe_path(version=synthfaces_version(cfg.data))
            if not probe_path.is_file():  # refuse before training, not at the first evaluation
                raise FileNotFoundError(f"metrics='probe' needs the SynthFaces probe {probe_path}: "
                                        "train it with `styleinv train-probe` or set metrics=''")
        self.local_batch = max(1, cfg.batch // self.dist.world_size)
        self.last_step = -1
        self.sample_dir: Path | None = None
        gen = torch.Generator().manual_seed(cfg.seed + 4242)
        self.sample_w0 = self.G.mapping(torch.randn(4, self.G.z_dim, generator=gen).to(self.device))[:, 0]
        self._probe = None
        self._real_motion = None

    # -- data ---------------------------------------------------------------------------------------------------
    def _rng(self, step: int, what: int) -> np.random.Generator:
        return np.random.default_rng([self.cfg.seed, int(step), self.dist.rank, what])

    def real_clips(self, step: int) -> tuple[torch.Tensor, torch.Tensor]:
        """``(frames B×K×3×R×R in [-1, 1], timestamps B×K)``: a pure function of the step (exact resume)."""
        return self._draw_clips(self._rng(step, 1))

    def _draw_clips(self, rng: np.random.Generator, slow: np.ndarray | None = None):
        """Real clips of random videos, each from the clip sampler; ``slow`` (one share per clip): show frames
        ``t0 + round(s · (t_i - t0))`` instead of ``t_i`` (the timestamps stay ``t_i``; the draws from ``rng`` are
        the same, so the slowed clips are the same videos from the same starts)."""
        vids = rng.integers(0, self.data.num_videos, size=self.local_batch)
        frames, times = [], []
        for i, v in enumerate(vids):
            start, ts = self.sampler(rng, self.data.num_frames(int(v)))
            shown = ts if slow is None else np.rint(slow[i] * ts).astype(np.int64)
            frames.append(self.data.read_frames(int(v), start + shown))          # K×3×R×R uint8
            times.append(ts)
        x = torch.stack(frames).to(self.device).float().div(127.5).sub(1)
        return x, torch.tensor(np.stack(times), dtype=torch.float32, device=self.device)

    def slowed_real_clips(self, step: int) -> tuple[torch.Tensor, torch.Tensor]:
        """The step's real clips (:meth:`real_clips`: the same videos, starts and timestamps) with their motion
        slowed down: frames ``t0 + round(s · (t_i - t0))``, ``s ~ U[0, d_slow_max]`` per clip, shown with the real
        timestamps ``t_i`` (``s = 0``: the real face held still).  Not in the paper: with the image generator frozen,
        D can tell every fake from every real by the frames alone and then scores a still real clip as high as a
        moving one (``benchmarks/d_motion_sensitivity.py``); D trained to reject these (``lambda_d_slow``) must
        judge how much a clip moves in its time.  Each pair differs in its motion only, the one cue left to learn
        (``benchmarks/d_motion_learnability.py`` trains D on such pairs)."""
        share = self._rng(step, 5).uniform(0.0, self.cfg.d_slow_max, size=self.local_batch)
        return self._draw_clips(self._rng(step, 1), slow=share)

    def uneven_times(self, step: int) -> torch.Tensor:
        """``B×(uneven_frames + 1)`` consecutive frame times per video, starting uniformly in the training window:
        where the ``lambda_uneven`` penalty is measured (a pure function of the step)."""
        k = self.cfg.uneven_frames
        start = self._rng(step, 6).integers(0, self.cfg.window - k, size=self.local_batch)
        return torch.tensor(start[:, None] + np.arange(k + 1), dtype=torch.float32, device=self.device)

    def fake_inputs(self, step: int, what: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """``(z, motion seeds, timestamps)`` of a fake batch: integer times from the same sampler as the reals."""
        rng = self._rng(step, what)
        z = torch.from_numpy(rng.standard_normal((self.local_batch, self.G.z_dim)).astype(np.float32))
        seeds = torch.from_numpy(rng.integers(0, 2**62, size=self.local_batch))
        ts = np.stack([self.sampler.timestamps(rng) for _ in range(self.local_batch)])
        return z.to(self.device), seeds, torch.tensor(ts, dtype=torch.float32, device=self.device)

    # -- networks -----------------------------------------------------------------------------------------------
    def generate_clip(self, z, seeds, ts, net: StyleInV | None = None):
        """``(w0, x0 = G(w0), w_t B×K×w_dim, frames B×K×3×R×R)``; gradients flow through G into StyleInV.

        Runs under the precision policy (bf16 autocast where it pays); ``w0`` and ``w_t`` are fp32 (the mapping,
        the motion codes and StyleInV's head keep fp32), the images come back in fp32."""
        SI = self.SI if net is None else net
        # fused=False: modulate the activations around one ordinary convolution per layer, as StyleGAN2-ADA does
        # while training, instead of one grouped convolution with a kernel per frame (1.2-1.4x the bf16 step on CPU)
        with self.policy.autocast():
            with torch.no_grad():
                w0 = self.G.mapping(z)[:, 0]
                x0 = self.synthesis_fwd(w0, noise_mode=self.cfg.x0_noise, fused=False).float()
            w = SI(w0, x0, seeds, ts, inversion=self.inversion_fwd if SI is self.SI else None)
            b, k = w.shape[:2]
            frames = self.synthesis_fwd(w.reshape(b * k, -1), noise_mode="const", fused=False)
        return w0, x0, w, frames.float().reshape(b, k, 3, self.resolution, self.resolution)

    def d_input(self, frames: torch.Tensor, ts: torch.Tensor, x0: torch.Tensor | None = None):
        """The clip D judges: FFA-D puts ``G(w0)`` (fakes) first; without FFA-D the first frame is dropped."""
        if self.cfg.first_frame_in_d:
            if x0 is not None:
                frames = torch.cat([x0[:, None], frames[:, 1:]], dim=1)
            return frames, ts
        return frames[:, 1:], ts[:, 1:]

    def run_D(self, frames: torch.Tensor, ts: torch.Tensor, plain: bool = False, augment: bool = True) -> torch.Tensor:
        """D's fp32 logits for clips (augmented first unless ``augment`` is off: analysis scores clips as given);
        ``plain``: the uncompiled D in fp32 (R1's double backward, as in the StyleGAN2 stage)."""
        if augment and self.augment is not None:
            frames = self.augment(frames)                     # one draw per clip (AugmentPipe on N×T×C×H×W)
        D = self.D if plain else self.D_fwd
        with contextlib.nullcontext() if plain else self.policy.autocast():
            if self.cfg.first_frame_in_d:
                return D(frames, t=ts).float()
            return D(frames, delta=ts[:, 1:] - ts[:, :-1]).float()

    def _backward_step(self, loss: torch.Tensor, opt, params, name: str) -> None:
        apply_gradients(loss, opt, params, self.dist, self.scalers[name] if self.scalers is not None else None)

    # -- one step -----------------------------------------------------------------------------------------------
    def step(self, step: int) -> dict[str, float]:
        cfg = self.cfg
        self.last_step = step
        si_params, d_params = list(self.SI.parameters()), list(self.D.parameters())
        logs: dict[str, torch.Tensor | float] = {}

        # StyleInV: fool D (Eq. 3) + first-frame L2 (Eq. 4) + latent regulariser (Eq. 5)
        self.D.requires_grad_(False)
        z, seeds, ts = self.fake_inputs(step, 2)
        w0, x0, w, frames = self.generate_clip(z, seeds, ts)
        loss_adv = g_nonsaturating_loss(self.run_D(*self.d_input(frames, ts, x0)))
        loss = cfg.lambda_adv * loss_adv
        loss_recon = F.mse_loss(frames[:, 0], x0)
        if cfg.lambda_recon > 0:
            loss = loss + cfg.lambda_recon * loss_recon
        loss_wreg = (w - w0[:, None]).norm(dim=2).mean()
        if cfg.lambda_w_reg > 0:
            loss = loss + cfg.lambda_w_reg * loss_wreg
        frame_leap = cfg.lambda_frame_leap > 0 and step * cfg.batch >= cfg.frame_leap_kimg * 1000
        if cfg.lambda_uneven > 0 or frame_leap:
            with self.policy.autocast():
                w_run = self.SI(w0, x0, seeds, self.uneven_times(step), inversion=self.inversion_fwd).float()
                if frame_leap:                      # the run's frames: G's own leaps count, not only W's
                    b, k = w_run.shape[:2]
                    run = self.synthesis_fwd(w_run.reshape(b * k, -1), noise_mode="const", fused=False)
                    run = run.float().reshape(b, k, *run.shape[1:])
        if cfg.lambda_uneven > 0:
            loss_uneven = (leap_penalty(w_run, cfg.uneven_tolerance) if cfg.uneven_tolerance > 0
                           else uneven_motion(w_run))
            loss = loss + cfg.lambda_uneven * loss_uneven
            logs["Loss/SI/uneven"] = loss_uneven.detach()
        if frame_leap:
            loss_frame_leap = leap_penalty(None, cfg.frame_leap_tolerance, steps=frame_steps(run))
            loss = loss + cfg.lambda_frame_leap * loss_frame_leap
            logs["Loss/SI/frame_leap"] = loss_frame_leap.detach()
        self._backward_step(loss, self.opt_SI, si_params, "SI")
        self.D.requires_grad_(True)
        logs.update({"Loss/SI/adv": loss_adv.detach(), "Loss/SI/recon": loss_recon.detach(),
                     "Loss/SI/wreg": loss_wreg.detach(), "Loss/SI/total": loss.detach()})

        # D: logistic loss on fakes (a new draw, or the clips above when d_fresh_fakes is off) and reals
        if cfg.d_fresh_fakes:
            z, seeds, ts_f = self.fake_inputs(step, 3)
            with torch.no_grad():
                _, x0, _, frames = self.generate_clip(z, seeds, ts_f)
        else:
            ts_f, x0, frames = ts, x0.detach(), frames.detach()
        real, ts_r = self.real_clips(step)
        fake_logits = self.run_D(*self.d_input(frames, ts_f, x0))
        real_logits = self.run_D(*self.d_input(real, ts_r))
        loss_d = d_logistic_loss(real_logits, fake_logits)
        if cfg.lambda_d_slow > 0:
            slow_logits = self.run_D(*self.d_input(*self.slowed_real_clips(step)))
            loss_d = loss_d + cfg.lambda_d_slow * F.softplus(slow_logits).mean()
            logs["Loss/scores/slowed_real"] = slow_logits.detach().mean()
        if self.ada is not None:
            self.ada.accumulate(real_logits.detach())
        self._backward_step(loss_d, self.opt_D, d_params, "D")
        logs.update({"Loss/D/loss": loss_d.detach(), "Loss/scores/real": real_logits.detach().mean(),
                     "Loss/scores/fake": fake_logits.detach().mean()})

        # R1 on reals, lazily
        if cfg.r1_interval > 0 and cfg.r1_gamma > 0 and step % cfg.r1_interval == 0:
            clip, t_r = self.d_input(real, ts_r)
            clip = clip.detach().requires_grad_(True)
            with conv_gradfix.enabled(self.regulariser_gradfix):
                logits = self.run_D(clip, t_r, plain=True)
                penalty = r1_penalty(logits, clip)
                self._backward_step(penalty * (cfg.r1_gamma / 2) * cfg.r1_interval + logits.mean() * 0,
                                    self.opt_D, d_params, "D")
            logs["Loss/r1_penalty"] = penalty.detach()

        nimg = (step + 1) * cfg.batch
        update_ema(self.SI_ema, self.SI, ema_beta(cfg.batch, cfg.ema_kimg, nimg, cfg.ema_rampup))
        if self.ada is not None:
            self.ada.step(cfg.batch)
            logs["Progress/augment_p"] = float(self.ada.p)
        return {k: float(v) for k, v in logs.items()}

    # -- snapshots ----------------------------------------------------------------------------------------------
    def state(self) -> StageState:
        return StageState(modules={"SI": self.SI, "SI_ema": self.SI_ema, "D": self.D,
                                   **({"augment": self.augment} if self.augment is not None else {})},
                          optimizers={"SI": self.opt_SI, "D": self.opt_D},
                          extra_json=adaptive_state(self.ada, self.scalers))

    def load_state(self, snap: Snapshot) -> None:
        st = self.state()
        snap.restore(modules=st.modules, optimizers=st.optimizers)
        restore_adaptive_state(snap.extra_json, self.ada, self.scalers)

    @torch.no_grad()
    def sample(self) -> torch.Tensor:
        """4 videos × 8 frames (t = 0, 4, ..., 28) of the EMA model; rows are videos.  Saved under ``samples/``."""
        from ..nn.styleinv import generate_video

        t = torch.arange(0, 32, 4, dtype=torch.float32)
        video = generate_video(self.G, self.SI_ema, self.sample_w0, t, motion_seeds=[0, 1, 2, 3])
        grid = make_grid(((video.reshape(-1, *video.shape[2:]) + 1) / 2).clamp(0, 1), nrow=len(t))
        save_sample_grid(grid, self.sample_dir, (self.last_step + 1) * self.cfg.batch / 1000)
        return grid

    @torch.no_grad()
    def evaluate(self) -> dict[str, float]:
        """SynthFaces probe metrics of the EMA model: identity preservation over the video, first-frame error, the
        largest frame-to-frame change over the median one (``max_jump_ratio``, over videos) and the probe-read motion
        against the first ``metric_videos`` training videos (``motion_ratio/<statistic>``: generated / real)."""
        from ..nn.styleinv import generate_video
        from ..metrics.groundtruth import (MOTION_TARGETS, compare_motion, first_frame_error, identity_preservation,
                                           jump_ratio, motion_statistics)
        from ..metrics.probe import load_probe

        if self._probe is None:
            from ..data.export import synthfaces_version

            self._probe = load_probe(device=self.device, version=synthfaces_version(self.cfg.data))
        cfg = self.cfg
        gen = torch.Generator().manual_seed(cfg.seed + 777)
        w0 = self.G.mapping(torch.randn(cfg.metric_videos, self.G.z_dim, generator=gen).to(self.device))[:, 0]
        video = generate_video(self.G, self.SI_ema, w0, torch.arange(cfg.metric_frames, dtype=torch.float32),
                               motion_seeds=list(range(cfg.metric_videos)), chunk=32)
        x0 = self.G.synthesis(w0, noise_mode="const").cpu()
        horizons = sorted({16, cfg.metric_frames})
        idp = identity_preservation(video, self._probe, horizons=horizons)
        ffe = first_frame_error(video, x0, probe=self._probe)
        motion = (video[:, 1:] - video[:, :-1]).abs().mean().item()
        out = {f"probe_identity@{h}": idp[f"share@{h}"] for h in horizons}
        out.update({"first_frame_psnr": ffe["psnr"], "first_frame_id_cosine": ffe["id_cosine"],
                    "frame_difference": motion, "max_jump_ratio": max(jump_ratio(video))})
        if self._real_motion is None:                   # the same real videos at every evaluation
            self._real_motion = motion_statistics(self._real_videos(video.shape[1]), self._probe)
        frames = self._real_motion["frames"]
        ratios = compare_motion(motion_statistics(video[:, :frames], self._probe), self._real_motion).as_dict()
        out.update({f"motion_ratio/{k}": ratios[k]["ratio"] for k in MOTION_TARGETS})
        return out

    def _real_videos(self, frames: int) -> torch.Tensor:
        """The first frames of up to ``metric_videos`` training videos long enough for ``frames`` (or the shortest
        length among them when none is): what the generated motion is compared with."""
        lengths = [self.data.num_frames(i) for i in range(self.data.num_videos)]
        chosen = [i for i, n in enumerate(lengths) if n >= frames][:self.cfg.metric_videos]
        if not chosen:
            chosen = list(range(min(self.cfg.metric_videos, self.data.num_videos)))
            frames = min(lengths[i] for i in chosen)
        return torch.stack([self.data.read_frames(i, np.arange(frames)) for i in chosen])

    def config_dict(self) -> dict:
        return {"stage": STAGE, **asdict(self.cfg), "networks": self.networks, "discriminator": self.D.config}


def train_styleinv(cfg: StyleInVConfig, out, *, resume=None, progress: bool = True, tensorboard: bool = True,
                   dataset=None, handle_signals: bool = True) -> TrainResult:
    """Train (or resume) a StyleInV run in ``out``.  ``resume``: ``None`` (new run), ``"auto"`` or a snapshot."""
    stage = StyleInVStage(cfg, dataset=dataset)
    if stage.dist.is_main:
        stage.sample_dir = Path(out) / "samples"
    loop = TrainLoop(run_dir=out, stage=STAGE, config=stage.config_dict(), total_kimg=cfg.total_kimg,
                     batch_size=cfg.batch, step_fn=stage.step, state_fn=stage.state, load_state_fn=stage.load_state,
                     snapshot_kimg=cfg.snapshot_kimg, keep_snapshots=cfg.keep_snapshots, sample_fn=stage.sample,
                     eval_fn=stage.evaluate if cfg.metrics else None, eval_kimg=cfg.metrics_kimg,
                     dist=stage.dist, resume=resume, progress=progress, tensorboard=tensorboard,
                     handle_signals=handle_signals)
    result = loop.run()
    result.stage = stage  # type: ignore[attr-defined]
    return result


def export_styleinv(run, out, *, which: str = "SI_ema") -> Path:
    """Write only StyleInV's moving average (no D, no optimiser state) and the run's config into one small file
    that :func:`styleinv_lib.generate.load_video_generator` reads (the generator stays a separate file)."""
    from ..loading import resolve_checkpoint
    from .._version import __version__
    from ..checkpoint import load_snapshot, save_snapshot

    snap = load_snapshot(resolve_checkpoint(run), expected_stage=STAGE)
    SI = build_styleinv(snap.config["networks"])
    SI.load_state_dict(snap.modules_state(which))
    config = {**snap.config, "exported_from": str(snap.path), "exported_by": __version__, "step": snap.step}
    return save_snapshot(Path(out), stage=STAGE, config=config, modules={"SI_ema": SI}, rng={})
