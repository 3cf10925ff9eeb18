"""The notebook harness: papermill executes a notebook against a real server and returns what it recorded.

`execute("NN-slug", "label", **parameters)` runs notebooks/NN-slug.ipynb in a fresh kernel (cwd
notebooks/, the venv's python3 kernel, a per-cell timeout), writes the executed copy to test-output/,
and returns a `Run`. `Case` is what one notebook's test entry says about it (tests/notebooks/test_<slug>.py,
`CASE = Case(...)`); tests/test_notebooks.py applies every entry the same way.
"""

from __future__ import annotations

import ast
import importlib
import importlib.metadata
import json
import os
import re
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from helpers.monitor import monitor_get
from helpers.record import read_records

REPO = Path(__file__).resolve().parent.parent
NOTEBOOKS = REPO / "notebooks"
OUTPUT = REPO / "test-output"
CELL_TIMEOUT = 60  # seconds for any one cell; pytest-timeout is the backstop
# Under `pytest -n 2` (make test) two notebooks share the machine's two cores: each budget doubles.
BUDGET_SCALE = 2 if os.environ.get("PYTEST_XDIST_WORKER") else 1
DURATIONS: list[tuple[str, float, float]] = []  # (run, seconds in cells, seconds with kernel start)
EXECUTED: list[Path] = []  # the executed copies of the running test, named in its failure report


def stems() -> list[str]:
    """Every numbered notebook, in reading order."""
    return sorted(p.stem for p in NOTEBOOKS.glob("[0-9][0-9]-*.ipynb"))


@dataclass
class Run:
    name: str
    path: Path  # the executed copy: open it when a test fails
    records: dict
    params: dict  # every parameter the run used: the notebook's defaults, then what the test passed
    cell_seconds: float  # execution time after the kernel started
    seconds: float  # including the kernel start
    stderr: list[str] = field(default_factory=list)  # what it wrote to stderr, progress bars aside
    bookkeeping_shown: list[str] = field(default_factory=list)  # what collapsed bookkeeping cells showed

    def __getitem__(self, key):
        if key not in self.records:
            pytest.fail(f"{self.name} recorded no {key!r} (it recorded {sorted(self.records)}). Open {self.path}")
        return self.records[key]

    def verdicts(self) -> dict:
        """{exercise key: status} as the notebook's checkers recorded them."""
        return {k.removeprefix("exercise."): v for k, v in self.records.items() if k.startswith("exercise.")}


@dataclass(frozen=True)
class Case:
    """What is particular to one notebook; tests/test_notebooks.py does the rest for every notebook.

    check:         asserts on one run's records (`run["key"]`) and parameters (`run.params["key"]`); it
                   is applied to the untouched run (defaults) and to the solutions run.
    exercises:     the name of every exercise the notebook records (its key is "<slug>.<name>", see
                   `keys`): "not attempted" untouched, "correct" with solutions=True, and no other keys.
    solutions:     parameters for the solutions run (other values than the defaults show that the
                   parameters, not constants, drive the results).
    budget:        seconds in cells (after the kernel started) allowed for each run, one notebook at a time
                   (BUDGET_SCALE stretches it when notebooks run side by side).
    wrong_answers: (checker, answer, phrase): the checker must judge `answer` "wrong" with `phrase`
                   in its message.
    right_answers: (checker, answer): the checker must judge `answer` "correct", e.g. an answer that
                   does the work but keeps the template's `return ...`.
    slow_checkers: its checkers take seconds each (private servers, clusters, timers): `make check` leaves
                   their answers to `make test`.
    any_order:     its JetStream assets live on the shared server beside the other JetStream notebooks':
                   tests/test_jetstream_any_order.py runs every such notebook in reverse order on one server.
    """

    check: Callable[[Run], None]
    exercises: tuple[str, ...]
    solutions: dict = field(default_factory=dict)
    budget: float = 10.0
    wrong_answers: tuple = ()
    right_answers: tuple = ()
    slow_checkers: bool = False
    any_order: bool = False


def stem_of(slug: str) -> str:
    """`04-queue-groups` for `queue-groups`: tests name a notebook by its slug, so renumbering changes no test."""
    (path,) = NOTEBOOKS.glob(f"[0-9][0-9]-{slug}.ipynb")
    return path.stem


def slug(stem: str) -> str:
    """`queue-groups` for 04-queue-groups: what every name derives from, so renumbering renames nothing."""
    return stem.split("-", 1)[1]


def entry_module(stem: str) -> str:
    """tests/notebooks/test_queue_groups.py for 04-queue-groups."""
    return f"tests.notebooks.test_{slug(stem).replace('-', '_')}"


def keys(stem: str, case: Case) -> set[str]:
    """The exercise keys a notebook records: `queue-groups.groups` (helpers.exercises.framework.key_for)."""
    return {f"{slug(stem)}.{name}" for name in case.exercises}


def case_for(stem: str) -> Case | None:
    try:
        module = importlib.import_module(entry_module(stem))
    except ModuleNotFoundError as e:
        if e.name != entry_module(stem):
            raise
        return None
    return getattr(module, "CASE", None)


class Lazy:
    """A module imported on first use. Importing papermill or nbformat takes ~2.5 s (nbformat's JSON-schema
    formats): `make check` never needs them, and every test module would pay it at collection."""

    def __init__(self, name: str):
        self.name = name

    def __getattr__(self, attr):
        return getattr(importlib.import_module(self.name), attr)


pm = Lazy("papermill")


def execute(stem: str, label: str, **parameters) -> Run:
    """Execute one notebook with papermill; fail with the notebook's name and its executed copy."""
    OUTPUT.mkdir(exist_ok=True)
    source, out = NOTEBOOKS / f"{stem}.ipynb", OUTPUT / f"{stem}.{label}.ipynb"
    EXECUTED.append(out)
    defaults = {name: p["default"] for name, p in pm.inspect_notebook(source).items()}
    started = time.monotonic()
    try:
        pm.execute_notebook(
            source,
            out,
            parameters=parameters,
            cwd=NOTEBOOKS,
            kernel_name="python3",
            execution_timeout=CELL_TIMEOUT,
            progress_bar=False,
        )
    except pm.PapermillExecutionError as e:
        pytest.fail(
            f"{stem} ({label}) failed in cell {e.exec_count}: {e.ename}: {e.evalue}\nOpen the executed copy: {out}",
            pytrace=False,
        )
    seconds = time.monotonic() - started
    stamp(out, parameters.get("monitor_url"))
    cells = json.loads(out.read_text())["cells"]
    cell_seconds = sum(c["metadata"].get("papermill", {}).get("duration") or 0 for c in cells)
    DURATIONS.append((f"{stem} ({label})", cell_seconds, seconds))
    params = {name: _literal(value) for name, value in defaults.items()} | parameters
    return Run(
        f"{stem} ({label})",
        out,
        read_records(out),
        params,
        cell_seconds,
        seconds,
        noise(cells),
        shown_by_bookkeeping(cells),
    )


PROGRESS_BAR = re.compile(r"\d+%\|.*\|")  # tqdm writes its bars to stderr: the one thing allowed there


def noise(cells: list[dict]) -> list[str]:
    """What an executed notebook wrote to stderr, progress bars aside: a learner sees each as a red box."""
    return [
        "".join(output.get("text", ""))[:300]
        for cell in cells
        for output in cell.get("outputs", [])
        if output.get("name") == "stderr"
        and "".join(output.get("text", "")).strip()  # a bar's closing newline arrives on its own
        and not PROGRESS_BAR.search("".join(output.get("text", "")))
    ]


def shown_by_bookkeeping(cells: list[dict]) -> list[str]:
    """Values collapsed bookkeeping cells showed as their result (a `0` or `False` under a folded cell means
    nothing to a learner); what such a cell prints on purpose is left alone."""
    return [
        json.dumps(output)[:200]
        for cell in cells
        if "bookkeeping" in cell["metadata"].get("tags", [])
        for output in cell.get("outputs", [])
        if output["output_type"] == "execute_result"
    ]


def stamp(executed: Path, monitor_url: str | None) -> None:
    """Write into the executed copy what it ran against (`make site` shows it on every page): the
    nats-py version of the kernel's environment and the version the server reported."""
    nb = json.loads(executed.read_text())
    server = monitor_get(monitor_url, "/varz").get("version") if monitor_url else None
    nb["metadata"]["nats_in_notebooks"] = {"nats_py": importlib.metadata.version("nats-py"), "nats_server": server}
    executed.write_text(json.dumps(nb, indent=1, ensure_ascii=False) + "\n")


def _literal(text: str):
    """papermill reports defaults as source text ("300", "None", "5.0")."""
    try:
        return ast.literal_eval(text)
    except (ValueError, SyntaxError):
        return text
