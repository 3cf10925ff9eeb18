"""The notebook "Security and multi-tenancy": its test entry (tests/test_notebooks.py runs it), and its config
files checked by the server itself."""

import ssl
import subprocess

import nats
import pytest

from helpers.embedded import REPO, binary
from helpers.exercises.security_and_multi_tenancy import (
    check_connect_verified,
    check_reserve_stock,
    check_shipping_permissions,
)
from tests.harness import Case

VIOLATION = "nats: permissions violation for"  # what error_cb receives (nats-py 2.16 lowercases the server's text)


def check(run):
    n = run.params["tenant_messages"]
    # who may connect
    assert run["security.wrong_password_error"] == "nats.errors.Error: nats: 'Authorization Violation'"
    assert run["security.token_works"] is True
    assert run["security.nkey_connects"] is True
    assert run["security.unknown_nkey_error"] == "nats: 'Authorization Violation'"
    assert run["security.creds_connects"] is True
    assert run["security.creds_denied"] == f'{VIOLATION} publish to "payroll.run"'
    # what a user may do
    assert run["security.denied"] == [
        f'{VIOLATION} publish to "payments.refund"',
        f'{VIOLATION} subscription to "orders.audit.>"',
    ]
    assert run["security.connection_kept"] is True
    assert run["security.delivered_under_wildcard"] == "orders.shipped"  # orders.audit.login was left out
    assert run["security.allow_responses_reply"] == {"sku": "sku-1", "in_stock": 3}
    assert run["security.responder_denied"] == f'{VIOLATION} publish to "orders.created"'
    # replies: _INBOX.> reads everyone's; a prefix of one's own and its permission read nobody else's
    assert run["security.inbox_leak_default"] >= 1
    assert run["security.inbox_leak_prefixed"] == 0
    assert run["security.wide_inbox_refused"] == f'{VIOLATION} subscription to "_inbox.>"'
    assert run["security.default_prefix_refused"].startswith(f'{VIOLATION} subscription to "_inbox.')
    # accounts
    assert run["security.tenant_received"] == {"acme": n, "globex": n}
    assert run["security.leaked_messages"] == 0
    assert run["security.import_works"] is True
    assert run["security.without_import"] == {"request": "NoRespondersError", "announcements": 0}
    assert run["security.sys_view"] == {"connections": 4, "accounts": ["ACME", "GLOBEX", "PLATFORM", "SYS"]}
    assert run["security.tenant_sys_ping"] == "NoRespondersError"
    # TLS
    assert run["security.tls_verified"] is True
    assert run["security.tls_version"] in ("1.2", "1.3")
    assert run["security.untrusted_rejected"] is True
    assert run["security.untrusted_error"] == "unable to get local issuer certificate"


# Wrong answers for the checkers: each must be judged "wrong" with the phrase in its message.
TIGHT_SUBSCRIBE = ["orders.paid", "_INBOX.shipping.>"]
NO_INBOX = {"publish": {"allow": ["shipping.>", "inventory.reserve"]}, "subscribe": {"allow": ["orders.paid"]}}
WIDE_INBOX = {
    "publish": {"allow": ["shipping.>", "inventory.reserve"]},
    "subscribe": {"allow": ["orders.paid", "_INBOX.>"]},
}
ANY_PREFIX = {"publish": ["shipping.>", "inventory.reserve"], "subscribe": ["orders.paid", "_INBOX.*.>"]}
PUBLISH_ANYWHERE = {"publish": {"allow": [">"]}, "subscribe": {"allow": TIGHT_SUBSCRIBE}}
DENY_ONLY = {"publish": {"deny": ["orders.>", "payments.>"]}, "subscribe": {"deny": ["payments.>"]}}
NO_REQUEST = {"publish": {"allow": ["shipping.>"]}, "subscribe": {"allow": TIGHT_SUBSCRIBE}}
NOT_A_SUBJECT = {"publish": {"allow": {"subject": "shipping.>"}}}
# The short form (a list is the allow list) is right too, and so is a narrower inbox permission.
SHORT_FORM = {"publish": ["shipping.>", "inventory.reserve"], "subscribe": ["orders.paid", "_INBOX.shipping.*.*"]}


async def reserve_with_default_inbox(url, password, sku):  # its replies would come to _INBOX.<random>: refused
    nc = await nats.connect(url, user="shipping", password=password, allow_reconnect=False)
    try:
        return (await nc.request("inventory.reserve", sku.encode(), timeout=1)).data
    finally:
        await nc.close()


async def reserve_as_another_user(url, password, sku):
    nc = await nats.connect(url, user="orders", password=password, allow_reconnect=False)
    try:
        return (await nc.request("inventory.reserve", sku.encode(), timeout=1)).data
    finally:
        await nc.close()


async def reserve_retrying_a_refusal(url, password, sku):  # no allow_reconnect=False: nats-py keeps retrying
    nc = await nats.connect(url, user="shipping", password="guess", inbox_prefix="_INBOX.shipping")
    return (await nc.request("inventory.reserve", sku.encode(), timeout=1)).data


async def reserve_left_open(url, password, sku):
    nc = await nats.connect(url, user="shipping", password=password, inbox_prefix="_INBOX.shipping")
    return (await nc.request("inventory.reserve", sku.encode(), timeout=1)).data


async def reserve_returning_the_msg(url, password, sku):  # returns the Msg, drains instead of close: right
    nc = await nats.connect(url, user="shipping", password=password, inbox_prefix=b"_INBOX.shipping")
    reply = await nc.request("inventory.reserve", sku.encode(), timeout=2)
    await nc.drain()
    return reply


async def trusts_the_system_only(url, ca_file):
    return await nats.connect(url, allow_reconnect=False)


async def verification_off(url, ca_file):
    context = ssl.create_default_context()
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    return await nats.connect(url, tls=context, allow_reconnect=False)


async def keeps_retrying(url, ca_file):
    return await nats.connect(url, tls=ssl.create_default_context(cafile=ca_file))


async def returns_nothing(url, ca_file):
    await nats.connect(url, tls=ssl.create_default_context(cafile=ca_file), allow_reconnect=False)


CASE = Case(
    check=check,
    exercises=("reserve_stock", "shipping_permissions", "connect_verified"),
    solutions=dict(tenant_messages=35, announcements=5),
    budget=15,
    wrong_answers=(
        (
            check_reserve_stock,
            reserve_with_default_inbox,
            "The server refused: 'Subscription Violation - Subject \"_INBOX.",
        ),
        (check_reserve_stock, reserve_as_another_user, 'authentication error - User "orders"'),
        (check_reserve_stock, reserve_retrying_a_refusal, "had not returned after"),
        (check_reserve_stock, reserve_left_open, "still lists your connection as open"),
        (check_shipping_permissions, NO_INBOX, "the server refused shipping's Subscription Violation"),
        (check_shipping_permissions, WIDE_INBOX, "billing's reply 'card 4242 charged'"),
        (check_shipping_permissions, ANY_PREFIX, "subscribed to _INBOX.*.>"),
        (check_shipping_permissions, PUBLISH_ANYWHERE, "could publish to orders.paid"),
        (check_shipping_permissions, DENY_ONLY, "could subscribe to orders.created"),
        (check_shipping_permissions, NO_REQUEST, "may not publish to inventory.reserve"),
        (check_shipping_permissions, NOT_A_SUBJECT, "the server refused this permissions block"),
        (check_shipping_permissions, "publish: shipping.>", "is a dict"),
        (check_connect_verified, trusts_the_system_only, "did not trust the server's certificate"),
        (check_connect_verified, verification_off, "does not verify the server"),
        (check_connect_verified, keeps_retrying, "allow_reconnect=False"),
        (check_connect_verified, returns_nothing, "return the connection"),
    ),
    right_answers=((check_shipping_permissions, SHORT_FORM), (check_reserve_stock, reserve_returning_the_msg)),
    slow_checkers=True,
)


@pytest.mark.parametrize("config", sorted((REPO / "config" / "security").glob("*.conf")), ids=lambda p: p.name)
def test_security_config_is_valid_for_the_server(config):
    result = subprocess.run([binary(), "--config", str(config), "-t"], capture_output=True, text=True, timeout=10)
    assert result.returncode == 0, result.stderr
