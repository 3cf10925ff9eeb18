"""Read the server's monitoring endpoints (port 8222) into pandas.

The endpoints are plain HTTP+JSON: open one in a browser to see it raw,
for example http://127.0.0.1:8222/connz.
"""

from __future__ import annotations

import json
import urllib.error
import urllib.request

import pandas as pd


def monitor_get(monitor_url: str, path: str, timeout: float = 2.0) -> dict:
    """GET a monitoring endpoint (``/varz``, ``/healthz?...``) and decode its JSON."""
    try:
        with urllib.request.urlopen(monitor_url.rstrip("/") + path, timeout=timeout) as r:
            return json.load(r)
    except urllib.error.HTTPError as e:  # /healthz answers 503 with a JSON body
        return json.loads(e.read() or b"{}") | {"http_status": e.code}


def healthz(monitor_url: str, js_enabled_only: bool = False) -> dict:
    return monitor_get(monitor_url, "/healthz" + ("?js-enabled-only=true" if js_enabled_only else ""))


def varz(monitor_url: str, keys=("server_name", "version", "uptime", "connections", "total_connections",
                                 "in_msgs", "out_msgs", "in_bytes", "out_bytes", "max_payload", "mem")) -> pd.Series:
    """A selection of /varz (the whole document is large: pass keys=None for all of it)."""
    data = monitor_get(monitor_url, "/varz")
    return pd.Series(data if keys is None else {k: data.get(k) for k in keys}, name="varz")


def connz(monitor_url: str, subs: bool = False) -> pd.DataFrame:
    """One row per client connection; `name` is the connection name clients set."""
    data = monitor_get(monitor_url, "/connz" + ("?subs=1" if subs else ""))
    columns = ["cid", "name", "lang", "version", "ip", "port", "subscriptions", "in_msgs", "out_msgs",
               "pending_bytes", "uptime"] + (["subscriptions_list"] if subs else [])
    return pd.DataFrame(data.get("connections", []), columns=columns)


def subsz(monitor_url: str) -> pd.DataFrame:
    """Every subscription the server holds: subject, queue group, owning connection."""
    data = monitor_get(monitor_url, "/subsz?subs=1")
    return pd.DataFrame(data.get("subscriptions_list", []), columns=["subject", "qgroup", "sid", "cid", "msgs"])


def jsz(monitor_url: str) -> pd.Series:
    """JetStream totals: streams, consumers, messages, bytes, memory and file storage."""
    data = monitor_get(monitor_url, "/jsz")
    keys = ["streams", "consumers", "messages", "bytes", "memory", "storage", "api"]
    return pd.Series({k: data.get(k) for k in keys}, name="jsz")
