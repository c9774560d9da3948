"""What does an add write, and a job over its whole life?  Read back from
the storage, record by record.

A hand-run benchmark, not a test (issue 26)::

    .venv/bin/python benchmarks/records.py [--adds 200] [--backlog 10000]
        [--jobs 200] [--trickle 1000] [--bare] [--rounds 3]
        [--commits 2000] [--compare CHECKOUT] [--keep DIR]

Each measurement runs on a fresh FileStorage holding a `TaskService`,
then reads the transactions it made back with the storage's iterator
(``FileStorage.iterator(first, last)``) and counts, per job: transactions,
data records, the bytes of their pickles, the bytes of the records as
stored (pickle and the 42-byte record header), and the growth of the
file (which adds the transaction headers); and the same by the class of
the object a record holds (``ZODB.utils.get_pickle_metadata``):

add, empty     one writer adds ``--adds`` echo jobs (after 20 not
               counted), one ``service.add()`` and commit each, no worker;
add, backlog   the same into a service that already holds ``--backlog``
               queued jobs (added 1,000 a commit before);
life, one at a time  jobs run by the service's processor
               (``service.startProcessing()``, a SimpleProcessor thread):
               ``--jobs`` jobs, each added and committed, then waited for
               until it reads completed (as ``peers.py``'s W3), so that its
               add, claim, run and record are commits of their own;
               everything the storage was given from the first add to the
               last record, per job (the processor's other commits, such
               as its lease keeper's beats, included);
life, trickle  ``--trickle`` jobs added one per commit while the processor
               runs them, not waited for (as ``growth.py`` does): what the
               FileStorage grows by per job before packing.

``--bare`` also measures the floor of an add: a loop with no library
code that commits 2 records per commit to a FileStorage (a new small
persistent object, as a job, and a persistent object holding a 30-entry
tuple of ints, rewritten, as a queue's segment), against the library's
adds alone (one writer, no worker, ``service.add()`` + commit), both
``--commits`` commits on fresh files, taking turns for ``--rounds``
rounds; medians, and the ratio adds / bare loop, the median of each
round's (issue 26: at least 0.9).

Only the public API is used, so that ``--compare CHECKOUT`` measures
another source the same way (its ``src`` put first on the children's
PYTHONPATH), side by side: side A is this environment's source, side B
the other.  Every measurement runs in a child process.
"""
import argparse
import collections
import contextlib
import os
import statistics
import sys
import tempfile
import time

from persistent import Persistent

# Siblings, found as the script's directory is on sys.path.
from benchkit import (
    RunError, command, fsyncMs, handBack, loadAverage, machine, payload,
    ratioText, render, runRole, sides)

SERVICE = 'svc'
TASK = 'echo'
WARMUP = 20
FILL_BATCH = 1000
POLL = 0.0005
TIMEOUT = 1800
#: FileStorage's data record header (ZODB.FileStorage.format.DATA_HDR_LEN).
DATA_HEADER = 42

#: Issue 26's targets.
TARGET_ADD_RECORDS = 2
TARGET_ADD_BYTES = 900
TARGET_LIFE_BYTES = 2000
TARGET_GROWTH = 1500
TARGET_BARE = 0.9

MEASURES = (('add', 'add, empty'), ('addBacklog', 'add, backlog'),
            ('life', 'life, one at a time'), ('trickle', 'life, trickle'))


def say(*args):
    print(*args, flush=True)


# ---------------------------------------------------------------------------
# The child's side.


class Store:
    """A FileStorage with a service, and a connection to it."""

    def __init__(self, path):
        import transaction
        from ZODB import DB
        from ZODB.FileStorage import FileStorage
        from lovely.remotetask import TaskService, getApplicationRoot
        self.path = path
        self.db = DB(FileStorage(path))
        self.tm = transaction.TransactionManager()
        self.conn = self.db.open(transaction_manager=self.tm)
        root = getApplicationRoot(self.conn, create=True)
        self.service = root[SERVICE] = TaskService()
        self.tm.commit()

    def mark(self):
        """Where the next transaction starts: (its first tid, file size)."""
        from ZODB.utils import p64, u64
        return p64(u64(self.db.lastTransaction()) + 1), \
            os.path.getsize(self.path)

    def since(self, mark, ops):
        """What the transactions since `mark` wrote, per op."""
        first, size = mark
        grown = os.path.getsize(self.path) - size
        return written(self.db.storage, first, self.db.lastTransaction(),
                       ops, grown)

    def close(self):
        self.tm.abort()
        self.conn.close()
        self.db.close()


def className(data):
    """The class of the object a record holds: module (without the
    package's prefix) and class."""
    from ZODB.utils import get_pickle_metadata
    module, name = get_pickle_metadata(data)
    for prefix in ('lovely.remotetask.', 'persistent.', 'BTrees.'):
        if module.startswith(prefix):
            module = module[len(prefix):]
            break
    return f'{module}.{name}'


def written(storage, first, last, ops, grown):
    """Transactions, records and bytes from `first` to `last` (tids), per
    op, in all and by class."""
    transactions = records = pickles = 0
    byClass = collections.defaultdict(lambda: [0, 0])
    for txn in storage.iterator(first, last):
        transactions += 1
        for record in txn:
            size = len(record.data or b'')
            records += 1
            pickles += size
            entry = byClass[className(record.data) if record.data
                            else '(backpointer)']
            entry[0] += 1
            entry[1] += size + DATA_HEADER
    return {'ops': ops, 'transactions': transactions / ops,
            'records': records / ops, 'pickles': pickles / ops,
            'stored': (pickles + records * DATA_HEADER) / ops,
            'growth': grown / ops,
            'classes': {k: (v[0] / ops, v[1] / ops)
                        for k, v in byClass.items()}}


def measureAdds(path, adds, backlog):
    store = Store(path)
    service, tm = store.service, store.tm
    i = 0
    while i < backlog:
        for _ in range(min(FILL_BATCH, backlog - i)):
            service.add(TASK, payload(i))
            i += 1
        tm.commit()
    for _ in range(WARMUP):
        service.add(TASK, payload(i))
        tm.commit()
        i += 1
    mark = store.mark()
    for _ in range(adds):
        service.add(TASK, payload(i))
        tm.commit()
        i += 1
    out = store.since(mark, adds)
    store.close()
    return out


def waitUntil(condition, timeout, what):
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise RunError(f'{what} after {timeout} s')
        time.sleep(POLL)


def measureLife(path, jobs, trickle):
    """Jobs run by the service's processor: one at a time, or a trickle."""
    from lovely.remotetask.interfaces import COMPLETED
    store = Store(path)
    service, tm, conn = store.service, store.tm, store.conn
    service.startProcessing()
    try:
        def oneJob(i):
            jobid = service.add(TASK, payload(i))
            tm.commit()

            def done():
                conn.sync()
                return service.getStatus(jobid) == COMPLETED
            waitUntil(done, 30, f'job {jobid} not completed')

        for i in range(WARMUP):     # the processor registered and warm
            oneJob(i)
        mark = store.mark()
        if not trickle:
            for i in range(WARMUP, WARMUP + jobs):
                oneJob(i)
        else:
            for i in range(WARMUP, WARMUP + jobs):
                service.add(TASK, payload(i))
                tm.commit()

            def allDone():
                conn.sync()
                return service.statusCounts().get(COMPLETED, 0) >= \
                    WARMUP + jobs
            waitUntil(allDone, 60 + jobs * 0.05, 'the trickle not done')
        out = store.since(mark, jobs)
    finally:
        service.stopProcessing(wait=30)
    store.close()
    return out


def roleRecords(cfg):
    import benchtasks  # noqa: F401 -- registers echo
    from backlog import sourceVersion
    directory = cfg['directory']
    out = {'source': sourceVersion()}
    for key, _ in MEASURES:
        if key not in cfg['only']:
            continue
        path = os.path.join(directory, f'{key}.fs')
        if key == 'add':
            out[key] = measureAdds(path, cfg['adds'], 0)
        elif key == 'addBacklog':
            out[key] = measureAdds(path, cfg['adds'], cfg['backlog'])
        elif key == 'life':
            out[key] = measureLife(path, cfg['jobs'], False)
        else:
            out[key] = measureLife(path, cfg['trickle'], True)
    handBack(out)


# The bare loop's objects: a job and a queue segment, no library code.

class BareJob(Persistent):
    """A job as a bare script would store one."""

    def __init__(self, i, input):
        self.id = i
        self.task = TASK
        self.input = input
        self.status = 'queued'
        self.created = time.time()


class BareSegment(Persistent):
    """A queue's segment: a tuple of 30 entries, rewritten each commit."""

    def __init__(self):
        self.entries = tuple(range(30))


def bareLoop(path, commits):
    """Commits/s of 2 records a commit: a new job, a 30-entry segment."""
    import transaction
    from ZODB import DB
    from ZODB.FileStorage import FileStorage
    db = DB(FileStorage(path))
    tm = transaction.TransactionManager()
    conn = db.open(transaction_manager=tm)
    segment = conn.root()['segment'] = BareSegment()
    tm.commit()
    stamp = int(time.time() * 1000) << 12

    def one(i):
        conn.add(BareJob(i, payload(i)))
        segment.entries = segment.entries[1:] + ((stamp + i) << 31 | i,)
        tm.commit()

    for i in range(WARMUP):
        one(i)
    t0 = time.perf_counter()
    for i in range(WARMUP, WARMUP + commits):
        one(i)
    rate = commits / (time.perf_counter() - t0)
    conn.close()
    db.close()
    return rate


def addsAlone(path, commits):
    """Adds/s of one writer, no worker: service.add() + commit."""
    store = Store(path)
    service, tm = store.service, store.tm
    for i in range(WARMUP):
        service.add(TASK, payload(i))
        tm.commit()
    t0 = time.perf_counter()
    for i in range(WARMUP, WARMUP + commits):
        service.add(TASK, payload(i))
        tm.commit()
    rate = commits / (time.perf_counter() - t0)
    store.close()
    return rate


def roleBare(cfg):
    import benchtasks  # noqa: F401 -- registers echo
    from backlog import sourceVersion
    bare, adds = [], []
    for r in range(cfg['rounds']):
        order = ('bare', 'adds') if r % 2 == 0 else ('adds', 'bare')
        for kind in order:
            path = os.path.join(cfg['directory'], f'{kind}-{r}.fs')
            if kind == 'bare':
                bare.append(bareLoop(path, cfg['commits']))
            else:
                adds.append(addsAlone(path, cfg['commits']))
            for suffix in ('', '.index', '.lock', '.tmp'):
                with contextlib.suppress(FileNotFoundError):
                    os.unlink(path + suffix)
    handBack({'source': sourceVersion(), 'bare': bare, 'adds': adds})


def runChildRole(argv):
    import json
    import logging
    logging.basicConfig(level=logging.WARNING, stream=sys.stderr)
    roles = {'records': roleRecords, 'bare': roleBare}
    if argv[1] not in roles:
        raise SystemExit(f'unknown role {argv[1]}')
    roles[argv[1]](json.loads(argv[2]))


# ---------------------------------------------------------------------------
# The orchestrator's side.


def figures(results, sideList, names):
    """The table of the figures per op of each measure, side by side."""
    compare = len(sideList) > 1
    head = ['measure', 'per op'] + [f'side {s.key}' for s in sideList] + \
        (['B/A'] if compare else [])
    body = []
    fields = (('transactions', 'transactions', '{:.2f}'),
              ('records', 'records', '{:.2f}'),
              ('pickles', 'pickle bytes', '{:,.0f}'),
              ('stored', 'record bytes', '{:,.0f}'),
              ('growth', 'file growth', '{:,.0f}'))
    for key, label in MEASURES:
        if key not in names:
            continue
        for n, (field, name, fmt) in enumerate(fields):
            values = [results[s.key].get(key, {}).get(field)
                      for s in sideList]
            row = [label if n == 0 else '', name] + [
                '-' if v is None else fmt.format(v) for v in values]
            if compare:
                a, b = values
                row.append(ratioText(b / a if a and b is not None
                                     else None))
            body.append(row)
    return render(head, body, set(range(2, len(head))))


def breakdown(results, sideList, key):
    """Records and bytes per op by class, side by side."""
    names = collections.Counter()
    for s in sideList:
        for name, (_, size) in results[s.key].get(key, {}).get(
                'classes', {}).items():
            names[name] += size
    head = ['class'] + [x for s in sideList
                        for x in (f'records {s.key}', f'bytes {s.key}')]
    body = []
    for name, _ in names.most_common():
        row = [name]
        for s in sideList:
            count, size = results[s.key].get(key, {}).get(
                'classes', {}).get(name, (0, 0))
            row += [f'{count:.2f}', f'{size:,.0f}']
        body.append(row)
    return render(head, body, set(range(1, len(head))))


def bareRatio(b):
    """Adds alone / the bare loop: the median of each round's ratio (a
    round's two runs are next to each other in time)."""
    return statistics.median(a / b for a, b in zip(b['adds'], b['bare']))


def bareTable(bare, sideList, commits):
    head = ['side', 'adds alone, /s', 'bare 2-record loop, commits/s',
            'adds / bare', 'rounds (adds; bare)']
    body = []
    for s in sideList:
        b = bare[s.key]
        adds, loop = statistics.median(b['adds']), statistics.median(b['bare'])
        body.append([s.key, f'{adds:,.0f}', f'{loop:,.0f}',
                     f'{bareRatio(b):.2f}x',
                     ', '.join(f'{x:,.0f}' for x in b['adds']) + '; ' +
                     ', '.join(f'{x:,.0f}' for x in b['bare'])])
    return render(head, body, {1, 2, 3})


def targetLines(results, bare, sideList):
    out = []

    def check(side, name, value, target, higher=False):
        if value is None:
            out.append(f'  side {side}: {name:34} not measured')
            return
        ok = value >= target if higher else value <= target
        out.append(f'  side {side}: {name:34} {value:9,.2f}  target '
                   f'{">=" if higher else "<="} {target:,}  '
                   f'{"ok" if ok else "FAILS"}')

    for s in sideList:
        r = results.get(s.key, {})
        add = r.get('add', {})
        check(s.key, 'records per add', add.get('records'),
              TARGET_ADD_RECORDS)
        check(s.key, 'record bytes per add', add.get('stored'),
              TARGET_ADD_BYTES)
        check(s.key, 'record bytes per job, its life',
              r.get('life', {}).get('stored'), TARGET_LIFE_BYTES)
        check(s.key, 'file growth per job, trickle',
              r.get('trickle', {}).get('growth'), TARGET_GROWTH)
        if s.key in bare:
            b = bare[s.key]
            check(s.key, 'adds alone / bare 2-record loop', bareRatio(b),
                  TARGET_BARE, higher=True)
    return out


def main(argv=None):
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ['--role']:
        return runChildRole(argv)
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--adds', type=int, default=200)
    parser.add_argument('--backlog', type=int, default=10000)
    parser.add_argument('--jobs', type=int, default=200,
                        help='jobs run one at a time (default 200)')
    parser.add_argument('--trickle', type=int, default=1000,
                        help='jobs of the trickle (default 1,000)')
    parser.add_argument('--only', default=','.join(k for k, _ in MEASURES),
                        help='measures: ' + ','.join(k for k, _ in MEASURES)
                        + ' (default all)')
    parser.add_argument('--bare', action='store_true',
                        help='also adds alone against a bare 2-record '
                        'commit loop')
    parser.add_argument('--rounds', type=int, default=3,
                        help='--bare: rounds of each, taking turns')
    parser.add_argument('--commits', type=int, default=2000,
                        help='--bare: commits of each per round')
    parser.add_argument('--compare', metavar='CHECKOUT',
                        help='also measure this checkout (or source '
                        'directory) side by side: side B')
    parser.add_argument('--keep', metavar='DIR',
                        help='keep the databases and logs in DIR')
    args = parser.parse_args(argv)
    names = [n.strip() for n in args.only.split(',') if n.strip()]
    wrong = set(names) - {k for k, _ in MEASURES}
    if wrong:
        parser.error(f'unknown measures: {", ".join(sorted(wrong))}')
    if min(args.adds, args.jobs, args.trickle, args.rounds,
           args.commits) < 1 or args.backlog < 0:
        parser.error('counts must be at least 1 (--backlog 0)')
    try:
        sideList = sides(args.compare)
    except RunError as error:
        parser.error(f'--compare: {error}')

    started = time.perf_counter()
    say(f'lovely.remotetask records and bytes per job, {machine()}')
    say(f'command: {command(__file__, argv)}')
    if args.keep:
        os.makedirs(args.keep, exist_ok=True)
        scratch = contextlib.nullcontext(os.path.abspath(args.keep))
    else:
        scratch = tempfile.TemporaryDirectory(prefix='remotetask-records-')
    results, bare = {}, {}
    with scratch as tmp:
        say(f'load average at start: {loadAverage()}; fsync of a 2 KB '
            f'append: median {fsyncMs(tmp):.3f} ms')
        for s in sideList:
            directory = os.path.join(tmp, f'records-{s.key}')
            os.makedirs(directory, exist_ok=True)
            say(f'  records, side {s.key} ...')
            results[s.key] = runRole(__file__, s, 'records', {
                'directory': directory, 'only': names, 'adds': args.adds,
                'backlog': args.backlog, 'jobs': args.jobs,
                'trickle': args.trickle}, TIMEOUT,
                os.path.join(directory, 'child.log'))
        if args.bare:
            for s in sideList[::-1]:
                directory = os.path.join(tmp, f'bare-{s.key}')
                os.makedirs(directory, exist_ok=True)
                say(f'  adds alone and the bare loop, side {s.key} ...')
                bare[s.key] = runRole(__file__, s, 'bare', {
                    'directory': directory, 'rounds': args.rounds,
                    'commits': args.commits}, TIMEOUT,
                    os.path.join(directory, 'child.log'))
        fsyncEnd = fsyncMs(tmp)

    for s in sideList:
        say(f'side {s.key}: {results[s.key]["source"]}' +
            ('' if s.src is None else f' (--compare {args.compare})'))
    say(f'\nper op: an add (add, {args.adds} adds; backlog '
        f'{args.backlog:,}), or a job ({args.jobs} one at a time; '
        f'{args.trickle:,} in the trickle); record bytes = pickles + '
        f'{DATA_HEADER} bytes of record header; file growth adds the '
        f'transaction headers')
    for line in figures(results, sideList, names):
        say(line)
    for key, label in MEASURES:
        if key in names:
            say(f'\n{label}: records and record bytes per op, by class')
            for line in breakdown(results, sideList, key):
                say(line)
    if bare:
        say(f'\nan add at the commit floor: {args.commits:,} commits per '
            f'round, {args.rounds} rounds taking turns; medians')
        for line in bareTable(bare, sideList, args.commits):
            say(line)
    say('\ntargets (issue 26)')
    for line in targetLines(results, bare, sideList):
        say(line)
    say(f'total run time {time.perf_counter() - started:.0f} s; at the end: '
        f'load average {loadAverage()}, fsync of a 2 KB append median '
        f'{fsyncEnd:.3f} ms')
    return 0


if __name__ == '__main__':
    sys.exit(main())
