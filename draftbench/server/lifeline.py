"""Tie a server's life to draftbench's: when draftbench dies, even by SIGKILL, its servers die too.

Linux: the child asks the kernel for a parent-death signal (``prctl(PR_SET_PDEATHSIG, SIGKILL)``)
between fork and exec, then checks that its parent is still the one that forked it (the parent
may have died before the prctl call, which would leave the request without effect). The signal
follows the *thread* that started the child: servers are started from the main thread. It is SIGKILL,
not SIGTERM: llama-server b11434 loses a SIGTERM that arrives while it loads its model and then
serves forever, and a server whose owner is gone has nothing to save.
Elsewhere (macOS): a small watchdog process in a session of its own polls for draftbench's death
(it is re-parented) and then ends the server's process group: SIGTERM, SIGKILL after a grace period.
The launcher stops the watchdog with the server on every ordinary way out.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import signal
import subprocess
import sys
import threading
from typing import Callable, Iterator

PR_SET_PDEATHSIG = 1
WATCHDOG_POLL_S = 0.5
WATCHDOG_GRACE_S = 10.0

_WATCHDOG = r"""
import os, signal, sys, time
parent, group, poll, grace = int(sys.argv[1]), int(sys.argv[2]), float(sys.argv[3]), float(sys.argv[4])
while os.getppid() == parent:
    time.sleep(poll)
for sig, wait in ((signal.SIGTERM, grace), (signal.SIGKILL, 0)):
    try:
        os.killpg(group, sig)
    except OSError:
        break
    time.sleep(wait)
"""


def _libc_prctl() -> Callable[..., int] | None:
    if not sys.platform.startswith("linux"):
        return None
    try:
        return ctypes.CDLL(None, use_errno=True).prctl
    except (OSError, AttributeError):
        return None


_PRCTL = _libc_prctl()


HELD_SIGNALS = (signal.SIGINT, signal.SIGTERM)


@contextlib.contextmanager
def signals_held() -> Iterator[None]:
    """Hold Ctrl-C and SIGTERM while a server is being started and registered: a signal that landed
    between the child's exec and ``Popen`` returning would lose the only handle on the server. The held
    signal is delivered as soon as the block ends, and the child unblocks them for itself."""
    if not hasattr(signal, "pthread_sigmask") or threading.current_thread() is not threading.main_thread():
        yield
        return
    old = signal.pthread_sigmask(signal.SIG_BLOCK, HELD_SIGNALS)
    try:
        yield
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, old)


def preexec_for_parent(parent_pid: int) -> tuple[Callable[[], None], bool]:
    """A ``preexec_fn`` that unblocks the held signals in the child and, where the kernel offers it,
    makes the child receive SIGKILL when ``parent_pid`` dies. The flag says whether it does; where it
    does not, use :func:`start_watchdog`."""
    prctl = _PRCTL
    unblock = getattr(signal, "pthread_sigmask", None)

    def tie() -> None:
        if unblock is not None:
            unblock(signal.SIG_UNBLOCK, HELD_SIGNALS)
        if prctl is not None:
            prctl(PR_SET_PDEATHSIG, int(signal.SIGKILL), 0, 0, 0)
            if os.getppid() != parent_pid:  # the parent died before the request took effect
                os.kill(os.getpid(), signal.SIGKILL)

    return tie, prctl is not None


def start_watchdog(child_pid: int) -> subprocess.Popen:
    """A watchdog that ends ``child_pid``'s process group once this process is gone."""
    return subprocess.Popen(
        [sys.executable, "-c", _WATCHDOG, str(os.getpid()), str(child_pid), str(WATCHDOG_POLL_S), str(WATCHDOG_GRACE_S)],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
