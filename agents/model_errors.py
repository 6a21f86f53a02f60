"""What can go wrong when we ask the model, as errors a user can read: one tree, one module."""

from __future__ import annotations

import logging

import openai

from storage.errors import ShowrunnerError

log = logging.getLogger(__name__)


class ModelFailed(ShowrunnerError):
    """A model call failed; `changes_saved` when tools had already changed the plan."""

    def __init__(self, message: str, *, changes_saved: bool = False) -> None:
        super().__init__(message)
        self.changes_saved = changes_saved


class ModelUnavailable(ModelFailed):
    """Timeouts, rate limits, server errors (after the openai client's own retries), bad bodies."""


class ModelCrashed(ModelUnavailable):
    """The model server we run ourselves died during the call; it starts again next turn."""


class ModelRefused(ModelFailed):
    """The endpoint rejected the request itself (key, model, features): retrying cannot help."""


class BadModelOutput(ShowrunnerError):
    pass


MODEL_ERRORS = (openai.APIError, TimeoutError, ConnectionError)
# raised inside the chat model when a 200 body is not a chat completion (bad JSON, no choices)
BROKEN_ANSWER_ERRORS = (ValueError, KeyError, TypeError)
# statuses the openai client retries itself; they arrive here once its retries are spent
RETRIED_STATUSES = frozenset({408, 409, 429})


def model_failure(error: BaseException, changed: bool, crash: str | None = None) -> ModelFailed:
    """The user-facing error for a failed call (logged by type and status only). Never the
    server's text: it may echo the key. `crash` says how our own model server died, if it did."""
    log.warning(
        "model call failed: %s (HTTP %s)",
        type(error).__name__,
        getattr(error, "status_code", None),
    )
    outcome = "the changes made so far are saved" if changed else "nothing was changed"
    if crash is not None:
        return ModelCrashed(
            f"The embedded model crashed ({crash}); {outcome}. It starts again with the next "
            "message. To use another model, set OPENAI_BASE_URL.",
            changes_saved=changed,
        )
    status = getattr(error, "status_code", None)
    if isinstance(status, int) and 400 <= status < 500 and status not in RETRIED_STATUSES:
        if status in {401, 403}:
            hint = "check OPENAI_API_KEY / SHOWRUNNER_LLM_MODEL"
        else:
            hint = "check SHOWRUNNER_LLM_MODEL / OPENAI_BASE_URL (the model must support tools)"
        return ModelRefused(
            f"The LLM endpoint refused the request (HTTP {status}): {hint}. "
            f"{outcome.capitalize()}.",
            changes_saved=changed,
        )
    if isinstance(error, BROKEN_ANSWER_ERRORS):
        return ModelUnavailable(
            f"The model's endpoint sent a broken answer; {outcome}.", changes_saved=changed
        )
    if changed:
        return ModelUnavailable(f"The model stopped answering; {outcome}.", changes_saved=True)
    return ModelUnavailable("The model is not answering; nothing was changed.")
