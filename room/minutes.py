"""Real minutes from a workshop: how long each learner took per notebook, read from the progress board's
verdicts, next to the minutes the rule states (tools/minutes.py). The instructor's kit says how to use them
to recalibrate the rule.

A learner's minutes for a notebook run from their last verdict in the notebook they did before it (in course
order) to their last verdict in this one: the exercises close each notebook, so that span covers reading,
running and the exercises. The first notebook a learner did has no start and is left out, and so is a span
over a break (more than `longest` minutes).
"""

from __future__ import annotations

from datetime import datetime

from tools import navigation


def _slug(exercise: str) -> str:
    return exercise.split(".", 1)[0]


def per_learner(verdicts, longest: float = 120.0):
    """A table: one row per learner, one column per notebook slug, minutes (blank where unknown)."""
    import pandas as pd

    order = [nb.path.stem.split("-", 1)[1] for nb in navigation.notebooks()]
    last: dict[tuple[str, str], datetime] = {}
    for v in verdicts:
        try:  # a learner writes the time field: one that does not parse is left out, never breaks the board
            at = datetime.fromisoformat(v["time"])
        except (TypeError, ValueError):
            continue
        key = (v["learner"], _slug(v["exercise"]))
        last[key] = max(at, last.get(key, at))
    rows: dict[str, dict[str, float]] = {}
    for learner in sorted({learner for learner, _ in last}):
        done = [slug for slug in order if (learner, slug) in last]
        for before, slug in zip(done, done[1:], strict=False):
            minutes = (last[(learner, slug)] - last[(learner, before)]).total_seconds() / 60
            if 0 < minutes <= longest:
                rows.setdefault(learner, {})[slug] = round(minutes, 1)
    return pd.DataFrame.from_dict(rows, orient="index").reindex(
        columns=[s for s in order if any(s in r for r in rows.values())]
    )


def summary(verdicts, longest: float = 120.0):
    """Per notebook: learners measured, median and spread (25th-75th percentile) of real minutes, and the
    range the header states."""
    import pandas as pd

    frame = per_learner(verdicts, longest)
    stated = {nb.path.stem.split("-", 1)[1]: nb.core for nb in navigation.notebooks()}
    return pd.DataFrame(
        {
            "learners": frame.count(),
            "median": frame.median().round(1),
            "25%": frame.quantile(0.25).round(1),
            "75%": frame.quantile(0.75).round(1),
            "stated core": {slug: f"{lo}-{hi}" for slug, (lo, hi) in stated.items() if slug in frame.columns},
        }
    ).rename_axis("notebook")
