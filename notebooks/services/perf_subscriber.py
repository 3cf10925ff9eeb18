"""A counting subscriber for the performance notebook: publish+subscribe throughput, receiver side.

    python perf_subscriber.py NATS_URL [--subject perf.fanout]

It counts every message on its subject. A message with an empty payload and a reply subject is the
publisher's end marker: it answers with JSON {"received": n, "bytes": n} (what it counted before the
marker) and starts counting afresh. The marker travels on the same subject and subscription as the
data, so the answer comes only after every earlier message was handled: the publisher's clock stops
when the subscriber has really received everything.

READY means the server routes messages to it: it sends one end marker to itself first and waits for
the answer (the server handles one connection's commands in order). Asked to stop (a `stop` line,
SIGTERM, or its stdin closed: the kernel that started it is gone) it drains and exits.
"""

import argparse
import asyncio
import json

import nats

from helpers import nats_py_fixes
from helpers.services import until_stopped


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("url")
    parser.add_argument("--subject", default="perf.fanout")
    args = parser.parse_args()

    nc = await nats.connect(args.url, name="performance.subscriber")
    counts = {"received": 0, "bytes": 0}

    async def count(msg):
        if msg.data or not msg.reply:
            counts["received"] += 1
            counts["bytes"] += len(msg.data)
            return
        await msg.respond(json.dumps(counts).encode())  # the end marker: report, then start afresh
        counts.update(received=0, bytes=0)

    # The default limits (512k messages) let a fast publisher's backlog wait here instead of being dropped.
    await nc.subscribe(args.subject, cb=count, pending_msgs_limit=2_000_000, pending_bytes_limit=1 << 30)
    await nc.request(args.subject, b"", timeout=10)  # our own end marker answered: the server has the SUB
    print("READY", flush=True)

    await until_stopped()  # a `stop` line on stdin (any OS), SIGTERM, or stdin closed: the kernel is gone
    await nc.drain()


if __name__ == "__main__":
    nats_py_fixes.apply()  # nats-py 2.16's flush()/drain() ordering bug (helpers/nats_py_fixes.py)
    asyncio.run(main())
