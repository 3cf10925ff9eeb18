# A thin wrapper: every target is one or two commands you can also type (`make help` lists them).
# Without make (Windows included) see README.md, "Running without make".

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
# Stamps: requirements.txt is what `make lab` needs; requirements-dev.txt adds tests and tools.
COURSE := $(VENV)/.installed
DEV := $(VENV)/.installed-dev
# uv installs the same pins about ten times faster; pip is the fallback.
INSTALL := $(if $(shell command -v uv 2>/dev/null),uv pip install --quiet --python $(BIN)/python,$(BIN)/python -m pip install --quiet --disable-pip-version-check)

.PHONY: help install install-dev lab test test-learner check nav lint format up down status clean

help:  ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | sed -E 's/:.*## /\t/' | expand -t 16

install: $(COURSE)  ## create .venv with what the course needs

install-dev: $(DEV)  ## ... plus the tests' and developers' tools

# Each re-installs only when its requirements (or pyproject.toml) changed.
$(COURSE): requirements.txt pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "Python 3.11 or newer is needed (found " + sys.version.split()[0] + "); run: make PYTHON=python3.12 ...")'
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(INSTALL) -r requirements.txt
	$(INSTALL) --no-deps -e .
	touch $@

$(DEV): $(COURSE) requirements-dev.txt
	$(INSTALL) -r requirements-dev.txt
	touch $@

lab: install  ## JupyterLab on the course, with a NATS server running
	$(BIN)/python -m helpers lab

test: install-dev  ## execute every notebook against a real server and check its results
	$(BIN)/python -m pytest

test-learner: install-dev  ## every notebook as a learner uses it: set-up, then any section, every cell twice
	$(BIN)/python -m pytest -m learner tests/test_learner_path.py

check: install-dev  ## seconds, no kernels: lint, format, structure, navigation, checker unit tests
	$(BIN)/ruff check .
	$(BIN)/python -m pytest -q -m "not notebook" -p no:cacheprovider

nav: install  ## regenerate every notebook's navigation lines and the README contents
	$(BIN)/python -m helpers.navigation

lint: install-dev  ## ruff
	$(BIN)/ruff check .

up: install  ## start the course's server (idempotent)
	$(BIN)/python -m helpers up

down:  ## stop the server that `make up` started
	$(BIN)/python -m helpers down

status: install  ## which server the course uses
	$(BIN)/python -m helpers status

clean:  ## remove executed notebooks and caches (keeps .venv and server data)
	rm -rf test-output .pytest_cache .ruff_cache
