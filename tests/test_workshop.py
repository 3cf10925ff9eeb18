"""Workshop mode, quickly: the generated configuration, compose, isolation between learners, the advice a
learner gets, the progress board's feed, reset. The whole room (every notebook for three learners at
once) is tests/test_workshop_room.py, behind `make test-workshop`."""

from __future__ import annotations

import asyncio
import csv
import json
import re
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
        deadline = time.monotonic() + 5  # the import hands the verdict to the stream after publish returned
        while (await js.stream_info(progress.STREAM)).state.messages < 2 and time.monotonic() < deadline:
            await asyncio.sleep(0.05)
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


# --------------------------------------------------------------------------
# Issue 17: limits, restarts, disabling, the board's defences, no password shown.


async def _connect_all(url, n):
    async def quiet(_):
        pass

    held, refused = [], None
    for _ in range(n):
        try:
            held.append(await nats.connect(url, allow_reconnect=False, error_cb=quiet, connect_timeout=2))
        except Exception as e:  # noqa: BLE001 - the refusal is what is measured
            refused = e
            break
    return held, refused


async def test_a_learner_cannot_hold_too_many_connections_or_subscriptions(room):
    state, _ = room
    url = workshop.local_url(state, "learner01")
    cap = workshop.ACCOUNT_LIMITS["max_connections"]
    held, refused = await _connect_all(url, cap + 5)
    try:
        assert len(held) == cap and "maximum account active connections exceeded" in str(refused)
        other, _ = await _connect_all(workshop.local_url(state, "learner02"), 1)  # the others still get in
        assert len(other) == 1
        await other[0].close()
    finally:
        for nc in held:
            await nc.close()
    nc = await nats.connect(url)
    try:
        for i in range(workshop.ACCOUNT_LIMITS["max_subscriptions"] + 50):
            await nc.subscribe(f"s.{i}")
        await nc.flush(timeout=5)
        await asyncio.sleep(0.2)  # the server logs the refusals; the monitor shows what it holds
        subs = monitor.monitor_get(state["local_monitor_url"], "/connz?subs=1&acc=learner01")["connections"]
        assert sum(c["num_subscriptions"] for c in subs) <= workshop.ACCOUNT_LIMITS["max_subscriptions"]
    finally:
        await nc.close()


def test_a_stopped_workshop_with_other_options_is_refused_and_kept(room):
    state, directory = room
    workshop.down(directory)
    changed = workshop.Options(**(state["options"] | {"learners": 3}))
    with pytest.raises(workshop.WorkshopError, match=r"learners: 2 -> 3") as error:
        workshop.up(changed, directory)
    assert "make workshop-add" in str(error.value)
    again = workshop.up(None, directory)  # `make workshop` with no options: as it was
    assert again["learners"] == state["learners"]
    find_server(workshop.local_url(again, "learner01"))  # the old slip still works


def test_latecomers_and_disable_by_reload_nobody_else_disconnected(room):
    state, directory = room

    async def scenario():
        one = await nats.connect(workshop.local_url(state, "learner01"), allow_reconnect=False)
        two = await nats.connect(workshop.local_url(state, "learner02"), allow_reconnect=False)
        added = await asyncio.to_thread(workshop.add, 2, directory)
        assert list(added["learners"]) == ["learner01", "learner02", "learner03", "learner04"]
        assert added["learners"]["learner01"] == state["learners"]["learner01"]  # old slips unchanged
        four = await nats.connect(workshop.local_url(added, "learner04"), allow_reconnect=False)
        await four.jetstream().add_stream(StreamConfig(name="LATE", subjects=["late"]))  # JetStream works
        assert "disabled" in await asyncio.to_thread(workshop.set_enabled, "learner02", False, directory)
        deadline = time.monotonic() + 5
        while not two.is_closed and time.monotonic() < deadline:
            await asyncio.sleep(0.05)  # the reload closes learner02's connection
        assert two.is_closed and one.is_connected and four.is_connected
        with pytest.raises(nats.errors.Error):
            await nats.connect(workshop.local_url(added, "learner02"), allow_reconnect=False, max_reconnect_attempts=0)
        await asyncio.to_thread(workshop.set_enabled, "learner02", True, directory)
        back = await nats.connect(workshop.local_url(added, "learner02"), allow_reconnect=False)
        for nc in (one, four, back):
            await nc.close()

    asyncio.run(scenario())
    assert "DISABLED" not in workshop.status(directory, seconds=0.2)


def test_a_stale_pid_is_not_trusted(room, tmp_path):
    state, directory = room
    sleeper = subprocess.Popen(["sleep", "30"])
    try:
        fake = tmp_path / "fake"
        fake.mkdir()
        (fake / "nats-server.conf").write_text("")
        (fake / "state.json").write_text(json.dumps(state | {"pid": sleeper.pid}))
        assert workshop.running(fake) is None and "No workshop server is running" in workshop.status(fake)
        assert workshop.down(fake) == "No workshop server is running." and sleeper.poll() is None
    finally:
        sleeper.kill()
        sleeper.wait()
    assert workshop.running(directory)["pid"] == state["pid"]


def test_status_shows_rates_and_no_password(room):
    state, directory = room
    text = workshop.status(directory, seconds=0.2)
    assert "JS API/s" in text and "msgs in/s" in text and "learner02" in text
    for password in state["passwords"].values():
        assert password not in text


def test_the_board_skips_forged_malformed_and_oversized(tmp_path):
    skipped = progress.Skipped()
    good = json.dumps(
        {"learner": "learner01", "exercise": "streams.capture", "status": "correct", "time": "2026-12-06T10:00:00"}
    )
    ok = progress.decode("workshop.progress.learner01", good.encode(), skipped)
    assert ok == json.loads(good)
    subject = "workshop.progress.learner01"
    bad = [
        (subject, good.replace('"learner01"', '"learner02"').encode(), "forged"),
        (subject, b"not json", "malformed"),
        (subject, b"[1, 2]", "malformed"),
        (subject, json.dumps({"exercise": "x.y", "status": "correct"}).encode(), "malformed"),  # no time
        (
            subject,
            json.dumps({"exercise": "x.y", "status": "pwned", "time": "2026-12-06T10:00:00"}).encode(),
            "malformed",
        ),
        (subject, b"{" + b" " * 5000 + b"}", "oversized"),
        ("workshop.progress.learner99-FAKE", good.encode(), "malformed"),
    ]
    for subj, data, _ in bad:
        assert progress.decode(subj, data, skipped) is None
    assert skipped == {"forged": 1, "malformed": 5, "oversized": 1}
    table = progress.table([ok], ["learner01", "learner02"])
    assert table.loc["learner02", "correct"] == 0 and table.loc["learner01", "correct"] == 1


async def test_forged_and_malformed_verdicts_through_the_server(room):
    state, _ = room
    learner = await nats.connect(workshop.local_url(state, "learner01"))
    board = await nats.connect(workshop.local_url(state, "instructor"))
    try:
        forged = {
            "learner": "learner02",
            "exercise": "streams.capture",
            "status": "correct",
            "time": "2026-12-06T10:00:00",
        }
        await learner.publish("workshop.progress", json.dumps(forged).encode())
        await learner.publish("workshop.progress", b"not json")
        await learner.publish(
            "workshop.progress.learner02", json.dumps(forged).encode()
        )  # stays in learner01's account
        await learner.publish("workshop.progress", b"x" * 4096)  # over the stream's max_msg_size: never stored
        await learner.flush()
        js = board.jetstream()
        deadline = time.monotonic() + 5
        while (info := await js.stream_info(progress.STREAM)).state.messages < 2 and time.monotonic() < deadline:
            await asyncio.sleep(0.05)
        assert info.state.messages == 2 and info.config.max_msg_size == progress.MAX_BYTES
        skipped, verdicts = progress.Skipped(), []
        for seq in (1, 2):
            msg = await js.get_msg(progress.STREAM, seq)
            assert msg.subject == "workshop.progress.learner01"
            if (v := progress.decode(msg.subject, msg.data, skipped)) is not None:
                verdicts.append(v)
        assert verdicts == [] and skipped == {"forged": 1, "malformed": 1}
        assert "learner02" not in set(progress.table(verdicts, []).index)
    finally:
        await learner.close()
        await board.close()


def test_the_sheet_has_every_shell_and_the_hub(tmp_path):
    state = workshop.generate(options(2), tmp_path)
    sheet = (tmp_path / "sheet.html").read_text()
    assert "export NATS_URL=" in sheet and "$env:NATS_URL = " in sheet and 'set "NATS_URL=' in sheet
    state["hub"] = {"url": "http://127.0.0.1:8000", "passwords": {"learner01": "hub-one", "learner02": "hub-two"}}
    workshop.write_files(state, tmp_path)
    rows = list(csv.reader((tmp_path / "learners.csv").read_text().splitlines()))
    assert rows[0][:2] == ["learner", "nats_url"] and rows[0][2:] == ["hub_url", "hub_user", "hub_password"]
    assert rows[1][2:] == ["http://127.0.0.1:8000", "learner01", "hub-one"]
    assert "hub-two" in (tmp_path / "sheet.html").read_text()


def test_limits_are_in_the_config(tmp_path):
    workshop.generate(options(2), tmp_path)
    config = (tmp_path / "nats-server.conf").read_text()
    assert config.count("limits: {max_connections: 64, max_subscriptions: 10000, max_payload: 1048576}") == 2
    assert "max_pending: 8MB" in config and "limits: {max_ack_pending: 10000" in config


def test_kubernetes_values_parse_and_agree_with_the_workshop_config(tmp_path):
    from room import kubernetes

    assert kubernetes.main(["--check"]) == 0, "run `python -m room.kubernetes --page`"
    text = kubernetes.PAGE.read_text()
    blocks = re.findall(r"```yaml\n(.*?)```", text, re.S)
    nats_values, hub_values = (yaml.safe_load(b) for b in blocks)
    state = workshop.generate(options(3), tmp_path)
    merged = nats_values["config"]["merge"]
    learners = list(state["learners"])
    assert set(merged["accounts"]) == {*learners, "INSTRUCTOR", "SYS"}
    config = (tmp_path / "nats-server.conf").read_text()
    for name in learners:
        account = merged["accounts"][name]
        assert account["limits"] == workshop.ACCOUNT_LIMITS and account["jetstream"] == workshop.LEARNER_LIMITS
        assert [u["user"] for u in account["users"]] == [name]
    assert f"limits: {{max_connections: {workshop.ACCOUNT_LIMITS['max_connections']}," in config
    for key in ("max_pending", "max_payload"):
        assert f"{key}: {merged[key]}" in config
    imports = {i["to"] for i in merged["accounts"]["INSTRUCTOR"]["imports"]}
    assert imports == {f"workshop.progress.{n}" for n in learners}
    assert hub_values["hub"]["config"]["Authenticator"]["allowed_users"] == [*learners, "instructor"]
    assert hub_values["cull"]["enabled"] is True
    real_nats, _ = kubernetes.values(state)  # with real passwords: the same shape
    assert (
        real_nats["config"]["merge"]["accounts"]["learner01"]["users"][0]["password"] == state["passwords"]["learner01"]
    )


@pytest.mark.parametrize(
    "pasted",
    [
        " nats://learner01:pw@127.0.0.1:4222 ",  # a trailing space
        '"nats://learner01:pw@127.0.0.1:4222"',  # quotes kept from a Windows `set`
        "'nats://learner01:pw@127.0.0.1:4222'\n",
    ],
)
def test_a_pasted_url_is_cleaned(pasted):
    from helpers import urls

    assert urls.clean(pasted) == "nats://learner01:pw@127.0.0.1:4222"


@pytest.mark.parametrize(
    ("url", "phrase"),
    [("nats://learner01:pw@127.0.0.1:99999", "no valid port"), ("http://learner01:pw@127.0.0.1:4222", "nats://")],
)
def test_a_bad_port_or_scheme_gets_advice_without_the_password(url, phrase, monkeypatch):
    monkeypatch.setenv("NATS_URL", url)
    with pytest.raises(server.ServerNotFound) as error:
        find_server()
    assert phrase in str(error.value) and ":pw@" not in str(error.value) and "learner01:***@" in str(error.value)


def test_a_workshop_from_before_keeps_its_passwords_and_data(room):
    state, directory = room
    workshop.down(directory)
    old = {k: v for k, v in workshop.read_state(directory).items() if k not in ("passwords", "url_host", "disabled")}
    (directory / "state.json").write_text(json.dumps(old))  # the state file as the last version wrote it
    again = workshop.up(None, directory)
    assert again["learners"] == state["learners"] and again["passwords"] == state["passwords"]


def test_timing_sensitive_exercises_say_to_run_them_on_a_laptop():
    """At room latency (make test-workshop's proxy) these can judge a right answer wrong: their prompt says so."""
    from tests.test_workshop_room import TIMING_SENSITIVE

    for key in TIMING_SENSITIVE:
        slug, name = key.split(".")
        (path,) = REPO.glob(f"notebooks/[0-9][0-9]-{slug}.ipynb")
        cells = json.loads(path.read_text())["cells"]
        at = next(i for i, c in enumerate(cells) if f"check_{name}(" in "".join(c["source"]))
        prompt = next("".join(c["source"]) for c in reversed(cells[:at]) if "".join(c["source"]).startswith("### "))
        assert "your own laptop" in prompt, f"{path.name}: the {name} exercise must say to run it on your own laptop"
