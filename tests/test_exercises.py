"""The exercise mechanism, and notebook 00's checkers against wrong answers."""

import asyncio

import nats

from helpers.exercises.framework import Wrong, exercise
from helpers.exercises.start_here import named_connection, server_facts


@exercise("demo", hint="return 42", timeout=0.2)
async def answer_is_42(answer):
    value = await answer() if callable(answer) else answer
    if value != 42:
        raise Wrong(f"{value!r} is not 42")
    return "42 it is"


async def test_verdicts():
    async def untouched():
        return ...

    async def hangs():
        await asyncio.sleep(10)

    assert (await answer_is_42(..., show=False)).status == "not attempted"
    assert "Hint: return 42" in (await answer_is_42(..., show=False)).message
    wrong = await answer_is_42(41, show=False)
    assert wrong.status == "wrong" and "41 is not 42" in wrong.message
    assert (await answer_is_42(42, show=False)).ok
    slow = await answer_is_42(hangs, show=False)
    assert slow.status == "wrong" and "did not finish within 0.2 s" in slow.message
    broken = await answer_is_42(lambda: 1 / 0, show=False)
    assert broken.status == "wrong" and "ZeroDivisionError" in broken.message


async def test_server_facts_rejects_wrong_answers(nats_server):
    info = {"max_payload": 1048576, "jetstream": True}
    assert (await server_facts({"max_payload": 1048576, "jetstream": True}, info, show=False)).ok
    verdict = await server_facts({"max_payload": 1, "jetstream": True}, info, show=False)
    assert verdict.status == "wrong" and "bytes" in verdict.message
    verdict = await server_facts({"max_payload": 1048576, "jetstream": False}, info, show=False)
    assert verdict.status == "wrong" and "jetstream" in verdict.message
    assert "dict" in (await server_facts(1048576, info, show=False)).message


async def test_named_connection_rejects_a_nameless_connection(nats_server):
    async def nameless(url):
        return await nats.connect(url)

    async def named(url):
        return await nats.connect(url, name="my-first-connection")

    verdict = await named_connection(nameless, nats_server.url, nats_server.monitor_url, show=False)
    assert verdict.status == "wrong" and "pass name='my-first-connection'" in verdict.message
    assert (await named_connection(named, nats_server.url, nats_server.monitor_url, show=False)).ok
