"""Read the INFO line a NATS server sends to every new connection: is a server there, and what is it?
For a server that requires a user and password (a workshop server), also: does it accept this URL's?"""

from __future__ import annotations

import json
import socket
from urllib.parse import unquote, urlsplit


class NotAuthorized(Exception):
    """The server answers, but refuses the URL's user and password."""


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
                reader = s.makefile("rb")
                line = reader.readline(64 * 1024)
                if not line.startswith(b"INFO "):
                    last_error = OSError(
                        f"{parts.hostname}:{parts.port} answered, but not like a NATS server: {line[:60]!r}"
                    )
                    continue
                info = json.loads(line[5:])
                if info.get("auth_required") and parts.username:  # only a URL that carries credentials
                    _authenticate(s, reader, parts)
                return info
        except OSError as e:
            last_error = e
    raise last_error or OSError(f"no server in {url!r}")


def _authenticate(s: socket.socket, reader, parts) -> None:
    """CONNECT with the URL's user and password, then PING: PONG means accepted, -ERR refused."""
    connect = {
        "verbose": False,
        "pedantic": False,
        "lang": "python",
        "version": "probe",
        "protocol": 1,
        "name": "course-probe",
    }
    if parts.username:
        connect |= {"user": unquote(parts.username), "pass": unquote(parts.password or "")}
    s.sendall(b"CONNECT " + json.dumps(connect).encode() + b"\r\nPING\r\n")
    answer = reader.readline(4096).strip()
    if answer.startswith(b"-ERR"):
        raise NotAuthorized(answer[4:].strip(b" '").decode(errors="replace"))
    if answer != b"PONG":
        raise OSError(f"unexpected answer to CONNECT: {answer[:60]!r}")
