"""One attempt of a job: its claim, the call of its task, its outcome.

This is the one place where task code is called.  A claim (`Claim`) says
what running the job needs: its attempt, its task, looked up once for the
attempt, its input and time limit.  What comes of it is an `Outcome`, a
plain value that the service records in a transaction of its own choosing
(the same one, or a later one).  How long each run took goes to the
metrics' histogram of this process.
"""
import dataclasses
import logging
import threading
import traceback as tracebacks
from typing import Any, Optional

import transaction
from transaction.interfaces import TransientError

from lovely.remotetask import retrying
from lovely.remotetask.exceptions import TaskError
from lovely.remotetask.interfaces import CANCELLED
from lovely.remotetask.runtime.context import JobContext, JobStopped
from lovely.remotetask.timing.retry import RetryTask, policyOf

try:
    import prometheus_client
except ImportError:   # pragma: no cover - the package is optional
    prometheus_client = None

log = logging.getLogger('lovely.remotetask')


@dataclasses.dataclass(frozen=True)
class Claim:
    """A job claimed for one attempt, with what running it needs."""

    jobid: int
    attempt: int
    #: The task's name, and the task registered under it (None if none is).
    taskName: str
    task: Any
    input: Any = None
    #: Attempts made before the job was last retried by hand (see
    #: `IJob.retryBase`): the retry policy counts those since.
    retryBase: int = 0
    #: The queue of the job.
    queue: str = 'default'

    @property
    def timeLimit(self) -> Optional[float]:
        return getattr(self.task, 'timeLimit', None)


@dataclasses.dataclass(frozen=True)
class Outcome:
    """What one attempt of a job came to."""

    jobid: int
    #: The attempt that produced it; a record for another attempt is stale.
    attempt: int
    output: Any = None
    #: The failure message, None when the task succeeded.
    error: Optional[str] = None
    #: Whether the job is to be tried again (by its task's retry policy,
    #: attempts left included).
    retryable: bool = False
    #: Seconds to wait before that attempt.
    wait: float = 0.0
    #: Whether the task stopped because its job was cancelled.
    cancelled: bool = False
    #: The traceback of an unexpected exception, for the job's history.
    traceback: Optional[str] = None
    #: How often the task was called for the attempt (a run whose
    #: transaction conflicted runs again).
    runs: int = 1
    #: The application's objects its transaction wrote, as
    #: `changes.Change` tuples, and how many more there were.
    changes: tuple = ()
    moreChanges: int = 0

    @property
    def ok(self) -> bool:
        return self.error is None

    @classmethod
    def failed(cls, claim: Claim, error: str, retryable: bool = False,
               wait: float = 0.0, traceback: Optional[str] = None):
        return cls(claim.jobid, claim.attempt, error=error,
                   retryable=retryable, wait=wait, traceback=traceback)


def runJob(service, claim: Claim) -> Outcome:
    """Call the claimed job's task and classify what happened.

    Conflict errors are not the task's fault and are raised: the caller
    aborts the transaction and runs the task again.  Anything else that
    comes out of a task, `BaseException`s too, is the job's outcome; only
    a KeyboardInterrupt in the main thread (Ctrl-C) goes on up.
    """
    task = claim.task
    if task is None:
        return Outcome.failed(claim, f'task {claim.taskName!r} is not '
                                     f'registered')
    policy = policyOf(task)
    attempt = claim.attempt - claim.retryBase
    attemptsLeft = attempt < policy.maxAttempts
    try:
        with JobContext(service, claim.jobid, claim.timeLimit,
                        _reporter(service, claim.jobid)):
            output = task(service, claim.jobid, claim.input)
    except JobStopped as stop:
        return Outcome(claim.jobid, claim.attempt, error=stop.reason,
                       cancelled=stop.reason == CANCELLED)
    except RetryTask as error:
        return Outcome.failed(claim, str(error), retryable=attemptsLeft,
                              wait=policy.wait(attempt, error))
    except TaskError as error:
        return Outcome.failed(claim, str(error))
    except TransientError:
        raise
    except BaseException as error:
        if isinstance(error, KeyboardInterrupt) and \
                threading.current_thread() is threading.main_thread():
            raise
        # Whatever else: a task calling sys.exit(), an asyncio
        # CancelledError, a GeneratorExit must not end a worker.
        log.exception('job %s (task %r) failed on attempt %s',
                      claim.jobid, claim.taskName, claim.attempt)
        retryable = attemptsLeft and policy.retries(error)
        return Outcome.failed(
            claim, f'{type(error).__name__}: {error}', retryable=retryable,
            wait=policy.wait(attempt, error) if retryable else 0.0,
            traceback=tracebacks.format_exc())
    return Outcome(claim.jobid, claim.attempt, output=output)


def _reporter(service, jobid):
    """How the task's progress reports reach the database: committed at
    once through a connection of their own, when the service is stored."""
    if service._p_jar is None or service._p_oid is None:
        return lambda fraction, message: service.setProgress(
            jobid, fraction, message)
    db, oid = service._p_jar.db(), service._p_oid

    def report(fraction, message):
        tm = transaction.TransactionManager()
        connection = db.open(transaction_manager=tm)
        try:
            retrying.commitOrRetry(
                tm, lambda: connection.get(oid).setProgress(
                    jobid, fraction, message), tries=5)
        finally:
            connection.close()
    return report


if prometheus_client is not None:
    RUN_SECONDS = prometheus_client.Histogram(
        'remotetask_task_run_seconds', 'Seconds a task took to run, by task',
        ['task'])
else:   # pragma: no cover
    RUN_SECONDS = None


def observeRun(task: str, seconds: float) -> None:
    """Count a run of `task` that took `seconds`, for the metrics (nothing
    without prometheus_client)."""
    if RUN_SECONDS is not None:
        RUN_SECONDS.labels(task=task).observe(seconds)
