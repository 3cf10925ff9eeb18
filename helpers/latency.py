"""Latency measurement: time many calls, summarise percentiles, plot histograms.

Samples are seconds (differences of `time.perf_counter()`); tables and plots
show microseconds, the unit loopback latencies are read in.

    samples = await measure(lambda: nc.request("svc", b"x", timeout=1), n=1000)
    summary({"NATS": samples})            # n, p50, p90, p99, max in µs
    histograms({"NATS": samples, "HTTP": other})
    cdf({"NATS": samples, "HTTP": other})  # every run on one axis: which is faster, and where

The call under test is written by the caller: this module only holds the stopwatch.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable, Mapping, Sequence

import numpy as np
import pandas as pd

QUANTILES = (50, 90, 99)


async def measure(call: Callable[[], Awaitable], n: int, warmup: int = 50) -> list[float]:
    """Await `call()` `warmup` times untimed, then `n` times one after another; seconds per call."""
    for _ in range(warmup):
        await call()
    samples = []
    for _ in range(n):
        started = time.perf_counter()
        await call()
        samples.append(time.perf_counter() - started)
    return samples


def percentiles(samples: Sequence[float], qs: Sequence[float] = QUANTILES) -> dict[str, float]:
    """{"p50": µs, "p90": µs, ...} of samples given in seconds."""
    if len(samples) == 0:
        raise ValueError("no samples")
    values = np.percentile(np.asarray(samples) * 1e6, qs)
    return {f"p{q:g}": round(float(v), 1) for q, v in zip(qs, values, strict=True)}


def summary(runs: Mapping[str, Sequence[float]], qs: Sequence[float] = QUANTILES) -> pd.DataFrame:
    """One row per run: sample count, percentiles and max, in µs."""
    rows = {name: {"n": len(s), **percentiles(s, qs), "max": round(max(s) * 1e6, 1)} for name, s in runs.items()}
    table = pd.DataFrame.from_dict(rows, orient="index")
    table.columns = ["n"] + [f"{c} (µs)" for c in table.columns[1:]]
    return table


def histograms(
    runs: Mapping[str, Sequence[float]], qs: Sequence[float] = QUANTILES, bins: int = 60, title: str | None = None
):
    """Side-by-side histograms on one logarithmic µs axis, so that the typical call and the slow tail
    both show; a vertical line per percentile."""
    import matplotlib.pyplot as plt

    data = {name: np.asarray(s) * 1e6 for name, s in runs.items()}
    low = min(d.min() for d in data.values())
    high = max(d.max() for d in data.values())
    edges = np.geomspace(low * 0.95, high * 1.05, bins + 1)
    fig, axes = plt.subplots(1, len(data), figsize=(5.5 * len(data), 3.2), sharex=True, squeeze=False)
    colours = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    styles = ("-", "--", ":", "-.")
    for i, (name, d) in enumerate(data.items()):
        ax = axes[0][i]
        ax.hist(d, bins=edges, color=colours[i % len(colours)], alpha=0.8, label=f"{len(d)} calls")
        for j, (label, value) in enumerate(percentiles(d / 1e6, qs).items()):
            ax.axvline(
                value, color="black", linestyle=styles[j % len(styles)], linewidth=1, label=f"{label} {value:.0f} µs"
            )
        ax.set_xscale("log")
        ax.set_title(name, fontsize=10)
        ax.set_xlabel("latency (µs, log scale)")
        ax.legend(fontsize=8)
    axes[0][0].set_ylabel("calls")
    if title:
        fig.suptitle(title, fontsize=11)
    fig.tight_layout()
    return fig


def cdf(runs: Mapping[str, Sequence[float]], qs: Sequence[float] = QUANTILES, title: str | None = None):
    """Cumulative distributions on one logarithmic µs axis: for each latency, the share of calls that
    took at most that long. Curves further left are faster; where two curves cross, one transport wins
    the typical call and the other the tail. Dotted lines mark the percentiles `qs`."""
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(8, 4))
    for name, s in runs.items():
        d = np.sort(np.asarray(s) * 1e6)
        ax.step(d, np.arange(1, len(d) + 1) / len(d), where="post", label=f"{name}: p50 {np.percentile(d, 50):.0f} µs")
    for q in qs:
        ax.axhline(q / 100, color="grey", linestyle=":", linewidth=0.8)
        ax.annotate(
            f"p{q:g}",
            (0.005, q / 100),
            xycoords=("axes fraction", "data"),
            fontsize=8,
            va="top",
            ha="left",
            color="grey",
        )
    ax.set_xscale("log")
    ax.set_xlabel("latency (µs, log scale)")
    ax.set_ylabel("share of calls at most this slow")
    ax.set_ylim(0, 1.01)
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=8, loc="center right")
    if title:
        ax.set_title(title, fontsize=11)
    fig.tight_layout()
    return fig
