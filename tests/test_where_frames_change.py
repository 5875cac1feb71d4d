"""benchmarks/where_frames_change.py: the frame-step statistics that split a video's change into face and
surroundings (chapter 6, §6.5, the flicker of the cpu model)."""
from __future__ import annotations

import runpy
from pathlib import Path

import torch

SCRIPT = Path(__file__).resolve().parents[1] / "benchmarks" / "where_frames_change.py"


def test_change_is_split_between_the_centre_and_its_surroundings():
    change_summary = runpy.run_path(str(SCRIPT))["change_summary"]
    torch.manual_seed(0)
    still = torch.rand(1, 1, 3, 32, 32, dtype=torch.float64).expand(2, 9, 3, 32, 32).clone()
    face = still.clone()
    face[:, 1::2, :, 8:24, 8:24] += 0.1             # the middle half blinks every other frame
    around = still.clone()
    around[:, 1::2, :, :4] += 0.1                    # a strip at the top flickers
    light = still + 0.05 * torch.arange(9.0)[None, :, None, None, None]  # the whole frame brightens steadily
    f, a, li = change_summary(face), change_summary(around), change_summary(light)
    assert abs(f["surround_step"]) < 1e-12 and abs(f["centre_step"] - 0.1) < 1e-6 and f["colour_shift"] > 0
    assert a["centre_step"] == 0 and a["surround_step"] > 0
    assert abs(li["colour_shift"] - 0.05) < 1e-6 and abs(li["centre_step"] - li["surround_step"]) < 1e-6
    # a steady change has no jumps; one frame that changes alone is a jump the ratio finds
    assert abs(li["jump_ratio_max"] - 1.0) < 1e-5
    cut = still.clone()
    cut[:, 5:] = torch.rand(3, 32, 32, dtype=torch.float64)
    assert change_summary(cut)["jump_ratio_max"] == float("inf")
