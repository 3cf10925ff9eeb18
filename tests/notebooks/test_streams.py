"""Streams: its test entry (tests/test_notebooks.py runs it), and its checker's clean-up."""

import nats
from nats.js.api import DiscardPolicy, RetentionPolicy, StreamConfig

from helpers.exercises.streams import (
    EX1_STREAM,
    check_job_stream,
    check_keep_receipts,
    check_make_readings,
    check_publish_order,
)
from tests.harness import Case


def check(run):
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
        "STREAMS_MAX_MSGS": ["m4", "m5", "m6", "m7", "m8"],
        "STREAMS_DISCARD_NEW": ["m1", "m2", "m3", "m4", "m5"],
        "STREAMS_MAX_BYTES": ["m6", "m7", "m8"],  # 60 stored bytes each: subject, payload, overhead
        "STREAMS_PER_SUBJECT": ["m5", "m6", "m7", "m8"],
    }
    assert run["limits_rejected"] == {
        "STREAMS_MAX_MSGS": 0,
        "STREAMS_DISCARD_NEW": 3,
        "STREAMS_MAX_BYTES": 0,
        "STREAMS_PER_SUBJECT": 0,
    }
    assert "maximum messages exceeded" in run["discard_new_error"]
    # [3 published with no consumer, consumer + 3 more, all fetched and acked]
    assert run["retention_counts"] == {
        "STREAMS_LIMITS": [3, 6, 6],
        "STREAMS_INTEREST": [0, 3, 0],
        "STREAMS_WORKQUEUE": [3, 6, 0],
    }
    assert "not unique" in run["workqueue_second_consumer_error"]
    assert run["dedup_duplicate_flags"] == [False, True, False]
    assert run["dedup_seqs"] == [1, 1, 2]
    assert run["dedup_stored"] == 2
    # the private server's restart: file keeps everything, the memory stream is gone entirely
    assert run["restart_counts"] == {"file": [10, 10], "memory": [10, "stream not found"]}
    assert run["memory_publish_after_restart"] == "NoStreamResponseError"
    assert run["streams_left"] == []
    # what an ack promises: the server reports its fsync interval (the embedded server keeps the 2-minute default)
    assert run["durability.server_sync"]["sync_interval (s)"] > 0
    # the price of fsync, measured side by side on two private servers that differ only in sync_interval
    assert run["durability.sync_always_reported"] == {"default": False, "always": True}
    rounds, publishes = run.params["sync_rounds"], run.params["sync_publishes"]
    assert run["durability.sync_stored"] == {"default": rounds * publishes, "always": rounds * publishes}
    assert all(rate > 0 for rate in run["durability.sync_rates"].values())
    # Only the sign is machine-independent: fsync on a disk makes the ratio well below 1 (0.3-0.4 measured here),
    # on tmpfs or a disk cache that ignores flushes it is ~1 and noise may put it on either side.
    assert run["durability.sync_always_ratio"] > 0


# Answers for the checkers: wrong ones must be judged "wrong" with the phrase in the message, right ones "correct".
async def nanoseconds(js):
    await js.add_stream(
        name="STREAMS_READINGS", subjects=["streams.readings.*"], max_age=3600 * 1e9, max_msgs_per_subject=3
    )


async def milliseconds(js):
    await js.add_stream(
        name="STREAMS_READINGS", subjects=["streams.readings.*"], max_age=3600_000, max_msgs_per_subject=3
    )


async def no_age(js):
    await js.add_stream(name="STREAMS_READINGS", subjects=["streams.readings.*"], max_msgs_per_subject=3)


async def whole_stream_limit(js):
    await js.add_stream(name="STREAMS_READINGS", subjects=["streams.readings.*"], max_age=3600, max_msgs=3)


async def other_name(js):
    await js.add_stream(name="STREAMS_SENSORS", subjects=["streams.readings.*"], max_age=3600, max_msgs_per_subject=3)


async def readings_keep_the_last_line(js):  # the template's `return ...` stays: judged on what it did
    await js.add_stream(name="STREAMS_READINGS", subjects=["streams.readings.*"], max_age=3600, max_msgs_per_subject=3)
    return ...


async def no_msg_id(js, order_id, data):
    return await js.publish("streams.once.orders", data)


async def constant_id(js, order_id, data):
    return await js.publish("streams.once.orders", data, headers={"Nats-Msg-Id": "order"})


async def no_ack(js, order_id, data):
    await js.publish("streams.once.orders", data, headers={"Nats-Msg-Id": order_id})
    return True


async def receipts(js, amounts):  # a right answer unlike the reference: StreamConfig, a comprehension
    await js.add_stream(StreamConfig(name="STREAMS_RECEIPTS", subjects=["streams.receipts.*"]))
    return [(await js.publish("streams.receipts.till", str(amount).encode())).seq for amount in amounts]


async def receipts_publish_first(js, amounts):
    seqs = [(await js.publish("streams.receipts.till", str(amount).encode())).seq for amount in amounts]
    await js.add_stream(name="STREAMS_RECEIPTS", subjects=["streams.receipts.*"])
    return seqs


async def receipts_return_acks(js, amounts):
    await js.add_stream(name="STREAMS_RECEIPTS", subjects=["streams.receipts.*"])
    return [await js.publish("streams.receipts.till", str(amount).encode()) for amount in amounts]


async def receipts_counted_from_zero(js, amounts):
    await js.add_stream(name="STREAMS_RECEIPTS", subjects=["streams.receipts.*"])
    for amount in amounts:
        await js.publish("streams.receipts.till", str(amount).encode())
    return list(range(len(amounts)))


async def receipts_retried(js, amounts):  # a retry without a message ID stores the receipt twice
    await js.add_stream(name="STREAMS_RECEIPTS", subjects=["streams.receipts.*"])
    return [(await js.publish("streams.receipts.till", str(a).encode())).seq for a in amounts for _ in (1, 2)]


async def receipts_other_name(js, amounts):
    await js.add_stream(name="RECEIPTS", subjects=["streams.receipts.*"])
    seqs = [(await js.publish("streams.receipts.till", str(amount).encode())).seq for amount in amounts]
    await js.delete_stream("RECEIPTS")
    return seqs


WQ, NEW = RetentionPolicy.WORK_QUEUE, DiscardPolicy.NEW
JOB_STREAM = {"retention": WQ, "max_msgs": 20, "discard": NEW}

CASE = Case(
    any_order=True,  # JetStream on the shared server: tests/test_jetstream_any_order.py
    check=check,
    exercises=("make_readings", "publish_order", "keep_receipts", "job_stream"),
    budget=23,  # a server restart (the 20 s), plus ~2 s: two private servers and acked publishes timed on each
    wrong_answers=(
        (check_keep_receipts, receipts_publish_first, "no answer from any stream (NoStreamResponseError)"),
        (check_keep_receipts, receipts_return_acks, "you returned the acks themselves"),
        (
            check_keep_receipts,
            receipts_counted_from_zero,
            "you returned [0, 1, 2, 3], but the stream stores the receipts at sequences [1, 2, 3, 4]",
        ),
        (check_keep_receipts, receipts_retried, "the stream stores ['12', '12', '7', '7', '30', '30', '5', '5']"),
        (check_keep_receipts, receipts_other_name, "no stream named 'STREAMS_RECEIPTS'"),
        (check_make_readings, nanoseconds, "in seconds"),
        (check_make_readings, milliseconds, "41.6667 days"),
        (check_make_readings, no_age, "stay forever"),
        (check_make_readings, whole_stream_limit, "max_msgs_per_subject"),
        (check_make_readings, other_name, "no stream named"),
        (check_publish_order, no_msg_id, "Nats-Msg-Id"),
        (check_publish_order, constant_id, "not a constant"),
        (check_publish_order, no_ack, "PubAck"),
        (check_job_stream, JOB_STREAM | {"retention": RetentionPolicy.LIMITS}, "reading deletes nothing"),
        (check_job_stream, JOB_STREAM | {"retention": RetentionPolicy.INTEREST}, "stores nothing while no consumer"),
        (check_job_stream, {"retention": WQ, "max_msgs": 20}, "dropped silently (discard old)"),
        (check_job_stream, {"retention": WQ, "discard": NEW}, "at most 20 may wait"),
        (check_job_stream, JOB_STREAM | {"max_msgs": 10}, "upload 11 was refused already"),
        (check_job_stream, JOB_STREAM | {"name": "JOBS"}, "leave out name and subjects"),
        (check_job_stream, JOB_STREAM | {"retention": "sometimes"}, "refused these arguments"),
        (check_job_stream, [WQ, 20, NEW], "answer with a dict"),
    ),
    right_answers=(
        (check_keep_receipts, receipts),
        (check_make_readings, readings_keep_the_last_line),
        (check_job_stream, JOB_STREAM | {"max_age": 3600}),  # an age limit too does no harm
    ),
)


async def test_make_readings_checker_removes_its_stream(nats_server):
    for answer in (whole_stream_limit, readings_keep_the_last_line):
        await check_make_readings(answer, nats_server, show=False)
    nc = await nats.connect(nats_server.url, name="test-05-checkers")
    try:
        streams = [info.config.name for info in await nc.jetstream(timeout=5).streams_info()]
    finally:
        await nc.close()
    assert EX1_STREAM not in streams  # the checker cleans up after itself
