"""Notebook 03 · Subjects and wildcards: its test entry (tests/test_notebooks.py runs it)."""

from helpers.exercises.subjects_and_wildcards import check_answer_1, check_answer_2
from tests.harness import Case

# What nats-server 2.15.1 delivers (checked against the server, not derived from a matcher of ours).
EXPECTED_MATRIX = {
    "orders.us.east.created": ["orders.us.east.created"],
    "orders.*.*.created": ["orders.us.east.created", "orders.us.west.created", "orders.eu.central.created"],
    "orders.us.*.*": ["orders.us.east.created", "orders.us.west.created", "orders.us.east.shipped"],
    "orders.*.east.*": ["orders.us.east.created", "orders.us.east.shipped"],
    "orders.us.>": [
        "orders.us.east.created",
        "orders.us.west.created",
        "orders.us.east.shipped",
        "orders.us.created",
        "orders.us.east.created.v2",
    ],
    "orders.>": [
        "orders.us.east.created",
        "orders.us.west.created",
        "orders.eu.central.created",
        "orders.us.east.shipped",
        "orders.us.created",
        "orders.us.east.created.v2",
    ],
    "orders.*": [],
}


def check(r):
    assert r["match_matrix"] == EXPECTED_MATRIX, r.name
    assert r["gt_matches_zero_tokens"] is False
    assert r["invalid_subject_error"] == "BadSubjectError"
    assert r["connection_usable_after_error"] is True
    assert r["server_reply_to_gt_in_middle"] == "-ERR 'Invalid Subject'"
    assert r["literal_gt_token_received"] == ["orders.>x"]
    assert r["client_refuses_partial_wildcard"] == "BadSubjectError"
    assert r["publish_with_wildcard"] == {
        "orders.us.east.created": 0,
        "orders.eu.east.created": 0,
        "orders.*.east.created": 1,
    }
    assert r["pedantic_wildcard_publish_closed"] is True  # nats-py closes on the -ERR...
    assert r["pedantic_wildcard_publish_routed"] == 1  # ...which did not stop the server routing it
    # the monitor saw exactly the created events, from all four services, and nothing else
    assert r["created_published"] > 0
    assert r["monitor_seen_created"] == r["created_published"]
    assert r["monitor_saw_other_events"] == 0


CASE = Case(
    check=check,
    exercises=("03.answer_1", "03.answer_2"),
    budget=10,
    wrong_answers=(
        # too wide: the message names what also arrived, orders.us.east.created first
        (check_answer_1, "orders.us.>", "also received ['orders.us.east.created'"),
        (check_answer_1, "orders.us.east.shipped", "did not receive"),
        (check_answer_1, "orders.>.shipped", "BadSubjectError"),
        (check_answer_2, {"orders.>", "orders.*.*.created"}, "'orders.*.*.created' did NOT receive it"),
        (check_answer_2, {"orders.>", "orders.*.*.created"}, "'orders.eu.>' DID receive it"),
        (check_answer_2, {"orders.eu.*"}, "not in `candidates`"),
    ),
    right_answers=((check_answer_1, "orders.us.*.shipped"),),
)
