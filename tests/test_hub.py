"""The room with only browsers (`make test-hub`; root on Linux, Debian's Chromium): JupyterHub for three
learners, each logged in at the same time in their own Chromium, each runs 00 and 05 from their own copy; every
verdict lands on the board under the right name; learner01's kernel gets Permission denied reading learner02's
copy, the sheet and the server's config. The OS users this test creates are removed afterwards (it refuses to
run when a user of those names already exists: it never deletes a user it did not create)."""

from __future__ import annotations

import asyncio
import json
import os
import re
import sys
import threading
import time
import uuid
from pathlib import Path

import nats
import pytest

from helpers.embedded import free_port
from room import hub, progress, workshop
from tests.harness import OUTPUT, stem_of
from tests.test_browser import CHROMIUM, CHROMIUM_ARGS, KERNEL_IDLE, OBSERVE, PANEL, RUN_DONE, VIEWPORT

pytestmark = [pytest.mark.hub, pytest.mark.notebook, pytest.mark.timeout(1500)]
LEARNERS = 3
STEMS = (stem_of("start-here"), stem_of("streams"))


@pytest.fixture(scope="module")
def room(tmp_path_factory):
    if sys.platform != "linux" or os.geteuid() != 0:
        pytest.skip("the hub runs as root on Linux")
    if not Path(CHROMIUM).exists():
        pytest.fail(f"{CHROMIUM} is missing: apt-get install -y chromium", pytrace=False)
    names = [workshop.learner_name(n) for n in range(1, LEARNERS + 2)] + [hub.INSTRUCTOR]  # +1: a latecomer
    taken = [n for n in names if hub.user_exists(n)]
    if taken:
        pytest.fail(f"OS users {taken} exist already: this test creates and deletes them", pytrace=False)
    directory = tmp_path_factory.mktemp("hub")
    directory.chmod(0o755)  # like the repository: the files inside are 0600, the hub folder 0700
    try:
        state = hub.up(
            LEARNERS,
            directory,
            host="127.0.0.1",
            hub_port=free_port(),
            nats_port=free_port(),
            http_port=free_port(),
            idle_minutes=30,
        )
        for name in state["learners"]:  # JupyterLab settings: render every cell, never save (as tests/test_browser.py)
            settings = Path(f"/home/{name}/.jupyter/lab/user-settings/@jupyterlab")
            for plugin, values in {
                "docmanager-extension/plugin": {"autosave": False},
                "notebook-extension/tracker": {"windowingMode": "none"},
                "apputils-extension/notification": {"fetchNews": "false"},
            }.items():
                path = settings / f"{plugin}.jupyterlab-settings"
                path.parent.mkdir(parents=True, exist_ok=True)
                path.write_text(json.dumps(values))
            os.system(f"chown -R {name}:{name} /home/{name}/.jupyter")  # noqa: S605 - fixed names
        yield state, directory
    finally:
        print(hub.down(directory, remove_users=True))
        assert not [n for n in names if hub.user_exists(n)]


def learner_session(state: dict, name: str, results: dict) -> None:
    """One learner: log in through the hub in their own Chromium, run 00 and 05 (Run All)."""
    from playwright.sync_api import sync_playwright

    base = state["hub"]["local_url"]
    seen = {}
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=[*CHROMIUM_ARGS, f"--class=hub-{uuid.uuid4().hex}"])
        try:
            page = browser.new_page(viewport=VIEWPORT)
            page.set_default_timeout(120_000)
            started = time.monotonic()
            page.goto(f"{base}/hub/login")
            page.fill("#username_input", name)
            page.fill("#password_input", state["hub"]["passwords"][name])
            page.click("#login_submit")
            page.wait_for_url(re.compile(rf".*/user/{name}/lab.*"), timeout=180_000)
            page.wait_for_function("() => window.jupyterapp && document.querySelector('.jp-DirListing-item')")
            seen["lab_after_s"] = round(time.monotonic() - started, 1)
            for stem in STEMS:
                page.locator(".jp-DirListing-itemText").get_by_text(f"{stem}.ipynb", exact=True).dblclick()
                page.wait_for_function(
                    f"path => {PANEL} && {PANEL}.context && {PANEL}.context.path === path", arg=f"{stem}.ipynb"
                )
                page.wait_for_function(KERNEL_IDLE, timeout=180_000, polling=250)
                page.locator(".lm-MenuBar-itemLabel", has_text=re.compile(r"^Run$")).click()
                page.locator('.lm-Menu-item[data-command="runmenu:run-all"]').click()
                page.wait_for_function(RUN_DONE, timeout=300_000, polling=500)
                seen[stem] = page.evaluate(OBSERVE)
                OUTPUT.mkdir(exist_ok=True)
                page.screenshot(path=OUTPUT / f"hub-{name}-{stem}.png")
        except Exception as e:  # noqa: BLE001 - reported by the test
            seen["error"] = f"{type(e).__name__}: {e}"
        finally:
            browser.close()
    results[name] = seen


async def kernel_run(state: dict, user: str, code: str) -> str:
    """Run `code` in a new kernel of `user`'s JupyterLab (the hub's API, as the room's service) and return
    what it printed."""
    import aiohttp

    token = state["hub"]["api_token"]
    base = f"{state['hub']['local_url']}/user/{user}"
    headers = {"Authorization": f"token {token}"}
    async with aiohttp.ClientSession(headers=headers) as http:
        async with http.post(f"{base}/api/kernels", json={"name": "python3"}) as r:
            kernel = (await r.json())["id"]
        try:
            async with http.ws_connect(f"{base.replace('http', 'ws', 1)}/api/kernels/{kernel}/channels") as ws:
                msg_id = uuid.uuid4().hex
                await ws.send_json(
                    {
                        "header": {
                            "msg_id": msg_id,
                            "username": "test",
                            "session": uuid.uuid4().hex,
                            "msg_type": "execute_request",
                            "version": "5.3",
                        },
                        "parent_header": {},
                        "metadata": {},
                        "content": {"code": code, "silent": False, "store_history": False},
                        "channel": "shell",
                        "buffers": [],
                    }
                )
                out = []
                async with asyncio.timeout(60):
                    async for frame in ws:
                        msg = json.loads(frame.data)
                        if msg.get("parent_header", {}).get("msg_id") != msg_id:
                            continue
                        if msg["msg_type"] == "stream":
                            out.append(msg["content"]["text"])
                        elif msg["msg_type"] == "error":
                            out.append(f"{msg['content']['ename']}: {msg['content']['evalue']}")
                        elif msg["msg_type"] == "status" and msg["content"]["execution_state"] == "idle":
                            break
                return "".join(out)
        finally:
            async with http.delete(f"{base}/api/kernels/{kernel}"):
                pass


async def board_verdicts(state: dict) -> tuple[dict, dict]:
    nc = await nats.connect(workshop.local_url(state, "instructor"))
    js = nc.jetstream()
    try:
        count = (await js.stream_info(progress.STREAM)).state.messages
        skipped, by_learner = progress.Skipped(), {}
        for seq in range(1, count + 1):
            msg = await js.get_msg(progress.STREAM, seq)
            if v := progress.decode(msg.subject, msg.data, skipped):
                by_learner.setdefault(v["learner"], set()).add(v["exercise"])
        return by_learner, skipped
    finally:
        await nc.close()


def test_three_learners_in_chromium_through_the_hub(room):
    state, directory = room
    print(f"\nthe hub answered {state['hub']['answered_after_s']} s after hub.up()")
    names = list(state["learners"])
    results: dict = {}
    threads = [threading.Thread(target=learner_session, args=(state, name, results)) for name in names]
    for t in threads:
        t.start()
    memory = {}
    while any(t.is_alive() for t in threads):
        memory = {k: max(v, memory.get(k, 0)) for k, v in hub.memory_per_server().items()}
        time.sleep(2)  # a sampling cadence while the learners run
    for t in threads:
        t.join()
    print(f"peak memory per learner (single-user server + kernels + their services), MB: {memory}")
    print(
        {
            n: {k: v if not isinstance(v, dict) else {"errors": v["errors"]} for k, v in r.items()}
            for n, r in results.items()
        }
    )
    for name in names:
        assert "error" not in results[name], results[name]
        for stem in STEMS:
            assert not results[name][stem]["errors"], (name, stem, results[name][stem]["errors"])

    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        by_learner, skipped = asyncio.run(board_verdicts(state))
        if set(by_learner) == set(names):
            break
        time.sleep(0.5)  # the last verdicts on their way to the stream
    assert set(by_learner) == set(names) and not skipped
    for name in names:  # each learner's verdicts are Start here's and Streams', under their own name
        assert {key.split(".")[0] for key in by_learner[name]} == {"start-here", "streams"}, by_learner[name]

    private = [
        f"/home/learner02/my-work/{STEMS[0]}.ipynb",
        str(directory / "learners.csv"),
        str(directory / "sheet.html"),
        str(directory / "nats-server.conf"),
        str(directory / "state.json"),
        str(directory / "hub" / "hub-state.json"),
    ]
    probe = (
        f"for path in {private!r}:\n"
        "    try:\n"
        "        open(path).read()\n"
        "        print('READ', path)\n"
        "    except PermissionError as e:\n"
        "        print('DENIED', path, e.strerror)\n"
        "import os\n"
        "print('NATS_URL user:', os.environ['NATS_URL'].split('//')[1].split(':')[0])\n"
    )
    out = asyncio.run(kernel_run(state, "learner01", probe))
    print(out)
    assert "READ" not in out and out.count("DENIED") == 6 and "Permission denied" in out
    assert "NATS_URL user: learner01" in out


def test_a_latecomer_joins_the_running_hub(room):
    state, directory = room
    before = hub.api(state["hub"], "/users")
    added = hub.add(1, directory)
    late = workshop.learner_name(LEARNERS + 1)
    assert list(added["learners"])[-1] == late and hub.user_exists(late)
    assert (Path(f"/home/{late}/my-work") / f"{STEMS[0]}.ipynb").exists()
    secret = json.loads((directory / "hub" / "hub-state.json").read_text())
    assert late in secret["hashes"] and secret["env"][late]["NATS_URL"].startswith(f"nats://{late}:")
    rows = (directory / "learners.csv").read_text().splitlines()
    assert rows[0].startswith("learner,nats_url,") and rows[-1].startswith(f"{late},")
    assert len(hub.api(state["hub"], "/users")) == len(before)  # the hub kept running

    async def connects():
        nc = await nats.connect(workshop.local_url(added, late))
        await nc.jetstream().account_info()  # the new account has JetStream
        await nc.close()

    asyncio.run(connects())
