"""Checkers for notebook 05 · Streams."""

from nats.js.api import DiscardPolicy, PubAck, RetentionPolicy
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
    "05.make_readings",
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
    "05.publish_order",
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


RETENTION_CASES = {
    "audit": (
        RetentionPolicy.LIMITS,
        "reading must not delete anything; only a limit (max_age of 30 days) "
        "removes a sale. Which policy ignores reads?",
    ),
    "thumbnails": (
        RetentionPolicy.WORK_QUEUE,
        "each job goes to one worker and is gone after that one ack. Which policy removes a message on its first ack?",
    ),
    "notifications": (
        RetentionPolicy.INTEREST,
        "an event stays until every consumer has acknowledged it. Which policy waits for all of them?",
    ),
}


@exercise("05.answer_3", hint="Compare the table in the Retention section: what removes a message?")
def check_answer_3(answer, server):
    if not isinstance(answer, dict) or set(answer) != set(RETENTION_CASES):
        raise Wrong(f"answer with a dict with the keys {sorted(RETENTION_CASES)}.")
    for case, (policy, why) in RETENTION_CASES.items():
        try:
            given = RetentionPolicy(getattr(answer[case], "value", answer[case]))
        except ValueError:
            raise Wrong(f"{answer[case]!r} for {case!r} is not a RetentionPolicy.") from None
        if given != policy:
            raise Wrong(f"{case!r}: {given.name} does not fit; {why}")
    return "audit: LIMITS, thumbnails: WORK_QUEUE, notifications: INTEREST."
