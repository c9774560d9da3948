"""Checking that a value can be stored before it is stored.

A value that cannot be pickled would only fail at commit, far from the call
that brought it, and would take the whole transaction down with it.
"""
import io
import pickle

import persistent

from lovely.remotetask.exceptions import UnstorableError


class _ReferencePickler(pickle.Pickler):
    # ZODB stores persistent objects as references, not inline: stop at them
    # as it does, rather than pickling whatever graph they lead to.
    def persistent_id(self, obj):
        if isinstance(obj, persistent.Persistent):
            return id(obj)
        return None


def checkStorable(value, what: str) -> None:
    """Raise `UnstorableError` naming `what` if `value` cannot be pickled."""
    try:
        _ReferencePickler(io.BytesIO(), protocol=3).dump(value)
    except Exception as error:
        raise UnstorableError(
            f'{what} cannot be stored in the database: '
            f'{type(error).__name__}: {error}') from error
