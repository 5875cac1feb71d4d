"""benchmarks/run_time.py: a run's logged wall time split into steps, evaluations, snapshots and stalls."""
from __future__ import annotations

import json
import runpy
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[1] / "benchmarks" / "run_time.py"


@pytest.fixture(scope="module")
def run_time():
    return runpy.run_path(str(SCRIPT))


def synthetic_stats(steps: int = 1500, every: int = 10, step_s: float = 0.5, batch: int = 8, eval_kimg: float = 3.0,
                    eval_s: float = 9.0, snap_kimg: float = 1.0, snap_s: float = 1.0, stall=(100, 30.0)):
    """Rows every ``every`` steps of a run whose steps take ``step_s``, with known extra costs."""
    t, rows = 1000.0, [{"step": every, "time": 1000.0}]
    for b in range(2 * every, steps + 1, every):
        a = b - every
        t += every * step_s
        if int(b * batch // (eval_kimg * 1000)) > int(a * batch // (eval_kimg * 1000)):
            t += eval_s
        elif int(b * batch // (snap_kimg * 1000)) > int(a * batch // (snap_kimg * 1000)):
            t += snap_s
        if b == stall[0]:
            t += stall[1]
        rows.append({"step": b, "time": t})
    return rows


def test_the_split_recovers_known_costs(run_time):
    out = run_time["split_run_time"](synthetic_stats(), batch=8, metrics_kimg=3.0, snapshot_kimg=1.0)
    # 1,500 steps of 8 images: 12 kimg, evaluations at 3, 6, 9, 12 kimg, snapshots at the 8 other kimg
    assert out["median_step_s"] == 0.5 and out["steps"] == 1490
    assert out["evaluations"] == {"min": pytest.approx(4 * 9 / 60, abs=0.01), "intervals": 4}
    assert out["snapshots"] == {"min": pytest.approx(8 * 1 / 60, abs=0.01), "intervals": 8}
    assert out["stalls"]["min"] == pytest.approx(30 / 60, abs=0.01)
    total = out["steps_min"] + out["evaluations"]["min"] + out["snapshots"]["min"] + out["stalls"]["min"]
    assert total == pytest.approx(out["span_min"], abs=0.02)


def test_a_shared_start_is_reported_apart(run_time):
    rows = synthetic_stats(stall=(0, 0.0))
    for r in rows:                                           # the first 200 s ran at twice the step time
        r["time"] += min(r["time"] - 1000.0, 200.0)
    out = run_time["split_run_time"](rows, batch=8, metrics_kimg=3.0, snapshot_kimg=1.0, quiet_after_s=400)
    assert out["median_step_s"] == 0.5                       # from the quiet part only
    # 200 s lost; an interval's slowdown counts for its class: the first 200 s held two snapshot intervals (5 s of
    # steps + 1 s of saving, each 6 s longer) and one evaluation interval (5 + 9 s, 14 s longer)
    assert out["snapshots"]["min_before_quiet"] == pytest.approx(2 * (1 + 6) / 60, abs=0.01)
    assert out["evaluations"]["min_before_quiet"] == pytest.approx((9 + 14) / 60, abs=0.01)
    assert out["stalls"]["min_before_quiet"] == pytest.approx((200 - 2 * 6 - 14) / 60, abs=0.01)
    with pytest.raises(ValueError, match="quiet"):
        run_time["split_run_time"](rows, batch=8, metrics_kimg=3.0, snapshot_kimg=1.0, quiet_after_s=1e6)


def test_the_command_names_a_missing_log(run_time, tmp_path):
    (tmp_path / "config.json").write_text(json.dumps({"batch": 8}))
    with pytest.raises(SystemExit, match="stats.jsonl: missing"):
        run_time["main"]([str(tmp_path)])
