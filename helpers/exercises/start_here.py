"""Checkers for notebook 00 · Start here."""

import nats

from helpers import monitor
from helpers.exercises.framework import Wrong, attempt, exercise
from helpers.probe import probe


@exercise("00.answer_1", hint="`nc.max_payload` is in bytes; the INFO table shows `jetstream`.")
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


@exercise("00.connect_named", hint="`await nats.connect(url, name=...)`, then return the connection.")
async def check_connect_named(answer, server, *, name: str = "my-first-connection"):
    nc = await attempt(answer, server.url)
    if not isinstance(nc, nats.aio.client.Client) or not nc.is_connected:
        raise Wrong(f"return the connected client from nats.connect(), not {type(nc).__name__}.")
    try:
        conns = monitor.connz(server.monitor_url)
        mine = conns[conns["cid"] == nc.client_id]
        if mine.empty or mine["name"].iloc[0] != name:
            seen = mine["name"].iloc[0] if not mine.empty else None
            raise Wrong(
                f"/connz shows your connection (cid {nc.client_id}) named {seen!r}, "
                f"not {name!r}: pass name={name!r} to nats.connect."
            )
        return f"/connz lists cid {nc.client_id} as {name!r}."
    finally:
        await nc.close()
