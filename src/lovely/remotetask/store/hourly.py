"""How many jobs of each task finished in each of the last hours.

The per-minute counts (`activity`) are written by every record, in the
intake, and so keep no task.  These are written by drains alone
(`record`, called from `Store.drain`), in a transaction of their own
where a conflict costs only a retry: an add still writes the job and the
intake, and nothing an add, a claim or a record writes meets them.  A
drain sees each job that moved since the one before in its last state;
one that finished is counted in the hour it finished.  A cron job that
ran in place (its runs do not overlap) goes back to ``cronjob``: a drain
counts its run when its end (``completed``) is not the one counted
before.  A job that finished twice between two drains (retried at once)
counts once.
"""
import time
from typing import Dict, List, Optional, Tuple

from BTrees.IOBTree import IOBTree
from BTrees.OOBTree import OOBTree

from lovely.remotetask.interfaces import (
    COMPLETED, CRONJOB, ERROR, FINISHED)
from lovely.remotetask.store.channels import REMOVED
from lovely.remotetask.store.versioning import Versioned

#: Hours of finished jobs kept, by task: a week.
HOURS_KEPT = 7 * 24
#: The statuses of the jobs a drain looks at.
_COUNTED = FINISHED + (CRONJOB, REMOVED)


class FinishedHours(Versioned):
    """(hour, task) -> counts in FINISHED's order, for the last HOURS_KEPT
    hours (hour: epoch seconds // 3600); written by drains only."""

    #: The hour before which counts were dropped.
    pruned = 0
    #: Since when cron jobs' runs are counted (a run that ended before
    #: was counted by no one).
    since = 0.0

    def __init__(self) -> None:
        self.since = time.time()
        self.counts = OOBTree()
        #: cron job id -> the end of its last run counted.
        self.cronRuns = IOBTree()

    def add(self, hour: int, task: str, status: str) -> None:
        key = (hour, task)
        counts = list(self.counts.get(key, (0,) * len(FINISHED)))
        counts[FINISHED.index(status)] += 1
        self.counts[key] = tuple(counts)

    def prune(self, hour: int) -> None:
        """Drop the hours before the last HOURS_KEPT; at most once an
        hour, so that the log itself is written once an hour."""
        cutoff = hour - HOURS_KEPT + 1
        if cutoff <= self.pruned:
            return
        for key in list(self.counts.keys(max=(cutoff,), excludemax=True)):
            del self.counts[key]
        self.pruned = cutoff


def record(store, taken: list, now: Optional[float] = None) -> None:
    """Count the jobs a drain filed that finished since the drain before:
    those it took from the intake (`taken`, oldest move first), each once,
    but those that moved again later, which the drain of their last move
    counts."""
    if not any(job.status in _COUNTED for job in taken):
        return      # (a flood of adds: the rest of the intake is not read)
    now = time.time() if now is None else now
    log, seen = None, {id(job) for job in store.intake.jobs}
    for job in reversed(taken):
        if id(job) in seen:
            continue
        seen.add(id(job))
        status = _finished(store, job)
        if status is None:
            continue
        if log is None:
            log = _log(store, now)
        hour = int((job.completed or now) // 3600)
        if hour > now // 3600 - HOURS_KEPT:
            log.add(hour, job.task, status)


def _finished(store, job) -> Optional[str]:
    """How `job` finished since it was drained last, or None."""
    status = job.status
    log = store.finishedHours
    if status == CRONJOB:
        log = _log(store)
        if job.completed is None or job.completed < log.since or \
                log.cronRuns.get(job.id) == job.completed:
            return None
        log.cronRuns[job.id] = job.completed
        return COMPLETED if job.error is None else ERROR
    if log is not None and (status == REMOVED or status in FINISHED) and \
            job.id in log.cronRuns:
        del log.cronRuns[job.id]       # no runs come any more
    return status if status in FINISHED else None


def _log(store, now: Optional[float] = None) -> FinishedHours:
    log = store.finishedHours
    if log is None:                 # a store made before there were any
        log = store.finishedHours = FinishedHours()
    if now is not None:
        log.prune(int(now // 3600))
    return log


def byHour(log: Optional[FinishedHours], now: float, hours: int,
           task: Optional[str] = None) -> List[Tuple[int, Dict[str, int]]]:
    """[(hour start, {status: count})] of the last `hours` hours, oldest
    first, of `task` or of every task."""
    last = int(now // 3600)
    first = last - hours + 1
    found = {}
    if log is not None:
        for (hour, name), counts in log.counts.items(
                min=(first,), max=(last + 1,), excludemax=True):
            if task is None or name == task:
                total = found.setdefault(hour, [0] * len(FINISHED))
                for index, count in enumerate(counts):
                    total[index] += count
    return [(hour * 3600, {status: count for status, count in zip(
        FINISHED, found.get(hour, ())) if count})
        for hour in range(first, last + 1)]


def tasksSeen(log: Optional[FinishedHours]) -> List[str]:
    """The tasks with jobs finished in the hours kept, by name."""
    if log is None:
        return []
    return sorted({task for _, task in log.counts.keys()})
