"""The house: three wings (helpers/ the course, tools/ the maintainers', room/ workshop mode), imports pointing
one way, no cycle, and every module listed in CONTRIBUTING.md. `pytest -rA tests/test_architecture.py`
prints each wing's imports."""

import ast
import re

import pytest

from tests.harness import REPO

WINGS = {"helpers": 0, "tools": 1, "room": 2}  # a wing may import its own and those below it
CONTRIBUTING = (REPO / "CONTRIBUTING.md").read_text()


def modules() -> dict[str, ast.Module]:
    """{dotted name: parsed source} for every module of the three wings."""
    found = {}
    for wing in WINGS:
        for path in sorted((REPO / wing).rglob("*.py")):
            name = ".".join(path.relative_to(REPO).with_suffix("").parts).removesuffix(".__init__")
            found[name] = ast.parse(path.read_text())
    return found


def imports(tree: ast.Module, known) -> set[str]:
    """The wing modules a module imports, anywhere in it (inside functions too)."""
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names = [f"{node.module}.{a.name}" for a in node.names] + [node.module]
        else:
            continue
        for name in names:
            while name and name not in known:
                name = name.rpartition(".")[0]
            if name:
                found.add(name)
    return found


MODULES = modules()
GRAPH = {name: imports(tree, set(MODULES)) - {name} for name, tree in MODULES.items()}


def wing(name: str) -> str:
    return name.split(".")[0]


def test_wings_import_only_their_own_and_those_below():
    upward = [f"{a} -> {b}" for a, targets in GRAPH.items() for b in targets if WINGS[wing(b)] > WINGS[wing(a)]]
    assert not upward, f"imports that point up a wing (use helpers/hooks.py instead): {upward}"
    for name in WINGS:
        arrows = sorted({f"{wing(b)}" for a, t in GRAPH.items() if wing(a) == name for b in t} - {name})
        print(f"{name}/ imports: {arrows or 'nothing of the other wings'}")


def test_no_import_cycle():
    state, cycles = {}, []

    def visit(node, path):
        state[node] = "open"
        for nxt in sorted(GRAPH[node]):
            if state.get(nxt) == "open":
                cycles.append(path[path.index(nxt) :] + [nxt] if nxt in path else [node, nxt])
            elif nxt not in state:
                visit(nxt, [*path, nxt])
        state[node] = "done"

    for node in sorted(GRAPH):
        if node not in state:
            visit(node, [node])
    assert not cycles, f"import cycles: {cycles}"
    print(f"{len(GRAPH)} modules, {sum(map(len, GRAPH.values()))} imports between them, 0 cycles")


@pytest.mark.parametrize("name", sorted(GRAPH), ids=str)
def test_every_module_is_listed_in_contributing(name):
    path = name.replace(".", "/") + (".py" if not (REPO / name.replace(".", "/")).is_dir() else "")
    if path.endswith(("__init__.py",)) or (REPO / name.replace(".", "/")).is_dir():
        return  # a package: its modules are listed
    if name.startswith("helpers.exercises.") and name != "helpers.exercises.framework":
        return  # one checker module per notebook: `helpers/exercises/<slug>.py`
    assert re.search(rf"`{re.escape(path)}`", CONTRIBUTING), f"{path} is missing from CONTRIBUTING.md's architecture"
