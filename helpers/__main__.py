"""`python -m helpers up|down|status`: the course's server without make.

`make up`, `make down` and `make status` call these; `make lab` is `python -m tools lab`, and workshop
mode is `python -m room up|down|status|reset|board`.
"""

import argparse
import sys

from helpers import course_server
from helpers import server as srv


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m helpers", description=__doc__)
    parser.add_argument("command", choices=["up", "down", "status"])
    args = parser.parse_args(argv)
    try:
        if args.command == "up":
            srv.up(started_by="make up")
            print(srv.status())
        elif args.command == "down":
            print(course_server.down())
        else:
            print(srv.status())
    except (srv.ServerNotFound, srv.JetStreamDisabled, FileNotFoundError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
