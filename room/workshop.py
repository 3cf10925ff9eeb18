"""Workshop mode: a room of learners on one server, each learner in a NATS account of their own.

    make workshop LEARNERS=20 HOST=192.168.1.10   # or: python -m room up --learners 20 --host ...
    make workshop-status                           # who is connected, JetStream use per account
    make workshop-reset                            # new passwords, empty JetStream, same options
    make workshop-down

An account is its own subject space and its own JetStream: a learner's `user.created`, queue group
`billing-service` or bucket `profiles` is invisible to every other learner, so the numbered notebooks
run unchanged for everyone at once. `up` writes into .workshop/ (git-ignored):

    nats-server.conf  the server configuration: one account per learner (JetStream with per-account
                      limits), INSTRUCTOR (the progress board's stream), SYS (the system account)
    learners.csv      `learner,nats_url`: each URL carries that learner's user and password
    sheet.html        a printable page of slips to hand out, one per learner
    state.json        what `status`, `down`, `reset` and the progress board read
    store/, nats-server.log

Naming rule (helpers find a learner's account from their URL with it): learner NN's user and account
are both `learnerNN` (learner01, learner02, ...). The instructor's user `instructor` is in INSTRUCTOR,
`admin` in SYS. Passwords are random for every generation.

docker compose runs the same generated file (`up --compose`: the `workshop` profile's `nats-workshop`
service in docker-compose.yml, ports 4222 and 8222 published on every interface).
"""

from __future__ import annotations

import argparse
import asyncio
import html
import json
import os
import secrets
import shutil
import socket
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote, urlsplit

from helpers.embedded import REPO, EmbeddedServer, binary
from helpers.monitor import monitor_get
from helpers.processes import pid_alive, terminate_pid
from helpers.urls import INSTRUCTOR, SYSTEM, account_of, learner_of, redact, user_of  # noqa: F401 - the room's API

DIR = REPO / ".workshop"  # git-ignored: passwords live here
CONFIG = DIR / "nats-server.conf"
LEARNERS_CSV = DIR / "learners.csv"
SHEET = DIR / "sheet.html"
STATE = DIR / "state.json"
STORE = DIR / "store"
LOG = DIR / "nats-server.log"

USERS = {"instructor": INSTRUCTOR, "admin": SYSTEM}  # besides the learners' own users

# Per-account JetStream limits, sized for the course: every numbered notebook, run once with the
# solutions, peaks far below them (`make test-workshop` runs them all at once for three learners).
# A learner who keeps every stream and bucket of several sittings reaches them, and is told so.
LEARNER_LIMITS = {"max_mem": "64MB", "max_file": "256MB", "max_streams": 40, "max_consumers": 200}
INSTRUCTOR_LIMITS = {"max_mem": "16MB", "max_file": "256MB", "max_streams": 10, "max_consumers": 100}
# JetStream API errors that mean "this account's limit is used up" (streams, consumers, memory, storage).
LIMIT_ERRORS = {10002, 10023, 10026, 10027, 10028, 10047}
PROGRESS_SUBJECT = "workshop.progress"  # learners publish here; INSTRUCTOR receives workshop.progress.<learner>
PROGRESS_STREAM = "WORKSHOP_PROGRESS"
DEFAULT_PORT, DEFAULT_HTTP_PORT = 4222, 8222


def learner_name(n: int) -> str:
    return f"learner{n:02d}"


# --------------------------------------------------------------------------
# Generating the configuration, the learners' URLs and the sheet.


@dataclass
class Options:
    learners: int
    host: str = "0.0.0.0"  # where the server listens: every interface unless told otherwise
    public_host: str | None = None  # the host written into the learners' URLs
    port: int = DEFAULT_PORT
    http_port: int = DEFAULT_HTTP_PORT
    compose: bool = False  # run it with docker compose (the `workshop` profile) instead of the embedded binary

    def url_host(self) -> str:
        return self.public_host or (self.host if self.host not in ("0.0.0.0", "::", "") else guess_host())


def guess_host() -> str:
    """This machine's address as the room is likely to reach it (no packet is sent to find it)."""
    name = socket.gethostname()
    try:
        addresses = socket.gethostbyname_ex(name)[2]
    except OSError:
        return name
    return next((a for a in addresses if not a.startswith("127.")), name)


def passwords(learners: int) -> dict[str, str]:
    users = [learner_name(n) for n in range(1, learners + 1)] + list(USERS)
    return {user: secrets.token_urlsafe(12) for user in users}


def url_for(user: str, password: str, host: str, port: int) -> str:
    return f"nats://{quote(user, safe='')}:{quote(password, safe='')}@{host}:{port}"


def _limits(limits: dict) -> str:
    return "{" + ", ".join(f"{k}: {v}" for k, v in limits.items()) + "}"


def render_config(options: Options, secret: dict[str, str]) -> str:
    """The server configuration: accounts, users, JetStream limits, the progress export/import."""
    learners = [learner_name(n) for n in range(1, options.learners + 1)]
    mem = _megabytes(LEARNER_LIMITS["max_mem"]) * len(learners) + _megabytes(INSTRUCTOR_LIMITS["max_mem"])
    disk = _megabytes(LEARNER_LIMITS["max_file"]) * len(learners) + _megabytes(INSTRUCTOR_LIMITS["max_file"])
    lines = [
        "# Generated by `make workshop` (room/workshop.py): do not edit, regenerate.",
        f"# {len(learners)} learners. Passwords are random per generation; this file is git-ignored.",
        "server_name: nats-workshop",
        "# Inside Docker the server listens on every interface of its container; the embedded server",
        "# overrides host with --addr (the instructor's choice, printed by `make workshop`).",
        f"host: {_quoted('0.0.0.0')}",
        f"port: {options.port}",
        f"http_port: {options.http_port}  # monitoring: learners see their own account with ?acc=learnerNN",
        "max_payload: 1MB",
        "",
        "jetstream {",
        "  # store_dir comes from the command line (-sd), as for the course's own server.",
        f"  max_memory_store: {mem}MB",
        f"  max_file_store: {disk}MB",
        "}",
        "",
        f"system_account: {SYSTEM}",
        "",
        "accounts {",
        f"  {SYSTEM} {{",
        f"    users: [{{user: admin, password: {_quoted(secret['admin'])}}}]",
        "  }",
        f"  {INSTRUCTOR} {{",
        f"    jetstream: {_limits(INSTRUCTOR_LIMITS)}",
        f"    users: [{{user: instructor, password: {_quoted(secret['instructor'])}}}]",
        f"    # Each learner's verdicts arrive as {PROGRESS_SUBJECT}.<learner>: the server, not the learner,",
        "    # says whose they are.",
        "    imports: [",
        *(
            f"      {{stream: {{account: {name}, subject: {_quoted(PROGRESS_SUBJECT)}}}, "
            f"to: {_quoted(f'{PROGRESS_SUBJECT}.{name}')}}}"
            for name in learners
        ),
        "    ]",
        "  }",
    ]
    for name in learners:
        lines += [
            f"  {name} {{",
            f"    jetstream: {_limits(LEARNER_LIMITS)}",
            f"    users: [{{user: {name}, password: {_quoted(secret[name])}}}]",
            f"    exports: [{{stream: {_quoted(PROGRESS_SUBJECT)}, accounts: [{INSTRUCTOR}]}}]",
            "  }",
        ]
    lines += ["}", ""]
    return "\n".join(lines)


def _quoted(value: str) -> str:
    return json.dumps(value)  # a double-quoted string the config parser reads back as is


def _megabytes(size: str) -> int:
    return int(size.removesuffix("MB"))


def write_private(path: Path, text: str) -> None:
    """Write a file only its owner can read: it holds passwords."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", newline="") as f:
        f.write(text)


def generate(options: Options, directory: Path = DIR) -> dict:
    """Write the config, learners.csv and the sheet into `directory`; return the state to keep."""
    secret = passwords(options.learners)
    host = options.url_host()
    learners = {
        learner_name(n): url_for(learner_name(n), secret[learner_name(n)], host, options.port)
        for n in range(1, options.learners + 1)
    }
    write_private(directory / CONFIG.name, render_config(options, secret))
    rows = [["learner", "nats_url"], *learners.items()]
    write_private(directory / LEARNERS_CSV.name, "".join(",".join(row) + "\n" for row in rows))
    monitor = f"http://{host}:{options.http_port}"
    write_private(directory / SHEET.name, render_sheet(learners, monitor))
    return {
        "options": options.__dict__,
        "learners": learners,
        "instructor_url": url_for("instructor", secret["instructor"], host, options.port),
        "admin_url": url_for("admin", secret["admin"], host, options.port),
        "monitor_url": monitor,
        "generated_at": time.strftime("%Y-%m-%d %H:%M:%S"),
    }


def render_sheet(learners: dict[str, str], monitor_url: str) -> str:
    """A printable HTML page: one slip per learner, cut along the dashed lines."""
    slips = "\n".join(
        f"""<div class="slip"><h2>NATS in Notebooks · {html.escape(name)}</h2>
<p>Your server URL (it carries your password; keep it to yourself):</p>
<pre>{html.escape(url)}</pre>
<p>In a terminal, in the course folder: <code>export NATS_URL='{html.escape(url)}'</code> then
<code>make lab</code> (Windows: <code>set NATS_URL=...</code> then <code>python -m tools lab</code>).
Or paste the URL into a notebook's <code>nats_url = "..."</code> parameter.</p>
<p>Your own monitoring view: {html.escape(monitor_url)}/connz?acc={html.escape(name)}</p></div>"""
        for name, url in learners.items()
    )
    return f"""<!doctype html><html><head><meta charset="utf-8"><title>Workshop: learners' URLs</title>
<style>body{{font-family:sans-serif}} .slip{{border-bottom:2px dashed #888;padding:8px 0;break-inside:avoid}}
pre{{font-size:13px;background:#f4f4f4;padding:6px}} h2{{font-size:16px;margin:4px 0}} p{{margin:4px 0}}</style>
</head><body>
{slips}
</body></html>
"""


def check_config(path: Path = CONFIG) -> None:
    """`nats-server --config X -t`: refuse to start with a file the server would not accept."""
    import subprocess

    result = subprocess.run([binary(), "--config", str(path), "-t"], capture_output=True, text=True, timeout=20)
    if result.returncode != 0:
        raise RuntimeError(f"nats-server rejects {path}:\n{result.stderr or result.stdout}")


# --------------------------------------------------------------------------
# The running workshop server.


class WorkshopServer(EmbeddedServer):
    """The embedded server on the instructor's chosen address (EmbeddedServer assumes loopback)."""

    def __init__(self, options: Options, directory: Path = DIR, *, detach: bool = True):
        self.host = options.host
        super().__init__(
            options.port,
            options.http_port,
            directory / STORE.name,
            config=directory / CONFIG.name,
            args=["--addr", options.host],
            detach=detach,
            log_file=directory / LOG.name,
        )

    @property
    def _local(self) -> str:  # where this machine reaches the server
        return "127.0.0.1" if self.host in ("0.0.0.0", "::", "") else self.host

    @property
    def url(self) -> str:
        return f"nats://{self._local}:{self.port}"

    @property
    def monitor_url(self) -> str:
        return f"http://{self._local}:{self.http_port}"


def read_state(directory: Path = DIR) -> dict | None:
    try:
        return json.loads((directory / STATE.name).read_text())
    except (OSError, ValueError):
        return None


def running(directory: Path = DIR) -> dict | None:
    """The state of a workshop server that is still running, else None."""
    state = read_state(directory)
    if not state:
        return None
    if state["options"].get("compose"):
        return state if state.get("started") and _answers(state["local_monitor_url"]) else None
    return state if state.get("pid") and pid_alive(state["pid"]) else None


def _answers(monitor_url: str) -> bool:
    try:
        return monitor_get(monitor_url, "/healthz", 1.0).get("status") == "ok"
    except OSError:
        return False


COMPOSE = ["docker", "compose", "--profile", "workshop"]


def _compose(*args: str, timeout: float = 120.0) -> None:
    import subprocess

    result = subprocess.run([*COMPOSE, *args], cwd=REPO, capture_output=True, text=True, timeout=timeout)
    if result.returncode != 0:
        raise WorkshopError(f"`{' '.join(COMPOSE + list(args))}` failed:\n{result.stderr or result.stdout}")


def up(options: Options, directory: Path = DIR, *, timeout: float = 20.0) -> dict:
    """Start the workshop's server; refuse if one already runs (`reset` replaces it).

    A stopped workshop with the same options (a laptop restarted mid-day) starts again as it was: same
    passwords, same data, the slips handed out still work. Other options generate a new workshop: new
    passwords and empty accounts."""
    if state := running(directory):
        raise WorkshopError(
            f"A workshop server already runs (pid {state['pid']}, "
            f"{len(state['learners'])} learners): `make workshop-down` or `make workshop-reset`."
        )
    if options.compose and (options.port, options.http_port) != (DEFAULT_PORT, DEFAULT_HTTP_PORT):
        raise WorkshopError("With --compose the ports are docker-compose.yml's: 4222 and 8222.")
    state = read_state(directory)
    if state and state["options"] == options.__dict__ and (directory / CONFIG.name).exists():
        state["resumed"] = True
    else:
        shutil.rmtree(directory / STORE.name, ignore_errors=True)  # a new group: nothing of the last one
        state = generate(options, directory)
    check_config(directory / CONFIG.name)
    server = WorkshopServer(options, directory)
    if options.compose:
        (directory / STORE.name).mkdir(parents=True, exist_ok=True)
        _compose("up", "-d", "--wait", "nats-workshop", timeout=timeout + 120)
        state |= {"pid": None, "started": True}
    else:
        try:
            server.start(timeout)
        except (RuntimeError, TimeoutError) as e:
            raise WorkshopError(
                f"Could not start the workshop server on {options.host}:{options.port} "
                f"(monitoring {options.http_port}). Is another server using these ports? "
                f"`make down` stops the course's own.\n{e}"
            ) from None
        state["pid"] = server.pid
    state |= {"local_url": server.url, "local_monitor_url": server.monitor_url}
    write_private(directory / STATE.name, json.dumps({k: v for k, v in state.items() if k != "resumed"}, indent=2))
    asyncio.run(create_progress_stream(local_url(state, "instructor")))
    return state


def instructor_url(directory: Path = DIR) -> str:
    """The instructor's URL for the workshop started from this folder (the progress board's default)."""
    state = read_state(directory)
    if not state:
        raise WorkshopError(
            "No workshop was started from this folder (.workshop/state.json is missing): "
            "run `make workshop LEARNERS=N` first, or pass the instructor's URL."
        )
    return local_url(state, "instructor")


def local_url(state: dict, user: str) -> str:
    """A user's URL with the host this machine reaches the server at (the instructor's own tools)."""
    url = (
        state["instructor_url"]
        if user == "instructor"
        else state["admin_url"]
        if user == "admin"
        else state["learners"][user]
    )
    parts, local = urlsplit(url), urlsplit(state["local_url"])
    return url.replace(f"@{parts.hostname}:{parts.port}", f"@{local.hostname}:{local.port}")


async def create_progress_stream(instructor_url: str) -> None:
    """The INSTRUCTOR account's stream of verdicts: a board opened late still sees the earlier ones."""
    import nats
    from nats.js.api import StreamConfig

    nc = await nats.connect(instructor_url, name="workshop-setup", connect_timeout=5, allow_reconnect=False)
    try:
        await nc.jetstream().add_stream(
            StreamConfig(
                name=PROGRESS_STREAM, subjects=[f"{PROGRESS_SUBJECT}.>"], max_age=2 * 24 * 3600, max_bytes=64 * 2**20
            )
        )
    finally:
        await nc.close()


def down(directory: Path = DIR) -> str:
    state = running(directory)
    if not state:
        return "No workshop server is running."
    if state["options"].get("compose"):
        _compose("rm", "--stop", "--force", "nats-workshop")
        state["started"] = False
    else:
        terminate_pid(state["pid"])
    state["pid"] = None
    write_private(directory / STATE.name, json.dumps(state, indent=2))
    return (
        f"Stopped the workshop server; the learners' URLs stop working. Its data stays in {directory / 'store'} "
        "until `make workshop-reset` or the next `make workshop`."
    )


def reset(directory: Path = DIR, *, timeout: float = 20.0) -> dict:
    """A clean account for every learner between groups: new passwords, empty JetStream, same options."""
    state = read_state(directory)
    if not state:
        raise WorkshopError("No workshop to reset: start one with `make workshop LEARNERS=N`.")
    down(directory)
    (directory / STATE.name).unlink()  # so that `up` generates anew
    return up(Options(**state["options"]), directory, timeout=timeout)


def status(directory: Path = DIR) -> str:
    state = running(directory)
    if not state:
        return "No workshop server is running. Start one with `make workshop LEARNERS=N`."
    lines = [where(state), ""]
    try:
        conns = monitor_get(state["local_monitor_url"], "/connz?auth=true&limit=10000").get("connections", [])
        jsz = monitor_get(state["local_monitor_url"], "/jsz?accounts=true&streams=true").get("account_details", [])
    except OSError as e:
        return "\n".join(lines + [f"The monitoring port does not answer: {e}"])
    per_account = {}
    for c in conns:
        per_account[c.get("account")] = per_account.get(c.get("account"), 0) + 1
    usage = {a["name"]: a for a in jsz}
    lines.append(f"{'account':<12} {'connections':>11} {'streams':>8} {'stored':>10}")
    for name in [*state["learners"], INSTRUCTOR]:
        js = usage.get(name, {})
        stored = (js.get("storage", 0) + js.get("memory", 0)) / 2**20
        streams = len(js.get("stream_detail") or [])
        lines.append(f"{name:<12} {per_account.get(name, 0):>11} {streams:>8} {stored:>8.1f}MB")
    return "\n".join(lines)


def where(state: dict) -> str:
    options = Options(**state["options"])
    resumed = (
        "Started again as it was (same passwords, same data: the slips handed out still work; "
        "`make workshop-reset` gives new ones).\n"
        if state.get("resumed")
        else ""
    )
    everywhere = options.host in ("0.0.0.0", "::", "")
    listening = "every network interface of this machine" if everywhere else options.host
    return resumed + (
        f"Workshop server for {len(state['learners'])} learners, listening on {options.host}:{options.port} "
        f"({listening}); monitoring on port {options.http_port}.\n"
        f"Learners' URLs use the host {urlsplit(next(iter(state['learners'].values()))).hostname}: "
        "if the room reaches this machine at another address, rerun with HOST=<that address>.\n"
        "Anyone on that network who has a learner's password gets in (and the monitoring port shows every "
        "account's connections to anyone who asks): run it on the room's network only, and "
        "`make workshop-down` when the day is over.\n"
        "Hand out .workshop/sheet.html (print it: one slip per learner) or .workshop/learners.csv; "
        "the progress board: `make workshop-board`."
    )


def board() -> int:
    """JupyterLab on the course's notebooks/ with the instructor's URL as NATS_URL: open
    instructor/progress-board.ipynb there."""
    from tools import workspace
    from tools.lab import lab

    os.environ["NATS_URL"] = instructor_url()
    print("Open instructor/progress-board.ipynb in JupyterLab and Run All.")
    return lab([], workspace.COURSE)


class WorkshopError(RuntimeError):
    """The workshop cannot do what was asked; the message says what to do instead."""


# --------------------------------------------------------------------------
# `python -m room up|down|status|reset`


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m room", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    sub = parser.add_subparsers(dest="command", required=True)
    start = sub.add_parser("up", help="generate accounts and passwords, start the server")
    start.add_argument("--learners", type=int, required=True)
    start.add_argument(
        "--host",
        default="0.0.0.0",
        help="address to listen on (default 0.0.0.0: every interface; 127.0.0.1: this machine only)",
    )
    start.add_argument(
        "--public-host",
        help="host written into the learners' URLs (default: --host, or this machine's address when --host is 0.0.0.0)",
    )
    start.add_argument("--port", type=int, default=DEFAULT_PORT)
    start.add_argument("--http-port", type=int, default=DEFAULT_HTTP_PORT)
    start.add_argument(
        "--compose",
        action="store_true",
        help="run the server with docker compose (profile `workshop`) instead of the embedded binary",
    )
    sub.add_parser("down", help="stop the workshop server")
    sub.add_parser("status", help="where it listens, connections and JetStream use per learner")
    sub.add_parser("reset", help="new passwords and empty accounts for the next group, same options")
    sub.add_parser("board", help="JupyterLab as the instructor, to open instructor/progress-board.ipynb")
    args = parser.parse_args(argv)
    try:
        if args.command == "up":
            if not 1 <= args.learners <= 500:
                raise WorkshopError("--learners must be between 1 and 500")
            state = up(Options(args.learners, args.host, args.public_host, args.port, args.http_port, args.compose))
            print(where(state))
        elif args.command == "reset":
            state = reset()
            print("New passwords, empty accounts. Hand out the new sheet.\n" + where(state))
        elif args.command == "down":
            print(down())
        elif args.command == "board":
            return board()
        else:
            print(status())
    except (WorkshopError, FileNotFoundError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    return 0
