"""One writer per results file: an advisory lock ``R.json.lock`` held for a whole sweep.

The lock is ``flock`` on the lock file, which the kernel drops when its holder dies, however it
dies: a lock file left by a dead sweep is therefore not held, and the next sweep takes it over.
The file names the holder's pid so that a refused sweep can say who holds it. Readers
(``--chart-only``, ``--compare``) take no lock: results files are replaced atomically.
"""

from __future__ import annotations

import os
from types import TracebackType

from ..errors import ResultsFileError

try:
    import fcntl
except ImportError:  # Windows: no flock; fall back to "the pid in the file is alive"
    fcntl = None  # type: ignore[assignment]  # no fcntl on Windows: the lock is then advisory only


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _read_pid(path: str) -> int | None:
    try:
        with open(path, encoding="ascii", errors="replace") as fh:
            text = fh.read().strip()
    except OSError:
        return None
    return int(text) if text.isdigit() else None


class ResultsLock:
    """``with ResultsLock(results_path): ...``. ``took_over`` names a dead holder's pid, if any."""

    def __init__(self, results_path: str):
        self.results_path = results_path
        self.path = results_path + ".lock"
        self.fd: int | None = None
        self.took_over: int | None = None

    def _refuse(self, pid: int | None) -> ResultsFileError:
        who = f"pid {pid}" if pid else "another process"
        return ResultsFileError(
            f"{self.results_path} is being written by another sweep ({who}, lock {self.path}): wait for it to "
            "finish, or write elsewhere with --results PATH"
        )

    def acquire(self) -> "ResultsLock":
        os.makedirs(os.path.dirname(os.path.abspath(self.path)), exist_ok=True)
        previous = _read_pid(self.path)
        while True:
            try:
                fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
            except OSError as exc:
                raise ResultsFileError(
                    f"cannot create the lock {self.path}: {exc.strerror}; choose another place with --results PATH"
                ) from exc
            if fcntl is not None:
                try:
                    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                except OSError:
                    os.close(fd)
                    raise self._refuse(_read_pid(self.path)) from None
                try:
                    same = os.fstat(fd).st_ino == os.stat(self.path).st_ino
                except FileNotFoundError:
                    same = False
                if not same:  # the holder removed the file between our open and our lock: try again
                    os.close(fd)
                    continue
            elif previous and previous != os.getpid() and _pid_alive(previous):
                os.close(fd)
                raise self._refuse(previous)
            break
        self.fd = fd
        if previous and previous != os.getpid():
            self.took_over = previous
        os.ftruncate(fd, 0)
        os.write(fd, f"{os.getpid()}\n".encode())
        return self

    def release(self) -> None:
        if self.fd is None:
            return
        try:
            os.unlink(self.path)  # before unlocking, so nobody locks a file that is going away
        except OSError:
            pass
        os.close(self.fd)
        self.fd = None

    def __enter__(self) -> "ResultsLock":
        return self.acquire()

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        self.release()
