"""nats-py: flush()'s PING overtakes commands still in the pending buffer (and drain() loses messages).

Standalone: needs only nats-py and, for parts 2 and 3, a nats-server (any 2.x) at --url.

    python reproduce.py                      # 1 only (no server needed)
    python reproduce.py --url nats://127.0.0.1:4222 [--members 100] [--seconds 0]
    python reproduce.py --url ... --fix      # the same with the proposed fix (fix.patch) patched in

1. Write order, deterministic, no server: a recorder standing in for the server shows that after
   `publish(); flush()` the client sends PING before the PUB.
2. flush() returns early: publish 200 x 4 KiB on a subject this connection subscribes to, flush()
   once; when flush() returns, fewer than 200 copies have come back from the server, i.e. the server
   had not processed them, though a PONG promises it had.
3. drain() loses messages: one stable member and --members short-lived members of a queue group,
   each drain()ed right after joining, while a publisher publishes as fast as it can. Every message
   the server routed to a member whose UNSUB it had not processed yet, after the member's flush()
   returned, is dropped by the client (its subscription was already removed). Expected: 0 lost.
"""

from __future__ import annotations

import argparse
import asyncio
import time

import nats
from nats.aio.client import PING_PROTO, Client


async def fixed_send_ping(self, future=None):
    """The proposed fix (fix.patch): queue the PING behind the pending commands."""
    if future is None:
        future = asyncio.get_running_loop().create_future()
    self._pongs.append(future)
    await self._send_command(PING_PROTO)
    await self._flush_pending()


async def write_order() -> list[str]:
    """1. The commands a client sends for publish(); flush(), in the order a server receives them."""
    seen: list[str] = []

    async def serve(reader, writer):
        writer.write(b'INFO {"server_id":"recorder","max_payload":1048576,"proto":1,"headers":true}\r\n')
        while line := await reader.readline():
            op = line.split(b" ", 1)[0].strip().decode()
            seen.append(op)
            if op == "PUB":
                await reader.readexactly(int(line.split()[-1]) + 2)
            if op == "PING":
                writer.write(b"PONG\r\n")
        writer.close()

    server = await asyncio.start_server(serve, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    nc = await nats.connect(f"nats://127.0.0.1:{port}", allow_reconnect=False)
    seen.clear()  # CONNECT and the connect handshake's PING
    await nc.publish("demo", b"x")
    await nc.flush()
    order = list(seen)
    await nc.close()
    server.close()
    return order


async def flush_returns_early(url: str, trials: int = 10, count: int = 200, size: int = 4096) -> list[int]:
    """2. Per trial: how many of `count` messages the server had processed when flush() returned."""
    nc = await nats.connect(url)
    back = []
    for i in range(trials):
        echo = await nc.subscribe(f"repro.flush.{i}")
        await nc.flush()
        for _ in range(count):
            await nc.publish(f"repro.flush.{i}", b"x" * size)
        await nc.flush()
        back.append(echo.pending_msgs)
        await echo.unsubscribe()
    await nc.close()
    return back


async def drain_churn(url: str, members: int, seconds: float) -> dict:
    """3. Published, processed and lost while queue-group members join and drain() away."""
    subject, queue = "repro.churn", "workers"
    processed: list[int] = []
    done = asyncio.Event()

    async def work(msg):
        processed.append(int(msg.data))

    async def end(msg):
        done.set()

    stable = await nats.connect(url, name="repro-stable")
    await stable.subscribe(subject, queue=queue, cb=work)
    await stable.subscribe(subject + ".end", cb=end)
    await stable.flush()
    pub = await nats.connect(url, name="repro-publisher")
    published, stop = 0, asyncio.Event()

    async def publisher():
        nonlocal published
        while not stop.is_set():
            for _ in range(50):
                await pub.publish(subject, str(published).encode())
                published += 1
            await asyncio.sleep(0)

    task = asyncio.create_task(publisher())
    started, cycles = time.monotonic(), 0
    while cycles < members or time.monotonic() - started < seconds:
        member = await nats.connect(url, name=f"repro-member-{cycles}")
        await member.subscribe(subject, queue=queue, cb=work)
        await member.flush()
        await member.drain()
        cycles += 1
    stop.set()
    await task
    # The end marker travels behind every message on the same connection, and reaches `stable` after
    # everything routed to it: once it is in, the count is final (independent of flush()).
    await pub.publish(subject + ".end", b"")
    await asyncio.wait_for(done.wait(), 10)
    await stable.drain()
    await pub.close()
    return {
        "cycles": cycles,
        "published": published,
        "processed": len(processed),
        "duplicates": len(processed) - len(set(processed)),
        "lost": published - len(set(processed)),
    }


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--url", help="a nats-server for parts 2 and 3")
    parser.add_argument("--members", type=int, default=100, help="short-lived members in part 3")
    parser.add_argument("--seconds", type=float, default=0.0, help="keep churning at least this long")
    parser.add_argument("--fix", action="store_true", help="patch Client._send_ping with the proposed fix")
    args = parser.parse_args()
    if args.fix:
        Client._send_ping = fixed_send_ping
    from importlib.metadata import version

    print(f"nats-py {version('nats-py')}, {'with' if args.fix else 'without'} the fix")
    order = await write_order()
    where = "BEFORE" if order.index("PING") < order.index("PUB") else "after"
    print(f"1. publish(); flush() sends {order}: PING {where} the PUB")
    if not args.url:
        return
    back = await flush_returns_early(args.url)
    print(f"2. copies back when flush() returned, of 200 published, per trial: {back}")
    result = await drain_churn(args.url, args.members, args.seconds)
    print(f"3. drain() under churn: {result}")


if __name__ == "__main__":
    asyncio.run(main())
