"""The schedule: jobs that wait for a time, filed by due time.

A job that comes to wait (a cron job, a delayed job, a job to be tried
again later) is placed in the 'schedule' chain like any other move.
`promote` files such jobs into the schedule, an ordered set of (due time,
job id) that processors read in order, and queues those that came due.
Filing computes a cron or delayed job's next time from the `now` of the
processing that files it, as the seed does.  A filed job has no stamp:
what entries it had are dead.  Only processors change the schedule, so a
BTree does: its splits meet nothing but other processors.

Queueing a run and moving the job's next time happen in one transaction,
so that two processors that find the same run due conflict, and the run
is queued once.
"""
import logging
import math
import time
from typing import Iterator, Optional, Tuple

from lovely.remotetask.interfaces import (
    CANCELLED, QUEUED, SCHEDULED, STARTLATER)
from lovely.remotetask.store.channels import SCHEDULE

log = logging.getLogger('lovely.remotetask')

#: A due time that never comes: cron jobs whose schedule cannot fire.
NEVER = math.inf
#: Schedule entries sort by (due time, job id); this is past every id.
_PAST_IDS = 2 ** 31


def toFile(store) -> Iterator:
    """The jobs placed in the 'schedule' channel and not filed yet."""
    chain = store.chains.get(SCHEDULE)
    if chain is not None:
        for _, value in list(chain.entries()):
            job = store.live(SCHEDULE, value)
            if job is not None:
                yield job
    if not any(store.count(status) for status in SCHEDULED):
        return    # (the intake read at every step for none: see the counts)
    for job in store.intakeJobs():
        if job._stamp is not None and job.status in SCHEDULED:
            yield job


def file(store, job, now: float) -> None:
    """File a waiting job by its due time: its `scheduledFor`, or the next
    time of its schedule after `now`."""
    due = job.scheduledFor
    if due is None:
        due = job.timeOfNextCall(now)
        if due is None:
            log.warning('cron job %s will never run again', job.id)
            due = NEVER
        else:
            job.scheduledFor = due
    job._stamp = None
    job._moves += 1
    store.schedule.insert((due, job.id))


def filed(store, due: float, jobid: int):
    """The job of a schedule entry, or None if it has left it."""
    job = store.get(jobid)
    if job is not None and job.status in SCHEDULED and \
            job._stamp is None and due == (
                NEVER if job.scheduledFor is None else job.scheduledFor):
        return job
    return None


def filedDue(store, count: int) -> list:
    """(due, job id) of the first `count` jobs filed that are still
    there."""
    found = []
    for due, jobid in store.schedule.keys():
        if filed(store, due, jobid) is not None:
            found.append((due, jobid))
            if len(found) == count:
                break
    return found


def nextDue(store) -> Optional[float]:
    """When the first filed job is due or the first deadline passes (None:
    none is), or 0 when jobs wait to be filed: then `promote` has work."""
    for _ in toFile(store):
        return 0.0
    times = [due for due, _ in filedDue(store, 1)]
    if store.deadlines:
        times.append(store.deadlines.minKey()[0])
    return min(times) if times else None


def hasDue(store, now: float) -> bool:
    """Whether a waiting job is due at `now`, filed or not."""
    for job in toFile(store):
        due = job.scheduledFor
        if due is None:
            due = job.timeOfNextCall(now)
        if due is not None and due <= now:
            return True
    return any(due <= now for due, _ in filedDue(store, 1))


def promote(store, now: float, newRun) -> int:
    """File the jobs waiting to be filed and queue those due at `now`;
    return how many were queued.  `newRun(cronjob)` makes a run of a cron
    job whose runs may overlap."""
    for job in list(toFile(store)):
        file(store, job, now)
    chain = store.chains.get(SCHEDULE)
    if chain is not None and not chain.isEmpty():
        for segment, value in list(chain.entries()):
            chain.take(segment, value)      # all dead now: filed
    _cancelPastDeadline(store, now)
    queued = 0
    for due, jobid in _dueEntries(store, now):
        store.schedule.remove((due, jobid))
        job = filed(store, due, jobid)
        if job is None:
            continue   # left the schedule since
        if not getattr(job, 'recurring', False):
            # A delayed job, or a job to be tried again.
            job.scheduledFor = None
            store.move(job, QUEUED)
            queued += 1
            continue
        runAt, nextDue = job.catchUp(due, now)
        if runAt is None or job.paused:
            log.info('cron job %s: run due at %s skipped%s', job.id, due,
                     ' (paused)' if job.paused else '')
            _refile(store, job, nextDue)
            continue
        job.lastRun = runAt
        if job.overlap:
            # Runs may overlap: each is a job of its own, and the cron job
            # stays in the schedule.
            store.place(newRun(job), QUEUED)
            _refile(store, job, nextDue)
        else:
            job.scheduledFor = nextDue
            store.move(job, QUEUED)
        queued += 1
    return queued


def _refile(store, job, due) -> None:
    if due is None:
        log.warning('cron job %s will never run again', job.id)
        job.scheduledFor = None
        due = NEVER
    else:
        job.scheduledFor = due
    job._moves += 1
    store.schedule.insert((due, job.id))


def _dueEntries(store, now: float) -> Iterator[Tuple[float, int]]:
    return iter(list(store.schedule.keys(max=(now, _PAST_IDS))))


#: The statuses of jobs that have not started, which a deadline cancels.
_NOT_STARTED = (QUEUED, STARTLATER) + SCHEDULED


def _cancelPastDeadline(store, now: float) -> None:
    """Cancel the jobs whose deadlines passed before they started (a claim
    does the same for those it meets first): those of the index, and
    those of the intake, which the drain has not indexed yet."""
    past = list(store.deadlines.keys(max=(now, _PAST_IDS)))
    for deadline, jobid in past:
        store.deadlines.remove((deadline, jobid))
    jobs = [store.get(jobid) for _, jobid in past] + [
        job for job in store.intakeJobs()
        if job.deadline is not None and job.deadline <= now]
    for job in jobs:
        if job is not None and job.status in _NOT_STARTED and \
                not job.attempts and job.deadline <= now:
            missDeadline(store, job, now)


def missDeadline(store, job, now: float) -> None:
    """Cancel `job`, whose deadline passed before it could start."""
    when = time.strftime('%Y-%m-%d %H:%M:%S', time.gmtime(job.deadline))
    job.error = f'not started by its deadline ({when} UTC)'
    job.completed = now
    store.move(job, CANCELLED)
    store.forgetKey(job)
