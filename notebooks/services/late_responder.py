"""A responder that says "subscribed" on its stdout, for Request-reply's race deep dive.

    python late_responder.py NATS_URL PREFIX

It listens on `PREFIX.control`. Each message there is an order, JSON {"subject": ..., "flush": bool,
"busy": seconds}: the service subscribes to that subject (a responder that answers b"ok"), flushes if
asked, then prints the subject on stdout, the way a service tells the outside world it is ready (a log
line, a health check), not over its NATS connection. Then it does `busy` seconds of blocking start-up
work (time.sleep: a synchronous cache load, a slow import) before its event loop gets a turn again. The
notebook requests the subject from its own connection as soon as it reads the line.

It prints READY once the server has its control subscription. Service.stop() (a `stop` line on stdin),
SIGTERM, or the end of the kernel that started it (stdin closes) stop it: it drains and exits.
"""

import argparse
import asyncio
import json
import time

import nats

from helpers import nats_py_fixes
from helpers.services import until_stopped


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("url")
    parser.add_argument("prefix")
    args = parser.parse_args()
    nc = await nats.connect(args.url, name="request-reply.late-responder")

    async def ok(msg):
        await msg.respond(b"ok")

    async def subscribe(msg):  # one order: one fresh subject to serve
        order = json.loads(msg.data)
        await nc.subscribe(order["subject"], cb=ok)  # returns once the SUB is in this client's buffer
        if order.get("flush"):
            await nc.flush()  # returns once the server has processed the SUB
        print(order["subject"], flush=True)  # "subscribed", told out of band
        if order.get("busy"):
            time.sleep(order["busy"])  # blocking work: the event loop (and its writer task) waits too

    await nc.subscribe(f"{args.prefix}.control", cb=subscribe)
    await nc.flush()  # the server has the control subscription
    print("READY", flush=True)
    await until_stopped()
    await nc.drain()


if __name__ == "__main__":
    nats_py_fixes.apply()  # nats-py 2.16's flush()/drain() ordering bug (helpers/nats_py_fixes.py)
    asyncio.run(main())
