"""The intake: what every transaction on a service writes.

Applications add jobs from many threads and processes at once, inside
their own transactions, and workers claim and record them; none of them
may fail another.  In ZODB two transactions fail each other when they
change one object in ways that cannot be merged, or when one changes what
the other read as current (BTrees do that to their inner nodes on every
insert).  So every writer writes one small object, the intake, whose
concurrent changes always merge:

- `jobs`: the jobs moved (added, queued again, finished ...) since the
  store last sorted them into its chains, as references, in the order
  they moved: writers append, the store's drain takes all it sees;
- `drains`: how many drains there have been: two drains at once
  conflict, and only they;
- `counts`: how many jobs have each status, by status name: each writer
  adds its changes, and the changes of two writers add up;
- `minute`: how many jobs finished in the current minute, by status.

An add writes the intake and the job, and nothing else: two records.
Only two drains that take the same jobs conflict, and a drain runs where
a conflict costs a retry of its own, never an application's transaction.
"""
from collections import Counter
from typing import Dict, Optional

from ZODB.POSException import ConflictError

from lovely.remotetask.interfaces import FINISHED
from lovely.remotetask.store.merge import mergeCounts
from lovely.remotetask.store.versioning import Versioned


class Intake(Versioned):

    jobs = ()
    #: How many drains there have been: two at once conflict.
    drains = 0
    counts: Dict[str, int] = {}
    #: (minute, then a count for each status of FINISHED), or ().
    minute = ()

    def _p_resolveConflict(self, old, committed, new):
        drains = old.get('drains', 0)
        if committed.get('drains', 0) != drains and \
                new.get('drains', 0) != drains:
            raise ConflictError('two drains at once')
        merged = dict(
            new,
            drains=max(committed.get('drains', 0), new.get('drains', 0)),
            jobs=mergeMoved(old.get('jobs', ()), committed.get('jobs', ()),
                            new.get('jobs', ())),
            counts=mergeCounts(old.get('counts', {}),
                               committed.get('counts', {}),
                               new.get('counts', {})),
            minute=mergeMinute(old.get('minute', ()),
                               committed.get('minute', ()),
                               new.get('minute', ())))
        for name in ('drains', 'jobs', 'counts', 'minute'):
            if not merged[name]:
                del merged[name]
        return merged

    def append(self, job) -> None:
        self.jobs += (job,)

    def count(self, status: str, delta: int) -> None:
        counts = dict(self.counts)
        value = counts.get(status, 0) + delta
        if value:
            counts[status] = value
        else:
            counts.pop(status, None)
        self.counts = counts

    def finished(self, status: str, minute: int) -> Optional[tuple]:
        """Count a job that finished with `status` in `minute`; return the
        counts of the minute before, when this one is a new minute."""
        last = self.minute
        rolled = None
        if last and last[0] != minute:
            rolled, last = last, ()
        counts = list(last[1:] if last else (0,) * len(FINISHED))
        counts[FINISHED.index(status)] += 1
        self.minute = (minute,) + tuple(counts)
        return rolled

    def drain(self, most: Optional[int] = None) -> tuple:
        """Take the first `most` jobs out (all with None)."""
        jobs = self.jobs
        cut = len(jobs) if most is None else most
        taken, self.jobs = jobs[:cut], jobs[cut:]
        self.drains += 1
        return taken


def _key(entry):
    # In a conflict, references come as PersistentReferences, which refuse
    # to be compared with others: they are told apart by oid.
    return getattr(entry, 'oid', entry)


def mergeMoved(old: tuple, committed: tuple, new: tuple) -> tuple:
    """Merge two changes of the jobs moved: each side took some of the old
    ones out (a drain takes all it sees) and appended some (two drains
    never meet here: they conflict on the intake's count of drains).

    A job may be there more than once (it moved twice): the entries are
    told apart by how often each job is there.  `committed` may be many
    commits past `old`."""
    counted = [Counter(map(_key, side)) for side in (old, committed, new)]
    oldCount, committedCount, newCount = counted
    drop = (oldCount - committedCount) + (oldCount - newCount)
    merged = []
    for entry in old:
        key = _key(entry)
        if drop[key]:
            drop[key] -= 1
        else:
            merged.append(entry)
    for side, added in ((committed, committedCount - oldCount),
                        (new, newCount - oldCount)):
        tail = []
        for entry in reversed(side):
            key = _key(entry)
            if added[key]:
                added[key] -= 1
                tail.append(entry)
        merged.extend(reversed(tail))
    return tuple(merged)


def mergeMinute(old: tuple, committed: tuple, new: tuple) -> tuple:
    """Merge two changes of the current minute's counts.  A side that
    began a new minute wins; counts the other added to the minute before
    then are lost to the activity chart (never to the status counts)."""
    minute = max(side[0] for side in (old, committed, new) if side) \
        if old or committed or new else None
    if minute is None:
        return ()

    def counts(side):
        return side[1:] if side and side[0] == minute else \
            (0,) * len(FINISHED)
    return (minute,) + tuple(
        c + n - o for o, c, n in zip(counts(old), counts(committed),
                                     counts(new)))
