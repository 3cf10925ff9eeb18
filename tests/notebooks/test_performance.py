"""Notebook 12 · Performance: its test entry (tests/test_notebooks.py runs it).

The figures are noisy on a shared machine, so nothing here asserts an absolute number. The entry checks
the structure of what the run recorded and its internal consistency: every claim's numbers are the numbers
the run measured, and every verdict follows from them by the notebook's stated rules and margin
(re-derived here independently).
"""

import json

import pytest

from helpers.claims import MEASURED_IN, judge
from helpers.exercises.performance import check_send_concurrently, check_window
from tests.harness import NOTEBOOKS, Case

TRANSPORTS = [
    "NATS request-reply",
    "HTTP keep-alive, direct",
    "HTTP through a proxy hop",
    "HTTP, new connection per request",
]
CLAIMS = [
    "latency as low as 10 µs",
    "millions of messages per second",
    "request-reply faster than HTTP (one at a time)",
    "request-reply faster than HTTP (many in flight)",
    "each HTTP hop adds 10-50 ms",
    "JetStream at 50,000 transactions/s",
]


def beats(a, b, margin, lower_is_better=True):
    return a <= b * (1 - margin) if lower_is_better else b <= a * (1 - margin)


def reaches(measured, claimed, margin, lower_is_better=False):
    return measured <= claimed * (1 + margin) if lower_is_better else measured >= claimed * (1 - margin)


# Claims judged in two steps: (the number that must reach the figure, the one that may instead, the figure,
# lower is better)
TWO_STEP = {
    "latency as low as 10 µs": ("request_reply_p50_us", "raw_ping_p50_us", 10, True),
    "millions of messages per second": ("nats_py_msgs_per_s", "raw_wire_msgs_per_s", 1e6, False),
    "each HTTP hop adds 10-50 ms": ("proxy_hop_adds_us", "new_connection_adds_us", 10_000, False),
    "JetStream at 50,000 transactions/s": ("await_each_ack_per_s", "best_window_per_s", 50_000, False),
}


def expected_verdict(name, n, m):
    """The notebook's rule for each claim, written again: (verdict, or the start of a 'holds only when')."""
    if name in TWO_STEP:
        first, second, figure, lower = TWO_STEP[name]
        if reaches(n[first], figure, m, lower):
            return "holds"
        return "holds only when" if reaches(n[second], figure, m, lower) else "does not hold here"
    if name == "request-reply faster than HTTP (one at a time)":
        beaten = [k for k in TRANSPORTS[1:] if beats(n["nats_p50_us"], n[f"{k} p50_us"], m)]
        return "holds" if "HTTP keep-alive, direct" in beaten else "holds only when" if beaten else "does not hold here"
    if name == "request-reply faster than HTTP (many in flight)":
        return (
            "holds"
            if beats(n["nats_requests_per_s"], n["http_pool_requests_per_s"], m, False)
            else "does not hold here"
        )
    raise AssertionError(f"unknown claim {name!r}")


def check_measurements(run):
    p = run.params
    scale, rounds = p["scale"], p["rounds"]
    latency, counts = run["latency_us"], run["latency_sample_counts"]
    per_round = max(1, int(p["latency_requests"] * scale) // rounds)
    # (records come back with their keys sorted: compare as sets)
    assert set(latency) == set(TRANSPORTS) and set(counts) == set(TRANSPORTS)
    assert all(n == per_round * rounds for n in counts.values()), counts  # the parameters drive the counts
    for name, q in latency.items():
        assert list(q) == ["p50", "p90", "p99"] and 0 < q["p50"] <= q["p90"] <= q["p99"], (name, q)
    # keep-alive reused connections; "new connection per request" opened one per call (warm-ups included)
    stats, new_calls = run["http_server_stats"], run["http_new_connection_calls"]
    assert new_calls == (per_round + 5) * rounds
    assert stats["requests"] == 3 * new_calls  # direct, through the proxy, new connection: same count each
    assert new_calls < stats["connections"] <= new_calls + 2, stats  # + the direct client's, the proxy pool's
    ping = run["raw_ping_us"]
    assert 0 < ping["p50"] <= ping["p90"] <= ping["p99"]

    flight, in_flight = run["in_flight"], p["in_flight"]
    each = max(1, int(p["in_flight_requests"] * scale) // (rounds * in_flight))
    assert set(flight) == {"NATS, one connection", f"HTTP, pool of {in_flight}"}
    for name, row in flight.items():
        assert row["requests"] == each * in_flight * rounds and row["per_s"] > 0, (name, row)
    assert 1 <= run["pool_connections"] <= in_flight  # a pool, bounded by its limit

    rates = run["publish_rates"]
    assert set(rates) == {"nats-py", "raw wire"}
    assert all(set(r) == {str(s) for s in p["payload_sizes"]} and min(r.values()) > 0 for r in rates.values())
    fanout = run["fanout"]
    assert fanout["published"] == int(p["fanout_messages"] * scale) // 1000 * 1000
    assert fanout["received"] == fanout["published"]  # the subscriber's pending limit was raised: no loss
    js = run["jetstream_rates"]
    assert set(js) == {"await each ack"} | {f"publish_async, window {w}" for w in p["js_windows"]}
    assert all(v > 0 for v in js.values())
    stored = run["jetstream_acked_and_stored"]
    assert stored["acked"] == stored["stored"] > 0  # every ack is a stored message
    assert run["service_exit_codes"] == {"responder": 0, "subscriber": 0, "http": 0, "proxy": 0}


def check_claims(run):
    """Structure, then: each claim's numbers are this run's measurements, and its verdict follows from them."""
    claims, margin = run["claims"], run["margin"]
    assert margin == run.params["margin"]
    assert [c["claim"] for c in claims] == CLAIMS
    for c in claims:
        assert {"claim", "story", "measured", "verdict", "why", "numbers"} <= set(c), c
        assert c["measured"] and c["why"] and c["story"], c
        v = c["verdict"]
        assert v in ("holds", "does not hold here") or v.startswith("holds only when "), c
        assert v.startswith(expected_verdict(c["claim"], c["numbers"], margin)), (
            f"{c['claim']}: verdict {v!r} does not follow from {c['numbers']} with margin {margin}"
        )
    by = {c["claim"]: c["numbers"] for c in claims}
    p50 = {k: q["p50"] for k, q in run["latency_us"].items()}
    assert by[CLAIMS[0]] == {"request_reply_p50_us": p50[TRANSPORTS[0]], "raw_ping_p50_us": run["raw_ping_us"]["p50"]}
    rates = run["publish_rates"]
    assert by[CLAIMS[1]] == {
        "nats_py_msgs_per_s": rates["nats-py"]["128"],
        "raw_wire_msgs_per_s": rates["raw wire"]["128"],
        "pub_sub_received_per_s": run["fanout"]["received_per_s"],
    }
    assert by[CLAIMS[2]] == {"nats_p50_us": p50[TRANSPORTS[0]]} | {f"{k} p50_us": p50[k] for k in TRANSPORTS[1:]}
    flight, in_flight = run["in_flight"], run.params["in_flight"]
    assert by[CLAIMS[3]] == {
        "nats_requests_per_s": flight["NATS, one connection"]["per_s"],
        "http_pool_requests_per_s": flight[f"HTTP, pool of {in_flight}"]["per_s"],
        "in_flight": in_flight,
    }
    assert by[CLAIMS[4]]["proxy_hop_adds_us"] == pytest.approx(p50[TRANSPORTS[2]] - p50[TRANSPORTS[1]], abs=0.06)
    assert by[CLAIMS[4]]["new_connection_adds_us"] == pytest.approx(p50[TRANSPORTS[3]] - p50[TRANSPORTS[1]], abs=0.06)
    js = dict(run["jetstream_rates"])
    numbers = by[CLAIMS[5]]
    assert set(numbers) == {"await_each_ack_per_s", "best_window_per_s", "best_window"}
    assert numbers["await_each_ack_per_s"] == js.pop("await each ack")
    assert numbers["best_window_per_s"] == max(js.values()) == js[f"publish_async, window {numbers['best_window']}"]


def check(run):
    check_measurements(run)
    check_claims(run)


def test_the_verdict_rules_on_known_numbers():
    """The rules themselves, on numbers like those measured on this machine (nothing measured here)."""
    assert (
        expected_verdict(
            CLAIMS[2],
            {
                "nats_p50_us": 300,
                "HTTP keep-alive, direct p50_us": 224,
                "HTTP through a proxy hop p50_us": 605,
                "HTTP, new connection per request p50_us": 430,
            },
            0.2,
        )
        == "holds only when"
    )
    assert (
        expected_verdict(CLAIMS[1], {"nats_py_msgs_per_s": 750_000, "raw_wire_msgs_per_s": 6_300_000}, 0.2)
        == "holds only when"
    )
    assert (
        expected_verdict(CLAIMS[1], {"nats_py_msgs_per_s": 850_000, "raw_wire_msgs_per_s": 6_300_000}, 0.2) == "holds"
    )  # within the margin of a million
    assert (
        expected_verdict(CLAIMS[5], {"await_each_ack_per_s": 7_000, "best_window_per_s": 53_000}, 0.2)
        == "holds only when"
    )
    assert (
        expected_verdict(CLAIMS[4], {"proxy_hop_adds_us": 380, "new_connection_adds_us": 200}, 0.2)
        == "does not hold here"
    )


KNOWN = {  # measurements like those on this machine, in the shape the notebook's sections put in `measured`
    "latency_us": {
        k: {"p50": v, "p90": v * 1.5, "p99": v * 3} for k, v in zip(TRANSPORTS, (300, 224, 605, 430), strict=True)
    },
    "raw_ping_us": {"p50": 40.0, "p90": 60.0, "p99": 120.0},
    "publish_rates": {"nats-py": {128: 750_000}, "raw wire": {128: 6_300_000}},
    "fanout": {"received_per_s": 210_000},
    "in_flight": {"nats": {"per_s": 5_200}, "http pool": {"per_s": 3_100}, "size": 20},
    "jetstream_rates": {
        "await each ack": 7_000,
        "publish_async, window 16": 31_000,
        "publish_async, window 256": 53_000,
    },
}


def test_judge_follows_the_rules_and_names_the_section_a_claim_waits_for():
    """helpers.claims.judge, which the notebook's claims table calls, against the rules written again above;
    a claim whose numbers were not measured (its deep dive has not run) is not judged, and says where to go."""
    rows, not_yet = judge(KNOWN, 0.2)
    assert [r["claim"] for r in rows] == CLAIMS and not_yet == []
    for r in rows:
        assert r["verdict"].startswith(expected_verdict(r["claim"], r["numbers"], 0.2)), r
    core_only = {k: KNOWN[k] for k in ("latency_us", "jetstream_rates")}  # the core sections' measurements
    rows, not_yet = judge(core_only, 0.2)
    assert [r["claim"] for r in rows] == [CLAIMS[2], CLAIMS[4], CLAIMS[5]]
    assert len(not_yet) == 3 and all("first)" in s for s in not_yet), not_yet
    cells = json.loads((NOTEBOOKS / "12-performance.ipynb").read_text())["cells"]
    headings = {"".join(c["source"]).splitlines()[0][3:] for c in cells if "".join(c["source"]).startswith("## ")}
    assert set(MEASURED_IN.values()) <= headings, set(MEASURED_IN.values()) - headings


# Wrong answers for the checkers: each must be judged "wrong" with the phrase in its message.
async def one_at_a_time(nc, subject, payloads, in_flight):
    return [(await nc.request(subject, p, timeout=5)).data for p in payloads]


async def all_at_once(nc, subject, payloads, in_flight):
    import asyncio

    replies = await asyncio.gather(*(nc.request(subject, p, timeout=5) for p in payloads))
    return [r.data for r in replies]


async def in_completion_order(nc, subject, payloads, in_flight):
    import asyncio

    gate = asyncio.Semaphore(in_flight)

    async def one(p):
        async with gate:
            return (await nc.request(subject, p, timeout=5)).data

    return [await f for f in asyncio.as_completed([one(p) for p in payloads])][::-1]


async def keeps_the_template_return(nc, subject, payloads, in_flight):
    await nc.request(subject, payloads[0], timeout=5)
    return ...


CASE = Case(
    check=check,
    exercises=("window", "send_concurrently"),
    solutions=dict(
        latency_requests=300,
        rounds=3,
        in_flight=10,
        in_flight_requests=600,
        payload_sizes=[128, 4096],
        throughput_rounds=2,
        fanout_messages=20_000,
        js_windows=[32, 128],
        margin=0.25,
    ),
    budget=30,
    wrong_answers=(
        (check_window, 1, "the need is 3×"),
        (check_window, 1000, "more than the 200"),
        (check_window, 0, "at least 1"),
        (check_window, "64", "whole number"),
        (check_send_concurrently, one_at_a_time, "at most 1 request(s) in flight"),
        (check_send_concurrently, all_at_once, "at most in_flight=8"),
        (check_send_concurrently, in_completion_order, "not in the order of `payloads`"),
        (check_send_concurrently, keeps_the_template_return, "one reply per payload"),
    ),
)
