# A thin wrapper: every target is one or two commands you can also type (`make help` lists them).
# Without make (Windows included) see README.md, "Running without make".

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
# Stamps: requirements.txt is what `make lab` needs; requirements-dev.txt adds tests and tools.
COURSE := $(VENV)/.installed
DEV := $(VENV)/.installed-dev
# uv installs the same pins about ten times faster than pip: the one on PATH, else one pip puts in .venv;
# pip itself is the fallback (offline, say). --compile-bytecode, as pip does: with PYTHONDONTWRITEBYTECODE set,
# nothing would ever be compiled and every kernel would start twice as slowly.
UV_PIN := uv==0.13.9
# Tests mostly wait on servers, so two workers halve the time even on two cores (`make test PARALLEL=` runs
# them one by one). Tests that share the machine's cluster files or port 4222 stay on one worker (tests/conftest.py).
PARALLEL ?= -n 2 --dist loadgroup
INSTALL = sh -c 'if command -v uv >/dev/null; then uv pip install -q --compile-bytecode --python $(BIN)/python "$$@"; \
	elif [ -x $(BIN)/uv ]; then $(BIN)/uv pip install -q --compile-bytecode --python $(BIN)/python "$$@"; \
	else $(BIN)/python -m pip install -q --disable-pip-version-check "$$@"; fi' install

.PHONY: help install install-dev lab test test-learner test-workshop test-browser site check nav renumber lint format up down status \
	clean workshop workshop-new workshop-add workshop-disable workshop-enable workshop-status workshop-board \
	workshop-reset workshop-down hub hub-add hub-down test-hub wheelhouse

help:  ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | sed -E 's/:.*## /\t/' | expand -t 16

install: $(COURSE)  ## create .venv with what the course needs

install-dev: $(DEV)  ## ... plus the tests' and developers' tools

# Each re-installs only when its requirements (or pyproject.toml) changed.
$(COURSE): requirements.txt pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "Python 3.11 or newer is needed (found " + sys.version.split()[0] + "); run: make PYTHON=python3.12 ...")'
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	command -v uv >/dev/null || test -x $(BIN)/uv || $(BIN)/python -m pip install -q --disable-pip-version-check $(UV_PIN) || true
	$(INSTALL) -r requirements.txt
	$(INSTALL) --no-deps -e .
	touch $@

$(DEV): $(COURSE) requirements-dev.txt
	$(INSTALL) -r requirements-dev.txt
	touch $@

lab: install  ## JupyterLab on the course, with a NATS server running
	$(BIN)/python -m tools lab

test: install-dev  ## execute every notebook against a real server and check its results
	$(BIN)/python -m pytest $(PARALLEL)

test-learner: install-dev  ## learners' ways: set-up then any section, every cell twice, Run All again, the core alone, each exercise alone
	$(BIN)/python -m pytest -m learner $(PARALLEL)

test-browser: install-dev  ## JupyterLab in Chromium: Run All in every notebook, screenshots in test-output/
	$(BIN)/python -m pytest -m browser tests/test_browser.py

site: install-dev  ## the HTML edition in site/: executes every notebook (its tests), renders those copies
	$(BIN)/python -m pytest -m notebook tests/test_notebooks.py $(PARALLEL)
	$(BIN)/python -m tools.site

test-workshop: install-dev  ## slow: three learners run every notebook at once on one workshop server, through a latency proxy
	$(BIN)/python -m pytest -m workshop

check: install-dev  ## seconds, no kernels: lint, format, structure, navigation, checker unit tests
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/python -m pytest -q -m "not notebook and not slow_checker and not slow" -p no:cacheprovider $(PARALLEL)

nav: install  ## regenerate every notebook's navigation lines, the README contents, the workshop schedules
	$(BIN)/python -m tools.navigation
	$(BIN)/python -m tools.schedule

renumber: install  ## after inserting notebooks/03a-topic.ipynb: number every notebook in order, then make nav
	$(BIN)/python -m tools.renumber

lint: install-dev  ## ruff
	$(BIN)/ruff check .

format: install-dev  ## ruff format (code files; notebooks are left as laid out)
	$(BIN)/ruff format .

up: install  ## start the course's server (idempotent)
	$(BIN)/python -m helpers up

down:  ## stop the server that `make up` started
	$(BIN)/python -m helpers down

status: install  ## which server the course uses
	$(BIN)/python -m helpers status

# Workshop mode (docs/instructor-kit.md): one server for a room, one NATS account per learner.
# Only the options given are passed: `make workshop` alone starts a stopped workshop again as it was.
ROOM_OPTIONS = $(if $(LEARNERS),--learners $(LEARNERS)) $(if $(HOST),--host $(HOST)) $(if $(PORT),--port $(PORT)) \
	$(if $(HTTP_PORT),--http-port $(HTTP_PORT))
workshop: install  ## make workshop LEARNERS=20 HOST=<address the room reaches>; alone: restart a stopped one as it was
	$(BIN)/python -m room up $(ROOM_OPTIONS)

workshop-new: install  ## a new room in place of a stopped one (new passwords, empty accounts): LEARNERS=N HOST=...
	$(BIN)/python -m room up --new-room $(ROOM_OPTIONS)

workshop-add: install  ## latecomers: make workshop-add LEARNERS=2 adds two accounts (config reload, no restart)
	$(BIN)/python -m room add $(LEARNERS)

workshop-disable: install  ## make workshop-disable LEARNER=learner07: close their connections, refuse them (reload)
	$(BIN)/python -m room disable $(LEARNER)

workshop-enable: install  ## make workshop-enable LEARNER=learner07: let them back in (same slip)
	$(BIN)/python -m room enable $(LEARNER)

workshop-status: install  ## where it listens; connections and JetStream use per learner
	$(BIN)/python -m room status

workshop-board: install  ## JupyterLab as the instructor: open instructor/progress-board.ipynb
	$(BIN)/python -m room board

workshop-reset: install  ## new passwords and empty accounts for the next group
	$(BIN)/python -m room reset

workshop-down:  ## stop the workshop server (waits for JetStream's shutdown, bounded)
	$(BIN)/python -m room down

# The hub (room/hub.py): as root on the workshop's own Linux box; learners need only a browser.
HUB_PORT ?= 8000
IDLE_MINUTES ?= 60
hub: install  ## sudo make hub LEARNERS=20 HOST=<address>: JupyterHub, one OS user per learner [HUB_PORT IDLE_MINUTES]
	$(BIN)/python -m room hub $(if $(LEARNERS),--learners $(LEARNERS)) --host $(or $(HOST),0.0.0.0) \
		--hub-port $(HUB_PORT) --idle-minutes $(IDLE_MINUTES) $(if $(PORT),--port $(PORT)) $(if $(HTTP_PORT),--http-port $(HTTP_PORT))

hub-add: install  ## latecomers on the hub: sudo make hub-add LEARNERS=2 (accounts, OS users, passwords; no restart)
	$(BIN)/python -m room hub-add $(LEARNERS)

hub-down:  ## stop JupyterHub, the learners' servers and the workshop server (OS users and their work stay)
	$(BIN)/python -m room hub-down

test-hub: install-dev  ## slow, root: three learners log in through the hub in Chromium at once (tests/test_hub.py)
	$(BIN)/python -m pytest -m hub tests/test_hub.py

wheelhouse: install  ## before a workshop: every pinned requirement in wheelhouse/, for installing offline
	$(BIN)/python -m pip download --disable-pip-version-check --dest wheelhouse -r requirements.txt "setuptools>=68"

clean:  ## remove executed notebooks and caches (keeps .venv and server data)
	rm -rf test-output site .pytest_cache .ruff_cache
