"""An inventory service built with nats.micro: one instance of the `inventory` service, as its own OS process.

    python inventory_service.py NATS_URL INSTANCE [--version 1.0.0]

It registers the service `inventory` (the instance's label goes into its metadata) with two endpoints in
the group `inventory`: `stock` on `inventory.stock` and `price` on `inventory.price`. Each request's
payload is a SKU (b"apple"); the reply is JSON that names the instance that answered. Both endpoints
listen in micro's default queue group `q`, so the instances share the requests.

An unknown SKU is an error, sent two ways on purpose (the notebook "Services and discovery" compares them):
`stock` raises `ServiceError`, which nats.micro turns into the error headers AND counts in the endpoint's stats;
`price` calls `req.respond_error(...)`, which sends the same headers but, in nats-py 2.16, is not counted.

It prints READY once requests can reach it, then its instance id (the one discovery reports). Asked to
stop (Service.stop() writes `stop` to its stdin, any OS; or SIGTERM) it drains its connection and exits:
the server drops its endpoint and discovery subscriptions, and requests it already received are answered
first. (nats-py 2.16's `service.stop()` unsubscribes without draining: it cancels a handler at work and
drops requests already received, whose callers then time out.) It lives as long as whoever started it:
when the notebook's kernel goes away, this process's stdin closes and it stops the same way.
"""

import argparse
import asyncio
import json

import nats
from nats import micro
from nats.micro.request import ServiceError

from helpers import nats_py_fixes
from helpers.services import until_stopped

STOCK = {"apple": 12, "pear": 0, "plum": 7, "fig": 31}
PRICE = {"apple": 0.5, "pear": 0.8, "plum": 0.3, "fig": 1.2}


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("url")
    parser.add_argument("instance")
    parser.add_argument("--version", default="1.0.0")
    args = parser.parse_args()

    nc = await nats.connect(args.url, name=f"services-and-discovery.{args.instance}")

    async def stock(req):
        sku = req.data.decode()
        if sku not in STOCK:
            raise ServiceError("404", f"unknown SKU {sku!r}")  # error headers, and counted in STATS
        reply = {"sku": sku, "in_stock": STOCK[sku], "instance": args.instance}
        await req.respond(json.dumps(reply).encode())

    async def price(req):
        sku = req.data.decode()
        if sku not in PRICE:
            await req.respond_error("404", f"unknown SKU {sku!r}")  # error headers, not counted (nats-py 2.16)
            return
        await req.respond(json.dumps({"sku": sku, "price": PRICE[sku], "instance": args.instance}).encode())

    service = await micro.add_service(
        nc,
        name="inventory",
        version=args.version,
        description="Stock levels and prices by SKU",
        metadata={"instance": args.instance},
    )
    group = service.add_group(name="inventory")
    await group.add_endpoint(name="stock", handler=stock)
    await group.add_endpoint(name="price", handler=price)

    # Ready means: a request can reach this instance. Ask the server to route a PING to this instance's
    # own id: it travels behind the endpoint subscriptions on this connection, and the server handles one
    # connection's commands in order, so the answer proves the server has every subscription.
    await nc.request(f"$SRV.PING.inventory.{service.id}", b"", timeout=5.0)
    print("READY", flush=True)
    print(service.id, flush=True)

    await until_stopped()  # a `stop` line on stdin (any OS), stdin closed (the kernel went), or SIGTERM
    await nc.drain()  # unsubscribe everything at the server, answer what was received, close


if __name__ == "__main__":
    nats_py_fixes.apply()  # nats-py 2.16's flush()/drain() ordering bug (helpers/nats_py_fixes.py)
    asyncio.run(main())
