"""Retry policies: when a failed attempt is tried again, and after how long.

A policy is a plain value that a task carries (``SimpleTask(func,
retry=RetryPolicy(...))``); the arithmetic is pure.
"""
import dataclasses
import math
import random
from typing import Optional, Tuple, Type

from lovely.remotetask.defaults import MAX_ATTEMPTS
from lovely.remotetask.exceptions import RemoteTaskError, TaskError


class RetryTask(RemoteTaskError):
    """Raised by a task to be tried again (after `delay` seconds, or as its
    policy says), whatever exception policy it has."""

    def __init__(self, message: str = 'the task asked to be tried again',
                 delay: Optional[float] = None) -> None:
        super().__init__(message)
        if delay is not None:
            _checkSeconds('delay', delay, zero=True)
        self.delay = delay


def _checkSeconds(name, value, zero=False):
    if isinstance(value, bool) or not isinstance(value, (int, float)) \
            or not math.isfinite(value) or value < 0 or \
            (value == 0 and not zero):
        raise ValueError(f'{name} must be a number of seconds '
                         f'{">= 0" if zero else "> 0"}, not {value!r}')


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
        if isinstance(self.maxAttempts, bool) or \
                not isinstance(self.maxAttempts, int) or self.maxAttempts < 1:
            raise ValueError(f'maxAttempts must be an int >= 1, '
                             f'not {self.maxAttempts!r}')
        if self.delay is not None:
            _checkSeconds('delay', self.delay)
        _checkSeconds('maxDelay', self.maxDelay)
        if not (isinstance(self.factor, (int, float)) and self.factor >= 1):
            raise ValueError(f'factor must be >= 1, not {self.factor!r}')
        if not (isinstance(self.jitter, (int, float))
                and 0 <= self.jitter < 1):
            raise ValueError(f'jitter must be in [0, 1), not {self.jitter!r}')

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


#: The seed's rule: three attempts at once for unexpected exceptions.
DEFAULT_POLICY = RetryPolicy()


def policyOf(task) -> RetryPolicy:
    """The retry policy of `task`: its own, or the default."""
    return getattr(task, 'retry', None) or DEFAULT_POLICY
