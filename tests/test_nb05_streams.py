"""Notebook 05 · Streams: executed untouched, then with the solutions, on one server; checkers reject wrong answers."""

import nats
import pytest
from nats.js.api import RetentionPolicy

from helpers.exercises.streams import deduplicated_orders, hour_stream, pick_retention

EXERCISES = ("05.hour-stream", "05.deduplicated-orders", "05.pick-retention")


def test_streams(run_notebook):
    untouched = run_notebook("05-streams", "untouched")
    for key in EXERCISES:
        assert untouched[f"exercise.{key}"] == "not attempted"
    assert untouched["streams_left"] == []

    run = run_notebook("05-streams", "solutions", solutions=True)  # a second run on the same server
    # 24 hours: float seconds in nats-py, nanoseconds on the wire
    assert run["sales_max_age_seconds"] == 86400.0
    assert run["sales_max_age_wire_ns"] == 86_400_000_000_000
    # no max_age: kept; max_age=0.5 s: gone soon after (the server checks ages on a timer)
    assert run["expiry"]["forever"] == 3 and run["expiry"]["brief"] == 0
    assert 0.3 <= run["expiry"]["seconds"] < 3.0
    # each ack carries the stream sequence; a subject without a stream is an error, not silence
    assert run["sales_ack_seqs"] == [1, 2, 3, 4, 5]
    assert run["no_stream_error"] == "NoStreamResponseError"
    assert run["sales_state"]["messages"] == 5
    assert (run["sales_state"]["first_seq"], run["sales_state"]["last_seq"]) == (1, 5)
    assert run["sales_state"]["bytes"] > 5 * len('{"amount": 120}')  # stored size includes subject and overhead
    assert run["sales_subjects"] == {"sales.eu": 2, "sales.us": 2, "sales.apac": 1}
    assert run["direct_get"] == {"seq": 3, "subject": "sales.eu", "data": {"amount": 45}}
    assert run["last_us_seq"] == 5
    # before, after purging sales.us, after purging all, after one more publish: sequences carry on
    assert run["purge_messages"] == [5, 3, 0, 1]
    assert run["seq_after_purge"] == 6
    # limits and discard policies, 8 publishes alternating .a/.b
    assert run["limits_survivors"] == {
        "NB05_MAX_MSGS": ["m4", "m5", "m6", "m7", "m8"],
        "NB05_DISCARD_NEW": ["m1", "m2", "m3", "m4", "m5"],
        "NB05_MAX_BYTES": ["m6", "m7", "m8"],  # 60 stored bytes each: subject, payload, overhead
        "NB05_PER_SUBJECT": ["m5", "m6", "m7", "m8"],
    }
    assert run["limits_rejected"] == {"NB05_MAX_MSGS": 0, "NB05_DISCARD_NEW": 3, "NB05_MAX_BYTES": 0,
                                      "NB05_PER_SUBJECT": 0}
    assert "maximum messages exceeded" in run["discard_new_error"]
    # [3 published with no consumer, consumer + 3 more, all fetched and acked]
    assert run["retention_counts"] == {"NB05_LIMITS": [3, 6, 6], "NB05_INTEREST": [0, 3, 0],
                                       "NB05_WORKQUEUE": [3, 6, 0]}
    assert "not unique" in run["workqueue_second_consumer_error"]
    assert run["dedup_duplicate_flags"] == [False, True, False]
    assert run["dedup_seqs"] == [1, 1, 2]
    assert run["dedup_stored"] == 2
    # the private server's restart: file keeps everything, the memory stream is gone entirely
    assert run["restart_counts"] == {"file": [10, 10], "memory": [10, "stream not found"]}
    assert run["memory_publish_after_restart"] == "NoStreamResponseError"
    for key in EXERCISES:
        assert run[f"exercise.{key}"] == "correct"
    assert run["streams_left"] == []
    # the limit for a notebook whose lesson includes a server restart
    assert run.cell_seconds < 20, f"05 took {run.cell_seconds:.1f} s after kernel start; open {run.path}"


@pytest.fixture
async def js(nats_server):
    nc = await nats.connect(nats_server.url, name="test-05-checkers")
    yield nc.jetstream(timeout=5)
    await nc.close()


async def test_hour_stream_rejects_wrong_streams(js):
    async def nanoseconds(js):
        await js.add_stream(name="NB05_EX1", subjects=["nb05.ex1.*"], max_age=3600 * 1e9, max_msgs_per_subject=3)

    async def milliseconds(js):
        await js.add_stream(name="NB05_EX1", subjects=["nb05.ex1.*"], max_age=3600_000, max_msgs_per_subject=3)

    async def no_age(js):
        await js.add_stream(name="NB05_EX1", subjects=["nb05.ex1.*"], max_msgs_per_subject=3)

    async def whole_stream_limit(js):
        await js.add_stream(name="NB05_EX1", subjects=["nb05.ex1.*"], max_age=3600, max_msgs=3)

    async def other_name(js):
        await js.add_stream(name="NB05_READINGS", subjects=["nb05.ex1.*"], max_age=3600, max_msgs_per_subject=3)

    for answer, phrase in [(nanoseconds, "in seconds"), (milliseconds, "41.6667 days"), (no_age, "stay forever"),
                           (whole_stream_limit, "max_msgs_per_subject"), (other_name, "no stream named")]:
        verdict = await hour_stream(answer, js, show=False)
        assert verdict.status == "wrong", answer.__name__
        assert phrase in verdict.message, (answer.__name__, verdict.message)
    await js.delete_stream("NB05_READINGS")
    streams = [info.config.name for info in await js.streams_info()]
    assert "NB05_EX1" not in streams  # the checker cleans up after itself


async def test_deduplicated_orders_rejects_retries_stored_twice(js):
    async def no_msg_id(js, order_id, data):
        return await js.publish("nb05.ex2.orders", data)

    async def constant_id(js, order_id, data):
        return await js.publish("nb05.ex2.orders", data, headers={"Nats-Msg-Id": "order"})

    async def no_ack(js, order_id, data):
        await js.publish("nb05.ex2.orders", data, headers={"Nats-Msg-Id": order_id})
        return True

    for answer, phrase in [(no_msg_id, "Nats-Msg-Id"), (constant_id, "not a constant"), (no_ack, "PubAck")]:
        verdict = await deduplicated_orders(answer, js, show=False)
        assert verdict.status == "wrong", answer.__name__
        assert phrase in verdict.message, (answer.__name__, verdict.message)


async def test_pick_retention_rejects_swapped_policies():
    swapped = {"audit": RetentionPolicy.LIMITS, "thumbnails": RetentionPolicy.INTEREST,
               "notifications": RetentionPolicy.WORK_QUEUE}
    verdict = await pick_retention(swapped, show=False)
    assert verdict.status == "wrong" and "first ack" in verdict.message
    verdict = await pick_retention({"audit": "limits"}, show=False)
    assert verdict.status == "wrong" and "keys" in verdict.message
    right = await pick_retention({"audit": "limits", "thumbnails": "workqueue", "notifications": "interest"},
                                 show=False)
    assert right.status == "correct"  # plain strings are accepted too
