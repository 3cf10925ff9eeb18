"""Checkers for Capstone: the payment platform, both ways (13-capstone.ipynb).

`check_notify_once` runs the learner's function as notifications instances would after a crash: against a
key-value bucket of its own (capstone-notified) in which the crashed instance had already recorded some
orders, with deliveries repeated, and some arriving at two instances at the same moment.

`check_a_policy` judges a timeout and retry budget for version A's calls by running A's call loop (the one in
notebooks/services/orders.py) with it against HTTP services of its own, in this process: a healthy one, one
that fails each order's first call, and a dead one that never answers.
"""

from __future__ import annotations

import asyncio
import numbers
from collections import Counter

from aiohttp import ClientError, ClientSession, ClientTimeout, TCPConnector, web

from helpers.exercises.framework import Wrong, attempt, delete_if_exists, exercise, jetstream

NOTIFIED_BUCKET = "capstone-notified"


@exercise(
    hints=(
        "what every instance shares is the bucket `kv`, not memory: record the order there, with a call that "
        "refuses when the key is already there, so that checking and recording are one step on the server.",
        "kv.create(order_id, b'...') succeeds for the first delivery only; for any later one it raises "
        "nats.js.errors.KeyWrongLastSequenceError: then return without sending.",
    ),
)
async def check_notify_once(answer, server, *, orders: int = 12, recorded: int = 3, timeout: float = 5.0):
    async with jetstream(server, "capstone.checker-notify-once", timeout) as js:
        await delete_if_exists(js.delete_key_value, NOTIFIED_BUCKET)
        kv = await js.create_key_value(bucket=NOTIFIED_BUCKET)
        try:
            ids = [f"ord-{i:03d}" for i in range(orders)]
            for order_id in ids[:recorded]:  # the crashed instance sent these and recorded them; its acks were lost
                await kv.create(order_id, b"notified")
            sent = Counter()

            async def send(order_id):  # the SMS gateway: slow enough for two deliveries to overlap
                await asyncio.sleep(0.02)
                sent[order_id] += 1

            async def deliver(order_id):
                await attempt(answer, kv, order_id, send, timeout=timeout)

            twice = ids[recorded::2]  # every order at once, and these twice: to two instances at the same moment
            results = await asyncio.gather(*(deliver(i) for i in ids + twice), return_exceptions=True)
            for error in (r for r in results if isinstance(r, BaseException)):  # all ended: the bucket can go
                raise error
            for order_id in ids[recorded::3]:  # and some again, later, one by one
                await deliver(order_id)
            stored = (await kv.status()).values  # the keys in the bucket now
            return _judge_notifications(sent, ids, recorded, stored)
        finally:
            await delete_if_exists(js.delete_key_value, NOTIFIED_BUCKET)


def _judge_notifications(sent: Counter, ids: list[str], recorded: int, stored: int) -> str:
    again = [i for i in ids[:recorded] if sent[i]]
    if again:
        raise Wrong(
            f"{len(again)} orders the crashed instance had already notified (their keys were in the bucket) "
            f"were notified again, e.g. {again[0]}: look the order up in `kv`, not in this process's memory."
        )
    twice = {i: n for i, n in sent.items() if n > 1}
    if twice:
        order_id, n = next(iter(twice.items()))
        raise Wrong(
            f"{len(twice)} orders were notified more than once ({order_id}: {n} times). Deliveries of one "
            "order that arrive at the same moment must not both send: reading the bucket and then writing it "
            "leaves a gap between the two; kv.create() checks and writes in one step."
        )
    never = [i for i in ids[recorded:] if not sent[i]]
    if never:
        raise Wrong(
            f"{len(never)} of {len(ids) - recorded} new orders were never notified, e.g. {never[0]} (the bucket "
            f"holds {stored} keys): call `await send(order_id)` when this delivery is the first."
        )
    return (
        f"{len(ids) - recorded} new orders notified once each, though some were delivered twice at the same "
        f"moment and some again later; the {recorded} orders already recorded were not sent again."
    )


def _policy(answer) -> tuple[float, int]:
    if not isinstance(answer, dict) or set(answer) != {"timeout", "retries"}:
        raise Wrong(f"`a_policy` must be a dict with the keys 'timeout' and 'retries', not {answer!r:.80}.")
    timeout, retries = answer["timeout"], answer["retries"]
    if isinstance(timeout, bool) or not isinstance(timeout, numbers.Real) or timeout <= 0:
        raise Wrong(f"'timeout' must be a number of seconds above 0, not {timeout!r}.")
    if isinstance(retries, bool) or not isinstance(retries, int) or retries < 0:
        raise Wrong(f"'retries' must be a whole number, 0 or more, not {retries!r}.")
    return float(timeout), retries


async def _serve(handlers: dict) -> tuple[web.AppRunner, str]:
    app = web.Application()
    app.add_routes([web.post(f"/{name}", handler) for name, handler in handlers.items()])
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    return runner, "http://{}:{}".format(*runner.addresses[0])


async def _call(session, url, order, timeout, retries) -> bool:
    """A's call loop (services/orders.py): up to 1 + retries attempts, each with its timeout."""
    for _attempt in range(1 + retries):
        try:
            async with session.post(url, json=order, timeout=ClientTimeout(total=timeout)) as r:
                if r.status == 200:
                    return True
        except (ClientError, TimeoutError):
            pass
    return False


@exercise(
    hints=(
        "work out the worst case first: three calls, each tried 1 + retries times, each waiting up to the "
        "timeout; that must fit in the user's patience, and each healthy call must still finish in time.",
        "a dict {'timeout': seconds, 'retries': n}: a timeout well above a healthy call (40 ms), one retry, "
        "and 3 × (1 + retries) × timeout within the user's budget.",
    ),
    timeout=20.0,
)
async def check_a_policy(
    answer, server, *, budget: float = 1.0, healthy_ms: float = 40.0, retry_budget: int = 2, orders: int = 12
):
    timeout, retries = _policy(answer)
    if retries > retry_budget:
        raise Wrong(
            f"{retries} retries: when a service struggles or is down, every order sends it {1 + retries} "
            f"calls, {1 + retries} times the load just when it can least take it. The retry budget is "
            f"{retry_budget}."
        )
    worst = 3 * (1 + retries) * timeout
    if worst > budget:
        raise Wrong(
            f"in the worst case the three calls take 3 × (1 + {retries}) × {timeout:g} s = {worst:.2f} s, "
            f"and the user gives up after {budget:g} s: the orders service would go on working for nobody. "
            "Shorten the timeout (or retry less)."
        )
    calls, first_seen, finished = Counter(), set(), asyncio.Event()

    async def healthy(request):
        calls["healthy"] += 1
        await asyncio.sleep(healthy_ms / 1000)
        return web.json_response({})

    async def flaky(request):  # each order's first call fails at once: a transient error
        order_id = (await request.json())["id"]
        calls["flaky"] += 1
        if order_id not in first_seen:
            first_seen.add(order_id)
            return web.Response(status=503)
        await asyncio.sleep(healthy_ms / 1000)
        return web.json_response({})

    async def dead(request):  # accepts the connection and never answers
        calls["dead"] += 1
        await finished.wait()  # until the checker is done (a server shutting down waits for its handlers)
        return web.Response(status=503)

    runner, url = await _serve({"healthy": healthy, "flaky": flaky, "dead": dead})
    try:
        async with ClientSession(connector=TCPConnector(limit=0)) as session:

            async def chain(i, last):
                order = {"id": f"{last}-{i}"}
                return (
                    await _call(session, f"{url}/healthy", order, timeout, retries)
                    and await _call(session, f"{url}/healthy", order, timeout, retries)
                    and await _call(session, f"{url}/{last}", order, timeout, retries)
                )

            return await _judge_policy(chain, calls, timeout, retries, worst, budget, healthy_ms, orders)
    finally:
        finished.set()
        await runner.cleanup()


async def _judge_policy(chain, calls, timeout, retries, worst, budget, healthy_ms, orders) -> str:
    placed = await asyncio.gather(*(chain(i, "healthy") for i in range(orders)))
    if not all(placed):
        raise Wrong(
            f"{placed.count(False)} of {orders} orders failed with every service healthy: a timeout of "
            f"{timeout:g} s is too short for calls that take {healthy_ms:g} ms (and longer on a busy machine)."
        )
    placed = await asyncio.gather(*(chain(i, "flaky") for i in range(orders)))
    if not all(placed):
        raise Wrong(
            f"{placed.count(False)} of {orders} orders failed because one call failed once (a 503, then it "
            "would have worked): give each call a retry."
        )
    placed = await asyncio.gather(*(chain(i, "dead") for i in range(orders)))
    if any(placed) or calls["dead"] != orders * (1 + retries):
        raise Wrong(
            f"the dead service got {calls['dead']} calls for {orders} orders, expected {orders * (1 + retries)}."
        )
    return (
        f"timeout {timeout:g} s, {retries} retries: healthy orders go through, a transient failure is retried, "
        f"the worst case is {worst:.2f} s (the user waits {budget:g} s), and a dead service gets {1 + retries} "
        "calls per order. Now run the next cell: what can this policy not fix?"
    )
