"""Processors: the loops that run a service's jobs in the background.

A processor registers as a worker of the service and runs one loop
(`SimpleProcessor`) or several side by side (`MultiProcessor`), each with
a connection and transaction manager of its own.  A job takes three steps:

1. claim: the job leaves the queue, becomes ``processing`` and is leased to
   the worker (committed);
2. run: the task is called;
3. record: the outcome is stored.  When the task succeeded and wrote to the
   database, the outcome commits together with what it wrote, so the two
   stand or fall together.  Any other outcome is recorded apart from the
   task's transaction (which is aborted): together with the next claim, or
   with the outcomes of other tiny jobs of the same batch, within
   `SimpleProcessor.recordWindow`.

A conflict while claiming or recording apart is simply tried again.  A
conflict while the task ran or its writes were committed costs the
attempt: the job goes back to the queue, since its writes were lost.  While
the loop runs, a lease keeper thread beats the worker's heartbeat, takes
back the jobs of workers that stopped beating (see `workers`), removes
expired finished jobs and passes stop requests on to running tasks.
"""
import contextlib
import dataclasses
import logging
import threading
import time
from typing import Optional

import transaction
from transaction.interfaces import TransientError
from zope.interface import implementer

from lovely.remotetask import context, metrics
from lovely.remotetask.exceptions import JobStateError
from lovely.remotetask.interfaces import CANCELLED, IProcessor
from lovely.remotetask.run import Outcome, runJob
from lovely.remotetask.watch import CommitWatch
from lovely.remotetask.workers import LEASE_TIME, newWorkerId

log = logging.getLogger('lovely.remotetask')

#: Seconds an idle processor waits before it looks for due jobs again.
WAIT_TIME = 1.0

#: Seconds a task past its time limit gets to stop before it is reported
#: timed out and its slot given to the next job.
STOP_GRACE = 0.5

#: Seconds a worker keeps trying to record an outcome (the database may be
#: away for a while) before it leaves the job to be taken back.
RECORD_TIMEOUT = 60.0

_CONFLICT = object()

_poolLock = threading.Lock()


@contextlib.contextmanager
def _poolGrownBy(db, connections: int):
    """Grow the database's connection pool by a processor's own connections
    while it runs.  They stay open, and would otherwise push the
    application's out of the pool (ZODB warns, and drops their caches)."""
    with _poolLock:
        db.setPoolSize(db.getPoolSize() + connections)
    try:
        yield
    finally:
        with _poolLock:
            db.setPoolSize(db.getPoolSize() - connections)


class _Backoff:
    """Waits that grow while a step keeps failing for passing reasons
    (conflicts, a database server that is restarting)."""

    def __init__(self, first: float = 0.001, limit: float = 1.0) -> None:
        self.first, self.limit = first, limit
        self.next = 0.0

    def reset(self) -> None:
        self.next = 0.0

    def wait(self, event: Optional[threading.Event] = None) -> None:
        if self.next:
            if event is None:
                time.sleep(self.next)
            else:
                event.wait(self.next)
        self.next = min(self.limit, max(self.first, 2 * self.next))


class _Average:
    """An exponential moving average of task run times."""

    def __init__(self, weight: float = 0.2) -> None:
        self.weight = weight
        self.average = None

    def add(self, value: float) -> None:
        self.average = value if self.average is None else (
            self.weight * value + (1 - self.weight) * self.average)


class _Pending:
    """Outcomes waiting to be recorded together, and since when."""

    def __init__(self, window: float) -> None:
        self.window = window
        self.outcomes = []
        self.since = 0.0

    def add(self, outcome: Outcome, started: float) -> None:
        if not self.outcomes:
            self.since = started
        self.outcomes.append(outcome)

    def due(self) -> bool:
        return bool(self.outcomes) and \
            time.monotonic() - self.since >= self.window

    def take(self) -> list:
        outcomes, self.outcomes = self.outcomes, []
        return outcomes


@dataclasses.dataclass(frozen=True)
class _Claim:
    """A job claimed, with what running it needs to know beforehand."""

    jobid: int
    attempt: int
    timeLimit: Optional[float]

    @classmethod
    def of(cls, service, jobid):
        job = service.jobs[jobid]
        task = service.queryTask(job.task)
        return cls(jobid, job.attempts, getattr(task, 'timeLimit', None))


class _Session:
    """A connection of one's own, and the steps of a job on it."""

    def __init__(self, db, serviceOid: bytes, workerId: str) -> None:
        self.tm = transaction.TransactionManager()
        self.connection = db.open(transaction_manager=self.tm)
        self.serviceOid = serviceOid
        self.workerId = workerId

    def close(self) -> None:
        self.tm.abort()
        self.connection.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc_info):
        self.close()

    def service(self):
        return self.connection.get(self.serviceOid)

    def commitOrRetry(self, step, *args, timeout: float = RECORD_TIMEOUT):
        """Do `step(service, *args)` and commit, again while that fails for
        passing reasons, for up to `timeout` seconds."""
        backoff = _Backoff()
        deadline = time.monotonic() + timeout
        while True:
            self.tm.begin()
            try:
                result = step(self.service(), *args)
                self.tm.commit()
                return result
            except TransientError:
                self.tm.abort()
                if time.monotonic() > deadline:
                    raise
                backoff.wait()
            except BaseException:
                self.tm.abort()
                raise

    def claim(self, limit: int = 1, outcomes=(), inHand=frozenset()):
        """Record `outcomes` and claim up to `limit` jobs, in one commit.

        Jobs that the service says this worker holds and that are not
        `inHand` were claimed by a commit that failed as far as the worker
        could tell (the connection broke after the vote) yet went through:
        they are given back, never run.

        Returns the jobs claimed, as `_Claim`s, or `_CONFLICT` (then
        nothing was done).
        """
        self.tm.begin()
        try:
            service = self.service()
            self._recordAll(service, outcomes)
            self._releaseOrphans(service, inHand)
            claimed = [_Claim.of(service, jobid) for jobid in
                       service.claimNextJobs(limit, worker=self.workerId)]
            self.tm.commit()
        except TransientError:
            self.tm.abort()
            return _CONFLICT
        except BaseException:
            self.tm.abort()
            raise
        return claimed

    def _releaseOrphans(self, service, inHand) -> None:
        for jobid in service.heldBy(self.workerId):
            if jobid not in inHand:
                log.warning('job %s: held by worker %s, which did not know '
                            'it claimed it; given back', jobid, self.workerId)
                service.releaseJob(jobid, service.jobs[jobid].attempts)

    def jobsWaiting(self) -> bool:
        self.tm.begin()
        try:
            return self.service().queueLength() > 0
        finally:
            self.tm.abort()

    def release(self, jobids, outcomes=()) -> None:
        """Record `outcomes` and give back claimed jobs not started."""
        def step(service):
            self._recordAll(service, outcomes)
            for jobid in jobids:
                try:
                    service.releaseJob(jobid, service.jobs[jobid].attempts)
                except JobStateError:
                    pass   # taken back meanwhile
        try:
            self.commitOrRetry(step)
        except TransientError:
            log.error('jobs %s could not be given back; they will be taken '
                      'back when their leases expire', list(jobids))

    def run(self, jobid: int):
        """Run a claimed job; return its outcome for `record`, or None when
        it was recorded already.

        When the task succeeded and wrote to the database, the outcome is
        recorded in the task's own transaction: the two commit together.
        Any other outcome is free of the task's transaction and is left to
        the caller, to record with others in one commit.
        """
        self.tm.begin()
        service = self.service()
        job = service.jobs[jobid]
        if service.stopRequested([jobid]):
            # Cancelled while it waited its turn in a batch: never started.
            self.tm.abort()
            return Outcome(jobid, job.attempts, error=CANCELLED,
                           cancelled=True)
        started = time.monotonic()
        try:
            outcome = runJob(service, job)
        except TransientError as error:
            outcome = _conflicted(job.id, job.attempts, error)
        metrics.observeRun(job.task, time.monotonic() - started)
        if not outcome.ok or _nothingJoined(self.tm.get()):
            self.tm.abort()
            return outcome
        try:
            service.recordOutcome(outcome)
            self.tm.commit()
            return None
        except JobStateError as error:
            self.tm.abort()
            _dropped(outcome, error)
            return None
        except TransientError as error:
            # The task's own writes are lost with the transaction: it has
            # to run again.
            log.info('job %s: recording its result conflicted: %s',
                     jobid, error)
            outcome = _conflicted(outcome.jobid, outcome.attempt, error)
        except Exception as error:
            log.exception('the result of job %s could not be stored', jobid)
            outcome = Outcome(
                outcome.jobid, outcome.attempt,
                error=f'the result could not be stored: '
                      f'{type(error).__name__}: {error}')
        self.tm.abort()
        return outcome

    def record(self, outcomes) -> None:
        """Record `outcomes` in one commit, tried again while it conflicts."""
        try:
            self.commitOrRetry(self._recordAll, outcomes)
        except TransientError:
            log.error('outcomes of jobs %s could not be recorded; the jobs '
                      'will be taken back when their leases expire',
                      [outcome.jobid for outcome in outcomes])

    @staticmethod
    def _recordAll(service, outcomes):
        for outcome in outcomes:
            try:
                service.recordOutcome(outcome)
            except JobStateError as error:
                _dropped(outcome, error)   # checked before any change


def _nothingJoined(txn) -> bool:
    """Whether no data manager joined `txn`: nothing was written yet.

    A connection joins the transaction when an object of it is first
    changed.  Should `transaction` ever rename its private list, this says
    False, and a conflict costs a run instead of a retry of the record.
    """
    return getattr(txn, '_resources', None) == []


def _conflicted(jobid, attempt, error) -> Outcome:
    return Outcome(jobid, attempt, error=f'{type(error).__name__}: {error}',
                   retryable=True)


def _dropped(outcome, error) -> None:
    log.warning('outcome of job %s attempt %s dropped: %s',
                outcome.jobid, outcome.attempt, error)


class _LeaseKeeper(threading.Thread):
    """Beats a worker's heartbeat, takes back the jobs of dead workers,
    removes expired finished jobs, and passes stop requests on to the
    worker's running jobs."""

    #: Seconds between looks for stop requests.
    TICK = 0.5

    def __init__(self, processor) -> None:
        super().__init__(name=f'remotetask-lease-{processor.name}',
                         daemon=True)
        self.processor = processor
        self.stopping = threading.Event()

    def run(self) -> None:
        processor = self.processor
        interval = processor.leaseTime / 4
        lastBeat = time.monotonic()
        with _Session(processor.db, processor.serviceOid,
                      processor.workerId) as session:
            while not self.stopping.wait(min(self.TICK, interval)):
                try:
                    if time.monotonic() - lastBeat >= interval:
                        lastBeat = time.monotonic()
                        self.beat(session)
                    self.passStopRequests(session)
                except Exception:
                    log.exception('worker %s: lease keeping failed',
                                  processor.workerId)

    def beat(self, session) -> None:
        workerId, leaseTime = self.processor.workerId, self.processor.leaseTime
        record = session.commitOrRetry(
            lambda service: service.heartbeat(workerId, leaseTime),
            timeout=leaseTime)
        now = record.heartbeat.lastSeen
        session.commitOrRetry(lambda service: service.recoverJobs(now),
                              timeout=leaseTime)
        session.commitOrRetry(lambda service: service.expire(),
                              timeout=leaseTime)

    def passStopRequests(self, session) -> None:
        session.tm.begin()
        try:
            service = session.service()
            jobids = service.stopRequested(
                service.heldBy(self.processor.workerId))
        finally:
            session.tm.abort()
        for jobid in jobids:
            context.requestStop(self.processor.serviceOid, jobid, CANCELLED)


@implementer(IProcessor)
class SimpleProcessor:
    """Runs one job at a time, in queue order.

    With a backlog of tiny jobs it claims several at once and records
    their outcomes together, each commit within `recordWindow` seconds of
    the first outcome it holds, so a job's commits cost a fraction of one.
    When jobs trickle in one by one, it waits out that window before it
    claims again, to take them together too.
    """

    #: Seconds an outcome may wait to be recorded with others.
    recordWindow = 0.010
    #: The most jobs claimed at once.
    maxBatch = 20
    #: Loops that claim and run jobs side by side.
    lanes = 1

    def __init__(self, db, serviceOid: bytes, waitTime: float = WAIT_TIME,
                 name: Optional[str] = None, leaseTime: float = LEASE_TIME,
                 workerId: Optional[str] = None) -> None:
        if leaseTime <= 0:
            raise ValueError(f'leaseTime must be positive, not {leaseTime}')
        self.db = db
        self.serviceOid = serviceOid
        self.waitTime = waitTime
        self.name = name or 'remotetasks'
        self.leaseTime = leaseTime
        self.workerId = workerId or newWorkerId()
        self.running = True
        self._wakeups = [threading.Event() for _ in range(self.lanes)]
        self._idle = []             # lanes waiting for work, longest first
        self._idleLock = threading.Lock()
        #: Lanes claim one at a time: at once, they would take the same
        #: job, and all but one would conflict.
        self._claimLock = threading.Lock()
        #: The jobs this processor claimed and has not recorded yet.
        self._inHand = set()
        self._stopped = threading.Event()
        self._taskTime = _Average()

    def wake(self) -> None:
        """Look for jobs now rather than after the wait.

        One idle lane looks, not all: they would reach for the same job.
        A lane that finds more than it takes wakes the next (see `_loop`).
        Busy lanes are told too, as they decide whether to wait out the
        record window by whether jobs came (see `_linger`).
        """
        with self._idleLock:
            first = self._idle[0] if self._idle else None
            for lane, wakeup in enumerate(self._wakeups):
                if lane == first or lane not in self._idle:
                    wakeup.set()

    def stop(self) -> None:
        """Stop after the job in hand."""
        self.running = False
        self._stopped.set()
        for wakeup in self._wakeups:
            wakeup.set()

    def __call__(self) -> None:
        # A connection per lane and one for the lease keeper; a task with a
        # time limit runs on one more.
        with _poolGrownBy(self.db, 2 * self.lanes + 1):
            self._serve()

    def _serve(self) -> None:
        with _Session(self.db, self.serviceOid, self.workerId) as session:
            session.commitOrRetry(
                lambda service: service.registerWorker(
                    self.workerId, self.leaseTime))
            keeper = _LeaseKeeper(self)
            keeper.start()
            others = [threading.Thread(
                target=self._lane, args=(lane,), daemon=True,
                name=f'{self.name}-{lane}') for lane in range(1, self.lanes)]
            try:
                for thread in others:
                    thread.start()
                self._loop(session, 0)
            finally:
                for thread in others:
                    thread.join()
                keeper.stopping.set()
                keeper.join()
                try:
                    session.commitOrRetry(
                        lambda service: service.unregisterWorker(
                            self.workerId))
                except Exception:
                    log.exception('worker %s could not unregister',
                                  self.workerId)

    def _lane(self, lane: int) -> None:
        try:
            with _Session(self.db, self.serviceOid, self.workerId) as session:
                self._loop(session, lane)
        except Exception:
            log.exception('processor %s: lane %s failed', self.name, lane)

    def _loop(self, session, lane: int) -> None:
        wakeup = self._wakeups[lane]
        commits = CommitWatch(self.db)
        backoff = _Backoff(limit=self.waitTime)
        held = []                                   # claimed, not started
        pending = _Pending(self.recordWindow)       # outcomes to record
        drained = False         # the last claim took all there was
        try:
            while self.running:
                if held:
                    started = time.monotonic()
                    claim = held.pop(0)
                    outcome = self._guarded(self._run, session, claim)
                    self._taskTime.add(time.monotonic() - started)
                    if isinstance(outcome, Outcome):
                        pending.add(outcome, started)
                    else:
                        # Recorded with its writes; or an unexpected error,
                        # and the next claim gives the job back.
                        self._inHand.discard(claim.jobid)
                    if held and pending.due():
                        self._record(session, pending.take())
                    continue
                # Nothing in hand: record what is pending and claim more,
                # in one commit.
                if drained:
                    self._linger(session, pending, wakeup, commits)
                wakeup.clear()   # before looking: no wake-up is lost
                commits.mark()
                limit = self._batchSize()
                with self._claimLock:
                    claimed = self._guarded(
                        session.claim, limit, pending.outcomes,
                        self._inHand)
                    if claimed is not _CONFLICT:
                        self._inHand.difference_update(
                            outcome.jobid for outcome in pending.outcomes)
                        self._inHand.update(claim.jobid for claim in claimed)
                if claimed is _CONFLICT:
                    backoff.wait(wakeup)
                    continue
                backoff.reset()
                commits.looked()
                pending.take()
                held = list(claimed)
                drained = len(held) < limit
                if not drained and self.lanes > 1:
                    self.wake()         # more may wait: another lane looks
                if not held:
                    self._idleWait(lane, wakeup, commits)
        finally:
            if held or pending.outcomes:
                unstarted = [claim.jobid for claim in held]
                outcomes = pending.take()
                session.release(unstarted, outcomes)
                self._inHand.difference_update(
                    unstarted + [outcome.jobid for outcome in outcomes])

    def _record(self, session, outcomes) -> None:
        self._guarded(session.record, outcomes)
        # Recorded, or given up on: the jobs are no longer this loop's.
        self._inHand.difference_update(outcome.jobid for outcome in outcomes)

    def _idleWait(self, lane, wakeup, commits) -> None:
        """Wait for a wake-up or the wait time; the lane idle longest also
        watches for other processes' commits."""
        with self._idleLock:
            self._idle.append(lane)
            first = self._idle[0] == lane
        try:
            if first:
                commits.wait(wakeup, self.waitTime)
            else:
                wakeup.wait(self.waitTime)
        finally:
            with self._idleLock:
                self._idle.remove(lane)

    def _linger(self, session, pending, wakeup, commits) -> None:
        """Wait out the record window while jobs trickle in.

        The last claim took all there was, and jobs came since (this
        process's commits wake the loop, and over ZEO any commit may have
        added some; a look at the queue makes sure): claiming each as it
        comes would cost a commit per job.  Waiting until the outcomes in
        hand are due records them and claims what came meanwhile in one
        commit.  No outcome waits longer than the window, nor does a job
        that came while outcomes were in hand; one that comes to an idle
        loop is claimed at once.
        """
        if pending.outcomes and (wakeup.is_set() or commits.moved()) \
                and session.jobsWaiting():
            self._stopped.wait(pending.since + pending.window
                               - time.monotonic())

    def _run(self, session, claim):
        """Run a claimed job (see _Session.run), in a thread of its own if
        its task has a time limit, so that the loop can go on when the task
        does not stop at the limit."""
        jobid, limit = claim.jobid, claim.timeLimit
        if limit is None:
            return session.run(jobid)
        finished = threading.Event()

        def runAlone():
            try:
                with _Session(self.db, self.serviceOid,
                              self.workerId) as own:
                    outcome = own.run(jobid)
                    if isinstance(outcome, Outcome):
                        own.record([outcome])
            except Exception:
                log.exception('job %s: unexpected error', jobid)
            finally:
                finished.set()

        threading.Thread(target=runAlone, daemon=True,
                         name=f'remotetask-job-{jobid}').start()
        if finished.wait(limit + STOP_GRACE):
            return None
        log.error('job %s did not stop at its time limit of %s s; it is '
                  'left running and its slot freed', jobid, limit)
        return Outcome(jobid, claim.attempt, error=(
            f'timed out after {limit:g} s (the task did not stop when '
            f'asked; what it records later is refused)'))

    def _batchSize(self) -> int:
        """Claim as many jobs as run within the record window: one for slow
        tasks, so that other workers get their share, more for tiny ones."""
        average = self._taskTime.average
        if average is None:
            return 1
        return max(1, min(self.maxBatch,
                          int(self.recordWindow / max(average, 1e-4))))

    def _guarded(self, step, *args):
        """Run a step; log what should never happen and carry on."""
        try:
            return step(*args)
        except Exception:
            log.exception('processor %s: unexpected error', self.name)
            self._stopped.wait(self.waitTime)
            return _CONFLICT


@implementer(IProcessor)
class MultiProcessor(SimpleProcessor):
    """Runs up to `maxThreads` jobs at once: as many loops, each a thread
    with a connection of its own, under one worker id and lease."""

    def __init__(self, db, serviceOid: bytes, waitTime: float = WAIT_TIME,
                 maxThreads: int = 5, name: Optional[str] = None,
                 leaseTime: float = LEASE_TIME,
                 workerId: Optional[str] = None) -> None:
        if maxThreads < 1:
            raise ValueError(f'maxThreads must be at least 1, not {maxThreads}')
        self.maxThreads = self.lanes = maxThreads
        super().__init__(db, serviceOid, waitTime, name, leaseTime, workerId)
