"""The learner's own copies of the notebooks, in my-work/ (git-ignored), which `make lab` opens.

A learner's saved answers and outputs then never break `make test` (it executes notebooks/), never
conflict with `git pull` (it updates notebooks/), and never end up in a commit. `sync()` copies what is
missing, refreshes a copy whose code and text the learner never changed when the course's version changed
(outputs, execution counts and metadata do not count: JupyterLab's autosave and a Run All change only
those), and keeps a copy the learner did change, with a note at its top that says a newer version exists
and how to get it.
"""

from __future__ import annotations

import hashlib
import json
import shutil
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
COURSE = REPO / "notebooks"
WORK = REPO / "my-work"
LEDGER = ".course-copies.json"  # {name: digest of the lesson as the course gave it}
NOTE_TAG = "course-update"  # the note cell sync() puts at the top of a kept copy


def lesson_digest(path: Path) -> str:
    """A notebook's lesson: each cell's kind and source, nothing of outputs, metadata or ids; the update note
    sync() adds does not count."""
    cells = json.loads(path.read_text())["cells"]
    lesson = [
        (c["cell_type"], "".join(c["source"])) for c in cells if NOTE_TAG not in c.get("metadata", {}).get("tags", [])
    ]
    return hashlib.sha256(json.dumps(lesson).encode()).hexdigest()


def note_newer(copy: Path, source: Path) -> None:
    """Put (or refresh) a note at the top of the learner's copy: the course has a newer version."""
    nb = json.loads(copy.read_text())
    cells = [c for c in nb["cells"] if NOTE_TAG not in c.get("metadata", {}).get("tags", [])]
    note = {
        "cell_type": "markdown",
        "metadata": {"tags": [NOTE_TAG]},
        "source": [
            f"> **A newer version of this notebook is in the course** (`notebooks/{source.name}`). This copy keeps "
            "your work as it is. To get the new version: rename this file (for example add `-mine` to its name), "
            "then run `make lab` again: it copies the course's version in, and your renamed copy stays beside it."
        ],
    }
    nb["cells"] = [note, *cells]
    copy.write_text(json.dumps(nb, indent=1, ensure_ascii=False) + "\n")


def sync(work: Path = WORK, course: Path = COURSE) -> list[str]:
    """Bring `work` up to date with `course`; returns one line per notebook that needs the learner's eye."""
    work.mkdir(parents=True, exist_ok=True)
    ledger_path = work / LEDGER
    try:
        ledger = json.loads(ledger_path.read_text())
    except (OSError, ValueError):
        ledger = {}
    notes = []
    for page in course.glob("*.md"):  # the contents page and the cheat sheet: the course's, always
        shutil.copyfile(page, work / page.name)
    if (course / "services").is_dir():  # the example services' source, which notebooks link to (read-only)
        shutil.copytree(
            course / "services", work / "services", dirs_exist_ok=True, ignore=shutil.ignore_patterns("__pycache__")
        )
    for source in sorted(course.glob("[0-9][0-9]-*.ipynb")):
        copy, new = work / source.name, lesson_digest(source)
        if not copy.exists() or lesson_digest(copy) == ledger.get(source.name):
            if not copy.exists() or ledger.get(source.name) != new:
                shutil.copyfile(source, copy)  # missing, or its lesson untouched by the learner: take the course's
            ledger[source.name] = new
        elif ledger.get(source.name) != new and ledger.get(f"{source.name}.noted") != new:
            note_newer(copy, source)
            notes.append(
                f"{source.name} changed in the course since you started on it; your copy in "
                f"{work.name}/ is kept, with a note at its top on how to get the new version."
            )
            ledger[f"{source.name}.noted"] = new
    ledger_path.write_text(json.dumps(ledger, indent=1, sort_keys=True))
    return notes
