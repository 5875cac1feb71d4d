"""The experiment runner of chapter 9: every Table 3 experiment trains, evaluates and writes one row (smoke)."""
from __future__ import annotations

import json
import os

import pytest

from styleinv_lib.cli import main as cli_main
from styleinv_lib.experiments import (
    EXPERIMENTS, PAPER_TABLE1, REFERENCE_KINDS, experiment_config, experiment_status, latest_rows, read_results,
    rows_by_seed, run_experiment, status_markdown, time_left,
)

from test_styleinv import write_assets  # test_styleinv's small G, encoder and dataset

SMALL = dict(max_distance=8, anchor_spacing=8, window=16, motion_dim=16, noise_dim=16, metrics="")
MODELS = [name for name, e in EXPERIMENTS.items() if e.kind not in REFERENCE_KINDS]


@pytest.fixture(scope="module")
def assets(tmp_path_factory):
    return write_assets(tmp_path_factory.mktemp("experiments"))


def test_each_experiment_sets_exactly_its_switches(assets):
    paths = dict(data=assets / "data", generator=assets / "G.safetensors", encoder=assets / "E.safetensors")
    full = experiment_config(EXPERIMENTS["full"], "smoke", **paths)
    expected = {"no_encoder": {"use_encoder": False, "encoder": ""}, "ape": {"motion_kind": "ape"},
                "no_ffa_d_no_l2": {"first_frame_in_d": False, "lambda_recon": 0.0},
                "no_ffa_d": {"first_frame_in_d": False}}
    for name, switches in expected.items():
        cfg = experiment_config(EXPERIMENTS[name], "smoke", **paths)
        changed = {k: v for k, v in vars(cfg).items() if vars(full)[k] != v}
        assert changed == switches, name
        assert EXPERIMENTS[name].paper.keys() == {"fid", "fvd16", "fvd128"}
    # the cpu preset's additions (not in the paper) and the row without them: they differ in those weights only
    cpu = {n: experiment_config(EXPERIMENTS[n], "cpu", **paths) for n in ("full", "paper_d")}
    assert {k: v for k, v in vars(cpu["paper_d"]).items() if vars(cpu["full"])[k] != v} == {"lambda_d_slow": 0.0,
                                                                                            "lambda_uneven": 0.0}
    assert experiment_config(EXPERIMENTS["paper_d"], "smoke", **paths) == full      # smoke: nothing to take away
    # Table 1's DeeperForensics rows are the ones the experiments carry; on every dataset StyleInV beats MoCoGAN-HD
    assert PAPER_TABLE1["DeeperForensics"]["full"] == EXPERIMENTS["full"].paper
    assert PAPER_TABLE1["DeeperForensics"]["autoregressive"] == EXPERIMENTS["autoregressive"].paper
    assert all(t["full"][m] < t["autoregressive"][m] for t in PAPER_TABLE1.values() for m in t["full"])
    baseline = experiment_config(EXPERIMENTS["autoregressive"], "smoke", **paths, motion_dim=16, device="cpu")
    assert type(baseline).__name__ == "AutoregressiveConfig" and baseline.clip_frames == 8  # StyleInV sizes dropped


@pytest.mark.parametrize("results, data, generator, encoder, settings", [
    ("experiments_v2_cpu.jsonl", "data/synthfaces", "stylegan2_synthfaces32_v2_g900_cpu",
     "encoder_synthfaces32_v2_g900_cpu", "faces"),
    ("experiments_sky_v2_cpu.jsonl", "data/synthsky", "stylegan2_synthsky32_cpu", "encoder_synthsky32_cpu", "sky")])
def test_the_committed_rows_are_what_the_runner_would_train(results, data, generator, encoder, settings):
    """Every committed trained row of chapter 9 carries the hash of the configuration `make experiments` builds
    today (the Makefile's paths): a preset that moves on without pinning the experiments' recipe would make
    `styleinv experiment all` retrain every row, and chapter 9 compare rows of two recipes."""
    from pathlib import Path

    from styleinv_lib.experiments import SKY_SETTINGS, config_hash

    path = Path(__file__).resolve().parents[1] / "checkpoints" / results
    rows = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
    trained = [r for r in rows if EXPERIMENTS[r["experiment"]].kind not in REFERENCE_KINDS]
    assert len(trained) >= 6, f"{path}: {len(trained)} trained rows"
    for r in trained:
        exp = EXPERIMENTS[r["experiment"]]
        extra = dict(SKY_SETTINGS) if settings == "sky" and exp.kind == "styleinv" else {}
        cfg = experiment_config(exp, "cpu", data=data, generator=f"checkpoints/{generator}.safetensors",
                                encoder=f"checkpoints/{encoder}.safetensors", device="auto", seed=r["seed"], **extra)
        assert config_hash(cfg) == r["config_hash"], (r["experiment"], r["seed"])


#: The smoke protocol at a quarter of its size: the runner's bookkeeping is under test here, not the metrics
#: (tests/test_metrics_protocol.py checks those), and each of the nine evaluations below costs less than half.
TINY_PROTOCOL = dict(num_clips=4, fid_frames=16, fid_real_frames=16, batch=4, fid_video_frames=8)


#: One experiment per way of making videos: StyleInV with its encoder, without it (the zero-start readout), with
#: StyleGAN-V's APE, and the autoregressive baseline.  The two FFA-D rows differ from ``full`` only in training
#: switches (checked above; ``test_styleinv``'s ablation test steps them), and would cost two more runs here.
PATHS = ["full", "no_encoder", "ape", "autoregressive"]


def test_experiments_run_once_and_rerunning_skips_them(assets, tmp_path, capsys, monkeypatch):
    """`styleinv experiment full,no_encoder,ape,autoregressive --profile smoke`: one row per experiment with
    protocol and probe metrics; a rerun trains nothing; a changed configuration or another seed is a new row."""
    from styleinv_lib.metrics.protocol import PROTOCOL_PRESETS, Protocol

    monkeypatch.setitem(PROTOCOL_PRESETS, "smoke", Protocol(**TINY_PROTOCOL))
    paths = dict(data=assets / "data", generator=assets / "G.safetensors", encoder=assets / "E.safetensors")

    def states(seeds=(0,), names=PATHS, root=tmp_path, committed=None, **overrides):
        status = experiment_status(names, list(seeds), "smoke", root=root, committed=committed, device="cpu",
                                   **paths, **{**SMALL, **overrides})
        return {(e["experiment"], e["seed"]): e for e in status}

    assert {k: e["state"] for k, e in states().items()} == {(n, 0): "pending" for n in PATHS}
    rows = [run_experiment(name, "smoke", root=tmp_path, device="cpu", progress=False, **paths, **SMALL)
            for name in PATHS]
    # the re-run's status: finished rows with their times, the other seed left, and what the rest costs
    status = states(seeds=(0, 1), names=[*PATHS, "real_heldout"])
    assert {k: e["state"] for k, e in status.items()} == {
        **{(n, 0): "finished" for n in PATHS}, **{(n, 1): "pending" for n in PATHS}, ("real_heldout", 0): "pending"}
    assert (status["full", 0]["train_seconds"], status["full", 0]["kimg"]) == (rows[0]["train_seconds"],
                                                                               rows[0]["kimg"])
    seconds, unknown = time_left(list(status.values()))
    assert unknown == 1 and seconds > 0                 # the reference row: no finished reference row to time it
    assert "4 of 9 rows finished; 4 more need about" in status_markdown(list(status.values()))
    assert "; 1 cannot be timed yet" in status_markdown(list(status.values()))
    assert list(states(seeds=(1, 2), names=["real_heldout", "full"])) == [("full", 1), ("full", 2)]  # as the runner
    assert set(PATHS) <= set(MODELS) and [r["experiment"] for r in read_results(tmp_path)] == PATHS
    for row in rows:
        assert set(row["protocol"]["metrics"]) == {"fid", "fvd16"} and row["protocol"]["comparable_to_paper"] is False
        assert row["protocol"]["protocol"]["fid_frames"] == TINY_PROTOCOL["fid_frames"]  # the protocol it used
        assert all(v > 0 for v in row["protocol"]["metrics"].values())
        assert 0 <= row["identity_preservation"]["share@16"] <= 1 and "psnr" in row["first_frame"]
        assert "yaw_std" in json.dumps(row["motion"]) and row["kimg"] > 0
        assert row["jumps"]["videos"] == 2 and row["jumps"]["max_ratio"] >= row["jumps"]["median_ratio"] >= 1
    # the same probe metrics from the command line (`styleinv metrics --metrics probe`), appended to metrics.jsonl
    assert cli_main(["metrics", "--generator", str(assets / "G.safetensors"), "--motion", str(tmp_path / "full-smoke"),
                     "--data", str(assets / "data"), "--metrics", "probe", "--profile", "smoke", "--device", "cpu",
                     "--out", str(tmp_path / "cli"), "--quiet"]) == 0
    probe = json.loads((tmp_path / "cli" / "metrics.jsonl").read_text().splitlines()[-1])["probe"]
    by_name = {r["experiment"]: r for r in rows}
    assert "reconstructed_motion" in by_name["full"] and "reconstructed_motion" not in by_name["no_encoder"]
    assert by_name["full"]["reconstructed_motion"].keys() == by_name["full"]["motion"].keys()
    for key in ("identity_preservation", "jumps", "first_frame", "motion", "reconstructed_motion"):
        assert json.dumps(probe[key]) == json.dumps(rows[0][key]), key      # same seeds, same model, same kernels
    # another protocol seed, as many videos as asked: each video's identity share and an interval over them
    assert cli_main(["metrics", "--generator", str(assets / "G.safetensors"), "--motion", str(tmp_path / "full-smoke"),
                     "--data", str(assets / "data"), "--metrics", "probe", "--profile", "smoke", "--device", "cpu",
                     "--probe-videos", "3", "--seed", "1", "--out", str(tmp_path / "cli"), "--quiet"]) == 0
    other = json.loads((tmp_path / "cli" / "metrics.jsonl").read_text().splitlines()[-1])["probe"]
    assert other["probe_videos"] == {"protocol_seed": 1, "videos": 3} and other["jumps"]["videos"] == 3
    shares, interval = other["identity_per_video"]["share@16"], other["identity_interval"]["share@16"]
    assert len(shares) == 3 and interval["n"] == 3 and interval["low"] <= interval["mean"] <= interval["high"]
    assert interval["mean"] == pytest.approx(other["identity_preservation"]["share@16"])
    assert other["first_frame"] != probe["first_frame"]                     # other videos than seed 0's
    assert cli_main(["metrics", "--generator", str(assets / "G.safetensors"), "--data", str(assets / "data"),
                     "--metrics", "fid", "--probe-videos", "4", "--profile", "smoke"]) == 2
    assert "add probe to --metrics" in capsys.readouterr().err
    assert cli_main(["metrics", "--generator", str(assets / "G.safetensors"), "--data", str(assets / "data"),
                     "--metrics", "probe", "--profile", "smoke"]) == 2
    assert "give its run with --motion" in capsys.readouterr().err
    snapshots = sorted(p.name for p in (tmp_path / "full-smoke").glob("snapshot-*"))
    again = run_experiment("full", "smoke", root=tmp_path, device="cpu", progress=False, **paths, **SMALL)
    assert again == rows[0] and len(read_results(tmp_path)) == len(PATHS)
    # a fresh checkout (its runs/ empty) given the committed results file: their rows are finished, nothing trains
    committed, fresh = tmp_path / "committed.jsonl", tmp_path / "fresh"
    committed.write_text((tmp_path / "results.jsonl").read_text())
    assert {k: e["state"] for k, e in states(root=fresh).items()} == {(n, 0): "pending" for n in PATHS}
    assert {k: e["state"] for k, e in states(root=fresh, committed=committed).items()} == {
        (n, 0): "finished" for n in PATHS}
    assert run_experiment("full", "smoke", root=fresh, committed=committed, device="cpu", progress=False, **paths,
                          **SMALL) == rows[0] and not fresh.exists()
    # a stored network names its row: the run folder and its export record the row's configuration
    from styleinv_lib.experiments import recorded_config_hash
    from styleinv_lib.train.styleinv import export_styleinv
    exported = export_styleinv(tmp_path / "full-smoke", tmp_path / "full.safetensors")
    assert recorded_config_hash(tmp_path / "full-smoke") == recorded_config_hash(exported) == rows[0]["config_hash"]
    assert recorded_config_hash(tmp_path / "ape-smoke") == rows[PATHS.index("ape")]["config_hash"] != \
        rows[0]["config_hash"]
    assert sorted(p.name for p in (tmp_path / "full-smoke").glob("snapshot-*")) == snapshots
    # a run that would train longer is interrupted, one of another configuration is stale, one being trained says
    # who trains it; asking changes nothing
    longer = states(names=["full"], total_kimg=2 * rows[0]["kimg"])["full", 0]
    assert longer["state"] == "interrupted" and longer["kimg"] == rows[0]["kimg"]
    assert longer["train_seconds"] == pytest.approx(rows[0]["train_seconds"], abs=0.2)
    stale = states(names=["full"], lambda_w_reg=0.1)["full", 0]
    assert stale["state"] == "stale" and stale["changed"] == ["lambda_w_reg"] and stale["kimg"] == 0
    from styleinv_lib.train.run_lock import RunLock
    with RunLock(tmp_path / "full-smoke"):
        training = states(names=["full"], total_kimg=2 * rows[0]["kimg"])["full", 0]
    assert training["state"] == "training" and training["holder"]["pid"] == os.getpid()
    assert sorted(p.name for p in (tmp_path / "full-smoke").glob("snapshot-*")) == snapshots
    # a changed configuration never resumes the old model: the old run is kept aside, the new one trains afresh
    changed = run_experiment("full", "smoke", root=tmp_path, device="cpu", progress=False, **paths,
                             **{**SMALL, "lambda_w_reg": 0.1})
    assert changed["config_hash"] != rows[0]["config_hash"] and len(read_results(tmp_path)) == len(PATHS) + 1
    kept = tmp_path / "full-smoke.superseded-1"
    assert sorted(p.name for p in kept.glob("snapshot-*")) == snapshots
    assert json.loads((kept / "config.json").read_text())["lambda_w_reg"] == 0.05
    assert json.loads((tmp_path / "full-smoke" / "config.json").read_text())["lambda_w_reg"] == 0.1
    # training seeds: each (experiment, seed) is its own run folder and row; a finished one is skipped
    seeded = run_experiment("full", "smoke", root=tmp_path, device="cpu", progress=False, seed=1, **paths,
                            **{**SMALL, "lambda_w_reg": 0.1})
    assert seeded["seed"] == 1 and changed["seed"] == 0 and (tmp_path / "full-smoke-seed1" / "config.json").exists()
    assert json.loads((tmp_path / "full-smoke-seed1" / "config.json").read_text())["seed"] == 1
    assert seeded["protocol"]["metrics"] != changed["protocol"]["metrics"]
    # the seeds of one recipe share its recipe hash; a row of seed 0 written before rows recorded one is its own
    assert seeded["recipe_hash"] == changed["recipe_hash"] == changed["config_hash"] != seeded["config_hash"]
    assert rows[0]["recipe_hash"] != changed["recipe_hash"]
    from styleinv_lib.experiments import check_one_recipe
    check_one_recipe({"full": {0: changed, 1: seeded}}, ["full"])
    legacy = {k: v for k, v in rows[0].items() if k != "recipe_hash"}
    with pytest.raises(ValueError, match="full: its rows were trained with different configurations"):
        check_one_recipe({"full": {0: legacy, 1: seeded}}, ["full"])     # seed 0 of the old recipe
    assert run_experiment("full", "smoke", root=tmp_path, device="cpu", progress=False, seed=1, **paths,
                          **{**SMALL, "lambda_w_reg": 0.1}) == seeded
    assert len(read_results(tmp_path)) == len(PATHS) + 2
    # a run whose training finished in an earlier session (its row lost with an interrupted evaluation): the rerun
    # evaluates it without training, and its row records the run's training time, not this process's
    results = tmp_path / "results.jsonl"
    results.write_text("".join(line + "\n" for line in results.read_text().splitlines()[:-1]))
    lost = states(seeds=(1,), names=["full"], lambda_w_reg=0.1)["full", 1]
    assert lost["state"] == "trained" and lost["kimg"] == lost["total_kimg"] == seeded["kimg"]
    again = run_experiment("full", "smoke", root=tmp_path, device="cpu", progress=False, seed=1, **paths,
                           **{**SMALL, "lambda_w_reg": 0.1})
    assert again["protocol"]["metrics"] == seeded["protocol"]["metrics"] and again["kimg"] == seeded["kimg"]
    from styleinv_lib.experiments import _trained_so_far
    trained_s = _trained_so_far(tmp_path / "full-smoke-seed1")[1]      # what the snapshots recorded, > 0
    assert trained_s > 0 and again["train_seconds"] == pytest.approx(trained_s, abs=0.06)
    assert again["train_seconds"] == pytest.approx(seeded["train_seconds"], abs=0.2)
    assert len(read_results(tmp_path)) == len(PATHS) + 2
    assert latest_rows(read_results(tmp_path), "smoke")["full"] == changed
    assert rows_by_seed(read_results(tmp_path), "smoke")["full"] == {0: changed, 1: again}
    assert cli_main(["experiment", "full", "--seeds", "0,x", "--data", str(assets / "data")]) == 2
    assert cli_main(["experiment", "list"]) == 0
    capsys.readouterr()
    assert cli_main(["experiment", "status", "--names", "full,static", "--seeds", "0,1", "--profile", "smoke",
                     "--root", str(tmp_path), "--kimg", str(seeded["kimg"]), "--device", "cpu",
                     *[a for k, v in paths.items() for a in (f"--{k}", str(v))]]) == 0
    table = capsys.readouterr().out
    assert "| full | 0 | stale (differs in" in table and "| static | 0 | pending |" in table, table
    assert cli_main(["experiment", "status", "--names", "full,nonsense", "--data", str(assets / "data")]) == 2
    assert cli_main(["experiment", "nonsense", "--data", str(assets / "data")]) == 2
    assert cli_main(["experiment", "full,nonsense", "--data", str(assets / "data")]) == 2
    with pytest.raises(ValueError, match="unknown experiment"):
        run_experiment("nonsense", "smoke", root=tmp_path, **paths)


def test_reference_rows_held_out_real_videos_score_below_a_still_generator(tmp_path, monkeypatch):
    """The two rows that make the table readable: held-out real videos (the floor at this protocol size) and the
    image generator held still.  Real held-out clips come only from videos the real statistics did not use.
    (At the quarter-size protocol: FID 84 real vs 338 still, FVD16 1,073 vs 3,809.)"""
    import torch

    from styleinv_lib.data.export import export_synthfaces
    from styleinv_lib.metrics.protocol import PROTOCOL_PRESETS, HeldOutClips, Protocol

    monkeypatch.setitem(PROTOCOL_PRESETS, "smoke", Protocol(**TINY_PROTOCOL))

    write_assets(tmp_path)
    export_synthfaces(tmp_path / "data8", num_videos=8, num_frames=24, resolution=32, seed=5, progress=False)
    paths = dict(data=tmp_path / "data8", generator=tmp_path / "G.safetensors", encoder=tmp_path / "E.safetensors")
    skip = PROTOCOL_PRESETS["smoke"].num_clips
    source = HeldOutClips(paths["data"], 32, skip=skip)
    clips = torch.cat(list(source.clips(6, 16, seed=0, batch=4)))
    assert clips.shape == (6, 16, 3, 32, 32) and source.held_out_videos == 4
    folder = source.folder
    held = [folder.read_frames(v, range(24)) for v in range(skip, 8)]
    used = [folder.read_frames(v, range(24)) for v in range(skip)]
    inside = lambda clip, video: any(torch.equal(clip, video[s:s + 16]) for s in range(9))
    assert all(any(inside(c, v) for v in held) and not any(inside(c, v) for v in used) for c in clips)
    real = run_experiment("real_heldout", "smoke", root=tmp_path / "r", device="cpu", **paths)
    still = run_experiment("static", "smoke", root=tmp_path / "r", device="cpu", **paths)
    for m in ("fid", "fvd16"):
        assert 0 < real["protocol"]["metrics"][m] < still["protocol"]["metrics"][m], m
    assert real["held_out_videos"] == 4 and real["identity_preservation"]["share@16"] > 0.5
    assert run_experiment("static", "smoke", root=tmp_path / "r", device="cpu", **paths) == still
    assert len(read_results(tmp_path / "r")) == 2
    with pytest.raises(ValueError, match="none held out"):
        HeldOutClips(tmp_path / "data", 32, skip=6)


def test_protocol_seeds_of_the_probe_draw_disjoint_videos():
    """Protocol seed 0 draws the videos it always drew (the committed rows stay valid); seeds 0 and 1 used to share
    15 of their 16 videos, so their agreement said nothing about the probe's sampling error."""
    from styleinv_lib.experiments import probe_videos

    assert probe_videos("cpu") == list(range(16)) and probe_videos("smoke") == [0, 1]
    one, two = probe_videos("cpu", 1, videos=64), probe_videos("cpu", 2, videos=64)
    assert len(one) == 64 and not set(one) & set(probe_videos("cpu", 0, videos=64)) and not set(one) & set(two)
    with pytest.raises(ValueError, match="1 to"):
        probe_videos("cpu", 0, videos=0)
    with pytest.raises(ValueError, match=">= 0"):
        probe_videos("cpu", -1)


def test_probe_metrics_only_on_synthfaces(tmp_path):
    """A user's real face folder or SynthSky gets FID/FVD only: the probe reads SynthFaces factors."""
    from styleinv_lib.data.export import export_synthsky
    from styleinv_lib.experiments import is_synthfaces

    faces = write_assets(tmp_path) / "data"
    export_synthsky(tmp_path / "sky", num_videos=2, num_frames=8, resolution=32, progress=False)
    (tmp_path / "plain").mkdir()
    assert is_synthfaces(faces) and not is_synthfaces(tmp_path / "sky") and not is_synthfaces(tmp_path / "plain")
    (tmp_path / "plain" / "metadata.json").write_text("[1, 2]")                 # not a dict: not SynthFaces
    assert not is_synthfaces(tmp_path / "plain")


def test_chapter_rows_come_from_a_complete_local_run_or_the_committed_file(tmp_path):
    """Chapter 9 shows a local run's rows only when they cover every experiment it needs (later rows win);
    otherwise the committed results, and a committed file without a needed row is refused by name."""
    from styleinv_lib.experiments import RESULTS_FILE, results_or_committed

    rows = [{"experiment": "full", "profile": "cpu", "v": 1}, {"experiment": "static", "profile": "cpu", "v": 2},
            {"experiment": "full", "profile": "cpu", "v": 3}, {"experiment": "ape", "profile": "smoke", "v": 4}]
    (tmp_path / RESULTS_FILE).write_text("".join(json.dumps(r) + "\n" for r in rows))
    local, where = results_or_committed(tmp_path, "cpu", ["full", "static"], "experiments_cpu.jsonl")
    assert {n: r["v"] for n, r in local.items()} == {"full": 3, "static": 2} and str(tmp_path) in where
    committed, where = results_or_committed(tmp_path, "cpu", ["full", "ape"], "experiments_cpu.jsonl")
    # paper_d came with the v2 cpu preset, after the rows of this file
    assert set(committed) == set(EXPERIMENTS) - {"paper_d"} and where.startswith("checkpoints/experiments_cpu.jsonl")
    assert committed["full"]["protocol"]["metrics"]["fvd128"] > 0
    with pytest.raises(ValueError, match="no row for nonsense"):
        results_or_committed(tmp_path, "cpu", ["full", "nonsense"], "experiments_cpu.jsonl")


def test_seeded_rows_keep_every_training_seed_in_seed_order(tmp_path):
    """Chapter 9's mean ± std reads every training seed of a row (a rerun of the same seed replaces it) in seed
    order, locally when the run covers every experiment, otherwise from the committed file."""
    from styleinv_lib.experiments import RESULTS_FILE, seed_values, seeded_results_or_committed

    def row(name, seed, fvd, profile="cpu"):
        return {"experiment": name, "profile": profile, "seed": seed, "protocol": {"metrics": {"fvd16": fvd}}}

    rows = [row("full", 2, 30.0), row("full", 0, 10.0), row("static", 0, 5.0), row("full", 1, 99.0),
            row("full", 1, 20.0), row("full", 3, 7.0, profile="smoke")]
    (tmp_path / RESULTS_FILE).write_text("".join(json.dumps(r) + "\n" for r in rows))
    local, where = seeded_results_or_committed(tmp_path, "cpu", ["full", "static"], "experiments_cpu.jsonl")
    assert str(tmp_path) in where and sorted(local["full"]) == [0, 1, 2]
    assert seed_values(local["full"], "fvd16") == [10.0, 20.0, 30.0]
    assert seed_values(local["static"], "fvd16") == [5.0]
    committed, where = seeded_results_or_committed(tmp_path, "cpu", ["full", "ape"], "experiments_cpu.jsonl")
    assert where.startswith("checkpoints/experiments_cpu.jsonl") and set(committed) == set(EXPERIMENTS) - {"paper_d"}
    assert all(len(v) >= 1 for v in committed.values()) and seed_values(committed["full"], "fvd128")[0] > 0
    with pytest.raises(ValueError, match="no row for nonsense"):
        seeded_results_or_committed(tmp_path, "cpu", ["full", "nonsense"], "experiments_cpu.jsonl")


def _seeded_rows(values: dict[str, list[float]], protocol: dict) -> list[dict]:
    return [{"experiment": n, "profile": "cpu", "seed": k,
             "protocol": {"protocol": protocol, "metrics": {"fid": v, "fvd16": v, "fvd128": v}}}
            for n, vs in values.items() for k, v in enumerate(vs)]


def test_the_report_judges_table_3_over_training_seeds_against_the_protocol_spread(tmp_path, capsys):
    """`styleinv experiment report`: mean ± std per row, each ablation's gap to the full model judged against the
    training seeds and twice the protocol std (a spread from another protocol is refused), τ with an interval."""
    from styleinv_lib.experiments import RESULTS_FILE, TABLE3, experiment_report, report_markdown

    protocol = {"num_clips": 64, "fid_frames": 1024, "fid_real_frames": 2048, "seed": 0, "batch": 8,
                "fid": "styleinv", "fid_video_frames": 128}
    values = {"full": [100.0, 101.0, 99.0], "no_encoder": [130.0, 131.0, 129.0], "ape": [100.5, 99.5, 101.0],
              "no_ffa_d_no_l2": [90.0, 91.0, 89.0], "no_ffa_d": [95.0, 125.0, 104.0]}
    (tmp_path / RESULTS_FILE).write_text("".join(json.dumps(r) + "\n" for r in _seeded_rows(values, protocol)))
    spread = {"protocol": {**protocol, "seed": 3},
              "runs": {"full": {m: {"std": 2.0} for m in ("fid", "fvd16", "fvd128")}}}
    seeded = rows_by_seed(read_results(tmp_path), "cpu")
    rep = experiment_report(seeded, TABLE3, ["fvd128"], spread=spread)["fvd128"]
    verdicts = {n: g["verdict"] for n, g in rep["gaps"].items()}
    # the paper: every ablation is worse than the full model on FVD128
    assert verdicts == {"no_encoder": "reproduced", "ape": "within noise", "no_ffa_d_no_l2": "reversed",
                        "no_ffa_d": "within noise"}
    assert rep["rows"]["full"]["n"] == 3 and rep["tau"]["low"] is not None
    text = report_markdown({"fvd128": rep}, TABLE3)
    assert "| `full` | #5 Ours | 100.0 ± 1.0 (3) |" in text and "**reversed**" in text
    # a row with one seed so far: its gap is shown with the paper's, on one line, untested
    one_seed = {n: {0: rows[0]} for n, rows in seeded.items()}
    text = report_markdown(experiment_report(one_seed, TABLE3, ["fvd128"], spread=spread), TABLE3)
    untested = [line for line in text.splitlines() if "too few seeds" in line]
    assert len(untested) == 1 and "`no_encoder` +30.0 (paper +98.89)" in untested[0]
    assert "no interval (a row has one seed)" in text and "Welch" not in text
    with pytest.raises(ValueError, match="measure the spread under the rows' protocol"):
        experiment_report(seeded, TABLE3, ["fid"], spread={**spread, "protocol": {**protocol, "fid": "stylegan-v"}})
    (tmp_path / "spread.json").write_text(json.dumps(spread))
    assert cli_main(["experiment", "report", "--root", str(tmp_path), "--profile", "cpu",
                     "--spread", str(tmp_path / "spread.json")]) == 0
    out = capsys.readouterr().out
    # no_encoder on all three metrics, and no_ffa_d_no_l2 on FID, where the paper also has it below the full model
    assert out.count("**reproduced**") == 4 and "Table 1" in out and "not enough rows yet" in out


def test_time_left_prices_each_unfinished_row_at_its_kinds_measured_rates():
    def entry(kind, state, kimg, total, train, evaluation=None):
        return {"experiment": "x", "seed": 0, "kind": kind, "state": state, "kimg": kimg, "total_kimg": total,
                "train_seconds": train, "eval_seconds": evaluation}

    finished = [entry("styleinv", "finished", 12, 12, 1200, 600), entry("styleinv", "finished", 12, 12, 2400, 400)]
    # 150 s per kimg and 500 s of evaluation, from the finished rows
    assert time_left(finished + [entry("styleinv", "pending", 0, 12, 0)]) == (12 * 150 + 500, 0)
    assert time_left(finished + [entry("styleinv", "interrupted", 4, 12, 999)]) == (8 * 150 + 500, 0)
    assert time_left(finished + [entry("styleinv", "trained", 12, 12, 999)]) == (500, 0)
    assert time_left(finished + [entry("styleinv", "stale", 6, 12, 0)]) == (12 * 150 + 500, 0)  # starts afresh
    # a kind with no finished row cannot be priced, however far its own run got
    assert time_left(finished + [entry("autoregressive", "training", 1, 3, 100)]) == (0, 1)
    assert time_left(finished) == (0, 0)


def test_the_probe_report_judges_each_probe_quantity_over_training_seeds():
    """The claims without a paper number: a row far below the full model's first-frame PSNR over three seeds is
    called lower; identity shares that overlap are within noise; rows without probe metrics (sky) are left out."""
    from styleinv_lib.experiments import PROBE_QUANTITIES, probe_markdown, probe_report

    def row(name, seed, psnr, share):
        return {"experiment": name, "profile": "cpu", "seed": seed, "first_frame": {"psnr": psnr},
                "identity_preservation": {"share@128": share, "share@1024": share}}

    rows = [row("full", 0, 50.0, 0.90), row("full", 1, 49.0, 0.95), row("full", 2, 51.0, 0.85),
            row("no_ffa_d_no_l2", 0, 35.0, 0.92), row("no_ffa_d_no_l2", 1, 34.0, 0.88),
            row("no_ffa_d_no_l2", 2, 36.0, 0.90),
            {"experiment": "static", "profile": "cpu", "seed": 0, "probe_metrics": "skipped: sky"}]
    seeded = rows_by_seed(rows, "cpu")
    names = ["no_ffa_d_no_l2", "full", "static"]
    rep = probe_report(seeded, names)
    assert set(rep) == {"first-frame PSNR (dB)", "identity share @128", "identity share @1024"} < set(PROBE_QUANTITIES)
    psnr = rep["first-frame PSNR (dB)"]
    assert psnr["differences"]["no_ffa_d_no_l2"]["verdict"] == "lower" and "static" not in psnr["rows"]
    assert psnr["rows"]["full"] == {"mean": 50.0, "std": 1.0, "n": 3}
    assert rep["identity share @128"]["differences"]["no_ffa_d_no_l2"]["verdict"] == "within noise"
    text = probe_markdown(rep, names)
    assert "| `full` | 50 ± 1 (3) |" in text and "| `static` | — | — | — |" in text and "**lower**" in text
    # three tests: the PSNR gap (p < 0.001) clears 0.05 / 3, the overlapping shares do not pass at all
    assert "p < 0.001: **lower** (holds over the family)" in text and text.count("holds over the family") == 2
    assert "3 tests at α = 0.05" in text and "p ≤ 0.017 (Bonferroni, α / 3)" in text
    assert probe_report(seeded, ["static"], reference="static") == {}


def test_the_report_compares_each_row_with_the_paper_numbers_it_recorded():
    """Sky rows record Table 1's SkyTimelapse numbers (dataset_setup); the report compares with those, not with the
    experiment's DeeperForensics defaults, and rows that recorded none fall back to the defaults."""
    from styleinv_lib.experiments import TABLE1, experiment_report, report_markdown

    protocol = {"num_clips": 64, "seed": 0}
    seeded = rows_by_seed(_seeded_rows({"full": [50.0, 52.0], "autoregressive": [80.0, 90.0]}, protocol), "cpu")
    for name in TABLE1:
        for row in seeded[name].values():
            row.update(paper=PAPER_TABLE1["SkyTimelapse"][name], paper_row=f"Table 1 {name} (SkyTimelapse)")
    rep = experiment_report(seeded, TABLE1, ["fvd128"])["fvd128"]
    sky = PAPER_TABLE1["SkyTimelapse"]
    assert rep["gaps"]["autoregressive"]["paper_gap"] == pytest.approx(
        sky["autoregressive"]["fvd128"] - sky["full"]["fvd128"])
    text = report_markdown({"fvd128": rep}, TABLE1)
    assert "| `full` | Table 1 full (SkyTimelapse) | 51.0 ± 1.4 (2) | 194.25 |" in text
    assert "Kendall" not in text            # two rows: τ would only repeat the sign of the one gap
    for row in seeded["full"].values():
        row.pop("paper")
    rep = experiment_report(seeded, TABLE1, ["fvd128"])["fvd128"]
    assert rep["paper"]["full"]["value"] == EXPERIMENTS["full"].paper["fvd128"]


def test_a_run_from_before_still_start_is_set_aside_only_without_the_encoder(assets, tmp_path):
    """Runs recorded before ``still_start`` existed trained the official start (w_t = w0 + s_t without the encoder):
    such a "w/o inversion encoder" run is not resumed as a still-start one; the other variants are unaffected."""
    from dataclasses import asdict

    from styleinv_lib.experiments import _set_aside_stale_run

    paths = dict(data=assets / "data", generator=assets / "G.safetensors", encoder=assets / "E.safetensors")
    for name, aside in (("full", False), ("no_encoder", True)):
        cfg = experiment_config(EXPERIMENTS[name], "smoke", **paths)
        run = tmp_path / name
        run.mkdir()
        old = {k: v for k, v in json.loads(json.dumps(asdict(cfg))).items() if k != "still_start"}
        (run / "config.json").write_text(json.dumps(old))
        assert (_set_aside_stale_run(run, cfg) is not None) == aside, name


def test_sky_rows_take_the_official_sky_configuration_and_the_skytimelapse_numbers(assets, tmp_path):
    from styleinv_lib.experiments import SKY_SETTINGS, dataset_setup

    sky = tmp_path / "synthsky"
    sky.mkdir()
    (sky / "metadata.json").write_text(json.dumps({"dataset": "SynthSky"}))
    settings, row, paper = dataset_setup(EXPERIMENTS["full"], sky)
    assert settings == {"anchor_spacing": 128, "min_period": 32.0, "max_period": 1024.0} == SKY_SETTINGS
    assert paper == PAPER_TABLE1["SkyTimelapse"]["full"] and "SkyTimelapse" in row
    settings, row, paper = dataset_setup(EXPERIMENTS["autoregressive"], sky)
    assert settings == {} and paper == PAPER_TABLE1["SkyTimelapse"]["autoregressive"]
    assert dataset_setup(EXPERIMENTS["ape"], sky)[2] == {}          # Table 3 has no SkyTimelapse numbers
    faces = dataset_setup(EXPERIMENTS["full"], assets / "data")
    assert faces == ({}, EXPERIMENTS["full"].paper_row, EXPERIMENTS["full"].paper)
    cfg = experiment_config(EXPERIMENTS["full"], "smoke", data=sky, generator="G", encoder="E", **settings)
    assert (cfg.anchor_spacing, cfg.min_period, cfg.max_period) == (16, None, None)     # settings {} for baseline
    cfg = experiment_config(EXPERIMENTS["full"], "smoke", data=sky, generator="G", encoder="E", **SKY_SETTINGS)
    assert (cfg.anchor_spacing, cfg.min_period, cfg.max_period) == (128, 32.0, 1024.0)


def test_exporting_rows_keeps_the_committed_ones(tmp_path, monkeypatch):
    """``benchmarks/export_experiments.py --partial`` from a root that holds only some rows (a fresh checkout, or
    ``--names`` naming a few) keeps every row the committed file already has; the root's row of the same experiment
    and seed replaces the committed one and records this machine."""
    import runpy
    import sys
    from pathlib import Path

    from styleinv_lib.experiments import RESULTS_FILE

    def row(name, seed, key, hardware=None):
        r = {"experiment": name, "profile": "cpu", "seed": seed, "config_hash": key, "run": f"/x/{name}-cpu",
             "protocol": {"metrics": {"fid": 1.0}}}
        return {**r, "hardware": hardware} if hardware else r

    out, root = tmp_path / "checkpoints", tmp_path / "runs"
    out.mkdir(), root.mkdir()
    committed = out / "experiments_v2_cpu.jsonl"
    committed.write_text("".join(json.dumps(r) + "\n" for r in (
        row("no_encoder", 0, "old", "elsewhere"), row("no_encoder", 1, "a", "elsewhere"),
        row("no_ffa_d", 0, "b", "elsewhere"))))
    (root / RESULTS_FILE).write_text("".join(json.dumps(r) + "\n" for r in (
        row("no_encoder", 0, "new"), row("static", 0, "c"))))
    script = Path(__file__).resolve().parents[1] / "benchmarks" / "export_experiments.py"
    monkeypatch.setattr(sys, "argv", ["export", "--root", str(root), "--out", str(out), "--tag", "v2", "--partial",
                                      "--names", "no_encoder,static"])
    runpy.run_path(str(script), run_name="__main__")
    rows = {(r["experiment"], r["seed"]): r for r in map(json.loads, committed.read_text().splitlines())}
    assert set(rows) == {("no_encoder", 0), ("no_encoder", 1), ("static", 0), ("no_ffa_d", 0)}
    assert rows["no_encoder", 0]["config_hash"] == "new" and rows["no_encoder", 0]["run"] == "no_encoder-cpu"
    assert rows["no_encoder", 0]["hardware"] != "elsewhere" and rows["static", 0]["hardware"] != "elsewhere"
    assert rows["no_encoder", 1]["hardware"] == rows["no_ffa_d", 0]["hardware"] == "elsewhere"
    assert rows["no_ffa_d", 0]["run"] == "/x/no_ffa_d-cpu"          # a kept row is written back unchanged


def test_moving_the_inputs_of_committed_rows_rehashes_them(tmp_path):
    """``benchmarks/relocate_recorded_paths.py --results``: the rows' hashes follow their generator and encoder to
    new paths (and back, unchanged), every rehashed row is one the runner finds finished with the new paths, and old
    paths that do not reproduce a row's hash are refused rather than rewritten."""
    import runpy
    import shutil
    from pathlib import Path

    from styleinv_lib.experiments import config_hash

    script = Path(__file__).resolve().parents[1] / "benchmarks" / "relocate_recorded_paths.py"
    rehash_results = runpy.run_path(str(script))["rehash_results"]
    committed = Path(__file__).resolve().parents[1] / "checkpoints" / "experiments_v2_cpu.jsonl"
    path = tmp_path / committed.name
    shutil.copy(committed, path)
    paths = dict(generator="checkpoints/stylegan2_synthfaces32_v2_g900_cpu.safetensors",
                 encoder="checkpoints/encoder_synthfaces32_v2_g900_cpu.safetensors")
    mapping = rehash_results(path, data="data/synthfaces", **paths, old="_g900_", new="_moved_")
    assert len(mapping) == len(set(mapping.values())) >= 20 and all(a != b for a, b in mapping.items())
    moved = [json.loads(line) for line in path.read_text().splitlines()]
    for r in moved:
        exp = EXPERIMENTS[r["experiment"]]
        if exp.kind in REFERENCE_KINDS:
            continue
        cfg = experiment_config(exp, "cpu", data="data/synthfaces", device="auto", seed=r["seed"],
                                **{k: v.replace("_g900_", "_moved_") for k, v in paths.items()})
        assert config_hash(cfg) == r["config_hash"]
    rehash_results(path, data="data/synthfaces", **{k: v.replace("_g900_", "_moved_") for k, v in paths.items()},
                   old="_moved_", new="_g900_")
    assert path.read_text() == committed.read_text()
    with pytest.raises(ValueError, match="old paths give"):
        rehash_results(path, data="data/synthfaces", generator="G.safetensors", encoder=paths["encoder"], old="G",
                       new="H")
    assert path.read_text() == committed.read_text()
