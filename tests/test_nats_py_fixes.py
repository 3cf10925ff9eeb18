"""helpers/nats_py_fixes.py: the nats-py bugs it works around are still there, and apply() fixes them.

The "still has the bug" tests are detectors: the day one fails, the installed nats-py fixed that bug
upstream, and the course's workaround has to go (the patch in apply(), the deep dive in the
Publish/subscribe notebook, the notes in the Key-value store notebook, upstream/nats-py-flush-ordering/).
The replayed-PING test is different: that case comes with the course's own flush fix (see the module's
docstring, 1b). No server needed: each is deterministic.
"""

import asyncio
import logging

import nats
from nats.aio.client import Client

from helpers import nats_py_fixes
from helpers.nats_py_fixes import (
    KV_FILTERS_WARNING,
    NATS_PY,
    flush_ping_overtakes_buffer,
    kv_filters_warning_logged,
    kv_marker_precedes_values,
    stale_ping_resolves_next_flush,
    tls_eof_warning_logged,
)

REMOVE = "remove that workaround from helpers/nats_py_fixes.py (and what teaches it: see its docstring)"


async def test_nats_py_still_sends_flushs_ping_ahead_of_buffered_commands():
    with nats_py_fixes.unpatched():
        overtakes = await flush_ping_overtakes_buffer()
    assert overtakes, f"nats-py {NATS_PY} sends flush()'s PING behind the buffered commands now: {REMOVE}"


async def test_nats_py_still_sends_the_kv_watch_marker_ahead_of_values_in_flight():
    with nats_py_fixes.unpatched():
        early = await kv_marker_precedes_values()
    assert early, f"nats-py {NATS_PY}'s KV watcher no longer sends its marker ahead of the values: {REMOVE}"


def test_nats_py_still_upgrades_to_tls_without_telling_its_protocol():
    assert tls_eof_warning_logged(), f"nats-py {NATS_PY}'s connect_tls tells its protocol about SSL now: {REMOVE}"


def test_nats_py_still_logs_the_misleading_kv_filters_warning():
    logged = kv_filters_warning_logged()
    assert logged, f"nats-py {NATS_PY}'s keys(filters=...) no longer logs {KV_FILTERS_WARNING!r}: {REMOVE}"


async def test_apply_fixes_them_all_and_is_idempotent():
    with nats_py_fixes.unpatched():
        nats_py_fixes.apply()
        nats_py_fixes.apply()
        assert nats_py_fixes.applied()
        assert logging.getLogger("nats.js.kv").filters.count(nats_py_fixes._KV_FILTERS_WARNING_FILTER) == 1
        assert not await flush_ping_overtakes_buffer()
        assert not await kv_marker_precedes_values()
        assert not await stale_ping_resolves_next_flush()


async def test_a_queued_ping_replayed_after_a_reconnect_resolves_its_own_flush_only():
    """The flush fix queues PINGs in the pending buffer, which nats-py replays after a reconnect while it
    forgets their PONG waiters: without the reconnect part, that PONG resolves the next flush() early."""
    with nats_py_fixes.unpatched():
        Client._send_ping = nats_py_fixes._send_ping  # the flush fix alone
        assert await stale_ping_resolves_next_flush(), "the replayed PING's PONG should resolve the next flush()"
        nats_py_fixes.apply()
        assert not await stale_ping_resolves_next_flush()


def test_only_the_misleading_kv_filters_warning_is_dropped(caplog):
    nats_py_fixes.apply()
    log = logging.getLogger("nats.js.kv")
    with caplog.at_level(logging.WARNING, logger="nats.js.kv"):
        log.warning(KV_FILTERS_WARNING)
        log.warning("another warning")
    assert [r.getMessage() for r in caplog.records] == ["another warning"]


async def test_one_flush_means_the_server_processed_everything_before_it(nats_server):
    """Live: with the fix, one flush() after a burst of 4 KiB messages, and every copy is back."""
    nats_py_fixes.apply()
    nc = await nats.connect(nats_server.url)
    try:
        for trial in range(5):
            echo = await nc.subscribe(f"fixes.flush.{trial}")
            await nc.flush(timeout=5)
            for _ in range(200):
                await nc.publish(f"fixes.flush.{trial}", b"x" * 4096)
            await nc.flush(timeout=5)
            assert echo.pending_msgs == 200
            await echo.unsubscribe()
    finally:
        await nc.close()


async def test_a_request_right_after_subscribe_finds_its_responder(nats_server):
    """Live: subscribe(), one flush(), request() from another connection: never "no responders"."""
    nats_py_fixes.apply()
    responder, client = await nats.connect(nats_server.url), await nats.connect(nats_server.url)

    async def answer(msg):
        await msg.respond(b"here")

    try:
        for i in range(50):
            sub = await responder.subscribe(f"fixes.responder.{i}", cb=answer)
            await responder.flush(timeout=5)
            assert (await client.request(f"fixes.responder.{i}", b"?", timeout=5)).data == b"here"
            await sub.unsubscribe()
    finally:
        await asyncio.gather(responder.close(), client.close())


# The course handles the client's bugs in helpers/nats_py_fixes.py only: no timing workaround elsewhere.

import json  # noqa: E402
import re  # noqa: E402

from tests.harness import NOTEBOOKS, REPO  # noqa: E402

WORKAROUNDS = [
    (re.compile(r"\b_?settle\s*\("), "a settle() helper"),
    (re.compile(r"await ([\w.\[\]\"']+)\.flush\([^)\n]*\)[^\n]*\n\s*await \1\.flush\("), "flush() twice in a row"),
    (
        re.compile(r"flush(es|ing)?(\(\))? twice|two flushes|second flush\(|#\s*twice\b|flush\(\), flush\(\)", re.I),
        "flushing twice",
    ),
    (re.compile(r"retry_no_keys|except NoKeysError:\s*\n\s*(continue|if attempt)", re.I), "a NoKeysError retry"),
]


def course_code():
    """(where, code) for every code cell of every notebook and every Python file of the course, except the
    one module that holds the handling and this test."""
    for path in sorted(NOTEBOOKS.glob("[0-9][0-9]-*.ipynb")):
        for i, cell in enumerate(json.loads(path.read_text())["cells"]):
            if cell["cell_type"] == "code":
                yield f"{path.name} cell {i}", "".join(cell["source"])
    skip = {REPO / "helpers" / "nats_py_fixes.py", REPO / "tests" / "test_nats_py_fixes.py"}
    for folder in ("helpers", "notebooks", "tests"):
        for path in sorted((REPO / folder).rglob("*.py")):
            if path not in skip and ".ipynb_checkpoints" not in path.parts:
                yield str(path.relative_to(REPO)), path.read_text()


def test_no_workaround_outside_the_one_module():
    found = [
        f"{where}: {what}" for where, code in course_code() for pattern, what in WORKAROUNDS if pattern.search(code)
    ]
    assert not found, (
        "the course handles nats-py's bugs in helpers/nats_py_fixes.py (apply()) only; "
        "write flush() once, as NATS defines it:\n" + "\n".join(found)
    )


def test_every_notebook_applies_the_fixes_in_its_set_up():
    for path in sorted(NOTEBOOKS.glob("[0-9][0-9]-*.ipynb")):
        code = ["".join(c["source"]) for c in json.loads(path.read_text())["cells"] if c["cell_type"] == "code"]
        first_use = next(i for i, text in enumerate(code) if "nats.connect(" in text or "find_server(" in text)
        assert "nats_py_fixes.apply()" in "\n".join(code[: first_use + 1]), (
            f"{path.name}: call nats_py_fixes.apply() in the set-up cell, before the first connection"
        )
