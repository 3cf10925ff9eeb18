"""`make site` (python -m tools.site): the course as static HTML pages, to read anywhere.

The pages are made from the executed copies that the tests checked (test-output/NN-slug.solutions.ipynb,
written by the notebook tests with solutions=True; `make site` runs those tests first), so what a reader
sees is what was asserted on: every output, plot and table, the Mermaid diagrams, and the exercise
verdicts of the reference solutions. nbconvert's HTML exporter (JupyterLab's look) renders each page;
this module adds an index in course order with the minutes, a previous · contents · next bar on every
page, and when and against which nats-server and nats-py each page was executed.

    python -m tools.site [--copies test-output] [--out site]

Why nbconvert: it is Jupyter's own exporter (maintained with JupyterLab, already installed with it),
renders outputs exactly as JupyterLab shows them, and does not execute anything itself, so the pages
can only come from the tests' copies. Jupyter Book 1 (Sphinx + MyST-NB) and mkdocs-jupyter render
through nbconvert or its equivalent and add a documentation framework this course does not need; Quarto
(PyPI's quarto-cli is a 5 KB sdist that downloads the binary when installed) and Jupyter Book 2 (mystmd,
on Node, fetching its HTML theme when it builds) need downloads that a closed network refuses.

It checks every page it writes (each plot, exercise verdict and Mermaid diagram of the copy is on the
page, and every link answers with a file of the site), and it refuses a copy that is missing, executed
from another version of its notebook, not a solutions run, or that raised.
"""

from __future__ import annotations

import argparse
import html
import re
import shutil
import sys
import time
from datetime import datetime
from pathlib import Path

import nbformat
from nbconvert import HTMLExporter

from helpers.record import MIME
from tools.navigation import CONTENTS, NOTEBOOKS, README, REPO, Notebook, notebooks, table

COPIES = REPO / "test-output"
SITE = REPO / "site"
TEMPLATES = Path(__file__).with_name("site_templates")
LINK = re.compile(r"\]\(([^)\s#]*)(#[^)\s]*)?\)")  # a markdown link's target and its #anchor


class NotChecked(RuntimeError):
    """An executed copy that the tests did not (or no longer) vouch for."""


def executed_copy(nb: Notebook, copies: Path) -> nbformat.NotebookNode:
    """The solutions run of `nb` that the tests wrote, or NotChecked saying why it cannot be used."""
    path = copies / f"{nb.path.stem}.solutions.ipynb"
    again = "run the notebook tests first (`make site` does)"
    if not path.exists():
        raise NotChecked(f"{path} is missing: {again}")
    executed = nbformat.read(path, as_version=4)
    if sources(executed) != sources(nbformat.read(nb.path, as_version=4)):
        raise NotChecked(f"{path} was executed from another version of notebooks/{nb.path.name}: {again}")
    papermill = executed.metadata.get("papermill", {})
    if papermill.get("parameters", {}).get("solutions") is not True:
        raise NotChecked(f"{path} is not a run with solutions=True: {again}")
    errors = [o for c in executed.cells for o in c.get("outputs", []) if o.get("output_type") == "error"]
    if papermill.get("exception") or errors:
        raise NotChecked(f"{path} raised an exception: fix the notebook and {again}")
    if "nats_in_notebooks" not in executed.metadata or not papermill.get("end_time"):
        raise NotChecked(f"{path} was not written by the tests' harness (tests/harness.py): {again}")
    return executed


def sources(nb: nbformat.NotebookNode) -> list[tuple[str, str]]:
    """The cells as written, without the parameters cell that papermill injects."""
    return [(c.cell_type, c.source) for c in nb.cells if "injected-parameters" not in c.metadata.get("tags", [])]


def executed_line(copies: list[nbformat.NotebookNode]) -> str:
    """When and against what these copies were executed: one page's, or the whole course's."""
    times = sorted(
        datetime.fromisoformat(c.metadata["papermill"]["end_time"]).strftime("%Y-%m-%d %H:%M UTC") for c in copies
    )
    when = times[0] if times[0] == times[-1] else f"between {times[0]} and {times[-1]}"

    def versions(key: str) -> str:
        return ", ".join(sorted({str(c.metadata["nats_in_notebooks"][key]) for c in copies}))

    return (
        f"Executed {when} against nats-server {versions('nats_server')} with nats-py {versions('nats_py')}, "
        "and checked by the course's tests (make test)."
    )


def documents() -> list[Path]:
    """The other pages JupyterLab opens beside the notebooks (the cheat sheet): notebooks/*.md but the
    contents page. Each becomes a page of the site."""
    return sorted(p for p in NOTEBOOKS.glob("*.md") if p.resolve() != CONTENTS.resolve())


class Links:
    """Rewrites a notebook's relative links for the site: a notebook or a document becomes its page, the
    contents page (notebooks/README.md or README.md) becomes index.html, any other file of the
    repository is copied under source/ so that its link still answers."""

    def __init__(self, course: list[Notebook], out: Path):
        self.pages = {n.path.resolve(): page_name(n) for n in course}
        self.pages |= {d.resolve(): d.stem + ".html" for d in documents()}
        self.out = out

    def __call__(self, markdown: str) -> str:
        return LINK.sub(self._one, markdown)

    def _one(self, m: re.Match) -> str:
        target, anchor = m.group(1), m.group(2) or ""
        if not target or ":" in target:  # an anchor on the same page, or another site
            return m.group(0)
        path = (NOTEBOOKS / target).resolve()
        if path in self.pages:
            return f"]({self.pages[path]}{anchor})"
        if path in (CONTENTS.resolve(), README.resolve()):
            return "](index.html)"
        if path.is_relative_to(REPO) and (path.is_file() or path.is_dir()):
            copied = Path("source") / path.relative_to(REPO)  # not files/: nbconvert strips that prefix
            (self.out / copied).parent.mkdir(parents=True, exist_ok=True)
            if path.is_file():
                shutil.copyfile(path, self.out / copied)
                return f"]({copied.as_posix()}{anchor})"
            return f"]({self._folder(path, copied).as_posix()})"
        return m.group(0)  # left as it is: the site's tests report a link that does not answer

    def _folder(self, path: Path, copied: Path) -> Path:
        """A folder of the repository (e.g. notebooks/services/): its files, and a page that lists them."""
        files = sorted(f for f in path.iterdir() if f.is_file() and not f.name.startswith("."))
        (self.out / copied).mkdir(parents=True, exist_ok=True)
        for f in files:
            shutil.copyfile(f, self.out / copied / f.name)
        items = "".join(f'<li><a href="{html.escape(f.name)}">{html.escape(f.name)}</a></li>' for f in files)
        listing = copied / "index.html"
        (self.out / listing).write_text(
            f"<!DOCTYPE html><html><head><meta charset='utf-8'><title>{copied.as_posix()}"
            f"</title></head><body><h1>{copied.as_posix()}/</h1><ul>{items}</ul>"
            '<p><a href="' + "../" * len(copied.parts) + 'index.html">Contents</a></p>'
            "</body></html>"
        )
        return listing


def page_name(nb: Notebook) -> str:
    return nb.path.stem + ".html"


def exporter() -> HTMLExporter:
    return HTMLExporter(template_name="course", extra_template_basedirs=[str(TEMPLATES)])


def render(exp: HTMLExporter, nb: nbformat.NotebookNode, title: str, course: dict) -> str:
    body, _ = exp.from_notebook_node(nb, resources={"metadata": {"name": title}, "course": course})
    return body


def index_notebook(course: list[Notebook], links: Links) -> nbformat.NotebookNode:
    extra = "".join(f"- [{d.read_text().splitlines()[0].lstrip('# ')}]({d.name})\n" for d in documents())
    text = (
        "# NATS in Notebooks\n\nLearn NATS from Python, one runnable notebook per idea. Each page below is "
        "a notebook as the course's tests executed it against a real NATS server: its outputs, plots, "
        "diagrams and the verdicts of the reference solutions. To run them yourself, clone the "
        "repository and type `make lab`.\n\n" + table(course, "") + (f"\nAlso:\n\n{extra}" if extra else "")
    )
    return nbformat.v4.new_notebook(cells=[nbformat.v4.new_markdown_cell(links(text))])


def build(copies: Path = COPIES, out: Path = SITE) -> list[Path]:
    """Write index.html and one page per notebook into `out`; return the pages, index first."""
    course = notebooks()
    executed = [executed_copy(n, copies) for n in course]  # all of them checked before anything is written
    if out.exists():
        shutil.rmtree(out)
    out.mkdir(parents=True)
    links, exp = Links(course, out), exporter()
    pages = [out / "index.html"]
    pages[0].write_text(
        render(
            exp,
            index_notebook(course, links),
            "NATS in Notebooks",
            {
                "prev": None,
                "next": {"href": page_name(course[0]), "label": course[0].label},
                "executed_line": executed_line(executed),
            },
        )
    )
    shown = []  # (page, what it must show) for verify()
    for i, (nb, copy) in enumerate(zip(course, executed, strict=True)):
        must = must_show(copy)
        for cell in copy.cells:
            if cell.cell_type == "markdown":
                cell.source = links(cell.source)
            else:  # record() outputs are the tests' bookkeeping: JupyterLab shows nothing for them either
                cell.outputs = [o for o in cell.get("outputs", []) if MIME not in o.get("data", {})]
        near = {"prev": course[i - 1] if i else None, "next": course[i + 1] if i + 1 < len(course) else None}
        bar = {k: n and {"href": page_name(n), "label": n.label} for k, n in near.items()}
        page = out / page_name(nb)
        bar["executed_line"] = executed_line([copy])
        page.write_text(render(exp, copy, f"{nb.label} · NATS in Notebooks", bar))
        pages.append(page)
        shown.append((page, must))
    for doc in documents():  # after the notebooks: the pages list stays index, then course order
        page = out / (doc.stem + ".html")
        markdown = nbformat.v4.new_notebook(cells=[nbformat.v4.new_markdown_cell(links(doc.read_text()))])
        page.write_text(
            render(
                exp, markdown, doc.stem, {"prev": None, "next": None, "executed_line": "Not executed: a page to read."}
            )
        )
        pages.append(page)
    problems = [f"{page.name}: {problem}" for page, must in shown for problem in verify(page, must)]
    problems += [f"{page.name}: {problem}" for page in pages for problem in broken_links(page, out)]
    if problems:
        raise NotShown("the site does not show what the tests checked:\n  " + "\n  ".join(problems))
    return pages


class NotShown(RuntimeError):
    """A page that lacks a plot, a verdict or a diagram of its executed copy, or has a link that answers nothing."""


PNG = re.compile(r'<img [^>]*src="data:image/png;base64,')
HREF = re.compile(r'<a [^>]*href="([^"]+)"')


def must_show(executed: nbformat.NotebookNode) -> dict:
    """What the page of an executed copy must show: its plots, its exercise verdicts, its diagrams."""
    outputs = [o for c in executed.cells for o in c.get("outputs", [])]
    records = {k: v for o in outputs for k, v in o.get("data", {}).get(MIME, {}).items()}
    return {
        "plots": sum("image/png" in o.get("data", {}) for o in outputs),
        "verdicts": {k.removeprefix("exercise."): v for k, v in records.items() if k.startswith("exercise.")},
        "diagrams": sum(c.source.count("```mermaid") for c in executed.cells if c.cell_type == "markdown"),
    }


def verify(page: Path, must: dict) -> list[str]:
    text = page.read_text()
    problems = []
    if len(PNG.findall(text)) < must["plots"]:
        problems.append(f"{len(PNG.findall(text))} of {must['plots']} plots")
    for key, status in must["verdicts"].items():
        if status != "correct" or f"{key}: correct" not in text:
            problems.append(f"exercise {key}: {status!r} in the executed copy, the page shows no 'correct' verdict")
    diagrams = text.count('<pre class="mermaid">')
    if diagrams != must["diagrams"]:
        problems.append(f"{diagrams} of {must['diagrams']} Mermaid diagrams")
    return problems


def broken_links(page: Path, out: Path) -> list[str]:
    """Links to the site's own files that point at nothing."""
    targets = [html.unescape(h).split("#")[0] for h in HREF.findall(page.read_text())]
    return [
        f"link to {t}, which is not in the site"
        for t in targets
        if t and not re.match(r"[a-z]+:", t) and not (out / t).is_file()
    ]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tools.site", description=__doc__.split("\n\n")[0])
    parser.add_argument("--copies", type=Path, default=COPIES, help="the executed copies (default: test-output/)")
    parser.add_argument("--out", type=Path, default=SITE, help="where to write the site (default: site/)")
    args = parser.parse_args(argv)
    started = time.monotonic()
    try:
        pages = build(args.copies, args.out)
    except (NotChecked, NotShown) as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    size = sum(f.stat().st_size for f in args.out.rglob("*") if f.is_file())
    for page in pages:
        print(f"{page.stat().st_size / 1e6:6.2f} MB  {page}")
    print(
        f"{len(pages)} pages, {size / 1e6:.1f} MB in {args.out}, built in {time.monotonic() - started:.1f} s; "
        f"open {args.out / 'index.html'}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
