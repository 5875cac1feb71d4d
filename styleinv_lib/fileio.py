"""Crash-safe small-file writes shared by the dataset exporter and the training checkpoints."""
from __future__ import annotations

import os
import shutil
from pathlib import Path


def fsync_path(path: Path, directory: bool = False) -> None:
    """Flush a file (or a directory entry) to disk; a no-op where the platform cannot open it."""
    try:
        fd = os.open(path, os.O_RDONLY if directory else os.O_RDWR)
    except OSError:
        return  # directories cannot be opened on Windows; fsync of the file itself already happened
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def _replace_synced(tmp: Path, path: Path) -> None:
    fsync_path(tmp)
    os.replace(tmp, path)
    fsync_path(path.parent, directory=True)


def atomic_write_text(path: str | os.PathLike, text: str) -> None:
    """Write a text file atomically: temp file, fsync, rename, so a crash never leaves half a file."""
    path = Path(path)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(text, encoding="utf-8")
    _replace_synced(tmp, path)


def atomic_copy(source: str | os.PathLike, path: str | os.PathLike) -> None:
    """Copy ``source`` to ``path`` atomically (temp file, fsync, rename), like :func:`atomic_write_text`."""
    path = Path(path)
    tmp = path.with_name(path.name + ".tmp")
    shutil.copyfile(source, tmp)
    _replace_synced(tmp, path)
