"""Checkers for notebook 04 · Queue groups.

Each checker runs the learner's function against the real server on a subject
of its own (so the notebook's workers never see the checker's messages).
"""

from __future__ import annotations

import asyncio
import uuid
from collections import Counter

import nats
from nats.aio.subscription import Subscription

from helpers.exercises.framework import Wrong, attempt, exercise


def _subject(kind: str) -> str:
    return f"exercise.{kind}.{uuid.uuid4().hex[:8]}"


@exercise("04.join_billing", hint="nc.subscribe(subject, queue=..., cb=...); the callback appends msg.data.decode().")
async def check_join_billing(answer, server, *, members: int = 3, payments: int = 60, timeout: float = 5.0):
    url, subject = server.url, _subject("payments")
    conns = [await nats.connect(url, name=f"04-queue-groups.checker-{i}") for i in range(members + 1)]
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
                raise Wrong(
                    "messages are waiting unprocessed in a member's subscription: pass a callback, "
                    "cb=..., that appends msg.data.decode() to `handled`."
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


@exercise("04.add_quoter", hint="nc.subscribe(subject, queue='quote-service', cb=...), and `await msg.respond(...)`.")
async def check_add_quoter(answer, server, *, requests: int = 40, timeout: float = 5.0):
    url, subject = server.url, _subject("quote")
    names = ["quoter-a", "quoter-b"]
    conns = [await nats.connect(url, name=f"04-queue-groups.checker-{n}") for n in [*names, "client"]]
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
