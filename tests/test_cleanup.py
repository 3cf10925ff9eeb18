"""Nothing outlives its run, and nothing trips on a busy machine: an embedded server started by a Python process
that is killed (a test run's SIGTERM, a crashed kernel) stops too, and a free port someone else takes first is
chosen again."""

import subprocess
import sys
import time

import pytest

from helpers.processes import pid_alive

pytestmark = pytest.mark.slow

STARTER = """
from helpers.embedded import EmbeddedServer
server = EmbeddedServer().start()
print(server.pid, flush=True)
input()  # until killed
"""


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="the parent-death signal is Linux's")
@pytest.mark.parametrize("signal_name", ["SIGTERM", "SIGKILL"])
def test_a_killed_python_process_leaves_no_server(signal_name):
    starter = subprocess.Popen(
        [sys.executable, "-c", STARTER], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
    )
    pid = int(starter.stdout.readline())
    assert pid_alive(pid)
    starter.send_signal(getattr(subprocess.signal, signal_name))
    starter.wait(10)
    deadline = time.monotonic() + 10
    while pid_alive(pid) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not pid_alive(pid), f"nats-server {pid} outlived the process that started it ({signal_name})"


def test_a_port_taken_between_choosing_and_binding_is_chosen_again():
    """On a busy machine another program can take a free port before the server binds it."""
    import socket

    from helpers.embedded import EmbeddedServer

    server = EmbeddedServer()
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", server.port))
        taken.listen()
        chosen = server.port
        try:
            server.start()
            assert server.port != chosen and server.url.endswith(f":{server.port}")
        finally:
            server.cleanup()
