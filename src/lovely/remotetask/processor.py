"""Processors: the loops that run a service's jobs in the background.

Each loop has its own connection and transaction manager.  A job takes
three steps, each committed on its own:

1. claim: the job leaves the queue and becomes ``processing``;
2. run: the task is called;
3. record: the outcome is stored.  When the task succeeded, record commits
   together with whatever the task wrote, so the two stand or fall together;
   when it failed, the task's writes are aborted and the failure is recorded
   in a fresh transaction.

A conflict while claiming is simply tried again.  A conflict while the
task ran or its success was recorded costs the attempt: the job goes back
to the queue (the task's writes were lost, so it must run again).
"""
import logging
import threading
from typing import Optional

import transaction
from transaction.interfaces import TransientError
from zope.interface import implementer

from lovely.remotetask.exceptions import JobStateError
from lovely.remotetask.interfaces import IProcessor
from lovely.remotetask.run import Outcome, runJob

log = logging.getLogger('lovely.remotetask')

#: Seconds an idle processor waits before it looks for due jobs again.
WAIT_TIME = 1.0

#: How often recording an outcome is tried before the job is left as it is.
RECORD_TRIES = 20

_CONFLICT = object()


class _Session:
    """A connection of one's own, and the three steps of a job on it."""

    def __init__(self, db, serviceOid: bytes) -> None:
        self.tm = transaction.TransactionManager()
        self.connection = db.open(transaction_manager=self.tm)
        self.serviceOid = serviceOid

    def close(self) -> None:
        self.tm.abort()
        self.connection.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc_info):
        self.close()

    def _service(self):
        return self.connection.get(self.serviceOid)

    def claim(self):
        """Claim the next job: its id, None when idle, or `_CONFLICT`."""
        self.tm.begin()
        try:
            jobid = self._service().claimNextJob()
            self.tm.commit()
        except TransientError:
            self.tm.abort()
            return _CONFLICT
        except BaseException:
            self.tm.abort()
            raise
        return jobid

    def runAndRecord(self, jobid: int) -> None:
        """Run the claimed job and record its outcome."""
        self.tm.begin()
        service = self._service()
        job = service.jobs[jobid]
        try:
            outcome = runJob(service, job)
        except TransientError as error:
            outcome = _conflicted(job.id, job.attempts, error)
        if outcome.ok:
            try:
                service.recordOutcome(outcome)
                self.tm.commit()
                return
            except TransientError as error:
                outcome = _conflicted(outcome.jobid, outcome.attempt, error)
            except Exception as error:
                log.exception('the result of job %s could not be stored',
                              jobid)
                outcome = Outcome(
                    outcome.jobid, outcome.attempt,
                    error=f'the result could not be stored: '
                          f'{type(error).__name__}: {error}')
        self.tm.abort()
        self.record(outcome)

    def record(self, outcome: Outcome) -> bool:
        """Record `outcome` in transactions of its own until one commits."""
        for _ in range(RECORD_TRIES):
            self.tm.begin()
            try:
                self._service().recordOutcome(outcome)
                self.tm.commit()
                return True
            except TransientError:
                self.tm.abort()
            except JobStateError as error:
                # Someone else took the job over; this attempt is void.
                self.tm.abort()
                log.warning('outcome of job %s dropped: %s',
                            outcome.jobid, error)
                return False
            except BaseException:
                self.tm.abort()
                raise
        log.error('outcome of job %s could not be recorded after %s tries',
                  outcome.jobid, RECORD_TRIES)
        return False


def _conflicted(jobid, attempt, error) -> Outcome:
    return Outcome(jobid, attempt, error=f'{type(error).__name__}: {error}',
                   retryable=True)


@implementer(IProcessor)
class SimpleProcessor:
    """Runs one job at a time, in queue order."""

    def __init__(self, db, serviceOid: bytes, waitTime: float = WAIT_TIME,
                 name: Optional[str] = None) -> None:
        self.db = db
        self.serviceOid = serviceOid
        self.waitTime = waitTime
        self.name = name
        self.running = True
        self._wakeup = threading.Event()

    def wake(self) -> None:
        """Look for jobs now rather than after the wait."""
        self._wakeup.set()

    def stop(self) -> None:
        """Stop after the job in hand."""
        self.running = False
        self._wakeup.set()

    def __call__(self) -> None:
        with _Session(self.db, self.serviceOid) as session:
            while self.running:
                # Cleared before looking, so a wake-up that comes while
                # looking is not lost.
                self._wakeup.clear()
                jobid = self._guarded(session.claim)
                if jobid is _CONFLICT:
                    continue
                if jobid is None:
                    self._wakeup.wait(self.waitTime)
                    continue
                self._runJob(session, jobid)

    def _runJob(self, session, jobid) -> None:
        self._guarded(session.runAndRecord, jobid)

    def _guarded(self, step, *args):
        """Run a step; log what should never happen and carry on."""
        try:
            return step(*args)
        except Exception:
            log.exception('processor %s: unexpected error', self.name)
            self._wakeup.wait(self.waitTime)
            return _CONFLICT


@implementer(IProcessor)
class MultiProcessor(SimpleProcessor):
    """Runs up to `maxThreads` jobs at once, each in a thread of its own."""

    def __init__(self, db, serviceOid: bytes, waitTime: float = WAIT_TIME,
                 maxThreads: int = 5, name: Optional[str] = None) -> None:
        if maxThreads < 1:
            raise ValueError(f'maxThreads must be at least 1, not {maxThreads}')
        super().__init__(db, serviceOid, waitTime, name)
        self.maxThreads = maxThreads
        self._slots = threading.BoundedSemaphore(maxThreads)
        self._threads = set()

    def __call__(self) -> None:
        try:
            with _Session(self.db, self.serviceOid) as session:
                while self.running:
                    if not self._slots.acquire(timeout=self.waitTime):
                        continue
                    self._wakeup.clear()
                    jobid = self._guarded(session.claim)
                    if jobid is None or jobid is _CONFLICT:
                        self._slots.release()
                        if jobid is None:
                            self._wakeup.wait(self.waitTime)
                        continue
                    self._runJob(session, jobid)
        finally:
            for thread in list(self._threads):
                thread.join()

    def _runJob(self, session, jobid) -> None:
        thread = threading.Thread(
            target=self._runInThread, args=(jobid,), daemon=True,
            name=f'remotetask-job-{jobid}')
        self._threads.add(thread)
        thread.start()

    def _runInThread(self, jobid) -> None:
        try:
            with _Session(self.db, self.serviceOid) as session:
                self._guarded(session.runAndRecord, jobid)
        finally:
            self._threads.discard(threading.current_thread())
            self._slots.release()
            self._wakeup.set()
