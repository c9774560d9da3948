"""Refuse, as it is registered, a task that cannot be called as one.

A task is called ``task(service, jobid, input)``.  A function written for
`lovely.remotetask.hosts.zope.ZopeTask` (``func(context, input)``) registered
as it is, without the wrapper, would start without complaint and fail
every job with ``TypeError: ... takes 2 positional arguments but 3 were
given``; ``configure.zcml`` subscribes `checkRegistration`, so that ZCML
naming such a function stops the host's start with a message saying what
to do.
"""
import inspect

from lovely.remotetask.interfaces import ITask


class NotATaskError(TypeError):
    """A callable registered as a task that a job cannot call."""


def checkTask(component, name: str = '') -> None:
    """Raise `NotATaskError` unless `component` takes (service, jobid,
    input)."""
    try:
        inspect.signature(component).bind(None, None, None)
    except TypeError:
        what = getattr(component, '__qualname__', None) or repr(component)
        raise NotATaskError(
            f'the task {name!r} is {what}, which cannot be called as a '
            f'task is, with (service, jobid, input): wrap the function, '
            f'ZopeTask(func) in Zope or Plone (func(context, input)), '
            f'SimpleTask(func) elsewhere (func(input)), and register that'
        ) from None
    except ValueError:
        pass   # no signature to read (a builtin): let it be


def checkRegistration(registration, event) -> None:
    """For utilities registered as `ITask`: `checkTask`."""
    if registration.provided.isOrExtends(ITask):
        checkTask(registration.component, registration.name)
