"""The Object store notebook: its test entry (tests/test_notebooks.py runs it)."""

import math

import nats

from helpers.exercises.object_store import NEEDS, check_storage_choice, check_store_and_read, check_upload
from tests.harness import Case

KIB = 1024


def check(r):
    size = r["file_size"]
    assert size == (3 * 1024 + 100) * KIB and size > r["max_payload"] == 1024 * KIB
    assert r["publish_error"] == "MaxPayloadError"  # one message cannot carry it
    assert r["object_size"] == r["get_size"] == size
    assert r["chunk_size"] == 128 * KIB
    assert r["object_chunks"] == math.ceil(size / (128 * KIB)) == 25
    assert r["stream_messages"] == 25 + 1  # the chunks plus one metadata record
    assert r["digest_equal"] is True and r["bytes_equal"] is True
    assert r["chunks_by_kib"] == {"64": 1, "128": 1, "129": 2, "512": 4, "1024": 8, "2048": 16, "3172": 25}
    assert r["updated_meta"] == {
        "description": "churn model, retrained",
        "headers": {"Model-Version": "3", "Approved": "yes"},
    }
    assert r["meta_update_kept_digest"] is True
    assert r["list_all"] == ["models/churn-v3.bin", "reports/2026-10-orders.csv", "reports/2026-11-orders.csv"]
    assert r["list_deleted"] == ["reports/2026-10-orders.csv"]  # list() shows deleted objects by default
    assert r["list_ignore_deletes"] == ["models/churn-v3.bin", "reports/2026-11-orders.csv"]
    assert r["watch_changes"] == [["models/churn-v3.bin", False], ["reports/2026-11-orders.csv", True]]
    assert r["new_version_chunks"] == math.ceil(size // 2 / (128 * KIB)) == 13
    assert r["stream_messages_after_changes"] == 13 + 1 + 1 + 1  # old chunks purged; two delete records


# Answers for the checkers: wrong ones must be judged "wrong" with the phrase in the message, right ones "correct".
async def default_chunks(obs, name, data):
    return await obs.put(name, data, meta=nats.js.api.ObjectMeta(description="exercise upload"))


async def no_description(obs, name, data):
    options = nats.js.api.ObjectMetaOptions(max_chunk_size=256 * KIB)
    return await obs.put(name, data, meta=nats.js.api.ObjectMeta(options=options))


async def returns_nothing(obs, name, data):
    await default_chunks(obs, name, data)


async def no_get(obs, name, data):
    await obs.put(name, data)
    return data


async def other_name(obs, name, data):
    await obs.put("model.bin", data)
    return (await obs.get("model.bin")).data


async def truncated(obs, name, data):
    await obs.put(name, data[:1000])
    return (await obs.get(name)).data


async def the_result(obs, name, data):
    await obs.put(name, data)
    return await obs.get(name)


async def with_meta(obs, name, data):  # right, and not the reference: metadata, and a buffer to read into
    await obs.put(name, data, meta=nats.js.api.ObjectMeta(description="exercise", headers={"Model-Version": "5"}))
    result = await obs.get(name)
    return bytearray(result.data)


RIGHT = {need: store for need, (store, *_) in NEEDS.items()}
SWAPS = [
    "a 40 MB trained model that workers download at start-up",
    "every order event, replayed by a new billing service",
]

CASE = Case(
    any_order=True,  # JetStream on the shared server: tests/test_jetstream_any_order.py
    check=check,
    exercises=("store_and_read", "upload", "storage_choice"),
    budget=10,
    wrong_answers=(
        (check_store_and_read, no_get, "you returned the bytes you were given"),
        (
            check_store_and_read,
            other_name,
            "the store holds no object named 'models/churn-v5.bin' (it holds ['model.bin'])",
        ),
        (check_store_and_read, truncated, "the server holds 1,000 bytes"),
        (check_store_and_read, the_result, "return its .data"),
        (check_upload, default_chunks, "9 chunks of 131072 bytes"),
        (check_upload, no_description, "description"),
        (check_upload, returns_nothing, "return the ObjectInfo"),
        *((check_storage_choice, RIGHT | {swap: "kv"}, f"1 of 6 to rethink, e.g. {swap!r}") for swap in SWAPS),
        *((check_storage_choice, RIGHT | {swap: "database"}, "'kv', 'object', 'stream'") for swap in SWAPS),
        (check_storage_choice, RIGHT | {SWAPS[0]: "kv"}, "on the server a KV bucket refused a 2 MiB value"),
        (check_storage_choice, RIGHT | {SWAPS[1]: "kv"}, "on the server a KV bucket kept 1 of the 3 events"),
    ),
    right_answers=((check_storage_choice, RIGHT), (check_store_and_read, with_meta)),
)


async def test_storage_choice_checker_knows_its_template(nats_server):
    """The cell's template is a dict of `...`: the framework cannot know it, the checker does."""
    assert (await check_storage_choice(dict.fromkeys(NEEDS, ...), nats_server, show=False)).status == "not attempted"
