"""Checkers for Request-reply.

Each checker sets up its own responders on a fresh subject (`exercise.request-reply.<random>`),
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

from helpers.exercises.framework import Wrong, attempt, exercise, quiet

STOCK = {"apple": 12, "pear": 0, "plum": 7, "fig": 31}  # the notebook's STOCK, which `reserve` reads


def _subject(what: str) -> str:
    return f"exercise.request-reply.{uuid.uuid4().hex[:10]}.{what}"


async def _call_ask(answer, nc, subject, sku, timeout, situation=""):
    """Run the learner's ask_stock; name the exception it let through, after what the server did (`situation`)."""
    started = time.perf_counter()
    try:
        result = await attempt(answer, nc, subject, sku, timeout, timeout=timeout + 2)
    except NoRespondersError:
        raise Wrong(
            f"{situation}nats.errors.NoRespondersError escaped from your function: catch it and return 'no responders'."
        ) from None
    except NatsTimeoutError:
        raise Wrong(
            f"{situation}nats.errors.TimeoutError escaped from your function: catch it and return 'timeout'."
        ) from None
    return result, time.perf_counter() - started


@exercise(
    hints=(
        "One nc.request with the timeout you were given; nats-py raises a different error for each failure.",
        "`await nc.request(subject, sku.encode(), timeout=timeout)`, `json.loads(reply.data)['in_stock']`, and "
        "two `except` clauses: nats.errors.NoRespondersError and nats.errors.TimeoutError.",
    ),
)
async def check_ask_stock(answer, server):
    checker = await nats.connect(server.url, name="request-reply.checker", error_cb=quiet)
    nc = await nats.connect(
        server.url, name="request-reply.checker-requester", error_cb=quiet
    )  # the one ask_stock gets
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
        got, seconds = await _call_ask(
            answer, nc, nobody, "apple", 2.0, "nobody listens, the server answered 'no responders' at once, and "
        )
        if got != "no responders":
            raise Wrong(
                f"nobody listens on {nobody!r}: the server answered at once with 'no responders' (status 503), "
                f"and you returned {got!r}, not 'no responders'."
            )
        if seconds > 0.5:
            raise Wrong(
                f"'no responders' took {seconds:.2f} s with timeout=2.0: the server says so at once; "
                "use nc.request (not your own wait) and catch NoRespondersError."
            )
        got, seconds = await _call_ask(
            answer, nc, slow_subject, "apple", 0.1, "the responder needs 0.4 s, no reply came within 0.1 s, and "
        )
        if got != "timeout":
            raise Wrong(
                f"the responder needs 0.4 s, the timeout was 0.1 s, nothing came back in time, and you returned "
                f"{got!r}, not 'timeout'."
            )
        return (
            f"stock numbers right; 'no responders' came back at once; 'timeout' after {seconds:.2f} s "
            "(timeout 0.1 s). Two different failures, two different reactions."
        )
    finally:
        await nc.close()
        await checker.close()


@exercise(
    hints=(
        "The request's payload is the SKU as bytes; the answer goes back with the message's own respond().",
        "`sku = msg.data.decode()`, then `await msg.respond(json.dumps({...}).encode())`.",
    )
)
async def check_reserve(answer, server, *, stock: dict = STOCK):
    nc = await nats.connect(server.url, name="request-reply.checker-reserve", error_cb=quiet)
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


# The notebook's design exercise: price quotes from several suppliers for a page that must render in time.
QUOTE_BUDGET = 0.5  # seconds the page may wait for quotes
QUOTES_WANTED = 3  # enough quotes to show the cheapest
HEALTHY = {"alpha": 0.01, "bravo": 0.02, "charlie": 0.03, "delta": 0.3, "echo": 1.0}  # seconds to answer
DEGRADED = {"alpha": 0.01, "delta": 0.3, "echo": 1.0}  # bravo and charlie are down


async def _gather_quotes(server, delays: dict, max_replies: int, deadline: float) -> tuple[list, float]:
    """Run the plan: suppliers answering after `delays`, one scatter-gather request; (suppliers, seconds)."""
    subject = _subject("quote")
    suppliers = []
    requester = await nats.connect(server.url, name="request-reply.exercise-quotes", error_cb=quiet)
    try:
        for name, delay in delays.items():
            conn = await nats.connect(server.url, name=f"request-reply.exercise-supplier-{name}", error_cb=quiet)

            async def quote(msg, name=name, delay=delay):
                await asyncio.sleep(delay)
                await msg.respond(name.encode())

            await conn.subscribe(subject, cb=quote)
            await conn.flush()  # the server has the subscription
            suppliers.append(conn)
        inbox = requester.new_inbox()
        sub = await requester.subscribe(inbox)
        await requester.publish(subject, b"price?", reply=inbox)
        got, started = [], time.perf_counter()
        while len(got) < max_replies and (left := started + deadline - time.perf_counter()) > 0:
            try:
                got.append((await sub.next_msg(timeout=left)).data.decode())
            except NatsTimeoutError:
                break
        return got, time.perf_counter() - started
    finally:
        await requester.close()
        for conn in suppliers:
            await conn.close()  # a late supplier's answer has nowhere to go


@exercise(
    hints=(
        "How many quotes are enough, and how long may the page wait at most?",
        "Stop at the count the page needs, and let the deadline end the wait inside the budget when the count "
        "is never reached.",
    )
)
async def check_gather_plan(answer, server):
    """`answer` = {"max_replies": int, "deadline": seconds}: run against the healthy and the degraded suppliers."""
    if not isinstance(answer, dict) or set(answer) != {"max_replies", "deadline"}:
        raise Wrong('gather_plan should be a dict {"max_replies": <int>, "deadline": <seconds>}.')
    max_replies, deadline = answer["max_replies"], answer["deadline"]
    if not isinstance(max_replies, int) or not isinstance(deadline, int | float) or max_replies < 1 or deadline <= 0:
        raise Wrong("max_replies should be a whole number >= 1 and deadline a number of seconds > 0.")
    got, took = await _gather_quotes(server, HEALTHY, max_replies, deadline)
    if len(got) < QUOTES_WANTED:
        raise Wrong(
            f"with every supplier up you collected {len(got)} quote(s) ({', '.join(got)}): "
            f"the page wants {QUOTES_WANTED}."
        )
    if max_replies > QUOTES_WANTED:
        raise Wrong(
            f"with every supplier up you waited {took:.2f} s for {len(got)} quotes although {QUOTES_WANTED} were "
            f"in after about {HEALTHY['charlie']:.2f} s: stop at a count."
        )
    got, took = await _gather_quotes(server, DEGRADED, max_replies, deadline)
    if deadline > QUOTE_BUDGET:
        raise Wrong(
            f"with two suppliers down the page waited {took:.2f} s for {', '.join(got)}: over its "
            f"{QUOTE_BUDGET} s budget. The deadline bounds the wait when the count is never reached."
        )
    if len(got) < 2:
        raise Wrong(
            f"with two suppliers down you collected only {', '.join(got) or 'nothing'} in {took:.2f} s: delta "
            f"answers after {DEGRADED['delta']} s, inside the budget. Use the budget you have."
        )
    return (
        f"Healthy: {QUOTES_WANTED} quotes in a few ms; degraded: {', '.join(got)} in {took:.2f} s, inside "
        f"the {QUOTE_BUDGET} s budget."
    )
