"""Notebook 03 · Subjects and wildcards: executed untouched, then with the solutions, on one server."""

from helpers.exercises.subjects import predict_matches, us_shipped_pattern

# What nats-server 2.15.1 delivers (checked against the server, not derived from a matcher of ours).
EXPECTED_MATRIX = {
    "orders.us.east.created": ["orders.us.east.created"],
    "orders.*.*.created": ["orders.us.east.created", "orders.us.west.created", "orders.eu.central.created"],
    "orders.us.*.*": ["orders.us.east.created", "orders.us.west.created", "orders.us.east.shipped"],
    "orders.*.east.*": ["orders.us.east.created", "orders.us.east.shipped"],
    "orders.us.>": ["orders.us.east.created", "orders.us.west.created", "orders.us.east.shipped",
                    "orders.us.created", "orders.us.east.created.v2"],
    "orders.>": ["orders.us.east.created", "orders.us.west.created", "orders.eu.central.created",
                 "orders.us.east.shipped", "orders.us.created", "orders.us.east.created.v2"],
    "orders.*": [],
}


def test_subjects_and_wildcards(run_notebook):
    untouched = run_notebook("03-subjects-and-wildcards", "untouched")
    assert untouched["exercise.03.us-shipped"] == "not attempted"
    assert untouched["exercise.03.predict"] == "not attempted"

    run = run_notebook("03-subjects-and-wildcards", "solutions", solutions=True)  # second run, same server
    for label, r in (("untouched", untouched), ("solutions", run)):
        assert r["match_matrix"] == EXPECTED_MATRIX, label
        assert r["gt_matches_zero_tokens"] is False
        assert r["invalid_subject_error"] == "BadSubjectError"
        assert r["connection_usable_after_error"] is True
        assert r["server_reply_to_gt_in_middle"] == "-ERR 'Invalid Subject'"
        assert r["literal_gt_token_received"] == ["orders.>x"]
        assert r["client_refuses_partial_wildcard"] == "BadSubjectError"
        assert r["publish_with_wildcard"] == {"orders.us.east.created": 0, "orders.eu.east.created": 0,
                                              "orders.*.east.created": 1}
        assert r["pedantic_wildcard_publish_closed"] is True
        # the monitor saw exactly the created events, from all four services, and nothing else
        assert r["created_published"] > 0
        assert r["monitor_seen_created"] == r["created_published"]
        assert r["monitor_saw_other_events"] == 0
    assert run["exercise.03.us-shipped"] == "correct"
    assert run["exercise.03.predict"] == "correct"
    assert run.cell_seconds < 10, f"03 took {run.cell_seconds:.1f} s after kernel start; open {run.path}"


async def test_us_shipped_checker_rejects_wrong_patterns(nats_server):
    too_wide = await us_shipped_pattern("orders.us.>", nats_server.url, show=False)
    assert too_wide.status == "wrong" and "also received" in too_wide.message
    assert "orders.us.east.created" in too_wide.message
    too_narrow = await us_shipped_pattern("orders.us.east.shipped", nats_server.url, show=False)
    assert too_narrow.status == "wrong" and "did not receive" in too_narrow.message
    invalid = await us_shipped_pattern("orders.>.shipped", nats_server.url, show=False)
    assert invalid.status == "wrong" and "BadSubjectError" in invalid.message
    right = await us_shipped_pattern("orders.us.*.shipped", nats_server.url, show=False)
    assert right.status == "correct"


async def test_predict_checker_rejects_wrong_sets(nats_server):
    wrong = await predict_matches({"orders.>", "orders.*.*.created"}, nats_server.url, show=False)
    assert wrong.status == "wrong"
    assert "'orders.*.*.created' did NOT receive it" in wrong.message
    assert "'orders.eu.>' DID receive it" in wrong.message
    typo = await predict_matches({"orders.eu.*"}, nats_server.url, show=False)
    assert typo.status == "wrong" and "not in `candidates`" in typo.message
