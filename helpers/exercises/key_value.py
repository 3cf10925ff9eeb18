"""Checkers for the Key-value store notebook.

Each checker makes its own bucket (names start with `key-value-check-`), runs the
learner's function against it on the real server, reads what the bucket holds, and deletes it again.
"""

import asyncio

from nats.js.errors import BadRequestError, KeyNotFoundError, KeyWrongLastSequenceError

from helpers.exercises.framework import Wrong, attempt, delete_if_exists, exercise, jetstream

COUNTER_BUCKET = "key-value-check-counter"
FLAGS_BUCKET = "key-value-check-flags"
WRITERS = 8


async def _fresh_bucket(js, bucket: str, **config):
    await delete_if_exists(js.delete_key_value, bucket)
    return await js.create_key_value(bucket=bucket, **config)


@exercise(
    hints=(
        "a plain put() writes over whatever another writer stored since you read; write only if the key "
        "is still at the revision you read, and try again when it is not.",
        "a bounded loop: entry = await kv.get(key); return await kv.update(key, new value, last=entry.revision); "
        "on KeyWrongLastSequenceError, go round again (a fresh get).",
    ),
    timeout=15.0,
)
async def check_increment(answer, server, *, writers: int = WRITERS):
    async with jetstream(server, "key-value.checker") as js:
        return await _increment(answer, js, writers)


async def _increment(answer, js, writers: int = WRITERS):
    kv = await _fresh_bucket(js, COUNTER_BUCKET, history=1)
    try:
        await kv.put("hits", b"0")
        results = await asyncio.gather(
            *[attempt(answer, kv, "hits", timeout=10.0) for _ in range(writers)], return_exceptions=True
        )  # all finish before the bucket goes
        errors = [r for r in results if isinstance(r, BaseException)]
        if any(isinstance(e, KeyWrongLastSequenceError) for e in errors):
            lost = sum(isinstance(e, KeyWrongLastSequenceError) for e in errors)
            stored = (await kv.get("hits")).value.decode()
            raise Wrong(
                f"{lost} of {writers} updates lost the race and raised KeyWrongLastSequenceError: the server "
                f"refused them and the counter ends at {stored}. Catch it, read the key again (fresh value and "
                "revision) and retry the update."
            )
        if any(isinstance(e, KeyNotFoundError) for e in errors):
            raise Wrong("get() raised KeyNotFoundError: read the `key` argument you were given.")
        if errors:
            raise errors[0]
        try:
            final = int((await kv.get("hits")).value)
        except ValueError:
            raise Wrong("the counter no longer holds an integer: write str(number).encode(), e.g. b'8'.") from None
        if final < writers:
            raise Wrong(
                f"{writers} increments ran at once but the counter ends at {final}: "
                f"{writers - final} updates were lost. A plain put() overwrites whatever another writer "
                "stored in between; use update(..., last=entry.revision) and retry when it is rejected."
            )
        if final > writers:
            raise Wrong(f"{writers} increments made the counter {final}: add exactly 1 per call.")
        revisions = [r for r in results if isinstance(r, int) and not isinstance(r, bool)]
        if len(revisions) != writers:
            raise Wrong(f"return the new revision (the int that update() returns), not {results[0]!r}.")
        if sorted(revisions) != list(range(2, writers + 2)):
            raise Wrong(
                f"the revisions you returned, {sorted(revisions)}, are not the ones your updates made "
                f"(expected {list(range(2, writers + 2))}): return what update() returns."
            )
        return (
            f"{writers} concurrent increments, counter = {final}: each lost race was retried with a fresh "
            "revision, so no update was lost."
        )
    finally:
        await js.delete_key_value(COUNTER_BUCKET)


FLAGS = [  # (key, value or None to delete it afterwards)
    ("flags.search", b"on"),
    ("flags.checkout", b"off"),
    ("flags.dark-mode", None),
    ("legacy.flags.banner", b"on"),
    ("config.flags-enabled", b"on"),
    ("flags.export", b"on"),
    ("flagship.mode", b"on"),
]
EXPECTED_ON = ["flags.export", "flags.search"]


@exercise(
    hints=(
        "keys(filters=...) matches substrings anywhere in a key; a flag is a key that starts with 'flags.'.",
        "kv.watch('flags.>') delivers only keys under flags. (filtered on the server), then None; "
        "keep the entries whose value is b'on'. Or use kv.keys() and key.startswith('flags.').",
    ),
)
async def check_flags_on(answer, server):
    async with jetstream(server, "key-value.checker") as js:
        return await _flags_on(answer, js)


async def _flags_on(answer, js):
    kv = await _fresh_bucket(js, FLAGS_BUCKET, history=1)
    try:
        for key, value in FLAGS:
            await kv.put(key, value if value is not None else b"on")
            if value is None:
                await kv.delete(key)
        found = await attempt(answer, kv, timeout=5.0)
        if isinstance(found, (str, bytes)) or not hasattr(found, "__iter__"):
            raise Wrong(f"return a sorted list of key names, not {type(found).__name__}.")
        found = list(found)
        if any(not isinstance(k, str) for k in found):
            raise Wrong("return the keys as str (entry.key), not entries or bytes.")
        not_flags = sorted(k for k in found if not k.startswith("flags."))
        if not_flags:
            raise Wrong(
                f"{not_flags} are not under flags.: keys(filters=['flags']) matches the substring "
                "anywhere in a key. Filter with key.startswith('flags.') or watch('flags.>')."
            )
        if "flags.dark-mode" in found:
            raise Wrong(
                "flags.dark-mode was deleted: skip delete/purge markers (entry.operation, or "
                "ignore_deletes=True, or get() raising KeyNotFoundError)."
            )
        if "flags.checkout" in found:
            raise Wrong("flags.checkout is b'off': keep only the keys whose value is b'on'.")
        if sorted(found) != EXPECTED_ON:
            raise Wrong(f"expected {EXPECTED_ON}, got {found}: which flags whose value is b'on' are missing?")
        if found != EXPECTED_ON:
            raise Wrong(f"the right keys, but sort them: {EXPECTED_ON}.")
        return (
            f"{EXPECTED_ON}: only keys that start with 'flags.', currently b'on', not deleted. "
            "legacy.flags.banner and config.flags-enabled would have slipped through a substring filter."
        )
    finally:
        await js.delete_key_value(FLAGS_BUCKET)


# The design exercise: a sessions bucket for stated requirements, checked on the server.
PLAN_BUCKET = "key-value-check-sessions"
PLAN_NEEDS = {"history": 3, "ttl": 2.0, "max_value_size": 1024}


@exercise(
    hints=(
        "one keyword argument per requirement: how many values per key, how long a value lives, how big "
        "a value may be.",
        "history counts values kept per key; ttl is in seconds; max_value_size is in bytes (1 KiB = 1024).",
    ),
    timeout=15.0,
)
async def check_bucket_plan(answer, server):
    if not isinstance(answer, dict) or set(answer) - set(PLAN_NEEDS):
        raise Wrong(f"answer with a dict of create_key_value keyword arguments among {sorted(PLAN_NEEDS)}.")
    async with jetstream(server, "key-value.checker") as js:
        try:
            kv = await _fresh_bucket(js, PLAN_BUCKET, **answer)
        except Exception as error:  # noqa: BLE001 - the server's or the client's refusal, shown to the learner
            raise Wrong(f"the bucket could not be created with {answer}: {type(error).__name__}: {error}") from None
        try:
            for i in range(5):
                await kv.put("session.alice", f"token-{i}".encode())
            kept = len(await kv.history("session.alice"))
            if kept != PLAN_NEEDS["history"]:
                raise Wrong(f"after 5 writes the bucket kept {kept} of the key's values; auditors want the 3 latest.")
            ttl = (await kv.status()).ttl
            if ttl != PLAN_NEEDS["ttl"]:
                raise Wrong(f"the server reports a ttl of {ttl} s; a session must go 2 s after its last write.")
            try:
                await kv.put("session.bob", b"x" * 2048)
            except BadRequestError:  # 'message size exceeds maximum allowed': refused, as planned
                pass
            else:
                raise Wrong("a 2 KiB session value was stored: the server must refuse values over 1 KiB.")
            try:
                await kv.put("session.bob", b"x" * 1024)
            except BadRequestError as error:
                raise Wrong(f"a 1 KiB value was refused ({error.description}): 1 KiB must still fit.") from None
            return "On the server: 3 values kept per key, a 2 s ttl, 2 KiB refused and 1 KiB stored."
        finally:
            await delete_if_exists(js.delete_key_value, PLAN_BUCKET)
