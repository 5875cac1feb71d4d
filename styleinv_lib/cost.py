"""What a discriminator step costs against clip length: a dense video D (every frame, 3-D convolutions; the
autoregressive baselines' D, :mod:`styleinv_lib.nn.temporal_disc`) against FFA-ST's sparse D (four frames
whatever the clip spans, :mod:`styleinv_lib.nn.video_disc`), the paper's §3.4 argument for sparse training.

One D step is forward and backward on ``batch`` real and ``batch`` fake clips.  It is measured three ways:
wall-clock seconds (the fastest of a few steps), floating-point operations (``torch.utils.flop_counter``) and the
bytes autograd saves for the backward pass — the activation memory a step needs (on CUDA also
``torch.cuda.max_memory_allocated``).  The sparse D's input does not depend on T (frames at t0 = 0 < t1 < t2 < t3
≤ T), so its cost is flat; the dense D's grows linearly.  The networks are untrained: cost does not depend on the
weights.  ``benchmarks/video_d_cost.py`` writes the committed table; chapter 9 plots it.
"""
from __future__ import annotations

import platform
import time
from typing import Callable, Iterable

import torch


def count_flops(fn: Callable) -> tuple[object, int]:
    """Run ``fn()`` and count its floating-point operations: matmuls and convolutions (2 per multiply-add), forward
    and backward, as ``torch.utils.flop_counter`` counts them.  Unlike ``FlopCounterMode`` it installs no module
    hooks, so it also counts a double backward (R1).  The count depends on shapes only, never on load or weights:
    a cost comparison that a busy machine cannot upset."""
    from torch.utils._python_dispatch import TorchDispatchMode
    from torch.utils.flop_counter import flop_registry

    class _Counter(TorchDispatchMode):
        total = 0

        def __torch_dispatch__(self, func, types, args=(), kwargs=None):
            kwargs = kwargs or {}
            out = func(*args, **kwargs)
            count = flop_registry.get(func._overloadpacket)
            if count is not None:
                self.total += int(count(*args, **kwargs, out_val=out))
            return out

    counter = _Counter()
    with counter:
        out = fn()
    return out, counter.total


def saved_bytes(fn: Callable) -> tuple[object, int]:
    """Run ``fn()`` and count the bytes of the tensors autograd saves for backward."""
    total = 0

    def pack(t):
        nonlocal total
        total += t.numel() * t.element_size()
        return t

    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        out = fn()
    return out, total


def d_step_cost(D, clips: torch.Tensor, extra: dict, repeats: int = 2) -> dict:
    """D steps on ``clips`` (reals and fakes together): the fastest of ``repeats`` timed steps, then one counted
    step for FLOPs and saved activation bytes (and the CUDA peak), so that counting does not slow the timing."""
    from torch.utils.flop_counter import FlopCounterMode

    device = clips.device

    def step(count: bool = False) -> int:
        D.zero_grad(set_to_none=True)
        logits, activation = saved_bytes(lambda: D(clips, **extra)) if count else (D(clips, **extra), 0)
        torch.nn.functional.softplus(logits).mean().backward()
        return activation

    seconds = []
    for _ in range(repeats):
        if device.type == "cuda":
            torch.cuda.synchronize()
        start = time.perf_counter()
        step()
        if device.type == "cuda":
            torch.cuda.synchronize()
        seconds.append(time.perf_counter() - start)
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats()
    counter = FlopCounterMode(display=False)
    with counter:
        activation = step(count=True)
    row = {"seconds": min(seconds), "gflops": counter.get_total_flops() / 1e9, "activation_mb": activation / 2**20}
    if device.type == "cuda":
        row["cuda_peak_mb"] = torch.cuda.max_memory_allocated() / 2**20
    return row


def discriminator_cost(lengths: Iterable[int] = (16, 32, 64, 128, 256, 512, 1024), *, resolution: int = 32,
                       batch: int = 2, channel_base: int = 2048, channel_max: int = 64, device="cpu",
                       repeats: int = 2, seed: int = 0, log: Callable[[str], None] | None = None) -> dict:
    """One D step of the dense and the sparse video D for each clip length in ``lengths``.

    The defaults are the ``cpu`` profile's D widths at 32².  Returns the benchmark record: the settings, both
    Ds' parameter counts and one row per (discriminator, clip length) with ``frames_seen``, ``seconds``,
    ``gflops`` and ``activation_mb``.
    """
    from .nn.temporal_disc import TemporalVideoDiscriminator
    from .nn.video_disc import SparseVideoDiscriminator

    lengths = [int(T) for T in lengths]
    if not lengths or min(lengths) < 4:
        raise ValueError(f"clip lengths must be ≥ 4 frames (the sparse D reads four), got {lengths}")
    device = torch.device(device)
    torch.manual_seed(seed)
    dense = TemporalVideoDiscriminator(resolution, channel_base=channel_base, channel_max=channel_max).to(device)
    sparse = SparseVideoDiscriminator(resolution, num_frames=4, channel_base=channel_base, channel_max=channel_max,
                                      max_num_frames=max(2048, max(lengths))).to(device)
    b = 2 * batch
    rows = []
    for T in lengths:
        clips = torch.randn(b, T, 3, resolution, resolution, device=device)
        picks = [0, T // 4, T // 2, T - 1]
        t = torch.tensor([picks] * b, device=device)
        four = clips[:, picks].contiguous()
        for name, D, x, extra in (("dense", dense, clips, {}), ("sparse", sparse, four, {"t": t})):
            d_step_cost(D, x, extra, 1)                                                 # warm-up
            best = d_step_cost(D, x, extra, repeats)
            rows.append({"discriminator": name, "clip_length": T, "frames_seen": x.shape[1], **best})
            if log is not None:
                log(f"T={T:5d} {name:6s} {best['seconds']:8.3f} s  {best['gflops']:9.2f} GFLOP  "
                    f"{best['activation_mb']:9.1f} MB saved for backward")
        del clips, four
    return {"benchmark": "video D step cost vs clip length", "resolution": resolution, "batch": batch,
            "channel_base": channel_base, "channel_max": channel_max, "device": str(device),
            "torch": torch.__version__, "threads": torch.get_num_threads(),
            "machine": platform.processor() or platform.machine(),
            "params": {"dense": sum(p.numel() for p in dense.parameters()),
                       "sparse": sum(p.numel() for p in sparse.parameters())}, "rows": rows}


__all__ = ["count_flops", "d_step_cost", "discriminator_cost", "saved_bytes"]
