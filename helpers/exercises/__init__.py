"""The exercise mechanism: a checker per exercise, one verdict each time.

A checker is a function (sync or async) decorated with `@exercise(key, hint)`
that raises `Wrong("what to look at")` for a wrong answer and returns a short
"why it is right" otherwise. Calling the decorated checker with the learner's
answer shows the verdict, records it for the tests, and never raises, so
"Run All" always completes:

- the answer is `...` (untouched) or a function that returns `...`:
  "not attempted yet" and the hint;
- the checker raises `Wrong`, an exception, or runs past its timeout:
  "not quite" and what to look at;
- otherwise: "correct".

The checkers for notebook NN live in `helpers/exercises/<slug>.py`.
"""

from __future__ import annotations

import asyncio
import functools
import html
import inspect
from dataclasses import dataclass

import nats.js.errors

from helpers.record import record


async def delete_if_exists(delete, name: str) -> None:
    """Await `delete(name)` (js.delete_stream, js.delete_key_value, js.delete_object_store): checkers
    start from a clean asset and remove it afterwards; a missing one is fine."""
    try:
        await delete(name)
    except nats.js.errors.NotFoundError:
        pass


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
        return (f'<div style="border-left:4px solid {colour};padding:4px 8px">{icon} <b>{self.key}: '
                f"{self.status}</b><br>{html.escape(self.message)}</div>")

    def __str__(self) -> str:
        return f"{self.key}: {self.status}: {self.message}"


async def attempt(answer, *args, timeout: float = 5.0):
    """Call the learner's (async) function with a timeout; `...` as a result means untouched."""
    if answer is ... or answer is None:
        raise NotAttempted
    result = answer(*args)
    if inspect.isawaitable(result):
        result = await asyncio.wait_for(result, timeout)
    if result is ...:
        raise NotAttempted
    return result


def exercise(key: str, hint: str, timeout: float = 10.0):
    """Turn `check(answer, ...)` into a checker that returns a displayed, recorded Verdict."""

    def wrap(check):
        @functools.wraps(check)
        async def run(answer, *args, show: bool = True, **kwargs) -> Verdict | None:
            """Judge `answer`; show and record the verdict (notebooks), or return it (`show=False`, tests)."""
            verdict = await _judge(key, hint, timeout, check, answer, *args, **kwargs)
            if not show:
                return verdict
            from IPython.display import display

            display(verdict)
            record(f"exercise.{key}", verdict.status)
            return None  # shown once: a returned verdict would be displayed again as the cell's result

        run.key, run.hint = key, hint
        return run

    return wrap


async def _judge(key, hint, timeout, check, answer, *args, **kwargs) -> Verdict:
    try:
        if answer is ...:
            raise NotAttempted
        result = check(answer, *args, **kwargs)
        if inspect.isawaitable(result):
            result = await asyncio.wait_for(result, timeout)
    except NotAttempted:
        return Verdict(key, "not attempted", f"Not attempted yet. Hint: {hint}")
    except Wrong as e:
        return Verdict(key, "wrong", f"Not quite: {e}")
    except Exception as e:  # the learner's code failed: say how, do not stop Run All
        if type(e) is TimeoutError:  # from wait_for here; a client's timeout is a subclass
            return Verdict(key, "wrong", f"Not quite: it did not finish within {timeout} s. "
                                         "Does every wait in your code have a timeout?")
        return Verdict(key, "wrong", f"Not quite: your code raised {type(e).__name__}: {e}")
    return Verdict(key, "correct", result or "Correct.")
