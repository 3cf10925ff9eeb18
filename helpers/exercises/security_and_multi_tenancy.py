"""Checkers for notebook 10 · Security and multi-tenancy.

Both start a private server of their own (in a temporary folder, removed afterwards) and judge the
learner's answer by what that server allows: the course's server is not touched.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import ssl
import tempfile
import time
import uuid
from pathlib import Path

import nats
from nats.aio.client import Client

from helpers.embedded import REPO, EmbeddedServer
from helpers.exercises.framework import Wrong, attempt, exercise
from helpers.monitor import monitor_get
from helpers.tls import make_certificates

SECURITY = REPO / "config" / "security"

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


async def _may_subscribe(server, nc, probe: _Probe, subject: str, timeout: float) -> bool:
    await nc.subscribe(subject)
    decided = await _until(
        lambda: probe.denied("subscribe", subject) or _subscribed(server, nc.client_id, subject), timeout
    )
    if not decided:
        raise Wrong(f"the server neither accepted nor refused a subscription to {subject} within {timeout} s.")
    return not probe.denied("subscribe", subject)


async def _may_publish(nc, probe: _Probe, subject: str, seen: set, timeout: float) -> bool:
    token = uuid.uuid4().hex
    await nc.publish(subject, token.encode())
    if not await _until(lambda: token in seen or probe.denied("publish", subject), timeout, probe.changed):
        raise Wrong(f"a message to {subject} neither arrived nor was refused within {timeout} s.")
    return token in seen


def _users_config(permissions: dict) -> str:
    shipping = {"user": "shipping", "password": "shipping", "permissions": permissions}
    checker = {"user": "checker", "password": "checker"}
    return f"authorization {{\n  users = [\n    {json.dumps(shipping)}\n    {json.dumps(checker)}\n  ]\n}}\n"


@exercise(
    timeout=30.0,
    hint='a dict {"publish": {"allow": [...]}, "subscribe": {"allow": [...]}}; a requester also '
    "subscribes to its replies (_INBOX.>).",
)
async def check_shipping_permissions(answer, server, *, timeout: float = 2.0):
    if not isinstance(answer, dict):
        raise Wrong(
            f"shipping_permissions is a dict, like {{'publish': {{'allow': [...]}}, 'subscribe': ...}}, "
            f"not {type(answer).__name__}."
        )
    with tempfile.TemporaryDirectory(prefix="nb10-check-") as folder:
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
    checker = await nats.connect(
        private.url, user="checker", password="checker", name="10.checker", allow_reconnect=False
    )
    probe = _Probe()
    shipping = await nats.connect(
        private.url,
        user="shipping",
        password="shipping",
        name="10.shipping",
        allow_reconnect=False,
        error_cb=probe.on_error,
    )
    try:

        async def observe(msg):
            seen.add(msg.data.decode())
            probe.changed.set()
            if msg.subject == "inventory.reserve" and msg.reply:
                await msg.respond(b"reserved")

        await checker.subscribe(">", cb=observe)
        if not await _until(lambda: _subscribed(private, checker.client_id, ">"), timeout):
            raise Wrong("the checker could not listen on its own server (a problem on this machine): try again.")
        allowed = {}
        for what, subject in [*SHIPPING_NEEDS, *SHIPPING_MUST_NOT]:
            if what == "subscribe":
                allowed[what, subject] = await _may_subscribe(private, shipping, probe, subject, timeout)
            elif what == "publish":
                allowed[what, subject] = await _may_publish(shipping, probe, subject, seen, timeout)
        allowed["request", "inventory.reserve"] = await _request_works(shipping, probe, timeout)
    finally:
        await shipping.close()
        await checker.close()
    for (what, subject), why in SHIPPING_NEEDS.items():
        if not allowed[what, subject]:
            raise Wrong(_missing(what, subject, why, probe))
    for (what, subject), why in SHIPPING_MUST_NOT.items():
        if allowed[what, subject]:
            raise Wrong(f"shipping could {what} to {subject}: {why}.")
    return (
        "shipping receives orders.paid, publishes shipping.*, reserves stock by request, and is refused "
        "orders.paid, payments.* and orders.created: least privilege."
    )


async def _request_works(nc, probe: _Probe, timeout: float) -> bool:
    try:
        await nc.request("inventory.reserve", b"sku-42", timeout=timeout)
        return True
    except nats.errors.Error:  # a timeout, or no responders because the request never got out
        return False


def _missing(what: str, subject: str, why: str, probe: _Probe) -> str:
    if what != "request":
        return f"shipping could not {what} to {subject}, and it must, to {why}."
    if any('subscription to "_inbox' in e for e in probe.errors):
        return (
            "the request to inventory.reserve got no reply: the reply comes back on the requester's inbox, "
            "so shipping must also subscribe to _INBOX.>."
        )
    if probe.denied("publish", "inventory.reserve"):
        return "shipping may not publish to inventory.reserve, and a request is a publish: allow it."
    return f"the request to inventory.reserve got no reply (errors seen: {probe.errors or 'none'})."


@exercise(
    timeout=30.0,
    hint="nats.connect(url, tls=ssl.create_default_context(cafile=ca_file), allow_reconnect=False)",
)
async def check_connect_verified(answer, server, *, timeout: float = 3.0):
    with tempfile.TemporaryDirectory(prefix="nb10-check-") as folder:
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


@contextlib.contextmanager
def _expected_failure_not_logged():
    """Without an error_cb, nats-py logs every connect error with a traceback: not for a failure we provoke."""
    client_log = logging.getLogger("nats.aio.client")
    level = client_log.level
    client_log.setLevel(logging.CRITICAL)
    try:
        yield
    finally:
        client_log.setLevel(level)


async def _refuses_another_ca(answer, tls_server, impostor_ca: str, timeout: float) -> None:
    try:
        with _expected_failure_not_logged():
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
