"""Training the autoregressive baseline (chapter 9): a MoCoGAN-HD-style walk in W judged by a dense video D.

G is frozen, as for StyleInV.  A fake clip is ``G(w_0), …, G(w_{T-1})`` with ``w = AutoregressiveMotion(w0, T)``
unrolled from ``w0 = G.mapping(z)`` (:mod:`styleinv_lib.nn.autoregressive`); a real clip is ``T`` consecutive frames
from a random start (:class:`~styleinv_lib.data.video.DenseClipSampler`).  The
:class:`~styleinv_lib.nn.temporal_disc.TemporalVideoDiscriminator` sees every frame of both, so its cost grows with
``clip_frames`` — the point of the comparison (``benchmarks/video_d_cost.py``).  Losses: non-saturating
adversarial for the motion network, logistic for D with lazy R1; Adam (β = (0, 0.99)); an EMA of the motion
network is what generation uses.  Everything around the step is :class:`TrainLoop`'s: tqdm, TensorBoard, atomic
snapshots, exact resume (the batches are a pure function of the step).
"""
from __future__ import annotations

import copy
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch

from ..data.video import DenseClipSampler, VideoFolder
from ..nn.autoregressive import AutoregressiveMotion, principal_basis
from ..nn.temporal_disc import TemporalVideoDiscriminator
from ..profiles import get_profile
from .host_memory import keep_freed_host_memory
from .loop import (
    StageState, TrainLoop, TrainResult, apply_gradients, dataclass_from_dict, ema_beta, make_adam, make_grid,
    pick_device, save_sample_grid, seed_everything, update_ema,
)
from .losses import d_logistic_loss, g_nonsaturating_loss, r1_penalty

STAGE = "autoregressive"


@dataclass
class AutoregressiveConfig:
    """Every setting of an autoregressive-baseline run (``config.json`` and every snapshot)."""

    data: str = ""
    skip_bad: bool = False              # skip videos that do not decode (each named in a warning)
    generator: str = ""                 # the StyleGAN2 run folder or file (frozen)
    hidden_dim: int = 512
    noise_dim: int = 128
    step_scale: float = 0.2             # λ of w_t = w_{t-1} + λ·tanh(A h_t)·P (MoCoGAN-HD: 0.2)
    init_std: float = 0.02              # std of A's initial weights: an untrained network barely moves
    basis_samples: int = 10_000         # latents w = mapping(z) behind the principal basis P (0: P = identity)
    clip_frames: int = 16               # frames per training clip (MoCoGAN-HD and the paper's baselines: 16)
    d_channel_base: int = 16384
    d_channel_max: int = 512
    batch: int = 16
    total_kimg: float = 500.0           # thousands of clips
    lr: float = 1e-4
    lr_d: float = 1e-4
    r1_gamma: float = 1.0
    r1_interval: int = 16
    ema_kimg: float = 10.0
    snapshot_kimg: float = 10.0
    keep_snapshots: int = 3
    seed: int = 0
    device: str = "auto"

    @classmethod
    def from_dict(cls, d: dict) -> "AutoregressiveConfig":
        return dataclass_from_dict(cls, d, "autoregressive")


#: Per-profile defaults, sized like the StyleInV presets of the same profile (cpu: the committed 32² generator).
PRESETS = {
    "smoke": dict(hidden_dim=32, noise_dim=16, d_channel_base=256, d_channel_max=16, batch=4, total_kimg=0.016,
                  snapshot_kimg=0.008, r1_interval=2, clip_frames=8, ema_kimg=0.01, basis_samples=512),
    # cpu: 6 kimg of 16-frame clips is 96k frames rendered by G, the same as StyleInV's cpu preset (24 kimg of
    # 4-frame sparse samples; its leap term runs StyleInV, not G, on 9 more times per clip); the dense D makes it
    # the dearer run (51 min on one thread against StyleInV's 22 in the v2 rows; the first edition trained 3 kimg).
    "cpu": dict(hidden_dim=256, noise_dim=64, d_channel_base=2048, d_channel_max=64, batch=8, total_kimg=6.0,
                snapshot_kimg=0.5, lr=5e-4, lr_d=5e-4, ema_kimg=0.5),
    "gpu": dict(batch=32, total_kimg=2000.0, snapshot_kimg=50.0),
}


def config_for_profile(profile=None, **overrides) -> AutoregressiveConfig:
    """The profile's preset with ``overrides`` applied (``None`` values are ignored)."""
    values = {**PRESETS[get_profile(profile).name], **{k: v for k, v in overrides.items() if v is not None}}
    return AutoregressiveConfig.from_dict(values)


class AutoregressiveStage:
    """One baseline run: frozen G, the motion network + EMA, the dense video D."""

    def __init__(self, cfg: AutoregressiveConfig, dataset=None):
        from ..loading import load_generator

        if not cfg.generator:
            raise ValueError("the autoregressive baseline needs --generator: the StyleGAN2 run or file")
        if cfg.clip_frames < 2:
            raise ValueError(f"clip_frames must be at least 2, got {cfg.clip_frames}")
        self.cfg = cfg
        self.device = pick_device(cfg.device)
        keep_freed_host_memory(self.device)
        seed_everything(cfg.seed)
        self.G = load_generator(cfg.generator, device=self.device).eval().requires_grad_(False)
        self.resolution = self.G.img_resolution
        if not cfg.data and dataset is None:
            raise ValueError("the autoregressive baseline needs --data: a folder of videos")
        self.sampler = DenseClipSampler(cfg.clip_frames)
        self.data = dataset if dataset is not None else VideoFolder(cfg.data, self.resolution, mode="clips",
                                                                    clip_sampler=self.sampler, seed=cfg.seed,
                                                                    skip_bad=cfg.skip_bad)
        self.M = AutoregressiveMotion(self.G.w_dim, cfg.hidden_dim, cfg.noise_dim, cfg.step_scale,
                                      cfg.init_std).to(self.device)
        if cfg.basis_samples > 0:
            self.M.set_basis(self.latent_basis(cfg.basis_samples))
        self.M_ema = copy.deepcopy(self.M).eval().requires_grad_(False)
        self.D = TemporalVideoDiscriminator(self.resolution, channel_base=cfg.d_channel_base,
                                            channel_max=cfg.d_channel_max).to(self.device)
        self.opt_M = make_adam(self.M.parameters(), lr=cfg.lr, betas=(0.0, 0.99))
        self.opt_D = make_adam(self.D.parameters(), lr=cfg.lr_d, betas=(0.0, 0.99))
        self.last_step = -1
        self.sample_dir: Path | None = None
        gen = torch.Generator().manual_seed(cfg.seed + 4242)
        self.sample_w0 = self.G.mapping(torch.randn(4, self.G.z_dim, generator=gen).to(self.device))[:, 0]

    @torch.no_grad()
    def latent_basis(self, n: int, chunk: int = 1000) -> torch.Tensor:
        """The principal basis of ``n`` latents ``w = G.mapping(z)`` from a fixed seed (MoCoGAN-HD's PCA step)."""
        gen = torch.Generator().manual_seed(self.cfg.seed + 777)
        w = [self.G.mapping(torch.randn(min(chunk, n - i), self.G.z_dim, generator=gen).to(self.device))[:, 0]
             for i in range(0, n, chunk)]
        return principal_basis(torch.cat(w).float().cpu()).to(self.device)

    # -- data: pure functions of the step --------------------------------------------------------------------------
    def _rng(self, step: int, what: int) -> np.random.Generator:
        return np.random.default_rng([self.cfg.seed, int(step), what])

    def real_clips(self, step: int) -> torch.Tensor:
        """``B×T×3×R×R`` in [-1, 1]: consecutive frames from random videos and starts."""
        rng = self._rng(step, 1)
        clips = []
        for v in rng.integers(0, self.data.num_videos, size=self.cfg.batch):
            start, ts = self.sampler(rng, self.data.num_frames(int(v)))
            clips.append(self.data.read_frames(int(v), start + ts))
        return torch.stack(clips).to(self.device).float().div(127.5).sub(1)

    def fake_clips(self, step: int, what: int, net=None) -> torch.Tensor:
        """``B×T×3×R×R``: ``G(w_t)`` for the motion network's walk from ``w0 = G.mapping(z)``."""
        rng = self._rng(step, what)
        z = torch.from_numpy(rng.standard_normal((self.cfg.batch, self.G.z_dim)).astype(np.float32))
        seeds = rng.integers(0, 2**62, size=self.cfg.batch).tolist()
        w0 = self.G.mapping(z.to(self.device))[:, 0]
        w = (net or self.M)(w0, self.cfg.clip_frames, seeds)
        img = self.G.synthesis(w.reshape(-1, w.shape[-1]), noise_mode="const")
        return img.reshape(*w.shape[:2], *img.shape[1:])

    # -- one optimisation step -------------------------------------------------------------------------------------
    def step(self, step: int) -> dict[str, float]:
        cfg = self.cfg
        self.last_step = step
        logs = {}
        self.D.requires_grad_(False)
        loss_m = g_nonsaturating_loss(self.D(self.fake_clips(step, 2)))
        apply_gradients(loss_m, self.opt_M, list(self.M.parameters()))
        self.D.requires_grad_(True)
        real = self.real_clips(step)
        with torch.no_grad():
            fake = self.fake_clips(step, 3)
        real_logits, fake_logits = self.D(real), self.D(fake)
        loss_d = d_logistic_loss(real_logits, fake_logits)
        apply_gradients(loss_d, self.opt_D, list(self.D.parameters()))
        if cfg.r1_interval > 0 and cfg.r1_gamma > 0 and step % cfg.r1_interval == 0:
            real_r1 = real.detach().requires_grad_(True)
            penalty = r1_penalty(self.D(real_r1), real_r1)
            apply_gradients(penalty * (cfg.r1_gamma / 2) * cfg.r1_interval, self.opt_D, list(self.D.parameters()))
            logs["Loss/r1_penalty"] = float(penalty.detach())
        update_ema(self.M_ema, self.M, ema_beta(cfg.batch, cfg.ema_kimg, (step + 1) * cfg.batch, None))
        logs.update({"Loss/M/loss": float(loss_m.detach()), "Loss/D/loss": float(loss_d.detach()),
                     "Loss/scores/real": float(real_logits.detach().mean()),
                     "Loss/scores/fake": float(fake_logits.detach().mean())})
        return logs

    # -- snapshots and samples ---------------------------------------------------------------------------------------
    def state(self) -> StageState:
        return StageState(modules={"M": self.M, "M_ema": self.M_ema, "D": self.D},
                          optimizers={"M": self.opt_M, "D": self.opt_D})

    def load_state(self, snap) -> None:
        st = self.state()
        snap.restore(modules=st.modules, optimizers=st.optimizers)

    @torch.no_grad()
    def sample(self) -> torch.Tensor:
        """Four videos from fixed w0 (rows), every fourth of 4·clip_frames frames: training length and beyond."""
        T = 4 * self.cfg.clip_frames
        w = self.M_ema(self.sample_w0, T, [0, 1, 2, 3])[:, ::4]
        img = self.G.synthesis(w.reshape(-1, w.shape[-1]), noise_mode="const")
        grid = make_grid((img.float().cpu() + 1) / 2, nrow=w.shape[1])
        save_sample_grid(grid, self.sample_dir, (self.last_step + 1) * self.cfg.batch / 1000)
        return grid

    def config_dict(self) -> dict:
        return {"stage": STAGE, **asdict(self.cfg), "motion": self.M.config, "discriminator": self.D.config,
                "generator_config": self.G.config}


def train_autoregressive(cfg: AutoregressiveConfig, out, *, resume=None, progress: bool = True,
                         tensorboard: bool = True, dataset=None, handle_signals: bool = True) -> TrainResult:
    """Train (or resume) the autoregressive baseline in ``out``."""
    stage = AutoregressiveStage(cfg, dataset=dataset)
    stage.sample_dir = Path(out) / "samples"
    loop = TrainLoop(run_dir=out, stage=STAGE, config=stage.config_dict(), total_kimg=cfg.total_kimg,
                     batch_size=cfg.batch, step_fn=stage.step, state_fn=stage.state, load_state_fn=stage.load_state,
                     snapshot_kimg=cfg.snapshot_kimg, keep_snapshots=cfg.keep_snapshots, sample_fn=stage.sample,
                     resume=resume, progress=progress, tensorboard=tensorboard, handle_signals=handle_signals)
    result = loop.run()
    result.stage = stage  # type: ignore[attr-defined]
    return result


def export_autoregressive(run, out, *, which: str = "M_ema") -> Path:
    """Write only the baseline's moving-average motion network (no D, no optimiser state) and the run's config
    into one small file that :func:`styleinv_lib.generate.load_autoregressive_generator` reads (the generator
    stays a separate file, as for :func:`styleinv_lib.train.styleinv.export_styleinv`)."""
    from ..loading import resolve_checkpoint
    from .._version import __version__
    from ..checkpoint import load_snapshot, save_snapshot

    snap = load_snapshot(resolve_checkpoint(run), expected_stage=STAGE)
    M = AutoregressiveMotion(**snap.config["motion"])
    M.load_state_dict(snap.modules_state(which))
    config = {**snap.config, "exported_from": str(snap.path), "exported_by": __version__, "step": snap.step}
    return save_snapshot(Path(out), stage=STAGE, config=config, modules={"M_ema": M}, rng={})


__all__ = ["AutoregressiveConfig", "AutoregressiveStage", "PRESETS", "STAGE", "config_for_profile",
           "export_autoregressive", "train_autoregressive"]
