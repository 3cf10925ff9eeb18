"""One learner misbehaves; how usable is the room for the others? The figures of docs/room-at-scale.md.

    python -m room.abuse [--seconds 8] [--out docs/room-at-scale-figures.md]

Loopback only, every loop bounded (by count and by time). For the workshop config before the limits
(no account limits, nats-server's default max_pending) and after (room/limits.py), it starts a private
workshop server on 127.0.0.1 with two learners and, for each abuse, runs learner01's attack in a separate
process while learner02 measures what they get: the p99 of one-at-a-time request-reply to their own
responder, and how many of their JetStream calls (publish + stream info, 2 s timeout each) succeed. The
JetStream API loop has no server limit: after the limits, the instructor disables the offender (one config
reload) as soon as `make workshop-status`'s rates flag them, and the table says how long that took.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

from helpers.embedded import free_port
from helpers.monitor import monitor_get
from room import limits, workshop

CONNECTIONS = 1_000  # the flood's bound (20,000 took a server out of file descriptors)
SUBSCRIPTIONS = 200_000
NEVER_READING = 30
SETUP_SECONDS = 90  # the most an attack's set-up may take (200,000 subscriptions from Python: ~10-40 s)
API_TASKS = 64
ABUSES = {
    "none": "nothing (baseline)",
    "connections": f"opens {CONNECTIONS:,} connections as fast as it can and holds them",
    "subscriptions": f"{SUBSCRIPTIONS:,} subscriptions on one connection",
    "never-reading": f"{NEVER_READING} subscribers that never read, while it publishes 1 KB messages flat out",
    "jetstream-api": f"a loop of JetStream management requests (create and delete a consumer, {API_TASKS} at a time)",
}


# --------------------------------------------------------------------------
# The attacker (a separate process: `python -m room.abuse attack KIND URL SECONDS`); prints one JSON line.


async def quiet(_error) -> None:
    """Both sides' error_cb: refused connections and cut subscriptions are the experiment, not news."""


async def attack(kind: str, url: str, seconds: float) -> dict:
    import nats

    setup_end = time.monotonic() + SETUP_SECONDS
    result: dict = {}

    def ready():  # the set-up is done: the victim measures from now on, for `seconds`
        nonlocal end
        print("READY", flush=True)
        end = time.monotonic() + seconds

    end = 0.0
    if kind == "connections":
        held = []
        try:
            while len(held) < CONNECTIONS and time.monotonic() < setup_end:
                held.append(await nats.connect(url, allow_reconnect=False, error_cb=quiet, connect_timeout=2))
        except Exception as e:  # noqa: BLE001 - refused is the point
            result["refused"] = str(e)[:80]
        result["held"] = len(held)
        ready()
        await asyncio.sleep(seconds)
        result["still_open"] = sum(nc.is_connected for nc in held)
        for nc in held:
            await nc.close()
    elif kind == "subscriptions":
        nc = await nats.connect(url, error_cb=quiet, allow_reconnect=False)
        subscribed = 0
        try:
            for i in range(SUBSCRIPTIONS):
                if nc.is_closed or time.monotonic() > setup_end:
                    break
                await nc.subscribe(f"abuse.{i}")
                subscribed += 1
                if i % 5000 == 0:
                    await nc.flush(timeout=10)
            await nc.flush(timeout=10)
        except Exception as e:  # noqa: BLE001 - cut off by the server is the point
            result["refused"] = str(e)[:80] or type(e).__name__
        result["subscribed"], result["connection_closed"] = subscribed, nc.is_closed
        ready()
        await asyncio.sleep(seconds)
        if not nc.is_closed:
            await nc.close()
    elif kind == "never-reading":
        host, port, user, password = _parts(url)
        socks = []
        for _ in range(NEVER_READING):  # raw sockets: they subscribe and then never read a byte
            s = socket.create_connection((host, port), timeout=2)
            s.sendall(
                b"CONNECT "
                + json.dumps({"user": user, "pass": password, "verbose": False}).encode()
                + b"\r\nSUB abuse.flood 1\r\nPING\r\n"
            )
            socks.append(s)
        nc = await nats.connect(url, error_cb=quiet, allow_reconnect=False)
        ready()
        payload, sent = b"x" * 1024, 0
        while time.monotonic() < end and not nc.is_closed:
            for _ in range(200):
                await nc.publish("abuse.flood", payload)
            sent += 200
            await asyncio.sleep(0)  # let the client's flusher run
        result["published"] = sent
        if not nc.is_closed:
            await nc.close()
        for s in socks:
            s.close()
    elif kind == "jetstream-api":
        nc = await nats.connect(url, error_cb=quiet, allow_reconnect=False)
        js = nc.jetstream(timeout=2)
        await js.add_stream(name="ABUSE", subjects=["abuse.js"])
        count = 0
        ready()

        async def loop():
            nonlocal count
            while time.monotonic() < end and not nc.is_closed:
                try:
                    name = f"c{count}-{id(asyncio.current_task())}"
                    await js.add_consumer("ABUSE", durable_name=name)
                    await js.delete_consumer("ABUSE", name)
                    count += 2
                except Exception:  # noqa: BLE001 - disabled, or the server is busy
                    await asyncio.sleep(0.01)

        await asyncio.gather(*(loop() for _ in range(API_TASKS)))
        result["requests"] = count
        if not nc.is_closed:
            await nc.close()
    return result


def _parts(url: str):
    from urllib.parse import unquote, urlsplit

    u = urlsplit(url)
    return u.hostname, u.port, unquote(u.username), unquote(u.password)


# --------------------------------------------------------------------------
# The other learner's view.


async def victim(url: str, seconds: float) -> dict:
    import nats

    nc = await nats.connect(url, name="victim", error_cb=quiet)
    js = nc.jetstream(timeout=2)
    try:
        await js.add_stream(name="VICTIM", subjects=["victim.js"])
    except Exception:  # noqa: BLE001 - it exists from the last round
        pass

    async def echo(msg):
        await msg.respond(msg.data)

    await nc.subscribe("victim.echo", cb=echo)
    await nc.flush()
    samples, js_took, ok, tried, end = [], [], 0, 0, time.monotonic() + seconds
    last_js = 0.0
    while time.monotonic() < end:
        started = time.perf_counter()
        try:
            await nc.request("victim.echo", b"ping", timeout=2)
            samples.append(time.perf_counter() - started)
        except Exception:  # noqa: BLE001
            samples.append(2.0)
        if time.monotonic() - last_js > 0.25:
            last_js, tried = time.monotonic(), tried + 1
            began = time.perf_counter()
            try:
                await js.publish("victim.js", b"x")
                await js.stream_info("VICTIM")
                ok += 1
            except Exception:  # noqa: BLE001
                pass
            js_took.append(time.perf_counter() - began)
        await asyncio.sleep(0.01)
    await nc.close()
    samples.sort()
    return {
        "p99_ms": round(samples[int(0.99 * (len(samples) - 1))] * 1000, 1) if samples else None,
        "requests": len(samples),
        "js_ok": ok,
        "js_tried": tried,
        "js_median_ms": round(sorted(js_took)[len(js_took) // 2] * 1000, 1) if js_took else None,
    }


def run_round(state: dict, directory: Path, kind: str, seconds: float, after: bool) -> dict:
    mon = state["local_monitor_url"]
    attacker_url = workshop.local_url(state, "learner01")
    proc = None
    if kind != "none":
        proc = subprocess.Popen(
            [sys.executable, "-m", "room.abuse", "attack", kind, attacker_url, str(seconds + 1)],
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            text=True,
        )
        line = proc.stdout.readline()  # READY: its set-up is done (bounded by SETUP_SECONDS in the attacker)
        if line.strip() != "READY":
            raise RuntimeError(f"the {kind} attack did not get going: {line!r}")
    time.sleep(0.5)  # the attack gets going before the victim measures
    row: dict = {"abuse": kind, "limits": "after" if after else "before"}
    flagged = None
    if kind == "jetstream-api" and after:
        started = time.monotonic()
        for _ in range(10):  # what the instructor runs: `make workshop-status` until the offender shows
            rates = workshop.rates(mon, 1.0)
            if rates.get("learner01", {}).get("api_per_s", 0) > limits.API_RATE_ALERT:
                flagged = time.monotonic() - started
                break
        workshop.set_enabled("learner01", False, directory)
        row["flagged_after_s"] = round(flagged, 1) if flagged is not None else None
    peak, done = {"mem_mb": 0, "server_conns": 0, "server_subs": 0}, threading.Event()

    def watch():  # the server's peak while the victim measures
        while not done.wait(0.5):
            try:
                varz = monitor_get(mon, "/varz", 5)
            except OSError:
                continue
            peak["mem_mb"] = max(peak["mem_mb"], round(varz.get("mem", 0) / 2**20))
            peak["server_conns"] = max(peak["server_conns"], varz.get("connections", 0))
            peak["server_subs"] = max(peak["server_subs"], varz.get("subscriptions", 0))

    watcher = threading.Thread(target=watch, daemon=True)
    watcher.start()
    measured = asyncio.run(victim(workshop.local_url(state, "learner02"), seconds))
    done.set()
    watcher.join(10)
    if proc:
        try:
            out, _ = proc.communicate(timeout=seconds + 30)
            row["attack"] = json.loads(out.strip().splitlines()[-1]) if out.strip() else {}
        except (subprocess.TimeoutExpired, ValueError):
            proc.kill()
            proc.wait()
    if kind == "jetstream-api" and after:
        workshop.set_enabled("learner01", True, directory)
    return row | measured | peak


def measure(seconds: float, only=None) -> list[dict]:
    rows = []
    saved = (dict(workshop.ACCOUNT_LIMITS), dict(limits.SERVER), dict(limits.JETSTREAM_SERVER_LIMITS))
    for after in (False, True):
        if not after:  # the workshop as it was: no account limits, nats-server's default max_pending
            workshop.ACCOUNT_LIMITS.clear()
            for key in ("max_pending", "write_deadline"):
                limits.SERVER.pop(key)
            limits.JETSTREAM_SERVER_LIMITS.clear()
        try:
            for kind in only or ABUSES:
                with tempfile.TemporaryDirectory() as tmp:  # a fresh server per round: no abuse carries over
                    options = workshop.Options(2, host="127.0.0.1", port=free_port(), http_port=free_port())
                    state = workshop.up(options, Path(tmp))
                    try:
                        row = run_round(state, Path(tmp), kind, seconds, after)
                    finally:
                        workshop.down(Path(tmp), timeout=60)
                print(json.dumps(row), flush=True)
                rows.append(row)
        finally:
            workshop.ACCOUNT_LIMITS.update(saved[0])
            limits.SERVER.update(saved[1])
            limits.JETSTREAM_SERVER_LIMITS.update(saved[2])
    return rows


def table(rows: list[dict]) -> str:
    lines = [
        "| learner01 does | limits | learner01 holds | server memory | learner02's request-reply p99 "
        "| learner02's JetStream calls that succeed (median time) |",
        "|---|---|---|---|---|---|",
    ]
    for r in rows:
        attack = r.get("attack", {})
        holds = f"server peak: {r['server_conns']:,} connections, {r['server_subs']:,} subscriptions"
        if "held" in attack:
            holds = f"held {attack['held']:,} connections; " + holds
        if "subscribed" in attack:
            holds = (
                f"sent {attack['subscribed']:,} SUBs"
                + (", then was cut off" * attack["connection_closed"])
                + "; "
                + holds
            )
        if "published" in attack:
            holds = f"published {attack['published']:,} messages; " + holds
        if "requests" in attack:
            holds = f"made {attack['requests']:,} API requests; " + holds
        if "refused" in attack:
            holds += f" (refused: {attack['refused'].strip()[:60]})"
        if r.get("flagged_after_s") is not None:
            holds += f"; flagged by workshop-status after {r['flagged_after_s']} s, then disabled"
        lines.append(
            f"| {ABUSES[r['abuse']]} | {r['limits']} | {holds} | {r['mem_mb']} MB | {r['p99_ms']} ms "
            f"| {r['js_ok']} of {r['js_tried']} ({r.get('js_median_ms')} ms) |"
        )
    return "\n".join(lines) + "\n"


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m room.abuse", description=__doc__)
    sub = parser.add_subparsers(dest="command")
    hit = sub.add_parser("attack")
    hit.add_argument("kind", choices=[k for k in ABUSES if k != "none"])
    hit.add_argument("url")
    hit.add_argument("seconds", type=float)
    parser.add_argument("--seconds", type=float, default=8.0)
    parser.add_argument("--out", type=Path)
    parser.add_argument("--only", nargs="*", choices=list(ABUSES))
    args = parser.parse_args(argv)
    if args.command == "attack":
        url = args.url
        if not url.split("@")[-1].startswith("127.0.0.1:"):
            raise SystemExit("loopback only: the attack runs against 127.0.0.1")
        print(json.dumps(asyncio.run(attack(args.kind, url, args.seconds))))
        return 0
    rows = measure(args.seconds, args.only)
    text = table(rows)
    print(text)
    if args.out:
        args.out.write_text(
            f"<!-- generated by `python -m room.abuse --seconds {args.seconds:g}` on {time.strftime('%Y-%m-%d')}, "
            f"loopback, nats-server 2.15.1 -->\n{text}"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
