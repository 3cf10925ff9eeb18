"""How learners really use a notebook, in four ways, for every notebook (`make test-learner`):

- they come back tomorrow, run the `setup` cells and jump to a section: one kernel runs the set-up, then the
  exercises, then each core section in reverse order (so no section leans on one above it), every code cell
  twice in a row;
- they run every cell twice as they read, then press Run All again after the Clean up: one kernel;
- they skip every deep dive: a fresh kernel runs the core path alone, with no error and nothing on stderr;
- they do one exercise alone: a fresh kernel per exercise runs the set-up, then that exercise's cells.
A second run of a cell may instead stop with `RunFirst`: one plain sentence that says which cell to run first.
Nothing may be left behind: no connection on the server, no process.
"""

import copy
import json
import subprocess

import pytest

from helpers.monitor import monitor_get
from tests.harness import CELL_TIMEOUT, NOTEBOOKS, OUTPUT, noise, pm, stems

pytestmark = [pytest.mark.notebook, pytest.mark.learner]


def tagged(cell, tag):
    return tag in cell["metadata"].get("tags", [])


def sections(cells):
    """[(heading, [cells])] for each `## ` section, in order."""
    found = []
    for cell in cells:
        text = "".join(cell["source"])
        if cell["cell_type"] == "markdown" and text.startswith("## "):
            found.append((text.splitlines()[0][3:].strip(), []))
        elif found:
            found[-1][1].append(cell)
    return found


def exercises(cells):
    """[(title, [cells])] for each `### ` exercise of the `## Exercises` section."""
    found = []
    for cell in dict(sections(cells)).get("Exercises", []):
        text = "".join(cell["source"])
        if cell["cell_type"] == "markdown" and text.startswith("### "):
            found.append((text.splitlines()[0][4:].strip(), []))
        elif found:
            found[-1][1].append(cell)
    return found


def again(cell):
    """The same cell, run a second time (a RunFirst there is allowed)."""
    copied = copy.deepcopy(cell)
    copied.pop("id", None)  # a fresh id: nbformat warns of duplicates
    copied["metadata"]["tags"] = [*copied["metadata"].get("tags", []), "run-again"]
    return copied


def twice(cells):
    out = []
    for cell in cells:
        out.append(cell)
        if cell["cell_type"] == "code" and not tagged(cell, "parameters"):
            out.append(again(cell))
    return out


def start(cells):
    """The parameters cell and the set-up cells."""
    assert any(tagged(c, "setup") for c in cells), "no cell is tagged `setup`: tag the cells every section needs"
    return [c for c in cells if tagged(c, "parameters") or tagged(c, "setup")]


def jump_around(cells):
    parts = {name: [c for c in body if not tagged(c, "setup")] for name, body in sections(cells)}
    core = [n for n in parts if not n.startswith(("Deep dive", "Exercises", "Clean up", "Recap"))]
    order = [n for n in parts if n.startswith("Exercises")] + core[::-1] + [n for n in parts if n == "Clean up"]
    first = start(cells)
    return first[:1] + twice(first[1:] + [c for name in order for c in parts[name]])


def every_cell_twice_then_run_all(cells):
    return twice(cells) + [again(c) for c in cells if c["cell_type"] == "code" and not tagged(c, "parameters")]


def core_only(cells):
    keep, deep = [], False
    for cell in cells:
        text = "".join(cell["source"])
        if cell["cell_type"] == "markdown" and text.startswith("## "):
            deep = text.startswith("## Deep dive")
        if not deep:
            keep.append(cell)
    return keep


def execute(stem, label, cells, nats_server):
    nb = json.loads((NOTEBOOKS / f"{stem}.ipynb").read_text())
    source, out = OUTPUT / f"{stem}.{label}.source.ipynb", OUTPUT / f"{stem}.{label}.ipynb"
    OUTPUT.mkdir(exist_ok=True)
    source.write_text(json.dumps({**nb, "cells": cells}))
    try:
        pm.execute_notebook(
            source,
            out,
            cwd=NOTEBOOKS,
            kernel_name="python3",
            progress_bar=False,
            execution_timeout=CELL_TIMEOUT,
            allow_error_names=["RunFirst"],
            parameters={"nats_url": nats_server.url, "monitor_url": nats_server.monitor_url, "solutions": True},
        )
    except pm.PapermillExecutionError as e:
        if e.ename != "RunFirst":  # papermill raises for an allowed error too: those are checked below
            pytest.fail(
                f"{stem} ({label}): cell {e.exec_count} raised {e.ename}: {e.evalue}\nOpen {out}", pytrace=False
            )
    finally:
        source.unlink(missing_ok=True)
    executed = json.loads(out.read_text())["cells"]
    for cell in executed:
        for output in cell.get("outputs", []):
            if output["output_type"] == "error":  # only RunFirst gets here, and only on a second run
                assert output["ename"] == "RunFirst", f"{stem} ({label}): {output['ename']}: {output['evalue']}; {out}"
                assert "run-again" in cell["metadata"].get("tags", []), f"{stem} ({label}): {output['evalue']}; {out}"
                assert output["evalue"].count(". ") == 0, f"{stem}: say it in one sentence: {output['evalue']}"
    left = [c.get("name") for c in monitor_get(nats_server.monitor_url, "/connz").get("connections", [])]
    assert left == [], f"{stem} ({label}) left connections open on the server: {left}; open {out}"
    services = subprocess.run(["pgrep", "-af", str(NOTEBOOKS / "services")], capture_output=True, text=True).stdout
    assert not services.strip(), f"{stem} ({label}) left example services running:\n{services}"
    return executed, out


def cells_of(stem):
    return json.loads((NOTEBOOKS / f"{stem}.ipynb").read_text())["cells"]


@pytest.mark.timeout(600)
@pytest.mark.parametrize("stem", stems())
def test_setup_then_any_section_and_every_cell_twice(stem, nats_server):
    execute(stem, "learner-jump", jump_around(cells_of(stem)), nats_server)


@pytest.mark.timeout(600)
@pytest.mark.parametrize("stem", stems())
def test_every_cell_twice_then_run_all_again(stem, nats_server):
    execute(stem, "learner-twice", every_cell_twice_then_run_all(cells_of(stem)), nats_server)


@pytest.mark.timeout(300)
@pytest.mark.parametrize("stem", stems())
def test_the_core_path_alone(stem, nats_server):
    executed, out = execute(stem, "learner-core", core_only(cells_of(stem)), nats_server)
    assert not noise(executed), f"{stem} (core only) wrote to stderr: {noise(executed)[:3]}; open {out}"


def exercise_cases():
    return [
        pytest.param(stem, i, id=f"{stem}-exercise-{i + 1}")
        for stem in stems()
        for i, (title, _) in enumerate(exercises(cells_of(stem)))
    ]


@pytest.mark.timeout(300)
@pytest.mark.parametrize("stem, index", exercise_cases())
def test_each_exercise_alone(stem, index, nats_server):
    cells = cells_of(stem)
    path = start(cells) + exercises(cells)[index][1] + dict(sections(cells)).get("Clean up", [])
    executed, out = execute(stem, f"learner-exercise-{index}", path, nats_server)
    verdicts = [o for c in executed for o in c.get("outputs", []) if "text/html" in o.get("data", {})]
    assert any(": correct</b>" in "".join(o["data"]["text/html"]) for o in verdicts), (
        f"{stem}: the exercise alone gave no correct verdict; open {out}"
    )
