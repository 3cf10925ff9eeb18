"""Child processes: stopping them politely, then firmly; stopping them when the kernel exits; is a pid alive?"""

from __future__ import annotations

import atexit
import os
import signal
import subprocess
import sys
import time
from pathlib import Path


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
    """SIGTERM, then SIGKILL, for a process known only by its pid (a detached server started by an
    earlier command: `make down`, `make workshop-down`)."""
    try:
        os.kill(pid, signal.SIGTERM)
    except ProcessLookupError:
        return
    deadline = time.monotonic() + timeout
    while pid_alive(pid) and time.monotonic() < deadline:
        time.sleep(0.02)
    if pid_alive(pid):
        os.kill(pid, getattr(signal, "SIGKILL", signal.SIGTERM))


def pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    if sys.platform.startswith("linux"):  # a zombie is gone for our purposes
        try:
            return Path(f"/proc/{pid}/stat").read_text().split(") ")[1][0] != "Z"
        except OSError:
            return False
    return True
