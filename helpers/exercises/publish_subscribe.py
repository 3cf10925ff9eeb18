"""Checkers for notebook 01 · Publish/subscribe."""

import asyncio
import inspect
import json

import nats

from helpers.exercises.framework import Wrong, attempt, exercise

SAMPLE_USER = {"id": 42, "name": "Ada", "email": "ada@example.com"}


@exercise("01.announce", hint="`json.dumps(user).encode()`, `headers={...}` on `nc.publish`, then `await nc.flush()`.")
async def check_announce(answer, server, *, timeout: float = 5.0):
    """Call `answer(nc, user)`: when it returns, the server must have processed the message (what flush()
    guarantees), and it must be JSON with the header."""
    nc = await nats.connect(server.url, name="01-exercise-announce")
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
            raise Wrong("no message arrived on `user.created`: publish to exactly that subject.") from None
        if not processed_on_return:
            raise Wrong(
                "when your function returned, the server had not processed your message yet: "
                "publish() only puts it in the client's buffer. Await nc.flush() before returning."
            )
        try:
            body = json.loads(msg.data)
        except ValueError:
            raise Wrong(f"the body {msg.data[:60]!r} is not JSON: send json.dumps(user).encode().") from None
        if body != SAMPLE_USER:
            raise Wrong(f"the body decodes to {body!r}, not the user you were given ({SAMPLE_USER!r}).")
        content_type = (msg.headers or {}).get("Content-Type")
        if content_type != "application/json":
            raise Wrong(
                f"header Content-Type is {content_type!r}; pass headers={{'Content-Type': "
                "'application/json'}} to publish."
            )
        return "Processed by the server before your function returned, with a JSON body and its Content-Type header."
    finally:
        await nc.close()


@exercise("01.stop_worker", hint="One of close() and drain() lets the queued messages finish first.")
async def check_stop_worker(answer, server, *, jobs: int = 20, work_seconds: float = 0.01, timeout: float = 5.0):
    """A worker with `jobs` messages queued; `answer(worker)` must end it with every one handled."""
    publisher = await nats.connect(server.url, name="01-exercise-publisher")
    worker = await nats.connect(server.url, name="01-exercise-worker")
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
