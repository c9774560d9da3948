"""Running a claimed job's task: the one place where task code is called.

The result is an `Outcome`, a plain value that the service records in a
transaction of its own choosing (the same one, or a later one).
"""
import dataclasses
import logging
from typing import Any, Optional

import transaction
from transaction.interfaces import TransientError

from lovely.remotetask.context import JobContext, JobStopped
from lovely.remotetask.exceptions import TaskError
from lovely.remotetask.interfaces import CANCELLED
from lovely.remotetask.retry import DEFAULT_POLICY, RetryTask

log = logging.getLogger('lovely.remotetask')


@dataclasses.dataclass(frozen=True)
class Outcome:
    """What one attempt of a job came to."""

    jobid: int
    #: The attempt that produced it; a record for another attempt is stale.
    attempt: int
    output: Any = None
    #: The failure message, None when the task succeeded.
    error: Optional[str] = None
    #: Whether another attempt may succeed (by the task's retry policy).
    retryable: bool = False
    #: Seconds to wait before that attempt.
    wait: float = 0.0
    #: Whether the task stopped because its job was cancelled.
    cancelled: bool = False

    @property
    def ok(self) -> bool:
        return self.error is None

    @classmethod
    def failed(cls, job, error: str, retryable: bool,
               wait: float = 0.0) -> 'Outcome':
        return cls(job.id, job.attempts, error=error, retryable=retryable,
                   wait=wait)


def runJob(service, job) -> Outcome:
    """Call the job's task and classify what happened.

    Conflict errors are not the task's fault and are raised: the caller
    aborts the transaction and tries again.
    """
    task = service.queryTask(job.task)
    if task is None:
        return Outcome.failed(
            job, f'task {job.task!r} is not registered', retryable=False)
    policy = getattr(task, 'retry', None) or DEFAULT_POLICY
    timeLimit = getattr(task, 'timeLimit', None)
    try:
        with JobContext(service, job.id, timeLimit, _reporter(service, job)):
            output = task(service, job.id, job.input)
    except JobStopped as stop:
        return Outcome(job.id, job.attempts, error=stop.reason,
                       cancelled=stop.reason == CANCELLED)
    except RetryTask as error:
        return Outcome.failed(job, str(error), retryable=True,
                              wait=policy.wait(job.attempts, error))
    except TaskError as error:
        return Outcome.failed(job, str(error), retryable=False)
    except TransientError:
        raise
    except (Exception, SystemExit) as error:
        # SystemExit too: a task calling sys.exit() must not end a worker.
        log.exception('job %s (task %r) failed on attempt %s',
                      job.id, job.task, job.attempts)
        retryable = policy.retries(error)
        return Outcome.failed(
            job, f'{type(error).__name__}: {error}', retryable=retryable,
            wait=policy.wait(job.attempts, error) if retryable else 0.0)
    return Outcome(job.id, job.attempts, output=output)


def _reporter(service, job):
    """How the task's progress reports reach the database: committed at
    once through a connection of their own, when the service is stored."""
    jobid = job.id
    if service._p_jar is None or service._p_oid is None:
        return lambda fraction, message: service.setProgress(
            jobid, fraction, message)
    db, oid = service._p_jar.db(), service._p_oid

    def report(fraction, message):
        tm = transaction.TransactionManager()
        connection = db.open(transaction_manager=tm)
        try:
            for attempt in tm.attempts(5):
                with attempt:
                    connection.get(oid).setProgress(jobid, fraction, message)
        finally:
            connection.close()
    return report
