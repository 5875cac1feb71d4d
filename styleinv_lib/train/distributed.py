"""Multi-process (DDP) plumbing shared by every training stage.

Launch a run on several GPUs (or CPU processes) with ``torchrun``::

    torchrun --nproc_per_node 4 -m styleinv_lib.cli train-stylegan2 ...

``torchrun`` sets ``RANK``, ``WORLD_SIZE``, ``LOCAL_RANK``, ``MASTER_ADDR`` and ``MASTER_PORT``;
:class:`DistributedContext` reads them and joins the process group (``nccl`` on CUDA, ``gloo`` on CPU).  Without
those variables it is a single process and no process group is created, so the same training code runs on a
laptop, in Colab and on a cluster.

Data order is a pure function of ``(seed, step)`` (:class:`SampleStream`): a resumed run continues with exactly the
batches it would have seen, and the ranks of a distributed run together see exactly the batch a single process
would see with the same global batch size.
"""
from __future__ import annotations

import datetime as _dt
import json
import os
from typing import Any, Iterable

import numpy as np
import torch
import torch.distributed as tdist


def local_batch(global_batch: int, world_size: int) -> int:
    """The per-process batch of a global batch split evenly over ``world_size`` processes."""
    if world_size < 1:
        raise ValueError(f"world_size must be >= 1, got {world_size}")
    if global_batch < 1 or global_batch % world_size:
        lower = max(world_size, global_batch // world_size * world_size)
        raise ValueError(f"global batch {global_batch} cannot be split evenly over {world_size} processes: "
                         f"choose a multiple of {world_size} (e.g. {lower} or {lower + world_size})")
    return global_batch // world_size


def rank_indices(seed: int, epoch: int, n: int, rank: int = 0, world: int = 1) -> np.ndarray:
    """This rank's share of a deterministic shuffle of ``range(n)`` for one epoch.

    The epoch's permutation depends only on ``(seed, epoch)``; rank ``r`` takes positions ``r, r + world, ...``
    (the permutation is padded by wrapping around so every rank gets the same number of samples).  Consequently
    the i-th group of ``b`` indices of every rank, taken together, is the i-th group of ``b * world`` indices of
    the single-process stream.
    """
    if n < 1:
        raise ValueError("cannot sample from an empty dataset (n = 0)")
    if not 0 <= rank < world:
        raise ValueError(f"rank {rank} is outside 0..{world - 1}")
    perm = np.random.default_rng([int(seed), int(epoch)]).permutation(n)
    pad = (-n) % world
    if pad:
        perm = np.concatenate([perm, perm[:pad]])
    return perm[rank::world].astype(np.int64)


class SampleStream:
    """Dataset indices for training step ``s`` as a pure function of ``(seed, s)``: resumable by construction.

    The stream of a single process is the concatenation of the epochs' permutations (:func:`rank_indices` with
    ``world=1``); step ``s`` covers global positions ``[s * global_batch, (s + 1) * global_batch)`` and rank ``r``
    takes every ``world``-th of those, starting at ``r``.
    """

    def __init__(self, n: int, global_batch: int, seed: int = 0, rank: int = 0, world: int = 1):
        self.n, self.global_batch, self.seed, self.rank, self.world = n, global_batch, seed, rank, world
        self.local_batch = local_batch(global_batch, world)
        self._cache: dict[int, np.ndarray] = {}

    def _perm(self, epoch: int) -> np.ndarray:
        if epoch not in self._cache:
            if len(self._cache) > 4:
                self._cache.clear()
            self._cache[epoch] = rank_indices(self.seed, epoch, self.n, 0, 1)
        return self._cache[epoch]

    def batch(self, step: int) -> np.ndarray:
        start = step * self.global_batch
        pos = np.arange(start + self.rank, start + self.global_batch, self.world)
        epochs, offsets = np.divmod(pos, self.n)
        return np.array([self._perm(int(e))[int(o)] for e, o in zip(epochs, offsets)], dtype=np.int64)


class DistributedContext:
    """Who this process is in a (possibly) multi-process run, and the few collectives the stages need.

    ``DistributedContext()`` reads torchrun's environment; with no ``WORLD_SIZE`` (or ``WORLD_SIZE=1``) it is a
    single process.  ``device`` forces ``"cpu"`` (gloo) even where CUDA exists; by default each process uses
    ``cuda:LOCAL_RANK`` when CUDA is available (backend ``nccl``) and the CPU otherwise (backend ``gloo``).
    """

    def __init__(self, device: str | torch.device | None = None, backend: str | None = None,
                 timeout_s: float = 1800.0):
        env = os.environ
        self.world_size = int(env.get("WORLD_SIZE", "1") or 1)
        self.rank = int(env.get("RANK", "0") or 0)
        self.local_rank = int(env.get("LOCAL_RANK", str(self.rank)) or 0)
        if not 0 <= self.rank < self.world_size:
            raise ValueError(f"RANK={self.rank} is outside 0..WORLD_SIZE-1={self.world_size - 1}")

        if device is None:
            device = f"cuda:{self.local_rank % max(torch.cuda.device_count(), 1)}" if torch.cuda.is_available() \
                else "cpu"
        self.device = torch.device(device)
        if self.device.type == "cuda":
            if self.device.index is None:
                self.device = torch.device("cuda", self.local_rank % torch.cuda.device_count())
            torch.cuda.set_device(self.device)
        self.backend = backend or ("nccl" if self.device.type == "cuda" else "gloo")
        self._owns_group = False
        if self.world_size > 1:
            if not tdist.is_available():
                raise RuntimeError("WORLD_SIZE > 1 but this torch build has no torch.distributed support")
            if not tdist.is_initialized():
                for var in ("MASTER_ADDR", "MASTER_PORT"):
                    if var not in env:
                        raise RuntimeError(f"WORLD_SIZE={self.world_size} but {var} is not set: launch with "
                                           "`torchrun --nproc_per_node N ...`, which sets it")
                kwargs: dict[str, Any] = {}
                if self.device.type == "cuda":
                    kwargs["device_id"] = self.device
                tdist.init_process_group(backend=self.backend, init_method="env://", rank=self.rank,
                                         world_size=self.world_size, timeout=_dt.timedelta(seconds=timeout_s),
                                         **kwargs)
                self._owns_group = True

    @classmethod
    def from_env(cls, **kwargs) -> "DistributedContext":
        return cls(**kwargs)

    # -- identity -------------------------------------------------------------------------------------------------
    @property
    def is_distributed(self) -> bool:
        return self.world_size > 1

    @property
    def is_main(self) -> bool:
        """True on rank 0, the only process that writes files, logs and shows progress."""
        return self.rank == 0

    def __repr__(self) -> str:
        return (f"DistributedContext(rank={self.rank}, world_size={self.world_size}, device={self.device}, "
                f"backend={self.backend if self.is_distributed else None})")

    # -- collectives (no-ops on a single process) -----------------------------------------------------------------
    def barrier(self) -> None:
        if self.is_distributed:
            if self.backend == "nccl":
                tdist.barrier(device_ids=[self.device.index])
            else:
                tdist.barrier()

    def all_reduce_mean(self, tensor: torch.Tensor) -> torch.Tensor:
        """Average ``tensor`` over all ranks, in place; returns it for chaining."""
        if self.is_distributed:
            tdist.all_reduce(tensor, op=tdist.ReduceOp.SUM)
            tensor.div_(self.world_size)
        return tensor

    def all_reduce_max(self, tensor: torch.Tensor) -> torch.Tensor:
        if self.is_distributed:
            tdist.all_reduce(tensor, op=tdist.ReduceOp.MAX)
        return tensor

    def all_reduce_gradients(self, params: Iterable[torch.nn.Parameter]) -> None:
        """Average the ``.grad`` of ``params`` over ranks with a single flattened all-reduce.

        This is how the GAN stages synchronise (like StyleGAN2-ADA) instead of wrapping networks in
        ``DistributedDataParallel``, whose hooks do not fit alternating G/D phases and lazy regularisation.
        Parameters without a gradient get zeros so that every rank reduces tensors of the same size.
        """
        params = [p for p in params if p.requires_grad]
        if not self.is_distributed or not params:
            return
        for p in params:
            if p.grad is None:
                p.grad = torch.zeros_like(p)
        flat = torch.cat([p.grad.reshape(-1) for p in params])
        self.all_reduce_mean(flat)
        offset = 0
        for p in params:
            n = p.numel()
            p.grad.copy_(flat[offset:offset + n].view_as(p.grad))
            offset += n

    def broadcast_module(self, module: torch.nn.Module, src: int = 0) -> torch.nn.Module:
        """Copy ``module``'s parameters and buffers from rank ``src`` to every rank (in place)."""
        if self.is_distributed:
            with torch.no_grad():
                for t in list(module.parameters()) + list(module.buffers()):
                    tdist.broadcast(t.data, src=src)
        return module

    def gather_json(self, obj: Any) -> list[Any] | None:
        """Gather one JSON-serialisable object from every rank onto rank 0 (``None`` on the others).

        Objects travel as UTF-8 JSON bytes in uint8 tensors, never as pickles.
        """
        if not self.is_distributed:
            return [obj]
        data = torch.frombuffer(bytearray(json.dumps(obj).encode()), dtype=torch.uint8)
        dev = self.device if self.backend == "nccl" else torch.device("cpu")
        size = torch.tensor([data.numel()], dtype=torch.int64, device=dev)
        sizes = [torch.zeros_like(size) for _ in range(self.world_size)]
        tdist.all_gather(sizes, size)
        longest = int(max(s.item() for s in sizes))
        padded = torch.zeros(longest, dtype=torch.uint8, device=dev)
        padded[:data.numel()] = data.to(dev)
        chunks = [torch.zeros_like(padded) for _ in range(self.world_size)]
        tdist.all_gather(chunks, padded)  # all_gather, not gather: nccl has no gather on older torch versions
        if not self.is_main:
            return None
        return [json.loads(bytes(c[:int(s.item())].cpu().tolist()).decode()) for c, s in zip(chunks, sizes)]

    # -- teardown -------------------------------------------------------------------------------------------------
    def shutdown(self) -> None:
        """Leave the process group (only if this context created it)."""
        if self._owns_group and tdist.is_initialized():
            tdist.destroy_process_group()
        self._owns_group = False

    def __enter__(self) -> "DistributedContext":
        return self

    def __exit__(self, *exc) -> None:
        self.shutdown()
