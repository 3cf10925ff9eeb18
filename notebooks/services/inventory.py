"""Inventory for the capstone's payment platform: reserves the stock of an order (always enough here).

    python inventory.py http [--port P]            # A: POST /reserve with the order's JSON
    python inventory.py nats --url NATS_URL        # B: a request on `inventory.reserve`

Both answer {"id": ..., "reserved": qty}. The common parts (arguments, READY, stopping) are in shop.py.
"""

import json

import shop
from aiohttp import web


def reserve(order: dict) -> dict:
    return {"id": order["id"], "reserved": order["qty"]}


async def http_routes(args, app):
    async def handle(request):
        return web.json_response(reserve(await request.json()))

    return [web.post("/reserve", handle)]


async def nats_service(args, nc):
    async def handle(msg):
        await msg.respond(json.dumps(reserve(json.loads(msg.data))).encode())

    await nc.subscribe("inventory.reserve", cb=handle)  # request-reply: the caller waits for this answer


if __name__ == "__main__":
    shop.main("inventory", shop.parser(__doc__), http_routes, nats_service)
