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
