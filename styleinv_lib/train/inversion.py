"""Stage 2: the GAN inversion encoder E of Eq. 1, ``x̂ = G(E(x) + w̄)``, trained against a frozen StyleGAN2 G.

StyleInV (§3.1) inverts video frames into W with a pSp-style encoder (:class:`~styleinv_lib.nn.encoder.InversionEncoder`); §3.2 then initialises the motion generator from it.  Each training step here:

* half of the batch are **real frames** of the training videos (``VideoFolder`` frames mode), drawn as a pure
  function of the step (:class:`SampleStream`), so ``N`` steps == ``N/2`` + resume + ``N/2`` bit for bit;
* the other half are **G's own images** from fresh ``z`` (``w = G.mapping(z)``, one w per image): their true w is
  known, which adds a latent loss.  That is our addition for small data (pSp/e4e train on real images only); it
  anchors E to W where pixels alone are ambiguous;
* losses (pSp's FFHQ encoding weights: L2 ×1, LPIPS ×0.8, identity ×0.1):

  - ``l2``: pixel MSE between ``x̂ = G.synthesis(E(x), noise_mode="const")`` and ``x``;
  - ``lpips``: LPIPS-AlexNet.  Images smaller than ``lpips_size`` (64) are upsampled bilinearly first: at 32²
    AlexNet's 11×11/4 first layer leaves a 7×7 map and its last taps see 1×1, at 64² they see 3×3 — a sharper,
    more spatial signal for the same cost of a 64² AlexNet pass (pSp compares at 256² after pooling);
  - ``id``: ``1 − cos`` of the **SynthFaces probe** embeddings of x̂ and x (:mod:`styleinv_lib.metrics.probe`).
    This stands in for pSp's ArcFace identity loss, but it is *not* a face-recognition network: it is the small
    CNN trained on rendered SynthFaces identities, meaningful for SynthFaces only.  ``id_weight=0`` turns it off;
    otherwise the probe file must exist;
  - ``factors`` (off unless ``factor_weight > 0``; our addition): MSE between the probe's standardised motion factors
    (head pose, blink, mouth, brows, gaze) of x̂ and of x.  The identity, pixel and LPIPS terms at 32² let E ignore
    a head turn of a few pixels: the v2 encoder trained without it follows yaw, pitch, blinks and the mouth of
    held-out frames with correlation 0.16 (``heldout_factor_r``), which bounds the motion StyleInV starts from;
  - ``latent``: MSE between E(G(w)) and w on the generated half;
  - ``reg``: ``mean((E(x) − w̄)²)``, pSp's W-norm regulariser (there a norm, here the mean square per element),
    which keeps E near the well-behaved centre of W.

* Optimiser: Adam, β = (0.9, 0.999).  The official code uses Ranger (RAdam + Lookahead) at lr 1e-4; Adam at 1e-4 is
  the ``gpu`` preset.  The small profiles use 1e-3 (smoke, cpu): they train for only one or two thousand steps
  (pSp: 500k) a freshly initialised encoder, and with BatchNorm and a small head 1e-3 is stable there.

The last ``heldout_fraction`` of the videos (by index) are **held out**: never drawn for training; ``evaluate``
reports PSNR / LPIPS / identity cosine of their reconstructions and the latent error on G's samples (with the w̄
baseline) into ``metrics.jsonl`` and TensorBoard (``Metrics/...``).  Note that G itself was trained on all the
videos: held-out frames are new to E, not to G.

Snapshots hold E (with its w̄ buffer), its optimiser, the generator's path and config; ``load_encoder`` needs
nothing else; ``export_encoder`` writes E alone into one small file (both in :mod:`styleinv_lib.loading`).
"""
from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from ..data.video import VideoFolder
from ..inversion import lpips_input, psnr
from ..nn.encoder import InversionEncoder
from ..profiles import get_profile
from ..checkpoint import Snapshot
from .distributed import DistributedContext, SampleStream, local_batch
from .host_memory import keep_freed_host_memory
from .loop import (
    StageState, TrainLoop, TrainResult, apply_gradients, dataclass_from_dict, make_adam, make_grid, pick_device,
    precision_policy, save_sample_grid, seed_everything,
)

STAGE = "encoder"


@dataclass
class EncoderConfig:
    """Every setting of an encoder run; stored in ``config.json`` and in every snapshot."""

    data: str = ""                       # folder of training videos (frames mode)
    skip_bad: bool = False               # skip videos that do not decode (each named in a warning)
    data_cache_mb: float = 1024.0        # MiB of decoded, resized frames kept in memory (VideoFolder cache_mb)
    generator: str = ""                  # the frozen StyleGAN2: a run folder or .safetensors file
    # network (widths min(channel_base / res, channel_max), as StyleGAN2's)
    channel_base: int = 16384
    channel_max: int = 512
    blocks_per_stage: int = 2
    # optimisation
    batch: int = 8                       # global batch: real frames + generated images
    fake_fraction: float = 0.5           # share of G's own images in the batch
    total_kimg: float = 100.0
    lr: float = 1e-4
    # losses
    l2_weight: float = 1.0
    lpips_weight: float = 0.8
    lpips_net: str = "alex"
    lpips_size: int = 64                 # upsample smaller images to this size before LPIPS
    id_weight: float = 0.1
    probe: str = ""                      # SynthFaces probe file ("" = metrics.probe.default_probe_path())
    factor_weight: float = 0.0           # probe motion factors of x̂ vs x (our addition, see the module docstring)
    latent_weight: float = 1.0
    reg_weight: float = 0.01
    noise_mode: str = "const"            # G's noise inputs while reconstructing
    # held-out evaluation
    heldout_fraction: float = 0.1        # the last 10 % of the videos (by index) are never trained on
    eval_frames: int = 64                # held-out frames per evaluation (evenly spread)
    eval_latents: int = 64               # G samples for the latent-recovery error
    eval_kimg: float | None = None       # None: only at the end
    # bookkeeping
    snapshot_kimg: float | None = 10.0
    keep_snapshots: int = 3
    seed: int = 0
    device: str = "auto"
    precision: str = "auto"              # auto | bf16 | fp16 | fp32 (auto: bf16 on AMX/AVX-512-BF16 CPUs, Ampere+)
    compile: bool = False                # torch.compile E, G's synthesis and LPIPS for the training step

    def encoder_kwargs(self) -> dict:
        return dict(channel_base=self.channel_base, channel_max=self.channel_max,
                    blocks_per_stage=self.blocks_per_stage)

    @classmethod
    def from_dict(cls, d: dict) -> "EncoderConfig":
        return dataclass_from_dict(cls, d, "encoder")


#: Per-profile defaults.  ``smoke``: seconds; ``cpu``: the committed 32² encoder (checkpoints/encoder_synthfaces32_v2
#: _cpu.safetensors): 45 kimg (2,813 steps; held-out PSNR, LPIPS and identity level off after 30 kimg), 14 min with
#: one thread of a 2-core CPU with AVX-512 BF16 beside another training job, in bf16 + compile (80 min in fp32 on an
#: AVX2 core); ``gpu``: pSp-like widths (64..512) at 128² for a 16 GB T4 (not timed here: no GPU was available).
PRESETS = {
    "smoke": dict(channel_base=256, channel_max=16, blocks_per_stage=1, batch=4, total_kimg=0.016,
                  snapshot_kimg=None, lr=1e-3, eval_frames=4, eval_latents=4, id_weight=0.0),
    "cpu": dict(channel_base=2048, channel_max=64, blocks_per_stage=2, batch=16, total_kimg=45.0,
                snapshot_kimg=5.0, lr=1e-3, eval_kimg=10.0, compile=True),
    "gpu": dict(channel_base=8192, channel_max=512, blocks_per_stage=3, batch=16, total_kimg=500.0,
                snapshot_kimg=25.0, lr=1e-4, eval_kimg=50.0, eval_frames=256, eval_latents=256),
}


def config_for_profile(profile=None, **overrides) -> EncoderConfig:
    """The profile's preset with ``overrides`` applied (``None`` values are ignored)."""
    prof = get_profile(profile)
    values = {**PRESETS[prof.name], **{k: v for k, v in overrides.items() if v is not None}}
    return EncoderConfig.from_dict(values)


def _to_float_images(batch_uint8: torch.Tensor, device) -> torch.Tensor:
    return batch_uint8.to(device=device, non_blocking=True).float().div_(127.5).sub_(1.0)


def heldout_split(num_videos: int, fraction: float) -> int:
    """Number of *training* videos: the last ``round(fraction · n)`` (at least 1 when ``fraction > 0``) are held
    out."""
    if not 0 <= fraction < 1:
        raise ValueError(f"heldout_fraction must be in [0, 1), got {fraction}")
    held = 0 if fraction == 0 else max(1, int(round(fraction * num_videos)))
    if num_videos - held < 1:
        raise ValueError(f"{num_videos} video(s) leave none for training with heldout_fraction={fraction}")
    return num_videos - held


def factor_correlation(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """Pearson correlation of each column of ``a`` (N x F) with the same column of ``b``; 0 where one is constant."""
    a, b = a - a.mean(0), b - b.mean(0)
    denom = a.norm(dim=0) * b.norm(dim=0)
    return torch.where(denom > 0, (a * b).sum(0) / denom.clamp_min(1e-12), torch.zeros_like(denom))


class InversionStage:
    """One encoder run: the frozen G, E, its optimiser, the loss networks and the data split."""

    def __init__(self, cfg: EncoderConfig, generator=None, dataset=None, dist: DistributedContext | None = None):
        self.cfg = cfg
        self.dist = dist if dist is not None else DistributedContext()
        self.device = self.dist.device if self.dist.is_distributed else pick_device(cfg.device)
        self.policy = precision_policy(self.device, cfg.precision)
        keep_freed_host_memory(self.device)
        if not 0 <= cfg.fake_fraction < 1:
            raise ValueError(f"fake_fraction must be in [0, 1), got {cfg.fake_fraction}")
        seed_everything(cfg.seed, self.dist.rank)

        # the frozen generator, and the identity probe (checked first: a missing file fails before any work)
        self.probe = self._load_probe() if cfg.id_weight > 0 or cfg.factor_weight > 0 else None
        self.G = self._load_generator(generator)
        self.resolution = self.G.img_resolution

        # data: the training videos and the held-out ones (the last videos by index)
        if dataset is None:
            if not cfg.data:
                raise ValueError("encoder training needs --data: a folder of videos (see `styleinv data --help`)")
            dataset = VideoFolder(cfg.data, self.resolution, mode="frames", skip_bad=cfg.skip_bad,
                                  cache_mb=cfg.data_cache_mb)
        if dataset.resolution != self.resolution:
            raise ValueError(f"{dataset.root}: the dataset is read at {dataset.resolution}², the generator makes "
                             f"{self.resolution}² images")
        self._check_frame_sizes(dataset)
        self.data = dataset
        n_train = heldout_split(dataset.num_videos, cfg.heldout_fraction)
        offsets = np.cumsum([0] + list(dataset.lengths))
        self.train_videos = range(0, n_train)
        self.heldout_videos = range(n_train, dataset.num_videos)
        self.num_train_frames = int(offsets[n_train])     # frames 0..num_train_frames-1 are the training videos
        self.heldout_frames = np.arange(self.num_train_frames, int(offsets[-1]))

        self.fake_global = int(round(cfg.batch * cfg.fake_fraction))
        self.real_global = cfg.batch - self.fake_global
        if self.real_global < 1:
            raise ValueError(f"batch {cfg.batch} with fake_fraction {cfg.fake_fraction} leaves no real frame")
        if self.num_train_frames < self.real_global:
            raise ValueError(f"{cfg.data}: {self.num_train_frames} training frames is fewer than the "
                             f"{self.real_global} real frames of one batch")
        self.stream = SampleStream(self.num_train_frames, self.real_global, seed=cfg.seed, rank=self.dist.rank,
                                   world=self.dist.world_size)
        self.fake_local = local_batch(self.fake_global, self.dist.world_size) if self.fake_global else 0

        # the encoder (w̄ copied from G) and its optimiser
        self.memory_format = self.policy.memory_format
        self.G.to(memory_format=self.memory_format)
        self.E = InversionEncoder.for_generator(self.G, **cfg.encoder_kwargs()).to(self.device).to(
            memory_format=self.memory_format)
        self.opt = make_adam(self.E.parameters(), lr=cfg.lr, betas=(0.9, 0.999))
        self.scaler = self.policy.grad_scaler() if self.policy.use_grad_scaler else None

        # the perceptual loss network (frozen)
        self.lpips = None
        if cfg.lpips_weight > 0:
            from ..metrics.lpips import LPIPS

            self.lpips = LPIPS(cfg.lpips_net).to(self.device).to(memory_format=self.memory_format)
        # the training step may run compiled; evaluation and inversion use the plain modules
        self.E_fwd, self.synthesis_fwd, self.lpips_fwd = self.E, self.G.synthesis, self.lpips
        if cfg.compile:
            self.E_fwd, self.synthesis_fwd = torch.compile(self.E), torch.compile(self.G.synthesis)
            self.lpips_fwd = torch.compile(self.lpips) if self.lpips is not None else None

        # fixed evaluation inputs
        self.last_step = -1
        self.sample_dir: Path | None = None
        gen = torch.Generator().manual_seed(cfg.seed + 4242)
        self.eval_z = torch.randn(max(cfg.eval_latents, 1), self.G.z_dim, generator=gen).to(self.device)
        self.eval_index = self._spread(self.heldout_frames if len(self.heldout_frames) else
                                       np.arange(self.num_train_frames), cfg.eval_frames)

    # -- setup helpers ----------------------------------------------------------------------------------------
    def _load_generator(self, generator):
        from ..loading import load_generator
        from ..nn.stylegan2 import Generator

        if isinstance(generator, Generator):
            G = generator.to(self.device)
        else:
            path = generator if generator is not None else self.cfg.generator
            if not path:
                raise ValueError("encoder training needs --generator: a stylegan2 run folder or .safetensors file")
            if not Path(path).expanduser().exists():
                raise FileNotFoundError(f"{path}: generator checkpoint not found (train one with "
                                        "`styleinv train-stylegan2`, or use checkpoints/stylegan2_synthfaces32_v2_cpu"
                                        ".safetensors)")
            G = load_generator(path, device=self.device)
        return G.eval().requires_grad_(False)

    def _check_frame_sizes(self, dataset) -> None:
        """Frames stored smaller than G's resolution would be upsampled (blurred): refuse, naming the video."""
        for i in range(dataset.num_videos):
            h, w = dataset.frame_size(i)
            if min(h, w) < self.resolution:
                raise ValueError(f"{dataset.video_paths[i]}: frames are {w}×{h}, smaller than the generator's "
                                 f"{self.resolution}×{self.resolution}; render or choose data at >= "
                                 f"{self.resolution}²")

    def _load_probe(self):
        from ..metrics.probe import default_probe_path, load_probe

        from ..data.export import synthfaces_version

        version = synthfaces_version(self.cfg.data)
        path = Path(self.cfg.probe) if self.cfg.probe else default_probe_path(version=version)
        if not path.is_file():
            raise FileNotFoundError(f"{path}: SynthFaces probe not found; the identity and factor losses (id_weight="
                                    f"{self.cfg.id_weight}, factor_weight={self.cfg.factor_weight}) need it. Train "
                                    f"it with `styleinv train-probe --out {path}`, pass another file as probe=..., or "
                                    "set both weights to 0")
        return load_probe(path, device=self.device)

    @staticmethod
    def _spread(indices: np.ndarray, n: int) -> np.ndarray:
        if n >= len(indices):
            return np.asarray(indices)
        return np.asarray(indices)[np.linspace(0, len(indices) - 1, n).round().astype(np.int64)]

    def frames(self, indices) -> torch.Tensor:
        """Frames of the dataset (global frame indices) as floats in [-1, 1] on the device."""
        imgs = torch.stack([self.data[int(i)]["image"] for i in indices])
        return _to_float_images(imgs, self.device)

    # -- one optimisation step ----------------------------------------------------------------------------------
    def make_batch(self, step: int) -> dict[str, torch.Tensor]:
        """Step ``step``'s inputs: real frames (by the stream) and G's images of fresh z with their true w."""
        batch = {"real": self.frames(self.stream.batch(step))}
        if self.fake_local:
            z = torch.randn(self.fake_local, self.G.z_dim, device=self.device)
            with torch.no_grad(), self.policy.autocast():
                w = self.G.mapping(z, update_w_avg=False)[:, 0]
                fake = self.synthesis_fwd(w, noise_mode=self.cfg.noise_mode, fused=False)
                batch["fake"] = fake.float().clamp(-1, 1)
            batch["w"] = w
        return batch

    def losses(self, batch: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        """The weighted loss terms on one batch (differentiable in E); ``"total"`` is their weighted sum."""
        cfg = self.cfg
        x = torch.cat([batch["real"], batch["fake"]]) if "fake" in batch else batch["real"]
        with self.policy.autocast():
            w_hat = self.E_fwd(x)
            # fused=False: one ordinary convolution per layer around modulated activations (StyleGAN2-ADA's training
            # path), faster than a grouped convolution with a kernel per image when gradients flow through G
            x_hat = self.synthesis_fwd(w_hat, noise_mode=cfg.noise_mode, fused=False).float()
            out = {"l2": F.mse_loss(x_hat, x)}
            if self.lpips is not None:
                out["lpips"] = self.lpips_fwd(lpips_input(x_hat, cfg.lpips_size),
                                              lpips_input(x, cfg.lpips_size)).float().mean()
            if self.probe is not None:
                with torch.no_grad():
                    target, _, target_factors = self.probe.forward_normalised(x)
                emb, _, factors = self.probe.forward_normalised(x_hat)
                if cfg.id_weight > 0:
                    out["id"] = (1 - (emb.float() * target.float()).sum(dim=1)).mean()
                if cfg.factor_weight > 0:
                    out["factors"] = F.mse_loss(factors.float(), target_factors.float())
        if "w" in batch:
            out["latent"] = F.mse_loss(w_hat[batch["real"].shape[0]:], batch["w"].float())
        out["reg"] = (w_hat - self.E.w_avg).square().mean()
        weights = {"l2": cfg.l2_weight, "lpips": cfg.lpips_weight, "id": cfg.id_weight,
                   "factors": cfg.factor_weight, "latent": cfg.latent_weight, "reg": cfg.reg_weight}
        out["total"] = sum(weights[k] * v for k, v in out.items())
        return out

    def optimise(self, batch: dict[str, torch.Tensor]) -> dict[str, float]:
        """One Adam step of E on ``batch``; returns the (unweighted) loss terms as ``Loss/...``."""
        self.E.train()
        losses = self.losses(batch)
        apply_gradients(losses["total"], self.opt, list(self.E.parameters()), self.dist, self.scaler)
        return {f"Loss/{k}": float(v.detach()) for k, v in losses.items()}

    def step(self, step: int) -> dict[str, float]:
        self.last_step = step
        return self.optimise(self.make_batch(step))

    # -- snapshots ----------------------------------------------------------------------------------------------
    def state(self) -> StageState:
        extra = {"scaler": self.scaler.state_dict()} if self.scaler is not None else {}
        return StageState(modules={"E": self.E}, optimizers={"E": self.opt}, extra_json=extra)

    def load_state(self, snap: Snapshot) -> None:
        snap.restore(modules={"E": self.E}, optimizers={"E": self.opt})
        if self.scaler is not None and "scaler" in snap.extra_json:
            self.scaler.load_state_dict(snap.extra_json["scaler"])

    # -- evaluation ---------------------------------------------------------------------------------------------
    @torch.no_grad()
    def reconstruct(self, x: torch.Tensor, batch: int = 64) -> tuple[torch.Tensor, torch.Tensor]:
        """(w, x̂) of E in eval mode, in chunks."""
        was_training = self.E.training
        self.E.eval()
        try:
            ws, imgs = [], []
            for i in range(0, x.shape[0], batch):
                w = self.E(x[i:i + batch])
                ws.append(w)
                imgs.append(self.G.synthesis(w, noise_mode=self.cfg.noise_mode).float())
            return torch.cat(ws), torch.cat(imgs)
        finally:
            self.E.train(was_training)

    @torch.no_grad()
    def evaluate(self) -> dict[str, float]:
        """Held-out reconstructions (PSNR dB, LPIPS, probe identity cosine) and latent recovery on G's samples
        (MSE per element of E(G(w)) vs w, and of the w̄ baseline), for the loop's ``eval_fn``."""
        cfg = self.cfg
        x = self.frames(self.eval_index)
        _, x_hat = self.reconstruct(x)
        out = {"heldout_psnr": float(psnr(x_hat, x).mean())}
        if self.lpips is not None:
            out["heldout_lpips"] = float(self.lpips(lpips_input(x_hat, cfg.lpips_size),
                                                    lpips_input(x, cfg.lpips_size)).mean())
        if self.probe is not None:
            (a, _, fa), (b, _, fb) = self.probe.forward_normalised(x_hat), self.probe.forward_normalised(x)
            out["heldout_id_cos"] = float((a * b).sum(dim=1).mean())
            # does E follow the motion?  Pearson r of the probe's factors of x̂ and x over the held-out frames, per
            # factor, averaged over head yaw and pitch, blink and mouth opening
            r = factor_correlation(fa.float(), fb.float())
            names = list(self.probe.factor_names)
            picked = [r[names.index(n)] for n in ("yaw", "pitch", "blink", "mouth_open") if n in names]
            if picked:
                out["heldout_factor_r"] = float(torch.stack(picked).mean())
            if "yaw" in names:
                out["heldout_yaw_r"] = float(r[names.index("yaw")])
        w = self.G.mapping(self.eval_z, update_w_avg=False)[:, 0]
        g_img = self.G.synthesis(w, noise_mode=cfg.noise_mode).float().clamp(-1, 1)
        w_hat, g_rec = self.reconstruct(g_img)
        out["gsample_latent_mse"] = float((w_hat - w).square().mean())
        out["gsample_latent_mse_wavg"] = float((self.E.w_avg - w).square().mean())
        out["gsample_psnr"] = float(psnr(g_rec, g_img).mean())
        return out

    @torch.no_grad()
    def sample(self) -> torch.Tensor:
        """A grid of held-out input | reconstruction pairs (4 pairs a row); also saved as
        ``samples/kimg{kimg:07.1f}.png`` in the run."""
        idx = self.eval_index[:: max(1, len(self.eval_index) // 8)][:8]
        x = self.frames(idx)
        _, x_hat = self.reconstruct(x)
        pairs = torch.stack([x, x_hat.clamp(-1, 1)], dim=1).flatten(0, 1)
        grid = make_grid((pairs.cpu() + 1) / 2, nrow=8)
        save_sample_grid(grid, self.sample_dir, (self.last_step + 1) * self.cfg.batch / 1000)
        return grid

    def config_dict(self) -> dict:
        return {"stage": STAGE, **asdict(self.cfg), "encoder": self.E.config, "generator_config": self.G.config,
                "heldout_videos": [self.heldout_videos.start, self.heldout_videos.stop]}


def train_encoder(cfg: EncoderConfig, out, *, generator=None, resume=None, progress: bool = True,
                  tensorboard: bool = True, dataset=None, handle_signals: bool = True) -> TrainResult:
    """Train (or resume) an encoder run in ``out`` against a frozen generator.

    ``generator``: a path (run folder or file; overrides ``cfg.generator``) or a ``Generator`` module (then
    ``cfg.generator`` is only recorded).  ``resume``: ``None`` (new run), ``"auto"`` or a snapshot file.
    """
    if generator is not None and not hasattr(generator, "synthesis"):
        cfg = EncoderConfig.from_dict({**asdict(cfg), "generator": str(generator)})
    stage = InversionStage(cfg, generator=generator, dataset=dataset)
    if stage.dist.is_main:
        stage.sample_dir = Path(out) / "samples"
    loop = TrainLoop(run_dir=out, stage=STAGE, config=stage.config_dict(), total_kimg=cfg.total_kimg,
                     batch_size=cfg.batch, step_fn=stage.step, state_fn=stage.state, load_state_fn=stage.load_state,
                     snapshot_kimg=cfg.snapshot_kimg, keep_snapshots=cfg.keep_snapshots, sample_fn=stage.sample,
                     eval_fn=stage.evaluate, eval_kimg=cfg.eval_kimg, dist=stage.dist, resume=resume,
                     progress=progress, tensorboard=tensorboard, handle_signals=handle_signals)
    result = loop.run()
    result.stage = stage  # type: ignore[attr-defined]  # handy in notebooks: the trained encoder
    return result
