"""The persistent task service: where jobs wait, and how their status moves.

Every structure is a BTree or a set of BTrees, so that each operation costs
O(log n) in the number of jobs and touches few buckets:

- ``jobs``: every job by id;
- ``_queue``: ids ready to run, first in first out;
- ``_scheduled``: (due time, id) of cron and delayed jobs;
- ``_unscheduled``: ids of cron and delayed jobs that wait for the first
  processing to compute their due time (as the seed did);
- ``_finished``: ids by finished status, in the order they finished, so
  that `clean` visits only the jobs it removes (queues, like ``_queue``:
  workers finishing jobs at once merge instead of conflicting);
- ``_workers``: the processors that hold jobs, and their leases.
"""
import itertools
import logging
import random
import time
import types

import persistent
import transaction
import zope.component
from BTrees.IOBTree import IOBTree
from BTrees.OOBTree import OOBTree, OOTreeSet
from zope.interface import implementer

from lovely.remotetask import interfaces, processing
from lovely.remotetask.exceptions import (
    InvalidArgumentError, JobStateError, UnknownJobError, UnknownTaskError)
from lovely.remotetask.context import checkProgress
from lovely.remotetask.events import (
    JobAdded, JobCancelled, JobCompleted, JobFailed, JobRetried, JobStarted,
    notifyOnCommit)
from lovely.remotetask.interfaces import (
    CANCELLABLE, CANCELLED, COMPLETED, CRONJOB, DELAYED, ERROR, FINISHED,
    PROCESSING, QUEUED, RETRY, STARTLATER)
from lovely.remotetask.job import CronJob, Job
from lovely.remotetask.pickling import checkStorable
from lovely.remotetask.processor import WAIT_TIME, SimpleProcessor
from lovely.remotetask.queue import JobQueue
from lovely.remotetask.retry import RetryPolicy
from lovely.remotetask.run import Outcome, runJob
from lovely.remotetask.trees import IdSet, JobTree
from lovely.remotetask.workers import WorkerRecord

log = logging.getLogger('lovely.remotetask')

#: Job ids are 31-bit so that they fit an XML-RPC <int>.
MAX_JOB_ID = 2**31 - 1

#: How many attempts an unexpected exception gets before the job fails.
MAX_ATTEMPTS = 3


#: The priorities a job may have.
PRIORITIES = range(-100, 101)


def checkPriority(priority) -> int:
    """Return `priority` if it is an int in PRIORITIES."""
    if isinstance(priority, bool) or not isinstance(priority, int) or \
            priority not in PRIORITIES:
        raise InvalidArgumentError(
            f'priority must be an int from {PRIORITIES.start} to '
            f'{PRIORITIES.stop - 1}, not {priority!r}')
    return priority


def _now(now):
    return time.time() if now is None else now


@implementer(interfaces.ITaskService)
class TaskService(persistent.Persistent):

    __parent__ = __name__ = None
    maxAttempts = MAX_ATTEMPTS
    #: What `startProcessing` runs, called as
    #: ``processorFactory(db, oid, name=..., **processorArguments)``.
    processorFactory = SimpleProcessor
    processorArguments = types.MappingProxyType({'waitTime': WAIT_TIME})

    def __init__(self) -> None:
        self.jobs = JobTree()
        self._queue = JobQueue()
        self._scheduled = OOTreeSet()
        self._unscheduled = IdSet()
        # A plain dict of three sets: the dict is written once, here; the
        # sets take the changes and resolve concurrent ones.
        self._finished = {status: JobQueue() for status in FINISHED}
        self._workers = OOBTree()
        # More queues, by priority, made when first needed; 0 is _queue.
        self._queues = OOBTree({0: self._queue})
        self._keys = OOBTree()
        self._progress = IOBTree()
        self._stopRequests = IdSet()
        self._startLater = IdSet()
        #: Seconds finished jobs are kept; None keeps them until `clean`.
        self.keepFinished = None

    #: Services stored before start-later jobs were indexed have none.
    _startLater = None

    def __repr__(self):
        return f'<{type(self).__name__} {self.__name__!r}>'

    def _startLaterIds(self):
        if self._startLater is None:
            self._startLater = IdSet(
                jobid for jobid, job in self.jobs.items()
                if job.status == STARTLATER)
        return self._startLater

    # Adding jobs

    def getAvailableTasks(self) -> dict:
        return dict(zope.component.getUtilitiesFor(interfaces.ITask))

    def queryTask(self, name: str):
        """The task registered as `name`, or None."""
        return zope.component.queryUtility(interfaces.ITask, name=name)

    def add(self, task: str, input=None, startLater: bool = False, *,
            priority: int = 0, key=None) -> int:
        """See ITaskService."""
        if key is not None:
            existing = self._pendingWithKey(key)
            if existing is not None:
                return existing
        priority = checkPriority(priority)
        self._checkTask(task, input)
        job = Job(self._newJobId(), task, input)
        job.priority = priority
        self.jobs[job.id] = job
        if key is not None:
            job.key = key
            self._keys[key] = job.id
        if startLater:
            job.status = STARTLATER
            self._startLaterIds().insert(job.id)
        else:
            self._enqueue(job, QUEUED)
        self._notify(JobAdded, job)
        return job.id

    def addCronJob(self, task: str, input=None, minute=(), hour=(),
                   dayOfMonth=(), month=(), dayOfWeek=(), delay=None, *,
                   cron=None, timezone=None, missed='once', graceTime=None,
                   overlap=False) -> int:
        """See ITaskService."""
        self._checkTask(task, input)
        job = CronJob(self._newJobId(), task, input, minute, hour,
                      dayOfMonth, month, dayOfWeek, delay, cron=cron,
                      timezone=timezone, missed=missed, graceTime=graceTime,
                      overlap=overlap)
        self.jobs[job.id] = job
        self._unscheduled.insert(job.id)
        processing.wakeAfterCommit(self)
        self._notify(JobAdded, job)
        return job.id

    def startJob(self, jobid: int) -> bool:
        job = self._job(jobid)
        if job.status != STARTLATER:
            return False
        self._dequeue(job)
        self._enqueue(job, QUEUED)
        return True

    def reschedule(self, jobid: int) -> None:
        job = self._job(jobid)
        if not isinstance(job, CronJob):
            raise JobStateError(f'job {jobid} is not a cron job')
        if job.status not in (CRONJOB, DELAYED, PROCESSING):
            raise JobStateError(
                f'job {jobid} is {job.status} and cannot be rescheduled')
        if job.recurring:
            # A run that is due already (queued or running) stays; only the
            # times to come are computed anew.
            self._unschedule(job)
            if job.status != PROCESSING:
                job.status = CRONJOB
        elif job.status != PROCESSING:
            self._dequeue(job)
            job.status = DELAYED
        self._unscheduled.insert(job.id)
        processing.wakeAfterCommit(self)

    # Removing jobs

    def cancel(self, jobid: int) -> None:
        """See ITaskService; a running job is asked to stop."""
        job = self._job(jobid)
        if job.status == CANCELLED:
            return
        if job.status == PROCESSING:
            self._stopRequests.insert(jobid)
            processing.requestStopAfterCommit(self, jobid)
            return
        if job.status not in CANCELLABLE:
            raise JobStateError(
                f'job {jobid} is {job.status} and cannot be cancelled')
        self._dequeue(job)
        self._finish(job, CANCELLED)
        self._notify(JobCancelled, job)

    def clean(self, status=FINISHED, limit=None) -> int:
        """See ITaskService; with a `limit`, remove at most that many (the
        oldest first), to clean a large service in several transactions."""
        statuses = (status,) if isinstance(status, str) else tuple(status)
        wrong = [s for s in statuses if s not in FINISHED]
        if wrong:
            raise InvalidArgumentError(
                f'clean() removes only {", ".join(FINISHED)} jobs, '
                f'not {", ".join(map(repr, wrong))}')
        removed = 0
        for s in sorted(set(statuses)):
            ids = self._finished[s]
            while limit is None or removed < limit:
                jobid = ids.pull()
                if jobid is None:
                    break
                self._remove(jobid)
                removed += 1
        return removed

    def _remove(self, jobid):
        self.jobs.pop(jobid, None)
        self._progress.pop(jobid, None)

    # Looking at jobs

    def getStatus(self, jobid: int) -> str:
        return self._job(jobid).status

    def getResult(self, jobid: int):
        return self._job(jobid).output

    def getError(self, jobid: int):
        return self._job(jobid).error

    def setProgress(self, jobid: int, fraction: float, message: str = ''):
        """Store how far a job got; tasks call `context.reportProgress`."""
        checkProgress(fraction, message)
        self._job(jobid)
        self._progress[jobid] = (float(fraction), message, time.time())

    def getProgress(self, jobid: int):
        """The last progress a job reported: a dict of fraction, message and
        time, or None."""
        self._job(jobid)
        reported = self._progress.get(jobid)
        if reported is None:
            return None
        return dict(zip(('fraction', 'message', 'time'), reported))

    def statusCounts(self) -> dict:
        """How many jobs have each status, from the indexes' counters
        (scheduled jobs, usually few, are counted one by one)."""
        counts = {status: len(self._finished[status]) for status in FINISHED}
        counts[QUEUED] = self.queueLength()
        counts[PROCESSING] = sum(len(record.held.jobs)
                                 for record in self._workers.values())
        for _, jobid in self._scheduled:
            status = self.jobs[jobid].status
            counts[status] = counts.get(status, 0) + 1
        for jobid in self._unscheduled:
            status = self.jobs[jobid].status
            counts[status] = counts.get(status, 0) + 1
        return counts

    def oldestWaiting(self):
        """When the oldest job waiting in the queue was added, or None."""
        heads = [queue.peek() for queue in self._queues.values()]
        created = [self.jobs[jobid].created for jobid in heads
                   if jobid is not None]
        return min(created) if created else None

    def stopRequested(self, jobids) -> list:
        """Those of `jobids` whose jobs were asked to stop."""
        return [jobid for jobid in jobids if jobid in self._stopRequests]

    def expire(self, now=None, limit: int = 500) -> int:
        """Remove up to `limit` finished jobs older than `keepFinished`
        seconds, oldest first; return how many.

        Finished jobs are kept in the order they finished, so this stops at
        the first job young enough to stay and reads no other.
        """
        if self.keepFinished is None:
            return 0
        cutoff = _now(now) - self.keepFinished
        removed = 0
        for status in FINISHED:
            finished = self._finished[status]
            while removed < limit:
                jobid = finished.peek()
                if jobid is None:
                    break
                job = self.jobs.get(jobid)
                if job is not None and job.completed > cutoff:
                    break
                finished.pull()
                self._remove(jobid)
                removed += 1
        return removed

    def jobsPage(self, status=None, after=None, limit: int = 50):
        """A page of jobs and the cursor of the next page (None at the end).

        Without a status, jobs come by id and the page is read from the
        jobs tree alone.  With a status they come in the order of that
        status's index: queued and finished jobs oldest first, cron and
        delayed jobs by due time.  Pass the cursor returned back as `after`.
        """
        if limit < 1:
            raise InvalidArgumentError(
                f'limit must be at least 1, not {limit}')
        if status is None:
            items = self.jobs.items(min=after, excludemin=after is not None)
            page = [job for _, job in itertools.islice(items, limit + 1)]
            more = len(page) > limit
            page = page[:limit]
            return page, (page[-1].id if more else None)
        start = after or 0
        page = []
        positions = enumerate(self._idsByStatus(status))
        for position, jobid in itertools.islice(positions, start, None):
            job = self.jobs.get(jobid)
            if job is None or job.status != status:
                continue
            if len(page) == limit:
                return page, position
            page.append(job)
        return page, None

    def _idsByStatus(self, status):
        """The ids of jobs that may have `status`, from the index that
        holds them (a superset: the caller checks each job's status)."""
        if status in FINISHED:
            return iter(self._finished[status])
        queued = itertools.chain.from_iterable(
            self._queues[p] for p in reversed(list(self._queues.keys())))
        if status == QUEUED:
            return queued
        if status in (CRONJOB, DELAYED, RETRY):
            return itertools.chain(
                (jobid for _, jobid in self._scheduled), self._unscheduled,
                queued)
        if status == PROCESSING:
            return itertools.chain.from_iterable(
                sorted(record.heldJobs()) for record in self._workers.values())
        if status == STARTLATER:
            if self._startLater is None:    # stored before the index
                return iter(self.jobs.keys())
            return iter(self._startLater)
        raise InvalidArgumentError(f'unknown status {status!r}')

    # Running jobs: claim, run, record

    def hasJobsWaiting(self, now=None) -> bool:
        now = _now(now)
        if self.queueLength() or self._firstDue(now) is not None:
            return True
        return any(self._dueTime(self.jobs[jobid], now) <= now
                   for jobid in self._unscheduled)

    def claimNextJob(self, now=None, worker=None):
        """See ITaskService; a `worker` id leases the job to that worker."""
        claimed = self.claimNextJobs(1, now, worker)
        return claimed[0] if claimed else None

    def claimNextJobs(self, limit: int, now=None, worker=None) -> list:
        """Claim up to `limit` ready jobs at once, in queue order."""
        self._promoteDue(_now(now))
        claimed = []
        spread = self._spreadOf(worker)
        while len(claimed) < limit:
            jobid = self._pullQueued(spread)
            if jobid is None:
                break
            job = self.jobs[jobid]
            job.queueToken = None
            self._markProcessing(job, worker)
            claimed.append(jobid)
        return claimed

    def releaseJob(self, jobid: int, attempt: int) -> None:
        """Give back a claimed job that was not started: it waits in the
        queue again, and the attempt does not count."""
        job = self._job(jobid)
        if job.status != PROCESSING or job.attempts != attempt:
            raise JobStateError(
                f'job {jobid} attempt {attempt} is not in hand')
        record = self._workers.get(job.worker)
        if record is not None:
            record.release(job.id)
        job.attempts -= 1
        job.worker = None
        self._enqueue(job, self._waitingStatus(job))

    def queueLength(self) -> int:
        """How many jobs are ready and waiting to be claimed."""
        return sum(len(queue) for queue in self._queues.values())

    def claimJob(self, jobid: int, worker=None) -> None:
        """Claim the given job out of queue order."""
        job = self._job(jobid)
        if job.queueToken is None:
            raise JobStateError(
                f'job {jobid} is {job.status}, not waiting in the queue')
        self._queueFor(job).remove(job.queueToken, job.id)
        job.queueToken = None
        self._markProcessing(job, worker)

    def recordOutcome(self, outcome: Outcome, now=None) -> None:
        """Store what a claimed job's attempt came to and move it on."""
        job = self._job(outcome.jobid)
        if job.status != PROCESSING or job.attempts != outcome.attempt:
            # Fencing: a worker whose job was taken over records nothing.
            raise JobStateError(
                f'job {job.id} attempt {outcome.attempt} is not in hand '
                f'(status {job.status}, attempt {job.attempts})')
        record = self._workers.get(job.worker)
        if record is not None:
            record.release(job.id)
        if job.id in self._stopRequests:
            self._stopRequests.remove(job.id)
        if outcome.ok:
            try:
                checkStorable(outcome.output, f'the result of job {job.id}')
            except ValueError as error:
                outcome = Outcome.failed(job, str(error), retryable=False)
        now = _now(now)
        job.completed = time.time()
        if outcome.ok:
            job.output = outcome.output
            job.error = None
        else:
            job.error = outcome.error
        if outcome.cancelled and not getattr(job, 'recurring', False):
            self._finish(job, CANCELLED)
            self._notify(JobCancelled, job)
        elif isinstance(job, CronJob) and job.recurring:
            # A cron job carries on with its schedule whatever came of it;
            # its next time was set when this run was queued.
            job.attempts = 0
            job.status = CRONJOB
            if job.scheduledFor is not None and job.scheduledFor <= now:
                processing.wakeAfterCommit(self)   # a run waits for us
            self._notify(JobCompleted if outcome.ok else JobFailed, job)
        elif outcome.ok:
            self._finish(job, COMPLETED)
            self._notify(JobCompleted, job)
        elif outcome.retryable and \
                job.attempts < self._policyFor(job).maxAttempts:
            if outcome.wait > 0:
                job.status = RETRY
                self._schedule(job, now + outcome.wait)
            else:
                self._enqueue(job, self._waitingStatus(job))
            self._notify(JobRetried, job)
        else:
            self._finish(job, ERROR)
            self._notify(JobFailed, job)

    def processNext(self, now=None, jobid=None) -> bool:
        if jobid is None:
            jobid = self.claimNextJob(now)
            if jobid is None:
                return False
        elif self._job(jobid).status != PROCESSING:
            self.claimJob(jobid)
        job = self.jobs[jobid]
        savepoint = _savepoint()
        outcome = runJob(self, job)
        if not outcome.ok and savepoint is not None:
            savepoint.rollback()  # undo what the failed task wrote
        self.recordOutcome(outcome, now)
        return True

    def process(self, now=None) -> None:
        while self.processNext(now):
            pass

    # Workers and their leases

    def registerWorker(self, workerId: str, leaseTime: float) -> None:
        """Make `workerId` known, so that it may claim jobs."""
        if workerId not in self._workers:
            self._workers[workerId] = WorkerRecord(workerId, leaseTime)

    def unregisterWorker(self, workerId: str) -> None:
        """Forget a worker that stops and holds no job."""
        record = self._workers.get(workerId)
        if record is not None and not record.heldJobs():
            del self._workers[workerId]

    def heartbeat(self, workerId: str, leaseTime: float):
        """Show that the worker lives and return its record; once committed,
        its heartbeat's serial tells the time on the database's clock."""
        if workerId not in self._workers:
            # Taken for dead (paused too long?): its jobs were taken back,
            # and what it records for them will be refused.
            log.warning('worker %s was taken for dead; it registers again',
                        workerId)
            self.registerWorker(workerId, leaseTime)
        record = self._workers[workerId]
        record.heartbeat.beats += 1
        return record

    def heldBy(self, workerId: str) -> list:
        """The ids of the jobs `workerId` holds."""
        record = self._workers.get(workerId)
        return [] if record is None else list(record.heldJobs())

    def getWorkers(self) -> list:
        """The workers known, with the jobs they hold (id to attempt)."""
        return [dict(id=record.id, host=record.host, pid=record.pid,
                     jobs=record.heldJobs(), leaseTime=record.leaseTime,
                     lastSeen=record.heartbeat.lastSeen)
                for record in self._workers.values()]

    def recoverJobs(self, now: float) -> list:
        """Take back the jobs of workers whose leases ran out before `now`
        (database time); return their ids.

        Each job counts the lost attempt: it is queued again, or fails when
        its attempts are used up, so a task that kills its worker every time
        does not loop for ever.
        """
        recovered = []
        for record in list(self._workers.values()):
            if record.expiresAt() >= now:
                continue
            for jobid, attempt in record.heldJobs().items():
                job = self.jobs.get(jobid)
                if job is None or job.status != PROCESSING \
                        or job.attempts != attempt or job.worker != record.id:
                    continue
                log.warning('job %s: worker %s stopped responding during '
                            'attempt %s', jobid, record.id, attempt)
                self.recordOutcome(Outcome(
                    jobid, attempt, retryable=True,
                    error=f'worker {record.id} stopped responding during '
                          f'attempt {attempt} (its lease expired)'), now)
                recovered.append(jobid)
            del self._workers[record.id]
        return recovered

    # Background processing

    def startProcessing(self, factory=None, **arguments) -> None:
        """See ITaskService; `factory` and `arguments` override
        `processorFactory` and `processorArguments` for this start."""
        processing.start(self, factory, **arguments)

    def stopProcessing(self, wait: float = 0) -> None:
        """See ITaskService; `wait` seconds (None: no limit) for the thread
        to finish the job in hand."""
        processing.stop(self, wait)

    def isProcessing(self) -> bool:
        return processing.isRunning(self)

    # Bookkeeping

    def _job(self, jobid):
        try:
            return self.jobs[jobid]
        except (KeyError, TypeError):
            raise UnknownJobError(jobid) from None

    def _checkTask(self, task, input):
        if self.queryTask(task) is None:
            raise UnknownTaskError(task)
        checkStorable(input, f'the input of task {task!r}')

    def _newJobId(self):
        # Sequential ids share BTree buckets; a collision (another process
        # took the same range) starts again at a random place, as intid does.
        while True:
            jobid = getattr(self, '_v_nextid', None)
            if jobid is None or jobid > MAX_JOB_ID:
                jobid = random.randrange(0, MAX_JOB_ID)
            self._v_nextid = jobid + 1
            if jobid not in self.jobs:
                return jobid
            self._v_nextid = None

    @staticmethod
    def _waitingStatus(job):
        if isinstance(job, CronJob):
            return CRONJOB if job.recurring else DELAYED
        return QUEUED

    def _enqueue(self, job, status):
        job.status = status
        job.queueToken = self._queueFor(job).put(job.id)
        processing.wakeAfterCommit(self)

    def _queueFor(self, job):
        queue = self._queues.get(job.priority)
        if queue is None:
            queue = self._queues[job.priority] = JobQueue()
        return queue

    def _pullQueued(self, spread=0):
        """The next job id in priority order, or None."""
        for priority in reversed(list(self._queues.keys())):
            jobid = self._queues[priority].pull(spread)
            if jobid is not None:
                return jobid
        return None

    def _spreadOf(self, worker):
        """Workers take different ids among the first few, by their place
        among the workers, so that their claims do not collide."""
        if worker is None or len(self._workers) < 2:
            return 0
        return list(self._workers.keys()).index(worker) \
            if worker in self._workers else 0

    def _pendingWithKey(self, key):
        """The id of the job added with `key` that waits or runs, if any."""
        jobid = self._keys.get(key)
        if jobid is None:
            return None
        job = self.jobs.get(jobid)
        if job is None or job.status in FINISHED:
            return None
        return jobid

    def _policyFor(self, job):
        policy = getattr(self.queryTask(job.task), 'retry', None)
        if policy is None:
            return RetryPolicy(maxAttempts=self.maxAttempts)
        return policy

    def _notify(self, event, job):
        notifyOnCommit(self, event(self, job.id))

    def _dequeue(self, job):
        """Take a waiting job out of whichever structure holds it."""
        if job.status == STARTLATER:
            self._startLaterIds().remove(job.id)
        if job.queueToken is not None:
            self._queueFor(job).remove(job.queueToken, job.id)
            job.queueToken = None
        self._unschedule(job)

    def _unschedule(self, job):
        if job.scheduledFor is not None:
            self._scheduled.remove((job.scheduledFor, job.id))
            job.scheduledFor = None
        if job.id in self._unscheduled:
            self._unscheduled.remove(job.id)

    def _markProcessing(self, job, worker):
        job.status = PROCESSING
        job.attempts += 1
        job.started = time.time()
        job.worker = worker
        if worker is not None:
            self._workers[worker].hold(job.id, job.attempts)
        self._notify(JobStarted, job)

    def _finish(self, job, status):
        job.status = status
        job.completed = time.time()
        self._finished[status].put(job.id)
        if job.key is not None and self._keys.get(job.key) == job.id:
            del self._keys[job.key]

    def _schedule(self, job, when):
        if when is None:
            log.warning('cron job %s will never run again', job.id)
            job.scheduledFor = None
            return
        job.scheduledFor = when
        self._scheduled.insert((when, job.id))

    @staticmethod
    def _dueTime(job, now):
        when = job.timeOfNextCall(now)
        return float('inf') if when is None else when

    def _firstDue(self, now):
        if not self._scheduled:
            return None
        first = self._scheduled.minKey()
        return first if first[0] <= now else None

    def _promoteDue(self, now):
        """Schedule new cron jobs and queue the runs that are due at `now`.

        Queueing a run and moving the job's next time happen in one
        transaction, so two workers that find the same run due conflict,
        and the run is queued once.
        """
        for jobid in list(self._unscheduled):
            self._unscheduled.remove(jobid)
            job = self.jobs[jobid]
            self._schedule(job, job.timeOfNextCall(now))
        if self._firstDue(now) is None:
            return
        for due in list(self._scheduled.keys(max=(now, MAX_JOB_ID + 1))):
            job = self.jobs[due[1]]
            if not getattr(job, 'recurring', False):
                # A delayed job, or a job to be tried again.
                self._scheduled.remove(due)
                job.scheduledFor = None
                self._enqueue(job, self._waitingStatus(job))
                continue
            busy = job.queueToken is not None or job.status == PROCESSING
            if busy and not job.overlap:
                continue   # the run waits until the one before it is done
            self._scheduled.remove(due)
            job.scheduledFor = None
            runAt, nextDue = job.catchUp(due[0], now)
            self._schedule(job, nextDue)
            if runAt is None:
                log.info('cron job %s: missed run due at %s skipped',
                         job.id, due[0])
                continue
            job.lastRun = runAt
            if busy:
                self._enqueue(self._runOf(job), QUEUED)
            else:
                job.queueToken = self._queueFor(job).put(job.id)

    def _runOf(self, job):
        """A one-off job for a run of a cron job whose last run is still
        going, when the cron job allows runs to overlap."""
        run = Job(self._newJobId(), job.task, job.input)
        self.jobs[run.id] = run
        return run


def _savepoint():
    """A savepoint of the current transaction, if all its resources allow."""
    try:
        return transaction.savepoint()
    except TypeError:
        return None
