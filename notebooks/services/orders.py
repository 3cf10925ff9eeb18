"""Orders for the capstone's payment platform: takes an order, reserves its stock, charges it, has the
customer notified, and answers {"id": ..., "status": "placed"}, or "failed" with the reason.

    python orders.py http --inventory URL --payments URL --notifications URL [--port P]
                          [--workers 8] [--timeout 5] [--retries 0]        # A: POST /orders
    python orders.py nats --url NATS_URL [--workers 8] [--timeout 5]        # B: requests on `orders.place`
    python orders.py nats --url NATS_URL --notify request --subject orders.place.sync   # B sync

A calls the three other services over HTTP, one after another, and answers when the last one has answered:
the order waits for the notification. Each call has a timeout and may be retried (`POST /policy` with
{"timeout": s, "retries": n} changes both at run time); `GET /health` says how many orders it holds, its
policy, and how many calls it made to each service (every attempt counts).

B asks inventory and payments by request-reply (payments is a queue group) and then publishes the event
`orders.placed` to JetStream: once the stream has stored it, the order is placed. Notifications reads the
event when it can; the order does not wait for it.

B sync (`--notify request`) is B with one change, for a fair comparison: instead of publishing the event,
it asks notifications by request-reply (`notifications.send`, a queue group) and waits for the answer, as
A waits for its HTTP call. It takes its orders on its own subject (`--subject`), so both run side by side.

Both take at most `--workers` orders at a time (a pool of workers, as a server with N threads has); an
order that finds them all busy waits for one. (In B, N subscriptions in a queue group would not be a pool:
the server hands messages round-robin, so an order can wait behind a busy member while another is idle.)
The common parts (arguments, READY, stopping) are in shop.py.
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
    workers, tasks = asyncio.Semaphore(args.workers), set()

    async def place(msg):
        order = json.loads(msg.data)
        try:
            await nc.request("inventory.reserve", msg.data, timeout=args.timeout)  # request-reply
            await nc.request("payments.charge", msg.data, timeout=args.timeout)  # one member of the group
            if args.notify == "event":  # B: publish the event; once the stream has stored it, placed
                await js.publish("orders.placed", msg.data, headers={"Nats-Msg-Id": order["id"]})
            else:  # B sync: ask notifications and wait for its answer, as A waits for its HTTP call
                await nc.request("notifications.send", msg.data, timeout=args.timeout)
            answer = {"id": order["id"], "status": "placed"}
        except Exception as e:  # the caller learns why, and no event was published
            answer = {"id": order["id"], "status": "failed", "error": f"{type(e).__name__}: {e}"}
        await msg.respond(json.dumps(answer).encode())

    async def take(msg):  # each order waits for a free worker of the pool, as in A
        async with workers:
            await place(msg)

    async def arrived(msg):  # a subscription's callbacks run one at a time: hand each order to a task
        task = asyncio.create_task(take(msg))
        tasks.add(task)  # keep a reference until it is done
        task.add_done_callback(tasks.discard)

    await nc.subscribe(args.subject, queue="orders", cb=arrived)


if __name__ == "__main__":
    p = shop.parser(__doc__)
    p.add_argument("--workers", type=int, default=8, help="orders handled at once")
    p.add_argument("--timeout", type=float, default=5.0, help="seconds each call to another service may take")
    p.add_argument("--retries", type=int, default=0, help="retries of a failed call (A)")
    p.add_argument("--notify", choices=["event", "request"], default="event", help="B: how orders has it notified")
    p.add_argument("--subject", default="orders.place", help="the subject orders takes requests on (B)")
    for service in ("inventory", "payments", "notifications"):
        p.add_argument(f"--{service}", help=f"the {service} service's base URL (A)")
    shop.main("orders", p, http_routes, nats_service)
