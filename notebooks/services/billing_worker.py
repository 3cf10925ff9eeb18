"""A billing worker: one member of the `billing-service` queue group, as its own OS process.

    python billing_worker.py NATS_URL NAME [--work-ms MS] [--subject payments.process] [--queue billing-service]

It subscribes to the subject in the queue group, prints READY, then prints the
payment id of every message it processed, one line each. With --work-ms it
also prints `working <id>` when a payment arrives, then works that long.
Asked to stop (Service.stop() writes `stop` to its stdin; SIGTERM works too
where the OS has signals), it leaves gracefully with drain(): it finishes what
the server already sent it, unsubscribes and exits. It lives as long as the
kernel that started it: when that kernel goes, its stdin closes and it stops.
"""

import argparse
import asyncio

import nats

from helpers import nats_py_fixes
from helpers.services import until_stopped


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("url")
    parser.add_argument("name")
    parser.add_argument("--subject", default="payments.process")
    parser.add_argument("--queue", default="billing-service")
    parser.add_argument("--work-ms", type=float, default=0.0)
    args = parser.parse_args()

    nc = await nats.connect(args.url, name=f"queue-groups.{args.name}")

    async def process(msg):
        payment_id = msg.data.decode()
        if args.work_ms:
            print(f"working {payment_id}", flush=True)
            await asyncio.sleep(args.work_ms / 1000)
        print(payment_id, flush=True)

    await nc.subscribe(args.subject, queue=args.queue, cb=process)
    await nc.flush()  # the server has processed our SUB: we are a member of the group
    print("READY", flush=True)
    await until_stopped()  # a stop line, stdin closed (the kernel went away) or SIGTERM
    await nc.drain()  # graceful leave: finish what was delivered, then unsubscribe and close


if __name__ == "__main__":
    nats_py_fixes.apply()  # nats-py 2.16's flush()/drain() ordering bug (helpers/nats_py_fixes.py)
    asyncio.run(main())
