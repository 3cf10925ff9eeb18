"""Performance: its test entry (tests/test_notebooks.py runs it).

The figures are noisy on a shared machine, so nothing here asserts an absolute number. The entry checks
the structure of what the run recorded and its internal consistency: every claim's numbers are the numbers
the run measured, and every verdict is what helpers/claims.py's rules give for those numbers (the rules are
used, not written again; their behaviour on known numbers is tested below with expected verdicts as data).
"""

import asyncio
import time

import pytest

from helpers import claims
from helpers.exercises.performance import check_measure_window, check_send_concurrently, check_window
from tests.harness import Case

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
    "JetStream at 50,000 transactions/s (publishing only)",
]


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


def measured_from(run) -> dict:
    """What the notebook's sections put in `measured`, rebuilt from the run's records."""
    flight, size = run["in_flight"], run.params["in_flight"]
    return {
        "latency_us": run["latency_us"],
        "raw_ping_us": run["raw_ping_us"],
        "publish_rates": {who: {int(k): v for k, v in r.items()} for who, r in run["publish_rates"].items()},
        "in_flight": {
            "nats": flight["NATS, one connection"],
            "http pool": flight[f"HTTP, pool of {size}"],
            "size": size,
        },
        "jetstream_rates": run["jetstream_rates"],
    }


def check_claims(run):
    """Structure, then: the rules of helpers/claims.py, applied to this run's measurements, give exactly the
    rows the notebook recorded (numbers, comparisons, verdicts)."""
    recorded, margin = run["claims"], run["margin"]
    assert margin == run.params["margin"]
    assert [c["claim"] for c in recorded] == CLAIMS
    for c in recorded:
        assert set(c) == {"claim", "verdict", "numbers", "tests"}, c
        v = c["verdict"]
        assert v in ("holds", "does not hold here") or v.startswith("holds only when "), c
    rows, missing = claims.judge(measured_from(run), margin)
    assert missing == {}
    assert rows == recorded, "the recorded verdicts are not what the rules give for the run's numbers"
    p50 = {k: q["p50"] for k, q in run["latency_us"].items()}
    by = {c["claim"]: c["numbers"] for c in recorded}
    assert by[CLAIMS[0]]["request_reply_p50_us"] == p50[TRANSPORTS[0]]
    assert by[CLAIMS[4]]["proxy_hop_adds_us"] == pytest.approx(p50[TRANSPORTS[2]] - p50[TRANSPORTS[1]], abs=0.06)


def check(run):
    check_measurements(run)
    check_claims(run)


KNOWN = {  # measurements like those on this machine, in the shape the notebook's sections put in `measured`
    "latency_us": {
        k: {"p50": v, "p90": v * 1.5, "p99": v * 3} for k, v in zip(TRANSPORTS, (300, 224, 605, 430), strict=True)
    },
    "raw_ping_us": {"p50": 40.0, "p90": 60.0, "p99": 120.0},
    "publish_rates": {"nats-py": {128: 750_000}, "raw wire": {128: 6_300_000}},
    "in_flight": {"nats": {"per_s": 4_777}, "http pool": {"per_s": 5_367}, "size": 20},
    "jetstream_rates": {
        "await each ack": 7_000,
        "publish_async, window 16": 31_000,
        "publish_async, window 256": 53_000,
    },
}
EXPECTED = {  # the verdicts the rules must give for KNOWN with margin 0.2 (data, not a second copy of the rules)
    CLAIMS[0]: "does not hold here",
    CLAIMS[1]: "holds only when the publisher is the raw wire protocol",
    CLAIMS[2]: "holds only when HTTP goes through a proxy hop or opens a new connection per request",
    CLAIMS[3]: "does not hold here",  # 4,777 vs 5,367 req/s: the run refutes "one connection carries more"
    CLAIMS[4]: "does not hold here",
    CLAIMS[5]: "holds only when publishing with publish_async, window 256",
}


def test_the_rules_on_known_numbers():
    """helpers.claims, which the notebook's table calls, on numbers like those measured on this machine."""
    rows, missing = claims.judge(KNOWN, 0.2)
    assert missing == {}
    assert {r["claim"]: r["verdict"] for r in rows} == EXPECTED
    for r in rows:  # every comparison shown is one the verdict used, and agrees with it
        passed = [t[-1] for t in r["tests"]]
        assert (r["verdict"] == "does not hold here") == (not any(passed)), r
    assert (
        claims.judge(KNOWN | {"publish_rates": {"nats-py": {128: 850_000}, "raw wire": {128: 6e6}}}, 0.2)[0][1][
            "verdict"
        ]
        == "holds"
    )  # within the margin of a million


def test_a_claim_whose_section_has_not_run_names_the_measurement_it_needs():
    core_only = {k: KNOWN[k] for k in ("latency_us", "jetstream_rates")}  # the core sections' measurements
    rows, missing = claims.judge(core_only, 0.2)
    assert [r["claim"] for r in rows] == [CLAIMS[2], CLAIMS[4], CLAIMS[5]]
    assert missing == {"latency": "raw_ping_us", "millions": "publish_rates", "in_flight": "in_flight"}


# Wrong answers for the checkers: each must be judged "wrong" with the phrase in its message.
async def awaits_each_ack(js, subject, count, window):
    started = time.perf_counter()
    for _ in range(count):
        await js.publish(subject, b"order")
    return count / (time.perf_counter() - started)


async def ignores_the_window(js, subject, count, window):
    started = time.perf_counter()
    futures = [await js.publish_async(subject, b"order") for _ in range(count)]
    await asyncio.wait_for(asyncio.gather(*futures), 5)
    return count / (time.perf_counter() - started)


async def returns_seconds(js, subject, count, window):
    started = time.perf_counter()
    for first in range(0, count, window):
        futures = [await js.publish_async(subject, b"order") for _ in range(min(window, count - first))]
        await asyncio.wait_for(asyncio.gather(*futures), 5)
    return time.perf_counter() - started


async def stops_the_clock_early(js, subject, count, window):
    started = time.perf_counter()
    for first in range(0, count, window):
        futures = [await js.publish_async(subject, b"order") for _ in range(min(window, count - first))]
        if first + window < count:
            await asyncio.wait_for(asyncio.gather(*futures), 5)
    return count / (time.perf_counter() - started)  # the last window's acks are still on their way


async def sliding_window(js, subject, count, window):  # right too: a sliding window, not one after another
    gate, futures = asyncio.Semaphore(window), []
    started = time.perf_counter()
    for i in range(count):
        await gate.acquire()
        future = await js.publish_async(subject, b"order %d" % i)
        future.add_done_callback(lambda _: gate.release())
        futures.append(future)
    await asyncio.wait_for(asyncio.gather(*futures), 5)
    return count / (time.perf_counter() - started)


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
    exercises=("measure_window", "window", "send_concurrently"),
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
    right_answers=((check_measure_window, sliding_window),),
    wrong_answers=(
        (check_measure_window, awaits_each_ack, "publish_async was called 0 times (2000 awaited js.publish"),
        (check_measure_window, ignores_the_window, "acks were outstanding at once; the window is"),
        (check_measure_window, returns_seconds, "return messages per second"),
        (check_measure_window, stops_the_clock_early, "acks were still outstanding"),
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
