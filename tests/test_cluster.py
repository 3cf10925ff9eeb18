"""The 3-node cluster of Clustering and failover: docker-compose.yml's `cluster` profile and helpers/cluster.py run the
same config files with the same nats-server version; the files are valid; a Cluster, started or failing to
start, leaves no process behind."""

import posixpath
import re
import subprocess
from pathlib import Path

import pytest
import yaml

from helpers.cluster import NAMES, Cluster, cluster_processes, config_file
from helpers.embedded import binary
from tests.harness import REPO
from tests.test_structure import pinned_server_version

INCLUDE = re.compile(r"^\s*include\s+[\"']?([^\"'\s]+)", re.M)


def services() -> dict:
    return yaml.safe_load((REPO / "docker-compose.yml").read_text())["services"]


def cluster_services() -> dict:
    return {name: s for name, s in services().items() if "cluster" in s.get("profiles", [])}


def host_file(service: dict, container_path: str) -> Path | None:
    """The file of this checkout that `service` sees at `container_path`, through its bind mounts."""
    for volume in service["volumes"]:
        source, target = volume.split(":")[:2]
        if source.startswith("./") and (container_path == target or container_path.startswith(target + "/")):
            return (REPO / source / posixpath.relpath(container_path, target)).resolve()
    return None


def test_compose_cluster_nodes_are_the_embedded_clusters_nodes():
    nodes = cluster_services()
    assert sorted(nodes) == sorted(NAMES), "one compose service per node, named as helpers/cluster.py names them"
    image = f"nats:{pinned_server_version()}-alpine"
    assert services()["nats"]["image"] == image
    for name, node in nodes.items():
        assert node["image"] == image, f"{name}: {node['image']}, not the main server's {image}"
        assert node["profiles"] == ["cluster"]
        assert all(port.startswith("127.0.0.1:") for port in node["ports"]), "publish ports on 127.0.0.1 only"
        client_port = next(p.split(":")[1] for p in node["ports"] if p.endswith(":4222"))
        advertised = node["command"][node["command"].index("--client_advertise") + 1]
        assert advertised == f"127.0.0.1:{client_port}", f"{name} must advertise the port clients reach"


@pytest.mark.parametrize("name", NAMES)
def test_compose_and_embedded_cluster_run_the_same_files(name):
    node = cluster_services()[name]
    assert Path(Cluster().nodes[name].config) == config_file(name), "the embedded node's config file"
    command = node["command"]
    container_config = command[command.index("--config") + 1]
    seen = []

    def follow(host: Path, container: str):
        """The container's file is this checkout's file, and so is every file it includes."""
        assert host_file(node, container) == host.resolve(), f"{name}: {container} is not ./{host.relative_to(REPO)}"
        seen.append(host.relative_to(REPO).as_posix())
        for include in INCLUDE.findall(host.read_text()):
            follow(
                (host.parent / include).resolve(),
                posixpath.normpath(posixpath.join(posixpath.dirname(container), include)),
            )

    follow(config_file(name), container_config)
    assert seen == [f"config/cluster/{name}.conf", "config/cluster/cluster.conf", "config/nats-server.conf"]


def test_the_routes_name_the_compose_services():
    text = config_file("cluster").read_text()
    routes = re.findall(r"nats-route://([\w-]+):(\d+)", text)
    port = re.search(r"^\s*port:\s*(\d+)", text.split("cluster {")[1], re.M).group(1)
    assert sorted(host for host, _ in routes) == sorted(cluster_services()), "routes by service name"
    assert {p for _, p in routes} == {port}, "every route points at the cluster port"


@pytest.mark.parametrize("name", NAMES)
def test_node_config_is_valid_for_the_server(name):
    result = subprocess.run(
        [binary(), "--config", str(config_file(name)), "-t"], capture_output=True, text=True, timeout=10
    )
    assert result.returncode == 0, result.stderr


def ours(cluster) -> list[str]:
    return [line for line in cluster_processes() if int(line.split()[0]) in cluster.pids()]


@pytest.mark.slow  # starts three servers and waits for their elections
def test_a_cluster_starts_ready_and_leaves_nothing():
    cluster = Cluster()
    with cluster:
        assert cluster.problems() == []
        assert len(ours(cluster)) == 3
        pids = cluster.pids()
        cluster.start()  # again: starts nothing
        assert cluster.pids() == pids
        victim = next(name for name in NAMES if name != cluster.meta_leader())  # no JetStream election
        cluster.kill(victim)
        assert cluster.running() == [n for n in NAMES if n != victim] and cluster.problems() == []
        cluster.start()  # brings back what is down, only that
        assert cluster.running() == list(NAMES)
        assert [p for n, p in zip(NAMES, cluster.pids(), strict=True) if n != victim] == [
            p for n, p in zip(NAMES, pids, strict=True) if n != victim
        ]
        routes = cluster.routes()
        assert all(routes.loc[a, b] > 0 for a in NAMES for b in NAMES if a != b)
    assert ours(cluster) == []
    assert not any(node.store_dir.exists() for node in cluster.nodes.values())


def test_a_cluster_that_cannot_start_leaves_nothing():
    cluster = Cluster()
    with pytest.raises(TimeoutError):
        cluster.start(timeout=0.001)  # impossible: no server is healthy within a millisecond
    assert ours(cluster) == []
    assert not any(node.store_dir.exists() for node in cluster.nodes.values())
