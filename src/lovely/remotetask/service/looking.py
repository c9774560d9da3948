"""Looking at jobs: their status and results, counts, and pages in order.

The part of `TaskService` that reads (see ITaskService); what it reads,
it asks the store.
"""
from typing import Optional

from lovely.remotetask import checks
from lovely.remotetask.exceptions import InvalidArgumentError
from lovely.remotetask.interfaces import QUEUED
from lovely.remotetask.store import claiming, hourly, listing
from lovely.remotetask.store import search as searching
from lovely.remotetask.store.activity import ACTIVITY_MINUTES, activity
from lovely.remotetask.store.stamps import stampTime


class Looking:
    """The looking-at part of `TaskService` (see ITaskService)."""

    def getStatus(self, jobid: int) -> str:
        return self._store.job(jobid).status

    def getResult(self, jobid: int):
        return self._store.job(jobid).output

    def getError(self, jobid: int):
        return self._store.job(jobid).error

    def getProgress(self, jobid: int):
        """The last progress a job reported: a dict of fraction, message
        and time, or None."""
        reported = self._store.job(jobid).progress
        if reported is None:
            return None
        return dict(zip(('fraction', 'message', 'time'), reported))

    def statusCounts(self) -> dict:
        return self._store.counts()

    def queueLength(self) -> int:
        return self._store.count(QUEUED)

    def activity(self, now=None, minutes: int = ACTIVITY_MINUTES) -> list:
        """How many jobs finished in each of the last `minutes` minutes, by
        status: [(minute start, {status: count})], oldest first.  The
        store counts the last ACTIVITY_MINUTES minutes, and no more."""
        checks.whole('minutes', minutes, 1, ACTIVITY_MINUTES)
        store = self._store
        return activity(store.activityLog, store.intake.minute,
                        checks.moment(now), minutes)

    def activityByHour(self, hours: int = 24, task: Optional[str] = None,
                       now=None) -> list:
        """How many jobs (of `task`, or of every task) finished in each of
        the last `hours` hours, by status: [(hour start, {status:
        count})], oldest first.  The store keeps hourly.HOURS_KEPT hours
        (a week), counted as its drains file the jobs."""
        checks.whole('hours', hours, 1, hourly.HOURS_KEPT)
        if task is not None and not isinstance(task, str):
            raise InvalidArgumentError(
                f'task must be the name of a task, not {task!r}')
        return hourly.byHour(self._store.finishedHours, checks.moment(now),
                             hours, task)

    def oldestWaiting(self) -> Optional[float]:
        """Since when the job that waits longest in the queue waits (epoch
        seconds), or None.

        An entry's stamp is the last commit its writer saw, which after a
        quiet spell may be long before the entry was made: the job's own
        times (added, due, last ended) bound it from below.
        """
        store = self._store
        found = claiming.oldest(store)
        if found is None:
            return None
        stamp, job = found
        since = stampTime(store.epoch, stamp)
        delay = getattr(job, 'delay', None) or 0
        return max(since, job.created + delay, job.completed or 0,
                   getattr(job, 'lastRun', None) or 0)

    def jobsPage(self, status=None, after: Optional[str] = None,
                 limit: int = 50, task: Optional[str] = None,
                 owner: Optional[str] = None, tag: Optional[str] = None,
                 search: Optional[str] = None):
        checks.whole('limit', limit)
        for name, what, value in (('task', 'the name of a task', task),
                                  ('owner', 'the id of a principal', owner)):
            if value is not None and not isinstance(value, str):
                raise InvalidArgumentError(
                    f'{name} must be {what}, not {value!r}')

        def matches(job):
            return (task is None or job.task == task) and \
                (owner is None or job.owner == owner)
        found = searching.query(self._store, tag, search)
        return listing.page(self._store, status, after, limit, None if (
            task is None and owner is None) else matches, found)
