"""A reverse proxy for the performance notebook: one extra HTTP hop, in its own OS process.

    python http_proxy.py UPSTREAM_URL [--lifetime SECONDS]

Every `GET /<path>` is forwarded to UPSTREAM_URL/<path> over a keep-alive connection pool (what a load
balancer or an API gateway does between a caller and a service), and the upstream's status, body and
content type come back. It listens on 127.0.0.1 on a port the OS picks, prints READY once it accepts
connections, then one line: its base URL. It is a small aiohttp program, not nginx or Envoy: a
production proxy costs less per hop, and adds TLS, routing rules and retries that cost more.
Service.stop() (a `stop` line on stdin, any OS) or SIGTERM stops it, and so does the end of the
kernel that started it (its stdin closes); `--lifetime`, if given, stops it after that long.
"""

import argparse
import asyncio

from aiohttp import ClientSession, ClientTimeout, TCPConnector, web

from helpers.services import until_stopped


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("upstream")
    parser.add_argument("--lifetime", type=float, default=None, help="exit on its own after this long (default: never)")
    args = parser.parse_args()
    upstream = args.upstream.rstrip("/")
    session = ClientSession(connector=TCPConnector(limit=100), timeout=ClientTimeout(total=10))

    async def forward(request):
        async with session.get(upstream + request.path_qs) as response:
            body = await response.read()
            return web.Response(status=response.status, body=body, content_type=response.content_type)

    app = web.Application()
    app.router.add_get("/{path:.*}", forward)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    print("READY", flush=True)
    print("http://{}:{}".format(*runner.addresses[0]), flush=True)

    await until_stopped(args.lifetime)  # a `stop` line on stdin (any OS), SIGTERM, or the lifetime
    await runner.cleanup()
    await session.close()


if __name__ == "__main__":
    asyncio.run(main())
