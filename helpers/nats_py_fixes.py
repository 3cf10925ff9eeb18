"""The course's handling of nats-py 2.16.0 client bugs, in one place: call `apply()` once per process.

NATS promises that `flush()` returns when the server has processed everything the client sent before
it, and that `drain()` loses nothing. The course's code is written to that promise. nats-py 2.16.0
breaks it in two places, and `apply()` patches both in the installed client:

1. flush ordering (`Client._send_ping`): `flush()` writes its PING straight to the socket, ahead of
   the PUB/SUB/UNSUB commands still in the client's pending buffer. The PONG can then come back before
   the server has seen them: `flush()` returns too early, a request right after subscribe() can get
   "no responders", and `drain()` (UNSUB, flush, remove the subscription) drops messages the server
   still routes to the subscription. The fix queues the PING behind the pending commands, as every
   other NATS client does (and as nats.py2 did in 2017, nats-io/nats.py2 PR #24). Notebook 01's
   "Deep dive: nats-py 2.16 sends flush()'s PING too early" measures it; upstream/nats-py-flush-ordering/
   holds a reproducer and the patch.
2. KV end-of-initial-values marker (`KeyValue.watch`, used by `keys()` and `history()`): the watcher
   announces "no initial values" when the consumer's info says nothing is pending and the client has
   not received anything yet. Under load the server has already sent the values (so its `num_pending`
   is 0) but they are still on the wire, so the marker comes first and `keys()`/`history()` raise
   NoKeysError on a non-empty bucket. The fix asks the consumer info the right question: has the
   consumer *delivered* anything (`delivered.consumer_seq`)? If it has, the values are on their way
   and the last one carries the marker.

`apply()` is idempotent and changes nothing else. tests/test_nats_py_fixes.py fails as soon as the
installed nats-py no longer has one of the bugs (`flush_ping_overtakes_buffer()` and
`kv_marker_precedes_values()` detect them deterministically, without a server), so that the
workaround is removed then. `unpatched()` restores nats-py's own code for a measurement.
"""

from __future__ import annotations

import asyncio
import contextlib
import copy
from importlib.metadata import version

from nats.aio.client import PING_PROTO, Client
from nats.js.kv import KeyValue

NATS_PY = version("nats-py")

_ORIGINAL = {"send_ping": Client._send_ping, "kv_watch": KeyValue.watch}


async def _send_ping(self, future: asyncio.Future | None = None) -> None:
    """Client._send_ping as upstream/nats-py-flush-ordering/fix.patch makes it: the PING joins the pending
    buffer behind every command sent before it, so the server's PONG means it processed them all."""
    if future is None:
        future = asyncio.Future()
    self._pongs.append(future)
    await self._send_command(PING_PROTO)
    await self._flush_pending()


async def _kv_watch(self, keys, *args, **kwargs):
    """KeyValue.watch, with the "no initial values" marker sent only when the consumer delivered none."""
    bucket = copy.copy(self)  # the same bucket, looked at through a JetStream context that...
    bucket._js = _InFlightCountsAsPending(self._js)
    return await _ORIGINAL["kv_watch"](bucket, keys, *args, **kwargs)


class _InFlightCountsAsPending:
    """...is the bucket's own, except that a watcher's consumer_info() counts as pending what the server
    has delivered (`delivered.consumer_seq`) but the client has not received yet (`sub.delivered`).
    nats-py's watch() sends its marker when num_pending == 0 and the client received nothing; with this,
    that happens only when the consumer really had nothing to deliver."""

    def __init__(self, js) -> None:
        self._wrapped = js

    def __getattr__(self, name):
        return getattr(self._wrapped, name)

    async def subscribe(self, *args, **kwargs):
        sub = await self._wrapped.subscribe(*args, **kwargs)
        consumer_info = sub.consumer_info

        async def consumer_info_counting_in_flight():
            info = await consumer_info()
            delivered = info.delivered.consumer_seq if info.delivered and info.delivered.consumer_seq else 0
            info.num_pending = (info.num_pending or 0) + max(0, delivered - sub.delivered)
            return info

        sub.consumer_info = consumer_info_counting_in_flight
        return sub


def apply() -> None:
    """Patch the installed nats-py (idempotent). Call it once in every process that uses nats-py."""
    Client._send_ping = _send_ping
    KeyValue.watch = _kv_watch


def applied() -> bool:
    return Client._send_ping is _send_ping and KeyValue.watch is _kv_watch


@contextlib.contextmanager
def unpatched():
    """nats-py's own code inside the block (to measure the bugs); the previous state afterwards."""
    before = Client._send_ping, KeyValue.watch
    Client._send_ping, KeyValue.watch = _ORIGINAL["send_ping"], _ORIGINAL["kv_watch"]
    try:
        yield
    finally:
        Client._send_ping, KeyValue.watch = before


class _RecordingServer:
    """Just enough of a NATS server on 127.0.0.1 to record, in order, the commands a client sends."""

    def __init__(self) -> None:
        self.commands: list[str] = []
        self.server: asyncio.Server | None = None

    async def __aenter__(self) -> _RecordingServer:
        self.server = await asyncio.start_server(self._client, "127.0.0.1", 0)
        return self

    async def __aexit__(self, *exc) -> None:
        self.server.close()
        await self.server.wait_closed()

    @property
    def url(self) -> str:
        host, port = self.server.sockets[0].getsockname()[:2]
        return f"nats://{host}:{port}"

    async def _client(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.write(
            b'INFO {"server_id":"recorder","version":"2.15.1","max_payload":1048576,"proto":1,"headers":true}\r\n'
        )
        try:
            while line := await reader.readline():
                op = line.split(b" ", 1)[0].strip().upper().decode()
                self.commands.append(op)
                if op in ("PUB", "HPUB"):  # the payload line follows
                    size = int(line.split()[-1])
                    await reader.readexactly(size + 2)
                if op == "PING":
                    writer.write(b"PONG\r\n")
                    await writer.drain()
        except (ConnectionError, asyncio.IncompleteReadError):
            pass
        finally:
            writer.close()


async def flush_ping_overtakes_buffer(timeout: float = 5.0) -> bool:
    """Does the installed Client (as it is now: patched or not) send flush()'s PING ahead of a PUB that
    was published just before? Deterministic: no nats-server, a recorder of the bytes the client sends."""
    import nats

    async with _RecordingServer() as recorder:
        nc = await nats.connect(recorder.url, connect_timeout=timeout, allow_reconnect=False)
        try:
            recorder.commands.clear()  # CONNECT and the handshake's PING are not the question
            await nc.publish("demo", b"x")
            await nc.flush(timeout=timeout)
            sent = list(recorder.commands)
        finally:
            await nc.close()
    if "PUB" not in sent or "PING" not in sent:
        raise RuntimeError(f"the recorder saw {sent}, not a PUB and a PING")
    return sent.index("PING") < sent.index("PUB")


async def kv_marker_precedes_values() -> bool:
    """Does the installed KeyValue.watch (as it is now: patched or not) announce "no initial values" when
    the server has delivered three values that have not reached the client yet? Deterministic: no server,
    a stand-in JetStream context whose consumer reports num_pending=0 and three messages delivered."""
    from types import SimpleNamespace

    class InFlight:  # a watcher's subscription: 3 values sent by the server, none received yet
        delivered = 0

        async def consumer_info(self):
            return SimpleNamespace(num_pending=0, delivered=SimpleNamespace(consumer_seq=3, stream_seq=3))

        async def unsubscribe(self):
            pass

    class JetStream:
        _timeout = 1.0

        async def subscribe(self, *args, **kwargs):
            return InFlight()

    kv = KeyValue(name="demo", stream="KV_demo", pre="$KV.demo.", js=JetStream(), direct=False)
    watcher = await kv.watch(">")
    return not watcher._updates.empty() and watcher._updates.get_nowait() is None
