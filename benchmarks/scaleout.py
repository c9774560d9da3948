"""Throughput of 1, 2 and 4 worker processes over one ZEO server.

Once the workers (``remotetask worker`` processes) run, I/O-bound jobs
(each waits 20 ms) are added in one transaction, and the workers drain
them.  For each count of workers: jobs per second from that commit to the
last completion,
the ratio to one worker, and how many jobs needed more than one attempt
(a conflict that cost a run) and how many outcomes had to be recorded
again (a conflict that did not).

With ``--trickle N``, it also adds N tiny jobs (``echo``) one per
transaction, as requests of an application would, first with no worker
running (the most the trickle can reach) and then while one worker runs
them, and prints both rates and the commits per job.

Run by hand:  .venv/bin/python benchmarks/scaleout.py [--jobs 600]
              [--workers 1,2,4] [--trickle 2000]
"""
import argparse
import glob
import os
import socket
import subprocess
import sys
import tempfile
import time

import transaction
import transaction.interfaces

from lovely import remotetask

# A sibling script, found as the script's directory is on sys.path.
from benchkit import freePort

HERE = os.path.dirname(os.path.abspath(__file__))


def waitFor(condition, timeout):
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise SystemExit(f'gave up after {timeout} s')
        time.sleep(0.05)


def accepts(port):
    try:
        socket.create_connection(('127.0.0.1', port), timeout=0.2).close()
        return True
    except OSError:
        return False


class Cluster:
    """A ZEO server with a service, and worker processes on it."""

    def __init__(self, directory, name):
        self.logs = os.path.join(directory, name)
        os.makedirs(self.logs)
        self.port = freePort()
        self.server = subprocess.Popen(
            [sys.executable, '-m', 'ZEO.runzeo',
             '-a', f'127.0.0.1:{self.port}',
             '-f', os.path.join(self.logs, 'Data.fs')],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        self.processes = []
        waitFor(lambda: accepts(self.port), 30)
        self.uri = f'zeo://127.0.0.1:{self.port}'
        self.db = remotetask.openDatabase(self.uri)
        self.tm = transaction.TransactionManager()
        self.connection = self.db.open(transaction_manager=self.tm)
        root = remotetask.getApplicationRoot(self.connection, create=True)
        self.service = root['svc'] = remotetask.TaskService()
        self.tm.commit()

    def startWorkers(self, workers):
        env = dict(os.environ, PYTHONPATH=HERE)
        for n in range(workers):
            log = open(os.path.join(self.logs, f'worker{n}.log'), 'wb')
            self.processes.append(subprocess.Popen(
                [sys.executable, '-m', 'lovely.remotetask', 'worker',
                 '--db', self.uri, '--services', '@svc',
                 '--tasks', 'benchtasks', '--wait-time', '0.05'],
                stdout=log, stderr=subprocess.STDOUT, env=env))

        def registered():
            self.tm.begin()
            return len(self.service.getWorkers()) == workers
        waitFor(registered, 60)   # timing starts once all workers run

    def waitForCompleted(self, jobs):
        def done():
            # Read counters only, so that watching costs the server little.
            self.tm.begin()
            return self.service.statusCounts().get('completed', 0) == jobs
        waitFor(done, 600)

    def trickle(self, jobs):
        """Add `jobs` echo jobs, one per transaction."""
        for n in range(jobs):
            while True:
                try:
                    self.service.add('echo', n)
                    self.tm.commit()
                    break
                except transaction.interfaces.TransientError:
                    self.tm.abort()

    def transactionsSince(self, tid):
        return sum(1 for _ in self.db.storage.iterator(tid))

    def close(self):
        try:
            self.tm.abort()
            self.connection.close()
            self.db.close()
        finally:
            for process in self.processes:
                process.terminate()
            for process in self.processes:
                process.wait(60)
            self.server.terminate()
            self.server.wait(30)


def trickle(jobs, directory):
    """Jobs/s of adds alone, and of the trickle with one worker; the
    trickle's commits per job."""
    cluster = Cluster(directory, 'alone')
    try:
        started = time.perf_counter()
        cluster.trickle(jobs)
        alone = jobs / (time.perf_counter() - started)
    finally:
        cluster.close()
    cluster = Cluster(directory, 'trickle')
    try:
        cluster.startWorkers(1)
        first = cluster.db.storage.lastTransaction()
        started = time.perf_counter()
        cluster.trickle(jobs)
        cluster.waitForCompleted(jobs)
        rate = jobs / (time.perf_counter() - started)
        commits = cluster.transactionsSince(first) - 1
    finally:
        cluster.close()
    return alone, rate, commits / jobs


def run(workers, jobs, directory):
    cluster = Cluster(directory, f'w{workers}')
    try:
        cluster.startWorkers(workers)
        service = cluster.service
        ids = [service.add('sleep20', n) for n in range(jobs)]
        cluster.tm.commit()
        started = time.perf_counter()
        cluster.waitForCompleted(jobs)
        elapsed = time.perf_counter() - started
        reruns = sum(service.jobs[j].attempts > 1 for j in ids)
    finally:
        cluster.close()
    logs = cluster.logs
    rerecorded = 0
    for path in glob.glob(os.path.join(logs, 'worker*.log')):
        with open(path, errors='replace') as f:
            rerecorded += f.read().count('recording its result conflicted')
    return jobs / elapsed, reruns, rerecorded


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--jobs', type=int, default=600)
    parser.add_argument('--workers', default='1,2,4')
    parser.add_argument('--trickle', type=int, default=0, metavar='N')
    args = parser.parse_args()
    sys.path.insert(0, HERE)
    import benchtasks  # noqa: F401  (registers the tasks here too)
    counts = [int(n) for n in args.workers.split(',')]
    results = {}
    with tempfile.TemporaryDirectory() as directory:
        for workers in counts:
            results[workers] = run(workers, args.jobs, directory)
        if args.trickle:
            alone, trickled, commits = trickle(args.trickle, directory)
    base = results[counts[0]][0]
    print(f'{args.jobs} jobs of 20 ms over ZEO')
    print(f'{"workers":>8}{"jobs/s":>10}{"ratio":>8}{"re-run":>8}'
          f'{"re-recorded":>13}')
    for workers in counts:
        rate, reruns, rerecorded = results[workers]
        print(f'{workers:>8}{rate:>10.1f}{rate / base:>8.2f}'
              f'{reruns:>8}{rerecorded:>13}')
    if args.trickle:
        print(f'\n{args.trickle} echo jobs added one per transaction over ZEO')
        print(f'  adds alone, no worker:     {alone:8.1f} jobs/s')
        print(f'  trickle, one worker:       {trickled:8.1f} jobs/s  '
              f'({trickled / alone:.2f}x adds alone)')
        print(f'  commits per job (adds included): {commits:.2f}')


if __name__ == '__main__':
    main()
