"""Do a service's costs follow the work waiting, or every writer it has had?

A hand-run benchmark, not a test (issue 25, "many writers")::

    .venv/bin/python benchmarks/writers.py [--writers 2000] [--per-db 10]
        [--processes 200] [--parallel 2] [--process-kind cli|python]
        [--only inprocess,processes] [--budget 4] [--cache-size N]
        [--compare CHECKOUT]
        [--keep DIR]

Applications add jobs from writers that live briefly: a cron script, the
``remotetask add`` command, a web server's processes recycled after so
many requests.  Each is a new ZODB connection (or a new database object,
in a new process) that adds a job or two and is gone.  This benchmark
builds the same number of queued jobs two ways, each on a fresh
FileStorage holding a `TaskService`:

one     one writer (one connection) adds ``--writers`` jobs, one
        ``service.add('echo', ...)`` and commit per job;
many    ``--writers`` writers add one job each, in turn: every writer opens
        a connection of its own, adds, commits; every ``--per-db`` writers
        share a database object (``DB(FileStorage(path))``) that is then
        closed, as a process that ends (a new connection object is what a
        new writer is; ZODB's pool would hand a closed one out again, so
        a database's connections are closed when all its writers are
        done, then the database);

and, with real processes (``processes``), ``--processes`` jobs:

one     one writer adds them, as above;
procs   ``--processes`` short-lived processes add one job each: the
        ``remotetask add`` command (``--process-kind cli``, the default) or
        a ``python -c`` script that opens the database, adds, commits and
        exits (``python``).  ``--parallel 1`` runs them one after another
        on the FileStorage file; more run that many at a time over a ZEO
        server (``ZEO.runzeo``) serving it.

Then each database, reopened by a new process as the library opens one
(``openDatabase('file://...')``: a cache of 10,000 objects a
connection; ``--cache-size 400`` gives ZODB's own default, which holds
less than a service with thousands of writers needs, so that every call
loads them again), is measured, the same way for both shapes:

claim          ``claimNextJob()`` + commit, median (after 3 warm-up
               claims; warm);
processNext    ``processNext()`` + commit, one job each: jobs/s;
statusCounts, oldestWaiting, and the first page of every listing
               (``jobsPage(status)`` for each status that has jobs then:
               queued, processing (the claimed), completed; and
               ``jobsPage()``, all jobs): medians, each call in a fresh
               transaction, after one warm-up call;
Data.fs        the file's size once the adds are done.

Each timed step runs up to its count (``--claims``, ``--process-next``,
``--reads``) or until ``--budget`` seconds have passed, at least 3 times,
so that a slow shape stays short.  The table gives each figure for both
shapes and the ratio many/one (for processNext's jobs/s, below 1 is
slower).  The targets of issue 25: every time within 1.3x of one writer,
processNext at least 1/1.3 of it, Data.fs at most 1.5x.

Only the public API is used (``TaskService``, ``add``, ``claimNextJob``,
``processNext``, ``statusCounts``, ``oldestWaiting``, ``jobsPage``,
``getApplicationRoot``, ``openDatabase``, ``remotetask add``), so that
``--compare CHECKOUT`` runs the same against another source (its ``src``
put first on the children's PYTHONPATH; its dependencies must be
installed here), side by side in the same run: side A is this
environment's source, side B the other.  Every shape runs in a child
process of its own.
"""
import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time

# Siblings, found as the script's directory is on sys.path.
from benchkit import (
    RunError, command, fsyncMs, handBack, loadAverage, machine, payload,
    ratioText, render, runRole, sides, zeoServer)

HERE = os.path.dirname(os.path.abspath(__file__))
SERVICE = 'svc'
TASK = 'echo'
WARM_CLAIMS = 3
TIMEOUT = 3600

#: Issue 25: many writers within this of one writer, Data.fs within SIZE.
TARGET = 1.3
TARGET_SIZE = 1.5

#: A short-lived writer that is a script: opens, adds one job, commits.
SCRIPT = '''
import json, sys, transaction, benchtasks
from lovely.remotetask import getApplicationRoot, openDatabase
db = openDatabase(sys.argv[1])
tm = transaction.TransactionManager()
conn = db.open(transaction_manager=tm)
for attempt in tm.attempts(3):
    with attempt:
        getApplicationRoot(conn)[sys.argv[2]].add(
            'echo', json.loads(sys.argv[3]))
conn.close()
db.close()
'''


def say(*args):
    print(*args, flush=True)


# ---------------------------------------------------------------------------
# The child's side: build one shape and measure it, with the side's source.


def newService(path):
    import transaction
    from ZODB import DB
    from ZODB.FileStorage import FileStorage
    from lovely.remotetask import TaskService, getApplicationRoot
    db = DB(FileStorage(path))
    tm = transaction.TransactionManager()
    conn = db.open(transaction_manager=tm)
    getApplicationRoot(conn, create=True)[SERVICE] = TaskService()
    tm.commit()
    conn.close()
    db.close()


def addOne(path, count):
    """One writer: one connection adds `count` jobs, a commit each."""
    import transaction
    from ZODB import DB
    from ZODB.FileStorage import FileStorage
    from lovely.remotetask import getApplicationRoot
    db = DB(FileStorage(path))
    tm = transaction.TransactionManager()
    conn = db.open(transaction_manager=tm)
    service = getApplicationRoot(conn)[SERVICE]
    for i in range(count):
        service.add(TASK, payload(i))
        tm.commit()
    conn.close()
    db.close()


def addMany(path, count, perDb):
    """`count` writers in turn, each a connection of its own adding one
    job; every `perDb` of them share a database object, then closed."""
    import transaction
    from ZODB import DB
    from ZODB.FileStorage import FileStorage
    from lovely.remotetask import getApplicationRoot
    i = 0
    while i < count:
        group = min(perDb, count - i)
        db = DB(FileStorage(path), pool_size=group)
        connections = []
        for _ in range(group):
            tm = transaction.TransactionManager()
            conn = db.open(transaction_manager=tm)
            getApplicationRoot(conn)[SERVICE].add(TASK, payload(i))
            tm.commit()
            connections.append(conn)
            i += 1
        # Closed only now: the pool would hand a closed one out again.
        for conn in connections:
            conn.close()
        db.close()


def addProcesses(path, count, parallel, kind, logDir):
    """`count` processes add a job each, `parallel` at a time (over ZEO
    when more than one); the failures, with their first lines."""
    if parallel <= 1:
        return runProcesses(path, count, 1, kind)
    with zeoServer(path, os.path.join(logDir, 'zeo.log'),
                   dict(os.environ)) as uri:
        return runProcesses(uri, count, parallel, kind)


def runProcesses(uri, count, parallel, kind):
    running, failures, started = [], [], 0
    while started < count or running:
        while started < count and len(running) < parallel:
            item = json.dumps(payload(started))
            if kind == 'cli':
                argv = [sys.executable, '-m', 'lovely.remotetask', 'add',
                        '--db', uri, '--service', SERVICE,
                        '--tasks', 'benchtasks', TASK, item]
            else:
                argv = [sys.executable, '-c', SCRIPT, uri, SERVICE, item]
            running.append(subprocess.Popen(
                argv, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                text=True))
            started += 1
        process = running.pop(0)
        _, err = process.communicate()
        if process.returncode:
            failures.append((err.strip().splitlines() or ['?'])[-1][:200])
    return failures


def timed(fn, tm, count, budget, least=3):
    """Seconds of each call of `fn()` (up to `count` calls, fewer once
    `budget` seconds have passed, at least `least`); `tm` begins a fresh
    transaction before each and aborts it after."""
    times = []
    deadline = time.perf_counter() + budget
    while len(times) < count and (len(times) < least or
                                  time.perf_counter() < deadline):
        tm.begin()
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
        tm.abort()
    return times


def measure(path, cfg):
    """The figures of one built database, opened as the library opens one
    (``openDatabase``: ZODB's defaults as zodburi sets them, a cache of
    10,000 objects a connection)."""
    import transaction
    from lovely.remotetask import getApplicationRoot, openDatabase
    uri = f'file://{path}'
    if cfg['cacheSize']:
        uri += f'?connection_cache_size={cfg["cacheSize"]}'
    db = openDatabase(uri)
    tm = transaction.TransactionManager()
    conn = db.open(transaction_manager=tm)
    service = getApplicationRoot(conn)[SERVICE]
    out = {}
    budget = cfg['budget']
    tm.begin()
    queued = service.queueLength()
    tm.abort()
    # A share for each step, and some left queued for the listings.
    claims = min(cfg['claims'], (queued - WARM_CLAIMS) // 3)
    nexts = min(cfg['processNext'], (queued - WARM_CLAIMS) // 3)

    def claim():
        if service.claimNextJob() is None:
            raise RunError('no job left to claim')
        tm.commit()

    for _ in range(WARM_CLAIMS):
        claim()
    times = timed(claim, tm, claims, budget)
    out['claim'] = statistics.median(times)
    out['claims'] = len(times)

    def processNext():
        if not service.processNext():
            raise RunError('no job left to process')
        tm.commit()

    processNext()       # warm
    times = timed(processNext, tm, nexts - 1, budget)
    out['processNext'] = len(times) / sum(times)
    out['processed'] = len(times)

    reads = [('statusCounts', service.statusCounts),
             ('oldestWaiting', service.oldestWaiting)]
    tm.begin()
    statuses = sorted(service.statusCounts())
    tm.abort()
    for status in statuses:
        reads.append((f'page {status}',
                      lambda status=status: service.jobsPage(status)))
    reads.append(('page all', service.jobsPage))
    out['reads'] = {}
    for name, fn in reads:
        timed(fn, tm, 1, 0, least=1)    # warm
        times = timed(fn, tm, cfg['reads'], budget)
        out['reads'][name] = statistics.median(times)
    tm.begin()
    out['counts'] = service.statusCounts()
    tm.abort()
    conn.close()
    db.close()
    return out


def roleShape(cfg):
    """Build one shape in a new database, then measure it."""
    import benchtasks  # noqa: F401 -- registers echo for processNext
    from backlog import sourceVersion
    path = os.path.join(cfg['directory'], 'Data.fs')
    newService(path)
    failures = []
    t0 = time.perf_counter()
    if cfg['shape'] == 'one':
        addOne(path, cfg['count'])
    elif cfg['shape'] == 'many':
        addMany(path, cfg['count'], cfg['perDb'])
    else:
        failures = addProcesses(path, cfg['count'], cfg['parallel'],
                                cfg['kind'], cfg['directory'])
    seconds = time.perf_counter() - t0
    size = os.path.getsize(path)
    result = measure(path, cfg)
    result.update(source=sourceVersion(), size=size, addSeconds=seconds,
                  failures=failures)
    handBack(result)


def runChildRole(argv):
    import logging
    logging.basicConfig(level=logging.WARNING, stream=sys.stderr)
    if argv[1] != 'shape':
        raise SystemExit(f'unknown role {argv[1]}')
    roleShape(json.loads(argv[2]))


# ---------------------------------------------------------------------------
# The orchestrator's side.

CASES = {
    'inprocess': (('one', 'one writer'), ('many', 'many writers')),
    'processes': (('one', 'one writer'), ('procs', 'processes')),
}


def caseCount(case, args):
    return args.writers if case == 'inprocess' else args.processes


def describe(case, args):
    if case == 'inprocess':
        return (f'{args.writers:,} jobs: one writer, against {args.writers:,}'
                f' writers of one add each ({args.per_db} connections per '
                f'database object)')
    how = ('"remotetask add"' if args.process_kind == 'cli'
           else '"python -c" scripts')
    over = ('one after another on the file' if args.parallel <= 1 else
            f'{args.parallel} at a time over ZEO')
    return (f'{args.processes:,} jobs: one writer, against '
            f'{args.processes:,} {how} processes, {over}')


def runCase(case, side, args, tmp):
    """Both shapes of `case` on `side`: {shape: result}."""
    out = {}
    for shape, _ in CASES[case]:
        directory = os.path.join(tmp, f'{case}-{shape}-{side.key}')
        os.makedirs(directory, exist_ok=True)
        cfg = {'shape': shape, 'count': caseCount(case, args),
               'perDb': args.per_db, 'parallel': args.parallel,
               'kind': args.process_kind, 'directory': directory,
               'budget': args.budget, 'claims': args.claims,
               'processNext': args.process_next, 'reads': args.reads,
               'cacheSize': args.cache_size}
        say(f'  {case}, {shape}, side {side.key} ...')
        t0 = time.perf_counter()
        try:
            result = runRole(__file__, side, 'shape', cfg, TIMEOUT,
                             os.path.join(directory, 'child.log'))
        except RunError as error:
            say(f'      FAILED: {error}')
            result = {'error': str(error)}
        else:
            say(f'      {result["size"] / 1e6:.1f} MB, claim '
                f'{result["claim"] * 1e3:.2f} ms, processNext '
                f'{result["processNext"]:,.0f} jobs/s '
                f'({time.perf_counter() - t0:.0f} s)')
            if result['failures']:
                say(f'      {len(result["failures"])} processes failed, '
                    f'e.g. {result["failures"][0]}')
        out[shape] = result
    return out


def metrics(results):
    """The rows of a case: (label, key, unit, kind) where kind says how a
    ratio reads: 'time' (lower is better), 'rate', 'size'."""
    rows = [('adds/s (building)', 'adds', 'rate', None),
            ('claim + commit, ms', 'claim', 'time', TARGET),
            ('processNext + commit, jobs/s', 'processNext', 'rate', TARGET)]
    names = []
    for result in results:
        for name in result.get('reads', {}):
            if name not in names:
                names.append(name)
    for name in names:
        label = (f'jobsPage({name[5:]!r}), ms' if name.startswith('page ')
                 and name != 'page all' else 'jobsPage(), all, ms'
                 if name == 'page all' else f'{name}(), ms')
        rows.append((label, name, 'time', TARGET))
    rows.append(('Data.fs, MB', 'size', 'size', TARGET_SIZE))
    return rows


def value(result, key, count):
    if 'error' in result:
        return None
    if key == 'adds':
        return count / result['addSeconds']
    if key in ('claim', 'processNext', 'size'):
        return result[key]
    return result['reads'].get(key)


def shown(v, unit):
    if v is None:
        return '-'
    if unit == 'time':
        return f'{v * 1e3:.3f}' if v < 0.01 else f'{v * 1e3:.1f}'
    if unit == 'size':
        return f'{v / 1e6:.1f}'
    return f'{v:,.0f}'


def costRatio(one, many, unit):
    """How many times one writer's figure the many cost: above 1 is worse
    (for a rate, one / many)."""
    if one is None or many is None or not one or not many:
        return None
    return one / many if unit == 'rate' else many / one


def table(case, results, sideList, count):
    """Lines of the table of `case`: each side's figures and ratios."""
    first, second = (shape for shape, _ in CASES[case])
    head = ['metric']
    for side in sideList:
        suffix = f' {side.key}' if len(sideList) > 1 else ''
        head += [f'one{suffix}', f'{second}{suffix}', f'{second}/one']
    if len(sideList) > 1:
        head.append(f'{second} B/A')
    body, verdicts = [], []
    for label, key, unit, target in metrics(
            [results[s.key][shape] for s in sideList
             for shape in (first, second)]):
        row = [label]
        for side in sideList:
            one = value(results[side.key][first], key, count)
            many = value(results[side.key][second], key, count)
            row += [shown(one, unit), shown(many, unit)]
            row.append(ratioText(None if not one or many is None
                                 else many / one))
            cost = costRatio(one, many, unit)
            if target is not None:
                verdicts.append((side.key, label, cost, target))
        if len(sideList) > 1:
            a = value(results['A'][second], key, count)
            b = value(results['B'][second], key, count)
            row.append(ratioText(None if not a or b is None else b / a))
        body.append(row)
    right = set(range(1, len(head)))
    return render(head, body, right), verdicts


def targetLines(verdicts):
    out = []
    for side, label, cost, target in verdicts:
        if cost is None:
            out.append(f'  side {side}: {label}: not measured')
            continue
        ok = cost <= target
        out.append(f'  side {side}: {label:36} costs {cost:7.2f}x one '
                   f'writer  target <= {target}x  '
                   f'{"ok" if ok else "FAILS"}')
    return out


def main(argv=None):
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ['--role']:
        return runChildRole(argv)
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--writers', type=int, default=2000,
                        help='writers of one job each, in one process '
                        '(default 2,000)')
    parser.add_argument('--per-db', type=int, default=10,
                        help='writers that share a database object before '
                        'it is closed (default 10)')
    parser.add_argument('--processes', type=int, default=200,
                        help='short-lived processes of one add each '
                        '(default 200)')
    parser.add_argument('--parallel', type=int, default=2,
                        help='processes at a time; above 1 over a ZEO '
                        'server (default 2)')
    parser.add_argument('--process-kind', choices=('cli', 'python'),
                        default='cli',
                        help='"remotetask add" (cli, default) or a '
                        '"python -c" script')
    parser.add_argument('--only', default=','.join(CASES),
                        help='cases: inprocess,processes')
    parser.add_argument('--budget', type=float, default=4.0,
                        help='seconds at most for each timed step (at '
                        'least 3 calls; default 4)')
    parser.add_argument('--cache-size', type=int, default=0,
                        help="objects in the measuring connection's cache "
                        "(default: openDatabase's, 10,000)")
    parser.add_argument('--claims', type=int, default=200)
    parser.add_argument('--process-next', type=int, default=200)
    parser.add_argument('--reads', type=int, default=50)
    parser.add_argument('--compare', metavar='CHECKOUT',
                        help='also measure this checkout (or source '
                        'directory) side by side: side B')
    parser.add_argument('--keep', metavar='DIR',
                        help='keep the databases and logs in DIR')
    args = parser.parse_args(argv)
    only = [c.strip() for c in args.only.split(',') if c.strip()]
    wrong = set(only) - set(CASES)
    if wrong:
        parser.error(f'unknown cases: {", ".join(sorted(wrong))}')
    least = 30      # warm-ups, a few timed of each, some left queued
    if args.writers < least or args.processes < least:
        parser.error(f'--writers and --processes must be at least {least}')
    if args.per_db < 1 or args.parallel < 1 or args.cache_size < 0:
        parser.error('--per-db and --parallel must be at least 1, '
                     '--cache-size not negative')
    try:
        sideList = sides(args.compare)
    except RunError as error:
        parser.error(f'--compare: {error}')

    started = time.perf_counter()
    say(f'lovely.remotetask many writers benchmark, {machine()}')
    say(f'command: {command(__file__, argv)}')
    import contextlib
    if args.keep:
        os.makedirs(args.keep, exist_ok=True)
        scratch = contextlib.nullcontext(os.path.abspath(args.keep))
    else:
        scratch = tempfile.TemporaryDirectory(prefix='remotetask-writers-')
    results = {}
    with scratch as tmp:
        say(f'load average at start: {loadAverage()}; fsync of a 2 KB '
            f'append: median {fsyncMs(tmp):.3f} ms')
        for case in only:
            say(f'\n{case}: {describe(case, args)}')
            # Sides take turns: A B, then B A.
            order = sideList if only.index(case) % 2 == 0 else sideList[::-1]
            for side in order:
                results[case, side.key] = runCase(case, side, args, tmp)
        fsyncEnd = fsyncMs(tmp)
    for side in sideList:
        sources = {r.get('source') for case in only
                   for r in results[case, side.key].values()} - {None}
        say(f'side {side.key}: {", ".join(sorted(sources)) or "-"}' +
            ('' if side.src is None else f' (--compare {args.compare})'))
    allVerdicts = []
    for case in only:
        say(f'\n{case}: {describe(case, args)}; medians (processNext: '
            f'jobs/s); ratios {CASES[case][1][0]}/one')
        perSide = {s.key: results[case, s.key] for s in sideList}
        lines, verdicts = table(case, perSide, sideList,
                                caseCount(case, args))
        for line in lines:
            say(line)
        for side in sideList:
            one = perSide[side.key].get('one', {})
            many = perSide[side.key].get(CASES[case][1][0], {})
            if 'size' in one and 'size' in many:
                more = (many['size'] - one['size']) / caseCount(case, args)
                say(f'  side {side.key}: {more:,.0f} bytes more per writer;'
                    f' claims timed '
                    f'{one["claims"]}/{many["claims"]}, processNext '
                    f'{one["processed"]}/{many["processed"]} jobs')
        allVerdicts += [(side, f'{case}: {label}', cost, target)
                        for side, label, cost, target in verdicts]
    say('\ntargets (issue 25: within 1.3x of one writer, Data.fs 1.5x)')
    for line in targetLines(sorted(allVerdicts, key=lambda v: v[0])):
        say(line)
    say(f'total run time {time.perf_counter() - started:.0f} s; at the end: '
        f'load average {loadAverage()}, fsync of a 2 KB append median '
        f'{fsyncEnd:.3f} ms')
    failed = any('error' in r for v in results.values() for r in v.values())
    return 1 if failed else 0


if __name__ == '__main__':
    sys.exit(main())
