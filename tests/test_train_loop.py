"""The shared training infrastructure: snapshots (checkpoint.py), DDP plumbing (distributed.py), TrainLoop (loop.py).

Everything here runs on the CPU in a few seconds; the 2-rank DDP test uses gloo over 127.0.0.1.
"""
from __future__ import annotations

import json
import os
import random
import runpy
import signal
import socket
import struct
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
import torch

from styleinv_lib import checkpoint as ckpt
from styleinv_lib.checkpoint import (
    FORMAT, CheckpointError, RunDir, load_optimizer_state, load_snapshot, read_snapshot_metadata, save_snapshot,
)
from styleinv_lib.train.distributed import DistributedContext, SampleStream, local_batch, rank_indices
from styleinv_lib.train.loop import (
    StageState, TrainingDiverged, TrainLoop, _cuda_mode, apply_gradients, cpu_has_native_bf16, ema_beta, make_adam,
    make_grid, pick_device, precision_policy, seed_everything, update_ema,
)

_read_text = Path.read_text


# ----------------------------------------------------------------------------------------------------------------
# A tiny stage: a model with dropout and BatchNorm, Adam, and a step that consumes torch, numpy and python RNG
# ----------------------------------------------------------------------------------------------------------------

class TinyStage:
    """Stand-in for a real stage.  Every step draws from torch (dropout, randn), numpy and python ``random``, so a
    resume that forgets any RNG stream (or lets sampling disturb one) changes the weights."""

    def __init__(self, seed: int = 0, nan_at: int | None = None, signal_at: dict | None = None):
        seed_everything(seed)
        self.model = torch.nn.Sequential(torch.nn.Linear(6, 16), torch.nn.BatchNorm1d(16), torch.nn.ReLU(),
                                         torch.nn.Dropout(0.3), torch.nn.Linear(16, 1))
        self.opt = torch.optim.Adam(self.model.parameters(), lr=1e-2, betas=(0.5, 0.99))
        self.nan_at, self.signal_at = nan_at, signal_at or {}
        self.counter = torch.zeros(())  # an extra tensor the stage keeps (like ADA's p)
        self.samples = 0

    def step_fn(self, step: int) -> dict:
        for sig in self.signal_at.get(step, []):
            os.kill(os.getpid(), sig)
        x = torch.randn(8, 6)
        y = x.sum(1, keepdim=True) + torch.from_numpy(np.random.normal(size=(8, 1))).float()
        scale = 1.0 + random.random()
        loss = (self.model(x) - y).pow(2).mean() * scale
        self.opt.zero_grad(set_to_none=True)
        loss.backward()
        self.opt.step()
        self.counter += 1
        value = float("nan") if step == self.nan_at else loss.item()
        return {"Loss/main": value, "scale": scale}

    def sample_fn(self):
        self.samples += 1
        return torch.rand(4, 3, 5, 5)  # consumes RNG: the loop must shield training from it

    def state_fn(self) -> StageState:
        return StageState(modules={"M": self.model}, optimizers={"M": self.opt},
                          extra_tensors={"counter": self.counter}, extra_json={"note": "tiny"})

    def load_state_fn(self, snap) -> None:
        snap.restore(modules={"M": self.model}, optimizers={"M": self.opt})
        self.counter = snap.extra_tensors["counter"].clone()


def make_loop(stage: TinyStage, run_dir, steps: int, **kw) -> TrainLoop:
    kw.setdefault("snapshot_kimg", 0.016)  # every 2 steps of 8 images
    kw.setdefault("sample_fn", stage.sample_fn)
    return TrainLoop(run_dir=run_dir, stage="tiny", config={"model": "tiny", "lr": 1e-2}, total_kimg=steps * 8 / 1000,
                     batch_size=8, step_fn=stage.step_fn, state_fn=stage.state_fn, load_state_fn=stage.load_state_fn,
                     log_every=2, progress=False, **kw)


def scramble_rng() -> None:
    torch.manual_seed(12345)
    np.random.seed(999)
    random.seed(7)


def draws() -> tuple:
    return torch.rand(5), np.random.random(5), [random.random() for _ in range(5)]


def assert_same_draws(a, b) -> None:
    assert torch.equal(a[0], b[0]) and np.array_equal(a[1], b[1]) and a[2] == b[2]


# ----------------------------------------------------------------------------------------------------------------
# Snapshots
# ----------------------------------------------------------------------------------------------------------------

def test_snapshot_round_trip_is_exact(tmp_path):
    stage = TinyStage()
    for s in range(3):
        stage.step_fn(s)
    path = tmp_path / "snap.safetensors"
    extra_tensors = {"ada_p": torch.tensor(0.25, dtype=torch.float64), "hist": torch.arange(5),
                     "half": torch.randn(3, dtype=torch.bfloat16), "mask": torch.tensor([True, False]),
                     "empty": torch.zeros(0, 4)}
    extra_json = {"pl_mean": 0.125, "counters": {"d_steps": 3}, "name": "ünïcode"}
    save_snapshot(path, stage="tiny", config={"resolution": 32, "channels": [8, 16]}, modules={"M": stage.model},
                  optimizers={"M": stage.opt}, extra_tensors=extra_tensors, extra_json=extra_json)
    after_save = draws()
    assert [p.name for p in tmp_path.iterdir()] == ["snap.safetensors"]  # atomic: no temp file left behind

    model_sd = {k: v.clone() for k, v in stage.model.state_dict().items()}
    opt_sd = stage.opt.state_dict()
    fresh = TinyStage(seed=1)  # different weights, empty Adam state
    scramble_rng()
    snap = load_snapshot(path, expected_stage="tiny")
    snap.restore(modules={"M": fresh.model}, optimizers={"M": fresh.opt})
    snap.restore_rng()
    assert_same_draws(after_save, draws())

    assert snap.stage == "tiny" and snap.config == {"resolution": 32, "channels": [8, 16]}
    assert snap.extra_json == extra_json
    for k, v in extra_tensors.items():
        got = snap.extra_tensors[k]
        assert got.dtype == v.dtype and torch.equal(got, v), k
    for k, v in model_sd.items():  # includes BatchNorm's running stats and num_batches_tracked
        assert torch.equal(fresh.model.state_dict()[k], v), k
    new_sd = fresh.opt.state_dict()
    assert new_sd["param_groups"] == opt_sd["param_groups"]  # betas come back as a tuple
    for pid, st in opt_sd["state"].items():
        for key, val in st.items():
            assert torch.equal(new_sd["state"][pid][key], val), (pid, key)
            assert new_sd["state"][pid][key].dtype == val.dtype
    # one more identical Adam step from both gives identical weights
    for m, o in ((stage.model, stage.opt), (fresh.model, fresh.opt)):
        torch.manual_seed(3)
        m.train()
        o.zero_grad()
        m(torch.randn(8, 6)).sum().backward()
        o.step()
    for a, b in zip(stage.model.parameters(), fresh.model.parameters()):
        assert torch.equal(a, b)


def test_failed_write_keeps_previous_snapshot_and_no_temp(tmp_path, monkeypatch):
    path = tmp_path / "snapshot-00000002.safetensors"
    model = torch.nn.Linear(3, 2)
    save_snapshot(path, stage="tiny", config={}, modules={"M": model})
    good = path.read_bytes()

    import safetensors.torch

    def broken_save(tensors, filename, metadata=None):
        Path(filename).write_bytes(b"half-written")
        raise OSError("disk full")

    monkeypatch.setattr(safetensors.torch, "save_file", broken_save)
    with torch.no_grad():
        model.weight.add_(1)
    with pytest.raises(OSError, match="disk full"):
        save_snapshot(path, stage="tiny", config={}, modules={"M": model})
    assert path.read_bytes() == good
    assert sorted(p.name for p in tmp_path.iterdir()) == [path.name]


def test_tampered_snapshot_is_refused(tmp_path):
    path = tmp_path / "snapshot-00000001.safetensors"
    save_snapshot(path, stage="tiny", config={}, modules={"M": torch.nn.Linear(8, 8)})
    raw = bytearray(path.read_bytes())
    (n,) = struct.unpack("<Q", raw[:8])
    pos = 8 + n + (len(raw) - 8 - n) // 2  # a byte in the middle of the tensor data
    raw[pos] ^= 0x01
    path.write_bytes(bytes(raw))
    with pytest.raises(CheckpointError, match="checksum does not match") as err:
        load_snapshot(path)
    assert str(path) in str(err.value)


def test_damaged_and_foreign_files_are_refused(tmp_path):
    path = tmp_path / "snapshot-00000001.safetensors"
    save_snapshot(path, stage="tiny", config={}, modules={"M": torch.nn.Linear(8, 8)})
    path.write_bytes(path.read_bytes()[:-10])  # truncated, e.g. by a copy that did not finish
    with pytest.raises(CheckpointError, match=str(path.name)):
        load_snapshot(path)
    other = tmp_path / "plain.safetensors"
    import safetensors.torch

    safetensors.torch.save_file({"w": torch.zeros(2)}, str(other))
    with pytest.raises(CheckpointError, match="not a styleinv snapshot"):
        load_snapshot(other)
    with pytest.raises(CheckpointError, match="does not exist"):
        load_snapshot(tmp_path / "missing.safetensors")


def test_wrong_stage_is_refused(tmp_path):
    path = tmp_path / "snapshot-00000001.safetensors"
    save_snapshot(path, stage="encoder", config={}, modules={"E": torch.nn.Linear(2, 2)})
    with pytest.raises(CheckpointError, match="was written by stage 'encoder', expected 'stylegan2'"):
        load_snapshot(path, expected_stage="stylegan2")
    assert load_snapshot(path, expected_stage="encoder").stage == "encoder"


def test_metadata_readable_with_json_only(tmp_path):
    path = tmp_path / "snapshot-00000001.safetensors"
    save_snapshot(path, stage="stylegan2", config={"resolution": 64, "z_dim": 512},
                  modules={"G": torch.nn.Linear(2, 2)}, extra_json={"step": 1})
    with open(path, "rb") as f:  # the safetensors layout: u64 header length, JSON header, raw data
        (n,) = struct.unpack("<Q", f.read(8))
        header = json.loads(f.read(n))
    meta = header["__metadata__"]
    assert meta["format"] == FORMAT and meta["stage"] == "stylegan2"
    assert json.loads(meta["config"]) == {"resolution": 64, "z_dim": 512}
    assert meta["library_version"] and meta["created"] and len(meta["sha256"]) == 64
    assert read_snapshot_metadata(path) == meta
    assert "G/weight" in header and header["rng/torch_cpu"]["dtype"] == "U8"
    assert meta["sha256"] == ckpt.tensors_sha256(load_snapshot(path).tensors)


def test_reserved_module_names_rejected(tmp_path):
    with pytest.raises(ValueError, match="not allowed"):
        save_snapshot(tmp_path / "x.safetensors", stage="s", config={}, modules={"opt": torch.nn.Linear(1, 1)})


# ----------------------------------------------------------------------------------------------------------------
# Run folders
# ----------------------------------------------------------------------------------------------------------------

def _touch_snapshots(rd: RunDir, steps) -> None:
    for s in steps:
        save_snapshot(rd.snapshot_path(s), stage="tiny", config={}, modules={})


def test_rundir_listing_prune_and_resolve(tmp_path):
    rd = RunDir(tmp_path / "run")
    assert rd.snapshots() == [] and rd.latest() is None and rd.resolve_resume("auto") is None
    _touch_snapshots(rd, [10, 2, 100, 30])
    (rd.path / "snapshot-00000200.safetensors.tmp").write_bytes(b"partial")  # a killed write
    assert [rd.step_of(p) for p in rd.snapshots()] == [2, 10, 30, 100]
    assert rd.resolve_resume("auto") == rd.snapshot_path(100)
    assert rd.resolve_resume(str(rd.path)) == rd.snapshot_path(100)
    assert rd.resolve_resume(rd.snapshot_path(10)) == rd.snapshot_path(10)
    assert rd.resolve_resume(None) is None
    with pytest.raises(CheckpointError, match="no such snapshot"):
        rd.resolve_resume(tmp_path / "nowhere.safetensors")
    with pytest.raises(ValueError):
        rd.prune(0)
    assert [rd.step_of(p) for p in rd.prune(2)] == [2, 10]
    assert [rd.step_of(p) for p in rd.snapshots()] == [30, 100]
    rd.prune(1)
    assert rd.snapshots() == [rd.snapshot_path(100)]  # the newest always survives
    assert rd.prepare({"a": 1}, resume="auto") == rd.snapshot_path(100)
    assert not list(rd.path.glob("*.tmp"))  # the stale temp file is cleaned, config.json is written atomically
    assert rd.read_config() == {"a": 1}
    assert sorted(p.name for p in rd.path.iterdir()) == ["config.json", "snapshot-00000100.safetensors"]


def test_loop_prunes_to_keep_last_k(tmp_path):
    stage = TinyStage()
    res = make_loop(stage, tmp_path, steps=10, snapshot_kimg=0.008, keep_snapshots=3).run()
    assert res.step == 10 and res.interrupted is None
    assert [RunDir.step_of(p) for p in RunDir(tmp_path).snapshots()] == [8, 9, 10]
    assert (tmp_path / "config.json").is_file() and (tmp_path / "stats.jsonl").is_file()
    assert any((tmp_path / "tb").iterdir())
    assert stage.samples >= 10  # every snapshot interval and at the end


def test_new_run_in_used_folder_is_refused_and_auto_resumes(tmp_path):
    make_loop(TinyStage(), tmp_path, steps=4).run()
    before = {p.name: p.read_bytes() for p in tmp_path.iterdir() if p.is_file()}
    with pytest.raises(CheckpointError, match="--resume auto"):
        make_loop(TinyStage(), tmp_path, steps=8).run()
    other = tmp_path / "elsewhere"
    make_loop(TinyStage(), other, steps=2).run()
    with pytest.raises(CheckpointError, match="--resume auto"):  # resuming a foreign snapshot into this folder
        make_loop(TinyStage(), tmp_path, steps=8, resume=RunDir(other).latest()).run()
    assert {p.name: p.read_bytes() for p in tmp_path.iterdir() if p.is_file()} == before  # nothing touched

    stage = TinyStage()
    res = make_loop(stage, tmp_path, steps=6, resume="auto").run()
    assert res.resumed_from == tmp_path / "snapshot-00000004.safetensors"
    assert res.step == 6 and float(stage.counter) == 6  # stage state came back from the snapshot
    final = RunDir(tmp_path).latest()
    inode = final.stat().st_ino
    res = make_loop(TinyStage(), tmp_path, steps=6, resume="auto").run()  # already finished: nothing to do
    assert res.step == 6 and res.nimg == 48 and RunDir(tmp_path).latest() == final
    assert final.stat().st_ino == inode  # not rewritten


# ----------------------------------------------------------------------------------------------------------------
# Bit-exact resume
# ----------------------------------------------------------------------------------------------------------------

def test_resume_is_bit_exact(tmp_path):
    # Sampling (which draws random numbers) happens on a different schedule in each run: every step in the
    # straight run, every 3 steps before the resume, never after it.  The loop must shield training from it.
    n = 5
    straight = TinyStage()
    make_loop(straight, tmp_path / "straight", steps=2 * n, sample_kimg=0.008).run()

    first = TinyStage()
    res = make_loop(first, tmp_path / "split", steps=n, sample_kimg=0.024).run()
    assert res.step == n and res.snapshot.name == f"snapshot-{n:08d}.safetensors"
    del first
    scramble_rng()  # the resumed run must not depend on whatever RNG state the process happens to be in
    second = TinyStage(seed=42)  # fresh objects, different initial weights: everything must come from the snapshot
    res = make_loop(second, tmp_path / "split", steps=2 * n, resume="auto", sample_fn=None).run()
    assert res.step == 2 * n and res.nimg == 2 * n * 8
    assert [p.name for p in RunDir(tmp_path / "straight").snapshots()] == \
        [p.name for p in RunDir(tmp_path / "split").snapshots()]

    for (name, a), b in zip(straight.model.state_dict().items(), second.model.state_dict().values()):
        assert torch.equal(a, b), name
    sa, sb = straight.opt.state_dict()["state"], second.opt.state_dict()["state"]
    assert all(torch.equal(sa[p][k], sb[p][k]) for p in sa for k in sa[p])
    assert torch.equal(straight.counter, second.counter)
    # the final snapshots agree on everything but the timestamps
    a = load_snapshot(RunDir(tmp_path / "straight").latest())
    b = load_snapshot(RunDir(tmp_path / "split").latest())
    assert a.tensors.keys() == b.tensors.keys()
    assert all(torch.equal(a.tensors[k], b.tensors[k]) for k in a.tensors)
    a.extra_json["loop"].pop("elapsed_s"), b.extra_json["loop"].pop("elapsed_s")
    assert a.extra_json == b.extra_json and a.extra_json["loop"]["nimg"] == 2 * n * 8


# ----------------------------------------------------------------------------------------------------------------
# Divergence and signals
# ----------------------------------------------------------------------------------------------------------------

def test_nan_loss_stops_and_keeps_last_snapshot(tmp_path):
    with pytest.raises(TrainingDiverged, match=r"step 5: loss 'Loss/main' is nan") as err:
        make_loop(TinyStage(nan_at=5), tmp_path, steps=20).run()
    assert err.value.last_snapshot == tmp_path / "snapshot-00000004.safetensors"
    assert [p.name for p in RunDir(tmp_path).snapshots()] == ["snapshot-00000002.safetensors",
                                                              "snapshot-00000004.safetensors"]
    assert not list(tmp_path.glob("*.tmp"))
    assert load_snapshot(err.value.last_snapshot, expected_stage="tiny").step == 4  # intact, checksum verified


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
def test_signal_writes_final_snapshot_and_returns(tmp_path, sig):
    previous = signal.getsignal(sig)
    stage = TinyStage(signal_at={3: [sig]})
    res = make_loop(stage, tmp_path, steps=40, snapshot_kimg=None).run()
    assert res.interrupted == sig.name
    assert res.step == 4  # step 3 was finished, then the loop stopped
    assert [p.name for p in RunDir(tmp_path).snapshots()] == ["snapshot-00000004.safetensors"]
    assert signal.getsignal(sig) is previous  # handlers restored
    snap = load_snapshot(res.snapshot, expected_stage="tiny")
    assert snap.step == 4 and float(snap.extra_tensors["counter"]) == 4


def test_second_sigint_aborts_immediately(tmp_path):
    previous = signal.getsignal(signal.SIGINT)
    with pytest.raises(KeyboardInterrupt):
        make_loop(TinyStage(signal_at={1: [signal.SIGINT, signal.SIGINT]}), tmp_path, steps=10).run()
    assert signal.getsignal(signal.SIGINT) is previous
    assert RunDir(tmp_path).snapshots() == []


# ----------------------------------------------------------------------------------------------------------------
# Distributed
# ----------------------------------------------------------------------------------------------------------------

DDP_WORKER = textwrap.dedent(r'''
    import json, os, sys
    import torch
    from styleinv_lib.train.distributed import DistributedContext, SampleStream
    from styleinv_lib.train.loop import StageState, TrainLoop, seed_everything

    def watch_writes(root):
        """Record every file written, renamed or removed under ``root`` by this process (audit hooks)."""
        root = os.path.realpath(root)
        seen = []

        def inside(p):
            return isinstance(p, (str, bytes, os.PathLike)) and os.path.realpath(os.fsdecode(p)).startswith(root)

        def hook(event, args):
            if event == "open":
                path, mode, flags = args
                writing = (isinstance(mode, str) and any(c in mode for c in "wax+")) or \
                    (isinstance(flags, int) and flags & (os.O_WRONLY | os.O_RDWR | os.O_CREAT))
                if writing and inside(path):
                    seen.append(["open", os.fsdecode(path)])
            elif event in ("os.rename", "os.replace", "os.remove", "os.mkdir", "os.rmdir") and inside(args[0]):
                seen.append([event, os.fsdecode(args[0])])
        sys.addaudithook(hook)
        return seen

    def train(run_dir, ctx, steps=6, global_batch=8):
        seed_everything(0, ctx.rank)  # rank 1 starts from different weights: the loop's broadcast must fix that
        model = torch.nn.Sequential(torch.nn.Linear(6, 16), torch.nn.Tanh(), torch.nn.Linear(16, 1))
        opt = torch.optim.Adam(model.parameters(), lr=3e-2)
        g = torch.Generator().manual_seed(123)
        X = torch.randn(40, 6, generator=g)
        Y = X @ torch.randn(6, 1, generator=g) + 0.1 * torch.randn(40, 1, generator=g)
        stream = SampleStream(len(X), global_batch, seed=5, rank=ctx.rank, world=ctx.world_size)

        def step_fn(step):
            idx = torch.from_numpy(stream.batch(step))
            loss = (model(X[idx]) - Y[idx]).pow(2).mean()
            opt.zero_grad(set_to_none=True)
            loss.backward()
            ctx.all_reduce_gradients(model.parameters())
            opt.step()
            return {"loss": loss.detach()}

        TrainLoop(run_dir=run_dir, stage="ddp", config={"global_batch": global_batch}, total_kimg=steps * global_batch
                  / 1000, batch_size=global_batch, step_fn=step_fn,
                  state_fn=lambda: StageState(modules={"M": model}, optimizers={"M": opt}),
                  load_state_fn=lambda s: s.restore({"M": model}, {"M": opt}), snapshot_kimg=0.024,
                  log_every=1, progress=False, dist=ctx).run()
        return model

    if __name__ == "__main__":
        run_dir = sys.argv[1]
        writes = watch_writes(run_dir) if os.environ.get("RANK") != "0" else []
        ctx = DistributedContext(device="cpu")
        assert ctx.is_distributed and ctx.backend == "gloo"
        train(run_dir, ctx)
        ctx.shutdown()
        print("WRITES " + json.dumps(writes), flush=True)
''')


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_ddp_two_ranks_match_single_process(tmp_path, monkeypatch):
    script = tmp_path / "ddp_worker.py"
    script.write_text(DDP_WORKER)
    run_dir = tmp_path / "ddp"
    env = {k: v for k, v in os.environ.items() if k not in ("RANK", "WORLD_SIZE", "LOCAL_RANK")}
    env.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(_free_port()), WORLD_SIZE="2", OMP_NUM_THREADS="1",
               CUDA_VISIBLE_DEVICES="")
    procs = [subprocess.Popen([sys.executable, str(script), str(run_dir)], env={**env, "RANK": str(r),
                              "LOCAL_RANK": str(r)}, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
             for r in range(2)]
    outs = []
    try:
        for p in procs:
            out, err = p.communicate(timeout=120)
            assert p.returncode == 0, err[-3000:]
            outs.append(out)
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()

    # the same training in this process, single rank, same global batch and data order
    for var in ("RANK", "WORLD_SIZE", "LOCAL_RANK"):
        monkeypatch.delenv(var, raising=False)
    worker = runpy.run_path(str(script), run_name="ddp_worker")
    single = worker["train"](tmp_path / "single", DistributedContext(device="cpu"))

    snap = load_snapshot(RunDir(run_dir).latest(), expected_stage="ddp")
    assert snap.step == 6 and snap.rng_ranks == [0, 1]  # every rank's RNG is in the snapshot
    ddp_state = snap.modules_state("M")
    for k, v in single.state_dict().items():
        torch.testing.assert_close(ddp_state[k], v, atol=1e-5, rtol=0)

    rank1_writes = json.loads(outs[1].strip().splitlines()[-1].removeprefix("WRITES "))
    assert rank1_writes == []  # only rank 0 writes files
    assert [p.name for p in RunDir(run_dir).snapshots()] == ["snapshot-00000003.safetensors",
                                                             "snapshot-00000006.safetensors"]
    assert len(list((run_dir / "tb").iterdir())) == 1
    assert len((run_dir / "stats.jsonl").read_text().splitlines()) == 6


def test_single_process_context():
    ctx = DistributedContext(device="cpu")
    assert not ctx.is_distributed and ctx.is_main and ctx.rank == 0 and ctx.world_size == 1
    t = torch.tensor([1.0, 3.0])
    assert torch.equal(ctx.all_reduce_mean(t), torch.tensor([1.0, 3.0]))
    assert ctx.gather_json({"a": 1}) == [{"a": 1}]
    ctx.barrier()
    ctx.shutdown()


def test_local_batch_and_rank_indices():
    assert local_batch(32, 4) == 8
    with pytest.raises(ValueError, match="global batch 10 cannot be split evenly over 4 processes"):
        local_batch(10, 4)
    n, world = 11, 3
    shards = [rank_indices(7, 0, n, r, world) for r in range(world)]
    assert len({len(s) for s in shards}) == 1
    assert set(np.concatenate(shards)) == set(range(n))
    assert np.array_equal(rank_indices(7, 0, n, 1, world), shards[1])  # deterministic
    assert not np.array_equal(rank_indices(7, 1, n, 0, 1), rank_indices(7, 0, n, 0, 1))  # reshuffled per epoch
    # documented property: the i-th group of b indices of every rank together is the single process's i-th group
    full, b = rank_indices(7, 0, 12, 0, 1), 2
    parts = [rank_indices(7, 0, 12, r, 3) for r in range(3)]
    for i in range(2):
        assert sorted(np.concatenate([p[i * b:(i + 1) * b] for p in parts])) == sorted(full[i * b * 3:(i + 1) * b * 3])
    single = SampleStream(n=10, global_batch=8, seed=3)
    ranks = [SampleStream(n=10, global_batch=8, seed=3, rank=r, world=2) for r in range(2)]
    for step in range(5):  # crosses epoch boundaries
        assert sorted(np.concatenate([s.batch(step) for s in ranks])) == sorted(single.batch(step))
    seen = np.concatenate([single.batch(s) for s in range(5)])  # 40 draws = 4 full epochs of 10
    assert all(np.sum(seen == i) == 4 for i in range(10))


# ----------------------------------------------------------------------------------------------------------------
# Devices, precision, small helpers
# ----------------------------------------------------------------------------------------------------------------

def test_precision_policy_cpu_and_cuda_rules(monkeypatch):
    import torch.cpu as tcpu

    # auto on a CPU: bf16 exactly when the instruction set has native bf16 (AMX or AVX-512 BF16)
    native, why = cpu_has_native_bf16()
    auto = precision_policy("cpu")
    assert auto.mode == ("bf16" if native else "fp32") and auto.reason == why
    flags = Path("/proc/cpuinfo").read_text().split() if Path("/proc/cpuinfo").is_file() else []
    if "amx_bf16" in flags or "avx512_bf16" in flags:
        assert native and auto.dtype == torch.bfloat16 and not auto.use_grad_scaler
    for check in ("_is_amx_tile_supported", "_is_avx512_bf16_supported"):   # a CPU without either unit
        monkeypatch.setattr(tcpu, check, lambda: False, raising=False)
    monkeypatch.setattr(Path, "read_text", lambda self, *a, **k: "flags : fpu avx2 avx512f"
                        if str(self) == "/proc/cpuinfo" else _read_text(self, *a, **k))
    assert cpu_has_native_bf16()[0] is False and precision_policy("cpu").mode == "fp32"
    monkeypatch.setattr(tcpu, "_is_avx512_bf16_supported", lambda: True, raising=False)
    assert precision_policy("cpu").mode == "bf16" and "AVX-512 BF16" in precision_policy("cpu").reason
    monkeypatch.undo()
    p = precision_policy("cpu", "fp32")
    assert p.mode == "fp32" and p.dtype == torch.float32 and not p.use_grad_scaler and not p.channels_last
    assert not p.autocast_enabled and not p.grad_scaler().is_enabled()
    with p.autocast():
        assert torch.nn.Linear(2, 2)(torch.randn(1, 2)).dtype == torch.float32
    b = precision_policy("cpu", "bf16")
    assert b.dtype == torch.bfloat16 and not b.use_grad_scaler
    with b.autocast():
        assert torch.nn.Linear(2, 2)(torch.randn(1, 2)).dtype == torch.bfloat16
    assert precision_policy("cpu", "fp16").use_grad_scaler
    with pytest.raises(ValueError, match="unknown precision"):
        precision_policy("cpu", "fp8")
    # the CUDA decisions, by compute capability (the GPUs themselves are not needed to check the rule)
    assert _cuda_mode((7, 5), "auto")[0] == "fp16"   # Colab T4 (Turing)
    assert _cuda_mode((8, 0), "auto")[0] == "bf16"   # A100
    assert _cuda_mode((9, 0), "auto")[0] == "bf16"   # H100
    assert _cuda_mode((6, 1), "auto")[0] == "fp32"   # Pascal
    assert _cuda_mode((7, 5), "fp32")[0] == "fp32"
    with pytest.warns(UserWarning, match="no native bf16"):
        assert _cuda_mode((7, 5), "bf16")[0] == "bf16"
    assert pick_device("cpu") == torch.device("cpu")
    if not torch.cuda.is_available():
        assert pick_device("auto") == torch.device("cpu")
        with pytest.raises(RuntimeError, match="CUDA is not available"):
            pick_device("cuda")


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
def test_cuda_policy_and_rng_round_trip(tmp_path):
    dev = pick_device("auto")
    cap = torch.cuda.get_device_capability(dev)
    p = precision_policy(dev)
    assert p.channels_last and p.mode == ("bf16" if cap >= (8, 0) else "fp16" if cap >= (7, 0) else "fp32")
    assert p.use_grad_scaler == (p.mode == "fp16")
    model = torch.nn.Linear(4, 4).to(dev)
    opt = torch.optim.Adam(model.parameters())
    with p.autocast():
        loss = model(torch.randn(2, 4, device=dev)).float().pow(2).mean()
    loss.backward()
    opt.step()
    path = tmp_path / "snapshot-00000001.safetensors"
    save_snapshot(path, stage="s", config={}, modules={"M": model}, optimizers={"M": opt})
    expected = torch.randn(4, device=dev)
    torch.cuda.manual_seed_all(99)
    snap = load_snapshot(path)
    assert snap.rng["cuda"]  # CUDA RNG states were captured
    snap.restore_rng()
    assert torch.equal(torch.randn(4, device=dev), expected)
    fresh = torch.nn.Linear(4, 4).to(dev)
    fopt = torch.optim.Adam(fresh.parameters())
    snap.restore({"M": fresh}, {"M": fopt})
    assert torch.equal(fresh.weight, model.weight)
    assert fopt.state_dict()["state"][0]["exp_avg"].device.type == "cuda"


def test_ema_and_grid_helpers():
    a, b = torch.nn.Linear(2, 2), torch.nn.Linear(2, 2)
    beta = ema_beta(batch_size=10, ema_kimg=0.01)
    assert beta == pytest.approx(0.5)
    expected = 0.5 * a.weight.detach() + 0.5 * b.weight.detach()
    update_ema(a, b, beta)
    torch.testing.assert_close(a.weight.detach(), expected)
    assert ema_beta(10, 10.0, nimg=0, rampup=0.05) < 1e-6  # the ramp-up shortens the half-life early on
    grid = make_grid(torch.rand(5, 3, 4, 4), nrow=3)
    assert grid.shape == (3, 2 * 5 + 1, 3 * 5 + 1)
    assert make_grid(torch.full((3, 4, 4), 255, dtype=torch.uint8)).max() == 1.0


def test_the_snapshot_of_the_lowest_metric_is_kept_past_pruning_and_across_a_resume(tmp_path):
    """keep_best: the evaluation that sets a new low keeps its snapshot as best-<metric>; later, worse ones do not
    replace it, a resume compares against the values of the earlier session, and pruning never deletes it."""
    fids = iter([50.0, 40.0, 45.0, 48.0, 42.0, 30.0])         # one per evaluation (every 2 steps = every snapshot)
    stage = TinyStage()
    run = tmp_path / "run"
    make_loop(stage, run, 8, keep_snapshots=1, eval_fn=lambda: {"fid": next(fids)}, eval_kimg=0.016,
              keep_best="fid").run()
    note = json.loads((run / "best-fid.json").read_text())
    assert note["value"] == 40.0 and note["step"] == 4 and note["snapshot"] == "snapshot-00000004.safetensors"
    best = load_snapshot(run / "best-fid.safetensors")
    assert best.step == 4 and len(RunDir(run).snapshots()) == 1          # the best survives keep_snapshots=1
    weights_at_4 = best.modules_state("M")["0.weight"].clone()
    for steps, (value, step) in ((10, (40.0, 4)), (12, (30.0, 12))):     # 42 is no low against session 1's 40
        make_loop(TinyStage(), run, steps, keep_snapshots=1, eval_fn=lambda: {"fid": next(fids)}, eval_kimg=0.016,
                  keep_best="fid", resume="auto").run()
        note = json.loads((run / "best-fid.json").read_text())
        assert (note["value"], note["step"]) == (value, step)
    assert not torch.equal(load_snapshot(run / "best-fid.safetensors").modules_state("M")["0.weight"], weights_at_4)
    assert RunDir(run).resolve_resume("auto").name == "snapshot-00000012.safetensors"   # resume ignores best-*


def test_load_optimizer_state_rejects_other_layouts(tmp_path):
    m = torch.nn.Linear(2, 2)
    opt = torch.optim.Adam(m.parameters())
    path = tmp_path / "s.safetensors"
    save_snapshot(path, stage="s", config={}, optimizers={"A": opt})
    two_groups = torch.optim.Adam([{"params": [m.weight]}, {"params": [m.bias]}])
    with pytest.raises(CheckpointError, match="param groups"):
        load_optimizer_state(two_groups, load_snapshot(path).optimizer_state("A"))
    with pytest.raises(CheckpointError, match="no optimizer 'B'"):
        load_snapshot(path).optimizer_state("B")


def test_a_resume_keeps_the_moments_and_takes_the_learning_rate_from_the_config(tmp_path):
    torch.manual_seed(0)
    m = torch.nn.Linear(3, 2)
    opt = torch.optim.Adam(m.parameters(), lr=2.5e-3, betas=(0.0, 0.99), eps=1e-8)
    for _ in range(3):
        opt.zero_grad()
        m(torch.randn(4, 3)).square().sum().backward()
        opt.step()
    path = tmp_path / "s.safetensors"
    save_snapshot(path, stage="s", config={}, optimizers={"A": opt})
    saved = load_snapshot(path).optimizer_state("A")
    same = torch.optim.Adam(m.parameters(), lr=2.5e-3, betas=(0.0, 0.99), eps=1e-8)
    load_optimizer_state(same, saved)
    assert same.state_dict()["param_groups"] == opt.state_dict()["param_groups"]          # the exact resume
    lower = torch.optim.Adam(m.parameters(), lr=1e-3, betas=(0.0, 0.99), eps=1e-8)       # --set lr=0.001
    load_optimizer_state(lower, saved)
    assert lower.param_groups[0]["lr"] == 1e-3 and lower.param_groups[0]["betas"] == (0.0, 0.99)
    for p in m.parameters():
        torch.testing.assert_close(lower.state[p]["exp_avg"], opt.state[p]["exp_avg"], rtol=0, atol=0)
        assert lower.state[p]["step"] == opt.state[p]["step"] == 3
    split = torch.optim.Adam([{"params": [m.weight, m.bias]}])
    fewer = torch.optim.Adam([{"params": [m.weight]}])
    save_snapshot(path, stage="s", config={}, optimizers={"A": split})
    with pytest.raises(CheckpointError, match="1 tensors, the snapshot's 2"):
        load_optimizer_state(fewer, load_snapshot(path).optimizer_state("A"))


# ----------------------------------------------------------------------------------------------------------------
# One writer per run folder (run.lock)
# ----------------------------------------------------------------------------------------------------------------

LOCK_HOLDER = textwrap.dedent(r'''
    import sys, time
    from styleinv_lib.train.run_lock import RunLock
    lock = RunLock(sys.argv[1]).acquire()
    print("locked", flush=True)
    time.sleep(600)
''')


def _hold_lock(run_dir) -> subprocess.Popen:
    proc = subprocess.Popen([sys.executable, "-c", LOCK_HOLDER, str(run_dir)], stdout=subprocess.PIPE, text=True)
    assert proc.stdout.readline().strip() == "locked"
    return proc


def test_a_second_writer_is_refused_while_the_first_runs_and_a_killed_one_never_blocks(tmp_path):
    from styleinv_lib.train.run_lock import RunFolderLocked, lock_holder

    run = tmp_path / "run"
    assert lock_holder(run) is None                     # no folder yet
    make_loop(TinyStage(), run, steps=4).run()          # a finished run with snapshots and a config
    assert lock_holder(run) is None, "a finished run holds nothing"
    before = {p.name: p.read_bytes() for p in run.iterdir() if p.is_file() and p.name != "run.lock"}
    (run / "snapshot-00000009.safetensors.tmp").write_bytes(b"the other run's half-written snapshot")
    holder = _hold_lock(run)
    try:
        assert lock_holder(run)["pid"] == holder.pid and str(run) in lock_holder(run)["command"]
        with pytest.raises(RunFolderLocked, match=rf"in use by another training run \(pid {holder.pid} on "):
            make_loop(TinyStage(seed=1), run, steps=8, resume="auto").run()
        after = {p.name: p.read_bytes() for p in run.iterdir() if p.is_file() and p.name != "run.lock"}
        assert after == {**before, "snapshot-00000009.safetensors.tmp": b"the other run's half-written snapshot"}
    finally:
        holder.kill()                                   # kill -9: no chance to clean up
        holder.wait()
    assert json.loads((run / "run.lock").read_text())["pid"] == holder.pid, "the dead run's lock file is still there"
    assert lock_holder(run) is None, "a dead holder is nobody"
    record = json.loads((run / "run.lock").read_text())
    (run / "run.lock").write_text(json.dumps({**record, "host": "another-host"}))
    assert lock_holder(run) == {**record, "host": "another-host", "unverified": True}  # cannot be checked from here
    (run / "run.lock").write_text(json.dumps(record))
    res = make_loop(TinyStage(), run, steps=8, resume="auto").run()   # ... and is taken over
    assert res.step == 8 and res.resumed_from.name == "snapshot-00000004.safetensors"
    assert (run / "run.lock").read_text() == "", "released at the end"


def test_the_lock_is_held_during_the_run_and_released_after_a_failure(tmp_path):
    from styleinv_lib.train.run_lock import RunFolderLocked, RunLock

    seen = []

    class Probe(TinyStage):
        def step_fn(self, step):
            if step == 1:
                with pytest.raises(RunFolderLocked):
                    RunLock(tmp_path).acquire()
                seen.append(json.loads((tmp_path / "run.lock").read_text())["pid"])
            return super().step_fn(step)

    with pytest.raises(TrainingDiverged):
        make_loop(Probe(nan_at=3), tmp_path, steps=6).run()
    assert seen == [os.getpid()]
    with RunLock(tmp_path) as lock:                      # free again after the exception
        assert lock.held


def test_exit_status_follows_the_shell_convention():
    from styleinv_lib.train.loop import TrainingInterrupted, exit_status

    assert exit_status(None) == 0
    assert exit_status("SIGINT") == 130 and exit_status("SIGTERM") == 143
    assert exit_status("requested") == 1 and exit_status("another rank stopped") == 1
    assert TrainingInterrupted("x", "SIGTERM").exit_code == 143
    assert isinstance(TrainingInterrupted("x", "SIGINT"), KeyboardInterrupt)


SNAPSHOT_ON_A_FULL_DISK = textwrap.dedent(r'''
    import resource, signal, sys
    import torch
    from styleinv_lib.checkpoint import SnapshotWriteError, save_snapshot
    run = sys.argv[1]
    save_snapshot(run + "/snapshot-00000001.safetensors", stage="tiny", config={}, modules={"m": torch.nn.Linear(4, 4)})
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)          # writes past the limit fail with EFBIG instead
    resource.setrlimit(resource.RLIMIT_FSIZE, (64 * 1024, 64 * 1024))
    try:
        save_snapshot(run + "/snapshot-00000002.safetensors", stage="tiny", config={},
                      modules={"m": torch.nn.Linear(512, 512)})
    except SnapshotWriteError as err:
        print("ERROR", err.errno, err)
''')


def test_a_failed_snapshot_write_is_a_clear_os_error_and_loses_nothing(tmp_path):
    """The file system refuses the write half-way (a file-size limit stands in for a full disk: the same failed
    ``write``): the error names the file and the reason, the partial file is gone, the earlier snapshot loads."""
    res = subprocess.run([sys.executable, "-c", SNAPSHOT_ON_A_FULL_DISK, str(tmp_path)], capture_output=True,
                         text=True, timeout=120)
    assert res.returncode == 0, res.stderr[-2000:]
    line = res.stdout.strip().splitlines()[-1]
    assert line.startswith("ERROR 27 cannot write snapshot ") and "snapshot-00000002.safetensors" in line
    assert "File too large" in line and "--resume auto" in line
    assert sorted(p.name for p in tmp_path.iterdir()) == ["snapshot-00000001.safetensors"]
    assert load_snapshot(tmp_path / "snapshot-00000001.safetensors").modules_state("m")["weight"].shape == (4, 4)


#: torch has a fused Adam for CPU tensors from 2.4 (make_adam falls back to the plain one before)
FUSED_ADAM_ON_CPU = torch.torch_version.TorchVersion(torch.__version__) >= "2.4"


@pytest.mark.parametrize("fused", [False, True])
def test_an_fp16_step_that_overflows_is_skipped_and_the_loss_scale_backs_off(fused):
    """apply_gradients with a GradScaler: an overflow must reach the scaler (the step is skipped, the scale halves)
    before the NaN/Inf clean-up, which alone would turn it into a step of clamped gradients; for plain Adam and the
    fused one the stages use (whose kernel takes the scaler's verdict itself)."""
    if fused and not FUSED_ADAM_ON_CPU:
        pytest.skip(f"torch {torch.__version__} has no fused Adam on the CPU")
    torch.manual_seed(0)
    model = torch.nn.Linear(4, 1)
    opt = make_adam(model.parameters(), lr=0.1, betas=(0.9, 0.999)) if fused else \
        torch.optim.Adam(model.parameters(), lr=0.1)
    assert bool(opt.defaults["fused"]) == fused
    scaler = precision_policy("cpu", "fp16").grad_scaler(init_scale=2.0 ** 16)
    before = [p.detach().clone() for p in model.parameters()]
    apply_gradients(model(torch.full((2, 4), 1e35)).sum(), opt, list(model.parameters()), scaler=scaler)
    assert all(torch.equal(p, b) for p, b in zip(model.parameters(), before)), "an overflowing step was taken"
    assert scaler.get_scale() == 2.0 ** 15
    # an ordinary step goes through, unscaled: Adam's first step moves every weight by about lr
    apply_gradients(model(torch.ones(2, 4)).sum(), opt, list(model.parameters()), scaler=scaler)
    assert all(torch.allclose((p - b).abs(), torch.full_like(p, 0.1), rtol=1e-3) for p, b in
               zip(model.parameters(), before))
    assert scaler.get_scale() == 2.0 ** 15
    # without a scaler a stray Inf is clamped (StyleGAN2-ADA's rule) and the step is taken
    plain = torch.nn.Linear(4, 1)
    w0 = plain.weight.detach().clone()
    apply_gradients(plain(torch.full((2, 4), 1e38)).sum() * 1e10, torch.optim.SGD(plain.parameters(), lr=1e-6),
                    list(plain.parameters()))
    torch.testing.assert_close(plain.weight.detach(), w0 - 1e-6 * 1e5)


def test_the_stages_adam_is_fused_steps_as_plain_adam_and_resumes_exactly_in_channels_last(tmp_path):
    """make_adam: torch's fused kernel on this torch's CPU, the plain update to float rounding; a resume is bit-exact
    for a channels-last parameter too (the snapshot's contiguous moments come back in the parameter's layout: the
    fused kernel mixes up elements when the layouts differ)."""
    def net():
        torch.manual_seed(0)
        return torch.nn.Conv2d(3, 4, 3).to(memory_format=torch.channels_last)

    def steps(model, opt, indices):
        for i in indices:
            x = torch.randn(2, 3, 8, 8, generator=torch.Generator().manual_seed(i))
            apply_gradients(model(x).square().mean(), opt, list(model.parameters()))

    straight, plain_net = net(), net()
    fused = make_adam(straight.parameters(), lr=0.01, betas=(0.0, 0.99))
    plain = torch.optim.Adam(plain_net.parameters(), lr=0.01, betas=(0.0, 0.99), eps=1e-8)
    assert bool(fused.defaults["fused"]) == FUSED_ADAM_ON_CPU and not plain.defaults["fused"]
    steps(straight, fused, range(6))
    steps(plain_net, plain, range(6))
    torch.testing.assert_close(straight.weight, plain_net.weight, rtol=1e-5, atol=1e-6)
    assert (straight.weight - net().weight).abs().max() > 1e-3

    split = net()
    opt = make_adam(split.parameters(), lr=0.01, betas=(0.0, 0.99))
    steps(split, opt, range(3))
    path = save_snapshot(tmp_path / "s.safetensors", stage="t", config={}, modules={"N": split}, optimizers={"O": opt})
    resumed = net()
    opt = make_adam(resumed.parameters(), lr=0.01, betas=(0.0, 0.99))
    load_snapshot(path, expected_stage="t").restore(modules={"N": resumed}, optimizers={"O": opt})
    steps(resumed, opt, range(3, 6))
    assert torch.equal(resumed.weight, straight.weight) and torch.equal(resumed.bias, straight.bias)
