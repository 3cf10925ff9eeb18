"""A user-event listener: a separate program that subscribes to `user.created`.

It prints READY once the server has its subscription, then one line per message
received (the message body, as sent). Stop it with SIGTERM (Service.stop()): it
drains its connection and exits. It exits on its own after `lifetime` seconds,
so a forgotten listener never lingers.

    python user_listener.py NATS_URL [SUBJECT] [LIFETIME_SECONDS]
"""

import asyncio
import signal
import sys

import nats


async def main(url: str, subject: str = "user.created", lifetime: float = 120.0) -> None:
    nc = await nats.connect(url, name="01-user-listener")

    async def on_message(msg):
        print(msg.data.decode(), flush=True)

    await nc.subscribe(subject, cb=on_message)
    await nc.flush()  # nats-py 2.16.0: this PING may overtake the SUB still in the client's buffer...
    await nc.flush()  # ...this PONG comes after the server processed the SUB: it has our subscription
    print("READY", flush=True)

    stop = asyncio.Event()
    try:
        asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stop.set)
    except NotImplementedError:  # Windows: SIGTERM ends the process at once
        pass
    try:
        await asyncio.wait_for(stop.wait(), lifetime)
    except TimeoutError:
        pass
    await nc.drain()


if __name__ == "__main__":
    args = sys.argv[1:]
    asyncio.run(main(args[0], *args[1:2], *(float(a) for a in args[2:3])))
