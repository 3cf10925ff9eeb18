"""How workshop mode plugs into the course (helpers/hooks.py, registered in pyproject.toml): a learner's
verdicts go to the instructor's progress board, and NATS errors a learner's code raises get the room's
advice. Outside a workshop (a URL without a learner's user) both do nothing."""

from __future__ import annotations

from helpers.urls import learner_of
from room import progress, workshop


def install(hooks) -> None:
    hooks.VERDICT.append(progress.publish_verdict)
    hooks.ADVICE.append(advice)


def advice(error: BaseException, url: str | None) -> str | None:
    """What a learner can do about a NATS error their code raised in the workshop, or None."""
    import nats.errors
    import nats.js.errors

    learner = learner_of(url)
    if not learner:
        return None
    if isinstance(error, nats.errors.NoRespondersError):
        return (
            f"No one in your account ({learner}) listens on that subject right now. In the workshop every "
            "learner has an account of their own: subjects are not shared between learners, so a service "
            "that another learner runs is out of your reach, and yours out of theirs. Start the responder "
            "in your own notebook (or its cell above) first."
        )
    if isinstance(error, nats.js.errors.APIError) and (
        error.err_code in workshop.LIMIT_ERRORS or "resources" in (error.description or "")
    ):
        limits = ", ".join(f"{k} {v}" for k, v in workshop.LEARNER_LIMITS.items())
        return (
            f"Your account ({learner}) has used up one of its JetStream limits ({error.description}; the "
            f"limits are {limits}). Delete the streams, key-value buckets and object stores you no longer "
            "need: each notebook's Clean up section does that, so run it (or re-run the notebook to its end). "
            "If that is not enough, ask the instructor."
        )
    return None
