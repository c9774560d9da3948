"""Tasks for ``benchmarks/contention.py``.

Imported by the benchmark's own processes and by the worker processes it
starts (``remotetask worker --tasks contentiontasks``).  Each run of a task
appends a line ``<jobid> <p> <n> <pid>`` to the file that the environment
variable ``CONTENTION_RUNLOG`` names (``O_APPEND``, one ``write``, so lines
of concurrent processes never interleave): the benchmark counts the runs
of every job from it, whether or not the run's transaction committed.

``contentionEcho`` returns its input.  ``contentionIncrement`` adds one to
the shared counter ``counter['value']`` that the benchmark stores in the
application root, next to the service (the service's ``__parent__``), and
returns its input: every job writes the same object, the hot spot.  With
``input['work']`` it waits that many seconds between reading the counter
and writing it, as a task that works on what it read.
"""
import os
import threading
import time

import zope.component
from zope.interface import implementer

from lovely.remotetask.interfaces import ITask

#: Where each run of a task is logged.
RUNLOG = 'CONTENTION_RUNLOG'
#: The name of the shared counter in the application root.
COUNTER = 'counter'

_lock = threading.Lock()
_fd = None


def logRun(jobid, input):
    global _fd
    path = os.environ.get(RUNLOG)
    if not path:
        return
    with _lock:
        if _fd is None:
            _fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    os.write(_fd, f'{jobid} {input["p"]} {input["n"]} {os.getpid()}\n'
             .encode())


@implementer(ITask)
class Echo:
    """Returns its input; logs the run."""

    def __call__(self, service, jobid, input):
        logRun(jobid, input)
        return input


@implementer(ITask)
class Increment:
    """Adds one to the shared counter in the job's own transaction."""

    def __call__(self, service, jobid, input):
        logRun(jobid, input)
        counter = service.__parent__[COUNTER]
        value = counter['value']
        if input.get('work'):
            time.sleep(input['work'])   # the task's work, between read and write
        counter['value'] = value + 1
        return input


zope.component.provideUtility(Echo(), ITask, name='contentionEcho')
zope.component.provideUtility(Increment(), ITask, name='contentionIncrement')
