"""Acceptance: the JetStream notebooks 05-08 run in any order against ONE server.

Each notebook owns its JetStream asset names (05 `SALES`/`NB05_`, 06 `INVOICES`/`NB06_`, 07 `nb07-`,
08 `nb08-`) and cleans up or resets what it creates, so neither the order nor a leftover from an
earlier run may matter. Here they run in reverse order on one server; tests/test_notebooks.py runs each
in order twice on one server; together, any order and twice.
"""

import pytest

from tests.harness import execute

pytestmark = pytest.mark.notebook  # executes notebooks: not part of `make check`

JETSTREAM = ["05-streams", "06-consumers", "07-key-value", "08-object-store"]


@pytest.mark.timeout(600)  # four notebook runs
def test_jetstream_notebooks_run_in_reverse_order_on_one_server(nats_server):
    orders = {"reverse": JETSTREAM[::-1]}  # 08, 07, 06, 05
    for label, order in orders.items():
        for stem in order:
            run = execute(
                stem,
                f"any-order-{label}",
                nats_url=nats_server.url,
                monitor_url=nats_server.monitor_url,
                solutions=True,
            )
            verdicts = {key: value for key, value in run.records.items() if key.startswith("exercise.")}
            assert len(verdicts) >= 2, f"{run.name} ({label} order) recorded too few exercises: {verdicts}"
            assert all(v == "correct" for v in verdicts.values()), (
                f"{run.name} ({label} order {order}): {verdicts}; open {run.path}"
            )
