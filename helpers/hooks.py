"""Where workshop mode plugs into the course, without the course importing it.

Two hooks, both empty outside a workshop:
- `verdict(url, key, status)`: every exercise verdict, with the URL it was judged against (the room sends
  a learner's verdicts to the instructor's progress board);
- `advice(error, url)`: one sentence on a NATS error a learner's code raised (the room explains a used-up
  account limit or a subject no one in the learner's account serves).

Plug-ins register through the `nats_in_notebooks.hooks` entry point group (pyproject.toml): each names a
function that is called once with this module, so it can append to VERDICT and ADVICE.
"""

from __future__ import annotations

import functools
import importlib.metadata
from collections.abc import Awaitable, Callable

VERDICT: list[Callable[[str | None, str, str], Awaitable[object]]] = []
ADVICE: list[Callable[[BaseException, str | None], str | None]] = []
GROUP = "nats_in_notebooks.hooks"


@functools.cache
def load() -> None:
    """Install every registered plug-in, once per process."""
    import sys

    for point in importlib.metadata.entry_points(group=GROUP):
        point.load()(sys.modules[__name__])


async def verdict(url: str | None, key: str, status: str) -> None:
    """Hand a verdict to the plug-ins; a failing plug-in never breaks a learner's notebook."""
    load()
    for hook in VERDICT:
        try:
            await hook(url, key, status)
        except Exception:  # noqa: BLE001, S110 - the board is a nice-to-have, the verdict is not
            pass


def advice(error: BaseException, url: str | None) -> str | None:
    """The first plug-in's advice on `error`, or None."""
    load()
    for hook in ADVICE:
        text = hook(error, url)
        if text:
            return text
    return None
