"""metrics.groundtruth.motion_spectrum: a factor's swing, speed, accel and the period band its variance lies in."""
from __future__ import annotations

import numpy as np
import pytest

from styleinv_lib.metrics.groundtruth import motion_spectrum


def test_a_swing_lands_in_the_band_of_its_period():
    t = np.arange(128)
    # 4 videos, period 6 frames
    syllables = motion_spectrum(0.3 * np.sin(2 * np.pi * t / 6 + np.arange(4)[:, None]))
    assert syllables["power"]["4-8 frames"] > 0.9 and syllables["power"]["over 32 frames"] < 0.02
    assert syllables["std"] == pytest.approx(0.3 / np.sqrt(2), rel=0.05)
    turn = motion_spectrum(0.3 * np.sin(2 * np.pi * t / 64)[None])
    assert turn["power"]["over 32 frames"] > 0.9
    assert turn["accel"] < 0.15 * turn["speed"]                        # smooth: accel ≈ speed × 2π/64
    tremor = motion_spectrum(0.01 * (-1.0) ** t[None])
    assert tremor["power"]["2-4 frames"] == pytest.approx(1.0)
    assert tremor["accel"] == pytest.approx(2 * tremor["speed"])
    noise = motion_spectrum(np.random.default_rng(0).normal(size=(16, 512)))
    assert noise["accel"] / noise["speed"] == pytest.approx(np.sqrt(3), rel=0.05)
    assert sum(syllables["power"].values()) == pytest.approx(1.0)


def test_it_refuses_what_it_cannot_read():
    with pytest.raises(ValueError, match="T >= 8"):
        motion_spectrum(np.zeros((2, 5)))
    assert motion_spectrum(np.zeros((2, 16)))["std"] == 0.0       # a still factor: no band, no division by zero
