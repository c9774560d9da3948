"""What the Web service does to many jobs at once, a batch per transaction.

"Cancel all" and "retry all" may concern a hundred thousand jobs: one
transaction for all of them would hold them all in memory and conflict
with every worker for its whole length.  They work in batches instead, as
the 2009 package's cancel did: each batch commits on its own, and stays
done if a later one fails.  The JSON API, XML-RPC and the dashboard share
them.
"""
from typing import Callable, Optional

from transaction.interfaces import TransientError

from lovely.remotetask.exceptions import InvalidArgumentError, JobStateError
from lovely.remotetask import interfaces
from lovely.remotetask.interfaces import (
    CANCELLED, DELAYED, ERROR, FINISHED, QUEUED, RETRY, STARTLATER,
    ICronJob)
from lovely.remotetask.web import settings

#: The statuses "cancel all" takes jobs from: every job that waits to run
#: once.  Cron jobs keep their schedules: they are cancelled one by one.
#: Jobs waiting for others go first: a queued job cancelled first would
#: release those that run anyway into the queue, behind the walk.
WAITING = (interfaces.WAITING, QUEUED, STARTLATER, DELAYED, RETRY)

#: The statuses "retry all" takes jobs from.
RETRYABLE = (ERROR, CANCELLED)


def inBatches(ctx, batch: Callable[[], int],
              rewind: Callable[[], None] = lambda: None) -> int:
    """Call `batch` in one transaction after another until it does
    nothing; return how much it did in all.

    A batch whose commit conflicts (a job of it was claimed meanwhile) is
    undone, `rewind` is called, and the batch is done again, up to the
    application's attempts in all.
    """
    done = conflicts = 0
    while True:
        count = batch()
        if not count:
            return done
        try:
            ctx.commitBatch()
        except TransientError:
            conflicts += 1
            if conflicts >= ctx.app.attempts:
                raise
            ctx.tm.abort()
            ctx.tm.begin()
            rewind()
            continue
        done += count


def isSchedule(job) -> bool:
    """Whether `job` is a cron job that runs again and again (a delayed
    job runs once)."""
    return ICronJob.providedBy(job) and job.recurring


class Walk:
    """Walks the listing of one status a batch at a time, with a cursor,
    so that jobs left alone are read once, not at every batch."""

    def __init__(self, service, status: str, size: int,
                 task: Optional[str] = None, **filters) -> None:
        self.service, self.status, self.size = service, status, size
        #: task, and tag and search (see `jobsPage`).
        self.filters = dict(filters, task=task)
        self.after = self.start = None
        self.ended = False

    def batch(self, act: Callable) -> int:
        """Call `act(job)` on the jobs of the next batch, until `size` of
        them said True; return how many did."""
        self.start = (self.after, self.ended)
        count = 0
        while count < self.size and not self.ended:
            page, self.after = self.service.jobsPage(
                status=self.status, after=self.after,
                limit=self.size - count, **self.filters)
            self.ended = self.after is None
            for job in page:
                if act(job):
                    count += 1
        return count

    def rewind(self) -> None:
        self.after, self.ended = self.start


def cancelWaiting(ctx, service) -> int:
    """Cancel every job that waits to run once (see `WAITING`), in batches
    of `settings.CANCEL_BATCH`; return how many.  Cron jobs are left
    alone, also while a run of theirs waits in the queue."""
    def cancel(job) -> bool:
        if isSchedule(job):
            return False
        service.cancel(job.id)
        return True

    total = 0
    for status in WAITING:
        walk = Walk(service, status, settings.CANCEL_BATCH)
        total += inBatches(ctx, lambda: walk.batch(cancel), walk.rewind)
    return total


def retryAll(ctx, service, status: str = ERROR,
             task: Optional[str] = None, **filters) -> int:
    """Retry every job of `status` (error or cancelled), of `task` if
    given, in batches of `settings.RETRY_BATCH`; return how many.

    Each job once: a retried job that fails again while this goes on comes
    back at the end of the listing, and is passed there (a task that fails
    at once would otherwise keep this going as long as workers keep up).
    A job whose unique key another waiting job holds is left as it is.
    """
    if status not in RETRYABLE:
        raise InvalidArgumentError(
            f'only {" and ".join(RETRYABLE)} jobs are retried, not '
            f'{status!r}')
    walk = Walk(service, status, settings.RETRY_BATCH, task, **filters)
    retried, batch = set(), []

    def retry(job) -> bool:
        if job.id in retried:
            return False
        try:
            service.retry(job.id)
        except JobStateError:   # its key is taken by a job that waits
            return False
        batch.append(job.id)
        return True

    def nextBatch() -> int:
        # The batch before committed (a conflict would have rewound).
        retried.update(batch)
        batch.clear()
        return walk.batch(retry)

    def rewind() -> None:
        walk.rewind()
        batch.clear()

    return inBatches(ctx, nextBatch, rewind)


#: The statuses each action on the jobs matching a filter takes jobs
#: from when the filter names none.
MATCHING = dict(cancel=WAITING, retry=RETRYABLE, delete=FINISHED)


def matchingStatuses(action: str, status: Optional[str]) -> tuple:
    """The statuses `action` walks for a filter of `status` (None for
    any), or InvalidArgumentError naming what it takes."""
    statuses = MATCHING[action]
    if status is None:
        return statuses
    if status not in statuses:
        raise InvalidArgumentError(
            f'{action} takes jobs that are {", ".join(statuses)}, not '
            f'{status!r}')
    return (status,)


def countMatching(service, action: str, status: Optional[str] = None,
                  task: Optional[str] = None, **filters) -> int:
    """How many jobs `onMatching` would take now: the counts of their
    statuses, or with a task (tag, search), a walk of their listings."""
    statuses = matchingStatuses(action, status)
    if task is None and not any(filters.values()):
        counts = service.statusCounts()
        return sum(counts.get(one, 0) for one in statuses)
    total = 0
    for one in statuses:
        walk = Walk(service, one, settings.CANCEL_BATCH, task, **filters)
        while not walk.ended:
            total += walk.batch(lambda job: True)
    return total


def onMatching(ctx, service, action: str, status: Optional[str] = None,
               task: Optional[str] = None, **filters) -> int:
    """Cancel, retry or delete every job matching the filter (`status`,
    None for every one the action takes; `task`, `tag`, `search` as
    `jobsPage` takes them), not only a page of
    them, in batches, each its own transaction; return how many.  Cron
    jobs keep their schedules when cancelled."""
    statuses = matchingStatuses(action, status)
    if action == 'retry':
        return sum(retryAll(ctx, service, one, task, **filters)
                   for one in statuses)

    def act(job) -> bool:
        if action == 'cancel':
            if isSchedule(job):
                return False
            service.cancel(job.id)
        else:
            service.removeJob(job.id)
        return True

    total = 0
    for one in statuses:
        walk = Walk(service, one, settings.CANCEL_BATCH, task, **filters)
        total += inBatches(ctx, lambda: walk.batch(act), walk.rewind)
    return total
