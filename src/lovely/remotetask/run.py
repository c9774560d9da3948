"""Running a claimed job's task: the one place where task code is called.

The result is an `Outcome`, a plain value that the service records in a
transaction of its own choosing (the same one, or a later one).
"""
import dataclasses
import logging
from typing import Any, Optional

from transaction.interfaces import TransientError

from lovely.remotetask.exceptions import TaskError
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
    try:
        output = task(service, job.id, job.input)
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
