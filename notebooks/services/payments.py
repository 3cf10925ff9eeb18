"""Payments for the capstone's payment platform: charges an order and prints `charged <order id>`.

    python payments.py http [--port P]                      # A: POST /charge with the order's JSON
    python payments.py nats --url NATS_URL [--workers 4]    # B: requests on `payments.charge`, queue group

In B every instance subscribes `--workers` times in the queue group `payments`: the server hands each
charge to one member, so a second instance started beside this one would share the work (a queue group).
The common parts (arguments, READY, stopping) are in shop.py.
"""

import json

import shop
from aiohttp import web


def charge(order: dict) -> dict:
    print(f"charged {order['id']}", flush=True)  # the card is charged now, whatever happens to the order next
    return {"id": order["id"], "charged": order["amount"]}


async def http_routes(args, app):
    async def handle(request):
        return web.json_response(charge(await request.json()))

    return [web.post("/charge", handle)]


async def nats_service(args, nc):
    async def handle(msg):
        await msg.respond(json.dumps(charge(json.loads(msg.data))).encode())

    for _ in range(args.workers):
        await nc.subscribe("payments.charge", queue="payments", cb=handle)


if __name__ == "__main__":
    p = shop.parser(__doc__)
    p.add_argument("--workers", type=int, default=4, help="members of the queue group in this process (B)")
    shop.main("payments", p, http_routes, nats_service)
