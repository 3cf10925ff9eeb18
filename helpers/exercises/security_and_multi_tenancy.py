"""Checkers for the notebook "Security and multi-tenancy".

Each starts a private server of its own (in a temporary folder, removed afterwards) and judges the
learner's answer by what that server allows and what it saw (its monitoring endpoint and its log): the
course's server is not touched. Every connection a checker opens has an error_cb, and the learner's own
connections' error logs are caught while their code runs, so a wrong answer shows a verdict, not tracebacks.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import json
import logging
import re
import secrets
import ssl
import tempfile
import time
import uuid
from pathlib import Path

import nats
from nats.aio.client import Client
from nats.aio.msg import Msg

from helpers.embedded import REPO, EmbeddedServer
from helpers.exercises.framework import Wrong, attempt, exercise, quiet
from helpers.monitor import monitor_get
from helpers.tls import make_certificates

SECURITY = REPO / "config" / "security"
SHIPPING_INBOX = "_INBOX.shipping"  # the inbox prefix the shipping service connects with
CHARGED = b"card 4242 charged"  # billing's reply to another service: what must not leak to shipping

# What the shipping service needs, and what it must not be able to do.
SHIPPING_NEEDS = {
    ("subscribe", "orders.paid"): "receive the paid orders it ships",
    ("publish", "shipping.dispatched"): "announce a dispatched parcel",
    ("request", "inventory.reserve"): "reserve stock with a request",
}
SHIPPING_MUST_NOT = {
    ("publish", "orders.paid"): "anyone who may publish there can fake a payment",
    ("publish", "payments.refund"): "shipping has no business issuing refunds",
    ("subscribe", "payments.card"): "card data is for the payments service only",
    ("subscribe", "orders.created"): "it needs paid orders only: allow no more than the service needs",
}
# Where shipping might listen for other services' replies: the loose `_INBOX.>` and narrower wildcards.
EAVESDROP = ("_INBOX.>", "_INBOX.*.>", "_INBOX.orders.>")


class _Probe:
    """A connection to a private server, with every error the server reported (error_cb) kept."""

    def __init__(self) -> None:
        self.errors: list[str] = []
        self.changed = asyncio.Event()

    async def on_error(self, error: Exception) -> None:
        self.errors.append(str(error).lower())
        self.changed.set()

    def denied(self, what: str, subject: str) -> bool:
        verb = "publish to" if what == "publish" else "subscription to"
        return any(f'{verb} "{subject.lower()}"' in e for e in self.errors)  # nats-py lowercases -ERR text


def server_saw(private: EmbeddedServer) -> list[str]:
    """What a private server refused, from its log: 'authentication error - User "x"', 'Subscription
    Violation - Subject "_INBOX.abc.*"', 'Publish Violation - Subject "orders.paid"' (oldest first)."""
    try:
        log = private.log_file.read_text(errors="replace")
    except OSError:
        return []
    pattern = r"(authentication error(?: - User \"[^\"]*\")?|(?:Subscription|Publish) Violation - Subject \"[^\"]*\")"
    return re.findall(pattern, log)


@contextlib.contextmanager
def _client_errors_caught():
    """While the learner's code runs: nats-py's error log (a connection without error_cb logs every error
    with a traceback) goes to a list, not to the notebook. Yields that list of messages."""
    caught: list[str] = []

    class Keep(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            caught.append(f"{record.getMessage()}: {record.exc_info[1]}" if record.exc_info else record.getMessage())

    client_log, handler = logging.getLogger("nats.aio.client"), Keep()
    propagate = client_log.propagate
    client_log.addHandler(handler)
    client_log.propagate = False
    try:
        yield caught
    finally:
        client_log.removeHandler(handler)
        client_log.propagate = propagate


async def _close_leftovers(url: str) -> None:
    """Close any client still connected to the private server `url` (a learner's connection left open):
    otherwise it would try to reconnect, and log each try, once the private server stops."""
    port = url.rsplit(":", 1)[-1]
    for obj in gc.get_objects():
        if isinstance(obj, Client) and not obj.is_closed:
            current = getattr(obj, "_current_server", None)
            if current is not None and str(getattr(current.uri, "port", "")) == port:
                with contextlib.suppress(Exception):
                    await obj.close()


async def _until(condition, timeout: float, changed: asyncio.Event | None = None) -> bool:
    """Wait (polling every 20 ms, or on `changed`) until condition() is true; False after `timeout`."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            return False
        if changed is not None:
            changed.clear()
            try:
                await asyncio.wait_for(changed.wait(), 0.02)
            except TimeoutError:
                pass
        else:
            await asyncio.sleep(0.02)
    return True


def _subscribed(server, cid: int, subject: str) -> bool:
    data = monitor_get(server.monitor_url, f"/connz?cid={cid}&subs=1")
    return any(subject in c.get("subscriptions_list", []) for c in data.get("connections", []))


async def _may_subscribe(server, nc, probe: _Probe, subject: str, timeout: float, cb=None):
    """The subscription if the server accepted it, else None."""
    sub = await nc.subscribe(subject, cb=cb)
    decided = await _until(
        lambda: probe.denied("subscribe", subject) or _subscribed(server, nc.client_id, subject), timeout
    )
    if not decided:
        raise Wrong(f"the server neither accepted nor refused a subscription to {subject} within {timeout} s.")
    return None if probe.denied("subscribe", subject) else sub


async def _may_publish(nc, probe: _Probe, subject: str, seen: set, timeout: float) -> bool:
    token = uuid.uuid4().hex
    await nc.publish(subject, token.encode())
    if not await _until(lambda: token in seen or probe.denied("publish", subject), timeout, probe.changed):
        raise Wrong(f"a message to {subject} neither arrived nor was refused within {timeout} s.")
    return token in seen


def _authorization(*users: dict) -> str:
    """A server config block with these users (a JSON object is a valid nats-server config value)."""
    return "authorization {\n  users = [\n" + "".join(f"    {json.dumps(user)}\n" for user in users) + "  ]\n}\n"


def _users_config(permissions: dict) -> str:
    shipping = {"user": "shipping", "password": "shipping", "permissions": permissions}
    return _authorization(shipping, {"user": "checker", "password": "checker"})


@exercise(
    timeout=30.0,
    hints=(
        "a dict shaped like the blocks in users.conf: {'publish': {'allow': [...]}, 'subscribe': {'allow': [...]}}, "
        "listing only what shipping needs. A request is a publish, and its reply comes back to an inbox.",
        "shipping connects with inbox_prefix='_INBOX.shipping', so its replies arrive under that prefix: "
        "allow subscribing there, and nowhere wider under _INBOX.",
    ),
)
async def check_shipping_permissions(answer, server, *, timeout: float = 2.0):
    if not isinstance(answer, dict):
        raise Wrong(
            f"shipping_permissions is a dict, like {{'publish': {{'allow': [...]}}, 'subscribe': ...}}, "
            f"not {type(answer).__name__}."
        )
    with tempfile.TemporaryDirectory(prefix="security-check-") as folder:
        config = Path(folder) / "shipping.conf"
        config.write_text(_users_config(answer))
        private = EmbeddedServer(config=config, store_dir=Path(folder) / "store")
        try:
            private.start()
        except RuntimeError as e:
            raise Wrong(f"the server refused this permissions block: {str(e).splitlines()[-1]}") from None
        try:
            return await _judge_shipping(private, timeout)
        finally:
            private.stop()


async def _judge_shipping(private, timeout: float) -> str:
    seen: set[str] = set()
    connect = dict(allow_reconnect=False, connect_timeout=timeout)
    checker = await nats.connect(
        private.url,
        user="checker",
        password="checker",
        name="security-and-multi-tenancy.checker",
        error_cb=quiet,
        **connect,
    )
    orders = await nats.connect(
        private.url,
        user="checker",
        password="checker",
        name="security-and-multi-tenancy.orders",
        inbox_prefix="_INBOX.orders",
        error_cb=quiet,
        **connect,
    )
    probe = _Probe()
    shipping = await nats.connect(
        private.url,
        user="shipping",
        password="shipping",
        name="security-and-multi-tenancy.shipping",
        inbox_prefix=SHIPPING_INBOX,
        error_cb=probe.on_error,
        **connect,
    )
    try:

        async def observe(msg):
            seen.add(msg.data.decode(errors="replace"))
            probe.changed.set()
            if msg.subject == "inventory.reserve" and msg.reply:
                await msg.respond(b"reserved")
            elif msg.subject == "billing.charge" and msg.reply:
                await msg.respond(CHARGED)

        await checker.subscribe(">", cb=observe)
        if not await _until(lambda: _subscribed(private, checker.client_id, ">"), timeout):
            raise Wrong("the checker could not listen on its own server (a problem on this machine): try again.")
        allowed = {}
        for what, subject in [*SHIPPING_NEEDS, *SHIPPING_MUST_NOT]:
            if what == "subscribe":
                allowed[what, subject] = bool(await _may_subscribe(private, shipping, probe, subject, timeout))
            elif what == "publish":
                allowed[what, subject] = await _may_publish(shipping, probe, subject, seen, timeout)
        allowed["request", "inventory.reserve"] = await _request_works(shipping, timeout)
        leaked = await _eavesdrop(private, shipping, probe, (orders, checker), timeout)
    finally:
        for conn in (shipping, orders, checker):
            await conn.close()
    for (what, subject), why in SHIPPING_NEEDS.items():
        if not allowed[what, subject]:
            raise Wrong(_missing(what, subject, why, probe, server_saw(private)))
    for (what, subject), why in SHIPPING_MUST_NOT.items():
        if allowed[what, subject]:
            raise Wrong(f"shipping could {what} to {subject}: {why}.")
    if leaked:
        wildcard, msg = leaked[0]
        replies = {m.subject for _, m in leaked}
        raise Wrong(
            f"shipping read {len(replies)} of the 2 replies billing sent to other services: subscribed to "
            f"{wildcard}, it read billing's reply {msg.data.decode()!r} sent to {msg.subject[:24]}…. Replies "
            "travel to the requester's inbox, so a wide _INBOX permission reads everyone's."
        )
    return (
        "shipping receives orders.paid, publishes shipping.*, reserves stock by request with its replies on "
        f"{SHIPPING_INBOX}.>, is refused orders.paid, payments.* and orders.created, and reads no other "
        "service's replies: least privilege."
    )


async def _request_works(nc, timeout: float) -> bool:
    try:
        await nc.request("inventory.reserve", b"sku-42", timeout=timeout)
        return True
    except nats.errors.Error:  # a timeout, or no responders because the request never got out
        return False


async def _eavesdrop(private, shipping, probe: _Probe, requesters, timeout: float) -> list:
    """Shipping listens where other services' replies arrive; two requesters (one with the inbox prefix
    `_INBOX.orders`, one with the default) ask billing. [(wildcard, reply shipping read), ...]"""
    subs = {}
    for wildcard in EAVESDROP:
        sub = await _may_subscribe(private, shipping, probe, wildcard, timeout)
        if sub is not None:
            subs[wildcard] = sub
    await shipping.flush(timeout=timeout)
    for requester in requesters:
        await requester.request("billing.charge", b'{"order": 17, "card": "4242"}', timeout=timeout)
    await shipping.flush(timeout=timeout)  # a reply routed to shipping is queued ahead of this PONG
    read = []
    for wildcard, sub in subs.items():
        while sub.pending_msgs:
            msg = await sub.next_msg(timeout=timeout)
            if msg.data == CHARGED:
                read.append((wildcard, msg))
    return read


def _missing(what: str, subject: str, why: str, probe: _Probe, saw: list[str]) -> str:
    if what != "request":
        return f"shipping could not {what} to {subject}, and it must, to {why}."
    if probe.denied("publish", "inventory.reserve"):
        return "shipping may not publish to inventory.reserve, and a request is a publish: allow it."
    refused_inbox = [s for s in saw if s.startswith("Subscription Violation") and f'"{SHIPPING_INBOX}.' in s]
    if refused_inbox:
        return (
            f"the request to inventory.reserve got no reply: the server refused shipping's {refused_inbox[0]} "
            f"(shipping connects with inbox_prefix={SHIPPING_INBOX!r}, and its replies come back there)."
        )
    return f"the request to inventory.reserve got no reply (the server refused: {saw or 'nothing'})."


# ---------------------------------------------------------------------------------------------------------
def _reserve_config(password: str) -> str:
    """A private server: `shipping` with the tight design (its replies under _INBOX.shipping.> only), and
    the checker's inventory responder."""
    shipping = {
        "user": "shipping",
        "password": password,
        "permissions": {
            "publish": {"allow": ["shipping.>", "inventory.reserve"]},
            "subscribe": {"allow": ["orders.paid", f"{SHIPPING_INBOX}.>"]},
        },
    }
    return _authorization(shipping, {"user": "inventory", "password": "inventory"})


@exercise(
    timeout=30.0,
    hints=(
        "three steps, all taught above: connect as the shipping user (so that a refusal is raised at once), "
        "send the request, close the connection. Where must shipping's replies arrive for it to read them?",
        "nats.connect(url, user=..., password=..., inbox_prefix=..., allow_reconnect=False, "
        "connect_timeout=timeout); then nc.request(subject, payload, timeout=timeout) returns a Msg; return "
        "its .data after closing (a try/finally closes it even when the request fails).",
    ),
)
async def check_reserve_stock(answer, server, *, timeout: float = 3.0):
    password = secrets.token_urlsafe(12)
    with tempfile.TemporaryDirectory(prefix="security-check-") as folder:
        config = Path(folder) / "reserve.conf"
        config.write_text(_reserve_config(password))
        private = EmbeddedServer(config=config, store_dir=Path(folder) / "store").start()
        try:
            return await _judge_reserve(answer, private, password, timeout)
        finally:
            await _close_leftovers(private.url)
            private.stop()


async def _judge_reserve(answer, private, password: str, timeout: float) -> str:
    inventory = await nats.connect(
        private.url,
        user="inventory",
        password="inventory",
        name="security-and-multi-tenancy.inventory",
        allow_reconnect=False,
        error_cb=quiet,
        connect_timeout=timeout,
    )
    requests = []

    async def reserve(msg):
        requests.append(msg)
        await msg.respond(json.dumps({"sku": msg.data.decode(errors="replace"), "reserved": 1}).encode())

    try:
        await inventory.subscribe("inventory.reserve", cb=reserve)
        await inventory.flush(timeout=timeout)
        sku = f"sku-{secrets.randbelow(900) + 100}"
        with _client_errors_caught() as logged:
            try:
                got = await attempt(answer, private.url, password, sku, timeout=2 * timeout)
            except Exception as e:  # what the learner's code raised, judged by what the server saw
                raise Wrong(_reserve_failed(e, server_saw(private), logged, timeout)) from None
            await asyncio.sleep(0)
        expected = json.dumps({"sku": sku, "reserved": 1}).encode()
        data = got.data if isinstance(got, Msg) else got.encode() if isinstance(got, str) else got
        if data != expected:
            raise Wrong(
                f"inventory answered {expected!r} to {len(requests)} request(s) for {sku}, and your function "
                f"returned {got!r}: return the reply's data."
            )
        still_open = await _open_as(private, "shipping", timeout)
        if still_open:
            raise Wrong(
                f"the server still lists your connection as open (user shipping, cid {still_open[0]['cid']}, "
                f"{still_open[0].get('subscriptions', 0)} subscriptions): close it before returning."
            )
        inbox = requests[-1].reply
        return (
            f"the server accepted user shipping, routed the request for {sku} to inventory, and its reply to "
            f"{inbox[: len(SHIPPING_INBOX) + 8]}…, under shipping's own prefix; the connection was closed."
        )
    finally:
        await inventory.close()


async def _open_as(private, user: str, timeout: float) -> list[dict]:
    """The server's open connections of `user`, once a connection just closed has had time to go (bounded)."""

    def rows():
        return [
            c
            for c in monitor_get(private.monitor_url, "/connz?auth=true")["connections"]
            if c.get("authorized_user") == user
        ]

    await _until(lambda: not rows(), min(timeout, 1.0))
    return rows()


def _reserve_failed(error: Exception, saw: list[str], logged: list[str], timeout: float) -> str:
    """A wrong answer's message: what the learner's code raised, and what the server refused."""
    auth = [s for s in saw if s.startswith("authentication error")]
    refused = [s for s in saw if "Violation" in s]
    name = (
        f"{type(error).__module__}.{type(error).__name__}"
        if type(error).__module__.startswith("nats")
        else type(error).__name__
    )
    raised = f"{name}: {error}" if str(error) else name
    if type(error) is TimeoutError:  # attempt() gave up: the call neither returned nor raised
        raised = f"your function had not returned after {2 * timeout:.0f} s"
    if auth:
        return (
            f"{raised}. The server refused {len(auth)} connection(s): {auth[0]!r}. Connect as user "
            "'shipping' with the password given; allow_reconnect=False raises a refusal at once."
        )
    if refused:
        return (
            f"{raised}. The server refused: {refused[0]!r}. Shipping may subscribe to "
            f"{SHIPPING_INBOX}.> and nothing else under _INBOX, and a request's replies come to its inbox."
        )
    seen = f" (nats-py reported: {logged[0]})" if logged else ""
    return f"{raised}; the server refused nothing{seen}."


# ---------------------------------------------------------------------------------------------------------
@exercise(
    timeout=30.0,
    hints=(
        "trust exactly one CA: build an ssl.SSLContext from the file you are given and hand it to nats.connect; "
        "and make a failed handshake raise instead of being retried.",
        "nats.connect(url, tls=..., allow_reconnect=False): ssl.create_default_context(cafile=ca_file) "
        "verifies the certificate and the host name.",
    ),
)
async def check_connect_verified(answer, server, *, timeout: float = 3.0):
    with tempfile.TemporaryDirectory(prefix="security-check-") as folder:
        real = make_certificates(Path(folder) / "real")
        impostor = make_certificates(Path(folder) / "impostor", ca_name="Someone else's CA")
        tls_server = EmbeddedServer(
            config=SECURITY / "tls.conf",
            store_dir=Path(folder) / "store",
            args=["--tlscert", str(real.cert_file), "--tlskey", str(real.key_file)],
        )
        tls_server.start()
        try:
            await _connects_with_the_right_ca(answer, tls_server, str(real.ca_file), timeout)
            await _refuses_another_ca(answer, tls_server, str(impostor.ca_file), timeout)
        finally:
            tls_server.stop()
    return (
        "it connects over TLS when given the CA that signed the server's certificate, and raises at once "
        "with any other CA: the server is verified."
    )


async def _connects_with_the_right_ca(answer, tls_server, ca_file: str, timeout: float) -> None:
    try:
        with _client_errors_caught():  # a connection without error_cb logs the failed handshake: the verdict says it
            nc = await attempt(answer, tls_server.url, ca_file, timeout=timeout)
    except ssl.SSLCertVerificationError as e:
        raise Wrong(
            f"the client did not trust the server's certificate ({e.verify_message}): load the CA you "
            "were given, ssl.create_default_context(cafile=ca_file), and pass it as tls=."
        ) from None
    except TimeoutError:
        raise Wrong(
            f"it did not connect within {timeout} s: pass tls=ssl.create_default_context(cafile=ca_file) "
            "and allow_reconnect=False, so that a failure is raised instead of retried."
        ) from None
    if not isinstance(nc, Client):
        raise Wrong(f"return the connection from nats.connect(), not {type(nc).__name__}.")
    try:
        rows = monitor_get(tls_server.monitor_url, f"/connz?cid={nc.client_id}")["connections"]
        if not rows or not rows[0].get("tls_version"):
            raise Wrong("the server does not list this connection as TLS.")
    finally:
        await nc.close()


async def _refuses_another_ca(answer, tls_server, impostor_ca: str, timeout: float) -> None:
    try:
        with _client_errors_caught():
            nc = await attempt(answer, tls_server.url, impostor_ca, timeout=timeout)
    except (ssl.SSLError, nats.errors.Error):  # nats-py's own timeouts included: it raised, it did not connect
        return
    except TimeoutError:  # from attempt(): the learner's call did not return
        raise Wrong(
            f"given a CA that did not sign the server's certificate, it neither connected nor raised within "
            f"{timeout} s: pass allow_reconnect=False, so that the failed verification is raised at once "
            "(with reconnects on, nats-py 2.16 reports it to error_cb and then waits forever)."
        ) from None
    except OSError:  # e.g. connection refused: raised, did not connect
        return
    if isinstance(nc, Client):
        await nc.close()
    raise Wrong(
        "it also connected when given a CA that did not sign this server's certificate: this client does "
        "not verify the server (check_hostname=False or CERT_NONE?). Anyone could pose as the server."
    )
