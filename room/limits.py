"""What one learner may use on the workshop server, in one place: the generated nats-server config
(room/workshop.py), the Kubernetes values (room/kubernetes.py) and the abuse measurements
(room/abuse.py, docs/room-at-scale.md) all read these.

Sized so that every numbered notebook still passes for every learner (`make test-workshop` runs all of
them for three learners at once on a server with these limits), and so that one learner's abuse leaves the
others usable: measured in docs/room-at-scale.md.
"""

from __future__ import annotations

# Per learner account (nats-server `accounts { learnerNN { limits: {...} } }`, enforced by the server):
# 12 (performance) peaks at about 15 connections and 2 (request-reply) at a few hundred subscriptions.
LEARNER_ACCOUNT = {"max_connections": 64, "max_subscriptions": 10_000, "max_payload": 1_048_576}
# Per learner JetStream (`jetstream: {...}` in the account). max_consumers is per stream in nats-server, so a
# learner holds at most max_streams x max_consumers = 1,500 consumers (8,000 made a clean shutdown take 83 s).
# `make test-workshop` measured the course's peak per learner at 12 streams and 12 consumers in all.
LEARNER_JETSTREAM = {"max_mem": "64MB", "max_file": "256MB", "max_streams": 30, "max_consumers": 50}
INSTRUCTOR_JETSTREAM = {"max_mem": "16MB", "max_file": "256MB", "max_streams": 10, "max_consumers": 100}
# Server-wide: a connection whose reader falls 8 MB behind is cut as a slow consumer (default 64 MB: 30
# never-reading subscribers held 3.8 GB); JetStream consumers' limits for every account.
SERVER = {"max_payload": "1MB", "max_pending": "8MB", "write_deadline": '"5s"'}
JETSTREAM_SERVER_LIMITS = {"max_ack_pending": 10_000, "max_request_batch": 1_000}

# The progress board's stream in the INSTRUCTOR account: a verdict is about 150 bytes.
BOARD = {"max_msg_size": 1024, "max_bytes": 16 * 2**20, "max_msgs_per_subject": 2_000}

# What `make workshop-status` flags: a learner above this many JetStream API requests per second is
# probably looping (a notebook makes at most a few dozen in a burst).
API_RATE_ALERT = 50.0


def megabytes(size: str) -> int:
    return int(size.removesuffix("MB"))
