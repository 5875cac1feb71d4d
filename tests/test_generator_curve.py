"""benchmarks/generator_curve.py: the generator's FID history, read against its target and the time budget."""
from __future__ import annotations

import json
import runpy
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[1] / "benchmarks" / "generator_curve.py"


@pytest.fixture(scope="module")
def curve():
    return runpy.run_path(str(SCRIPT))


def write_jsonl(path: Path, rows) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


def test_a_continued_run_replaces_its_parents_readings(curve, tmp_path):
    parent = write_jsonl(tmp_path / "a.jsonl", [{"kimg": 100, "fid": 90.0}, {"kimg": 200, "fid": 80.0}])
    child = write_jsonl(tmp_path / "b.jsonl", [{"kimg": 200, "fid": 70.0}, {"kimg": 300, "fid": 60.0},
                                               {"kimg": 300, "identity": 1.0}])
    assert curve["merged_history"]([parent, child]) == {100.0: 90.0, 200.0: 70.0, 300.0: 60.0}


def test_fid_between_readings_is_interpolated_and_nothing_is_invented_outside(curve):
    history = {100.0: 90.0, 200.0: 70.0, 400.0: 50.0}
    assert curve["fid_at"](history, 150.0) == pytest.approx(80.0)
    assert curve["fid_at"](history, 300.0) == pytest.approx(60.0)
    assert curve["fid_at"](history, 100.0) == 90.0 and curve["fid_at"](history, 400.0) == 50.0
    assert curve["fid_at"](history, 50.0) is None and curve["fid_at"](history, 401.0) is None
    assert curve["first_kimg_at_or_below"](history, 70.0) == 200.0
    assert curve["first_kimg_at_or_below"](history, 10.0) is None


def test_the_budget_is_converted_at_the_measured_step_speed(curve, tmp_path):
    metrics = write_jsonl(tmp_path / "m.jsonl", [{"kimg": 0, "fid": 200.0}, {"kimg": 720, "fid": 40.0}])
    floor = tmp_path / "floor.json"
    floor.write_text(json.dumps({"fid_mean": 25.0}))
    speed = tmp_path / "speed.json"
    speed.write_text(json.dumps({"machine": {"cpu": "Test CPU"}, "rows": [
        {"stage": "stylegan2", "config": "cpu", "mode": "bf16+compile", "images_per_s": 100.0},
        {"stage": "stylegan2", "config": "wide", "mode": "bf16+compile", "images_per_s": 10.0},
        {"stage": "encoder", "config": "cpu", "mode": "bf16+compile", "images_per_s": 1000.0}]}))
    out = tmp_path / "curve.json"
    curve["main"](["--metrics", str(metrics), "--floor", str(floor), "--speed", str(speed), "--out", str(out)])
    result = json.loads(out.read_text())
    (m,) = result["machines"]
    assert m["kimg_in_budget"] == 360.0                       # 100 img/s for 60 minutes
    assert m["fid_at_budget"] == 120.0                        # halfway from 200 to 40
    assert m["fid_at_budget_over_floor"] == 4.8
    assert result["target"] == 50.0 and result["first_kimg_at_target"] == 720.0
    assert m["hours_to_target"] == 2.0                        # 720 kimg at 100 img/s
    assert "runs" not in result and out.with_suffix(".png").stat().st_size > 0
