"""The worker protocol: the steps by which processors run a service's jobs.

`IWorkerProtocol` documents each step; `TaskService` takes them from the
part here.  A processor registers as a worker, claims jobs (each claim
says what running it needs), runs them, records their outcomes, gives back
what it did not start, and keeps its lease with heartbeats.  Processors
also take turns at the service's housekeeping: promoting scheduled jobs,
taking back the jobs of dead workers, expiring finished jobs and draining
the intake.
"""
import logging
import time
from typing import Callable, Iterable, List, Optional, Tuple

from lovely.remotetask import checks
from lovely.remotetask.defaults import LEASE_TIME
from lovely.remotetask.events import (
    JobCancelled, JobCompleted, JobFailed, JobRetried, JobStarted,
    notifyOnCommit)
from lovely.remotetask.exceptions import (
    InvalidArgumentError, JobStateError, UnstorableError)
from lovely.remotetask.interfaces import (
    CANCELLED, COMPLETED, CRONJOB, ERROR, FINISHED, PROCESSING, QUEUED,
    RETRY)
from lovely.remotetask.pickling import checkStorable, shorten
from lovely.remotetask.runtime import processing
from lovely.remotetask.runtime.attempt import Claim, Outcome
from lovely.remotetask.store import (
    claiming, drainapart, indexing, scheduling, walking)
from lovely.remotetask.store.jobs import ERROR_LENGTH
from lovely.remotetask.store.channels import channelOf
from lovely.remotetask.store.workers import WorkerRecord
from lovely.remotetask.timing.retry import policyOf

log = logging.getLogger('lovely.remotetask')


class WorkerProtocol:
    """The worker-facing steps of `TaskService` (see IWorkerProtocol)."""

    # Workers and leases

    def registerWorker(self, workerId: str, leaseTime: float,
                       serves=None) -> None:
        checks.seconds('leaseTime', leaseTime, positive=True)
        if not isinstance(workerId, str) or not workerId:
            raise InvalidArgumentError(
                f'a worker id is a non-empty string, not {workerId!r}')
        workers = self._store.workers
        if workerId not in workers:
            record = workers[workerId] = WorkerRecord(workerId, leaseTime)
            if serves is not None:
                record.serves = tuple(serves)

    def unregisterWorker(self, workerId: str) -> None:
        workers = self._store.workers
        record = workers.get(workerId)
        if record is not None and not record.heldJobs():
            record.leave()
            del workers[workerId]

    def heartbeat(self, workerId: str, leaseTime: float, stalled: int = 0,
                  serves=None):
        """Note that `workerId` lives; `serves` is (queues, tasks) it takes
        jobs of (names, or None for any), written when it changed."""
        workers = self._store.workers
        record = workers.get(workerId)
        if record is None:
            log.warning('worker %s was taken for dead; it registers again',
                        workerId)
            self.registerWorker(workerId, leaseTime)
            record = workers[workerId]
        elif record.leaseTime != leaseTime:
            record.leaseTime = checks.seconds('leaseTime', leaseTime,
                                              positive=True)
        if record.stalled != stalled:
            record.stalled = stalled
        if serves is not None and record.serves != tuple(serves):
            record.serves = tuple(serves)
        record.heartbeat.beats += 1
        return record

    def heldBy(self, workerId: str) -> list:
        record = self._store.workers.get(workerId)
        return [] if record is None else list(record.heldJobs())

    def getWorkers(self) -> list:
        return [dict(id=record.id, host=record.host, pid=record.pid,
                     jobs=record.heldJobs(), leaseTime=record.leaseTime,
                     lastSeen=record.heartbeat.lastSeen,
                     started=record.started, stalled=record.stalled,
                     queues=record.serves[0], tasks=record.serves[1])
                for workerId, record in sorted(self._store.workers.items())]

    def recoverJobs(self, now: float) -> list:
        now = checks.moment(now)
        store = self._store
        recovered = []
        for workerId, record in store.workers.items():
            if record.expiresAt() >= now:
                continue
            for jobid, attempt in record.heldJobs().items():
                job = store.get(jobid)
                if job is None or job.status != PROCESSING \
                        or job.attempts != attempt or job.worker != workerId:
                    continue
                log.warning('job %s: worker %s stopped responding during '
                            'attempt %s', jobid, workerId, attempt)
                self.recordOutcome(_lost(
                    self, job, f'worker {workerId} stopped responding '
                    f'during attempt {attempt} (its lease expired)'), now)
                recovered.append(jobid)
            # A claim for the worker committing at the same time conflicts.
            record.leave()
            del store.workers[workerId]
        return recovered

    # Claims and outcomes

    def claim(self, workerId: Optional[str] = None, limit: int = 1,
              inHand: Optional[Iterable[int]] = None,
              accepts: Optional[Callable[[str, str], bool]] = None,
              report: Optional[dict] = None) -> List[Claim]:
        checks.whole('limit', limit)
        store = self._store
        if inHand is not None and workerId is not None:
            self.releaseOrphans(workerId, inHand)
        if workerId is not None and workerId not in store.workers:
            log.warning('worker %s was taken for dead; it registers again',
                        workerId)
            self.registerWorker(workerId, LEASE_TIME)
        if store.settings.paused:
            return []
        share = _shareOf(store, workerId)
        if report is not None:
            report['place'] = share[0]
        claimed = claiming.claim(store, workerId, limit, share, accepts,
                                 self.limitRules(), report=report)
        return [self._claimOf(job) for job in claimed]

    def claimJob(self, jobid: int, worker: Optional[str] = None) -> Claim:
        """Claim the given queued job, out of queue order."""
        job = self._store.job(jobid)
        if job.status != QUEUED:
            raise JobStateError(
                f'job {jobid} is {job.status}, not waiting in the queue')
        # Out of order, past any limit, but counted in them.
        self._store.start(job, worker, self.limitRules()(channelOf(job)))
        return self._claimOf(job)

    def claimed(self, jobid: int) -> Claim:
        """The claim of a job in hand (processing)."""
        job = self._store.job(jobid)
        if job.status != PROCESSING:
            raise JobStateError(f'job {jobid} is {job.status}, not in hand')
        return Claim(job.id, job.attempts, job.task, self.queryTask(job.task),
                     job.input, job.retryBase, job.queue)

    def _claimOf(self, job) -> Claim:
        notifyOnCommit(self, JobStarted(self, job.id))
        return Claim(job.id, job.attempts, job.task, self.queryTask(job.task),
                     job.input, job.retryBase, job.queue)

    def releaseOrphans(self, workerId: str, inHand: Iterable[int]) -> list:
        record = self._store.workers.get(workerId)
        if record is None:
            return []
        inHand, released = set(inHand), []
        for jobid, attempt in list(record.heldJobs().items()):
            if jobid not in inHand:
                log.warning('job %s: held by worker %s, which did not know '
                            'it claimed it; given back', jobid, workerId)
                self.releaseJob(jobid, attempt)
                released.append(jobid)
        return released

    def releaseJob(self, jobid: int, attempt: int) -> None:
        store = self._store
        job = store.job(jobid)
        if job.status != PROCESSING or job.attempts != attempt:
            raise JobStateError(
                f'job {jobid} attempt {attempt} is not in hand')
        store.take(job)
        job.attempts -= 1
        job.worker = None
        # Back to where it stood: before the jobs that came since.
        store.place(job, QUEUED, again=True)
        processing.wakeAfterCommit(self)

    def recordOutcome(self, outcome: Outcome, now=None) -> None:
        store = self._store
        job = store.job(outcome.jobid)
        if job.status != PROCESSING or job.attempts != outcome.attempt:
            # Fencing: a worker whose job was taken over records nothing.
            raise JobStateError(
                f'job {job.id} attempt {outcome.attempt} is not in hand '
                f'(status {job.status}, attempt {job.attempts})')
        if outcome.ok:
            try:
                checkStorable(outcome.output, f'the result of job {job.id}',
                              self.maxStoredSize)
            except UnstorableError as error:
                outcome = Outcome(job.id, outcome.attempt, error=str(error),
                                  runs=outcome.runs, changes=outcome.changes,
                                  moreChanges=outcome.moreChanges)
        now = checks.moment(now)
        ended = time.time()
        error = shorten(outcome.error, min(ERROR_LENGTH,
                                           self.maxStoredSize // 4))
        job.recordAttempt(ended, error, outcome.traceback)
        job.completed = ended
        if outcome.runs:
            job.runs += outcome.runs
        if job.stopRequested:
            job.stopRequested = False
        if outcome.changes or outcome.moreChanges:
            # The task's writes commit with this record (see
            # `runtime.changes`), whatever it says.
            job.recordChanges(outcome.attempt, outcome.changes,
                              outcome.moreChanges)
        if outcome.ok:
            job.output = outcome.output
            if job.error is not None:
                job.error = None
        else:
            job.error = error
        store.take(job)
        self._placeAfter(job, outcome, now)
        if job.runOf is not None and job.status in FINISHED:
            # Show what a run of a cron job came to on the cron job too.
            cronjob = store.get(job.runOf)
            if cronjob is not None:
                cronjob.output, cronjob.error = job.output, job.error
                cronjob.completed = job.completed

    def _placeAfter(self, job, outcome, now) -> None:
        """Place a job taken for its outcome where the outcome says."""
        store = self._store
        recurring = getattr(job, 'recurring', False)
        if outcome.cancelled and not recurring:
            self._finish(job, CANCELLED, JobCancelled)
        elif recurring:
            # A cron job carries on with its schedule whatever came of
            # it; its next time was set when this run was queued.
            job.attempts = job.retryBase = 0
            store.place(job, CRONJOB)
            # Counted as a finished job would be, for the activity chart.
            store.countFinished(COMPLETED if outcome.ok else ERROR)
            notifyOnCommit(self, (JobCompleted if outcome.ok else JobFailed)(
                self, job.id))
        elif outcome.ok:
            self._finish(job, COMPLETED, JobCompleted)
        elif outcome.retryable:
            if outcome.wait > 0:
                job.scheduledFor = now + outcome.wait
                store.place(job, RETRY)
            else:
                store.place(job, QUEUED)
            processing.wakeAfterCommit(self)
            notifyOnCommit(self, JobRetried(self, job.id))
        else:
            self._finish(job, ERROR, JobFailed)

    def _finish(self, job, status, event) -> None:
        self._store.place(job, status)
        self._store.forgetKey(job)
        notifyOnCommit(self, event(self, job.id))

    def stopRequested(self, jobids) -> list:
        store = self._store
        return [jobid for jobid in jobids
                if getattr(store.get(jobid), 'stopRequested', False)]

    # Housekeeping

    def promote(self, now=None) -> int:
        """File scheduled jobs by due time and queue those due at `now`;
        return how many were queued."""
        queued = scheduling.promote(self._store, checks.moment(now),
                                    self._store.newRun)
        if queued:
            processing.wakeAfterCommit(self)
        return queued

    def nextDue(self) -> Optional[float]:
        return scheduling.nextDue(self._store)

    def expire(self, now=None, limit: int = 500) -> int:
        now = checks.moment(now)
        keep = self.keepFinished
        if keep is None:
            return 0
        return walking.removeOldest(self._store, FINISHED, limit, now - keep)

    def drain(self) -> int:
        """Sort the jobs moved since into their places; return how many."""
        return self._store.drain()

    def drainsItself(self) -> None:
        drainapart.drainsItself(self._store)

    def undrained(self) -> int:
        """How many moves of jobs there were since the last `drain`, and
        jobs and removals noted for the search index (a drain has them
        indexed after it: the workers' lease keepers do it so)."""
        return len(self._store.intake.jobs) + indexing.pending(self._store)


def _shareOf(store, workerId) -> Tuple[int, int]:
    """The worker's place among the workers, and their number: workers
    take different jobs among the first few, so that their claims do not
    collide (see `claiming.claim`)."""
    workers = store.workers.keys()
    if workerId is None or len(workers) < 2 or workerId not in workers:
        return 0, 1
    return sorted(workers).index(workerId), len(workers)


def _lost(service, job, error: str) -> Outcome:
    """The outcome of an attempt whose worker went away: it counts, and
    the job is tried again while its policy allows."""
    policy = policyOf(service.queryTask(job.task))
    return Outcome(job.id, job.attempts, error=error, runs=0,
                   retryable=job.attempts - job.retryBase <
                   policy.maxAttempts)
