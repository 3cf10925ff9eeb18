"""The Consumers notebook: its test entry (tests/test_notebooks.py runs it), and what its checkers leave alone."""

import json

import nats
from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy

from helpers.exercises.consumers import EX1_STREAM, check_answer_2, check_work_through
from tests.harness import Case

INVOICES, BATCH, BACKLOG, KILL_AFTER, PAID, REVIEW = 12, 5, 20, 7, 20, 5  # the notebook's defaults


def invoice_number(invoice_id: str) -> int:
    return int(invoice_id.split("-")[1])


def check(run):
    # pull consumer: batches return what is there at once; an empty fetch raises TimeoutError
    assert run["pull.batch_sizes"] == [5, 5, 2, 0]
    assert run["pull.empty_fetch_waited_timeout"] is True
    # an empty fetch waits for its timeout (0.1 s), never returns at once; batch=1 raises the nats TimeoutError;
    # batch > 1 (nats-py 2.16) may also return [] or raise the built-in TimeoutError
    assert run["pull.empty_fetch_min_seconds"] >= 0.09
    assert run["pull.empty_outcomes_batch_1"] == ["raised nats.errors.TimeoutError"]
    assert set(run["pull.empty_outcomes"]) <= {"raised nats.errors.TimeoutError", "raised builtins.TimeoutError", "[]"}

    # the four answers, ack_wait=0.5 s and max_deliver=3
    assert run["acks.deliveries"] == {"ack": 1, "nak, then ack": 2, "slow: in_progress": 1, "term": 1, "no answer": 3}
    assert {"MSG_NAKED", "MSG_TERMINATED", "MAX_DELIVERIES"} <= set(run["acks.advisories"])

    # crash and resume: a real process killed with SIGKILL, nothing lost
    assert run["crash.exit_code"] == -9
    assert run["crash.processed_equals_published"] is True
    assert run["crash.missing"] == 0
    assert KILL_AFTER <= run["crash.first_processed"] < BACKLOG
    in_flight = run["crash.in_flight_at_kill"]
    assert 1 <= in_flight <= BATCH, f"the killed processor should hold part of a batch, held {in_flight}"
    assert run["crash.redelivered"] == in_flight, "exactly what was in flight at the crash is redelivered"
    numbers = [invoice_number(i) for i in run["crash.redelivered_ids"]]
    assert numbers == list(range(numbers[0], numbers[0] + in_flight)), f"not one batch's tail: {numbers}"
    assert (numbers[-1] - INVOICES) % BATCH == 0, f"redelivered {numbers} do not end a fetched batch"
    # they start right after the last invoice the first instance acked: the one it printed last, if the kill
    # fell between its print and its ack (then it was processed twice)
    assert run["crash.processed_twice"] in (0, 1)
    assert numbers[0] == INVOICES + run["crash.first_processed"] + 1 - run["crash.processed_twice"]

    # durable vs ephemeral, deliver group, ordered consumer, replay
    assert run["ephemeral_removed"] is True
    assert run["group.total"] == PAID and run["group.overlap"] == 0
    assert run["ordered.in_order"] is True
    assert run["ordered.count"] == INVOICES + REVIEW + BACKLOG + PAID
    start = INVOICES + REVIEW + 1  # the backlog's first stream sequence
    assert run["replay.counts"] == {
        "ALL": INVOICES + BACKLOG,
        "LAST": 1,
        f"BY_START_SEQUENCE {start}": BACKLOG,
        "BY_START_TIME (its time)": BACKLOG,
        "BY_START_TIME (+1 h)": 0,
    }
    assert run["end.processor_pending"] == 0
    assert run["end.processor_ack_pending"] == 0


# Answers for the checkers: wrong ones must be judged "wrong" with the phrase in the message, right ones "correct".
async def one_batch(psub):
    msgs = await psub.fetch(10, timeout=0.5)
    for msg in msgs:
        await msg.ack()
    return [json.loads(m.data)["id"] for m in msgs]


async def no_acks(psub):
    ids = []
    for _ in range(10):
        try:
            msgs = await psub.fetch(10, timeout=0.3)
        except TimeoutError:
            msgs = []
        if not msgs:
            return ids
        ids += [json.loads(m.data)["id"] for m in msgs]
    return ids


async def raw_payloads(psub):
    ids = []
    for _ in range(10):
        try:
            msgs = await psub.fetch(10, timeout=0.3)
        except TimeoutError:
            msgs = []
        if not msgs:
            return ids
        for msg in msgs:
            ids.append(msg.data.decode())
            await msg.ack()
    return ids


async def lets_timeout_escape(psub):
    ids = []
    for _ in range(30):
        for msg in await psub.fetch(1, timeout=0.2):  # batch=1: an empty fetch always raises
            ids.append(json.loads(msg.data)["id"])
            await msg.ack()
    return ids


async def one_at_a_time(psub):  # right, and not the reference: batch=1, and it keeps the template's last line
    ids = []
    for _ in range(100):
        try:
            (msg,) = await psub.fetch(1, timeout=0.2)
        except TimeoutError:
            break
        await msg.ack()
        ids.append(json.loads(msg.data)["id"])
    return ids


BY_SEQ = DeliverPolicy.BY_START_SEQUENCE

CASE = Case(
    any_order=True,  # JetStream on the shared server: tests/test_jetstream_any_order.py
    check=check,
    exercises=("work_through", "answer_2"),
    budget=12,  # issue 9 added two demonstrations (config ignored for an existing durable, LAST_PER_SUBJECT)
    wrong_answers=(
        (check_work_through, one_batch, "of 23 invoices were never fetched"),
        (check_work_through, one_batch, "and its ack floor at stream sequence"),
        (check_work_through, no_acks, "were never acked"),
        (check_work_through, no_acks, "num_ack_pending=23 and its ack floor at stream sequence 0"),
        (check_work_through, raw_payloads, "json.loads(msg.data)['id']"),
        (check_work_through, lets_timeout_escape, "nats.errors.TimeoutError escape"),
        (
            check_answer_2,
            ConsumerConfig(opt_start_seq=6, ack_policy=AckPolicy.NONE),
            "the server refused this consumer",
        ),
        (
            check_answer_2,
            ConsumerConfig(deliver_policy=BY_SEQ, opt_start_seq=5, ack_policy=AckPolicy.NONE),
            "starting at stream sequence 5",
        ),
        (check_answer_2, ConsumerConfig(deliver_policy=BY_SEQ, opt_start_seq=6), "AckPolicy.NONE"),
        (check_answer_2, ConsumerConfig(ack_policy=AckPolicy.NONE), "BY_START_SEQUENCE"),
        (check_answer_2, {"opt_start_seq": 6}, "ConsumerConfig"),
    ),
    right_answers=((check_work_through, one_at_a_time),),
)


async def test_checkers_delete_their_stream_and_leave_the_answer_unchanged(nats_server):
    await check_work_through(one_batch, nats_server, show=False)
    nc = await nats.connect(nats_server.url, name="test-consumers-checkers")
    try:
        streams = await nc.jetstream(timeout=5).streams_info()
    finally:
        await nc.close()
    assert EX1_STREAM not in [s.config.name for s in streams], "the checker must delete its stream"
    right = ConsumerConfig(deliver_policy=BY_SEQ, opt_start_seq=6, ack_policy=AckPolicy.NONE)
    assert (await check_answer_2(right, nats_server, show=False)).ok
    assert right.name is None and right.filter_subject is None, "the checker must not change the answer"
