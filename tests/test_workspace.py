"""The learner's copies (my-work/): saved work never breaks the tests, never blocks `git pull`, and is never
overwritten; a copy the learner never touched follows the course."""

import json
import shutil
import subprocess

from tests.harness import NOTEBOOKS, REPO, stems
from tools import workspace

FIRST, SECOND, THIRD = (f"{stem}.ipynb" for stem in stems()[:3])  # whatever their numbers


def course_copy(tmp_path):
    course = tmp_path / "course"
    course.mkdir()
    for name in (FIRST, SECOND, "README.md"):
        shutil.copyfile(NOTEBOOKS / name, course / name)
    return course


def save_after_running(path):
    """What JupyterLab's autosave does after a Run All: outputs, counts and metadata change, the lesson does not."""
    nb = json.loads(path.read_text())
    nb["metadata"]["widgets"] = {"state": {}}
    for cell in nb["cells"]:
        if cell["cell_type"] == "code":
            cell["outputs"], cell["execution_count"] = [{"output_type": "stream", "name": "stdout", "text": "x\n"}], 1
    path.write_text(json.dumps(nb))


def save_with_work(path):
    """What JupyterLab's save does after a learner answered and ran a cell."""
    nb = json.loads(path.read_text())
    nb["cells"][1]["source"] = ["my answer\n"]
    nb["cells"][1]["outputs"] = [{"output_type": "stream", "name": "stdout", "text": "ran\n"}]
    path.write_text(json.dumps(nb))


def test_copies_follow_the_course_until_the_learner_changes_one(tmp_path):
    course, work = course_copy(tmp_path), tmp_path / "my-work"
    (course / "services").mkdir()
    (course / "services" / "worker.py").write_text("print('READY')\n")
    assert workspace.sync(work, course) == []
    assert (work / "services" / "worker.py").exists()  # notebooks link to the services' source
    assert sorted(p.name for p in work.glob("*.ipynb")) == [FIRST, SECOND]
    save_with_work(work / FIRST)
    save_after_running(work / SECOND)  # run, autosaved, never edited: still follows
    for name in (FIRST, SECOND):  # the course changes both
        (course / name).write_text((course / name).read_text().replace("NATS", "NATS!"))
    shutil.copyfile(NOTEBOOKS / THIRD, course / THIRD)  # and adds one
    notes = workspace.sync(work, course)
    assert len(notes) == 1 and f"{FIRST} changed in the course" in notes[0]
    kept = json.loads((work / FIRST).read_text())
    assert "my answer" in json.dumps(kept)  # the learner's work is kept
    assert "A newer version of this notebook is in the course" in "".join(kept["cells"][0]["source"])  # and says so
    assert (work / SECOND).read_text() == (course / SECOND).read_text()
    assert (work / THIRD).exists()
    assert workspace.sync(work, course) == []  # said once


def test_saved_work_is_ignored_by_git():
    ignored = subprocess.run(["git", "check-ignore", "-q", f"my-work/{FIRST}"], cwd=REPO)
    assert ignored.returncode == 0, "my-work/ must be git-ignored"
    assert workspace.WORK == REPO / "my-work" and workspace.COURSE == NOTEBOOKS
