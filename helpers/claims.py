"""The rules that judge the performance notebook's claims from a run's measurements: code, no lesson prose.

The notebook measures (each section puts its results in a dict, `measured`) and says, in its own words, what
the story claims and what a verdict leans on that the run does not measure. This module holds only the rules:
which numbers each claim is judged by, the two comparisons with the margin, and the verdict they give. The
notebook's test entry judges numbers with these same functions; nothing here is written twice.

    rows, missing = judge(measured, margin=0.2)   # missing: {claim: the measurements it still needs}
    table(rows, words)                            # the rules' verdicts beside the notebook's words

The two comparisons (the only judgement calls; `margin` is their only knob):

- `beats(a, b)`: a is better than b by more than the margin (a latency `margin` lower, a rate `margin` higher);
- `reaches(value, claimed)`: a measured value reaches a claimed figure, giving the claim the margin.

Each row carries its verdict ("holds", "holds only when ...", "does not hold here"), the numbers it was
computed from, and `tests`: every comparison the rule made, as (what, value, sign, threshold, passed), so
that the table shows why the verdict is what it is, from this run's numbers alone.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence

import pandas as pd

VERDICT_COLOURS = {"holds": "#d1f0d8", "holds only when": "#fff3c4", "does not hold here": "#f8d7da"}
HTTP_KINDS = {  # each kind of HTTP call, and how a verdict's condition names it
    "HTTP keep-alive, direct": "is called directly",
    "HTTP through a proxy hop": "goes through a proxy hop",
    "HTTP, new connection per request": "opens a new connection per request",
}


def beats(a: float, b: float, margin: float, lower_is_better: bool = True) -> bool:
    """a is better than b by more than the margin: a latency `margin` lower, a rate `margin` higher."""
    return a <= b * (1 - margin) if lower_is_better else b <= a * (1 - margin)


def reaches(value: float, claimed: float, margin: float, lower_is_better: bool = False) -> bool:
    """A measured value reaches a claimed figure, giving the claim the margin."""
    return value <= claimed * (1 + margin) if lower_is_better else value >= claimed * (1 - margin)


def _reach(what: str, value: float, claimed: float, margin: float, unit: str, lower_is_better: bool = False):
    """One `reaches` comparison, as the table shows it: (what, value, sign, threshold, passed)."""
    threshold = claimed * (1 + margin) if lower_is_better else claimed * (1 - margin)
    sign = "≤" if lower_is_better else "≥"
    return (
        what,
        f"{value:,.0f} {unit}",
        sign,
        f"{threshold:,.0f} {unit}",
        reaches(value, claimed, margin, lower_is_better),
    )


def _beat(what: str, a: float, b: float, margin: float, unit: str, lower_is_better: bool = True):
    """One `beats` comparison: a against b with the margin, as (what, a, sign, threshold, passed)."""
    threshold = b * (1 - margin) if lower_is_better else b / (1 - margin)
    sign = "≤" if lower_is_better else "≥"
    return (what, f"{a:,.0f} {unit}", sign, f"{threshold:,.0f} {unit}", beats(a, b, margin, lower_is_better))


def _two_step(tests: list, condition: str) -> str:
    """The first comparison passing: holds; only the second: holds only when `condition`; neither: does not."""
    if tests[0][-1]:
        return "holds"
    return f"holds only when {condition}" if tests[1][-1] else "does not hold here"


def latency(m: Mapping, margin: float) -> dict:
    n = {
        "request_reply_p50_us": m["latency_us"]["NATS request-reply"]["p50"],
        "raw_ping_p50_us": m["raw_ping_us"]["p50"],
    }
    tests = [
        _reach("request-reply p50", n["request_reply_p50_us"], 10, margin, "µs", lower_is_better=True),
        _reach("bare PING/PONG p50", n["raw_ping_p50_us"], 10, margin, "µs", lower_is_better=True),
    ]
    return _row("latency as low as 10 µs", n, tests, _two_step(tests, "nothing but the server answers (a bare PING)"))


def millions(m: Mapping, margin: float) -> dict:
    n = {
        "nats_py_msgs_per_s": m["publish_rates"]["nats-py"][128],
        "raw_wire_msgs_per_s": m["publish_rates"]["raw wire"][128],
    }
    tests = [
        _reach("nats-py publishing, 128 B", n["nats_py_msgs_per_s"], 1e6, margin, "msg/s"),
        _reach("raw wire publishing, 128 B", n["raw_wire_msgs_per_s"], 1e6, margin, "msg/s"),
    ]
    return _row("millions of messages per second", n, tests, _two_step(tests, "the publisher is the raw wire protocol"))


def faster(m: Mapping, margin: float) -> dict:
    p50 = {kind: m["latency_us"][kind]["p50"] for kind in ("NATS request-reply", *HTTP_KINDS)}
    n = {"nats_p50_us": p50["NATS request-reply"]} | {f"{kind} p50_us": p50[kind] for kind in HTTP_KINDS}
    tests = [_beat(f"NATS p50 against {kind}", n["nats_p50_us"], p50[kind], margin, "µs") for kind in HTTP_KINDS]
    beaten = [kind for kind, test in zip(HTTP_KINDS, tests, strict=True) if test[-1]]
    if "HTTP keep-alive, direct" in beaten:
        verdict = "holds"
    elif beaten:
        verdict = "holds only when HTTP " + " or ".join(HTTP_KINDS[kind] for kind in beaten)
    else:
        verdict = "does not hold here"
    return _row("request-reply faster than HTTP (one at a time)", n, tests, verdict)


def in_flight(m: Mapping, margin: float) -> dict:
    n = {
        "nats_requests_per_s": m["in_flight"]["nats"]["per_s"],
        "http_pool_requests_per_s": m["in_flight"]["http pool"]["per_s"],
        "in_flight": m["in_flight"]["size"],
    }
    tests = [
        _beat(
            f"NATS (one connection) against HTTP (pool of {n['in_flight']})",
            n["nats_requests_per_s"],
            n["http_pool_requests_per_s"],
            margin,
            "req/s",
            lower_is_better=False,
        )
    ]
    return _row(
        "request-reply faster than HTTP (many in flight)", n, tests, "holds" if tests[0][-1] else "does not hold here"
    )


def hop(m: Mapping, margin: float) -> dict:
    p50 = {kind: q["p50"] for kind, q in m["latency_us"].items()}
    n = {
        "proxy_hop_adds_us": round(p50["HTTP through a proxy hop"] - p50["HTTP keep-alive, direct"], 1),
        "new_connection_adds_us": round(p50["HTTP, new connection per request"] - p50["HTTP keep-alive, direct"], 1),
    }
    tests = [
        _reach("a proxy hop adds (p50)", n["proxy_hop_adds_us"], 10_000, margin, "µs"),
        _reach("a new connection adds (p50)", n["new_connection_adds_us"], 10_000, margin, "µs"),
    ]
    return _row("each HTTP hop adds 10-50 ms", n, tests, _two_step(tests, "every request opens a new connection"))


def jetstream(m: Mapping, margin: float) -> dict:
    windows = {mode: rate for mode, rate in m["jetstream_rates"].items() if mode != "await each ack"}
    best = max(windows, key=windows.get)
    n = {
        "await_each_ack_per_s": m["jetstream_rates"]["await each ack"],
        "best_window_per_s": windows[best],
        "best_window": int(best.rsplit(" ", 1)[1]),
    }
    tests = [
        _reach("acked publishes, awaiting each ack", n["await_each_ack_per_s"], 50_000, margin, "msg/s"),
        _reach(f"acked publishes, {best}", n["best_window_per_s"], 50_000, margin, "msg/s"),
    ]
    return _row(
        "JetStream at 50,000 transactions/s (publishing only)", n, tests, _two_step(tests, f"publishing with {best}")
    )


def _row(claim: str, numbers: dict, tests: list, verdict: str) -> dict:
    return {"claim": claim, "verdict": verdict, "numbers": numbers, "tests": [list(t) for t in tests]}


RULES: tuple[Callable[[Mapping, float], dict], ...] = (latency, millions, faster, in_flight, hop, jetstream)


def judge(measured: Mapping, margin: float) -> tuple[list[dict], dict[str, str]]:
    """(one row per claim whose numbers were measured, in the order of RULES; {rule name: the measurement it
    still needs} for each other claim: the notebook says which section measures it)."""
    rows, missing = [], {}
    for rule in RULES:
        try:
            rows.append(rule(measured, margin))
        except KeyError as absent:  # the section that measures it has not run in this kernel
            missing[rule.__name__] = absent.args[0]
    return rows, missing


def because(row: Mapping) -> str:
    """The rule's comparisons in one line: 'what value ≥ threshold: yes; ...'."""
    return "; ".join(
        f"{what} {value} {sign} {threshold}: {'yes' if passed else 'no'}"
        for what, value, sign, threshold, passed in row["tests"]
    )


def table(rows: Sequence[Mapping], words: Mapping[str, Sequence[str]]):
    """The claims table: the notebook's words for each claim (what the story says, what the verdict leans on
    that this run does not measure) beside the rules' comparisons and verdict, verdicts coloured."""
    frame = pd.DataFrame(
        [
            {
                "claim": row["claim"],
                "the story says": words[row["claim"]][0],
                "measured here (the rule's comparisons)": because(row),
                "verdict": row["verdict"],
                "not measured here (cited)": words[row["claim"]][1],
            }
            for row in rows
        ]
    )

    def colour(verdict: str) -> str:
        kind = "holds only when" if verdict.startswith("holds only when") else verdict
        return f"background-color: {VERDICT_COLOURS[kind]}" if kind in VERDICT_COLOURS else ""

    return (
        frame.style.map(colour, subset=["verdict"])
        .set_properties(**{"text-align": "left", "white-space": "normal"})
        .hide(axis="index")
    )
