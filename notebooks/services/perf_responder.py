"""An echo-like responder for the performance notebook: answers every request on its subject at once.

    python perf_responder.py NATS_URL [--subject perf.echo]

Run by the Performance notebook as its own OS process (helpers.services.Service), so that a request really crosses
process boundaries: requester -> nats-server -> this process -> nats-server -> requester. Every reply is
the same small JSON body the HTTP responder sends, so both transports carry the same bytes.

READY means the server routes requests to it: after subscribing, it sends one request to its own subject
on its own connection and waits for its own answer. The server handles one connection's commands in
order, so that answer proves the subscription is in place (no flush() timing involved).
Service.stop() (a `stop` line on stdin, any OS) or SIGTERM drains the connection and exits; so does
the end of its stdin, when the kernel that started it goes away: it lives as long as that kernel.
"""

import argparse
import asyncio

import nats

from helpers import nats_py_fixes
from helpers.services import until_stopped

BODY = b'{"sku": "apple", "in_stock": 12}'


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("url")
    parser.add_argument("--subject", default="perf.echo")
    args = parser.parse_args()

    nc = await nats.connect(args.url, name="performance.responder")

    async def answer(msg):
        await msg.respond(BODY)

    await nc.subscribe(args.subject, cb=answer)
    await nc.request(args.subject, b"ready?", timeout=10)  # our own answer: the server has the SUB
    print("READY", flush=True)

    await until_stopped()  # a `stop` line on stdin (any OS), SIGTERM, or stdin closed: the kernel is gone
    await nc.drain()


if __name__ == "__main__":
    nats_py_fixes.apply()  # nats-py 2.16's flush()/drain() ordering bug (helpers/nats_py_fixes.py)
    asyncio.run(main())
