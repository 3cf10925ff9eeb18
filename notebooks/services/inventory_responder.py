"""An inventory service: answers requests on `inventory.check` with the stock of a SKU.

Run by Request-reply as a separate process (helpers.services.Service), as long as its kernel lives:

    python inventory_responder.py nats://127.0.0.1:4222 [--delay 0.0] [--max-seconds SECONDS]

The request payload is a SKU (b"apple"); the reply is JSON
{"sku": "apple", "in_stock": 12, "pid": 1234}. It prints READY once it is
subscribed, then one JSON line per request it answered (the SKU and the reply
subject the requester chose). Asked to stop (Service.stop() writes `stop` to its
stdin; SIGTERM works too where the OS has signals), it drains the connection and exits; it stops
when its stdin closes too (the kernel that started it went away).
"""

import argparse
import asyncio
import json
import os

import nats

from helpers import nats_py_fixes
from helpers.services import until_stopped

STOCK = {"apple": 12, "pear": 0, "plum": 7, "fig": 31}


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("url")
    parser.add_argument("--subject", default="inventory.check")
    parser.add_argument("--delay", type=float, default=0.0, help="seconds to think before answering")
    parser.add_argument(
        "--max-seconds", type=float, default=None, help="exit on its own after this long (default: never)"
    )
    args = parser.parse_args()

    nc = await nats.connect(args.url, name="request-reply.inventory")

    async def handle(msg):
        sku = msg.data.decode()
        if args.delay:
            await asyncio.sleep(args.delay)
        reply = {"sku": sku, "in_stock": STOCK.get(sku, 0), "pid": os.getpid()}
        await msg.respond(json.dumps(reply).encode())
        print(json.dumps({"sku": sku, "reply_subject": msg.reply}), flush=True)

    await nc.subscribe(args.subject, cb=handle)
    await nc.flush()  # the server has processed our SUB: requests reach us from now on
    print("READY", flush=True)
    await until_stopped(args.max_seconds)
    await nc.drain()  # unsubscribe, answer what is in flight, close


if __name__ == "__main__":
    nats_py_fixes.apply()  # nats-py 2.16's flush()/drain() ordering bug (helpers/nats_py_fixes.py)
    asyncio.run(main())
