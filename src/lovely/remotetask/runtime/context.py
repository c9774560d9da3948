"""What a running task may ask of its job: to report progress, and whether
it has been asked to stop.

A thread cannot be stopped from outside in Python: a task that runs long
should call `checkpoint()` (or test `stopRequested()`) now and then, and
stop when asked, because its job was cancelled or its time limit passed.
A task that does not is reported timed out and left to finish on its own;
where a hard stop is needed, run the work in a child process
(`lovely.remotetask.task.ProcessTask`).
"""
import threading
import time
from typing import Optional

from lovely.remotetask.checks import isNumber
from lovely.remotetask.exceptions import (
    InvalidArgumentError, RemoteTaskError)

_local = threading.local()
_lock = threading.Lock()
_running = {}


class JobStopped(RemoteTaskError):
    """Raised by `checkpoint()` in a task that was asked to stop."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class JobContext:
    """The running job of the current thread."""

    def __init__(self, service, jobid: int, timeLimit: Optional[float],
                 report) -> None:
        self.service = service
        self.jobid = jobid
        self.timeLimit = timeLimit
        self.deadline = (None if timeLimit is None
                         else time.monotonic() + timeLimit)
        self.reason = None
        self._report = report

    @property
    def key(self):
        return (self.service._p_oid, self.jobid)

    def requestStop(self, reason: str) -> None:
        self.reason = self.reason or reason

    def stopReason(self) -> Optional[str]:
        if self.reason is None and self.deadline is not None and \
                time.monotonic() >= self.deadline:
            self.reason = f'timed out after {self.timeLimit:g} s'
        return self.reason

    def __enter__(self):
        self._outer = getattr(_local, 'context', None)
        _local.context = self
        with _lock:
            _running[self.key] = self
        return self

    def __exit__(self, *exc_info):
        _local.context = self._outer
        with _lock:
            if _running.get(self.key) is self:
                del _running[self.key]


def current() -> Optional[JobContext]:
    """The context of the job that runs in this thread, or None."""
    return getattr(_local, 'context', None)


def stopRequested() -> bool:
    """Whether the running job was asked to stop (cancelled, or past its
    time limit).  False outside a job."""
    context = current()
    return context is not None and context.stopReason() is not None


def checkpoint() -> None:
    """Raise `JobStopped` if the running job was asked to stop."""
    context = current()
    if context is not None and context.stopReason() is not None:
        raise JobStopped(context.stopReason())


def reportProgress(fraction: float, message: str = '') -> None:
    """Report how far the running job got (0 to 1) and what it does.

    The report is committed at once, apart from the task's transaction, to
    an object of its own: it shows while the task runs and never conflicts
    with what the task writes.
    """
    checkProgress(fraction, message)
    context = current()
    if context is None:
        raise RemoteTaskError('reportProgress() called outside a job')
    context._report(fraction, message)


def checkProgress(fraction, message) -> None:
    if not isNumber(fraction) or not 0 <= fraction <= 1:
        raise InvalidArgumentError(
            f'progress must be a fraction from 0 to 1, not {fraction!r}')
    if not isinstance(message, str) or len(message) > 200:
        raise InvalidArgumentError(
            'a progress message is a string of at most 200 characters')


def requestStop(serviceOid: bytes, jobid: int, reason: str) -> bool:
    """Ask the job running in this process to stop; False if none runs."""
    with _lock:
        context = _running.get((serviceOid, jobid))
    if context is None:
        return False
    context.requestStop(reason)
    return True
