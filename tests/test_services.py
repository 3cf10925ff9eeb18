"""Example services run as real processes: readiness by a READY line, bounded waits, clean stop."""

import textwrap

import pytest

from helpers.services import Service


def script(tmp_path, body):
    path = tmp_path / "service.py"
    path.write_text(textwrap.dedent(body))
    return path


def test_ready_lines_and_stop(tmp_path):
    path = script(tmp_path, """
        import time
        print("READY", flush=True)
        for i in range(3):
            print(f"line {i}", flush=True)
        time.sleep(60)
    """)
    with Service(str(path)) as service:
        assert service.wait_for_lines(3, timeout=5) == ["line 0", "line 1", "line 2"]
        process = service.process
    assert process.poll() is not None  # stopped, not left behind


def test_a_service_that_never_gets_ready_fails_clearly(tmp_path):
    path = script(tmp_path, "import sys; print('boom', file=sys.stderr); sys.exit(3)")
    with pytest.raises(RuntimeError, match="(?s)did not print READY.*boom"):
        Service(str(path), ready_timeout=5).start()


def test_waiting_for_lines_is_bounded(tmp_path):
    path = script(tmp_path, "import time; print('READY', flush=True); time.sleep(60)")
    with Service(str(path)) as service, pytest.raises(TimeoutError, match="0 of 1"):
        service.wait_for_lines(1, timeout=0.2)
    assert service.kill() is not None
