"""Steering jobs: cancel, retry, reschedule, pause, clean.

The part of `TaskService` that changes jobs on an operator's or the
application's word (see ITaskService); it moves them through the store.
"""
import time
from typing import Optional

from lovely.remotetask import checks
from lovely.remotetask.events import JobCancelled, notifyOnCommit
from lovely.remotetask.exceptions import InvalidArgumentError, JobStateError
from lovely.remotetask.interfaces import (
    CANCELLABLE, CANCELLED, CRONJOB, DELAYED, ERROR, FINISHED, PROCESSING,
    QUEUED, WAITING)
from lovely.remotetask.runtime import processing
from lovely.remotetask.runtime.context import checkProgress
from lovely.remotetask.store import walking
from lovely.remotetask.store.jobs import CronJob


class Steering:
    """The steering part of `TaskService` (see ITaskService)."""

    def reschedule(self, jobid: int) -> None:
        store = self._store
        job = store.job(jobid)
        if not isinstance(job, CronJob):
            raise JobStateError(f'job {jobid} is not a cron job')
        if job.status in (CRONJOB, DELAYED):
            job.scheduledFor = None
            store.move(job, CRONJOB if job.recurring else DELAYED)
        elif job.recurring and job.status in (QUEUED, PROCESSING):
            # The run that is due already stays; the times to come are
            # computed anew once it is done.
            job.scheduledFor = None
        elif not job.recurring and job.status == QUEUED:
            job.scheduledFor = None
            store.move(job, DELAYED)
        else:
            raise JobStateError(
                f'job {jobid} is {job.status} and cannot be rescheduled')
        processing.wakeAfterCommit(self)

    def cancel(self, jobid: int) -> None:
        job = self._store.job(jobid)
        if job.status == CANCELLED:
            return
        if job.status == PROCESSING:
            job.stopRequested = True
            processing.requestStopAfterCommit(self, jobid)
            return
        if job.status not in CANCELLABLE:
            raise JobStateError(
                f'job {jobid} is {job.status} and cannot be cancelled')
        job.completed = time.time()
        self._store.move(job, CANCELLED)
        self._store.forgetKey(job)
        notifyOnCommit(self, JobCancelled(self, job.id))

    def retry(self, jobid: int) -> None:
        """Run a failed or cancelled job again, as a new attempt of the
        same job: its retry policy counts attempts anew, and a cron job
        goes back to its schedule."""
        store = self._store
        job = store.job(jobid)
        if job.status not in (ERROR, CANCELLED):
            raise JobStateError(
                f'job {jobid} is {job.status}: only failed and cancelled '
                f'jobs are retried')
        if job.key is not None:
            holder = self._store.pendingWithKey(job.key)
            if holder is not None:
                raise JobStateError(
                    f'job {holder} with the same key {job.key!r} waits or '
                    f'runs')
            store.keys.set(job.key, job.id)
        job.retryBase = job.attempts
        # A new attempt is to come: the last one's times and error are in
        # the history, not the job's own.
        job.error = job.started = job.completed = None
        if isinstance(job, CronJob):
            job.scheduledFor = None
            store.move(job, CRONJOB if job.recurring else DELAYED)
        elif job._barrier is not None and job._barrier.remaining > 0:
            # It waits again for what has not finished, whatever failed.
            if job._barrier.failed:
                job._barrier.failed = ()
            store.move(job, WAITING)
        else:
            store.move(job, QUEUED)
        processing.wakeAfterCommit(self)

    def retryAll(self, status: str = ERROR, task: Optional[str] = None,
                 limit: int = 100) -> int:
        """Retry up to `limit` jobs of `status` (error or cancelled), of
        `task` if given, the oldest first; return how many.  To retry all,
        call it in one transaction after another, until it returns less
        than `limit` or as many times as there were such jobs to begin with:
        jobs that fail again meanwhile come back to the same status."""
        if status not in (ERROR, CANCELLED):
            raise InvalidArgumentError(
                f'only error and cancelled jobs are retried, not {status!r}')
        checks.whole('limit', limit)
        retried = 0
        for job in walking.oldestFirst(self._store, (status,)):
            if retried == limit:
                break
            if (task is None or job.task == task) and (
                    job.key is None or
                    self._store.pendingWithKey(job.key) is None):
                self.retry(job.id)
                retried += 1
        return retried

    def pauseJob(self, jobid: int, paused: bool = True) -> None:
        """Pause a cron job (its runs are skipped), or resume it."""
        job = self._store.job(jobid)
        if not isinstance(job, CronJob) or not job.recurring:
            raise JobStateError(f'job {jobid} is not a cron job')
        job.paused = bool(paused)

    def runNow(self, jobid: int) -> int:
        """Queue a run of a cron job now, besides its schedule; return the
        id of the job that runs."""
        job = self._store.job(jobid)
        if not isinstance(job, CronJob) or not job.recurring or \
                job.status != CRONJOB:
            raise JobStateError(
                f'job {jobid} is {job.status}, not a waiting cron job')
        run = self._store.newRun(job)
        self._store.place(run, QUEUED)
        processing.wakeAfterCommit(self)
        return run.id

    def pause(self) -> None:
        """Stop every processor from claiming this service's jobs."""
        self._store.settings.paused = True

    def resume(self) -> None:
        self._store.settings.paused = False
        processing.wakeAfterCommit(self)

    def isPaused(self) -> bool:
        return self._store.settings.paused

    def clean(self, status=FINISHED, limit=None) -> int:
        """See ITaskService; with a `limit`, remove at most that many (the
        oldest first), to clean a large service in several transactions."""
        statuses = (status,) if isinstance(status, str) else tuple(status)
        wrong = [s for s in statuses if s not in FINISHED]
        if wrong:
            raise InvalidArgumentError(
                f'clean() removes only {", ".join(FINISHED)} jobs, '
                f'not {", ".join(map(repr, wrong))}')
        if limit is not None:
            checks.whole('limit', limit)
        return walking.removeOldest(self._store, sorted(set(statuses)),
                                    limit)

    def removeJob(self, jobid: int) -> None:
        """See ITaskService: one finished job, as `clean` removes many."""
        job = self._store.job(jobid)
        if job.status not in FINISHED:
            raise JobStateError(
                f'job {jobid} is {job.status}: only finished jobs '
                f'({", ".join(FINISHED)}) are removed')
        self._store.forgetKey(job)
        self._store.remove(job)

    def setProgress(self, jobid: int, fraction: float, message: str = ''):
        """Store how far a job got; tasks call `context.reportProgress`."""
        checkProgress(fraction, message)
        self._store.job(jobid).progress = (float(fraction), message,
                                           time.time())
