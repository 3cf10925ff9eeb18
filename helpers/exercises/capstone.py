"""Checkers for Capstone: the payment platform, both ways (13-capstone.ipynb).

`check_notify_once` runs the learner's function as notifications instances would after a crash: against a
key-value bucket of its own (capstone-notified) in which the crashed instance had already recorded some
orders, with deliveries repeated, and some arriving at two instances at the same moment.

`check_plan` builds orders with the learner's plan (each call a request or an event) on the server, against
services of its own: inventory out of stock for some items, payments declining some cards, notifications
slow and then down; it counts what the server stored and answered, and what users waited.

`check_a_policy` judges a timeout and retry budget for version A's calls by running A's call loop (the one in
notebooks/services/orders.py) with it against HTTP services of its own, in this process: a healthy one, one
that fails each order's first call, and a dead one that never answers; then B's requests with the same
policy over NATS, where a service that is gone has no responders.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import numbers
import statistics
import time
from collections import Counter

import nats
import nats.errors
from aiohttp import ClientError, ClientSession, ClientTimeout, TCPConnector, web

from helpers.exercises.framework import Wrong, attempt, delete_if_exists, exercise, jetstream, quiet

NOTIFIED_BUCKET = "capstone-notified"
PLAN_STREAM, PLAN_EVENTS = "capstone-plan", "capstone.plan.events.*"
SERVICES = ("inventory", "payments", "notifications")


@contextlib.asynccontextmanager
async def _connection(server, name: str, timeout: float):
    nc = await nats.connect(server.url, name=name, connect_timeout=timeout, error_cb=quiet)
    try:
        yield nc
    finally:
        await nc.close()


async def _responder(nc, subject: str, answer) -> object:
    """Subscribe `answer(order) -> dict` (async) on `subject`; each request in a task of its own, so that
    slow answers overlap as they would with many workers. Returns the subscription."""
    tasks = set()

    async def reply(msg):
        await msg.respond(json.dumps(await answer(json.loads(msg.data))).encode())

    async def arrived(msg):
        task = asyncio.create_task(reply(msg))
        tasks.add(task)
        task.add_done_callback(tasks.discard)

    return await nc.subscribe(subject, cb=arrived)


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


def _plan_of(answer) -> dict:
    if not isinstance(answer, dict) or set(answer) != set(SERVICES):
        raise Wrong(f"`plan` must be a dict with the keys {list(SERVICES)}, not {answer!r:.80}.")
    wrong = {k: v for k, v in answer.items() if v not in ("request", "event")}
    if wrong:
        raise Wrong(f"each call is 'request' or 'event', not {wrong}.")
    return answer


@exercise(
    hints=(
        "for each call ask: can orders place the order before this service has answered? If the service "
        "can say no, the order must wait for its answer.",
        "inventory can say 'out of stock' and payments 'card declined': the order needs those answers "
        "(requests). Notifications cannot refuse an order, and may be slow or down: an event.",
    ),
    timeout=20.0,
)
async def check_plan(answer, server, *, orders: int = 12, down: int = 4, lag_ms: float = 200.0, timeout: float = 5.0):
    plan = _plan_of(answer)
    out_of_stock = {f"plan-{i:02d}" for i in range(orders) if i % 4 == 1}
    declined = {f"plan-{i:02d}" for i in range(orders) if i % 5 == 3}

    async def inventory(order):
        return {"ok": order["id"] not in out_of_stock, "why": "out of stock"}

    async def payments(order):
        return {"ok": order["id"] not in declined, "why": "card declined"}

    async def notifications(order):
        await asyncio.sleep(lag_ms / 1000)
        return {"ok": True}

    async with _connection(server, "capstone.checker-plan", timeout) as nc:
        js = nc.jetstream(timeout=timeout)
        await delete_if_exists(js.delete_stream, PLAN_STREAM)
        await js.add_stream(name=PLAN_STREAM, subjects=[PLAN_EVENTS])
        try:
            subs = {
                n: await _responder(nc, f"capstone.plan.{n}", f)
                for n, f in [("inventory", inventory), ("payments", payments), ("notifications", notifications)]
            }
            await nc.flush()

            async def place(order_id):  # orders, following the plan; returns (placed, seconds)
                start, data = time.perf_counter(), json.dumps({"id": order_id}).encode()
                for service in SERVICES:
                    if plan[service] == "event":
                        await js.publish(f"capstone.plan.events.{service}", data)
                        continue
                    try:
                        reply = json.loads((await nc.request(f"capstone.plan.{service}", data, timeout=1.0)).data)
                    except (nats.errors.NoRespondersError, nats.errors.TimeoutError):
                        return False, time.perf_counter() - start
                    if not reply["ok"]:
                        return False, time.perf_counter() - start
                return True, time.perf_counter() - start

            up = await asyncio.gather(*(place(f"plan-{i:02d}") for i in range(orders)))
            await subs["notifications"].unsubscribe()  # notifications goes down
            gone = await asyncio.gather(*(place(f"plan-down-{i}") for i in range(down)))
            stored = (await js.stream_info(PLAN_STREAM, subjects_filter=">")).state.subjects or {}
        finally:
            await delete_if_exists(js.delete_stream, PLAN_STREAM)
    placed = {f"plan-{i:02d}" for i, (ok, _) in enumerate(up) if ok}
    return _judge_plan(plan, placed, out_of_stock, declined, up, gone, stored, lag_ms)


def _judge_plan(plan, placed, out_of_stock, declined, up, gone, stored, lag_ms) -> str:
    for service, refused, why in (
        ("inventory", out_of_stock, "for items out of stock"),
        ("payments", declined, "with a declined card"),
    ):
        wrongly = placed & refused
        if wrongly:
            raise Wrong(
                f"with {service} as an event, {len(wrongly)} of {len(up)} orders were placed {why}: the stream "
                f"stored an event for each order ({stored.get(f'capstone.plan.events.{service}', 0)} in all) and "
                f"nobody waited for {service}'s answer, which the order needs before it is placed."
            )
    p50 = statistics.median(seconds for _, seconds in up) * 1000
    taken = sum(ok for ok, _ in gone)
    if plan["notifications"] == "request":
        raise Wrong(
            f"with notifications as a request, the median order took {p50:.0f} ms (notifications takes "
            f"{lag_ms:g} ms), and {len(gone) - taken} of {len(gone)} orders failed while it was down (no "
            "responders): the order does not need its answer."
        )
    return (
        f"{len(placed)} of {len(up)} orders placed: inventory and payments refused the others before they were "
        f"placed; the median order took {p50:.0f} ms though notifications takes {lag_ms:g} ms, and all "
        f"{taken} orders were taken while notifications was down: the stream stored "
        f"{stored.get('capstone.plan.events.notifications', 0)} notification events to deliver when it is back."
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

            over_http = await _judge_policy(chain, calls, timeout, retries, worst, budget, healthy_ms, orders)
    finally:
        finished.set()
        await runner.cleanup()
    over_nats = await _policy_over_nats(server, timeout, retries, healthy_ms, orders)
    return f"{over_http} {over_nats} Now run the next cell: what can this policy not fix?"


async def _policy_over_nats(server, timeout, retries, healthy_ms, orders) -> str:
    """B's requests with the same policy: a healthy responder, a flaky one, and a service that is gone."""
    first_seen = set()

    async def healthy(order):
        await asyncio.sleep(healthy_ms / 1000)
        return {"ok": True}

    async def flaky(order):  # each order's first request fails at once
        if order["id"] not in first_seen:
            first_seen.add(order["id"])
            return {"ok": False}
        return await healthy(order)

    async with _connection(server, "capstone.checker-a-policy", 5.0) as nc:
        for name, answer in (("healthy", healthy), ("flaky", flaky)):
            await _responder(nc, f"capstone.policy.{name}", answer)
        await nc.flush()

        async def call(subject, order_id):  # the same loop as A's, over NATS
            for _attempt in range(1 + retries):
                try:
                    reply = await nc.request(subject, json.dumps({"id": order_id}).encode(), timeout=timeout)
                    if json.loads(reply.data)["ok"]:
                        return True
                except (nats.errors.NoRespondersError, nats.errors.TimeoutError):
                    pass
            return False

        results = {}
        for name in ("healthy", "flaky", "gone"):
            start = time.perf_counter()
            done = await asyncio.gather(*(call(f"capstone.policy.{name}", f"{name}-{i}") for i in range(orders)))
            results[name] = (sum(done), time.perf_counter() - start)
    if results["healthy"][0] < orders or results["flaky"][0] < orders:
        raise Wrong(
            f"over NATS, with the same policy, {results['healthy'][0]} of {orders} healthy and "
            f"{results['flaky'][0]} of {orders} flaky requests went through."
        )
    return (
        f"Over NATS (B's requests) the same policy placed the healthy and flaky orders, and knew at once that a "
        f"service was gone: no responders, {results['gone'][1] * 1000:.0f} ms for all {orders} orders' "
        f"{orders * (1 + retries)} requests, where HTTP waits out each timeout."
    )


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
        "calls per order."
    )
