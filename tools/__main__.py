"""`python -m tools lab [--workdir DIR | --course]`: what `make lab` runs (tools/lab.py)."""

import argparse
import sys
from pathlib import Path

from helpers import server as srv
from tools import workspace
from tools.lab import lab


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tools", description=__doc__)
    parser.add_argument("command", choices=["lab"])
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
        return lab(rest, workspace.COURSE if args.course else args.workdir.resolve())
    except (srv.ServerNotFound, srv.JetStreamDisabled, FileNotFoundError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
