"""The cheat sheet lists every nats-py call a notebook uses: a method of the client's classes called in any
notebook's code (solutions and deep dives included) must be named in notebooks/cheatsheet.md."""

import inspect
import json
import re

import nats
import nats.aio.client
import nats.aio.msg
import nats.aio.subscription
import nats.js.client
import nats.js.kv
import nats.js.manager
import nats.js.object_store
import nats.micro
import nats.micro.service

from helpers.cluster import Cluster
from helpers.embedded import EmbeddedServer
from helpers.services import Service
from tests.harness import NOTEBOOKS

CLASSES = (
    nats.aio.client.Client,
    nats.aio.subscription.Subscription,
    nats.aio.msg.Msg,
    nats.js.client.JetStreamContext,
    nats.js.client.JetStreamContext.PullSubscription,
    nats.js.manager.JetStreamManager,
    nats.js.kv.KeyValue,
    nats.js.object_store.ObjectStore,
    nats.micro.service.Service,
    nats.micro.service.Endpoint,
    nats.micro.request.Request,
)
MODULES = {"nats": nats, "micro": nats.micro}
OURS = (Service, EmbeddedServer, Cluster)  # the course's own objects the notebooks call methods on
SHEET = NOTEBOOKS / "cheatsheet.md"


def public(classes) -> set[str]:
    return {
        name
        for cls in classes
        for name, member in inspect.getmembers(cls)
        if not name.startswith("_") and callable(member) and not inspect.isclass(member)
    }


def client_calls() -> set[str]:
    """Every public method of the client's classes (and nats.connect, micro.add_service) the code calls."""
    methods = public(CLASSES) - public(OURS)  # `.start(` in a notebook may be a course Service's
    code = "\n".join(
        "".join(cell["source"])
        for path in sorted(NOTEBOOKS.glob("[0-9][0-9]-*.ipynb"))
        for cell in json.loads(path.read_text())["cells"]
        if cell["cell_type"] == "code"
    )
    used = {name for name in re.findall(r"\.(\w+)\(", code) if name in methods}
    used |= {
        f"{m}.{f}" for m, f in re.findall(r"\b(nats|micro)\.(\w+)\(", code) if callable(getattr(MODULES[m], f, None))
    }
    return used


def test_the_cheat_sheet_names_every_client_call_the_notebooks_use():
    sheet = SHEET.read_text()
    missing = sorted(call for call in client_calls() if not re.search(rf"\b{re.escape(call.split('.')[-1])}\(", sheet))
    assert not missing, f"notebooks/cheatsheet.md lacks these client calls the notebooks use: {missing}"
