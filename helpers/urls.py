"""Reading a NATS URL: its user, the workshop learner or account it names, the URL with its password hidden,
and a URL pasted with stray spaces or quotes made clean (or refused with advice).

The bottom of the course: servers, checkers and workshop mode all read URLs with these, and this module
imports nothing of the course. Naming rule of workshop mode: learner NN's user and account are both
`learnerNN` (learner01, learner02, ...); `instructor` is in the INSTRUCTOR account, `admin` in SYS.
"""

from __future__ import annotations

import re
from urllib.parse import urlsplit

LEARNER_USER = re.compile(r"^learner\d{2,}$")
INSTRUCTOR, SYSTEM = "INSTRUCTOR", "SYS"
ACCOUNTS = {"instructor": INSTRUCTOR, "admin": SYSTEM}  # the workshop's users besides the learners
SCHEMES = ("nats", "tls", "ws", "wss")


class BadURL(ValueError):
    """A NATS URL that cannot work as written; the message says how to write it."""


def clean(url: str | None) -> str | None:
    """A URL as a learner may paste it (spaces, quotes kept from a Windows `set`), trimmed; a bad scheme or
    port is refused with advice rather than a traceback from deep in the client."""
    if url is None:
        return None
    text = url.strip().strip("'\"").strip()
    if not text:
        return None
    for part in text.split(","):
        parsed = urlsplit(part if "://" in part else f"nats://{part}")
        if parsed.scheme not in SCHEMES:
            raise BadURL(
                f"{redact(text)!r} starts with {parsed.scheme}://; a NATS URL starts with nats:// "
                "(for example nats://127.0.0.1:4222)."
            )
        try:
            port = parsed.port
        except ValueError:
            port = -1
        if port is not None and not 0 < port < 65536:
            raise BadURL(
                f"{redact(text)!r} has no valid port (a port is a number from 1 to 65535; the course's is 4222)."
            )
    return text


def user_of(url: str | None) -> str | None:
    """The user in a NATS URL (nats://user:password@host:port), or None."""
    if not url:
        return None
    first = url.split(",")[0].strip()
    return urlsplit(first if "://" in first else f"nats://{first}").username


def learner_of(url: str | None) -> str | None:
    """The learner a URL belongs to, by the workshop's naming rule; None outside workshop mode."""
    user = user_of(url)
    return user if user and LEARNER_USER.match(user) else None


def account_of(url: str | None) -> str | None:
    """The workshop account a URL's user is in (learnerNN -> learnerNN, instructor -> INSTRUCTOR)."""
    return learner_of(url) or ACCOUNTS.get(user_of(url) or "")


def redact(url: str) -> str:
    """The URL with its password replaced by ***, fit for a message, a log or a saved output."""
    return re.sub(r"(//[^:/@,]+:)[^@/,]*@", r"\1***@", url)
