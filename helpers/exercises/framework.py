"""The exercise mechanism: a checker per exercise, one verdict each time.

A checker is a function (sync or async) decorated with `@exercise(hints=(first, second))`
that raises `Wrong("what the server saw")` for a wrong answer and returns a short
"why it is right" otherwise. Calling the decorated checker with the learner's
answer shows the verdict, records it for the tests, and never raises, so
"Run All" always completes:

- the answer is `...` (untouched) or a function that returns `...`: "not attempted yet";
- the checker raises `Wrong`, an exception, or runs past its timeout: "not quite" and what to look
  at; the first wrong answer adds the first hint, the second the second, and so on (then: the
  reference solution is in the collapsed cell below yours);
- otherwise: "correct".

Conventions (one for every notebook): the checkers for notebook `NN-some-slug` live in
`helpers/exercises/some_slug.py`; a checker is named `check_<name>` after the learner's function (or
variable) `<name>` it judges, its key is `"some-slug.<name>"` (from the module: renumbering a notebook
changes no key), and its signature is `check_<name>(answer, server, *, option=default, ...)`, where
`server` has `.url` and `.monitor_url`. The notebook calls `await check_<name>(<name>, server)`.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import html
import inspect
import os
import traceback
from dataclasses import dataclass

import nats
import nats.js.errors

from helpers import hooks
from helpers.record import record
from helpers.server import advice as server_advice
from helpers.server import found_url

_HELPERS = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


async def delete_if_exists(delete, name: str) -> None:
    """Await `delete(name)` (js.delete_stream, js.delete_key_value, js.delete_object_store): checkers
    start from a clean asset and remove it afterwards; a missing one is fine."""
    try:
        await delete(name)
    except nats.js.errors.NotFoundError:
        pass


async def quiet(error: Exception) -> None:
    """An error_cb for a checker's own connections: nats-py logs every connection error with a traceback when
    none is given, and a learner must see the verdict, not the checker's plumbing."""


@contextlib.asynccontextmanager
async def jetstream(server, name: str, timeout: float = 5.0):
    """For a checker that needs JetStream: a connection of its own named `name`, and its JetStream context;
    the connection is closed afterwards."""
    nc = await nats.connect(server.url, name=name, connect_timeout=timeout, error_cb=quiet)
    try:
        yield nc.jetstream(timeout=timeout)
    finally:
        await nc.close()


class Wrong(Exception):
    """Raised by a checker: the message says what to look at."""


class NotAttempted(Exception):
    """The learner's cell is still the untouched template."""


@dataclass
class Verdict:
    key: str
    status: str  # "correct" | "wrong" | "not attempted"
    message: str

    @property
    def ok(self) -> bool:
        return self.status == "correct"

    def _repr_html_(self) -> str:
        icon, colour = {"correct": ("✅", "#1a7f37"), "wrong": ("❌", "#cf222e")}.get(self.status, ("⏳", "#9a6700"))
        return (
            f'<div style="border-left:4px solid {colour};padding:4px 8px">{icon} <b>{self.key}: '
            f"{self.status}</b><br>{html.escape(self.message)}</div>"
        )

    def __str__(self) -> str:
        return f"{self.key}: {self.status}: {self.message}"


def untouched(answer) -> bool:
    """Is `answer` still the exercise's template? `...`, a function whose body only says `return ...`, or a
    dict of such templates.

    Judged from the compiled body, not from what it returns: a learner who writes the calls and keeps
    the template's last line `return ...` has made an attempt, and is judged on what the calls did.
    """
    if answer is ... or answer is None:
        return True
    if isinstance(answer, dict):  # a template such as {"f": f, "patterns": {"a": ..., "b": ...}}
        return bool(answer) and all(untouched(value) for value in answer.values())
    code = getattr(answer, "__code__", None)
    return (
        code is not None
        and not code.co_names
        and Ellipsis in code.co_consts
        and set(code.co_consts) <= {None, Ellipsis}
    )  # `return None` or `pass` instead: an attempt


async def attempt(answer, *args, timeout: float = 5.0):
    """Call the learner's (async) function with a timeout; the untouched template is NotAttempted."""
    if untouched(answer):
        raise NotAttempted
    result = answer(*args)
    if inspect.isawaitable(result):
        result = await asyncio.wait_for(result, timeout)
    return result


def key_for(module: str, name: str) -> str:
    """`helpers.exercises.queue_groups`, `groups` -> `queue-groups.groups`: the notebook's slug, not its number."""
    return f"{module.rsplit('.', 1)[-1].replace('_', '-')}.{name}"


WRONG_SO_FAR: dict[str, int] = {}  # wrong answers per exercise in this kernel: which hint comes next


def hint_after(key: str, hints: tuple[str, ...]) -> str:
    """The next hint after one more wrong answer; once they are used up, where the solution is."""
    n = WRONG_SO_FAR[key] = WRONG_SO_FAR.get(key, 0) + 1
    if n <= len(hints):
        return f" Hint {n} of {len(hints)}: {hints[n - 1]}"
    return " The reference solution is in the collapsed cell below yours (click its ··· to open it)."


def exercise(hint: str | None = None, *, hints: tuple[str, ...] = (), timeout: float = 10.0, key: str | None = None):
    """Turn `check(answer, ...)` into a checker that returns a displayed, recorded Verdict.

    `hints` come one per wrong answer, in order (`hint` is one hint). `key` is for tests only: a notebook's
    checker takes its key from its module and name (`key_for`)."""
    hints = (hint,) if hint else tuple(hints)

    def wrap(check):
        if not check.__name__.startswith("check_"):
            raise ValueError(f"checker {check.__name__}: name it check_<name>, <name> being what the learner defines")
        name = check.__name__.removeprefix("check_")
        full_key = key or key_for(check.__module__, name)

        @functools.wraps(check)
        async def run(answer, *args, show: bool = True, **kwargs) -> Verdict | None:
            """Judge `answer`; show and record the verdict (notebooks), or return it (`show=False`, tests)."""
            url = url_of(args[0] if args else kwargs.get("server")) or found_url()
            verdict = await _judge(full_key, hints, timeout, url, check, answer, *args, **kwargs)
            await hooks.verdict(url, full_key, verdict.status)  # workshop mode: the instructor's board
            if not show:
                return verdict
            from IPython.display import display

            display(verdict)
            record(f"exercise.{full_key}", verdict.status)
            return None  # shown once: a returned verdict would be displayed again as the cell's result

        run.key, run.hints = full_key, hints
        return run

    return wrap


def url_of(server_arg) -> str | None:
    """A checker's server argument: an object with `.url`, or the URL itself."""
    url = getattr(server_arg, "url", server_arg)
    return url if isinstance(url, str) else None


def _where(error: BaseException) -> str:
    """The learner's line that raised: the last traceback frame outside the course's and the libraries' code."""
    frames = [
        f
        for f in traceback.extract_tb(error.__traceback__)
        if not any(part in f.filename for part in (_HELPERS, "site-packages", "/lib/python"))
    ]
    if not frames:
        return ""
    frame = frames[-1]
    return f" (at line {frame.lineno} of your cell: `{(frame.line or '').strip()}`)"


async def _judge(key, hints, timeout, url, check, answer, *args, **kwargs) -> Verdict:
    try:
        if untouched(answer):
            raise NotAttempted
        result = check(answer, *args, **kwargs)
        if inspect.isawaitable(result):
            result = await asyncio.wait_for(result, timeout)
    except NotAttempted:
        return Verdict(key, "not attempted", "Not attempted yet: write your answer in the cell above, then run this.")
    except Wrong as e:
        return Verdict(key, "wrong", f"Not quite: {e}" + hint_after(key, hints))
    except Exception as e:  # the learner's code failed: say how, do not stop Run All
        if type(e) is TimeoutError:  # from wait_for here; a client's timeout is a subclass
            message = f"it did not finish within {timeout} s. Does every wait in your code have a timeout?"
        else:
            advice = server_advice(e, url)  # a wrong password; in a workshop, the room's advice
            message = f"your code raised {type(e).__name__}: {e}{_where(e)}" + (f" {advice}" if advice else "")
        return Verdict(key, "wrong", f"Not quite: {message}" + hint_after(key, hints))
    return Verdict(key, "correct", result or "Correct.")
