"""Throughput tables and plots for the Performance notebook; its claims rules are helpers/claims.py.

Scaffolding only: the loops being measured (publish, request, JetStream publish) are written in the
notebook; this module turns the rates it measured into tables and pictures.

    table = rates_table({("nats-py", 128): [750_000.0, 731_000.0], ("raw wire", 128): [...]})
    throughput_plot(table)      # messages/s and MB/s against payload size, one line per publisher
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import pandas as pd


def best(rates: Sequence[float]) -> float:
    """The best of several timed rounds. Load from other programs only ever slows a round down, so the
    fastest round is the one least disturbed (the reasoning behind `timeit`'s minimum)."""
    return max(rates)


def rates_table(rates: Mapping[tuple[str, int], Sequence[float]]) -> pd.DataFrame:
    """{(publisher, payload bytes): [messages/s per round]} -> one row per payload size, for each publisher
    the best round in messages/s and MB/s, and the spread between its rounds (worst / best)."""
    rows: dict[int, dict[str, float]] = {}
    for (who, size), values in rates.items():
        row = rows.setdefault(size, {})
        row[f"{who} (msg/s)"] = round(best(values))
        row[f"{who} (MB/s)"] = round(best(values) * size / 1e6, 1)
        row[f"{who} worst/best"] = round(min(values) / best(values), 2)
    table = pd.DataFrame.from_dict(rows, orient="index").sort_index()
    table.index.name = "payload (bytes)"
    return table


def throughput_plot(table: pd.DataFrame, title: str | None = None):
    """Messages/s (left) and MB/s (right) against payload size, log scales, one line per publisher."""
    import matplotlib.pyplot as plt

    publishers = [c.removesuffix(" (msg/s)") for c in table.columns if c.endswith(" (msg/s)")]
    fig, (left, right) = plt.subplots(1, 2, figsize=(11, 3.6))
    for who in publishers:
        left.plot(table.index, table[f"{who} (msg/s)"], marker="o", label=who)
        right.plot(table.index, table[f"{who} (MB/s)"], marker="o", label=who)
    for ax, unit in ((left, "messages per second"), (right, "MB per second")):
        ax.set_xscale("log", base=2)
        ax.set_xticks(list(table.index), [_bytes(size) for size in table.index])
        ax.set_yscale("log")
        ax.set_xlabel("payload (bytes, log scale)")
        ax.set_ylabel(f"{unit} (log scale)")
        ax.grid(True, which="both", alpha=0.3)
        ax.legend(fontsize=8)
    if title:
        fig.suptitle(title, fontsize=11)
    fig.tight_layout()
    return fig


def _bytes(size: int) -> str:
    return f"{size // 1024} KiB" if size >= 1024 and size % 1024 == 0 else f"{size} B"
