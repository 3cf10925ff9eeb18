"""Checkers for Queue groups (notebooks/04-queue-groups.ipynb).

Each checker runs the learner's function against the real server on a subject
of its own (so the notebook's workers never see the checker's messages), on
connections of its own whose errors go to a quiet callback (nothing on stderr).
"""

from __future__ import annotations

import asyncio
import uuid
from collections import Counter

import nats
from nats.aio.subscription import Subscription

from helpers.exercises.framework import Wrong, attempt, exercise, quiet


def _subject(kind: str) -> str:
    return f"exercise.{kind}.{uuid.uuid4().hex[:8]}"


async def _connect(url: str, name: str):
    """A checker's own connection, named by the slug; nats-py's errors go to a quiet callback, not to stderr."""

    return await nats.connect(url, name=f"queue-groups.checker-{name}", error_cb=quiet)


@exercise(
    hints=(
        "`await nc.subscribe(subject, queue=..., cb=...)` makes a member of a group; the group is named by `queue`.",
        "the callback is an `async def` that appends `msg.data.decode()` to `handled`; return what "
        "nc.subscribe returned.",
    )
)
async def check_join_billing(answer, server, *, members: int = 3, payments: int = 60, timeout: float = 5.0):
    url, subject = server.url, _subject("payments")
    conns = [await _connect(url, str(i)) for i in range(members + 1)]
    try:
        handled = [[] for _ in range(members)]
        subs = [await attempt(answer, conn, subject, got) for conn, got in zip(conns[:members], handled, strict=True)]
        for sub in subs:
            if not isinstance(sub, Subscription):
                raise Wrong(f"return the subscription from nc.subscribe(), not {type(sub).__name__}.")
        for conn in conns[:members]:
            await conn.flush(timeout=timeout)  # the server has every member's SUB
        published = [f"pay-{i}" for i in range(payments)]
        for payment_id in published:
            await conns[-1].publish(subject, payment_id.encode())
        await conns[-1].flush(timeout=timeout)  # the server has routed every payment
        for conn, sub in zip(conns[:members], subs, strict=True):
            await conn.flush(timeout=timeout)  # everything routed to this member has arrived...
            try:
                await asyncio.wait_for(sub.drain(), 1.0)  # ...and its callback has run
            except TimeoutError:
                waiting = sum(s.pending_msgs for s in subs)
                raise Wrong(
                    f"{waiting} of the {payments} payments are waiting unprocessed in the members' subscriptions: "
                    "pass a callback, cb=..., that appends msg.data.decode() to `handled`."
                ) from None
        total = sum(len(got) for got in handled)
        if total == members * payments:
            raise Wrong(
                f"each of the {payments} payments reached all {members} workers ({total} in all): "
                "without `queue=` every subscriber gets every message."
            )
        if {sub.queue for sub in subs} != {"billing-service"}:
            raise Wrong(
                f"the subscriptions are in queue group(s) {sorted({sub.queue for sub in subs})}, not 'billing-service'."
            )
        if total != payments or set().union(*handled) != set(published):
            raise Wrong(
                f"the workers handled {total} payments ({len(set().union(*handled))} distinct) of "
                f"{payments} published: does the callback append msg.data.decode() to `handled`?"
            )
        counts = [len(got) for got in handled]
        return f"{payments} payments, each handled once, split {counts} across {members} members."
    finally:
        for conn in conns:
            await conn.close()


@exercise(
    hints=(
        "responders share requests the way workers share messages: a queue group, named by `queue=`.",
        "the callback answers with `await msg.respond(name.encode())`; return what nc.subscribe returned.",
    )
)
async def check_add_quoter(answer, server, *, requests: int = 40, timeout: float = 5.0):
    url, subject = server.url, _subject("quote")
    names = ["quoter-a", "quoter-b"]
    conns = [await _connect(url, n) for n in [*names, "client"]]
    try:
        subs = [await attempt(answer, conn, subject, name) for conn, name in zip(conns[:2], names, strict=True)]
        for sub in subs:
            if not isinstance(sub, Subscription):
                raise Wrong(f"return the subscription from nc.subscribe(), not {type(sub).__name__}.")
        if {sub.queue for sub in subs} != {"quote-service"}:
            raise Wrong(
                f"the responders are in queue group(s) {sorted({sub.queue for sub in subs})}: without "
                "one shared group every responder answers every request (the first reply wins)."
            )
        for conn in conns[:2]:
            await conn.flush(timeout=timeout)
        client, answers = conns[-1], Counter()
        for i in range(requests):
            try:
                reply = await client.request(subject, str(100 + i).encode(), timeout=2.0)
            except nats.errors.TimeoutError:
                raise Wrong("a request got no reply within 2 s: does the callback `await msg.respond(...)`?") from None
            answers[reply.data.decode()] += 1
        if set(answers) - set(names):
            raise Wrong(f"the replies were {sorted(answers)[:3]}...: respond with the responder's `name`.")
        if len(answers) < 2:
            raise Wrong(f"only {sorted(answers)} answered {requests} requests: both should share the work.")
        return f"{requests} requests, answered {dict(answers)}: load-balanced by the server alone."
    finally:
        for conn in conns:
            await conn.close()


# The design exercise: four kinds of consumer of one subject, and what each must see.
KINDS = {  # kind: (instances, "once": the kind handles each order once | "each": every instance sees every order)
    "billing": (3, "once"),
    "email": (2, "once"),
    "audit": (1, "each"),
    "cache": (2, "each"),
}


@exercise(
    hints=(
        "ask of each kind: must each order be handled once by the kind, or seen by every instance?",
        "a kind whose work is done once gets a queue group of its own; a kind whose every instance needs every "
        "order gets None.",
    )
)
async def check_groups(answer, server, *, orders: int = 60, timeout: float = 5.0):
    if not isinstance(answer, dict) or set(answer) != set(KINDS):
        raise Wrong(f"answer with a dict of a queue group name (or None) for each of {sorted(KINDS)}.")
    if any(group is not None and not isinstance(group, str) for group in answer.values()):
        raise Wrong("each value is a queue group name (a str) or None for a plain subscription.")
    subject = _subject("orders")
    conns, got = [], {}
    try:
        for kind, (instances, _) in KINDS.items():
            for i in range(instances):
                conn = await _connect(server.url, f"{kind}-{i}")
                conns.append(conn)
                got[(kind, i)] = (conn, await conn.subscribe(subject, queue=answer[kind] or ""))
                await conn.flush(timeout=timeout)  # the server has this SUB
        publisher = conns[0]
        for n in range(orders):
            await publisher.publish(subject, str(n).encode())
        await publisher.flush(timeout=timeout)  # the server has routed every order
        seen = {}
        for key, (conn, sub) in got.items():
            await conn.flush(timeout=timeout)  # everything routed to this instance has arrived
            seen[key] = [int((await sub.next_msg(timeout=timeout)).data) for _ in range(sub.pending_msgs)]
    finally:
        for conn in conns:
            await conn.close()
    for kind, (instances, need) in KINDS.items():
        per_instance = [seen[(kind, i)] for i in range(instances)]
        handled = sum(len(s) for s in per_instance)
        if need == "once" and sorted(n for s in per_instance for n in s) != list(range(orders)):
            raise Wrong(
                f"{kind} must handle each order once: its {instances} instances handled {handled} for {orders} "
                f"orders{' (a group shared with another kind takes some of them away)' if handled < orders else ''}."
            )
        if need == "each" and any(len(s) != orders for s in per_instance):
            short = min(len(s) for s in per_instance)
            raise Wrong(f"every {kind} instance must see every order: one saw {short} of {orders}.")
    return f"{orders} orders: billing and email handled each once, every audit and cache instance saw them all."
