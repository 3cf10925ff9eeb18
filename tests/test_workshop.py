"""Workshop mode, quickly: the generated configuration, compose, isolation between learners, the advice a
learner gets, the progress board's feed, reset. The whole room (every notebook for three learners at
once) is tests/test_workshop_room.py, behind `make test-workshop`."""

from __future__ import annotations

import asyncio
import csv
import json
import stat
import subprocess
import time
from urllib.parse import urlsplit

import nats
import pytest
import yaml
from nats.js.api import StreamConfig

from helpers import monitor, server
from helpers.embedded import binary, free_port
from helpers.exercises.framework import Wrong, exercise
from helpers.processes import pid_alive
from helpers.server import WrongCredentials, advice, find_server
from room import progress, workshop
from tests.harness import REPO
from tools import schedule


def options(learners=3):
    return workshop.Options(learners, host="127.0.0.1", port=free_port(), http_port=free_port())


@pytest.fixture(autouse=True)
def no_workshop_kernel(monkeypatch):
    """find_server remembers a learner's URL for the checkers of the process: forget it after each test."""
    monkeypatch.setattr(server, "_found", None)


@pytest.fixture
def room(tmp_path, monkeypatch):
    """A running workshop server for 2 learners in a temporary folder, with small stream limits."""
    monkeypatch.setattr(workshop, "LEARNER_LIMITS", workshop.LEARNER_LIMITS | {"max_streams": 2})
    state = workshop.up(options(2), tmp_path)
    yield state, tmp_path
    workshop.down(tmp_path)


def test_generated_files(tmp_path):
    state = workshop.generate(options(3), tmp_path)
    result = subprocess.run(
        [binary(), "--config", str(tmp_path / "nats-server.conf"), "-t"], capture_output=True, text=True, timeout=20
    )
    assert result.returncode == 0, result.stderr
    text = (tmp_path / "learners.csv").read_text()
    assert text.splitlines()[0] == "learner,nats_url"
    rows = list(csv.DictReader(text.splitlines()))
    assert [r["learner"] for r in rows] == ["learner01", "learner02", "learner03"]
    for row in rows:
        url = urlsplit(row["nats_url"])
        assert (url.scheme, url.username, url.hostname) == ("nats", row["learner"], "127.0.0.1")
        assert len(url.password) >= 16 and workshop.account_of(row["nats_url"]) == row["learner"]
        assert row["nats_url"] in (tmp_path / "sheet.html").read_text()
    for name in ("nats-server.conf", "learners.csv", "sheet.html"):  # they hold passwords
        assert stat.S_IMODE((tmp_path / name).stat().st_mode) == 0o600
    again = workshop.generate(options(3), tmp_path / "again")
    assert not set(state["learners"].values()) & set(again["learners"].values()), "passwords must change"
    config = (tmp_path / "nats-server.conf").read_text()
    assert "system_account: SYS" in config and config.count("jetstream: {max_mem: 64MB") == 3


def test_workshop_files_are_git_ignored():
    paths = [".workshop/nats-server.conf", ".workshop/sheet.html", ".workshop/learners.csv", "wheelhouse/x.whl"]
    result = subprocess.run(["git", "check-ignore", *paths], cwd=REPO, capture_output=True, text=True, timeout=10)
    assert result.stdout.split() == paths


def test_compose_workshop_profile_runs_the_generated_config():
    compose = yaml.safe_load((REPO / "docker-compose.yml").read_text())
    room, nats_service = compose["services"]["nats-workshop"], compose["services"]["nats"]
    assert room["profiles"] == ["workshop"]
    assert room["image"] == nats_service["image"], "the workshop runs the same server version"
    mounts = {m.split(":")[0]: m.split(":")[1] for m in room["volumes"]}
    config = "./" + workshop.CONFIG.relative_to(REPO).as_posix()
    assert room["command"][room["command"].index("--config") + 1] == mounts[config], (
        "compose must run the file that `make workshop` generates and the embedded server runs"
    )
    assert mounts["./" + workshop.STORE.relative_to(REPO).as_posix()] == "/data"
    server = workshop.WorkshopServer(workshop.Options(1))
    assert server.config == workshop.CONFIG and "--config" in server.command()
    published = {p.rsplit(":", 1)[-1] for p in room["ports"]}
    assert published == {str(workshop.DEFAULT_PORT), str(workshop.DEFAULT_HTTP_PORT)}
    assert not any(p.startswith("127.0.0.1:") for p in room["ports"]), "published for the room, deliberately"


def test_schedule_is_current():
    assert schedule.main(["--check"]) == 0, "run `python -m tools.schedule` (or `make nav`)"
    kit = (REPO / "docs" / "instructor-kit.md").read_text()
    for nb in schedule.notebooks():  # scheduled with its header's core minutes, or listed as take-home
        assert (
            f"[{nb.label}](../notebooks/{nb.path.name}) (core up to {nb.core} min + " in kit
            or f"{nb.label} ({nb.time})" in kit
        )


def test_readme_links_the_instructors_kit():
    assert "(docs/instructor-kit.md)" in (REPO / "README.md").read_text()


async def test_learners_are_isolated_and_see_their_own_account(room):
    state, _ = room
    one, two = (workshop.local_url(state, name) for name in ("learner01", "learner02"))
    a = await nats.connect(one, name="learner01-nb")
    b = await nats.connect(two, name="learner02-nb")
    try:
        heard = await b.subscribe("user.created")
        await b.flush()  # the server has the SUB (tests/conftest.py applies helpers/nats_py_fixes.py)
        await a.publish("user.created", b"{}")
        await a.flush()
        with pytest.raises(nats.errors.TimeoutError):
            await heard.next_msg(timeout=0.5)  # learner02 never hears learner01
        mon = await asyncio.to_thread(find_server, one, state["local_monitor_url"])
        assert mon.monitor_url.endswith("?acc=learner01")
        names, deadline = set(), time.monotonic() + 5
        while names != {"learner01-nb"} and time.monotonic() < deadline:  # find_server's probe may still be closing
            names = set(monitor.connz(mon.monitor_url)["name"])
            await asyncio.sleep(0.05)  # between polls of a bounded wait
        assert names == {"learner01-nb"}
        assert set(monitor.subsz(find_server(two, state["local_monitor_url"]).monitor_url)["subject"]) == {
            "user.created"
        }
        with pytest.raises(nats.errors.NoRespondersError) as error:
            await b.request("greet.learner01", b"", timeout=1)
        assert "subjects are not shared between learners" in advice(error.value, two)
        assert advice(error.value, "nats://127.0.0.1:4222") is None  # outside a workshop: nothing to add
    finally:
        await a.close()
        await b.close()


def test_a_wrong_password_says_what_to_do(room):
    state, _ = room
    url = workshop.local_url(state, "learner01")
    wrong = url.replace(urlsplit(url).password, "not-the-password")
    with pytest.raises(WrongCredentials) as error:
        find_server(wrong)
    message = str(error.value)
    assert "refused the password for learner01" in message and "not-the-password" not in message
    with pytest.raises(WrongCredentials, match="requires a user and password"):
        find_server(f"nats://127.0.0.1:{urlsplit(url).port}")


async def test_a_used_up_limit_says_what_to_do(room):
    state, _ = room
    url = workshop.local_url(state, "learner02")
    nc = await nats.connect(url)
    js = nc.jetstream()
    try:
        for i in range(2):
            await js.add_stream(StreamConfig(name=f"S{i}", subjects=[f"s{i}"]))
        with pytest.raises(nats.js.errors.APIError) as error:
            await js.add_stream(StreamConfig(name="S2", subjects=["s2"]))
        text = advice(error.value, url)
        assert "used up one of its JetStream limits" in text and "Clean up" in text
    finally:
        await nc.close()


@exercise(hint="-", key="demo.echo")
async def check_echo(answer, server):
    if answer != "echo":
        raise Wrong("say echo")
    return "Echoed."


async def test_verdicts_reach_the_instructor_only_in_workshop_mode(room, nats_server):
    state, _ = room
    board = await nats.connect(workshop.local_url(state, "instructor"))
    try:
        js = board.jetstream()
        learner = type("S", (), {"url": workshop.local_url(state, "learner02"), "monitor_url": None})()
        assert (await check_echo("echo", learner, show=False)).ok
        assert (await check_echo("nope", learner, show=False)).status == "wrong"
        msg = await js.get_msg(progress.STREAM, seq=2)
        assert msg.subject == "workshop.progress.learner02"
        body = json.loads(msg.data)
        assert set(body) == {"learner", "exercise", "status", "time"}
        assert (body["learner"], body["exercise"], body["status"]) == ("learner02", "demo.echo", "wrong")

        plain = await nats.connect(nats_server.url)  # not a workshop: nothing is published
        try:
            overheard = await plain.subscribe(">")
            await plain.flush()
            assert await progress.publish_verdict(nats_server.url, "demo.echo", "correct") is False
            assert (await check_echo("echo", nats_server, show=False)).ok
            await plain.flush()
            assert overheard.pending_msgs == 0
        finally:
            await plain.close()
    finally:
        await board.close()


def test_reset_gives_new_passwords_and_empty_accounts_and_a_restart_keeps_them(room):
    state, directory = room

    async def make_stream(url, name):
        nc = await nats.connect(url)
        try:
            await nc.jetstream().add_stream(StreamConfig(name=name, subjects=[name.lower()]))
        finally:
            await nc.close()
        return await stream_names(url)

    assert asyncio.run(make_stream(workshop.local_url(state, "learner01"), "OLD")) == ["OLD"]
    new = workshop.reset(directory)
    assert not pid_alive(state["pid"]) and pid_alive(new["pid"])
    assert new["learners"].keys() == state["learners"].keys() and new["learners"] != state["learners"]
    assert asyncio.run(stream_names(workshop.local_url(new, "learner01"))) == []  # an empty account
    assert asyncio.run(make_stream(workshop.local_url(new, "learner01"), "KEEP")) == ["KEEP"]
    with pytest.raises(WrongCredentials):
        find_server(workshop.local_url(state, "learner01"))  # the old slip no longer works
    assert "Stopped" in workshop.down(directory) and not workshop.running(directory)

    again = workshop.up(workshop.Options(**new["options"]), directory)  # a laptop restarted mid-day
    assert again["learners"] == new["learners"] and "as it was" in workshop.where(again)
    assert asyncio.run(stream_names(workshop.local_url(again, "learner01"))) == ["KEEP"]  # its data kept


async def stream_names(url):
    nc = await nats.connect(url)
    try:
        return [s.config.name for s in await nc.jetstream().streams_info()]
    finally:
        await nc.close()
