"""What a job's transaction wrote: the application's objects it changed.

Taken from the connection of the task's transaction just before the
job's outcome is recorded in it, so that the list costs no commit of its
own and shows the task's writes, not the service's bookkeeping.  The
transaction is marked with a line naming the service, job and attempt
(`marker`), so that an undo can tell, from each object's history, that no
later transaction changed it (see `service.undoing`).
"""
import dataclasses
import itertools
from typing import Optional, Tuple

from ZODB.utils import oid_repr, z64

#: Objects listed for one attempt; the rest are only counted.
MAX_CHANGES = 100
#: Steps taken up `__parent__` (or `aq_parent`) to find an object's path.
MAX_PATH_STEPS = 40
#: Classes of these modules are the service's own, left out of the list.
OWN_MODULES = ('lovely.remotetask.store', 'lovely.remotetask.service',
               'lovely.remotetask.job')

#: One object changed: (class as dotted name, oid as hex, path or None,
#: whether the transaction created it).
Change = Tuple[str, str, Optional[str], bool]


def marker(service, jobid: int, attempt: int) -> str:
    """The line that marks the transaction of a job's attempt."""
    return (f'lovely.remotetask: job {jobid} attempt {attempt} of service '
            f'{oid_repr(service._p_oid)}')


def mark(connection) -> tuple:
    """Where `connection`'s lists of objects to write stand now, for
    `written` to leave out what was there before."""
    return len(connection._registered_objects), len(connection._added)


def written(connection, since=(0, 0)) -> list:
    """The objects `connection` will write at commit, those listed since
    `since` (a `mark`): those changed, and those added to it by hand (new
    objects only reachable from changed ones get their oids during the
    commit and show as the change of their container).  Both lists only
    grow during a transaction; a savepoint rolled back may shorten them,
    and then everything is taken."""
    registered, added = connection._registered_objects, connection._added
    changed, new = since
    if len(registered) < changed or len(added) < new:
        changed = new = 0
    found = registered[changed:]
    seen = {id(obj) for obj in found}
    found.extend(obj for obj in itertools.islice(added.values(), new, None)
                 if id(obj) not in seen)
    return found


def className(obj) -> str:
    cls = type(obj)
    return f'{cls.__module__}.{cls.__qualname__}'


def isOwn(obj) -> bool:
    """Whether `obj` is the service's bookkeeping, not application data."""
    return className(obj).startswith(OWN_MODULES)


def describe(objects) -> Tuple[Tuple[Change, ...], int]:
    """The application's objects among `objects`, as changes, at most
    MAX_CHANGES of them, and how many more there were."""
    changes, more = [], 0
    for obj in objects:
        if isOwn(obj):
            continue
        if len(changes) < MAX_CHANGES:
            changes.append((className(obj), oid_repr(obj._p_oid),
                            pathOf(obj), obj._p_serial == z64))
        else:
            more += 1
    return tuple(changes), more


def pathOf(obj) -> Optional[str]:
    """Where `obj` can be found, as far as it tells: its physical path
    (OFS), or the names up its `__parent__` (or `aq_parent`) chain, for at
    most MAX_PATH_STEPS steps; None when it has no name."""
    try:
        physical = getattr(obj, 'getPhysicalPath', None)
        if physical is not None:
            path = '/'.join(physical())
            if path.strip('/'):
                return path
        names = []
        for _ in range(MAX_PATH_STEPS):
            name = _nameOf(obj)
            parent = getattr(obj, '__parent__', None)
            if parent is None:
                parent = getattr(obj, 'aq_parent', None)
            if name is None:
                break
            names.append(str(name))
            if parent is None:
                break
            obj = parent
        else:
            names.append('...')
    except Exception:
        return None
    return '/'.join(reversed(names)) or None


def _nameOf(obj):
    name = getattr(obj, '__name__', None)
    if isinstance(name, str) and not isinstance(obj, type):
        return name
    getId = getattr(obj, 'getId', None)
    if callable(getId):
        return getId()
    return None


def taken(outcome, service, txn, since=(0, 0)):
    """`outcome` with what its task wrote through the service's
    connection (since the `mark` `since`), and its transaction marked as
    the attempt's (see `marker`) when that is anything."""
    found, more = describe(written(service._p_jar, since))
    if not found and not more:
        return outcome
    txn.note(marker(service, outcome.jobid, outcome.attempt))
    return dataclasses.replace(outcome, changes=found, moreChanges=more)
