"""Where each job is: the one owner of a job's status and its index.

A job's status says where it waits, and only the functions here change
either, together, so that they cannot disagree:

============================  ==========================================
status                        where the job is
============================  ==========================================
queued                        a chain of its priority, in a writer's lane
start later                   a 'start later' chain
cronjob, delayed, retry       a 'schedule' chain until a processor files
                              it by due time in the schedule
processing                    the jobs held by a worker; a 'processing'
                              chain for jobs claimed outside any worker
completed, cancelled, error   a chain of that status
============================  ==========================================

A job in a chain keeps the segment that holds its entry and the entry, so
that it leaves the chain without a search.  Jobs are always placed in the
lane of the connection that moves them (see `lanes`), so concurrent moves
never append to one chain.  The schedule is the one shared index: only
processors change it, and jobs that left it leave their entries behind,
which readers check against the job and processors drop.
"""
import heapq
import itertools
import math
import time
from typing import Iterator, Optional

from BTrees.OOBTree import OOTreeSet

from lovely.remotetask import processing
from lovely.remotetask.interfaces import (
    CRONJOB, DELAYED, FINISHED, PROCESSING, QUEUED, RETRY, STARTLATER)
from lovely.remotetask.lanes import (
    currentStamp, entry, entryId, ownLane)

#: The statuses of jobs that wait for a time.
SCHEDULED = (CRONJOB, DELAYED, RETRY)
#: Every status.
STATUSES = (QUEUED, PROCESSING, RETRY, STARTLATER, DELAYED, CRONJOB) + \
    FINISHED
#: A due time that never comes: cron jobs whose schedule cannot fire.
NEVER = math.inf
#: Schedule entries sort by (due time, job id); this is past every id.
_PAST_IDS = 2 ** 31


def _channel(job, status, back=False):
    if status == QUEUED:
        # Jobs given back keep their old stamps: a chain of their own keeps
        # each chain in the order of its stamps.
        return (QUEUED, job.priority, 'back') if back else \
            (QUEUED, job.priority)
    if status in SCHEDULED:
        return 'schedule'
    return status


def place(service, job, status: str, *, worker: Optional[str] = None,
          stamp: Optional[int] = None, lane=None) -> None:
    """Put a job that is nowhere (new, or just taken) where `status` says.

    A queued job goes to the end of its priority's queue, or where
    `stamp` puts it (a job given back goes back to its old place).  A
    processing job is held by `worker`.  A scheduled job waits to be
    filed by its `scheduledFor` (None: the next time of its schedule).
    """
    lane = lane or ownLane(service)
    lane.count(status, 1)
    job._moves += 1
    job.status = status
    if status == PROCESSING:
        job.worker = worker
        if worker is not None:
            service._workers[worker].hold(job.id, job.attempts)
            return
    back = stamp is not None
    if not back:
        stamp = lane.nextStamp(currentStamp(service))
    value = entry(stamp, job.id)
    job._token = lane.chain(_channel(job, status, back)).append(value)
    job._entry = value
    if status in FINISHED:
        lane.finished(status, time.time())
    if status in (QUEUED, CRONJOB, DELAYED, RETRY):
        processing.wakeAfterCommit(service)


def take(service, job):
    """Take a job out of where it is (see `place`); return the lane of
    the connection, for the `place` that follows."""
    lane = ownLane(service)
    lane.count(job.status, -1)
    job._moves += 1
    if job.status == PROCESSING and job.worker is not None:
        holder = service._workers.get(job.worker)
        if holder is not None:
            holder.release(job.id)
        return lane
    segment = job._token
    if segment is not None:
        del job._token     # a class default: not pickled with the job
        segment.chain.take(segment, job._entry)
    # A job filed in the schedule leaves its entry there (see `filed`).
    return lane


def move(service, job, status: str, **where) -> None:
    place(service, job, status, lane=take(service, job), **where)


def file(service, job, due: float) -> None:
    """File a scheduled job by its due time (NEVER for a schedule that
    cannot fire again): from its lane's 'schedule' chain into the
    schedule, which processors read in order."""
    job._moves += 1
    segment = job._token
    if segment is not None:
        del job._token
        segment.chain.take(segment, job._entry)
        job._entry = None
    job.scheduledFor = None if due == NEVER else due
    service._schedule.insert((due, job.id))


def filed(service, due: float, jobid: int):
    """The job of a schedule entry, or None if it has left it."""
    job = service.jobs.get(jobid)
    if job is not None and job.status in SCHEDULED and \
            job._token is None and due == (
                NEVER if job.scheduledFor is None else job.scheduledFor):
        return job
    return None


def filedDue(service, count: int) -> list:
    """(due, job id) of the first `count` jobs filed in the schedule that
    are still there."""
    found = []
    for due, jobid in service._schedule.keys():
        if filed(service, due, jobid) is not None:
            found.append((due, jobid))
            if len(found) == count:
                break
    return found


def due(service, now: float) -> Iterator[tuple]:
    """The schedule's entries due at `now`, first due first."""
    return iter(list(service._schedule.keys(max=(now, _PAST_IDS))))


def toFile(service) -> Iterator:
    """The scheduled jobs that wait to be filed, from every lane."""
    for lane in service._lanes:
        chain = lane.chains.get('schedule')
        if chain is not None:
            for value in list(chain):
                yield service.jobs[entryId(value)]


def count(service, status: Optional[str] = None):
    """How many jobs have `status` (a dict of every status without)."""
    counts = service._lanes.counts()
    return counts if status is None else counts.get(status, 0)


def queued(service) -> Iterator[tuple]:
    """(priority, segment, entry) of the queued jobs in the order they
    run: by priority, then first in first out."""
    for priority, chains in queuedChains(service):
        for segment, value in merged(chains):
            yield priority, segment, value


def queuedChains(service) -> list:
    """(priority, the chains of every lane that queue jobs of it), the
    highest priority first."""
    byPriority = {}
    for lane in service._lanes:
        for channel, chain in lane.chains.items():
            if isinstance(channel, tuple):
                byPriority.setdefault(channel[1], []).append(chain)
    return sorted(byPriority.items(), key=lambda item: item[0],
                  reverse=True)


def merged(chains) -> Iterator[tuple]:
    """(segment, entry) of several chains, in the order of their entries."""
    if len(chains) == 1:       # most often: one writer adds the jobs
        return ((segment, value) for segment in chains[0]._segments()
                for value in segment.entries)
    return _merged(chains)


def _merged(chains) -> Iterator[tuple]:
    streams = [((value, segment) for segment in chain._segments()
                for value in segment.entries) for chain in chains]
    for value, segment in heapq.merge(*streams, key=lambda item: item[0]):
        yield segment, value


def chainsOf(service, statuses) -> list:
    """The chains of every lane that hold jobs of `statuses`."""
    return [lane.chains[status] for lane in service._lanes
            for status in statuses if status in lane.chains]


def ids(service, status: str) -> Iterator[int]:
    """The ids of the jobs that have `status`, in that status's order:
    queued jobs in the order they run, scheduled jobs by due time (those
    not filed yet last), held jobs by worker, the others as they came."""
    if status == QUEUED:
        return (entryId(value) for _, _, value in queued(service))
    if status == PROCESSING:
        return itertools.chain(
            (entryId(value) for _, value in merged(
                chainsOf(service, (PROCESSING,)))),
            itertools.chain.from_iterable(
                sorted(record.heldJobs()) for _, record in sorted(
                    service._workers.items())))
    if status in SCHEDULED:
        return _scheduled(service, status)
    return (entryId(value)
            for _, value in merged(chainsOf(service, (status,))))


def _scheduled(service, status):
    for due, jobid in service._schedule.keys():
        job = filed(service, due, jobid)
        if job is not None and job.status == status:
            yield jobid
    for job in toFile(service):
        if job.status == status:
            yield job.id


def newSchedule():
    return OOTreeSet()
