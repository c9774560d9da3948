"""Retry policies: when a failed attempt is tried again, and after how long.

A policy is a plain value that a task carries (``SimpleTask(func,
retry=RetryPolicy(...))``); the arithmetic is pure.
"""
import dataclasses
import random
from typing import Optional, Tuple, Type

from lovely.remotetask import checks
from lovely.remotetask.defaults import MAX_ATTEMPTS
from lovely.remotetask.exceptions import (
    InvalidArgumentError, RemoteTaskError, TaskError)


class RetryTask(RemoteTaskError):
    """Raised by a task to be tried again (after `delay` seconds, or as its
    policy says), whatever exception policy it has."""

    def __init__(self, message: str = 'the task asked to be tried again',
                 delay: Optional[float] = None) -> None:
        super().__init__(message)
        self.delay = checks.seconds('delay', delay,
                                    noneMeans='for the policy\'s wait')


@dataclasses.dataclass(frozen=True)
class RetryPolicy:
    """How often and how soon a failed job is tried again.

    The n-th retry waits ``delay * factor ** (n - 1)`` seconds, at most
    `maxDelay`, give or take `jitter` (a fraction of the wait).  Without a
    `delay` a retry comes at once (the seed's rule).  Only exceptions of
    the `retryOn` classes are retried; `TaskError` never is.
    """
    maxAttempts: int = MAX_ATTEMPTS
    retryOn: Tuple[Type[BaseException], ...] = (Exception, SystemExit)
    delay: Optional[float] = None
    factor: float = 2.0
    maxDelay: float = 3600.0
    jitter: float = 0.1

    def __post_init__(self):
        checks.whole('maxAttempts', self.maxAttempts)
        if not isinstance(self.retryOn, tuple) or not all(
                isinstance(kind, type) and issubclass(kind, BaseException)
                for kind in self.retryOn):
            raise InvalidArgumentError(
                f'retryOn must be a tuple of exception classes, not '
                f'{self.retryOn!r}')
        checks.seconds('delay', self.delay, positive=True,
                       noneMeans='to retry at once')
        checks.seconds('maxDelay', self.maxDelay, positive=True)
        if not checks.isNumber(self.factor) or self.factor < 1:
            raise InvalidArgumentError(
                f'factor must be a number of at least 1, not '
                f'{self.factor!r}')
        if not checks.isNumber(self.jitter) or not 0 <= self.jitter < 1:
            raise InvalidArgumentError(
                f'jitter must be a fraction from 0 up to 1, not '
                f'{self.jitter!r}')

    def retries(self, error: BaseException) -> bool:
        """Whether an attempt that raised `error` may be tried again."""
        if isinstance(error, RetryTask):
            return True
        return isinstance(error, self.retryOn) and \
            not isinstance(error, TaskError)

    def wait(self, attempt: int, error: BaseException = None,
             rand: float = None) -> float:
        """Seconds to wait after failed `attempt` (1 for the first)."""
        if isinstance(error, RetryTask) and error.delay is not None:
            return error.delay
        if self.delay is None:
            return 0.0
        wait = min(self.maxDelay, self.delay * self.factor ** (attempt - 1))
        if rand is None:
            rand = random.random()
        return wait * (1 + self.jitter * (2 * rand - 1))


#: Three attempts for unexpected exceptions, the second about 2 seconds
#: after the first fails, the third about 8 seconds after the second.
DEFAULT_POLICY = RetryPolicy(delay=2.0, factor=4.0, jitter=0.2)

#: One attempt: a task that must not run twice (a charge).
NO_RETRY = RetryPolicy(maxAttempts=1)


def policyOf(task) -> RetryPolicy:
    """The retry policy of `task`: its own, or the default."""
    return getattr(task, 'retry', None) or DEFAULT_POLICY
