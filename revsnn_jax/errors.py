"""The one exception type for bad input from a user, and the interrupt SIGTERM becomes."""


class InputError(ValueError):
    """A value the user gave cannot be used: a config field, a flag, an array shape, a name.

    A subclass of ``ValueError``, so ``except ValueError`` still catches it. The ``revsnn`` command prints these
    as one line (``revsnn: error: ...``); any other exception keeps its traceback, since it is a bug, not a typo.
    """


class Terminated(KeyboardInterrupt):
    """SIGTERM, raised where the run is, so that it unwinds like Ctrl-C (checkpoint writes finish first)."""
