"""Processors: the loops that run a service's jobs in the background.

A processor registers as a worker of the service and runs one loop
(`SimpleProcessor`) or several side by side (`MultiProcessor`), each on a
`Station` of its own (see `steps`): claim, run, record.  Outcomes of
tasks that wrote nothing are recorded together with the next claim, or
with those of other tiny jobs of a handful, within `recordWindow`.  A
conflict while claiming or recording is simply tried again; one in the
task's own transaction runs the task again (see `Station.run`).  A lease
keeper thread does the worker's housekeeping (see `leasekeeper`); a loop
that fails in a way it cannot handle is logged at CRITICAL and started
again.
"""
import logging
import threading
import time
from typing import Optional

from zope.interface import implementer

from lovely.remotetask import checks
from lovely.remotetask.defaults import LEASE_TIME, WAIT_TIME
from lovely.remotetask.interfaces import IProcessor
from lovely.remotetask.runtime.leasekeeper import LeaseKeeper
from lovely.remotetask.runtime.attempt import Outcome
from lovely.remotetask.runtime.draining import Drainer
from lovely.remotetask.runtime.handfuls import Average, Pending
from lovely.remotetask.retrying import Backoff
from lovely.remotetask.runtime.steps import CONFLICT, Station, poolGrownBy
from lovely.remotetask.runtime.timelimit import Abandoned, runAlone
from lovely.remotetask.runtime.watch import CommitWatch
from lovely.remotetask.runtime.choosing import Choice, checkQueues
from lovely.remotetask.store.workers import newWorkerId

log = logging.getLogger('lovely.remotetask')

__all__ = ['MultiProcessor', 'SimpleProcessor', 'THREAD_STARTUP_WAIT',
           'WAIT_TIME']

#: Seconds the seed's MultiProcessor gave a new job thread to claim its
#: job before it looked for the next.  The loops here claim under one lock
#: and need no such wait; the name stays for code that reads it.
THREAD_STARTUP_WAIT = 0.05

#: The shortest wait of an idle loop: a `waitTime` of 0 (the seed's tests
#: use it) looks again at once, but not in a busy loop.
MIN_WAIT = 0.01


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
    maxHandful = 20
    #: Loops that claim and run jobs side by side.
    loops = 1
    #: Tasks past their time limits that may still run in threads of their
    #: own (each with a connection); with that many, the processor claims
    #: only jobs of tasks without a time limit, until one of them ends.
    maxAbandoned = 3

    def __init__(self, db, serviceOid: bytes, waitTime: float = WAIT_TIME,
                 name: Optional[str] = None, leaseTime: float = LEASE_TIME,
                 workerId: Optional[str] = None,
                 maxAbandoned: Optional[int] = None, queues=None) -> None:
        checks.seconds('waitTime', waitTime)
        checks.seconds('leaseTime', leaseTime, positive=True)
        if maxAbandoned is not None:
            self.maxAbandoned = checks.whole('maxAbandoned', maxAbandoned)
        #: The queues served (None: all), each with the most of its jobs
        #: this processor runs at once (None: as many as it can).
        self.queues = checkQueues(queues)
        self.db = db
        self.serviceOid = serviceOid
        self.waitTime = max(waitTime, MIN_WAIT)
        self.name = name or 'remotetasks'
        self.leaseTime = leaseTime
        self.workerId = workerId or newWorkerId()
        self.running = True
        self._wakeups = [threading.Event() for _ in range(self.loops)]
        self._idle = []             # loops waiting for work, longest first
        self._idleLock = threading.Lock()
        #: Loops claim in turn (or conflict).
        self.claimLock = threading.Lock()
        self.drainer = Drainer()
        #: The jobs this processor claimed and has not recorded yet.
        self._inHand = set()
        self._stopped = threading.Event()
        self._taskTime = Average()
        self._threads = []
        self._abandoned = Abandoned(self.maxAbandoned, self.name)
        self._choice = Choice(self.name, self.queues, self._abandoned,
                              self._inHand)

    def wake(self) -> None:
        """Look for jobs now rather than after the wait.

        One idle loop looks, not all: they would reach for the same job.
        A loop that finds more than it takes wakes the next (see `_loop`).
        Busy loops are told too, as they decide whether to wait out the
        record window by whether jobs came (see `_linger`).
        """
        with self._idleLock:
            first = self._idle[0] if self._idle else None
            for loop, wakeup in enumerate(self._wakeups):
                if loop == first or loop not in self._idle:
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
        with Station(self.db, self.serviceOid, self.workerId) as station:
            claims = self._claimOne(station)
        return claims[0].jobid if claims else None

    def hasJobsWaiting(self) -> bool:
        with Station(self.db, self.serviceOid, self.workerId) as station:
            return station.read(lambda service: service.hasJobsWaiting())

    def processNext(self, jobid: Optional[int] = None) -> bool:
        """Claim the next job (or take the one given, claimed before with
        `claimNextJob`), run it and record what came of it; return False
        when there was nothing to do."""
        with Station(self.db, self.serviceOid, self.workerId) as station:
            if jobid is None:
                claims = self._claimOne(station)
                if not claims:
                    return False
                claim = claims[0]
            else:
                claim = station.read(lambda service: service.claimed(jobid))
            outcome = self._run(station, claim)
            if isinstance(outcome, Outcome):
                station.record([outcome])
            return True

    def _claimOne(self, station):
        def step(service):
            service.registerWorker(self.workerId, self.leaseTime)
            service.promote()
            return service.claim(self.workerId, 1)
        return station.commitOrRetry(step)

    @property
    def threads(self) -> list:
        """The threads of this processor's loops that run."""
        return [thread for thread in self._threads if thread.is_alive()]

    def __call__(self) -> None:
        # A connection per loop and one for the lease keeper; a task with a
        # time limit runs on one more, and so do those it left running.
        with poolGrownBy(self.db, 2 * self.loops + 1 + self.maxAbandoned):
            self._serve()

    def _serve(self) -> None:
        with Station(self.db, self.serviceOid, self.workerId) as station:
            station.commitOrRetry(
                lambda service: service.registerWorker(
                    self.workerId, self.leaseTime, self.serves()))
            keeper = LeaseKeeper(self)
            keeper.start()
            others = [threading.Thread(
                target=self._runLoop, args=(loop,), daemon=True,
                name=f'{self.name}-{loop}') for loop in range(1, self.loops)]
            self._threads = [threading.current_thread()] + others
            try:
                for thread in others:
                    thread.start()
                self._keepLooping(station, 0)
            finally:
                for thread in others:
                    thread.join()
                keeper.stopping.set()
                keeper.join()
                try:
                    station.commitOrRetry(
                        lambda service: service.unregisterWorker(
                            self.workerId))
                except Exception:
                    log.exception('worker %s could not unregister',
                                  self.workerId)

    def _runLoop(self, loop: int) -> None:
        with Station(self.db, self.serviceOid, self.workerId) as station:
            self._keepLooping(station, loop)

    def _keepLooping(self, station, loop: int) -> None:
        """Run a loop until the processor stops; a loop that dies is
        logged at CRITICAL and started again, never left dead."""
        backoff = Backoff(first=0.1, limit=max(self.waitTime, 1.0))
        while self.running:
            try:
                self._loop(station, loop)
            except BaseException:
                if not self.running:
                    raise
                log.critical('processor %s: loop %s died; it starts again',
                             self.name, loop, exc_info=True)
                station.tm.abort()
                backoff.wait(self._stopped)

    def _loop(self, station, loop: int) -> None:
        wakeup = self._wakeups[loop]
        commits = CommitWatch(self.db)
        backoff = Backoff(limit=self.waitTime)
        held = []                                   # claimed, not started
        pending = Pending(self.recordWindow)       # outcomes to record
        drained = False         # the last claim took all there was
        try:
            while self.running:
                if held:
                    started = time.monotonic()
                    claim = held.pop(0)
                    outcome = self._guarded(self._run, station, claim)
                    self._taskTime.add(time.monotonic() - started)
                    if isinstance(outcome, Outcome):
                        pending.add(outcome, started)
                    else:
                        # Recorded with its writes; or an unexpected error,
                        # and the next claim gives the job back.
                        self._inHand.discard(claim.jobid)
                    if held and pending.due():
                        self._record(station, pending.take())
                    continue
                # Nothing in hand: record what is pending and claim more,
                # in one commit.
                if drained:
                    self._linger(station, pending, wakeup, commits)
                wakeup.clear()   # before looking: no wake-up is lost
                commits.mark()
                limit = self._handfulSize()
                claimed = self._claim(station, limit, pending)
                if claimed is CONFLICT:
                    backoff.wait(wakeup)
                    continue
                backoff.reset()
                commits.looked()
                pending.take()
                held = list(claimed)
                drained = len(held) < limit
                if not drained and self.loops > 1:
                    self.wake()         # more may wait: another loop looks
                if not held:
                    self._idleWait(loop, wakeup, commits, station.opens)
        finally:
            if held or pending.outcomes:
                outcomes = pending.take()
                try:
                    station.release(held, outcomes)
                finally:
                    # Out of hand even when the database was out of reach:
                    # the next claim gives back what this could not.
                    self._inHand.difference_update(
                        [claim.jobid for claim in held]
                        + [outcome.jobid for outcome in outcomes])

    def _claim(self, station, limit: int, pending):
        """Record what is pending and claim up to `limit` jobs, in one
        commit (and drain after, when many moved); the claims, or
        CONFLICT."""
        with self.claimLock:
            claimed = self._guarded(station.claim, limit, pending.outcomes,
                                    self._inHand, self.accepts)
            if claimed is not CONFLICT:
                self._inHand.difference_update(
                    outcome.jobid for outcome in pending.outcomes)
                self._inHand.update(claim.jobid for claim in claimed)
                self._choice.claimed(claimed)
        if claimed is not CONFLICT:
            self.drainer.afterClaim(station)
        return claimed

    def inHand(self) -> set:
        """The ids of the jobs claimed and not recorded yet."""
        return set(self._inHand)

    def _record(self, station, outcomes) -> None:
        self._guarded(station.record, outcomes)
        # Recorded, or given up on: the jobs are no longer this loop's.
        self._inHand.difference_update(outcome.jobid for outcome in outcomes)

    def _idleWait(self, loop, wakeup, commits, opens=None) -> None:
        """Wait for a wake-up or the wait time (or until a rate that held
        jobs back `opens`); the loop idle longest also watches for other
        processes' commits."""
        wait = self.waitTime
        if opens is not None:
            wait = max(0.0, min(wait, opens - time.time()))
        with self._idleLock:
            self._idle.append(loop)
            first = self._idle[0] == loop
        try:
            if first:
                commits.wait(wakeup, wait)
            else:
                wakeup.wait(wait)
        finally:
            with self._idleLock:
                self._idle.remove(loop)

    def _linger(self, station, pending, wakeup, commits) -> None:
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
                and station.queued():
            self._stopped.wait(pending.since + pending.window
                               - time.monotonic())

    def _run(self, station, claim):
        """Run a claimed job (see Station.run), in a thread of its own if
        its task has a time limit, so that the loop can go on when the task
        does not stop at the limit (see `timelimit`)."""
        if claim.timeLimit is None:
            return station.run(claim)
        return runAlone(self._abandoned, claim, lambda: Station(
            self.db, self.serviceOid, self.workerId))

    @property
    def abandoned(self) -> int:
        """How many tasks past their time limit still run in threads this
        processor left to them (each with a connection)."""
        return self._abandoned.count

    @property
    def blockedSince(self) -> Optional[float]:
        """Since when (time.monotonic()) `maxAbandoned` such tasks keep the
        processor from taking jobs of tasks with time limits, or None."""
        return self._abandoned.blockedSince

    def accepts(self, queue: str, taskName: str) -> bool:
        """Whether this processor takes jobs of `taskName` in `queue` now
        (see `choosing.Choice`)."""
        return self._choice.accepts(queue, taskName)

    def serves(self) -> tuple:
        """(queues, tasks) this processor takes jobs of (see `accepts`)."""
        return self._choice.serves()

    def _handfulSize(self) -> int:
        """Claim as many jobs as run within the record window: one for slow
        tasks, so that other workers get their share, more for tiny ones."""
        average = self._taskTime.average
        if average is None or self._choice.limitsLocally():
            return 1
        return max(1, min(self.maxHandful,
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
                 workerId: Optional[str] = None,
                 maxAbandoned: Optional[int] = None, queues=None) -> None:
        checks.whole('maxThreads', maxThreads)
        self.maxThreads = self.loops = maxThreads
        super().__init__(db, serviceOid, waitTime, name, leaseTime, workerId,
                         maxAbandoned, queues)
