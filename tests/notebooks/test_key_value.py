"""The Key-value store notebook: its test entry (tests/test_notebooks.py runs it)."""

from nats.js.errors import KeyWrongLastSequenceError

from helpers.exercises.key_value import EXPECTED_ON, check_bucket_plan, check_flags_on, check_increment
from tests.harness import Case


def check(r):  # the lesson is deterministic: both runs see the same bucket story
    assert r["put_revisions"] == [1, 2, 3, 4]  # revisions are stream sequences, bucket-wide
    assert r["get_checkout"] == ["on", 4]
    assert r["history_length"] == 5  # 7 values written, history=5 kept
    assert r["history_after_delete"] == ["PUT", "DEL"]  # delete keeps the old value
    assert r["history_after_purge"] == ["PURGE"]  # purge rolls the key up
    assert r["watch_initial"] == ["config.max_connections", "flags.checkout", "flags.search"]
    assert r["watch_live"] == [
        ["flags.dark-mode", "PUT"],
        ["config.max_connections", "PUT"],
        ["flags.dark-mode", "DEL"],
    ]
    assert r["conflict_error"] == "KeyWrongLastSequenceError"
    assert r["conflict_is_rejected"] is True
    assert r["recreate_deleted_key"] == {
        "update(last=0)": "KeyWrongLastSequenceError",
        "update() without last": "KeyWrongLastSequenceError",
        "create()": "written",
    }  # create() writes over a DEL marker
    assert r["concurrent_outcomes"] == ["conflict", "won"]
    assert r["concurrent_final_value"] == 320  # 250 + 50 + 20: the loser retried, nothing lost
    assert r["ttl_seconds"] == 1.0
    assert r["ttl_expired"] is True
    assert 1.0 <= r["ttl_expired_after"] < 4.0, r["ttl_expired_after"]  # never early, a little late
    assert r["ttl_watch_events_on_expiry"] == 0  # plain TTL expiry is silent
    keys = r["keys_filters"]
    assert sorted(keys["keys()"]) == [
        "config.flags-version",
        "config.max_connections",
        "flags.search",
        "legacy.flags.banner",
    ]
    assert sorted(keys["keys(filters=['flags'])"]) == ["config.flags-version", "flags.search", "legacy.flags.banner"]
    assert sorted(keys["keys(filters=['flags.'])"]) == ["flags.search", "legacy.flags.banner"]
    assert keys["keys(filters=['flags.*'])"] == [] and keys["keys(filters=['flags.>'])"] == []
    assert r["watch_flags_keys"] == ["flags.search"]  # the server-side filter


# Answers for the checkers: wrong ones must be judged "wrong" with the phrase in the message.
async def with_put(kv, key):  # read-modify-put: the classic lost update
    entry = await kv.get(key)
    return await kv.put(key, str(int(entry.value) + 1).encode())


async def no_retry(kv, key):
    entry = await kv.get(key)
    return await kv.update(key, str(int(entry.value) + 1).encode(), last=entry.revision)


async def substring(kv):  # the keys(filters=...) trap
    keys = await kv.keys(filters=["flags"])
    return sorted([k for k in keys if (await kv.get(k)).value == b"on"])


async def with_deleted(kv):
    return sorted(EXPECTED_ON + ["flags.dark-mode"])


async def with_off(kv):
    return sorted(EXPECTED_ON + ["flags.checkout"])


async def returns_the_value(kv, key):  # right loop, but returns the counter, not the revision
    for _ in range(20):
        entry = await kv.get(key)
        try:
            await kv.update(key, str(int(entry.value) + 1).encode(), last=entry.revision)
            return int(entry.value) + 1
        except KeyWrongLastSequenceError:
            continue


async def while_loop(kv, key):  # right, and not the reference: a while loop with its own attempt counter
    attempts = 0
    while attempts < 20:
        attempts += 1
        current = await kv.get(key)
        try:
            return await kv.update(key, b"%d" % (int(current.value) + 1), last=current.revision)
        except KeyWrongLastSequenceError:
            pass
    raise RuntimeError("too many attempts")


def only_search(kv):
    return ["flags.search"]


PLAN = {"history": 3, "ttl": 2.0, "max_value_size": 1024}

CASE = Case(
    any_order=True,  # JetStream on the shared server: tests/test_jetstream_any_order.py
    check=check,
    exercises=("bucket_plan", "increment", "flags_on"),
    budget=10,
    wrong_answers=(
        (check_bucket_plan, PLAN | {"ttl": 30 * 60}, "a ttl of 1800.0 s"),
        (check_bucket_plan, PLAN | {"history": 1}, "kept 1 of the key's values"),
        (check_bucket_plan, {"history": 3, "ttl": 2.0}, "a 2 KiB session value was stored"),
        (check_bucket_plan, PLAN | {"max_value_size": 512}, "a 1 KiB value was refused"),
        (check_bucket_plan, PLAN | {"history": 100}, "could not be created"),
        (check_bucket_plan, {"size": 1024}, "keyword arguments"),
        (check_increment, with_put, "updates were lost"),
        (check_increment, with_put, "the counter ends at"),
        (check_increment, no_retry, "KeyWrongLastSequenceError"),
        (check_increment, returns_the_value, "the revisions you returned"),
        (check_flags_on, substring, "legacy.flags.banner"),
        (check_flags_on, substring, "substring"),
        (check_flags_on, with_deleted, "was deleted"),
        (check_flags_on, with_off, "b'off'"),
        (check_flags_on, only_search, "missing"),
    ),
    right_answers=((check_bucket_plan, PLAN), (check_bucket_plan, PLAN | {"ttl": 2}), (check_increment, while_loop)),
)
