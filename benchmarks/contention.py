"""How often do concurrent adds conflict while jobs are being claimed?

A hand-run benchmark, not a test (issue 12)::

    .venv/bin/pip install -e '.[test,bench]'
    .venv/bin/python benchmarks/contention.py [--producers 8] [--adds 150]
        [--only file,shortlived,zeo,relstorage,hotspot]
        [--short-connections 200] [--short-adds 5]
        [--compare /other/checkout] [--repeat 2] [--keep DIR]

Setups, each on a fresh database:

file        one process: a FileStorage, the service's own processor
            (``service.startProcessing()``, a SimpleProcessor thread) and
            ``--producers`` producer threads;
shortlived  the same FileStorage and processor, and writers that live
            briefly, as cron scripts, ``remotetask add`` or recycled web
            processes do (issue 25): ``--producers`` threads open
            ``--short-connections`` connections in all, in turn, each
            adding ``--short-adds`` jobs and then closed for good (dropped
            from ZODB's pool, which would otherwise hand it out again: a
            new writer is a new connection); the first adds of each
            connection, which make what a new writer needs, are counted
            apart, and so are connections handed out again (there must be
            none);
zeo         a ZEO server process on a free loopback port (``ZEO.runzeo``,
            run with the measured source importable, so that it resolves
            conflicts with that source's classes), ``--workers``
            ``remotetask worker`` processes, and ``--clients`` producer
            processes of ``--producers / --clients`` threads each;
relstorage  RelStorage on the machine's PostgreSQL (``--postgres``), in a
            database of its own, created and dropped; ``--workers`` worker
            processes; ``--producers`` threads in one process;
hotspot     a ZEO server again, ``--hot-workers`` worker processes, and
            ``--hot-jobs`` jobs added in one transaction whose task each
            adds one to one shared persistent counter, in the job's own
            transaction, waiting ``--hot-work`` ms (default 2) between
            reading the counter and writing it (issue 12: conflicts inside
            a task's transaction are not failures).

Each producer thread has a connection of its own and adds ``--adds`` jobs,
one ``service.add()`` + ``commit()`` per transaction as a web request
would, with up to 3 attempts in all on a ``TransientError``, as
``transaction.manager.attempts(3)`` does.  The workers (or the processor)
claim and run the jobs all the while.  Reported for each setup:

conflicted  the share of add transactions whose first attempt raised a
            ``transaction.interfaces.TransientError`` (ConflictError,
            ReadConflictError, RelStorage's
            UnableToLockRowsToReadCurrentError, ...), by exception class
            and by the class of the conflicting object where the message
            names it (or, marked "(oid)", of the object whose oid the
            error carries, as a ReadConflictError's message names none);
failed      adds whose 3 attempts all failed (their jobs do not exist);
jobs/s      committed adds / seconds from the first producer's start to the
            last one's end, all processes together; add ms: p50 and p99 of
            one add, its retries included;
drain       seconds from the last add committed until every job is seen
            finished (``statusCounts()`` polled every 20 ms);
checked     every committed job is ``completed`` with its input as result,
            was claimed once (``attempts == 1``) and run once (each run of
            the task appends a line to a run log), and the service holds
            no other job.

The hot spot reports how many jobs completed and ended in error, the
counter (it must equal the number of jobs), and how many times each job
was run and claimed.

Every measured workload runs in subprocesses (and the ZEO server too), so
that ``--compare /other/checkout`` can run the same setups against that
checkout's ``src`` (put first on the subprocesses' PYTHONPATH) side by
side in the same run: side A is the source this environment imports,
side B the other checkout; their turns alternate (A B, then B A, ...),
``--repeat`` times per setup: counts add up over the repeats, rates and
drains are medians, and B's jobs/s is also given as a ratio to A's.
The other checkout's dependencies must be installed in this environment.
Only the public API is used: ``TaskService``, ``add``, ``statusCounts``,
``getStatus``/``getResult``/``getError``, ``jobs[id].attempts``,
``getWorkers``, ``startProcessing``/``stopProcessing``, ``openDatabase``,
``remotetask worker``; the hot spot's task finds the counter next to the
service, through its ``__parent__`` (``benchmarks/contentiontasks.py``).

The default run takes about a minute and a half on 2 CPUs (twice that
with ``--compare``); ``--keep DIR`` keeps the databases, the run logs and
the logs of every process.
"""
import argparse
import collections
import contextlib
import dataclasses
import importlib.metadata
import json
import os
import platform
import queue
import re
import shlex
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid

# A sibling script, found as the script's directory is on sys.path.
from benchkit import RunError, freePort, fsyncMs, stopProcess, waitForPort

HERE = os.path.dirname(os.path.abspath(__file__))
PYTHON = sys.executable

SETUPS = ('file', 'shortlived', 'zeo', 'relstorage', 'hotspot')
ATTEMPTS = 3            # as transaction.manager.attempts(3)
POLL = 0.020            # seconds between drain polls
START_TIMEOUT = 60      # seconds for servers, workers and children
PROTOCOL = 'CONTENTION '
TASK = 'contentionEcho'
HOT_TASK = 'contentionIncrement'
SERVICE = 'svc'

TARGET_CONFLICTS = 0.001    # issue 12: at most 0.1% without retry


def say(*args):
    print(*args, flush=True)


# ---------------------------------------------------------------------------
# The subprocesses' side: roles run with the measured source importable.


def emit(event, **data):
    """Tell the orchestrator something, on a line of its own."""
    sys.stdout.write(PROTOCOL + json.dumps(dict(data, event=event)) + '\n')
    sys.stdout.flush()


def receive():
    line = sys.stdin.readline()
    if not line:
        raise SystemExit('the orchestrator went away')
    return json.loads(line)


def example(error):
    """The first line of an error's message, shortened."""
    line = (str(error).strip().splitlines() or [''])[0]
    return re.sub(r', serial this txn started with .*', ', ...)', line)[:200]


def objectClass(error, conn):
    """The class of the object a conflict names in its message; else, of
    the object whose oid it names, marked "(oid)"."""
    found = re.search(r'class ([\w.]+)', str(error))
    if found:
        return found.group(1).rsplit('.', 1)[-1]
    oid = getattr(error, 'oid', None)
    if isinstance(oid, bytes) and len(oid) == 8:
        try:
            return f'{type(conn.get(oid)).__name__} (oid)'
        except Exception:
            pass
    return '(not named)'


class Producers:
    """Producer threads, each with a connection of its own, adding jobs
    one per transaction with up to `ATTEMPTS` attempts."""

    def __init__(self, db, first, threads, adds):
        import transaction
        self.db = db
        self.first, self.threads, self.adds = first, threads, adds
        self.connections = []
        for _ in range(threads):
            tm = transaction.TransactionManager()
            conn = db.open(transaction_manager=tm)
            self.connections.append((tm, conn))
        self.warm()

    def warm(self):
        """Load the service in every connection, as a running
        application has."""
        from lovely.remotetask import getApplicationRoot
        for tm, conn in self.connections:
            tm.begin()
            getApplicationRoot(conn)[SERVICE].statusCounts()
            tm.abort()

    def run(self):
        barrier = threading.Barrier(self.threads)
        stats = [None] * self.threads
        threads = [threading.Thread(
            target=self._produce, args=(i, barrier, stats),
            name=f'producer-{self.first + i}') for i in range(self.threads)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        for tm, conn in self.connections:
            tm.abort()
            conn.close()
        return merge(stats)

    def _produce(self, i, barrier, stats):
        tm, conn = self.connections[i]
        p = self.first + i
        s = newStats()
        barrier.wait()
        s['start'] = time.time()
        for n in range(self.adds):
            addCounted(tm, conn, s, p, n)
        s['end'] = time.time()
        stats[i] = s


def addCounted(tm, conn, s, p, n):
    """Producer `p`'s `n`th add, in a transaction of its own, with up to
    `ATTEMPTS` attempts on a TransientError; counted in the stats `s`.
    Whether its first attempt conflicted."""
    from transaction.interfaces import TransientError
    from lovely.remotetask import getApplicationRoot
    t0 = time.perf_counter()
    s['transactions'] += 1
    conflicted = False
    for attempt in range(1, ATTEMPTS + 1):
        tm.begin()
        try:
            service = getApplicationRoot(conn)[SERVICE]
            jobid = service.add(TASK, {'p': p, 'n': n})
            tm.commit()
        except TransientError as error:
            tm.abort()
            kind = type(error).__name__
            if attempt == 1:
                conflicted = True
                s['conflicted'] += 1
                s['byError'][kind] += 1
                s['byObject'][objectClass(error, conn)] += 1
                s['examples'].setdefault(kind, example(error))
            else:
                s['retryConflicts'] += 1
            if attempt == ATTEMPTS:
                s['failed'] += 1
                s['failedBy'][kind] += 1
        except Exception as error:
            tm.abort()
            s['failed'] += 1
            s['failedBy'][f'{type(error).__name__} (not transient)'] += 1
            if attempt == 1:
                s['otherErrors'][f'{type(error).__name__}: '
                                 f'{error}'[:200]] += 1
            break
        else:
            s['committed'].append((jobid, p, n))
            break
    s['latencies'].append(time.perf_counter() - t0)
    return conflicted


#: Marks a connection that a short-lived writer has used (see ShortLived).
USED = '_contention_used'


class ShortLived:
    """Producer threads whose writers live briefly, as cron scripts or
    recycled web processes: each thread opens `connections` connections in
    turn, each adds `adds` jobs (one per transaction) and is closed for
    good; the next is a new connection."""

    def __init__(self, db, threads, connections, adds):
        self.db = db
        self.threads, self.connections, self.adds = \
            threads, connections, adds

    def run(self):
        barrier = threading.Barrier(self.threads)
        stats = [None] * self.threads
        threads = [threading.Thread(
            target=self._produce, args=(i, barrier, stats),
            name=f'short-lived-{i}') for i in range(self.threads)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        return merge(stats)

    def _produce(self, i, barrier, stats):
        import transaction
        s = newStats()
        barrier.wait()
        s['start'] = time.time()
        for k in range(self.connections):
            p = i * self.connections + k        # a writer of its own
            tm = transaction.TransactionManager()
            conn = self.db.open(transaction_manager=tm)
            s['connections'] += 1
            if conn.__dict__.get(USED):
                s['reused'] += 1
            conn.__dict__[USED] = True
            for n in range(self.adds):
                conflicted = addCounted(tm, conn, s, p, n)
                if n == 0:
                    s['firstAdds'] += 1
                    s['firstConflicted'] += conflicted
            tm.abort()
            closeForGood(self.db, conn)
        s['end'] = time.time()
        stats[i] = s


def closeForGood(db, conn):
    """Close `conn` as a process that ends would: ZODB's pool would hand
    it to the next ``db.open()`` again, with its cache and all that was
    kept on it.  The database is opened with a negative pool timeout, so
    that the pool's collection drops every closed connection; the pool is
    guarded by the database's lock."""
    conn.close()
    with db._lock:
        db.pool.availableGC()


def newStats():
    return {'transactions': 0, 'conflicted': 0,
            'byError': collections.Counter(),
            'byObject': collections.Counter(), 'retryConflicts': 0,
            'failed': 0, 'failedBy': collections.Counter(),
            'otherErrors': collections.Counter(), 'examples': {},
            'committed': [],
            'latencies': [], 'start': None, 'end': None,
            'connections': 0, 'reused': 0, 'firstAdds': 0,
            'firstConflicted': 0}


def merge(parts):
    """One stats dict of several (threads or processes)."""
    out = newStats()
    for part in parts:
        for key in ('transactions', 'conflicted', 'retryConflicts', 'failed',
                    'connections', 'reused', 'firstAdds',
                    'firstConflicted'):
            out[key] += part.get(key, 0)
        for key in ('byError', 'byObject', 'failedBy', 'otherErrors'):
            out[key].update(part[key])   # a dict when it came as JSON
        for kind, text in part['examples'].items():
            out['examples'].setdefault(kind, text)
        out['committed'] += [tuple(c) for c in part['committed']]
        out['latencies'] += part['latencies']
        out['start'] = part['start'] if out['start'] is None else \
            min(out['start'], part['start'])
        out['end'] = part['end'] if out['end'] is None else \
            max(out['end'], part['end'])
    return out


class Reader:
    """A connection of one's own that reads the service."""

    def __init__(self, db):
        import transaction
        self.tm = transaction.TransactionManager()
        self.conn = db.open(transaction_manager=self.tm)

    def read(self, fn):
        """`fn(service)` in a fresh transaction, again while a read
        conflicts (a ZEO or RelStorage snapshot can be away for a moment)."""
        from transaction.interfaces import TransientError
        from lovely.remotetask import getApplicationRoot
        deadline = time.monotonic() + 30
        while True:
            self.tm.begin()
            try:
                return fn(getApplicationRoot(self.conn)[SERVICE])
            except TransientError:
                if time.monotonic() > deadline:
                    raise
            finally:
                self.tm.abort()

    def waitForWorkers(self, count):
        deadline = time.monotonic() + START_TIMEOUT
        while self.read(lambda s: len(s.getWorkers())) < count:
            if time.monotonic() > deadline:
                raise SystemExit(f'{count} workers did not register in '
                                 f'{START_TIMEOUT} s')
            time.sleep(0.05)

    def drain(self, total, timeout):
        """Wait until `total` jobs are finished; the time.time() then, or
        None at `timeout`."""
        from lovely.remotetask.interfaces import FINISHED
        deadline = time.monotonic() + timeout
        while True:
            counts = self.read(lambda s: s.statusCounts())
            if sum(counts.get(status, 0) for status in FINISHED) >= total:
                return time.time()
            if time.monotonic() > deadline:
                return None
            time.sleep(POLL)

    def verify(self, jobs, runlog, counter=False):
        """Check every job of `jobs` ((jobid, p, n) each): completed once
        with its input as result; the service holds no other job."""
        from lovely.remotetask.interfaces import COMPLETED
        runs = collections.Counter()
        if os.path.exists(runlog):
            with open(runlog) as f:
                for line in f:
                    runs[int(line.split()[0])] += 1

        def check(service):
            out = {'statuses': collections.Counter(),
                   'errors': collections.Counter(),
                   'attempts': collections.Counter(),
                   'runs': collections.Counter(), 'wrongResult': 0,
                   'once': 0}
            for jobid, p, n in jobs:
                status = service.getStatus(jobid)
                out['statuses'][status] += 1
                attempts = service.jobs[jobid].attempts
                out['attempts'][attempts] += 1
                out['runs'][runs[jobid]] += 1
                ok = status == COMPLETED
                if ok:
                    result = service.getResult(jobid)
                    if not isinstance(result, dict) or \
                            (result.get('p'), result.get('n')) != (p, n):
                        out['wrongResult'] += 1
                        ok = False
                if not ok and status != COMPLETED:
                    out['errors'][maskError(service.getError(jobid))] += 1
                if ok and attempts == 1 and runs[jobid] == 1:
                    out['once'] += 1
            counts = service.statusCounts()
            out['serviceCounts'] = dict(counts)
            out['extra'] = sum(counts.values()) - len(jobs)
            if counter:
                from contentiontasks import COUNTER
                out['counter'] = service.__parent__[COUNTER]['value']
            return out

        return self.read(check)

    def close(self):
        self.tm.abort()
        self.conn.close()


def maskError(message):
    if message is None:
        return 'no error recorded'
    message = str(message).strip().splitlines()[0] if message else ''
    cls = re.search(r'class ([\w.]+)', message)
    if cls:
        return re.sub(r'0x[0-9a-f]+|\d+', 'N',
                      message[:cls.start()].rstrip(' ,('))[:100] + \
            f' ... class {cls.group(1).rsplit(".", 1)[-1]}'
    return re.sub(r'0x[0-9a-f]+|\d+', 'N', message)[:120]


def poolSize(uri, size):
    """`uri` with a connection pool big enough for `size` connections, so
    that ZODB does not warn of them."""
    return f'{uri}{"&" if "?" in uri else "?"}connection_pool_size={size}'


def roleProbe(cfg):
    import lovely.remotetask
    from backlog import sourceVersion
    emit('result', source=sourceVersion(),
         package=os.path.dirname(lovely.remotetask.__file__))


def makeService(db):
    """The application root, the service and the hot spot's counter in a
    new database, committed; the service and its connection's
    transaction manager and connection."""
    import transaction
    from persistent.mapping import PersistentMapping
    from lovely.remotetask import TaskService, getApplicationRoot
    from contentiontasks import COUNTER
    tm = transaction.TransactionManager()
    conn = db.open(transaction_manager=tm)
    app = getApplicationRoot(conn, create=True)
    service = app[SERVICE] = TaskService()
    app[COUNTER] = PersistentMapping(value=0)
    tm.commit()
    return service, tm, conn


def rolePrepare(cfg):
    from lovely.remotetask import openDatabase
    db = openDatabase(cfg['uri'])
    service, tm, conn = makeService(db)
    conn.close()
    db.close()
    emit('result')


def roleFile(cfg):
    """FileStorage: producers and the service's processor in this
    process."""
    runInProcess(cfg, f'file://{cfg["path"]}', lambda db: Producers(
        db, 0, cfg['threads'], cfg['adds']), cfg['threads'] + 8)


def roleShortLived(cfg):
    """FileStorage: short-lived writers in threads and the service's
    processor in this process.  Closed connections are dropped from the
    pool at once (a negative pool timeout; see `closeForGood`)."""
    runInProcess(cfg, f'file://{cfg["path"]}?connection_pool_timeout=-1',
                 lambda db: ShortLived(db, cfg['threads'],
                                       cfg['connections'], cfg['adds']),
                 cfg['threads'] + 8)


def runInProcess(cfg, uri, makeProducers, pool):
    """The producers that `makeProducers(db)` makes, and the service's
    processor, in this process."""
    import contentiontasks  # noqa: F401 -- registers the tasks
    from lovely.remotetask import openDatabase
    logs = LogCount()
    db = openDatabase(poolSize(uri, pool))
    service, tm, conn = makeService(db)
    service.startProcessing()
    reader = Reader(db)
    try:
        reader.waitForWorkers(1)
        stats = makeProducers(db).run()
        done = reader.drain(len(stats['committed']), cfg['drainTimeout'])
        checked = reader.verify(stats['committed'], cfg['runlog'])
    finally:
        service.stopProcessing(wait=30)
        reader.close()
        tm.abort()
        conn.close()
        db.close()
    emit('result', stats=stats, done=done, checked=checked,
         logs=logs.counts)


def roleProduce(cfg):
    import contentiontasks  # noqa: F401 -- add() checks the task exists
    from lovely.remotetask import openDatabase
    db = openDatabase(poolSize(cfg['uri'], cfg['threads'] + 4))
    producers = Producers(db, cfg['first'], cfg['threads'], cfg['adds'])
    emit('ready')
    receive()
    stats = producers.run()
    db.close()
    emit('result', stats=stats)


def roleCheck(cfg):
    from lovely.remotetask import openDatabase
    db = openDatabase(cfg['uri'])
    reader = Reader(db)
    reader.waitForWorkers(cfg['workers'])
    emit('ready')
    jobs = [tuple(j) for j in receive()['jobs']]
    done = reader.drain(len(jobs), cfg['drainTimeout'])
    checked = reader.verify(jobs, cfg['runlog'])
    reader.close()
    db.close()
    emit('result', done=done, checked=checked)


def roleHotspot(cfg):
    """Add the hot spot's jobs in one transaction once the workers run;
    wait for them; check them and the counter."""
    import transaction
    from transaction.interfaces import TransientError
    import contentiontasks  # noqa: F401 -- registers the tasks
    from lovely.remotetask import getApplicationRoot, openDatabase
    db = openDatabase(cfg['uri'])
    reader = Reader(db)
    reader.waitForWorkers(cfg['workers'])
    tm = transaction.TransactionManager()
    conn = db.open(transaction_manager=tm)
    for attempt in range(10):
        tm.begin()
        try:
            service = getApplicationRoot(conn)[SERVICE]
            jobs = [(service.add(HOT_TASK, {'p': 0, 'n': n,
                                             'work': cfg['work']}), 0, n)
                    for n in range(cfg['jobs'])]
            tm.commit()
            break
        except TransientError:
            tm.abort()
    else:
        raise SystemExit('could not add the hot spot jobs')
    start = time.time()
    conn.close()
    done = reader.drain(len(jobs), cfg['drainTimeout'])
    checked = reader.verify(jobs, cfg['runlog'], counter=True)
    reader.close()
    db.close()
    emit('result', start=start, done=done, checked=checked)


class LogCount:
    """Counts what lovely.remotetask logs in this process, by message with
    numbers masked."""

    def __init__(self):
        import logging

        class Handler(logging.Handler):
            def emit(handler, record):
                message = f'{record.levelname} {record.getMessage()}'
                if record.exc_info and record.exc_info[1] is not None:
                    error = record.exc_info[1]
                    message += f' ({type(error).__name__}: {error})'
                self.counts[maskError(message)] += 1

        self.counts = collections.Counter()
        logger = logging.getLogger('lovely.remotetask')
        logger.addHandler(Handler(logging.INFO))
        logger.setLevel(logging.INFO)
        logger.propagate = False


ROLES = {'probe': roleProbe, 'prepare': rolePrepare, 'file': roleFile,
         'shortlived': roleShortLived,
         'produce': roleProduce, 'check': roleCheck, 'hotspot': roleHotspot}


def runRole(name, cfg):
    import logging
    logging.basicConfig(
        level=logging.WARNING, stream=sys.stderr,
        format='%(asctime)s %(levelname)s %(name)s %(message)s')
    ROLES[name](json.loads(cfg))


# ---------------------------------------------------------------------------
# The orchestrator's side: servers, worker processes, children.


@dataclasses.dataclass
class Side:
    key: str                    # 'A' or 'B'
    src: str | None             # put first on PYTHONPATH; None: as installed
    source: str = ''            # what the probe says it imports

    def env(self, runlog=None):
        env = dict(os.environ)
        paths = [p for p in (self.src, HERE, env.get('PYTHONPATH')) if p]
        env['PYTHONPATH'] = os.pathsep.join(paths)
        if runlog:
            env['CONTENTION_RUNLOG'] = runlog
        else:
            env.pop('CONTENTION_RUNLOG', None)
        return env


class Child:
    """A subprocess running one role, spoken to by lines."""

    def __init__(self, side, role, cfg, logPath, runlog=None):
        self.role = role
        self.logPath = logPath
        self.log = open(logPath, 'ab')
        self.process = subprocess.Popen(
            [PYTHON, os.path.abspath(__file__), '--role', role,
             json.dumps(cfg)], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
            stderr=self.log, env=side.env(runlog), text=True)
        self.lines = queue.Queue()
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self):
        for line in self.process.stdout:
            if line.startswith(PROTOCOL):
                self.lines.put(json.loads(line[len(PROTOCOL):]))
        self.lines.put(None)

    def expect(self, event, timeout):
        try:
            message = self.lines.get(timeout=timeout)
        except queue.Empty:
            raise RunError(f'{self.role}: no {event} after {timeout:.0f} s; '
                           f'see {self.logPath}') from None
        if message is None:
            self.process.wait()
            raise RunError(f'{self.role} exited with '
                           f'{self.process.returncode}: '
                           f'{tail(self.logPath)}')
        if message['event'] != event:
            raise RunError(f'{self.role}: {message["event"]}, not {event}')
        return message

    def send(self, data):
        self.process.stdin.write(json.dumps(data) + '\n')
        self.process.stdin.flush()

    def close(self, wait=30):
        """Wait `wait` seconds for the child to end, then kill it."""
        if self.process.poll() is None:
            try:
                self.process.wait(wait)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.process.stdin.close()
        self.log.close()

    def __enter__(self):
        return self

    def __exit__(self, kind, error, tb):
        self.close(wait=30 if kind is None else 0)


def tail(path, lines=5):
    with open(path, errors='replace') as f:
        return ' | '.join(f.read().strip().splitlines()[-lines:])


@contextlib.contextmanager
def zeoServer(side, directory):
    """A ZEO server that can import the side's source."""
    port = freePort()
    with open(os.path.join(directory, 'zeo.log'), 'ab') as log:
        process = subprocess.Popen(
            [PYTHON, '-m', 'ZEO.runzeo', '-a', f'127.0.0.1:{port}',
             '-f', os.path.join(directory, 'Data.fs')],
            stdout=log, stderr=subprocess.STDOUT, env=side.env())
        try:
            waitForPort(port, START_TIMEOUT, process)
            yield f'zeo://127.0.0.1:{port}'
        finally:
            stopProcess(process)


@contextlib.contextmanager
def postgresDatabase(dsn):
    """A database of its own on the PostgreSQL server; its URI."""
    import psycopg2
    name = f'contention_{uuid.uuid4().hex[:12]}'

    def admin(statement):
        connection = psycopg2.connect(dsn)
        connection.autocommit = True
        try:
            connection.cursor().execute(statement)
        finally:
            connection.close()

    admin(f'CREATE DATABASE {name}')
    try:
        params = psycopg2.extensions.parse_dsn(dsn)
        user = params.get('user', 'postgres')
        host = params.get('host', '127.0.0.1')
        port = params.get('port', '5432')
        yield f'postgres://{user}@{host}:{port}/{name}'
    finally:
        admin(f'DROP DATABASE IF EXISTS {name} WITH (FORCE)')


def postgresVersion(dsn):
    try:
        import psycopg2
        connection = psycopg2.connect(dsn, connect_timeout=3)
    except Exception as error:
        first = (str(error).strip().splitlines() or [''])[0]
        return None, f'{type(error).__name__}: {first}'
    try:
        cursor = connection.cursor()
        cursor.execute('show server_version')
        return cursor.fetchone()[0], None
    finally:
        connection.close()


class Workers:
    """`remotetask worker` processes on a database."""

    def __init__(self, side, uri, count, directory, runlog, waitTime):
        self.processes, self.logs = [], []
        for i in range(count):
            path = os.path.join(directory, f'worker{i}.log')
            self.logs.append(path)
            with open(path, 'ab') as log:
                self.processes.append(subprocess.Popen(
                    [PYTHON, '-m', 'lovely.remotetask', 'worker',
                     '--db', uri, '--services', f'@{SERVICE}',
                     '--tasks', 'contentiontasks',
                     '--wait-time', str(waitTime)],
                    stdout=log, stderr=subprocess.STDOUT,
                    env=side.env(runlog)))

    def stop(self):
        codes = [stopProcess(p) for p in self.processes]
        return [c for c in codes if c != 0]

    def messages(self):
        """What the workers logged, beyond starting and stopping."""
        counts = collections.Counter()
        for path in self.logs:
            with open(path, errors='replace') as f:
                for line in f:
                    found = re.match(r'\S+ \S+ (INFO|WARNING|ERROR|CRITICAL) '
                                     r'(\S+) (.*)', line)
                    if not found:
                        continue
                    level, logger, message = found.groups()
                    if level == 'INFO' and re.match(
                            r'service .* started$|worker running|stopping: '
                            r'finishing|stopped', message):
                        continue   # the normal start and stop
                    counts[maskError(f'{level} {logger}: {message}')] += 1
        return counts


# ---------------------------------------------------------------------------
# The setups, run by the orchestrator for one side.


@dataclasses.dataclass
class Result:
    setup: str
    side: str
    stats: dict | None = None       # merged producer stats
    checked: dict | None = None
    drain: float | None = None      # seconds
    rate: float | None = None       # committed adds / s
    logs: collections.Counter = dataclasses.field(
        default_factory=collections.Counter)
    error: str | None = None


def drainTimeout(jobs):
    return 120 + jobs * 0.1


def runFile(side, args, directory, runlog):
    total = args.producers * args.adds
    with Child(side, 'file', {
            'path': os.path.join(directory, 'Data.fs'),
            'threads': args.producers, 'adds': args.adds, 'runlog': runlog,
            'drainTimeout': drainTimeout(total)},
            os.path.join(directory, 'file.log'), runlog) as child:
        message = child.expect('result', START_TIMEOUT + 2 *
                               drainTimeout(total))
    result = finish(Result('file', side.key), message['stats'],
                    message['done'], message['checked'])
    result.logs.update(message['logs'])
    return result


def runShortLived(side, args, directory, runlog):
    perThread = args.short_connections // args.producers
    total = args.producers * perThread * args.short_adds
    with Child(side, 'shortlived', {
            'path': os.path.join(directory, 'Data.fs'),
            'threads': args.producers, 'connections': perThread,
            'adds': args.short_adds, 'runlog': runlog,
            'drainTimeout': drainTimeout(total)},
            os.path.join(directory, 'shortlived.log'), runlog) as child:
        message = child.expect('result', START_TIMEOUT + 2 *
                               drainTimeout(total))
    result = finish(Result('shortlived', side.key), message['stats'],
                    message['done'], message['checked'])
    result.logs.update(message['logs'])
    return result


def runShared(setup, side, args, directory, runlog, uri, clients, workers):
    """Producers in `clients` processes, `workers` worker processes."""
    threads = args.producers // clients
    total = threads * clients * args.adds
    log = os.path.join(directory, 'children.log')
    prepare(side, uri, log)
    pool = Workers(side, uri, workers, directory, runlog, args.wait_time)
    try:
        with contextlib.ExitStack() as children:
            check = children.enter_context(Child(side, 'check', {
                'uri': uri, 'workers': workers, 'runlog': runlog,
                'drainTimeout': drainTimeout(total)}, log, runlog))
            check.expect('ready', START_TIMEOUT * 2)
            producers = [children.enter_context(Child(side, 'produce', {
                'uri': uri, 'first': i * threads, 'threads': threads,
                'adds': args.adds}, log)) for i in range(clients)]
            for p in producers:
                p.expect('ready', START_TIMEOUT)
            for p in producers:
                p.send({'go': True})
            stats = merge([p.expect('result', START_TIMEOUT + total)['stats']
                           for p in producers])
            check.send({'jobs': stats['committed']})
            message = check.expect('result', 2 * drainTimeout(total))
    finally:
        failed = pool.stop()
    result = finish(Result(setup, side.key), stats, message['done'],
                    message['checked'])
    result.logs.update(pool.messages())
    if failed:
        result.logs[f'worker exit statuses {failed}'] += 1
    return result


def prepare(side, uri, log):
    """The service (and the hot spot's counter) in a new database."""
    with Child(side, 'prepare', {'uri': uri}, log) as child:
        child.expect('result', START_TIMEOUT)


def finish(result, stats, done, checked):
    stats = merge([stats])   # Counters again, of JSON's dicts
    result.stats, result.checked = stats, checked
    result.rate = len(stats['committed']) / (stats['end'] - stats['start'])
    result.drain = None if done is None else max(0.0, done - stats['end'])
    return result


def runZeo(side, args, directory, runlog):
    with zeoServer(side, directory) as uri:
        return runShared('zeo', side, args, directory, runlog, uri,
                         args.clients, args.workers)


def runRelStorage(side, args, directory, runlog):
    with postgresDatabase(args.postgres) as uri:
        return runShared('relstorage', side, args, directory, runlog, uri,
                         1, args.workers)


def runHotspot(side, args, directory, runlog):
    with zeoServer(side, directory) as uri:
        log = os.path.join(directory, 'children.log')
        prepare(side, uri, log)
        pool = Workers(side, uri, args.hot_workers, directory, runlog,
                       args.wait_time)
        try:
            with Child(side, 'hotspot', {
                    'uri': uri, 'workers': args.hot_workers,
                    'jobs': args.hot_jobs, 'work': args.hot_work / 1e3,
                    'runlog': runlog,
                    'drainTimeout': drainTimeout(args.hot_jobs)},
                    log, runlog) as child:
                message = child.expect(
                    'result', START_TIMEOUT * 2 +
                    drainTimeout(args.hot_jobs))
        finally:
            failed = pool.stop()
    result = Result('hotspot', side.key, checked=message['checked'])
    if message['done'] is not None:
        result.drain = message['done'] - message['start']
        result.rate = args.hot_jobs / result.drain
    result.logs.update(pool.messages())
    if failed:
        result.logs[f'worker exit statuses {failed}'] += 1
    return result


RUNNERS = {'file': runFile, 'shortlived': runShortLived, 'zeo': runZeo,
           'relstorage': runRelStorage, 'hotspot': runHotspot}


def label(setup, args):
    if setup == 'file':
        return f'FileStorage, {args.producers} threads, its processor'
    if setup == 'shortlived':
        perThread = args.short_connections // args.producers
        return (f'FileStorage, {args.producers} threads x {perThread} '
                f'short-lived connections of {args.short_adds} adds, '
                f'its processor')
    if setup == 'zeo':
        threads = args.producers // args.clients
        return (f'ZEO, {args.clients} procs x {threads} threads, '
                f'{args.workers} workers')
    if setup == 'relstorage':
        return (f'RelStorage, {args.producers} threads, '
                f'{args.workers} workers')
    return f'hot spot, ZEO, {args.hot_workers} workers'


# ---------------------------------------------------------------------------
# Reporting


def pct(values, p):
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(len(ordered) * p / 100))]


def combine(results):
    """One result of the repeats of a setup on a side: counts summed,
    rates and drains their medians."""
    ok = [r for r in results if not r.error]
    if not ok or len(results) == 1:
        return results[0]
    first = ok[0]
    out = Result(first.setup, first.side)
    if first.stats is not None:
        out.stats = merge([r.stats for r in ok])
    out.rate = statistics.median(r.rate for r in ok if r.rate is not None)
    drains = [r.drain for r in ok if r.drain is not None]
    out.drain = statistics.median(drains) if len(drains) == len(ok) \
        else None
    out.checked = mergeChecked([r.checked for r in ok])
    for r in results:
        out.logs.update(r.logs)
        if r.error:
            out.logs[f'a run FAILED: {r.error}'] += 1
    return out


def mergeChecked(parts):
    out = {}
    for part in parts:
        for key, value in part.items():
            if isinstance(value, dict):
                out.setdefault(key, collections.Counter()).update(value)
            elif key != 'counter':
                out[key] = out.get(key, 0) + value
    out['counter'] = sum(p.get('counter', 0) for p in parts)
    return out


def checkedText(checked, jobs):
    """What the check found, in words."""
    if checked is None:
        return '-'
    parts = []
    if checked['once'] == jobs and jobs and not checked['extra'] and \
            not checked['wrongResult']:
        return f'all {jobs:,} completed once'
    parts.append(f'{checked["once"]:,} of {jobs:,} completed once')
    bad = {k: v for k, v in checked['statuses'].items() if k != 'completed'}
    if bad:
        parts.append(', '.join(f'{v} {k}' for k, v in sorted(bad.items())))
    if checked['wrongResult']:
        parts.append(f'{checked["wrongResult"]} wrong results')
    more = sum(v for k, v in checked['attempts'].items() if int(k) > 1)
    if more:
        parts.append(f'{more} claimed >1 time')
    reruns = sum(v for k, v in checked['runs'].items() if int(k) > 1)
    if reruns:
        parts.append(f'{reruns} run >1 time')
    never = checked['runs'].get('0', 0) + checked['runs'].get(0, 0)
    if never:
        parts.append(f'{never} never run')
    if checked['extra']:
        parts.append(f'{checked["extra"]:+d} jobs in the service')
    return '; '.join(parts)


def share(part, whole):
    return f'{part / whole:.1%}' if whole else '-'


def addsTable(results, compare):
    head = ('setup', 'side', 'adds', 'conflicted', 'failed',
            'jobs/s', 'add p50/p99 ms', 'drain s', 'checked')
    if compare:
        head = head[:6] + ('B/A',) + head[6:]
    body = []
    for r in results:
        if r.setup == 'hotspot':
            continue
        name = label(r.setup, ARGS)
        if r.error:
            row = (name, r.side, '-', '-', '-', '-', '-', '-',
                   f'FAILED: {r.error}')
            if compare:
                row = row[:6] + ('-',) + row[6:]
            body.append(row)
            continue
        s = r.stats
        lat = s['latencies']
        row = (name, r.side, f'{s["transactions"]:,}',
               f'{share(s["conflicted"], s["transactions"])} '
               f'({s["conflicted"]})',
               f'{s["failed"]}', f'{r.rate:,.0f}',
               f'{pct(lat, 50) * 1e3:.1f} / {pct(lat, 99) * 1e3:.1f}',
               '-' if r.drain is None else f'{r.drain:.2f}',
               checkedText(r.checked, len(s['committed'])))
        if compare:
            other = find(results, r.setup, 'A')
            ratio = '' if r.side == 'A' or other is None or other.error \
                else f'{r.rate / other.rate:.2f}x'
            row = row[:6] + (ratio,) + row[6:]
        body.append(row)
    return render(head, body, right={2, 3, 4, 5, 6, 7} if not compare
                  else {2, 3, 4, 5, 6, 7, 8})


def hotTable(results):
    head = ('setup', 'side', 'jobs', 'completed', 'error', 'counter',
            'runs per job', 'claims per job', 'jobs/s', 'checked')
    body = []
    for r in results:
        if r.setup != 'hotspot':
            continue
        if r.error:
            body.append((label(r.setup, ARGS), r.side) + ('-',) * 7 +
                        (f'FAILED: {r.error}',))
            continue
        c = r.checked
        jobs = sum(c['statuses'].values())
        body.append((
            label(r.setup, ARGS), r.side, f'{jobs}',
            f'{c["statuses"].get("completed", 0)}',
            f'{c["statuses"].get("error", 0)}',
            f'{c["counter"]}' + ('' if c['counter'] == jobs
                                 else f' (not {jobs})'),
            histogram(c['runs']), histogram(c['attempts']),
            '-' if r.rate is None else f'{r.rate:,.0f}',
            'ok' if c['counter'] == jobs and
            c['statuses'].get('completed', 0) == jobs else 'FAILS'))
    return render(head, body, right={2, 3, 4, 5, 8})


def histogram(counter):
    """'1: 140, 2: 10' of a counter of ints (JSON made the keys str)."""
    return ', '.join(f'{k}x {v}' for k, v in
                     sorted(counter.items(), key=lambda kv: int(kv[0])))


def render(head, body, right):
    widths = [max(len(str(r[i])) for r in body + [head])
              for i in range(len(head))]
    rule = '  '.join('-' * w for w in widths)
    lines = [rule]
    for i, r in enumerate([head] + body):
        lines.append('  '.join(
            str(c).rjust(w) if j in right else str(c).ljust(w)
            for j, (c, w) in enumerate(zip(r, widths))).rstrip())
        if i == 0:
            lines.append(rule)
    lines.append(rule)
    return lines


def breakdown(results):
    lines = []
    for r in results:
        if r.setup == 'hotspot' or r.error:
            continue
        s = r.stats
        lines.append(f'  {label(r.setup, ARGS)}, {r.side}: '
                     f'{s["conflicted"]} of {s["transactions"]:,} first '
                     f'attempts conflicted; {s["retryConflicts"]} retries '
                     f'conflicted again')
        if s.get('connections'):
            lines.append(f'    short-lived connections: {s["connections"]}'
                         f' ({s["reused"]} of them reused, target 0); '
                         f'their first adds (each making what a new '
                         f'writer makes): {s["firstConflicted"]} of '
                         f'{s["firstAdds"]} conflicted')
        if s['byError']:
            lines.append('    by exception: ' + counted(s['byError']))
            lines.append('    by object:    ' + counted(s['byObject']))
        for kind, example in sorted(s['examples'].items()):
            lines.append(f'    e.g. {kind}: {example}')
        if s['failedBy']:
            lines.append('    failed adds, by last exception: ' +
                         counted(s['failedBy']))
        if s['otherErrors']:
            lines.append('    errors that are not transient: ' +
                         counted(s['otherErrors']))
    return lines


def counted(counter):
    total = sum(counter.values())
    return ', '.join(f'{name} {count} ({count / total:.0%})'
                     for name, count in counter.most_common())


def find(results, setup, side):
    for r in results:
        if r.setup == setup and r.side == side:
            return r
    return None


def targets(results):
    out = []
    for r in results:
        name = f'{label(r.setup, ARGS)}, {r.side}'
        if r.error:
            out.append(f'  {name}: not measured')
            continue
        if r.setup == 'hotspot':
            c = r.checked
            jobs = sum(c['statuses'].values())
            errors = jobs - c['statuses'].get('completed', 0)
            ok = errors == 0 and c['counter'] == jobs
            out.append(f'  {name}: {errors} jobs not completed, counter '
                       f'{c["counter"]} of {jobs}  target 0 and equal  '
                       f'{"ok" if ok else "FAILS"}')
            continue
        s = r.stats
        rate = s['conflicted'] / s['transactions']
        out.append(f'  {name}: conflicts without retry {rate:.1%}  target '
                   f'<= {TARGET_CONFLICTS:.1%}  '
                   f'{"ok" if rate <= TARGET_CONFLICTS else "FAILS"}; '
                   f'failed with {ATTEMPTS} attempts {s["failed"]}  target 0'
                   f'  {"ok" if not s["failed"] else "FAILS"}')
        if r.setup == 'shortlived':
            out.append(f'  {name}: connections reused {s["reused"]}  '
                       f'target 0 (else the case measures nothing)  '
                       f'{"ok" if not s["reused"] else "FAILS"}')
    return out


def versions():
    out = []
    for name in ('ZODB', 'ZEO', 'RelStorage', 'BTrees', 'persistent',
                 'transaction'):
        try:
            out.append(f'{name} {importlib.metadata.version(name)}')
        except importlib.metadata.PackageNotFoundError:
            out.append(f'{name} not installed')
    return ', '.join(out)


def probe(side, directory):
    child = Child(side, 'probe', {}, os.path.join(directory,
                                                  f'probe-{side.key}.log'))
    try:
        return child.expect('result', START_TIMEOUT)
    finally:
        child.close()


ARGS = None


def main(argv=None):
    global ARGS
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ['--role']:
        return runRole(argv[1], argv[2])
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--producers', type=int, default=8,
                        help='producer threads in all (default 8)')
    parser.add_argument('--adds', type=int, default=150,
                        help='adds per producer thread (default 150)')
    parser.add_argument('--short-connections', type=int, default=200,
                        help='short-lived connections in all, opened and '
                        'closed in turn by the producer threads '
                        '(default 200)')
    parser.add_argument('--short-adds', type=int, default=5,
                        help='adds per short-lived connection (default 5)')
    parser.add_argument('--clients', type=int, default=2,
                        help='producer processes over ZEO (default 2)')
    parser.add_argument('--workers', type=int, default=2,
                        help='worker processes over ZEO and RelStorage '
                        '(default 2)')
    parser.add_argument('--hot-workers', type=int, default=3)
    parser.add_argument('--hot-jobs', type=int, default=150)
    parser.add_argument('--hot-work', type=float, default=2, metavar='MS',
                        help="milliseconds the hot spot's task waits between "
                        'reading the counter and writing it (default 2)')
    parser.add_argument('--wait-time', type=float, default=0.05,
                        help="the workers' --wait-time (default 0.05 s)")
    parser.add_argument('--only', default=','.join(SETUPS),
                        help='setups to run, comma-separated '
                        f'({",".join(SETUPS)})')
    parser.add_argument('--compare', metavar='CHECKOUT',
                        help='also run every setup against the src of '
                        'this other checkout, side by side (side B)')
    parser.add_argument('--repeat', type=int, default=2,
                        help='run each setup this many times per side, '
                        'taking turns (default 2): counts add up, rates '
                        'and drains are medians')
    parser.add_argument('--postgres',
                        default='host=127.0.0.1 port=5432 user=postgres '
                        'dbname=postgres',
                        help='libpq DSN of a database on the PostgreSQL '
                        'server for RelStorage, with the right to create '
                        'databases')
    parser.add_argument('--keep', metavar='DIR',
                        help='keep the databases and logs in DIR')
    args = parser.parse_args(argv)
    ARGS = args
    only = [s.strip() for s in args.only.split(',') if s.strip()]
    wrong = set(only) - set(SETUPS)
    if wrong:
        parser.error(f'unknown setups: {", ".join(sorted(wrong))}')
    if args.producers < 1 or args.adds < 1 or args.repeat < 1:
        parser.error('--producers, --adds and --repeat must be at least 1')
    if 'shortlived' in only and (
            args.short_connections < args.producers or
            args.short_connections % args.producers or args.short_adds < 1):
        parser.error(f'--short-connections {args.short_connections} is not '
                     f'a multiple of --producers {args.producers} (or '
                     f'--short-adds is below 1)')
    if 'zeo' in only and args.producers % args.clients:
        parser.error(f'--producers {args.producers} is not a multiple of '
                     f'--clients {args.clients}')
    sides = [Side('A', None)]
    if args.compare:
        src = os.path.join(os.path.abspath(args.compare), 'src')
        if not os.path.isdir(os.path.join(src, 'lovely', 'remotetask')):
            parser.error(f'--compare {args.compare}: no '
                         f'src/lovely/remotetask in it')
        sides.append(Side('B', src))

    started = time.perf_counter()
    say(f'lovely.remotetask contention benchmark, {time.strftime("%Y-%m-%d")}'
        f', Python {platform.python_version()}, {os.cpu_count()} CPUs, '
        f'{platform.system()} {platform.machine()}')
    python = os.path.relpath(PYTHON)
    say(f'command: {shlex.join([PYTHON if python.startswith("..") else python, os.path.relpath(__file__)] + argv)}')
    if args.keep:
        os.makedirs(args.keep, exist_ok=True)
        scratch = contextlib.nullcontext(os.path.abspath(args.keep))
    else:
        scratch = tempfile.TemporaryDirectory(prefix='remotetask-contention-')
    with scratch as tmp:
        for side in sides:
            try:
                found = probe(side, tmp)
            except RunError as error:
                raise SystemExit(f'side {side.key} cannot import '
                                 f'lovely.remotetask: {error}')
            side.source = found['source']
            if side.src and not found['package'].startswith(side.src):
                raise SystemExit(f'side {side.key} imports '
                                 f'{found["package"]}, not from {side.src}')
            say(f'side {side.key}: {side.source}' +
                (' (this environment)' if side.src is None
                 else f' (--compare {args.compare})'))
        say(f'versions: {versions()}')
        if 'relstorage' in only:
            version, why = postgresVersion(args.postgres)
            if version is None:
                say(f'relstorage skipped: PostgreSQL not reachable '
                    f'({args.postgres!r}): {why}')
                only.remove('relstorage')
            else:
                say(f'PostgreSQL {version} at {args.postgres!r}')
        say(f'producers: {args.producers} threads x {args.adds} adds, one '
            f'add + commit per transaction, up to {ATTEMPTS} attempts on a '
            f'TransientError; ZEO: {args.clients} processes; workers: '
            f'{args.workers} (hot spot {args.hot_workers}), --wait-time '
            f'{args.wait_time:g}; hot spot: {args.hot_jobs} jobs of '
            f'{args.hot_work:g} ms; '
            f'{args.repeat} run(s) per setup and side')
        say(f'load average at start: '
            f'{" ".join(f"{x:.2f}" for x in os.getloadavg())}; fsync of a '
            f'2 KB append: median {fsyncMs(tmp):.3f} ms')
        say('')
        runs = collections.defaultdict(list)
        turn = 0
        for setup in only:
            for repeat in range(args.repeat):
                order = sides if turn % 2 == 0 else sides[::-1]
                turn += 1
                for side in order:
                    runs[setup, side.key].append(
                        runOne(setup, side, args, tmp, repeat))
        results = [combine(runs[setup, side.key])
                   for setup in only for side in sides]
        fsyncEnd = fsyncMs(tmp)

    compare = len(sides) > 1
    say('')
    say(f'adds under contention: conflicted = first attempts that raised a '
        f'TransientError; failed = adds whose {ATTEMPTS} attempts all failed')
    for line in addsTable(results, compare):
        say(line)
    say('')
    say('conflicts of first attempts, by exception and by the class of '
        'the object the message names')
    for line in breakdown(results):
        say(line)
    if 'hotspot' in only:
        say('')
        say(f'hot spot: {args.hot_jobs} jobs added in one transaction, each '
            f'adding 1 to one shared counter in its own transaction '
            f'({args.hot_work:g} ms between read and write), '
            f'{args.hot_workers} worker processes over ZEO')
        for line in hotTable(results):
            say(line)
        for r in results:
            if r.setup == 'hotspot' and not r.error and \
                    r.checked['errors']:
                say(f'  errors recorded, side {r.side}: '
                    f'{counted(collections.Counter(r.checked["errors"]))}')
    notes = [(r, line) for r in results for line in logLines(r)]
    if notes:
        say('')
        say('logged by the processor and the workers (besides start and '
            'stop), most frequent first')
        for r, line in notes:
            say(f'  {label(r.setup, args)}, {r.side}: {line}')
    say('')
    say('targets (issues 12 and 25)')
    for line in targets(results):
        say(line)
    say(f'total run time {time.perf_counter() - started:.0f} s; at the end: '
        f'load average {" ".join(f"{x:.2f}" for x in os.getloadavg())}, '
        f'fsync of a 2 KB append median {fsyncEnd:.3f} ms')
    return 0 if not any(r.error for r in results) else 1


def logLines(result, top=4):
    return [f'{count} x {message}'
            for message, count in result.logs.most_common(top)]


def runOne(setup, side, args, tmp, repeat):
    directory = os.path.join(tmp, f'{setup}-{side.key}-{repeat}')
    os.makedirs(directory, exist_ok=True)
    runlog = os.path.join(directory, 'runs.log')
    say(f'  {label(setup, args)}, side {side.key} ...')
    t0 = time.perf_counter()
    try:
        result = RUNNERS[setup](side, args, directory, runlog)
    except RunError as error:
        result = Result(setup, side.key, error=str(error))
        say(f'      FAILED: {error}')
        return result
    if result.stats is not None:
        s = result.stats
        say(f'      {share(s["conflicted"], s["transactions"])} conflicted, '
            f'{s["failed"]} failed, {result.rate:,.0f} jobs/s, drain '
            f'{"-" if result.drain is None else f"{result.drain:.2f} s"}; '
            f'{checkedText(result.checked, len(s["committed"]))} '
            f'({time.perf_counter() - t0:.0f} s)')
    else:
        c = result.checked
        say(f'      {c["statuses"].get("error", 0)} in error, counter '
            f'{c["counter"]} of {args.hot_jobs} '
            f'({time.perf_counter() - t0:.0f} s)')
    return result


if __name__ == '__main__':
    sys.exit(main())
