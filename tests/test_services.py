"""Example services run as real processes: readiness by a READY line, bounded waits, a graceful stop on
every platform (a `stop` line on stdin, or stdin closed), a firm one when a service does not listen."""

import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from helpers.services import SERVICES, Service

GRACEFUL = """
    import asyncio
    from helpers.services import until_stopped
    print("READY", flush=True)
    for i in range(3):
        print(f"line {i}", flush=True)
    asyncio.run(until_stopped(60))
    print("stopped gracefully", flush=True)
"""


def script(tmp_path, body):
    path = tmp_path / "service.py"
    path.write_text(textwrap.dedent(body))
    return path


def test_ready_lines_and_a_graceful_stop(tmp_path):
    with Service(str(script(tmp_path, GRACEFUL))) as service:
        assert service.wait_for_lines(3, timeout=5) == ["line 0", "line 1", "line 2"]
        started = time.monotonic()
    assert service.process.returncode == 0  # it returned from until_stopped(): no signal, no kill
    assert time.monotonic() - started < 3
    assert service.wait_for_lines(4, timeout=2)[-1] == "stopped gracefully"


def test_a_service_stops_when_its_stdin_closes(tmp_path):
    """The notebook's kernel went away: the service notices and stops by itself."""
    service = Service(str(script(tmp_path, GRACEFUL))).start()
    service.process.stdin.close()
    assert service.process.wait(5) == 0
    assert service.wait_for_lines(4, timeout=2)[-1] == "stopped gracefully"


def test_a_service_that_ignores_the_stop_line_is_terminated(tmp_path):
    path = script(tmp_path, "import time; print('READY', flush=True); time.sleep(60)")
    service = Service(str(path)).start()
    assert service.stop(timeout=0.5) not in (0, None)  # waited 0.5 s, then terminated


def test_a_service_that_never_gets_ready_fails_clearly(tmp_path):
    path = script(tmp_path, "import sys; print('boom', file=sys.stderr); sys.exit(3)")
    with pytest.raises(RuntimeError, match="(?s)did not print READY.*boom"):
        Service(str(path), ready_timeout=5).start()


def test_waiting_for_lines_is_bounded(tmp_path):
    path = script(tmp_path, "import time; print('READY', flush=True); time.sleep(60)")
    service = Service(str(path)).start()
    with pytest.raises(TimeoutError, match="0 of 1"):
        service.wait_for_lines(1, timeout=0.2)
    assert service.kill() is not None


@pytest.mark.parametrize("path", sorted(SERVICES.glob("*.py")), ids=lambda p: p.name)
def test_every_example_service_shares_the_skeleton(path):
    """Stopped by helpers.services (works on every platform); a NATS one patches nats-py (nats_py_fixes.apply())."""
    text = path.read_text()
    if "shop.main(" in text:  # the capstone's services share shop.py, which is built on helpers.services
        text = (SERVICES / "shop.py").read_text()
    assert "add_signal_handler" not in text, f"{path.name}: use helpers.services.until_stopped()/stop_requested()"
    assert "from helpers.services import" in text and ("until_stopped(" in text or "stop_requested(" in text)
    if "import nats" in text:  # the HTTP-only services of 12 use no NATS client
        assert "nats_py_fixes.apply()" in text, f"{path.name}: call nats_py_fixes.apply() before asyncio.run()"


def test_stop_line_reaches_a_real_example_service(nats_server):
    """user_listener.py (what Publish/subscribe runs): Service.stop() makes it drain and exit with 0."""
    with Service("services/user_listener.py", nats_server.url, "services.test") as listener:
        pass
    assert listener.process.returncode == 0, listener.errors()


def test_services_run_from_a_terminal_too(nats_server):
    """A learner runs one by hand: the script finds helpers/ (editable install) and stops on a `stop` line."""
    process = subprocess.run(
        [sys.executable, str(Path(SERVICES) / "user_listener.py"), nats_server.url],
        input="stop\n",
        capture_output=True,
        text=True,
        timeout=20,
    )
    assert process.returncode == 0 and process.stdout.splitlines()[0] == "READY", process.stderr


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")
def test_a_password_never_shows_on_a_services_command_line(tmp_path):
    """On a workshop hub every learner can run `ps`: a learner's URL travels in the service's environment."""
    script = tmp_path / "echo_url.py"
    script.write_text("import sys\nimport helpers.services\nprint('READY')\nprint(sys.argv[1])\nsys.stdin.readline()\n")
    url = "nats://learner01:s3cret-Pa55@127.0.0.1:4222"
    with Service(str(script), url) as service:
        assert service.wait_for_lines(1)[0] == url  # the service sees the real URL
        cmdline = Path(f"/proc/{service.process.pid}/cmdline").read_bytes().decode()
        assert "s3cret-Pa55" not in cmdline and "@secret:0" in cmdline
