"""Checkers for the Object store notebook.

`check_store_and_read` and `check_upload` make their own object store (`object-store-check-...`), run the
learner's function against it, ask the server what it holds (size, chunks, digest), and delete the store.
"""

import base64
import hashlib
import math
import random

import nats.errors
from nats.js.errors import NotFoundError, ObjectNotFoundError

from helpers.exercises.framework import NotAttempted, Wrong, attempt, delete_if_exists, exercise, jetstream

UPLOAD_BUCKET = "object-store-check-upload"
ROUND_TRIP_BUCKET = "object-store-check-round-trip"
ROUND_TRIP_SIZE = 300 * 1024 + 4321  # three chunks of the default 128 KiB
CHUNK = 256 * 1024
DESCRIPTION = "exercise upload"


def _digest(data: bytes) -> str:
    return "SHA-256=" + base64.urlsafe_b64encode(hashlib.sha256(data).digest()).decode()


@exercise(
    hints=(
        "two awaited calls on obs: one stores the bytes under the name, the other reads the object back; "
        "return what the second gave you, as bytes.",
        "await obs.put(name, data), then result = await obs.get(name) and return result.data.",
    ),
    timeout=15.0,
)
async def check_store_and_read(answer, server):
    async with jetstream(server, "object-store.checker") as js:
        return await _store_and_read(answer, js)


async def _store_and_read(answer, js):
    await delete_if_exists(js.delete_object_store, ROUND_TRIP_BUCKET)
    obs = await js.create_object_store(ROUND_TRIP_BUCKET)
    try:
        data = random.Random(ROUND_TRIP_SIZE).randbytes(ROUND_TRIP_SIZE)
        name = "models/churn-v5.bin"
        returned = await attempt(answer, obs, name, data, timeout=10.0)
        try:
            info = await obs.get_info(name)
        except ObjectNotFoundError:
            try:
                held = sorted(o.name for o in await obs.list(ignore_deletes=True))
            except NotFoundError:
                held = []
            raise Wrong(
                f"the store holds no object named {name!r} (it holds {held}): put the data under that name."
            ) from None
        if info.size != len(data) or info.digest != _digest(data):
            raise Wrong(
                f"the server holds {info.size:,} bytes under {name!r} with digest {info.digest[:24]}…; the data you "
                f"were given is {len(data):,} bytes with digest {_digest(data)[:24]}…: put it unchanged."
            )
        if returned is data:
            raise Wrong(
                "the server holds the object, but you returned the bytes you were given: read the object back "
                "from the store with get() and return what it gives you."
            )
        if hasattr(returned, "data") and hasattr(returned, "info"):
            raise Wrong("you returned the ObjectResult that get() gives: return its .data, the bytes.")
        if not isinstance(returned, bytes | bytearray):
            raise Wrong(f"return the bytes you read back (result.data), not {type(returned).__name__}.")
        if bytes(returned) != data:
            raise Wrong(
                f"you returned {len(returned):,} bytes; the server holds {info.size:,} under {name!r}: "
                "return result.data from obs.get(name)."
            )
        return (
            f"The server holds {info.size:,} bytes under {name!r} in {info.chunks} chunks, digest "
            f"{info.digest[:24]}… (the SHA-256 of your data), and get() gave back every byte."
        )
    finally:
        await delete_if_exists(js.delete_object_store, ROUND_TRIP_BUCKET)


@exercise(
    hints=(
        "the chunk size and the description both go in the ObjectMeta you pass to put.",
        "obs.put(name, data, meta=ObjectMeta(description=..., "
        "options=ObjectMetaOptions(max_chunk_size=256 * 1024))), and return what put returns.",
    ),
    timeout=15.0,
)
async def check_upload(answer, server, *, size: int = 1024 * 1024 + 4321):
    async with jetstream(server, "object-store.checker") as js:
        return await _upload(answer, js, size)


async def _upload(answer, js, size: int = 1024 * 1024 + 4321):
    await delete_if_exists(js.delete_object_store, UPLOAD_BUCKET)
    obs = await js.create_object_store(UPLOAD_BUCKET)
    try:
        data = random.Random(size).randbytes(size)
        name = "exercise/blob.bin"
        info = await attempt(answer, obs, name, data, timeout=10.0)
        if not hasattr(info, "chunks") or not hasattr(info, "digest"):
            raise Wrong(f"return the ObjectInfo that obs.put() returns, not {type(info).__name__}.")
        try:
            stored = await obs.get(name)
        except NotFoundError:
            raise Wrong(f"nothing is stored under {name!r}: use the name you were given.") from None
        if stored.data != data:
            raise Wrong(
                f"the stored object has {len(stored.data):,} bytes, not the {size:,} bytes you were given: "
                "put the data unchanged."
            )
        expected = math.ceil(size / CHUNK)
        if stored.info.chunks != expected:
            used = stored.info.options.max_chunk_size if stored.info.options else None
            raise Wrong(
                f"{stored.info.chunks} chunks of {used} bytes; with 256 KiB chunks {size:,} bytes make "
                f"{expected}. Pass ObjectMeta(options=ObjectMetaOptions(max_chunk_size=256 * 1024))."
            )
        if stored.info.description != DESCRIPTION:
            raise Wrong(
                f"the description is {stored.info.description!r}, not {DESCRIPTION!r}: set ObjectMeta(description=...)."
            )
        digest = _digest(data)
        if info.digest != digest:
            raise Wrong("the ObjectInfo you returned does not describe this upload: return the result of put().")
        return (
            f"{size:,} bytes in {expected} chunks of 256 KiB (the default 128 KiB would make "
            f"{math.ceil(size / (128 * 1024))}); digest {digest[:20]}… matches after the round trip."
        )
    finally:
        await js.delete_object_store(UPLOAD_BUCKET)


NEEDS = {  # need: (right store, why, the property the server is asked about)
    "feature flags that every service reads and watches": (
        "kv",
        "small values by key; watchers hear every change",
        "latest",
    ),
    "a 40 MB trained model that workers download at start-up": (
        "object",
        "far above max_payload: it needs chunks and a digest",
        "big",
    ),
    "every order event, replayed by a new billing service": (
        "stream",
        "every event, in order, replayable by a consumer",
        "every",
    ),
    "the last heartbeat time of each worker, gone if it stops": (
        "kv",
        "latest small value per worker, expired by a bucket TTL",
        "latest",
    ),
    "the nightly 500 MB database dump, kept for a week": (
        "object",
        "a large blob by name; a ttl on the object store removes old dumps",
        "big",
    ),
    "an audit trail of every login, kept 90 days, in order": (
        "stream",
        "every message kept in order, with max_age for the 90 days",
        "every",
    ),
}
CHOICES = {"kv", "object", "stream"}
CHOICE_BUCKET, CHOICE_STREAM, CHOICE_SUBJECT = "object-store-check-choice", "OBJECT_STORE_CHECK_CHOICE", "choice.probe"
BIG = 2 * 1024 * 1024  # a stand-in for the 40 MB model and the 500 MB dump: already twice max_payload


async def _probe(js, store: str, prop: str) -> str:
    """Ask the server what `store` ("kv", "object", "stream") does with one need's property, in one sentence:
    "big" (a 2 MiB blob), "every" (three events under one name), "latest" (two values of one key)."""
    values = {"big": [bytes(BIG)], "every": [b"event 1", b"event 2", b"event 3"], "latest": [b"off", b"on"]}[prop]
    if store == "kv":
        await delete_if_exists(js.delete_key_value, CHOICE_BUCKET)
        kv = await js.create_key_value(bucket=CHOICE_BUCKET)
        try:
            for value in values:
                await kv.put("probe", value)
        except nats.errors.MaxPayloadError:
            return f"a KV bucket refused a {BIG // 1024 // 1024} MiB value: MaxPayloadError, above max_payload"
        kept = len(await kv.history("probe"))
        if prop == "every":
            return f"a KV bucket kept {kept} of the {len(values)} events written to one key"
        return f"a KV bucket gave back the latest value by key ({(await kv.get('probe')).value!r}), {kept} kept"
    if store == "object":
        await delete_if_exists(js.delete_object_store, CHOICE_BUCKET)
        obs = await js.create_object_store(CHOICE_BUCKET)
        for value in values:
            info = await obs.put("probe", value)
        if prop == "big":
            return f"the object store took {BIG // 1024 // 1024} MiB in {info.chunks} chunks"
        messages = (await obs.status()).stream_info.state.messages
        if prop == "every":
            kept = len(await obs.list())
            return f"the object store kept {kept} of the {len(values)} events put under one name (a put replaces it)"
        return f"the object store kept a {len(values[-1])}-byte value as {messages} messages (chunk and metadata)"
    await delete_if_exists(js.delete_stream, CHOICE_STREAM)
    await js.add_stream(name=CHOICE_STREAM, subjects=[f"{CHOICE_SUBJECT}.>"])
    try:
        for value in values:
            await js.publish(f"{CHOICE_SUBJECT}.probe", value)
    except nats.errors.MaxPayloadError:
        return f"a stream refused a {BIG // 1024 // 1024} MiB message: MaxPayloadError, above max_payload"
    kept = (await js.stream_info(CHOICE_STREAM)).state.messages
    if prop == "every":
        return f"a stream kept all {kept} events, in order"
    return f"a stream kept both values of one key ({kept} messages: every change stays until a limit removes it)"


async def _clean_choice(js) -> None:
    await delete_if_exists(js.delete_key_value, CHOICE_BUCKET)
    await delete_if_exists(js.delete_object_store, CHOICE_BUCKET)
    await delete_if_exists(js.delete_stream, CHOICE_STREAM)


@exercise(
    hints=(
        "ask of each need: does every message matter, in order? is only the latest small value per name "
        "wanted? is it one big blob?",
        "Every message in order → stream; latest small value per key → kv; "
        "too big for one message, or a file → object.",
    ),
    timeout=20.0,
)
async def check_storage_choice(answer, server):
    if not isinstance(answer, dict):
        raise Wrong("answer with the dict from the cell, each ... replaced by 'kv', 'object' or 'stream'.")
    if any(v is ... for v in answer.values()):
        if all(v is ... for v in answer.values()):
            raise NotAttempted
        missing = [k for k, v in answer.items() if v is ...]
        raise Wrong(f"still open: {missing}.")
    if set(answer) != set(NEEDS):
        raise Wrong("keep the six needs exactly as written in the cell, and answer each one.")
    invalid = {k: v for k, v in answer.items() if str(v).lower() not in CHOICES}
    if invalid:
        raise Wrong(f"answer with one of {sorted(CHOICES)}; got {invalid}.")
    async with jetstream(server, "object-store.checker") as js:
        try:  # each need's property, tried on the server with the store the answer chose
            seen = {need: await _probe(js, str(choice).lower(), NEEDS[need][2]) for need, choice in answer.items()}
        finally:
            await _clean_choice(js)
    wrong = [k for k, v in answer.items() if str(v).lower() != NEEDS[k][0]]
    if wrong:
        first = wrong[0]
        raise Wrong(
            f"{len(wrong)} of 6 to rethink, e.g. {first!r}: you said {answer[first]!r}, and on the server "
            f"{seen[first]}. Ask: does every message matter in order (stream), only the latest small value per "
            "key (kv), or is it one big blob (object)?"
        )
    return "All six right, as the server showed: " + "; ".join(
        f"{k.split(',')[0]} → {v} ({seen[k]})" for k, v in answer.items()
    )
