"""A user-event listener: a separate program that subscribes to `user.created`.

It prints READY once the server has its subscription, then one line per message
received (the message body, as sent). Service.stop() asks it to stop (a `stop`
line on its stdin; SIGTERM or Ctrl-C work too where the OS has signals): it
drains its connection and exits. It lives as long as the kernel that started it: its stdin closes
when that kernel goes, and it stops then. A LIFETIME_SECONDS argument, if given, stops it after that long.

    python user_listener.py NATS_URL [SUBJECT] [LIFETIME_SECONDS]
"""

import asyncio
import sys

import nats

from helpers import nats_py_fixes
from helpers.services import until_stopped


async def main(url: str, subject: str = "user.created", lifetime: float | None = None) -> None:
    nc = await nats.connect(url, name="publish-subscribe.user-listener")

    async def on_message(msg):
        print(msg.data.decode(), flush=True)

    await nc.subscribe(subject, cb=on_message)
    await nc.flush()  # the server has processed our SUB: we are subscribed
    print("READY", flush=True)
    await until_stopped(lifetime)
    await nc.drain()  # handle what already arrived, unsubscribe, close


if __name__ == "__main__":
    nats_py_fixes.apply()  # nats-py 2.16's flush()/drain() ordering bug (helpers/nats_py_fixes.py)
    args = sys.argv[1:]
    asyncio.run(main(args[0], *args[1:2], *(float(a) for a in args[2:3])))
