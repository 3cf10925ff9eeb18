"""An invoice processor: a JetStream pull consumer (a durable) running as its own OS process.

    python invoice_processor.py NATS_URL [--stream INVOICES] [--durable invoice-processor]
                                         [--subject invoices.created] [--batch 5] [--work-ms 30]

It binds to the durable consumer (the notebook created it), prints READY, then
fetches invoices in batches. For each invoice it does the work (sleeps
--work-ms), prints one line `<invoice id> <delivery count> <unix time>`, and
only then acknowledges it, waiting for the server to confirm (ack_sync).

Work first, ack after: if the process dies between the two, the server
redelivers the invoice to the next instance (a duplicate, never a loss).
Messages it fetched but had not acked when it died are redelivered after the
consumer's ack_wait. Asked to stop (Service.stop() writes `stop` to its stdin;
SIGTERM works too where the OS has signals), it finishes the invoice in hand and
leaves with drain(); the notebook uses SIGKILL to crash it.

An empty fetch raises TimeoutError (nats-py 2.16 sometimes raises the built-in
one rather than nats.errors.TimeoutError, or returns [] when batch > 1): the
loop catches TimeoutError, and an empty list simply processes nothing.
"""

import argparse
import asyncio
import json
import time

import nats

from helpers import nats_py_fixes
from helpers.services import stop_requested


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("url")
    parser.add_argument("--stream", default="INVOICES")
    parser.add_argument("--durable", default="invoice-processor")
    parser.add_argument("--subject", default="invoices.created")
    parser.add_argument("--batch", type=int, default=5)
    parser.add_argument("--work-ms", type=float, default=30.0)
    args = parser.parse_args()

    stop = stop_requested()
    nc = await nats.connect(args.url, name="consumers.invoice-processor")
    js = nc.jetstream()
    psub = await js.pull_subscribe(args.subject, durable=args.durable, stream=args.stream)
    await nc.flush()  # the server has processed the SUB for our fetch replies
    print("READY", flush=True)

    while not stop.is_set():
        try:
            msgs = await psub.fetch(args.batch, timeout=0.25)
        except TimeoutError:  # nothing to do right now (nats.errors.TimeoutError, or the built-in one): ask again
            continue
        for msg in msgs:
            invoice = json.loads(msg.data)
            await asyncio.sleep(args.work_ms / 1000)  # the work
            print(f"{invoice['id']} {msg.metadata.num_delivered} {time.time():.4f}", flush=True)
            await msg.ack_sync(timeout=2.0)  # only now is it done, as far as JetStream knows

    # nats-py 2.16: after a timed-out fetch, drain() can wait out drain_timeout (30 s) on the pull
    # subscription's inbox; it holds nothing unacked here (every fetched invoice was acked), so leave it first.
    await psub.unsubscribe()
    await nc.drain()  # every invoice it fetched was acked above: leave gracefully


if __name__ == "__main__":
    nats_py_fixes.apply()  # nats-py 2.16's flush()/drain() ordering bug (helpers/nats_py_fixes.py)
    asyncio.run(main())
