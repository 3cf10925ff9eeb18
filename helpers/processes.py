"""Stopping child processes politely, then firmly: shared by servers and example services."""

from __future__ import annotations

import atexit
import os
import signal
import subprocess
import time


def terminate(process: subprocess.Popen | None, timeout: float = 5.0) -> int | None:
    """SIGTERM, wait up to `timeout`, then SIGKILL. Returns the exit code (None: never started)."""
    if process and process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout)
    return process.returncode if process else None


def stop_at_exit(process: subprocess.Popen) -> None:
    """Terminate `process` when this Python process exits (a kernel restart or shutdown included),
    so that an interrupted notebook leaves no server or service behind."""
    atexit.register(terminate, process, 2.0)


def terminate_pid(pid: int, timeout: float = 5.0) -> None:
    """The same for a process known only by its pid (a detached server started by an earlier command)."""
    from helpers.server import pid_alive  # pid_alive knows about zombies

    try:
        os.kill(pid, signal.SIGTERM)
    except ProcessLookupError:
        return
    deadline = time.monotonic() + timeout
    while pid_alive(pid) and time.monotonic() < deadline:
        time.sleep(0.02)
    if pid_alive(pid):
        os.kill(pid, getattr(signal, "SIGKILL", signal.SIGTERM))
