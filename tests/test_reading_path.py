"""What a learner reads and runs, checked without a kernel (`make check`): bookkeeping out of the reading path,
every table shown, set-up cells marked for coming back, a hands-on exercise in the core, names that do not
depend on a notebook's number, and exercise keys that agree between the notebook, its checkers and its entry."""

import ast
import importlib
import json
import re

import pytest

from tests.harness import NOTEBOOKS, case_for, entry_module, slug

PATHS = sorted(NOTEBOOKS.glob("[0-9][0-9]-*.ipynb"))
SET_UP_MARK = "# ▶ SET-UP"
BOOKKEEPING = re.compile(r"\brecord\(|globals\(\)|nats_py_fixes")
BOOKKEEPING_SHARE = 0.03
NUMBERED_NAME = re.compile(r"\b(?:nb|NB)\d\d|\b\d\d\.[a-z_]+\b")  # nb05, NB05_, "04.groups"
NUMBERED_PROSE = re.compile(r"\b\d\d's\b|\bnotebook \d\d\b", re.I)
GENERATED = re.compile(r"^\*\*(Navigation|Next|Time|Prerequisites):\*\*.*$|\[[^\]]*\]\([^)]*\)", re.M)


def cells(path):
    return json.loads(path.read_text())["cells"]


def text(cell):
    return "".join(cell["source"])


def tags(cell):
    return set(cell["metadata"].get("tags", []))


def hidden(cell):
    return bool(cell["metadata"].get("jupyter", {}).get("source_hidden"))


def sections(path):
    """[(heading, [cells])] for the `## ` sections; the header and set-up before the first are ("", ...)."""
    found = [("", [])]
    for cell in cells(path):
        if cell["cell_type"] == "markdown" and text(cell).startswith("## "):
            found.append((text(cell).splitlines()[0][3:].strip(), []))
        else:
            found[-1][1].append(cell)
    return found


def core_code(path):
    """The code cells a learner reads on the core path: outside deep dives, not collapsed, not solutions."""
    return [
        c
        for heading, body in sections(path)
        if not heading.startswith("Deep dive")
        for c in body
        if c["cell_type"] == "code" and not hidden(c) and not tags(c) & {"solution", "parameters"}
    ]


@pytest.mark.parametrize("path", PATHS, ids=lambda p: p.stem)
def test_set_up_cells_are_marked_for_coming_back(path):
    header = text(cells(path)[0])
    assert "**To resume:** run the cells marked ▶ SET-UP" in header, (
        f"{path.name}: the header needs '**To resume:** run the cells marked ▶ SET-UP, then go to your section.'"
    )
    for i, cell in enumerate(cells(path)):
        if "setup" in tags(cell):
            assert text(cell).startswith(SET_UP_MARK), f"{path.name} cell {i}: a set-up cell starts with {SET_UP_MARK}"


@pytest.mark.parametrize("path", PATHS, ids=lambda p: p.stem)
def test_bookkeeping_stays_out_of_the_reading_path(path):
    lines = [ln for c in core_code(path) for ln in text(c).splitlines() if ln.strip()]
    kept = [ln.strip() for ln in lines if BOOKKEEPING.search(ln)]
    assert len(kept) <= BOOKKEEPING_SHARE * len(lines), (
        f"{path.name}: {len(kept)} of {len(lines)} visible core code lines are bookkeeping (at most "
        f"{BOOKKEEPING_SHARE:.0%}): move record(), re-run guards and nats_py_fixes into a collapsed cell tagged "
        f"`bookkeeping` (CONTRIBUTING.md, 'Records and re-runs'): {kept[:5]}"
    )


SHOWS = {"display", "print", "record", "plt", "ax", "fig", "sleep", "RunFirst"}


def discarded(cell_source: str) -> list[str]:
    """Bare expressions that are not a cell's last statement: Jupyter builds them and shows nothing."""
    try:
        tree = ast.parse(re.sub(r"^\s*[%!].*$", "", cell_source, flags=re.M))
    except SyntaxError:  # top-level await parses; anything else is left to the notebook runs
        return []
    found = []
    for node in tree.body[:-1]:
        if not isinstance(node, ast.Expr) or isinstance(node.value, ast.Await | ast.Constant):
            continue
        value = node.value
        if isinstance(value, ast.Tuple) and all(isinstance(e, ast.Call) for e in value.elts):
            continue  # (a.clear(), b.clear()): calls made for what they do
        if isinstance(value, ast.Call):
            func = value.func
            name = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", "")
            root = func
            while isinstance(root, ast.Attribute | ast.Call):
                root = root.value if isinstance(root, ast.Attribute) else root.func
            if not re.search(r"DataFrame|Series|table|frame|head|tail|describe|pivot|style|round", name):
                continue  # a call made for what it does
            if getattr(root, "id", "") in SHOWS:
                continue
        found.append(ast.unparse(node)[:60])
    return found


@pytest.mark.parametrize("path", PATHS, ids=lambda p: p.stem)
def test_every_table_a_cell_builds_is_shown(path):
    for i, cell in enumerate(cells(path)):
        if cell["cell_type"] == "code":
            assert not discarded(text(cell)), (
                f"{path.name} cell {i} builds {discarded(text(cell))} and a later statement hides it: "
                "display(...) it, or make it the cell's last line"
            )


def test_the_discarded_expression_rule():
    assert discarded("pd.DataFrame(rows)\nwatching = True") == ["pd.DataFrame(rows)"]
    assert discarded("table\nx = 1") == ["table"]
    assert discarded("display(pd.DataFrame(rows))\nx = 1") == []
    assert discarded("await nc.flush()\nx = 1\npd.DataFrame(rows)") == []
    assert discarded("sub.unsubscribe()\nx = 1") == []
    assert discarded("(a.clear(), b.clear())\nx = 1") == []
    assert discarded("pd.Series(o).to_frame()\nretried = False") == ["pd.Series(o).to_frame()"]


@pytest.mark.parametrize("path", PATHS, ids=lambda p: p.stem)
def test_names_and_prose_do_not_depend_on_numbers(path):
    for i, cell in enumerate(cells(path)):
        source = text(cell)
        if cell["cell_type"] == "code":
            assert not NUMBERED_NAME.search(source), (
                f"{path.name} cell {i}: {NUMBERED_NAME.search(source).group()!r} names something by the notebook's "
                "number: derive it from the slug, so renumbering renames nothing"
            )
        else:
            prose = GENERATED.sub(" ", source)
            assert not NUMBERED_PROSE.search(prose), (
                f"{path.name} cell {i}: {NUMBERED_PROSE.search(prose).group()!r}: refer to a notebook by a link "
                "with its title, [Publish/subscribe](01-publish-subscribe.ipynb)"
            )


@pytest.mark.parametrize("path", PATHS, ids=lambda p: p.stem)
def test_the_core_has_a_hands_on_exercise(path):
    exercises = dict(sections(path)).get("Exercises")
    assert exercises is not None, f"{path.name}: no '## Exercises' section in the core"
    solutions = [c for c in exercises if "solution" in tags(c)]
    assert any(re.search(r"\bawait\b", text(c)) for c in solutions), (
        f"{path.name}: the core's exercises need one where the learner writes the awaited client calls"
    )
    headings = [c for c in exercises if c["cell_type"] == "markdown" and text(c).startswith("### ")]
    assert len(headings) == len(solutions), (
        f"{path.name}: each exercise in '## Exercises' starts with its own '### ' heading "
        f"({len(headings)} headings, {len(solutions)} solutions)"
    )


def checker_names(module) -> set[str]:
    return {name.removeprefix("check_") for name, f in vars(module).items() if hasattr(f, "hints")}


@pytest.mark.parametrize("path", PATHS, ids=lambda p: p.stem)
def test_exercise_names_agree_between_notebook_checkers_and_entry(path):
    case = case_for(path.stem)
    assert case is not None, (
        f"{path.name} has no test entry: add CASE = Case(...) to {entry_module(path.stem)} "
        "(CONTRIBUTING.md, 'Adding a notebook')"
    )
    module = importlib.import_module(f"helpers.exercises.{slug(path.stem).replace('-', '_')}")
    called = set(re.findall(r"await check_(\w+)\(", "".join(text(c) for c in cells(path) if c["cell_type"] == "code")))
    assert called == set(case.exercises), (
        f"{path.name} calls checkers {sorted(called)}; its entry lists {sorted(case.exercises)}"
    )
    assert called <= checker_names(module), (
        f"{path.name} calls checkers {sorted(called - checker_names(module))} that {module.__name__} lacks"
    )
