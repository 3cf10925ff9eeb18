"""Notebook 06 · Consumers: executed untouched, then with the solutions, on one server; checkers vs wrong answers."""

import json

import nats
from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy

from helpers.exercises.consumers import audit_replay, backlog_worker

STEM = "06-consumers"
INVOICES, BATCH, BACKLOG, KILL_AFTER, PAID, REVIEW = 12, 5, 20, 7, 20, 5  # the notebook's defaults


def invoice_number(invoice_id: str) -> int:
    return int(invoice_id.split("-")[1])


def check_lesson(run):
    # pull consumer: batches return what is there at once; an empty fetch raises TimeoutError
    assert run["pull.batch_sizes"] == [5, 5, 2, 0]
    assert run["pull.empty_fetch_waited_timeout"] is True
    # an empty fetch waits for its timeout (0.1 s), never returns at once; batch=1 raises the nats TimeoutError;
    # batch > 1 (nats-py 2.16) may also return [] or raise the built-in TimeoutError
    assert run["pull.empty_fetch_min_seconds"] >= 0.09
    assert run["pull.empty_outcomes_batch_1"] == ["raised nats.errors.TimeoutError"]
    assert set(run["pull.empty_outcomes"]) <= {"raised nats.errors.TimeoutError", "raised builtins.TimeoutError", "[]"}

    # the four answers, ack_wait=0.5 s and max_deliver=3
    assert run["acks.deliveries"] == {"ack": 1, "nak, then ack": 2, "slow: in_progress": 1, "term": 1,
                                      "no answer": 3}
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
    assert run["replay.counts"] == {"ALL": INVOICES + BACKLOG, "LAST": 1, f"BY_START_SEQUENCE {start}": BACKLOG,
                                    "BY_START_TIME (its time)": BACKLOG, "BY_START_TIME (+1 h)": 0}
    assert run["end.processor_pending"] == 0
    assert run["end.processor_ack_pending"] == 0


def test_consumers(run_notebook):
    untouched = run_notebook(STEM, "untouched")
    assert untouched["exercise.06.work-through"] == "not attempted"
    assert untouched["exercise.06.audit-replay"] == "not attempted"
    check_lesson(untouched)
    assert untouched.cell_seconds < 10, f"06 took {untouched.cell_seconds:.1f} s after kernel start"

    run = run_notebook(STEM, "solutions", solutions=True)  # a second run on the same server
    check_lesson(run)
    assert run["exercise.06.work-through"] == "correct"
    assert run["exercise.06.audit-replay"] == "correct"
    assert run.cell_seconds < 10, f"06 took {run.cell_seconds:.1f} s after kernel start; open {run.path}"


async def test_backlog_worker_rejects_wrong_answers(nats_server):
    nc = await nats.connect(nats_server.url)
    js = nc.jetstream()

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

    async def untouched(psub):
        return ...

    try:
        verdict = await backlog_worker(one_batch, js, show=False)
        assert verdict.status == "wrong" and "13 of 23 invoices were never fetched" in verdict.message
        verdict = await backlog_worker(no_acks, js, show=False)
        assert verdict.status == "wrong" and "were never acked" in verdict.message
        verdict = await backlog_worker(raw_payloads, js, show=False)
        assert verdict.status == "wrong" and "json.loads(msg.data)['id']" in verdict.message
        verdict = await backlog_worker(lets_timeout_escape, js, show=False)
        assert verdict.status == "wrong" and "nats.errors.TimeoutError escape" in verdict.message
        assert (await backlog_worker(untouched, js, show=False)).status == "not attempted"
        streams = await js.streams_info()
        assert "NB06_EX1" not in [s.config.name for s in streams], "the checker must delete its stream"
    finally:
        await nc.close()


async def test_audit_replay_rejects_wrong_answers(nats_server):
    nc = await nats.connect(nats_server.url)
    js = nc.jetstream()
    by_seq = DeliverPolicy.BY_START_SEQUENCE
    try:
        verdict = await audit_replay(ConsumerConfig(opt_start_seq=6, ack_policy=AckPolicy.NONE), js, show=False)
        assert verdict.status == "wrong" and "the server refused this consumer" in verdict.message
        verdict = await audit_replay(ConsumerConfig(deliver_policy=by_seq, opt_start_seq=5,
                                                    ack_policy=AckPolicy.NONE), js, show=False)
        assert verdict.status == "wrong" and "starting at stream sequence 5" in verdict.message
        verdict = await audit_replay(ConsumerConfig(deliver_policy=by_seq, opt_start_seq=6), js, show=False)
        assert verdict.status == "wrong" and "AckPolicy.NONE" in verdict.message
        verdict = await audit_replay(ConsumerConfig(ack_policy=AckPolicy.NONE), js, show=False)
        assert verdict.status == "wrong" and "BY_START_SEQUENCE" in verdict.message
        verdict = await audit_replay({"opt_start_seq": 6}, js, show=False)
        assert verdict.status == "wrong" and "ConsumerConfig" in verdict.message
        assert (await audit_replay(..., js, show=False)).status == "not attempted"
        right = ConsumerConfig(deliver_policy=by_seq, opt_start_seq=6, ack_policy=AckPolicy.NONE)
        assert (await audit_replay(right, js, show=False)).ok
        assert right.name is None and right.filter_subject is None, "the checker must not change the answer"
    finally:
        await nc.close()
