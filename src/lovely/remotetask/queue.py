"""Chains: one writer's first-in, first-out lists of entries.

A chain is a linked list of small segments.  Its writer appends to the
last segment; anyone takes entries out of any segment (a worker claiming
a job, someone cancelling one); readers walk it from the first.  Each
operation rewrites one segment of at most `SEGMENT_SIZE` entries, so it
costs the same at any length.

A chain that is read newest first too (the finished jobs of a status)
links each segment to the one before it.  The head's link is cut when
the head moves, so that what the readers left behind is garbage a pack
collects, not a history kept alive from the tail.

Only one writer ever appends to a chain (see `lanes`), so two appends
never race to start the next segment.  Taking and appending merge (see
`merge.mergeEntries`), except that two transactions taking the same entry
conflict: a job is claimed once.
"""
from typing import Iterator, Optional, Tuple

import persistent
from ZODB.POSException import ConflictError

from lovely.remotetask.merge import mergeEntries, mergeFields
from lovely.remotetask.versioning import Versioned

#: Entries a segment takes before the next one is started.
SEGMENT_SIZE = 30


class Segment(Versioned):

    #: The segment before this one, in a chain that links back.
    prev = None

    def __init__(self, chain: 'Chain', seq: int) -> None:
        self._initState()
        #: The chain the segment belongs to, and its place in it.
        self.chain = chain
        self.seq = seq
        self.entries = ()
        #: How many entries were ever appended; the segment is full at
        #: SEGMENT_SIZE.
        self.appended = 0
        self.next = None
        #: Set when readers move past the segment for good.
        self.closed = False

    def _p_resolveConflict(self, old, committed, new):
        appended = committed['appended'] > old['appended'] or \
            new['appended'] > old['appended']
        if appended and (committed['closed'] or new['closed']):
            # An append that did not see the segment left behind would be
            # lost: it has to try again.
            raise ConflictError('appended to a segment left behind')
        return mergeFields(old, committed, new, dict(
            entries=mergeEntries,
            appended=lambda o, c, n: c + n - o,
            closed=lambda o, c, n: c or n))


class Chain(Versioned):
    """First in, first out; the writer moves the tail, readers the head."""

    #: Whether each new segment links to the one before it (see
    #: `newestFirst`); chains stored before there were links have none.
    linksBack = False

    def __init__(self, linksBack: bool = False) -> None:
        self._initState()
        self.head = self.tail = Segment(self, 0)
        self.headSeq = 0
        if linksBack:
            self.linksBack = True

    def _p_resolveConflict(self, old, committed, new):
        # Readers that emptied the first segments move the head past them;
        # two that did so at once keep the one that went further (what
        # both passed is empty in the merged segments too: only the writer
        # appends, and only to the tail).
        merged = mergeFields(old, committed, new, dict(
            head=lambda o, c, n: None, headSeq=lambda o, c, n: None))
        ahead = committed if committed['headSeq'] >= new['headSeq'] else new
        merged.update(head=ahead['head'], headSeq=ahead['headSeq'])
        return merged

    def append(self, entry: int) -> Segment:
        """Append `entry`; return the segment that holds it, which `take`
        wants back."""
        tail = self.tail
        if tail.appended >= SEGMENT_SIZE:
            tail.next = self.tail = Segment(self, tail.seq + 1)
            if self.linksBack:
                tail.next.prev = tail
            tail = tail.next
        tail.entries += (entry,)
        tail.appended += 1
        return tail

    def take(self, segment: Segment, entry: int) -> None:
        """Remove `entry` from `segment`, one of this chain's; raise
        KeyError if it is not there."""
        entries = segment.entries
        try:
            index = entries.index(entry)
        except ValueError:
            raise KeyError(entry) from None
        segment.entries = entries[:index] + entries[index + 1:]
        self._advance()

    def first(self, count: int = 1) -> Iterator[Tuple[Segment, int]]:
        """(segment, entry) of the first `count` entries, in order."""
        for segment in self._segments():
            for entry in segment.entries:
                if count <= 0:
                    return
                yield segment, entry
                count -= 1

    def peek(self) -> Optional[int]:
        for _, entry in self.first():
            return entry
        return None

    def isEmpty(self) -> bool:
        return self.peek() is None

    def __iter__(self) -> Iterator[int]:
        for segment in self._segments():
            yield from segment.entries

    def newestFirst(self, start: Optional[Segment] = None) \
            -> Iterator[Segment]:
        """The segments from `start` (the tail if None) back to the head."""
        segment = self.tail if start is None else start
        while True:
            yield segment
            if segment.seq <= self.headSeq:
                return
            before = segment.prev
            if before is None:
                # Segments made before the chain linked back: the ones
                # before `segment`, found from the head.
                older = []
                for before in self._segments():
                    if before.seq >= segment.seq:
                        break
                    older.append(before)
                yield from reversed(older)
                return
            segment = before

    def _advance(self) -> None:
        """Move the head past empty segments the writer has left."""
        head = self.head
        while not head.entries and head.next is not None:
            if not head.closed:
                head.closed = True
            head = head.next
        if head is not self.head:
            self.head, self.headSeq = head, head.seq
            if head.prev is not None:
                del head.prev

    def _segments(self):
        segment = self.head
        while segment is not None:
            yield segment
            segment = segment.next


class _Segment(persistent.Persistent):
    """A segment of the queues of the development versions before lanes,
    which stored it under this module's name (see `legacy`)."""

    entries = ()
    next = None


class JobQueue(persistent.Persistent):
    """A queue of those versions: a chain of `_Segment`s."""

    _head = None

    def __iter__(self):
        segment = self._head
        while segment is not None:
            yield from segment.entries
            segment = segment.next
