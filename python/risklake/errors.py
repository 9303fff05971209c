"""The exceptions risklake raises, by the kind of failure.

Every one is a :class:`RisklakeError`; each is also the built-in exception Python code
expects for its kind, so ``except ValueError`` / ``except KeyError`` work as usual:

======================  ===================================  ==============================
class                   also                                 raised when
======================  ===================================  ==============================
InvalidInputError       ValueError                           an argument, option, file or
                                                             table is not valid; ``.param``
                                                             names the parameter when one
                                                             is at fault
NotFoundError           KeyError                             a table, run, model, column or
                                                             snapshot does not exist
MissingFileError        NotFoundError, FileNotFoundError     a file does not exist
ConflictError           --                                   the request clashes with the
                                                             current state (a name taken)
CancelledError          --                                   the work was cancelled
ExternalError           OSError                              the file system, a database or
                                                             an engine failed
======================  ===================================  ==============================
"""

from typing import Optional

__all__ = [
    "RisklakeError",
    "InvalidInputError",
    "NotFoundError",
    "MissingFileError",
    "ConflictError",
    "CancelledError",
    "ExternalError",
]


class RisklakeError(Exception):
    """Any failure risklake reports; ``.param`` names the parameter at fault, if one is."""

    param: Optional[str] = None

    def __str__(self) -> str:  # KeyError would show the message quoted
        return str(self.args[0]) if self.args else ""


class InvalidInputError(RisklakeError, ValueError):
    """An argument, option, file or table that is not valid."""


class NotFoundError(RisklakeError, KeyError):
    """A table, run, model, column or snapshot that does not exist."""


class MissingFileError(NotFoundError, FileNotFoundError):
    """A file that does not exist."""


class ConflictError(RisklakeError):
    """The request clashes with the current state (a name in use, another study's table)."""


class CancelledError(RisklakeError):
    """The work was cancelled; what it had begun was rolled back."""


class ExternalError(RisklakeError, OSError):
    """The file system, a database or an engine failed."""


# The name the extension raises for a missing file.
FileNotFound = MissingFileError
