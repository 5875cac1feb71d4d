"""benchmarks/styleinv_recipe.py: a row names what its run changed from the preset, and only what changes training."""
from __future__ import annotations

import runpy
from pathlib import Path

SCRIPT = Path(__file__).resolve().parents[1] / "benchmarks" / "styleinv_recipe.py"


def test_a_row_leaves_out_the_shape_of_a_penalty_that_was_off():
    changed_settings = runpy.run_path(str(SCRIPT))["changed_settings"]
    preset = {"lambda_uneven": 1.0, "uneven_frames": 8, "uneven_tolerance": 2.0, "lambda_frame_leap": 50.0,
              "frame_leap_tolerance": 1.5, "frame_leap_kimg": 36.0, "lr": 5e-4, "data": "a"}
    paper = {**preset, "lambda_uneven": 0.0, "uneven_frames": 4, "uneven_tolerance": 0.0, "lambda_frame_leap": 0.0,
             "frame_leap_kimg": 0.0, "data": "b"}
    assert changed_settings(paper, preset) == {"lambda_uneven": 0.0, "lambda_frame_leap": 0.0}
    # the window both penalties read matters while either is on; a penalty that is on shows its whole shape
    frames_only = {**paper, "lambda_frame_leap": 50.0, "frame_leap_kimg": 0.0}
    assert changed_settings(frames_only, preset) == {"lambda_uneven": 0.0, "uneven_frames": 4, "frame_leap_kimg": 0.0}
    assert changed_settings({**preset, "lr": 1e-4, "uneven_tolerance": 3.0}, preset) == {"lr": 1e-4,
                                                                                         "uneven_tolerance": 3.0}
    assert changed_settings(preset, preset) == {}


def _row(name, kimgs):
    evals = [{"kimg": k, "latent_distance": k / 10, "motion_ratio/mouth_speed": k / 100, "max_jump_ratio": 2.0}
             for k in kimgs]
    return {"run": name, "changed": {}, "note": "", "evaluations": evals}


def test_the_table_compares_runs_at_the_same_kimg_and_says_which(tmp_path):
    script = runpy.run_path(str(SCRIPT))
    rows = [_row("long", [30.0, 45.0]), _row("short", [12.0])]
    last, capped = script["table"](rows), script["table"](rows, at=42)
    assert "| long | (preset) |  | 45.0 |" in last and "Each run at its last evaluation." in last
    assert "| long | (preset) |  | 30.0 |" in capped and "up to 42 kimg" in capped
    assert "| short | (preset) |  | 12.0 |" in capped
    assert "0.30" in capped.splitlines()[2].split("|")[9]      # mouth speed ratio of the 30-kimg evaluation
    script["plot"](rows, tmp_path / "curves.png", highlight="long")
    assert (tmp_path / "curves.png").stat().st_size > 10_000
