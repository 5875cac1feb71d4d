"""Safe, atomic, self-describing training snapshots.

A snapshot is **one** ``.safetensors`` file, ``<run_dir>/snapshot-<step:08d>.safetensors``.  It never contains a
pickle: tensors are stored by safetensors, everything else is JSON in the file's header metadata, so a snapshot can
be inspected with nothing but ``json`` (see :func:`read_snapshot_metadata`) and loaded by any version of this
library without "No module named ..." surprises.

Layout of the tensors (names are ``/``-separated)::

    <module>/<state_dict key>          every module's state_dict, e.g. ``G/mapping.fc0.weight``, ``G_ema/...``
    opt/<name>/state/<param>/<key>     tensor entries of an optimizer's per-parameter state (Adam: step, exp_avg,
                                       exp_avg_sq), ``<param>`` is the index torch uses in ``state_dict()``
    opt/<name>/group/<i>/<key>         tensor-valued hyper-parameters of param group ``i`` (rare: tensor lr)
    rng/torch_cpu                      ``torch.get_rng_state()`` (uint8) of rank 0
    rng/cuda/<device>                  ``torch.cuda.get_rng_state(device)`` of rank 0, when CUDA is initialised
    rng/rank<r>/torch_cpu, ...         the same for every other rank of a distributed run
    extra/<name>                       arbitrary stage tensors (ADA probability p, path-length mean, ...)

Header metadata (safetensors allows only ``str -> str``; structured values are JSON strings)::

    format           "styleinv-snapshot/1"
    stage            which training stage wrote it ("stylegan2", "encoder", "styleinv", "style_transfer", ...)
    library_version  styleinv_lib.__version__ of the writer
    config           the run's full JSON config: enough to rebuild the networks without the training code
    created          ISO-8601 UTC timestamp
    sha256           SHA-256 over all tensors in canonical order (sorted names; name, dtype, shape, raw bytes)
    modules          JSON list of module names (the prefixes above)
    optimizers       JSON {name: {"param_groups": [...], "scalar_state": {param: {key: value}}}}
    rng              JSON {"ranks": [...], per rank: numpy bit-generator state, python ``random`` state}
    extra_json       JSON dict of the stage's and the loop's counters (step, kimg, ...)

Writing goes to ``<path>.tmp``, is fsync'ed, then ``os.replace``'d over the target, so a crash (or a Colab runtime
being recycled) mid-write never leaves a half-written snapshot under the real name.
"""
from __future__ import annotations

import dataclasses
import datetime as _dt
import hashlib
import json
import os
import random
import re
import struct
import warnings
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterator, Mapping

import numpy as np
import torch

from ._version import __version__
from .fileio import atomic_write_text, fsync_path

__all__ = [
    "FORMAT", "SNAPSHOT_GLOB", "CheckpointError", "RunDir", "Snapshot", "SnapshotWriteError", "capture_rng_state",
    "load_optimizer_state", "load_snapshot", "preserve_rng",
    "read_snapshot_metadata", "restore_rng_state", "save_snapshot", "tensors_sha256", "to_jsonable",
]

FORMAT = "styleinv-snapshot/1"
SNAPSHOT_GLOB = "snapshot-*.safetensors"
_SNAPSHOT_RE = re.compile(r"^snapshot-(\d+)\.safetensors$")
_RESERVED_PREFIXES = ("opt", "rng", "extra")
_HEADER_KEYS = ("format", "stage", "library_version", "config", "created", "sha256")


class CheckpointError(RuntimeError):
    """A snapshot or run folder cannot be used; the message says which file and why."""


class SnapshotWriteError(OSError):
    """The operating system refused to write a snapshot (disk full, no permission, read-only file system, file
    too large).  The half-written file is removed and every earlier snapshot is untouched."""

    def __init__(self, path: Path, cause: BaseException):
        code = getattr(cause, "errno", None)
        if code is None:                       # safetensors wraps the OS error: "... (os error 28) ..."
            m = re.search(r"os error (\d+)", str(cause))
            code = int(m.group(1)) if m else None
        reason = os.strerror(code) if code else str(cause)
        super().__init__(code, f"cannot write snapshot {path}: {reason}. Earlier snapshots are untouched; "
                               "free space or fix the folder, then rerun the command with --resume auto")
        self.filename = str(path)

    def __str__(self) -> str:
        return self.strerror


# --------------------------------------------------------------------------------------------------------------
# JSON helpers
# --------------------------------------------------------------------------------------------------------------

def to_jsonable(obj: Any) -> Any:
    """Convert configs to plain JSON types: dataclasses, Paths, tuples, numpy and 0-d torch scalars included."""
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        return to_jsonable(dataclasses.asdict(obj))
    if isinstance(obj, Mapping):
        return {str(k): to_jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [to_jsonable(v) for v in obj]
    if isinstance(obj, Path):
        return str(obj)
    if isinstance(obj, np.generic):
        return obj.item()
    if isinstance(obj, np.ndarray):
        return obj.tolist()
    if isinstance(obj, torch.Tensor) and obj.numel() == 1:
        return obj.item()
    if isinstance(obj, (torch.dtype, torch.device)):
        return str(obj)
    if obj is None or isinstance(obj, (bool, int, float, str)):
        return obj
    raise TypeError(f"cannot store a {type(obj).__name__} in a snapshot's JSON metadata: {obj!r}")


def _dumps(obj: Any) -> str:
    return json.dumps(to_jsonable(obj), sort_keys=True, separators=(",", ":"))


# --------------------------------------------------------------------------------------------------------------
# Checksums
# --------------------------------------------------------------------------------------------------------------

def _tensor_bytes(t: torch.Tensor) -> np.ndarray:
    """The raw little-endian bytes of a contiguous CPU tensor, as a uint8 numpy view (no copy where possible)."""
    flat = t.reshape(-1)
    if flat.dtype == torch.bool:
        flat = flat.to(torch.uint8)
    if flat.numel() == 0:
        return np.zeros(0, dtype=np.uint8)
    return flat.view(torch.uint8).numpy()


def tensors_sha256(tensors: Mapping[str, torch.Tensor]) -> str:
    """SHA-256 over all tensors in canonical order: sorted names, each contributing name, dtype, shape and bytes."""
    h = hashlib.sha256()
    for name in sorted(tensors):
        t = tensors[name]
        h.update(f"{name}\0{str(t.dtype).removeprefix('torch.')}\0{list(t.shape)}\0".encode())
        h.update(_tensor_bytes(t))
    return h.hexdigest()


# --------------------------------------------------------------------------------------------------------------
# RNG state capture / restore
# --------------------------------------------------------------------------------------------------------------

def capture_rng_state() -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
    """This process's RNG states: ``({"torch_cpu": .., "cuda/<i>": ..}, {"numpy": .., "python": ..})``.

    CUDA states are captured only when CUDA has been initialised (querying them would otherwise create a context).
    """
    tensors = {"torch_cpu": torch.get_rng_state()}
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        for i in range(torch.cuda.device_count()):
            tensors[f"cuda/{i}"] = torch.cuda.get_rng_state(i)
    np_state = np.random.get_state(legacy=False)
    np_json = {k: v for k, v in np_state.items() if k != "state"}
    np_json["state"] = {k: (v.tolist() if isinstance(v, np.ndarray) else v) for k, v in np_state["state"].items()}
    version, internal, gauss = random.getstate()
    json_part = {"numpy": np_json, "python": [version, list(internal), gauss]}
    return tensors, json_part


def restore_rng_state(tensors: Mapping[str, torch.Tensor], json_part: Mapping[str, Any]) -> None:
    """Inverse of :func:`capture_rng_state`."""
    torch.set_rng_state(tensors["torch_cpu"].to(torch.uint8).cpu())
    cuda = {k: v for k, v in tensors.items() if k.startswith("cuda/")}
    if cuda and torch.cuda.is_available():
        for key, state in cuda.items():
            idx = int(key.split("/", 1)[1])
            if idx < torch.cuda.device_count():
                torch.cuda.set_rng_state(state.to(torch.uint8).cpu(), idx)
    np_json = json_part["numpy"]
    state = dict(np_json)
    inner = dict(np_json["state"])
    if "key" in inner:  # MT19937, the legacy global generator
        inner["key"] = np.asarray(inner["key"], dtype=np.uint32)
    state["state"] = inner
    np.random.set_state(state)
    version, internal, gauss = json_part["python"]
    random.setstate((version, tuple(internal), gauss))


@contextmanager
def preserve_rng() -> Iterator[None]:
    """Run a block (e.g. drawing a sample grid) without disturbing torch, CUDA, numpy or python RNG streams."""
    tensors, json_part = capture_rng_state()
    try:
        yield
    finally:
        restore_rng_state(tensors, json_part)


# --------------------------------------------------------------------------------------------------------------
# Optimizer state flattening
# --------------------------------------------------------------------------------------------------------------

def _flatten_optimizer(name: str, optimizer: torch.optim.Optimizer | Mapping) -> tuple[dict, dict]:
    """Split an optimizer's ``state_dict()`` into tensors (``opt/<name>/...``) and JSON."""
    sd = optimizer.state_dict() if hasattr(optimizer, "state_dict") else optimizer
    tensors: dict[str, torch.Tensor] = {}
    scalar_state: dict[str, dict[str, Any]] = {}
    for pid, pstate in sd["state"].items():
        for key, value in pstate.items():
            if isinstance(value, torch.Tensor):
                tensors[f"opt/{name}/state/{pid}/{key}"] = value
            else:
                scalar_state.setdefault(str(pid), {})[key] = to_jsonable(value)
    groups = []
    for gi, group in enumerate(sd["param_groups"]):
        g = {}
        for key, value in group.items():
            if isinstance(value, torch.Tensor):
                tensors[f"opt/{name}/group/{gi}/{key}"] = value
                g[key] = {"__tensor__": True}
            else:
                g[key] = to_jsonable(value)
        groups.append(g)
    return tensors, {"param_groups": groups, "scalar_state": scalar_state}


def load_optimizer_state(optimizer: torch.optim.Optimizer, state: Mapping[str, Any]) -> None:
    """Restore an optimizer from :meth:`Snapshot.optimizer_state`: Adam's step and moments from the snapshot, the
    hyper-parameters (``lr``, ``betas``, ``eps``, ...) from ``optimizer`` as the current config built it.

    With an unchanged config the two agree and the resume is exact.  A resume with a changed learning rate (say
    ``--set lr=0.001``) trains with the new one; torch's ``load_state_dict`` alone would silently bring back the
    snapshot's.  A stage that sets its learning rate every step (a schedule) sets it again before it is used.
    """
    groups = []
    if len(state["param_groups"]) != len(optimizer.param_groups):
        raise CheckpointError(f"optimizer has {len(optimizer.param_groups)} param groups, the snapshot "
                              f"{len(state['param_groups'])}: was the model built with a different config?")
    for saved, live in zip(state["param_groups"], optimizer.param_groups):
        if len(saved["params"]) != len(live["params"]):
            raise CheckpointError(f"an optimizer param group has {len(live['params'])} tensors, the snapshot's "
                                  f"{len(saved['params'])}: was the model built with a different config?")
        groups.append({**{k: v for k, v in live.items() if k != "params"}, "params": saved["params"]})
    optimizer.load_state_dict({"state": state["state"], "param_groups": groups})
    # the moments in their parameter's memory layout (a snapshot stores them contiguous, a channels-last parameter is
    # not): torch's fused Adam walks parameter, gradient and moments as flat arrays and mixes up elements otherwise
    for group in optimizer.param_groups:
        for p in group["params"]:
            for key, value in optimizer.state.get(p, {}).items():
                if isinstance(value, torch.Tensor) and value.shape == p.shape and value.stride() != p.stride():
                    optimizer.state[p][key] = torch.empty_like(p, dtype=value.dtype).copy_(value)


# --------------------------------------------------------------------------------------------------------------
# Writing
# --------------------------------------------------------------------------------------------------------------

def _prepare_tensors(tensors: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Detached, contiguous CPU tensors that share no storage (safetensors refuses shared or strided tensors)."""
    out: dict[str, torch.Tensor] = {}
    seen: set[int] = set()
    for name, t in tensors.items():
        if not isinstance(t, torch.Tensor):
            raise TypeError(f"snapshot entry {name!r} is a {type(t).__name__}, not a tensor")
        t = t.detach().to("cpu").contiguous()
        if t.numel() > 0:
            ptr = t.untyped_storage().data_ptr()
            if ptr in seen or t.untyped_storage().nbytes() != t.numel() * t.element_size():
                t = t.clone()
            seen.add(t.untyped_storage().data_ptr())
        out[name] = t
    return out


def _default_file_mode() -> int:
    """``0o666`` minus the process umask: the mode ``open()`` would give a new file."""
    try:  # Linux exposes the umask without having to change it
        with open("/proc/self/status", encoding="ascii") as f:
            for line in f:
                if line.startswith("Umask:"):
                    return 0o666 & ~int(line.split()[1], 8)
    except (OSError, ValueError):
        pass
    mask = os.umask(0o022)
    os.umask(mask)
    return 0o666 & ~mask


def save_snapshot(
    path: str | os.PathLike,
    *,
    stage: str,
    config: Mapping[str, Any],
    modules: Mapping[str, torch.nn.Module | Mapping[str, torch.Tensor]] | None = None,
    optimizers: Mapping[str, torch.optim.Optimizer | Mapping] | None = None,
    extra_tensors: Mapping[str, torch.Tensor] | None = None,
    extra_json: Mapping[str, Any] | None = None,
    rng: Mapping[int, tuple[Mapping[str, torch.Tensor], Mapping[str, Any]]] | None = None,
) -> Path:
    """Write one snapshot file atomically and return its path.

    ``modules`` maps a prefix (``"G"``, ``"D"``, ``"G_ema"``) to a module or a state dict; ``optimizers`` maps a
    name to an optimizer or its ``state_dict()``.  ``rng`` maps rank -> :func:`capture_rng_state` result; by
    default the calling process's state is stored as rank 0.
    """
    path = Path(path)
    tensors: dict[str, torch.Tensor] = {}
    module_names = []
    for name, module in (modules or {}).items():
        if "/" in name or name in _RESERVED_PREFIXES or not name:
            raise ValueError(f"module name {name!r} is not allowed (no '/', not one of {_RESERVED_PREFIXES})")
        sd = module.state_dict() if hasattr(module, "state_dict") else module
        module_names.append(name)
        for key, value in sd.items():
            tensors[f"{name}/{key}"] = value
    opt_json = {}
    for name, opt in (optimizers or {}).items():
        if "/" in name or not name:
            raise ValueError(f"optimizer name {name!r} must be non-empty and contain no '/'")
        t, j = _flatten_optimizer(name, opt)
        tensors.update(t)
        opt_json[name] = j
    for name, value in (extra_tensors or {}).items():
        tensors[f"extra/{name}"] = torch.as_tensor(value)
    if rng is None:
        rng = {0: capture_rng_state()}
    rng_json: dict[str, Any] = {"ranks": sorted(int(r) for r in rng)}
    for r, (rtensors, rjson) in rng.items():
        prefix = "rng/" if int(r) == 0 else f"rng/rank{int(r)}/"
        for key, value in rtensors.items():
            tensors[prefix + key] = value
        rng_json[str(int(r))] = to_jsonable(rjson)

    tensors = _prepare_tensors(tensors)
    metadata = {
        "format": FORMAT,
        "stage": str(stage),
        "library_version": __version__,
        "config": _dumps(config),
        "created": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
        "sha256": tensors_sha256(tensors),
        "modules": _dumps(module_names),
        "optimizers": _dumps(opt_json),
        "rng": _dumps(rng_json),
        "extra_json": _dumps(extra_json or {}),
    }

    from safetensors.torch import save_file

    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    try:
        save_file(tensors, str(tmp), metadata=metadata)
        try:  # safetensors creates 0600 files; give snapshots the permissions any other file would get
            os.chmod(tmp, _default_file_mode())
        except OSError:
            pass
        fsync_path(tmp)
        os.replace(tmp, path)
    except BaseException as err:
        tmp.unlink(missing_ok=True)
        if isinstance(err, OSError) or type(err).__name__ == "SafetensorError":
            raise SnapshotWriteError(path, err) from err
        raise
    fsync_path(path.parent, directory=True)
    return path


# --------------------------------------------------------------------------------------------------------------
# Reading
# --------------------------------------------------------------------------------------------------------------

def read_snapshot_metadata(path: str | os.PathLike) -> dict[str, str]:
    """The header metadata of a snapshot, read with ``struct`` + ``json`` only (no torch, no safetensors)."""
    path = Path(path)
    try:
        with open(path, "rb") as f:
            (n,) = struct.unpack("<Q", f.read(8))
            if n > 100_000_000:
                raise ValueError("header length is implausible")
            header = json.loads(f.read(n))
    except (OSError, ValueError, struct.error) as e:
        raise CheckpointError(f"{path}: not a readable safetensors snapshot ({e})") from None
    return dict(header.get("__metadata__", {}))


@dataclass
class Snapshot:
    """A loaded, verified snapshot.  All tensors are on the CPU; ``load_state_dict`` moves them where needed."""

    path: Path
    stage: str
    config: dict
    library_version: str
    created: str
    tensors: dict[str, torch.Tensor] = field(repr=False)
    module_names: list[str]
    optimizers: dict[str, dict] = field(repr=False)
    rng_json: dict[str, Any] = field(repr=False)
    extra_json: dict[str, Any]

    # -- modules and optimizers --------------------------------------------------------------------------------
    def modules_state(self, prefix: str) -> dict[str, torch.Tensor]:
        """The state dict stored under ``prefix`` (e.g. ``"G_ema"``), ready for ``module.load_state_dict``."""
        if prefix not in self.module_names:
            raise CheckpointError(f"{self.path}: no module {prefix!r} in this snapshot "
                                  f"(it holds {', '.join(self.module_names) or 'no modules'})")
        p = prefix + "/"
        return {k[len(p):]: v for k, v in self.tensors.items() if k.startswith(p)}

    def optimizer_state(self, name: str) -> dict[str, Any]:
        """The optimizer's ``state_dict()`` as torch produced it; restore with :func:`load_optimizer_state`."""
        if name not in self.optimizers:
            raise CheckpointError(f"{self.path}: no optimizer {name!r} in this snapshot "
                                  f"(it holds {', '.join(self.optimizers) or 'none'})")
        j = self.optimizers[name]
        state: dict[int, dict[str, Any]] = {}
        prefix = f"opt/{name}/state/"
        for key, value in self.tensors.items():
            if key.startswith(prefix):
                pid, sub = key[len(prefix):].split("/", 1)
                state.setdefault(int(pid), {})[sub] = value
        for pid, entries in j["scalar_state"].items():
            state.setdefault(int(pid), {}).update(entries)
        groups = []
        for gi, saved in enumerate(j["param_groups"]):
            g = dict(saved)
            for key, value in saved.items():
                if isinstance(value, dict) and value.get("__tensor__"):
                    g[key] = self.tensors[f"opt/{name}/group/{gi}/{key}"]
            groups.append(g)
        return {"state": dict(sorted(state.items())), "param_groups": groups}

    def restore(self, modules: Mapping[str, torch.nn.Module] | None = None,
                optimizers: Mapping[str, torch.optim.Optimizer] | None = None, strict: bool = True) -> None:
        """Convenience: ``load_state_dict`` every named module and :func:`load_optimizer_state` every optimizer."""
        for name, module in (modules or {}).items():
            module.load_state_dict(self.modules_state(name), strict=strict)
        for name, opt in (optimizers or {}).items():
            load_optimizer_state(opt, self.optimizer_state(name))

    # -- extras --------------------------------------------------------------------------------------------------
    @property
    def extra_tensors(self) -> dict[str, torch.Tensor]:
        return {k[len("extra/"):]: v for k, v in self.tensors.items() if k.startswith("extra/")}

    @property
    def step(self) -> int:
        """The training step counter written by :class:`~styleinv_lib.train.loop.TrainLoop` (0 if absent)."""
        return int(self.extra_json.get("loop", {}).get("step", 0))

    # -- RNG -----------------------------------------------------------------------------------------------------
    @property
    def rng_ranks(self) -> list[int]:
        return list(self.rng_json.get("ranks", []))

    def rng_for_rank(self, rank: int = 0) -> tuple[dict[str, torch.Tensor], dict[str, Any]] | None:
        if rank not in self.rng_ranks:
            return None
        prefix = "rng/" if rank == 0 else f"rng/rank{rank}/"
        tensors = {}
        for key, value in self.tensors.items():
            if key.startswith(prefix):
                sub = key[len(prefix):]
                if rank == 0 and sub.startswith("rank"):
                    continue
                tensors[sub] = value
        return tensors, self.rng_json[str(rank)]

    @property
    def rng(self) -> dict[str, Any]:
        """Rank 0's RNG states: ``torch_cpu`` (uint8 tensor), ``cuda`` (list of tensors), ``numpy``, ``python``."""
        got = self.rng_for_rank(0)
        if got is None:
            return {}
        tensors, j = got
        cuda = [tensors[k] for k in sorted((k for k in tensors if k.startswith("cuda/")),
                                           key=lambda k: int(k.split("/")[1]))]
        return {"torch_cpu": tensors.get("torch_cpu"), "cuda": cuda, "numpy": j["numpy"], "python": j["python"]}

    def restore_rng(self, rank: int = 0) -> bool:
        """Restore this rank's torch/CUDA/numpy/python RNG states; False (and a warning) if none were saved."""
        got = self.rng_for_rank(rank)
        if got is None:
            warnings.warn(f"{self.path}: no RNG state for rank {rank} (saved ranks: {self.rng_ranks}); "
                          "training continues, but not bit-exactly", stacklevel=2)
            return False
        restore_rng_state(*got)
        return True


def load_snapshot(path: str | os.PathLike, *, expected_stage: str | None = None, verify: bool = True) -> Snapshot:
    """Load and verify a snapshot: format, SHA-256 checksum of the tensors, and (optionally) the writing stage."""
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"snapshot {path} does not exist")
    meta = read_snapshot_metadata(path)
    fmt = meta.get("format")
    if fmt != FORMAT:
        raise CheckpointError(f"{path} is not a styleinv snapshot (format {fmt!r}, expected {FORMAT!r})")
    missing = [k for k in _HEADER_KEYS if k not in meta]
    if missing:
        raise CheckpointError(f"{path}: snapshot header lacks {', '.join(missing)}")
    stage = meta["stage"]
    if expected_stage is not None and stage != expected_stage:
        raise CheckpointError(f"{path} was written by stage {stage!r}, expected {expected_stage!r}")

    from safetensors import safe_open

    try:
        with safe_open(str(path), framework="pt", device="cpu") as f:
            tensors = {k: f.get_tensor(k) for k in f.keys()}
    except Exception as e:  # safetensors raises its own error types for damaged files
        raise CheckpointError(f"{path}: the file is damaged and cannot be read ({e})") from None
    if verify:
        digest = tensors_sha256(tensors)
        if digest != meta["sha256"]:
            raise CheckpointError(f"{path}: checksum does not match (sha256 {digest[:16]}..., header says "
                                  f"{meta['sha256'][:16]}...): the file is corrupt or was modified; use an earlier "
                                  "snapshot")
    try:
        return Snapshot(
            path=path, stage=stage, config=json.loads(meta["config"]), library_version=meta["library_version"],
            created=meta["created"], tensors=tensors, module_names=json.loads(meta.get("modules", "[]")),
            optimizers=json.loads(meta.get("optimizers", "{}")), rng_json=json.loads(meta.get("rng", "{}")),
            extra_json=json.loads(meta.get("extra_json", "{}")),
        )
    except json.JSONDecodeError as e:
        raise CheckpointError(f"{path}: the snapshot header holds invalid JSON ({e})") from None


# --------------------------------------------------------------------------------------------------------------
# Run folders
# --------------------------------------------------------------------------------------------------------------

class RunDir:
    """A training run's folder: ``config.json``, ``snapshot-<step>.safetensors`` files, ``tb/`` logs.

    The rules that make sure nothing a user trained is ever lost:

    * a *new* run refuses to start in a folder that already holds snapshots (resume it with ``--resume auto``
      or pick another folder);
    * :meth:`prune` deletes only older snapshots and never the newest one;
    * snapshots and ``config.json`` are written atomically.
    """

    def __init__(self, path: str | os.PathLike):
        self.path = Path(path)

    def __repr__(self) -> str:
        return f"RunDir({str(self.path)!r})"

    @property
    def config_path(self) -> Path:
        return self.path / "config.json"

    @property
    def tb_dir(self) -> Path:
        return self.path / "tb"

    def snapshot_path(self, step: int) -> Path:
        return self.path / f"snapshot-{int(step):08d}.safetensors"

    @staticmethod
    def step_of(path: str | os.PathLike) -> int | None:
        m = _SNAPSHOT_RE.match(Path(path).name)
        return int(m.group(1)) if m else None

    def snapshots(self) -> list[Path]:
        """Snapshot files, oldest first (by step number; temp files are ignored)."""
        if not self.path.is_dir():
            return []
        found = [p for p in self.path.iterdir() if p.is_file() and _SNAPSHOT_RE.match(p.name)]
        return sorted(found, key=lambda p: self.step_of(p))

    def latest(self) -> Path | None:
        snaps = self.snapshots()
        return snaps[-1] if snaps else None

    def prune(self, keep: int | None) -> list[Path]:
        """Delete all but the ``keep`` newest snapshots (``None`` keeps all); returns the deleted paths."""
        if keep is None:
            return []
        if keep < 1:
            raise ValueError(f"keep must be >= 1 (the newest snapshot is never deleted), got {keep}")
        old = self.snapshots()[:-keep]
        for p in old:
            p.unlink(missing_ok=True)
        return old

    def clean_temp_files(self) -> list[Path]:
        """Remove ``snapshot-*.safetensors.tmp`` left by a write that was killed half-way."""
        if not self.path.is_dir():
            return []
        stale = [p for p in self.path.glob(SNAPSHOT_GLOB + ".tmp")]
        for p in stale:
            p.unlink(missing_ok=True)
        return stale

    def resolve_resume(self, resume: str | os.PathLike | None) -> Path | None:
        """``None`` -> no resume; ``"auto"`` -> the latest snapshot here, or None when there is none yet (so the
        same command both starts and continues a run); a snapshot file or a run folder -> that file / its latest."""
        if resume is None or resume is False or resume == "":
            return None
        if isinstance(resume, str) and resume.lower() == "auto":
            return self.latest()
        p = Path(resume)
        if p.is_dir():
            latest = RunDir(p).latest()
            if latest is None:
                raise CheckpointError(f"cannot resume from {p}: the folder holds no snapshot-*.safetensors")
            return latest
        if not p.is_file():
            raise CheckpointError(f"cannot resume from {p}: no such snapshot file or run folder")
        return p

    def prepare(self, config: Mapping[str, Any] | None, resume: str | os.PathLike | None = None,
                write: bool = True) -> Path | None:
        """Check the folder may be used, create it, write ``config.json``; return the snapshot to resume from.

        Refuses a new run (``resume=None``, or an explicit snapshot from another folder) in a folder that already
        holds snapshots, since later pruning could delete them.  ``write=False`` only checks (the non-zero ranks
        of a distributed run).
        """
        resume_path = self.resolve_resume(resume)
        existing = self.snapshots()
        if existing:
            inside = resume_path is not None and resume_path.resolve().parent == self.path.resolve()
            if not inside:
                what = "a new run" if resume_path is None else f"a run resumed from {resume_path}"
                raise CheckpointError(
                    f"refusing to start {what} in {self.path}: it already holds {len(existing)} snapshot(s) "
                    f"(latest {existing[-1].name}). Use --resume auto (resume='auto') to continue that run, or "
                    "choose a new run folder; nothing was changed.")
        if write:
            self.path.mkdir(parents=True, exist_ok=True)
            self.clean_temp_files()
            if config is not None:
                self.write_config(config)
        return resume_path

    def write_config(self, config: Mapping[str, Any]) -> Path:
        atomic_write_text(self.config_path, json.dumps(to_jsonable(config), indent=2, sort_keys=True) + "\n")
        return self.config_path

    def read_config(self) -> dict | None:
        if not self.config_path.is_file():
            return None
        return json.loads(self.config_path.read_text(encoding="utf-8"))
