"""The worker protocol: the steps by which processors run a service's jobs.

`IWorkerProtocol` documents each step; `TaskService` takes them from the
mixin here.  A processor registers as a worker, claims jobs (each claim
says what running it needs), runs them, records their outcomes, gives back
what it did not start, and keeps its lease with heartbeats.  Processors
also take turns at the service's housekeeping: filing and promoting
scheduled jobs, taking back the jobs of dead workers, expiring finished
jobs and retiring idle lanes.
"""
import logging
import time
from typing import Iterable, List, Optional

from lovely.remotetask import checks, placement
from lovely.remotetask.placement import NEVER
from lovely.remotetask.events import (
    JobCancelled, JobCompleted, JobFailed, JobRetried, JobStarted)
from lovely.remotetask.exceptions import (
    InvalidArgumentError, JobStateError, UnstorableError)
from lovely.remotetask.interfaces import (
    CANCELLED, COMPLETED, CRONJOB, ERROR, FINISHED, PROCESSING, QUEUED,
    RETRY)
from lovely.remotetask.defaults import LEASE_TIME
from lovely.remotetask.job import ERROR_LENGTH, Job
from lovely.remotetask.lanes import entryId, entryStamp, ownLane
from lovely.remotetask.pickling import checkStorable, shorten
from lovely.remotetask.retry import policyOf
from lovely.remotetask.run import Claim, Outcome
from lovely.remotetask.workers import WorkerRecord

log = logging.getLogger('lovely.remotetask')


class WorkerProtocol:
    """The worker-facing steps of `TaskService` (see IWorkerProtocol)."""

    # Workers and leases

    def registerWorker(self, workerId: str, leaseTime: float) -> None:
        checks.seconds('leaseTime', leaseTime, positive=True)
        if not isinstance(workerId, str) or not workerId:
            raise InvalidArgumentError(
                f'a worker id is a non-empty string, not {workerId!r}')
        if workerId not in self._workers:
            self._workers[workerId] = WorkerRecord(workerId, leaseTime)

    def unregisterWorker(self, workerId: str) -> None:
        record = self._workers.get(workerId)
        if record is not None and not record.heldJobs():
            del self._workers[workerId]

    def heartbeat(self, workerId: str, leaseTime: float):
        record = self._workers.get(workerId)
        if record is None:
            log.warning('worker %s was taken for dead; it registers again',
                        workerId)
            self.registerWorker(workerId, leaseTime)
            record = self._workers[workerId]
        elif record.leaseTime != leaseTime:
            record.leaseTime = checks.seconds('leaseTime', leaseTime,
                                              positive=True)
        record.heartbeat.beats += 1
        return record

    def heldBy(self, workerId: str) -> list:
        record = self._workers.get(workerId)
        return [] if record is None else list(record.heldJobs())

    def getWorkers(self) -> list:
        return [dict(id=record.id, host=record.host, pid=record.pid,
                     jobs=record.heldJobs(), leaseTime=record.leaseTime,
                     lastSeen=record.heartbeat.lastSeen,
                     started=record.started)
                for workerId, record in sorted(self._workers.items())]

    def recoverJobs(self, now: float) -> list:
        now = checks.moment(now)
        recovered = []
        for workerId, record in self._workers.items():
            if record.expiresAt() >= now:
                continue
            for jobid, attempt in record.heldJobs().items():
                job = self.jobs.get(jobid)
                if job is None or job.status != PROCESSING \
                        or job.attempts != attempt or job.worker != workerId:
                    continue
                log.warning('job %s: worker %s stopped responding during '
                            'attempt %s', jobid, workerId, attempt)
                policy = policyOf(self.queryTask(job.task))
                self.recordOutcome(Outcome(
                    jobid, attempt, retryable=(
                        attempt - job.retryBase < policy.maxAttempts),
                    error=f'worker {workerId} stopped responding during '
                          f'attempt {attempt} (its lease expired)'), now)
                recovered.append(jobid)
            del self._workers[workerId]
        return recovered

    # Claims and outcomes

    def claim(self, workerId: Optional[str] = None, limit: int = 1,
              inHand: Optional[Iterable[int]] = None) -> List[Claim]:
        checks.whole('limit', limit)
        if inHand is not None and workerId is not None:
            self._releaseOrphans(workerId, set(inHand))
        if workerId is not None and workerId not in self._workers:
            log.warning('worker %s was taken for dead; it registers again',
                        workerId)
            self.registerWorker(workerId, LEASE_TIME)
        if self.isPaused():
            return []
        spread = self._spreadOf(workerId) if len(self._workers) > 1 else 0
        candidates = list(_first(placement.queued(self), spread + limit))
        start = max(0, min(spread, len(candidates) - limit))
        chosen = candidates[start:start + limit]
        return [self._claim(self.jobs[entryId(value)], workerId)
                for _, _, value in chosen]

    def claimJob(self, jobid: int, worker: Optional[str] = None) -> Claim:
        """Claim the given queued job, out of queue order."""
        job = self._job(jobid)
        if job.status != QUEUED:
            raise JobStateError(
                f'job {jobid} is {job.status}, not waiting in the queue')
        return self._claim(job, worker)

    def claimed(self, jobid: int) -> Claim:
        """The claim of a job in hand (processing)."""
        job = self._job(jobid)
        if job.status != PROCESSING:
            raise JobStateError(f'job {jobid} is {job.status}, not in hand')
        return Claim(job.id, job.attempts, job.task, self.queryTask(job.task),
                     job.input, job.retryBase)

    def _claim(self, job, workerId) -> Claim:
        lane = placement.take(self, job)
        job.attempts += 1
        job.started = time.time()
        placement.place(self, job, PROCESSING, worker=workerId, lane=lane)
        self._notify(JobStarted, job)
        return Claim(job.id, job.attempts, job.task, self.queryTask(job.task),
                     job.input, job.retryBase)

    def _releaseOrphans(self, workerId, inHand) -> None:
        """Give back jobs the service says `workerId` holds but that it did
        not know it claimed (its commit failed as far as it could tell, yet
        went through)."""
        for jobid, attempt in list(self._workers.get(
                workerId, _NOBODY).heldJobs().items()):
            if jobid not in inHand:
                log.warning('job %s: held by worker %s, which did not know '
                            'it claimed it; given back', jobid, workerId)
                self.releaseJob(jobid, attempt)

    def releaseJob(self, jobid: int, attempt: int) -> None:
        job = self._job(jobid)
        if job.status != PROCESSING or job.attempts != attempt:
            raise JobStateError(
                f'job {jobid} attempt {attempt} is not in hand')
        placement.take(self, job)
        job.attempts -= 1
        job.worker = None
        # Back to where it stood: before the jobs that came since (its
        # queue entry's stamp, which the job keeps until it is queued anew).
        placement.place(self, job, QUEUED, stamp=entryStamp(job._entry))

    def recordOutcome(self, outcome: Outcome, now=None) -> None:
        job = self._job(outcome.jobid)
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
                outcome = Outcome(job.id, outcome.attempt, error=str(error))
        now = checks.moment(now)
        ended = time.time()
        error = shorten(outcome.error, min(ERROR_LENGTH,
                                           self.maxStoredSize // 4))
        job.recordAttempt(ended, error, outcome.traceback)
        job.completed = ended
        if job.stopRequested:
            job.stopRequested = False
        if outcome.ok:
            job.output = outcome.output
            if job.error is not None:
                job.error = None
        else:
            job.error = error
        lane = placement.take(self, job)
        recurring = getattr(job, 'recurring', False)
        if outcome.cancelled and not recurring:
            self._finish(job, CANCELLED, JobCancelled, lane)
        elif recurring:
            # A cron job carries on with its schedule whatever came of
            # it; its next time was set when this run was queued.
            job.attempts = job.retryBase = 0
            placement.place(self, job, CRONJOB, lane=lane)
            # Counted as a finished job would be, for the activity chart.
            ownLane(self).finished(COMPLETED if outcome.ok else ERROR, ended)
            self._notify(JobCompleted if outcome.ok else JobFailed, job)
        elif outcome.ok:
            self._finish(job, COMPLETED, JobCompleted, lane)
        elif outcome.retryable:
            if outcome.wait > 0:
                job.scheduledFor = now + outcome.wait
                placement.place(self, job, RETRY, lane=lane)
            else:
                placement.place(self, job, QUEUED, lane=lane)
            self._notify(JobRetried, job)
        else:
            self._finish(job, ERROR, JobFailed, lane)
        if getattr(job, 'runOf', None) is not None:
            self._reportRun(job)

    def _finish(self, job, status, event, lane=None) -> None:
        placement.place(self, job, status, lane=lane)
        if job.key is not None:
            self._keys.discard(job.key, job.id)
        self._notify(event, job)

    def _reportRun(self, run) -> None:
        """Show what a run of a cron job came to on the cron job too."""
        cronjob = self.jobs.get(run.runOf)
        if cronjob is not None and run.status in FINISHED:
            cronjob.output, cronjob.error = run.output, run.error
            cronjob.completed = run.completed

    def stopRequested(self, jobids) -> list:
        return [jobid for jobid in jobids
                if getattr(self.jobs.get(jobid), 'stopRequested', False)]

    # Housekeeping

    def promote(self, now=None) -> int:
        """File scheduled jobs by due time and queue those due at `now`;
        return how many were queued.

        Queueing a run and moving the job's next time happen in one
        transaction, so that two workers that find the same run due
        conflict, and the run is queued once.
        """
        now = checks.moment(now)
        for job in list(placement.toFile(self)):
            due = job.scheduledFor
            if due is None:
                due = job.timeOfNextCall(now)
            placement.file(self, job, _never(job, due))
        queued = 0
        for due, jobid in placement.due(self, now):
            self._schedule.remove((due, jobid))
            job = placement.filed(self, due, jobid)
            if job is None:
                continue   # left the schedule since
            if not getattr(job, 'recurring', False):
                # A delayed job, or a job to be tried again.
                job.scheduledFor = None
                placement.move(self, job, QUEUED)
                queued += 1
                continue
            runAt, nextDue = job.catchUp(due, now)
            nextDue = _never(job, nextDue)
            if runAt is None or job.paused:
                log.info('cron job %s: run due at %s skipped%s', job.id,
                         due, ' (paused)' if job.paused else '')
                placement.file(self, job, nextDue)
                continue
            job.lastRun = runAt
            if job.overlap:
                # Runs may overlap: each is a job of its own, and the cron
                # job stays in the schedule.
                placement.place(self, self._newRun(job), QUEUED)
                placement.file(self, job, nextDue)
            else:
                job.scheduledFor = nextDue
                placement.move(self, job, QUEUED)
            queued += 1
        return queued

    def nextDue(self) -> Optional[float]:
        """When the first filed job is due (None: none is), or 0 when jobs
        wait to be filed: then `promote` has work now."""
        for _ in placement.toFile(self):
            return 0.0
        for due, _ in placement.filedDue(self, 1):
            return due
        return None

    def expire(self, now=None, limit: int = 500) -> int:
        now = checks.moment(now)
        if self.keepFinished is None:
            return 0
        cutoff = now - self.keepFinished
        return self._removeFinished(FINISHED, limit, cutoff)

    def _removeFinished(self, statuses, limit, cutoff=None) -> int:
        """Remove finished jobs of `statuses`, oldest first: up to `limit`,
        and only those finished before `cutoff`."""
        removed = 0
        first = placement.merged(placement.chainsOf(self, statuses))
        if limit is not None:
            first = _first(first, limit)
        for _, value in list(first):
            job = self.jobs[entryId(value)]
            if cutoff is not None and job.completed > cutoff:
                break   # those after it finished later still
            placement.take(self, job)
            self.jobs.remove(job.id)
            removed += 1
        return removed

    def retireLanes(self, now=None) -> int:
        """Retire the lanes that writers left idle and empty."""
        retired = self._lanes.retireIdle(checks.moment(now))
        for lane in retired:
            if lane.block is not None and lane.block.current:
                self.jobs.leave(lane.block)
        return len(retired)

    # Helpers

    def _spreadOf(self, workerId) -> int:
        """Workers take different jobs among the first few, by their place
        among the workers, so that their claims do not collide."""
        workers = self._workers.keys()
        if workerId is None or len(workers) < 2 or workerId not in workers:
            return 0
        return sorted(workers).index(workerId)

    def _newRun(self, cronjob):
        run = Job(self.jobs.allocate(ownLane(self)), cronjob.task,
                  cronjob.input)
        run.runOf = cronjob.id
        run.priority = cronjob.priority
        if cronjob.owner is not None:
            run.owner = cronjob.owner
        self.jobs.store(run)
        return run


class _Nobody:
    @staticmethod
    def heldJobs():
        return {}


_NOBODY = _Nobody()


def _first(iterable, count):
    for index, item in enumerate(iterable):
        if index >= count:
            return
        yield item


def _never(job, due):
    if due is None:
        log.warning('cron job %s will never run again', job.id)
        return NEVER
    return due
