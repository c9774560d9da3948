"""Where the time of a job in flight goes: each step from add() to the
producer seeing it completed, for one job at a time.

A hand-run benchmark, not a test::

    .venv/bin/python benchmarks/steps.py [--jobs 400]
    PYTHONPATH=/work/old/src .venv/bin/python benchmarks/steps.py

A SimpleProcessor runs the jobs of a service in a FileStorage; the
producer adds one echo job, commits, and polls every 0.5 ms until it reads
it completed (as ``peers.py``'s W3 does).  Every commit is timed, by the
thread that makes it, by wrapping ``transaction``'s ``Transaction.commit``,
so the same script times any source put first on ``PYTHONPATH``.  The
steps, medians over the jobs after 20 warm-up ones:

add        the producer's add() before its commit
commit     the producer's commit
to claim   from that commit until the processor commits its claim (the
           wake-up and the claim's Python)
claim      the claim's commit
to record  from the claim's commit until the record's (the task's run in
           a transaction of its own, and the record's Python)
record     the record's commit
seen       from the record's commit until the producer reads completed
bytes      the growth of the file per job
"""
import argparse
import os
import statistics
import sys
import tempfile
import threading
import time

import transaction
from transaction import _transaction
from ZODB import DB
from ZODB.FileStorage import FileStorage

from lovely import remotetask

POLL = 0.0005
WARMUP = 20
STEPS = ('add', 'commit', 'to claim', 'claim', 'to record', 'record', 'seen')


def timeCommits(commits):
    """Record (by the main thread?, start, end) of every commit."""
    commit = _transaction.Transaction.commit

    def timed(self):
        start = time.perf_counter()
        try:
            return commit(self)
        finally:
            commits.append((threading.current_thread() is
                            threading.main_thread(), start,
                            time.perf_counter()))
    _transaction.Transaction.commit = timed


def oneJob(service, tm, connection, commits):
    """The steps of one job, or None when its commits were not the three
    expected (a look that came between them)."""
    del commits[:]
    start = time.perf_counter()
    jobid = service.add('echo', None)
    tm.commit()
    while True:
        connection.sync()
        if service.getStatus(jobid) == 'completed':
            break
        time.sleep(POLL)
    seen = time.perf_counter()
    mine = [c for c in commits if c[0]]
    processor = [c for c in commits if not c[0]]
    if len(mine) != 1 or len(processor) != 2:
        return None
    (_, addStart, addEnd), = mine
    (_, claimStart, claimEnd), (_, recordStart, recordEnd) = processor
    return dict(zip(STEPS, (
        addStart - start, addEnd - addStart, claimStart - addEnd,
        claimEnd - claimStart, recordStart - claimEnd,
        recordEnd - recordStart, seen - recordEnd)))


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--jobs', type=int, default=400)
    args = parser.parse_args()
    remotetask.provideTask(lambda input: input, name='echo')
    commits = []
    timeCommits(commits)
    with tempfile.TemporaryDirectory() as directory:
        path = os.path.join(directory, 'Data.fs')
        db = DB(FileStorage(path))
        tm = transaction.TransactionManager()
        connection = db.open(transaction_manager=tm)
        root = remotetask.getApplicationRoot(connection, create=True)
        service = root['svc'] = remotetask.TaskService()
        tm.commit()
        service.startProcessing()
        steps, size = [], None
        for n in range(WARMUP + args.jobs):
            if n == WARMUP:
                size = os.path.getsize(path)
            found = oneJob(service, tm, connection, commits)
            if found is not None and n >= WARMUP:
                steps.append(found)
        grown = os.path.getsize(path) - size
        service.stopProcessing(wait=10)
        connection.close()
        db.close()
    print(f'source: {os.path.dirname(remotetask.__file__)}')
    print(f'{len(steps)} of {args.jobs} jobs with three commits; medians, ms:')
    for step in STEPS:
        median = statistics.median(found[step] for found in steps)
        print(f'  {step:<10} {median * 1e3:6.3f}')
    total = statistics.median(sum(s.values()) for s in steps)
    print(f'  {"total":<10} {total * 1e3:6.3f}')
    print(f'  bytes      {grown / args.jobs:6.0f} a job')


if __name__ == '__main__':
    sys.exit(main())
