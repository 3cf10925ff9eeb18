"""Read the INFO line a NATS server sends to every new connection: is a server there, and what is it?"""

from __future__ import annotations

import json
import socket
from urllib.parse import urlsplit


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
