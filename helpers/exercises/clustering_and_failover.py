"""Checkers for Clustering and failover.

All three judge the learner's answer against a running 3-node cluster: the notebook's (`cluster=cluster`),
or a private one the checker starts and stops when none is given (the tests pass a single server).
`server`, the learner's course server, is not used: one server cannot show a failover.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time

import nats
import nats.errors
from nats.js.api import PubAck
from nats.js.errors import BadRequestError, NoStreamResponseError

from helpers.cluster import Cluster
from helpers.exercises.framework import Wrong, attempt, delete_if_exists, exercise, quiet
from helpers.monitor import monitor_get

RETRY_STREAM, RETRY_SUBJECT = "CLUSTERING_RETRY", "clustering-and-failover.retry.payments"
PLAN_STREAM, PLAN_SUBJECT = "CLUSTERING_PAYMENTS", "clustering-and-failover.plan.payments"
BURST_SUBJECT = "clustering-and-failover.plan.burst"
ASK_SUBJECT = "clustering-and-failover.survive.ask"
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
    hints=(
        "an election makes js.publish raise for a few seconds: catch those errors and publish again, until a "
        "deadline `give_up` seconds away; the msg_id is what keeps a retry from storing the payment twice.",
        "loop until time.monotonic() passes the deadline: try js.publish(subject, data, headers={'Nats-Msg-Id': "
        "msg_id}, timeout=...) and return its ack; on NoStreamResponseError or nats.errors.TimeoutError sleep "
        "briefly and try again; past the deadline, raise.",
    ),
    timeout=60,
)
async def check_publish_with_retry(
    answer, server, *, cluster=None, payments: int = 8, give_up: float = 5.0, give_up_short: float = 0.3
):
    async with _a_cluster(cluster) as c:
        nc = await nats.connect(
            servers=c.urls, name="clustering-and-failover.checker.publish_with_retry", error_cb=quiet
        )
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
                    answer,
                    js,
                    "clustering-and-failover.retry.nowhere",
                    b"lost",
                    "nowhere-1",
                    give_up_short,
                    timeout=give_up_short + 3,
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
    hints=(
        "take the four needs one by one: how many copies keep a majority without one node; how a client notices "
        "a node that freezes; where publishes made while reconnecting wait; how many reconnect attempts.",
        '{"replicas": <copies>, "connect_options": {...}}: a majority must survive one node; a frozen node is '
        "noticed after (max_outstanding_pings + 1) x ping_interval; publishes made while reconnecting wait in a "
        "buffer of pending_size bytes; max_reconnect_attempts=-1 never gives up.",
    ),
    timeout=60,
)
async def check_payments_plan(
    answer, server, *, cluster=None, notice_within: float = 1.0, burst: int = 40, burst_bytes: int = 100_000
):
    replicas, options = _static_plan(answer)
    async with _a_cluster(cluster) as c:
        admin = await nats.connect(servers=c.urls, name="clustering-and-failover.checker.admin", error_cb=quiet)
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
            name="clustering-and-failover.checker.payment-service",
            disconnected_cb=on_disconnected,
            reconnected_cb=on_reconnected,
            error_cb=quiet,
            **options,
        )
    except TypeError as error:
        raise Wrong(f"nats.connect does not take one of connect_options: {error}.") from None
    watcher = await nats.connect(others[0], name="clustering-and-failover.checker.watcher", error_cb=quiet)
    payer = await nats.connect(others[-1], name="clustering-and-failover.checker.payer", error_cb=quiet)
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


# -- the hands-on core exercise: keep asking while the node you are on dies -----------------------------


class _NatsLog(logging.Handler):
    """Catches what nats-py logs while the learner's code runs (its default error_cb logs each connection
    error with a traceback): counted for the verdict, kept off the learner's stderr."""

    def __init__(self):
        super().__init__(logging.ERROR)
        self.records: list[logging.LogRecord] = []

    def emit(self, record):
        self.records.append(record)

    @contextlib.contextmanager
    def catching(self):
        logger = logging.getLogger("nats.aio.client")
        logger.addHandler(self)
        propagate, logger.propagate = logger.propagate, False
        try:
            yield self
        finally:
            logger.removeHandler(self)
            logger.propagate = propagate


def _node_of_inbox(c, reply: str) -> str | None:
    """The node whose client connection subscribes to the inbox `reply` belongs to (/connz?subs=detail)."""
    prefix = reply.rsplit(".", 1)[0]
    for name in c.running():
        for conn in monitor_get(c.nodes[name].monitor_url, "/connz?subs=detail", 1.0).get("connections", []):
            subjects = {sub.get("subject") for sub in conn.get("subscriptions_list_detail", [])}
            if subjects & {reply, prefix + ".*", prefix + ".>"}:
                return name
    return None


async def _whole(c, give_up: float = 20.0) -> None:
    """Every node running and the cluster ready (an earlier cell may still be restarting one)."""
    deadline = time.monotonic() + give_up
    while len(c.running()) < len(c.nodes) and time.monotonic() < deadline:
        await asyncio.sleep(0.1)  # a supervisor-style restart started by an earlier cell: give it time
    await asyncio.to_thread(c.start, max(5.0, deadline - time.monotonic()))


@exercise(
    hints=(
        "connect with nats.connect(servers=servers, ...) and an error_cb of your own; then loop over "
        "range(count) and, for each number, keep calling nc.request(subject, str(i).encode(), timeout=...) "
        "until one call returns.",
        "wrap each request in `while True: try: replies.append((await nc.request(...)).data); break` and "
        "`except nats.errors.TimeoutError: continue` (a request whose node died has no answer); "
        "error_cb can be `async def quiet(error): pass`; close the connection before you return.",
    ),
    timeout=60,
)
async def check_keep_asking(answer, server, *, cluster=None, count: int = 30, kill_at: int = 10):
    async with _a_cluster(cluster) as c:
        await _whole(c)
        seen, killed = [], {}  # request numbers in the order the responders got them
        responders = {}

        async def answer_request(msg):
            n = int(msg.data)
            seen.append(n)
            if n == kill_at and not killed:  # the learner's node dies with this request in its hands
                killed["node"] = await asyncio.to_thread(_node_of_inbox, c, msg.reply)
                if killed["node"]:
                    killed["at"] = c.kill(killed["node"])
                    return  # its reply is lost with the node
            await msg.respond(b"ok " + msg.data)

        for name in c.names:  # one responder on every node, in a queue group: the survivors answer
            responders[name] = await nats.connect(
                c.nodes[name].url,
                name=f"clustering-and-failover.checker.responder-{name}",
                allow_reconnect=False,
                error_cb=quiet,
            )
            await responders[name].subscribe(ASK_SUBJECT, queue="responders", cb=answer_request)
            await responders[name].flush()
        log = _NatsLog()
        started = time.monotonic()
        try:
            with log.catching():
                try:
                    replies = await attempt(answer, list(c.urls), ASK_SUBJECT, count, timeout=40)
                except (
                    nats.errors.TimeoutError,
                    nats.errors.NoRespondersError,
                    nats.errors.ConnectionClosedError,
                ) as error:
                    node = killed.get("node", "the node")
                    raise Wrong(
                        f"request {max(seen, default=0)} ended in {type(error).__name__}: the checker killed "
                        f"{node}, the node your connection was on, while request {kill_at} was with it, and "
                        f"that reply was lost with the node. The responders got requests "
                        f"{_ranges(seen)}. A request that fails must be sent again."
                    ) from None
                await asyncio.sleep(0.2)  # what nats-py logs as it closes, after the function returned
        finally:
            for conn in responders.values():
                await conn.close()
            if killed.get("node"):
                await asyncio.to_thread(c.start_node, killed["node"], 20.0)  # whole again for what follows
        took = time.monotonic() - started
        if not killed.get("node"):
            raise Wrong(
                f"the responders got requests {_ranges(seen)}, but request {kill_at} never came, so no "
                f"node was killed: send requests b'0', b'1', ... b'{count - 1}' to `subject`."
            )
        missing = sorted(set(range(count)) - set(seen))
        if missing:
            raise Wrong(
                f"the cluster never received requests {_ranges(missing)} (it got {_ranges(seen)}): after "
                f"{killed['node']} died, keep asking until every one of the {count} is answered."
            )
        expected = [b"ok %d" % i for i in range(count)]
        data = [getattr(r, "data", r) for r in replies] if isinstance(replies, list | tuple) else replies
        if data != expected:
            raise Wrong(
                f"the responders answered all {count} requests, but the function returned {data!r:.80}: "
                f"return the replies' data in order, {expected[0]!r} to {expected[-1]!r}."
            )
        if log.records:
            first = log.records[0]
            reason = type(first.exc_info[1]).__name__ if first.exc_info else first.getMessage()
            raise Wrong(
                f"every request was answered, and nats-py logged {len(log.records)} connection error(s) "
                f"with tracebacks ('{first.getMessage()}': {reason}): your connection has no error_cb, so "
                "the reconnect you expected lands on stderr. Pass error_cb=... and handle them yourself."
            )
        again = len(seen) - len(set(seen))
        return (
            f"{killed['node']} died with request {kill_at} in its hands; your connection moved to another node, "
            f"sent it again ({again} request(s) reached a responder twice) and all {count} were answered, "
            f"in {took:.1f} s."
        )


def _ranges(numbers) -> str:
    """[0, 1, 2, 5, 6] -> '0-2, 5-6' (what the responders got, for a verdict)."""
    numbers = sorted(set(numbers))
    if not numbers:
        return "none"
    runs, start = [], numbers[0]
    for prev, n in zip(numbers, [*numbers[1:], None], strict=True):
        if n != prev + 1:
            runs.append(f"{start}-{prev}" if prev != start else f"{start}")
            start = n
    return ", ".join(runs)
