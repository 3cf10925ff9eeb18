"""14 · Flow control and backpressure: its test entry (tests/test_notebooks.py runs it), and what its checkers
leave alone. The asserts are relations that follow from the parameters, not from this machine's speed."""

import asyncio
import json

import nats
from nats.js.api import AckPolicy, ConsumerConfig

from helpers.exercises.flow_control import check_images_config, check_worker
from tests.harness import Case

LATE = 0.5  # seconds a redelivery may come after its configured wait on a loaded machine (measured: ~0.01)


def check(run):
    p = run.params
    # the stall: delivery stops at exactly max_ack_pending unacknowledged; the rest waits in the stream
    assert run["flow.max_ack_pending"] == p["max_ack_pending"]
    assert run["flow.stalled_at"] == run["flow.max_ack_pending"]
    table = run["flow.stall_table"]
    assert table["num_ack_pending"][-1] == p["max_ack_pending"] and table["got"][-1] == 0
    assert table["num_pending"][-1] == 3 * p["max_ack_pending"]  # 4 x max_ack_pending published
    assert run["flow.default_max_ack_pending"] == 1000 and run["flow.default_max_waiting"] == 512

    # AckPolicy.ALL: one ack settles every earlier message; EXPLICIT settles one
    assert run["flow.ack_all_floor"] == p["ack_upto"] and run["flow.ack_all_pending"] == 10 - p["ack_upto"]
    assert run["flow.explicit_floor"] == 0 and run["flow.explicit_pending"] == 9

    # in_progress holds a job longer than ack_wait; the silent one goes to the second instance once
    assert p["long_job"] > p["ack_wait"]
    assert run["flow.in_progress_deliveries"] == 1
    assert run["flow.silent_deliveries"] == 2

    # backoff: each redelivery after its configured wait, never before; the server stores backoff[0] as ack_wait
    backoff, measured = run["flow.backoff_configured"], run["flow.backoff_measured"]
    assert backoff == p["backoff"] and len(measured) == len(backoff)
    for configured, seen in zip(backoff, measured, strict=True):
        assert configured - 0.01 <= seen < configured + LATE, (backoff, measured)
    assert run["flow.backoff_stored_ack_wait"] == backoff[0]
    assert "max deliver is required to be > length of backoff values" in run["flow.backoff_refusal"]

    # the consume loop: what it handled and what it never fetched (num_pending) add up to at most what was
    # published (a message a last fetch received as the loop stopped is delivered but not handled)
    assert 0 < run["flow.loop_handled"] and run["flow.loop_handled"] + run["flow.loop_left"] <= p["burst"]

    # a slow consumer: core NATS drops beyond the client's pending limit, JetStream loses nothing
    assert run["flow.core_received"] + run["flow.core_dropped"] == p["burst"]
    assert run["flow.core_dropped"] > 0 and run["flow.core_received"] >= p["pending_limit"]
    assert run["flow.js_lost"] == 0
    assert run["flow.js_handled_while_publishing"] + run["flow.js_backlog"] <= p["burst"]
    assert run["flow.js_backlog"] > 0 and run["flow.js_max_pending"] > 0

    # deep dives: max_waiting refuses the extra pull request; the server closes a reader that stops reading
    assert run["flow.num_waiting"] == p["max_waiting"]
    assert run["flow.max_waiting_refused"] == 1
    assert run["flow.max_waiting_statuses"] == ["408 Request Timeout", "409 Exceeded MaxWaiting"]
    assert run["flow.server_closed_reason"] == "Slow Consumer (Pending Bytes)"


# Answers for the checkers: wrong ones must be judged "wrong" with the phrase in the message, right ones "correct".
async def next_job(psub, batch=1):
    try:
        return await psub.fetch(batch, timeout=0.3)
    except TimeoutError:
        return []


async def no_progress(psub, step):
    done = []
    for _ in range(10):
        msgs = await next_job(psub)
        if not msgs:
            return done
        job = json.loads(msgs[0].data)
        for _ in range(job["steps"]):
            await step(job)
        await msgs[0].ack()
        done.append(job["id"])
    return done


async def ack_first(psub, step):
    done = []
    for _ in range(10):
        msgs = await next_job(psub)
        if not msgs:
            return done
        job = json.loads(msgs[0].data)
        await msgs[0].ack()  # "received": then the work
        for _ in range(job["steps"]):
            await step(job)
        done.append(job["id"])
    return done


async def batch_of_three(psub, step):
    done = []
    for _ in range(10):
        msgs = await next_job(psub, 3)
        if not msgs:
            return done
        for msg in msgs:  # in progress only for the job in hand: the others wait unreported
            job = json.loads(msg.data)
            for _ in range(job["steps"]):
                await step(job)
                await msg.in_progress()
            await msg.ack()
            done.append(job["id"])
    return done


async def one_fetch(psub, step):
    msgs = await next_job(psub)
    job = json.loads(msgs[0].data)
    for _ in range(job["steps"]):
        await step(job)
        await msgs[0].in_progress()
    await msgs[0].ack()
    return [job["id"]]


async def all_at_once(psub, step):
    """Right, and unlike the reference: every job fetched at once and worked on concurrently, each reporting."""

    async def do(msg):
        job = json.loads(msg.data)
        for _ in range(job["steps"]):
            await step(job)
            await msg.in_progress()
        await msg.ack()
        return job["id"]

    msgs = await next_job(psub, 10)
    return list(await asyncio.gather(*(do(m) for m in msgs)))


def images(**config):
    return ConsumerConfig(**config)


CASE = Case(
    slow_checkers=True,  # its checkers wait out ack_wait and backoff timers: seconds each
    check=check,
    exercises=("worker", "images_config"),
    solutions={"max_ack_pending": 4, "ack_upto": 4, "backoff": [0.25, 0.5], "max_waiting": 3, "pending_limit": 10},
    budget=20,
    any_order=True,  # JetStream on the shared server: tests/test_jetstream_any_order.py
    wrong_answers=(
        (check_worker, no_progress, "the server heard nothing about job-2 for"),
        (check_worker, ack_first, "the server got the ack for job-1 before its work was done (0 of 1 steps)"),
        (check_worker, batch_of_three, "job-3 waited"),
        (check_worker, one_fetch, "2 of 3 jobs were never fetched"),
        (check_images_config, images(max_ack_pending=2, ack_wait=0.3, max_deliver=3), "the retries must back off"),
        (check_images_config, images(backoff=[0.3, 0.6], max_deliver=3), "handed out 4 images at once"),
        (check_images_config, images(max_ack_pending=2, backoff=[0.3, 0.6]), "max_deliver=-1"),
        (
            check_images_config,
            images(max_ack_pending=2, backoff=[0.3, 0.6, 1.2], max_deliver=2),
            "the server refused this consumer: max deliver is required",
        ),
        (check_images_config, {"max_ack_pending": 2}, "ConsumerConfig"),
    ),
    right_answers=(
        (check_worker, all_at_once),
        (check_images_config, images(max_ack_pending=2, backoff=[0.25, 0.35, 0.6], max_deliver=3)),
    ),
)


async def test_checkers_delete_their_streams_and_leave_the_answer_unchanged(nats_server):
    answer = ConsumerConfig(max_ack_pending=2, backoff=[0.3, 0.6], max_deliver=3)
    assert (await check_images_config(answer, nats_server, show=False)).ok
    assert answer.durable_name is None and answer.filter_subject is None, "the checker must not change the answer"
    assert answer.ack_policy in (None, AckPolicy.EXPLICIT)
    await check_worker(one_fetch, nats_server, show=False)
    nc = await nats.connect(nats_server.url, name="test-flow-control-checkers")
    try:
        streams = [s.config.name for s in await nc.jetstream(timeout=5).streams_info()]
    finally:
        await nc.close()
    assert not [s for s in streams if s.startswith("FLOW_CONTROL_EX")], f"the checkers left {streams}"
