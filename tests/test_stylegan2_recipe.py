"""benchmarks/stylegan2_recipe.py: runs timed side by side, converted into the budget at the reference's speed."""
from __future__ import annotations

import json
import runpy
from dataclasses import asdict
from pathlib import Path

import pytest

from styleinv_lib.train.stylegan2 import config_for_profile

SCRIPT = Path(__file__).resolve().parents[1] / "benchmarks" / "stylegan2_recipe.py"


def make_run(folder: Path, changes: dict, speeds, fids: dict) -> Path:
    folder.mkdir(parents=True)
    config = {"stage": "stylegan2", **asdict(config_for_profile("cpu")), "data": str(folder / "data"),
              "total_kimg": 400.0, "metrics_kimg": 25.0, **changes}
    (folder / "config.json").write_text(json.dumps(config))
    (folder / "stats.jsonl").write_text("".join(json.dumps({"kimg": i, "img_per_s": s}) + "\n"
                                                for i, s in enumerate(speeds)))
    (folder / "metrics.jsonl").write_text("".join(json.dumps({"kimg": k, "fid": f}) + "\n" for k, f in fids.items()))
    return folder


@pytest.fixture()
def inputs(tmp_path):
    floor = tmp_path / "floor.json"
    floor.write_text(json.dumps({"fid_mean": 25.0}))
    speed = tmp_path / "speed.json"
    speed.write_text(json.dumps({"machine": {"cpu": "Test CPU"}, "rows": [
        {"stage": "stylegan2", "config": "cpu", "mode": "bf16+compile", "images_per_s": 100.0}]}))
    # the first logged speed includes compiling and is left out of the median
    base = make_run(tmp_path / "base", {}, [1.0, 60.0, 50.0, 40.0], {100: 150.0, 200: 100.0, 400: 60.0})
    # fast-lr went on alone after its third logged window (kimg 2), faster: that part is not timed beside base
    fast = make_run(tmp_path / "fast-lr", {"lr": 0.01}, [1.0, 25.0, 25.0, 90.0, 90.0], {100.008: 120.0, 200: 40.0})
    return tmp_path, floor, speed, base, fast


def test_minutes_follow_the_speed_measured_beside_the_reference(inputs):
    tmp_path, floor, speed, base, fast = inputs
    out = tmp_path / "recipe"
    runpy.run_path(str(SCRIPT))["main"]([str(base), str(fast), "--floor", str(floor), "--speed", str(speed),
                                         "--out", str(out), "--timed-until", "fast-lr=2"])
    result = json.loads(out.with_suffix(".json").read_text())
    assert result["reference"] == "base" and result["target"] == 50.0
    assert result["command"].endswith("--timed-until fast-lr=2") and result["what"].startswith("The runs of one")
    rows = {r["run"]: r for r in result["runs"]}
    assert rows["base"]["changed"] == {} and rows["fast-lr"]["changed"] == {"lr": 0.01}
    assert rows["base"]["images_per_s_beside"] == 50.0 and rows["fast-lr"]["relative_speed"] == 0.5
    assert rows["base"]["kimg_in_budget"] == 360.0 and rows["fast-lr"]["kimg_in_budget"] == 180.0
    assert rows["base"]["fid_at_budget"] == 68.0                  # between 100 @ 200 and 60 @ 400
    assert rows["fast-lr"]["fid_at_budget"] == 56.0               # between 120 @ 100 and 40 @ 200
    assert rows["base"]["minutes_to_target"] is None              # never at or below 50
    assert rows["fast-lr"]["minutes_to_target"] == pytest.approx(200_000 / 50 / 60, abs=0.05)
    table = out.with_suffix(".md").read_text()
    row = next(line for line in table.splitlines() if line.startswith("| fast-lr "))
    cells = [c.strip() for c in row.split("|")[1:-1]]
    # FID@50 blank, FID@100 the reading logged at 100.008 kimg
    assert cells[:7] == ["fast-lr", "lr=0.01", "", "0.50", "50 estimated", "", "120.0"]
    assert "target (2x) 50.0" in table
    assert out.with_suffix(".png").stat().st_size > 10_000


def test_appending_keeps_earlier_runs_and_needs_the_reference(inputs):
    tmp_path, floor, speed, base, fast = inputs
    out = tmp_path / "recipe"
    main = runpy.run_path(str(SCRIPT))["main"]
    common = ["--floor", str(floor), "--speed", str(speed), "--out", str(out)]
    main([str(base), *common])
    main([str(fast), "--append", "--note", "fast-lr=beside base", "--timed-until", "fast-lr=2", *common])
    rows = {r["run"]: r for r in json.loads(out.with_suffix(".json").read_text())["runs"]}
    assert set(rows) == {"base", "fast-lr"} and rows["fast-lr"]["note"] == "beside base"
    assert rows["base"]["fid_at_budget"] == 68.0                  # kimg keys survive the JSON round trip
    # a speed measured with two threads replaces the estimate from the speed beside the reference
    main([str(fast), "--append", "--measured-speed", "fast-lr=25", *common])
    rows = {r["run"]: r for r in json.loads(out.with_suffix(".json").read_text())["runs"]}
    assert rows["fast-lr"]["images_per_s_budget"] == 25.0 and rows["fast-lr"]["kimg_in_budget"] == 90.0
    assert rows["fast-lr"]["fid_at_budget"] is None               # before its first reading
    assert "| 25 measured |" in out.with_suffix(".md").read_text()
    # the reference's speed measured in a training run replaces train_speed.py's step speed
    main([str(base), "--append", "--reference-speed", "50", *common])
    result = json.loads(out.with_suffix(".json").read_text())
    rows = {r["run"]: r for r in result["runs"]}
    assert result["reference_speed"]["source"] == "measured in a training run"
    assert rows["base"]["kimg_in_budget"] == 180.0 and rows["fast-lr"]["kimg_in_budget"] == 90.0
    with pytest.raises(SystemExit, match="reference run 'nobody'"):
        main([str(fast), "--reference", "nobody", *common])


def test_rows_compared_with_the_search_start_once_the_preset_has_moved(inputs):
    """--compare-with: a search found before the preset changed still names what each run changed from where the
    search started, not from the preset it led to."""
    tmp_path, floor, speed, base, fast = inputs
    start = {**json.loads((base / "config.json").read_text()), "lr": 0.0025, "batch": 16}
    for run, lr in ((base, 0.0025), (fast, 0.01)):              # both trained at the start's batch
        config = json.loads((run / "config.json").read_text())
        (run / "config.json").write_text(json.dumps({**config, "lr": lr, "batch": 16}))
    (tmp_path / "start.json").write_text(json.dumps(start))
    out = tmp_path / "recipe"
    main = runpy.run_path(str(SCRIPT))["main"]
    common = ["--floor", str(floor), "--speed", str(speed), "--out", str(out), "--reference", "base"]
    main([str(base), str(fast), *common])                          # against today's preset both runs changed
    rows = {r["run"]: r for r in json.loads(out.with_suffix(".json").read_text())["runs"]}
    assert rows["base"]["changed"] == {"batch": 16, "lr": 0.0025}
    main([str(base), str(fast), "--compare-with", str(tmp_path / "start.json"), *common])
    result = json.loads(out.with_suffix(".json").read_text())
    rows = {r["run"]: r for r in result["runs"]}
    assert rows["base"]["changed"] == {} and rows["fast-lr"]["changed"] == {"lr": 0.01}
    assert result["reference"] == "base" and result["compared_with"] == str(tmp_path / "start.json")
