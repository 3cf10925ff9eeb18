"""The dev container (.devcontainer/devcontainer.json): the course opens with `make lab`'s set-up done and
JupyterLab's port forwarded. No container runtime here: the definition is checked by its keys."""

import json
import re

from jupyter_server.serverapp import DEFAULT_SERVER_PORT

from tests.harness import REPO

DEFINITION = REPO / ".devcontainer" / "devcontainer.json"


def definition() -> dict:
    return json.loads(DEFINITION.read_text())  # plain JSON (no comments), so any tool can read it


def make_targets() -> set[str]:
    return set(re.findall(r"^([a-z-]+):", (REPO / "Makefile").read_text(), re.M))


def test_uses_a_python_image_the_course_supports():
    image = definition()["image"]
    found = re.fullmatch(r"mcr\.microsoft\.com/devcontainers/python:(\d+)\.(\d+)(-[a-z]+)?", image)
    assert found, f"{image}: expected a Dev Containers Python image with a pinned Python version"
    assert (int(found[1]), int(found[2])) >= (3, 11), "the course needs Python 3.11 or newer"


def test_creates_the_venv_that_make_lab_uses():
    command = definition()["postCreateCommand"]
    target = re.fullmatch(r"make ([a-z-]+)", command)
    assert target and target[1] in make_targets(), f"{command!r} is not a make target"
    assert target[1] in ("install", "install-dev"), "`make lab` finds its .venv ready when the container opens"


def test_forwards_jupyterlab_and_monitoring_ports():
    d = definition()
    jupyter_port = DEFAULT_SERVER_PORT  # 8888: what `make lab` listens on unless told otherwise
    assert jupyter_port in d["forwardPorts"]
    assert 8222 in d["forwardPorts"], "the monitoring port of config/nats-server.conf"
    assert "8222" in (REPO / "config" / "nats-server.conf").read_text()
    assert d["portsAttributes"][str(jupyter_port)]["onAutoForward"] == "openBrowser"


def test_editor_uses_the_course_venv():
    settings = definition()["customizations"]["vscode"]["settings"]
    assert settings["python.defaultInterpreterPath"].endswith("/.venv/bin/python")


def test_contributing_says_how_to_start_it():
    readme = (REPO / "CONTRIBUTING.md").read_text()
    assert ".devcontainer" in readme and "Reopen in Container" in readme
