"""Checkers for Subjects and wildcards (notebooks/03-subjects-and-wildcards.ipynb).

Every checker asks the real server: the learner's subscriptions (or patterns) receive what the
checker publishes, and the verdict compares what the server delivered. Nothing here re-implements
subject matching in Python.
"""

from __future__ import annotations

import nats
from nats.aio.subscription import Subscription

from helpers.exercises.framework import Wrong, attempt, exercise, quiet

PREDICT_SUBJECT = "orders.eu.central.created.v2"
PREDICT_CANDIDATES = [
    "orders.>",
    "orders.*.*.created",
    "orders.*.*.created.>",
    "orders.eu.>",
    "orders.*.central.*",
    "*.eu.central.created.*",
]


async def connect(url: str, name: str, timeout: float = 5.0):
    """A checker's own connection, named by the slug; nats-py's errors go to a quiet callback, not to stderr."""

    return await nats.connect(url, name=f"subjects-and-wildcards.{name}", connect_timeout=timeout, error_cb=quiet)


async def delivered(url: str, patterns: list[str], subjects: list[str], timeout: float = 5.0) -> dict:
    """{pattern: [subjects the server delivered to it]}, asked of the server itself."""
    nc = await connect(url, "checker", timeout)
    try:
        subs = {p: await nc.subscribe(p) for p in patterns}
        for subject in subjects:
            await nc.publish(subject, subject.encode())
        await nc.flush(timeout=timeout)  # the server has routed every publish: the copies are here
        got = {}
        for pattern, sub in subs.items():
            got[pattern] = [(await sub.next_msg(timeout=timeout)).subject for _ in range(sub.pending_msgs)]
        return got
    finally:
        await nc.close()


# The design exercise: parcel-tracking events, and who must receive which.
CARRIERS, COUNTRIES, PARCELS, KINDS = ("dhl", "ups"), ("de", "us"), ("p41", "p42"), ("picked_up", "delivered")
EVENTS = [(c, n, p, k) for c in CARRIERS for n in COUNTRIES for p in PARCELS for k in KINDS]
CONSUMERS = {  # consumer: which events it must get (and it must get no other)
    "billing": lambda c, n, p, k: k == "delivered",
    "germany_ops": lambda c, n, p, k: n == "de",
    "ups_tracker": lambda c, n, p, k: c == "ups",
    "parcel_page": lambda c, n, p, k: p == "p42",
}


@exercise(
    hints=(
        "give every level one meaning, general to specific: the carrier, the country, the parcel and the kind "
        "each need a token of their own.",
        "each consumer fixes one level and leaves the others open: an open level in the middle is `*`, open "
        "levels at the end can be one `>`.",
    )
)
async def check_hierarchy(answer, server):
    if (
        not isinstance(answer, dict)
        or not callable(answer.get("subject_for"))
        or not isinstance(answer.get("patterns"), dict)
    ):
        raise Wrong('answer with {"subject_for": a function, "patterns": {consumer: pattern, ...}}.')
    if set(answer["patterns"]) != set(CONSUMERS):
        raise Wrong(f"give one pattern for each consumer: {sorted(CONSUMERS)}.")
    subjects = {}
    for event in EVENTS:
        subject = answer["subject_for"](*event)
        tokens = subject.split(".") if isinstance(subject, str) else [""]
        if "" in tokens or any(t in ("*", ">") or " " in t for t in tokens):
            raise Wrong(f"subject_for{event} gave {subject!r}: a subject is dot-separated tokens, no wildcards.")
        subjects[subject] = event
    if len(subjects) < len(EVENTS):
        raise Wrong("two different events got the same subject: every level the consumers filter on needs a token.")
    patterns = answer["patterns"]
    try:
        got = await delivered(server.url, list(patterns.values()), list(subjects))
    except nats.errors.BadSubjectError as error:
        raise Wrong(
            f"nats-py refused a pattern ({error}): `>` may only be the last token, and a wildcard must be a "
            "whole token."
        ) from None
    for consumer, pattern in patterns.items():
        received = {subjects[s] for s in got[pattern]}
        wanted = {e for e in EVENTS if CONSUMERS[consumer](*e)}
        if received != wanted:
            missed, extra = sorted(wanted - received), sorted(received - wanted)
            detail = f"missed {len(missed)}, e.g. {missed[0]}" if missed else f"also got {len(extra)}, e.g. {extra[0]}"
            raise Wrong(f"{consumer} ({pattern!r}) {detail}; events are (carrier, country, parcel, kind).")
    return f"Each of the {len(patterns)} consumers got exactly its events out of {len(EVENTS)}, per the server."


@exercise(
    hints=(
        "count the tokens: the subject has five.",
        "a `*` stands for exactly one token, so a pattern of four tokens never matches five; a final `>` "
        "stands for one or more.",
    )
)
async def check_answer_2(answer, server):
    if not isinstance(answer, (set, list, tuple, frozenset)) or not all(isinstance(p, str) for p in answer):
        raise Wrong("answer with a set of pattern strings taken from `candidates`.")
    unknown = set(answer) - set(PREDICT_CANDIDATES)
    if unknown:
        raise Wrong(f"{sorted(unknown)} are not in `candidates`: pick from the list as written.")
    got = await delivered(server.url, PREDICT_CANDIDATES, [PREDICT_SUBJECT])
    truth = {p for p, subjects in got.items() if subjects}
    tokens = len(PREDICT_SUBJECT.split("."))
    wrong = []
    for p in sorted(set(answer) - truth):
        wrong.append(
            f"{p!r} did NOT receive it ({len(p.split('.'))} tokens against the subject's {tokens}; "
            "`*` is one token, never more)"
        )
    for p in sorted(truth - set(answer)):
        wrong.append(f"{p!r} DID receive it (a `*` is any one token, a final `>` is one or more)")
    if wrong:
        raise Wrong("the server disagrees: " + "; ".join(wrong) + ".")
    return f"The server delivered {PREDICT_SUBJECT!r} to exactly {sorted(truth)}."


# The hands-on exercise: the learner's own subscriptions, judged by what the server delivers to them.
FEED_SUBJECTS = [
    "orders.us.east.created",
    "orders.us.west.created",
    "orders.eu.central.created",
    "orders.ap.south.created",
    "orders.us.east.paid",
    "orders.eu.central.shipped",
    "orders.us.created",
    "orders.us.east.created.v2",
    "orders.us",
    "orders.created",
    "orders.eu.west.created.v2",
    "audit.us.east.created",
]
FEEDS = {  # feed: the subjects of FEED_SUBJECTS it must receive, and no other
    "new_orders": FEED_SUBJECTS[:4],
    "us_all": [s for s in FEED_SUBJECTS if s.startswith("orders.us.")],
}


@exercise(
    hints=(
        "`await nc.subscribe(pattern)` returns a subscription; in a feed's pattern, each token that varies "
        "is a wildcard.",
        "`*` stands for exactly one token, `>` (last only) for one or more: new_orders varies in two "
        "levels between `orders` and `created`; us_all takes any number of tokens after `orders.us`.",
    )
)
async def check_dashboard_feeds(answer, server, *, timeout: float = 5.0):
    learner, publisher = await connect(server.url, "learner", timeout), await connect(server.url, "publisher", timeout)
    try:
        try:
            feeds = await attempt(answer, learner, timeout=timeout)
        except nats.errors.BadSubjectError as error:
            raise Wrong(
                f"nats-py refused a pattern before sending it ({error}): `>` may only be the last token, and a "
                "wildcard must be a whole token."
            ) from None
        if not isinstance(feeds, dict) or set(feeds) != set(FEEDS):
            raise Wrong(f"return a dict with one subscription per feed: {sorted(FEEDS)}.")
        for feed, sub in feeds.items():
            if not isinstance(sub, Subscription):
                raise Wrong(f"{feed} is {type(sub).__name__}: return what `await nc.subscribe(...)` gives.")
            if sub._conn is not learner:
                raise Wrong(f"{feed} was subscribed on another connection: subscribe on the `nc` you are given.")
            if sub._cb is not None:
                raise Wrong(f"{feed} has a callback: subscribe without cb=..., the checker reads it with next_msg.")
        await learner.flush(timeout=timeout)  # the server has every SUB
        for subject in FEED_SUBJECTS:
            await publisher.publish(subject, b"")
        await publisher.flush(timeout=timeout)  # the server has routed every publish...
        await learner.flush(timeout=timeout)  # ...and everything it routed to the learner has arrived
        got = {
            f: [(await s.next_msg(timeout=timeout)).subject for _ in range(s.pending_msgs)] for f, s in feeds.items()
        }
    finally:
        await learner.close()
        await publisher.close()
    for feed, wanted in FEEDS.items():
        if got[feed] != wanted:
            missed = [s for s in wanted if s not in got[feed]]
            extra = [s for s in got[feed] if s not in wanted]
            raise Wrong(
                f"{feed} (subject {feeds[feed].subject!r}) received {len(got[feed])} of the {len(FEED_SUBJECTS)} "
                f"subjects published"
                + (f", missed {missed}" if missed else "")
                + (f", and also got {extra}" if extra else "")
                + "."
            )
    return (
        f"The server delivered exactly the {len(FEEDS['new_orders'])} created orders to new_orders "
        f"({feeds['new_orders'].subject!r}) and the {len(FEEDS['us_all'])} subjects below orders.us to us_all "
        f"({feeds['us_all'].subject!r})."
    )
