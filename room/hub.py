"""`make hub`: a room with only browsers. JupyterHub on the workshop box, one OS user per learner.

    sudo make hub LEARNERS=20 HOST=192.168.1.10 [HUB_PORT=8000 IDLE_MINUTES=60]
    sudo make hub-down                     # the hub, the learners' servers and the workshop server

What `up()` does, as root on a Linux box that is the workshop's own (as The Littlest JupyterHub does):
1. starts (or reuses) the workshop's NATS server (room/workshop.py): one account per learner;
2. builds the environment every learner runs, readable by them: a virtualenv in ENV_HOME (/opt/nats-in-notebooks
   by default) on a Python outside /root (a virtualenv on a Python in root's home, as pyenv puts it, fails
   with "Permission denied" for anyone else), with the course's requirements, jupyterhub, the pure-Python
   configurable-http-proxy and jupyterhub-idle-culler, and a read-only copy of the course installed in it;
3. creates an OS user per learner (learner01, ...; home 0700) and an `instructor`, each with their own
   my-work/ (the same copies as `make lab`);
4. starts JupyterHub as root with LocalProcessSpawner: each learner's JupyterLab runs as their OS user, in
   ~/my-work, with NATS_URL (their own account) in its environment, never on a command line;
   idle servers are culled after IDLE_MINUTES; the instructor is the hub's admin;
5. writes the hub's URL, user and password into .workshop/learners.csv and the sheet.

The hub's own files (config, database, cookie secret, log) are in .workshop/hub/ (root only).
"""

from __future__ import annotations

import hashlib
import json
import os
import pwd
import secrets
import shutil
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

from helpers import processes
from helpers.embedded import REPO, free_port
from room import workshop

ENV_HOME = Path(os.environ.get("NATS_HUB_HOME", "/opt/nats-in-notebooks"))
HUB_PINS = ["jupyterhub==6.1.1", "configurable-http-proxy==0.4.0", "jupyterhub-idle-culler==2.0.0"]
COURSE_PARTS = ["helpers", "room", "tools", "notebooks", "config", "pyproject.toml", "requirements.txt"]
INSTRUCTOR = "instructor"
PYTHONS = [f"/usr/bin/python3.{m}" for m in (13, 12, 11)] + [f"/usr/local/bin/python3.{m}" for m in (13, 12, 11)]


class HubError(workshop.WorkshopError):
    """The hub cannot start; the message says what to do."""


# --------------------------------------------------------------------------
# The environment learners run: readable by every OS user.


def readable_by_all(path: Path) -> bool:
    """Can a user who is neither the owner nor in the group read (and for folders, enter) `path`?"""
    path = Path(os.path.realpath(path))
    for folder in [*reversed(path.parents)]:
        if not folder.stat().st_mode & 0o001:
            return False
    return bool(path.stat().st_mode & 0o004)


def find_python() -> str:
    """A Python 3.11+ that every user can run (not one inside /root)."""
    for candidate in [os.environ.get("HUB_PYTHON", ""), *PYTHONS]:
        if candidate and Path(candidate).exists() and readable_by_all(Path(candidate)):
            ok = subprocess.run(
                [candidate, "-c", "import sys, venv, ensurepip; sys.exit(sys.version_info < (3, 11))"],
                capture_output=True,
                timeout=30,
            )
            if ok.returncode == 0:
                return candidate
    raise HubError(
        "No Python 3.11+ outside root's home was found for the learners' environment (a Python under /root, as "
        "pyenv installs it, cannot be read by the learners' OS users). Install one for everyone, e.g. "
        "`apt-get install python3 python3-venv` (Debian 12: 3.11), or set HUB_PYTHON=/path/to/python3.12."
    )


def _digest() -> str:
    text = "".join((REPO / name).read_text() for name in ("requirements.txt", "pyproject.toml")) + " ".join(HUB_PINS)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def build_environment(say=print) -> Path:
    """The virtualenv and course copy in ENV_HOME (rebuilt only when the requirements changed); returns the
    venv's folder."""
    venv, course, stamp = ENV_HOME / "venv", ENV_HOME / "course", ENV_HOME / "venv" / ".installed"
    if course.exists():
        shutil.rmtree(course)
    course.mkdir(parents=True)
    for name in COURSE_PARTS:  # a read-only copy: learners import the course from here
        source = REPO / name
        if source.is_dir():
            shutil.copytree(source, course / name, ignore=shutil.ignore_patterns("__pycache__", ".ipynb_checkpoints"))
        else:
            shutil.copy2(source, course / name)
    subprocess.run(["chmod", "-R", "a+rX,go-w", str(ENV_HOME)], check=True, timeout=60)
    if stamp.exists() and stamp.read_text() == _digest():
        return venv
    python = find_python()
    say(f"Building the learners' environment in {venv} with {python} (a minute or two, once)...")
    shutil.rmtree(venv, ignore_errors=True)
    subprocess.run([python, "-m", "venv", str(venv)], check=True, timeout=300)
    uv = shutil.which("uv") or (str(REPO / ".venv" / "bin" / "uv") if (REPO / ".venv/bin/uv").exists() else None)
    install = (
        [uv, "pip", "install", "-q", "--compile-bytecode", "--python", str(venv / "bin" / "python")]
        if uv
        else [str(venv / "bin" / "python"), "-m", "pip", "install", "-q", "--disable-pip-version-check"]
    )
    subprocess.run([*install, "-r", str(course / "requirements.txt"), *HUB_PINS], check=True, timeout=1200)
    subprocess.run([*install, "--no-deps", "-e", str(course)], check=True, timeout=300)
    subprocess.run(["chmod", "-R", "a+rX,go-w", str(ENV_HOME)], check=True, timeout=60)
    stamp.write_text(_digest())
    return venv


# --------------------------------------------------------------------------
# OS users: one per learner, and the instructor.


def user_exists(name: str) -> bool:
    try:
        pwd.getpwnam(name)
        return True
    except KeyError:
        return False


def ensure_user(name: str, course_notebooks: Path, *, board: bool = False) -> Path:
    """The OS user `name` with a private home and their own my-work/ (kept if it exists: their work)."""
    if not user_exists(name):
        subprocess.run(["useradd", "--create-home", "--shell", "/bin/bash", name], check=True, timeout=30)
    home = Path(pwd.getpwnam(name).pw_dir)
    home.chmod(0o700)  # nobody else reads a learner's work
    from tools import workspace

    work = home / "my-work"
    workspace.sync(work, course_notebooks)
    if board:
        (work / "instructor").mkdir(exist_ok=True)
        shutil.copy2(course_notebooks / "instructor" / "progress-board.ipynb", work / "instructor")
    subprocess.run(["chown", "-R", f"{name}:{name}", str(work)], check=True, timeout=60)
    return home


def remove_user(name: str) -> None:
    """Delete an OS user and their home (tests; `hub-down --remove-users`)."""
    if user_exists(name):
        uid = pwd.getpwnam(name).pw_uid
        for status in Path("/proc").glob("[0-9]*/status"):  # that user's processes, each by its pid
            try:
                owner = next(line for line in status.read_text().splitlines() if line.startswith("Uid:"))
                if int(owner.split()[1]) == uid:
                    os.kill(int(status.parent.name), signal.SIGKILL)
            except (OSError, StopIteration, ValueError):
                continue
        subprocess.run(["userdel", "--remove", name], capture_output=True, timeout=30)


# --------------------------------------------------------------------------
# JupyterHub's config.

CONFIG_TEMPLATE = '''# Generated by `make hub` (room/hub.py): do not edit. Root only: it names the password file.
import hashlib, hmac, json
from jupyterhub.auth import Authenticator

STATE = {state!r}


def hub_state():  # read at every login and spawn: latecomers (`make hub-add`) join while the hub runs
    with open(STATE) as f:
        return json.load(f)


HUB = hub_state()


class SlipAuthenticator(Authenticator):
    """The user name and password on each learner's slip (and the instructor's)."""

    async def authenticate(self, handler, data):
        now = hub_state()
        user, password = data.get("username", ""), data.get("password", "")
        digest = hashlib.sha256((now["salt"] + password).encode()).hexdigest()
        if user in now["hashes"] and hmac.compare_digest(now["hashes"][user], digest):
            return user
        return None


c.JupyterHub.authenticator_class = SlipAuthenticator
c.Authenticator.admin_users = {{{instructor!r}}}
c.Authenticator.allow_all = True
c.JupyterHub.bind_url = {bind_url!r}
c.JupyterHub.hub_port = {hub_port}
c.JupyterHub.db_url = {db_url!r}
c.JupyterHub.cookie_secret_file = {cookie!r}
c.JupyterHub.pid_file = {pid_file!r}
c.ConfigurableHTTPProxy.command = [{proxy!r}]
c.ConfigurableHTTPProxy.api_url = {proxy_api!r}
c.JupyterHub.spawner_class = "localprocess"
c.Spawner.cmd = [{singleuser!r}]
# Kernels listen on loopback TCP; every message is signed with a key in the learner's private runtime folder.
c.Spawner.args = ["--LabApp.expose_app_in_browser=True"]
c.Spawner.default_url = "/lab"
c.Spawner.notebook_dir = "~/my-work"
c.Spawner.start_timeout = 120
c.Spawner.http_timeout = 120


def _environment(name):
    def value(spawner):
        return hub_state()["env"].get(spawner.user.name, {{}}).get(name, "")
    return value


# NATS_URL is the learner's own account: it reaches their server's environment, never a command line.
c.Spawner.environment = {{k: _environment(k) for k in ("NATS_URL", "NATS_MONITOR_URL", "WORKSHOP_LEARNERS")}}
c.JupyterHub.services = [
    {{"name": "idle-culler", "command": [{python!r}, "-m", "jupyterhub_idle_culler", "--timeout={idle_seconds}"]}},
    {{"name": "room", "api_token": HUB["api_token"]}},
]
c.JupyterHub.load_roles = [
    {{"name": "idle-culler", "scopes": ["list:users", "read:users:activity", "read:servers", "delete:servers"],
      "services": ["idle-culler"]}},
    {{"name": "room", "scopes": ["admin:users", "admin:servers", "access:servers", "list:users", "read:users"],
      "services": ["room"]}},
]
'''


def hub_dir(directory: Path) -> Path:
    path = directory / "hub"
    path.mkdir(parents=True, exist_ok=True)
    path.chmod(0o700)
    return path


def up(
    learners: int | None,
    directory: Path = workshop.DIR,
    *,
    host: str = "0.0.0.0",
    public_host: str | None = None,
    hub_port: int = 8000,
    idle_minutes: float = 60.0,
    nats_port: int | None = None,
    http_port: int | None = None,
    say=print,
) -> dict:
    """Start the workshop server (or reuse the running one), the learners' OS users and JupyterHub."""
    if sys.platform != "linux" or os.geteuid() != 0:
        raise HubError("`make hub` runs as root on a Linux box that is the workshop's own (sudo make hub ...).")
    started = time.monotonic()
    state = workshop.running(directory)
    if not state:
        options = None
        if learners is not None:
            options = workshop.Options(
                learners,
                host,
                public_host,
                nats_port or workshop.DEFAULT_PORT,
                http_port or workshop.DEFAULT_HTTP_PORT,
            )
        state = workshop.up(options, directory)
    hub = state.get("hub") or {}
    if hub.get("pid") and processes.pid_alive(hub["pid"]) and hub_alive(hub):
        raise HubError(f"The hub already runs at {hub['url']}: `make hub-down` first.")
    venv = build_environment(say)
    names = list(state["learners"])
    course_notebooks = ENV_HOME / "course" / "notebooks"
    for name in names:
        ensure_user(name, course_notebooks)
    ensure_user(INSTRUCTOR, course_notebooks, board=True)
    url_host = public_host or (host if host not in ("0.0.0.0", "::", "") else state["url_host"])
    passwords = hub.get("passwords", {})
    passwords = {name: passwords.get(name) or secrets.token_urlsafe(9) for name in [*names, INSTRUCTOR]}
    hub = {
        "url": f"http://{url_host}:{hub_port}",
        "local_url": f"http://127.0.0.1:{hub_port}",
        "passwords": passwords,
        "idle_minutes": idle_minutes,
        "host": host,
        "port": hub_port,
    }
    state["hub"] = hub
    workshop.write_files(state, directory)  # the sheet and learners.csv gain the hub's columns
    workshop.save_state(state, directory)
    folder = hub_dir(directory)
    write_hub_files(state, folder, venv, host, hub_port, idle_minutes)
    log = open(folder / "jupyterhub.log", "ab")  # noqa: SIM115 - handed to the detached process
    env = {k: v for k, v in os.environ.items() if not k.startswith(("NATS_", "JUPYTER"))}
    env["PATH"] = f"{venv / 'bin'}:{env.get('PATH', '/usr/bin:/bin')}"
    process = subprocess.Popen(
        [str(venv / "bin" / "jupyterhub"), "-f", str(folder / "jupyterhub_config.py")],
        cwd=folder,
        stdin=subprocess.DEVNULL,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
        env=env,
    )
    hub["pid"] = process.pid
    workshop.save_state(state, directory)
    deadline = time.monotonic() + 120
    while not hub_alive(hub):
        if process.poll() is not None or time.monotonic() > deadline:
            raise HubError(f"JupyterHub did not start; its log, {folder / 'jupyterhub.log'}:\n{_tail(folder)}")
        time.sleep(0.2)
    hub["answered_after_s"] = round(time.monotonic() - started, 1)
    workshop.save_state(state, directory)
    return state


def write_hub_files(state: dict, folder: Path, venv: Path, host: str, port: int, idle_minutes: float) -> None:
    write_hub_state(state, folder)
    bind = f"http://{host}:{port}"
    config = CONFIG_TEMPLATE.format(
        state=str(folder / "hub-state.json"),
        instructor=INSTRUCTOR,
        bind_url=bind,
        hub_port=free_port(),
        db_url=f"sqlite:///{folder / 'jupyterhub.sqlite'}",
        cookie=str(folder / "jupyterhub_cookie_secret"),
        pid_file=str(folder / "jupyterhub.pid"),
        proxy=str(venv / "bin" / "configurable-http-proxy"),
        proxy_api=f"http://127.0.0.1:{free_port()}",
        singleuser=str(venv / "bin" / "jupyterhub-singleuser"),
        python=str(venv / "bin" / "python"),
        idle_seconds=int(idle_minutes * 60),
    )
    workshop.write_private(folder / "jupyterhub_config.py", config)


def write_hub_state(state: dict, folder: Path) -> None:
    """What the running hub reads at each login and spawn (root only): password hashes, each user's NATS_URL."""
    hub = state["hub"]
    salt = secrets.token_hex(8)
    local_monitor = state["local_monitor_url"]
    # A learner's monitoring view is their own account: find_server adds ?acc=learnerNN to NATS_MONITOR_URL.
    env = {
        name: {"NATS_URL": workshop.local_url(state, name), "NATS_MONITOR_URL": local_monitor}
        for name in state["learners"]
    }
    env[INSTRUCTOR] = {
        "NATS_URL": workshop.local_url(state, "instructor"),
        "NATS_MONITOR_URL": local_monitor,
        "WORKSHOP_LEARNERS": ",".join(state["learners"]),
    }
    secret_state = {
        "salt": salt,
        "hashes": {u: hashlib.sha256((salt + p).encode()).hexdigest() for u, p in hub["passwords"].items()},
        "env": env,
        "api_token": hub.setdefault("api_token", secrets.token_hex(24)),
    }
    workshop.write_private(folder / "hub-state.json", json.dumps(secret_state))


def add(count: int, directory: Path = workshop.DIR) -> dict:
    """Latecomers on the hub: NATS accounts (config reload), OS users, hub passwords; nobody disconnected."""
    state = workshop.add(count, directory)
    for name in state["learners"]:
        if not user_exists(name) or not (Path(pwd.getpwnam(name).pw_dir) / "my-work").exists():
            ensure_user(name, ENV_HOME / "course" / "notebooks")
    state["hub"]["passwords"].setdefault(INSTRUCTOR, secrets.token_urlsafe(9))
    workshop.write_files(state, directory)
    workshop.save_state(state, directory)
    write_hub_state(state, hub_dir(directory))
    return state


def hub_alive(hub: dict) -> bool:
    try:
        with urllib.request.urlopen(f"{hub['local_url']}/hub/api/", timeout=2) as r:
            return r.status == 200
    except OSError:
        return False


def api(hub: dict, path: str, method: str = "GET", body: dict | None = None):
    """JupyterHub's REST API with the room's service token."""
    request = urllib.request.Request(
        f"{hub['local_url']}/hub/api{path}",
        method=method,
        data=json.dumps(body).encode() if body is not None else None,
        headers={"Authorization": f"token {hub['api_token']}"},
    )
    with urllib.request.urlopen(request, timeout=30) as r:
        text = r.read()
        return json.loads(text) if text else None


def _tail(folder: Path, lines: int = 30) -> str:
    try:
        return "\n".join((folder / "jupyterhub.log").read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"


def memory_per_server() -> dict[str, float]:
    """Resident memory (MB) per learner: their single-user server plus their kernels (Linux /proc)."""
    out: dict[str, float] = {}
    for status in Path("/proc").glob("[0-9]*/status"):
        try:
            fields = dict(line.split(":", 1) for line in status.read_text().splitlines() if ":" in line)
        except OSError:
            continue
        uid = int(fields.get("Uid", "0").split()[0])
        if uid == 0:
            continue
        try:
            name = pwd.getpwuid(uid).pw_name
        except KeyError:
            continue
        rss = int(fields.get("VmRSS", "0 kB").split()[0]) / 1024
        out[name] = out.get(name, 0.0) + rss
    return {k: round(v, 1) for k, v in out.items()}


def down(directory: Path = workshop.DIR, *, remove_users: bool = False, timeout: float = 60.0) -> str:
    """Stop JupyterHub (it stops the learners' servers first), then the workshop server. OS users and their
    my-work/ stay unless `remove_users` (their work survives a restart of the hub)."""
    state = workshop.read_state(directory)
    lines = []
    hub = (state or {}).get("hub") or {}
    pid = hub.get("pid")
    if pid and processes.pid_alive(pid) and "jupyterhub" in " ".join(processes.command_line(pid) or []):
        os.kill(pid, signal.SIGTERM)
        deadline = time.monotonic() + timeout
        while processes.pid_alive(pid) and time.monotonic() < deadline:
            time.sleep(0.1)
        if processes.pid_alive(pid):
            os.killpg(pid, signal.SIGKILL)
        lines.append("Stopped JupyterHub and the learners' servers.")
        hub["pid"] = None
        workshop.save_state(state, directory)
    else:
        lines.append("No hub is running.")
    if remove_users and state:
        for name in [*state["learners"], INSTRUCTOR]:
            remove_user(name)
        lines.append("Removed the learners' and the instructor's OS users and their homes.")
    lines.append(workshop.down(directory))
    return "\n".join(lines)


def main(argv=None) -> int:
    """`python -m room hub ...` and `python -m room hub-down [--remove-users]`."""
    import argparse

    parser = argparse.ArgumentParser(prog="python -m room", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    start = sub.add_parser("hub", help="JupyterHub for the learners (root, Linux)")
    start.add_argument("--learners", type=int, help="a new workshop's learners; omit to use the running or stopped one")
    start.add_argument("--host", default="0.0.0.0")
    start.add_argument("--public-host")
    start.add_argument("--hub-port", type=int, default=8000)
    start.add_argument("--port", type=int, help="the NATS server's client port (a new workshop; default 4222)")
    start.add_argument("--http-port", type=int, help="its monitoring port (default 8222)")
    start.add_argument("--idle-minutes", type=float, default=60.0)
    more = sub.add_parser("hub-add", help="latecomers: NATS accounts, OS users and hub passwords (no restart)")
    more.add_argument("count", type=int)
    stop = sub.add_parser("hub-down", help="stop JupyterHub, the learners' servers and the workshop server")
    stop.add_argument("--remove-users", action="store_true", help="also delete the OS users and their homes")
    args = parser.parse_args(argv)
    try:
        if args.command == "hub-down":
            print(down(remove_users=args.remove_users))
            return 0
        if args.command == "hub-add":
            state = add(args.count)
            total = len(state["learners"])
            print(f"Added {args.count} learners (now {total}): print their slips from .workshop/sheet.html.")
            return 0
        return up_command(args)
    except (workshop.WorkshopError, FileNotFoundError, subprocess.CalledProcessError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 1


def up_command(args) -> int:
    state = up(
        args.learners,
        host=args.host,
        public_host=args.public_host,
        hub_port=args.hub_port,
        idle_minutes=args.idle_minutes,
        nats_port=args.port,
        http_port=args.http_port,
    )
    hub = state["hub"]
    print(
        f"JupyterHub answers at {hub['url']} ({hub['answered_after_s']} s after `make hub`). Learners log in with "
        f"the hub user and password on their slip (.workshop/sheet.html, .workshop/learners.csv); you log in "
        f"as `{INSTRUCTOR}` (its password is in .workshop/state.json, hub.passwords) and open "
        "instructor/progress-board.ipynb. Idle servers are stopped after "
        f"{hub['idle_minutes']:g} minutes. `make hub-down` stops it all.\n" + workshop.where(state)
    )
    return 0
