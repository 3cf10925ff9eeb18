"""A TCP proxy that adds room Wi-Fi's latency (about 30 ms ± 20 ms each way) between clients and a server:
`make test-workshop` runs the room through it, as learners' laptops reach the instructor's box.

    python -m room.latency_proxy 127.0.0.1:4222 [--listen-port 14222 --delay-ms 30 --jitter-ms 20]

Loopback only. Each direction of each connection keeps its bytes in order: a chunk is delivered at
max(previous delivery, arrival + delay ± jitter), as TCP over a jittery link would.
"""

from __future__ import annotations

import argparse
import asyncio
import random
import sys
import threading
import time


class LatencyProxy:
    """Listen on 127.0.0.1:<port>; forward to `target` with a delay on every chunk, each way."""

    def __init__(self, target_port: int, *, delay_ms: float = 30.0, jitter_ms: float = 20.0, seed: int | None = None):
        self.target_port, self.delay, self.jitter = target_port, delay_ms / 1000, jitter_ms / 1000
        self.random = random.Random(seed)
        self.port: int | None = None
        self.connections = 0
        self._loop: asyncio.AbstractEventLoop | None = None
        self._server: asyncio.Server | None = None
        self._thread: threading.Thread | None = None

    def _delay(self) -> float:
        return max(0.0, self.delay + self.random.uniform(-self.jitter, self.jitter))

    async def _pipe(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        queue: asyncio.Queue = asyncio.Queue()

        async def deliver():
            while True:
                due, data = await queue.get()
                if data is None:
                    break
                wait = due - time.monotonic()
                if wait > 0:
                    await asyncio.sleep(wait)  # the link's latency for this chunk
                writer.write(data)
                await writer.drain()

        sender = asyncio.create_task(deliver())
        last = 0.0
        try:
            while data := await reader.read(65536):
                last = max(last, time.monotonic() + self._delay())
                queue.put_nowait((last, data))
        except (ConnectionError, OSError):
            pass
        queue.put_nowait((0.0, None))
        try:
            await sender
        except (ConnectionError, OSError):
            pass
        finally:
            writer.close()

    async def _handle(self, client_r, client_w) -> None:
        self.connections += 1
        try:
            server_r, server_w = await asyncio.open_connection("127.0.0.1", self.target_port)
        except OSError:
            client_w.close()
            return
        await asyncio.gather(self._pipe(client_r, server_w), self._pipe(server_r, client_w), return_exceptions=True)

    async def _serve(self, port: int) -> None:
        self._server = await asyncio.start_server(self._handle, "127.0.0.1", port)
        self.port = self._server.sockets[0].getsockname()[1]

    def start(self, port: int = 0) -> LatencyProxy:
        """Run in a background thread (tests); returns once it listens."""
        ready = threading.Event()

        def run():
            self._loop = asyncio.new_event_loop()
            self._loop.run_until_complete(self._serve(port))
            ready.set()
            self._loop.run_forever()

        self._thread = threading.Thread(target=run, daemon=True, name="latency-proxy")
        self._thread.start()
        if not ready.wait(10):
            raise TimeoutError("the latency proxy did not start")
        return self

    def stop(self) -> None:
        if self._loop and self._server:

            async def close():
                self._server.close()
                for task in asyncio.all_tasks():
                    if task is not asyncio.current_task():
                        task.cancel()

            asyncio.run_coroutine_threadsafe(close(), self._loop).result(10)
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(10)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m room.latency_proxy", description=__doc__)
    parser.add_argument("target", help="127.0.0.1:PORT of the server")
    parser.add_argument("--listen-port", type=int, default=0)
    parser.add_argument("--delay-ms", type=float, default=30.0)
    parser.add_argument("--jitter-ms", type=float, default=20.0)
    args = parser.parse_args(argv)
    host, port = args.target.rsplit(":", 1)
    if host not in ("127.0.0.1", "localhost"):
        raise SystemExit("loopback only")
    proxy = LatencyProxy(int(port), delay_ms=args.delay_ms, jitter_ms=args.jitter_ms).start(args.listen_port)
    print(f"127.0.0.1:{proxy.port} -> {args.target}, {args.delay_ms:g} ms ± {args.jitter_ms:g} ms each way", flush=True)
    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        proxy.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
