"""How learners really use a notebook: they come back tomorrow, run the set-up cells and jump to one section
or to the exercises; and they run cells twice. For every notebook, one fresh kernel runs the `setup` cells,
then the exercises, then each core section in reverse order (so no section leans on one above it), with every
code cell executed twice in a row. A second run may instead stop with `RunFirst`: one plain sentence that
says which cell to run first. Nothing may be left behind: no connection on the server, no process.

Slow (about twice each notebook): `make test-learner`, which .ci/run also runs.
"""

import copy
import json
import subprocess

import pytest

from helpers.monitor import monitor_get
from tests.harness import CELL_TIMEOUT, NOTEBOOKS, OUTPUT, pm, stems

pytestmark = [pytest.mark.notebook, pytest.mark.learner]


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


def learner_path(nb):
    """The notebook as a learner who comes back and jumps around runs it."""
    cells = nb["cells"]
    tags = [set(c["metadata"].get("tags", [])) for c in cells]
    first = [c for c, t in zip(cells, tags, strict=True) if t & {"parameters", "setup"}]
    assert len(first) > 1, "no cell is tagged `setup`: tag the cells a learner must run before any section"
    parts = {name: [c for c in body if "setup" not in c["metadata"].get("tags", [])] for name, body in sections(cells)}
    core = [n for n in parts if not n.startswith(("Deep dive", "Exercises", "Clean up", "Recap"))]
    exercises, clean_up = ([n for n in parts if n.startswith(kind)] for kind in ("Exercises", "Clean up"))
    order = exercises + core[::-1] + clean_up
    out = [c for c in first if "parameters" in c["metadata"].get("tags", [])]
    for cell in [c for c in first if c not in out] + [c for name in order for c in parts[name]]:
        out.append(cell)
        if cell["cell_type"] == "code" and "parameters" not in cell["metadata"].get("tags", []):
            again = copy.deepcopy(cell)
            again["metadata"]["tags"] = [*again["metadata"].get("tags", []), "run-again"]
            out.append(again)
    return {**nb, "cells": out}, order


@pytest.mark.timeout(600)
@pytest.mark.parametrize("stem", stems())
def test_setup_then_any_section_and_every_cell_twice(stem, nats_server, tmp_path):
    nb, order = learner_path(json.loads((NOTEBOOKS / f"{stem}.ipynb").read_text()))
    source, out = tmp_path / f"{stem}.ipynb", OUTPUT / f"{stem}.learner-path.ipynb"
    source.write_text(json.dumps(nb))
    OUTPUT.mkdir(exist_ok=True)
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
                f"{stem}, set-up then {order} with every cell twice: cell {e.exec_count} raised "
                f"{e.ename}: {e.evalue}\nOpen {out}",
                pytrace=False,
            )
    for cell in json.loads(out.read_text())["cells"]:
        for output in cell.get("outputs", []):
            if output["output_type"] == "error":  # only RunFirst gets here, and only on a second run
                assert output["ename"] == "RunFirst", f"{stem}: {output['ename']}: {output['evalue']}; open {out}"
                assert "run-again" in cell["metadata"].get("tags", []), f"{stem}: {output['evalue']}; open {out}"
                assert output["evalue"].count(". ") == 0, f"{stem}: say it in one sentence: {output['evalue']}"
    left = [c.get("name") for c in monitor_get(nats_server.monitor_url, "/connz").get("connections", [])]
    assert left == [], f"{stem} left connections open on the server: {left}"
    services = subprocess.run(["pgrep", "-af", str(NOTEBOOKS / "services")], capture_output=True, text=True).stdout
    assert not services.strip(), f"{stem} left example services running:\n{services}"
