"""Acceptance: the JetStream notebooks run in any order against ONE server.

Each notebook whose entry says `any_order=True` owns its JetStream asset names (derived from its slug) and
cleans up or resets what it creates, so neither the order nor a leftover from an earlier run may matter.
Here they run in reverse order on one server; tests/test_notebooks.py runs each in order twice on one
server; together, any order and twice.
"""

import pytest

from tests.harness import case_for, execute, stems

pytestmark = pytest.mark.notebook  # executes notebooks: not part of `make check`

JETSTREAM = [stem for stem in stems() if (case := case_for(stem)) and case.any_order]


def test_the_set_comes_from_the_entries():
    assert len(JETSTREAM) >= 4, f"only {JETSTREAM} say any_order=True in their entries"


@pytest.mark.timeout(600)  # several notebook runs
def test_jetstream_notebooks_run_in_reverse_order_on_one_server(nats_server):
    for stem in JETSTREAM[::-1]:
        run = execute(
            stem, "any-order-reverse", nats_url=nats_server.url, monitor_url=nats_server.monitor_url, solutions=True
        )
        verdicts = {key: value for key, value in run.records.items() if key.startswith("exercise.")}
        assert len(verdicts) >= 2, f"{run.name} (reverse order) recorded too few exercises: {verdicts}"
        assert all(v == "correct" for v in verdicts.values()), (
            f"{run.name} (reverse order {JETSTREAM[::-1]}): {verdicts}; open {run.path}"
        )
