"""The course's own long-lived server on 127.0.0.1:4222: `make up`, `make down`, and the state file between them.

`up()` starts the embedded server detached (it outlives the command) and writes who started it to
.nats-data/server.json; `down()` stops that server and nothing else.
"""

from __future__ import annotations

from urllib.parse import urlsplit

from helpers import processes
from helpers.embedded import REPO, EmbeddedServer
from helpers.probe import probe

DATA_DIR = REPO / ".nats-data"  # git-ignored: JetStream data survives between sittings
STATE_FILE = DATA_DIR / "server.json"  # written by `up`, read by `down` and `status`
LOG_FILE = DATA_DIR / "nats-server.log"
DEFAULT_URL = "nats://127.0.0.1:4222"
DEFAULT_MONITOR_URL = "http://127.0.0.1:8222"


class PortsTaken(RuntimeError):
    """The embedded server could not start on the course's ports."""


STORE = DATA_DIR / "store"  # on the server's command line: how its pid is recognised (helpers/processes.py)


def read_state() -> dict | None:
    return processes.read_state(STATE_FILE)


def running_here() -> dict | None:
    """The state of the server `up` started, if that process is still this course's nats-server."""
    state = read_state()
    return state if state and processes.is_server(state.get("pid"), STORE) else None


def start(started_by: str, timeout: float = 10.0) -> EmbeddedServer:
    """Start the embedded server detached on the course's ports and remember who started it."""
    port, http_port = urlsplit(DEFAULT_URL).port, urlsplit(DEFAULT_MONITOR_URL).port
    server = EmbeddedServer(port, http_port, STORE, detach=True, log_file=LOG_FILE)
    try:
        server.start(timeout)
    except (RuntimeError, TimeoutError) as e:
        raise PortsTaken(
            f"Could not start the embedded nats-server on ports {port} and {http_port}. "
            f"Is another program using them?\n{e}"
        ) from None
    state = {"pid": server.pid, "url": server.url, "monitor_url": server.monitor_url, "started_by": started_by}
    processes.write_state(STATE_FILE, state)
    return server


def down(timeout: float = 60.0) -> str:
    """Stop the server that `up` started, and only that one (waiting, bounded, for JetStream's shutdown)."""
    state = running_here()
    if not state:
        STATE_FILE.unlink(missing_ok=True)
        try:
            probe(DEFAULT_URL, 0.5)
            return f"A server runs on {DEFAULT_URL}, but `make up` did not start it: left alone."
        except OSError:
            return "No server was started by `make up`: nothing to stop."
    how = processes.stop_server(state["pid"], STORE, timeout, say=print)
    STATE_FILE.unlink(missing_ok=True)
    return f"Stopped the embedded nats-server (pid {state['pid']}): {how} Its data stays in {STORE}."
