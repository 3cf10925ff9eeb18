"""Checkers for notebook 02 · Request-reply.

Each checker sets up its own responders on a fresh subject (`exercise.02.<random>`),
on a connection of its own, so that nothing else on the server can answer.
"""

import asyncio
import json
import random
import time
import uuid

import nats
from nats.errors import NoRespondersError
from nats.errors import TimeoutError as NatsTimeoutError

from helpers.exercises.framework import Wrong, attempt, exercise

STOCK = {"apple": 12, "pear": 0, "plum": 7, "fig": 31}  # the notebook's STOCK, which `reserve` reads


def _subject(what: str) -> str:
    return f"exercise.02.{uuid.uuid4().hex[:10]}.{what}"


async def _call_ask(answer, nc, subject, sku, timeout):
    """Run the learner's ask_stock; name the exception it let through."""
    started = time.perf_counter()
    try:
        result = await attempt(answer, nc, subject, sku, timeout, timeout=timeout + 2)
    except NoRespondersError:
        raise Wrong(
            "nats.errors.NoRespondersError escaped from your function: catch it and return 'no responders'."
        ) from None
    except NatsTimeoutError:
        raise Wrong("nats.errors.TimeoutError escaped from your function: catch it and return 'timeout'.") from None
    return result, time.perf_counter() - started


@exercise(
    "02.ask_stock",
    hint="`await nc.request(subject, sku.encode(), timeout=timeout)`, "
    "`json.loads(reply.data)['in_stock']`, and two `except` clauses.",
)
async def check_ask_stock(answer, server):
    checker = await nats.connect(server.url, name="02-request-reply-checker")
    nc = await nats.connect(server.url, name="02-request-reply-checker.requester")  # the one ask_stock gets
    try:
        stock = {"apple": random.randint(2, 99), "fig": random.randint(100, 999)}

        async def inventory(msg):
            sku = msg.data.decode()
            await msg.respond(json.dumps({"sku": sku, "in_stock": stock.get(sku, 0)}).encode())

        async def slow(msg):
            await asyncio.sleep(0.4)
            await msg.respond(b'{"sku": "apple", "in_stock": 1}')

        fast_subject, slow_subject, nobody = _subject("inventory"), _subject("slow"), _subject("nobody")
        await checker.subscribe(fast_subject, cb=inventory)
        await checker.subscribe(slow_subject, cb=slow)
        await checker.flush()  # the server has both subscriptions

        for sku in stock:
            got, _ = await _call_ask(answer, nc, fast_subject, sku, 1.0)
            if got != stock[sku]:
                raise Wrong(
                    f"for {sku!r} the responder answered in_stock={stock[sku]} and you returned {got!r}. "
                    "Return the `in_stock` number from the JSON reply (json.loads(reply.data))."
                )
        got, seconds = await _call_ask(answer, nc, nobody, "apple", 2.0)
        if got != "no responders":
            raise Wrong(f"nobody listens on {nobody!r} and you returned {got!r}, not 'no responders'.")
        if seconds > 0.5:
            raise Wrong(
                f"'no responders' took {seconds:.2f} s with timeout=2.0: the server says so at once; "
                "use nc.request (not your own wait) and catch NoRespondersError."
            )
        got, seconds = await _call_ask(answer, nc, slow_subject, "apple", 0.1)
        if got != "timeout":
            raise Wrong(f"the responder needs 0.4 s, the timeout is 0.1 s, and you returned {got!r}, not 'timeout'.")
        return (
            f"stock numbers right; 'no responders' came back at once; 'timeout' after {seconds:.2f} s "
            "(timeout 0.1 s). Two different failures, two different reactions."
        )
    finally:
        await nc.close()
        await checker.close()


@exercise("02.reserve", hint="`sku = msg.data.decode()`, then `await msg.respond(json.dumps({...}).encode())`.")
async def check_reserve(answer, server, *, stock: dict = STOCK):
    nc = await nats.connect(server.url, name="02-request-reply-checker.reserve")
    subject = _subject("reserve")
    failures: list[str] = []

    async def responder(msg):
        try:
            await answer(msg)
        except Exception as e:  # report it instead of losing it in a callback
            failures.append(f"{type(e).__name__}: {e}")

    sub = await nc.subscribe(subject, cb=responder)
    try:
        await nc.flush()
        for sku in [*stock, "kiwi-not-stocked"]:
            expected = {"sku": sku, "reserved": stock.get(sku, 0) > 0}
            try:
                reply = await nc.request(subject, sku.encode(), timeout=1.0)
            except NatsTimeoutError:
                why = f"your callback raised {failures[-1]}" if failures else "did you call await msg.respond(...)?"
                raise Wrong(f"no reply to {sku!r} within 1 s: {why}") from None
            try:
                got = json.loads(reply.data)
            except ValueError:
                raise Wrong(
                    f"the reply to {sku!r} is not JSON: {reply.data[:80]!r}. Reply with json.dumps({{...}}).encode()."
                ) from None
            if got != expected:
                raise Wrong(f"for {sku!r} (stock {stock.get(sku, 'none')}) the reply should be {expected}, not {got}.")
        return f"all {len(stock) + 1} SKUs answered correctly, including one the shop does not stock."
    finally:
        await sub.unsubscribe()
        await nc.close()
