"""Decoded frames kept in memory, so that later epochs do not decode and resize them again.

A cpu-profile StyleGAN2 run reads every SynthFaces frame about five times, and decoding a 64² PNG and resizing it to
32² takes about as long as 5 % of its training step (0.7 ms a frame); a style fine-tune reads each of its 400 images
dozens of times.  :class:`FrameCache` holds the uint8 arrays a dataset has already made, up to a byte budget; what
comes once it is full is decoded every time.  Reading through it returns the same bytes as decoding, so training is
bit-for-bit the same with or without it.
"""
from __future__ import annotations

from typing import Hashable

import numpy as np

__all__ = ["FrameCache"]


class FrameCache:
    """Arrays by key, up to ``megabytes`` MiB in total (0 keeps nothing).  A copy sent to another process (pickled
    with its dataset, e.g. to a DataLoader worker) starts empty."""

    def __init__(self, megabytes: float = 0.0):
        if not megabytes >= 0:
            raise ValueError(f"cache_mb must be >= 0 (MiB of decoded frames kept in memory), got {megabytes!r}")
        self.budget = int(megabytes * 2**20)
        self.nbytes = 0
        self._arrays: dict[Hashable, np.ndarray] = {}

    def __len__(self) -> int:
        return len(self._arrays)

    def __contains__(self, key: Hashable) -> bool:
        return key in self._arrays

    def get(self, key: Hashable) -> np.ndarray | None:
        return self._arrays.get(key)

    def has_room(self, nbytes: int) -> bool:
        return self.nbytes + nbytes <= self.budget

    def put(self, key: Hashable, array: np.ndarray) -> bool:
        """Keep a private copy of ``array`` if it fits in the budget; whether it was kept."""
        if key in self._arrays:
            return True
        if not self.has_room(array.nbytes):
            return False
        self._arrays[key] = np.array(array, copy=True, order="C")
        self.nbytes += array.nbytes
        return True

    def __getstate__(self):
        return {"budget": self.budget, "nbytes": 0, "_arrays": {}}
