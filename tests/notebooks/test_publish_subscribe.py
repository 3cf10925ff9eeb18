"""Notebook 01 · Publish/subscribe: its test entry (tests/test_notebooks.py runs it), and the listener service."""

import asyncio
import json

import nats

from helpers.exercises.publish_subscribe import SAMPLE_USER, check_announce, check_delivery, check_stop_worker
from tests.harness import Case

SUBSCRIBERS = ("welcome-email", "audit-log", "analytics")
HEADERS = {"Content-Type": "application/json", "Event-Version": "1", "Trace-Id": "signup-7f3a"}


def check(run):
    n_users, n_down, n_ordered, slow_limit, burst, jobs = (
        run.params[k] for k in ("n_users", "n_down", "n_ordered", "slow_limit", "burst", "jobs")
    )
    flush_trials, flush_msgs, flush_size = (run.params[k] for k in ("flush_trials", "flush_msgs", "flush_size"))
    # fan-out: every subscriber got every event; the server holds one subscription per service
    assert run["fanout_counts"] == {name: n_users for name in SUBSCRIBERS}
    assert run["fanout_server_subscriptions"] == 3
    # fire-and-forget: the listener process misses exactly what was published while it was down
    assert run["missed_while_down"] == n_down
    assert run["missed_ids"] == list(range(n_users, n_users + n_down))
    assert run["listener_received"] == 2 * n_users
    # headers and JSON round-trip unchanged
    assert run["headers_received"] == HEADERS
    assert run["headers_roundtrip"] is True
    # per-publisher order
    assert run["order_per_publisher"] == {"A": True, "B": True}
    assert run["ordered_received"] == 2 * n_ordered
    # publish() only buffers; one flush() and the server had processed all of them, every time
    flush = run["flush_summary"]
    assert list(flush) == ["publish, flush()"]
    one = flush["publish, flush()"]
    assert (one["trials"], one["all_processed"], one["fewest_processed"]) == (flush_trials, flush_trials, flush_msgs)
    assert one["bytes_buffered"] >= flush_msgs * flush_size  # nothing had left when flush() was called
    # the deep dive: nats-py 2.16 sends flush()'s PING ahead of the buffer unless nats_py_fixes is applied
    assert run["flush_ping_first"] == {"without the fix": True, "with the fix": False}  # deterministic
    bug = run["flush_bug"]
    assert bug["with the fix"]["all_processed"] == bug["with the fix"]["trials"] == flush_trials
    assert bug["without the fix"]["all_processed"] < flush_trials, bug  # 800 KB buffered: overtaken each time
    drain = run["drain_bug"]
    assert drain["with the fix"]["dropped by the client"] == 0, drain
    assert drain["with the fix"]["arrived"] == drain["with the fix"]["handled"] > 0
    # slow consumer: the client keeps about pending_msgs_limit messages and drops the rest, one error each
    slow = run["slow_consumer"]
    assert slow["published"] == slow["delivered to the client"] == burst
    assert slow["handled"] + slow["dropped (SlowConsumerError)"] == burst
    assert slow_limit <= slow["handled"] <= slow_limit + 2, slow  # +1 or 2 if the handler ran mid-burst
    assert slow["queued after the burst"] <= slow_limit
    ids = run["slow_consumer_handled_ids"]
    assert ids[:slow_limit] == list(range(slow_limit)) and ids == sorted(ids)
    # close() throws the queued messages away; drain() handles all of them
    stopping = run["drain_vs_close"]
    assert stopping["drain()"] == {"received": jobs, "handled": jobs}
    assert stopping["close()"]["received"] == jobs
    assert stopping["close()"]["handled"] <= 1, stopping  # 0 unless the machine stalled > 20 ms before close


# Answers for the checkers: wrong ones must be judged "wrong" with the phrase in the message, right ones "correct".
async def no_flush(nc, user):
    await nc.publish("user.created", json.dumps(user).encode(), headers={"Content-Type": "application/json"})


async def yields_instead_of_flushing(nc, user):  # the buffer leaves, but nobody waits for the server
    await nc.publish("user.created", json.dumps(user).encode(), headers={"Content-Type": "application/json"})
    await asyncio.sleep(0)


async def no_header(nc, user):
    await nc.publish("user.created", json.dumps(user).encode())
    await nc.flush()


async def not_json(nc, user):
    await nc.publish("user.created", str(user).encode(), headers={"Content-Type": "application/json"})
    await nc.flush()


async def other_user(nc, user):
    await nc.publish(
        "user.created", json.dumps({**user, "id": 7}).encode(), headers={"Content-Type": "application/json"}
    )
    await nc.flush()


async def announce_keeps_the_last_line(nc, user):  # the template's `return ...` stays: judged on what it did
    await nc.publish("user.created", json.dumps(user).encode(), headers={"Content-Type": "application/json"})
    await nc.flush()
    return ...


async def closes(worker):
    await worker.close()


async def only_unsubscribes(worker):
    for sub in list(worker._subs.values()):
        await sub.unsubscribe()


async def drains(worker):
    await worker.drain()


async def drains_keeps_the_last_line(worker):
    await worker.drain()
    return ...


RIGHT_DELIVERY = {
    "payment.captured": "stream",
    "metrics.cpu": "core",
    "cache.invalidate": "core",
    "user.created": "stream",
}


CASE = Case(
    check=check,
    exercises=("announce", "stop_worker", "delivery"),
    solutions=dict(
        n_users=3,
        n_down=2,
        n_ordered=300,
        slow_limit=5,
        burst=60,
        jobs=12,
        flush_trials=5,
        flush_msgs=100,
        flush_size=8192,
    ),
    budget=10,
    wrong_answers=(
        (check_announce, no_flush, "had not processed your message"),
        (check_announce, yields_instead_of_flushing, "had not processed your message"),
        (check_announce, no_header, "Content-Type"),
        (check_announce, not_json, "not JSON"),
        (check_announce, other_user, str(SAMPLE_USER)),
        (check_stop_worker, closes, "close() throws away"),
        (check_stop_worker, only_unsubscribes, "still open"),
        (check_delivery, {**RIGHT_DELIVERY, "payment.captured": "core"}, "lost 3 of 7 events"),
        (check_delivery, {**RIGHT_DELIVERY, "user.created": "core"}, "It needs a stream"),
        (check_delivery, {**RIGHT_DELIVERY, "cache.invalidate": "stream"}, "empty cache"),
        (check_delivery, {**RIGHT_DELIVERY, "metrics.cpu": "stream"}, "replay them for nothing"),
        (check_delivery, {"payment.captured": "stream"}, "missing"),
        (check_delivery, {**RIGHT_DELIVERY, "user.created": "jetstream"}, "neither 'core' nor 'stream'"),
    ),
    right_answers=(
        (check_announce, announce_keeps_the_last_line),
        (check_stop_worker, drains),
        (check_stop_worker, drains_keeps_the_last_line),
        (check_delivery, RIGHT_DELIVERY),
    ),
)


async def test_listener_service_prints_one_line_per_message(nats_server):
    """The service script on its own: READY, then exactly the messages published while it runs."""
    from helpers.services import Service

    nc = await nats.connect(nats_server.url, name="publish-subscribe.test")
    try:
        with Service("services/user_listener.py", nats_server.url, "user.created") as listener:
            for i in range(3):
                await nc.publish("user.created", json.dumps({"id": i}).encode())
            await nc.flush()
            lines = listener.wait_for_lines(3, timeout=5)
        assert [json.loads(line)["id"] for line in lines] == [0, 1, 2]
        assert listener.process.returncode == 0  # asked to stop: drained and exited cleanly
    finally:
        await nc.close()
