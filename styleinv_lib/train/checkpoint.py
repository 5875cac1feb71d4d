"""Kept for code written against earlier versions: the snapshot format now lives in :mod:`styleinv_lib.checkpoint`,
below both the training stages and :mod:`styleinv_lib.loading`."""
from ..checkpoint import *  # noqa: F401,F403
from ..checkpoint import __all__  # noqa: F401
