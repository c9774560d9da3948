"""Limits under load (issue 28): worker processes over one ZEO server run
jobs of limited tasks (`limitstasks`), and what ran at once is measured
from the tasks themselves.

- global: jobs of a task limited to 5 at once, 50 ms each: the most that
  ran at once, and the share of the run during which 5 ran;
- rate: a task limited to 100 starts a second: the starts in every
  one-second window after the first, and the most in any window;
- partitions: 2 at once per account; the small account's jobs alone, then
  behind a flood of the big account's: how fast the small ones end;
- beside: jobs of a task without limits alone, then beside as many of the
  limited task: their throughput, and the share of the workers' commits
  that conflicted.

Run by hand:  .venv/bin/python benchmarks/limits.py [--workers 4]
              [--threads 4] [--jobs 2000] [--seconds 30] [--flood 10000]
"""
import argparse
import collections
import glob
import os
import subprocess
import sys
import tempfile
import time

import transaction

from lovely import remotetask

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
from benchkit import command, render, stopProcess, zeoServer  # noqa: E402
import limitstasks  # noqa: E402,F401  (registers the tasks here too)
from limitstasks import CONCURRENCY, PER_ACCOUNT, RATE  # noqa: E402


class Run:
    """A ZEO server with a service and worker processes on it, the spans
    the tasks wrote, and the commits the workers counted."""

    def __init__(self, directory, name, args):
        self.directory = os.path.join(directory, name)
        os.makedirs(self.directory)
        self.spans = os.path.join(self.directory, 'spans.log')
        self.commits = os.path.join(self.directory, 'commits')
        self.args = args
        self.server = zeoServer(os.path.join(self.directory, 'Data.fs'),
                                os.path.join(self.directory, 'zeo.log'))

    def __enter__(self):
        self.uri = self.server.__enter__()
        self.db = remotetask.openDatabase(self.uri)
        self.tm = transaction.TransactionManager()
        self.connection = self.db.open(transaction_manager=self.tm)
        root = remotetask.getApplicationRoot(self.connection, create=True)
        self.service = root['svc'] = remotetask.TaskService()
        self.tm.commit()
        env = dict(os.environ, PYTHONPATH=HERE, LIMITS_SPANS=self.spans,
                   LIMITS_COMMITS=self.commits)
        self.workers = []
        for n in range(self.args.workers):
            log = open(os.path.join(self.directory, f'worker{n}.log'), 'wb')
            self.workers.append(subprocess.Popen(
                [sys.executable, '-m', 'lovely.remotetask', 'worker',
                 '--db', self.uri, '--services', '@svc',
                 '--tasks', 'limitstasks', '--threads',
                 str(self.args.threads), '--wait-time', '0.05'],
                stdout=log, stderr=log, env=env))
        self.waitUntil(lambda: len(self.service.getWorkers())
                       == self.args.workers, 120)
        return self

    def __exit__(self, *exc):
        self.tm.abort()
        self.connection.close()
        self.db.close()
        for worker in self.workers:
            stopProcess(worker, 60)
        self.server.__exit__(*exc)

    def add(self, task, inputs):
        ids = [self.service.add(task, input) for input in inputs]
        self.tm.commit()
        return ids

    def waitUntil(self, condition, timeout=900):
        deadline = time.monotonic() + timeout
        while True:
            self.tm.begin()
            if condition():
                return
            if time.monotonic() > deadline:
                raise SystemExit(f'{self.directory}: gave up after '
                                 f'{timeout} s')
            time.sleep(0.05)

    def completed(self, ids):
        return all(self.service.getStatus(jobid) == 'completed'
                   for jobid in ids)

    def ended(self, count):
        """Whether `count` jobs completed (read from the counters only)."""
        return self.service.statusCounts().get('completed', 0) >= count

    def readSpans(self):
        spans = []
        with open(self.spans) as lines:
            for line in lines:
                task, account, started, ended = line.split()
                spans.append((task, account, float(started), float(ended)))
        return spans

    def readCommits(self):
        """(commits, conflicts) of the workers; read after they exit.  Sets
        `outcomes` to (commits, conflicts) of those that recorded
        outcomes."""
        total, self.conflicting = [0, 0, 0, 0], collections.Counter()
        for path in glob.glob(self.commits + '-*'):
            with open(path) as f:
                first, *rest = f.read().splitlines()
            for i, value in enumerate(first.split()):
                total[i] += int(value)
            for line in rest:
                count, name = line.split()
                self.conflicting[name] += int(count)
        self.outcomes = total[2:]
        return total[:2]


def atOnce(spans):
    """The most spans that overlap, and the seconds each count lasted."""
    edges = sorted([(s, 1) for _, _, s, _ in spans]
                   + [(e, -1) for _, _, _, e in spans])
    lasted = collections.Counter()
    running, most, last = 0, 0, edges[0][0]
    for when, step in edges:
        lasted[running] += when - last
        running += step
        most = max(most, running)
        last = when
    return most, lasted


def globalLimit(directory, args):
    with Run(directory, 'global', args) as run:
        ids = run.add('limited', [dict(work=0.05)] * args.jobs)
        started = time.perf_counter()
        run.waitUntil(lambda: run.ended(len(ids)))
        elapsed = time.perf_counter() - started
    most, lasted = atOnce(run.readSpans())
    full = lasted[CONCURRENCY] / sum(lasted.values())
    return [('global limit', f'{args.jobs} jobs of 50 ms, limit '
             f'{CONCURRENCY}', f'most at once {most}; {CONCURRENCY} at once '
             f'{full:.1%} of the run; {elapsed:.1f} s')]


def rateLimit(directory, args):
    count, seconds = RATE
    jobs = int(count / seconds * args.seconds)
    with Run(directory, 'rate', args) as run:
        ids = run.add('rated', [dict(work=0)] * jobs)
        run.waitUntil(lambda: run.ended(len(ids)))
        claimed = sorted(run.service.jobs[jobid].started for jobid in ids)
    ran = sorted(started for _, _, started, _ in run.readSpans())
    rows = []
    for name, starts in (('claims', claimed), ('task starts', ran)):
        full = windowCounts(starts, seconds)
        rows.append((f'rate limit ({name})',
                     f'{jobs} jobs, {count} starts per {seconds:g} s',
                     f'aligned windows after the first: {min(full)} to '
                     f'{max(full)} ({min(full) / count - 1:+.1%} to '
                     f'{max(full) / count - 1:+.1%}); most in any window '
                     f'{mostInAnyWindow(starts, seconds)}'))
    return rows


def windowCounts(starts, seconds):
    """The starts in each aligned window after the first, but the last."""
    first = starts[0]
    windows = collections.Counter(int((t - first) / seconds) for t in starts)
    return [windows[w] for w in range(1, max(windows))]


def mostInAnyWindow(starts, seconds):
    """The most starts in any window of `seconds`, aligned or not."""
    most, j = 0, 0
    for i, t in enumerate(starts):
        while starts[j] <= t - seconds:
            j += 1
        most = max(most, i - j + 1)
    return most


def partitions(directory, args):
    small = [dict(account='small', work=0.02)] * 100
    with Run(directory, 'small-alone', args) as run:
        started = time.perf_counter()
        ids = run.add('perAccount', small)
        run.waitUntil(lambda: run.completed(ids))
        alone = time.perf_counter() - started
    with Run(directory, 'small-flooded', args) as run:
        run.add('perAccount', [dict(account='big', work=0.02)] * args.flood)
        started = time.perf_counter()
        ids = run.add('perAccount', small)
        run.waitUntil(lambda: run.completed(ids))
        flooded = time.perf_counter() - started
    return [('partitions', f'100 jobs of one account, {PER_ACCOUNT} at once '
             f'per account', f'alone {alone:.2f} s; behind {args.flood} of '
             f'another {flooded:.2f} s: {alone / flooded:.2f}x the rate '
             f'alone')]


def beside(directory, args):
    plain = [dict(work=0.02)] * args.jobs
    rows = []
    for name, limitedToo in (('alone', False), ('beside', True)):
        with Run(directory, f'plain-{name}', args) as run:
            if limitedToo:
                run.add('limited', [dict(work=0.05)] * args.jobs)
            started = time.perf_counter()
            ids = run.add('plain', plain)
            run.waitUntil(lambda: run.completed(ids[-1:])
                          and run.completed(ids))
            rate = args.jobs / (time.perf_counter() - started)
        commits, conflicts = run.readCommits()
        rows.append((name, rate, commits, conflicts))
    (_, alone, *_), (_, besideRate, commits, conflicts) = rows
    return [('unlimited beside limited', f'{args.jobs} jobs of 20 ms, '
             f'beside {args.jobs} of the limited task',
             f'{alone:.0f} jobs/s alone, {besideRate:.0f} beside: '
             f'{besideRate / alone:.2f}x; commits conflicted '
             f'{conflicts} of {commits} ({conflicts / max(commits, 1):.2%})'
             )]


SCENARIOS = {'global': globalLimit, 'rate': rateLimit,
             'partitions': partitions, 'beside': beside}


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--workers', type=int, default=4)
    parser.add_argument('--threads', type=int, default=4)
    parser.add_argument('--jobs', type=int, default=2000)
    parser.add_argument('--seconds', type=float, default=30)
    parser.add_argument('--flood', type=int, default=10000)
    parser.add_argument('--only', choices=sorted(SCENARIOS), action='append')
    args = parser.parse_args()
    rows = []
    with tempfile.TemporaryDirectory() as directory:
        for name in args.only or SCENARIOS:
            rows += SCENARIOS[name](directory, args)
    print(f'{command(__file__, sys.argv[1:])}\n{args.workers} worker '
          f'processes x {args.threads} threads over ZEO')
    print('\n'.join(render(('measure', 'setup', 'result'), rows)))


if __name__ == '__main__':
    main()
