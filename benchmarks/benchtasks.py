"""Tasks for ``benchmarks/peers.py``.

Imported by the benchmark itself and by the worker processes it starts:
``python -m lovely.remotetask worker --tasks benchtasks`` (ours) and
``rq worker --path benchmarks`` (RQ, which calls ``benchtasks.echo`` and
``benchtasks.sleep20`` by name).  Importing it registers ``echo`` and
``sleep20`` as lovely.remotetask tasks; huey registers the same functions
on its own instances.
"""
import os
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


#: The environment variable naming the file that `span` and `gather`
#: append to (W7 and W8: what ran when, measured from the tasks).
SPANS = 'BENCH_SPANS'


def _span(kind, input):
    started = time.time()
    time.sleep(input.get('work', 0))
    return writeSpan(kind, input, started)


def writeSpan(kind: str, input: dict, started: float) -> dict:
    """Append a job's span to the spans file (async workers, as Oban's,
    wait on their own, then call this)."""
    line = f'{kind} {input.get("n", "-")} {started:.6f} {time.time():.6f}\n'
    fd = os.open(os.environ[SPANS], os.O_WRONLY | os.O_APPEND | os.O_CREAT,
                 0o644)
    try:
        os.write(fd, line.encode())      # one write: lines do not interleave
    finally:
        os.close(fd)
    return input


@provideTask
def span(input):
    """W7's sibling, W8's limited job: waits input's ``work`` seconds and
    appends '<kind> <n> <started> <ended>' to the spans file."""
    return _span('span', input)


@provideTask
def gather(input):
    """W7's callback: the job that waits for all the siblings."""
    return _span('gather', input)


def gatherResults(results, input):
    """W7's chord callback for Celery, which passes it the siblings'
    results first."""
    return _span('gather', input)


def gatherThen(input, results):
    """W7's chord callback for huey, which passes it the siblings'
    results last."""
    return _span('gather', input)
