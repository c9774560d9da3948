"""Each job's status, checked against a model after every step.

A hypothesis state machine drives a TaskService, stored in a real database,
through every public operation: add (with priority, key, startLater),
startJob, cron and delayed jobs, claims with and without a worker,
outcomes of every kind, retries with a wait, promotion of what comes due
as the clock moves, reschedule, cancel, clean, expire, and the death of a
worker.  A plain model says what each job's status must be; after every
step, committed, the service must agree with it through each of its views
(getStatus, statusCounts, jobsPage, queueLength, hasJobsWaiting, the
workers and their jobs), seen by the connection that made the change and
by a second one.

Issue 13 listed wrong answers of the code of its day, which the state
machine found, with seven more; each of the four has a plain regression
test at the end.
"""
import dataclasses
import itertools
import logging
import os
import time
from typing import Optional

import pytest
import transaction
import zope.component
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine, invariant, rule,
    run_state_machine_as_test)
from ZODB import DB
from ZODB.FileStorage import FileStorage
from zope.interface.verify import verifyObject

import servers
from lovely import remotetask
from lovely.remotetask import interfaces
from lovely.remotetask.hosts.database import openDatabase
from lovely.remotetask.exceptions import (
    InvalidArgumentError, JobStateError, RemoteTaskError, TaskError,
    UnknownJobError)
from lovely.remotetask.interfaces import (
    CANCELLED, COMPLETED, CRONJOB, DELAYED, ERROR, FINISHED, PROCESSING,
    QUEUED, RETRY, STARTLATER)
from lovely.remotetask.timing.retry import RetryPolicy
from lovely.remotetask.runtime.attempt import Outcome
from lovely.remotetask.task import SimpleTask
from lovely.remotetask.testing import TaskServiceStub

#: When the state machine's clock starts: 2030-01-01 00:00 UTC.
START = 1893456000
STATUSES = (QUEUED, PROCESSING, CANCELLED, ERROR, COMPLETED, DELAYED,
            CRONJOB, STARTLATER, RETRY)
LEASE = 60.0


# The worker API, in one place: it is being redesigned (a documented
# worker protocol whose claim returns the attempt, task and time limit).

def registerWorker(service, worker: str) -> None:
    service.registerWorker(worker, LEASE)


def unregisterWorker(service, worker: str) -> None:
    service.unregisterWorker(worker)


def heartbeat(service, worker: str) -> None:
    service.heartbeat(worker, LEASE)


def claim(service, limit: int, now: float, worker: Optional[str]) -> list:
    """Claim up to `limit` jobs; return (job id, attempt) pairs."""
    return [(jobid, service.jobs[jobid].attempts)
            for jobid in service.claimNextJobs(limit, now, worker)]


def claimOne(service, jobid: int, worker: Optional[str]) -> int:
    """Claim the given job out of queue order; return the attempt."""
    service.claimJob(jobid, worker)
    return service.jobs[jobid].attempts


def record(service, jobid: int, attempt: int, result: str, wait: float,
           now: float) -> None:
    """Record what `attempt` came to: 'ok', 'fail' (for good), 'retry'
    (after `wait` seconds) or 'cancelled' (stopped when asked to)."""
    if result == 'ok':
        outcome = Outcome(jobid, attempt, output='done')
    elif result == 'cancelled':
        outcome = Outcome(jobid, attempt, error=CANCELLED, cancelled=True)
    else:
        outcome = Outcome(jobid, attempt, error='it broke',
                          retryable=result == 'retry', wait=wait)
    service.recordOutcome(outcome, now)


def release(service, jobid: int, attempt: int) -> None:
    service.releaseJob(jobid, attempt)


def recover(service, now: float) -> list:
    """Take back the jobs of workers whose leases ran out before `now`."""
    return service.recoverJobs(now)


def leasesEnd(service) -> dict:
    """When each worker's lease runs out, on the database's clock."""
    return {worker['id']: worker['lastSeen'] + worker['leaseTime']
            for worker in service.getWorkers()}


def heldJobs(service) -> dict:
    """The jobs each worker holds, job id to attempt."""
    return {worker['id']: dict(worker['jobs'])
            for worker in service.getWorkers()}


def stopRequested(service, jobids) -> set:
    return set(service.stopRequested(jobids))


# The tasks, and what running each comes to.

def _ok(input):
    return input


def _fail(input):
    raise TaskError('refused')


def _crash(input):
    raise ValueError('crashed')       # 3 attempts, at once


def _flaky(input):
    raise ConnectionError('no route')


FLAKY = RetryPolicy(maxAttempts=2, retryOn=(ConnectionError,), delay=30,
                    jitter=0)
TASKS = {'ok': SimpleTask(_ok), 'fail': SimpleTask(_fail),
         'crash': SimpleTask(_crash, RetryPolicy()),
         'flaky': SimpleTask(_flaky, FLAKY)}


def provideTasks():
    for name, task in TASKS.items():
        zope.component.provideUtility(task, name=name)


def maxAttempts(task: str) -> int:
    return FLAKY.maxAttempts if task == 'flaky' else 3


def ran(task: str, attempt: int):
    """What running `task` for `attempt` comes to: (result, wait)."""
    if task == 'ok':
        return 'ok', 0
    if task == 'fail':
        return 'fail', 0
    if task == 'crash':
        return 'retry', 0
    return 'retry', FLAKY.wait(attempt)


# The model.

JOB, CRON, ONCE = 'job', 'cron', 'delayed'


@dataclasses.dataclass
class Expected:
    """What a job must be, as far as the service shows it."""
    kind: str                       # JOB, CRON (recurring) or ONCE (delayed)
    task: str
    status: str
    priority: int = 0
    key: Optional[str] = None
    minute: int = 0                 # CRON: runs at this minute of each hour
    delay: float = 0                # ONCE: runs this long after scheduling
    ready: bool = False             # waits in the queue, to be claimed
    order: int = 0                  # when it last joined the queue
    due: Optional[float] = None     # when its next run or retry is due
    unscheduled: bool = False       # waits for processing to set `due`
    holder: Optional[str] = None    # the worker holding it, while processing
    attempts: int = 0
    claimed: int = 0                # when it was last claimed
    stop: bool = False              # asked to stop while it runs
    finished: int = 0               # when it finished, for finished jobs


class Model:
    """The jobs as they must be, the workers known, and the order of
    events (queueing, claims, finishing)."""

    def __init__(self):
        self.jobs = {}
        self.gone = set()               # ids of jobs removed
        self.workers = set()
        self._tick = itertools.count(1)

    def tick(self) -> int:
        return next(self._tick)

    def byStatus(self, status) -> set:
        return {jobid for jobid, job in self.jobs.items()
                if job.status == status}

    def counts(self) -> dict:
        counts = {}
        for job in self.jobs.values():
            counts[job.status] = counts.get(job.status, 0) + 1
        return counts

    def queue(self) -> list:
        """The ids waiting in the queue, in the order they are claimed:
        higher priority first, then first come."""
        waiting = [(-job.priority, job.order, jobid)
                   for jobid, job in self.jobs.items() if job.ready]
        return [jobid for _, _, jobid in sorted(waiting)]

    def pendingWithKey(self, key):
        for jobid, job in self.jobs.items():
            if job.key == key and job.status not in FINISHED:
                return jobid
        return None

    def held(self) -> dict:
        held = {worker: {} for worker in self.workers}
        for jobid, job in sorted(self.jobs.items(),
                                 key=lambda item: item[1].claimed):
            if job.status == PROCESSING and job.holder is not None:
                held.setdefault(job.holder, {})[jobid] = job.attempts
        return held

    # Moves

    def enqueue(self, job, order=None):
        """Queue a job: its status says so, whatever its kind (a cron job
        whose run waits is queued, as a delayed job that came due)."""
        job.status = QUEUED
        job.ready = True
        job.order = self.tick() if order is None else order

    def finish(self, job, status):
        job.status = status
        job.ready = job.unscheduled = False
        job.due = job.holder = None
        job.finished = self.tick()

    def claim(self, job, holder):
        job.status = PROCESSING
        job.ready = False
        job.holder = holder
        job.attempts += 1
        job.claimed = self.tick()

    def settle(self, job, result, wait, now):
        """An attempt came to `result`."""
        job.holder = None
        job.stop = False
        if result == 'cancelled' and job.kind != CRON:
            self.finish(job, CANCELLED)
        elif job.kind == CRON:
            job.status = CRONJOB
            job.attempts = 0
        elif result == 'ok':
            self.finish(job, COMPLETED)
        elif result == 'retry' and job.attempts < maxAttempts(job.task):
            if wait > 0:
                job.status = RETRY
                job.due = now + wait
            else:
                self.enqueue(job)
        else:
            self.finish(job, ERROR)

    @staticmethod
    def nextTime(job, now):
        if job.kind == ONCE:
            return now + job.delay
        hour = now // 3600 * 3600 + job.minute * 60
        return hour if hour > now else hour + 3600

    def busy(self, job) -> bool:
        return job.ready or job.status == PROCESSING

    def promote(self, now):
        """What processing at `now` does first: schedule new cron and
        delayed jobs, and queue what is due (a cron job's run waits while
        the one before it waits or runs)."""
        for job in self.jobs.values():
            # A cron job rescheduled while its run waits or goes is
            # scheduled once the run is done.
            if job.unscheduled and not self.busy(job):
                job.unscheduled = False
                job.due = self.nextTime(job, now)
        due = sorted((job.due, jobid) for jobid, job in self.jobs.items()
                     if job.due is not None and job.due <= now)
        for _, jobid in due:
            job = self.jobs[jobid]
            if job.kind != CRON:
                job.due = None
                self.enqueue(job)
            elif not self.busy(job):
                job.due = self.nextTime(job, now)
                self.enqueue(job)

    def claimable(self, now) -> bool:
        """Whether a claim at `now` would get a job."""
        return any(
            job.ready or (job.due is not None and job.due <= now and
                          not (job.kind == CRON and self.busy(job)))
            for job in self.jobs.values())

    def runNext(self, now) -> Optional[int]:
        """processNext(now): claim the next job and run its task."""
        self.promote(now)
        queue = self.queue()
        if not queue:
            return None
        job = self.jobs[queue[0]]
        self.claim(job, None)
        self.settle(job, *ran(job.task, job.attempts), now)
        return queue[0]

    def remove(self, jobids):
        for jobid in jobids:
            del self.jobs[jobid]
        self.gone.update(jobids)

    def removeOldest(self, eligible, limit):
        """The ids of `eligible` finished jobs that a removal of at most
        `limit` of them, the oldest first, takes."""
        oldest = sorted(eligible, key=lambda jobid: self.jobs[jobid].finished)
        return set(oldest if limit is None else oldest[:limit])


# Checks

def pagedIds(service, status, limit) -> list:
    """Every job id that jobsPage(status) lists, page by page."""
    listed, after = [], None
    for _ in range(len(service.jobs) + 2):
        page, after = service.jobsPage(status, after=after, limit=limit)
        listed.extend(job.id for job in page)
        if after is None:
            return listed
    raise AssertionError(f'jobsPage({status!r}) does not come to an end')


def checkStatus(service, model, now):
    assert set(service.jobs.keys()) == set(model.jobs), 'the jobs'
    for jobid, job in model.jobs.items():
        assert service.getStatus(jobid) == job.status, \
            f'job {jobid} ({job.kind}) should be {job.status!r}'


def checkCountsAddUp(service, model, now):
    counts = service.statusCounts()
    assert sum(counts.values()) == len(service.jobs), \
        f'statusCounts() {counts} for {len(service.jobs)} jobs'


def checkCounts(service, model, now):
    counts = {s: n for s, n in service.statusCounts().items() if n}
    assert counts == model.counts(), \
        f'statusCounts() should be {model.counts()}'


def checkPages(service, model, now):
    for status in STATUSES + (None,):
        listed = pagedIds(service, status, limit=2)
        expected = set(model.jobs) if status is None \
            else model.byStatus(status)
        assert sorted(listed) == sorted(expected), \
            f'jobsPage({status!r}) should list each of {sorted(expected)} once'


def checkQueue(service, model, now):
    assert service.queueLength() == len(model.queue()), \
        f'queueLength() should be the {len(model.queue())} jobs queued'


def checkWaiting(service, model, now):
    assert service.hasJobsWaiting(now) == model.claimable(now), \
        f'hasJobsWaiting() should be {model.claimable(now)}'


def checkWorkers(service, model, now):
    assert heldJobs(service) == model.held(), 'the jobs each worker holds'
    processing = model.byStatus(PROCESSING)
    assert stopRequested(service, processing) == \
        {jobid for jobid in processing if model.jobs[jobid].stop}, \
        'the jobs asked to stop'


CHECKS = (checkStatus, checkCountsAddUp, checkCounts, checkPages, checkQueue,
          checkWaiting, checkWorkers)


class Client:
    """A connection with its own transaction manager."""

    def __init__(self, db):
        self.tm = transaction.TransactionManager()
        self.connection = db.open(transaction_manager=self.tm)
        self.tm.begin()

    def commit(self):
        self.tm.commit()
        self.tm.begin()

    def close(self):
        self.tm.abort()
        self.connection.close()


_services = itertools.count()

PRIORITIES = st.sampled_from([0, 5, -1])
KEYS = st.sampled_from([None, 'k1', 'k2'])
TASK_NAMES = st.sampled_from(sorted(TASKS))
WORKERS = st.sampled_from([None, 'w1', 'w2'])
WAITS = st.sampled_from([0, 30])
RESULTS = st.sampled_from(['ok', 'retry', 'fail', 'cancelled'])


class TaskServiceStates(RuleBasedStateMachine):
    """One service, its model, and a clock that only moves forward."""

    def __init__(self, db):
        super().__init__()
        self.name = f'service{next(_services)}'
        self.writer = Client(db)
        self.reader = Client(db)
        self.writer.connection.root()[self.name] = remotetask.TaskService()
        self.writer.commit()
        self.service = self.writer.connection.root()[self.name]
        self.model = Model()
        #: The application's clock, for claims and outcomes: it starts at
        #: a fixed hour, so that runs of the same steps agree.  Leases and
        #: expiry go by the database's clock (commit times) instead.
        self.now = float(START)

    def teardown(self):
        self.writer.close()
        self.reader.close()

    def known(self, jobid, call) -> Optional[Expected]:
        """The model of job `jobid`; for a job removed, None, once `call`
        raised UnknownJobError."""
        job = self.model.jobs.get(jobid)
        if job is None:
            self.step(call, UnknownJobError)
        return job

    def step(self, call, error=None):
        """Call; when `error` is given, check that it is raised.  Commit
        either way: an operation refused changes nothing."""
        try:
            if error is None:
                return call()
            with pytest.raises(error):
                call()
        finally:
            self.writer.commit()

    @invariant()
    def agrees(self):
        for check in CHECKS:
            check(self.service, self.model, self.now)
        self.reader.tm.begin()     # sees what was committed
        reader = self.reader.connection.root()[self.name]
        for check in CHECKS:
            check(reader, self.model, self.now)

    # Adding

    @rule(task=TASK_NAMES, priority=PRIORITIES, key=KEYS,
          startLater=st.booleans())
    def add(self, task, priority, key, startLater):
        existing = self.model.pendingWithKey(key) if key else None
        jobid = self.step(lambda: self.service.add(
            task, None, startLater, priority=priority, key=key))
        if existing is not None:
            assert jobid == existing
            return
        assert jobid not in self.model.jobs
        job = self.model.jobs[jobid] = Expected(
            JOB, task, STARTLATER, priority=priority, key=key)
        if not startLater:
            self.model.enqueue(job)

    @rule(task=TASK_NAMES, minute=st.sampled_from([0, 30]))
    def addCronJob(self, task, minute):
        jobid = self.step(
            lambda: self.service.addCronJob(task, minute=(minute,)))
        self.model.jobs[jobid] = Expected(
            CRON, task, CRONJOB, minute=minute, unscheduled=True)

    @rule(task=TASK_NAMES, delay=st.sampled_from([1, 600, 3600]))
    def addDelayedJob(self, task, delay):
        jobid = self.step(lambda: self.service.addCronJob(task, delay=delay))
        self.model.jobs[jobid] = Expected(
            ONCE, task, DELAYED, delay=delay, unscheduled=True)

    def pick(self, data):
        """A job id the model knows, or knew before it was removed."""
        ids = sorted(self.model.jobs) + sorted(self.model.gone)
        if not ids:
            return None
        return data.draw(st.sampled_from(ids), label='job')

    @rule(data=st.data())
    def startJob(self, data):
        jobid = self.pick(data)
        if jobid is None:
            return
        job = self.known(jobid, lambda: self.service.startJob(jobid))
        if job is None:
            return
        started = self.step(lambda: self.service.startJob(jobid))
        assert started == (job.status == STARTLATER)
        if started:
            self.model.enqueue(job)

    # Time

    @rule(seconds=st.sampled_from([1, 1800, 3600, 3 * 3600]))
    def clockMoves(self, seconds):
        self.now += seconds

    # Claiming, running, recording

    @rule(limit=st.sampled_from([1, 3]), worker=WORKERS)
    def claimNextJobs(self, limit, worker):
        unknown = worker is not None and worker not in self.model.workers
        try:
            claimed = self.step(
                lambda: claim(self.service, limit, self.now, worker))
        except RemoteTaskError:
            if unknown:
                return      # refused, clearly, and nothing changed
            raise
        if unknown:
            # A worker taken for dead, or never registered, is refused
            # (when there was a job to claim) or registered on the way.
            if worker in leasesEnd(self.service):
                self.model.workers.add(worker)
            else:
                assert claimed == [] and not self.model.claimable(self.now), \
                    f'worker {worker} is not registered: a clear error, please'
        self.model.promote(self.now)
        queue = self.model.queue()
        ids = [jobid for jobid, _ in claimed]
        if worker is None:
            assert ids == queue[:limit]        # priority, then first come
        else:
            # Workers spread their claims over the first few of a priority.
            assert len(ids) == min(limit, len(queue))
            assert set(ids) <= set(queue)
            rest = [self.model.jobs[i].priority for i in queue
                    if i not in ids]
            assert all(self.model.jobs[i].priority >= max(rest, default=-200)
                       for i in ids)
        for jobid, attempt in claimed:
            job = self.model.jobs[jobid]
            self.model.claim(job, worker)
            assert attempt == job.attempts

    @rule()
    def claimNextJob(self):
        jobid = self.step(lambda: self.service.claimNextJob(self.now))
        self.model.promote(self.now)
        queue = self.model.queue()
        assert jobid == (queue[0] if queue else None)
        if jobid is not None:
            self.model.claim(self.model.jobs[jobid], None)

    @rule(data=st.data(), worker=WORKERS)
    def claimJob(self, data, worker):
        jobid = self.pick(data)
        if jobid is None or (worker is not None and
                             worker not in self.model.workers):
            return
        job = self.known(jobid, lambda: claimOne(self.service, jobid, worker))
        if job is None:
            return
        if not job.ready:
            self.step(lambda: claimOne(self.service, jobid, worker),
                      JobStateError)
            return
        attempt = self.step(lambda: claimOne(self.service, jobid, worker))
        self.model.claim(job, worker)
        assert attempt == job.attempts

    @rule(data=st.data(), result=RESULTS, wait=WAITS)
    def recordOutcome(self, data, result, wait):
        jobid = self.pick(data)
        if jobid is None:
            return
        job = self.known(jobid, lambda: record(
            self.service, jobid, 1, result, wait, self.now))
        if job is None:
            return
        if job.status != PROCESSING:
            # Not in hand: refused (fencing).
            self.step(lambda: record(self.service, jobid, job.attempts,
                                     result, wait, self.now), JobStateError)
            return
        self.step(lambda: record(self.service, jobid, job.attempts, result,
                                 wait, self.now))
        self.model.settle(job, result, wait, self.now)

    @rule(data=st.data())
    def recordStaleOutcome(self, data):
        jobid = self.pick(data)
        job = self.model.jobs.get(jobid)
        if job is None or job.status != PROCESSING:
            return
        attempt = job.attempts - 1
        self.step(lambda: record(self.service, jobid, attempt, 'ok', 0,
                                 self.now), JobStateError)

    @rule(data=st.data())
    def releaseJob(self, data):
        jobid = self.pick(data)
        if jobid is None:
            return
        job = self.known(jobid, lambda: release(self.service, jobid, 1))
        if job is None:
            return
        if job.status != PROCESSING:
            self.step(lambda: release(self.service, jobid, job.attempts),
                      JobStateError)
            return
        self.step(lambda: release(self.service, jobid, job.attempts))
        job.attempts -= 1
        job.holder = None
        self.model.enqueue(job, job.order)    # back where it stood

    @rule()
    def processNext(self):
        done = self.step(lambda: self.service.processNext(self.now))
        assert done == (self.model.runNext(self.now) is not None)

    @rule(data=st.data())
    def processNextGiven(self, data):
        """processNext(jobid=...): a job waiting in the queue, or one
        claimed already."""
        jobid = self.pick(data)
        if jobid is None:
            return
        job = self.known(
            jobid, lambda: self.service.processNext(self.now, jobid))
        if job is None:
            return
        self.model.promote(self.now)    # processNext queues what is due
        if not job.ready and job.status != PROCESSING:
            self.step(lambda: self.service.processNext(self.now, jobid),
                      JobStateError)
            return
        assert self.step(lambda: self.service.processNext(self.now, jobid))
        if job.status != PROCESSING:
            self.model.claim(job, None)
        self.model.settle(job, *ran(job.task, job.attempts), self.now)

    @rule()
    def process(self):
        self.step(lambda: self.service.process(self.now))
        while self.model.runNext(self.now) is not None:
            pass

    # Changing plans

    @rule(data=st.data())
    def cancel(self, data):
        jobid = self.pick(data)
        if jobid is None:
            return
        job = self.known(jobid, lambda: self.service.cancel(jobid))
        if job is None:
            return
        if job.status in (COMPLETED, ERROR):
            self.step(lambda: self.service.cancel(jobid), JobStateError)
            return
        self.step(lambda: self.service.cancel(jobid))
        if job.status == PROCESSING:
            job.stop = True          # the task is asked to stop
        elif job.status != CANCELLED:
            self.model.finish(job, CANCELLED)

    @rule(data=st.data())
    def reschedule(self, data):
        jobid = self.pick(data)
        if jobid is None:
            return
        job = self.known(jobid, lambda: self.service.reschedule(jobid))
        if job is None:
            return
        accepted = {JOB: (), CRON: (CRONJOB, QUEUED, PROCESSING),
                    ONCE: (DELAYED, QUEUED)}[job.kind]
        if job.status not in accepted:
            # A delayed job that runs already cannot be scheduled again.
            self.step(lambda: self.service.reschedule(jobid), JobStateError)
            return
        self.step(lambda: self.service.reschedule(jobid))
        job.due = None
        job.unscheduled = True
        if job.kind == ONCE:
            job.ready = False
            job.status = DELAYED
        # A cron job's run already due (queued or running) stays.

    @rule(status=st.sampled_from([None, COMPLETED, ERROR, CANCELLED,
                                  (ERROR, CANCELLED), QUEUED]),
          limit=st.sampled_from([None, 1, 2]))
    def clean(self, status, limit):
        statuses = FINISHED if status is None else \
            (status,) if isinstance(status, str) else status
        arguments = {} if status is None else {'status': status}
        if limit is not None:
            arguments['limit'] = limit
        if any(s not in FINISHED for s in statuses):
            self.step(lambda: self.service.clean(**arguments),
                      InvalidArgumentError)
            return
        removed = self.step(lambda: self.service.clean(**arguments))
        gone = self.model.removeOldest(
            self.model.byStatus(statuses[0]).union(
                *map(self.model.byStatus, statuses[1:])), limit)
        assert removed == len(gone)
        assert set(self.model.jobs) - set(self.service.jobs.keys()) == gone, \
            f'should remove {sorted(gone)}, the oldest'
        self.model.remove(gone)

    @rule(data=st.data(), keep=st.sampled_from([0, 3600]),
          limit=st.sampled_from([1, 500]))
    def expire(self, data, keep, limit):
        """Remove the finished jobs older than `keep` seconds, at a time
        (on the clock of `completed`) that falls on one job's completion or
        after them all."""
        finished = {jobid: self.service.jobs[jobid].completed
                    for jobid in self.model.jobs
                    if self.model.jobs[jobid].status in FINISHED}
        pivot = data.draw(st.sampled_from(
            sorted(finished.values()) + [time.time() + 10]), label='pivot')
        now = pivot + keep

        def expire():
            self.service.keepFinished = keep
            return self.service.expire(now, limit)
        removed = self.step(expire)
        gone = self.model.removeOldest(
            {jobid for jobid, completed in finished.items()
             if completed <= now - keep}, limit)
        assert removed == len(gone)
        assert set(self.model.jobs) - set(self.service.jobs.keys()) == gone, \
            f'should remove {sorted(gone)}, the oldest'
        self.model.remove(gone)

    # Workers

    @rule(worker=st.sampled_from(['w1', 'w2']))
    def registerWorker(self, worker):
        self.step(lambda: registerWorker(self.service, worker))
        self.model.workers.add(worker)

    @rule(worker=st.sampled_from(['w1', 'w2']))
    def unregisterWorker(self, worker):
        self.step(lambda: unregisterWorker(self.service, worker))
        if not self.model.held().get(worker):
            self.model.workers.discard(worker)

    @rule(worker=st.sampled_from(['w1', 'w2']))
    def heartbeat(self, worker):
        self.step(lambda: heartbeat(self.service, worker))
        self.model.workers.add(worker)

    @rule(worker=st.sampled_from(['w1', 'w2']), dies=st.booleans())
    def recoverJobs(self, worker, dies):
        """Take back the jobs of workers whose leases ran out, at a time
        (on the database's clock) a microsecond after `worker`'s lease
        ends, or before: the workers seen last before it die with it."""
        ends = leasesEnd(self.service)
        if worker in ends:
            now = ends[worker] + (1e-6 if dies else -1e-6)
        else:
            now = min(ends.values(), default=0) - 1
        recovered = self.step(lambda: recover(self.service, now))
        expected = []
        for worker in sorted(w for w, end in ends.items() if end < now):
            for jobid in self.model.held().get(worker, ()):
                expected.append(jobid)
                self.model.settle(self.model.jobs[jobid], 'retry', 0, now)
            self.model.workers.discard(worker)
        assert sorted(recovered) == sorted(expected), 'the jobs taken back'


#: Examples of up to 30 steps, by storage: a few seconds each (CPU time)
#: once the test passes.
EXAMPLES = {'file': 200, 'zeo': 60}


@pytest.fixture(params=sorted(EXAMPLES))
def stateDb(request, tmp_path):
    """One database for all the examples (each makes its own service), and
    how many examples to run on it."""
    if request.param == 'file':
        database = DB(FileStorage(os.path.join(tmp_path, 'Data.fs')))
        yield database, EXAMPLES['file']
        database.close()
    else:
        server = servers.ZEOServer(str(tmp_path))
        server.start()
        database = openDatabase(server.uri)
        yield database, EXAMPLES['zeo']
        database.close()
        server.close()


@pytest.fixture
def quiet():
    """Tasks that fail log their tracebacks: thousands of them here."""
    logger = logging.getLogger('lovely.remotetask')
    level = logger.level
    logger.setLevel(logging.CRITICAL)
    yield
    logger.setLevel(level)


def test_every_view_agrees_with_each_jobs_status(stateDb, quiet):
    database, examples = stateDb
    provideTasks()
    # The same examples on every run (the test must fail, or pass, each
    # time); one failure shrunk at a time, as several took minutes.
    run_state_machine_as_test(
        lambda: TaskServiceStates(database),
        settings=settings(max_examples=examples, stateful_step_count=30,
                          deadline=None, database=None, derandomize=True,
                          report_multiple_bugs=False,
                          suppress_health_check=[HealthCheck.too_slow]))


# The wrong answers of issue 13, one by one.


@pytest.fixture
def service(db):
    """A committed service in a FileStorage, with a task `echo`."""
    remotetask.provideTask(_ok, name='echo')
    client = Client(db)
    client.connection.root()['service'] = remotetask.TaskService()
    client.commit()
    yield client.connection.root()['service']
    client.close()


def cronRunWaiting(service):
    """A cron job whose run is due and waits in the queue: processing an
    urgent job queues the run, and leaves it there."""
    cron = service.addCronJob('echo', minute=(0,))
    service.claimNextJob(START)                  # scheduled at START + 1 h
    urgent = service.add('echo', priority=1)
    assert service.processNext(START + 3600)    # the urgent job runs
    assert service.getStatus(urgent) == COMPLETED
    assert service.queueLength() == 1           # the cron job's run
    return cron


def test_a_cron_job_whose_run_waits_is_counted_once(service):
    cronRunWaiting(service)
    counts = {s: n for s, n in service.statusCounts().items() if n}
    assert counts == {COMPLETED: 1, QUEUED: 1}   # its run is queued


def test_a_cron_job_whose_run_waits_is_listed_once(service):
    cron = cronRunWaiting(service)
    assert [job.id for job in service.jobsPage(QUEUED)[0]] == [cron]
    assert service.jobsPage(CRONJOB)[0] == []


def test_a_job_claimed_without_a_worker_is_counted_and_listed(service):
    jobid = service.add('echo')
    assert service.claimNextJob() == jobid
    assert service.getStatus(jobid) == PROCESSING
    assert (service.statusCounts().get(PROCESSING),
            [job.id for job in service.jobsPage(PROCESSING)[0]]) == \
        (1, [jobid])


def test_a_job_run_by_processNext_sees_itself_processing(service):
    seen = []

    def look(service, jobid, input):
        seen.append((service.getStatus(jobid),
                     service.statusCounts().get(PROCESSING),
                     [job.id for job in service.jobsPage(PROCESSING)[0]]))

    zope.component.provideUtility(look, interfaces.ITask, name='look')
    jobid = service.add('look')
    assert service.processNext()
    assert seen == [(PROCESSING, 1, [jobid])]


def test_the_stub_takes_priority_and_key_as_its_interface_says():
    stub = TaskServiceStub({'echo': lambda input: input})
    assert verifyObject(interfaces.ITaskService, stub)
    jobid = stub.add('echo', 'monthly report', priority=5, key='report')
    assert stub.add('echo', 'again', key='report') == jobid
    assert stub.jobs[jobid].priority == 5
