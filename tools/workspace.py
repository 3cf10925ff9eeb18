"""The learner's own copies of the notebooks, in my-work/ (git-ignored), which `make lab` opens.

A learner's saved answers and outputs then never break `make test` (it executes notebooks/), never
conflict with `git pull` (it updates notebooks/), and never end up in a commit. `sync()` copies what is
missing, refreshes a copy the learner never changed when the course's version changed, and keeps (and
names) a copy the learner did change.
"""

from __future__ import annotations

import hashlib
import json
import shutil
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
COURSE = REPO / "notebooks"
WORK = REPO / "my-work"
LEDGER = ".course-copies.json"  # {name: sha256 of the copy as the course gave it}


def _digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


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
        copy, new = work / source.name, _digest(source)
        if not copy.exists() or _digest(copy) == ledger.get(source.name):
            if not copy.exists() or ledger.get(source.name) != new:
                shutil.copyfile(source, copy)  # missing, or untouched by the learner: take the course's
            ledger[source.name] = new
        elif ledger.get(source.name) != new and ledger.get(f"{source.name}.noted") != new:
            notes.append(
                f"{source.name} changed in the course since you started on it; your copy in "
                f"{work.name}/ is kept. For the new version, rename your copy and run `make lab` again."
            )
            ledger[f"{source.name}.noted"] = new
    ledger_path.write_text(json.dumps(ledger, indent=1, sort_keys=True))
    return notes
