"""Child processes: stopping them politely, then firmly; stopping them when the kernel exits; is a pid alive?
And the one state-handling path for detached servers (the course's `make up` and the workshop's): a state file
written atomically, a pid trusted only when it is that nats-server, a bounded wait for JetStream's shutdown."""

from __future__ import annotations

import atexit
import json
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


# --------------------------------------------------------------------------
# A detached server known by a state file: the course's own (`make up`) and the workshop's (`make workshop`)
# go through these, so that both trust a pid the same way and stop it the same way.


def command_line(pid: int) -> list[str] | None:
    """The command line of a running process, or None when it cannot be read (gone, or another OS)."""
    if sys.platform.startswith("linux"):
        try:
            raw = Path(f"/proc/{pid}/cmdline").read_bytes()
        except OSError:
            return None
        return [part.decode(errors="replace") for part in raw.split(b"\0") if part]
    try:  # macOS and the BSDs
        out = subprocess.run(["ps", "-p", str(pid), "-o", "command="], capture_output=True, text=True, timeout=5)
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout.split() if out.returncode == 0 and out.stdout.strip() else None


def is_server(pid: int | None, marker: str | Path) -> bool:
    """Is `pid` alive and a nats-server whose command line names `marker` (its config file or store folder)?
    A pid from an old state file may now belong to any other process: it is trusted only then."""
    if not pid or not pid_alive(pid):
        return False
    cmd = command_line(pid)
    if cmd is None:  # nothing to read it from (Windows): alive is all we can tell
        return sys.platform.startswith("win")
    return any(Path(part).name.startswith("nats-server") for part in cmd[:1]) and str(marker) in " ".join(cmd)


def read_state(path: Path) -> dict | None:
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return None


def write_state(path: Path, state: dict, *, private: bool = False) -> None:
    """Write a state file atomically (a crash leaves the old one or the new one, never half of one);
    `private`: readable by its owner only (it holds passwords)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600 if private else 0o644)
    with os.fdopen(fd, "w") as f:
        f.write(json.dumps(state, indent=2))
    os.replace(tmp, path)


def stop_server(pid: int, marker: str | Path, timeout: float = 60.0, say=None) -> str:
    """Stop a detached nats-server we started: SIGTERM, then wait (bounded) while JetStream writes its state
    and closes its streams; SIGKILL only after `timeout`. Returns how it ended, in one sentence."""
    if not is_server(pid, marker):
        return f"pid {pid} is not this nats-server (any more): left alone."
    started = time.monotonic()
    try:
        os.kill(pid, signal.SIGTERM)
    except ProcessLookupError:
        return "It had already stopped."
    told = False
    while pid_alive(pid) and time.monotonic() - started < timeout:
        if say and not told and time.monotonic() - started > 2:
            say(f"Waiting for nats-server (pid {pid}) to finish its JetStream shutdown (at most {timeout:.0f} s)...")
            told = True
        time.sleep(0.05)
    if pid_alive(pid):
        os.kill(pid, getattr(signal, "SIGKILL", signal.SIGTERM))
        return (
            f"nats-server did not finish its shutdown within {timeout:.0f} s and was killed: JetStream will "
            "check its files at the next start."
        )
    return f"nats-server stopped cleanly in {time.monotonic() - started:.1f} s."
