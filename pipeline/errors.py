"""What can go wrong while making media, as one tree rooted at ShowrunnerError.

Engines keep diffusers' convention instead: a ValueError that names the bad value (the worker
turns it into BadRequest)."""

from __future__ import annotations

from storage.errors import ShowrunnerError


class FfmpegError(ShowrunnerError):
    """ffmpeg failed; the message is short, the stderr tail is kept for the log."""

    def __init__(self, message: str, stderr_tail: str = "") -> None:
        super().__init__(message)
        self.stderr_tail = stderr_tail


class DiskFullError(FfmpegError):
    """ffmpeg could not write its output: the disk (or its file size allowance) is full."""


class AssembleError(ShowrunnerError):
    """A cut cannot be made from these shots; the message says which shot and why."""


class DeliveryError(AssembleError):
    """No delivery copy could be made; the message says why."""


class WorkerError(ShowrunnerError):
    """The worker refused a job, broke, or could not be reached; the message says which."""


class BadRequest(WorkerError):
    """The worker refused the request itself (a value it cannot render): a retry cannot help."""


class WorkerGone(WorkerError):
    """The render actor died or is being restarted mid-job: the job is retried elsewhere."""
