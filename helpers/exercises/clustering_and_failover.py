"""Checkers for notebook 11 · Clustering and failover.

Both judge the learner's answer against a running 3-node cluster: the notebook's (`cluster=cluster`),
or a private one the checker starts and stops when none is given (the tests pass a single server).
`server`, the learner's course server, is not used: one server cannot show a failover.
"""

from __future__ import annotations

import asyncio
import contextlib
import time

import nats
import nats.errors
from nats.js.api import PubAck
from nats.js.errors import BadRequestError, NoStreamResponseError

from helpers.cluster import Cluster
from helpers.exercises.framework import Wrong, attempt, delete_if_exists, exercise

RETRY_STREAM, RETRY_SUBJECT = "NB11_EX_RETRY", "nb11.ex1.payments"
PLAN_STREAM, PLAN_SUBJECT, BURST_SUBJECT = "NB11_EX_PAYMENTS", "nb11.ex2.payments", "nb11.ex2.burst"
OWN_TIMEOUT = 10.0  # seconds for the checkers' own JetStream calls: a cluster that elects a leader answers late
NOT_THE_CHECKERS = ("servers", "dont_randomize", "disconnected_cb", "reconnected_cb", "error_cb", "closed_cb")


@contextlib.asynccontextmanager
async def _a_cluster(cluster):
    """The given cluster, or a private one for the duration of the check."""
    if cluster is not None:
        yield cluster
        return
    private = await asyncio.to_thread(Cluster().start)
    try:
        yield private
    finally:
        await asyncio.to_thread(private.stop)


async def _quiet(error):  # frozen and crashed nodes cause connection errors: expected here
    pass


class _Election:
    """A JetStream context whose publishes fail as they do during a leader election, on cue.

    It forwards to the real one, except: the first attempt at payment 2 gets no responder (no leader
    yet), and the first attempt at payment 5 is stored but its ack is lost (a timeout)."""

    def __init__(self, js, *, no_leader=2, lost_ack=5):
        self._js, self._cues, self.attempts = js, {no_leader: "no leader", lost_ack: "lost ack"}, {}

    async def publish(self, subject, payload=b"", *args, **kwargs):
        payment = int(payload.decode().rsplit(" ", 1)[-1]) if payload[:8] == b"payment " else None
        self.attempts[payment] = self.attempts.get(payment, 0) + 1
        cue = self._cues.get(payment) if self.attempts[payment] == 1 else None
        if cue == "no leader":
            raise NoStreamResponseError
        ack = await self._js.publish(subject, payload, *args, **kwargs)
        if cue == "lost ack":
            raise nats.errors.TimeoutError
        return ack

    def __getattr__(self, name):
        return getattr(self._js, name)


@exercise(
    hint="loop until time.monotonic() passes a deadline `give_up` seconds away: try "
    "js.publish(subject, data, headers={'Nats-Msg-Id': msg_id}, timeout=...) and return its ack; "
    "on NoStreamResponseError or nats.errors.TimeoutError back off briefly and try again; past the "
    "deadline, raise.",
    timeout=60,
)
async def check_publish_with_retry(
    answer, server, *, cluster=None, payments: int = 8, give_up: float = 5.0, give_up_short: float = 0.3
):
    async with _a_cluster(cluster) as c:
        nc = await nats.connect(servers=c.urls, name="11-checker.publish_with_retry", error_cb=_quiet)
        js = nc.jetstream(timeout=2)  # what the learner's function gets
        own = nc.jetstream(timeout=OWN_TIMEOUT)  # the checker's own calls, while the cluster may be electing
        try:
            await delete_if_exists(own.delete_stream, RETRY_STREAM)
            await own.add_stream(name=RETRY_STREAM, subjects=[RETRY_SUBJECT], num_replicas=3)
            await _first_publish(js, RETRY_SUBJECT, b"ready")  # the new stream has its first leader
            election = _Election(js)
            for i in range(payments):
                if i == 3:  # a real leader change too: the leader steps down, the others elect one
                    await nc.request(f"$JS.API.STREAM.LEADER.STEPDOWN.{RETRY_STREAM}", b"", timeout=OWN_TIMEOUT)
                try:
                    ack = await attempt(
                        answer,
                        election,
                        RETRY_SUBJECT,
                        f"payment {i}".encode(),
                        f"pay-{i}",
                        give_up,
                        timeout=give_up + 5,
                    )
                except (NoStreamResponseError, nats.errors.TimeoutError) as error:
                    if type(error) is TimeoutError:  # attempt()'s own deadline, not the client's error
                        raise Wrong(
                            f"payment {i} was still being retried after {give_up + 5} s: stop at the "
                            "`give_up` deadline."
                        ) from None
                    raise Wrong(
                        f"payment {i}: {type(error).__name__} reached the caller. During an election "
                        "a publish fails like that for a few seconds: catch it and publish again."
                    ) from None
                if not isinstance(ack, PubAck):
                    raise Wrong(f"payment {i}: return the ack js.publish returned, not {type(ack).__name__}.")
            state = (await _with_leader(own, RETRY_STREAM)).state
            stored = [
                (await own.get_msg(RETRY_STREAM, seq)).data.decode()
                for seq in range(state.first_seq + 1, state.last_seq + 1)
            ]  # after "ready"
            expected = [f"payment {i}" for i in range(payments)]
            if len(stored) > payments:
                raise Wrong(
                    f"{len(stored)} messages stored for {payments} payments: the retry after a lost ack "
                    "stored a second copy. Send msg_id in the Nats-Msg-Id header, so the stream stores "
                    "a retried message once."
                )
            if sorted(set(stored)) != sorted(expected):
                raise Wrong(
                    f"the stream holds {sorted(set(stored))}, expected {expected}: publish `data` to `subject`."
                )
            started = time.monotonic()
            try:
                await attempt(
                    answer, js, "nb11.ex1.nowhere", b"lost", "nowhere-1", give_up_short, timeout=give_up_short + 3
                )
            except Exception as error:
                took = time.monotonic() - started
                if type(error) is TimeoutError:
                    raise Wrong(
                        f"on a subject no stream stores, with give_up={give_up_short}, it was still "
                        f"retrying after {took:.1f} s: stop at the deadline and raise."
                    ) from None
            else:
                raise Wrong(
                    "on a subject no stream stores it returned instead of raising: past `give_up`, "
                    "raise the last error so that the caller knows the payment is not stored."
                )
            return (
                f"{payments} payments through a lost leader (simulated), a real leader change and a lost "
                f"ack: each stored once; with no stream at all it gave up after {took:.1f} s."
            )
        finally:
            await delete_if_exists(own.delete_stream, RETRY_STREAM)
            await nc.close()


async def _first_publish(js, subject, data, give_up: float = 10.0):
    """A new stream answers once its replicas have elected a leader: retry until then (bounded)."""
    deadline = time.monotonic() + give_up
    while True:
        try:
            return await js.publish(subject, data, timeout=1.0)
        except (NoStreamResponseError, nats.errors.TimeoutError):
            if time.monotonic() > deadline:
                raise
            await asyncio.sleep(0.05)  # back off, then ask again


async def _with_leader(js, stream, give_up: float = 10.0):
    """The stream's info once it names its leader (add_stream's answer may come before the election)."""
    deadline = time.monotonic() + give_up
    while not (info := await js.stream_info(stream)).cluster.leader:
        if time.monotonic() > deadline:
            raise TimeoutError(f"{stream} has no leader after {give_up} s")
        await asyncio.sleep(0.05)  # between polls of a bounded wait
    return info


def _static_plan(answer) -> tuple[int, dict]:
    if not isinstance(answer, dict) or set(answer) != {"replicas", "connect_options"}:
        raise Wrong('payments_plan is a dict with exactly two keys, "replicas" and "connect_options".')
    replicas, options = answer["replicas"], answer["connect_options"]
    if not isinstance(replicas, int) or replicas < 1:
        raise Wrong(f"replicas is a number of copies, 1 or more; not {replicas!r}.")
    if not isinstance(options, dict):
        raise Wrong("connect_options is a dict of keyword arguments for nats.connect.")
    if set(options) & set(NOT_THE_CHECKERS):
        raise Wrong(
            f"leave {sorted(set(options) & set(NOT_THE_CHECKERS))} out of connect_options: the checker "
            "passes the three URLs, in an order of its own, and its own callbacks."
        )
    if options.get("allow_reconnect") is False:
        raise Wrong("allow_reconnect=False: the first node failure closes the connection for good.")
    return replicas, options


@exercise(
    hint='{"replicas": <copies of the stream>, "connect_options": {...}}: a majority must survive one node; '
    "a frozen node is noticed by PINGs (ping_interval, max_outstanding_pings); publishes made while "
    "reconnecting wait in a buffer of pending_size bytes; max_reconnect_attempts=-1 never gives up.",
    timeout=60,
)
async def check_payments_plan(
    answer, server, *, cluster=None, notice_within: float = 1.0, burst: int = 40, burst_bytes: int = 100_000
):
    replicas, options = _static_plan(answer)
    async with _a_cluster(cluster) as c:
        admin = await nats.connect(servers=c.urls, name="11-checker.admin", error_cb=_quiet)
        js = admin.jetstream(timeout=OWN_TIMEOUT)  # the checker's own calls: a node was frozen just before some
        try:
            await delete_if_exists(js.delete_stream, PLAN_STREAM)
            try:
                await js.add_stream(name=PLAN_STREAM, subjects=[PLAN_SUBJECT], num_replicas=replicas)
            except BadRequestError as error:
                raise Wrong(
                    f"the cluster refused replicas={replicas} ({error.description}): three nodes hold "
                    "at most three copies."
                ) from None
            await _first_publish(js, PLAN_SUBJECT, b"payment 0")
            info = await _with_leader(js, PLAN_STREAM)
            victim = info.cluster.leader if replicas == 1 else info.cluster.replicas[0].name  # a follower
            try:
                outcome = await _freeze_and_watch(c, victim, options, notice_within, burst, burst_bytes)
            finally:
                await asyncio.to_thread(c.wait_ready)  # whole again before anything else runs on it
        finally:
            await delete_if_exists(js.delete_stream, PLAN_STREAM)
            await admin.close()
    return _judge_plan(replicas, options, victim, outcome, notice_within, burst, burst_bytes)


async def _freeze_and_watch(c, victim, options, notice_within, burst, burst_bytes) -> dict:
    """Freeze `victim`, which holds a copy of the stream and is the service's node; meanwhile publish a
    payment from another node and, from the service, a burst in the reconnection gap."""
    outcome = {"buffered": 0, "delivered": 0, "refused": None}
    others = [url for url in c.urls if c.node_for(url) != victim]
    reconnected, all_arrived = asyncio.Event(), asyncio.Event()

    async def on_disconnected():
        if service.is_closed or "frozen_at" not in outcome:  # close() calls it too
            return
        outcome["noticed"] = time.monotonic() - outcome["frozen_at"]
        try:
            for i in range(burst):
                await service.publish(BURST_SUBJECT, i.to_bytes(4, "big") + bytes(burst_bytes - 4))
                outcome["buffered"] += 1
        except nats.errors.OutboundBufferLimitError as error:
            outcome["refused"] = type(error).__name__

    async def on_reconnected():
        reconnected.set()

    async def on_burst(msg):
        outcome["delivered"] += 1
        if outcome["delivered"] == burst:
            all_arrived.set()

    try:
        service = await nats.connect(
            servers=[c.nodes[victim].url, *others],
            dont_randomize=True,
            name="11-checker.payment-service",
            disconnected_cb=on_disconnected,
            reconnected_cb=on_reconnected,
            error_cb=_quiet,
            **options,
        )
    except TypeError as error:
        raise Wrong(f"nats.connect does not take one of connect_options: {error}.") from None
    watcher = await nats.connect(others[0], name="11-checker.watcher", error_cb=_quiet)
    payer = await nats.connect(others[-1], name="11-checker.payer", error_cb=_quiet)
    try:
        await watcher.subscribe(BURST_SUBJECT, cb=on_burst)
        await watcher.flush()
        with c.frozen(victim):
            outcome["frozen_at"] = time.monotonic()
            try:
                await payer.jetstream().publish(PLAN_SUBJECT, b"payment 1", timeout=1.0)
                outcome["payment"] = "acked"
            except (nats.errors.TimeoutError, NoStreamResponseError) as error:
                outcome["payment"] = type(error).__name__
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(
                    reconnected.wait(), notice_within + 1.0 - (time.monotonic() - outcome["frozen_at"])
                )
        if reconnected.is_set() and outcome["buffered"] == burst:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(all_arrived.wait(), 3)
        outcome["max_reconnect_attempts"] = service.options["max_reconnect_attempts"]
    finally:
        for conn in (service, watcher, payer):
            await conn.close()
    return outcome


def _judge_plan(replicas, options, victim, outcome, notice_within, burst, burst_bytes) -> str:
    """The verdict follows the rules (majority, PING arithmetic, buffer size, attempts); what the frozen
    cluster showed is quoted as evidence when it agrees (a machine stalled by load can disagree)."""
    majority, acked = replicas // 2 + 1, outcome["payment"] == "acked"
    seen = "" if acked else f" The cluster agrees: with {victim} frozen, the next payment got no ack within 1 s."
    if replicas == 1:
        raise Wrong(
            "replicas=1: one copy means no payments while its node is down, and none of its data if the "
            f"node is lost for good.{seen}"
        )
    if replicas - 1 < majority:
        raise Wrong(
            f"replicas={replicas}: {replicas} copies need {majority} for a majority, so losing one leaves "
            f"{replicas - 1}, not enough to accept writes.{seen}"
        )
    interval, outstanding = options.get("ping_interval", 120), options.get("max_outstanding_pings", 2)
    worst = (outstanding + 1) * interval
    if worst > notice_within:
        seen = (
            f"it noticed after {outcome['noticed']:.2f} s this time"
            if "noticed" in outcome
            else f"it had not noticed after {notice_within + 1:.1f} s"
        )
        raise Wrong(
            f"the service's node froze and {seen}. A frozen server keeps the socket open: the client "
            "finds out only when its PINGs go unanswered, after up to (max_outstanding_pings + 1) x "
            f"ping_interval = {outstanding + 1} x {interval} = {worst} s. Make that at most {notice_within} s."
        )
    if outcome["refused"]:
        raise Wrong(
            f"only {outcome['buffered']} of the {burst} payments of {burst_bytes // 1000} kB published "
            f"while reconnecting were buffered; the next raised {outcome['refused']}. The buffer holds "
            f"pending_size bytes ({options.get('pending_size', 2 * 1024 * 1024)}): make room for the "
            "burst and the protocol's few bytes per message."
        )
    pending = options.get("pending_size", 2 * 1024 * 1024)
    if "noticed" not in outcome and pending < burst * (burst_bytes + 64):  # not measured here: the arithmetic
        raise Wrong(
            f"pending_size={pending} bytes cannot hold {burst} payments of {burst_bytes // 1000} kB "
            "published while reconnecting: make room for the burst and the protocol's bytes per message."
        )
    if outcome["max_reconnect_attempts"] > 0:  # nats-py 2.16: only a positive number limits; 0 and -1 never give up
        attempts, wait = outcome["max_reconnect_attempts"], options.get("reconnect_time_wait", 2)
        raise Wrong(
            f"max_reconnect_attempts={attempts}: with the whole cluster down, the client gives up after "
            f"about {attempts} x reconnect_time_wait = {attempts * wait} s and closes for good; the "
            "maintenance window has no stated end: -1 never gives up."
        )
    measured = (
        f"; with {victim} frozen, payments were still acked, the client noticed in "
        f"{outcome['noticed']:.2f} s and {outcome['delivered']} of its {burst} buffered payments arrived"
        if acked and "noticed" in outcome
        else ""
    )
    return (
        f"replicas={replicas} keeps a majority without any one node, a frozen node is noticed within {worst} s, "
        f"the buffer holds the burst, and the client never gives up{measured}."
    )
