"""Workshop mode: a room of learners on one server. Accounts and limits, the generated config, the progress
board, the hub. It plugs into the course through helpers/hooks.py (room/plugin.py); the course never
imports it."""
