"""Stopping child processes politely, then firmly: shared by servers and example services."""

from __future__ import annotations

import atexit
import subprocess


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
