"""benchmarks/motion_ceiling.py: the blurred real frames that check the probe's reading of degraded faces."""
from __future__ import annotations

import runpy
from pathlib import Path

import torch

SCRIPT = Path(__file__).resolve().parents[1] / "benchmarks" / "motion_ceiling.py"


def test_the_blur_keeps_flat_images_and_spreads_an_edge_evenly():
    blur = runpy.run_path(str(SCRIPT))["gaussian_blur"]
    flat = torch.full((2, 3, 16, 16), 77, dtype=torch.uint8)
    assert torch.equal(blur(flat, 1.2), flat)
    edge = torch.zeros(1, 3, 16, 16, dtype=torch.uint8)
    edge[..., 8:] = 200
    out = blur(edge, 1.2).float()
    row = out[0, 0, 5]
    assert row[0] == 0 and row[-1] == 200 and 0 < row[7] < 100 < row[8] < 200       # a ramp across the edge
    assert torch.allclose(row[7] + row[8], torch.tensor(200.0), atol=1)              # symmetric about it
    assert torch.equal(out[:, 0], out[:, 1]) and torch.equal(out[0, 0, 0], out[0, 0, 15])  # per channel, per row
