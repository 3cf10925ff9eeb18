"""Checkers for notebook 03 · Subjects and wildcards.

Both checkers ask the real server: they subscribe with the patterns, publish
sample subjects and compare what was delivered. Nothing here re-implements
subject matching in Python.
"""

from __future__ import annotations

import nats

from helpers.exercises.framework import Wrong, exercise

PREDICT_SUBJECT = "orders.eu.central.created.v2"
PREDICT_CANDIDATES = [
    "orders.>",
    "orders.*.*.created",
    "orders.*.*.created.>",
    "orders.eu.>",
    "orders.*.central.*",
    "*.eu.central.created.*",
]


async def delivered(url: str, patterns: list[str], subjects: list[str], timeout: float = 5.0) -> dict:
    """{pattern: [subjects the server delivered to it]}, asked of the server itself."""
    nc = await nats.connect(url, name="03-subjects-and-wildcards.checker", connect_timeout=timeout)
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


@exercise(hint="one meaning per token, general to specific; each consumer's varying levels are `*`.")
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


@exercise(hint="count tokens: `*` is exactly one, `>` is one or more at the end.")
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
