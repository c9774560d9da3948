"""How long does a job take from add() to completed, and how many per second?

A hand-run benchmark, not a test::

    .venv/bin/python benchmarks/latency.py [--samples 500] [--jobs 5000]

A FileStorage database in a temporary directory holds a `TaskService` in
the application root, processed by its background thread.  For each
processor (`SimpleProcessor`, then `MultiProcessor` with 4 threads, each
on a fresh database) it measures:

(a) latency at low load: one job in flight; the producer adds it, commits,
    and polls ``conn.sync(); service.getStatus(jobid)`` every 0.2 ms until
    it reads ``completed`` (the outcome is committed and visible);
(b) throughput of a burst: ``--jobs`` echo jobs added in one transaction,
    timed from that commit until all are completed;
(c) throughput of a trickle: ``--jobs`` jobs added one per transaction by
    the producer while the processor drains them, timed from the first add
    until all are completed.

Every job costs three commits: the add, the claim and the record.  For
each run the script also counts the jobs that took more than one attempt
and what the library logged at INFO or above (record conflicts, retries).
"""
import argparse
import collections
import logging
import os
import platform
import re
import statistics
import sys
import tempfile
import time

import transaction
from transaction.interfaces import TransientError
from ZODB import DB
from ZODB.FileStorage import FileStorage

import lovely.remotetask
from lovely.remotetask import (
    MultiProcessor, SimpleProcessor, TaskService, getApplicationRoot)
from lovely.remotetask.interfaces import COMPLETED, FINISHED

# A sibling script, found as the script's directory is on sys.path.
from backlog import sourceVersion

POLL = 0.0002       # seconds between polls for one job
DRAIN_POLL = 0.005  # seconds between polls while a batch drains
TIMEOUT = 300


def pct(values, p):
    """Nearest-rank percentile."""
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(len(ordered) * p / 100))]


def fmt(seconds_list):
    ms = [s * 1e3 for s in seconds_list]
    return (f'p50 {pct(ms, 50):7.2f}  p99 {pct(ms, 99):7.2f}  '
            f'mean {statistics.mean(ms):7.2f}  max {max(ms):7.2f} ms')


class LogCount(logging.Handler):
    """Counts what the library logs (conflicts, retries), by message."""

    def __init__(self):
        super().__init__(logging.INFO)
        self.counts = collections.Counter()
        self.logger = logging.getLogger('lovely.remotetask')
        self.logger.addHandler(self)
        self.logger.setLevel(logging.INFO)
        self.logger.propagate = False

    def emit(self, record):
        # Numbers and oids masked, so that messages of a kind add up.
        message = record.getMessage()
        cls = re.search(r'class ([\w.]+)', message)
        message = re.sub(r'0x[0-9a-f]+|\d+', 'N', message)[:60]
        if cls:
            message += f'... class {cls.group(1)}'
        self.counts[f'{record.levelname} {message}'] += 1

    def report(self, indent='    '):
        if not self.counts:
            print(f'{indent}library log: nothing at INFO or above')
        for message, count in self.counts.most_common(5):
            print(f'{indent}library log: {count} x {message}')
        self.counts.clear()


class Bench:
    """A database with a processed service, and a producer connection."""

    def __init__(self, directory, name, factory, arguments):
        self.path = os.path.join(directory, f'{name}.fs')
        self.db = DB(FileStorage(self.path))
        self.tm = transaction.TransactionManager()
        self.conn = self.db.open(transaction_manager=self.tm)
        app = getApplicationRoot(self.conn, create=True)
        app['svc'] = TaskService()
        self.tm.commit()
        self.service = app['svc']
        self.service.processorFactory = factory
        self.service.processorArguments = arguments
        self.tm.commit()
        self.service.startProcessing()
        self.conflicts = 0

    def sync(self):
        self.conn.sync()

    def add(self, n):
        """Add one job in a transaction of its own; retry on conflict."""
        while True:
            try:
                jobid = self.service.add('echo', {'n': n, 'pad': 'x' * 20})
                self.tm.commit()
                return jobid
            except TransientError:
                self.tm.abort()
                self.conflicts += 1

    def waitAll(self, jobids, interval):
        """Return when every job of `jobids` reads completed."""
        pending = list(jobids)
        deadline = time.monotonic() + TIMEOUT
        done = 0
        while True:
            self.sync()
            # Mostly first in, first out: walk in order, stop at the first
            # that is not done, so each poll loads only a few jobs.
            while done < len(pending):
                status = self.service.getStatus(pending[done])
                if status in FINISHED:
                    if status != COMPLETED:
                        raise RuntimeError(f'job {pending[done]} {status}')
                    done += 1
                else:
                    break
            if done == len(pending):
                return
            if time.monotonic() > deadline:
                raise RuntimeError(f'{len(pending) - done} jobs not done '
                                   f'after {TIMEOUT} s')
            time.sleep(interval)

    def jobStats(self, jobids):
        """(created->completed latencies, jobs that took >1 attempt)."""
        self.sync()
        jobs = [self.service.jobs[j] for j in jobids]
        return ([j.completed - j.created for j in jobs],
                sum(1 for j in jobs if j.attempts > 1))

    def close(self):
        self.service.stopProcessing(wait=None)
        self.tm.abort()
        self.conn.close()
        self.db.close()


def lowLoad(bench, samples, warmup):
    total, fromCommit, claim, run, seen = [], [], [], [], []
    for i in range(warmup + samples):
        t0 = time.perf_counter()
        jobid = bench.add(i)
        t1 = time.perf_counter()
        while True:
            bench.sync()
            if bench.service.getStatus(jobid) == COMPLETED:
                break
            time.sleep(POLL)
        t2 = time.perf_counter()
        wall = time.time()
        if i < warmup:
            continue
        job = bench.service.jobs[jobid]
        total.append(t2 - t0)
        fromCommit.append(t2 - t1)
        claim.append(job.started - job.created)
        run.append(job.completed - job.started)
        seen.append(wall - job.completed)
    print(f'(a) one job in flight, {samples} samples '
          f'(+{warmup} warm-up), poll every {POLL * 1e3:.1f} ms')
    print(f'    add+commit -> completed seen  {fmt(total)}')
    print(f'    commit -> completed seen      {fmt(fromCommit)}')
    print('    of which, from job timestamps:')
    print(f'      created -> claimed          {fmt(claim)}')
    print(f'      claimed -> outcome set      {fmt(run)}')
    print(f'      outcome set -> seen         {fmt(seen)}')
    return total


def burst(bench, n, offset):
    t0 = time.perf_counter()
    jobids = [bench.service.add('echo', {'n': offset + i, 'pad': 'x' * 20})
              for i in range(n)]
    t1 = time.perf_counter()
    bench.tm.commit()
    t2 = time.perf_counter()
    bench.waitAll(jobids, DRAIN_POLL)
    t3 = time.perf_counter()
    latencies, retried = bench.jobStats(jobids)
    rate = n / (t3 - t2)
    print(f'(b) burst: {n} jobs added in {t1 - t0:.2f} s, committed in '
          f'{(t2 - t1) * 1e3:.0f} ms, all completed {t3 - t2:.2f} s after '
          f'the commit: {rate:,.0f} jobs/s')
    print(f'    created -> completed          {fmt(latencies)}')
    print(f'    jobs that took >1 attempt: {retried}')
    return rate


def trickle(bench, n, offset):
    conflicts = bench.conflicts
    t0 = time.perf_counter()
    jobids = [bench.add(offset + i) for i in range(n)]
    t1 = time.perf_counter()
    bench.sync()
    # A private attribute, read for the report only.
    queued = bench.service.queueLength()
    bench.waitAll(jobids, DRAIN_POLL)
    t2 = time.perf_counter()
    latencies, retried = bench.jobStats(jobids)
    rate = n / (t2 - t0)
    print(f'(c) trickle: {n} jobs added one per transaction in {t1 - t0:.2f} s '
          f'({n / (t1 - t0):,.0f} adds/s), {queued} still queued then; '
          f'all completed {t2 - t0:.2f} s after the first add: '
          f'{rate:,.0f} jobs/s')
    print(f'    created -> completed          {fmt(latencies)}')
    print(f'    jobs that took >1 attempt: {retried}; producer commits '
          f'that conflicted and were retried: {bench.conflicts - conflicts}')
    return rate


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--samples', type=int, default=500,
                        help='jobs timed one at a time for (a)')
    parser.add_argument('--warmup', type=int, default=20)
    parser.add_argument('--jobs', type=int, default=5000,
                        help='jobs for each throughput run (b), (c)')
    parser.add_argument('--threads', type=int, default=4,
                        help='maxThreads of the MultiProcessor')
    args = parser.parse_args(argv)

    lovely.remotetask.provideTask(lambda input: input, name='echo')
    print(f'lovely.remotetask latency benchmark, {time.strftime("%Y-%m-%d")}, '
          f'Python {platform.python_version()}, {os.cpu_count()} CPUs, '
          f'{platform.system()} {platform.machine()}')
    print(f'source: {sourceVersion()}')
    started = time.perf_counter()
    summary = []
    configs = [
        ('SimpleProcessor', SimpleProcessor, {'waitTime': 1.0}),
        (f'MultiProcessor(maxThreads={args.threads})', MultiProcessor,
         {'waitTime': 1.0, 'maxThreads': args.threads}),
    ]
    logs = LogCount()
    with tempfile.TemporaryDirectory(prefix='remotetask-bench-') as tmp:
        for i, (label, factory, arguments) in enumerate(configs):
            print(f'\n{label}, FileStorage')
            bench = Bench(tmp, f'latency{i}', factory, arguments)
            try:
                total = lowLoad(bench, args.samples, args.warmup)
                logs.report()
                b = burst(bench, args.jobs, 10**6)
                logs.report()
                c = trickle(bench, args.jobs, 2 * 10**6)
                logs.report()
            finally:
                bench.close()
            summary.append((label, pct(total, 50), pct(total, 99), b, c))
    print('\nsummary')
    head = ('processor', 'p50 ms', 'p99 ms', 'burst jobs/s', 'trickle jobs/s')
    rows = [(label, f'{p50 * 1e3:.2f}', f'{p99 * 1e3:.2f}', f'{b:,.0f}',
             f'{c:,.0f}') for label, p50, p99, b, c in summary]
    widths = [max(len(r[i]) for r in rows + [head]) for i in range(5)]
    line = '  '.join('-' * w for w in widths)
    print(line)
    for r in [head, None] + rows:
        if r is None:
            print(line)
            continue
        print('  '.join(c.ljust(w) if j == 0 else c.rjust(w)
                        for j, (c, w) in enumerate(zip(r, widths))))
    print(line)
    print(f'total run time {time.perf_counter() - started:.0f} s')
    return 0


if __name__ == '__main__':
    sys.exit(main())
