"""helpers/nats_py_fixes.py: the nats-py bugs it works around are still there, and apply() fixes them.

The two "still has the bug" tests are detectors: the day one fails, the installed nats-py fixed that bug
upstream, and the course's workaround has to go (the patch in apply(), the deep dive in notebook 01
or the note in 07, upstream/nats-py-flush-ordering/). No server needed: each is deterministic.
"""

import asyncio

import nats

from helpers import nats_py_fixes
from helpers.nats_py_fixes import NATS_PY, flush_ping_overtakes_buffer, kv_marker_precedes_values

REMOVE = "remove that workaround from helpers/nats_py_fixes.py (and what teaches it: see its docstring)"


async def test_nats_py_still_sends_flushs_ping_ahead_of_buffered_commands():
    with nats_py_fixes.unpatched():
        overtakes = await flush_ping_overtakes_buffer()
    assert overtakes, f"nats-py {NATS_PY} sends flush()'s PING behind the buffered commands now: {REMOVE}"


async def test_nats_py_still_sends_the_kv_watch_marker_ahead_of_values_in_flight():
    with nats_py_fixes.unpatched():
        early = await kv_marker_precedes_values()
    assert early, f"nats-py {NATS_PY}'s KV watcher no longer sends its marker ahead of the values: {REMOVE}"


async def test_apply_fixes_both_and_is_idempotent():
    with nats_py_fixes.unpatched():
        nats_py_fixes.apply()
        nats_py_fixes.apply()
        assert nats_py_fixes.applied()
        assert not await flush_ping_overtakes_buffer()
        assert not await kv_marker_precedes_values()


async def test_one_flush_means_the_server_processed_everything_before_it(nats_server):
    """Live: with the fix, one flush() after a burst of 4 KiB messages, and every copy is back."""
    nats_py_fixes.apply()
    nc = await nats.connect(nats_server.url)
    try:
        for trial in range(5):
            echo = await nc.subscribe(f"fixes.flush.{trial}")
            await nc.flush(timeout=5)
            for _ in range(200):
                await nc.publish(f"fixes.flush.{trial}", b"x" * 4096)
            await nc.flush(timeout=5)
            assert echo.pending_msgs == 200
            await echo.unsubscribe()
    finally:
        await nc.close()


async def test_a_request_right_after_subscribe_finds_its_responder(nats_server):
    """Live: subscribe(), one flush(), request() from another connection: never "no responders"."""
    nats_py_fixes.apply()
    responder, client = await nats.connect(nats_server.url), await nats.connect(nats_server.url)

    async def answer(msg):
        await msg.respond(b"here")

    try:
        for i in range(50):
            sub = await responder.subscribe(f"fixes.responder.{i}", cb=answer)
            await responder.flush(timeout=5)
            assert (await client.request(f"fixes.responder.{i}", b"?", timeout=5)).data == b"here"
            await sub.unsubscribe()
    finally:
        await asyncio.gather(responder.close(), client.close())
