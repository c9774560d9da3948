"""The tasks of benchmarks/limits.py and benchmarks/workflows.py, imported
by the benchmark and by its workers (``remotetask worker --tasks
limitstasks``).

Each task sleeps its input's ``work`` seconds and appends one line to the
file named by LIMITS_SPANS: '<task> <partition> <started> <ended>', in
one write, so that what ran at once is measured from the tasks
themselves.
"""
import atexit
import collections
import os
import re
import threading
import time

import transaction
from transaction.interfaces import TransientError

from lovely import remotetask

SPANS = os.environ.get('LIMITS_SPANS', 'limits-spans.log')

#: The limits measured (issue 28): 5 at once in all processes; 100 starts
#: a second; 2 at once per account.
CONCURRENCY = 5
RATE = (100, 1.0)
PER_ACCOUNT = 2


def countCommits(path: str) -> None:
    """Count this process's commits and those that conflicted, then those
    that recorded outcomes and how many of them conflicted, and write them
    to `path` at exit: '<commits> <conflicts> <outcome commits> <outcome
    conflicts>', then a line for each class of object that conflicted."""
    from lovely.remotetask.runtime.steps import Station
    manager, recordAll = transaction.TransactionManager, Station._recordAll
    commit, begin = manager.commit, manager.begin
    counts = [0, 0, 0, 0]
    classes = collections.Counter()

    class Carried(threading.local):
        carried = False        # this thread's transaction records outcomes
    outcomes = Carried()

    def counted(self):
        carried, outcomes.carried = outcomes.carried, False
        counts[0] += 1
        counts[2] += carried
        try:
            return commit(self)
        except TransientError as error:
            counts[1] += 1
            counts[3] += carried
            found = re.search(r'class ([\w.]+)', str(error))
            classes[found.group(1) if found else type(error).__name__] += 1
            raise

    def begun(self):
        outcomes.carried = False
        return begin(self)

    def recorded(service, records):
        outcomes.carried = outcomes.carried or bool(records)
        return recordAll(service, records)

    def write():
        with open(path, 'w') as f:
            f.write(' '.join(map(str, counts)) + '\n')
            for name, count in classes.most_common():
                f.write(f'{count} {name}\n')
    manager.commit, manager.begin = counted, begun
    Station._recordAll = staticmethod(recorded)
    atexit.register(write)


if os.environ.get('LIMITS_COMMITS'):
    countCommits(f'{os.environ["LIMITS_COMMITS"]}-{os.getpid()}')


def span(task: str, input) -> None:
    started = time.time()
    time.sleep(input.get('work', 0))
    line = (f'{task} {input.get("account", "-")} {started:.6f} '
            f'{time.time():.6f}\n')
    fd = os.open(SPANS, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        os.write(fd, line.encode())
    finally:
        os.close(fd)


@remotetask.provideTask(concurrency=CONCURRENCY)
def limited(input):
    span('limited', input)


@remotetask.provideTask(rate=RATE)
def rated(input):
    span('rated', input)


@remotetask.provideTask(concurrency=PER_ACCOUNT, partitionBy='account')
def perAccount(input):
    span('perAccount', input)


@remotetask.provideTask
def plain(input):
    span('plain', input)


@remotetask.provideTask
def sibling(input):
    span('sibling', input)


@remotetask.provideTask
def gather(input):
    """The fan-in's callback: it reads what it waited for."""
    span('gather', dict(input, count=len(
        remotetask.workflows.results())))
