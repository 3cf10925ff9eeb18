"""Checkers for Streams in production (15-streams-in-production.ipynb).

`check_debit` runs the learner's `debit(js, stream, subject, amount)` as several instances of a service
would: all at the same moment, against an account in a ledger stream of its own
(production-check-ledger), each debit reading the balance and writing the new one. Then it reads what the
server stored for the account: every balance, in order.

`check_archive` builds the archive the learner designed, from two regional streams of its own
(production-check-eu, production-check-us), on the server: it publishes orders before and after the archive
exists, counts what the archive holds, drops the orders from a region, and asks the server to delete and to
purge in the archive.
"""

from __future__ import annotations

import asyncio
import contextlib
import numbers

import nats
import nats.js.errors
from nats.js.api import StreamSource

from helpers.exercises.framework import Wrong, attempt, delete_if_exists, exercise, quiet

WRONG_LAST_SEQUENCE = 10071  # the server's error code for a stale Nats-Expected-Last-Subject-Sequence
LEDGER, LEDGER_SUBJECTS = "production-check-ledger", "production.check.ledger.>"
REGIONS = {"eu": "production-check-eu", "us": "production-check-us"}
ARCHIVE = "production-check-archive"
YEAR = 365 * 24 * 3600


@contextlib.asynccontextmanager
async def _jetstream(server, name: str, timeout: float):
    nc = await nats.connect(server.url, name=name, connect_timeout=timeout, error_cb=quiet)
    try:
        yield nc.jetstream(timeout=timeout)
    finally:
        await nc.close()


async def _balances(js, stream: str, subject: str) -> list[int]:
    """Every balance stored for the account, oldest first (the stream keeps them all)."""
    info = await js.stream_info(stream)
    found = []
    for seq in range(info.state.first_seq, info.state.last_seq + 1):
        with contextlib.suppress(nats.js.errors.NotFoundError):
            msg = await js.get_msg(stream, seq)
            if msg.subject == subject:
                found.append(int(msg.data))
    return found


@exercise(
    hints=(
        "a debit is read, then write: write only if nobody wrote the account in between. The sequence of the "
        "message you read says which version you saw; the server can compare it for you when you publish.",
        "publish with headers={'Nats-Expected-Last-Subject-Sequence': str(last.seq)}; when the server refuses "
        "(nats.js.errors.BadRequestError with err_code 10071, 'wrong last sequence'), read the balance again "
        "and try again, in a loop.",
    ),
    timeout=20.0,
)
async def check_debit(answer, server, *, start: int = 100, amount: int = 7, writers: int = 8, timeout: float = 5.0):
    subject = "production.check.ledger.alice"
    async with _jetstream(server, "streams-in-production.checker-debit", timeout) as js:
        await delete_if_exists(js.delete_stream, LEDGER)
        await js.add_stream(name=LEDGER, subjects=[LEDGER_SUBJECTS])
        try:
            await js.publish(subject, str(start).encode())
            counting = _Counting(js)
            results = await asyncio.gather(
                *(attempt(answer, counting, LEDGER, subject, amount, timeout=timeout) for _ in range(writers)),
                return_exceptions=True,
            )
            balances = await _balances(js, LEDGER, subject)
        finally:
            await delete_if_exists(js.delete_stream, LEDGER)
    return _judge_debits(results, balances, start, amount, writers, counting.publishes)


def _judge_debits(results, balances, start, amount, writers, publishes) -> str:
    errors = [r for r in results if isinstance(r, BaseException)]
    refused = [e for e in errors if getattr(e, "err_code", None) == WRONG_LAST_SEQUENCE]
    stored, expected = len(balances) - 1, start - writers * amount
    seen = f"the server stored {stored} of {writers} debits and the last balance is {balances[-1]}"
    if refused:
        raise Wrong(
            f"{len(refused)} of {writers} debits raised {type(refused[0]).__name__} ('{refused[0].description}'): "
            f"the server refused them because another debit wrote first; {seen}. Read the balance again and "
            "retry instead of giving up."
        )
    if errors:
        raise errors[0]  # the learner's code failed otherwise: the framework says how, and where
    steps = [a - b for a, b in zip(balances, balances[1:], strict=False)]
    if any(step != amount for step in steps):
        lost = writers - (start - balances[-1]) // amount
        raise Wrong(
            f"{seen}, not {expected}: {lost} of the {writers} debits were lost (the stored balances were "
            f"{balances[:6]}{' ...' if len(balances) > 6 else ''}). Each writer read a balance and wrote over what "
            "the others wrote meanwhile: publish with the sequence you read as the expected last subject sequence."
        )
    if stored < writers:
        raise Wrong(
            f"{seen}, not {expected}: {writers - stored} debits were never stored. The server refused them as "
            "stale writes and your code did not read the balance again and retry (or it gave up)."
        )
    return (
        f"{writers} debits at the same moment, {stored} stored, the balance went from {start} to {balances[-1]} "
        f"in steps of {amount}. It took {publishes} publishes: the server refused {publishes - writers} stale "
        "writes, and your loop read again and retried each."
    )


class _Counting:
    """The JetStream context the learner's code gets: the same, counting its publishes."""

    def __init__(self, js):
        self._js, self.publishes = js, 0

    async def publish(self, *args, **kwargs):
        self.publishes += 1
        return await self._js.publish(*args, **kwargs)

    def __getattr__(self, name):
        return getattr(self._js, name)


def _plan(answer) -> dict:
    keys = {"copy", "deny_delete", "deny_purge", "sealed", "max_age"}
    if not isinstance(answer, dict) or set(answer) != keys:
        raise Wrong(f"`archive` must be a dict with the keys {sorted(keys)}, not {answer!r:.100}.")
    if answer["copy"] not in ("mirror", "sources"):
        raise Wrong(f"'copy' is 'mirror' or 'sources', not {answer['copy']!r}.")
    for key in ("deny_delete", "deny_purge", "sealed"):
        if not isinstance(answer[key], bool):
            raise Wrong(f"'{key}' is True or False, not {answer[key]!r}.")
    age = answer["max_age"]
    if isinstance(age, bool) or not isinstance(age, numbers.Real) or age < 0:
        raise Wrong(f"'max_age' is a number of seconds (0: no limit), not {age!r}.")
    return answer


@exercise(
    hints=(
        "go through the needs one by one: how many streams must the archive copy from, must it accept new "
        "orders later, and which two requests must the server refuse in it?",
        "a mirror copies exactly one stream and sealed refuses every write, new orders included; sources "
        "take several streams; deny_delete and deny_purge make the server refuse deleting a message and "
        "purging; max_age 0 keeps messages until a limit you set (none here).",
    ),
    timeout=20.0,
)
async def check_archive(answer, server, *, before: int = 3, after: int = 2, timeout: float = 5.0):
    plan = _plan(answer)
    async with _jetstream(server, "streams-in-production.checker-archive", timeout) as js:
        for name in (ARCHIVE, *REGIONS.values()):
            await delete_if_exists(js.delete_stream, name)
        try:
            return await _try_archive(js, plan, before, after, timeout)
        finally:
            for name in (ARCHIVE, *REGIONS.values()):
                await delete_if_exists(js.delete_stream, name)


async def _publish_orders(js, count: int, tag: str) -> None:
    for region in REGIONS:
        for i in range(count):
            await js.publish(f"production.check.{region}.orders", f"{region}-{tag}-{i}".encode())


async def _settled(js, name: str, count: int, timeout: float) -> int:
    """Wait (bounded) until the archive holds `count` messages; return what it holds then."""
    deadline = asyncio.get_running_loop().time() + timeout
    while (held := (await js.stream_info(name)).state.messages) < count:
        if asyncio.get_running_loop().time() > deadline:
            break
        await asyncio.sleep(0.05)
    return held


async def _try_archive(js, plan: dict, before: int, after: int, timeout: float) -> str:
    for region, name in REGIONS.items():  # the regions keep a week
        await js.add_stream(name=name, subjects=[f"production.check.{region}.orders"], max_age=7 * 24 * 3600)
    await _publish_orders(js, before, "before")
    copy = {"mirror": StreamSource(name=REGIONS["eu"])} if plan["copy"] == "mirror" else {}
    sources = [StreamSource(name=n) for n in REGIONS.values()] if plan["copy"] == "sources" else None
    try:
        await js.add_stream(
            name=ARCHIVE,
            sources=sources,
            deny_delete=plan["deny_delete"],
            sealed=plan["sealed"],
            deny_purge=plan["deny_purge"],
            max_age=plan["max_age"],
            **copy,
        )
    except nats.js.errors.APIError as e:
        raise Wrong(f"the server refused to create the archive: '{e.description}'.") from None
    if plan["max_age"] and plan["max_age"] < YEAR:
        raise Wrong(f"the server would drop each order after max_age {plan['max_age']:g} s, before the year is out.")
    total = 2 * before
    held = await _settled(js, ARCHIVE, total, timeout)
    if held < total:
        raise Wrong(
            f"the archive holds {held} of the {total} orders published in the two regions: a mirror copies "
            f"exactly one stream ({REGIONS['eu']}); the other region's orders are not there."
        )
    await _publish_orders(js, after, "after")
    total += 2 * after
    held = await _settled(js, ARCHIVE, total, timeout)
    if held < total:
        raise Wrong(f"after the archive was made, {held - 2 * before} of {2 * after} new orders reached it.")
    await js.purge_stream(REGIONS["eu"])  # the region drops its orders (a week later, or by mistake)
    held = (await js.stream_info(ARCHIVE)).state.messages
    if held < total:
        raise Wrong(f"when the EU region purged its stream, the archive went from {total} to {held} orders.")
    for what, call in (
        ("delete message 1", lambda: js.delete_msg(ARCHIVE, 1)),
        ("purge", lambda: js.purge_stream(ARCHIVE)),
    ):
        try:
            await call()
        except nats.js.errors.APIError:
            continue  # refused: as it should be
        left = (await js.stream_info(ARCHIVE)).state.messages
        raise Wrong(f"the server did {what} in the archive when asked (it holds {left} of {total} orders now).")
    return (
        f"the archive took {total} orders from both regions, before and after it was made, kept them when a "
        "region purged its own, and the server refused to delete a message or purge it."
    )
