"""Checkers for notebook 05 · Streams."""

from nats.js.api import DiscardPolicy, PubAck
from nats.js.errors import APIError, NotFoundError

from helpers.exercises.framework import Wrong, attempt, delete_if_exists, exercise, jetstream

EX1_STREAM, EX1_SUBJECTS = "NB05_EX1", ["nb05.ex1.*"]
EX2_STREAM, EX2_SUBJECT = "NB05_EX2", "nb05.ex2.orders"


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
    hint="`await js.add_stream(name=..., subjects=[...], max_age=..., "
    "max_msgs_per_subject=...)`; in nats-py max_age is in seconds.",
)
async def check_make_readings(answer, server):
    async with jetstream(server, "05-streams.checker") as js:
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
            await js.publish("nb05.ex1.sensor", f"m{i}".encode())
        await js.publish("nb05.ex1.other", b"x")
        kept = await _payloads(js, EX1_STREAM, "nb05.ex1.sensor")
        if kept != ["m3", "m4", "m5"]:
            policy = " Discard policy 'new' keeps the oldest instead." if config.discard == DiscardPolicy.NEW else ""
            raise Wrong(
                f"after publishing m1..m5 on nb05.ex1.sensor the stream kept {kept}, "
                f"not the newest three ['m3', 'm4', 'm5'].{policy}"
            )
        if await _payloads(js, EX1_STREAM, "nb05.ex1.other") != ["x"]:
            raise Wrong("the limit should apply per subject: nb05.ex1.other lost its only message.")
        return (
            "NB05_EX1 keeps each message 3600 s and the newest 3 per subject: "
            "of m1..m5 it kept m3 m4 m5, and another subject kept its own."
        )
    finally:
        await delete_if_exists(js.delete_stream, EX1_STREAM)


@exercise(
    hint="`await js.publish(subject, data, headers={...})`: which header "
    "lets the server recognise a retry? Return the ack.",
)
async def check_publish_order(answer, server):
    async with jetstream(server, "05-streams.checker") as js:
        return await _publish_order(answer, js)


async def _publish_order(answer, js):
    await delete_if_exists(js.delete_stream, EX2_STREAM)
    await js.add_stream(name=EX2_STREAM, subjects=["nb05.ex2.*"])
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
DESIGN_STREAM, DESIGN_SUBJECT, DESIGN_WAITING = "NB05_JOBS", "nb05.design.jobs", 20


@exercise(
    hint="three decisions: the retention (who removes a job?), max_msgs, and the discard policy "
    "(drop a waiting job, or refuse the upload?).",
)
async def check_job_stream(answer, server, *, timeout: float = 5.0):
    if not isinstance(answer, dict):
        raise Wrong('answer with a dict of js.add_stream keyword arguments, e.g. {"retention": ...}.')
    if {"name", "subjects"} & set(answer):
        raise Wrong("leave out name and subjects: the checker sets them.")
    async with jetstream(server, "05-streams.checker", timeout) as js:
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
