"""Fixtures: a real server for each test (or one given server), and failure reports that name the executed
notebooks. The papermill harness itself is tests/harness.py. The checkers and tests run in this process with
nats-py patched as everywhere in the course (helpers/nats_py_fixes.py)."""

from __future__ import annotations

import signal
import threading
from types import SimpleNamespace

import pytest

from helpers import nats_py_fixes
from helpers.embedded import EmbeddedServer
from tests.harness import DURATIONS, EXECUTED, case_for, execute

nats_py_fixes.apply()  # nats-py 2.16's flush()/drain() ordering and KV marker bugs


def pytest_configure(config):
    """A SIGTERM (CI's time limit, `kill`) ends pytest like Ctrl-C does: fixtures tear down and atexit runs, so no
    embedded server outlives the run. Each xdist worker installs it too."""
    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGTERM, _interrupt)


def _interrupt(signum, frame):
    raise KeyboardInterrupt(f"signal {signum}")


def pytest_addoption(parser):
    parser.addoption(
        "--server-url",
        default=None,
        help="run every test against this one server (e.g. a composed one) instead of a fresh embedded server per test",
    )
    parser.addoption("--monitor-url", default=None, help="its monitoring URL (default: its host, port 8222)")


@pytest.fixture
def nats_server(request):
    """A fresh embedded server on free ports, its data removed afterwards; or the one given server."""
    url = request.config.getoption("--server-url")
    if url:
        from helpers.server import find_server

        found = find_server(url, request.config.getoption("--monitor-url"))
        yield SimpleNamespace(url=found.url, monitor_url=found.monitor_url)
        return
    with EmbeddedServer() as server:
        yield server


@pytest.fixture
def run_notebook(nats_server):
    """Run a notebook against this test's server; `label` names the executed copy."""

    def run(stem: str, label: str = "run", **parameters):
        parameters = {"nats_url": nats_server.url, "monitor_url": nats_server.monitor_url, **parameters}
        return execute(stem, label, **parameters)

    return run


# Tests that use one thing of the whole machine run on one worker under `pytest -n N` (make test): the cluster's
# config files (tests check that no process runs them) and port 4222 with the `make up` state.
SHARED = {
    "cluster": (
        "tests/test_cluster.py::",
        "tests/notebooks/test_clustering_and_failover.py::",
        "-clustering-and-failover",
    ),
    "port-4222": ("tests/test_lab.py::", "tests/test_server.py::", "tests/notebooks/test_start_here.py::"),
}
SUMMARY: list[tuple[str, float, float]] = []  # every test's notebook durations, gathered from the workers


def pytest_collection_modifyitems(items):
    for item in items:
        for group, marks in SHARED.items():
            if any(mark in item.nodeid for mark in marks):
                item.add_marker(pytest.mark.xdist_group(group))
    # The longest first (each notebook by its budget), so that two workers finish together instead of one
    # waiting on a long notebook handed out last.
    items.sort(key=lambda item: -expected_seconds(item))


def expected_seconds(item) -> float:
    if item.get_closest_marker("notebook") is None:
        return 0.0
    if "any_order" in item.nodeid:
        return 60.0
    stem = getattr(item, "callspec", None) and item.callspec.params.get("stem")
    case = case_for(stem) if stem else None
    runs = 2 if item.originalname == "test_notebook" else 3 if item.get_closest_marker("learner") else 0
    return runs * case.budget if case and runs else 1.0


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    """A failing notebook test names the executed copies to open; its notebook durations travel with its report."""
    report = (yield).get_result()
    if report.failed and EXECUTED:
        report.sections.append(("executed notebooks (open these)", "\n".join(map(str, EXECUTED))))
    if report.when == "teardown":
        EXECUTED.clear()
        report.user_properties.append(("notebook durations", list(DURATIONS)))
        DURATIONS.clear()


def pytest_runtest_logreport(report):
    """Runs where the summary is written (the main process, with or without workers)."""
    for name, value in report.user_properties:
        if name == "notebook durations":
            SUMMARY.extend(tuple(d) for d in value)


def pytest_terminal_summary(terminalreporter):
    if not SUMMARY:
        return
    terminalreporter.section("notebook durations")
    for name, cells, total in SUMMARY:
        terminalreporter.write_line(f"{name:<45} {cells:6.2f} s in cells, {total:6.2f} s with kernel start")
    terminalreporter.write_line(
        f"{'total':<45} {sum(d[1] for d in SUMMARY):6.2f} s in cells, "
        f"{sum(d[2] for d in SUMMARY):6.2f} s with kernel start"
    )


def pytest_sessionfinish(session, exitstatus):
    """`-k 14` finding nothing is rarely what was meant: say which tests the default markers leave out."""
    if exitstatus == pytest.ExitCode.NO_TESTS_COLLECTED and session.config.option.keyword:
        session.config.get_terminal_writer().line(
            "No test matched. The default run leaves out learner, workshop and browser tests: add -m learner "
            "(make test-learner), -m workshop or -m browser; a notebook's tests match its slug, e.g. -k flow_control."
        )
