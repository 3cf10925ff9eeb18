"""Stopping child processes politely, then firmly: shared by servers and example services."""

from __future__ import annotations

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
