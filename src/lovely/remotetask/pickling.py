"""Checking that a value can be stored before it is stored.

A value that cannot be pickled would only fail at commit, far from the call
that brought it, and would take the whole transaction down with it.  A
value too large would stall the storage server for every client: it is
refused before it is written, and its pickling stops at the limit.
"""
import pickle

import persistent

from lovely.remotetask.defaults import MAX_STORED_SIZE
from lovely.remotetask.exceptions import UnstorableError


class _TooLarge(Exception):
    pass


class _Counter:
    """A file that counts what is written to it, up to a limit."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.size = 0

    def write(self, data) -> None:
        self.size += len(data)
        if self.size > self.limit:
            raise _TooLarge


class _ReferencePickler(pickle.Pickler):
    # ZODB stores persistent objects as references, not inline: stop at them
    # as it does, rather than pickling whatever graph they lead to.  The
    # pickler asks `reducer_override` only about objects of classes it does
    # not know (a `persistent_id` would be called for every int and str).
    def reducer_override(self, obj):
        if isinstance(obj, persistent.Persistent):
            return int, (0,)
        return NotImplemented


def storedSize(value, what: str, limit: int = MAX_STORED_SIZE) -> int:
    """The bytes `value` takes pickled (at most: small plain values are not
    pickled to find out); raise `UnstorableError` naming `what` if it
    cannot be pickled or takes more than `limit`."""
    if value is None or type(value) in (bool, int, float):
        return 16
    if type(value) in (str, bytes) and len(value) * 4 + 16 <= limit:
        return len(value) * 4 + 16
    sink = _Counter(limit)
    try:
        _ReferencePickler(sink, protocol=3).dump(value)
    except _TooLarge:
        raise UnstorableError(
            f'{what} is larger than the limit of {limit:,} bytes that a '
            f'job may store') from None
    except RecursionError:
        raise UnstorableError(
            f'{what} cannot be stored in the database: it is nested too '
            f'deeply') from None
    except Exception as error:
        raise UnstorableError(
            f'{what} cannot be stored in the database: '
            f'{type(error).__name__}: {error}') from error
    return sink.size


def checkStorable(value, what: str, limit: int = MAX_STORED_SIZE) -> None:
    """Raise `UnstorableError` naming `what` if `value` cannot be stored."""
    storedSize(value, what, limit)


def shorten(text: str, limit: int = MAX_STORED_SIZE // 4) -> str:
    """`text` cut to about `limit` characters, saying so."""
    if text is None or len(text) <= limit:
        return text
    return text[:limit] + f'... ({len(text) - limit:,} more characters)'
