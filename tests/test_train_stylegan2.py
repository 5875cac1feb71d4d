"""Stage 1 end to end on a tiny SynthFaces folder: training runs, resumes bit-exactly, loads, refuses bad files."""
from dataclasses import replace

import pytest
import torch

from styleinv_lib.cli import main
from styleinv_lib.data import export_synthfaces
from styleinv_lib.loading import export_generator, load_generator
from styleinv_lib.checkpoint import CheckpointError, RunDir, load_snapshot, save_snapshot
from styleinv_lib.train.stylegan2 import config_for_profile, train_stylegan2


@pytest.fixture(scope="module")
def frames(tmp_path_factory):
    root = tmp_path_factory.mktemp("sg2") / "faces"
    export_synthfaces(root, num_videos=4, num_frames=8, resolution=32, seed=0, progress=False)
    return root


def tiny(frames, steps, **kw):
    # every phase runs within a few steps: R1 and path length every 2 steps, ADA adjusts every step
    cfg = config_for_profile("smoke", data=str(frames), batch=4, r1_interval=2, pl_weight=1.0, pl_interval=2,
                             ada_interval=1, ada_kimg=0.01, ada_target=0.0, snapshot_kimg=None)
    return replace(cfg, total_kimg=steps * cfg.batch / 1000, **kw)


def _weights(run):
    G = load_generator(run, which="G")
    snap = load_snapshot(RunDir(run).latest())
    D = snap.modules_state("D")
    ema = snap.modules_state("G_ema")
    return G.state_dict(), D, ema, snap.extra_json


def test_training_runs_and_moves_augmentation(frames, tmp_path):
    result = train_stylegan2(tiny(frames, 4), tmp_path / "run", progress=False, tensorboard=False)
    assert result.step == 4 and result.interrupted is None
    snap_json = _weights(tmp_path / "run")[3]
    assert snap_json["ada"]["p"] > 0, "with target 0 the ADA controller must raise p"
    assert (tmp_path / "run" / "config.json").exists()


def test_resume_continues_bit_exactly(frames, tmp_path):
    train_stylegan2(tiny(frames, 6), tmp_path / "straight", progress=False, tensorboard=False)
    train_stylegan2(tiny(frames, 3), tmp_path / "split", progress=False, tensorboard=False)
    with pytest.warns(UserWarning, match="total_kimg"):  # the resumed run is told to go further
        train_stylegan2(tiny(frames, 6), tmp_path / "split", resume="auto", progress=False, tensorboard=False)
    a, b = _weights(tmp_path / "straight"), _weights(tmp_path / "split")
    for sa, sb in zip(a[:3], b[:3]):
        assert sa.keys() == sb.keys()
        for k in sa:
            assert torch.equal(sa[k], sb[k]), f"{k} differs after resume"
    assert a[3]["ada"] == b[3]["ada"]


def test_the_frame_cache_changes_the_speed_only(frames, tmp_path):
    # 12 steps of 4 over 32 frames: the second epoch reads every frame from memory
    cached = train_stylegan2(tiny(frames, 12), tmp_path / "cached", progress=False, tensorboard=False)
    assert len(cached.stage.data.cache) == 32
    train_stylegan2(tiny(frames, 12, data_cache_mb=0.0), tmp_path / "decoded", progress=False, tensorboard=False)
    a, b = _weights(tmp_path / "cached"), _weights(tmp_path / "decoded")
    for sa, sb in zip(a[:3], b[:3]):
        for k in sa:
            assert torch.equal(sa[k], sb[k]), f"{k} differs with the frame cache"


def test_loader_export_and_refusals(frames, tmp_path):
    run = tmp_path / "run"
    train_stylegan2(tiny(frames, 2), run, progress=False, tensorboard=False)
    G = load_generator(run)
    z = torch.randn(2, G.z_dim)
    img = G(z, noise_mode="const")
    assert img.shape == (2, 3, 32, 32)
    small = export_generator(run, tmp_path / "G.safetensors")
    G2 = load_generator(small)
    assert torch.equal(G2(z, noise_mode="const"), img)
    with pytest.raises(CheckpointError, match="expected 64x64"):
        load_generator(run, resolution=64)
    wrong = save_snapshot(tmp_path / "enc.safetensors", stage="encoder", config={}, modules={"E": torch.nn.Linear(2, 2)})
    with pytest.raises(CheckpointError, match="encoder"):
        load_generator(wrong)
    data = bytearray(small.read_bytes())
    data[-5] ^= 0xFF
    (tmp_path / "bad.safetensors").write_bytes(bytes(data))
    with pytest.raises(CheckpointError, match="bad.safetensors"):
        load_generator(tmp_path / "bad.safetensors")
    with pytest.raises(CheckpointError, match="holds no snapshot"):
        load_generator(tmp_path)


def test_cli_train_generate_and_refuse_overwrite(frames, tmp_path, capsys):
    run = tmp_path / "cli_run"
    args = ["train-stylegan2", "--data", str(frames), "--out", str(run), "--profile", "smoke", "--kimg", "0.016",
            "--batch", "4", "--quiet"]
    assert main(args) == 0
    assert main(["generate-images", "--generator", str(run), "--seeds", "0-3", "--trunc", "0.7",
                 "--out", str(tmp_path / "imgs")]) == 0
    assert len(list((tmp_path / "imgs").glob("seed*.png"))) == 4 and (tmp_path / "imgs" / "grid.png").exists()
    capsys.readouterr()
    assert main(args) == 1, "a second run into the same folder must not start over"
    assert "--resume auto" in capsys.readouterr().err
    assert main(args + ["--resume", "auto"]) == 0


def test_two_process_gloo_run_through_torchrun_on_one_node_and_on_two(frames, tmp_path):
    """`--gpus 2` relaunches itself with torchrun: two CPU ranks (gloo) split the global batch, rank 0 writes; two
    torchrun nodes of one process each give the same run."""
    import os
    import socket
    import subprocess
    import sys

    run = tmp_path / "ddp"
    cmd = [sys.executable, "-m", "styleinv_lib.cli", "train-stylegan2", "--data", str(frames), "--out", str(run),
           "--profile", "smoke", "--kimg", "0.024", "--batch", "8", "--gpus", "2", "--quiet"]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    res = subprocess.run(cmd, capture_output=True, text=True, timeout=600, env=env)
    assert res.returncode == 0, res.stdout[-3000:] + res.stderr[-3000:]
    snap = load_snapshot(RunDir(run).latest(), expected_stage="stylegan2")
    assert snap.extra_json["loop"]["world_size"] == 2 and snap.step == 3
    assert sorted(snap.rng_ranks) == [0, 1], "both ranks' RNG streams are stored for an exact resume"
    G = load_generator(run)
    assert torch.isfinite(G(torch.randn(2, G.z_dim))).all()

    # Two "nodes" on this host (torchrun --nnodes 2, c10d rendezvous on localhost, gloo), one process each: the same
    # two ranks, so the same run bit for bit; only the writing rank takes the run folder's lock.
    node_run = tmp_path / "two-nodes"
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    launch = [sys.executable, "-m", "torch.distributed.run", "--nnodes", "2", "--nproc_per_node", "1",
              "--rdzv_backend", "c10d", "--rdzv_endpoint", f"127.0.0.1:{port}", "--rdzv_id", "styleinv-test",
              "-m", "styleinv_lib.cli", "train-stylegan2", "--data", str(frames), "--out", str(node_run),
              "--profile", "smoke", "--kimg", "0.024", "--batch", "8", "--quiet"]
    nodes = [subprocess.Popen(launch, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env)
             for _ in range(2)]
    logs = [node.communicate(timeout=600)[0] for node in nodes]
    assert [node.returncode for node in nodes] == [0, 0], "\n".join(log[-3000:] for log in logs)
    multi = load_snapshot(RunDir(node_run).latest(), expected_stage="stylegan2")
    assert multi.extra_json["loop"]["world_size"] == 2 and multi.step == 3
    for name in ("G", "D", "G_ema"):
        a, b = snap.modules_state(name), multi.modules_state(name)
        assert all(torch.equal(a[k], b[k]) for k in a), f"{name} differs between one node and two"


def test_fid_during_training_is_logged_and_leaves_the_trajectory_alone(frames, tmp_path, monkeypatch):
    """metrics="fid" evaluates G_ema with the real Inception at the end; training itself is unchanged by it."""
    import json

    monkeypatch.setenv("STYLEINV_CACHE", str(tmp_path / "cache"))
    train_stylegan2(tiny(frames, 3), tmp_path / "plain", progress=False, tensorboard=False)
    cfg = tiny(frames, 3, metrics="fid", metric_fid_frames=8, metric_real_frames=8)
    result = train_stylegan2(cfg, tmp_path / "fid", progress=False, tensorboard=False)
    lines = (tmp_path / "fid" / "metrics.jsonl").read_text().splitlines()
    assert len(lines) == 1
    record = json.loads(lines[0])
    assert record["step"] == 3 and record["fid"] > 0
    assert result.losses  # the run finished normally
    a, b = _weights(tmp_path / "plain"), _weights(tmp_path / "fid")
    for sa, sb in zip(a[:3], b[:3]):
        for k in sa:
            assert torch.equal(sa[k], sb[k]), f"{k} differs when FID is evaluated"
    with pytest.raises(ValueError, match="fid only"):
        train_stylegan2(tiny(frames, 1, metrics="fvd16"), tmp_path / "bad", progress=False, tensorboard=False)


@pytest.mark.parametrize("sig, status", [("SIGINT", 130), ("SIGTERM", 143)])
def test_a_signalled_run_writes_its_snapshot_and_exits_with_the_signal_status(frames, tmp_path, sig, status):
    """`make` and `a && b` must stop after an interrupted stage: 130 after Ctrl-C, 143 after SIGTERM."""
    import os
    import signal
    import subprocess
    import sys
    import time

    run = tmp_path / "run"
    cmd = [sys.executable, "-m", "styleinv_lib.cli", "train-stylegan2", "--data", str(frames), "--out", str(run),
           "--profile", "smoke", "--kimg", "100", "--batch", "4", "--snapshot-kimg", "1000", "--quiet"]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env={**os.environ, "OMP_NUM_THREADS": "1"})
    stats = run / "stats.jsonl"
    deadline = time.monotonic() + 300
    while not (stats.exists() and stats.read_text().strip()) and time.monotonic() < deadline:
        assert proc.poll() is None, proc.communicate()
        time.sleep(0.2)
    proc.send_signal(getattr(signal, sig))
    out, err = proc.communicate(timeout=300)
    assert proc.returncode == status, out + err
    assert f"stopped early ({sig})" in out
    snap = load_snapshot(RunDir(run).latest(), expected_stage="stylegan2")
    assert 0 < snap.step < 25_000


def test_resuming_with_another_resolution_fails_in_one_line_and_changes_nothing(frames, tmp_path, capsys):
    run = tmp_path / "run"
    args = ["train-stylegan2", "--data", str(frames), "--out", str(run), "--profile", "smoke", "--kimg", "0.008",
            "--batch", "4", "--quiet"]
    assert main(args) == 0
    before = {p.name: p.read_bytes() for p in run.iterdir() if p.is_file()}
    capsys.readouterr()
    assert main(args + ["--resume", "auto", "--resolution", "64", "--kimg", "0.016"]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "Traceback" not in err
    assert "cannot resume from" in err and "resolution (32 in the snapshot, 64 now)" in err
    after = {p.name: p.read_bytes() for p in run.iterdir() if p.is_file()}
    assert after == before, "config.json and the snapshots are untouched"


def test_an_unwritable_out_folder_is_one_line(frames, tmp_path, capsys):
    import os

    if os.geteuid() != 0:
        locked = tmp_path / "locked"
        locked.mkdir(mode=0o500)
        out = locked / "run"
    else:                             # root ignores file modes; sysfs refuses new folders even to root
        out = __import__("pathlib").Path("/sys/styleinv-test-run")
        try:
            out.mkdir()
        except PermissionError:
            pass
        except OSError:
            pytest.skip("no folder here refuses root with EACCES / EPERM")
        else:
            out.rmdir()
            pytest.skip("no folder here refuses root with EACCES / EPERM")
    code = main(["train-stylegan2", "--data", str(frames), "--out", str(out), "--profile", "smoke", "--kimg", "0.008",
                 "--batch", "4", "--quiet"])
    err = capsys.readouterr().err
    assert code == 1 and err.count("\n") == 1 and "Traceback" not in err
    assert str(out) in err and ("permission denied" in err or "operation not permitted" in err)
    assert "choose another --out" in err


def test_a_frame_that_stops_decoding_mid_run_is_skipped_with_skip_bad(frames, tmp_path, capsys):
    """The PNG is cut inside its pixel data: the cheap checks pass, training meets it; --skip-bad names it once and
    carries on with the other videos, without the option the run stops with one line naming the file."""
    import shutil
    import warnings

    data = tmp_path / "data"
    shutil.copytree(frames, data)
    png = data / "000002" / "000003.png"
    png.write_bytes(png.read_bytes()[: len(png.read_bytes()) // 2])
    args = ["train-stylegan2", "--data", str(data), "--profile", "smoke", "--kimg", "0.064", "--batch", "4",
            "--quiet"]
    assert main(args + ["--out", str(tmp_path / "strict")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "000002/000003.png: cannot decode frame" in err
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        assert main(args + ["--out", str(tmp_path / "skip"), "--skip-bad"]) == 0
    named = [str(w.message) for w in caught if "skipping this video" in str(w.message)]
    assert len(named) == 1 and "000002/000003.png" in named[0]
    assert load_snapshot(RunDir(tmp_path / "skip").latest()).step == 16


def test_the_slurm_example_requeues_a_preempted_run_that_then_resumes(frames, tmp_path):
    """examples/slurm/train_stylegan2.sbatch under stand-ins for srun and scontrol: SIGTERM to the batch script
    (what `--signal=B:TERM@120` or a pre-emption sends) → a snapshot, `scontrol requeue`; the requeued job resumes."""
    import os
    import signal
    import stat
    import subprocess
    import sys
    import time
    from pathlib import Path

    script = Path(__file__).resolve().parents[1] / "examples" / "slurm" / "train_stylegan2.sbatch"
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    stand_ins = {
        "srun": '#!/bin/bash\nshift\nexec "$@"\n',                                   # drop --kill-on-bad-exit=1
        "torchrun": f'#!/bin/bash\nexec "{sys.executable}" -m torch.distributed.run "$@"\n',
        "scontrol": f'#!/bin/bash\nif [ "$1" = show ]; then echo 127.0.0.1; else echo "$@" >> "{tmp_path}/requeued"; fi\n',
    }
    for name, body in stand_ins.items():
        (bin_dir / name).write_text(body)
        (bin_dir / name).chmod(stat.S_IRWXU)
    run = tmp_path / "run"
    env = {**os.environ, "PATH": f"{bin_dir}:{os.environ['PATH']}", "OMP_NUM_THREADS": "1", "SLURM_NNODES": "1",
           "SLURM_GPUS_ON_NODE": "1", "SLURM_JOB_NODELIST": "node1", "SLURM_JOB_ID": "4242",
           "DATA": str(frames), "OUT": str(run), "PROFILE": "smoke",
           "STYLEINV_ARGS": "--kimg 100 --batch 4 --snapshot-kimg 1000 --quiet"}
    job = subprocess.Popen(["bash", str(script)], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                           env=env, start_new_session=True)
    deadline = time.monotonic() + 300
    while not ((run / "stats.jsonl").exists() and (run / "stats.jsonl").read_text().strip()):
        assert job.poll() is None and time.monotonic() < deadline, job.communicate()[0][-3000:]
        time.sleep(0.2)
    job.send_signal(signal.SIGTERM)
    out = job.communicate(timeout=300)[0]
    assert job.returncode == 0 and "stopped with a snapshot" in out, out[-3000:]
    assert (tmp_path / "requeued").read_text().split() == ["requeue", "4242"]
    first = load_snapshot(RunDir(run).latest(), expected_stage="stylegan2").step
    assert first > 0
    env["STYLEINV_ARGS"] = f"--kimg {(first + 3) * 4 / 1000} --batch 4 --quiet"      # the requeued job
    again = subprocess.run(["bash", str(script)], capture_output=True, text=True, env=env, timeout=300)
    assert again.returncode == 0 and "finished" in again.stdout, again.stdout[-3000:] + again.stderr[-3000:]
    assert load_snapshot(RunDir(run).latest(), expected_stage="stylegan2").step == first + 3
