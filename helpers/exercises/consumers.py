"""Checkers for the Consumers notebook.

Each checker builds its own small stream (`CONSUMERS_BACKLOG`, `CONSUMERS_AUDIT`: names only this
notebook uses), runs the learner's answer against it on the real server, asks the server what happened
(the consumer's pending count, what is in flight, its ack floor), and deletes the stream again.
"""

from __future__ import annotations

import dataclasses
import json
import time

import nats
from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy

from helpers.exercises.framework import Wrong, attempt, delete_if_exists, exercise, jetstream

EX1_STREAM, EX1_SUBJECT, EX1_INVOICES = "CONSUMERS_BACKLOG", "consumers.backlog.invoices", 23
EX2_STREAM, EX2_SUBJECT, EX2_INVOICES, EX2_START = "CONSUMERS_AUDIT", "consumers.audit.invoices", 10, 6


async def _fresh_stream(js, name: str, subject: str, count: int) -> list[str]:
    """(Re)create a stream holding `count` invoices; return their ids in order."""
    await delete_if_exists(js.delete_stream, name)
    await js.add_stream(name=name, subjects=[subject])
    ids = [f"EX-{n:03d}" for n in range(1, count + 1)]
    for n, invoice_id in enumerate(ids, start=1):
        await js.publish(subject, json.dumps({"id": invoice_id, "amount": n}).encode())
    return ids


@exercise(
    hints=(
        "one fetch returns at most one batch: keep fetching until a fetch comes back empty, "
        "and answer every message you got with an ack.",
        "a bounded loop: `msgs = await psub.fetch(10, timeout=0.5)` inside try/except TimeoutError "
        "(an empty fetch: stop), then `await msg.ack()` for each message and collect "
        "json.loads(msg.data)['id'].",
    ),
    timeout=15.0,
)
async def check_work_through(answer, server):
    async with jetstream(server, "consumers.checker") as js:
        return await _work_through(answer, js)


async def _work_through(answer, js):
    published = await _fresh_stream(js, EX1_STREAM, EX1_SUBJECT, EX1_INVOICES)
    psub = await js.pull_subscribe(
        EX1_SUBJECT, durable="backlog-worker", stream=EX1_STREAM, config=ConsumerConfig(ack_wait=30)
    )
    started = time.monotonic()
    try:
        ids = await attempt(answer, psub, timeout=12.0)
        info = await psub.consumer_info()
    except TimeoutError as e:
        if time.monotonic() - started > 11.5:
            raise Wrong(
                "it did not finish within 12 s. Does your loop stop when a fetch comes back empty "
                "(TimeoutError or [])? Is it bounded?"
            ) from None
        raise Wrong(
            f"your code let {type(e).__module__}.{type(e).__name__} escape: an empty fetch raises it. "
            "Catch TimeoutError (the built-in: nats.errors.TimeoutError is a subclass, and nats-py "
            "sometimes raises the plain one) and stop there."
        ) from None
    finally:
        await psub.unsubscribe()
        await delete_if_exists(js.delete_stream, EX1_STREAM)
    if not isinstance(ids, list):
        raise Wrong(f"return a list of invoice ids, not {type(ids).__name__}.")
    floor = info.ack_floor.stream_seq if info.ack_floor else 0
    if info.num_pending:
        raise Wrong(
            f"{info.num_pending} of {EX1_INVOICES} invoices were never fetched: the server's consumer shows "
            f"num_pending={info.num_pending} and its ack floor at stream sequence {floor}. One fetch returns "
            "at most one batch: keep fetching until a fetch comes back empty (TimeoutError or [])."
        )
    if info.num_ack_pending:
        raise Wrong(
            f"{info.num_ack_pending} fetched invoices were never acked: the server's consumer shows "
            f"num_ack_pending={info.num_ack_pending} and its ack floor at stream sequence {floor} of "
            f"{EX1_INVOICES}. Call `await msg.ack()` on each, or they come back after ack_wait."
        )
    if ids != published:
        raise Wrong(
            f"you returned {len(ids)} ids starting {ids[:2]}; expected the {len(published)} ids "
            f"{published[0]} ... {published[-1]} in order: json.loads(msg.data)['id'] for each message."
        )
    return (
        f"All {EX1_INVOICES} invoices fetched in batches and acked: the server shows num_pending=0, "
        f"num_ack_pending=0 and the ack floor at stream sequence {floor}, and the empty fetch ended the loop."
    )


@exercise(
    hints=(
        "two choices make this consumer: where it starts (a deliver policy) and whether anything waits "
        "for an ack (an ack policy).",
        "ConsumerConfig(deliver_policy=DeliverPolicy.BY_START_SEQUENCE, opt_start_seq=..., ack_policy=...); "
        "readers that never ack use AckPolicy.NONE.",
    ),
)
async def check_answer_2(answer, server):
    async with jetstream(server, "consumers.checker") as js:
        return await _answer_2(answer, js)


async def _answer_2(answer, js):
    if not isinstance(answer, ConsumerConfig):
        raise Wrong(f"answer with a nats.js.api.ConsumerConfig(...), not {type(answer).__name__}.")
    published = await _fresh_stream(js, EX2_STREAM, EX2_SUBJECT, EX2_INVOICES)
    config = dataclasses.replace(answer)  # a copy: pull_subscribe fills in names
    try:
        try:
            psub = await js.pull_subscribe(EX2_SUBJECT, stream=EX2_STREAM, config=config)
        except nats.js.errors.BadRequestError as e:
            raise Wrong(
                f"the server refused this consumer: {e.description}. "
                "A start sequence needs deliver_policy=DeliverPolicy.BY_START_SEQUENCE."
            ) from None
        info = await psub.consumer_info()
        try:
            msgs = await psub.fetch(EX2_INVOICES + 5, timeout=1.0)
        except TimeoutError:  # nothing delivered (nats.errors.TimeoutError is one)
            msgs = []
        await psub.unsubscribe()
    finally:
        await delete_if_exists(js.delete_stream, EX2_STREAM)
    got = [json.loads(m.data)["id"] for m in msgs]
    expected = published[EX2_START - 1 :]
    if info.config.deliver_policy != DeliverPolicy.BY_START_SEQUENCE:
        raise Wrong(
            f"deliver_policy is {info.config.deliver_policy}: the replay must start at a stream "
            "sequence, which is DeliverPolicy.BY_START_SEQUENCE (with opt_start_seq)."
        )
    if got != expected:
        first = msgs[0].metadata.sequence.stream if msgs else None
        raise Wrong(
            f"it delivered {len(got)} invoices starting at stream sequence {first}; the audit starts at "
            f"sequence {EX2_START} ({len(expected)} invoices). Check opt_start_seq."
        )
    if info.config.ack_policy != AckPolicy.NONE:
        raise Wrong(
            f"ack_policy is {info.config.ack_policy}: every delivered invoice would wait for an ack "
            "and be redelivered. A read-only replay uses AckPolicy.NONE."
        )
    return f"Delivered sequences {EX2_START}-{EX2_INVOICES} ({len(expected)} invoices), with nothing waiting for acks."
