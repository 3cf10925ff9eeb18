"""Subjects and wildcards: its test entry (tests/test_notebooks.py runs it)."""

from helpers.exercises.subjects_and_wildcards import check_answer_2, check_dashboard_feeds, check_hierarchy
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


# The design exercise: answers made by subject_for functions and patterns.
def scheme(subject_for, **patterns):
    good = {
        "billing": "parcels.*.*.*.delivered",
        "germany_ops": "parcels.de.>",
        "ups_tracker": "parcels.*.ups.>",
        "parcel_page": "parcels.*.*.p42.*",
    }
    return {"subject_for": subject_for, "patterns": good | patterns}


def by_country(carrier, country, parcel, kind):
    return f"parcels.{country}.{carrier}.{parcel}.{kind}"


def kind_first(carrier, country, parcel, kind):
    return f"parcels.{kind}.{country}.{carrier}.{parcel}"


def no_parcel(carrier, country, parcel, kind):
    return f"parcels.{country}.{carrier}.{kind}"


def spaced(carrier, country, parcel, kind):
    return f"parcels {country}.{carrier}.{parcel}.{kind}"


# The hands-on exercise: the learner's own subscriptions.
def feeds(new_orders, us_all, **options):
    async def dashboard_feeds(nc):
        return {"new_orders": await nc.subscribe(new_orders, **options), "us_all": await nc.subscribe(us_all)}

    return dashboard_feeds


async def feeds_with_callback(nc):
    async def ignore(msg):
        pass

    return {
        "new_orders": await nc.subscribe("orders.*.*.created", cb=ignore),
        "us_all": await nc.subscribe("orders.us.>"),
    }


async def feeds_as_a_list(nc):
    return [await nc.subscribe("orders.*.*.created"), await nc.subscribe("orders.us.>")]


CASE = Case(
    check=check,
    exercises=("dashboard_feeds", "hierarchy", "answer_2"),
    budget=10,
    wrong_answers=(
        (
            check_dashboard_feeds,
            feeds("orders.*.created", "orders.us.>"),
            "new_orders (subject 'orders.*.created') received 1 of the 12 subjects published, missed "
            "['orders.us.east.created'",
        ),
        (
            check_dashboard_feeds,
            feeds("orders.*.*.created", "orders.us.*"),
            "us_all (subject 'orders.us.*') received 1 of the 12",
        ),
        (check_dashboard_feeds, feeds("orders.>", "orders.us.>"), "and also got ['orders.us.east.paid'"),
        (check_dashboard_feeds, feeds("orders.>.created", "orders.us.>"), "nats-py refused a pattern"),
        (check_dashboard_feeds, feeds_with_callback, "has a callback"),
        (check_dashboard_feeds, feeds_as_a_list, "return a dict"),
        (check_hierarchy, scheme(by_country, germany_ops="parcels.de.*"), "germany_ops ('parcels.de.*') missed 8"),
        (check_hierarchy, scheme(by_country, billing="parcels.>.delivered"), "`>` may only be the last token"),
        (check_hierarchy, scheme(by_country, ups_tracker="parcels.>"), "ups_tracker ('parcels.>') also got 8"),
        (check_hierarchy, scheme(kind_first), "billing ('parcels.*.*.*.delivered') missed 8"),
        (check_hierarchy, scheme(no_parcel), "two different events got the same subject"),
        (check_hierarchy, scheme(spaced), "no wildcards"),
        (check_hierarchy, {"billing": "parcels.>"}, "answer with"),
        (check_answer_2, {"orders.>", "orders.*.*.created"}, "'orders.*.*.created' did NOT receive it"),
        (check_answer_2, {"orders.>", "orders.*.*.created"}, "'orders.eu.>' DID receive it"),
        (check_answer_2, {"orders.eu.*"}, "not in `candidates`"),
    ),
    right_answers=(
        (check_dashboard_feeds, feeds("orders.*.*.created", "orders.us.>", queue="dashboard")),  # a group of one
        (check_hierarchy, scheme(by_country)),
        (
            check_hierarchy,
            scheme(
                kind_first,
                billing="parcels.delivered.>",
                germany_ops="parcels.*.de.>",
                ups_tracker="parcels.*.*.ups.*",
                parcel_page="parcels.*.*.*.p42",
            ),
        ),
    ),
)
