"""Checkers for notebook 03 · Subjects and wildcards.

Both checkers ask the real server: they subscribe with the patterns, publish
sample subjects and compare what was delivered. Nothing here re-implements
subject matching in Python.
"""

from __future__ import annotations

import nats

from helpers.exercises.framework import Wrong, exercise

US_SHIPPED_SAMPLES = [
    "orders.us.east.shipped",
    "orders.us.west.shipped",
    "orders.us.central.shipped",
    "orders.eu.central.shipped",
    "orders.us.east.created",
    "orders.us.shipped",
    "orders.us.east.shipped.v2",
]
US_SHIPPED = {"orders.us.east.shipped", "orders.us.west.shipped", "orders.us.central.shipped"}

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


@exercise("03.answer_1", hint="one token per level: orders.<region>.<zone>.<event>; which level may vary?")
async def check_answer_1(answer, server):
    if not isinstance(answer, str):
        raise Wrong(f"answer with one subject pattern as a string, not {type(answer).__name__}.")
    try:
        got = set((await delivered(server.url, [answer], US_SHIPPED_SAMPLES))[answer])
    except nats.errors.BadSubjectError:
        raise Wrong(
            f"nats-py refused {answer!r} (BadSubjectError): `>` may only be the last token, and a "
            "wildcard must be a whole token."
        ) from None
    missed, extra = sorted(US_SHIPPED - got), sorted(got - US_SHIPPED)
    if missed:
        raise Wrong(
            f"{answer!r} did not receive {missed}. Every zone of `us` must match: `*` stands for exactly one token."
        )
    if extra:
        raise Wrong(
            f"{answer!r} also received {extra}. `>` takes every trailing token (any event, any "
            "depth); name the event and let only the zone vary."
        )
    return f"{answer!r} received exactly the three `us` shipped events, per the server."


@exercise("03.answer_2", hint="count tokens: `*` is exactly one, `>` is one or more at the end.")
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
