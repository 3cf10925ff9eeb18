"""`python -m room up|down|status|reset|board`: workshop mode without make (room/workshop.py)."""

import sys

from room.workshop import main

if __name__ == "__main__":
    sys.exit(main())
