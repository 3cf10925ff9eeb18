"""Workshop mode: a room of learners on one server, each learner in a NATS account of their own.

    make workshop LEARNERS=20 HOST=192.168.1.10   # or: python -m room up --learners 20 --host ...
    make workshop                                  # a stopped workshop: start it again as it was
    make workshop-add LEARNERS=2                   # latecomers: two more accounts, nobody disconnected
    make workshop-status                           # per learner: connections, message and API rates, storage
    make workshop-disable LEARNER=learner07        # (and workshop-enable) config reload, no restart
    make workshop-reset                            # new passwords, empty JetStream, same options
    make workshop-down

An account is its own subject space and its own JetStream: a learner's `user.created`, queue group
`billing-service` or bucket `profiles` is invisible to every other learner, so the numbered notebooks
run unchanged for everyone at once. `up` writes into .workshop/ (git-ignored):

    nats-server.conf  the server configuration: one account per learner (JetStream with per-account
                      limits), INSTRUCTOR (the progress board's stream), SYS (the system account)
    learners.csv      `learner,nats_url[,hub_url,hub_user,hub_password]`: each URL carries that learner's
                      user and password (the hub's columns once `make hub` ran)
    sheet.html        a printable page of slips to hand out, one per learner
    state.json        what `status`, `down`, `reset`, `add`, `disable` and the board read (passwords included)
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

from helpers import processes
from helpers.embedded import REPO, EmbeddedServer, binary
from helpers.monitor import monitor_get
from helpers.urls import INSTRUCTOR, SYSTEM, account_of, learner_of, redact, user_of  # noqa: F401 - the room's API
from room import limits

DIR = REPO / ".workshop"  # git-ignored: passwords live here
CONFIG = DIR / "nats-server.conf"
LEARNERS_CSV = DIR / "learners.csv"
SHEET = DIR / "sheet.html"
STATE = DIR / "state.json"
STORE = DIR / "store"
LOG = DIR / "nats-server.log"

USERS = {"instructor": INSTRUCTOR, "admin": SYSTEM}  # besides the learners' own users

# Per-account limits (room/limits.py), sized for the course: every numbered notebook, run once with the
# solutions, peaks far below them (`make test-workshop` runs them all at once for three learners).
# A learner who keeps every stream and bucket of several sittings reaches them, and is told so.
LEARNER_LIMITS = limits.LEARNER_JETSTREAM
INSTRUCTOR_LIMITS = limits.INSTRUCTOR_JETSTREAM
ACCOUNT_LIMITS = limits.LEARNER_ACCOUNT
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


def passwords(learners: int, first: int = 1) -> dict[str, str]:
    users = [learner_name(n) for n in range(first, learners + 1)] + (list(USERS) if first == 1 else [])
    return {user: secrets.token_urlsafe(12) for user in users}


def url_for(user: str, password: str, host: str, port: int) -> str:
    return f"nats://{quote(user, safe='')}:{quote(password, safe='')}@{host}:{port}"


def _limits(limits: dict) -> str:
    return "{" + ", ".join(f"{k}: {v}" for k, v in limits.items()) + "}"


def render_config(options: Options, secret: dict[str, str], disabled=()) -> str:
    """The server configuration: accounts, users, limits, the progress export/import. A disabled learner's
    account stays (with its data) but has no user: a reload disconnects them and refuses their password."""
    learners = [learner_name(n) for n in range(1, options.learners + 1)]
    mem = _megabytes(LEARNER_LIMITS["max_mem"]) * len(learners) + _megabytes(INSTRUCTOR_LIMITS["max_mem"])
    disk = _megabytes(LEARNER_LIMITS["max_file"]) * len(learners) + _megabytes(INSTRUCTOR_LIMITS["max_file"])
    per_learner = ACCOUNT_LIMITS.get("max_connections")
    total = [f"max_connections: {per_learner * len(learners) + 100}"] if per_learner else []  # +100: the instructor's
    server_limits = [f"{k}: {v}" for k, v in limits.SERVER.items() if k != "max_payload"]
    lines = [
        "# Generated by `make workshop` (room/workshop.py): do not edit, regenerate.",
        f"# {len(learners)} learners. Passwords are random per generation; this file is git-ignored.",
        "server_name: nats-workshop",
        "# Inside Docker the server listens on every interface of its container; the embedded server",
        "# overrides host with --addr (the instructor's choice, printed by `make workshop`).",
        f"host: {_quoted('0.0.0.0')}",
        f"port: {options.port}",
        f"http_port: {options.http_port}  # monitoring: learners see their own account with ?acc=learnerNN",
        f"max_payload: {limits.SERVER['max_payload']}",
        "# No learner can take the room down (room/limits.py, docs/room-at-scale.md):",
        *server_limits,
        *total,
        "",
        "jetstream {",
        "  # store_dir comes from the command line (-sd), as for the course's own server.",
        f"  max_memory_store: {mem}MB",
        f"  max_file_store: {disk}MB",
        *([f"  limits: {_limits(limits.JETSTREAM_SERVER_LIMITS)}"] if limits.JETSTREAM_SERVER_LIMITS else []),
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
        user = f"{{user: {name}, password: {_quoted(secret[name])}}}" if name not in disabled else ""
        lines += [
            f"  {name} {{" + ("  # disabled by the instructor: `make workshop-enable LEARNER=...`" * (not user)),
            f"    jetstream: {_limits(LEARNER_LIMITS)}",
            *([f"    limits: {_limits(ACCOUNT_LIMITS)}"] if ACCOUNT_LIMITS else []),
            f"    users: [{user}]",
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
    """A new workshop: passwords for everyone; write its files into `directory` and return its state."""
    host = options.url_host()
    state = {
        "options": options.__dict__,
        "passwords": passwords(options.learners),
        "disabled": [],
        "url_host": host,
        "monitor_url": f"http://{host}:{options.http_port}",
        "generated_at": time.strftime("%Y-%m-%d %H:%M:%S"),
    }
    return write_files(state, directory)


def write_files(state: dict, directory: Path = DIR) -> dict:
    """(Re)write the config, learners.csv and the sheet from `state` (passwords, disabled learners, the hub);
    the URLs in the state follow. Nothing here changes a password."""
    options, secret, host = Options(**state["options"]), state["passwords"], state["url_host"]
    state["learners"] = {
        learner_name(n): url_for(learner_name(n), secret[learner_name(n)], host, options.port)
        for n in range(1, options.learners + 1)
    }
    state["instructor_url"] = url_for("instructor", secret["instructor"], host, options.port)
    state["admin_url"] = url_for("admin", secret["admin"], host, options.port)
    write_private(directory / CONFIG.name, render_config(options, secret, state.get("disabled", ())))
    hub = state.get("hub")
    header = ["learner", "nats_url"] + (["hub_url", "hub_user", "hub_password"] if hub else [])
    rows = [header] + [
        [name, url] + ([hub["url"], name, hub["passwords"][name]] if hub else [])
        for name, url in state["learners"].items()
    ]
    write_private(directory / LEARNERS_CSV.name, "".join(",".join(row) + "\n" for row in rows))
    write_private(directory / SHEET.name, render_sheet(state["learners"], state["monitor_url"], hub))
    return state


def render_sheet(learners: dict[str, str], monitor_url: str, hub: dict | None = None) -> str:
    """A printable HTML page: one slip per learner, cut along the dashed lines. With the hub, the browser
    way comes first (nothing to install); the terminal lines are for bash, PowerShell and cmd."""

    def slip(name: str, url: str) -> str:
        e = html.escape
        browser = (
            f"""<p><b>In your browser (nothing to install):</b> open <code>{e(hub["url"])}</code>, log in as
<code>{e(name)}</code> with the password <code>{e(hub["passwords"][name])}</code>.</p>
"""
            if hub
            else ""
        )
        return f"""<div class="slip"><h2>NATS in Notebooks · {e(name)}</h2>
{browser}<p>Your server URL (it carries your password; keep it to yourself):</p>
<pre>{e(url)}</pre>
<p>On your own laptop, in a terminal in the course folder, then <code>make lab</code>
(or <code>python -m tools lab</code>):</p>
<table><tr><td>bash, zsh (Linux, macOS)</td><td><code>export NATS_URL='{e(url)}'</code></td></tr>
<tr><td>PowerShell (Windows)</td><td><code>$env:NATS_URL = '{e(url)}'</code></td></tr>
<tr><td>cmd (Windows)</td><td><code>set "NATS_URL={e(url)}"</code></td></tr></table>
<p>Or paste the URL into a notebook's <code>nats_url = "..."</code> parameter.
Your own monitoring view: {e(monitor_url)}/connz?acc={e(name)}</p></div>"""

    slips = "\n".join(slip(name, url) for name, url in learners.items())
    return f"""<!doctype html><html><head><meta charset="utf-8"><title>Workshop: learners' URLs</title>
<style>body{{font-family:sans-serif}} .slip{{border-bottom:2px dashed #888;padding:8px 0;break-inside:avoid}}
pre{{font-size:13px;background:#f4f4f4;padding:6px}} h2{{font-size:16px;margin:4px 0}} p{{margin:4px 0}}
td{{font-size:12px;padding:1px 6px}}</style>
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
    state = processes.read_state(directory / STATE.name)
    if state and "passwords" not in state and "learners" in state:  # written before passwords were kept apart
        from urllib.parse import unquote

        urls = state["learners"] | {"instructor": state["instructor_url"], "admin": state["admin_url"]}
        state["passwords"] = {user: unquote(urlsplit(url).password or "") for user, url in urls.items()}
        state["url_host"] = urlsplit(state["instructor_url"]).hostname
        state.setdefault("disabled", [])
    return state


def save_state(state: dict, directory: Path = DIR) -> None:
    processes.write_state(directory / STATE.name, {k: v for k, v in state.items() if k != "resumed"}, private=True)


def running(directory: Path = DIR) -> dict | None:
    """The state of this folder's workshop server if it is still running, else None. A pid is trusted only
    when it is a nats-server started with this folder's config (a stale pid may be anyone's by now)."""
    state = read_state(directory)
    if not state:
        return None
    if state["options"].get("compose"):
        return state if state.get("started") and _answers(state["local_monitor_url"]) else None
    return state if processes.is_server(state.get("pid"), directory / CONFIG.name) else None


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


def changes(old: dict, new: dict) -> list[str]:
    """What differs between two workshops' options, one 'name: old -> new' each."""
    return [f"{k}: {old.get(k)!r} -> {new.get(k)!r}" for k in new if old.get(k) != new.get(k)]


def up(options: Options | None, directory: Path = DIR, *, new_room: bool = False, timeout: float = 20.0) -> dict:
    """Start the workshop's server; refuse if one already runs (`reset` replaces it).

    A stopped workshop starts again as it was (same passwords, same data: the slips handed out still work),
    with `options` None or equal to its own. Other options are refused, saying what changed, unless
    `new_room`: then everything of the last room is deleted and new passwords are generated."""
    if state := running(directory):
        raise WorkshopError(
            f"A workshop server already runs (pid {state['pid']}, {len(state['learners'])} learners): "
            "`make workshop-add LEARNERS=N` adds latecomers; `make workshop-down` or `make workshop-reset`."
        )
    state = read_state(directory)
    if options is None:
        if not state:
            raise WorkshopError("No stopped workshop to start again here: `make workshop LEARNERS=N HOST=...`.")
        options = Options(**state["options"])
    if options.compose and (options.port, options.http_port) != (DEFAULT_PORT, DEFAULT_HTTP_PORT):
        raise WorkshopError("With --compose the ports are docker-compose.yml's: 4222 and 8222.")
    if state and (directory / CONFIG.name).exists() and not new_room:
        changed = changes(state["options"], options.__dict__)
        if changed:
            raise WorkshopError(
                "A stopped workshop is here with other options, and starting it with these would delete every "
                f"learner's data and change every password. What differs: {'; '.join(changed)}.\n"
                "To start it again as it was (same slips): `make workshop` (no options). "
                "For latecomers: start it, then `make workshop-add LEARNERS=N`. "
                "For a new room (new passwords, empty accounts): `make workshop-new LEARNERS=N HOST=...` "
                "(python -m room up --new-room ...)."
            )
        state["resumed"] = True
        write_files(state, directory)  # the files as this version of the course writes them, same passwords
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
    save_state(state, directory)
    asyncio.run(create_progress_stream(local_url(state, "instructor")))
    return state


def reload(state: dict, directory: Path = DIR) -> None:
    """Rewrite the files from `state` and have the running server reload its config (SIGHUP): accounts added
    or users removed take effect without a restart; nobody else is disconnected."""
    import signal

    write_files(state, directory)
    check_config(directory / CONFIG.name)
    save_state(state, directory)
    if state["options"].get("compose"):
        _compose("kill", "-s", "SIGHUP", "nats-workshop")
    else:
        if not hasattr(signal, "SIGHUP"):
            raise WorkshopError("Reloading the config needs SIGHUP (Linux or macOS): restart the workshop instead.")
        os.kill(state["pid"], signal.SIGHUP)
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:  # the reload is done when /varz shows the new config's time
        try:
            if monitor_get(state["local_monitor_url"], "/varz", 1.0).get("config_load_time") != state.get("loaded"):
                break
        except OSError:
            pass
        time.sleep(0.05)


def _loaded(state: dict) -> None:
    try:
        state["loaded"] = monitor_get(state["local_monitor_url"], "/varz", 1.0).get("config_load_time")
    except OSError:
        state["loaded"] = None


def add(count: int, directory: Path = DIR) -> dict:
    """Latecomers: `count` more learner accounts on the running workshop (config reload, no restart)."""
    state = running(directory)
    if not state:
        raise WorkshopError("No workshop server is running: `make workshop` first, then add latecomers.")
    if not 1 <= count <= 500 - len(state["learners"]):
        raise WorkshopError("LEARNERS must be a number of latecomers to add, at least 1 (500 in all at most).")
    first = state["options"]["learners"] + 1
    state["options"]["learners"] += count
    state["passwords"] |= passwords(first + count - 1, first)
    if hub := state.get("hub"):
        hub["passwords"] |= {learner_name(n): secrets.token_urlsafe(9) for n in range(first, first + count)}
    _loaded(state)
    reload(state, directory)
    return state


def set_enabled(learner: str, enabled: bool, directory: Path = DIR) -> str:
    """Disable a learner (their connections are closed, their password refused; their data stays) or enable
    them again: one config reload, no restart, nobody else disconnected."""
    state = running(directory)
    if not state:
        raise WorkshopError("No workshop server is running.")
    if learner not in state["learners"]:
        raise WorkshopError(f"No learner {learner!r} here: the learners are {', '.join(state['learners'])}.")
    disabled = set(state.get("disabled", []))
    disabled = disabled - {learner} if enabled else disabled | {learner}
    state["disabled"] = sorted(disabled)
    _loaded(state)
    reload(state, directory)
    if enabled:
        return f"{learner} is enabled again: the same slip works."
    return (
        f"{learner} is disabled: their connections are closed and their password refused; their streams and "
        f"buckets are kept. `make workshop-enable LEARNER={learner}` lets them back in."
    )


def instructor_url(directory: Path = DIR) -> str:
    """The instructor's URL: NATS_URL when it is the instructor's (the board on the hub), else the workshop
    started from this folder (the progress board's default)."""
    from helpers.urls import clean

    env = clean(os.environ.get("NATS_URL"))
    if user_of(env) == "instructor":
        return env
    state = read_state(directory)
    if not state:
        raise WorkshopError(
            "No workshop was started from this folder (.workshop/state.json is missing): "
            "run `make workshop LEARNERS=N` first, or pass the instructor's URL."
        )
    return local_url(state, "instructor")


def roster(directory: Path = DIR) -> list[str]:
    """The learners of the workshop (for the board: learners with no verdict yet show too)."""
    if os.environ.get("WORKSHOP_LEARNERS"):
        return os.environ["WORKSHOP_LEARNERS"].split(",")
    return list((read_state(directory) or {}).get("learners", {}))


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
    """The INSTRUCTOR account's stream of verdicts: a board opened late still sees the earlier ones. Capped:
    a verdict over max_msg_size is refused by the stream, each learner keeps at most max_msgs_per_subject
    (their own oldest go first), and the whole stream max_bytes (room/limits.py BOARD)."""
    import nats
    from nats.js.api import DiscardPolicy, StreamConfig

    config = StreamConfig(
        name=PROGRESS_STREAM,
        subjects=[f"{PROGRESS_SUBJECT}.>"],
        max_age=2 * 24 * 3600,
        discard=DiscardPolicy.OLD,
        **limits.BOARD,
    )
    nc = await nats.connect(instructor_url, name="workshop-setup", connect_timeout=5, allow_reconnect=False)
    try:
        js = nc.jetstream()
        try:
            await js.add_stream(config)
        except nats.js.errors.BadRequestError:  # a stream from an older version of the course: bring it up to date
            await js.update_stream(config)
    finally:
        await nc.close()


def down(directory: Path = DIR, *, timeout: float = 120.0) -> str:
    """Stop this folder's workshop server, waiting (bounded) for JetStream to finish its shutdown."""
    state = running(directory)
    if not state:
        return "No workshop server is running."
    if state["options"].get("compose"):
        _compose("rm", "--stop", "--force", "nats-workshop", timeout=timeout + 30)
        state["started"] = False
        how = ""
    else:
        how = " " + processes.stop_server(state["pid"], directory / CONFIG.name, timeout, say=print)
    state["pid"] = None
    save_state(state, directory)
    return (
        f"Stopped the workshop server;{how} The learners' URLs stop working. Its data stays in "
        f"{directory / 'store'}: `make workshop` starts it again as it was."
    )


def reset(directory: Path = DIR, *, timeout: float = 20.0) -> dict:
    """A clean account for every learner between groups: new passwords, empty JetStream, same options."""
    state = read_state(directory)
    if not state:
        raise WorkshopError("No workshop to reset: start one with `make workshop LEARNERS=N`.")
    down(directory)
    return up(Options(**state["options"]), directory, new_room=True, timeout=timeout)


def rates(monitor_url: str, seconds: float = 1.0) -> dict[str, dict]:
    """Per account: connections, subscriptions, messages in and out per second, JetStream API requests per
    second and in all, streams and bytes stored. Two samples `seconds` apart of /accstatz and /jsz (no
    per-connection listing: no 10,000-connection ceiling)."""

    def sample():
        acc = monitor_get(monitor_url, "/accstatz?unused=1", 5.0).get("account_statz") or []
        js = monitor_get(monitor_url, "/jsz?accounts=true&streams=true", 5.0).get("account_details") or []
        return time.monotonic(), {a["acc"]: a for a in acc}, {a["name"]: a for a in js}

    t0, acc0, js0 = sample()
    time.sleep(seconds)  # the interval the rates are measured over
    t1, acc1, js1 = sample()
    dt, out = t1 - t0, {}
    for name in acc1.keys() | js1.keys():
        a0, a1 = acc0.get(name, {}), acc1.get(name, {})
        j0, j1 = js0.get(name, {}), js1.get(name, {})

        def delta(x0, x1, *path):
            for key in path:
                x0, x1 = (x0 or {}).get(key, 0), (x1 or {}).get(key, 0)
            return max(0, (x1 or 0) - (x0 or 0)) / dt

        out[name] = {
            "connections": a1.get("conns", 0),
            "subscriptions": a1.get("num_subscriptions", 0),
            "msgs_in_per_s": delta(a0, a1, "received", "msgs"),
            "msgs_out_per_s": delta(a0, a1, "sent", "msgs"),
            "api_per_s": delta(j0, j1, "api", "total"),
            "api_errors_per_s": delta(j0, j1, "api", "errors"),
            "streams": len(j1.get("stream_detail") or []),
            "stored_mb": (j1.get("storage", 0) + j1.get("memory", 0)) / 2**20,
        }
    return out


def status(directory: Path = DIR, seconds: float = 1.0) -> str:
    state = running(directory)
    if not state:
        return "No workshop server is running. Start one with `make workshop LEARNERS=N`."
    lines = [where(state), ""]
    try:
        now = rates(state["local_monitor_url"], seconds)
    except OSError as e:
        return "\n".join(lines + [f"The monitoring port does not answer: {e}"])
    lines.append(
        f"{'account':<12} {'conns':>5} {'subs':>6} {'msgs in/s':>10} {'msgs out/s':>10} {'JS API/s':>9} "
        f"{'streams':>7} {'stored':>9}  (rates over {seconds:.0f} s)"
    )
    disabled, alerts = set(state.get("disabled", [])), []
    for name in [*state["learners"], INSTRUCTOR]:
        r = now.get(name) or dict.fromkeys(("connections", "subscriptions", "streams"), 0) | dict.fromkeys(
            ("msgs_in_per_s", "msgs_out_per_s", "api_per_s", "stored_mb"), 0.0
        )
        flag = " DISABLED" if name in disabled else ""
        if r["api_per_s"] > limits.API_RATE_ALERT and name in state["learners"]:
            flag += " <- JetStream API loop?"
            alerts.append(name)
        lines.append(
            f"{name:<12} {r['connections']:>5} {r['subscriptions']:>6} {r['msgs_in_per_s']:>10.0f} "
            f"{r['msgs_out_per_s']:>10.0f} {r['api_per_s']:>9.0f} {r['streams']:>7} {r['stored_mb']:>7.1f}MB{flag}"
        )
    for name in alerts:
        lines.append(
            f"\n{name} makes more than {limits.API_RATE_ALERT:.0f} JetStream API requests a second: other learners' "
            f"JetStream calls may time out. `make workshop-disable LEARNER={name}` stops them (their data stays)."
        )
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
    """JupyterLab on the course's notebooks/: open instructor/progress-board.ipynb there. The board reads the
    instructor's URL from .workshop/ itself: no password goes through the environment or onto the screen."""
    from tools import workspace
    from tools.lab import lab

    state = running()
    if not state:
        raise WorkshopError("No workshop server is running: `make workshop` first.")
    os.environ["NATS_URL"] = local_url(state, "instructor")  # lab() prints it redacted (server.shown_url)
    print("Open instructor/progress-board.ipynb in JupyterLab and Run All.")
    return lab([], workspace.COURSE)


class WorkshopError(RuntimeError):
    """The workshop cannot do what was asked; the message says what to do instead."""


# --------------------------------------------------------------------------
# `python -m room up|add|disable|enable|down|status|reset|board` (hub and hub-down: room/hub.py)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m room", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    sub = parser.add_subparsers(dest="command", required=True)
    start = sub.add_parser("up", help="start the workshop: a stopped one as it was, else a new one")
    start.add_argument("--learners", type=int, help="how many learners (a new workshop); omit to resume")
    start.add_argument(
        "--host",
        help="address to listen on (default 0.0.0.0: every interface; 127.0.0.1: this machine only)",
    )
    start.add_argument(
        "--public-host",
        help="host written into the learners' URLs (default: --host, or this machine's address when --host is 0.0.0.0)",
    )
    start.add_argument("--port", type=int)
    start.add_argument("--http-port", type=int)
    start.add_argument(
        "--compose",
        action="store_true",
        help="run the server with docker compose (profile `workshop`) instead of the embedded binary",
    )
    start.add_argument(
        "--new-room", action="store_true", help="delete a stopped workshop's data and passwords if options differ"
    )
    more = sub.add_parser("add", help="latecomers: more learner accounts on the running workshop (no restart)")
    more.add_argument("count", type=int)
    for name, text in (("disable", "close a learner's connections and refuse them"), ("enable", "let them in")):
        sub.add_parser(name, help=text + " (config reload, no restart)").add_argument("learner")
    sub.add_parser("down", help="stop the workshop server")
    sub.add_parser("status", help="per learner: connections, message and API rates, storage")
    sub.add_parser("reset", help="new passwords and empty accounts for the next group, same options")
    sub.add_parser("board", help="JupyterLab as the instructor, to open instructor/progress-board.ipynb")
    args = parser.parse_args(argv)
    try:
        if args.command == "up":
            fields = ("learners", "host", "public_host", "port", "http_port")
            given = {k: getattr(args, k) for k in fields if getattr(args, k) is not None}
            state = read_state()
            if args.new_room or not state:  # a new workshop
                if "learners" not in given:
                    raise WorkshopError("A new workshop needs LEARNERS=N (python -m room up --learners N).")
                options = Options(**given, compose=args.compose)
            elif given or args.compose != state["options"].get("compose", False):
                options = Options(**(state["options"] | given | {"compose": args.compose}))
            else:
                options = None  # start the stopped workshop again as it was
            if options and not 1 <= options.learners <= 500:
                raise WorkshopError("--learners must be between 1 and 500")
            state = up(options, new_room=args.new_room)
            print(where(state))
        elif args.command == "add":
            if (read_state() or {}).get("hub", {}).get("pid"):
                raise WorkshopError("The hub runs: `make hub-add LEARNERS=N` adds latecomers there (OS users too).")
            state = add(args.count)
            print(
                f"Added {args.count} learners (now {len(state['learners'])}); nobody was disconnected. "
                "Print the new slips from .workshop/sheet.html (the others are unchanged)."
            )
        elif args.command in ("disable", "enable"):
            print(set_enabled(args.learner, args.command == "enable"))
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
