"""How long a call may wait for its work and still answer before the client's deadline."""

from __future__ import annotations

import grpc

ANSWER_MARGIN_SECONDS = 1.0
WAIT_MAX_SECONDS = 30.0


def wait_budget(context: grpc.ServicerContext) -> float:
    """Seconds the call may wait (for a write to commit, say): the time left before its
    deadline less a margin for the answer to reach the client, and at most 30 s (also for a
    call without a deadline)."""
    remaining = context.time_remaining()
    if remaining is None:
        return WAIT_MAX_SECONDS
    return min(WAIT_MAX_SECONDS, max(remaining - ANSWER_MARGIN_SECONDS, remaining / 2))
