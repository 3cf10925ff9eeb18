"""Checkers for the notebook "Services and discovery".

Each checker runs its own nats.micro services on connections of its own, on subjects (or, for the orders
design, a service) that nothing else in the notebook uses, judges the learner's answer by what the server
routes and what the instances answer on `$SRV.INFO` and `$SRV.STATS`, and stops everything it started.
"""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from collections import Counter

import nats
from nats import micro
from nats.errors import NoRespondersError
from nats.errors import TimeoutError as NatsTimeoutError
from nats.micro.service import Service as MicroService

from helpers.exercises.framework import Wrong, attempt, exercise, quiet

STOCK = {"apple": 12, "pear": 0, "plum": 7, "fig": 31}  # the reserve exercise's stock, as the notebook states it
OPERATIONS = ("place", "cancel", "status")  # the orders service's endpoints
V1_SUBJECTS = {f"orders.{op}" for op in OPERATIONS}


def _token() -> str:
    return uuid.uuid4().hex[:8]


async def _connect(url: str, role: str, timeout: float):
    return await nats.connect(
        url, name=f"services-and-discovery.checker-{role}", connect_timeout=timeout, error_cb=quiet
    )


async def _ready(nc, service: MicroService, timeout: float) -> None:
    """Return once the server has every subscription `service` made on `nc`: a PING to the instance's own
    id travels behind them on the same connection, and the server handles a connection's commands in order."""
    await nc.request(f"$SRV.PING.{service.info().name}.{service.id}", b"", timeout=timeout)


async def _gather(nc, subject: str, expected: int, deadline: float) -> list[dict]:
    """Scatter-gather: the JSON replies to one request, until `expected` arrived or `deadline` passed."""
    inbox = nc.new_inbox()
    sub = await nc.subscribe(inbox)
    await nc.publish(subject, b"", reply=inbox)
    replies, ends = [], time.monotonic() + deadline
    try:
        while len(replies) < expected and (left := ends - time.monotonic()) > 0:
            try:
                msg = await sub.next_msg(timeout=left)
            except NatsTimeoutError:
                break
            if msg.headers and msg.headers.get("Status") == "503":
                break  # no responders
            replies.append(json.loads(msg.data))
    finally:
        await sub.unsubscribe()
    return replies


async def _service(nc, name: str, version: str, endpoints: dict, timeout: float, *, group: str = "") -> MicroService:
    """A nats.micro service on `nc` with {endpoint name: (subject, handler)}, ready to be called."""
    service = await micro.add_service(nc, name=name, version=version)
    parent = service.add_group(name=group) if group else service
    for endpoint, (subject, handler) in endpoints.items():
        await parent.add_endpoint(name=endpoint, subject=subject, handler=handler)
    await _ready(nc, service, timeout)
    return service


def _json_reply(data: dict):
    async def handler(req):
        await req.respond(json.dumps(data).encode())

    return handler


async def _stop(services, conns) -> None:
    for service in services:
        try:
            await service.stop()
        except Exception:  # its connection may be gone already; closing it below is what matters
            pass
    for conn in conns:
        await conn.close()


# ---------------------------------------------------------------------------------------------------------
@exercise(
    hints=(
        "you cannot know how many instances will answer: ask every service at once and keep reading "
        "replies until the deadline, not until the first one.",
        "publish to `$SRV.INFO` with an inbox as reply subject (discover() above does it) and keep the `id` of "
        "every reply whose `endpoints` list the subject.",
    ),
)
async def check_who_serves(answer, server, *, deadline: float = 0.3, timeout: float = 5.0):
    run = _token()
    subject, other = f"exercise.services.{run}.lookup", f"exercise.services.{run}.other"
    layout = [("catalog", subject), ("catalog", subject), ("search", subject), ("catalog-admin", other)]
    conns = [await _connect(server.url, f"instance-{i}", timeout) for i in range(len(layout) + 2)]
    services = []
    try:
        for conn, (name, endpoint_subject) in zip(conns, layout, strict=False):
            services.append(
                await _service(
                    conn, f"services-ex-{name}-{run}", "1.0.0", {"lookup": (endpoint_subject, _json_reply({}))}, timeout
                )
            )
        expected = {s.id for s, (_, sub) in zip(services, layout, strict=True) if sub == subject}
        slow_conn, client = conns[-2], conns[-1]
        late = {
            "type": "io.nats.micro.v1.info_response",
            "name": f"services-ex-late-{run}",
            "id": f"late-{run}",
            "version": "1.0.0",
            "metadata": {},
            "endpoints": [{"name": "lookup", "subject": subject, "queue_group": "q", "metadata": None}],
        }

        async def answers_late(msg):  # an instance on a slow link: it answers after the deadline
            await asyncio.sleep(3 * deadline)
            if not slow_conn.is_closed:
                await msg.respond(json.dumps(late).encode())

        await slow_conn.subscribe("$SRV.INFO", cb=answers_late)
        await slow_conn.request(f"$SRV.PING.{services[0].info().name}", b"", timeout=timeout)  # its SUB is in
        started = time.monotonic()
        try:
            found = await attempt(answer, client, subject, deadline, timeout=deadline + 2.0)
        except TimeoutError as e:
            if type(e) is not TimeoutError:  # the client's own timeout errors are the learner's to catch
                raise
            raise Wrong(
                f"who_serves had not returned {deadline + 2.0:.1f} s after it was called, with a deadline "
                f"of {deadline} s: bound every wait by the time left until the deadline."
            ) from None
        took = time.monotonic() - started
        if not isinstance(found, (set, list, tuple)):
            raise Wrong(f"return the set of instance ids, not {type(found).__name__}.")
        found = set(found)
        if late["id"] in found:
            raise Wrong(
                f"you waited {took:.2f} s and included an instance that answered after the deadline "
                f"({deadline} s): stop reading when the deadline has passed."
            )
        if took > deadline + 0.5:
            raise Wrong(
                f"who_serves took {took:.2f} s with a deadline of {deadline} s: bound every wait by the "
                "time left until the deadline."
            )
        if found - expected:
            raise Wrong(
                f"{len(found - expected)} of the {len(found)} ids you returned serve no endpoint on {subject}: "
                "keep only the replies whose `endpoints` list that subject."
            )
        if len(found) < len(expected):
            raise Wrong(
                f"found {len(found)} of the {len(expected)} instances serving {subject}, one of them in "
                "another service: ask every service ($SRV.INFO) and read every reply until the deadline, "
                "not just the first one (that is all nc.request gives you)."
            )
        return (
            f"{len(expected)} instances of two services serve {subject}; found them all in {took:.2f} s, and "
            "ignored the one that answered after the deadline."
        )
    finally:
        await _stop(services, conns)


# ---------------------------------------------------------------------------------------------------------
@exercise(
    hints=(
        "read the order from req.data (JSON); an unknown SKU or too little stock is a service error with its "
        "code, anything else gets the JSON reservation as its reply.",
        "`raise ServiceError(code, description)` for the two errors (micro sends the headers and STATS counts "
        "it; req.respond_error() is not counted in nats-py 2.16); else `await req.respond(json.dumps(...).encode())`.",
    ),
)
async def check_reserve(answer, server, *, timeout: float = 5.0):
    run = _token()
    subject = f"exercise.services.{run}.reserve"
    cases = [("apple", 3, None), ("plum", 9, "409"), ("kiwi", 1, "404"), ("fig", 31, None), ("pear", 1, "409")]
    conns = [await _connect(server.url, role, timeout) for role in ("service", "client")]
    services = []
    try:

        async def handler(req):
            await answer(req, dict(STOCK))

        services.append(
            await _service(conns[0], f"services-ex-reserve-{run}", "1.0.0", {"reserve": (subject, handler)}, timeout)
        )
        for sku, qty, code in cases:
            try:
                msg = await conns[1].request(subject, json.dumps({"sku": sku, "qty": qty}).encode(), timeout=2.0)
            except NatsTimeoutError:
                raise Wrong(f"no reply within 2 s to {sku} x{qty}: respond, or raise ServiceError.") from None
            _judge_reply(sku, qty, code, msg)
        stats = (await _gather(conns[1], f"$SRV.STATS.{services[0].info().name}.{services[0].id}", 1, timeout))[0]
        endpoint = stats["endpoints"][0]
        errors = sum(code is not None for *_, code in cases)
        if endpoint["num_errors"] != errors:
            raise Wrong(
                f"every caller saw the right error, but $SRV.STATS counts {endpoint['num_errors']} errors of "
                f"{errors}: in nats-py 2.16 req.respond_error() sends the headers without counting the "
                "error; raise ServiceError(code, description) and micro does both."
            )
        return (
            f"{len(cases)} requests: the caller saw every code, and $SRV.STATS counts {errors} errors "
            f"(last: {endpoint['last_error']})."
        )
    finally:
        await _stop(services, conns)


def _judge_reply(sku: str, qty: int, code: str | None, msg) -> None:
    """One reply of the reserve endpoint: the right error code, or the reservation."""
    got = (msg.headers or {}).get("Nats-Service-Error-Code")
    said = (msg.headers or {}).get("Nats-Service-Error", "")
    if code is None and got:
        raise Wrong(f"{qty} x {sku} is in stock ({STOCK[sku]}), but the reply is error {got}: {said}")
    if code is None:
        try:
            reply = json.loads(msg.data)
        except ValueError:
            reply = None
        if not isinstance(reply, dict) or reply.get("reserved") != qty:
            raise Wrong(f'{qty} x {sku}: reply with JSON {{"sku": ..., "reserved": {qty}}}, not {msg.data[:80]!r}.')
        return
    why = "unknown SKU" if code == "404" else f"only {STOCK[sku]} in stock"
    if not got:
        raise Wrong(f"{qty} x {sku} ({why}) should be error {code}; the caller got a plain reply {msg.data[:80]!r}.")
    if got != code:
        raise Wrong(
            f"{qty} x {sku} ({why}) should be error {code}; the caller got error {got}: {said!r}"
            + (" (an exception other than ServiceError becomes error 500)" if got == "500" else "")
        )


# ---------------------------------------------------------------------------------------------------------
@exercise(
    hints=(
        "v1 serves orders.place, orders.cancel and orders.status: whatever v2 subscribes there, in any queue "
        "group, gets old clients' requests. Where else under orders. could v2 live?",
        "add_group(name=...) sets the subject prefix of the endpoints under it: choose one under orders. that v1 "
        "does not use, and keep one queue group for every v2 instance (micro's default) so that they share requests.",
    ),
)
async def check_add_orders_v2(answer, server, *, per_subject: int = 12, timeout: float = 5.0):
    conns = [await _connect(server.url, role, timeout) for role in ("v1", "v2-a", "v2-b", "client")]
    v1_conn, client = conns[0], conns[-1]
    services = []
    try:
        v1 = await _service(
            v1_conn,
            "orders",
            "1.0.0",
            {op: (op, _json_reply({"version": "1.0.0", "op": op})) for op in OPERATIONS},
            timeout,
            group="orders",
        )
        services.append(v1)
        for conn in conns[1:3]:
            service = await attempt(answer, conn, timeout=timeout)
            if not isinstance(service, MicroService):
                raise Wrong(f"return the service that micro.add_service() made, not {type(service).__name__}.")
            services.append(service)
            await _ready(conn, service, timeout)
        v2 = services[1:]
        infos = {i["id"]: i for i in await _gather(client, "$SRV.INFO.orders", len(services), min(timeout, 1.0))}
        missing = [s for s in v2 if s.id not in infos]
        if missing:
            raise Wrong(
                f"{len(missing)} of your 2 instances did not answer $SRV.INFO.orders: name the service "
                f"'orders' (yours is {missing[0].info().name!r}), so that discovery finds both versions."
            )
        info = infos[v2[0].id]
        if not info["version"].startswith("2."):
            raise Wrong(f"your instances say version {info['version']}: this is version 2.0.0.")
        subjects = {e["name"]: e["subject"] for e in info["endpoints"]}
        if sorted(subjects) != sorted(OPERATIONS):
            raise Wrong(f"your endpoints are named {sorted(subjects)}: name them {list(OPERATIONS)}.")
        outside = [s for s in subjects.values() if not s.startswith("orders.")]
        if outside:
            raise Wrong(
                f"{outside[0]} is outside orders.: a client allowed orders.> (one permission for the "
                "whole service) could not call it. Keep v2's subjects under orders."
            )
        await _judge_traffic(client, v2, subjects, per_subject, timeout)
        return (
            f"v2 answers on {sorted(subjects.values())}: old clients reached only v1, and each of the "
            f"{per_subject * len(OPERATIONS)} v2 requests was handled by exactly one v2 instance."
        )
    finally:
        await _stop(services, conns)


async def _judge_traffic(client, v2, subjects: dict, per_subject: int, timeout: float) -> None:
    """Old clients call v1's subjects, new clients call v2's; STATS says who received what."""
    by_version = Counter()
    for subject in sorted(V1_SUBJECTS):
        for _ in range(per_subject):
            reply = await client.request(subject, b"{}", timeout=2.0)
            by_version[json.loads(reply.data or b"{}").get("version", "?")] += 1
    sent_v1 = per_subject * len(V1_SUBJECTS)
    received = await _v2_requests(client, v2, timeout)
    if by_version["1.0.0"] != sent_v1 or sum(received.values()):
        raise Wrong(
            f"v2 listens on v1's subjects: of {sent_v1} requests old clients sent to {sorted(V1_SUBJECTS)}, "
            f"{sent_v1 - by_version['1.0.0']} were answered by v2 and your v2 instances received "
            f"{sum(received.values())} (STATS num_requests). Old clients must reach only v1: give v2 "
            "subjects of its own (a queue group of its own on the same subject gets a copy of each request)."
        )
    for op, subject in subjects.items():
        for _ in range(per_subject):
            try:
                reply = await client.request(subject, b"{}", timeout=2.0)
            except (NoRespondersError, NatsTimeoutError) as e:
                raise Wrong(
                    f"a request to {subject} (your {op!r} endpoint) got no reply: "
                    f"{type(e).__name__}. Does the handler respond?"
                ) from None
            if reply.headers and reply.headers.get("Nats-Service-Error-Code"):
                raise Wrong(
                    f"{subject} answered with error {reply.headers['Nats-Service-Error-Code']}: "
                    f"{reply.headers.get('Nats-Service-Error')}"
                )
    received, sent_v2 = await _v2_requests(client, v2, timeout), per_subject * len(subjects)
    if sum(received.values()) != sent_v2:
        raise Wrong(
            f"your v2 instances received {sum(received.values())} requests for the {sent_v2} sent to "
            f"v2's subjects: each request should be handled once, by one instance. Keep every v2 "
            "instance in one queue group (the default, or one name for all)."
        )
    if min(received.values()) == 0:
        raise Wrong(f"one v2 instance handled all {sent_v2} requests: both should share them.")


async def _v2_requests(client, v2, timeout: float) -> dict:
    """{instance id: requests received}, summed over its endpoints, from $SRV.STATS by id."""
    counts = {}
    for service in v2:
        stats = await _gather(client, f"$SRV.STATS.orders.{service.id}", 1, timeout)
        counts[service.id] = sum(e["num_requests"] for e in stats[0]["endpoints"]) if stats else 0
    return counts
