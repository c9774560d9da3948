"""Queues of job ids: those waiting to run, and those finished, in order.

Two measured facts shape it.  `zc.queue.Queue` keeps every item in one
tuple, rewritten on each put and pull, so its cost grows with the backlog
(measured: 8-10 ms and 60 KB per pull at 20,000 items).  A BTree keyed by arrival
has flat cost, but its buckets refuse to merge a removal of their first key
with any other change: whenever the queue is short, an application adding a
job and a worker claiming one would conflict, and the application's
transaction could be the one to fail.

So the queue is a chain of small segments.  Producers append to the last,
consumers pull from the first, each operation rewrites one segment of at
most `SEGMENT_SIZE` ids, and a segment merges concurrent appends and
removals the way zc.queue's `resolveQueueConflict` does.  Two consumers that
take the same id still conflict, which keeps a job from being claimed twice.
"""
from typing import Iterator, Optional

import persistent
from BTrees.Length import Length
from ZODB.POSException import ConflictError

#: Ids a segment takes before the next one is started.
SEGMENT_SIZE = 30


def mergeEntries(old: tuple, committed: tuple, new: tuple) -> tuple:
    """Merge two concurrent changes of a segment's ids.

    Each side removed some of the old ids and appended new ones at the end.
    Raise ConflictError when both removed the same id.
    """
    oldIds = set(old)
    removedCommitted = oldIds.difference(committed)
    removedNew = oldIds.difference(new)
    if removedCommitted & removedNew:
        raise ConflictError('the same queue entry was taken twice')
    removed = removedCommitted | removedNew
    return (tuple(i for i in old if i not in removed)
            + tuple(i for i in committed if i not in oldIds)
            + tuple(i for i in new if i not in oldIds))


def mergeReference(old, committed, new):
    """Keep the one side's change of a reference; both changing conflicts."""
    def same(a, b):
        # Conflict resolution sees PersistentReference objects, which
        # refuse to compare with anything but themselves: compare oids.
        return getattr(a, 'oid', a) == getattr(b, 'oid', b)

    if same(committed, old):
        return new
    if same(new, old) or same(new, committed):
        return committed
    raise ConflictError('a queue link was changed twice')


class _Segment(persistent.Persistent):

    def __init__(self) -> None:
        self.entries = ()
        #: How many ids were ever appended; the segment is full at the size.
        self.appended = 0
        self.next = None
        #: Set when consumers move past the segment for good.
        self.closed = False

    def _p_resolveConflict(self, old, committed, new):
        appended = committed['appended'] > old['appended'] or \
            new['appended'] > old['appended']
        if appended and (committed['closed'] or new['closed']):
            # An append from a producer that did not see the segment left
            # behind would be lost: it has to try again.
            raise ConflictError('appended to a segment left behind')
        return dict(
            new,
            closed=committed['closed'] or new['closed'],
            entries=mergeEntries(
                old['entries'], committed['entries'], new['entries']),
            appended=(committed['appended'] + new['appended']
                      - old['appended']),
            next=mergeReference(old['next'], committed['next'], new['next']),
        )


class JobQueue(persistent.Persistent):
    """First in, first out; each operation rewrites one small segment."""

    def __init__(self) -> None:
        self._head = self._tail = _Segment()
        # Length resolves concurrent changes as old + delta1 + delta2.
        self._length = Length()

    def _p_resolveConflict(self, old, committed, new):
        # Consumers move the head, producers the tail.
        return dict(
            new,
            _head=mergeReference(old['_head'], committed['_head'],
                                 new['_head']),
            _tail=mergeReference(old['_tail'], committed['_tail'],
                                 new['_tail']),
        )

    def put(self, jobid: int) -> object:
        """Append `jobid`; return the token that `remove` takes."""
        tail = self._tail
        if tail.appended >= SEGMENT_SIZE:
            tail.next = self._tail = _Segment()
            tail = tail.next
        tail.entries += (jobid,)
        tail.appended += 1
        self._length.change(1)
        return tail

    def pull(self, spread: int = 0) -> Optional[int]:
        """Remove and return the first job id, or None if there is none.

        With a `spread` of k, take the k-th of the first ids instead (as
        far as there are): consumers that pull at the same time with
        different spreads take different ids, and their changes merge
        instead of conflicting.  Order is then first in, first out within
        that many ids.
        """
        head = self._head
        while not head.entries:
            if head.next is None:
                return None
            head.closed = True
            head = self._head = head.next
        index = min(spread, len(head.entries) - 1)
        jobid = head.entries[index]
        head.entries = head.entries[:index] + head.entries[index + 1:]
        self._length.change(-1)
        return jobid

    def peek(self) -> Optional[int]:
        """The first job id, left in place, or None."""
        for segment in self._segments():
            if segment.entries:
                return segment.entries[0]
        return None

    def remove(self, token: object, jobid: int) -> None:
        """Remove `jobid`, put in the queue with the `token` put returned."""
        if jobid not in token.entries:
            raise KeyError(jobid)
        token.entries = tuple(i for i in token.entries if i != jobid)
        self._length.change(-1)

    def __len__(self) -> int:
        return self._length()

    def __bool__(self) -> bool:
        return self._length() > 0

    def __iter__(self) -> Iterator[int]:
        for segment in self._segments():
            yield from segment.entries

    def _segments(self):
        segment = self._head
        while segment is not None:
            yield segment
            segment = segment.next
