"""Stamps: the order in which jobs were placed, as far as commits tell.

A job placed in a chain (queued, finished, ...) gets a stamp: the last
transaction its writer's connection sees (the start of its snapshot), and
a count of the places that connection made in that snapshot.  A
transaction that began after another committed sees that commit, so its
stamps are later than every stamp the other made: jobs come out first in,
first out, as far as commit order tells, whoever added them.  Jobs placed
by transactions that ran at the same time may come in either order.

Stamps count from the store's epoch, in the units of transaction ids
(2**32 a minute), so that they take few bytes.  A chain's entry is the
stamp and the job id in one int, which sorts as the entries should.
"""
from typing import Optional

from ZODB.mvccadapter import MVCCAdapterInstance
from ZODB.TimeStamp import TimeStamp
from ZODB.utils import newTid, p64, u64

from lovely.remotetask.interfaces import ID_BITS

_ID_MASK = (1 << ID_BITS) - 1
#: Bits for the count of places a connection made in one snapshot.
COUNT_BITS = 16
#: Bits for how often a job went back to a place it had (see `again`).
AGAIN_BITS = 4

#: Where a connection keeps (snapshot, count) of the last stamp it gave:
#: on the connection itself, which one thread uses at a time.
_LAST = '_lovely_remotetask_stamp'


def entry(stamp: int, jobid: int) -> int:
    return (stamp << ID_BITS) | jobid


def entryId(value: int) -> int:
    return value & _ID_MASK


def entryStamp(value: int) -> int:
    return value >> ID_BITS


def tidTime(tid: bytes) -> float:
    """The time (epoch seconds) at which transaction `tid` committed."""
    return TimeStamp(tid).timeTime()


def stampTime(epoch: int, stamp: int) -> float:
    """The epoch seconds of a stamp of a store made at `epoch`."""
    return tidTime(p64((stamp >> (COUNT_BITS + AGAIN_BITS)) + epoch))


def again(stamp: int) -> int:
    """The stamp of a job that goes back to the place `stamp` gave it: it
    sorts there still, and the entry of the old stamp is dead."""
    mask = (1 << AGAIN_BITS) - 1
    return (stamp & ~mask) | ((stamp + 1) & mask)


def epochNow() -> int:
    """An epoch for a new store: the transaction id of now."""
    return u64(newTid(None))


def nextStamp(obj, epoch: int) -> int:
    """The stamp of a place made now through `obj`'s connection, for a
    store made at `epoch`."""
    jar = obj._p_jar
    tid = _lastSeen(jar._normal_storage) if jar is not None else None
    if not tid or tid == b'\0' * 8:
        tid = newTid(None)     # no commit seen yet, or in no database
    snapshot = u64(tid)
    last = jar.__dict__.get(_LAST) if jar is not None else \
        getattr(obj, '_v_lastStamp', None)
    if last is not None and last[0] >= snapshot:
        # The same snapshot (or one the last stamp borrowed from).
        snapshot, count = last[0], last[1] + 1
        if count >> COUNT_BITS:    # more than fit: borrow the next tick
            snapshot, count = snapshot + 1, 0
    else:
        count = 0
    if jar is not None:
        jar.__dict__[_LAST] = (snapshot, count)
    else:
        obj._v_lastStamp = (snapshot, count)
    return ((max(snapshot - epoch, 0) << COUNT_BITS) | count) << AGAIN_BITS


def _lastSeen(storage) -> Optional[bytes]:
    """The last transaction a connection's own storage (not the one a
    savepoint puts in its place) sees.

    ZODB's MVCC adapter (FileStorage, ZEO) keeps where the connection's
    snapshot starts: reading it takes no lock, whereas the storage's
    `lastTransaction` waits for the storage lock, which a FileStorage
    holds while it syncs a commit to disk.  Other storages (RelStorage)
    are asked.
    """
    start = storage._start if isinstance(storage, MVCCAdapterInstance) \
        else None
    if start:
        return p64(u64(start) - 1)
    return storage.lastTransaction()
