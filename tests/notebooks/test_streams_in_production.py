"""Streams in production (15-streams-in-production.ipynb): its test entry (tests/test_notebooks.py runs it).

Each record is what the server did: the sourced stream and its mirror hold the same orders, a message with
its own TTL expired while one without stayed, a publish expecting a stale subject sequence was refused.
"""

import nats
from nats.js.errors import BadRequestError

from helpers.exercises.streams_in_production import WRONG_LAST_SEQUENCE, check_archive, check_debit
from tests.harness import Case


def check(run):
    orders = run.params["orders_eu"] + run.params["orders_us"]
    assert run["topology.source_messages"] == orders  # both regions' orders, gathered
    assert run["topology.mirror_messages"] == run["topology.source_messages"]  # the mirror copied them all
    assert run["topology.msg_ttl_expired"] is True  # the session went, the profile stayed
    assert run.params["ttl_seconds"] <= run["topology.msg_ttl_seconds"] < run.params["ttl_seconds"] + 3
    assert run["topology.expected_seq_conflict"] is True  # the stale write was refused
    assert run["topology.streams_left"] == []


# Wrong answers for check_debit: each must be judged "wrong" with the phrase (what the server saw).
async def without_the_header(js, stream, subject, amount):  # read, then write over whatever came between
    last = await js.get_last_msg(stream, subject)
    await js.publish(subject, str(int(last.data) - amount).encode())


async def without_a_retry(js, stream, subject, amount):  # the header, but a refusal ends the debit
    last = await js.get_last_msg(stream, subject)
    headers = {"Nats-Expected-Last-Subject-Sequence": str(last.seq)}
    await js.publish(subject, str(int(last.data) - amount).encode(), headers=headers)


async def swallows_the_refusal(js, stream, subject, amount):  # refused, and nobody hears of it
    try:
        await without_a_retry(js, stream, subject, amount)
    except BadRequestError:
        pass


async def retries_with_the_stale_read(js, stream, subject, amount):  # retries, but never reads again
    last = await js.get_last_msg(stream, subject)
    for _ in range(3):
        try:
            headers = {"Nats-Expected-Last-Subject-Sequence": str(last.seq)}
            return await js.publish(subject, str(int(last.data) - amount).encode(), headers=headers)
        except BadRequestError:
            continue


# A right answer unlike the reference: a recursive retry through the expected-sequence check.
async def recursive(js, stream, subject, amount):
    last = await js.get_last_msg(stream, subject)
    try:
        await js.publish(
            subject,
            str(int(last.data) - amount).encode(),
            headers={nats.js.api.Header.EXPECTED_LAST_SUBJECT_SEQUENCE: str(last.seq)},
        )
    except BadRequestError as e:
        if e.err_code != WRONG_LAST_SEQUENCE:
            raise
        await recursive(js, stream, subject, amount)
    return ...


RIGHT = {"copy": "sources", "deny_delete": True, "deny_purge": True, "sealed": False, "max_age": 0}

CASE = Case(
    slow_checkers=True,  # its checkers build regional streams, an archive and TTLs: seconds each
    check=check,
    exercises=("debit", "archive"),
    solutions=dict(orders_eu=4, orders_us=3, debit_amount=5),
    budget=20,
    any_order=True,  # JetStream on the shared server: tests/test_jetstream_any_order.py
    wrong_answers=(
        (check_debit, without_the_header, "of the 8 debits were lost"),
        (check_debit, without_the_header, "the server stored 8 of 8 debits"),
        (check_debit, without_a_retry, "wrong last sequence"),
        (check_debit, swallows_the_refusal, "debits were never stored"),
        (check_debit, retries_with_the_stale_read, "7 debits were never stored"),
        (check_archive, RIGHT | {"copy": "mirror"}, "holds 3 of the 6 orders"),
        (check_archive, RIGHT | {"sealed": True}, "can not be sealed"),
        (check_archive, RIGHT | {"deny_delete": False}, "the server did delete message 1"),
        (check_archive, RIGHT | {"deny_purge": False}, "the server did purge"),
        (check_archive, RIGHT | {"max_age": 7 * 24 * 3600}, "before the year is out"),
        (check_archive, RIGHT | {"copy": "both"}, "'copy' is 'mirror' or 'sources'"),
        (check_archive, {"copy": "sources"}, "must be a dict with the keys"),
    ),
    right_answers=(
        (check_debit, recursive),
        (check_archive, RIGHT | {"max_age": 2 * 365 * 24 * 3600}),
    ),
)
