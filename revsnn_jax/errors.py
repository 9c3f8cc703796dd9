"""The one exception type for bad input from a user."""


class InputError(ValueError):
    """A value the user gave cannot be used: a config field, a flag, an array shape, a name.

    A subclass of ``ValueError``, so ``except ValueError`` still catches it. The ``revsnn`` command prints these
    as one line (``revsnn: error: ...``); any other exception keeps its traceback, since it is a bug, not a typo.
    """
