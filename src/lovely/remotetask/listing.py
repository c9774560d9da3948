"""Looking at a service's jobs: counts, and pages of jobs in order.

Every listing is a stream of (key, job id) in ascending key order, read
from the index that holds the jobs of a status (see `placement`), or, for
all jobs, from the writers' blocks of ids newest first (see `jobmap`);
finished jobs from their chains' tails, the last to finish first.  A page
ends with a cursor, the key of its last job: the next page reads on past
it, so jobs that come or go meanwhile neither repeat nor get skipped.

A listing merges several streams, one per writer (its blocks, or its
chain of a status).  The cursor also says where each stream stood (the id
of the job it had read last), so that the next page starts each stream
there, in the block or chain segment of that job, instead of reading
everything before the cursor again: a page deep down costs what the first
does.  A stream the cursor says nothing of (a writer that came since, a
job that left) is read from its start, and the key alone keeps the page
right.
"""
import base64
import heapq
import itertools
import json
from typing import Iterator, Optional

from lovely.remotetask import checks, placement
from lovely.remotetask.exceptions import InvalidArgumentError
from lovely.remotetask.interfaces import FINISHED, PROCESSING, QUEUED
from lovely.remotetask.jobmap import SLOTS
from lovely.remotetask.lanes import (
    ACTIVITY_MINUTES, entryId, entryStamp, stampTime)


#: Job ids are below this; a cursor's hints above it are chain entries.
MAX_JOB_ID = 2 ** 31 - 1

#: Jobs a listing filtered by task or owner reads for one page at most.
TASK_SCAN = 5000

#: The most streams whose places a cursor keeps (the others are read from
#: their start), and the longest cursor taken.
MAX_HINTS = 64
MAX_CURSOR_LENGTH = 2000


class Listing:
    """The looking-at part of `TaskService` (see ITaskService)."""

    def statusCounts(self) -> dict:
        return placement.count(self)

    def activity(self, now=None, minutes: int = ACTIVITY_MINUTES) -> list:
        """How many jobs finished in each of the last `minutes` minutes,
        by status: [(minute start, {status: count})], oldest first.  The
        lanes count the last ACTIVITY_MINUTES minutes, and no more."""
        checks.whole('minutes', minutes, 1, ACTIVITY_MINUTES)
        return self._lanes.activity(checks.moment(now), minutes)

    def queueLength(self) -> int:
        return placement.count(self, QUEUED)

    def oldestWaiting(self) -> Optional[float]:
        """Since when the job that waits longest in the queue waits (epoch
        seconds), or None.

        An entry's stamp is the last commit its writer saw, which after a
        quiet spell may be long before the entry was made: the job's own
        times (added, due, last ended) bound it from below.
        """
        heads = [chain.peek() for lane in self._lanes
                 for channel, chain in lane.chains.items()
                 if isinstance(channel, tuple)]
        return min((self._waitingSince(entry) for entry in heads
                    if entry is not None), default=None)

    def _waitingSince(self, entry: int) -> float:
        since = stampTime(self, entryStamp(entry))
        job = self.jobs.get(entryId(entry))
        if job is None:
            return since
        delay = getattr(job, 'delay', None) or 0
        return max(since, job.created + delay, job.completed or 0,
                   getattr(job, 'lastRun', None) or 0)

    def jobsPage(self, status=None, after: Optional[str] = None,
                 limit: int = 50, task: Optional[str] = None,
                 owner: Optional[str] = None):
        checks.whole('limit', limit)
        if task is not None and not isinstance(task, str):
            raise InvalidArgumentError(
                f'task must be the name of a task, not {task!r}')
        if owner is not None and not isinstance(owner, str):
            raise InvalidArgumentError(
                f'owner must be the id of a principal, not {owner!r}')
        filtered = task is not None or owner is not None
        if status is not None and status not in placement.STATUSES:
            raise InvalidArgumentError(
                f'unknown status {status!r}; the statuses are '
                f'{", ".join(placement.STATUSES)}')
        cursor, hints = (None, ()) if after is None else _parse(after)
        places = {}
        stream = _stream(self, status, _Places(self, hints, cursor, places))
        if cursor is not None:
            stream = itertools.dropwhile(lambda item: item[0] <= cursor,
                                         stream)
        page, last = [], None
        try:
            for scanned, (key, jobid) in enumerate(stream):
                if len(page) == limit or filtered and \
                        scanned >= TASK_SCAN:
                    # More to come; a filtered page may come short, as it
                    # reads at most TASK_SCAN jobs.
                    return page, formatCursor(last, places.values())
                job = self.jobs[jobid]
                last = key
                if (task is None or job.task == task) and \
                        (owner is None or job.owner == owner):
                    page.append(job)
        except TypeError:
            raise InvalidArgumentError(
                f'{after!r} is not a cursor of this listing') from None
        return page, None


class _Places:
    """Where each stream of a listing starts (from a cursor's hints), and
    where each stood last (`places`, stream -> hint), for the next cursor.

    A writer's blocks are hinted by the id of a job in them (jobs never
    move from block to block); a chain by the entry of a job in it (a job
    that left the chain and came back has another entry, and says nothing
    of where the old one was).
    """

    def __init__(self, service, hints, cursor, places: dict) -> None:
        self.places = places
        self.blocks = {}      # lane key -> (block, job id)
        self.segments = {}    # id(chain) -> segment
        for hint in hints:
            if hint > MAX_JOB_ID:
                job = service.jobs.get(entryId(hint))
                if job is not None and job._entry == hint and \
                        job._token is not None:
                    self.segments.setdefault(id(job._token.chain),
                                             job._token)
                continue
            job = service.jobs.get(hint)
            block = service.jobs._block(hint)
            # An id used again after its block was emptied and taken away
            # is a newer job: not the one hinted.
            if job is not None and block.lane is not None and \
                    (cursor is None or (-job.created, -job.id) >= cursor):
                self.blocks.setdefault(block.lane.key, (block, hint))

    def segmentsOf(self, chain, newestFirst: bool = False):
        """The segments of `chain` from where the cursor left it."""
        segment = self.segments.get(id(chain))
        if newestFirst:
            yield from chain.newestFirst(segment)
            return
        if segment is None:
            yield from chain._segments()
            return
        while segment is not None:
            yield segment
            segment = segment.next

    def merged(self, chains, newestFirst: bool = False) -> Iterator[int]:
        """The entries of several chains in order (or the reverse), each
        chain read from where the cursor left it."""
        def entries(chain):
            for segment in self.segmentsOf(chain, newestFirst):
                values = segment.entries
                for value in reversed(values) if newestFirst else values:
                    self.places[id(chain)] = value
                    yield value
        return heapq.merge(*[entries(chain) for chain in chains],
                           reverse=newestFirst)


def _stream(service, status, places) -> Iterator[tuple]:
    if status is None:
        return _newest(service, places)
    if status == QUEUED:
        return _queued(service, places)
    if status == PROCESSING:
        local = ((('', value), entryId(value)) for value in places.merged(
            placement.chainsOf(service, (PROCESSING,))))
        held = (((workerId, jobid), jobid)
                for workerId, record in sorted(service._workers.items())
                for jobid in sorted(record.heldJobs()))
        return itertools.chain(local, held)
    if status in placement.SCHEDULED:
        return _scheduled(service, status)
    if status in FINISHED:
        # The last to finish first, as operators look for them.
        return (((-value,), entryId(value)) for value in places.merged(
            placement.chainsOf(service, (status,)), newestFirst=True))
    return (((value,), entryId(value)) for value in places.merged(
        placement.chainsOf(service, (status,))))


def _queued(service, places):
    """Queued jobs in the order they run: by priority, then as they came
    (see `placement.queued`)."""
    for priority, chains in placement.queuedChains(service):
        for value in places.merged(chains):
            yield (-priority, value), entryId(value)


def _scheduled(service, status):
    for due, jobid in service._schedule.keys():
        job = placement.filed(service, due, jobid)
        if job is not None and job.status == status:
            yield (0, due, jobid), jobid
    waiting = sorted(job._entry for job in placement.toFile(service)
                     if job.status == status)
    for value in waiting:
        yield (1, value, 0), entryId(value)


def _newest(service, places):
    """Every job, newest first: each writer's blocks from its newest (or
    from where the cursor left them), merged."""
    return heapq.merge(*[_laneJobs(lane, places)
                         for lane in service._lanes.withJobs()])


def _laneJobs(lane, places):
    block, hint = places.blocks.get(lane.key, (lane.block, None))
    if hint is not None:
        # From the hinted job on: the newer ones of its block came before
        # it, and need not be loaded to be passed.
        slots = block.slots[:(hint & (SLOTS - 1)) + 1]
        yield from _blockJobs(lane, places, slots)
        block = block.prev
    while block is not None:
        yield from _blockJobs(lane, places, block.slots)
        block = block.prev


def _blockJobs(lane, places, slots):
    for job in reversed(slots):
        if job is not None:
            places.places[lane.key] = job.id
            yield (-job.created, -job.id), job.id


def formatCursor(key: tuple, hints=()) -> str:
    """An opaque, URL-safe string for the key of a listing's last job and
    the ids of the jobs where its streams stood."""
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
        if isinstance(data, list):      # a cursor without hints
            data = dict(k=data, h=[])
        key, hints = data['k'], data['h']
        if not isinstance(key, list) or not key or not all(
                isinstance(part, (int, float, str)) for part in key):
            raise ValueError
        if not isinstance(hints, list) or len(hints) > MAX_HINTS or not all(
                isinstance(h, int) and not isinstance(h, bool)
                for h in hints):
            raise ValueError
    except (ValueError, UnicodeDecodeError, RecursionError, KeyError,
            TypeError):
        raise InvalidArgumentError(
            f'{text!r} is not a cursor of a listing') from None
    return tuple(key), tuple(hints)
