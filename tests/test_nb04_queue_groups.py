"""Notebook 04 · Queue groups: executed untouched, then with the solutions, on one server."""

from helpers.exercises.queue_groups import join_group, quote_group

PAYMENTS, STEP, REQUESTS = 300, 100, 90  # the notebook's defaults


def check_lesson(run):
    counts = run["per_worker_counts"]
    assert sorted(counts) == ["worker-1", "worker-2", "worker-3"]
    assert sum(counts.values()) == PAYMENTS  # each payment processed by exactly one member
    assert all(n > 0 for n in counts.values()), counts
    assert run["duplicates"] == 0
    assert run["missing"] == 0
    assert run["processed_equals_published"] is True
    assert run["plain_subscriber_count"] == PAYMENTS  # outside the group: every message

    marks, scaling, sent = run["scaling_marks"], run["scaling_counts"], run["stream_sent"]
    assert STEP <= marks["worker-4 starts"] < marks["worker-4 ready"] <= marks["worker-1 leaves"]
    assert marks["worker-1 leaves"] <= marks["worker-1 gone"] < sent
    assert sent >= marks["worker-1 gone"] + STEP
    assert scaling["3 workers"]["worker-4"] == 0  # nothing before it joined
    assert scaling["4 workers"]["worker-4"] > 0  # it takes work as soon as it is in the group
    assert all(scaling["4 workers"][w] > 0 for w in ("worker-1", "worker-2", "worker-3"))
    assert scaling["after worker-1 left"]["worker-1"] == 0  # nothing after it left
    assert all(scaling["after worker-1 left"][w] > 0 for w in ("worker-2", "worker-3", "worker-4"))
    assert sum(sum(phase.values()) for phase in scaling.values()) == sent
    assert run["stream_duplicates"] == 0
    assert run["stream_missing"] == 0  # drain(): a graceful leave loses nothing

    replies = run["request_reply_counts"]
    assert sorted(replies) == ["quoter-1", "quoter-2", "quoter-3"]
    assert sum(replies.values()) == REQUESTS and all(n > 0 for n in replies.values())
    assert run["request_reply_handler_runs"] == REQUESTS  # one handler per request

    assert run["crash_slow_worker_lines"] == ["working pay-crash"]  # it took the payment, never finished
    assert run["crash_redelivered"] is False


def test_queue_groups(run_notebook):
    untouched = run_notebook("04-queue-groups", "untouched")
    assert untouched["exercise.04.join-group"] == "not attempted"
    assert untouched["exercise.04.quote-group"] == "not attempted"
    check_lesson(untouched)

    run = run_notebook("04-queue-groups", "solutions", solutions=True)  # a second run on the same server
    check_lesson(run)
    assert run["exercise.04.join-group"] == "correct"
    assert run["exercise.04.quote-group"] == "correct"
    assert run.cell_seconds < 10, f"04 took {run.cell_seconds:.1f} s after kernel start; open {run.path}"


async def test_join_group_checker_rejects_wrong_answers(nats_server):
    async def no_queue(nc, subject, handled):
        async def process(msg):
            handled.append(msg.data.decode())
        return await nc.subscribe(subject, cb=process)

    verdict = await join_group(no_queue, nats_server.url, show=False)
    assert verdict.status == "wrong" and "without `queue=`" in verdict.message

    async def other_group(nc, subject, handled):
        async def process(msg):
            handled.append(msg.data.decode())
        return await nc.subscribe(subject, queue="billing", cb=process)

    verdict = await join_group(other_group, nats_server.url, show=False)
    assert verdict.status == "wrong" and "not 'billing-service'" in verdict.message

    async def forgets_to_record(nc, subject, handled):
        async def process(msg):
            pass
        return await nc.subscribe(subject, queue="billing-service", cb=process)

    verdict = await join_group(forgets_to_record, nats_server.url, show=False)
    assert verdict.status == "wrong" and "the workers handled 0 payments" in verdict.message

    verdict = await join_group(lambda nc, subject, handled: nc.subscribe(subject, queue="billing-service"),
                               nats_server.url, show=False)  # no callback: nothing is handled either
    assert verdict.status == "wrong" and "pass a callback" in verdict.message


async def test_quote_group_checker_rejects_wrong_answers(nats_server):
    async def no_queue(nc, subject, name):
        async def answer(msg):
            await msg.respond(name.encode())
        return await nc.subscribe(subject, cb=answer)

    verdict = await quote_group(no_queue, nats_server.url, show=False)
    assert verdict.status == "wrong" and "every responder answers every request" in verdict.message

    async def wrong_reply(nc, subject, name):
        async def answer(msg):
            await msg.respond(b"ok")
        return await nc.subscribe(subject, queue="quote-service", cb=answer)

    verdict = await quote_group(wrong_reply, nats_server.url, show=False)
    assert verdict.status == "wrong" and "respond with the responder's `name`" in verdict.message

    async def never_answers(nc, subject, name):
        return await nc.subscribe(subject, queue="quote-service")

    verdict = await quote_group(never_answers, nats_server.url, show=False)
    assert verdict.status == "wrong" and "no reply within 2 s" in verdict.message
