"""The transaction steps of a processor loop, on a connection of its own.

A `Station` is a connection with its own transaction manager, and the
steps a processor loop takes at it: claim (recording what is pending in
the same commit), run a claim's task, record outcomes, give back what was
not started.  The processor's loops (see `processor`) decide when to take
which step.
"""
import contextlib
import dataclasses
import logging
import threading
import time
from typing import Optional

import transaction
from transaction.interfaces import TransientError

from lovely.remotetask import retrying
from lovely.remotetask.defaults import (
    CONFLICT_RETRIES, CONFLICT_WAIT, RECORD_TIMEOUT)
from lovely.remotetask.exceptions import JobStateError, UnknownJobError
from lovely.remotetask.interfaces import CANCELLED, PROCESSING
from lovely.remotetask.runtime import changes
from lovely.remotetask.runtime.attempt import Outcome, observeRun, runJob

log = logging.getLogger('lovely.remotetask')

#: What `Station.claim` returns when its commit conflicted.
CONFLICT = object()

#: A job is no longer this worker's: taken back and given to another, or
#: since then finished and removed.
NOT_HELD = (JobStateError, UnknownJobError)

_poolLock = threading.Lock()


@contextlib.contextmanager
def poolGrownBy(db, connections: int):
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


class Station:
    """A connection of one's own, and the steps of a job on it."""

    def __init__(self, db, serviceOid: bytes, workerId: str) -> None:
        self.tm = transaction.TransactionManager()
        self.connection = db.open(transaction_manager=self.tm)
        self.serviceOid = serviceOid
        self.workerId = workerId
        self.undrained = 0
        self.opens = None
        self.place = 0

    def close(self) -> None:
        self.tm.abort()
        self.connection.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc_info):
        self.close()

    def service(self):
        """The service, in a transaction whose moves the processor drains
        itself (see `drainAt`)."""
        service = self.connection.get(self.serviceOid)
        service.drainsItself()
        return service

    def read(self, step, *args):
        """`step(service, *args)` in a transaction that is then aborted."""
        self.tm.begin()
        try:
            return step(self.service(), *args)
        finally:
            self.tm.abort()

    def commitOrRetry(self, step, *args, timeout: float = RECORD_TIMEOUT):
        """Do `step(service, *args)` and commit, again while that fails for
        passing reasons, for up to `timeout` seconds."""
        return retrying.commitOrRetry(
            self.tm, lambda: step(self.service(), *args), timeout=timeout)

    def claim(self, limit: int = 1, outcomes=(), inHand=frozenset(),
              accepts=None):
        """Record `outcomes` and claim up to `limit` jobs (of the queues and
        tasks `accepts` takes), in one commit.

        Returns the claims, or CONFLICT (then nothing was done).  See
        `IWorkerProtocol.claim` for `inHand`.  Sets `undrained` to how many
        moves there were since the last drain, `place` to the worker's place
        among the workers (see `claiming.claim`), and `opens` to when a rate
        that held jobs back allows the next start (or None).
        """
        self.tm.begin()
        report = {}
        try:
            service = self.service()
            self._recordAll(service, outcomes)
            claims = service.claim(self.workerId, limit, inHand, accepts,
                                   report)
            self.undrained = service.undrained()
            self.opens = report.get('opens')
            self.place = report.get('place', 0)
            self.tm.commit()
        except TransientError:
            self.tm.abort()
            return CONFLICT
        except BaseException:
            self.tm.abort()
            raise
        return claims

    def drain(self) -> None:
        """Drain the intake in a transaction of its own: one that meets
        another drain is left at that (the other drained), and so is one
        that fails otherwise (the database away): the next drain does it.
        It raises nothing, so that a claim that drains after its commit
        keeps what it claimed (a loop that lost its claims so left their
        jobs processing in its hand, never run)."""
        try:
            retrying.commitOrRetry(
                self.tm, lambda: self.service().drain(), tries=3)
        except TransientError:
            pass
        except Exception:       # (each attempt aborted what it did)
            log.warning('worker %s: a drain failed; the next one drains',
                        self.workerId, exc_info=True)

    def queued(self) -> bool:
        """Whether jobs are queued; False when the database cannot say
        (the claim that comes next records the outcomes, or gives up)."""
        try:
            return bool(self.read(lambda service: service.queueLength()))
        except Exception:
            return False

    def release(self, claims, outcomes=()) -> None:
        """Record `outcomes` and give back claimed jobs not started."""
        def step(service):
            self._recordAll(service, outcomes)
            for claim in claims:
                try:
                    service.releaseJob(claim.jobid, claim.attempt)
                except NOT_HELD:
                    pass   # taken back meanwhile
        try:
            self.commitOrRetry(step)
        except TransientError:
            log.error('jobs %s could not be given back; the next claim '
                      'gives them back, or others when the lease expires',
                      [claim.jobid for claim in claims])

    def run(self, claim):
        """Run a claim's task; return its outcome for `record`, or None
        when it was recorded already (or is no longer this worker's).

        When the task succeeded and wrote to the database, the outcome is
        recorded in the task's own transaction: the two commit together.
        When that commit conflicts, or the task itself meets a conflict,
        the task's writes are lost: it runs again, after a growing wait
        with jitter, up to CONFLICT_RETRIES times, without counting an
        attempt, but only while the job is still held by this worker in
        this attempt (a worker whose lease ran out meanwhile lost it, and
        must not run it again).  Any other outcome is free of the task's
        transaction and is left to the caller, to record with others in
        one commit.
        """
        backoff = retrying.Backoff(first=CONFLICT_WAIT)
        runs = 0
        for conflicts in range(CONFLICT_RETRIES + 1):
            if conflicts:
                backoff.wait()
            self.tm.begin()
            service = self.service()
            why = self._notOurs(service, claim)
            if why is not None:
                self.tm.abort()
                if runs:
                    log.warning('job %s attempt %s: not run again after a '
                                'conflict: %s', claim.jobid, claim.attempt,
                                why)
                return None
            if service.stopRequested([claim.jobid]):
                # Cancelled while it waited its turn: never started.
                self.tm.abort()
                return Outcome(claim.jobid, claim.attempt, error=CANCELLED,
                               cancelled=True, runs=runs)
            started = time.monotonic()
            runs += 1
            try:
                outcome = runJob(service, claim)
            except TransientError as error:
                self.tm.abort()
                conflict = error
                continue
            finally:
                observeRun(claim.taskName, time.monotonic() - started)
            if runs != 1:
                outcome = _withRuns(outcome, runs)
            if not outcome.ok or _nothingJoined(self.tm.get()):
                self.tm.abort()
                return outcome
            outcome = changes.taken(outcome, service, self.tm.get())
            conflict = self._commitWith(service, outcome)
            if conflict is None:
                return None
            if isinstance(conflict, Outcome):
                return conflict
        return Outcome(
            claim.jobid, claim.attempt, retryable=True, runs=runs,
            error=f'conflicted {CONFLICT_RETRIES + 1} times: '
                  f'{type(conflict).__name__}: {conflict}')

    def _commitWith(self, service, outcome):
        """Record a task's outcome in its own transaction and commit: None
        once done (or dropped: the job is no longer in hand), the error
        when the commit conflicted, or an outcome that says the result
        could not be stored."""
        try:
            service.recordOutcome(outcome)
            self.tm.commit()
            return None
        except NOT_HELD as error:
            self.tm.abort()
            dropped(outcome, error)
            return None
        except TransientError as error:
            self.tm.abort()
            log.info('job %s: its commit conflicted (%s); it runs again if '
                     'it is still held', outcome.jobid, error)
            return error
        except Exception as error:
            self.tm.abort()
            log.exception('the result of job %s could not be stored',
                          outcome.jobid)
            return Outcome(
                outcome.jobid, outcome.attempt, runs=outcome.runs,
                error=f'the result could not be stored: '
                      f'{type(error).__name__}: {error}')

    def _notOurs(self, service, claim) -> Optional[str]:
        """Why the job of `claim` is no longer in this worker's hand for
        this attempt, or None if it is."""
        job = service.jobs.get(claim.jobid)
        if job is None:
            return 'it was removed'
        if job.status != PROCESSING or job.attempts != claim.attempt or \
                job.worker != self.workerId:
            return (f'it is {job.status} in attempt {job.attempts}'
                    + (f' of worker {job.worker}' if job.worker else ''))
        return None

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
            except NOT_HELD as error:
                dropped(outcome, error)   # checked before any change


def _withRuns(outcome, runs: int) -> Outcome:
    return dataclasses.replace(outcome, runs=runs)


def _nothingJoined(txn) -> bool:
    """Whether no data manager joined `txn`: nothing was written yet.

    A connection joins the transaction when an object of it is first
    changed; `transaction` keeps them in a private list and offers no
    public way to ask.  Should it ever rename the list, this says False,
    and a task that wrote nothing commits its outcome itself.
    """
    return getattr(txn, '_resources', None) == []


def dropped(outcome, error) -> None:
    log.warning('outcome of job %s attempt %s dropped: %s',
                outcome.jobid, outcome.attempt, error)
