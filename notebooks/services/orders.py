"""Orders for notebook 13's payment platform: takes an order, reserves its stock, charges it, has the
customer notified, and answers {"id": ..., "status": "placed"}, or "failed" with the reason.

    python orders.py http --inventory URL --payments URL --notifications URL [--port P]
                          [--workers 8] [--timeout 5] [--retries 0]        # A: POST /orders
    python orders.py nats --url NATS_URL [--workers 8] [--timeout 5]        # B: requests on `orders.place`

A calls the three other services over HTTP, one after another, and answers when the last one has answered:
the order waits for the notification. Each call has a timeout and may be retried (`POST /policy` with
{"timeout": s, "retries": n} changes both at run time); `GET /health` says how many orders it holds, its
policy, and how many calls it made to each service (every attempt counts).

B asks inventory and payments by request-reply (payments is a queue group) and then publishes the event
`orders.placed` to JetStream: once the stream has stored it, the order is placed. Notifications reads the
event when it can; the order does not wait for it.

Both take at most `--workers` orders at a time (a pool of workers, as a server with N threads has); an
order that finds them all busy waits for one. The common parts (arguments, READY, stopping) are in shop.py.
"""

import asyncio
import json
from collections import Counter

import shop
from aiohttp import ClientError, ClientSession, ClientTimeout, TCPConnector, web


async def http_routes(args, app):
    session = ClientSession(connector=TCPConnector(limit=0))  # no pool limit: the workers are the limit
    app.on_cleanup.append(lambda app: session.close())
    policy = {"timeout": args.timeout, "retries": args.retries}
    workers, held, calls = asyncio.Semaphore(args.workers), {"orders": 0}, Counter()

    async def call(service, path, order):
        url = getattr(args, service) + path
        for _attempt in range(1 + policy["retries"]):
            calls[service] += 1
            try:
                async with session.post(url, json=order, timeout=ClientTimeout(total=policy["timeout"])) as r:
                    if r.status == 200:
                        return await r.json()
                    failure = f"{service} answered {r.status}"
            except (ClientError, TimeoutError) as e:
                failure = f"{service}: {type(e).__name__}"
        raise web.HTTPBadGateway(text=json.dumps({"id": order["id"], "status": "failed", "error": failure}))

    async def place(request):
        order = await request.json()
        held["orders"] += 1
        try:
            async with workers:  # one worker carries the order through the whole chain
                await call("inventory", "/reserve", order)
                await call("payments", "/charge", order)
                await call("notifications", "/notify", order)  # the order waits for the notification
        finally:
            held["orders"] -= 1
        return web.json_response({"id": order["id"], "status": "placed"})

    async def set_policy(request):
        policy.update(await request.json())
        return await health(request)

    async def health(request):
        return web.json_response({"orders held": held["orders"], "policy": policy, "calls": calls})

    return [web.post("/orders", place), web.post("/policy", set_policy), web.get("/health", health)]


async def nats_service(args, nc):
    js = nc.jetstream(timeout=args.timeout)

    async def place(msg):
        order = json.loads(msg.data)
        try:
            await nc.request("inventory.reserve", msg.data, timeout=args.timeout)  # request-reply
            await nc.request("payments.charge", msg.data, timeout=args.timeout)  # one member of the group
            await js.publish("orders.placed", msg.data, headers={"Nats-Msg-Id": order["id"]})  # stored: placed
            answer = {"id": order["id"], "status": "placed"}
        except Exception as e:  # the caller learns why, and no event was published
            answer = {"id": order["id"], "status": "failed", "error": f"{type(e).__name__}: {e}"}
        await msg.respond(json.dumps(answer).encode())

    for _ in range(args.workers):  # each subscription handles one order at a time: N of them, N workers
        await nc.subscribe("orders.place", queue="orders", cb=place)


if __name__ == "__main__":
    p = shop.parser(__doc__)
    p.add_argument("--workers", type=int, default=8, help="orders handled at once")
    p.add_argument("--timeout", type=float, default=5.0, help="seconds each call to another service may take")
    p.add_argument("--retries", type=int, default=0, help="retries of a failed call (A)")
    for service in ("inventory", "payments", "notifications"):
        p.add_argument(f"--{service}", help=f"the {service} service's base URL (A)")
    shop.main("orders", p, http_routes, nats_service)
