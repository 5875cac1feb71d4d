"""Stage 1: StyleGAN2 on single video frames (Karras et al. 2020), with ADA (Karras et al. 2020b).

The image generator G trained here is the decoder of the whole paper: the inversion encoder (Eq. 1), StyleInV
(Eq. 2) and style transfer all read its run folder.  The losses and their schedule follow StyleGAN2-ADA:

* ``Gmain`` every step: non-saturating logistic loss on augmented fakes, with style mixing (p = 0.9);
* ``Greg`` every ``pl_interval`` steps: path-length regularisation (weight 2; off in the small profiles);
* ``Dmain`` every step: logistic loss on augmented reals and fakes; the sign of D(real) feeds the ADA controller;
* ``Dreg`` every ``r1_interval`` steps: lazy R1 on augmented reals, scaled by the interval;
* Adam (β = (0, 0.99)) with lr and β corrected for lazy regularisation; G_ema with a half-life in kimg and ramp-up.

Everything around the step (resume, snapshots, logging, signals, several processes) is :class:`TrainLoop`'s job.

Against the official StyleInV code, stated: its README trains the generators with StyleGAN2-ADA's ``paper256``
config (batch 64 on 8 GPUs, G_ema half-life 20 kimg without ramp-up, minibatch-std over groups of 8, ADA at
500 kimg, path length 2).  The ``gpu`` preset here is config F at 128² for one 16 GB GPU with StyleGAN2-ADA's
``auto`` choices for a new dataset and batch (batch 32, G_ema half-life batch·10/32 = 10 kimg with a 0.05 ramp-up,
minibatch-std groups of 4) and ADA at 100 kimg, faster than the default 500 for a 3,000-kimg run;
``--set ema_kimg=20 --set ema_rampup=null --set mbstd_group=8 --set ada_kimg=500`` gives paper256's.  The small
profiles drop the path-length term (a 2x cost per G step).
"""
from __future__ import annotations

import copy
from dataclasses import asdict, dataclass
from pathlib import Path

import torch

from ..data.video import VideoFolder
from ..nn import conv_gradfix
from ..nn.stylegan2 import Discriminator, Generator, style_mix
from ..profiles import get_profile
from .augment import AUGMENT_PRESETS, AdaptiveAugment, AugmentPipe
from ..checkpoint import Snapshot
from .distributed import DistributedContext, SampleStream
from .host_memory import keep_freed_host_memory
from .loop import (
    StageState, TrainLoop, TrainResult, adaptive_state, apply_gradients, dataclass_from_dict, ema_beta, make_adam,
    make_grid, pick_device, precision_policy, restore_adaptive_state, save_sample_grid, seed_everything, update_ema,
)
from .losses import (
    PathLengthRegularizer, adjusted_adam_params, d_logistic_loss, default_r1_gamma, g_nonsaturating_loss, r1_penalty,
)

STAGE = "stylegan2"


@dataclass
class StyleGAN2Config:
    """Every setting of a StyleGAN2 run; stored in ``config.json`` and in every snapshot."""

    data: str = ""
    skip_bad: bool = False              # skip videos that do not decode (each named in a warning) instead of stopping
    data_cache_mb: float = 1024.0       # MiB of decoded, resized frames kept in memory (VideoFolder cache_mb)
    resolution: int = 32
    # networks
    z_dim: int = 512
    w_dim: int = 512
    mapping_layers: int = 8
    channel_base: int = 16384
    channel_max: int = 512
    conv_clamp: float | None = None
    mbstd_group: int = 4
    # optimisation
    batch: int = 32
    total_kimg: float = 1000.0
    lr: float = 0.0025
    r1_gamma: float | None = None        # None: StyleGAN2-ADA's heuristic 0.0002 * res^2 / batch
    r1_interval: int = 16
    pl_weight: float = 2.0
    pl_interval: int = 4
    style_mixing: float = 0.9
    ema_kimg: float | None = None        # None: batch * 10 / 32, as StyleGAN2-ADA
    ema_rampup: float | None = 0.05
    # adaptive augmentation
    augment: str = "bgc"                 # a key of AUGMENT_PRESETS, or "none"
    ada_target: float = 0.6
    ada_kimg: float = 100.0
    ada_interval: int = 4
    # evaluation with the real Inception network (StaticImageClips → FID over independent images)
    metrics: str = ""                    # "" (none) or "fid"
    metrics_kimg: float | None = None    # None: only at the end of training
    metric_fid_frames: int = 1000        # generated images per evaluation (the paper: 50,000)
    metric_real_frames: int | None = 2000  # real frames (None: all frames); cached after the first evaluation
    # bookkeeping
    snapshot_kimg: float = 10.0
    keep_snapshots: int = 3
    seed: int = 0
    device: str = "auto"
    precision: str = "auto"              # auto | bf16 | fp16 | fp32
    compile: bool = False

    def generator_kwargs(self) -> dict:
        return dict(z_dim=self.z_dim, w_dim=self.w_dim, img_resolution=self.resolution,
                    mapping_kwargs=dict(num_layers=self.mapping_layers),
                    synthesis_kwargs=dict(channel_base=self.channel_base, channel_max=self.channel_max,
                                          conv_clamp=self.conv_clamp))

    def discriminator_kwargs(self) -> dict:
        return dict(img_resolution=self.resolution, channel_base=self.channel_base, channel_max=self.channel_max,
                    mbstd_group_size=self.mbstd_group, conv_clamp=self.conv_clamp)

    @property
    def effective_r1_gamma(self) -> float:
        return default_r1_gamma(self.resolution, self.batch) if self.r1_gamma is None else self.r1_gamma

    @property
    def effective_ema_kimg(self) -> float:
        return self.batch * 10 / 32 if self.ema_kimg is None else self.ema_kimg

    @classmethod
    def from_dict(cls, d: dict) -> "StyleGAN2Config":
        return dataclass_from_dict(cls, d, "StyleGAN2")


#: Per-profile defaults.  ``smoke`` checks that everything runs (seconds); ``cpu``: SynthFaces v2 at 32² on two CPU
#: cores within issue 17's 60-minute budget: ``lr=0.005`` (twice StyleGAN2-ADA's), batch 8 and a G_ema half-life of
#: 10 kimg, 250 kimg: about 57 minutes of the loop at the 74 img/s of two Zen 4 threads with AVX-512 BF16 (bf16 +
#: compile).  FID is measured every 50 kimg and the lowest-FID snapshot kept as ``best-fid.safetensors``; the recipe
#: read 116.6 / 79.6 / 84.4 / 73.5 / 64.1 at 50-250 kimg, 1.84x the held-out floor at the end
#: (``benchmarks/results/stylegan2_recipe_cpu.md``; the generator before trained 1,100 kimg at lr 0.0025, batch 16,
#: about 10 hours, to 64.7).  ``gpu`` is StyleGAN2 config F scaled to 128² for a 16 GB T4.
PRESETS = {
    "smoke": dict(resolution=32, z_dim=64, w_dim=64, mapping_layers=2, channel_base=512, channel_max=32, batch=8,
                  total_kimg=0.08, snapshot_kimg=0.04, pl_weight=0.0, augment="bgc", ada_kimg=1.0),
    "cpu": dict(resolution=32, z_dim=128, w_dim=128, mapping_layers=4, channel_base=2048, channel_max=64,
                batch=8, lr=0.005, ema_kimg=10.0, total_kimg=250.0, snapshot_kimg=25.0, pl_weight=0.0, ada_kimg=20.0,
                metrics="fid", metrics_kimg=50.0, compile=True),
    "gpu": dict(resolution=128, z_dim=512, w_dim=512, mapping_layers=8, channel_base=16384, channel_max=512,
                batch=32, total_kimg=3000.0, snapshot_kimg=50.0, pl_weight=2.0, ada_kimg=100.0,
                metrics="fid", metrics_kimg=250.0, metric_fid_frames=10_000, metric_real_frames=None),
}


def config_for_profile(profile=None, **overrides) -> StyleGAN2Config:
    """The profile's preset with ``overrides`` applied (``None`` values are ignored)."""
    prof = get_profile(profile)
    values = {**PRESETS[prof.name], **{k: v for k, v in overrides.items() if v is not None}}
    return StyleGAN2Config.from_dict(values)


def _to_float_images(batch_uint8: torch.Tensor, device, memory_format) -> torch.Tensor:
    x = batch_uint8.to(device=device, non_blocking=True).float().div_(127.5).sub_(1.0)
    return x.contiguous(memory_format=memory_format)


class StyleGAN2Stage:
    """One StyleGAN2 training run: the networks, optimisers, augmentation and the four loss phases."""

    def __init__(self, cfg: StyleGAN2Config, dist: DistributedContext | None = None, dataset=None):
        if not cfg.data and dataset is None:
            raise ValueError("StyleGAN2 training needs --data: a folder of videos (see `styleinv data --help`)")
        self.cfg = cfg
        self.dist = dist if dist is not None else DistributedContext()
        self.device = self.dist.device if self.dist.is_distributed else pick_device(cfg.device)
        self.policy = precision_policy(self.device, cfg.precision)
        keep_freed_host_memory(self.device)
        self.memory_format = self.policy.memory_format
        seed_everything(cfg.seed, self.dist.rank)

        self.data = dataset if dataset is not None else VideoFolder(cfg.data, cfg.resolution, mode="frames",
                                                                    skip_bad=cfg.skip_bad,
                                                                    cache_mb=cfg.data_cache_mb)
        if len(self.data) < cfg.batch:
            raise ValueError(f"{cfg.data}: {len(self.data)} frames is fewer than one batch of {cfg.batch}")
        self.stream = SampleStream(len(self.data), cfg.batch, seed=cfg.seed, rank=self.dist.rank,
                                   world=self.dist.world_size)

        self.G = Generator(**cfg.generator_kwargs()).to(self.device).to(memory_format=self.memory_format)
        self.D = Discriminator(**cfg.discriminator_kwargs()).to(self.device).to(memory_format=self.memory_format)
        self.G_ema = copy.deepcopy(self.G).eval().requires_grad_(False)
        g_lr, g_betas = adjusted_adam_params(cfg.lr, (0.0, 0.99), cfg.pl_interval if cfg.pl_weight > 0 else None)
        d_lr, d_betas = adjusted_adam_params(cfg.lr, (0.0, 0.99), max(cfg.r1_interval, 0))
        self.g_params = list(self.G.parameters())       # what opt_G trains (style transfer freezes some)
        self.opt_G = make_adam(self.g_params, lr=g_lr, betas=g_betas)
        self.opt_D = make_adam(self.D.parameters(), lr=d_lr, betas=d_betas)
        self.scalers = {k: self.policy.grad_scaler() for k in ("G", "D")} if self.policy.use_grad_scaler else None

        self.augment = None
        self.ada = None
        if cfg.augment != "none":
            if cfg.augment not in AUGMENT_PRESETS:
                raise ValueError(f"unknown augment preset {cfg.augment!r}: choose one of "
                                 f"{', '.join(AUGMENT_PRESETS)} or 'none'")
            self.augment = AugmentPipe(**AUGMENT_PRESETS[cfg.augment]).to(self.device)
            self.ada = AdaptiveAugment(self.augment, target=cfg.ada_target, ada_kimg=cfg.ada_kimg,
                                       interval=cfg.ada_interval)
        self.pl = PathLengthRegularizer().to(self.device)
        # main phases may run compiled; the regularisers (double backward) use the plain modules, with convolutions
        # whose derivatives are first-order kernels where that is faster (conv_gradfix.pays_on)
        self.regulariser_gradfix = conv_gradfix.pays_on(self.device)
        self.synthesis_fwd, self.D_fwd = self.G.synthesis, self.D
        if cfg.compile:
            self.synthesis_fwd, self.D_fwd = torch.compile(self.G.synthesis), torch.compile(self.D)
        self.last_step = -1
        self.sample_dir: Path | None = None
        gen = torch.Generator().manual_seed(cfg.seed + 12345)
        self.sample_z = torch.randn(16, cfg.z_dim, generator=gen).to(self.device)

    # -- data --------------------------------------------------------------------------------------------------
    def real_batch(self, step: int) -> torch.Tensor:
        idx = self.stream.batch(step)
        imgs = torch.stack([self.data[int(i)]["image"] for i in idx])
        return _to_float_images(imgs, self.device, self.memory_format)

    # -- one optimisation step ----------------------------------------------------------------------------------
    def _aug(self, x: torch.Tensor) -> torch.Tensor:
        return self.augment(x) if self.augment is not None else x

    def _generate(self, n: int, net: Generator | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        z = torch.randn(n, self.cfg.z_dim, device=self.device)
        G = self.G if net is None else net
        ws = G.mapping(z)
        if self.cfg.style_mixing > 0:
            ws = style_mix(G, z, ws, prob=self.cfg.style_mixing)
        synth = self.synthesis_fwd if net is None else G.synthesis
        return synth(ws), ws

    def extra_generator_loss(self, fake: torch.Tensor, ws: torch.Tensor, logs: dict) -> torch.Tensor | None:
        """A loss added to ``Gmain`` for the fakes ``fake = G(ws)`` (none here; style transfer adds its perceptual
        and identity terms).  Log values go into ``logs``."""
        return None

    def _backward_step(self, name: str, loss: torch.Tensor, opt, params) -> None:
        apply_gradients(loss, opt, params, self.dist, self.scalers[name] if self.scalers is not None else None)

    def step(self, step: int) -> dict[str, float]:
        cfg = self.cfg
        self.last_step = step
        batch = self.stream.local_batch
        logs: dict[str, float] = {}
        real = self.real_batch(step)
        g_params, d_params = self.g_params, list(self.D.parameters())

        # Gmain: fool D on augmented fakes (plus any extra generator loss of a subclass)
        self.D.requires_grad_(False)
        with self.policy.autocast():
            fake, ws = self._generate(batch)
            loss_g = g_nonsaturating_loss(self.D_fwd(self._aug(fake)).float())
            extra = self.extra_generator_loss(fake, ws, logs)
        self._backward_step("G", loss_g if extra is None else loss_g + extra, self.opt_G, g_params)
        logs["Loss/G/loss"] = loss_g.detach()

        # Greg: path-length regularisation, lazily every pl_interval steps (in fp32)
        if cfg.pl_weight > 0 and step % cfg.pl_interval == 0:
            n = self.pl.batch_size(batch)
            with conv_gradfix.enabled(self.regulariser_gradfix):
                fake_pl, ws = self._generate(max(n, 1), net=self.G)
                penalty = self.pl.penalty(fake_pl, ws)
                self._backward_step("G", penalty * cfg.pl_weight * cfg.pl_interval, self.opt_G, g_params)
            logs["Loss/pl_penalty"] = penalty.detach()
        self.D.requires_grad_(True)

        # Dmain: logistic loss on augmented reals and (detached) fakes
        with self.policy.autocast():
            with torch.no_grad():
                fake, _ = self._generate(batch)
            fake_logits = self.D_fwd(self._aug(fake)).float()
            real_logits = self.D_fwd(self._aug(real)).float()
            loss_d = d_logistic_loss(real_logits, fake_logits)
        if self.ada is not None:
            self.ada.accumulate(real_logits.detach())
        self._backward_step("D", loss_d, self.opt_D, d_params)
        logs["Loss/D/loss"] = loss_d.detach()
        logs["Loss/scores/real"] = real_logits.detach().mean()
        logs["Loss/scores/fake"] = fake_logits.detach().mean()

        # Dreg: lazy R1 on augmented reals, every r1_interval steps (in fp32)
        if cfg.r1_interval > 0 and step % cfg.r1_interval == 0 and cfg.effective_r1_gamma > 0:
            real_r1 = real.detach().requires_grad_(True)
            with conv_gradfix.enabled(self.regulariser_gradfix):
                logits = self.D(self._aug(real_r1))
                penalty = r1_penalty(logits, real_r1)
                loss_r1 = penalty * (cfg.effective_r1_gamma / 2) * cfg.r1_interval + logits.mean() * 0
                self._backward_step("D", loss_r1, self.opt_D, d_params)
            logs["Loss/r1_penalty"] = penalty.detach()

        # G_ema and ADA
        nimg = (step + 1) * cfg.batch
        update_ema(self.G_ema, self.G, ema_beta(cfg.batch, cfg.effective_ema_kimg, nimg, cfg.ema_rampup))
        if self.ada is not None:
            self.ada.step(cfg.batch)
            logs["Progress/augment_p"] = float(self.ada.p)
        return {k: float(v) for k, v in logs.items()}

    # -- snapshots ----------------------------------------------------------------------------------------------
    def state(self) -> StageState:
        return StageState(modules={"G": self.G, "D": self.D, "G_ema": self.G_ema, "pl": self.pl,
                                   **({"augment": self.augment} if self.augment is not None else {})},
                          optimizers={"G": self.opt_G, "D": self.opt_D},
                          extra_json=adaptive_state(self.ada, self.scalers))

    def load_state(self, snap: Snapshot) -> None:
        st = self.state()
        snap.restore(modules=st.modules, optimizers=st.optimizers)
        restore_adaptive_state(snap.extra_json, self.ada, self.scalers)

    @torch.no_grad()
    def sample(self) -> torch.Tensor:
        """A grid of G_ema's images for 16 fixed z; also saved as ``samples/kimg{kimg:07.1f}.png`` in the run."""
        img = self.G_ema(self.sample_z, noise_mode="const")
        grid = make_grid((img.float().cpu() + 1) / 2, nrow=8)
        save_sample_grid(grid, self.sample_dir, (self.last_step + 1) * self.cfg.batch / 1000)
        return grid

    def evaluate(self) -> dict[str, float]:
        """FID of G_ema against the training frames (cached real statistics), for the loop's ``eval_fn``: the image
        FID of independent samples against a subset of every real frame drawn without replacement (StyleGAN2-ADA's
        real side, the ``stylegan-v`` variant's)."""
        from ..metrics.protocol import Protocol, StaticImageClips, evaluate

        names = _metric_names(self.cfg)
        protocol = Protocol(num_clips=2, fid_frames=self.cfg.metric_fid_frames,
                            fid_real_frames=self.cfg.metric_real_frames, seed=self.cfg.seed, batch=16,
                            fid="stylegan-v")
        source = StaticImageClips(self.G_ema, device=self.device)
        return evaluate(source, self.cfg.data, names, protocol, device=self.device)["metrics"]

    def config_dict(self) -> dict:
        return {"stage": STAGE, **asdict(self.cfg), "generator": self.G.config, "discriminator": self.D.config}


def _metric_names(cfg: StyleGAN2Config) -> list[str]:
    names = [m.strip() for m in cfg.metrics.split(",") if m.strip()]
    if any(m != "fid" for m in names):
        raise ValueError(f"StyleGAN2 training can report fid only (an image generator has no motion), "
                         f"got metrics={cfg.metrics!r}")
    return names


def train_stylegan2(cfg: StyleGAN2Config, out, *, resume=None, progress: bool = True, tensorboard: bool = True,
                    dataset=None, handle_signals: bool = True) -> TrainResult:
    """Train (or resume) a StyleGAN2 run in ``out``.  ``resume``: ``None`` (new run), ``"auto"`` or a snapshot."""
    _metric_names(cfg)  # refuse a bad metric list before training, not after
    stage = StyleGAN2Stage(cfg, dataset=dataset)
    if stage.dist.is_main:
        stage.sample_dir = Path(out) / "samples"
    loop = TrainLoop(run_dir=out, stage=STAGE, config=stage.config_dict(), total_kimg=cfg.total_kimg,
                     batch_size=cfg.batch, step_fn=stage.step, state_fn=stage.state, load_state_fn=stage.load_state,
                     snapshot_kimg=cfg.snapshot_kimg, keep_snapshots=cfg.keep_snapshots, sample_fn=stage.sample,
                     eval_fn=stage.evaluate if cfg.metrics and cfg.data else None, eval_kimg=cfg.metrics_kimg,
                     keep_best="fid", dist=stage.dist, resume=resume, progress=progress, tensorboard=tensorboard,
                     handle_signals=handle_signals)
    result = loop.run()
    result.stage = stage  # type: ignore[attr-defined]  # handy in notebooks: the trained networks
    return result
