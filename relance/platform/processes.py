"""Child processes that die with their parent, and who holds a port.

The embedded stack starts the Temporal dev server as a child. A parent killed with
SIGKILL (a closed terminal, the OOM killer) runs no cleanup, so the child is told by the
kernel instead (Linux's PR_SET_PDEATHSIG); elsewhere it is a no-op and the pid file in
relance.dev finds the leftover server."""

from __future__ import annotations

import contextlib
import ctypes
import os
import signal
import socket
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass

import psutil

_PR_SET_PDEATHSIG = 1


def die_with_parent(sig: int = signal.SIGTERM) -> Callable[[], None] | None:
    """A `preexec_fn` for subprocess.Popen: the child gets `sig` when this process dies.

    Resolved before the fork, so the child only makes one libc call. The death signal is
    tied to the thread that forks: call Popen from a thread that lives as long as the
    process (the main thread)."""
    if not sys.platform.startswith("linux"):
        return None
    prctl = ctypes.CDLL(None, use_errno=True).prctl
    parent = os.getpid()

    def preexec() -> None:
        if prctl(_PR_SET_PDEATHSIG, sig, 0, 0, 0) != 0:
            os._exit(126)
        if os.getppid() != parent:  # the parent died before prctl took effect
            os._exit(126)

    return preexec


def alive(pid: int) -> bool:
    """Running (a zombie, dead but not yet reaped, is not)."""
    try:
        return bool(psutil.Process(pid).status() != psutil.STATUS_ZOMBIE)
    except (psutil.NoSuchProcess, psutil.AccessDenied, ValueError):
        return False


def cmdline(pid: int) -> list[str]:
    try:
        return [str(part) for part in psutil.Process(pid).cmdline()]
    except (psutil.NoSuchProcess, psutil.AccessDenied, psutil.ZombieProcess, ValueError):
        return []


def stop(pid: int, timeout: float = 20.0) -> None:
    """SIGTERM, then SIGKILL if it has not gone within `timeout` seconds."""
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout
    while alive(pid):
        if time.monotonic() > deadline:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
            deadline = time.monotonic() + 5
        time.sleep(0.1)


def port_free(host: str, port: int) -> bool:
    """Whether a server could listen on host:port now. SO_REUSEADDR, as Go's listeners
    set it, so closed connections in TIME_WAIT do not count as taken."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind((host, port))
        except OSError:
            return False
    return True


@dataclass(frozen=True)
class Holder:
    pid: int
    name: str
    cmdline: list[str]

    def describe(self) -> str:
        shown = " ".join(self.cmdline)
        if len(shown) > 120:
            shown = shown[:117] + "..."
        return f"pid {self.pid} ({shown or self.name})"


def port_holder(port: int) -> Holder | None:
    """The process listening on TCP `port`, if this user may see it."""
    try:
        connections = psutil.net_connections(kind="tcp")
    except (psutil.AccessDenied, OSError):
        return None
    for conn in connections:
        if conn.status == psutil.CONN_LISTEN and conn.laddr and conn.laddr.port == port and conn.pid:
            try:
                proc = psutil.Process(conn.pid)
                return Holder(conn.pid, proc.name(), proc.cmdline())
            except (psutil.NoSuchProcess, psutil.AccessDenied):
                return Holder(conn.pid, "?", [])
    return None
