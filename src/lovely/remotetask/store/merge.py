"""Conflict resolution: pure functions of three states.

When two transactions change one object at once, ZODB hands the object's
``_p_resolveConflict`` the state both started from (`old`), the state the
first one committed (`committed`) and the state the second one wants to
commit (`new`).  What it returns is stored instead; ConflictError makes the
second transaction fail.  The stored structures of this package are built
so that what concurrent writers do to one object can always be merged, with
one exception on purpose: two transactions that take the same job conflict,
so that a job is claimed once.

References to persistent objects arrive as ``PersistentReference``s, which
compare with nothing but themselves: they are compared by oid.
"""
from ZODB.POSException import ConflictError

#: A key that one state has and another lacks.
MISSING = object()


def same(a, b) -> bool:
    """Whether two values of a state are the same (by oid for references)."""
    return getattr(a, 'oid', a) == getattr(b, 'oid', b)


def mergeValue(old, committed, new, what='a value'):
    """One side's change of a single value; both changing it differently
    conflicts."""
    if same(committed, old):
        return new
    if same(new, old) or same(new, committed):
        return committed
    raise ConflictError(f'{what} was changed twice')


def mergeMapping(old: dict, committed: dict, new: dict,
                 what='an entry') -> dict:
    """Merge two changes of a dict key by key: keys added, changed or
    removed by one side keep that change; a key that both sides changed
    differently conflicts (two sides adding the same key do)."""
    merged = {}
    for key in old.keys() | committed.keys() | new.keys():
        value = mergeValue(old.get(key, MISSING), committed.get(key, MISSING),
                           new.get(key, MISSING), f'{what} {key!r}')
        if value is not MISSING:
            merged[key] = value
    return merged


def mergeCounts(old: dict, committed: dict, new: dict) -> dict:
    """Counters changed by both sides: their changes add up (as
    `BTrees.Length` does), and zeros are dropped."""
    merged = {}
    for key in old.keys() | committed.keys() | new.keys():
        start = old.get(key, 0)
        value = committed.get(key, 0) + new.get(key, 0) - start
        if value:
            merged[key] = value
    return merged


def mergeEntries(old: tuple, committed: tuple, new: tuple) -> tuple:
    """Merge two changes of a segment's entries.

    Each side removed some of the old entries and added new ones.  Raise
    ConflictError when both removed the same entry: two transactions took
    the same job.  Entries are ordered (see `mergeSorted`), or come
    appended at the end.
    """
    oldEntries = set(old)
    removedCommitted = oldEntries.difference(committed)
    removedNew = oldEntries.difference(new)
    if removedCommitted & removedNew:
        raise ConflictError('the same entry was taken twice')
    removed = removedCommitted | removedNew
    return (tuple(e for e in old if e not in removed)
            + tuple(e for e in committed if e not in oldEntries)
            + tuple(e for e in new if e not in oldEntries))


def mergeSorted(old: tuple, committed: tuple, new: tuple) -> tuple:
    """Merge two changes of sorted entries (see `mergeEntries`): the
    result is sorted too."""
    return tuple(sorted(mergeEntries(old, committed, new)))


def mergeSlots(old: tuple, committed: tuple, new: tuple) -> tuple:
    """Merge two changes of a fixed tuple of slots, slot by slot."""
    return tuple(mergeValue(o, c, n, f'slot {i}') for i, (o, c, n)
                 in enumerate(zip(old, committed, new)))


def mergeFields(old: dict, committed: dict, new: dict,
                merges: dict = None) -> dict:
    """Merge two changes of an object's state attribute by attribute:
    `merges` names a merge function for some attributes; any other
    attribute takes the one side's change (see `mergeValue`)."""
    merges = merges or {}
    merged = {}
    for name in old.keys() | committed.keys() | new.keys():
        merge = merges.get(name)
        if merge is not None:
            merged[name] = merge(old.get(name), committed.get(name),
                                 new.get(name))
            continue
        value = mergeValue(old.get(name, MISSING),
                           committed.get(name, MISSING),
                           new.get(name, MISSING), f'attribute {name!r}')
        if value is not MISSING:
            merged[name] = value
    return merged
