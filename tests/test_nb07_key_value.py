"""Notebook 07 · Key-value store: executed untouched, then with the solutions, on one server."""

import nats

from helpers.exercises.key_value import EXPECTED_ON, concurrent_counter, flags_that_are_on


def test_key_value(run_notebook):
    untouched = run_notebook("07-key-value", "untouched")
    assert untouched["exercise.07.concurrent-counter"] == "not attempted"
    assert untouched["exercise.07.flags-on"] == "not attempted"

    run = run_notebook("07-key-value", "solutions", solutions=True)  # a second run on the same server
    for r in (untouched, run):  # the lesson is deterministic: both runs see the same bucket story
        assert r["put_revisions"] == [1, 2, 3, 4]  # revisions are stream sequences, bucket-wide
        assert r["get_checkout"] == ["on", 4]
        assert r["history_length"] == 5  # 7 values written, history=5 kept
        assert r["history_after_delete"] == ["PUT", "DEL"]  # delete keeps the old value
        assert r["history_after_purge"] == ["PURGE"]  # purge rolls the key up
        assert r["watch_initial"] == ["config.max_connections", "flags.checkout", "flags.search"]
        assert r["watch_live"] == [["flags.dark-mode", "PUT"], ["config.max_connections", "PUT"],
                                   ["flags.dark-mode", "DEL"]]
        assert r["conflict_error"] == "KeyWrongLastSequenceError"
        assert r["conflict_is_rejected"] is True
        assert r["concurrent_outcomes"] == ["conflict", "won"]
        assert r["concurrent_final_value"] == 320  # 250 + 50 + 20: the loser retried, nothing lost
        assert r["ttl_seconds"] == 1.0
        assert r["ttl_expired"] is True
        assert 1.0 <= r["ttl_expired_after"] < 4.0, r["ttl_expired_after"]  # never early, a little late
        assert r["ttl_watch_events_on_expiry"] == 0  # plain TTL expiry is silent
        keys = r["keys_filters"]
        assert sorted(keys["keys()"]) == ["config.flags-version", "config.max_connections",
                                          "flags.search", "legacy.flags.banner"]
        assert sorted(keys["keys(filters=['flags'])"]) == ["config.flags-version", "flags.search",
                                                           "legacy.flags.banner"]
        assert sorted(keys["keys(filters=['flags.'])"]) == ["flags.search", "legacy.flags.banner"]
        assert keys["keys(filters=['flags.*'])"] == [] and keys["keys(filters=['flags.>'])"] == []
        assert r["watch_flags_keys"] == ["flags.search"]  # the server-side filter
        assert r.cell_seconds < 10, f"07 took {r.cell_seconds:.1f} s after kernel start; open {r.path}"
    assert run["exercise.07.concurrent-counter"] == "correct"
    assert run["exercise.07.flags-on"] == "correct"


async def test_counter_checker_rejects_lost_updates_and_missing_retries(nats_server):
    nc = await nats.connect(nats_server.url)
    js = nc.jetstream()

    async def with_put(kv, key):  # read-modify-put: the classic lost update
        entry = await kv.get(key)
        return await kv.put(key, str(int(entry.value) + 1).encode())

    async def no_retry(kv, key):
        entry = await kv.get(key)
        return await kv.update(key, str(int(entry.value) + 1).encode(), last=entry.revision)

    async def untouched(kv, key):
        return ...

    try:
        lost = await concurrent_counter(with_put, js, show=False)
        assert lost.status == "wrong" and "updates were lost" in lost.message, lost.message
        raced = await concurrent_counter(no_retry, js, show=False)
        assert raced.status == "wrong" and "KeyWrongLastSequenceError" in raced.message, raced.message
        assert (await concurrent_counter(untouched, js, show=False)).status == "not attempted"
    finally:
        await nc.close()


async def test_flags_checker_rejects_substring_matches_and_deleted_flags(nats_server):
    nc = await nats.connect(nats_server.url)
    js = nc.jetstream()

    async def substring(kv):  # the keys(filters=...) trap
        keys = await kv.keys(filters=["flags"])
        return sorted([k for k in keys if (await kv.get(k)).value == b"on"])

    async def with_deleted(kv):
        return sorted(EXPECTED_ON + ["flags.dark-mode"])

    async def with_off(kv):
        return sorted(EXPECTED_ON + ["flags.checkout"])

    try:
        verdict = await flags_that_are_on(substring, js, show=False)
        assert verdict.status == "wrong" and "legacy.flags.banner" in verdict.message, verdict.message
        assert "substring" in verdict.message
        verdict = await flags_that_are_on(with_deleted, js, show=False)
        assert verdict.status == "wrong" and "was deleted" in verdict.message, verdict.message
        verdict = await flags_that_are_on(with_off, js, show=False)
        assert verdict.status == "wrong" and "b'off'" in verdict.message, verdict.message
        verdict = await flags_that_are_on(lambda kv: ["flags.search"], js, show=False)
        assert verdict.status == "wrong" and "missing" in verdict.message, verdict.message
    finally:
        await nc.close()
