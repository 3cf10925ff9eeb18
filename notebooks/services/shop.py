"""The skeleton the four services of the capstone's payment platform share (orders, inventory, payments,
notifications). It is not a service itself: it holds what every one of them does the same way, so that each
service script is only its own handlers.

    python <service>.py http [--port 8123] [options]       # version A: an HTTP server (aiohttp)
    python <service>.py nats --url nats://... [options]     # version B: a NATS client

A service script defines `http_routes(args)`, returning its aiohttp routes, and `nats_service(args, nc)`,
which subscribes its handlers and may return a background loop to run; then it calls `main(...)`. The
skeleton parses the common arguments, starts the chosen version, prints `READY` once it can serve (HTTP:
the socket listens, then one line with its base URL; NATS: the server routed a request of the service's own
back to it, so every subscription made before is in place), waits until it is asked to stop, and stops
gracefully: the HTTP server finishes what it is doing, the NATS connection drains.

Asked to stop: a `stop` line on stdin (Service.stop()), SIGTERM or SIGINT. It lives as long as the notebook's
kernel that started it, however long the learner reads: when that kernel goes, the service's stdin closes
and it stops too, so a forgotten service never lingers.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
from collections.abc import Awaitable, Callable

import nats

from helpers import nats_py_fixes
from helpers.services import until_stopped


def parser(description: str) -> argparse.ArgumentParser:
    """The arguments every service takes; a script adds its own to the returned parser."""
    p = argparse.ArgumentParser(description=description)
    p.add_argument("transport", choices=["http", "nats"], help="A: HTTP between services; B: NATS")
    p.add_argument("--url", default="nats://127.0.0.1:4222", help="the NATS server (version B)")
    p.add_argument("--port", type=int, default=0, help="the HTTP port on 127.0.0.1 (version A; 0: any free one)")
    return p


async def _run_http(args, http_routes) -> None:
    from aiohttp import web

    app = web.Application()
    app.add_routes(await http_routes(args, app))
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", args.port).start()
    print("READY", flush=True)
    print("http://{}:{}".format(*runner.addresses[0]), flush=True)  # the base URL: the first line after READY
    await until_stopped()
    await runner.cleanup()  # app.on_cleanup closes the service's own HTTP client, if it has one


async def _run_nats(args, name: str, nats_service) -> None:
    nats_py_fixes.apply()  # nats-py 2.16's flush()/drain() ordering bug (helpers/nats_py_fixes.py)
    nc = await nats.connect(args.url, name=f"capstone.{name}")
    loop = await nats_service(args, nc)
    inbox = nc.new_inbox()

    async def echo(msg):
        await msg.respond(b"")

    await nc.subscribe(inbox, cb=echo)
    await nc.request(inbox, b"ready?", timeout=10)  # our own answer: the server has every SUB sent before it
    print("READY", flush=True)
    task = asyncio.create_task(loop()) if loop else None
    await until_stopped()
    if task:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
    await nc.drain()  # unsubscribe, finish the handlers at work, send what is buffered, close


def main(
    name: str,
    p: argparse.ArgumentParser,
    http_routes: Callable[..., Awaitable[list]],
    nats_service: Callable[..., Awaitable[Callable[[], Awaitable] | None]],
) -> None:
    args = p.parse_args()
    if args.transport == "http":
        asyncio.run(_run_http(args, http_routes))
    else:
        asyncio.run(_run_nats(args, name, nats_service))
