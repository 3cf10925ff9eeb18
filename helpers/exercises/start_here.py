"""Checkers for notebook 00 · Start here."""

import asyncio
import time

import nats

from helpers import monitor
from helpers.embedded import EmbeddedServer
from helpers.exercises.framework import Wrong, attempt, exercise
from helpers.probe import probe


@exercise(hint="`nc.max_payload` is in bytes; the INFO table shows `jetstream`.")
def check_answer_1(answer, server):
    info = probe(server.url)  # what the server announces to every client that connects
    if not isinstance(answer, dict) or not {"max_payload", "jetstream"} <= answer.keys():
        raise Wrong("answer with a dict like {'max_payload': 123, 'jetstream': False}.")
    if answer["max_payload"] != info["max_payload"]:
        raise Wrong(
            f"max_payload {answer['max_payload']!r} is not what the server announced. "
            "Look at nc.max_payload: a number of bytes, not megabytes."
        )
    if answer["jetstream"] is not bool(info.get("jetstream")):
        raise Wrong(f"jetstream={answer['jetstream']!r}: look at the `jetstream` row of the INFO table.")
    return f"Messages up to {info['max_payload']:,} bytes; JetStream {'on' if info.get('jetstream') else 'off'}."


OUTAGE = 1.0  # seconds the checker's private server is away during its restart
GIVE_UP = 3.0  # seconds without a server after which the connection must have closed


async def _until(condition, seconds: float) -> bool:
    """Poll `condition()` until true or `seconds` pass (a bounded wait on the client's state)."""
    deadline = time.monotonic() + seconds
    while not condition() and time.monotonic() < deadline:
        await asyncio.sleep(0.02)  # between polls of a bounded wait
    return condition()


@exercise(
    hint="`nats.connect(url, name=..., reconnect_time_wait=..., max_reconnect_attempts=...)`: how long it keeps "
    "trying is about attempts x wait.",
    timeout=15.0,  # a restart, a 3 s wait for the reconnect and a 4 s wait for the give-up: up to ~9 s when right
)
async def check_connect_named(answer, server, *, name: str = "my-first-connection"):
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
            raise Wrong(
                f"/connz shows your connection (cid {nc.client_id}) named {seen!r}, "
                f"not {name!r}: pass name={name!r} to nats.connect."
            )
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
        return f"/connz listed cid {nc.client_id} as {name!r}; it rode out a {OUTAGE} s restart and gave up in time."
    finally:
        if nc is not None and isinstance(nc, nats.aio.client.Client):
            await nc.close()
        await asyncio.to_thread(private.cleanup)
