"""The notebook harness: papermill runs each notebook against a fresh real server.

`run_notebook("NN-slug", **parameters)` executes notebooks/NN-slug.ipynb in a
fresh kernel (cwd notebooks/, the venv's python3 kernel, a per-cell timeout)
against this test's own embedded server, writes the executed copy to
test-output/, and returns what the notebook recorded.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from pathlib import Path

import papermill as pm
import pytest

from helpers.record import read_records
from helpers.server import EmbeddedServer

REPO = Path(__file__).resolve().parent.parent
NOTEBOOKS = REPO / "notebooks"
OUTPUT = REPO / "test-output"
CELL_TIMEOUT = 60  # seconds for any one cell; pytest-timeout is the backstop
DURATIONS: list[tuple[str, float, float]] = []  # (run, seconds in cells, seconds with kernel start)
EXECUTED: list[Path] = []  # the executed copies of the running test, named in its failure report


@dataclass
class Run:
    name: str
    path: Path  # the executed copy: open it when a test fails
    records: dict
    cell_seconds: float  # execution time after the kernel started
    seconds: float  # including the kernel start

    def __getitem__(self, key):
        if key not in self.records:
            pytest.fail(f"{self.name} recorded no {key!r} (it recorded {sorted(self.records)}). Open {self.path}")
        return self.records[key]


@pytest.fixture
def nats_server():
    """A fresh embedded server on free ports; its data is removed afterwards."""
    with EmbeddedServer() as server:
        yield server


def execute(stem: str, label: str, **parameters) -> Run:
    """Execute one notebook with papermill; fail with the notebook's name and its executed copy."""
    OUTPUT.mkdir(exist_ok=True)
    out = OUTPUT / f"{stem}.{label}.ipynb"
    EXECUTED.append(out)
    started = time.monotonic()
    try:
        pm.execute_notebook(NOTEBOOKS / f"{stem}.ipynb", out, parameters=parameters, cwd=NOTEBOOKS,
                            kernel_name="python3", execution_timeout=CELL_TIMEOUT, progress_bar=False)
    except pm.PapermillExecutionError as e:
        pytest.fail(f"{stem} ({label}) failed in cell {e.exec_count}: {e.ename}: {e.evalue}\n"
                    f"Open the executed copy: {out}", pytrace=False)
    seconds = time.monotonic() - started
    cells = json.loads(out.read_text())["cells"]
    cell_seconds = sum(c["metadata"].get("papermill", {}).get("duration") or 0 for c in cells)
    DURATIONS.append((f"{stem} ({label})", cell_seconds, seconds))
    return Run(f"{stem} ({label})", out, read_records(out), cell_seconds, seconds)


@pytest.fixture
def run_notebook(nats_server):
    """Run a notebook against this test's server; `label` names the executed copy."""

    def run(stem: str, label: str = "run", **parameters) -> Run:
        parameters = {"nats_url": nats_server.url, "monitor_url": nats_server.monitor_url, **parameters}
        return execute(stem, label, **parameters)

    return run


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    """A failing notebook test names the executed copies to open."""
    report = (yield).get_result()
    if report.failed and EXECUTED:
        report.sections.append(("executed notebooks (open these)", "\n".join(map(str, EXECUTED))))
    if report.when == "teardown":
        EXECUTED.clear()


def pytest_terminal_summary(terminalreporter):
    if not DURATIONS:
        return
    terminalreporter.section("notebook durations")
    for name, cells, total in DURATIONS:
        terminalreporter.write_line(f"{name:<45} {cells:6.2f} s in cells, {total:6.2f} s with kernel start")
    terminalreporter.write_line(f"{'total':<45} {sum(d[1] for d in DURATIONS):6.2f} s in cells, "
                                f"{sum(d[2] for d in DURATIONS):6.2f} s with kernel start")
