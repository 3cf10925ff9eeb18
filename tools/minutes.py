"""Honest minutes: how long a notebook takes a learner, computed by one stated rule.

The rule, per section (a `## ` heading; the header and anything before the first heading count as core):
- reading: words of markdown (code blocks, diagrams and the Time, Navigation and Next lines that `make nav`
  writes excluded) at 180 words a minute;
- running: 1 minute per code cell a learner reads, runs and looks at (not the parameters cell, nor the
  hidden solution cells, nor the one-line checker calls);
- exercises: 6 minutes per exercise (one per solution cell): read the prompt, write, check, retry.
A section whose heading starts with "Deep dive:" counts as a deep dive; everything else is core. Each total
is rounded up to 5 minutes. The header says "**Time:** core N min, deep dives +M min" (or "core N min"),
and `make nav` writes it from this rule.
"""

from __future__ import annotations

import math
import re

WORDS_PER_MINUTE = 180
MINUTES_PER_CODE_CELL = 1
MINUTES_PER_EXERCISE = 6
RULE = (
    f"reading at {WORDS_PER_MINUTE} words a minute, {MINUTES_PER_CODE_CELL} minute per code cell to read, run "
    f"and look at, {MINUTES_PER_EXERCISE} minutes per exercise; core and deep dives each rounded up to 5."
)
FENCE = re.compile(r"```.*?```", re.S)
GENERATED = re.compile(r"^\*\*(Time|Navigation|Next):\*\*.*$", re.M)  # lines `make nav` writes: not reading


def _words(text: str) -> int:
    return len(re.findall(r"[A-Za-z0-9_`'./-]+", GENERATED.sub(" ", FENCE.sub(" ", text))))


def _cost(cell: dict) -> float:
    text = "".join(cell["source"])
    tags = set(cell["metadata"].get("tags", []))
    if cell["cell_type"] == "markdown":
        return _words(text) / WORDS_PER_MINUTE
    if "solution" in tags:
        return MINUTES_PER_EXERCISE
    if "parameters" in tags or re.fullmatch(r"(from \S+ import [^\n]+\n+)?await check_\w+\([^\n]*\)\s*", text):
        return 0
    return MINUTES_PER_CODE_CELL


def estimate(nb: dict) -> tuple[int, int]:
    """(core minutes, deep-dive minutes), each rounded up to 5."""
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
    return 5 * math.ceil(core / 5), 5 * math.ceil(deep / 5)


def time_text(nb: dict) -> str:
    core, deep = estimate(nb)
    return f"core {core} min, deep dives +{deep} min" if deep else f"core {core} min"
