"""The notebook "Services and discovery": its test entry (tests/test_notebooks.py runs it)."""

import json

from nats import micro
from nats.micro.request import ServiceError

from helpers.exercises.services_and_discovery import check_add_orders_v2, check_reserve, check_who_serves
from tests.harness import Case


def check(run):
    instances, requests = run.params["instances"], run.params["requests"]
    names = [f"inventory-{i}" for i in range(1, instances + 1)]
    assert run["services.srv_subscriptions"] == 9 * instances  # PING, INFO, STATS x (all, name, id)
    replies = run["services.replies_by_instance"]
    assert sorted(replies) == names and all(n > 0 for n in replies.values()), replies  # load-balanced
    assert sum(replies.values()) == requests

    assert run["services.discovered"] == instances
    assert run["services.ids_as_printed"] is True  # discovery reports the ids the instances printed at start
    assert run["services.ping_all"] >= instances  # every service on the server: ours at least
    assert run["services.endpoints"] == ["inventory.price", "inventory.stock"]
    assert run["services.requests_sent"] == requests
    assert run["services.stats_requests"] == run["services.requests_sent"]  # the instances counted every request
    assert run["services.stats_by_instance"] == replies  # ...and each one what the caller saw it answer
    assert run["services.by_id"] == "inventory-1"

    assert run["services.error_code"] == "404"
    assert run["services.error_description"] == "unknown SKU 'kiwi'"
    assert run["services.stats_errors"] == {"price": 0, "stock": 1}  # respond_error() is not counted (nats-py 2.16)
    assert run["services.requests_sent_after_errors"] == requests + 2
    assert run["services.stats_requests_after_errors"] == requests + 2

    assert run["services.discovered_after_stop"] == instances - 1
    assert run["services.gone_by_id"] == "no responders"
    after = run["services.after_stop_counts"]
    assert after["inventory-2"] == 0 and sum(after.values()) == requests
    assert all(after[name] > 0 for name in names if name != "inventory-2"), after
    assert run["services.running_after_cleanup"] == []


# Wrong answers for the checkers: each must be judged "wrong" with the phrase in its message.
async def first_reply_only(nc, subject, deadline):  # nc.request keeps the first of several replies
    while True:
        info = json.loads((await nc.request("$SRV.INFO", b"", timeout=deadline)).data)
        if any(e["subject"] == subject for e in info["endpoints"]):
            return {info["id"]}


async def _infos(nc, deadline):
    inbox = nc.new_inbox()
    sub = await nc.subscribe(inbox)
    await nc.publish("$SRV.INFO", b"", reply=inbox)
    found = []
    try:
        while True:
            found.append(json.loads((await sub.next_msg(timeout=deadline)).data))
    except TimeoutError:
        return found
    finally:
        await sub.unsubscribe()


async def waits_past_the_deadline(nc, subject, deadline):  # a reply may reset its timer: it waits too long
    return {i["id"] for i in await _infos(nc, deadline * 4) if any(e["subject"] == subject for e in i["endpoints"])}


async def every_instance(nc, subject, deadline):
    return {i["id"] for i in await _infos(nc, deadline)}


async def reserve_with_respond_error(req, stock):
    order = json.loads(req.data)
    if order["sku"] not in stock:
        return await req.respond_error("404", "unknown SKU")
    if order["qty"] > stock[order["sku"]]:
        return await req.respond_error("409", "not enough stock")
    await req.respond(json.dumps({"sku": order["sku"], "reserved": order["qty"]}).encode())


async def reserve_lets_key_error_out(req, stock):
    order = json.loads(req.data)
    if order["qty"] > stock[order["sku"]]:  # KeyError for an unknown SKU
        raise ServiceError("409", "not enough stock")
    await req.respond(json.dumps({"sku": order["sku"], "reserved": order["qty"]}).encode())


async def reserve_always_ok(req, stock):
    order = json.loads(req.data)
    await req.respond(json.dumps({"sku": order["sku"], "reserved": order["qty"]}).encode())


async def reserve_keeping_the_template_return(req, stock):  # does the work, keeps `return ...`: correct
    order = json.loads(req.data)
    if order["sku"] not in stock:
        raise ServiceError("404", "unknown SKU")
    if order["qty"] > stock[order["sku"]]:
        raise ServiceError("409", "not enough stock")
    await req.respond(json.dumps({"sku": order["sku"], "reserved": order["qty"]}).encode())
    return ...


def _handler(op):
    async def handler(req):
        await req.respond(json.dumps({"version": "2.0.0", "op": op}).encode())

    return handler


async def _orders_v2(nc, group="orders.v2", queue_group=None, name="orders"):
    service = await micro.add_service(nc, name=name, version="2.0.0")
    v2 = service.add_group(name=group, queue_group=queue_group)
    for op in ("place", "cancel", "status"):
        await v2.add_endpoint(name=op, handler=_handler(op))
    return service


async def v2_on_v1_subjects(nc):
    return await _orders_v2(nc, group="orders")


async def v2_in_its_own_queue_group(nc):
    return await _orders_v2(nc, group="orders", queue_group="orders-v2")


async def v2_outside_orders(nc):
    return await _orders_v2(nc, group="v2.orders")


async def a_queue_group_per_instance(nc):
    return await _orders_v2(nc, queue_group=nc.new_inbox()[len("_INBOX.") :])


async def another_service_name(nc):
    return await _orders_v2(nc, name="orders-v2")


async def v2_under_its_own_name_and_queue_group(nc):  # other subjects under orders., one queue group: right
    return await _orders_v2(nc, group="orders.next", queue_group="orders-v2")


async def v2_keeping_the_template_return(nc):  # does the work, keeps `return ...`: an attempt, judged wrong
    await _orders_v2(nc)
    return ...


CASE = Case(
    check=check,
    exercises=("who_serves", "reserve", "add_orders_v2"),
    solutions=dict(instances=4, requests=48),
    budget=15,
    wrong_answers=(
        (check_who_serves, first_reply_only, "not just the first one"),
        (check_who_serves, waits_past_the_deadline, "after the deadline"),
        (check_who_serves, every_instance, "serve no endpoint on"),
        (check_reserve, reserve_with_respond_error, "req.respond_error() sends the headers without counting"),
        (check_reserve, reserve_lets_key_error_out, "becomes error 500"),
        (check_reserve, reserve_always_ok, "should be error 409"),
        (check_add_orders_v2, v2_on_v1_subjects, "v2 listens on v1's subjects"),
        (check_add_orders_v2, v2_in_its_own_queue_group, "v2 listens on v1's subjects"),
        (check_add_orders_v2, v2_outside_orders, "outside orders."),
        (check_add_orders_v2, a_queue_group_per_instance, "each request should be handled once"),
        (check_add_orders_v2, another_service_name, "name the service 'orders'"),
        (check_add_orders_v2, v2_keeping_the_template_return, "return the service"),
    ),
    right_answers=(
        (check_reserve, reserve_keeping_the_template_return),
        (check_add_orders_v2, v2_under_its_own_name_and_queue_group),
    ),
)
