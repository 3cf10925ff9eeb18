"""Honest minutes: how long a notebook takes a learner, computed by one stated rule and shown as a range.

The rule, per section (a `## ` heading; the header and anything before the first heading count as core):
- reading prose: words of markdown (the Time, Navigation and Next lines that `make nav` writes excluded) at
  130 words a minute, a careful pace for technical text;
- reading code: every line of code a learner sees, in code cells and in fenced blocks of markdown (Mermaid
  diagrams included), at 6 seconds a line; collapsed cells (bookkeeping, solutions) are not read;
- running: 20 seconds per visible code cell to run it and look at what it shows (not the parameters cell,
  nor the one-line checker calls);
- exercises: 12 minutes for one where the learner writes client calls (its solution awaits something),
  6 minutes for a decision (read the prompt, answer, check, retry).
A section whose heading starts with "Deep dive:" counts as a deep dive; everything else is core. The range
runs from that estimate to 1.3 times it (a learner who tries things, or reads slowly), each end rounded to
5 minutes. Workshops report real minutes on the progress board: use them to recalibrate these constants.
"""

from __future__ import annotations

import math
import re

WORDS_PER_MINUTE = 130
SECONDS_PER_CODE_LINE = 6
SECONDS_PER_CODE_CELL = 20
MINUTES_PER_CODE_EXERCISE = 12
MINUTES_PER_DECISION = 6
SPREAD = 1.3
CORE_LIMIT = 45  # the low end of a core's range; past it, split the notebook or move what is not core
RULE = (
    f"prose at {WORDS_PER_MINUTE} words a minute, code at {SECONDS_PER_CODE_LINE} s a line, "
    f"{SECONDS_PER_CODE_CELL} s per code cell to run and look at, {MINUTES_PER_CODE_EXERCISE} minutes per exercise "
    f"that writes client calls and {MINUTES_PER_DECISION} per decision; the range runs to {SPREAD}x, "
    "rounded to 5."
)
FENCE = re.compile(r"```.*?```", re.S)
GENERATED = re.compile(r"^\*\*(Time|Navigation|Next|To resume):\*\*.*$", re.M)  # written by make nav: not reading
CHECKER_CALL = re.compile(r"(from \S+ import [^\n]+\n+)?await check_\w+\([^\n]*\)\s*")


def _lines(text: str) -> int:
    return sum(1 for line in text.splitlines() if line.strip())


def _words(text: str) -> int:
    return len(re.findall(r"[A-Za-z0-9_`'./-]+", GENERATED.sub(" ", FENCE.sub(" ", text))))


def hidden(cell: dict) -> bool:
    return bool(cell["metadata"].get("jupyter", {}).get("source_hidden"))


def _cost(cell: dict) -> float:
    """Minutes one cell takes a learner."""
    text = "".join(cell["source"])
    tags = set(cell["metadata"].get("tags", []))
    if cell["cell_type"] == "markdown":
        fenced = sum(_lines(block) - 2 for block in FENCE.findall(text))
        return _words(text) / WORDS_PER_MINUTE + fenced * SECONDS_PER_CODE_LINE / 60
    if "solution" in tags:
        return MINUTES_PER_CODE_EXERCISE if re.search(r"\bawait\b", text) else MINUTES_PER_DECISION
    if "parameters" in tags or hidden(cell) or CHECKER_CALL.fullmatch(text):
        return 0
    return (SECONDS_PER_CODE_CELL + _lines(text) * SECONDS_PER_CODE_LINE) / 60


def raw(nb: dict) -> tuple[float, float]:
    """(core, deep dives) in minutes, unrounded."""
    core = deep = 0.0
    in_deep_dive = False
    for cell in nb["cells"]:
        text = "".join(cell["source"])
        if cell["cell_type"] == "markdown" and text.startswith("## "):
            in_deep_dive = text[3:].startswith("Deep dive")
        if in_deep_dive:
            deep += _cost(cell)
        else:
            core += _cost(cell)
    return core, deep


def _round(minutes: float) -> int:
    return 5 * math.ceil(minutes / 5 - 1e-9)


def estimate(nb: dict) -> tuple[tuple[int, int], tuple[int, int]]:
    """((core low, core high), (deep low, deep high)) in minutes, each end rounded up to 5."""
    core, deep = raw(nb)
    return (_round(core), _round(core * SPREAD)), (_round(deep), _round(deep * SPREAD))


def span(low_high: tuple[int, int]) -> str:
    low, high = low_high
    return f"{low}-{high}" if high > low else f"{low}"


def time_text(nb: dict) -> str:
    core, deep = estimate(nb)
    return f"core {span(core)} min, deep dives +{span(deep)} min" if deep[0] else f"core {span(core)} min"
