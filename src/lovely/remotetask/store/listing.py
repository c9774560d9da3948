"""Pages of a store's jobs, in order, with cursors.

Every listing is a stream of (key, job) in ascending key order: all jobs
by id, newest first; queued jobs in the order they run; scheduled jobs by
due time; finished jobs the last to finish first; the others as they
came.  A page ends with a cursor, the key of its last job: the next page
reads on past it, so jobs that come or go meanwhile neither repeat nor
get skipped.  The cursor also names the chain segment each stream had
reached (by its oid), so that a page deep down starts there instead of
reading everything before it again; a segment that is gone since is
simply read from the chain's head, and the key keeps the page right.
"""
import base64
import heapq
import itertools
import json
from typing import Iterator, Optional

from ZODB.utils import p64, u64

from lovely.remotetask.interfaces import (
    FINISHED, PROCESSING, QUEUED, SCHEDULED, STATUSES)
from lovely.remotetask.exceptions import InvalidArgumentError
from lovely.remotetask.store import claiming, scheduling
from lovely.remotetask.store.chains import Segment
from lovely.remotetask.store.channels import REMOVED, channelOf
from lovely.remotetask.store.stamps import entryStamp

#: Jobs a filtered listing (by task or owner) reads for one page at most.
SCAN = 5000
#: The most segments a cursor names, and the longest cursor taken.
MAX_HINTS = 64
MAX_CURSOR_LENGTH = 2000


def page(store, status=None, after: Optional[str] = None, limit: int = 50,
         match=None, found=None):
    """(jobs, cursor of the next page or None); `match(job)` filters, and
    so does `found` (a `search.Found`), from the search index."""
    if status is not None and status not in STATUSES:
        raise InvalidArgumentError(
            f'unknown status {status!r}; the statuses are '
            f'{", ".join(STATUSES)}')
    cursor, hints = (None, ()) if after is None else _parse(after)
    places = _Places(store, hints)
    if found is not None and status is not None:
        match = found.has if match is None else \
            (lambda job, match=match: match(job) and found.has(job))
    stream = _stream(store, status, places, cursor, found)
    if cursor is not None:
        stream = itertools.dropwhile(lambda item: item[0] <= cursor, stream)
    jobs, last = [], None
    try:
        for scanned, (key, job) in enumerate(stream):
            if len(jobs) == limit or match is not None and \
                    scanned >= SCAN:
                return jobs, formatCursor(last, places.reached.values())
            last = key
            if match is None or match(job):
                jobs.append(job)
    except TypeError:
        raise InvalidArgumentError(
            f'{after!r} is not a cursor of this listing') from None
    return jobs, None


class _Places:
    """Where each chain's stream starts (from a cursor's hints), and the
    segment each reached (`reached`), for the next cursor."""

    def __init__(self, store, hints) -> None:
        self.reached = {}
        self.starts = {}
        jar = store._p_jar
        for hint in hints:
            if jar is None:
                break
            try:
                segment = jar.get(p64(hint))
            except Exception:
                continue      # a hint of nothing (any more)
            if isinstance(segment, Segment) and not segment.closed:
                self.starts.setdefault(segment.chain._p_oid, segment)

    def entries(self, chain, newestFirst: bool = False):
        """(segment, entry) of `chain` from where the cursor left it."""
        start = self.starts.get(chain._p_oid)
        entries = chain.newestFirst(start) if newestFirst else \
            chain.entries(start)
        for segment, value in entries:
            if segment._p_oid is not None:
                self.reached[chain._p_oid] = u64(segment._p_oid)
            yield segment, value


def _stream(store, status, places, cursor, found=None) -> Iterator[tuple]:
    if status is None:
        below = None if cursor is None else -cursor[0]
        jobs = store.jobsBelow(below) if found is None else \
            found.newestFirst(below)
        return (((-job.id,), job) for job in jobs)
    if status == QUEUED:
        return ((waiting.key, waiting.job) for waiting in
                claiming.queued(store, entries=places.entries))
    if status == PROCESSING:
        return _processing(store, places)
    if status in SCHEDULED:
        return _scheduled(store, status)
    return _chained(store, status, places, newestFirst=status in FINISHED)


def _chained(store, status, places, newestFirst):
    """The jobs of the chains of `status`, and those of the intake that
    joined them since, in the order they came (or the reverse)."""
    sign = -1 if newestFirst else 1
    streams = []
    for chain in store.chainsOf(status):
        streams.append(_live(store, chain, places, newestFirst, sign))
    fresh = sorted(((sign * job._stamp, sign * job.id), job)
                   for job in store.waiting((status,)))
    streams.append(iter(fresh))
    return heapq.merge(*streams, key=lambda item: item[0])


def _live(store, chain, places, newestFirst, sign):
    for _, value in places.entries(chain, newestFirst):
        job = store.live(chain.channel, value)
        if job is not None:
            yield (sign * entryStamp(value), sign * job.id), job


def _processing(store, places):
    for key, job in _chained(store, PROCESSING, places, newestFirst=False):
        yield (0,) + key, job
    for workerId, record in sorted(store.workers.items()):
        for jobid in sorted(record.heldJobs()):
            job = store.get(jobid)
            if job is not None and job.status == PROCESSING:
                yield (1, workerId, jobid), job


def _scheduled(store, status):
    for due, jobid in store.schedule.keys():
        job = scheduling.filed(store, due, jobid)
        if job is not None and job.status == status:
            yield (0, due, jobid), job
    waiting = sorted((job._stamp, job.id, job)
                     for job in scheduling.toFile(store)
                     if job.status == status and job.status != REMOVED)
    for stamp, jobid, job in waiting:
        yield (1, stamp, jobid), job


def queuedByQueue(store, most: int) -> dict:
    """How many jobs wait in each queue, counted up to `most` each."""
    counts = {}
    for channel, count in queuedByChannel(store, most).items():
        queue = channel[1]
        counts[queue] = min(most, counts.get(queue, 0) + count)
    return counts


def queuedByChannel(store, most: int) -> dict:
    """How many jobs wait in each channel of queued jobs (queue, task,
    priority, partition), counted up to `most` each."""
    counts = {}
    for job in store.intakeJobs():
        if job.status == QUEUED and job._stamp is not None:
            channel = channelOf(job)
            counts[channel] = counts.get(channel, 0) + 1
    for chain in store.chainsOf(QUEUED):
        channel = chain.channel
        for _, value in chain.entries():
            if counts.get(channel, 0) >= most:
                break
            if store.live(channel, value) is not None:
                counts[channel] = counts.get(channel, 0) + 1
    return counts


def formatCursor(key: tuple, hints=()) -> str:
    """An opaque, URL-safe string for the key of a listing's last job and
    the segments its streams had reached."""
    data = dict(k=list(key), h=list(hints)[:MAX_HINTS])
    text = json.dumps(data, separators=(',', ':'))
    return base64.urlsafe_b64encode(text.encode()).decode().rstrip('=')


def parseCursor(text) -> tuple:
    """The key a cursor stands for; InvalidArgumentError if it is none."""
    return _parse(text)[0]


def _parse(text):
    """(key, hints) of a cursor; InvalidArgumentError if it is none."""
    try:
        if not isinstance(text, str) or len(text) > MAX_CURSOR_LENGTH:
            raise ValueError
        data = base64.urlsafe_b64decode(text + '=' * (-len(text) % 4))
        data = json.loads(data.decode())
        key, hints = data['k'], data['h']
        if not isinstance(key, list) or not key or not all(
                isinstance(part, (int, float, str)) for part in key):
            raise ValueError
        if not isinstance(hints, list) or len(hints) > MAX_HINTS or not all(
                isinstance(h, int) and not isinstance(h, bool) and
                0 < h < 2 ** 64 for h in hints):
            raise ValueError
    except (ValueError, UnicodeDecodeError, RecursionError, KeyError,
            TypeError):
        raise InvalidArgumentError(
            f'{text!r} is not a cursor of a listing') from None
    return tuple(key), tuple(hints)
