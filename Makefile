# A thin wrapper: every target is one or two commands you can also type.
# Without make (Windows included) see README.md, "Running without make".

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: install lab test test-workshop up down status lint clean wheelhouse \
	workshop workshop-down workshop-status workshop-reset

install: $(STAMP)

# Re-installs only when requirements.txt or pyproject.toml changed.
$(STAMP): requirements.txt pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "Python 3.11 or newer is needed (found " + sys.version.split()[0] + "); run: make PYTHON=python3.12 ...")'
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -r requirements.txt
	$(BIN)/python -m pip install --quiet --disable-pip-version-check --no-deps -e .
	touch $@

lab: install  ## JupyterLab on the course, with a NATS server running
	$(BIN)/python -m helpers lab

test: install  ## execute every notebook against a real server and check its results
	$(BIN)/python -m pytest

test-workshop: install  ## slow: three learners run every notebook at once on one workshop server
	$(BIN)/python -m pytest -m workshop

up: install  ## start the course's server (idempotent)
	$(BIN)/python -m helpers up

down:  ## stop the server that `make up` started
	$(BIN)/python -m helpers down

status: install
	$(BIN)/python -m helpers status

# Workshop mode (docs/instructor-kit.md): one server for a room, one NATS account per learner.
LEARNERS ?= 20
HOST ?= 0.0.0.0
workshop: install  ## make workshop LEARNERS=20 HOST=<address the room reaches>
	$(BIN)/python -m helpers workshop up --learners $(LEARNERS) --host $(HOST)

workshop-status: install
	$(BIN)/python -m helpers workshop status

workshop-reset: install  ## new passwords and empty accounts for the next group
	$(BIN)/python -m helpers workshop reset

workshop-down:
	$(BIN)/python -m helpers workshop down

wheelhouse: install  ## before a workshop: every pinned requirement in wheelhouse/, for installing offline
	$(BIN)/python -m pip download --disable-pip-version-check --dest wheelhouse -r requirements.txt "setuptools>=68"

lint: install
	$(BIN)/ruff check .

clean:  ## remove executed notebooks and caches (keeps .venv and server data)
	rm -rf test-output .pytest_cache .ruff_cache
