"""The performance claims that notebook 12 measures, the rule that judges each one, and the claims table.

Scaffolding for the notebook's last section: the measuring is the notebook's (each section puts its results
in a dict, `measured`); this module picks from it the numbers each claim is judged by, applies one of two
rules with the margin the notebook states, and returns one row per claim. Nothing is typed in: a verdict is
computed from the run's numbers, and the row carries exactly the numbers it was computed from. The
notebook's test entry re-derives every verdict from those numbers independently.

    rows, not_yet = judge(measured, margin=0.2)   # not_yet: the claims whose section has not run
    claims_table(rows)                             # the claims, with their verdicts coloured

The two rules (the only judgement calls; `margin` is their only knob):

- `beats(a, b)`: a is better than b by more than the margin (a latency `margin` lower, a rate `margin` higher);
- `reaches(value, claimed)`: a measured value reaches a claimed figure, giving the claim the margin.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import pandas as pd

VERDICT_COLOURS = {"holds": "#d1f0d8", "holds only when": "#fff3c4", "does not hold here": "#f8d7da"}
# Where the notebook measures each number a claim needs: a claim whose section has not run is not judged.
MEASURED_IN = {
    "latency_us": "One request at a time: NATS next to three kinds of HTTP",
    "raw_ping_us": "Deep dive: the raw wire protocol",
    "publish_rates": "Deep dive: the raw wire protocol",
    "fanout": "Deep dive: publish and subscribe",
    "in_flight": "Deep dive: many requests in flight",
    "jetstream_rates": "JetStream: awaiting each ack vs `publish_async` windows",
}
HTTP_KINDS = {
    "HTTP keep-alive, direct": ("direct", "is called directly over a kept-alive connection"),
    "HTTP through a proxy hop": ("proxy", "goes through a proxy hop"),
    "HTTP, new connection per request": ("new connection", "opens a new connection per request"),
}


def beats(a: float, b: float, margin: float, lower_is_better: bool = True) -> bool:
    """a is better than b by more than the margin: a latency `margin` lower, a rate `margin` higher."""
    return a <= b * (1 - margin) if lower_is_better else b <= a * (1 - margin)


def reaches(value: float, claimed: float, margin: float, lower_is_better: bool = False) -> bool:
    """A measured value reaches a claimed figure, giving the claim the margin."""
    return value <= claimed * (1 + margin) if lower_is_better else value >= claimed * (1 - margin)


def claim(name: str, story: str, numbers: dict, shown: str, verdict: str, why: str) -> dict:
    """One row of the table; `numbers` are exactly what the verdict was computed from."""
    return {"claim": name, "story": story, "measured": shown, "verdict": verdict, "why": why, "numbers": numbers}


def latency_claim(m: Mapping, margin: float) -> dict:
    n = {
        "request_reply_p50_us": m["latency_us"]["NATS request-reply"]["p50"],
        "raw_ping_p50_us": m["raw_ping_us"]["p50"],
    }
    if reaches(n["request_reply_p50_us"], 10, margin, lower_is_better=True):
        verdict = "holds"
    elif reaches(n["raw_ping_p50_us"], 10, margin, lower_is_better=True):
        verdict = "holds only when no responder and no client library take part (a bare PING/PONG)"
    else:
        verdict = "does not hold here"
    return claim(
        "latency as low as 10 µs",
        "“latencies as low as 10 microseconds”",
        n,
        f"request-reply p50 {n['request_reply_p50_us']:.0f} µs; bare PING/PONG p50 {n['raw_ping_p50_us']:.0f} µs",
        verdict,
        f"From Python even the smallest round trip to the server, with no client library and no responder, takes "
        f"{n['raw_ping_p50_us'] / 10:.0f}× the claim; a request-reply crosses the server twice and two Python "
        "processes. 10 µs is the server's own share, seen from a Go or C client on a quiet machine.",
    )


def millions_claim(m: Mapping, margin: float) -> dict:
    n = {
        "nats_py_msgs_per_s": m["publish_rates"]["nats-py"][128],
        "raw_wire_msgs_per_s": m["publish_rates"]["raw wire"][128],
        "pub_sub_received_per_s": m["fanout"]["received_per_s"],
    }
    if reaches(n["nats_py_msgs_per_s"], 1e6, margin):
        verdict = "holds"
    elif reaches(n["raw_wire_msgs_per_s"], 1e6, margin):
        verdict = "holds only when the publisher does no per-message work (the raw wire protocol), not from nats-py"
    else:
        verdict = "does not hold here"
    return claim(
        "millions of messages per second",
        "“millions of messages per second”",
        n,
        f"128 B: nats-py {n['nats_py_msgs_per_s']:,} msg/s, raw wire {n['raw_wire_msgs_per_s']:,} msg/s; "
        f"to a Python subscriber {n['pub_sub_received_per_s']:,} msg/s",
        verdict,
        f"The same server takes {n['raw_wire_msgs_per_s'] / n['nats_py_msgs_per_s']:.1f}× nats-py's rate as raw "
        "PUB lines: the limit is the client's per-message work in Python, not NATS. A Python subscriber is slower "
        "still. Go clients and `nats bench` come close to the raw rate.",
    )


def faster_claim(m: Mapping, margin: float) -> dict:
    n = {"nats_p50_us": m["latency_us"]["NATS request-reply"]["p50"]} | {
        f"{kind} p50_us": m["latency_us"][kind]["p50"] for kind in HTTP_KINDS
    }
    ratio = {short: n["nats_p50_us"] / n[f"{kind} p50_us"] for kind, (short, _) in HTTP_KINDS.items()}
    beaten = [kind for kind in HTTP_KINDS if beats(n["nats_p50_us"], n[f"{kind} p50_us"], margin)]
    if "HTTP keep-alive, direct" in beaten:
        verdict = "holds"
    elif beaten:
        verdict = "holds only when HTTP " + " or ".join(HTTP_KINDS[kind][1] for kind in beaten)
    else:
        verdict = "does not hold here"
    return claim(
        "request-reply faster than HTTP (one at a time)",
        "“request-reply is faster than HTTP”",
        n,
        f"p50: NATS {n['nats_p50_us']:.0f} µs; HTTP "
        + ", ".join(f"{short} {n[kind + ' p50_us']:.0f} µs" for kind, (short, _) in HTTP_KINDS.items()),
        verdict,
        f"NATS crosses two hops (through the server), direct HTTP one: NATS/direct = {ratio['direct']:.2f}. A proxy "
        f"adds a hop to HTTP too (NATS/proxy = {ratio['proxy']:.2f}); a new TCP connection adds a handshake "
        f"(NATS/new connection = {ratio['new connection']:.2f}).",
    )


def in_flight_claim(m: Mapping, margin: float) -> dict:
    n = {
        "nats_requests_per_s": m["in_flight"]["nats"]["per_s"],
        "http_pool_requests_per_s": m["in_flight"]["http pool"]["per_s"],
        "in_flight": m["in_flight"]["size"],
    }
    holds = beats(n["nats_requests_per_s"], n["http_pool_requests_per_s"], margin, lower_is_better=False)
    return claim(
        "request-reply faster than HTTP (many in flight)",
        "“request-reply is faster than HTTP”",
        n,
        f"{n['in_flight']} in flight: NATS (one connection) {n['nats_requests_per_s']:,} req/s; "
        f"HTTP (pool of {n['in_flight']}) {n['http_pool_requests_per_s']:,} req/s",
        "holds" if holds else "does not hold here",
        f"NATS/HTTP = {n['nats_requests_per_s'] / n['http_pool_requests_per_s']:.2f}. Under load the client's "
        "per-request work decides, and one NATS connection multiplexes every request with less of it than an "
        "HTTP/1.1 pool, which needs a connection per request in flight.",
    )


def hop_claim(m: Mapping, margin: float) -> dict:
    p50 = {kind: q["p50"] for kind, q in m["latency_us"].items()}
    n = {
        "proxy_hop_adds_us": round(p50["HTTP through a proxy hop"] - p50["HTTP keep-alive, direct"], 1),
        "new_connection_adds_us": round(p50["HTTP, new connection per request"] - p50["HTTP keep-alive, direct"], 1),
    }
    if reaches(n["proxy_hop_adds_us"], 10_000, margin):
        verdict = "holds"
    elif reaches(n["new_connection_adds_us"], 10_000, margin):
        verdict = "holds only when every request opens a new connection"
    else:
        verdict = "does not hold here"
    return claim(
        "each HTTP hop adds 10-50 ms",
        "“each HTTP hop adds 10-50 ms”",
        n,
        f"p50: a proxy hop adds {n['proxy_hop_adds_us']:.0f} µs, a new connection {n['new_connection_adds_us']:.0f} µs",
        verdict,
        f"On loopback a hop costs {n['proxy_hop_adds_us'] / 10_000:.0%} of the claimed 10 ms (a Python proxy at "
        "that). Tens of milliseconds come from distance between data centres, TLS handshakes on cold connections, "
        "and overloaded proxies or services: real, but not the cost of HTTP itself.",
    )


def jetstream_claim(m: Mapping, margin: float) -> dict:
    windows = {mode: r for mode, r in m["jetstream_rates"].items() if mode != "await each ack"}
    best = max(windows, key=windows.get)
    n = {
        "await_each_ack_per_s": m["jetstream_rates"]["await each ack"],
        "best_window_per_s": windows[best],
        "best_window": int(best.rsplit(" ", 1)[1]),
    }
    if reaches(n["await_each_ack_per_s"], 50_000, margin):
        verdict = "holds"
    elif reaches(n["best_window_per_s"], 50_000, margin):
        verdict = f"holds only when publishing asynchronously ({best})"
    else:
        verdict = "does not hold here"
    return claim(
        "JetStream at 50,000 transactions/s",
        "“JetStream at 50,000 transactions per second”",
        n,
        f"128 B, file storage: awaiting each ack {n['await_each_ack_per_s']:,}/s; {best} {n['best_window_per_s']:,}/s",
        verdict,
        f"Awaiting each ack pays a round trip and a store per message; a window overlaps them "
        f"({n['best_window_per_s'] / n['await_each_ack_per_s']:.1f}× here). Past that, the Python client's "
        "per-message work is the limit, as for core publishing.",
    )


CLAIMS = (latency_claim, millions_claim, faster_claim, in_flight_claim, hop_claim, jetstream_claim)


def judge(measured: Mapping, margin: float) -> tuple[list[dict], list[str]]:
    """(one row per claim whose numbers were measured, in the order of CLAIMS; a sentence for each other claim:
    which section to run first)."""
    rows, not_yet = [], []
    for rule in CLAIMS:
        try:
            rows.append(rule(measured, margin))
        except KeyError as missing:  # the section that measures it has not run in this kernel
            section = MEASURED_IN.get(missing.args[0], missing.args[0])
            not_yet.append(f"{rule.__name__.removesuffix('_claim')} (run '{section}' first)")
    return rows, not_yet


def claims_table(rows: Sequence[Mapping]):
    """The claims as a table (claim, what the story says, measured here, verdict, why), verdicts coloured."""
    table = pd.DataFrame(rows)[["claim", "story", "measured", "verdict", "why"]]
    table.columns = ["claim", "the story says", "measured here", "verdict", "why"]

    def colour(verdict: str) -> str:
        kind = "holds only when" if verdict.startswith("holds only when") else verdict
        return f"background-color: {VERDICT_COLOURS[kind]}" if kind in VERDICT_COLOURS else ""

    return (
        table.style.map(colour, subset=["verdict"])
        .set_properties(**{"text-align": "left", "white-space": "normal"})
        .hide(axis="index")
    )
