"""chainrule's error classes.

Each is a ``ValueError`` so that code catching the usual exception keeps
working; the CLI turns any of them into one line on stderr and exit code 2.
"""


class ChainruleError(ValueError):
    """Base class of the errors chainrule raises about its inputs."""


class DataError(ChainruleError):
    """A data file or array that cannot be used: missing, unreadable, malformed."""


class ModelFileError(ChainruleError):
    """A model or checkpoint file that cannot be loaded safely."""
