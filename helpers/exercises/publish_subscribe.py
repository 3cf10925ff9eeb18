"""Checkers for notebook 01 · Publish/subscribe."""

import asyncio
import inspect
import json

import nats

from helpers.exercises.framework import Wrong, attempt, exercise

SAMPLE_USER = {"id": 42, "name": "Ada", "email": "ada@example.com"}


@exercise("01.announce", hint="`json.dumps(user).encode()`, `headers={...}` on `nc.publish`, then `await nc.flush()`.")
async def check_announce(answer, server, *, timeout: float = 5.0):
    """Call `answer(nc, user)`: the message must have left the client when it returns, as JSON with the header."""
    nc = await nats.connect(server.url, name="01-exercise-announce")
    try:
        echo = await nc.subscribe("user.created")  # the checker's own connection gets a copy back
        await nc.flush()
        await nc.flush()  # nats-py 2.16.0: the first PING may overtake the SUB (see notebook 01)
        # Awaited directly, not as a task, so that the client's writer gets no turn unless the answer
        # itself waits (flush() does): what is still buffered on return was never sent.
        result = answer(nc, dict(SAMPLE_USER))
        if inspect.isawaitable(result):
            await result
        buffered_on_return = nc.pending_data_size
        try:
            msg = await echo.next_msg(timeout=timeout)
        except nats.errors.TimeoutError:
            raise Wrong("no message arrived on `user.created`: publish to exactly that subject.") from None
        if buffered_on_return:
            raise Wrong(f"when your function returned, {buffered_on_return} bytes were still in the client's "
                        "buffer: publish() only fills it. Await nc.flush() before returning.")
        try:
            body = json.loads(msg.data)
        except ValueError:
            raise Wrong(f"the body {msg.data[:60]!r} is not JSON: send json.dumps(user).encode().") from None
        if body != SAMPLE_USER:
            raise Wrong(f"the body decodes to {body!r}, not the user you were given ({SAMPLE_USER!r}).")
        content_type = (msg.headers or {}).get("Content-Type")
        if content_type != "application/json":
            raise Wrong(f"header Content-Type is {content_type!r}; pass headers={{'Content-Type': "
                        "'application/json'}} to publish.")
        return "Sent and flushed before returning, with a JSON body and its Content-Type header."
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
        await worker.flush()
        await worker.flush()  # nats-py 2.16.0: the first PING may overtake the SUB (see notebook 01)
        for i in range(jobs):
            await publisher.publish("jobs.exercise", str(i).encode())
        await publisher.flush()
        await publisher.flush()  # the server has every job now...
        await worker.flush()  # ...and every job is in the worker's pending queue
        await attempt(answer, worker, timeout=timeout)
        if not worker.is_closed:
            raise Wrong("the worker's connection is still open: the function should end it, not only "
                        "unsubscribe.")
        if len(handled) < jobs:
            raise Wrong(f"only {len(handled)} of {jobs} queued messages were handled: close() throws away "
                        "what is still pending. Which call finishes them first?")
        if handled != list(range(jobs)):
            raise Wrong(f"all {jobs} handled, but not in order: {handled}.")
        return f"All {jobs} queued messages were handled, in order, before the connection closed."
    finally:
        if not worker.is_closed:
            await worker.close()
        await publisher.close()
