"""Stage 4: fine-tuning-based style transfer (paper §3.5, Fig. 5).

A trained StyleGAN2 generator (the *parent*) is fine-tuned on a still-image set of another domain, keeping

* the **mapping network** frozen, so the distribution of W, w̄ and every latent StyleInV produces keep their
  meaning, and
* the **synthesis blocks up to ``freeze_res``** frozen (with their toRGB layers): the coarse and middle layers
  that decide head pose, face layout and expression.  The paper freezes ≤ 32² of a 256² generator (coarse and
  middle layers in StyleGAN's terms), i.e. ``resolution / 8``; the default here scales the same way but keeps at
  least the 8² block frozen, since at 32² a 4² block alone holds too little of the face's geometry
  (:func:`default_freeze_res`: 32² → 8, 64² → 8, 128² → 16, 256² → 32).

The trainable fine blocks learn the new textures and colours from

* StyleGAN2's adversarial losses on the style images, with lazy R1 and adaptive augmentation (the image stage's
  ``Gmain`` / ``Dmain`` / ``Dreg``, reused from :class:`~styleinv_lib.train.stylegan2.StyleGAN2Stage`), and
* two losses between the parent's and the fine-tuned generator's images of the **same w (and the same noise)**:
  LPIPS-VGG × 30 (the official code's weight) and an identity loss ``1 − cos`` × 1.  The paper's identity network
  is ArcFace; here it is the **style-robust SynthFaces probe**'s embedding for SynthFaces generators (trained to
  match a subject across photo / toon / sketch / pop-art renderings; stated as such: it is not a face-recognition
  network) or dlib's face descriptor for real faces (``identity="dlib"``).

The discriminator starts from the parent run's D when that run has one of the same architecture, and from scratch
otherwise (the committed generator files hold G only).  The run folder keeps the parent's weights too, so resuming
and comparing never need the parent file again.  Because the mapping is shared, a fine-tuned generator decodes any
StyleInV latent sequence of its parent (plug-and-play, Fig. 8): ``styleinv generate --generator ... --generator ...``.
"""
from __future__ import annotations

import contextlib
import copy
from dataclasses import asdict, dataclass
from pathlib import Path

import torch

from ..data.images import ImageFolder
from ..nn.stylegan2 import Generator
from ..profiles import get_profile
from ..checkpoint import CheckpointError, RunDir, Snapshot, load_snapshot
from .distributed import DistributedContext
from .loop import TrainLoop, TrainResult, dataclass_from_dict, make_adam, make_grid, save_sample_grid
from .stylegan2 import StyleGAN2Config, StyleGAN2Stage

STAGE = "style_transfer"
IDENTITY_NETS = ("auto", "probe", "dlib", "none")


def default_freeze_res(resolution: int) -> int:
    """The largest frozen synthesis resolution: ``resolution / 8`` as the paper's 32 of 256, at least 8."""
    return max(8, int(resolution) // 8)


def frozen_parameter_names(G: Generator, freeze_res: int, freeze_mapping: bool = True) -> list[str]:
    """Names of G's parameters that fine-tuning keeps fixed: the mapping network (``freeze_mapping``) and every
    synthesis block (convs, noise strengths, toRGB; the 4² constant) of resolution ≤ ``freeze_res``."""
    names = []
    for name, _ in G.named_parameters():
        if name.startswith("mapping."):
            if freeze_mapping:
                names.append(name)
            continue
        block = G.synthesis.blocks[int(name.split(".")[2])]
        if block.resolution <= freeze_res:
            names.append(name)
    return names


def num_ws_up_to(G: Generator, resolution: int) -> int:
    """How many of G's per-layer ws the convolutions of the synthesis blocks ≤ ``resolution`` read: with
    ``ws[:, k:]`` taken from another latent (``k`` this number), the coarse layers follow the first latent and the
    fine ones the second (StyleGAN's style mixing, which shows what the frozen layers decide)."""
    return sum(block.num_conv for block in G.synthesis.blocks if block.resolution <= resolution)


@dataclass
class StyleTransferConfig:
    """Every setting of a fine-tuning run; stored in ``config.json`` and in every snapshot."""

    parent: str = ""                     # the StyleGAN2 run folder or .safetensors file to fine-tune
    images: str = ""                     # a folder of images of the target style
    data_cache_mb: float = 1024.0        # MiB of decoded, resized images kept in memory (ImageFolder cache_mb)
    resolution: int | None = None        # checked against the parent's (None: the parent's)
    freeze_res: int | None = None        # largest frozen synthesis resolution (None: default_freeze_res; 0: none)
    freeze_mapping: bool = True
    # optimisation (StyleGAN2's losses, from the image stage)
    batch: int = 16
    total_kimg: float = 20.0
    lr: float = 0.002
    r1_gamma: float | None = None        # None: StyleGAN2-ADA's heuristic 0.0002 * res^2 / batch
    r1_interval: int = 16
    pl_weight: float = 0.0
    pl_interval: int = 4
    style_mixing: float = 0.9
    ema_kimg: float | None = None
    ema_rampup: float | None = 0.05
    augment: str = "bgc"
    ada_target: float = 0.6
    ada_kimg: float = 20.0
    ada_interval: int = 4
    # the losses between the parent's and the fine-tuned images of the same w (Fig. 5)
    lambda_lpips: float = 30.0
    lpips_net: str = "vgg"
    lpips_size: int = 32                 # smaller images are upsampled to this size (VGG reads 32² fine: 2² at conv5)
    lambda_id: float = 1.0
    identity: str = "auto"               # auto | probe | dlib | none (auto: probe for SynthFaces images, else dlib)
    probe: str = ""                      # identity/alignment probe file ("" = the shipped style-robust probe)
    d_init: str = "auto"                 # auto | parent | scratch
    # evaluation: alignment with the parent on fixed latents (probe factors, identity, LPIPS)
    eval_images: int = 64
    eval_kimg: float | None = None       # None: only at the end
    # bookkeeping
    snapshot_kimg: float = 5.0
    keep_snapshots: int = 3
    seed: int = 0
    device: str = "auto"
    precision: str = "auto"              # auto | bf16 | fp16 | fp32 (auto: bf16 on AMX/AVX-512-BF16 CPUs, Ampere+)
    compile: bool = False                # torch.compile the fine-tuned synthesis network and D (main phases)

    @classmethod
    def from_dict(cls, d: dict) -> "StyleTransferConfig":
        return dataclass_from_dict(cls, d, "style transfer")

    def effective_freeze_res(self, resolution: int) -> int:
        return default_freeze_res(resolution) if self.freeze_res is None else int(self.freeze_res)


#: Per-profile defaults.  ``cpu``: the committed 32² style generators (see checkpoints/); ``gpu``: a 128² parent
#: with the official LPIPS weight 30 and the official fine-tuning's schedule (a resumed ``paper256`` run: G_ema
#: half-life 20 kimg without ramp-up, ADA at 100 kimg, no path-length term: the official loss turns it off when
#: layers are frozen).  The small profiles use ``lambda_lpips=3``: on the 32² toon set after 20 kimg,
#: weight 30 kept the fine-tune close to the parent (LPIPS to it 0.12, FID to the toon set 197 -> 180, hints of
#: outlines) while weight 3 let the style through (LPIPS 0.28, FID 166, outlines and flat shading) at the cost of
#: weaker pose/expression agreement (probe factor r 0.21 against 0.65); chapter 8, §8.7.
PRESETS = {
    "smoke": dict(batch=4, total_kimg=0.016, snapshot_kimg=0.008, ada_kimg=1.0, eval_images=8, lambda_lpips=3.0),
    "cpu": dict(batch=16, total_kimg=20.0, snapshot_kimg=5.0, ada_kimg=10.0, eval_kimg=5.0, lambda_lpips=3.0,
                compile=True),
    "gpu": dict(batch=32, total_kimg=200.0, snapshot_kimg=25.0, ada_kimg=100.0, eval_kimg=50.0, ema_kimg=20.0,
                ema_rampup=None, eval_images=256),
}


def config_for_profile(profile=None, **overrides) -> StyleTransferConfig:
    """The profile's preset with ``overrides`` applied (``None`` values are ignored)."""
    prof = get_profile(profile)
    values = {**PRESETS[prof.name], **{k: v for k, v in overrides.items() if v is not None}}
    return StyleTransferConfig.from_dict(values)


def _image_config(cfg: StyleTransferConfig, G: Generator) -> StyleGAN2Config:
    """The image stage's settings for fine-tuning ``G``: its architecture plus the fine-tuning optimisation."""
    syn, mapping = G.config["synthesis_kwargs"], G.config["mapping_kwargs"]
    base = StyleGAN2Config()
    return StyleGAN2Config(
        data=cfg.images, resolution=G.img_resolution, z_dim=G.z_dim, w_dim=G.w_dim,
        mapping_layers=mapping.get("num_layers", base.mapping_layers),
        channel_base=syn.get("channel_base", base.channel_base), channel_max=syn.get("channel_max", base.channel_max),
        conv_clamp=syn.get("conv_clamp"), batch=cfg.batch, total_kimg=cfg.total_kimg, lr=cfg.lr,
        r1_gamma=cfg.r1_gamma, r1_interval=cfg.r1_interval, pl_weight=cfg.pl_weight, pl_interval=cfg.pl_interval,
        style_mixing=cfg.style_mixing, ema_kimg=cfg.ema_kimg, ema_rampup=cfg.ema_rampup, augment=cfg.augment,
        ada_target=cfg.ada_target, ada_kimg=cfg.ada_kimg, ada_interval=cfg.ada_interval, seed=cfg.seed,
        device=cfg.device, precision=cfg.precision, compile=cfg.compile)


def resolve_identity(cfg: StyleTransferConfig, images: ImageFolder) -> str:
    """``cfg.identity`` with ``auto`` decided: the SynthFaces probe for a SynthFaces image set (its
    ``metadata.json`` says so), dlib's face descriptor otherwise; ``none`` when the weight is 0."""
    if cfg.identity not in IDENTITY_NETS:
        raise ValueError(f"identity must be one of {', '.join(IDENTITY_NETS)}, got {cfg.identity!r}")
    if cfg.lambda_id == 0:
        return "none"
    if cfg.identity != "auto":
        return cfg.identity
    return "probe" if str(images.metadata.get("dataset", "")).startswith("SynthFaces") else "dlib"


class StyleTransferStage(StyleGAN2Stage):
    """Fine-tunes a copy of ``parent`` on ``images`` (see the module docstring); ``parent`` stays untouched."""

    def __init__(self, cfg: StyleTransferConfig, parent: Generator, dist: DistributedContext | None = None,
                 dataset: ImageFolder | None = None, parent_snapshot: Snapshot | None = None):
        if not cfg.images and dataset is None:
            raise ValueError("style transfer needs --images: a folder of images of the target style")
        if cfg.resolution is not None and cfg.resolution != parent.img_resolution:
            raise ValueError(f"{cfg.parent}: the generator makes {parent.img_resolution}² images, but "
                             f"resolution={cfg.resolution} was asked for; fine-tune a generator of that resolution")
        freeze_res = cfg.effective_freeze_res(parent.img_resolution)
        if freeze_res < 0 or freeze_res >= parent.img_resolution:
            raise ValueError(f"freeze_res must be in [0, {parent.img_resolution}) for a {parent.img_resolution}² "
                             f"generator (it would freeze every synthesis block), got {freeze_res}")
        images = dataset if dataset is not None else ImageFolder(cfg.images, parent.img_resolution,
                                                               cache_mb=cfg.data_cache_mb)
        if images.resolution != parent.img_resolution:
            raise ValueError(f"{images.root}: the images are read at {images.resolution}², the generator makes "
                             f"{parent.img_resolution}²")
        self.st_cfg = cfg
        self.freeze_res = freeze_res
        self.identity_net = resolve_identity(cfg, images)
        super().__init__(_image_config(cfg, parent), dist=dist, dataset=images)

        # the fine-tuned G (and its EMA) start as copies of the parent (its exact architecture and weights); the
        # frozen parameters leave the optimiser
        # the parent in the fine-tune's memory format: the same kernels, so equal weights give equal images
        self.G_parent = copy.deepcopy(parent).to(self.device).to(memory_format=self.memory_format).eval()
        self.G_parent.requires_grad_(False)
        self.G = copy.deepcopy(parent).to(self.device).to(memory_format=self.memory_format).train()
        self.G_ema = copy.deepcopy(parent).to(self.device).to(memory_format=self.memory_format).eval()
        self.G_ema.requires_grad_(False)
        self.synthesis_fwd = torch.compile(self.G.synthesis) if self.cfg.compile else self.G.synthesis
        self.frozen = frozen_parameter_names(self.G, freeze_res, cfg.freeze_mapping)
        for name, p in self.G.named_parameters():
            p.requires_grad_(name not in self.frozen)
        self.g_params = [p for p in self.G.parameters() if p.requires_grad]
        self.opt_G = make_adam(self.g_params, lr=self.opt_G.defaults["lr"], betas=self.opt_G.defaults["betas"])
        self.d_init = self._init_discriminator(parent_snapshot)

        # the parent-vs-fine-tuned losses
        self.lpips = None
        if cfg.lambda_lpips > 0:
            from ..metrics.lpips import LPIPS

            self.lpips = LPIPS(cfg.lpips_net).to(self.device).eval().requires_grad_(False)
        self.identity = self._identity_network()
        self.probe = self._probe()
        self._noise_seed = 0
        gen = torch.Generator().manual_seed(cfg.seed + 4242)
        self.eval_z = torch.randn(cfg.eval_images, parent.z_dim, generator=gen)

    # -- construction helpers -----------------------------------------------------------------------------------
    def _init_discriminator(self, snap: Snapshot | None) -> str:
        mode = self.st_cfg.d_init
        if mode not in ("auto", "parent", "scratch"):
            raise ValueError(f"d_init must be auto, parent or scratch, got {mode!r}")
        if mode == "scratch":
            return "scratch"
        has_d = snap is not None and "D" in snap.module_names and snap.config.get("discriminator") == self.D.config
        if not has_d:
            if mode == "parent":
                raise ValueError(f"{self.st_cfg.parent}: holds no discriminator of this architecture to start from "
                                 "(exported generator files hold G only); use d_init='scratch' or 'auto'")
            return "scratch"
        self.D.load_state_dict(snap.modules_state("D"))
        return "parent"

    def _probe(self):
        """The style-robust probe for the SynthFaces version of the image set (its ``metadata.json``)."""
        from ..data.export import synthfaces_version
        from ..metrics.probe import load_probe

        version = synthfaces_version(self.data.root)
        if self.identity_net == "probe" or self.st_cfg.probe:
            return load_probe(self.st_cfg.probe or None, device=self.device, styles=True, version=version)
        try:
            return load_probe(device=self.device, styles=True, version=version)   # for the alignment report only
        except FileNotFoundError:
            return None

    def _identity_network(self):
        if self.identity_net == "dlib":
            from ..metrics.identity import IdentityLoss

            return IdentityLoss().to(self.device).eval().requires_grad_(False)
        return None

    # -- the same noise for the parent and the fine-tuned generator ------------------------------------------------
    @contextlib.contextmanager
    def _noise(self, seed: int):
        devices = [self.device] if self.device.type == "cuda" else []
        with torch.random.fork_rng(devices=devices):
            torch.manual_seed(seed)
            yield

    def _generate(self, n: int, net: Generator | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """Fakes of the fine-tuned G with style mixing; a frozen mapping never updates w̄ (a trained one, in the
        ablation, tracks it as in the image stage).  The noise seed is kept so that the parent can draw the same
        noise."""
        from ..nn.stylegan2 import style_mix

        G = self.G if net is None else net
        z = torch.randn(n, self.cfg.z_dim, device=self.device)
        ws = G.mapping(z, update_w_avg=False if self.st_cfg.freeze_mapping else None)
        if self.cfg.style_mixing > 0:
            ws = style_mix(G, z, ws, prob=self.cfg.style_mixing)
        if self.st_cfg.freeze_mapping:           # a leaf, so that the path-length penalty can differentiate by ws
            ws = ws.detach().requires_grad_(torch.is_grad_enabled())
        self._noise_seed = int(torch.randint(0, 2**31 - 1, ()))
        synth = self.synthesis_fwd if net is None else G.synthesis
        with self._noise(self._noise_seed):
            return synth(ws), ws

    def parent_images(self, ws: torch.Tensor, noise_seed: int) -> torch.Tensor:
        """The parent's images of ``ws`` with the noise of ``noise_seed`` (the training-mode convolution path)."""
        with torch.no_grad(), self._noise(noise_seed):
            return self.G_parent.synthesis(ws, noise_mode="random", fused=False)

    def preservation_losses(self, fake: torch.Tensor, reference: torch.Tensor) -> dict[str, torch.Tensor]:
        """``{"lpips": LPIPS(fake, reference), "identity": 1 − cos}`` (batch means; only the enabled terms)."""
        from ..inversion import lpips_input

        out = {}
        if self.lpips is not None:
            size = self.st_cfg.lpips_size
            out["lpips"] = self.lpips(lpips_input(fake.float(), size), lpips_input(reference.float(), size)).mean()
        if self.identity_net == "probe":
            e_fake = self.probe.forward_normalised(fake.float())[0]
            e_ref = self.probe.forward_normalised(reference.float())[0]
            out["identity"] = (1 - (e_fake * e_ref).sum(1)).mean()
        elif self.identity_net == "dlib":
            out["identity"] = self.identity(fake.float(), reference.float())
        return out

    def extra_generator_loss(self, fake: torch.Tensor, ws: torch.Tensor, logs: dict) -> torch.Tensor | None:
        terms = self.preservation_losses(fake, self.parent_images(ws, self._noise_seed))
        weights = {"lpips": self.st_cfg.lambda_lpips, "identity": self.st_cfg.lambda_id}
        total = None
        for name, value in terms.items():
            logs[f"Loss/G/{name}"] = value.detach()
            total = value * weights[name] if total is None else total + value * weights[name]
        return total

    # -- snapshots, samples, evaluation --------------------------------------------------------------------------
    def state(self):
        st = super().state()
        st.modules["G_parent"] = self.G_parent
        return st

    @torch.no_grad()
    def sample(self) -> torch.Tensor:
        """Parent (top rows) and fine-tuned G_ema (bottom rows) for the same 8 fixed z; saved in ``samples/``."""
        z = self.sample_z[:8]
        ws = self.G_parent.mapping(z)
        top = self.G_parent.synthesis(ws, noise_mode="const")
        bottom = self.G_ema.synthesis(ws, noise_mode="const")
        grid = make_grid((torch.cat([top, bottom]).float().cpu() + 1) / 2, nrow=8)
        save_sample_grid(grid, self.sample_dir, (self.last_step + 1) * self.cfg.batch / 1000)
        return grid

    @torch.no_grad()
    def comparison(self, n: int | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """Parent and fine-tuned (G_ema) images of the fixed evaluation latents, ``(N×3×R×R, N×3×R×R)``."""
        z = self.eval_z[: n or len(self.eval_z)].to(self.device)
        ws = self.G_parent.mapping(z)
        return (self.G_parent.synthesis(ws, noise_mode="const").cpu(),
                self.G_ema.synthesis(ws, noise_mode="const").cpu())

    @torch.no_grad()
    def evaluate(self) -> dict[str, float]:
        """Alignment of G_ema with the parent on fixed latents (see :mod:`styleinv_lib.metrics.alignment`)."""
        from ..metrics.alignment import generator_alignment

        if self.probe is None:
            return {}
        ref, out = self.comparison()
        r = generator_alignment(ref, out, self.probe, lpips=self.lpips)
        flat = {"alignment/factor_r_mean": r["factor_r_mean"], "alignment/identity_cos": r["identity_cos"],
                "alignment/identity_match": r["identity_match"]}
        flat.update({f"alignment/r_{k}": v for k, v in r["factor_r"].items()})
        if "lpips" in r:
            flat["alignment/lpips"] = r["lpips"]
        return flat

    def config_dict(self) -> dict:
        return {"stage": STAGE, **asdict(self.st_cfg), "effective_freeze_res": self.freeze_res,
                "identity_net": self.identity_net, "d_init": self.d_init, "frozen_parameters": len(self.frozen),
                "trainable_parameters": len(self.g_params), "style": self.data.metadata.get("style", ""),
                "generator": self.G.config, "discriminator": self.D.config}


def _parent_for(cfg: StyleTransferConfig, out, resume) -> tuple[Generator, Snapshot | None, Snapshot | None]:
    """``(parent, parent run's snapshot, this run's snapshot)``: when resuming, the parent's architecture comes from
    this run's snapshot (its weights are restored with the rest, so the parent file is no longer needed); else the
    parent is ``cfg.parent``'s G_ema, and the parent run's snapshot offers its D."""
    from ..loading import load_generator, resolve_checkpoint

    resume_path = RunDir(out).resolve_resume(resume) if resume not in (None, "", "none") else None
    if resume_path is not None:
        snap = load_snapshot(resume_path, expected_stage=STAGE)
        return Generator(**snap.config["generator"]), None, snap
    if not cfg.parent:
        raise ValueError("style transfer needs --generator: the StyleGAN2 run folder or .safetensors file to fine-tune")
    if not Path(cfg.parent).exists():
        raise FileNotFoundError(f"--generator {cfg.parent} does not exist")
    G = load_generator(cfg.parent)
    try:
        snap = load_snapshot(resolve_checkpoint(cfg.parent))
    except CheckpointError:
        snap = None
    return G, snap, None


def train_style_transfer(cfg: StyleTransferConfig, out, *, resume=None, progress: bool = True,
                         tensorboard: bool = True, dataset: ImageFolder | None = None,
                         handle_signals: bool = True) -> TrainResult:
    """Fine-tune (or resume fine-tuning) ``cfg.parent`` on ``cfg.images`` in the run folder ``out``."""
    parent, parent_snap, resumed = _parent_for(cfg, out, resume)
    stage = StyleTransferStage(cfg, parent, dataset=dataset, parent_snapshot=parent_snap)
    if resumed is not None:              # D is restored from the run: keep the record of how it started
        stage.d_init = resumed.config.get("d_init", stage.d_init)
    if stage.dist.is_main:
        stage.sample_dir = Path(out) / "samples"
    loop = TrainLoop(run_dir=out, stage=STAGE, config=stage.config_dict(), total_kimg=cfg.total_kimg,
                     batch_size=cfg.batch, step_fn=stage.step, state_fn=stage.state, load_state_fn=stage.load_state,
                     snapshot_kimg=cfg.snapshot_kimg, keep_snapshots=cfg.keep_snapshots, sample_fn=stage.sample,
                     eval_fn=stage.evaluate if stage.probe is not None else None, eval_kimg=cfg.eval_kimg,
                     dist=stage.dist, resume=resume, progress=progress, tensorboard=tensorboard,
                     handle_signals=handle_signals)
    result = loop.run()
    result.stage = stage  # type: ignore[attr-defined]
    return result


__all__ = ["PRESETS", "STAGE", "StyleTransferConfig", "StyleTransferStage", "config_for_profile",
           "default_freeze_res", "frozen_parameter_names", "num_ws_up_to", "train_style_transfer"]
