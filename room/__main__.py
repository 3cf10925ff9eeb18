"""`python -m room up|add|disable|enable|down|status|reset|board` (room/workshop.py) and
`python -m room hub|hub-add|hub-down` (room/hub.py): workshop mode without make."""

import sys

if __name__ == "__main__":
    if sys.argv[1:2] in (["hub"], ["hub-add"], ["hub-down"]):
        from room.hub import main
    else:
        from room.workshop import main
    sys.exit(main())
