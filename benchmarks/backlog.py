"""Does the cost of adding and claiming a job grow with the backlog?

A hand-run benchmark, not a test::

    .venv/bin/python benchmarks/backlog.py [--backlog 100000] [--ops 2000]

Two FileStorage databases in a temporary directory hold a `TaskService`
at ``root()['svc']``, committed: one starts empty ("0 pending": its queue
holds only the round's own ``--ops`` jobs at most), the other with
``--backlog`` queued jobs, added 5,000 per transaction.  Each round times
``--ops`` operations of each kind on both, one transaction per operation:

- add:   ``service.add('echo', {'n': i})`` + ``commit()``
- claim: ``service.claimNextJob()`` + ``commit()``

and measures how many bytes the ``.fs`` file grows per operation.  Adds
and claims alternate, so each database keeps its backlog from round to
round; the databases alternate too (A B B A, then B A A B, ...) so that
machine noise falls on both alike.  Nothing is packed.

The same is then measured for `zc.queue.Queue` and
`zc.queue.CompositeQueue` holding plain ints (put/pull), to show what a
queue that rewrites a long tuple per operation costs with a backlog.

Target: the ratio backlog / 0 pending within 1.3x, bytes per job flat.
"""
import argparse
import collections
import gc
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time

import transaction
from persistent.mapping import PersistentMapping
from ZODB import DB
from ZODB.FileStorage import FileStorage
from ZODB.utils import get_pickle_metadata, p64, u64

import lovely.remotetask
from lovely.remotetask import TaskService

# A sibling script, found as the script's directory is on sys.path.
from benchkit import fsyncTimes

TARGET_RATIO = 1.3
FILL_BATCH = 5000
#: The header of a data record in a FileStorage file.
DATA_HEADER = 42


class Subject:
    """One database with one queue-like object in it, and two operations."""

    def __init__(self, directory, name, key, make, put, pull, fill):
        self.name = name
        self.path = os.path.join(directory, f'{name}.fs')
        self.db = DB(FileStorage(self.path))
        self.tm = transaction.TransactionManager()
        self.conn = self.db.open(transaction_manager=self.tm)
        self.conn.root()[key] = make()
        self.tm.commit()
        self.obj = self.conn.root()[key]
        self._put, self._pull = put, pull
        self.counter = 0
        self.times = {'put': [], 'pull': []}
        self.bytes = {'put': [], 'pull': []}
        self.spans = {}
        start = time.perf_counter()
        while self.counter < fill:
            for _ in range(min(FILL_BATCH, fill - self.counter)):
                self._put(self.obj, self.counter)
                self.counter += 1
            self.tm.commit()
        self.fillSeconds = time.perf_counter() - start

    def size(self):
        return os.path.getsize(self.path)

    def run(self, kind, ops, record=True):
        """Time `ops` operations of `kind`, each in its own transaction."""
        times = []
        before = self.size()
        firstTid = p64(u64(self.db.lastTransaction()) + 1)
        for _ in range(ops):
            t0 = time.perf_counter()
            if kind == 'put':
                self._put(self.obj, self.counter)
                self.counter += 1
            else:
                if self._pull(self.obj) is None:
                    raise RuntimeError(f'{self.name}: nothing left to pull')
            self.tm.commit()
            times.append(time.perf_counter() - t0)
        grown = self.size() - before
        if record:
            self.times[kind].extend(times)
            self.bytes[kind].append(grown / ops)
            self.spans[kind] = (firstTid, self.db.lastTransaction(), ops)

    def breakdown(self, kind):
        """Bytes per operation by class of the stored object, over the
        last batch of `kind`, plus the transaction headers."""
        first, last, ops = self.spans[kind]
        sizes = collections.Counter()
        counts = collections.Counter()
        for txn in self.db.storage.iterator(first, last):
            for rec in txn:
                module, cls = get_pickle_metadata(rec.data)
                name = cls if module.startswith('BTrees') else \
                    f'{module.rsplit(".", 1)[-1]}.{cls}'
                sizes[name] += len(rec.data) + DATA_HEADER
                counts[name] += 1
        total = sum(sizes.values())
        return ({k: v / ops for k, v in sizes.items()},
                {k: v / ops for k, v in counts.items()}, total / ops)

    def close(self):
        self.tm.abort()
        self.conn.close()
        self.db.close()


def measurePair(a, b, ops, rounds, warmup):
    """Alternate the two subjects, A B B A / B A A B, for `rounds`."""
    for s in (a, b):
        s.run('put', warmup, record=False)
        s.run('pull', warmup, record=False)
    for r in range(rounds):
        first, second = (a, b) if r % 2 == 0 else (b, a)
        first.run('put', ops)
        second.run('put', ops)
        second.run('pull', ops)
        first.run('pull', ops)


def ms(seconds):
    return seconds * 1e3


def table(title, a, b, labels):
    """Print median, mean and p99 ms and bytes per op of a pair;
    return the (name, ratio) of the medians and bytes."""
    rows = []
    verdicts = []
    for label, kind in labels:
        ta, tb = a.times[kind], b.times[kind]
        ba = statistics.mean(a.bytes[kind])
        bb = statistics.mean(b.bytes[kind])
        for stat, fn in (('median ms', statistics.median),
                         ('mean ms', statistics.mean),
                         ('p99 ms', lambda t: _pct(t, 99))):
            va, vb = ms(fn(ta)), ms(fn(tb))
            rows.append((f'{label} {stat}', f'{va:.3f}', f'{vb:.3f}',
                         f'{vb / va:.2f}x'))
            if stat == 'median ms':
                verdicts.append((f'{label} median', vb / va))
        rows.append((f'{label} bytes/op', f'{ba:.0f}', f'{bb:.0f}',
                     f'{bb / ba:.2f}x'))
        verdicts.append((f'{label} bytes', bb / ba))
    print()
    print(title)
    head = ('metric', '0 pending', f'{b.pending:,} pending', 'ratio')
    widths = [max(len(str(r[i])) for r in rows + [head]) for i in range(4)]
    line = '  '.join('-' * w for w in widths)
    print(line)
    print('  '.join(h.ljust(w) if i == 0 else h.rjust(w)
                    for i, (h, w) in enumerate(zip(head, widths))))
    print(line)
    for r in rows:
        print('  '.join(c.ljust(w) if i == 0 else c.rjust(w)
                        for i, (c, w) in enumerate(zip(r, widths))))
    print(line)
    return verdicts


def sourceVersion():
    """The git commit of the lovely.remotetask source, if it has one."""
    src = os.path.dirname(os.path.abspath(lovely.remotetask.__file__))
    git = ['git', '--no-optional-locks', '-C', src]
    try:
        head = subprocess.run(git + ['rev-parse', '--short', 'HEAD'],
                              capture_output=True, text=True, check=True)
        dirty = subprocess.run(git + ['diff', '--quiet', 'HEAD', '--', '.'],
                               capture_output=True, check=False).returncode
    except (OSError, subprocess.CalledProcessError):
        return src
    return f'{src} at git {head.stdout.strip()}' + (
        ' with uncommitted changes' if dirty else '')


def baseline(tmp, ops):
    """The floor: fsync of a small append, and a commit of a tiny change."""
    fsyncs = fsyncTimes(tmp, ops)
    subject = Subject(tmp, 'baseline', 'map', PersistentMapping,
                      lambda m, i: m.__setitem__('x', i), None, 0)
    subject.run('put', ops)
    commits = subject.times['put']
    grown = subject.bytes['put'][0]
    subject.close()
    print(f'baseline: fsync of a 2 KB append: median '
          f'{ms(statistics.median(fsyncs)):.3f} ms; commit of a one-key '
          f'PersistentMapping change: median '
          f'{ms(statistics.median(commits)):.3f} ms, {grown:.0f} bytes')


def printBreakdown(a, b, labels):
    """Where the bytes of each operation go, by class of stored object."""
    for label, kind in labels:
        sa, ca, ta = a.breakdown(kind)
        sb, cb, tb = b.breakdown(kind)
        growA = a.bytes[kind][-1]
        growB = b.bytes[kind][-1]
        print(f'  bytes per {label} by stored object (last round; '
              f'records/op in brackets; data record header included)')
        names = sorted(set(sa) | set(sb), key=lambda k: -sb.get(k, 0))
        for name in names:
            print(f'    {name:<24} {sa.get(name, 0):7.0f} '
                  f'[{ca.get(name, 0):4.2f}]  {sb.get(name, 0):7.0f} '
                  f'[{cb.get(name, 0):4.2f}]')
        print(f'    {"transaction header":<24} {growA - ta:7.0f}         '
              f'{growB - tb:7.0f}')


def _pct(values, p):
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(len(ordered) * p / 100))]


def _claim(service):
    return service.claimNextJob()


def _add(service, i):
    service.add('echo', {'n': i})


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--backlog', type=int, default=100_000,
                        help='jobs pending in the second database')
    parser.add_argument('--ops', type=int, default=2000,
                        help='timed operations per kind, database and round')
    parser.add_argument('--rounds', type=int, default=3)
    parser.add_argument('--warmup', type=int, default=200,
                        help='untimed operations of each kind first')
    parser.add_argument('--zc-backlog', type=int, default=20_000,
                        help='items pending in the zc.queue comparison')
    parser.add_argument('--zc-ops', type=int, default=300,
                        help='timed zc.queue operations per kind and round')
    parser.add_argument('--no-zc', action='store_true',
                        help='skip the zc.queue comparison')
    args = parser.parse_args(argv)

    lovely.remotetask.provideTask(lambda input: input, name='echo')
    print(f'lovely.remotetask backlog benchmark, {time.strftime("%Y-%m-%d")}, '
          f'Python {platform.python_version()}, {os.cpu_count()} CPUs, '
          f'{platform.system()} {platform.machine()}')
    print(f'FileStorage, one transaction per operation, {args.ops} ops x '
          f'{args.rounds} rounds per cell (+{args.warmup} warm-up), '
          f'backlog {args.backlog:,}')
    print(f'source: {sourceVersion()}')
    started = time.perf_counter()
    verdicts = []
    with tempfile.TemporaryDirectory(prefix='remotetask-bench-') as tmp:
        baseline(tmp, args.ops)
        a = Subject(tmp, 'empty', 'svc', TaskService, _add, _claim, 0)
        b = Subject(tmp, 'backlog', 'svc', TaskService, _add, _claim,
                    args.backlog)
        print(f'filled {args.backlog:,} jobs in {b.fillSeconds:.1f} s '
              f'({FILL_BATCH:,} per transaction); .fs is '
              f'{b.size() / 1e6:.1f} MB')
        a.pending, b.pending = 0, args.backlog
        gc.collect()
        measurePair(a, b, args.ops, args.rounds, args.warmup)
        # The backlog is intact: as many adds as claims (private attribute,
        # read for this check only).
        assert b.obj.queueLength() == args.backlog, b.obj.queueLength()
        labels = [('add+commit', 'put'), ('claim+commit', 'pull')]
        verdicts = table('TaskService', a, b, labels)
        printBreakdown(a, b, labels)
        for s in (a, b):
            s.close()

        if args.no_zc:
            print('\nzc.queue comparison skipped (--no-zc)')
        else:
            try:
                import zc.queue
            except ImportError as error:
                print(f'\nzc.queue comparison skipped: cannot import '
                      f'zc.queue ({error}); pip install zc.queue')
            else:
                zcCompare(tmp, args, zc.queue)

    elapsed = time.perf_counter() - started
    print()
    print(f'Target: backlog/0 ratio <= {TARGET_RATIO}x for the TaskService '
          f'medians and bytes per op')
    failed = False
    for name, ratio in verdicts:
        ok = ratio <= TARGET_RATIO
        failed |= not ok
        print(f'  {name:<22} {ratio:5.2f}x  {"ok" if ok else "OVER TARGET"}')
    print(f'total run time {elapsed:.0f} s')
    return 1 if failed else 0


def zcCompare(tmp, args, zcqueue):
    n = args.zc_backlog
    note = (f' (reduced from --backlog {args.backlog:,}: zc.queue.Queue '
            f'copies its whole tuple on every put, so filling is quadratic)'
            if n != args.backlog else '')
    print(f'\nzc.queue comparison: plain ints, backlog {n:,}{note}, '
          f'{args.zc_ops} ops x {args.rounds} rounds per cell')

    def put(q, i):
        q.put(i)

    def pull(q):
        try:
            return q.pull()
        except IndexError:
            return None

    for i, (label, make) in enumerate((
            ('zc.queue.Queue', zcqueue.Queue),
            ('zc.queue.CompositeQueue(compositeSize=15)',
             lambda: zcqueue.CompositeQueue(compositeSize=15)))):
        a = Subject(tmp, f'zc{i}-empty', 'queue', make, put, pull, 0)
        b = Subject(tmp, f'zc{i}-backlog', 'queue', make, put, pull, n)
        a.pending, b.pending = 0, n
        gc.collect()
        measurePair(a, b, args.zc_ops, args.rounds, min(args.warmup, 50))
        table(label, a, b, [('put+commit', 'put'), ('pull+commit', 'pull')])
        for s in (a, b):
            s.close()


if __name__ == '__main__':
    sys.exit(main())
