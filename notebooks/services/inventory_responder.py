"""An inventory service: answers requests on `inventory.check` with the stock of a SKU.

Run by notebook 02 as a separate process (helpers.services.Service):

    python inventory_responder.py nats://127.0.0.1:4222 [--delay 0.0] [--max-seconds 60]

The request payload is a SKU (b"apple"); the reply is JSON
{"sku": "apple", "in_stock": 12, "pid": 1234}. It prints READY once it is
subscribed, then one JSON line per request it answered (the SKU and the reply
subject the requester chose). SIGTERM drains the connection and exits.
"""

import argparse
import asyncio
import json
import os
import signal

import nats

STOCK = {"apple": 12, "pear": 0, "plum": 7, "fig": 31}


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("url")
    parser.add_argument("--subject", default="inventory.check")
    parser.add_argument("--delay", type=float, default=0.0, help="seconds to think before answering")
    parser.add_argument("--max-seconds", type=float, default=60.0, help="exit on its own after this long")
    args = parser.parse_args()

    nc = await nats.connect(args.url, name="02-request-reply-inventory")

    async def handle(msg):
        sku = msg.data.decode()
        if args.delay:
            await asyncio.sleep(args.delay)
        reply = {"sku": sku, "in_stock": STOCK.get(sku, 0), "pid": os.getpid()}
        await msg.respond(json.dumps(reply).encode())
        print(json.dumps({"sku": sku, "reply_subject": msg.reply}), flush=True)

    await nc.subscribe(args.subject, cb=handle)
    # Flush twice: in nats-py 2.16.0 flush() writes its PING straight to the socket while the SUB
    # still waits for the background writer, so one PONG can come back before the server has the SUB.
    await nc.flush()
    await nc.flush()
    print("READY", flush=True)

    stop = asyncio.Event()
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stop.set)
    try:
        await asyncio.wait_for(stop.wait(), args.max_seconds)
    except TimeoutError:
        pass
    await nc.drain()  # unsubscribe, answer what is in flight, close


if __name__ == "__main__":
    asyncio.run(main())
