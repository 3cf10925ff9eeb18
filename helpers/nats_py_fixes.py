"""The course's handling of nats-py 2.16.0 client bugs, in one place: call `apply()` once per process.

NATS promises that `flush()` returns when the server has processed everything the client sent before
it, and that `drain()` loses nothing. The course's code is written to that promise. nats-py 2.16.0
breaks it, and `apply()` patches the installed client:

1. flush ordering (`Client._send_ping`): `flush()` writes its PING straight to the socket, ahead of
   the PUB/SUB/UNSUB commands still in the client's pending buffer. The PONG can then come back before
   the server has seen them: `flush()` returns too early, a request right after subscribe() can get
   "no responders", and `drain()` (UNSUB, flush, remove the subscription) drops messages the server
   still routes to the subscription. The fix queues the PING behind the pending commands, as every
   other NATS client does (and as nats.py2 did in 2017, nats-io/nats.py2 PR #24). The deep dive
   "nats-py 2.16 sends flush()'s PING too early" in the Publish/subscribe notebook measures it;
   upstream/nats-py-flush-ordering/ holds a reproducer and the patch.
1b. a PING queued by that fix and replayed after a reconnect (`Client._process_connect_init`): the
   pending buffer survives a reconnect and is sent again on the new connection, but nats-py empties
   its list of PONG waiters there. A PING still in the buffer when the connection dropped (the flusher
   had not written it yet: a socket that stopped taking bytes, a flush() racing the disconnect) was
   then answered with a PONG nobody waits for, which resolved the *next* flush() early, once (nats-py's
   own reconnect flush(), or the application's first one after it). nats-py itself never replays a
   PING (it writes it straight to the socket), so this comes with fix 1, found by reading the code and
   reproduced by `stale_ping_resolves_next_flush()`. The fix keeps, across the reconnect, the waiters
   of the PINGs that are still in the buffer (the last ones: PONGs answer PINGs in order), so each
   replayed PING resolves its own flush(), after what was buffered before it.
2. KV end-of-initial-values marker (`KeyValue.watch`, used by `keys()` and `history()`): the watcher
   announces "no initial values" when the consumer's info says nothing is pending and the client has
   not received anything yet. Under load the server has already sent the values (so its `num_pending`
   is 0) but they are still on the wire, so the marker comes first and `keys()`/`history()` raise
   NoKeysError (or return too little) on a non-empty bucket. This is upstream nats-io/nats.py issue
   #842; PR #995 (open) fixes it together with a second cause. The fix here asks the consumer info the
   right question: has the consumer *delivered* anything (`delivered.consumer_seq`)? If it has, the
   values are on their way and the last one carries the marker.
   What it does NOT handle (PR #995's first cause): the marker that nats-py also sends when any
   delivered message reports `num_pending == 0` in its metadata. Under concurrent writes that number
   can reach 0 and grow again (PR #995 shows it on a three-node cluster: revision 1996 reported 0,
   1997 and 1998 came after it), so `keys()`/`history()` can still stop early there. The course's
   single server with no concurrent writers during `keys()`/`history()` does not meet that case; a
   service that lists keys while others write, on a cluster, can, until nats-py ships PR #995's fix.
3. a misleading warning: `KeyValue.keys(filters=...)` logs "Server may ignore filters if version is
   < 2.10." (logger `nats.js.kv`) on every call with filters, whatever the server's version: nats-py
   2.16 never sends those filters to the server (it matches them on the client, as substrings). `apply()`
   drops exactly that message from that logger, nothing else; the key-value notebook's deep dive on
   `keys(filters=...)` shows what the filters really do.
4. a harmless warning over TLS: asyncio logs "returning true from eof_received() has no effect when using
   ssl" each time a server ends a TLS session (after every close() or drain()). Its cause is nats-py's
   `TcpTransport.connect_tls` (nats/aio/transport.py): it makes its own StreamReaderProtocol and passes it
   to `loop.start_tls()`, which never tells that protocol it runs over SSL (asyncio's own
   `StreamWriter.start_tls()` calls `protocol._replace_writer()`; nats-py does not), so its
   `eof_received()` returns True and asyncio's SSLProtocol says the value is ignored, as it is: the
   connection shuts down as it should. `apply()` drops exactly that message from the `asyncio` logger.

`apply()` is idempotent and changes nothing else. tests/test_nats_py_fixes.py fails as soon as the
installed nats-py no longer has one of the bugs (`flush_ping_overtakes_buffer()`,
`kv_marker_precedes_values()`, `kv_filters_warning_logged()` and `tls_eof_warning_logged()` detect them
deterministically, without a server), so that the workaround is removed then. `unpatched()` restores
nats-py's own code for a measurement.
"""

from __future__ import annotations

import asyncio
import contextlib
import copy
import logging
from importlib.metadata import version

from nats.aio.client import PING_PROTO, Client
from nats.js.kv import KeyValue

NATS_PY = version("nats-py")

_ORIGINAL = {
    "send_ping": Client._send_ping,
    "connect_init": Client._process_connect_init,
    "kv_watch": KeyValue.watch,
}
KV_FILTERS_WARNING = "Server may ignore filters if version is < 2.10."
TLS_EOF_WARNING = "returning true from eof_received() has no effect when using ssl"


async def _send_ping(self, future: asyncio.Future | None = None) -> None:
    """Client._send_ping as upstream/nats-py-flush-ordering/fix.patch makes it: the PING joins the pending
    buffer behind every command sent before it, so the server's PONG means it processed them all."""
    if future is None:
        future = asyncio.Future()
    self._pongs.append(future)
    await self._send_command(PING_PROTO)
    await self._flush_pending()


async def _process_connect_init(self) -> None:
    """Client._process_connect_init, keeping the PONG waiters of the PINGs still in the pending buffer.

    nats-py empties `_pongs` here (a PING written to the old socket will never be answered), but the
    pending buffer is kept and sent again on the new connection: with fix 1 it can hold PINGs, and their
    waiters are the last ones in `_pongs` (PINGs and PONGs go in order). Keep those, so that each
    replayed PING's PONG resolves its own flush() and not the next one."""
    queued = sum(1 for command in self._pending if command is PING_PROTO)  # only fix 1 queues this object
    loop = asyncio.get_running_loop()
    # a waiter that gave up (its flush() timed out: a cancelled future) keeps its place with a stand-in, so
    # that the later PONGs stay in step and nats-py's _process_pong never sets the result of a cancelled one
    waiting = [f if not f.done() else loop.create_future() for f in (self._pongs[-queued:] if queued else [])]
    await _ORIGINAL["connect_init"](self)  # sets self._pongs = [] last, with no await after it
    self._pongs[:0] = waiting


class _DropMessage(logging.Filter):
    """Drops one exact message from a logger, and nothing else."""

    def __init__(self, logger: str, message: str) -> None:
        super().__init__()
        self.logger, self.message = logging.getLogger(logger), message

    def filter(self, record: logging.LogRecord) -> bool:
        return record.getMessage() != self.message


_KV_FILTERS_WARNING_FILTER = _DropMessage("nats.js.kv", KV_FILTERS_WARNING)
_TLS_EOF_WARNING_FILTER = _DropMessage("asyncio", TLS_EOF_WARNING)
_FILTERS = (_KV_FILTERS_WARNING_FILTER, _TLS_EOF_WARNING_FILTER)


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
    Client._process_connect_init = _process_connect_init
    KeyValue.watch = _kv_watch
    for dropped in _FILTERS:
        dropped.logger.addFilter(dropped)  # addFilter skips a duplicate


def applied() -> bool:
    return (
        Client._send_ping is _send_ping
        and Client._process_connect_init is _process_connect_init
        and KeyValue.watch is _kv_watch
        and all(dropped in dropped.logger.filters for dropped in _FILTERS)
    )


@contextlib.contextmanager
def unpatched():
    """nats-py's own code inside the block (to measure the bugs); the previous state afterwards."""
    before = Client._send_ping, Client._process_connect_init, KeyValue.watch
    filters = [(dropped, list(dropped.logger.filters)) for dropped in _FILTERS]
    Client._send_ping, Client._process_connect_init = _ORIGINAL["send_ping"], _ORIGINAL["connect_init"]
    KeyValue.watch = _ORIGINAL["kv_watch"]
    for dropped in _FILTERS:
        dropped.logger.removeFilter(dropped)
    try:
        yield
    finally:
        Client._send_ping, Client._process_connect_init, KeyValue.watch = before
        for dropped, kept in filters:
            dropped.logger.filters = kept


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


class _ReconnectingServer:
    """A stand-in NATS server on 127.0.0.1 for the replayed-PING question. Each connection: INFO, then PONG
    to the handshake's PING. On a second connection, the next PING is answered at once, the one after it
    0.3 s later, and no PING after a `PUB hold` is answered at all. `drop()` closes the current connection."""

    def __init__(self) -> None:
        self.server: asyncio.Server | None = None
        self.connections = 0
        self.writer: asyncio.StreamWriter | None = None
        self.tasks: set[asyncio.Task] = set()  # the connections' handlers and delayed PONGs

    async def __aenter__(self) -> _ReconnectingServer:
        self.server = await asyncio.start_server(self._client, "127.0.0.1", 0)
        return self

    async def __aexit__(self, *exc) -> None:
        self.server.close()
        if self.writer is not None:
            self.writer.close()
        for task in self.tasks:
            task.cancel()
        await asyncio.gather(*self.tasks, return_exceptions=True)  # nothing left running, nothing printed
        await self.server.wait_closed()

    @property
    def url(self) -> str:
        host, port = self.server.sockets[0].getsockname()[:2]
        return f"nats://{host}:{port}"

    def drop(self) -> None:
        self.writer.close()

    async def _pong_later(self, writer: asyncio.StreamWriter, delay: float) -> None:
        await asyncio.sleep(delay)
        if not writer.is_closing():
            writer.write(b"PONG\r\n")

    async def _client(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        number, pings, held = self.connections, 0, False
        self.writer = writer
        self.tasks.add(asyncio.current_task())
        writer.write(
            b'INFO {"server_id":"reconnecting","version":"2.15.1","max_payload":1048576,"proto":1,"headers":true}\r\n'
        )
        try:
            while line := await reader.readline():
                words = line.split()
                op = words[0].upper().decode() if words else ""
                if op in ("PUB", "HPUB"):
                    await reader.readexactly(int(words[-1]) + 2)
                    held = held or words[1] == b"hold"
                if op != "PING":
                    continue
                pings += 1
                if pings == 1 or (number > 1 and pings == 2 and not held):
                    writer.write(b"PONG\r\n")
                elif number > 1 and pings == 3 and not held:
                    self.tasks.add(asyncio.create_task(self._pong_later(writer, 0.3)))
                elif number == 1:
                    writer.write(b"PONG\r\n")
        except (ConnectionError, asyncio.IncompleteReadError, asyncio.CancelledError):
            pass
        finally:
            writer.close()


async def stale_ping_resolves_next_flush(timeout: float = 5.0) -> bool:
    """With the installed Client as it is now: does a PING left in the pending buffer when the connection
    drops resolve the next flush() after the reconnect early? The state is set up directly (a flush() whose
    PING the flusher had not written yet: its waiter in `_pongs`, its PING at the end of `_pending`), the
    stand-in server drops the connection, the client reconnects, then publishes `hold` and flushes; the
    server never answers that flush's PING. True: that flush() returned anyway (a PONG meant for an
    earlier PING resolved it). False: it timed out, as it must. Deterministic: no nats-server."""
    import nats
    import nats.errors

    async def quiet(_error):  # the dropped connection is the experiment, not news
        pass

    reconnected = asyncio.Event()

    async def on_reconnected():
        reconnected.set()

    async with _ReconnectingServer() as server:
        nc = await nats.connect(
            server.url,
            connect_timeout=timeout,
            reconnect_time_wait=0.05,
            max_reconnect_attempts=5,
            error_cb=quiet,
            reconnected_cb=on_reconnected,
        )
        try:
            stale = asyncio.get_running_loop().create_future()  # a flush() waiting for its PONG...
            nc._pongs.append(stale)
            nc._pending.append(PING_PROTO)  # ...whose PING the flusher has not written yet
            nc._pending_data_size += len(PING_PROTO)
            server.drop()
            await asyncio.wait_for(reconnected.wait(), timeout)
            await nc.publish("hold", b"")
            try:
                await nc.flush(timeout=1)
            except nats.errors.TimeoutError:
                return False
            return True
        finally:
            await nc.close()


def kv_filters_warning_logged() -> bool:
    """Does the installed nats-py's `KeyValue.keys` still log the misleading filters warning? Read from its
    source (the call needs a server): the line and its condition, `filter_subject != ">"`, which a KV
    watcher's consumer (filter `$KV.<bucket>.>`) always meets."""
    import inspect

    source = inspect.getsource(KeyValue.keys)
    return KV_FILTERS_WARNING in source and 'filter_subject != ">"' in source


def tls_eof_warning_logged() -> bool:
    """Does the installed nats-py still upgrade to TLS without telling its stream protocol (so asyncio logs the
    eof_received() warning)? Read from the source of `TcpTransport.connect_tls` (the warning needs a TLS
    server): asyncio's own start_tls() calls `protocol._replace_writer()`; nats-py 2.16's does not."""
    import inspect

    from nats.aio.transport import TcpTransport

    source = inspect.getsource(TcpTransport.connect_tls)
    return "start_tls(" in source and "_replace_writer" not in source
