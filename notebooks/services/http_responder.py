"""An HTTP responder for the performance notebook: `GET /inventory/<sku>` answers the same small JSON body
as services/perf_responder.py, from its own OS process (aiohttp, one event loop, like the NATS responder).

    python http_responder.py [--lifetime SECONDS]

It listens on 127.0.0.1, on a port the OS picks, prints READY once it accepts connections, then one line:
its base URL (http://127.0.0.1:PORT). `GET /stats` answers {"requests": n, "connections": n}: how many
requests it served and over how many distinct TCP connections, so the notebook can show
that keep-alive really reused one connection and that "a new connection per request" really opened one
each time. Service.stop() (a `stop` line on stdin, any OS) or SIGTERM stops it, and so does the end of
the kernel that started it (its stdin closes); `--lifetime`, if given, stops it after that long.
"""

import argparse
import asyncio
import json

from aiohttp import web

from helpers.services import until_stopped

BODY = b'{"sku": "apple", "in_stock": 12}'


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--lifetime", type=float, default=None, help="exit on its own after this long (default: never)")
    args = parser.parse_args()
    requests, connections = 0, set()

    async def inventory(request):
        nonlocal requests
        requests += 1
        connections.add(request.transport)  # one transport per TCP connection (kept, so never confused)
        return web.Response(body=BODY, content_type="application/json")

    async def stats(request):
        return web.Response(
            text=json.dumps({"requests": requests, "connections": len(connections)}), content_type="application/json"
        )

    app = web.Application()
    app.router.add_get("/inventory/{sku}", inventory)
    app.router.add_get("/stats", stats)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()  # port 0: any free port
    print("READY", flush=True)
    print("http://{}:{}".format(*runner.addresses[0]), flush=True)

    await until_stopped(args.lifetime)  # a `stop` line on stdin (any OS), SIGTERM, or the lifetime
    await runner.cleanup()


if __name__ == "__main__":
    asyncio.run(main())
