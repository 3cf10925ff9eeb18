"""A private 3-node nats-server cluster on loopback (Clustering and failover, and its checkers).

Each node is an `EmbeddedServer` started with config/cluster/node-<x>.conf, the same files the
`cluster` profile of docker-compose.yml mounts (tests/test_cluster.py keeps them in step). Only what
must differ on one machine comes from the command line: the loopback address, free client, route and
monitoring ports, the routes between them, and a temporary store_dir per node.

Ready means, for every node: /healthz ok (which includes JetStream's contact with a meta leader), a
route to each other node (/routez), and a JetStream meta group whose leader sees every peer current
(/jsz). Every wait polls with a deadline; nothing sleeps "long enough".

Crashes are real: `kill()` sends SIGKILL (no clean shutdown, as when a machine dies), `frozen()` sends
SIGSTOP/SIGCONT (a hung node keeps its sockets open), `start_node()` restarts a node on its ports
with its data. Every process is stopped when the Python process exits (a kernel restart included).
"""

from __future__ import annotations

import atexit
import contextlib
import shutil
import signal
import subprocess
import time
from concurrent.futures import ThreadPoolExecutor
from urllib.parse import urlsplit

import pandas as pd

from helpers.embedded import REPO, EmbeddedServer, free_port
from helpers.monitor import monitor_get

CONFIG_DIR = REPO / "config" / "cluster"
NAMES = ("node-a", "node-b", "node-c")
BOOTSTRAP = 2.5  # seconds: a new cluster without a meta leader by then had a split first vote


def config_file(name: str):
    """The node's config file: config/cluster/<name>.conf (docker-compose.yml mounts the same)."""
    return CONFIG_DIR / f"{name}.conf"


class Cluster:
    """Three nats-server processes routed to each other on 127.0.0.1, each with JetStream.

    `.urls` lists the client URLs (give a client all of them); `.nodes[name]` is each EmbeddedServer.
    """

    def __init__(self, names=NAMES):
        self.route_ports = {name: free_port() for name in names}
        routes = ",".join(f"nats-route://127.0.0.1:{port}" for port in self.route_ports.values())
        self.nodes = {
            name: EmbeddedServer(
                config=config_file(name), args=["--cluster", f"nats://127.0.0.1:{port}", "--routes", routes]
            )
            for name, port in self.route_ports.items()
        }
        atexit.register(self._remove_data)  # runs after the processes' own stop_at_exit handlers

    # -- addresses --------------------------------------------------------------------------------

    @property
    def names(self) -> list[str]:
        return list(self.nodes)

    @property
    def urls(self) -> list[str]:
        return [node.url for node in self.nodes.values()]

    def node_for(self, url) -> str:
        """The name of the node listening at `url` (a URL string or nats-py's parsed connected_url)."""
        port = url.port if hasattr(url, "port") else urlsplit(url).port
        return next(name for name, node in self.nodes.items() if node.port == port)

    def running(self) -> list[str]:
        return [name for name, node in self.nodes.items() if node.process and node.process.poll() is None]

    # -- starting and readiness -------------------------------------------------------------------

    def start(self, timeout: float = 15.0) -> Cluster:
        """Start every node that is not running, all at once (one node alone cannot become healthy), and
        wait until the cluster is ready. Run again, it starts only what is down (nothing, usually).

        A brand-new cluster elects its first JetStream meta leader within a second, unless the first vote
        splits (two nodes stand at the same moment): then nats-server waits out an election timeout of
        4-9 s. Rather than wait, a new cluster that has no leader after BOOTSTRAP seconds is started
        afresh, once. On any failure every node is stopped before the error is raised: nothing is left
        running."""
        deadline = time.monotonic() + timeout
        new = not any((node.store_dir / "jetstream").exists() for node in self.nodes.values())  # no data yet
        while True:
            try:
                left = deadline - time.monotonic()
                self._start_idle(min(BOOTSTRAP, left) if new else left)
                self.wait_ready(deadline - time.monotonic())
                return self
            except TimeoutError:
                self.stop()  # and remove the data: the next attempt is a new cluster again
                if not new or time.monotonic() + BOOTSTRAP > deadline:
                    raise
                new = False  # one fresh attempt, then wait as long as `timeout` allows
            except BaseException:
                self.stop()
                raise

    def _start_idle(self, timeout: float) -> None:
        idle = [node for name, node in self.nodes.items() if name not in self.running()]
        with ThreadPoolExecutor(max(len(idle), 1)) as pool:
            for future in [pool.submit(node.start, timeout) for node in idle]:
                future.result()

    def wait_ready(self, timeout: float = 15.0) -> float:
        """Poll /healthz, /routez and /jsz of every running node until the cluster is whole; seconds taken."""
        started = time.monotonic()
        deadline = started + timeout
        while True:
            problems = self.problems()
            if not problems:
                return time.monotonic() - started
            if time.monotonic() > deadline:
                raise TimeoutError(f"the cluster was not ready within {timeout} s: {'; '.join(problems)}")
            time.sleep(0.02)  # between polls of a deadline-bounded wait

    def problems(self) -> list[str]:
        """What keeps the cluster from being ready right now (empty when it is ready)."""
        running, found = self.running(), []
        for name in running:
            url = self.nodes[name].monitor_url
            try:
                health = monitor_get(url, "/healthz", 0.5)
                routed = {route.get("remote_name") for route in monitor_get(url, "/routez", 0.5)["routes"]}
                meta = monitor_get(url, "/jsz", 0.5).get("meta_cluster") or {}
            except OSError as error:
                found.append(f"{name}: {error}")
                continue
            if health.get("status") != "ok":
                found.append(f"{name} /healthz: {health.get('error', health)}")
            if set(running) - {name} - routed:
                found.append(f"{name} has no route to {sorted(set(running) - {name} - routed)}")
            if meta.get("leader") == name:
                current = {r["name"] for r in meta.get("replicas", []) if r.get("current")}
                if set(running) - {name} - current:
                    found.append(f"meta leader {name} waits for {sorted(set(running) - {name} - current)}")
            elif not meta.get("leader"):
                found.append(f"{name} knows no JetStream meta leader")
        return found or ([] if running else ["no node is running"])

    # -- failures ---------------------------------------------------------------------------------

    def kill(self, name: str) -> float:
        """Crash a node: SIGKILL, no clean shutdown. Returns the time.monotonic() of the kill."""
        process = self.nodes[name].process
        process.kill()
        process.wait(5)
        return time.monotonic()

    @contextlib.contextmanager
    def frozen(self, name: str):
        """Freeze a node (SIGSTOP) for the `with` block, then let it run on (SIGCONT).

        A frozen node is what a hung machine or a cut cable looks like: its sockets stay open and
        nothing answers, so clients notice only through their own PINGs."""
        process = self.nodes[name].process
        process.send_signal(signal.SIGSTOP)
        try:
            yield
        finally:
            if process.poll() is None:
                process.send_signal(signal.SIGCONT)

    def start_node(self, name: str, timeout: float = 15.0) -> float:
        """Start a stopped node again (same ports, same data) and wait for the cluster; seconds taken.
        A node that is running is left as it is."""
        started = time.monotonic()
        if name not in self.running():
            self.nodes[name].start(timeout)
        self.wait_ready(timeout)
        return time.monotonic() - started

    # -- what the nodes say -----------------------------------------------------------------------

    def table(self) -> pd.DataFrame:
        rows = [
            {
                "node": name,
                "client URL": node.url,
                "route port": self.route_ports[name],
                "monitoring": node.monitor_url,
                "pid": node.pid,
                "running": name in self.running(),
            }
            for name, node in self.nodes.items()
        ]
        return pd.DataFrame(rows).set_index("node")

    def routes(self) -> pd.DataFrame:
        """Route connections per node and peer, from each running node's /routez."""
        rows = []
        for name in self.running():
            for route in monitor_get(self.nodes[name].monitor_url, "/routez")["routes"]:
                rows.append({"node": name, "peer": route.get("remote_name"), "connections": 1})
        table = pd.DataFrame(rows, columns=["node", "peer", "connections"])
        return table.pivot_table(index="node", columns="peer", values="connections", aggfunc="sum", fill_value=0)

    def stream_views(self, stream: str) -> pd.DataFrame:
        """Each running node's own copy of `stream`, from its /jsz?streams=1 (not via the leader)."""
        rows = []
        for name in self.running():
            view = {"node": name, "messages": None, "first_seq": None, "last_seq": None, "leader": None}
            data = monitor_get(self.nodes[name].monitor_url, "/jsz?streams=1")
            for account in data.get("account_details", []):
                for detail in account.get("stream_detail", []):
                    if detail["name"] == stream:
                        state = detail["state"]
                        view |= {
                            "messages": state["messages"],
                            "first_seq": state["first_seq"],
                            "last_seq": state["last_seq"],
                            "leader": (detail.get("cluster") or {}).get("leader"),
                        }
            rows.append(view)
        return pd.DataFrame(rows).set_index("node")

    def meta_leader(self) -> str | None:
        """The node that leads JetStream's meta group (it places streams), as a running node reports it."""
        for name in self.running():
            leader = (monitor_get(self.nodes[name].monitor_url, "/jsz").get("meta_cluster") or {}).get("leader")
            if leader:
                return leader
        return None

    def wait_caught_up(self, name: str, stream: str, expected: dict, timeout: float = 10.0) -> float:
        """Poll node `name`'s /jsz until its copy of `stream` has `expected` (e.g. {"messages": 300,
        "last_seq": 300}); seconds taken. Raises TimeoutError with its last view."""
        started = time.monotonic()
        while True:
            view = self.stream_views(stream).loc[name].to_dict()
            if all(view.get(key) == value for key, value in expected.items()):
                return time.monotonic() - started
            if time.monotonic() - started > timeout:
                raise TimeoutError(
                    f"{name} did not catch up on {stream} within {timeout} s: {view}, expected {expected}"
                )
            time.sleep(0.02)  # between polls of a deadline-bounded wait

    # -- stopping ---------------------------------------------------------------------------------

    def pids(self) -> list[int]:
        return [node.pid for node in self.nodes.values() if node.pid]

    def stop(self) -> None:
        """Stop every node (a frozen one too) and remove their data: nothing is left behind."""
        for node in self.nodes.values():
            if node.process and node.process.poll() is None:
                node.process.send_signal(signal.SIGCONT)  # a stopped process cannot act on SIGTERM
            node.stop(timeout=5)
        self._remove_data()

    def _remove_data(self) -> None:
        for node in self.nodes.values():
            if node.process is None or node.process.poll() is not None:
                shutil.rmtree(node.store_dir, ignore_errors=True)

    def __enter__(self) -> Cluster:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()


def cluster_processes() -> list[str]:
    """`pid command` of every nats-server process running one of config/cluster's node files (any
    Cluster started from this checkout), from `ps`: what a test checks is gone after a notebook run."""
    out = subprocess.run(["ps", "-ww", "-eo", "pid=,args="], capture_output=True, text=True, timeout=10).stdout
    return [
        line.strip()
        for line in out.splitlines()
        if "nats-server" in line and str(CONFIG_DIR) in line and "--config" in line
    ]
