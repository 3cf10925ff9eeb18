"""Record a notebook's key results so that the tests can assert on them.

`record(key, value)` displays a custom MIME output carrying ``{key: value}``
as JSON, with no text/plain or HTML form: JupyterLab has no renderer for it
and shows nothing, so learners see the lesson, not the bookkeeping.
papermill keeps it in the executed notebook, and `read_records(path)`
collects every record from that file.
"""

from __future__ import annotations

import json
from pathlib import Path

MIME = "application/vnd.nats-course.record+json"


def _plain(value):
    """numpy and pandas scalars and arrays to plain JSON values."""
    if hasattr(value, "tolist"):
        return value.tolist()
    if hasattr(value, "item"):
        return value.item()
    if isinstance(value, (set, frozenset, tuple)):
        return sorted(value) if isinstance(value, (set, frozenset)) else list(value)
    raise TypeError(f"record() takes JSON-like values; got {type(value).__name__}: {value!r}")


def record(key: str, value) -> None:
    """Keep a result for the tests (invisible in JupyterLab). It returns nothing, so that a cell ending with a
    record() (a collapsed bookkeeping cell) shows nothing either."""
    from IPython.display import display

    display({MIME: {key: json.loads(json.dumps(value, default=_plain))}}, raw=True)


def read_records(executed_notebook: str | Path) -> dict:
    """Every ``{key: value}`` recorded in an executed notebook (a later record wins)."""
    nb = json.loads(Path(executed_notebook).read_text())
    records = {}
    for cell in nb["cells"]:
        for output in cell.get("outputs", []):
            records.update(output.get("data", {}).get(MIME, {}))
    return records
