"""Looking at a service's jobs: counts, and pages of jobs in order.

Every listing is a stream of (key, job id) in ascending key order, read
from the index that holds the jobs of a status (see `placement`), or, for
all jobs, from the writers' blocks of ids newest first (see `jobmap`).  A
page ends with a cursor, the key of its last job: the next page reads on
past it, so jobs that come or go meanwhile neither repeat nor get skipped.
"""
import base64
import heapq
import itertools
import json
import time
from typing import Iterator, Optional

from lovely.remotetask import placement
from lovely.remotetask.exceptions import InvalidArgumentError
from lovely.remotetask.interfaces import PROCESSING, QUEUED
from lovely.remotetask.lanes import entryId, entryStamp, stampTime


#: Jobs a listing filtered by task reads for one page at most.
TASK_SCAN = 5000


class Listing:
    """The looking-at part of `TaskService` (see ITaskService)."""

    def statusCounts(self) -> dict:
        return placement.count(self)

    def activity(self, now=None, minutes: int = 60) -> list:
        """How many jobs finished in each of the last `minutes` minutes,
        by status: [(minute start, {status: count})], oldest first."""
        return self._lanes.activity(time.time() if now is None else now,
                                    minutes)

    def queueLength(self) -> int:
        return placement.count(self, QUEUED)

    def oldestWaiting(self) -> Optional[float]:
        """Since when the job that waits longest in the queue waits (epoch
        seconds), or None."""
        heads = [chain.peek() for lane in self._lanes
                 for channel, chain in lane.chains.items()
                 if isinstance(channel, tuple)]
        heads = [value for value in heads if value is not None]
        return stampTime(entryStamp(min(heads))) if heads else None

    def jobsPage(self, status=None, after: Optional[str] = None,
                 limit: int = 50, task: Optional[str] = None):
        if isinstance(limit, bool) or not isinstance(limit, int) or \
                limit < 1:
            raise InvalidArgumentError(
                f'limit must be an int of at least 1, not {limit!r}')
        if status is not None and status not in placement.STATUSES:
            raise InvalidArgumentError(
                f'unknown status {status!r}; the statuses are '
                f'{", ".join(placement.STATUSES)}')
        cursor = None if after is None else parseCursor(after)
        stream = _stream(self, status)
        if cursor is not None:
            stream = itertools.dropwhile(lambda item: item[0] <= cursor,
                                         stream)
        page, last = [], None
        try:
            for scanned, (key, jobid) in enumerate(stream):
                if len(page) == limit or task is not None and \
                        scanned >= TASK_SCAN:
                    # More to come; a filtered page may come short, as it
                    # reads at most TASK_SCAN jobs.
                    return page, formatCursor(last)
                job = self.jobs[jobid]
                last = key
                if task is None or job.task == task:
                    page.append(job)
        except TypeError:
            raise InvalidArgumentError(
                f'{after!r} is not a cursor of this listing') from None
        return page, None


def _stream(service, status) -> Iterator[tuple]:
    if status is None:
        return _newest(service)
    if status == QUEUED:
        return (((-priority, value), entryId(value))
                for priority, _, value in placement.queued(service))
    if status == PROCESSING:
        local = ((('', value), entryId(value)) for _, value in
                 placement.merged(placement.chainsOf(service, (PROCESSING,))))
        held = (((workerId, jobid), jobid)
                for workerId, record in sorted(service._workers.items())
                for jobid in sorted(record.heldJobs()))
        return itertools.chain(local, held)
    if status in placement.SCHEDULED:
        return _scheduled(service, status)
    return (((value,), entryId(value)) for _, value in placement.merged(
        placement.chainsOf(service, (status,))))


def _scheduled(service, status):
    for due, jobid in service._schedule.keys():
        job = placement.filed(service, due, jobid)
        if job is not None and job.status == status:
            yield (0, due, jobid), jobid
    waiting = sorted(job._entry for job in placement.toFile(service)
                     if job.status == status)
    for value in waiting:
        yield (1, value, 0), entryId(value)


def _newest(service):
    """Every job, newest first: each writer's blocks from its newest,
    merged."""
    return heapq.merge(*[_laneJobs(lane)
                         for lane in service._lanes.withJobs()])


def _laneJobs(lane):
    block = lane.block
    while block is not None:
        for job in block.jobs(reverse=True):
            yield (-job.created, -job.id), job.id
        block = block.prev


def formatCursor(key: tuple) -> str:
    """An opaque, URL-safe string for the key of a listing's last job."""
    text = json.dumps(list(key), separators=(',', ':'))
    return base64.urlsafe_b64encode(text.encode()).decode().rstrip('=')


def parseCursor(text) -> tuple:
    """The key a cursor stands for; InvalidArgumentError if it is none."""
    try:
        if not isinstance(text, str) or len(text) > 400:
            raise ValueError
        data = base64.urlsafe_b64decode(text + '=' * (-len(text) % 4))
        key = json.loads(data.decode())
        if not isinstance(key, list) or not key or not all(
                isinstance(part, (int, float, str)) for part in key):
            raise ValueError
    except (ValueError, UnicodeDecodeError, RecursionError):
        raise InvalidArgumentError(
            f'{text!r} is not a cursor of a listing') from None
    return tuple(key)
