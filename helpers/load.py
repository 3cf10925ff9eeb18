"""A load generator for comparing two versions of a service under the same traffic, and its tables and plots.

`drive()` sends orders at a **fixed arrival rate**, in phases (for example a base rate, then +15 %, then
+50 %), with **bounded concurrency**. The caller writes the call that places one order (`place(order_id)`,
raising when the order fails): this module only decides when to call it and times what happens.

- Open loop: order i is due at `i / rate` seconds, whether or not earlier orders have been answered, as
  users arrive whether or not the site is slow. A slow service therefore faces a growing crowd, not a
  politely waiting client (a generator that waits for each answer before sending the next hides overload).
- Latency is counted from the moment an order was due, not from when the generator got round to sending
  it, so a late generator cannot hide a slow service either.
- Bounded: at most `concurrency` orders in flight; one that is due while all are in flight is not sent and
  counts as "rejected" (a full front door). Every order has `timeout` seconds (the user's patience), after
  which it counts as "timed out".

    results = await drive(place, [("base", 30, 2.0), ("+15 %", 34.5, 2.0)], concurrency=64, timeout=1.0,
                          prefix="a-1")
    phase_table({"A": results_a, "B": results_b})
    over_time({"A": results_a, "B": results_b})

`until_idle()` waits for an HTTP service to finish the work it still holds. Latency distributions are
helpers.latency's (`cdf()`).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence

import numpy as np
import pandas as pd

from helpers.latency import percentiles

OUTCOMES = ("placed", "failed", "timed out", "rejected")
COLOURS = {"A": "#c44e52", "B": "#4c72b0", "B sync": "#8172b2"}


async def drive(
    place: Callable[[str], Awaitable],
    phases: Sequence[tuple[str, float, float]],
    *,
    concurrency: int,
    timeout: float,
    prefix: str,
) -> pd.DataFrame:
    """Call `place(order_id)` at each phase's rate (orders/s) for its duration (s), one phase after another.

    Returns one row per order: order id, phase, `due` (seconds from the start), `seconds` (from due to
    answer, failure or timeout; 0 for a rejected one), `outcome` (one of OUTCOMES) and `error` (why it failed).
    """
    rows, tasks, in_flight = [], set(), [0]
    start = time.perf_counter()

    async def one(order_id: str, phase: str, due: float) -> None:
        in_flight[0] += 1
        outcome, error = "placed", ""
        try:
            await asyncio.wait_for(place(order_id), max(0.0, start + due + timeout - time.perf_counter()))
        except TimeoutError:  # asyncio's, and nats' and aiohttp's, which are TimeoutErrors too
            outcome = "timed out"
        except Exception as e:  # the order failed: say why
            outcome, error = "failed", f"{type(e).__name__}: {e}"[:200]
        finally:
            in_flight[0] -= 1
        rows.append((order_id, phase, due, time.perf_counter() - start - due, outcome, error))

    due, n = 0.0, 0
    for phase, rate, seconds in phases:
        end = due + seconds
        while due < end - 1e-9:
            if (wait := start + due - time.perf_counter()) > 0:
                await asyncio.sleep(wait)
            order_id = f"{prefix}-{n:05d}"
            if in_flight[0] >= concurrency:
                rows.append((order_id, phase, due, 0.0, "rejected", f"{concurrency} orders in flight"))
            else:
                task = asyncio.create_task(one(order_id, phase, due))
                tasks.add(task)
                task.add_done_callback(tasks.discard)
            due, n = due + 1 / rate, n + 1
        due = end
    if tasks:
        await asyncio.wait(set(tasks))  # each ends by its own timeout
    return pd.DataFrame(rows, columns=["order", "phase", "due", "seconds", "outcome", "error"]).sort_values(
        "due", ignore_index=True
    )


async def until_idle(session, url: str, field: str, poll: float = 0.05) -> None:
    """Poll a service's JSON health endpoint (GET `url`, with an aiohttp `session`) until `field` is 0: the
    service has finished the work it holds (an HTTP server goes on with requests whose callers gave up).
    Unbounded: wrap it in asyncio.wait_for()."""
    while True:
        async with session.get(url) as response:
            if (await response.json())[field] == 0:
                return
        await asyncio.sleep(poll)


def ms(samples: Sequence[float], q: float) -> float:
    """The q-th percentile of samples in seconds, in milliseconds (helpers.latency.percentiles)."""
    return round(percentiles(samples, [q])[f"p{q:g}"] / 1000, 1)


def phase_table(results: Mapping[str, pd.DataFrame]) -> pd.DataFrame:
    """One row per version and phase: orders, their outcomes, the error share, and p50/p90 of what users
    waited (every order but the rejected: a timed-out one waited its whole timeout)."""
    rows = []
    for version, df in results.items():
        for phase, part in df.groupby("phase", sort=False):
            waited = part.loc[part["outcome"] != "rejected", "seconds"]
            counts = part["outcome"].value_counts()
            rows.append(
                {
                    "version": version,
                    "phase": phase,
                    "orders": len(part),
                    **{o: int(counts.get(o, 0)) for o in OUTCOMES},
                    "errors %": round(100 * (1 - counts.get("placed", 0) / len(part)), 1),
                    "p50 ms": ms(waited, 50) if len(waited) else np.nan,
                    "p90 ms": ms(waited, 90) if len(waited) else np.nan,
                }
            )
    return pd.DataFrame(rows).set_index(["version", "phase"])


def over_time(results: Mapping[str, pd.DataFrame], bin_seconds: float = 0.5, title: str | None = None):
    """Two panels against time (when each order was due): what users waited (p50 and p90 per bin, log
    scale) and the share of orders that failed, timed out or were rejected. Phases are marked."""
    import matplotlib.pyplot as plt

    fig, (top, bottom) = plt.subplots(2, 1, figsize=(9, 5), sharex=True, height_ratios=[3, 2])
    for version, df in results.items():
        colour = COLOURS.get(version)
        bins = (df["due"] // bin_seconds) * bin_seconds + bin_seconds / 2
        waited = df[df["outcome"] != "rejected"].groupby(bins)["seconds"]
        top.plot(waited.quantile(0.9) * 1000, color=colour, label=f"{version}: p90")
        top.plot(waited.median() * 1000, color=colour, ls="--", lw=1, label=f"{version}: p50")
        errors = 100 * (df["outcome"] != "placed").groupby(bins).mean()
        bottom.plot(errors, color=colour, marker="o", ms=3, label=version)
    df = next(iter(results.values()))
    for phase, part in df.groupby("phase", sort=False):
        for ax in (top, bottom):
            ax.axvline(part["due"].min(), color="grey", lw=0.8, ls=":")
        top.annotate(
            phase,
            (part["due"].min(), 1),
            xycoords=("data", "axes fraction"),
            xytext=(3, -12),
            textcoords="offset points",
            fontsize=8,
            color="grey",
        )
    top.set_yscale("log")
    top.set_ylabel("waited (ms, log scale)")
    top.legend(fontsize=8, ncol=2, loc="upper left", bbox_to_anchor=(0, 0.92))
    bottom.set_ylabel("errors (%)")
    bottom.set_ylim(-5, 105)
    bottom.set_xlabel("seconds since the first order was due")
    bottom.legend(fontsize=8, loc="upper left")
    if title:
        fig.suptitle(title, fontsize=11)
    fig.tight_layout()
    return fig
