"""One writer per run folder: the lock file ``<run_dir>/run.lock``.

Two training commands pointed at the same ``--out`` would interleave their snapshots, logs and ``config.json`` and
delete each other's half-written files.  The run that starts first takes the lock; a second one is refused with a
message that names the holder (pid, host, command, start time), and nothing in the folder is touched.

The lock is an advisory ``flock`` held on ``run.lock`` for the life of the process, so the kernel releases it
when the holder dies, however it dies (``kill -9`` included): a killed run never blocks the next one.  Where
``flock`` does not exist (Windows), the lock is the file's existence (created with ``O_EXCL``) and a lock whose
pid is no longer alive on this host is taken over.  In a distributed run only the writing rank (rank 0) holds it.
"""
from __future__ import annotations

import datetime as _dt
import json
import os
import socket
import sys
from pathlib import Path

try:  # POSIX
    import fcntl
except ImportError:  # pragma: no cover - Windows
    fcntl = None

LOCK_NAME = "run.lock"


class RunFolderLocked(RuntimeError):
    """Another live process is writing to this run folder."""


def _describe_holder(info: dict) -> str:
    parts = [f"pid {info.get('pid', '?')} on {info.get('host', '?')}"]
    if info.get("started"):
        parts.append(f"since {info['started']}")
    if info.get("command"):
        parts.append(f"running `{info['command']}`")
    return ", ".join(parts)


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:       # alive, owned by another user
        return True
    return True


def lock_holder(run_dir: str | os.PathLike) -> dict | None:
    """Who is training in ``run_dir`` now: the holder's record (pid, host, command, start time), or None.

    Read-only, so that asking never disturbs a run that is starting: the record a holder writes into ``run.lock``
    counts while its pid is alive on this host (a holder that exits empties the file; one killed leaves a dead pid).
    A holder on another host cannot be checked from here; its record is returned with ``"unverified": True``."""
    path = Path(run_dir) / LOCK_NAME
    try:
        info = json.loads(path.read_text(encoding="utf-8") or "{}")
    except (OSError, ValueError):
        return None
    pid = info.get("pid")
    if not isinstance(pid, int):
        return None
    if info.get("host") != socket.gethostname():
        return {**info, "unverified": True}
    return info if _pid_alive(pid) else None


class RunLock:
    """Exclusive lock on a run folder; use as a context manager or call :meth:`acquire` / :meth:`release`.

    >>> with RunLock("runs/stylegan2"):            # doctest: +SKIP
    ...     train()
    """

    def __init__(self, run_dir: str | os.PathLike):
        self.run_dir = Path(run_dir)
        self.path = self.run_dir / LOCK_NAME
        self._fd: int | None = None

    @property
    def held(self) -> bool:
        return self._fd is not None

    def _info(self) -> dict:
        return {"pid": os.getpid(), "host": socket.gethostname(),
                "started": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
                "command": " ".join([Path(sys.argv[0]).name, *sys.argv[1:]]) if sys.argv else ""}

    def _read_holder(self) -> dict:
        try:
            return json.loads(self.path.read_text(encoding="utf-8") or "{}")
        except (OSError, ValueError):
            return {}

    def _refuse(self, holder: dict) -> RunFolderLocked:
        return RunFolderLocked(
            f"{self.run_dir} is in use by another training run ({_describe_holder(holder)}). Wait for it to finish, "
            f"stop it (Ctrl-C writes a snapshot; then resume with --resume auto), or choose another --out; "
            "nothing in the folder was changed.")

    def acquire(self) -> "RunLock":
        """Take the lock or raise :class:`RunFolderLocked`; creates the folder if needed."""
        if self._fd is not None:
            return self
        self.run_dir.mkdir(parents=True, exist_ok=True)
        if fcntl is not None:
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError:
                os.close(fd)
                raise self._refuse(self._read_holder()) from None
        else:  # pragma: no cover - Windows
            fd = self._acquire_exclusive_file()
        payload = (json.dumps(self._info()) + "\n").encode("utf-8")
        os.ftruncate(fd, 0)
        os.lseek(fd, 0, os.SEEK_SET)
        os.write(fd, payload)
        os.fsync(fd)
        self._fd = fd
        return self

    def _acquire_exclusive_file(self) -> int:  # pragma: no cover - exercised on Windows only
        for _ in range(2):
            try:
                return os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_EXCL, 0o644)
            except FileExistsError:
                holder = self._read_holder()
                same_host = holder.get("host") == socket.gethostname()
                if not (same_host and isinstance(holder.get("pid"), int) and not _pid_alive(holder["pid"])):
                    raise self._refuse(holder) from None
                self.path.unlink(missing_ok=True)        # a dead run's lock on this host: take it over
        raise self._refuse(self._read_holder())

    def release(self) -> None:
        if self._fd is None:
            return
        fd, self._fd = self._fd, None
        try:
            if fcntl is None:  # pragma: no cover - Windows: the file is the lock
                os.close(fd)
                self.path.unlink(missing_ok=True)
                return
            os.ftruncate(fd, 0)          # a stale file then says nobody holds it; the flock is what counts
        finally:
            if fcntl is not None:
                os.close(fd)             # closing the descriptor releases the flock

    def __enter__(self) -> "RunLock":
        return self.acquire()

    def __exit__(self, *exc) -> None:
        self.release()
