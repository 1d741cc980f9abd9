"""Tie a server's life to draftbench's: when draftbench dies, even by SIGKILL, its servers die too.

Linux: the child asks the kernel for a parent-death signal (``prctl(PR_SET_PDEATHSIG, SIGTERM)``)
between fork and exec, then checks that its parent is still the one that forked it (the parent
may have died before the prctl call, which would leave the request without effect). The signal
follows the *thread* that started the child: servers are started from the main thread.
Elsewhere (macOS): a small watchdog process in a session of its own polls for draftbench's death
(it is re-parented) and then ends the server's process group: SIGTERM, SIGKILL after a grace period.
The launcher stops the watchdog with the server on every ordinary way out.
"""

from __future__ import annotations

import ctypes
import os
import signal
import subprocess
import sys
from typing import Callable

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


def preexec_for_parent(parent_pid: int) -> Callable[[], None] | None:
    """A ``preexec_fn`` that makes the child receive SIGTERM when ``parent_pid`` dies; None where the
    kernel offers no such request (use :func:`start_watchdog` there)."""
    prctl = _PRCTL
    if prctl is None:
        return None

    def tie() -> None:
        prctl(PR_SET_PDEATHSIG, int(signal.SIGTERM), 0, 0, 0)
        if os.getppid() != parent_pid:  # the parent died before the request took effect
            os.kill(os.getpid(), signal.SIGTERM)

    return tie


def start_watchdog(child_pid: int) -> subprocess.Popen:
    """A watchdog that ends ``child_pid``'s process group once this process is gone."""
    return subprocess.Popen(
        [sys.executable, "-c", _WATCHDOG, str(os.getpid()), str(child_pid), str(WATCHDOG_POLL_S),
         str(WATCHDOG_GRACE_S)],
        stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
