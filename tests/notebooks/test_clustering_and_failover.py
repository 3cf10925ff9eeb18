"""Clustering and failover: its test entry (tests/test_notebooks.py runs it), and a failed run
that must leave no cluster process behind."""

import asyncio
import time

import nats
import nats.errors
import pytest
from nats.js.errors import NoStreamResponseError

from helpers.cluster import NAMES, cluster_processes
from helpers.exercises.clustering_and_failover import (
    check_keep_asking,
    check_payments_plan,
    check_publish_with_retry,
)
from tests.harness import Case, execute, stem_of

STEM = stem_of("clustering-and-failover")


def no_cluster_left(within: float = 5.0) -> list[str]:
    """The cluster processes of this checkout still running, once they have had `within` s to exit."""
    deadline = time.monotonic() + within
    while cluster_processes() and time.monotonic() < deadline:
        time.sleep(0.05)
    return cluster_processes()


def check(run):
    p = run.params
    assert run["cluster.routed_peers"] == {name: sorted(set(NAMES) - {name}) for name in NAMES}
    assert len(run["cluster.connect_urls"]) == 3

    failover = run["client.failover"]
    assert failover["crashed"] in NAMES and failover["now on"] in set(NAMES) - {failover["crashed"]}
    assert 0 < run["client.gap_seconds"] < 1.0
    assert 0 <= failover["noticed after (ms)"] < 500  # a killed process's sockets close at once
    assert failover["ticks after the reconnect"] >= p["ticks_before_kill"]  # the subscription carried over
    assert run["client.in_gap"] == {"client": "buffered", "unbuffered": "OutboundBufferLimitError"}
    assert run["client.watcher_received"] == ["client: published during the gap"]
    assert run["client.lost_before_noticed"] is True  # written to the dead socket before the client knew

    assert run["cluster.acked"] == run["cluster.stored"] == run["cluster.read"] == p["orders"]
    assert run["cluster.messages_lost"] == 0
    assert run["cluster.duplicates"] == 0
    before, after = run["cluster.leader_before"], run["cluster.leader_after"]
    assert before in NAMES and after in NAMES and after != before
    assert 0 < run["cluster.leader_change_seconds"] < p["election_timeout"]
    assert run["cluster.failure_kinds"] and set(run["cluster.failure_kinds"]) <= {
        "NoStreamResponseError",
        "TimeoutError",
    }
    assert run["cluster.sync_interval_seconds"] == [120.0]  # nats-server's default: an ack is not an fsync
    assert run["cluster.rejoined"] == {"node": before, "messages": p["orders"], "last_seq": p["orders"]}
    assert run["cluster.copies_equal"] is True
    assert run["cluster.processes_left"] == []
    assert no_cluster_left() == [], "the notebook left cluster processes running"


@pytest.mark.notebook
def test_a_failed_run_leaves_no_cluster_behind(nats_server):
    """replicas=5 is impossible on three nodes: the run stops mid-notebook, with the cluster up. The kernel's
    exit must stop it (stop_at_exit)."""
    with pytest.raises(pytest.fail.Exception, match="no suitable peers for placement"):
        execute(STEM, "impossible", nats_url=nats_server.url, monitor_url=nats_server.monitor_url, replicas=5)
    assert no_cluster_left() == [], "a failed run left cluster processes running"


# Wrong answers for the checkers: each must be judged "wrong" with the phrase in its message.
async def quiet(error):
    pass


async def ask_once_each(servers, subject, count):
    nc = await nats.connect(servers=servers, error_cb=quiet)
    try:
        return [(await nc.request(subject, str(i).encode(), timeout=0.5)).data for i in range(count)]
    finally:
        await nc.close()


async def retries_without_error_cb(servers, subject, count):
    nc = await nats.connect(servers=servers)
    replies = []
    for i in range(count):
        while True:
            try:
                replies.append((await nc.request(subject, str(i).encode(), timeout=0.5)).data)
                break
            except nats.errors.TimeoutError:
                pass
    await nc.close()
    return replies


async def gives_up_on_the_lost_one(servers, subject, count):
    nc = await nats.connect(servers=servers, error_cb=quiet)
    replies = []
    for i in range(count):
        try:
            replies.append((await nc.request(subject, str(i).encode(), timeout=0.5)).data)
        except nats.errors.TimeoutError:
            break  # stops at the first loss
    await nc.close()
    return replies


async def one_url_and_a_deadline(servers, subject, count):  # right too: discovery finds the others
    replies, lost = [], asyncio.Event()

    async def on_error(error):
        lost.set()

    nc = await nats.connect(servers[0], error_cb=on_error, reconnect_time_wait=0.1)
    for i in range(count):
        deadline = time.monotonic() + 10
        while True:
            try:
                replies.append((await nc.request(subject, b"%d" % i, timeout=0.3)).data)
                break
            except (nats.errors.TimeoutError, nats.errors.NoRespondersError):
                if time.monotonic() > deadline:
                    raise
    await nc.drain()
    return replies


async def no_retry(js, subject, data, msg_id, give_up):
    return await js.publish(subject, data, headers={"Nats-Msg-Id": msg_id})


async def retry_without_msg_id(js, subject, data, msg_id, give_up):
    deadline = time.monotonic() + give_up
    while True:
        try:
            return await js.publish(subject, data, timeout=0.5)
        except (NoStreamResponseError, nats.errors.TimeoutError):
            if time.monotonic() > deadline:
                raise
            await asyncio.sleep(0.05)


async def retry_only_no_responders(js, subject, data, msg_id, give_up):
    deadline = time.monotonic() + give_up
    while True:
        try:
            return await js.publish(subject, data, headers={"Nats-Msg-Id": msg_id}, timeout=0.5)
        except NoStreamResponseError:
            if time.monotonic() > deadline:
                raise
            await asyncio.sleep(0.05)


async def retry_forever(js, subject, data, msg_id, give_up):
    while True:
        try:
            return await js.publish(subject, data, headers={"Nats-Msg-Id": msg_id}, timeout=0.5)
        except (NoStreamResponseError, nats.errors.TimeoutError):
            await asyncio.sleep(0.05)


async def backoff_doubling(js, subject, data, msg_id, give_up):  # right too: another bounded back-off
    deadline, wait = time.monotonic() + give_up, 0.01
    while True:
        try:
            return await js.publish(subject, data, headers={"Nats-Msg-Id": msg_id}, timeout=0.5)
        except (NoStreamResponseError, nats.errors.TimeoutError):
            if time.monotonic() + wait > deadline:
                raise
            await asyncio.sleep(wait)
            wait = min(2 * wait, 0.2)


GOOD = {
    "ping_interval": 0.25,
    "max_outstanding_pings": 2,
    "pending_size": 8 * 1024 * 1024,
    "max_reconnect_attempts": -1,
}


def plan(replicas=3, **options):
    return {"replicas": replicas, "connect_options": GOOD | options}


CASE = Case(
    check=check,
    exercises=("keep_asking", "payments_plan", "publish_with_retry"),
    solutions=dict(orders=150, kill_after=40, ticks_before_kill=15),
    # the crashed stream leader costs a randomised Raft election timeout, and the checkers kill a node and
    # restart it, force a leader change and freeze a node: 14 s here idle, 26.1 s with solutions on a busy
    # 2-core machine shared by several test runs
    budget=35,
    wrong_answers=(
        (check_keep_asking, ask_once_each, "A request that fails must be sent again"),
        (check_keep_asking, gives_up_on_the_lost_one, "the cluster never received requests 11-29"),
        (check_keep_asking, retries_without_error_cb, "your connection has no error_cb"),
        (check_publish_with_retry, no_retry, "NoStreamResponseError reached the caller"),
        (check_publish_with_retry, retry_only_no_responders, "TimeoutError reached the caller"),
        (check_publish_with_retry, retry_without_msg_id, "stored a second copy"),
        (check_publish_with_retry, retry_forever, "still retrying"),
        (check_payments_plan, plan(replicas=2), "2 copies need 2 for a majority"),
        (check_payments_plan, plan(replicas=1), "one copy means no payments"),
        (check_payments_plan, plan(replicas=5), "three nodes hold at most three copies"),
        (check_payments_plan, {"replicas": 3, "connect_options": {}}, "had not noticed"),
        (check_payments_plan, plan(ping_interval=0.5), "ping_interval"),
        (check_payments_plan, plan(pending_size=2 * 1024 * 1024), "make room for the burst"),
        (check_payments_plan, plan(max_reconnect_attempts=10), "-1 never gives up"),
        (check_payments_plan, plan(allow_reconnect=False), "closes the connection for good"),
        (check_payments_plan, plan(servers=["nats://127.0.0.1:4222"]), "leave ['servers'] out"),
        (check_payments_plan, {"replicas": 3}, "exactly two keys"),
    ),
    right_answers=(
        (check_keep_asking, one_url_and_a_deadline),
        (check_publish_with_retry, backoff_doubling),
        (check_payments_plan, plan(ping_interval=0.3, max_outstanding_pings=1, pending_size=5_000_000)),
        (check_payments_plan, plan(max_reconnect_attempts=0)),  # nats-py 2.16: 0 never gives up either
    ),
    slow_checkers=True,
)
