"""Tasks: the named callables that jobs run.

A task is a utility providing `ITask`, registered under its name in the
`zope.component` registry, so a site can offer its own tasks.
"""
import functools
import multiprocessing
from typing import Callable, Optional, Tuple

import zope.component
from zope.interface import implementer

from lovely.remotetask import checks
from lovely.remotetask.runtime import context
from lovely.remotetask.exceptions import InvalidArgumentError, TaskError
from lovely.remotetask.interfaces import ITask
from lovely.remotetask.timing.retry import NO_RETRY, RetryPolicy

__all__ = ['ProcessTask', 'SimpleTask', 'TaskError', 'provideTask']


@implementer(ITask)
class SimpleTask:
    """Adapts a function of the input alone to the task signature.

    `retry` is the task's `RetryPolicy` (by default `DEFAULT_POLICY`:
    three attempts, waiting longer after each failure), or False for none;
    `timeLimit` the seconds after which a processor asks the task to stop
    and, should it go on, reports it timed out.  The limits, enforced
    across every process that shares the database: `concurrency`, the
    most of its jobs that run at once; `rate`, (count, seconds): the most
    that start in any so many seconds; `partitionBy`, the key of a dict
    input (or a function of the input) whose value splits both limits by
    partition (at most so many per account).  `localConcurrency` is the
    most of its jobs that run at once in one processor (a machine with one
    GPU).  `queue` is the queue its jobs go to unless `add` says
    otherwise.
    """

    def __init__(self, func: Callable, retry=None,
                 timeLimit: Optional[float] = None, *,
                 concurrency: Optional[int] = None,
                 rate: Optional[Tuple[int, float]] = None,
                 partitionBy=None, queue: Optional[str] = None,
                 localConcurrency: Optional[int] = None) -> None:
        if not callable(func):
            raise InvalidArgumentError(
                f'a task is a function of the input, not {func!r}')
        if retry is False:
            retry = NO_RETRY
        if retry is not None and not isinstance(retry, RetryPolicy):
            raise InvalidArgumentError(
                f'retry must be a RetryPolicy, False or None, not {retry!r}')
        checks.seconds('timeLimit', timeLimit, positive=True,
                       noneMeans='for no limit')
        self.func = func
        self.retry = retry
        self.timeLimit = timeLimit
        self.concurrency = None if concurrency is None else \
            checks.whole('concurrency', concurrency)
        self.rate = checkRate(rate)
        self.localConcurrency = None if localConcurrency is None else \
            checks.whole('localConcurrency', localConcurrency)
        if partitionBy is not None and not (
                callable(partitionBy) or
                isinstance(partitionBy, str) and partitionBy):
            raise InvalidArgumentError(
                f'partitionBy must be the key of a dict input or a function '
                f'of the input, not {partitionBy!r}')
        if partitionBy is not None and concurrency is None and rate is None:
            raise InvalidArgumentError(
                'partitionBy splits a concurrency or a rate: give one')
        self.partitionBy = partitionBy
        self.queue = None if queue is None else checkQueue(queue)

    def __call__(self, service, jobid, input):
        return self.func(input)

    def __repr__(self):
        return f'<{type(self).__name__} {self.func!r}>'


def provideTask(func: Optional[Callable] = None, *,
                name: Optional[str] = None, retry=None,
                timeLimit: Optional[float] = None, **limits):
    """Register a function of the input as a task, named after it.

    Use it as a call, ``provideTask(echo)``, or as a decorator, bare or with
    options: ``@provideTask(name='echo', retry=RetryPolicy(delay=5))``.
    The function is returned as it is.
    """
    task = functools.partial(SimpleTask, retry=retry, timeLimit=timeLimit,
                             **limits)
    task(lambda input: None)   # bad options fail here, not at the first run

    def register(func):
        made = task(func)
        named = getattr(func, '__name__', None) if name is None else name
        if not isinstance(named, str) or not named:
            raise InvalidArgumentError(
                f'a task name is a non-empty string (give name=...), not '
                f'{named!r}')
        zope.component.provideUtility(made, ITask, name=named)
        return func

    return register if func is None else register(func)


@implementer(ITask)
class ProcessTask(SimpleTask):
    """Runs a function of the input in a child process of its own.

    A thread cannot be stopped from outside; a process can.  When the job
    is cancelled or its `timeLimit` passes, the child is killed and the job
    stops at once.  The function must be importable (defined at module
    level), and its input and result picklable: the child is started
    afresh ('spawn'), so it shares nothing with the worker.
    """

    def __call__(self, service, jobid, input):
        spawn = multiprocessing.get_context('spawn')
        receiver, sender = spawn.Pipe(duplex=False)
        child = spawn.Process(target=_runInChild,
                              args=(self.func, input, sender), daemon=True)
        child.start()
        sender.close()
        try:
            while not receiver.poll(0.05):
                if not child.is_alive():
                    raise TaskError(f'the child process ended with exit '
                                    f'code {child.exitcode} and no result')
                context.checkpoint()
            kind, value = receiver.recv()
        finally:
            if child.is_alive():
                child.kill()
            child.join()
            receiver.close()
        if kind == 'ok':
            return value
        if kind == 'taskerror':
            raise TaskError(value)
        raise RuntimeError(value)


def _runInChild(func, input, sender):
    try:
        sender.send(('ok', func(input)))
    except TaskError as error:
        sender.send(('taskerror', str(error)))
    except BaseException as error:
        sender.send(('error', f'{type(error).__name__}: {error}'))
    finally:
        sender.close()


def checkRate(rate) -> Optional[Tuple[int, float]]:
    """A rate: (count, seconds), at most `count` starts in any `seconds`."""
    if rate is None:
        return None
    if not isinstance(rate, (tuple, list)) or len(rate) != 2:
        raise InvalidArgumentError(
            f'a rate is (count, seconds), not {rate!r}')
    return (checks.whole('the count of a rate', rate[0]),
            checks.seconds('the seconds of a rate', rate[1], positive=True))


def checkQueue(name) -> str:
    """A queue's name: a non-empty string of letters, digits, '-', '_'
    and '.'."""
    if not isinstance(name, str) or not name or len(name) > 100 or \
            not all(char.isalnum() or char in '-_.' for char in name):
        raise InvalidArgumentError(
            f'a queue is named by letters, digits, "-", "_" and ".", not '
            f'{name!r}')
    return name


def partitionOf(task, input) -> str:
    """The partition of a job of `task` with `input`: '' for a task that
    has none, else the value at its partition key, as text."""
    by = getattr(task, 'partitionBy', None)
    if by is None:
        return ''
    value = by(input) if callable(by) else (
        input.get(by) if isinstance(input, dict) else None)
    return '' if value is None else str(value)
