"""JupyterLab in a real browser (`make test-browser`; skipped by `make test`).

JupyterLab starts the way `make lab` starts it (`python -m tools lab`, on fresh copies of the notebooks
in a temporary work folder), with NATS_URL pointing at an embedded server this test starts on free
ports. Debian's Chromium (/usr/bin/chromium, driven by Playwright) opens each numbered notebook, runs
Run → Run All Cells from the menu, and the test asserts what a learner would see: no error output, every
exercise verdict rendered, every plot rendered, every Mermaid diagram rendered, and every link in the
notebook answering 200 inside JupyterLab. A screenshot of each notebook lands in
test-output/NN-slug.browser.png. Every wait has a timeout; JupyterLab, its kernels, Chromium and the
server are stopped afterwards, and the test checks that none is left.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
import urllib.request
import uuid
import warnings
from pathlib import Path
from types import SimpleNamespace

import pytest

from helpers.embedded import EmbeddedServer, free_port
from tests.harness import DURATIONS, NOTEBOOKS, OUTPUT, REPO, slug, stems

pytestmark = [pytest.mark.browser, pytest.mark.notebook]

CHROMIUM = os.environ.get("CHROMIUM", "/usr/bin/chromium")
# As root Chromium needs --no-sandbox; the others keep it from calling out on a closed network.
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
    "--disable-sync",
]
LAB_START, KERNEL_START, RUN_ALL, STEP = 90, 90, 150, 30  # seconds: the longest each wait may take
VIEWPORT = {"width": 1280, "height": 900}
VERDICT = re.compile(r"([a-z][\w-]*\.\w+): (not attempted|correct|wrong)")  # key "<slug>.<name>": status


def wait_for(predicate, timeout: float, what: str):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.2)
    pytest.fail(f"timed out after {timeout} s waiting for {what}")


def api(lab, path: str, method: str = "GET"):
    request = urllib.request.Request(f"{lab.url}{path}", method=method, headers={"Authorization": f"token {lab.token}"})
    with urllib.request.urlopen(request, timeout=10) as r:
        body = r.read()
        return json.loads(body) if body else None


def answers(lab) -> bool:
    try:
        api(lab, "/api/status")
        return True
    except OSError:
        return False


def processes_with(marker: str) -> dict[int, str]:
    """{pid: command line} of the running processes whose command line contains `marker` (Linux /proc),
    this test's own process excepted."""
    found = {}
    for cmdline in Path("/proc").glob("[0-9]*/cmdline"):
        try:
            text = cmdline.read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        pid = int(cmdline.parent.name)
        if marker in text and pid != os.getpid():
            found[pid] = text[:200]
    return found


def lab_settings(folder: Path) -> Path:
    """JupyterLab user settings for the test: never save (the copies stay as the course gave them), and
    render every cell (no windowing), so that what is checked is on the page."""
    for plugin, values in {
        "docmanager-extension/plugin": {"autosave": False},
        "notebook-extension/tracker": {"windowingMode": "none"},
        "apputils-extension/notification": {"fetchNews": "false"},
    }.items():
        path = folder / "@jupyterlab" / f"{plugin}.jupyterlab-settings"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(values))
    return folder


@pytest.fixture(scope="module")
def lab(tmp_path_factory):
    if not Path(CHROMIUM).exists():
        pytest.fail(
            f"{CHROMIUM} is missing: install Debian's chromium (apt-get install -y chromium), or set "
            "CHROMIUM to a Chromium binary",
            pytrace=False,
        )
    tmp = tmp_path_factory.mktemp("browser")
    before = processes_with(str(REPO))  # what runs from this repository already (servers, services, ...)
    server = EmbeddedServer().start()
    port, token = free_port(), uuid.uuid4().hex
    env = {
        **os.environ,
        "NATS_URL": server.url,
        "NATS_MONITOR_URL": server.monitor_url,
        "JUPYTERLAB_SETTINGS_DIR": str(lab_settings(tmp / "settings")),
        "JUPYTERLAB_WORKSPACES_DIR": str(tmp / "workspaces"),
    }
    log = (tmp / "lab.log").open("w")
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "tools",
            "lab",
            "--workdir",
            str(tmp / "my-work"),
            "--no-browser",
            f"--ServerApp.port={port}",
            f"--IdentityProvider.token={token}",
            "--LabApp.expose_app_in_browser=True",
        ],
        cwd=REPO,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    lab = SimpleNamespace(
        url=f"http://127.0.0.1:{port}", token=token, process=process, server=server, log=tmp / "lab.log", kernels=set()
    )
    try:
        wait_for(lambda: answers(lab) or process.poll() is not None, LAB_START, "JupyterLab to answer")
        assert process.poll() is None, f"JupyterLab exited: {lab.log.read_text()[-3000:]}"
        yield lab
    finally:
        process.send_signal(signal.SIGTERM)  # tools lab passes it on; JupyterLab shuts its kernels down
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)
        server.stop()
        server.cleanup()
        log.close()

    def left() -> dict[int, str]:
        return {
            pid: cmd
            for marker in (*lab.kernels, str(tmp), str(REPO))
            for pid, cmd in processes_with(marker).items()
            if pid not in before
        }

    deadline = time.monotonic() + 15  # kernels stop their example services and servers as they exit
    while left() and time.monotonic() < deadline:
        time.sleep(0.2)
    assert not left(), f"left running after JupyterLab stopped: {left()}"


@pytest.fixture(scope="module")
def page(lab):
    """One JupyterLab page in Chromium for all the notebooks (each opened from the file browser)."""
    from playwright.sync_api import sync_playwright

    tag = f"--class=nats-course-test-{uuid.uuid4().hex}"  # marks this browser's processes
    with sync_playwright() as p:
        chromium = p.chromium.launch(executable_path=CHROMIUM, args=[*CHROMIUM_ARGS, tag], timeout=STEP * 1000)
        try:
            page = chromium.new_page(viewport=VIEWPORT)
            page.set_default_timeout(STEP * 1000)
            open_lab(page, lab)
            yield page
        finally:
            chromium.close()
    wait_for(lambda: not processes_with(tag), 10, "Chromium to exit")


def open_lab(page, lab) -> None:
    """Load JupyterLab with a fresh workspace (?reset: no notebook reopened from an earlier run)."""
    page.set_viewport_size(VIEWPORT)
    page.goto(f"{lab.url}/lab?reset&token={lab.token}", timeout=STEP * 1000)
    page.wait_for_function(
        f"() => {APP} && {APP}.shell && document.querySelector('.jp-DirListing-item')",
        timeout=LAB_START * 1000,
        polling=250,
    )


def expected(stem: str) -> SimpleNamespace:
    """What the notebook should show, read from its source: exercise keys, Mermaid diagrams, plotting cells."""
    cells = json.loads((NOTEBOOKS / f"{stem}.ipynb").read_text())["cells"]
    code = ["".join(c["source"]) for c in cells if c["cell_type"] == "code"]
    markdown = ["".join(c["source"]) for c in cells if c["cell_type"] == "markdown"]
    checkers = sorted({name for src in code for name in re.findall(r"await check_(\w+)\(", src)})
    return SimpleNamespace(
        verdicts=sorted(f"{slug(stem)}.{name}" for name in checkers),
        mermaid=sum(src.count("```mermaid") for src in markdown),
        plots=any(re.search(r"\bplt\.|\.plot\(", src) for src in code),
    )


APP = "window.jupyterapp"
PANEL = f"{APP}.shell.currentWidget"
KERNEL_IDLE = f"""() => {{ const w = {PANEL}; const k = w && w.sessionContext && w.sessionContext.session
                           && w.sessionContext.session.kernel; return !!k && k.status === 'idle'; }}"""
RUN_DONE = f"""() => {{ const w = {PANEL}; const k = w.sessionContext.session.kernel;
    const prompts = [...w.node.querySelectorAll('.jp-CodeCell .jp-InputPrompt')].map(e => e.textContent);
    return k.status === 'idle' && prompts.length > 0 && !prompts.some(t => t.includes('*')); }}"""
OBSERVE = f"""() => {{ const w = {PANEL};
    const cells = [...w.content.widgets].map(c => c.model.toJSON()).filter(c => c.cell_type === 'code');
    const outputs = cells.flatMap(c => c.outputs);
    const text = s => Array.isArray(s) ? s.join('') : (s || '');
    return {{
      kernel: w.sessionContext.session.kernel.id,
      unexecuted: cells.filter(c => c.execution_count === null && text(c.source).trim()).length,
      errors: outputs.filter(o => o.output_type === 'error').map(o => o.ename + ': ' + o.evalue),
      stderr: outputs.filter(o => o.output_type === 'stream' && o.name === 'stderr').map(o => text(o.text)),
      pngs: outputs.filter(o => o.data && o.data['image/png']).length,
      images: [...w.node.querySelectorAll('.jp-RenderedImage img')].map(i => i.complete && i.naturalWidth > 0),
      verdicts: [...w.node.querySelectorAll('.jp-OutputArea-output')].map(e => e.innerText),
      mermaid: [...w.node.querySelectorAll('.jp-RenderedMermaid')].map(m =>
        !m.classList.contains('jp-mod-warning') && [...m.querySelectorAll('img, svg')].some(i =>
          i.tagName.toLowerCase() === 'svg' || (i.complete && i.naturalWidth > 0))),
      links: [...w.node.querySelectorAll('.jp-MarkdownCell a[href]')].map(a => [a.getAttribute('href'), a.href]),
      height: Math.max(...[...w.content.node.querySelectorAll('*')].map(e => e.scrollHeight)),
    }}; }}"""


def run_all(page, lab, stem: str) -> dict:
    """Open the notebook from the file browser (double-click), then Run → Run All Cells."""
    started = time.monotonic()
    page.locator(".jp-DirListing-itemText").get_by_text(f"{stem}.ipynb", exact=True).dblclick()
    page.wait_for_function(
        f"path => {PANEL} && {PANEL}.context && {PANEL}.context.path === path",
        arg=f"{stem}.ipynb",
        timeout=STEP * 1000,
        polling=250,
    )
    page.wait_for_function(KERNEL_IDLE, timeout=KERNEL_START * 1000, polling=250)
    ready = time.monotonic()
    page.locator(".lm-MenuBar-itemLabel", has_text=re.compile(r"^Run$")).click()
    page.locator('.lm-Menu-item[data-command="runmenu:run-all"]').click()
    page.wait_for_function(RUN_DONE, timeout=RUN_ALL * 1000, polling=500)
    seen = page.evaluate(OBSERVE)
    lab.kernels.add(seen["kernel"])
    DURATIONS.append((f"{stem} (browser)", time.monotonic() - ready, time.monotonic() - started))
    return seen


def screenshot(page, seen: dict, stem: str) -> Path:
    """The whole notebook in one picture: the viewport made as tall as the notebook (capped)."""
    OUTPUT.mkdir(exist_ok=True)
    path = OUTPUT / f"{stem}.browser.png"
    page.set_viewport_size({"width": 1280, "height": min(seen["height"] + 200, 12000)})
    page.evaluate(f"() => {{ for (const e of {PANEL}.content.node.querySelectorAll('*')) e.scrollTop = 0; }}")
    page.screenshot(path=path, timeout=STEP * 1000)
    page.set_viewport_size(VIEWPORT)
    return path


CLOSE = f"""async () => {{ const w = {PANEL}; await w.sessionContext.shutdown();
    w.context.model.dirty = false; w.dispose(); }}"""  # no "save your changes?" dialog: autosave is off


def close_notebook(page, lab) -> None:
    """Shut the notebook's kernel down and close its tab; reload JupyterLab if that fails."""
    try:
        page.evaluate(CLOSE)
        wait_for(lambda: not api(lab, "/api/kernels"), STEP, "the notebook's kernel to shut down")
    except Exception:
        open_lab(page, lab)
        for kernel in api(lab, "/api/kernels"):
            api(lab, f"/api/kernels/{kernel['id']}", method="DELETE")


def broken_links(page, seen: dict) -> list[tuple[str, int]]:
    """Every link in the notebook's markdown that does not answer 200 inside JupyterLab (same-page anchors
    are checked against the page's headings)."""
    broken = []
    for href, absolute in seen["links"]:
        if href.startswith("#"):
            continue  # a heading on the same page
        if not absolute.startswith(page.url.split("/lab/")[0]):
            continue  # another site: not reachable from this closed network, and not JupyterLab's
        status = page.request.get(absolute, timeout=STEP * 1000, max_redirects=0).status
        if status == 403 and "/files/" in absolute:  # a folder: JupyterLab opens it in its file browser
            folder = absolute.split("?")[0].replace("/files/", "/api/contents/", 1)
            status = page.request.get(folder, timeout=STEP * 1000, max_redirects=0).status
        if status != 200:
            broken.append((re.sub(r"^.*/files/|\?_xsrf=.*$", "", absolute), status))
    return broken


@pytest.mark.parametrize("stem", stems())
def test_run_all_in_jupyterlab(stem, lab, page):
    want = expected(stem)
    try:
        seen = run_all(page, lab, stem)
        shot = screenshot(page, seen, stem)
        broken = broken_links(page, seen)
    finally:
        close_notebook(page, lab)  # the next notebook starts with a fresh kernel
    where = f"see {shot}"
    assert not seen["errors"], f"{stem} raised in JupyterLab: {seen['errors']}; {where}"
    assert not seen["unexecuted"], f"{stem}: {seen['unexecuted']} code cells did not run; {where}"
    if seen["stderr"]:  # shown to the learner in red, but not an exception: reported, not failed
        warnings.warn(f"{stem} wrote to stderr in JupyterLab: {seen['stderr']}", stacklevel=1)
    verdicts = sorted({m.group(1) for text in seen["verdicts"] for m in VERDICT.finditer(text)})
    assert verdicts == want.verdicts, f"{stem}: verdicts rendered for {verdicts}, expected {want.verdicts}; {where}"
    assert all(seen["images"]) and len(seen["images"]) == seen["pngs"], (
        f"{stem}: {sum(seen['images'])} of {seen['pngs']} plots rendered; {where}"
    )
    assert seen["pngs"] >= want.plots, f"{stem} plots but showed no image; {where}"
    assert len(seen["mermaid"]) == want.mermaid and all(seen["mermaid"]), (
        f"{stem}: {sum(seen['mermaid'])} of {want.mermaid} Mermaid diagrams rendered; {where}"
    )
    assert not broken, f"{stem}: links that do not answer 200 in JupyterLab: {broken}; {where}"
