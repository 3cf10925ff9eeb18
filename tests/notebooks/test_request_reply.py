"""Notebook 02 · Request-reply: its test entry (tests/test_notebooks.py runs it), and the latency helpers
against known numbers."""

import json
import re

import matplotlib
import nats
import pytest

from helpers import latency
from helpers.exercises.request_reply import STOCK, check_ask_stock, check_gather_plan, check_reserve
from tests.harness import Case

matplotlib.use("Agg")

# services/inventory_responder.py's STOCK; kiwi is not stocked
INVENTORY = {"apple": 12, "pear": 0, "plum": 7, "kiwi": 0}
CEILING_US = 50_000  # 50 ms: far above any loopback request, even on a busy 2-core machine


def check_latency(percentiles: dict, name: str):
    assert list(percentiles) == ["p50", "p90", "p99"], name
    p50, p90, p99 = percentiles.values()
    assert 0 < p50 <= p90 <= p99 < CEILING_US, f"{name}: {percentiles}"
    assert p50 < 5_000, f"{name}: a median of {p50} µs on loopback means something is wrong"


def check(r):
    samples, label = r.params["latency_requests"], r.name
    assert r["latency_sample_counts"] == {"nats": samples, "http": samples}  # the parameter counts
    assert r["inventory_replies"] == INVENTORY, label
    assert r["answered_by_service_process"] is True, label
    assert r["service_exit_code"] == 0, label  # SIGTERM: drained and exited cleanly
    # one inbox prefix for every request, and exactly one (wildcard) subscription on the requester
    [prefix] = r["reply_subject_prefixes"]
    assert re.fullmatch(r"_INBOX\.[A-Za-z0-9]{22}", prefix), prefix
    assert r["requester_subscriptions"] == [prefix + ".*"], label
    assert r["burst_replies"] == 50, label
    assert r["by_hand_in_stock"] == 7, label
    # no responders: the error, at once, and nowhere near the request timeout
    assert r["no_responders_error"] == "NoRespondersError", label
    assert r["no_responders_request_timeout"] == 0.5, label
    assert 0 < r["no_responders_seconds"] < 0.1, r["no_responders_seconds"]
    # a request right after subscribe(): never overtaken after one flush() (without: timing decides)
    race, tries = r["false_no_responders"], r.params["race_tries"]
    assert list(race) == ["subscribe", "subscribe, busy", "subscribe, flush, busy"], race
    assert race["subscribe, flush, busy"] == 0, race  # flush() before "ready" (nats-py patched): the server has the SUB
    assert race["subscribe, busy"] > tries // 2, race  # the SUB waited in the buffer behind blocking work
    assert 0 <= race["subscribe"] <= tries, race  # timing decides
    # slow responder (0.3 s): gives up after its 0.1 s timeout; the responder did both jobs anyway
    assert r["timeout_raised"] == "nats.errors.TimeoutError", label
    assert 0.095 <= r["timeout_gave_up_seconds"] < 0.25, r["timeout_gave_up_seconds"]
    assert 0.29 <= r["slow_reply_seconds"] < 0.9, r["slow_reply_seconds"]
    assert r["slow_responder_handled"] == 2, label
    # scatter-gather: berlin (0 s) and paris (0.05 s) beat the 0.25 s deadline, oslo (0.5 s) does not
    assert r["scatter_gather_reply_count"] == 2, label
    assert r["scatter_gather_warehouses"] == ["berlin", "paris"], label
    assert 0.24 <= r["scatter_gather_seconds"] < 0.45, r["scatter_gather_seconds"]
    assert r["scatter_gather_counts"] == {"deadline": 2, "count=1": 1, "nobody": 0}, label
    # latency: sane, ordered percentiles; HTTP really reused one keep-alive connection
    check_latency(r["latency_nats_us"], f"NATS ({label})")
    check_latency(r["latency_http_us"], f"HTTP ({label})")
    assert r["http_keepalive_connections"] == 1, label


# Answers for the checkers: wrong ones must be judged "wrong" with the phrase in the message, right ones "correct".
async def reference_ask(nc, subject, sku, timeout):
    try:
        reply = await nc.request(subject, sku.encode(), timeout=timeout)
    except nats.errors.NoRespondersError:
        return "no responders"
    except nats.errors.TimeoutError:
        return "timeout"
    return json.loads(reply.data)["in_stock"]


async def builtin_timeout(nc, subject, sku, timeout):  # nats.errors.TimeoutError is a TimeoutError too
    try:
        reply = await nc.request(subject, sku.encode(), timeout=timeout)
    except nats.errors.NoRespondersError:
        return "no responders"
    except TimeoutError:
        return "timeout"
    return json.loads(reply.data)["in_stock"]


async def whole_reply(nc, subject, sku, timeout):
    return json.loads((await nc.request(subject, sku.encode(), timeout=timeout)).data)


async def everything_is_a_timeout(nc, subject, sku, timeout):
    try:
        return json.loads((await nc.request(subject, sku.encode(), timeout=timeout)).data)["in_stock"]
    except Exception:
        return "timeout"


async def no_timeout_handling(nc, subject, sku, timeout):
    try:
        return json.loads((await nc.request(subject, sku.encode(), timeout=timeout)).data)["in_stock"]
    except nats.errors.NoRespondersError:
        return "no responders"


async def forgets_no_responders(nc, subject, sku, timeout):
    try:
        return json.loads((await nc.request(subject, sku.encode(), timeout=timeout)).data)["in_stock"]
    except nats.errors.TimeoutError:
        return "timeout"


async def always_yes(msg):
    await msg.respond(json.dumps({"sku": msg.data.decode(), "reserved": True}).encode())


async def plain_text(msg):
    await msg.respond(b"yes")


async def silent(msg):
    return None


async def right_reserve(msg):
    sku = msg.data.decode()
    await msg.respond(json.dumps({"sku": sku, "reserved": STOCK.get(sku, 0) > 0}).encode())


async def reserve_keeps_the_last_line(msg):  # the template's `return ...` stays: judged on what it did
    sku = msg.data.decode()
    await msg.respond(json.dumps({"sku": sku, "reserved": STOCK.get(sku, 0) > 0}).encode())
    return ...


CASE = Case(
    check=check,
    exercises=("ask_stock", "reserve", "gather_plan"),
    solutions=dict(latency_requests=400, race_tries=20),
    budget=10,
    wrong_answers=(
        (check_ask_stock, whole_reply, "in_stock"),
        (check_ask_stock, everything_is_a_timeout, "the server answered at once with 'no responders'"),
        (check_ask_stock, no_timeout_handling, "TimeoutError escaped"),
        (check_ask_stock, forgets_no_responders, "NoRespondersError escaped"),
        (check_reserve, always_yes, "should be"),
        (check_reserve, plain_text, "not JSON"),
        (check_reserve, silent, "msg.respond"),
        (check_gather_plan, {"max_replies": 10, "deadline": 0.45}, "stop at a count"),
        (check_gather_plan, {"max_replies": 2, "deadline": 0.45}, "the page wants 3"),
        (check_gather_plan, {"max_replies": 3, "deadline": 1.0}, "over its 0.5 s budget"),
        (check_gather_plan, {"max_replies": 3, "deadline": 0.2}, "only alpha"),
        (check_gather_plan, {"max_replies": 3}, "gather_plan should be a dict"),
    ),
    right_answers=(
        (check_ask_stock, reference_ask),
        (check_ask_stock, builtin_timeout),
        (check_reserve, right_reserve),
        (check_reserve, reserve_keeps_the_last_line),
        (check_gather_plan, {"max_replies": 3, "deadline": 0.45}),
        (check_gather_plan, {"max_replies": 3, "deadline": 0.4}),
    ),
)


async def test_latency_helpers_on_known_numbers():
    samples = [i / 1e6 for i in range(1, 101)]  # 1..100 µs
    assert latency.percentiles(samples) == {"p50": 50.5, "p90": 90.1, "p99": 99.0}
    table = latency.summary({"a": samples, "b": samples[:10]})
    assert table.loc["a", "n"] == 100 and table.loc["b", "n"] == 10
    assert table.loc["a", "max (µs)"] == 100.0
    with pytest.raises(ValueError):
        latency.percentiles([])

    calls = []

    async def call():
        calls.append(1)

    measured = await latency.measure(call, n=7, warmup=3)
    assert len(measured) == 7 and len(calls) == 10 and all(s > 0 for s in measured)
    figure = latency.histograms({"a": samples, "b": samples[:10]})
    assert len(figure.axes) == 2
