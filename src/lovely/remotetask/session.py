"""The transaction steps of a processor, each on a connection of its own.

A `Session` is a connection with its own transaction manager, and the
steps a processor takes on it: claim (recording what is pending in the
same commit), run a claim's task, record outcomes, give back what was not
started.  The processor's loops (see `processor`) decide when to take
which step.
"""
import contextlib
import logging
import random
import threading
import time
from typing import Optional

import transaction
from transaction.interfaces import TransientError

from lovely.remotetask import runtimes
from lovely.remotetask.defaults import (
    CONFLICT_RETRIES, CONFLICT_WAIT, RECORD_TIMEOUT)
from lovely.remotetask.exceptions import JobStateError
from lovely.remotetask.interfaces import CANCELLED
from lovely.remotetask.run import Outcome, runJob

log = logging.getLogger('lovely.remotetask')

#: What `Session.claim` returns when its commit conflicted.
CONFLICT = object()

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


class Backoff:
    """Waits that grow while a step keeps failing for passing reasons
    (conflicts, a database server that is restarting), with jitter so that
    steps that failed together do not try again together."""

    def __init__(self, first: float = 0.001, limit: float = 1.0) -> None:
        self.first, self.limit = first, limit
        self.next = 0.0

    def reset(self) -> None:
        self.next = 0.0

    def wait(self, event: Optional[threading.Event] = None) -> None:
        if self.next:
            pause = self.next * random.uniform(0.5, 1.5)
            if event is None:
                time.sleep(pause)
            else:
                event.wait(pause)
        self.next = min(self.limit, max(self.first, 2 * self.next))


class Session:
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
        backoff = Backoff()
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

        Returns the claims, or CONFLICT (then nothing was done).  See
        `IWorkerProtocol.claim` for `inHand`.
        """
        self.tm.begin()
        try:
            service = self.service()
            self._recordAll(service, outcomes)
            claims = service.claim(self.workerId, limit, inHand)
            self.tm.commit()
        except TransientError:
            self.tm.abort()
            return CONFLICT
        except BaseException:
            self.tm.abort()
            raise
        return claims

    def release(self, claims, outcomes=()) -> None:
        """Record `outcomes` and give back claimed jobs not started."""
        def step(service):
            self._recordAll(service, outcomes)
            for claim in claims:
                try:
                    service.releaseJob(claim.jobid, claim.attempt)
                except JobStateError:
                    pass   # taken back meanwhile
        try:
            self.commitOrRetry(step)
        except TransientError:
            log.error('jobs %s could not be given back; they will be taken '
                      'back when their leases expire',
                      [claim.jobid for claim in claims])

    def run(self, claim):
        """Run a claim's task; return its outcome for `record`, or None
        when it was recorded already.

        When the task succeeded and wrote to the database, the outcome is
        recorded in the task's own transaction: the two commit together.
        When that commit conflicts, or the task itself meets a conflict,
        the task's writes are lost: it runs again, after a growing wait
        with jitter, up to CONFLICT_RETRIES times, without counting an
        attempt.  Any other outcome is free of the task's transaction and
        is left to the caller, to record with others in one commit.
        """
        backoff = Backoff(first=CONFLICT_WAIT)
        for conflicts in range(CONFLICT_RETRIES + 1):
            if conflicts:
                backoff.wait()
            self.tm.begin()
            service = self.service()
            if service.stopRequested([claim.jobid]):
                # Cancelled while it waited its turn: never started.
                self.tm.abort()
                return Outcome(claim.jobid, claim.attempt, error=CANCELLED,
                               cancelled=True)
            started = time.monotonic()
            try:
                outcome = runJob(service, claim)
            except TransientError as error:
                self.tm.abort()
                conflict = error
                continue
            finally:
                runtimes.observeRun(claim.taskName,
                                    time.monotonic() - started)
            if not outcome.ok or _nothingJoined(self.tm.get()):
                self.tm.abort()
                return outcome
            try:
                service.recordOutcome(outcome)
                self.tm.commit()
                return None
            except JobStateError as error:
                self.tm.abort()
                dropped(outcome, error)
                return None
            except TransientError as error:
                self.tm.abort()
                conflict = error
                log.info('job %s: its commit conflicted (%s); it runs '
                         'again', claim.jobid, error)
            except Exception as error:
                self.tm.abort()
                log.exception('the result of job %s could not be stored',
                              claim.jobid)
                return Outcome(
                    claim.jobid, claim.attempt,
                    error=f'the result could not be stored: '
                          f'{type(error).__name__}: {error}')
        return Outcome(
            claim.jobid, claim.attempt, retryable=True,
            error=f'conflicted {CONFLICT_RETRIES + 1} times: '
                  f'{type(conflict).__name__}: {conflict}')

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
                dropped(outcome, error)   # checked before any change


def _nothingJoined(txn) -> bool:
    """Whether no data manager joined `txn`: nothing was written yet.

    A connection joins the transaction when an object of it is first
    changed.  Should `transaction` ever rename its private list, this says
    False, and a task that wrote nothing commits its outcome itself.
    """
    return getattr(txn, '_resources', None) == []


def dropped(outcome, error) -> None:
    log.warning('outcome of job %s attempt %s dropped: %s',
                outcome.jobid, outcome.attempt, error)
