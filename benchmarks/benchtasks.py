"""Tasks for ``benchmarks/peers.py``.

Imported by the benchmark itself and by the worker processes it starts:
``python -m lovely.remotetask worker --tasks benchtasks`` (ours) and
``rq worker --path benchmarks`` (RQ, which calls ``benchtasks.echo`` and
``benchtasks.sleep20`` by name).  Importing it registers ``echo`` and
``sleep20`` as lovely.remotetask tasks; huey registers the same functions
on its own instances.
"""
import time

from lovely.remotetask import provideTask

#: Seconds an I/O-bound job waits (``sleep20``).
SLEEP = 0.020


@provideTask
def echo(input):
    """A tiny job: its result is its input."""
    return input


@provideTask
def sleep20(input):
    """An I/O-bound job: waits 20 ms, then returns its input."""
    time.sleep(SLEEP)
    return input
