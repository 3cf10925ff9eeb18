"""Checkers for Publish/subscribe."""

import asyncio
import inspect
import json

import nats

from helpers.exercises.framework import Wrong, attempt, exercise, quiet

SAMPLE_USER = {"id": 42, "name": "Ada", "email": "ada@example.com"}


@exercise(
    hints=(
        "Three things: the subject, a JSON body with its header, and waiting for the server before you return.",
        "`await nc.publish('user.created', json.dumps(user).encode(), headers={...})`, then `await nc.flush()`.",
    )
)
async def check_announce(answer, server, *, timeout: float = 5.0):
    """Call `answer(nc, user)`: when it returns, the server must have processed the message (what flush()
    guarantees), and it must be JSON with the header."""
    nc = await nats.connect(server.url, name="publish-subscribe.exercise-announce", error_cb=quiet)
    try:
        echo = await nc.subscribe("user.created")  # the checker's own connection gets a copy back
        await nc.flush()  # the server has the subscription
        # Awaited directly, not as a task: nothing else runs in between. The server sends the copy of a
        # message it processed back on this connection before the PONG of any later PING, so the copy is
        # here on return exactly when the answer waited for the server (flush()), not only for the socket.
        result = answer(nc, dict(SAMPLE_USER))
        if inspect.isawaitable(result):
            await result
        processed_on_return = echo.pending_msgs
        try:
            msg = await echo.next_msg(timeout=timeout)
        except nats.errors.TimeoutError:
            raise Wrong(
                f"the server routed nothing to `user.created` within {timeout} s: publish to exactly that subject."
            ) from None
        if not processed_on_return:
            raise Wrong(
                "when your function returned, the server had not processed your message yet (its copy came back "
                "only afterwards): publish() only puts it in the client's buffer. Await nc.flush() before returning."
            )
        try:
            body = json.loads(msg.data)
        except ValueError:
            raise Wrong(
                f"the server passed on the body {msg.data[:60]!r}, which is not JSON: send json.dumps(user).encode()."
            ) from None
        if body != SAMPLE_USER:
            raise Wrong(
                f"the message the server passed on decodes to {body!r}, not the user you were given ({SAMPLE_USER!r})."
            )
        content_type = (msg.headers or {}).get("Content-Type")
        if content_type != "application/json":
            raise Wrong(
                f"the message the server passed on has Content-Type {content_type!r}; pass headers={{'Content-Type': "
                "'application/json'} to publish."
            )
        return "Processed by the server before your function returned, with a JSON body and its Content-Type header."
    finally:
        await nc.close()


@exercise(
    hints=(
        "Look at 'drain() versus close()': which one lets queued messages finish before the connection ends?",
        "`await worker.drain()`: it unsubscribes, lets the callback handle every queued message, then closes.",
    )
)
async def check_stop_worker(answer, server, *, jobs: int = 20, work_seconds: float = 0.01, timeout: float = 5.0):
    """A worker with `jobs` messages queued; `answer(worker)` must end it with every one handled."""
    publisher = await nats.connect(server.url, name="publish-subscribe.exercise-publisher", error_cb=quiet)
    worker = await nats.connect(server.url, name="publish-subscribe.exercise-worker", error_cb=quiet)
    handled = []

    async def work(msg):
        await asyncio.sleep(work_seconds)  # a job takes a while
        handled.append(int(msg.data))

    try:
        await worker.subscribe("jobs.exercise", cb=work)
        await worker.flush()  # the server has the subscription
        for i in range(jobs):
            await publisher.publish("jobs.exercise", str(i).encode())
        await publisher.flush()  # the server has routed every job...
        await worker.flush()  # ...and every job is in the worker's pending queue
        await attempt(answer, worker, timeout=timeout)
        if not worker.is_closed:
            raise Wrong("the worker's connection is still open: the function should end it, not only unsubscribe.")
        if len(handled) < jobs:
            raise Wrong(
                f"only {len(handled)} of {jobs} queued messages were handled: close() throws away "
                "what is still pending. Which call finishes them first?"
            )
        if handled != list(range(jobs)):
            raise Wrong(f"all {jobs} handled, but not in order: {handled}.")
        return f"All {jobs} queued messages were handled, in order, before the connection closed."
    finally:
        if not worker.is_closed:
            await worker.close()
        await publisher.close()


# What each event's consumer needs (the notebook's Exercise 1): "stream" where a lost event costs something.
DELIVERY = {
    "payment.captured": ("stream", "billing must book every payment: a lost one is a lost booking"),
    "metrics.cpu": (
        "core",
        "the next reading, a second later, replaces a missed one; replaying old readings is stale work",
    ),
    "cache.invalidate": (
        "core",
        "a service back from a restart starts with an empty cache, and one back from a reconnect clears its cache "
        "(it cannot know what it missed): replaying invalidations is pointless",
    ),
    "user.created": ("stream", "the welcome email must go out after the email service's deploy too"),
}


async def _lost_while_restarting(server, subject: str, *, before=2, down=3, after=2, timeout=5.0) -> int:
    """A subscriber on `subject` restarts while a publisher keeps publishing: how many did it never get?"""
    publisher = await nats.connect(server.url, name="publish-subscribe.exercise-delivery-publisher", error_cb=quiet)
    got, sent = [], 0
    try:
        for phase, count in (("up", before), ("down", down), ("up again", after)):
            subscriber = None
            if phase != "down":
                subscriber = await nats.connect(
                    server.url, name="publish-subscribe.exercise-delivery-subscriber", error_cb=quiet
                )
                sub = await subscriber.subscribe(f"exercise.{subject}")
                await subscriber.flush(timeout=timeout)  # the server has the subscription
            for _ in range(count):
                await publisher.publish(f"exercise.{subject}", str(sent).encode())
                sent += 1
            await publisher.flush(timeout=timeout)  # the server has routed them
            if subscriber is not None:
                await subscriber.flush(timeout=timeout)  # and the subscriber's client has them
                while sub.pending_msgs:
                    got.append(int((await sub.next_msg(timeout=timeout)).data))
                await subscriber.close()
        return sent - len(got)
    finally:
        await publisher.close()


@exercise(
    hints=(
        "Ask for each event: what does it cost when one published while the subscriber was away is gone for good?",
        "Money and e-mails a user waits for must not be lost; a reading or an invalidation that the next one "
        "replaces, or that an empty cache makes moot, may be.",
    )
)
async def check_delivery(answer, server, *, timeout: float = 5.0):
    """`answer` maps each subject to "core" or "stream"; judged against what a restart lost on the server."""
    if not isinstance(answer, dict):
        raise Wrong(f"delivery should be a dict of subject -> 'core' or 'stream', not {type(answer).__name__}.")
    missing = sorted(set(DELIVERY) - set(answer))
    if missing:
        raise Wrong(f"choose for every subject: {', '.join(missing)} missing.")
    for subject, choice in answer.items():
        if choice not in ("core", "stream"):
            raise Wrong(f"{subject}: {choice!r} is neither 'core' nor 'stream'.")
    for subject, (needed, why) in DELIVERY.items():
        lost = await _lost_while_restarting(server, subject, timeout=timeout)
        if answer[subject] == "core" and needed == "stream":
            raise Wrong(
                f"{subject}: a subscriber restarting on the server just now lost {lost} of 7 events, and core "
                f"NATS will never send them again; {why}. It needs a stream."
            )
        if answer[subject] == "stream" and needed == "core":
            raise Wrong(
                f"{subject}: core NATS lost {lost} of 7 events during a restart, and that is fine here: {why}. "
                "A stream would store and replay them for nothing."
            )
    return "Streams where a lost event costs something, core NATS where the next message makes up for it."
