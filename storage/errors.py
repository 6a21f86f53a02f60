"""User-facing errors. Every message here may be shown to a Discord user as it is."""


class ShowrunnerError(Exception):
    """Base class: the message is short, clear and safe to show."""


class NotFound(ShowrunnerError):
    pass


class NotAllowed(ShowrunnerError):
    pass


class InvalidState(ShowrunnerError):
    """A status rule refused the change (e.g. approving a shot with no take in review)."""


class InvalidInput(ShowrunnerError):
    pass
