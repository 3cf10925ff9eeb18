"""Checkers for Start here."""

import asyncio
import contextlib
import logging
import time
from collections import Counter

import nats

from helpers import monitor
from helpers.embedded import EmbeddedServer
from helpers.exercises.framework import Wrong, attempt, exercise
from helpers.probe import probe


@exercise(
    hints=(
        "Both values are in the INFO table under 'Connect, with a name': read them from the objects, not the table.",
        "`nc.max_payload` is a number of bytes; `server.info.get('jetstream')` says whether JetStream is on.",
    )
)
def check_answer_1(answer, server):
    info = probe(server.url)  # what the server announces to every client that connects
    if not isinstance(answer, dict) or not {"max_payload", "jetstream"} <= answer.keys():
        raise Wrong("answer with a dict like {'max_payload': 123, 'jetstream': False}.")
    if answer["max_payload"] != info["max_payload"]:
        raise Wrong(
            f"max_payload {answer['max_payload']!r} is not the {info['max_payload']:,} bytes the server announced "
            "in its INFO. "
            "Look at nc.max_payload: a number of bytes, not megabytes."
        )
    if answer["jetstream"] is not bool(info.get("jetstream")):
        raise Wrong(
            f"jetstream={answer['jetstream']!r}, but the server's INFO says jetstream={bool(info.get('jetstream'))}."
        )
    return f"Messages up to {info['max_payload']:,} bytes; JetStream {'on' if info.get('jetstream') else 'off'}."


OUTAGE = 1.0  # seconds the checker's private server is away during its restart
GIVE_UP = 3.0  # seconds without a server after which the connection must have closed


class _Quiet(logging.Filter):
    """Counts, and keeps off stderr, what nats-py's default error_cb logs ("nats: encountered error" and a
    traceback per failed attempt): a learner sees the verdict, not a wall of reconnect errors."""

    def __init__(self):
        super().__init__()
        self.errors: list[str] = []

    def filter(self, record: logging.LogRecord) -> bool:
        error = record.exc_info[1] if record.exc_info else None
        self.errors.append(type(error).__name__ if error else record.getMessage())
        return False


@contextlib.contextmanager
def _quiet_nats_client():
    """While a checker runs: nats-py's client logger reports to a counter instead of stderr."""
    logger, quiet = logging.getLogger("nats.aio.client"), _Quiet()
    logger.addFilter(quiet)
    try:
        yield quiet
    finally:
        logger.removeFilter(quiet)


async def _until(condition, seconds: float) -> bool:
    """Poll `condition()` until true or `seconds` pass (a bounded wait on the client's state)."""
    deadline = time.monotonic() + seconds
    while not condition() and time.monotonic() < deadline:
        await asyncio.sleep(0.02)  # between polls of a bounded wait
    return condition()


@exercise(
    hints=(
        "Two things matter: the name the server shows (/connz), and nats.connect's reconnect options: how long "
        "it waits between tries, and how many tries it makes.",
        "`reconnect_time_wait=` (seconds between tries) and `max_reconnect_attempts=` (a positive number): it "
        "keeps trying for about attempts x wait, then closes.",
    ),
    timeout=15.0,  # a restart, a 3 s wait for the reconnect and a 4 s wait for the give-up: up to ~9 s when right
)
async def check_connect_named(answer, server, *, name: str = "my-first-connection"):
    with _quiet_nats_client() as quiet:
        return await _connect_named(answer, name, quiet)


async def _connect_named(answer, name: str, quiet: _Quiet) -> str:
    private = await asyncio.to_thread(EmbeddedServer().start)  # its own server: it stops it twice
    nc = None
    try:
        nc = await attempt(answer, private.url)
        if not isinstance(nc, nats.aio.client.Client) or not nc.is_connected:
            raise Wrong(f"return the connected client from nats.connect(), not {type(nc).__name__}.")
        conns = monitor.connz(private.monitor_url)
        mine = conns[conns["cid"] == nc.client_id]
        if mine.empty or mine["name"].iloc[0] != name:
            seen = mine["name"].iloc[0] if not mine.empty else None
            called = f"named {seen!r}" if isinstance(seen, str) and seen else "with no name"
            raise Wrong(
                f"/connz shows your connection (cid {nc.client_id}) {called}: pass name={name!r} to nats.connect."
            )
        cid = nc.client_id
        await asyncio.to_thread(private.stop)
        await asyncio.sleep(OUTAGE)  # the restart being simulated: the server is away this long
        await asyncio.to_thread(private.start)
        if not await _until(lambda: nc.is_connected or nc.is_closed, GIVE_UP):
            raise Wrong(f"the server was back for {GIVE_UP} s and your connection had not noticed: retry more often.")
        if nc.is_closed:
            raise Wrong(f"your connection gave up during a {OUTAGE} s restart: allow more attempts, or longer.")
        await asyncio.to_thread(private.stop)
        if not await _until(lambda: nc.is_closed, GIVE_UP + 1):
            raise Wrong(
                f"{GIVE_UP + 1} s after the server went away for good, your connection was still retrying: "
                "limit max_reconnect_attempts so that it gives up and your service can say so (in nats-py only a "
                "positive number limits: 0, like -1, means never give up)."
            )
        errors = ", ".join(f"{e} x{n}" for e, n in sorted(Counter(quiet.errors).items()))
        return (
            f"/connz listed cid {cid} as {name!r}; it rode out a {OUTAGE} s restart and gave up in time. Its "
            f"error_cb was called {len(quiet.errors)} times meanwhile ({errors}): in a service, pass error_cb= "
            "to log them your way."
        )
    finally:
        if nc is not None and isinstance(nc, nats.aio.client.Client):
            await nc.close()
        await asyncio.to_thread(private.cleanup)
