"""Checkers for Streams (notebooks/05-streams.ipynb).

Each checker works on a stream of its own (named STREAMS_..., on subjects under `streams.`), deletes it
before and after, and judges what the server stored. Its connection (framework.jetstream) reports errors to
a quiet callback, so a wrong answer shows the verdict, not nats-py's tracebacks.
"""

from nats.js.api import DiscardPolicy, PubAck
from nats.js.errors import APIError, NoStreamResponseError, NotFoundError

from helpers.exercises.framework import Wrong, attempt, delete_if_exists, exercise, jetstream

EX1_STREAM, EX1_SUBJECTS = "STREAMS_READINGS", ["streams.readings.*"]
EX2_STREAM, EX2_SUBJECT = "STREAMS_ORDERS_ONCE", "streams.once.orders"
RECEIPTS_STREAM, RECEIPTS_SUBJECTS, RECEIPTS_SUBJECT = (
    "STREAMS_RECEIPTS",
    ["streams.receipts.*"],
    "streams.receipts.till",
)
RECEIPT_AMOUNTS = [12, 7, 30, 5]


async def _payloads(js, name: str, subject: str) -> list[str]:
    """Payloads still stored on one subject, oldest first (read by sequence, no consumer)."""
    state, found = (await js.stream_info(name)).state, []
    for seq in range(state.first_seq, state.last_seq + 1):
        try:
            msg = await js.get_msg(name, seq)
        except NotFoundError:
            continue
        if msg.subject == subject:
            found.append(msg.data.decode())
    return found


def _duration(seconds: float) -> str:
    for unit, size in (("days", 86400), ("hours", 3600), ("minutes", 60)):
        if seconds >= size:
            return f"{seconds / size:g} {unit}"
    return f"{seconds:g} seconds"


@exercise(
    hints=(
        "two limits: an age for every message, and a count that applies to each subject separately.",
        "`await js.add_stream(name=..., subjects=[...], max_age=..., max_msgs_per_subject=...)`; in nats-py "
        "max_age is in seconds.",
    )
)
async def check_make_readings(answer, server):
    async with jetstream(server, "streams.checker") as js:
        return await _make_readings(answer, js)


async def _make_readings(answer, js):
    await delete_if_exists(js.delete_stream, EX1_STREAM)
    try:
        try:
            await attempt(answer, js)
        except APIError as error:
            if "max_age" in str(error.description):  # e.g. 3600 * 1e9: too many seconds for the server
                raise Wrong(
                    f"the server refused max_age ({error.description}). nats-py takes max_age in "
                    "seconds (a float) and converts it to nanoseconds itself: one hour is 3600."
                ) from None
            raise
        try:
            config = (await js.stream_info(EX1_STREAM)).config
        except NotFoundError:
            raise Wrong(
                f"after your function ran there is no stream named {EX1_STREAM!r}: "
                f"create it with js.add_stream(name={EX1_STREAM!r}, ...)."
            ) from None
        if list(config.subjects or []) != EX1_SUBJECTS:
            raise Wrong(f"the stream listens on {config.subjects}, not {EX1_SUBJECTS}.")
        if not config.max_age:
            raise Wrong(
                "max_age is 0, which means no age limit: messages would stay forever. "
                "Set max_age to one hour, in seconds."
            )
        if config.max_age != 3600:
            raise Wrong(
                f"max_age is {config.max_age:g} s, that is {_duration(config.max_age)}. nats-py takes "
                "max_age in seconds (a float) and converts it to nanoseconds itself: one hour is 3600."
            )
        if config.max_msgs_per_subject != 3:
            extra = (
                " max_msgs=3 limits the whole stream; the per-subject limit is max_msgs_per_subject."
                if config.max_msgs == 3
                else ""
            )
            raise Wrong(f"max_msgs_per_subject is {config.max_msgs_per_subject}, not 3.{extra}")
        for i in range(1, 6):
            await js.publish("streams.readings.sensor", f"m{i}".encode())
        await js.publish("streams.readings.other", b"x")
        kept = await _payloads(js, EX1_STREAM, "streams.readings.sensor")
        if kept != ["m3", "m4", "m5"]:
            policy = " Discard policy 'new' keeps the oldest instead." if config.discard == DiscardPolicy.NEW else ""
            raise Wrong(
                f"after publishing m1..m5 on streams.readings.sensor the stream kept {kept}, "
                f"not the newest three ['m3', 'm4', 'm5'].{policy}"
            )
        if await _payloads(js, EX1_STREAM, "streams.readings.other") != ["x"]:
            raise Wrong("the limit should apply per subject: streams.readings.other lost its only message.")
        return (
            f"{EX1_STREAM} keeps each message 3600 s and the newest 3 per subject: "
            "of m1..m5 it kept m3 m4 m5, and another subject kept its own."
        )
    finally:
        await delete_if_exists(js.delete_stream, EX1_STREAM)


@exercise(
    hints=(
        "the server can only recognise a retry by an ID the publisher gives each message, in a header.",
        "`await js.publish(subject, data, headers={'Nats-Msg-Id': ...})` with the order id; return the ack.",
    )
)
async def check_publish_order(answer, server):
    async with jetstream(server, "streams.checker") as js:
        return await _publish_order(answer, js)


async def _publish_order(answer, js):
    await delete_if_exists(js.delete_stream, EX2_STREAM)
    await js.add_stream(name=EX2_STREAM, subjects=["streams.once.*"])
    try:
        calls = [("A-1", b"order A-1"), ("A-1", b"order A-1"), ("A-1", b"order A-1"), ("B-2", b"order B-2")]
        acks = [await attempt(answer, js, order_id, data) for order_id, data in calls]
        if not all(isinstance(ack, PubAck) for ack in acks):
            kinds = sorted({type(ack).__name__ for ack in acks})
            raise Wrong(f"return the ack from `await js.publish(...)` (a PubAck), not {', '.join(kinds)}.")
        state = (await js.stream_info(EX2_STREAM, subjects_filter=">")).state
        subjects = state.subjects or {}
        if set(subjects) - {EX2_SUBJECT}:
            raise Wrong(f"messages landed on {sorted(subjects)}: publish to {EX2_SUBJECT!r} only.")
        if state.messages == 4:
            raise Wrong(
                "all 4 publishes were stored: the server can only spot a retry by its message ID. "
                "Set the Nats-Msg-Id header to the order id."
            )
        if state.messages == 1:
            raise Wrong(
                "only 1 message was stored, but A-1 and B-2 are different orders: "
                "use the order id as the Nats-Msg-Id, not a constant."
            )
        if state.messages != 2:
            raise Wrong(f"{state.messages} messages were stored; expected 2 (A-1 once, B-2 once).")
        flags = [bool(ack.duplicate) for ack in acks]
        if flags != [False, True, True, False]:
            raise Wrong(f"the acks' duplicate flags were {flags}; expected [False, True, True, False].")
        return (
            "4 publishes, 2 stored: both retries of A-1 came back with duplicate=True "
            f"and the original sequence {acks[0].seq}."
        )
    finally:
        await delete_if_exists(js.delete_stream, EX2_STREAM)


# The design exercise: a job stream for thumbnails, judged by how the server treats jobs in it.
DESIGN_STREAM, DESIGN_SUBJECT, DESIGN_WAITING = "STREAMS_JOBS", "streams.design.jobs", 20


@exercise(
    hints=(
        "three decisions: the retention (who removes a job?), max_msgs, and the discard policy.",
        "a job must wait while no consumer exists, and leave on one ack; when 20 wait, should the server drop "
        "a waiting job (discard old) or refuse the upload (discard new)?",
    )
)
async def check_job_stream(answer, server, *, timeout: float = 5.0):
    if not isinstance(answer, dict):
        raise Wrong('answer with a dict of js.add_stream keyword arguments, e.g. {"retention": ...}.')
    if {"name", "subjects"} & set(answer):
        raise Wrong("leave out name and subjects: the checker sets them.")
    async with jetstream(server, "streams.checker", timeout) as js:
        await delete_if_exists(js.delete_stream, DESIGN_STREAM)
        try:
            return await _job_stream(answer, js, timeout)
        finally:
            await delete_if_exists(js.delete_stream, DESIGN_STREAM)


async def _job_stream(answer, js, timeout):
    try:
        await js.add_stream(name=DESIGN_STREAM, subjects=[DESIGN_SUBJECT], **answer)
    except (TypeError, ValueError, APIError) as error:
        raise Wrong(f"js.add_stream refused these arguments: {error}") from None

    async def waiting():
        return (await js.stream_info(DESIGN_STREAM)).state.messages

    await js.publish(DESIGN_SUBJECT, b"job 0")
    if await waiting() != 1:
        raise Wrong(
            "a job uploaded while no worker was running was not kept: interest retention stores nothing "
            "while no consumer exists."
        )
    worker = await js.pull_subscribe(DESIGN_SUBJECT, durable="worker", stream=DESIGN_STREAM)
    for msg in await worker.fetch(1, timeout=timeout):
        await msg.ack_sync()
    await worker.unsubscribe()
    if await waiting() != 0:
        raise Wrong(
            "the job stayed in the stream after a worker acknowledged it: with limits retention reading "
            "deletes nothing. Which policy removes a message on its ack?"
        )
    results = []
    for i in range(1, DESIGN_WAITING + 2):
        try:
            results.append((await js.publish(DESIGN_SUBJECT, f"job {i}".encode())).seq)
        except APIError as error:
            results.append(error.description)
    refused = [i for i, r in enumerate(results, start=1) if isinstance(r, str)]
    kept = await waiting()
    if not refused and kept > DESIGN_WAITING:
        raise Wrong(f"all {kept} waiting jobs were stored: at most {DESIGN_WAITING} may wait (max_msgs).")
    if not refused:
        raise Wrong(
            f"upload {len(results)} was accepted and the stream kept {kept}: a waiting job was dropped "
            "silently (discard old). Which discard policy refuses the upload instead?"
        )
    if refused[0] != DESIGN_WAITING + 1:
        raise Wrong(f"upload {refused[0]} was refused already: {DESIGN_WAITING} jobs must be able to wait.")
    return (
        f"A job waited for a worker and left on its ack; {DESIGN_WAITING} jobs waited and upload "
        f"{DESIGN_WAITING + 1} was refused ({results[-1]}), per the server."
    )


# The hands-on exercise: the learner creates a stream and publishes with acks; judged on the stored sequences.
@exercise(
    hints=(
        "first `await js.add_stream(name=..., subjects=[...])`, then one `await js.publish(subject, payload)` "
        "per amount: each returns an ack.",
        "an ack's `.seq` is the message's stream sequence: collect `ack.seq` of each publish, in order, and "
        "return that list.",
    )
)
async def check_keep_receipts(answer, server, *, timeout: float = 5.0):
    async with jetstream(server, "streams.checker", timeout) as js:
        await delete_if_exists(js.delete_stream, RECEIPTS_STREAM)
        try:
            return await _keep_receipts(answer, js, timeout)
        finally:
            await delete_if_exists(js.delete_stream, RECEIPTS_STREAM)


async def _keep_receipts(answer, js, timeout):
    try:
        sequences = await attempt(answer, js, list(RECEIPT_AMOUNTS), timeout=timeout)
    except NoStreamResponseError:
        raise Wrong(
            "a js.publish got no answer from any stream (NoStreamResponseError): create the stream, on subjects "
            f"that include {RECEIPTS_SUBJECT}, before publishing."
        ) from None
    try:
        info = await js.stream_info(RECEIPTS_STREAM)
    except NotFoundError:
        raise Wrong(
            f"after your function ran there is no stream named {RECEIPTS_STREAM!r}: create it with "
            f"js.add_stream(name={RECEIPTS_STREAM!r}, subjects=[...])."
        ) from None
    if list(info.config.subjects or []) != RECEIPTS_SUBJECTS:
        raise Wrong(f"the stream stores the subjects {info.config.subjects}, not {RECEIPTS_SUBJECTS}.")
    stored = []  # (sequence, subject, payload), read back by sequence
    for seq in range(info.state.first_seq, info.state.last_seq + 1):
        try:
            msg = await js.get_msg(RECEIPTS_STREAM, seq)
        except NotFoundError:
            continue
        stored.append((msg.seq, msg.subject, msg.data.decode(errors="replace")))
    payloads, stored_seqs = [p for _, _, p in stored], [seq for seq, _, _ in stored]
    if payloads != [str(a) for a in RECEIPT_AMOUNTS]:
        raise Wrong(
            f"for the amounts {RECEIPT_AMOUNTS} the stream stores {payloads} (in sequence order): publish each "
            "amount once, in order, as str(amount).encode()."
        )
    if {subject for _, subject, _ in stored} != {RECEIPTS_SUBJECT}:
        raise Wrong(f"the receipts landed on {sorted({s for _, s, _ in stored})}, not only on {RECEIPTS_SUBJECT}.")
    if isinstance(sequences, (list, tuple)) and any(isinstance(s, PubAck) for s in sequences):
        raise Wrong("you returned the acks themselves: return each ack's stream sequence, ack.seq.")
    if not isinstance(sequences, (list, tuple)) or list(sequences) != stored_seqs:
        raise Wrong(
            f"you returned {sequences!r}, but the stream stores the receipts at sequences {stored_seqs}: return "
            "ack.seq of each publish, in order."
        )
    return f"{RECEIPTS_STREAM} stores {payloads} at sequences {stored_seqs}, exactly the sequences your acks carried."
