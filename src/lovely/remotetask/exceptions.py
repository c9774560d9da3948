"""Exceptions raised by lovely.remotetask.

Everything derives from `RemoteTaskError`.  Errors about bad input also derive
from `ValueError` (or `KeyError` for unknown ids), so code written against the
builtin exceptions keeps working.  Messages name the offending id or value.
"""


def shorten(text: str, limit: int = 40) -> str:
    """`text` as a message quotes it: at most `limit` characters."""
    return text if len(text) <= limit else text[:limit] + '...'


def quoted(text: str, limit: int = 40) -> str:
    """The repr of `text` as a message quotes it, at most about `limit`
    characters: cut after escaping, since one odd character can escape
    to ten."""
    shown = repr(text)
    return shown if len(shown) <= limit + 2 else shown[:limit] + '...'


class RemoteTaskError(Exception):
    """Base of every error this package raises on purpose."""


class TaskError(RemoteTaskError):
    """Raised by a task to fail its job with a message and without retries."""


class UnknownTaskError(RemoteTaskError, ValueError):
    """No task of that name is registered."""

    def __init__(self, name: str) -> None:
        super().__init__(f'no task named {name!r} is registered')
        self.name = name


class UnknownJobError(RemoteTaskError, KeyError):
    """The service has no job with that id."""

    def __init__(self, jobid: int) -> None:
        super().__init__(f'no job with id {jobid!r}')
        self.jobid = jobid

    def __str__(self) -> str:
        # KeyError would show the repr of the message, quotes and all.
        return self.args[0]


class JobStateError(RemoteTaskError, ValueError):
    """The job exists but is in a state that does not allow the operation."""


class InvalidArgumentError(RemoteTaskError, ValueError):
    """An argument out of its range or of the wrong kind."""


class ScheduleError(RemoteTaskError, ValueError):
    """A schedule field holds a value that can never match."""


class UnstorableError(RemoteTaskError, ValueError):
    """A value cannot be pickled into the database."""


class PackBusyError(RemoteTaskError):
    """Another pack of the same database runs; nothing was done."""


class UndoRefusedError(JobStateError):
    """A job's changes cannot be undone: the message says why."""
