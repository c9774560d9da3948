"""Tasks: the named callables that jobs run.

A task is a utility providing `ITask`, registered under its name in the
`zope.component` registry, so a site can offer its own tasks.
"""
import functools
from typing import Callable, Optional

import zope.component
from zope.interface import implementer

from lovely.remotetask.exceptions import TaskError
from lovely.remotetask.interfaces import ITask
from lovely.remotetask.retry import RetryPolicy

__all__ = ['SimpleTask', 'TaskError', 'provideTask']


@implementer(ITask)
class SimpleTask:
    """Adapts a function of the input alone to the task signature.

    `retry` is the task's `RetryPolicy` (by default the seed's rule: three
    attempts at once for unexpected exceptions); `timeLimit` the seconds
    after which a processor asks the task to stop and, should it go on,
    reports it timed out.
    """

    def __init__(self, func: Callable, retry: Optional[RetryPolicy] = None,
                 timeLimit: Optional[float] = None) -> None:
        if timeLimit is not None and (
                isinstance(timeLimit, bool)
                or not isinstance(timeLimit, (int, float))
                or not timeLimit > 0):
            raise ValueError(
                f'timeLimit must be seconds > 0, not {timeLimit!r}')
        self.func = func
        self.retry = retry
        self.timeLimit = timeLimit

    def __call__(self, service, jobid, input):
        return self.func(input)

    def __repr__(self):
        return f'<{type(self).__name__} {self.func!r}>'


def provideTask(func: Optional[Callable] = None, *,
                name: Optional[str] = None,
                retry: Optional[RetryPolicy] = None,
                timeLimit: Optional[float] = None):
    """Register a function of the input as a task, named after it.

    Use it as a call, ``provideTask(echo)``, or as a decorator, bare or with
    options: ``@provideTask(name='echo', retry=RetryPolicy(delay=5))``.
    The function is returned as it is.
    """
    task = functools.partial(SimpleTask, retry=retry, timeLimit=timeLimit)
    task(lambda input: None)   # bad options fail here, not at the first run

    def register(func):
        zope.component.provideUtility(
            task(func), ITask, name=name or func.__name__)
        return func

    return register if func is None else register(func)
