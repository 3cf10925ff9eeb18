"""Read the server's monitoring endpoints (port 8222) into pandas.

The endpoints are plain HTTP+JSON: open one in a browser to see it raw,
for example http://127.0.0.1:8222/connz.

A monitoring URL may carry a query that applies to every endpoint: in a workshop, find_server gives
a learner `http://host:8222/?acc=learner01`, so /connz, /subsz and /jsz show that learner's own
account, not the whole room's. When the monitoring port does not answer (a server that does not
expose it to you), the tables come back empty with a note saying so, and the notebook runs on.
"""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from urllib.parse import parse_qsl, urlencode, urlsplit

import pandas as pd


def for_account(monitor_url: str, account: str) -> str:
    """The monitoring URL that shows one account's view (the `acc` filter on every endpoint)."""
    base, query = _split(monitor_url)
    return f"{base}/?" + urlencode(query | {"acc": account})


def account(monitor_url: str) -> str | None:
    return _split(monitor_url)[1].get("acc")


def _split(monitor_url: str) -> tuple[str, dict]:
    parts = urlsplit(monitor_url)
    return f"{parts.scheme}://{parts.netloc}{parts.path.rstrip('/')}", dict(parse_qsl(parts.query))


def monitor_get(monitor_url: str, path: str, timeout: float = 2.0) -> dict:
    """GET a monitoring endpoint (``/varz``, ``/healthz?...``) and decode its JSON."""
    base, query = _split(monitor_url)
    path, _, own = path.partition("?")
    query = dict(parse_qsl(own)) | query
    url = base + path + ("?" + urlencode(query) if query else "")
    try:
        with urllib.request.urlopen(url, timeout=timeout) as r:
            return json.load(r)
    except urllib.error.HTTPError as e:  # /healthz answers 503 with a JSON body
        return json.loads(e.read() or b"{}") | {"http_status": e.code}


def _get(monitor_url: str | None, path: str) -> dict:
    """monitor_get for the tables: an unreachable monitoring port is said, not raised."""
    if not monitor_url:
        print(
            "This server's monitoring URL is unknown: set NATS_MONITOR_URL (or the notebook's monitor_url) "
            "to see its tables. The notebook carries on without them."
        )
        return {}
    try:
        return monitor_get(monitor_url, path)
    except OSError as e:
        print(
            f"The monitoring port at {_split(monitor_url)[0]} does not answer ({getattr(e, 'reason', e)}): "
            "this server does not expose monitoring to you (in a workshop, the instructor may have kept it "
            "private). The table stays empty; the rest of the notebook works without it."
        )
        return {}


def healthz(monitor_url: str, js_enabled_only: bool = False) -> dict:
    return _get(monitor_url, "/healthz" + ("?js-enabled-only=true" if js_enabled_only else ""))


def varz(
    monitor_url: str,
    keys=(
        "server_name",
        "version",
        "uptime",
        "connections",
        "total_connections",
        "in_msgs",
        "out_msgs",
        "in_bytes",
        "out_bytes",
        "max_payload",
        "mem",
    ),
) -> pd.Series:
    """A selection of /varz (the whole document is large: pass keys=None for all of it)."""
    data = _get(monitor_url, "/varz")
    return pd.Series(data if keys is None else {k: data.get(k) for k in keys}, name="varz")


def connz(monitor_url: str, subs: bool = False) -> pd.DataFrame:
    """One row per client connection; `name` is the connection name clients set."""
    data = _get(monitor_url, "/connz" + ("?subs=1" if subs else ""))
    columns = [
        "cid",
        "name",
        "lang",
        "version",
        "ip",
        "port",
        "subscriptions",
        "in_msgs",
        "out_msgs",
        "pending_bytes",
        "uptime",
    ] + (["subscriptions_list"] if subs else [])
    return pd.DataFrame(data.get("connections", []), columns=columns)


def subsz(monitor_url: str) -> pd.DataFrame:
    """Every subscription the server holds: subject, queue group, owning connection.

    For one account (a workshop learner), the subscriptions of that account's client connections: the
    server's own internal ones, and other accounts' imports, are left out."""
    data = _get(monitor_url, "/subsz?subs=1")
    rows = data.get("subscriptions_list", [])
    if monitor_url and account(monitor_url) and rows:
        own = {c["cid"] for c in _get(monitor_url, "/connz?limit=100000").get("connections", [])}
        rows = [r for r in rows if r.get("cid") in own]
    return pd.DataFrame(rows, columns=["subject", "qgroup", "sid", "cid", "msgs"])


def jsz(monitor_url: str) -> pd.Series:
    """JetStream totals: streams, consumers, messages, bytes, memory and file storage."""
    keys = ["streams", "consumers", "messages", "bytes", "memory", "storage", "api"]
    if monitor_url and account(monitor_url):  # one account's share, not the server's totals
        details = (_get(monitor_url, "/jsz?streams=true").get("account_details") or [{}])[0]
        streams = [s.get("state", {}) for s in details.get("stream_detail") or []]
        data = {
            "streams": len(streams),
            "consumers": sum(s.get("consumer_count", 0) for s in streams),
            "messages": sum(s.get("messages", 0) for s in streams),
            "bytes": sum(s.get("bytes", 0) for s in streams),
        } | {k: details.get(k) for k in keys[4:]}
    else:
        data = _get(monitor_url, "/jsz")
    return pd.Series({k: data.get(k) for k in keys}, name="jsz")
