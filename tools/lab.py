"""`make lab` (python -m tools lab): JupyterLab on the learner's own copies, with a NATS server running."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

from helpers import course_server
from helpers import server as srv
from tools import workspace


def lab(jupyter_args: list[str], root: Path) -> int:
    """Run JupyterLab on `root` (the learner's copies); stop the server afterwards only if we started it."""
    # NATS_URL wins (and fails fast if wrong); else `up` reuses or starts a server.
    found = srv.find_server() if os.environ.get("NATS_URL") else srv.up(started_by="make lab")
    started_here = found.source.startswith("embedded")
    print(
        f"NATS server: {found.shown_url} ({found.source}), version {found.version}, "
        f"JetStream {'on' if found.jetstream else 'OFF'}"
    )
    if root != workspace.COURSE:
        for note in workspace.sync(root):
            print(note)
        print(f"Your copies of the notebooks are in {root} (git-ignored): save freely.")
    cmd = [sys.executable, "-m", "jupyter", "lab", f"--ServerApp.root_dir={root}", *jupyter_args]
    if hasattr(os, "geteuid") and os.geteuid() == 0:  # containers and CI run as root; Jupyter refuses by default
        cmd.append("--allow-root")
    jupyter = subprocess.Popen(cmd)
    # Ctrl-C goes to JupyterLab (it asks before shutting down); SIGTERM is passed on.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, lambda *_: jupyter.terminate())
    try:
        return jupyter.wait()
    finally:
        if started_here:
            print(course_server.down())
