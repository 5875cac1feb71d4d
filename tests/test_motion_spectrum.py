"""metrics.groundtruth.motion_spectrum: a factor's swing, speed, accel and the period band its variance lies in."""
from __future__ import annotations

import numpy as np
import pytest

from styleinv_lib.metrics.groundtruth import motion_spectrum


@pytest.fixture(scope="module")
def summary():
    return motion_spectrum


def test_a_swing_lands_in_the_band_of_its_period(summary):
    t = np.arange(128)
    syllables = summary(0.3 * np.sin(2 * np.pi * t / 6 + np.arange(4)[:, None]))      # 4 videos, period 6 frames
    assert syllables["power"]["4-8 frames"] > 0.9 and syllables["power"]["over 32 frames"] < 0.02
    assert syllables["std"] == pytest.approx(0.3 / np.sqrt(2), rel=0.05)
    turn = summary(0.3 * np.sin(2 * np.pi * t / 64)[None])
    assert turn["power"]["over 32 frames"] > 0.9
    assert turn["accel"] < 0.15 * turn["speed"]                        # smooth: accel ≈ speed × 2π/64
    tremor = summary(0.01 * (-1.0) ** t[None])
    assert tremor["power"]["2-4 frames"] == pytest.approx(1.0) and tremor["accel"] == pytest.approx(2 * tremor["speed"])
    assert sum(syllables["power"].values()) == pytest.approx(1.0)


def test_it_refuses_what_it_cannot_read(summary):
    with pytest.raises(ValueError, match="T >= 8"):
        summary(np.zeros((2, 5)))
    assert summary(np.zeros((2, 16)))["std"] == 0.0                   # a still factor: no band, no division by zero
