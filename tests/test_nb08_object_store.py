"""Notebook 08 · Object store: executed untouched, then with the solutions, on one server."""

import math

import nats
import pytest

from helpers.exercises.object_store import NEEDS, choose_store, upload_with_chunks

KIB = 1024


def test_object_store(run_notebook):
    untouched = run_notebook("08-object-store", "untouched")
    assert untouched["exercise.08.upload-with-chunks"] == "not attempted"
    assert untouched["exercise.08.choose-store"] == "not attempted"

    run = run_notebook("08-object-store", "solutions", solutions=True)  # a second run on the same server
    for r in (untouched, run):
        size = r["file_size"]
        assert size == (3 * 1024 + 100) * KIB and size > r["max_payload"] == 1024 * KIB
        assert r["publish_error"] == "MaxPayloadError"  # one message cannot carry it
        assert r["object_size"] == r["get_size"] == size
        assert r["chunk_size"] == 128 * KIB
        assert r["object_chunks"] == math.ceil(size / (128 * KIB)) == 25
        assert r["stream_messages"] == 25 + 1  # the chunks plus one metadata record
        assert r["digest_equal"] is True and r["bytes_equal"] is True
        assert r["chunks_by_kib"] == {"64": 1, "128": 1, "129": 2, "512": 4, "1024": 8, "2048": 16, "3172": 25}
        assert r["updated_meta"] == {"description": "churn model, retrained",
                                     "headers": {"Model-Version": "3", "Approved": "yes"}}
        assert r["meta_update_kept_digest"] is True
        assert r["list_all"] == ["models/churn-v3.bin", "reports/2026-10.csv", "reports/2026-11.csv"]
        assert r["list_deleted"] == ["reports/2026-10.csv"]  # list() shows deleted objects by default
        assert r["list_ignore_deletes"] == ["models/churn-v3.bin", "reports/2026-11.csv"]
        assert r["watch_changes"] == [["models/churn-v3.bin", False], ["reports/2026-11.csv", True]]
        assert r["new_version_chunks"] == math.ceil(size // 2 / (128 * KIB)) == 13
        assert r["stream_messages_after_changes"] == 13 + 1 + 1 + 1  # old chunks purged; two delete records
        assert r.cell_seconds < 10, f"08 took {r.cell_seconds:.1f} s after kernel start; open {r.path}"
    assert run["exercise.08.upload-with-chunks"] == "correct"
    assert run["exercise.08.choose-store"] == "correct"


async def test_upload_checker_rejects_default_chunks_and_missing_description(nats_server):
    nc = await nats.connect(nats_server.url)
    js = nc.jetstream()

    async def default_chunks(obs, name, data):
        return await obs.put(name, data, meta=nats.js.api.ObjectMeta(description="exercise upload"))

    async def no_description(obs, name, data):
        options = nats.js.api.ObjectMetaOptions(max_chunk_size=256 * KIB)
        return await obs.put(name, data, meta=nats.js.api.ObjectMeta(options=options))

    async def returns_nothing(obs, name, data):
        await default_chunks(obs, name, data)

    try:
        verdict = await upload_with_chunks(default_chunks, js, show=False)
        assert verdict.status == "wrong" and "9 chunks of 131072 bytes" in verdict.message, verdict.message
        verdict = await upload_with_chunks(no_description, js, show=False)
        assert verdict.status == "wrong" and "description" in verdict.message, verdict.message
        verdict = await upload_with_chunks(returns_nothing, js, show=False)
        assert verdict.status == "wrong" and "return the ObjectInfo" in verdict.message, verdict.message
    finally:
        await nc.close()


@pytest.mark.parametrize("swap", ["a 40 MB trained model that workers download at start-up",
                                  "every order event, replayed by a new billing service"])
async def test_choose_store_checker_rejects_a_wrong_choice(swap):
    right = {need: store for need, (store, _) in NEEDS.items()}
    wrong = right | {swap: "kv"}
    verdict = await choose_store(wrong, show=False)
    assert verdict.status == "wrong" and "1 of 6" in verdict.message and swap in verdict.message
    assert (await choose_store(right, show=False)).ok
    assert (await choose_store(dict.fromkeys(NEEDS, ...), show=False)).status == "not attempted"
    verdict = await choose_store(right | {swap: "database"}, show=False)
    assert verdict.status == "wrong" and "'kv', 'object', 'stream'" in verdict.message
