"""Server resolution, clear errors, and process clean-up."""

import socket
import time

import pytest

from helpers import course_server as local
from helpers import server as srv
from helpers.embedded import EmbeddedServer, free_port
from helpers.probe import probe
from helpers.processes import pid_alive
from helpers.server import JetStreamDisabled, ServerNotFound, find_server


def closed_url():
    return f"nats://127.0.0.1:{free_port()}"


def test_probe_reads_the_servers_info(nats_server):
    info = probe(nats_server.url)
    assert info["server_name"] == "nats-course"  # from config/nats-server.conf
    assert info["jetstream"] is True and info["max_payload"] == 1024 * 1024


@pytest.mark.parametrize("how", ["parameter", "NATS_URL"])
def test_unreachable_url_fails_fast_and_starts_nothing(how, monkeypatch):
    monkeypatch.setattr(srv, "up", lambda *a, **k: pytest.fail("must not start a server"))
    url = closed_url()
    if how == "NATS_URL":
        monkeypatch.setenv("NATS_URL", url)
    started = time.monotonic()
    with pytest.raises(ServerNotFound) as error:
        find_server(url if how == "parameter" else None)
    assert time.monotonic() - started < 5
    message = str(error.value)
    for words in (url, "NATS_URL", "make up", "docker compose up -d"):
        assert words in message


def test_a_silent_port_gives_up_within_the_timeout(monkeypatch):
    """Something accepts the connection but never speaks NATS: bounded, not a hang."""
    monkeypatch.setattr(srv, "up", lambda *a, **k: pytest.fail("must not start a server"))
    with socket.create_server(("127.0.0.1", 0)) as silent:
        started = time.monotonic()
        with pytest.raises(ServerNotFound):
            find_server(f"nats://127.0.0.1:{silent.getsockname()[1]}", timeout=1.0)
    assert time.monotonic() - started < 3


def test_nats_url_wins_over_the_local_server(nats_server, monkeypatch):
    monkeypatch.setenv("NATS_URL", nats_server.url)
    found = find_server()
    assert (found.url, found.source) == (nats_server.url, "NATS_URL")


def test_a_server_without_jetstream_is_named_clearly(tmp_path):
    plain = tmp_path / "plain.conf"
    plain.write_text("server_name: plain\n")  # no jetstream block
    with EmbeddedServer(config=plain) as server:
        assert find_server(server.url).jetstream is False
        with pytest.raises(JetStreamDisabled) as error:
            find_server(server.url, jetstream=True)
    for words in (server.url, "JetStream", "-js", "make up"):
        assert words in str(error.value)


def test_embedded_server_cleans_up_its_process_and_data():
    with EmbeddedServer() as server:
        process, store = server.process, server.store_dir
        assert store.exists() and process.poll() is None
    assert process.poll() is not None and not store.exists()


def test_restart_keeps_ports_and_data():
    with EmbeddedServer() as server:
        url, first = server.url, server.pid
        server.restart()
        assert server.url == url and server.pid != first and probe(url)["jetstream"]


def test_a_taken_port_is_reported_with_the_servers_log():
    with EmbeddedServer() as first:
        with pytest.raises(RuntimeError, match="exited"):
            EmbeddedServer(port=first.port).start()


@pytest.fixture
def course_server(tmp_path, monkeypatch):
    """`up`/`down` on free ports and a temporary state folder, so a developer's server is untouched."""
    port, http_port = free_port(), free_port()
    monkeypatch.setattr(local, "DEFAULT_URL", f"nats://127.0.0.1:{port}")
    monkeypatch.setattr(local, "DEFAULT_MONITOR_URL", f"http://127.0.0.1:{http_port}")
    monkeypatch.setattr(local, "DATA_DIR", tmp_path)
    monkeypatch.setattr(local, "STATE_FILE", tmp_path / "server.json")
    monkeypatch.setattr(local, "LOG_FILE", tmp_path / "nats-server.log")
    monkeypatch.delenv("NATS_URL", raising=False)
    yield local
    local.down()


def test_up_twice_gives_one_server_and_down_leaves_no_process(course_server):
    first = srv.up()
    pid = course_server.read_state()["pid"]
    second = srv.up()
    assert first.url == second.url and course_server.read_state()["pid"] == pid
    assert "started by make up" in srv.status()
    assert "Stopped" in course_server.down()
    assert not pid_alive(pid) and course_server.read_state() is None
    assert "nothing to stop" in course_server.down()


def test_down_leaves_a_server_it_did_not_start(course_server):
    with EmbeddedServer(port=int(course_server.DEFAULT_URL.rsplit(":", 1)[1])) as other:
        assert "left alone" in course_server.down()
        assert other.process.poll() is None


def test_find_server_starts_the_embedded_one_when_nothing_runs(course_server):
    found = find_server()
    assert found.source.startswith("embedded") and found.jetstream
    assert find_server().source.startswith("already running")
