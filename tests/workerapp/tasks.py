"""Tasks for the worker process tests, imported with --tasks."""
import os
import time

import persistent
import zope.component
from zope.interface import implementer

from lovely.remotetask import RetryPolicy
from lovely.remotetask.interfaces import ITask


@implementer(ITask)
class Append:
    """Writes '<jobid> <pid> start' and '<jobid> <pid> done' lines to the
    file the input names, with O_APPEND so that lines never interleave, and
    waits `delay` seconds in between.  It is tried three times at once:
    the tests see a job fail for good without waiting out a backoff."""

    retry = RetryPolicy()

    def __call__(self, service, jobid, input):
        self.write(input['path'], f'{jobid} {os.getpid()} start')
        if input.get('delay'):
            time.sleep(input['delay'])
        self.write(input['path'], f'{jobid} {os.getpid()} done')
        return os.getpid()

    def write(self, path, line):
        fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        try:
            os.write(fd, (line + '\n').encode())
        finally:
            os.close(fd)


zope.component.provideUtility(Append(), name='append')


@implementer(ITask)
class CronRun(Append):
    """Writes '<due time> <pid> start' and '... done' for a cron job's run:
    a run served twice, or two runs at once, show in the file."""

    def __call__(self, service, jobid, input):
        due = service.jobs[jobid].lastRun
        self.write(input['path'], f'{due} {os.getpid()} start')
        time.sleep(input.get('delay', 0))
        self.write(input['path'], f'{due} {os.getpid()} done')
        return due


zope.component.provideUtility(CronRun(), name='cronrun')


class Counter(persistent.Persistent):
    """One object that many jobs change."""

    value = 0


@implementer(ITask)
class Bump:
    """Adds 1 to the application root's 'counter', `work` seconds after it
    read it: jobs that run at the same time change the same object, and
    their transactions conflict."""

    def __call__(self, service, jobid, input):
        counter = service.__parent__['counter']
        value = counter.value
        time.sleep(input.get('work', 0.002))
        counter.value = value + 1
        return value + 1


zope.component.provideUtility(Bump(), name='bump')


@implementer(ITask)
class Raise:
    """Raises the exception its input names (a builtin, or 'Custom', a
    BaseException of its own), as a task gone wrong would."""

    def __call__(self, service, jobid, input):
        import asyncio
        kinds = dict(CancelledError=asyncio.CancelledError,
                     KeyboardInterrupt=KeyboardInterrupt,
                     GeneratorExit=GeneratorExit, Custom=Custom,
                     SystemExit=SystemExit)
        raise kinds[input]('raised by the task')


class Custom(BaseException):
    pass


zope.component.provideUtility(Raise(), name='raise')


@implementer(ITask)
class Stubborn:
    """Sleeps its input in seconds and ignores its time limit."""

    timeLimit = 0.05

    def __call__(self, service, jobid, input):
        time.sleep(input)
        return input


zope.component.provideUtility(Stubborn(), name='stubborn')


@implementer(ITask)
class Huge:
    """Returns a text of as many bytes as its input says."""

    def __call__(self, service, jobid, input):
        return 'x' * input


zope.component.provideUtility(Huge(), name='huge')


class Limited(Append):
    """Append, at most two at once across every worker (a global limit)."""

    concurrency = 2


zope.component.provideUtility(Limited(), name='limited')
