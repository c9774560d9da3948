"""Tasks: the named callables that jobs run.

A task is a utility providing `ITask`, registered under its name in the
`zope.component` registry, so a site can offer its own tasks.
"""
from typing import Callable, Optional

import zope.component
from zope.interface import implementer

from lovely.remotetask.exceptions import TaskError
from lovely.remotetask.interfaces import ITask

__all__ = ['SimpleTask', 'TaskError', 'provideTask']


@implementer(ITask)
class SimpleTask:
    """Adapts a function of the input alone to the task signature."""

    def __init__(self, func: Callable) -> None:
        self.func = func

    def __call__(self, service, jobid, input):
        return self.func(input)

    def __repr__(self):
        return f'<{type(self).__name__} {self.func!r}>'


def provideTask(func: Optional[Callable] = None, *, name: Optional[str] = None):
    """Register a function of the input as a task, named after it.

    Use it as a call, ``provideTask(echo)``, or as a decorator, bare or with
    a name: ``@provideTask(name='echo')``.  The function is returned as it is.
    """
    def register(func):
        zope.component.provideUtility(
            SimpleTask(func), ITask, name=name or func.__name__)
        return func

    return register if func is None else register(func)
