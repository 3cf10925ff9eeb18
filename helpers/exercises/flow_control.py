"""Checkers for Flow control and backpressure.

Each checker makes its own stream (`FLOW_CONTROL_EX_WORKER`, `FLOW_CONTROL_EX_IMAGES`), runs the learner's
answer against it on the real server, asks the server what happened (consumer info; the acknowledgements
and progress reports it received, watched on `$JS.ACK.>`), and deletes the stream again. Their connections
have an `error_cb`, so a wrong answer shows the verdict and nothing else.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import json
import time
from collections import defaultdict

import nats
from nats.js.api import AckPolicy, ConsumerConfig
from nats.js.errors import BadRequestError

from helpers.exercises.framework import Wrong, attempt, delete_if_exists, exercise, quiet

WORKER_STREAM, WORKER_SUBJECT, WORKER_CONSUMER = "FLOW_CONTROL_EX_WORKER", "flow-control.ex.worker", "worker"
WORKER_JOBS = {"job-1": 1, "job-2": 5, "job-3": 2}  # job id -> steps
# job-2 takes 1.5 s: longer than ack_wait. The margins are wide because a busy machine delays the worker between
# the server's delivery and the first progress report (at 0.5 s and 0.15 s steps a right answer was redelivered).
STEP_SECONDS, WORKER_ACK_WAIT = 0.3, 1.0
WORKER_TIME_LIMIT = 10.0

IMAGES_STREAM, IMAGES_SUBJECT, IMAGES_CONSUMER = "FLOW_CONTROL_EX_IMAGES", "flow-control.ex.images", "images"
IMAGES, IN_FLIGHT, WORK_SECONDS, MAX_DELIVERIES, LAST_WITHIN = 4, 2, 0.2, 3, 1.0
TOLERANCE = 0.1  # seconds a measured delivery may come after its configured time (server timer, this loop)


@contextlib.asynccontextmanager
async def _connection(server, timeout: float = 5.0):
    """The checker's own connection (it also watches the acks the server receives): quiet, like framework.jetstream."""
    nc = await nats.connect(
        server.url, name="flow-control.checker", connect_timeout=timeout, error_cb=quiet, allow_reconnect=False
    )
    try:
        yield nc
    finally:
        await nc.close()


def _ack_subject(subject: str) -> tuple[str, int, int] | None:
    """(stream, stream sequence, delivery number) from a `$JS.ACK...` reply subject (both formats)."""
    tokens = subject.split(".")
    try:
        if len(tokens) == 9:  # $JS.ACK.<stream>.<consumer>.<delivered>.<sseq>.<cseq>.<time>.<pending>
            return tokens[2], int(tokens[5]), int(tokens[4])
        if len(tokens) >= 12:  # $JS.ACK.<domain>.<account>.<stream>.<consumer>.<delivered>.<sseq>...
            return tokens[4], int(tokens[7]), int(tokens[6])
    except ValueError:
        return None
    return None


def _kind(payload: bytes) -> str:
    if payload in (b"", b"+ACK") or payload.startswith(b"+NXT"):
        return "+ACK"
    return payload.split(b" ", 1)[0].decode(errors="replace")  # +WPI, -NAK, +TERM


class _Watched:
    """The learner's pull subscription: `fetch` is the real one, and the checker notes each delivery."""

    def __init__(self, psub, job_of, deliveries, clock):
        self._psub, self._job_of, self._deliveries, self._clock = psub, job_of, deliveries, clock

    async def fetch(self, *args, **kwargs):
        msgs = await self._psub.fetch(*args, **kwargs)
        for msg in msgs:
            meta = msg.metadata
            self._deliveries.append((self._clock(), self._job_of.get(meta.sequence.stream), meta.num_delivered))
        return msgs

    def __getattr__(self, name):
        return getattr(self._psub, name)


@exercise(
    hints=(
        "Fetch in a bounded loop with a short timeout and stop when nothing comes. For each job run its steps, "
        "and between steps tell the server you are still working; acknowledge only at the end.",
        "One job at a time: `msgs = await psub.fetch(1, timeout=0.3)` (a TimeoutError means nothing is left), "
        "`job = json.loads(msgs[0].data)`, then for each step `await step(job)` and `await msgs[0].in_progress()`, "
        "then `await msgs[0].ack()`.",
    ),
    timeout=WORKER_TIME_LIMIT + 5,
)
async def check_worker(answer, server):
    async with _connection(server) as nc:
        return await _worker(answer, nc, nc.jetstream(timeout=5))


async def _worker(answer, nc, js):
    await delete_if_exists(js.delete_stream, WORKER_STREAM)
    await js.add_stream(name=WORKER_STREAM, subjects=[WORKER_SUBJECT])
    job_of = {}
    for job_id, steps in WORKER_JOBS.items():
        job_of[(await js.publish(WORKER_SUBJECT, json.dumps({"id": job_id, "steps": steps}).encode())).seq] = job_id
    await js.add_consumer(
        WORKER_STREAM, ConsumerConfig(durable_name=WORKER_CONSUMER, ack_wait=WORKER_ACK_WAIT, max_deliver=10)
    )
    started = time.monotonic()

    def clock():
        return time.monotonic() - started

    heard, deliveries, steps_done, bad_steps = [], [], defaultdict(list), []

    async def on_ack(msg):  # what the server receives from the worker: +ACK, +WPI, -NAK, +TERM
        parsed = _ack_subject(msg.subject)
        if parsed and parsed[0] == WORKER_STREAM:
            heard.append((clock(), job_of.get(parsed[1]), _kind(msg.data)))

    async def step(job):
        if not isinstance(job, dict) or job.get("id") not in WORKER_JOBS:
            bad_steps.append(job)
            return
        await asyncio.sleep(STEP_SECONDS)
        steps_done[job["id"]].append(clock())

    watch = await nc.subscribe("$JS.ACK.>", cb=on_ack)
    psub = await js.pull_subscribe_bind(WORKER_CONSUMER, stream=WORKER_STREAM)
    try:
        await nc.flush()
        try:
            result = await attempt(answer, _Watched(psub, job_of, deliveries, clock), step, timeout=WORKER_TIME_LIMIT)
        except TimeoutError as e:
            if clock() > WORKER_TIME_LIMIT - 0.5:
                raise Wrong(
                    f"it did not finish within {WORKER_TIME_LIMIT:.0f} s. Does your loop stop when a fetch comes "
                    "back empty (TimeoutError or [])? Is it bounded?"
                ) from None
            raise Wrong(
                f"your code let {type(e).__module__}.{type(e).__name__} escape: an empty fetch raises it. Catch "
                "TimeoutError (nats.errors.TimeoutError is one) and stop there: nothing is left."
            ) from None
        await nc.flush()  # the server has routed every ack sent before it to the watcher
        deadline = time.monotonic() + 2.0
        while watch.pending_msgs and time.monotonic() < deadline:  # ...and the watcher has read them
            await asyncio.sleep(0.01)
        info = await js.consumer_info(WORKER_STREAM, WORKER_CONSUMER)
    finally:
        await watch.unsubscribe()
        with contextlib.suppress(nats.errors.BadSubscriptionError):  # the learner's code may have done it
            await psub.unsubscribe()
        await delete_if_exists(js.delete_stream, WORKER_STREAM)
    return _judge_worker(result, info, heard, deliveries, steps_done, bad_steps)


def _judge_worker(result, info, heard, deliveries, steps_done, bad_steps) -> str:
    if bad_steps:
        raise Wrong(f"step() was given {bad_steps[0]!r}: pass it the job, `json.loads(msg.data)`.")
    fetched = {job for _, job, _ in deliveries}
    missing = [job for job in WORKER_JOBS if job not in fetched]
    if missing:
        raise Wrong(
            f"{len(missing)} of {len(WORKER_JOBS)} jobs were never fetched ({', '.join(missing)}; the server "
            f"shows num_pending={info.num_pending}): keep fetching until a fetch comes back empty."
        )
    for job, steps in WORKER_JOBS.items():
        if len(steps_done[job]) < steps:
            raise Wrong(
                f"{job} has {steps} steps ({job}'s 'steps' field) and your worker ran {len(steps_done[job])} of "
                "them: `await step(job)` job['steps'] times."
            )
    acked = {}
    for at, job, kind in heard:
        if kind == "+ACK" and job not in acked:
            acked[job] = at
    for job, steps in WORKER_JOBS.items():
        if job in acked and acked[job] < steps_done[job][steps - 1]:
            done = sum(t <= acked[job] for t in steps_done[job])
            raise Wrong(
                f"the server got the ack for {job} before its work was done ({done} of {steps} steps): acknowledge "
                "when the work is done (a crash in between would lose the job, and the server would never resend it)."
            )
    unacked = [job for job in WORKER_JOBS if job not in acked]
    if unacked:
        others = sorted({kind for _, job, kind in heard if job in unacked})
        raise Wrong(
            f"the server got no ack for {', '.join(unacked)} (num_ack_pending={info.num_ack_pending}"
            + (f"; it heard {', '.join(others)}" if others else "")
            + "): call `await msg.ack()` when a job is done."
        )
    for job in WORKER_JOBS:
        delivered_at = min(at for at, j, _ in deliveries if j == job)
        said = [at for at, j, kind in heard if j == job and kind in ("+WPI", "+ACK") and at <= acked[job]]
        points = [delivered_at, *sorted(said)]
        gaps = [(b - a, a) for a, b in zip(points, points[1:], strict=False)]
        silence, since = max(gaps)
        if silence > WORKER_ACK_WAIT:
            if min(steps_done[job]) - delivered_at > WORKER_ACK_WAIT and since == delivered_at:
                raise Wrong(
                    f"{job} waited {min(steps_done[job]) - delivered_at:.2f} s in your hands before you started it, "
                    f"and the server heard nothing about it (ack_wait is {WORKER_ACK_WAIT} s): the server counts it "
                    "as lost and gives it to the next worker that fetches. Fetch one job at a time when jobs are "
                    "long (or report progress on every job you hold)."
                )
            reports = sum(1 for _, j, kind in heard if j == job and kind == "+WPI")
            raise Wrong(
                f"the server heard nothing about {job} for {silence:.2f} s while you worked on it ({reports} progress "
                f"reports, +WPI, in all), and ack_wait is {WORKER_ACK_WAIT} s: the server counts it as lost and hands "
                f"it to the next worker that fetches, and the work is done twice: tell the server you are still at it."
            )
        times = [at for at, j, _ in deliveries if j == job]
        if len(times) > 1:
            raise Wrong(f"the server delivered {job} {len(times)} times: it was redelivered while your worker had it.")
    if info.delivered.consumer_seq > len(WORKER_JOBS):
        raise Wrong(
            f"the server made {info.delivered.consumer_seq} deliveries for {len(WORKER_JOBS)} jobs: "
            "a job was redelivered while your worker had it."
        )
    if not isinstance(result, list) or sorted(map(str, result)) != sorted(WORKER_JOBS):
        raise Wrong(f"you returned {result!r}; return the ids of the jobs you finished: {sorted(WORKER_JOBS)}.")
    reports = sum(1 for _, job, kind in heard if job == "job-2" and kind == "+WPI")
    return (
        f"All {len(WORKER_JOBS)} jobs done and acknowledged, each once and after its last step; job-2 "
        f"({WORKER_JOBS['job-2'] * STEP_SECONDS:.2f} s of work, ack_wait {WORKER_ACK_WAIT} s) was delivered once: "
        f"the server heard {reports} progress reports for it."
    )


@exercise(
    hints=(
        "Three settings: one limits how many images are unacknowledged at once, one lists the waits before each "
        "redelivery, one caps the deliveries. The first wait must be at least 0.2 s; the waits add up to the time of "
        "the last delivery.",
        "ConsumerConfig(max_ack_pending=..., backoff=[first, second], max_deliver=...): two growing waits, the "
        "first at least 0.2 s, together at most 1 s; max_deliver counts every delivery, the first one included.",
    ),
    timeout=10.0,
)
async def check_images_config(answer, server):
    if not isinstance(answer, ConsumerConfig):
        raise Wrong(f"answer with a nats.js.api.ConsumerConfig(...), not {type(answer).__name__}.")
    async with _connection(server) as nc:
        return await _images(answer, nc.jetstream(timeout=5))


async def _images(answer, js):
    # a copy with the checker's name and subject: the learner's object stays as it was; pull, not push
    config = dataclasses.replace(
        answer, durable_name=IMAGES_CONSUMER, name=None, filter_subject=IMAGES_SUBJECT, deliver_subject=None
    )
    await delete_if_exists(js.delete_stream, IMAGES_STREAM)
    await js.add_stream(name=IMAGES_STREAM, subjects=[IMAGES_SUBJECT])
    try:
        for n in range(1, IMAGES + 1):
            await js.publish(IMAGES_SUBJECT, f"image-{n}".encode())
        try:
            info = await js.add_consumer(IMAGES_STREAM, config)
        except BadRequestError as e:
            note = " (it accepts as many deliveries as waits, not fewer)" if "backoff" in str(e.description) else ""
            raise Wrong(f"the server refused this consumer: {e.description}{note}.") from None
        if info.config.ack_policy != AckPolicy.EXPLICIT:
            raise Wrong(
                f"ack_policy is {info.config.ack_policy}: each image is acknowledged on its own, and only then "
                "does the server redeliver what is not: AckPolicy.EXPLICIT (the default)."
            )
        psub = await js.pull_subscribe_bind(IMAGES_CONSUMER, stream=IMAGES_STREAM)
        try:
            deliveries = await _watch_deliveries(psub, LAST_WITHIN + 2 * TOLERANCE)
        finally:
            await psub.unsubscribe()
    finally:
        await delete_if_exists(js.delete_stream, IMAGES_STREAM)
    return _judge_images(info, deliveries)


async def _watch_deliveries(psub, window: float) -> list[tuple[float, int, int]]:
    """(seconds, stream sequence, delivery number) of every delivery within `window`; nothing acknowledged."""
    seen, started = [], time.monotonic()
    while time.monotonic() - started < window:
        try:
            msgs = await psub.fetch(1, timeout=0.1)  # batch 1: it returns the moment a message arrives
        except TimeoutError:
            if len({seq for _, seq, _ in seen}) != IN_FLIGHT:
                return seen  # the first round already shows the wrong limit: no need to wait for redeliveries
            continue
        for msg in msgs:
            seen.append((time.monotonic() - started, msg.metadata.sequence.stream, msg.metadata.num_delivered))
    return seen


def _judge_images(info, deliveries) -> str:
    redeliveries = [at for at, _, n in deliveries if n > 1]
    first_round = {seq for at, seq, n in deliveries if n == 1 and (not redeliveries or at < redeliveries[0])}
    limit = info.config.max_ack_pending
    if len(first_round) != IN_FLIGHT:
        raise Wrong(
            f"the server handed out {len(first_round)} image{'s' if len(first_round) != 1 else ''} at once to a "
            "worker that acknowledged none "
            f"(max_ack_pending={limit}): a worker holds {IN_FLIGHT} images, no more and no fewer."
        )
    times = [at for at, seq, _ in deliveries if seq == 1]
    if len(times) < 2:
        raise Wrong(
            f"image-1 was delivered once in {LAST_WITHIN + 2 * TOLERANCE:.1f} s (ack_wait={info.config.ack_wait} s, "
            f"backoff={info.config.backoff}): a failing image must be retried, the last time within {LAST_WITHIN} s."
        )
    first_wait = times[1] - times[0]
    if first_wait < WORK_SECONDS - 0.02:  # a wait of exactly 0.2 s is allowed; the clock here is the client's
        raise Wrong(
            f"the server redelivered image-1 after {first_wait:.2f} s, and an image can take {WORK_SECONDS} s: a slow "
            f"image would be done twice. The first wait must be at least {WORK_SECONDS} s."
        )
    if info.config.max_deliver != MAX_DELIVERIES:
        raise Wrong(
            f"the server's consumer has max_deliver={info.config.max_deliver} (-1: no limit): image-1 was delivered "
            f"{len(times)} times so far and would go on; the service wants {MAX_DELIVERIES} deliveries at most."
        )
    if len(times) < MAX_DELIVERIES or times[2] - times[0] > LAST_WITHIN + TOLERANCE:
        last = f"came {times[2] - times[0]:.2f} s after the first" if len(times) > 2 else "had not come"
        waits = ", ".join(f"{b - a:.2f} s" for a, b in zip(times, times[1:], strict=False))
        raise Wrong(
            f"image-1's waits were {waits} and its third "
            f"delivery {last}: the last delivery must come within {LAST_WITHIN} s of the first. Shorten the waits."
        )
    second_wait = times[2] - times[1]
    if second_wait <= first_wait + 0.05:
        raise Wrong(
            f"the server waited {first_wait:.2f} s and then {second_wait:.2f} s before redelivering image-1: the "
            "retries must back off (each wait longer than the one before): that is what `backoff` is for."
        )
    return (
        f"The server handed out {IN_FLIGHT} images at once, redelivered image-1 after {first_wait:.2f} s and then "
        f"{second_wait:.2f} s, and stopped at {MAX_DELIVERIES} deliveries, the last {times[2] - times[0]:.2f} s after "
        "the first."
    )
