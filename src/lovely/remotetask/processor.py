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
conflict while the task ran or its writes were committed loses the task's
writes: the task runs again, after a short wait, without counting an
attempt (see `session.Session.run`).  While the loop runs, a lease keeper
thread does the worker's housekeeping (see `leasekeeper`).  A loop that
fails in a way it cannot handle is logged at CRITICAL and started again.
"""
import logging
import threading
import time
from typing import Optional

from zope.interface import implementer

from lovely.remotetask import checks
from lovely.remotetask.defaults import LEASE_TIME, WAIT_TIME
from lovely.remotetask.interfaces import IProcessor
from lovely.remotetask.leasekeeper import LeaseKeeper
from lovely.remotetask.run import Outcome
from lovely.remotetask.session import CONFLICT, Backoff, Session, poolGrownBy
from lovely.remotetask.timelimit import Abandoned
from lovely.remotetask.watch import CommitWatch
from lovely.remotetask.workers import newWorkerId

log = logging.getLogger('lovely.remotetask')

__all__ = ['MultiProcessor', 'SimpleProcessor', 'WAIT_TIME']


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
    #: Tasks past their time limits that may still run in threads of their
    #: own before the processor stops claiming.
    maxAbandoned = 3

    def __init__(self, db, serviceOid: bytes, waitTime: float = WAIT_TIME,
                 name: Optional[str] = None, leaseTime: float = LEASE_TIME,
                 workerId: Optional[str] = None) -> None:
        checks.seconds('waitTime', waitTime, positive=True)
        checks.seconds('leaseTime', leaseTime, positive=True)
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
        self._threads = []
        self._abandoned = Abandoned(self.maxAbandoned)

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

    # The seed's API: one step at a time, in the caller's thread, each
    # committed on a connection of its own.

    def claimNextJob(self) -> Optional[int]:
        """Claim the next job for this processor's worker and commit;
        return its id, or None when no job is ready."""
        with Session(self.db, self.serviceOid, self.workerId) as session:
            claims = self._claimOne(session)
        return claims[0].jobid if claims else None

    def hasJobsWaiting(self) -> bool:
        with Session(self.db, self.serviceOid, self.workerId) as session:
            return session.read(lambda service: service.hasJobsWaiting())

    def processNext(self, jobid: Optional[int] = None) -> bool:
        """Claim the next job (or take the one given, claimed before with
        `claimNextJob`), run it and record what came of it; return False
        when there was nothing to do."""
        with Session(self.db, self.serviceOid, self.workerId) as session:
            if jobid is None:
                claims = self._claimOne(session)
                if not claims:
                    return False
                claim = claims[0]
            else:
                claim = session.read(lambda service: service.claimed(jobid))
            outcome = self._run(session, claim)
            if isinstance(outcome, Outcome):
                session.record([outcome])
            return True

    def _claimOne(self, session):
        def step(service):
            service.registerWorker(self.workerId, self.leaseTime)
            service.promote()
            return service.claim(self.workerId, 1)
        return session.commitOrRetry(step)

    @property
    def threads(self) -> list:
        """The threads of this processor's loops that run."""
        return [thread for thread in self._threads if thread.is_alive()]

    def __call__(self) -> None:
        # A connection per lane and one for the lease keeper; a task with a
        # time limit runs on one more, and so do those it left running.
        with poolGrownBy(self.db, 2 * self.lanes + 1 + self.maxAbandoned):
            self._serve()

    def _serve(self) -> None:
        with Session(self.db, self.serviceOid, self.workerId) as session:
            session.commitOrRetry(
                lambda service: service.registerWorker(
                    self.workerId, self.leaseTime))
            keeper = LeaseKeeper(self)
            keeper.start()
            others = [threading.Thread(
                target=self._lane, args=(lane,), daemon=True,
                name=f'{self.name}-{lane}') for lane in range(1, self.lanes)]
            self._threads = [threading.current_thread()] + others
            try:
                for thread in others:
                    thread.start()
                self._keepLooping(session, 0)
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
        with Session(self.db, self.serviceOid, self.workerId) as session:
            self._keepLooping(session, lane)

    def _keepLooping(self, session, lane: int) -> None:
        """Run a loop until the processor stops; a loop that dies is
        logged at CRITICAL and started again, never left dead."""
        backoff = Backoff(first=0.1, limit=max(self.waitTime, 1.0))
        while self.running:
            try:
                self._loop(session, lane)
            except BaseException:
                if not self.running:
                    raise
                log.critical('processor %s: loop %s died; it starts again',
                             self.name, lane, exc_info=True)
                session.tm.abort()
                backoff.wait(self._stopped)

    def _loop(self, session, lane: int) -> None:
        wakeup = self._wakeups[lane]
        commits = CommitWatch(self.db)
        backoff = Backoff(limit=self.waitTime)
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
                self._waitForAbandoned(session, pending)
                wakeup.clear()   # before looking: no wake-up is lost
                commits.mark()
                limit = self._batchSize()
                with self._claimLock:
                    claimed = self._guarded(
                        session.claim, limit, pending.outcomes,
                        self._inHand)
                    if claimed is not CONFLICT:
                        self._inHand.difference_update(
                            outcome.jobid for outcome in pending.outcomes)
                        self._inHand.update(claim.jobid for claim in claimed)
                if claimed is CONFLICT:
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
                outcomes = pending.take()
                session.release(held, outcomes)
                self._inHand.difference_update(
                    [claim.jobid for claim in held]
                    + [outcome.jobid for outcome in outcomes])

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
                and session.read(lambda service: service.queueLength()):
            self._stopped.wait(pending.since + pending.window
                               - time.monotonic())

    def _run(self, session, claim):
        """Run a claimed job (see Session.run), in a thread of its own if
        its task has a time limit, so that the loop can go on when the task
        does not stop at the limit (see `timelimit`)."""
        jobid, limit = claim.jobid, claim.timeLimit
        if limit is None:
            return session.run(claim)

        def runAlone():
            try:
                with Session(self.db, self.serviceOid,
                             self.workerId) as own:
                    outcome = own.run(claim)
                    if isinstance(outcome, Outcome):
                        own.record([outcome])
            except Exception:
                log.exception('job %s: unexpected error', jobid)

        if self._abandoned.run(f'remotetask-job-{jobid}', runAlone, limit):
            return None
        log.error('job %s did not stop at its time limit of %s s; it is '
                  'left running and its slot freed', jobid, limit)
        return Outcome(jobid, claim.attempt, error=(
            f'timed out after {limit:g} s (the task did not stop when '
            f'asked; what it records later is refused)'))

    @property
    def abandoned(self) -> int:
        """How many tasks past their time limit still run in threads this
        processor left to them (each with a connection)."""
        return self._abandoned.count

    @property
    def blockedSince(self) -> Optional[float]:
        """Since when (time.monotonic()) such tasks keep the processor from
        claiming, or None."""
        return self._abandoned.blockedSince

    def _waitForAbandoned(self, session, pending) -> None:
        """Claim nothing while `maxAbandoned` tasks that ignored their
        time limits still run: their threads and connections stay bounded.
        A worker process that stays blocked exits, for its supervisor to
        start a fresh one (see the worker command)."""
        if self._abandoned.full():
            if pending.outcomes:
                self._record(session, pending.take())
            self._abandoned.waitForRoom(lambda: self.running, self.waitTime,
                                        self.name)

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
            return CONFLICT


@implementer(IProcessor)
class MultiProcessor(SimpleProcessor):
    """Runs up to `maxThreads` jobs at once: as many loops, each a thread
    with a connection of its own, under one worker id and lease."""

    def __init__(self, db, serviceOid: bytes, waitTime: float = WAIT_TIME,
                 maxThreads: int = 5, name: Optional[str] = None,
                 leaseTime: float = LEASE_TIME,
                 workerId: Optional[str] = None) -> None:
        checks.whole('maxThreads', maxThreads)
        self.maxThreads = self.lanes = maxThreads
        super().__init__(db, serviceOid, waitTime, name, leaseTime, workerId)
