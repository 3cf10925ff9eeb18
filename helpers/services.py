"""Run a small example service (a script in notebooks/services/) as a real OS process; and the stop
protocol every such service shares.

Some lessons are about separate programs: a subscriber that is down, a worker
that crashes. Coroutines in the kernel cannot show that honestly, so these
scripts run as their own processes. A script announces it is ready by
printing one line, `READY`, once the server has its subscriptions (one
`flush()` after subscribing), and writes whatever else it wants the notebook
to see to stdout, one line each.

    with Service("services/user_listener.py", server.url) as listener:
        ...                       # it is subscribed now
    listener.lines                # what it printed

Stopping gracefully on every platform: `Service.stop()` writes a `stop` line to
the service's stdin and closes it; the service (`until_stopped()` or
`stop_requested()`) then drains its connection and exits. That works on
Windows too, where a signal cannot be handled (asyncio has no signal handlers
there, and `terminate()` is a hard kill); on Linux and macOS SIGTERM and
SIGINT are handled the same way. A service whose stdin closes (the notebook's
kernel went away) stops too. Only a service that does not exit within the
timeout is terminated.

A URL that carries a password (a workshop learner's) never goes on the service's command line, where `ps`
shows it to every user of the machine: `Service` passes it in the service's environment and puts a
placeholder on the command line, which importing this module in the service puts back into `sys.argv`.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

from helpers.processes import stop_at_exit, terminate
from helpers.run_first import RunFirst
from helpers.urls import redact

SERVICES = Path(__file__).resolve().parent.parent / "notebooks" / "services"
SECRET = "@secret:"  # a command-line placeholder for an argument passed in the environment


def hide_secrets(args: list[str]) -> tuple[list[str], dict[str, str]]:
    """The command line with every argument that carries a password replaced by a placeholder, and the
    environment that carries the real values."""
    argv, env = [], dict(os.environ)
    for i, arg in enumerate(args):
        if redact(arg) != arg:
            env[f"NATS_COURSE_SECRET_{i}"] = arg
            arg = f"{SECRET}{i}"
        argv.append(arg)
    return argv, env


def _restore_secrets() -> None:
    """In a service: put the values `hide_secrets` passed in the environment back into sys.argv."""
    sys.argv[1:] = [
        os.environ.get(f"NATS_COURSE_SECRET_{a.removeprefix(SECRET)}", a) if a.startswith(SECRET) else a
        for a in sys.argv[1:]
    ]


_restore_secrets()
STOP = "stop"  # the line Service.stop() writes to a service's stdin


class Service:
    def __init__(self, script: str, *args: str, ready_timeout: float = 10.0):
        path = Path(script)
        self.path = path if path.is_absolute() or path.exists() else SERVICES / path.name
        self.args = [str(a) for a in args]
        self.ready_timeout = ready_timeout
        self.lines: list[str] = []  # stdout lines after READY
        self.process: subprocess.Popen | None = None
        self._ready = threading.Event()
        self._changed = threading.Condition()

    def start(self) -> Service:
        """Start the script and wait (bounded) for its READY line."""
        self.lines, self._ready = [], threading.Event()
        self.stderr = tempfile.TemporaryFile("w+")  # a file, not a pipe: a chatty service never blocks
        argv, env = hide_secrets(self.args)
        self.process = subprocess.Popen(
            [sys.executable, "-u", str(self.path), *argv],
            env=env,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=self.stderr,
            text=True,
        )
        stop_at_exit(self.process)
        threading.Thread(target=self._read, args=(self.process,), daemon=True).start()
        deadline = time.monotonic() + self.ready_timeout
        while not self._ready.wait(0.05):
            if self.process.poll() is not None or time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(
                    f"{self.path.name} did not print READY within {self.ready_timeout} s "
                    f"(exit code {self.process.returncode}):\n{self.errors()[-2000:]}"
                )
        return self

    def errors(self) -> str:
        """What the service wrote to stderr so far."""
        self.stderr.seek(0)
        return self.stderr.read()

    def _read(self, process: subprocess.Popen) -> None:
        for line in process.stdout:
            line = line.rstrip("\n")
            if line == "READY" and not self._ready.is_set():
                self._ready.set()
                continue
            with self._changed:
                self.lines.append(line)
                self._changed.notify_all()

    def wait_for_lines(self, count: int, timeout: float = 5.0) -> list[str]:
        """Block until the service printed at least `count` lines; TimeoutError otherwise."""
        with self._changed:
            if not self._changed.wait_for(lambda: len(self.lines) >= count, timeout):
                raise TimeoutError(f"{self.path.name} printed {len(self.lines)} of {count} lines in {timeout} s")
            return list(self.lines)

    @property
    def running(self) -> bool:
        return bool(self.process) and self.process.poll() is None

    def require(self, cell: str) -> Service:
        """Raise RunFirst, naming `cell`, unless the service runs (a cell that uses it calls this first)."""
        if not self.running:
            raise RunFirst(f"{self.path.name} is not running: run the cell {cell} first.")
        return self

    def stop(self, timeout: float = 5.0) -> int | None:
        """Ask it to stop (a `stop` line on its stdin: it drains and exits), wait up to `timeout`, then
        terminate it (SIGTERM, then SIGKILL). Returns the exit code; stopping twice is harmless."""
        process = self.process
        if process and process.poll() is None:
            try:
                process.stdin.write(STOP + "\n")
                process.stdin.close()
            except (OSError, ValueError):  # it is exiting already, or its stdin was closed before
                pass
            try:
                process.wait(timeout)
            except subprocess.TimeoutExpired:
                pass
        return terminate(process, timeout)

    def kill(self) -> int | None:
        """Crash it: SIGKILL, no chance to clean up (what a power cut does)."""
        if self.process and self.process.poll() is None:
            self.process.kill()
            self.process.wait(5)
        return self.process.returncode if self.process else None

    def __enter__(self) -> Service:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()


# The service's side: every script in notebooks/services/ waits for its stop request with one of these.


def stop_requested() -> asyncio.Event:
    """An event set when this service is asked to stop: a `stop` line on stdin or stdin closed (every
    platform), SIGTERM or SIGINT (where asyncio handles signals: not on Windows). Call it in the loop."""
    loop, stop = asyncio.get_running_loop(), asyncio.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        try:
            loop.add_signal_handler(sig, stop.set)
        except (NotImplementedError, RuntimeError):  # Windows: no signal handlers; stdin still works
            pass

    def read_stdin() -> None:  # os.read, not sys.stdin: a thread blocked here holds no lock at exit
        received = b""
        while STOP.encode() not in received.split():
            try:
                chunk = os.read(0, 1024)
            except OSError:  # no stdin at all: only signals can stop us
                return
            if not chunk:  # stdin closed: whoever started us is gone
                break
            received += chunk
        with contextlib.suppress(RuntimeError):  # the loop is closed already: the service has ended
            loop.call_soon_threadsafe(stop.set)

    threading.Thread(target=read_stdin, daemon=True).start()
    return stop


async def until_stopped(lifetime: float | None = None) -> None:
    """Return when this service is asked to stop (see stop_requested()), or after `lifetime` seconds if given.
    A service lives as long as the kernel that started it: its stdin closes when that kernel goes away."""
    try:
        await asyncio.wait_for(stop_requested().wait(), lifetime)
    except TimeoutError:
        pass
