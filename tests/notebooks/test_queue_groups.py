"""Notebook 04 · Queue groups: its test entry (tests/test_notebooks.py runs it)."""

from helpers.exercises.queue_groups import check_add_quoter, check_groups, check_join_billing
from tests.harness import Case


def check(run):
    payments, step, requests = run.params["payments"], run.params["stream_step"], run.params["requests"]
    counts = run["per_worker_counts"]
    assert sorted(counts) == ["worker-1", "worker-2", "worker-3"]
    assert sum(counts.values()) == payments  # each payment processed by exactly one member
    assert all(n > 0 for n in counts.values()), counts
    assert run["duplicates"] == 0
    assert run["missing"] == 0
    assert run["processed_equals_published"] is True
    assert run["plain_subscriber_count"] == payments  # outside the group: every message

    marks, scaling, sent = run["scaling_marks"], run["scaling_counts"], run["stream_sent"]
    assert step <= marks["worker-4 starts"] < marks["worker-4 ready"] <= marks["worker-1 leaves"]
    assert marks["worker-1 leaves"] <= marks["worker-1 gone"] < sent
    assert sent >= marks["worker-1 gone"] + step
    assert scaling["3 workers"]["worker-4"] == 0  # nothing before it joined
    assert scaling["4 workers"]["worker-4"] > 0  # it takes work as soon as it is in the group
    assert all(scaling["4 workers"][w] > 0 for w in ("worker-1", "worker-2", "worker-3"))
    assert scaling["after worker-1 left"]["worker-1"] == 0  # nothing after it left
    assert all(scaling["after worker-1 left"][w] > 0 for w in ("worker-2", "worker-3", "worker-4"))
    assert sum(sum(phase.values()) for phase in scaling.values()) == sent
    assert run["stream_duplicates"] == 0
    assert run["stream_missing"] == 0  # drain(): a graceful leave loses nothing

    # members joining and leaving by drain() under a flat-out publisher: processed set == published set
    assert run["drain_churn.cycles"] == run.params["churn_cycles"] >= 50
    assert run["drain_churn.published"] > 0
    assert run["drain_churn.lost"] == 0
    assert run["drain_churn.duplicates"] == 0
    assert run["drain_churn.processed_equals_published"] is True
    assert run["drain_churn.by_leavers"] > 0  # the members that left had payments in flight

    replies = run["request_reply_counts"]
    assert sorted(replies) == ["quoter-1", "quoter-2", "quoter-3"]
    assert sum(replies.values()) == requests and all(n > 0 for n in replies.values())
    assert run["request_reply_handler_runs"] == requests  # one handler per request

    assert run["crash_slow_worker_lines"] == ["working pay-crash"]  # it took the payment, never finished
    assert run["crash_redelivered"] is False


# Wrong answers for the checkers: each must be judged "wrong" with the phrase in its message.
async def no_queue(nc, subject, handled):
    async def process(msg):
        handled.append(msg.data.decode())

    return await nc.subscribe(subject, cb=process)


async def other_group(nc, subject, handled):
    async def process(msg):
        handled.append(msg.data.decode())

    return await nc.subscribe(subject, queue="billing", cb=process)


async def forgets_to_record(nc, subject, handled):
    async def process(msg):
        pass

    return await nc.subscribe(subject, queue="billing-service", cb=process)


def no_callback(nc, subject, handled):
    return nc.subscribe(subject, queue="billing-service")  # nothing is handled


async def quoter_without_queue(nc, subject, name):
    async def answer(msg):
        await msg.respond(name.encode())

    return await nc.subscribe(subject, cb=answer)


async def quoter_says_ok(nc, subject, name):
    async def answer(msg):
        await msg.respond(b"ok")

    return await nc.subscribe(subject, queue="quote-service", cb=answer)


async def quoter_never_answers(nc, subject, name):
    return await nc.subscribe(subject, queue="quote-service")


GROUPS = {"billing": "billing", "email": "email", "audit": None, "cache": None}

CASE = Case(
    check=check,
    exercises=("groups", "join_billing", "add_quoter"),
    solutions=dict(payments=200, stream_step=80, requests=60, churn_cycles=60),
    budget=16,  # 10, plus ~2 s for the drain-under-churn deep dive and ~2 s for the scaling section's own workers
    wrong_answers=(
        (check_groups, GROUPS | {"billing": None}, "its 3 instances handled 180 for 60 orders"),
        (check_groups, GROUPS | {"billing": "workers", "email": "workers"}, "a group shared with another kind"),
        (check_groups, GROUPS | {"cache": "cache"}, "every cache instance must see every order"),
        (check_groups, GROUPS | {"audit": "audit", "cache": "audit"}, "every audit instance must see every order"),
        (check_groups, {"billing": "billing"}, "answer with a dict"),
        (check_groups, GROUPS | {"email": 2}, "a queue group name (a str) or None"),
        (check_join_billing, no_queue, "without `queue=`"),
        (check_join_billing, other_group, "not 'billing-service'"),
        (check_join_billing, forgets_to_record, "the workers handled 0 payments"),
        (check_join_billing, no_callback, "pass a callback"),
        (check_add_quoter, quoter_without_queue, "every responder answers every request"),
        (check_add_quoter, quoter_says_ok, "respond with the responder's `name`"),
        (check_add_quoter, quoter_never_answers, "no reply within 2 s"),
    ),
    right_answers=((check_groups, GROUPS), (check_groups, GROUPS | {"billing": "payments", "audit": None})),
)
