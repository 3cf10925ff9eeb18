"""`python -m helpers up|down|status|lab`: the course's server without make.

`make up`, `make down`, `make status` and `make lab` call these;
`python -m helpers workshop up|down|status|reset` is the workshop's (helpers/workshop.py).
"""

import argparse
import os
import signal
import subprocess
import sys
from pathlib import Path

from helpers import course_server, workspace
from helpers import server as srv


def lab(jupyter_args: list[str], root: Path) -> int:
    """Run JupyterLab on `root` (the learner's copies); stop the server afterwards only if we started it."""
    # NATS_URL wins (and fails fast if wrong); else `up` reuses or starts a server.
    found = srv.find_server() if os.environ.get("NATS_URL") else srv.up(started_by="make lab")
    started_here = found.source.startswith("embedded")
    print(
        f"NATS server: {found.url} ({found.source}), version {found.version}, "
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


def main(argv=None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    if argv[:1] == ["workshop"]:
        from helpers import workshop

        return workshop.main(argv[1:])
    parser = argparse.ArgumentParser(prog="python -m helpers", description=__doc__)
    parser.add_argument("command", choices=["up", "down", "status", "lab"])
    parser.add_argument(
        "--workdir",
        type=Path,
        default=workspace.WORK,
        help="lab: the folder of your own copies of the notebooks (default: my-work/)",
    )
    parser.add_argument(
        "--course",
        action="store_true",
        help="lab: open notebooks/ itself (for maintainers: edits there are the course's)",
    )
    args, rest = parser.parse_known_args(argv)
    try:
        if args.command == "up":
            srv.up(started_by="make up")
            print(srv.status())
        elif args.command == "down":
            print(course_server.down())
        elif args.command == "status":
            print(srv.status())
        else:
            return lab(rest, workspace.COURSE if args.course else args.workdir.resolve())
    except (srv.ServerNotFound, srv.JetStreamDisabled, FileNotFoundError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
