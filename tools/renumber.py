"""`make renumber` (python -m tools.renumber): number the notebooks 00, 01, 02, ... in their order, after one
was inserted or removed, and regenerate what depends on the order (`make nav`).

To insert a notebook between 03 and 04, name it `03a-my-topic.ipynb` (its header `# 03a · My topic`), then
run `make renumber`: it becomes 04 and every later notebook moves up by one. Only file names, header numbers,
links and "NN · Title" labels change: exercise keys, test entries, checker modules, asset and connection names
all derive from the slug, so nothing else needs touching.
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

from tools import navigation, schedule

REPO = navigation.REPO
NOTEBOOKS = navigation.NOTEBOOKS
NAME = re.compile(r"^(\d\d)([a-z]?)-([a-z0-9-]+)\.ipynb$")
TEXTS = ("notebooks/*.ipynb", "notebooks/*.md", "README.md", "CONTRIBUTING.md", "docs/*.md")


def plan(names: list[str]) -> dict[str, str]:
    """{old file name: new file name} for the notebooks whose number changes."""
    found = sorted((m.group(1), m.group(2), m.group(3), name) for name in names if (m := NAME.match(name)))
    return {
        name: f"{i:02d}-{slug}.ipynb" for i, (_, _, slug, name) in enumerate(found) if name != f"{i:02d}-{slug}.ipynb"
    }


def label(name: str) -> str:
    return NAME.match(name).group(1) + NAME.match(name).group(2)


def rename(old: Path, new: Path) -> None:
    tracked = subprocess.run(["git", "ls-files", "--error-unmatch", str(old)], cwd=REPO, capture_output=True)
    if tracked.returncode == 0:
        subprocess.run(["git", "mv", str(old), str(new)], cwd=REPO, check=True)
    else:
        old.rename(new)


def main() -> int:
    moves = plan([p.name for p in NOTEBOOKS.glob("*.ipynb")])
    if not moves:
        print("The notebooks are numbered in order already.")
    for old, new in sorted(moves.items(), key=lambda kv: kv[0], reverse=True):  # later ones first: no clash
        rename(NOTEBOOKS / old, NOTEBOOKS / f".{new}.renumbering")
    for new in moves.values():
        rename(NOTEBOOKS / f".{new}.renumbering", NOTEBOOKS / new)
    # One pass each (04 -> 05 and 05 -> 06 must not make 04 -> 06): links, then "NN · Title" labels.
    links = re.compile("|".join(map(re.escape, moves))) if moves else None
    labels = {label(old): label(new) for old, new in moves.items()}
    numbers = re.compile(rf"(?<![\w.])({'|'.join(map(re.escape, labels))}) · ") if labels else None
    changed = []
    for pattern in TEXTS:
        for path in REPO.glob(pattern) if moves else ():
            text = path.read_text()
            new_text = links.sub(lambda m: moves[m.group()], text)
            new_text = numbers.sub(lambda m: f"{labels[m.group(1)]} · ", new_text)
            if new_text != text:
                path.write_text(new_text)
                changed.append(path.relative_to(REPO).as_posix())
    for old, new in moves.items():
        print(f"{old} -> {new}")
    print(f"Updated links and labels in {len(changed)} files; regenerating navigation and schedules.")
    navigation.main([])
    schedule.main([])
    return 0


if __name__ == "__main__":
    sys.exit(main())
