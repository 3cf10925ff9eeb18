"""`make site` (tools/site.py): the HTML edition, made from the executed copies the tests checked.

The tests build pages from stand-in executed copies (made here from the notebooks' sources, with a plot
and a verdict) and check the refusals. The real site is checked by the builder itself, on every build
(`make site`, and the CI workflow after `make test`): see `tools.site.verify`."""

from __future__ import annotations

import html
import os
import re
import time
from pathlib import Path

import pytest

from helpers.record import MIME
from tests.harness import Lazy
from tools.minutes import span
from tools.navigation import NOTEBOOKS, notebooks

nbformat, site = Lazy("nbformat"), Lazy("tools.site")
pytestmark = pytest.mark.slow  # renders pages with nbconvert: seconds; `make test` runs these, `make check` does not

HREF = re.compile(r'<a[^>]* href="([^"]+)"')
PNG = re.compile(r'<img [^>]*src="data:image/png;base64,')
PIXEL = "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8DwHwAFBQIAX8jx0gAAAABJRU5ErkJggg=="


def stand_in_copy(path: Path, folder: Path) -> Path:
    """What the harness writes after a solutions run, without running it: a plot and a verdict."""
    nb = nbformat.read(path, as_version=4)
    nb.metadata["papermill"] = {
        "parameters": {"solutions": True},
        "end_time": "2026-01-02T03:04:05.000000",
        "exception": None,
    }
    nb.metadata["nats_in_notebooks"] = {"nats_py": "2.16.0", "nats_server": "2.15.1"}
    first_code = next(c for c in nb.cells if c.cell_type == "code")
    first_code.outputs = [
        nbformat.v4.new_output("display_data", data={"image/png": PIXEL, "text/plain": "<Figure>"}),
        nbformat.v4.new_output("display_data", data={"text/html": "<b>00.x: correct</b>"}),
        nbformat.v4.new_output("display_data", data={MIME: {"exercise.00.x": "correct"}}),
    ]
    out = folder / f"{path.stem}.solutions.ipynb"
    nbformat.write(nb, out)
    return out


@pytest.fixture
def two_notebooks(monkeypatch, tmp_path):
    """The site of the first two notebooks, from stand-in copies: (copies folder, site folder)."""
    course = notebooks()[:2]
    monkeypatch.setattr("tools.site.notebooks", lambda: course)
    copies = tmp_path / "copies"
    copies.mkdir()
    for nb in course:
        stand_in_copy(nb.path, copies)
    return copies, tmp_path / "site"


def local_targets(page: Path) -> list[str]:
    return [h for h in map(html.unescape, HREF.findall(page.read_text())) if not re.match(r"[a-z]+:|#", h)]


def check_site(out: Path, pages: list[Path], course) -> None:
    """Index first, one page per notebook in course order, the bar and the executed line on every page,
    and every local link answering with a file of the site."""
    assert pages == [
        out / "index.html",
        *(out / f"{n.path.stem}.html" for n in course),
        *(out / f"{d.stem}.html" for d in site.documents()),
    ]
    documents, pages = pages[len(course) + 1 :], pages[: len(course) + 1]
    index = pages[0].read_text()
    table = index[index.index("<table") : index.index("</table>")]
    assert re.findall(r'href="(\d\d-[^"]+\.html)"', table) == [p.name for p in pages[1:]], (
        "the index lists the pages in course order"
    )
    for n in course:
        assert (
            f">{html.escape(n.label)}</a>" in index
            and f"| {span(n.core)} |" not in index
            and f">{span(n.core)}<" in index
        )
    for i, page in enumerate(pages):
        text = page.read_text()
        assert text.count('class="course-bar') == 2 and 'href="index.html">Contents</a>' in text
        assert re.search(r"Executed .+ against nats-server \S+ with nats-py \S+", text), page
        bar = {
            rel: href
            for a in re.findall(r"<a [^>]*>", text)
            for rel in re.findall(r'rel="(\w+)"', a)
            for href in re.findall(r'href="([^"]+)"', a)
        }
        assert bar.get("prev") == (pages[i - 1].name if i > 1 else None), page
        assert bar.get("next") == (pages[i + 1].name if i < len(pages) - 1 else None), page
        for target in local_targets(page):
            assert (out / target.split("#")[0]).is_file(), f"{page.name} links to {target}, which is not in the site"
        for n in course:
            assert n.path.name not in "".join(local_targets(page)), f"{page.name} links to {n.path.name}, not its page"
    check_documents(out, documents)


def check_documents(out: Path, documents: list[Path]) -> None:
    index = (out / "index.html").read_text()
    for page in documents:
        assert f'href="{page.name}"' in index, f"the index links {page.name}"
        for target in local_targets(page):
            assert (out / target.split("#")[0]).is_file(), f"{page.name} links to {target}, which is not in the site"


def test_builds_index_and_pages_from_the_copies(two_notebooks):
    copies, out = two_notebooks
    pages = site.build(copies, out)
    course = site.notebooks()
    check_site(out, pages, course)
    for n, page in zip(course, pages[1 : len(course) + 1], strict=True):
        text = page.read_text()
        assert PNG.search(text) and "00.x: correct" in text, "outputs of the executed copy are on the page"
        fences = sum(
            c.source.count("```mermaid") for c in nbformat.read(n.path, as_version=4).cells if c.cell_type == "markdown"
        )
        assert text.count('<pre class="mermaid">') == fences


@pytest.mark.parametrize(
    "spoil, says",
    [
        (lambda path: path.unlink(), "is missing"),
        (
            lambda path: edit(path, lambda nb: nb.cells[0].update(source=nb.cells[0].source + " (edited)")),
            "another version",
        ),
        (
            lambda path: edit(path, lambda nb: nb.metadata.papermill.parameters.update(solutions=False)),
            "solutions=True",
        ),
        (
            lambda path: edit(
                path,
                lambda nb: nb.cells[1].outputs.append(
                    nbformat.v4.new_output("error", ename="KeyError", evalue="x", traceback=[])
                ),
            ),
            "raised",
        ),
        (lambda path: edit(path, lambda nb: nb.metadata.pop("nats_in_notebooks")), "harness"),
    ],
    ids=["missing", "another version", "not solutions", "raised", "not the harness's"],
)
def test_refuses_a_copy_the_tests_did_not_vouch_for(two_notebooks, spoil, says):
    copies, out = two_notebooks
    spoil(sorted(copies.iterdir())[1])
    with pytest.raises(site.NotChecked, match=says):
        site.build(copies, out)
    assert not out.exists(), "nothing is written when a copy is refused"


def edit(path: Path, change) -> None:
    nb = nbformat.read(path, as_version=4)
    change(nb)
    nbformat.write(nb, path)
    later = time.time() + 1
    os.utime(path, (later, later))


def test_links_become_pages_the_contents_becomes_the_index_and_files_are_copied(tmp_path):
    links = site.Links(notebooks(), tmp_path)
    assert links("[Next](01-publish-subscribe.ipynb#Recap)") == "[Next](01-publish-subscribe.html#Recap)"
    assert links("[Contents](README.md) [Front](../README.md#contents)") == "[Contents](index.html) [Front](index.html)"
    assert links("[conf](../config/nats-server.conf)") == "[conf](source/config/nats-server.conf)"
    assert (tmp_path / "source" / "config" / "nats-server.conf").is_file()
    assert links("[the services](services/)") == "[the services](source/notebooks/services/index.html)"
    listing = (tmp_path / "source" / "notebooks" / "services" / "index.html").read_text()
    assert all(
        f'href="{f.name}"' in listing and (tmp_path / "source" / "notebooks" / "services" / f.name).is_file()
        for f in (NOTEBOOKS / "services").glob("*.py")
    )
    kept = "[web](https://nats.io) [here](#Recap) [gone](no-such-file.md)"
    assert links(kept) == kept


@pytest.mark.parametrize(
    "spoil, says",
    [
        (lambda cell: cell.outputs.pop(0), "0 of 1 plots"),  # the plot is gone from the copy's outputs...
        (lambda cell: cell.outputs.pop(1), "exercise 00.x: 'correct' in the executed copy, the page shows no"),
    ],
    ids=["a plot missing", "a verdict missing"],
)
def test_refuses_a_page_that_does_not_show_what_was_checked(two_notebooks, monkeypatch, spoil, says):
    copies, out = two_notebooks
    must_show = site.must_show

    def spoiled(executed):  # ...after what the page must show was read from it
        must = must_show(executed)
        spoil(next(c for c in executed.cells if c.cell_type == "code"))
        return must

    monkeypatch.setattr("tools.site.must_show", spoiled)
    with pytest.raises(site.NotShown, match=re.escape(says)):
        site.build(copies, out)
