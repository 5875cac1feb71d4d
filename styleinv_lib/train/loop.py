"""The training driver shared by every stage (StyleGAN2, inversion encoder, StyleInV, style transfer).

A stage owns its networks, optimizers, data and losses; :class:`TrainLoop` owns everything around them:

* counting steps and images (``kimg``, the unit StyleGAN papers use for training length);
* resuming: ``resume="auto"`` restores networks, optimizers, stage counters **and every RNG stream**, so that
  ``N`` steps + resume + ``N`` steps gives bit-identical weights to ``2N`` steps in one go;
* snapshots every ``snapshot_kimg`` and at the end (rank 0 writes, all ranks wait), keeping the newest ``K``;
* a tqdm progress bar, TensorBoard scalars and image grids, and a ``stats.jsonl`` log (rank 0 only);
* Ctrl-C / SIGTERM (Colab "stop", a cluster's pre-emption): the current step finishes, a final snapshot is
  written and :meth:`TrainLoop.run` returns; a second Ctrl-C aborts at once;
* a NaN/Inf loss stops training with :class:`TrainingDiverged` *without* writing a snapshot, so the last good
  snapshot stays the newest one.

The stage plugs in through callbacks::

    def step_fn(step: int) -> dict[str, float]:        # one optimisation step on one (local) batch
        ...; return {"Loss/G": lg.item(), "Loss/D": ld.item()}

    def state_fn() -> StageState:                       # what goes into a snapshot
        return StageState(modules={"G": G, "D": D, "G_ema": G_ema}, optimizers={"G": opt_g, "D": opt_d},
                          extra_tensors={"ada_p": p}, extra_json={"pl_mean": pl_mean})

    def load_state_fn(snap: Snapshot) -> None:          # the inverse
        snap.restore(modules={"G": G, "D": D, "G_ema": G_ema}, optimizers={"G": opt_g, "D": opt_d})

    TrainLoop(run_dir="runs/sg2", stage="stylegan2", config=cfg, total_kimg=500, batch_size=32,
              step_fn=step_fn, state_fn=state_fn, load_state_fn=load_state_fn, resume="auto").run()

For bit-exact resumption the stage must draw its data as a function of the step (:class:`SampleStream`) or keep
its data position in ``extra_json``, and create its networks before the loop restores the RNG streams (the loop
restores them last, just before the first step).
"""
from __future__ import annotations

import json
import math
import os
import random
import signal
import threading
import time
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Mapping

import numpy as np
import torch

from ..checkpoint import (
    CheckpointError, RunDir, Snapshot, capture_rng_state, load_snapshot, preserve_rng, save_snapshot, to_jsonable,
)
from ..fileio import atomic_copy, atomic_write_text
from .distributed import DistributedContext
from .run_lock import RunFolderLocked, RunLock

__all__ = [
    "PrecisionPolicy", "StageState", "TrainLoop", "TrainResult", "TrainingDiverged", "adaptive_state",
    "apply_gradients", "cpu_has_native_bf16", "dataclass_from_dict", "ema_beta", "make_adam", "make_grid",
    "pick_device", "precision_policy", "restore_adaptive_state", "save_sample_grid", "seed_everything", "update_ema",
]


# --------------------------------------------------------------------------------------------------------------
# Seeds, devices, precision
# --------------------------------------------------------------------------------------------------------------

def seed_everything(seed: int, rank: int = 0) -> int:
    """Seed python ``random``, numpy's global generator and torch (CPU and all CUDA devices).

    Each rank gets its own stream (``seed + 1000003 * rank``) so that, e.g., the noise inputs of a distributed
    run are not duplicated across processes.  Returns the seed actually used.
    """
    s = (int(seed) + 1_000_003 * int(rank)) % (2**32)
    random.seed(s)
    np.random.seed(s)
    torch.manual_seed(s)  # also seeds every CUDA device
    return s


def pick_device(preference: str | torch.device = "auto") -> torch.device:
    """``"auto"``: CUDA when available, else the CPU.  ``"cuda"``/``"cuda:1"``/``"mps"``/``"cpu"``: that device,
    with a clear error when it is not available (MPS is used only when asked for explicitly)."""
    if isinstance(preference, torch.device):
        preference = str(preference)
    pref = (preference or "auto").strip().lower()
    if pref == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    device = torch.device(pref)
    if device.type == "cuda":
        if not torch.cuda.is_available():
            raise RuntimeError(f"device {preference!r} requested but CUDA is not available (torch "
                               f"{torch.__version__}, built with CUDA {torch.version.cuda}); use --device cpu")
        if device.index is not None and device.index >= torch.cuda.device_count():
            raise RuntimeError(f"device {preference!r} requested but only {torch.cuda.device_count()} CUDA "
                               "device(s) exist")
    elif device.type == "mps":
        if not (getattr(torch.backends, "mps", None) and torch.backends.mps.is_available()):
            raise RuntimeError("device 'mps' requested but Apple's MPS backend is not available")
    elif device.type != "cpu":
        raise ValueError(f"unsupported device {preference!r}: use auto, cpu, cuda[:N] or mps")
    return device


_MODES = ("auto", "bf16", "fp16", "fp32")
_DTYPES = {"bf16": torch.bfloat16, "fp16": torch.float16, "fp32": torch.float32}


@dataclass(frozen=True)
class PrecisionPolicy:
    """How to run a stage's forward passes: the autocast dtype, whether a GradScaler is needed, memory format.

    Use it as::

        policy = precision_policy(device, "auto")
        scaler = policy.grad_scaler()            # a disabled scaler unless fp16 needs one
        with policy.autocast():
            loss = model(x.to(memory_format=policy.memory_format))
        scaler.scale(loss).backward(); scaler.step(opt); scaler.update()
    """

    mode: str                  # resolved: "fp32" | "bf16" | "fp16"
    device_type: str           # "cpu" | "cuda" | "mps"
    dtype: torch.dtype         # autocast dtype (float32 when autocast is off)
    use_grad_scaler: bool      # fp16 gradients underflow without loss scaling
    channels_last: bool        # NHWC tensors: faster convolutions on CUDA tensor cores
    reason: str = ""

    @property
    def autocast_enabled(self) -> bool:
        return self.mode != "fp32"

    @property
    def memory_format(self) -> torch.memory_format:
        return torch.channels_last if self.channels_last else torch.contiguous_format

    def autocast(self):
        """A ``torch.autocast`` context for this policy (a no-op context in fp32)."""
        return torch.autocast(self.device_type, dtype=self.dtype if self.autocast_enabled else torch.bfloat16,
                              enabled=self.autocast_enabled)

    def grad_scaler(self, **kwargs) -> "torch.amp.GradScaler":
        """A ``torch.amp.GradScaler``, enabled only when the policy needs one; store its ``state_dict()`` in the
        snapshot's ``extra_json`` to resume fp16 runs exactly."""
        return torch.amp.GradScaler(self.device_type, enabled=self.use_grad_scaler, **kwargs)


def _cuda_mode(capability: tuple[int, int], mode: str) -> tuple[str, str]:
    """Resolve ``mode`` on a CUDA device of the given compute capability; returns (mode, reason).

    * ``auto``: bf16 on Ampere and newer (capability >= 8.0: A100, RTX 30xx, L4, H100) -- same exponent range as
      fp32, so no loss scaling; fp16 + GradScaler on Volta/Turing (7.x: V100, Colab's T4), whose tensor cores
      are fast in fp16 but have no native bf16; fp32 on anything older (no tensor cores to win from).
    * ``bf16`` on a pre-Ampere GPU is honoured with a warning: it is emulated and slow there.
    """
    if mode == "auto":
        if capability >= (8, 0):
            return "bf16", f"compute capability {capability[0]}.{capability[1]} >= 8.0 has native bf16"
        if capability >= (7, 0):
            return "fp16", (f"compute capability {capability[0]}.{capability[1]} (Volta/Turing, e.g. T4): fast fp16"
                            ", no native bf16")
        return "fp32", f"compute capability {capability[0]}.{capability[1]} has no tensor cores"
    if mode == "bf16" and capability < (8, 0):
        warnings.warn(f"bf16 requested on a GPU of compute capability {capability[0]}.{capability[1]}: it has no "
                      "native bf16 and will be slow; 'fp16' (or 'auto') is the fast choice there", stacklevel=3)
    return mode, "requested"


def cpu_has_native_bf16() -> tuple[bool, str]:
    """Whether this CPU computes bf16 natively (Intel AMX tiles or AVX-512 BF16), and the evidence.

    Read from the instruction set (PyTorch's own CPU capability checks, else ``/proc/cpuinfo``'s flags), never
    guessed from the model name.  Without those units bf16 is emulated through fp32 and slower than fp32.
    """
    import torch.cpu as tcpu

    found = []
    for name, check in (("AMX", "_is_amx_tile_supported"), ("AVX-512 BF16", "_is_avx512_bf16_supported")):
        fn = getattr(tcpu, check, None)
        if fn is not None:
            try:
                if fn():
                    found.append(name)
            except Exception:  # noqa: BLE001 -- an unusual build: fall through to /proc/cpuinfo
                pass
    if not found:
        try:
            flags = set(Path("/proc/cpuinfo").read_text().split())
        except OSError:
            flags = set()
        found = [n for n, f in (("AMX", "amx_bf16"), ("AVX-512 BF16", "avx512_bf16")) if f in flags]
    if found:
        return True, f"cpu with native bf16 ({' and '.join(found)})"
    return False, "cpu without native bf16 (no AMX, no AVX-512 BF16): fp32"


def precision_policy(device: str | torch.device, mode: str = "auto") -> PrecisionPolicy:
    """Choose mixed precision for ``device``.

    ``mode``: ``"auto"`` | ``"bf16"`` | ``"fp16"`` | ``"fp32"``.  ``auto`` means, on the CPU, bf16 autocast when
    the CPU has native bf16 units (AMX or AVX-512 BF16, :func:`cpu_has_native_bf16`; about twice the fp32 step
    there) and fp32 elsewhere; fp32 on MPS; on CUDA bf16 for compute capability >= 8 (A100/H100), fp16 with a
    GradScaler for Volta/Turing (Colab's T4), fp32 otherwise.  ``channels_last`` is set on CUDA and for bf16 on
    the CPU.  An explicit
    ``bf16``/``fp16`` is honoured on any device; fp16 always comes with a GradScaler.
    """
    device = torch.device(device)
    mode = (mode or "auto").strip().lower()
    if mode not in _MODES:
        raise ValueError(f"unknown precision {mode!r}: choose one of {', '.join(_MODES)}")
    if device.type == "cuda":
        capability = torch.cuda.get_device_capability(device)
        resolved, reason = _cuda_mode(tuple(capability), mode)
    elif mode != "auto":
        resolved, reason = mode, "requested"
    elif device.type == "cpu":
        native, reason = cpu_has_native_bf16()
        resolved = "bf16" if native else "fp32"
    else:
        resolved, reason = "fp32", f"{device.type}: fp32 by default"
    # NHWC: tensor cores on CUDA; on a CPU in bf16, oneDNN's AMX convolutions read NHWC without the reorders
    # that NCHW costs (about 1.3x the bf16 StyleGAN2 step here)
    channels_last = device.type == "cuda" or (device.type == "cpu" and resolved == "bf16")
    return PrecisionPolicy(mode=resolved, device_type=device.type, dtype=_DTYPES[resolved],
                           use_grad_scaler=resolved == "fp16", channels_last=channels_last, reason=reason)


# --------------------------------------------------------------------------------------------------------------
# EMA (the G_ema of StyleGAN2, the encoder's EMA)
# --------------------------------------------------------------------------------------------------------------

def ema_beta(batch_size: int, ema_kimg: float, nimg: int | None = None, rampup: float | None = None) -> float:
    """StyleGAN2-ADA's EMA decay: half-life of ``ema_kimg`` thousand images, optionally ramped up so that the
    half-life is at most ``rampup * nimg`` early in training."""
    ema_nimg = ema_kimg * 1000.0
    if rampup is not None and nimg is not None:
        ema_nimg = min(ema_nimg, nimg * rampup)
    return 0.5 ** (batch_size / max(ema_nimg, 1e-8))


@torch.no_grad()
def update_ema(ema: torch.nn.Module, model: torch.nn.Module, beta: float) -> None:
    """``ema = beta * ema + (1 - beta) * model`` for parameters; buffers are copied."""
    params = dict(model.named_parameters())
    for name, p_ema in ema.named_parameters():
        p_ema.copy_(params[name].detach().lerp(p_ema, beta))
    buffers = dict(model.named_buffers())
    for name, b_ema in ema.named_buffers():
        b_ema.copy_(buffers[name])


# --------------------------------------------------------------------------------------------------------------
# Helpers
# --------------------------------------------------------------------------------------------------------------

def make_grid(images: torch.Tensor, nrow: int | None = None, pad: int = 1) -> torch.Tensor:
    """Tile ``N x C x H x W`` images into one ``C x H' x W'`` grid (a ``C x H x W`` image passes through).

    Float inputs are expected in [0, 1] (clamped), uint8 in [0, 255].
    """
    images = images.detach().cpu()
    if images.dtype == torch.uint8:
        images = images.float() / 255.0
    images = images.float().clamp(0, 1)
    if images.ndim == 3:
        return images
    if images.ndim != 4:
        raise ValueError(f"expected N x C x H x W images, got shape {tuple(images.shape)}")
    n, c, h, w = images.shape
    nrow = nrow or max(1, math.ceil(math.sqrt(n)))
    rows = math.ceil(n / nrow)
    grid = torch.ones(c, rows * (h + pad) + pad, nrow * (w + pad) + pad)
    for i in range(n):
        r, col = divmod(i, nrow)
        y, x = pad + r * (h + pad), pad + col * (w + pad)
        grid[:, y:y + h, x:x + w] = images[i]
    return grid


def save_sample_grid(grid: torch.Tensor, folder: Path | None, kimg: float) -> Path | None:
    """Save a ``3×H×W`` grid in [0, 1] as ``folder/kimg{kimg:07.1f}.png`` (nothing when ``folder`` is None)."""
    if folder is None:
        return None
    from PIL import Image

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    arr = (grid.clamp(0, 1).permute(1, 2, 0) * 255).round().to(torch.uint8).cpu().numpy()
    path = folder / f"kimg{kimg:07.1f}.png"
    Image.fromarray(arr).save(path)
    return path


def make_adam(params, lr: float, betas: tuple[float, float], eps: float = 1e-8) -> torch.optim.Adam:
    """Adam with torch's fused kernel where this torch has one for the parameters' device (CUDA; the CPU from torch
    2.4), else the plain one.  The same update up to float rounding, in one pass per tensor instead of about ten
    small operations: on the cpu preset's G and D, 0.7 ms a step against 4.3 ms (one thread), about 1 % of a
    StyleGAN2 or FFA-ST step there (more where a model has many tensors and a step is short).  The fused kernel
    reads a parameter, its gradient and its moments as flat arrays, so they must share one memory layout: autograd
    keeps gradients in their parameter's, and :func:`~styleinv_lib.checkpoint.load_optimizer_state` restores a
    snapshot's (contiguous) moments in it and keeps the live optimizer's options, so snapshots load into either form."""
    params = list(params)
    try:
        return torch.optim.Adam(params, lr=lr, betas=betas, eps=eps, fused=True)
    except RuntimeError:  # "fused=True requires ... supported devices": an older torch on this device
        return torch.optim.Adam(params, lr=lr, betas=betas, eps=eps)


def apply_gradients(loss: torch.Tensor, opt: torch.optim.Optimizer, params: list, dist: DistributedContext | None = None,
                    scaler: "torch.amp.GradScaler | None" = None) -> None:
    """One optimiser step on ``loss``: zero the gradients, back-propagate (through the AMP ``scaler`` if any),
    average them over the processes, replace stray NaN/Inf gradients (as StyleGAN2-ADA does, so one bad batch
    cannot poison the weights), then step.

    With a scaler (fp16) the gradients are unscaled first, so the scaler sees an overflow before the clean-up
    hides it: that step is skipped and the scale backs off, as loss scaling needs (a clean-up first would turn the
    overflow into a step of clamped gradients and let the scale grow without bound)."""
    opt.zero_grad(set_to_none=True)
    (scaler.scale(loss) if scaler is not None else loss).backward()
    if dist is not None and dist.is_distributed:
        dist.all_reduce_gradients(params)
    if scaler is not None:
        scaler.unscale_(opt)
    for p in params:
        if p.grad is not None:
            torch.nan_to_num_(p.grad, nan=0.0, posinf=1e5, neginf=-1e5)
    if scaler is not None:
        scaler.step(opt)
        scaler.update()
    else:
        opt.step()


def dataclass_from_dict(cls, values: Mapping[str, Any], what: str):
    """``cls(**values)`` for a config dataclass, refusing unknown keys with a message naming them."""
    from dataclasses import fields

    unknown = set(values) - {f.name for f in fields(cls)}
    if unknown:
        raise ValueError(f"unknown {what} settings: {', '.join(sorted(unknown))}")
    return cls(**values)


def _to_floats(values: list) -> list[float]:
    """Python floats of reported losses; tensors on one device are moved to the host together (one sync)."""
    out: list[float | None] = [None if isinstance(v, torch.Tensor) else float(v) for v in values]
    tensors = [(i, v) for i, v in enumerate(values) if isinstance(v, torch.Tensor)]
    if tensors:
        try:
            host = torch.stack([v.detach().reshape(()).float() for _, v in tensors]).cpu().tolist()
        except RuntimeError:  # tensors on different devices, or not scalars (reshape gives the clear error)
            host = [float(v.detach().reshape(()).float().cpu()) for _, v in tensors]
        for (i, _), h in zip(tensors, host):
            out[i] = h
    return out  # type: ignore[return-value]


@dataclass
class StageState:
    """What a stage hands to the loop for a snapshot (see :func:`~styleinv_lib.checkpoint.save_snapshot`).

    ``extra_json`` must not use the key ``"loop"``: the loop stores its own counters there.
    """

    modules: dict[str, Any] = field(default_factory=dict)
    optimizers: dict[str, Any] = field(default_factory=dict)
    extra_tensors: dict[str, torch.Tensor] = field(default_factory=dict)
    extra_json: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def coerce(cls, value: "StageState | Mapping[str, Any] | None") -> "StageState":
        if value is None:
            return cls()
        if isinstance(value, cls):
            return value
        unknown = set(value) - {"modules", "optimizers", "extra_tensors", "extra_json"}
        if unknown:
            raise ValueError(f"state_fn returned unknown keys {sorted(unknown)}")
        return cls(**{k: dict(v) for k, v in value.items()})


def adaptive_state(ada, scalers: Mapping[str, Any] | None) -> dict[str, Any]:
    """The JSON part of a GAN stage's snapshot that is not a module: ADA's augmentation probability and, under
    fp16, the gradient scalers (keyed like the optimisers).  :func:`restore_adaptive_state` reads it back."""
    state: dict[str, Any] = {}
    if ada is not None:
        state["ada"] = ada.state_dict()
    if scalers is not None:
        state["scalers"] = {k: s.state_dict() for k, s in scalers.items()}
    return state


def restore_adaptive_state(extra_json: Mapping[str, Any], ada, scalers: Mapping[str, Any] | None) -> None:
    """Restore what :func:`adaptive_state` stored (a snapshot written without ADA or fp16 leaves them as built)."""
    if ada is not None and "ada" in extra_json:
        ada.load_state_dict(extra_json["ada"])
    if scalers is not None and "scalers" in extra_json:
        for k, scaler in scalers.items():
            scaler.load_state_dict(extra_json["scalers"][k])


class TrainingDiverged(RuntimeError):
    """A reported loss became NaN or Inf.  No snapshot was written for the failing step."""

    def __init__(self, step: int, loss_name: str | None, value: float | None, last_snapshot: Path | None):
        self.step, self.loss_name, self.value, self.last_snapshot = step, loss_name, value, last_snapshot
        what = (f"loss {loss_name!r} is {value}" if loss_name is not None
                else "another rank reported a non-finite loss")
        last = (f"the last good snapshot is {last_snapshot}" if last_snapshot is not None
                else "no snapshot had been written yet")
        super().__init__(f"training diverged at step {step}: {what}. No snapshot was written for this step; {last}. "
                         "Resume from it (--resume auto), e.g. with a lower learning rate or fp32 precision.")


_SIGNAL_EXIT = {"SIGINT": 128 + int(signal.SIGINT), "SIGTERM": 128 + int(signal.SIGTERM)}


def exit_status(interrupted: str | None) -> int:
    """The shell exit status for a run that ended this way: 0 when it finished, 128 + the signal's number after a
    signal (130 for Ctrl-C / SIGINT, 143 for SIGTERM, as a shell reports a process a signal ended), 1 for any other
    early stop.  A ``make`` recipe or an ``a && b`` chain then stops after an interrupted stage."""
    if interrupted is None:
        return 0
    return _SIGNAL_EXIT.get(interrupted, 1)


class TrainingInterrupted(KeyboardInterrupt):
    """Raised by a command that runs more than one training stage when one of them was stopped early; the
    snapshot is written, and :attr:`exit_code` is :func:`exit_status` of the reason."""

    def __init__(self, message: str, interrupted: str | None):
        super().__init__(message)
        self.interrupted = interrupted
        self.exit_code = exit_status(interrupted) or 1


@dataclass
class TrainResult:
    step: int                       # completed optimisation steps (over the whole run, resumes included)
    nimg: int                       # images seen (global batch x steps)
    interrupted: str | None         # "SIGINT" / "SIGTERM" / "requested" when stopped early, else None
    snapshot: Path | None           # the newest snapshot of the run
    losses: dict[str, float]        # means over the last logging interval (rank 0's values)
    elapsed_s: float                # training time, resumes included
    resumed_from: Path | None = None

    @property
    def kimg(self) -> float:
        return self.nimg / 1000.0


# --------------------------------------------------------------------------------------------------------------
# The loop
# --------------------------------------------------------------------------------------------------------------

class TrainLoop:
    """Generic driver: see the module docstring for the contract with a stage.

    Arguments:
        run_dir:        the run folder (created); holds ``config.json``, snapshots, ``tb/``, ``stats.jsonl``.
        stage:          name written into snapshots and checked on resume (``"stylegan2"``, ``"encoder"``, ...).
        config:         the run's JSON config (stored in ``config.json`` and in every snapshot).
        total_kimg:     training length in thousands of images (global batch x steps).
        batch_size:     the *global* batch size (all ranks together) consumed by one call of ``step_fn``.
        step_fn:        ``step_fn(step) -> {name: loss}``, called on every rank; ``step`` counts from 0 across
                        resumes.  Values may be floats or 0-d tensors; every one is checked for NaN/Inf.
        state_fn:       ``state_fn() -> StageState`` (or a dict with the same keys): what to snapshot.
        load_state_fn:  ``load_state_fn(snapshot)``: restore what ``state_fn`` saved.  Called on every rank.
        snapshot_kimg:  write a snapshot every this many kimg (``None``: only at the end / on interruption).
        keep_snapshots: keep the newest K snapshots (``None``: keep all).
        log_every:      steps between progress/TensorBoard/stats.jsonl updates.
        sample_fn:      optional ``sample_fn() -> image grid`` (``C x H x W`` or ``N x C x H x W`` in [0, 1], or a
                        dict of those) for TensorBoard; rank 0 only; it runs with the RNG streams saved and
                        restored around it, so sampling never changes the training trajectory.
        sample_kimg:    how often to call ``sample_fn`` (default: ``snapshot_kimg``); also called at the end.
        eval_fn:        optional ``eval_fn() -> {name: float}`` (FID, ...), rank 0 only, with the RNG streams saved
                        and restored around it; results go to TensorBoard (``Metrics/<name>``) and to
                        ``run_dir/metrics.jsonl`` with the step and kimg.
        eval_kimg:      how often to call ``eval_fn`` (``None``: only at the end of training).
        keep_best:      a metric of ``eval_fn`` where lower is better (``"fid"``): when an evaluation on a snapshot
                        step sets a new lowest value over the run's ``metrics.jsonl``, that snapshot is also kept as
                        ``run_dir/best-<metric>.safetensors`` (never pruned; ``best-<metric>.json`` says which).  A
                        GAN's FID goes up and down between evaluations; the last snapshot need not be the best.
        dist:           the :class:`DistributedContext` (default: one built from the environment).
        resume:         ``None`` (new run), ``"auto"`` (latest snapshot in ``run_dir`` if any), or a path.
        progress:       show a tqdm bar (rank 0).
        tensorboard:    write TensorBoard logs to ``run_dir/tb`` (rank 0).
        handle_signals: catch SIGINT/SIGTERM to stop gracefully (main thread only).
        broadcast_modules: copy rank 0's modules to all ranks before the first step (distributed runs).
    """

    def __init__(
        self,
        *,
        run_dir: str | os.PathLike,
        stage: str,
        config: Mapping[str, Any],
        total_kimg: float,
        batch_size: int,
        step_fn: Callable[[int], Mapping[str, Any] | None],
        state_fn: Callable[[], StageState | Mapping[str, Any]],
        load_state_fn: Callable[[Snapshot], None] | None = None,
        snapshot_kimg: float | None = None,
        keep_snapshots: int | None = 3,
        log_every: int = 10,
        sample_fn: Callable[[], Any] | None = None,
        sample_kimg: float | None = None,
        eval_fn: Callable[[], Mapping[str, float]] | None = None,
        eval_kimg: float | None = None,
        keep_best: str | None = None,
        dist: DistributedContext | None = None,
        resume: str | os.PathLike | None = None,
        progress: bool = True,
        tensorboard: bool = True,
        handle_signals: bool = True,
        broadcast_modules: bool = True,
    ):
        if batch_size < 1:
            raise ValueError(f"batch_size must be >= 1, got {batch_size}")
        if total_kimg <= 0:
            raise ValueError(f"total_kimg must be > 0, got {total_kimg}")
        if keep_snapshots is not None and keep_snapshots < 1:
            raise ValueError("keep_snapshots must be >= 1 or None (keep all)")
        self.run_dir = RunDir(run_dir)
        self.stage = stage
        self.config = to_jsonable(dict(config))
        self.batch_size = int(batch_size)
        self.total_nimg = int(round(total_kimg * 1000))
        self.total_steps = math.ceil(self.total_nimg / self.batch_size)
        self.snapshot_nimg = int(round(snapshot_kimg * 1000)) if snapshot_kimg else None
        sample_kimg = snapshot_kimg if sample_kimg is None else sample_kimg
        self.sample_nimg = int(round(sample_kimg * 1000)) if sample_kimg else None
        self.keep_snapshots = keep_snapshots
        self.log_every = max(1, int(log_every))
        self.step_fn, self.state_fn, self.load_state_fn = step_fn, state_fn, load_state_fn
        self.sample_fn = sample_fn
        self.eval_fn = eval_fn
        self.eval_nimg = int(round(eval_kimg * 1000)) if eval_kimg else None
        self.keep_best = keep_best
        self.last_metrics: dict[str, float] = {}
        self.dist = dist if dist is not None else DistributedContext()
        self.resume = resume
        self.progress, self.tensorboard, self.handle_signals = progress, tensorboard, handle_signals
        self.broadcast_modules = broadcast_modules

        self.step = 0
        self.nimg = 0
        self.elapsed_s = 0.0
        self.last_losses: dict[str, float] = {}
        self.last_sample: Any = None
        self._stop_reason: str | None = None
        self._last_snapshot_step: int | None = None
        self._writer = None
        self._bar = None

    # -- public helpers -------------------------------------------------------------------------------------------
    @property
    def kimg(self) -> float:
        return self.nimg / 1000.0

    def request_stop(self, reason: str = "requested") -> None:
        """Ask the loop to stop after the current step (with a final snapshot), e.g. from a notebook callback."""
        self._stop_reason = self._stop_reason or reason

    # -- signals --------------------------------------------------------------------------------------------------
    def _on_signal(self, signum, frame) -> None:
        name = signal.Signals(signum).name
        if self._stop_reason is not None and signum == signal.SIGINT:
            raise KeyboardInterrupt  # second Ctrl-C: the user really wants out now
        self._stop_reason = name
        if self.dist.is_main:
            msg = (f"\n{name} received: finishing step {self.step}, writing a snapshot, then stopping "
                   "(press Ctrl-C again to abort without a snapshot)")
            (self._bar.write(msg) if self._bar is not None else print(msg, flush=True))

    def _install_signal_handlers(self) -> dict:
        previous: dict = {}
        if not self.handle_signals or threading.current_thread() is not threading.main_thread():
            return previous
        for sig in (signal.SIGINT, signal.SIGTERM):
            previous[sig] = signal.getsignal(sig)
            signal.signal(sig, self._on_signal)
        return previous

    @staticmethod
    def _restore_signal_handlers(previous: dict) -> None:
        for sig, handler in previous.items():
            signal.signal(sig, handler if handler is not None else signal.SIG_DFL)

    # -- collective agreement -------------------------------------------------------------------------------------
    def _agree(self, *flags: bool) -> list[bool]:
        """OR each flag over all ranks (one tiny all-reduce; free on a single process)."""
        if not self.dist.is_distributed:
            return list(flags)
        dev = self.dist.device if self.dist.backend == "nccl" else torch.device("cpu")
        t = torch.tensor([float(f) for f in flags], device=dev)
        self.dist.all_reduce_max(t)
        return [bool(v) for v in t.tolist()]

    # -- snapshots ------------------------------------------------------------------------------------------------
    def _gather_rng(self) -> dict[int, tuple[dict, dict]] | None:
        tensors, json_part = capture_rng_state()
        if not self.dist.is_distributed:
            return {0: (tensors, json_part)}
        payload = {"tensors": {k: v.tolist() for k, v in tensors.items()}, "json": json_part}
        gathered = self.dist.gather_json(payload)
        if gathered is None:
            return None
        return {r: ({k: torch.tensor(v, dtype=torch.uint8) for k, v in g["tensors"].items()}, g["json"])
                for r, g in enumerate(gathered)}

    def _write_snapshot(self) -> Path | None:
        rng = self._gather_rng()  # collective: every rank takes part
        path, error = None, None
        if self.dist.is_main:
            try:
                state = StageState.coerce(self.state_fn())
                if "loop" in state.extra_json:
                    raise ValueError("state_fn's extra_json must not use the key 'loop' (reserved for the loop)")
                loop_json = {"step": self.step, "nimg": self.nimg, "kimg": self.kimg, "batch_size": self.batch_size,
                             "world_size": self.dist.world_size, "total_kimg": self.total_nimg / 1000.0,
                             "elapsed_s": self.elapsed_s}
                path = save_snapshot(self.run_dir.snapshot_path(self.step), stage=self.stage, config=self.config,
                                     modules=state.modules, optimizers=state.optimizers,
                                     extra_tensors=state.extra_tensors,
                                     extra_json={**state.extra_json, "loop": loop_json}, rng=rng)
                self.run_dir.prune(self.keep_snapshots)
            except BaseException as e:  # noqa: BLE001 - re-raised below after telling the other ranks
                error = e
        (failed,) = self._agree(error is not None)
        if error is not None:
            raise error
        if failed:
            raise CheckpointError(f"rank 0 failed to write the snapshot for step {self.step}")
        self._last_snapshot_step = self.step
        return path

    # -- logging --------------------------------------------------------------------------------------------------
    def _open_logs(self) -> None:
        if not self.dist.is_main:
            return
        if self.progress:
            from tqdm import tqdm

            self._bar = tqdm(total=self.total_steps, initial=self.step, unit="step", dynamic_ncols=True,
                             desc=self.stage)
        if self.tensorboard:
            try:
                from torch.utils.tensorboard import SummaryWriter
            except ImportError:  # tensorboard is a declared dependency, but be forgiving in odd environments
                warnings.warn("tensorboard is not installed: no TensorBoard logs will be written", stacklevel=3)
            else:
                self._writer = SummaryWriter(log_dir=str(self.run_dir.tb_dir))

    def _close_logs(self) -> None:
        if self._bar is not None:
            self._bar.close()
            self._bar = None
        if self._writer is not None:
            self._writer.close()
            self._writer = None

    def _log(self, sums: dict[str, float], counts: dict[str, int], images: int, seconds: float) -> None:
        means = {k: sums[k] / counts[k] for k in sums}
        self.last_losses = means
        if not self.dist.is_main:
            return
        img_s = images / seconds if seconds > 0 else 0.0
        if self._bar is not None:
            post = {"kimg": f"{self.kimg:.2f}/{self.total_nimg / 1000:g}", "img/s": f"{img_s:.1f}"}
            post.update({k.split("/")[-1] if len(k) > 12 else k: f"{v:.4g}" for k, v in list(means.items())[:4]})
            self._bar.set_postfix(post, refresh=False)
        if self._writer is not None:
            for k, v in means.items():
                self._writer.add_scalar(k, v, self.step)
            self._writer.add_scalar("Progress/kimg", self.kimg, self.step)
            self._writer.add_scalar("Timing/img_per_s", img_s, self.step)
            if img_s > 0:
                self._writer.add_scalar("Timing/sec_per_kimg", 1000.0 / img_s, self.step)
        with open(self.run_dir.path / "stats.jsonl", "a", encoding="utf-8") as f:
            f.write(json.dumps({"step": self.step, "kimg": self.kimg, "img_per_s": img_s, "time": time.time(),
                                **means}) + "\n")

    def _sample(self) -> None:
        if self.sample_fn is None or not self.dist.is_main:
            return
        with preserve_rng(), torch.no_grad():
            result = self.sample_fn()
        self.last_sample = result
        if self._writer is None or result is None:
            return
        items = result.items() if isinstance(result, Mapping) else [("grid", result)]
        for name, img in items:
            self._writer.add_image(f"Samples/{name}", make_grid(torch.as_tensor(img)), self.step)
        self._writer.flush()

    def _evaluate(self) -> None:
        if self.eval_fn is None or not self.dist.is_main:
            return
        with preserve_rng(), torch.no_grad():
            results = {k: float(v) for k, v in dict(self.eval_fn()).items()}
        self.last_metrics = results
        if self._writer is not None:
            for k, v in results.items():
                self._writer.add_scalar(f"Metrics/{k}", v, self.step)
            self._writer.flush()
        record = {"step": self.step, "kimg": self.kimg, "time": time.time(), **results}
        best_so_far = self._best_recorded(self.keep_best) if self.keep_best in results else None
        with open(self.run_dir.path / "metrics.jsonl", "a", encoding="utf-8") as f:
            f.write(json.dumps(record) + "\n")
        if self.keep_best in results and (best_so_far is None or results[self.keep_best] < best_so_far):
            self._keep_best_snapshot(self.keep_best, record)
        if self._bar is not None:
            self._bar.write(f"kimg {self.kimg:.1f}: " + ", ".join(f"{k} {v:.3f}" for k, v in results.items()))

    def _best_recorded(self, name: str) -> float | None:
        """The lowest ``name`` in ``metrics.jsonl`` so far (every session of the run), or None."""
        path = self.run_dir.path / "metrics.jsonl"
        if not path.exists():
            return None
        values = []
        for line in path.read_text(encoding="utf-8").splitlines():
            try:
                value = json.loads(line).get(name)
            except json.JSONDecodeError:
                continue
            if isinstance(value, (int, float)) and math.isfinite(value):
                values.append(float(value))
        return min(values) if values else None

    def _keep_best_snapshot(self, name: str, record: Mapping[str, Any]) -> None:
        """Copy this step's snapshot to ``best-<name>.safetensors`` (atomically), with a note of which it is."""
        if self._last_snapshot_step != self.step:
            return                              # an evaluation between snapshots: nothing to keep
        source = self.run_dir.snapshot_path(self.step)
        atomic_copy(source, self.run_dir.path / f"best-{name}.safetensors")
        note = {"metric": name, "value": record[name], "step": record["step"], "kimg": record["kimg"],
                "snapshot": source.name}
        atomic_write_text(self.run_dir.path / f"best-{name}.json", json.dumps(note, indent=1) + "\n")

    # -- resume ---------------------------------------------------------------------------------------------------
    def _resume_from(self, path: Path) -> Snapshot:
        snap = load_snapshot(path, expected_stage=self.stage)
        loop = snap.extra_json.get("loop", {})
        self.step = int(loop.get("step", 0))
        self.nimg = int(loop.get("nimg", self.step * self.batch_size))
        self.elapsed_s = float(loop.get("elapsed_s", 0.0))
        changed = sorted(k for k in set(snap.config) | set(self.config) if snap.config.get(k) != self.config.get(k))
        if self.load_state_fn is not None:
            try:
                self.load_state_fn(snap)
            except (RuntimeError, KeyError, ValueError) as err:
                if isinstance(err, CheckpointError):
                    raise
                flat = [k for k in changed if not isinstance(snap.config.get(k), dict)]
                differs = ("; this run's settings differ in " + ", ".join(
                    f"{k} ({snap.config.get(k)!r} in the snapshot, {self.config.get(k)!r} now)" for k in flat[:6])
                    if flat else "")
                first = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
                raise CheckpointError(
                    f"cannot resume from {path}: its networks do not fit this run ({first[:200]}){differs}. "
                    "Resume with the settings the run was started with, or start a new run in another folder; "
                    "nothing in the run folder was changed.") from err
        if self.dist.is_main:
            if loop.get("batch_size") not in (None, self.batch_size):
                warnings.warn(f"resuming {path.name} with batch size {self.batch_size} (it was trained with "
                              f"{loop['batch_size']}): training continues, but not bit-exactly", stacklevel=4)
            if loop.get("world_size") not in (None, self.dist.world_size):
                warnings.warn(f"resuming {path.name} on {self.dist.world_size} process(es) (it was written by "
                              f"{loop['world_size']}): training continues, but not bit-exactly", stacklevel=4)
            if changed:
                warnings.warn(f"resuming {path.name} with a config that differs in {', '.join(changed)}",
                              stacklevel=4)
        self._last_snapshot_step = self.step
        return snap

    # -- main -----------------------------------------------------------------------------------------------------
    def run(self) -> TrainResult:
        """Train until ``total_kimg`` (or a stop request); return what happened.

        The writing rank holds the run folder's lock (:class:`~styleinv_lib.train.run_lock.RunLock`) from before
        anything in the folder changes until the run returns, so a second run on the same folder is refused.
        """
        dist = self.dist
        # Every rank checks the folder (read-only) so that all of them fail alike, before anything is created.
        self.run_dir.prepare(None, self.resume, write=False)
        lock = RunLock(self.run_dir.path) if dist.is_main else None
        refusal = None
        if lock is not None:
            try:
                lock.acquire()
            except (RunFolderLocked, OSError) as err:        # held by another run, or not writable
                refusal = err
        (locked_out,) = self._agree(refusal is not None)     # the other ranks stop too instead of waiting
        if locked_out:
            raise refusal if refusal is not None else RunFolderLocked(
                f"{self.run_dir.path} could not be locked by rank 0 (see its error); nothing was changed")
        try:
            return self._run_locked()
        finally:
            if lock is not None:
                lock.release()

    def _run_locked(self) -> TrainResult:
        dist = self.dist
        # The snapshot is loaded into the networks first, so a resume that cannot work (another resolution, another
        # stage) fails before anything in the folder changes; then rank 0 writes config.json.
        resume_path = self.run_dir.resolve_resume(self.resume)
        snap = self._resume_from(resume_path) if resume_path is not None else None
        self.run_dir.prepare(self.config if dist.is_main else None, self.resume, write=dist.is_main)
        dist.barrier()
        if self.broadcast_modules and dist.is_distributed:
            for module in StageState.coerce(self.state_fn()).modules.values():
                if isinstance(module, torch.nn.Module):
                    dist.broadcast_module(module)
        if snap is not None:
            snap.restore_rng(dist.rank)  # last thing before the first step: nothing may consume RNG in between
            del snap

        previous_handlers = self._install_signal_handlers()
        self._open_logs()
        sums: dict[str, float] = {}
        counts: dict[str, int] = {}
        interval_images, interval_start = 0, time.perf_counter()
        start_step = self.step
        try:
            while self.step < self.total_steps:
                t0 = time.perf_counter()
                losses = self.step_fn(self.step) or {}
                names = list(losses)
                values = _to_floats([losses[k] for k in names])
                bad = next(((k, v) for k, v in zip(names, values) if not math.isfinite(v)), None)
                diverged, stop = self._agree(bad is not None, self._stop_reason is not None)
                if diverged:
                    raise TrainingDiverged(self.step, bad[0] if bad else None, bad[1] if bad else None,
                                           self.run_dir.latest())
                if stop and self._stop_reason is None:
                    self._stop_reason = "another rank stopped"
                self.step += 1
                self.nimg += self.batch_size
                self.elapsed_s += time.perf_counter() - t0
                interval_images += self.batch_size
                for k, v in zip(names, values):
                    sums[k] = sums.get(k, 0.0) + v
                    counts[k] = counts.get(k, 0) + 1
                if self._bar is not None:
                    self._bar.update(1)

                finished = self.step >= self.total_steps or self._stop_reason is not None
                if self.step % self.log_every == 0 or finished:
                    self._log(sums, counts, interval_images, time.perf_counter() - interval_start)
                    sums, counts, interval_images, interval_start = {}, {}, 0, time.perf_counter()
                if not finished and self._crossed(self.snapshot_nimg):
                    self._write_snapshot()
                if not finished and self._crossed(self.sample_nimg):
                    self._sample()
                if not finished and self._crossed(self.eval_nimg):
                    self._evaluate()
                if self._stop_reason is not None:
                    break
            if self._last_snapshot_step != self.step:
                self._write_snapshot()
            if self.sample_fn is not None and self.step > start_step:
                self._sample()
            if self.eval_fn is not None and self.step > start_step and self._stop_reason is None:
                self._evaluate()
            dist.barrier()
        finally:
            self._close_logs()
            self._restore_signal_handlers(previous_handlers)
        return TrainResult(step=self.step, nimg=self.nimg, interrupted=self._stop_reason,
                           snapshot=self.run_dir.latest(), losses=dict(self.last_losses), elapsed_s=self.elapsed_s,
                           resumed_from=resume_path)

    def _crossed(self, every_nimg: int | None) -> bool:
        """True when the last step crossed a multiple of ``every_nimg`` images."""
        if not every_nimg:
            return False
        return self.nimg // every_nimg > (self.nimg - self.batch_size) // every_nimg
