"""Run a small example service (a script in notebooks/services/) as a real OS process.

Some lessons are about separate programs: a subscriber that is down, a worker
that crashes. Coroutines in the kernel cannot show that honestly, so these
scripts run as their own processes. A script announces it is ready by
printing one line, `READY`, once the server has its subscriptions (in
nats-py 2.16 that takes two `flush()` calls: a single flush's PING can
overtake a SUB still in the client's buffer), and writes
whatever else it wants the notebook to see to stdout, one line each.

    with Service("services/user_listener.py", server.url) as listener:
        ...                       # it is subscribed now
    listener.lines                # what it printed
"""

from __future__ import annotations

import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

from helpers.processes import stop_at_exit, terminate

SERVICES = Path(__file__).resolve().parent.parent / "notebooks" / "services"


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
        self.process = subprocess.Popen([sys.executable, "-u", str(self.path), *self.args], stdin=subprocess.DEVNULL,
                                        stdout=subprocess.PIPE, stderr=self.stderr, text=True)
        stop_at_exit(self.process)
        threading.Thread(target=self._read, args=(self.process,), daemon=True).start()
        deadline = time.monotonic() + self.ready_timeout
        while not self._ready.wait(0.05):
            if self.process.poll() is not None or time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(f"{self.path.name} did not print READY within {self.ready_timeout} s "
                                   f"(exit code {self.process.returncode}):\n{self.errors()[-2000:]}")
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

    def stop(self, timeout: float = 5.0) -> int | None:
        """Ask it to stop (SIGTERM), then kill it after `timeout`. Returns the exit code."""
        return terminate(self.process, timeout)

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
