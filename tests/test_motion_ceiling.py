"""benchmarks/motion_ceiling.py: the blurred real frames that check the probe's reading of degraded faces."""
from __future__ import annotations

import runpy
from pathlib import Path

import pytest
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


def test_nearest_per_target_takes_the_closest_values_nearest_first():
    nearest = runpy.run_path(str(SCRIPT))["nearest_per_target"]
    values = [0.50, -0.30, 0.05, -0.02, 0.45, 0.10]
    idx = nearest(values, [-0.3, 0.0, 0.48], 2)
    assert idx.shape == (3, 2)
    assert list(idx[0]) == [1, 3] and list(idx[1]) == [3, 2] and list(idx[2]) == [0, 4]


def test_the_yaw_figure_reports_what_it_draws(tmp_path):
    from types import SimpleNamespace

    import numpy as np

    from styleinv_lib.metrics.probe import load_probe
    from styleinv_lib.nn.stylegan2 import Generator
    from styleinv_lib.pixels import to_uint8

    torch.manual_seed(0)
    G = Generator(z_dim=16, w_dim=16, img_resolution=32, mapping_kwargs={"num_layers": 1},
                  synthesis_kwargs={"channel_base": 64, "channel_max": 8}).eval()
    probe = load_probe(version=2)
    with torch.no_grad():
        real = to_uint8(G(torch.randn(12, 16), noise_mode="const"))
    real_yaw = np.linspace(-0.5, 0.5, 12)
    args = SimpleNamespace(seed=3, figure_samples=30, figure_columns=4, figure=tmp_path / "yaw.png")
    out = runpy.run_path(str(SCRIPT))["yaw_figure"](G, probe, real, real_yaw, args)
    assert (tmp_path / "yaw.png").stat().st_size > 0
    targets = np.array(out["targets"])
    assert len(targets) == 4 and np.allclose(targets[[0, -1]], np.percentile(real_yaw, [3, 97]), atol=1e-3)
    for t, real_read, (first, second) in zip(targets, out["real_read"], out["G_read"]):
        assert abs(real_read - t) <= 0.05 + 1e-3                # real readings 0.09 apart: one lies within half a step
        assert abs(first - t) <= abs(second - t) + 1e-3          # nearest first
    assert out["share_beyond_real_5_95"]["real"] == pytest.approx(2 / 12, abs=1e-4)
