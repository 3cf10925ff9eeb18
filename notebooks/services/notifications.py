"""Notifications for the capstone's payment platform: tells the customer an order was placed, and prints
`notified <order id> <delivery>` for each notification sent (delivery: 1, or JetStream's delivery count).

    python notifications.py http [--port P]                       # A: POST /notify, called by orders
    python notifications.py nats --url NATS_URL [--batch 50]      # B: reads the events `orders.placed` from
                                                                  #    the stream capstone-orders, durable consumer
                                                                  #    capstone-notifications (the notebook makes both);
                                                                  #    and requests on `notifications.send` (B sync)

Sending takes `lag` milliseconds, 0 at start. The notebook injects a lag at run time: A `POST /lag` with
{"ms": 200}; B a request on `notifications.lag` with b"200". Both answer the lag now in force. A's
`GET /health` says how many notifications it is sending right now.

In B nobody waits for a notification: the service fetches events in batches, sends them (concurrently, each
after the lag) and acks each one after sending it. Killed between sending and acking, it has sent a
notification that JetStream will deliver again (after the consumer's ack_wait): at least once.

B also answers requests on `notifications.send` (queue group `notifications`), for B sync, the variant of
orders that asks for each notification and waits: it sends (after the same lag), then answers.
The common parts (arguments, READY, stopping) are in shop.py.
"""

import asyncio
import json

import shop
from aiohttp import web

lag, sending = {"ms": 0.0}, {"now": 0}


async def send(order: dict, delivery: int) -> None:
    sending["now"] += 1
    try:
        await asyncio.sleep(lag["ms"] / 1000)  # an e-mail or SMS gateway taking its time
        print(f"notified {order['id']} {delivery}", flush=True)
    finally:
        sending["now"] -= 1


async def http_routes(args, app):
    async def notify(request):
        order = await request.json()
        await send(order, 1)
        return web.json_response({"id": order["id"], "notified": True})

    async def set_lag(request):
        lag["ms"] = float((await request.json())["ms"])
        return web.json_response(lag)

    async def health(request):
        return web.json_response({"sending": sending["now"], "lag ms": lag["ms"]})

    return [web.post("/notify", notify), web.post("/lag", set_lag), web.get("/health", health)]


async def nats_service(args, nc):
    js = nc.jetstream()
    events = await js.pull_subscribe("orders.placed", durable=args.durable, stream=args.stream)

    async def set_lag(msg):
        lag["ms"] = float(msg.data)
        await msg.respond(json.dumps(lag).encode())

    await nc.subscribe("notifications.lag", cb=set_lag)

    async def send_now(msg):  # B sync: the caller waits for this answer, lag included
        order = json.loads(msg.data)
        await send(order, 1)
        await msg.respond(json.dumps({"id": order["id"], "notified": True}).encode())

    tasks = set()

    async def arrived(msg):  # each request in a task of its own, as A's HTTP server serves each request at once
        task = asyncio.create_task(send_now(msg))
        tasks.add(task)  # keep a reference until it is done
        task.add_done_callback(tasks.discard)

    await nc.subscribe("notifications.send", queue="notifications", cb=arrived)

    async def notify(msg):
        await send(json.loads(msg.data), msg.metadata.num_delivered)
        await msg.ack()  # sent: JetStream will not deliver it again

    async def work():
        try:
            while True:
                try:
                    msgs = await events.fetch(args.batch, timeout=0.25)
                except TimeoutError:  # nothing new (nats' TimeoutError, or the built-in one): ask again
                    continue
                await asyncio.gather(*(notify(msg) for msg in msgs))
        finally:
            await events.unsubscribe()  # before drain(): a pull subscription could hold it up

    return work


if __name__ == "__main__":
    p = shop.parser(__doc__)
    p.add_argument("--stream", default="capstone-orders")
    p.add_argument("--durable", default="capstone-notifications")
    p.add_argument("--batch", type=int, default=50, help="events fetched at once (B)")
    shop.main("notifications", p, http_routes, nats_service)
