"""The workshop's live progress board: learners' verdicts reach the instructor, and nothing else does.

Workshop mode is decided by the URL a checker judges against (its `server` argument), or else the URL
find_server resolved in this kernel (the course hands it to the verdict hook, room/plugin.py): a URL
whose user follows the workshop's naming rule (learner01, learner02, ...; helpers/urls.py) is a learner
in a workshop. Only then does `publish_verdict` send anything: {"learner", "exercise", "status", "time"} on
`workshop.progress` in the learner's own account. The server's export/import hands it to the
INSTRUCTOR account as `workshop.progress.<learner>` (the server, not the message, says whose it is),
where the stream WORKSHOP_PROGRESS keeps it, so a board opened late still sees the earlier verdicts.
Everywhere else (your own server, the tests' servers) nothing is published.

The board notebook (notebooks/instructor/progress-board.ipynb) subscribes to that stream, reads each
message with `decode()` and turns the verdicts into a table and a chart with `table()` and `chart()`.

What a learner can and cannot do to the board (docs/instructor-kit.md says the same):
- a learner's verdicts are theirs: the learner's name is the last token of the subject the server's import
  gave it, never a field of the body, so nobody can post in another learner's name (a body that claims
  another name is skipped and counted as forged);
- a message that is not a JSON object with a known exercise key shape, status and time, or larger than
  MAX_BYTES, is skipped and counted: the board always renders;
- a learner CAN post made-up verdicts under their own name (a correct they did not earn shows as theirs);
- the stream holds at most limits.BOARD["max_msgs_per_subject"] verdicts per learner (a flood pushes out only
  that learner's oldest), refuses a message over max_msg_size and keeps max_bytes in all.
"""

from __future__ import annotations

import asyncio
import json
import re
import time

from helpers.urls import LEARNER_USER, learner_of
from room.limits import BOARD
from room.workshop import PROGRESS_STREAM, PROGRESS_SUBJECT

STATUSES = ("correct", "wrong", "not attempted")
COLOURS = {"correct": "#1a7f37", "wrong": "#cf222e", "not attempted": "#bf8700"}
ICONS = {"correct": "✅", "wrong": "❌", "not attempted": "⏳"}
SUBJECTS = f"{PROGRESS_SUBJECT}.>"  # what the board reads in the INSTRUCTOR account
STREAM = PROGRESS_STREAM
MAX_BYTES = BOARD["max_msg_size"]  # a real verdict is about 150 bytes
EXERCISE_KEY = re.compile(r"^[a-z0-9][a-z0-9._-]{0,79}$")  # "<slug>.<name>"
TIME = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d")


class Skipped(dict):
    """Messages the board did not use, counted by reason: forged, malformed, oversized."""

    def add(self, reason: str) -> None:
        self[reason] = self.get(reason, 0) + 1


def decode(subject: str, data: bytes, skipped: Skipped | None = None) -> dict | None:
    """A verdict as the board uses it, the learner taken from the subject (workshop.progress.<learner>), or
    None (counted in `skipped`) for anything else."""

    def skip(reason):
        if skipped is not None:
            skipped.add(reason)
        return None

    learner = subject.rsplit(".", 1)[-1]
    if not subject.startswith(PROGRESS_SUBJECT + ".") or not LEARNER_USER.match(learner):
        return skip("malformed")
    if len(data) > MAX_BYTES:
        return skip("oversized")
    try:
        body = json.loads(data)
    except (ValueError, UnicodeDecodeError):
        return skip("malformed")
    if not isinstance(body, dict):
        return skip("malformed")
    if body.get("learner", learner) != learner:
        return skip("forged")
    exercise, status, when = body.get("exercise"), body.get("status"), body.get("time")
    if not (isinstance(exercise, str) and EXERCISE_KEY.match(exercise)) or status not in STATUSES:
        return skip("malformed")
    if not (isinstance(when, str) and TIME.match(when)):
        return skip("malformed")
    return {"learner": learner, "exercise": exercise, "status": status, "time": when[:40]}


async def publish_verdict(url: str | None, exercise: str, status: str, *, timeout: float = 2.0) -> bool:
    """Tell the instructor's board about a verdict, in workshop mode only (a learner's URL). Never raises:
    the board is a nice-to-have, the learner's verdict is not. Returns whether a verdict was sent."""
    learner = learner_of(url)
    if not learner:
        return False
    import nats

    body = json.dumps(
        {"learner": learner, "exercise": exercise, "status": status, "time": time.strftime("%Y-%m-%dT%H:%M:%S%z")}
    ).encode()
    try:
        nc = await nats.connect(
            url, name=f"{learner}.progress", connect_timeout=timeout, allow_reconnect=False, max_reconnect_attempts=0
        )
    except Exception:  # noqa: BLE001 - the board must never break a learner's notebook
        return False
    try:
        await nc.publish(PROGRESS_SUBJECT, body)
        return True
    except Exception:  # noqa: BLE001
        return False
    finally:
        try:  # close() writes what is still buffered before it disconnects
            await asyncio.wait_for(nc.close(), timeout)
        except Exception:  # noqa: BLE001
            pass


def latest(verdicts) -> dict:
    """The latest verdict per (learner, exercise) from decoded messages, in arrival order."""
    board = {}
    for v in verdicts:
        board[(v["learner"], v["exercise"])] = v
    return board


def table(verdicts, learners=()):
    """One row per learner: where they are (their latest verdict), counts, and one column per exercise."""
    import pandas as pd

    board = latest(verdicts)
    rows = {name: {} for name in learners}
    last = {}
    for (learner, exercise), v in sorted(board.items(), key=lambda kv: kv[1]["time"]):
        rows.setdefault(learner, {})[exercise] = ICONS.get(v["status"], v["status"])
        last[learner] = v
    frame = pd.DataFrame.from_dict(rows, orient="index").sort_index(axis=0).sort_index(axis=1).fillna("")
    summary = pd.DataFrame(
        {
            "at": {name: last[name]["exercise"] if name in last else "" for name in frame.index},
            "last verdict at": {name: last[name]["time"][11:19] if name in last else "" for name in frame.index},
            "correct": {name: int((frame.loc[name] == ICONS["correct"]).sum()) for name in frame.index},
        }
    )
    return pd.concat([summary, frame], axis=1).rename_axis("learner")


def chart(verdicts, learners=()):
    """A stacked bar per learner: how many exercises are correct, wrong, not attempted (latest verdicts)."""
    import matplotlib.pyplot as plt
    import pandas as pd

    board = latest(verdicts)
    counts = pd.DataFrame(0, index=sorted({*learners, *(k[0] for k in board)}), columns=list(STATUSES))
    for (learner, _), v in board.items():
        if v["status"] in counts.columns:
            counts.loc[learner, v["status"]] += 1
    fig, ax = plt.subplots(figsize=(8, 0.35 * max(len(counts), 3) + 1.5), layout="constrained")
    counts.plot.barh(stacked=True, ax=ax, color=[COLOURS[s] for s in STATUSES], width=0.7)
    ax.invert_yaxis()
    ax.set_xlabel("exercises (latest verdict each)")
    ax.set_title("Progress by learner")
    ax.set_xlim(0, max(int(counts.sum(axis=1).max()), 1))
    ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.12), ncol=3, frameon=False)
    plt.close(fig)
    return fig
