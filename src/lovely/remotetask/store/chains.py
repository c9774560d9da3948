"""Chains: the jobs of one channel (a status, and for queued jobs their
priority, queue and task) in the order they came.

A chain is a linked list of small segments of entries (see `stamps`).
Only the store's drain appends, to the last segment, whole batches of
entries sorted by stamp; anyone takes entries out of any segment (a
worker claiming a job from the head, expiry taking the oldest); readers
walk it from the first.  Each operation rewrites one segment of at most
`SEGMENT_SIZE` entries, so it costs the same at any length.

Entries are not taken out when their job moves elsewhere by id (a cancel,
a retry by hand): the job's own stamp says where it is, an entry of
another stamp is dead, and readers pass it (the head drops it as it
comes by).  So a move out of order writes the job alone.

Each segment links back to the one before it, so that finished jobs can
be listed newest first; the head's link is cut when the head moves, so
that what readers left behind is garbage that a pack collects.
"""
from typing import Iterator, Optional, Tuple

from ZODB.POSException import ConflictError

from lovely.remotetask.store.merge import mergeFields, mergeSorted
from lovely.remotetask.store.versioning import Versioned

#: Entries a segment takes before the next one is started.
SEGMENT_SIZE = 32


class Segment(Versioned):

    #: The segment before this one in its chain (cut at the head).
    prev = None
    next = None
    #: Set when the head moves past the segment for good.
    closed = False

    def __init__(self, chain: 'Chain', seq: int) -> None:
        #: The chain the segment belongs to, and its place in it.
        self.chain = chain
        self.seq = seq
        self.entries = ()

    def _p_resolveConflict(self, old, committed, new):
        appended = len(committed.get('entries', ())) > len(old.get(
            'entries', ())) or len(new.get('entries', ())) > len(
            old.get('entries', ()))
        if appended and (committed.get('closed') or new.get('closed')):
            raise ConflictError('appended to a segment left behind')
        return mergeFields(old, committed, new, dict(
            entries=lambda o, c, n: mergeSorted(o or (), c or (), n or ()),
            closed=lambda o, c, n: bool(c or n)))

    def __repr__(self):
        return f'<Segment {self.seq} of {len(self.entries)}>'


class Chain(Versioned):
    """First in, first out; the drain moves the tail, readers the head."""

    #: Set when an empty chain is taken out of its store, so that a drain
    #: appending to it at the same time conflicts.
    retired = False

    def __init__(self, channel: tuple) -> None:
        self.channel = channel
        self.head = self.tail = Segment(self, 0)
        self.headSeq = 0
        #: Entries ever appended: a drain always writes the chain, so that
        #: it conflicts with the chain's retirement.
        self.appended = 0

    def _p_resolveConflict(self, old, committed, new):
        if (committed.get('retired') or new.get('retired')) and \
                committed.get('appended') != new.get('appended'):
            raise ConflictError('a chain retired while a drain appended')
        # Readers that emptied the first segments move the head past them;
        # two that did so at once keep the one that went further.
        merged = mergeFields(old, committed, new, dict(
            head=lambda o, c, n: None, headSeq=lambda o, c, n: None,
            appended=lambda o, c, n: c + n - o))
        ahead = committed if committed['headSeq'] >= new['headSeq'] else new
        merged.update(head=ahead['head'], headSeq=ahead['headSeq'])
        return merged

    def extend(self, entries) -> None:
        """Add `entries` (sorted), each in its place: a chain stays sorted.
        Most come after every entry there (they were placed later); one
        placed by a transaction that began before others committed may
        go a little before the end."""
        for value in entries:
            tail = self.tail
            if not tail.entries or value > tail.entries[-1]:
                if len(tail.entries) >= SEGMENT_SIZE:
                    tail.next = self.tail = Segment(self, tail.seq + 1)
                    tail.next.prev = tail
                    tail = tail.next
                tail.entries += (value,)
            else:
                segment = self._segmentOf(value)
                segment.entries = tuple(sorted(segment.entries + (value,)))
        self.appended += len(entries)

    def _segmentOf(self, value: int) -> Segment:
        """The segment an entry of `value` belongs in: the last whose first
        entry is below it, from the tail back to the head."""
        segment = self.tail
        while segment.seq > self.headSeq and segment.prev is not None and \
                (not segment.entries or segment.entries[0] > value):
            segment = segment.prev
        return segment

    def take(self, segment: Segment, value: int) -> None:
        """Remove entry `value` from `segment`, one of this chain's; raise
        KeyError if it is not there."""
        entries = segment.entries
        try:
            index = entries.index(value)
        except ValueError:
            raise KeyError(value) from None
        segment.entries = entries[:index] + entries[index + 1:]
        if segment is self.head:
            self._advance()

    def takeFirst(self, count: int) -> None:
        """Remove the first `count` entries of the head segment."""
        head = self.head
        head.entries = head.entries[count:]
        self._advance()

    def entries(self, start: Optional[Segment] = None) \
            -> Iterator[Tuple[Segment, int]]:
        """(segment, entry) from `start` (the head if None) on."""
        segment = self.head if start is None or start.closed else start
        while segment is not None:
            for value in segment.entries:
                yield segment, value
            segment = segment.next

    def newestFirst(self, start: Optional[Segment] = None) \
            -> Iterator[Tuple[Segment, int]]:
        """(segment, entry) from `start` (the tail if None) back to the
        head."""
        segment = self.tail if start is None or start.closed else start
        while segment is not None:
            for value in reversed(segment.entries):
                yield segment, value
            if segment.seq <= self.headSeq:
                return
            segment = segment.prev

    def isEmpty(self) -> bool:
        return not self.head.entries and self.head.next is None

    def _advance(self) -> None:
        """Move the head past empty segments the drain has left."""
        head = self.head
        while not head.entries and head.next is not None:
            head.closed = True
            head = head.next
        if head is not self.head:
            self.head, self.headSeq = head, head.seq
            if head.prev is not None:
                head.prev = None

    def __repr__(self):
        return f'<Chain {self.channel!r}>'
