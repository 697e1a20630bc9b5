"""One writer per output: a lock file next to ``OUT`` that holds the writing run's pid.

Two runs writing the same ``--out`` would number their chunks from the same counter and
overwrite each other's parts. :class:`OutputLock` takes an exclusive ``flock`` on ``OUT.lock``
(the lock goes with the process, so a killed run never leaves a stale one) and writes its pid
there, so the second run can say which run holds it.

Example::

    with OutputLock(Path("photos.parquet")):
        ...   # only this process writes photos.parquet and photos.parquet.parts/
"""

from __future__ import annotations

import os
from pathlib import Path
from types import TracebackType

from ..errors import ClipBridgeError

__all__ = ["OutputLock", "OutputLockedError", "lock_path"]

try:
    import fcntl
except ImportError:  # Windows: no flock; runs are not guarded against each other there
    fcntl = None  # type: ignore[assignment]


class OutputLockedError(ClipBridgeError):
    """Another run is writing the same output (``pid`` is that run's, when known)."""

    def __init__(self, message: str, pid: int | None) -> None:
        super().__init__(message)
        self.pid = pid


def lock_path(out: Path) -> Path:
    """``OUT.lock``: the file the writing run locks."""
    return out.with_name(out.name + ".lock")


class OutputLock:
    """An exclusive, non-blocking lock on ``OUT.lock``; a context manager.

    Example::

        with OutputLock(Path("photos.parquet")):   # OutputLockedError if a run holds it
            ...

    :raises OutputLockedError: another process holds it.
    :raises ClipBridgeError: the lock file cannot be made (the folder is not writable).
    """

    def __init__(self, out: Path) -> None:
        self.out = out
        self.path = lock_path(out)
        self._fd: int | None = None

    def acquire(self) -> None:
        while True:
            try:
                fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
            except OSError as exc:
                raise ClipBridgeError(
                    f"cannot write next to {self.out}: {exc.strerror or exc} ({self.path})"
                ) from exc
            if fcntl is None:
                break
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError:
                pid = _read_pid(fd)
                os.close(fd)
                who = f"process {pid}" if pid else "another process"
                raise OutputLockedError(
                    f"{self.out} is being written by another clipbridge index run ({who}); "
                    "wait for it to end or pick another --out",
                    pid,
                ) from None
            # The holder before us may have removed the file after we opened it: lock the file
            # that is at the path now, or another run could lock a second one.
            try:
                same = os.stat(self.path).st_ino == os.fstat(fd).st_ino
            except FileNotFoundError:
                same = False
            if same:
                break
            os.close(fd)
        os.ftruncate(fd, 0)
        os.write(fd, f"{os.getpid()}\n".encode())
        self._fd = fd

    def release(self) -> None:
        if self._fd is None:
            return
        try:
            self.path.unlink(missing_ok=True)  # while still locked: see acquire
        finally:
            os.close(self._fd)
            self._fd = None

    def __enter__(self) -> OutputLock:
        self.acquire()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.release()


def _read_pid(fd: int) -> int | None:
    try:
        text = os.pread(fd, 32, 0).decode("ascii", "replace").strip()
        return int(text) if text.isdigit() else None
    except OSError:
        return None
