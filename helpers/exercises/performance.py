"""Checkers for Performance.

All three judge by running. `check_measure_window` runs the learner's measuring function against a fresh
stream of its own, watching every `publish_async` and ack, and judges what the stream stored, the window the
acks kept to, and the rate returned against its own clock. `check_window` publishes to a stream of its own
with the learner's window, side by side with awaiting each ack. `check_send_concurrently` runs the learner's
function against a responder of its own that counts how many requests it serves at once. Timing on a busy
machine is noisy, so the throughput judgement compares the two ways of publishing in alternating short pairs
and takes the median of the pairs' ratios: a burst of load from elsewhere slows both members of a pair.
"""

from __future__ import annotations

import asyncio
import statistics
import time
import uuid

import nats

from helpers.exercises.framework import Wrong, attempt, delete_if_exists, exercise, quiet

WINDOW_STREAM, WINDOW_SUBJECT = "PERFORMANCE_WINDOW", "performance.window.orders"
MEASURE_STREAM, MEASURE_SUBJECT = "PERFORMANCE_MEASURE", "performance.measure.orders"


async def _one_by_one(js, seconds: float, timeout: float, acks: list) -> float:
    sent, started = 0, time.perf_counter()
    while time.perf_counter() - started < seconds:
        acks.append(await js.publish(WINDOW_SUBJECT, b"order", timeout=timeout))
        sent += 1
    return sent / (time.perf_counter() - started)


async def _windowed(js, window: int, seconds: float, timeout: float, acks: list) -> float:
    """The notebook's js_windowed loop: `window` publish_async calls, then wait for all their acks."""
    sent, started = 0, time.perf_counter()
    while time.perf_counter() - started < seconds:
        futures = [await js.publish_async(WINDOW_SUBJECT, b"order") for _ in range(window)]
        acks.extend(await asyncio.wait_for(asyncio.gather(*futures), timeout))
        sent += window
    return sent / (time.perf_counter() - started)


@exercise(
    hints=(
        "two limits: how many orders may be unacknowledged at once (the resend buffer), and how much overlap "
        "the throughput need takes (the JetStream table: how fast is each window against awaiting each ack?).",
        "a whole number of orders, at most the 200 the resend buffer holds, and large enough to be 3x as fast "
        "as awaiting each ack: in the table, which windows were?",
    ),
    timeout=30.0,
)
async def check_window(
    answer,
    server,
    *,
    resend_buffer: int = 200,
    speedup: float = 3.0,
    pairs: int = 6,
    seconds: float = 0.08,
    timeout: float = 5.0,
):
    window = answer
    if isinstance(window, bool) or not isinstance(window, int):
        raise Wrong(f"`window` must be a whole number of orders, not {window!r}.")
    if window < 1:
        raise Wrong(f"a window of {window} never sends an order: it must be at least 1.")
    if window > resend_buffer:
        raise Wrong(
            f"a window of {window} leaves up to {window} orders unacknowledged, more than the "
            f"{resend_buffer} the resend buffer holds: after a failure some orders could not be resent."
        )
    nc = await nats.connect(server.url, name="performance.checker-window", error_cb=quiet)
    js = nc.jetstream()
    try:
        await delete_if_exists(js.delete_stream, WINDOW_STREAM)
        await js.add_stream(name=WINDOW_STREAM, subjects=[WINDOW_SUBJECT], storage="file")
        acks, ratios, rates = [], [], []
        for _ in range(pairs):  # alternate: a burst of load from elsewhere slows both members of a pair
            one = await _one_by_one(js, seconds, timeout, acks)
            rates.append(await _windowed(js, window, seconds, timeout, acks))
            ratios.append(rates[-1] / one)
        stored = (await js.stream_info(WINDOW_STREAM)).state.messages
        if stored != len(acks) or [ack.seq for ack in acks] != list(range(1, len(acks) + 1)):
            raise Wrong(
                f"{len(acks)} acks, but the stream stores {stored} messages: every ack must be one stored order."
            )
        ratio = statistics.median(ratios)
        if ratio < speedup:
            raise Wrong(
                f"with a window of {window}, orders were stored {ratio:.1f}× as fast as awaiting each ack "
                f"(median of {pairs} side-by-side pairs); the need is {speedup:g}×. A larger window lets "
                "more acks travel at once."
            )
        return (
            f"a window of {window}: {ratio:.1f}× as fast as awaiting each ack (median of {pairs} pairs, up to "
            f"{max(rates):,.0f} orders/s), never more than {window} of the {resend_buffer} orders the resend "
            f"buffer holds unacknowledged, and all {len(acks)} acks match stored messages."
        )
    finally:
        try:
            await delete_if_exists(js.delete_stream, WINDOW_STREAM)
        finally:
            await nc.close()


@exercise(
    hints=(
        "start one task per payload, and let a counter that allows in_flight at a time decide when each may send; "
        "collect the replies in the order of payloads.",
        "an asyncio.Semaphore(in_flight) around each nc.request(...), and asyncio.gather(...) over all payloads "
        "(it keeps their order).",
    ),
)
async def check_send_concurrently(
    answer, server, *, requests: int = 40, in_flight: int = 8, work: float = 0.02, timeout: float = 5.0
):
    subject = f"exercise.concurrent.{uuid.uuid4().hex[:8]}"
    service = await nats.connect(server.url, name="performance.checker-responder", error_cb=quiet)
    nc = await nats.connect(server.url, name="performance.checker-requester", error_cb=quiet)
    serving = {"now": 0, "most": 0, "served": 0}
    tasks = set()

    async def serve(msg):
        serving["now"] += 1
        serving["most"] = max(serving["most"], serving["now"])
        try:
            await asyncio.sleep(work)  # the responder's work: the reason to have several requests in flight
            await msg.respond(msg.data.upper())
            serving["served"] += 1
        finally:
            serving["now"] -= 1

    async def take(msg):  # a task per request, so that the responder can serve many at once
        task = asyncio.create_task(serve(msg))
        tasks.add(task)
        task.add_done_callback(tasks.discard)

    try:
        await service.subscribe(subject, cb=take)
        await service.request(subject, b"ready?", timeout=timeout)  # its own reply: the server has the SUB
        serving.update(most=0, served=0)
        payloads = [f"order-{i}".encode() for i in range(requests)]
        started = time.perf_counter()
        replies = await attempt(answer, nc, subject, payloads, in_flight, timeout=timeout + requests * work)
        took = time.perf_counter() - started
        if not isinstance(replies, list | tuple) or len(replies) != requests:
            raise Wrong(f"return a list with one reply per payload ({requests}), not {replies!r:.80}.")
        data = [getattr(r, "data", r) for r in replies]  # a Msg or its bytes
        if sorted(data, key=repr) == sorted((p.upper() for p in payloads), key=repr) and data != [
            p.upper() for p in payloads
        ]:
            raise Wrong("every reply came back, but not in the order of `payloads`: reply i must answer payload i.")
        if data != [p.upper() for p in payloads]:
            raise Wrong(
                f"reply 0 is {data[0]!r:.60}, expected {payloads[0].upper()!r}: return the replies' data, "
                "one per payload."
            )
        if serving["most"] > in_flight:
            raise Wrong(f"up to {serving['most']} requests were in flight at once; at most in_flight={in_flight}.")
        if serving["most"] < max(2, in_flight // 2):
            raise Wrong(
                f"at most {serving['most']} request(s) in flight at a time, when {in_flight} were allowed: "
                f"{requests} requests took {took:.2f} s."
            )
        return (
            f"{requests} replies in order, up to {serving['most']} in flight (allowed {in_flight}), "
            f"{took:.2f} s where one at a time takes at least {requests * work:.2f} s."
        )
    finally:
        await nc.close()
        await service.close()


class _Watched:
    """The learner's JetStream context, watched: every publish_async and the moment each ack completes, how
    many acks were outstanding at most, and every plain (awaited) publish. Everything else goes to the real one."""

    def __init__(self, js):
        self._js, self.futures, self.publishes = js, [], 0
        self.outstanding = self.most = 0
        self.first = self.last_ack = None

    async def publish_async(self, *args, **kwargs):
        if self.first is None:
            self.first = time.perf_counter()
        future = await self._js.publish_async(*args, **kwargs)
        self.outstanding += 1
        self.most = max(self.most, self.outstanding)
        future.add_done_callback(self._acked)
        self.futures.append(future)
        return future

    def _acked(self, future):
        self.outstanding -= 1
        self.last_ack = time.perf_counter()

    async def publish(self, *args, **kwargs):
        self.publishes += 1
        return await self._js.publish(*args, **kwargs)

    def __getattr__(self, name):
        return getattr(self._js, name)


@exercise(
    hints=(
        "js.publish_async returns a future for each message's ack at once: send `window` of them, then wait "
        "for those futures before the next window; time everything with time.perf_counter().",
        "a loop over range(0, count, window): in it, a list of publish_async futures, then one await on all of "
        "them (asyncio.gather inside asyncio.wait_for, for a timeout); the rate is count divided by the seconds "
        "from before the loop to after it.",
    ),
    timeout=30.0,
)
async def check_measure_window(answer, server, *, count: int = 2000, window: int = 64, timeout: float = 5.0):
    nc = await nats.connect(server.url, name="performance.checker-measure", error_cb=quiet)
    js = nc.jetstream(timeout=timeout)
    try:
        await delete_if_exists(js.delete_stream, MEASURE_STREAM)
        await js.add_stream(name=MEASURE_STREAM, subjects=[MEASURE_SUBJECT], storage="file")
        watched = _Watched(js)
        started = time.perf_counter()
        rate = await attempt(answer, watched, MEASURE_SUBJECT, count, window, timeout=20.0)
        around = time.perf_counter() - started
        unacked = sum(not f.done() for f in watched.futures)
        if watched.futures:  # what was sent arrives anyway: judge the stream on everything
            await asyncio.wait(watched.futures, timeout=timeout)
        state = (await js.stream_info(MEASURE_STREAM)).state
        return _judge_measurement(rate, watched, state, unacked, around, count, window)
    finally:
        try:
            await delete_if_exists(js.delete_stream, MEASURE_STREAM)
        finally:
            await nc.close()


def _judge_measurement(rate, watched, state, unacked, around, count, window) -> str:
    if not watched.futures:
        raise Wrong(
            f"the stream stored {state.messages} messages, but publish_async was called 0 times "
            f"({watched.publishes} awaited js.publish calls, each waiting for its ack before the next left): "
            "send with js.publish_async and wait for the acks window by window."
        )
    if state.messages != count or state.last_seq != count:
        raise Wrong(
            f"the stream stored {state.messages} messages (last sequence {state.last_seq}) for count={count}: "
            f"publish exactly {count} messages, once each."
        )
    if unacked:
        raise Wrong(
            f"your function returned while {unacked} of the {count} acks were still outstanding: wait for "
            "every window's acks before you stop the clock."
        )
    if watched.most > window:
        raise Wrong(
            f"up to {watched.most} acks were outstanding at once; the window is {window}: wait for a window's "
            "acks before you send the next window."
        )
    if watched.most < max(2, window // 2):
        raise Wrong(
            f"at most {watched.most} ack(s) were outstanding at a time, where window={window} allowed "
            f"{window}: send a whole window before you wait."
        )
    span = (watched.last_ack or watched.first) - watched.first
    if isinstance(rate, bool) or not isinstance(rate, int | float):
        raise Wrong(f"return the rate, a number of messages per second; not {rate!r:.60}.")
    slowest, fastest = 0.8 * count / around, 1.25 * count / max(span, 1e-6)
    if not slowest <= rate <= fastest:
        raise Wrong(
            f"you returned {rate:,.1f}; the checker's clock saw {count} messages acknowledged in {span:.3f} s "
            f"({count / span:,.0f} messages/s) from the first publish to the last ack: return messages per "
            "second over that time."
        )
    return (
        f"the stream stored all {count} messages once each, never more than {watched.most} acks outstanding "
        f"(window {window}), and your {rate:,.0f} messages/s agrees with the checker's clock "
        f"({count / span:,.0f}/s from the first publish to the last ack)."
    )
