"""`python -m tools lab` (what `make lab` runs): JupyterLab plus a server, and nothing left behind."""

import json
import os
import signal
import subprocess
import sys
import time
import urllib.request

import pytest

from helpers import course_server as srv
from helpers.embedded import free_port
from helpers.monitor import monitor_get
from helpers.probe import probe
from helpers.processes import pid_alive
from tests.harness import REPO, stems

FIRST = stems()[0]  # the first notebook, whatever its number

pytestmark = pytest.mark.notebook  # executes notebooks or JupyterLab: not part of `make check`


def wait_for(predicate, timeout, what):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.1)
    pytest.fail(f"timed out after {timeout} s waiting for {what}")


def answers(url):
    try:
        with urllib.request.urlopen(url, timeout=1) as r:
            return r.status == 200
    except OSError:
        return False


def test_lab_serves_jupyter_with_a_server_and_stops_both(tmp_path):
    try:
        probe(srv.DEFAULT_URL, 0.5)
        pytest.skip("a server already runs on 127.0.0.1:4222: this test needs the port free")
    except OSError:
        pass
    port = free_port()
    env = {k: v for k, v in os.environ.items() if k != "NATS_URL"}
    work = tmp_path / "my-work"
    lab = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "tools",
            "lab",
            "--workdir",
            str(work),
            "--no-browser",
            f"--ServerApp.port={port}",
            "--ServerApp.token=",
            "--ServerApp.open_browser=False",
        ],
        cwd=REPO,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        wait_for(lambda: answers(f"http://127.0.0.1:{port}/api"), 60, "JupyterLab to answer")
        assert monitor_get(srv.DEFAULT_MONITOR_URL, "/healthz?js-enabled-only=true")["status"] == "ok"
        pid = srv.read_state()["pid"]
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/api/contents", timeout=5) as r:
            names = [item["name"] for item in json.load(r)["content"]]
        assert f"{FIRST}.ipynb" in names  # JupyterLab opens on the learner's copies of the notebooks
        assert "README.md" in names  # the contents page every notebook's "Contents" link opens
        assert (work / f"{FIRST}.ipynb").read_bytes() == (REPO / "notebooks" / f"{FIRST}.ipynb").read_bytes()
    finally:
        lab.send_signal(signal.SIGTERM)
        output = lab.communicate(timeout=30)[0]
    assert lab.returncode is not None
    assert "Stopped the embedded nats-server" in output, output[-2000:]
    assert not pid_alive(pid) and srv.read_state() is None
