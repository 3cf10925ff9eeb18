"""A billing worker: one member of the `billing-service` queue group, as its own OS process.

    python billing_worker.py NATS_URL NAME [--work-ms MS] [--subject payments.process] [--queue billing-service]

It subscribes to the subject in the queue group, prints READY, then prints the
payment id of every message it processed, one line each. With --work-ms it
also prints `working <id>` when a payment arrives, then works that long.
On SIGTERM it leaves gracefully with drain(): it finishes what the server
already sent it, unsubscribes and exits.
"""

import argparse
import asyncio
import signal

import nats


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("url")
    parser.add_argument("name")
    parser.add_argument("--subject", default="payments.process")
    parser.add_argument("--queue", default="billing-service")
    parser.add_argument("--work-ms", type=float, default=0.0)
    args = parser.parse_args()

    stop = asyncio.Event()
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stop.set)
    nc = await nats.connect(args.url, name=f"04-queue-groups-{args.name}")

    async def process(msg):
        payment_id = msg.data.decode()
        if args.work_ms:
            print(f"working {payment_id}", flush=True)
            await asyncio.sleep(args.work_ms / 1000)
        print(payment_id, flush=True)

    await nc.subscribe(args.subject, queue=args.queue, cb=process)
    await nc.flush()
    await nc.flush()  # nats-py 2.16 may send the first PING ahead of the SUB; the second one follows it
    print("READY", flush=True)
    await stop.wait()
    await nc.drain()  # graceful leave: finish what was delivered, then unsubscribe and close


if __name__ == "__main__":
    asyncio.run(main())
