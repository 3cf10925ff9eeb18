# A thin wrapper: every target is one or two commands you can also type.
# Without make (Windows included) see README.md, "Running without make".

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: install lab test up down status lint clean

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

up: install  ## start the course's server (idempotent)
	$(BIN)/python -m helpers up

down:  ## stop the server that `make up` started
	$(BIN)/python -m helpers down

status: install
	$(BIN)/python -m helpers status

lint: install
	$(BIN)/ruff check .

clean:  ## remove executed notebooks and caches (keeps .venv and server data)
	rm -rf test-output .pytest_cache .ruff_cache
