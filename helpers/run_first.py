"""Cells run out of order, or twice: say in one plain sentence which cell to run first.

A learner jumps to a section, comes back tomorrow, or runs a cell again. A cell that cannot simply run
again raises `RunFirst("Run the cell that starts the workers (under 'Three billing workers') first.")`
instead of a raw KeyError or ConnectionClosedError from deep inside a library.
"""


class RunFirst(RuntimeError):
    """One sentence: which cell to run first."""

    def _render_traceback_(self):  # IPython shows just the sentence, not a traceback
        return [f"RunFirst: {self}"]
