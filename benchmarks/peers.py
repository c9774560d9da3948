"""lovely.remotetask beside huey, RQ, Procrastinate, Celery and Oban.

Same machine, same jobs, one run.  A hand-run benchmark, not a test::

    .venv/bin/pip install -e '.[bench]'
    .venv/bin/python benchmarks/peers.py [--plot docs/performance-peers.png]
        [--only W1,W2,W3,W4,W5,W6,W7,W8]
        [--peers huey,huey-fsync,rq,procrastinate,celery,oban]
        [--scale 0.1] [--profile 2000]
        [--fan-in 1000] [--limited 500] [--limit 2]

Oban's Python edition (the ``oban`` package) needs Python 3.12 or later;
under an older Python it is skipped with that reason, and the bench extra
does not install it.  To include it, make the environment with a 3.12
interpreter (``python3.12 -m venv .venv312 && .venv312/bin/pip install -e
'.[bench]'``) and run the script with it.

Systems (each run on a fresh store, its workers started and idle before
the clock starts):

us          a `TaskService` in the application root of a FileStorage in a
            temporary directory, processed by ``service.startProcessing()``
            (SimpleProcessor, a thread of this process); for W4 also
            ``MultiProcessor(maxThreads=4)`` threads on FileStorage, and four
            worker processes (``python -m lovely.remotetask worker``) over a
            ZEO server that the script starts on a free loopback port;
huey        ``SqliteHuey`` with its default settings, its consumer started
            in this process (``create_consumer(workers=N,
            worker_type='thread')``, default polling);
huey-fsync  the same with ``fsync=True`` (``pragma synchronous=FULL``: an
            fsync per commit, as FileStorage does; the pragmas in force
            are printed: Python's sqlite3 may default to FULL already);
rq          RQ on the machine's Redis (``--redis``, database 13 by
            default, which must be empty or hold only ``rq:`` keys: it is
            flushed), one ``SimpleWorker`` process (``rq worker -w
            rq.worker.SimpleWorker``), ``rq worker-pool -n 4`` for W4;
procrastinate  Procrastinate on the machine's PostgreSQL (``--postgres``),
            in a database of its own, created and dropped for each run; a
            worker process (``procrastinate worker``, ``--concurrency 4``
            for W4; LISTEN/NOTIFY on, as by default).  Producers defer with
            a ``SyncPsycopgConnector`` (a pool of connections): each
            ``defer()`` is one transaction of its own.  Procrastinate keeps
            no results: its jobs are checked by status ``succeeded`` and
            their stored arguments.
celery      Celery on the machine's Redis (``--celery-redis``, database 14
            by default, which must be empty: it is flushed), as broker and
            result backend, with its default settings otherwise; one worker
            process (``celery -A benchcelery worker``) with the solo pool
            (one task at a time in the worker's own thread, as RQ's
            SimpleWorker), and the default prefork pool of 4 for W4.
            Producers call ``apply_async``; W2 sends a ``group`` (Celery
            has no bulk enqueue: a message per job); its results are read
            back from the result backend.
oban        Oban's Python edition on the machine's PostgreSQL
            (``--postgres``), in a database of its own, created, given
            Oban's schema (``oban.schema.install``) and dropped for each
            run; a worker process (``python -m oban start --queues
            bench:N``, N = 1, or 4 for W4).  Oban is asyncio: producers hand
            their ``enqueue`` (``enqueue_many`` for W2) to one event loop in
            a thread of the benchmark, on a pool of up to 16 connections,
            each enqueue one transaction of its own.  Its workers
            (``benchoban``) record their results (``Record``), which are
            read back; its 20 ms jobs ``await asyncio.sleep``.

A peer that is not installed or not reachable is skipped with the reason.

Workloads (``--scale`` multiplies the job counts):

W1 trickle  5,000 echo jobs of a small dict, each added in its own
            transaction (one enqueue call) by a producer thread while one
            worker processes them; timed from the first add until every job
            is seen completed.
W1 adds alone  the same 5,000 adds with no worker running: the rate at
            which the producer alone commits, the ceiling of W1 for that
            system (its jobs are not run).
W2 burst    20,000 echo jobs added at once (us: one transaction; huey:
            ``task.map()``, which has no bulk enqueue and commits each job;
            RQ: ``enqueue_many``, one Redis pipeline), drained by one worker;
            timed from the first add until all are completed.
W3 latency  300 jobs one at a time (after 20 warm-up jobs): add, then poll
            every 0.5 ms until the job reads completed; p50 and p99.
W4 4 workers  W2 with four workers, on I/O-bound jobs that wait 20 ms
            (``sleep20``), 2,000 jobs (20,000 would take 400 s of sleeping
            for our one-worker reference alone); our one-worker W2 on the
            same 20 ms jobs is run too, for the ratio W4 / one worker.
W5 contended  8 producer threads (``--producers``), each with a connection
            of its own, add 4,000 echo jobs in all (``--contended``), one
            per transaction (enqueue call), at the same time, while one
            worker runs them.  Its figure is the producers' rate: jobs
            added / seconds from the start until the last producer is done.
            Ours retries an add whose commit raised a TransientError (a
            ConflictError) up to 3 attempts in all, as
            ``transaction.manager.attempts(3)`` does; the notes give the
            adds whose first attempt conflicted and those that failed all
            3; a peer's enqueue that raises is a failed add.  Every added
            job is then waited for and checked.  (``benchmarks/contention.py``
            measures the same over ZEO and RelStorage.)
W6 application's shape  each request writes one application object and
            adds one job, as a web application's requests do; 2,000
            requests (``--w6-requests``), from 1 producer and from 8
            (``--producers``) threads, each producer writing an object of
            its own (so that the application's writes do not conflict),
            while one worker runs the jobs.  Ours writes the object (a
            ``PersistentMapping`` next to the service) and adds the job in
            one ZODB commit; huey, RQ and Celery commit the object to a
            FileStorage of the application's and then enqueue (two commits
            in two stores, as an application beside them does);
            Procrastinate and Oban update the object's row in a table of
            the same PostgreSQL database and enqueue in the same
            transaction, on the producer's connection (Procrastinate's
            sync connector given that connection as its pool; Oban's
            ``enqueue(job, conn=...)``).  With 8 producers ours runs twice:
            (a) 8 threads on FileStorage, (b) ``--w6-processes`` (2)
            processes of 4 threads over a ZEO server, with a worker
            process.  Its figure is the producers' requests per second, as
            W5's; every job and every producer's object are checked after.
W7 fan-in   1,000 sibling jobs of 2 ms (``--fan-in``) and one callback that
            waits for all of them, from one producer, one worker (issue
            27).  Us: ``service.add('gather', input, after=siblingIds)``
            in the siblings' transaction; Celery: ``chord(group(...),
            gather.s())``; huey (3.x): ``enqueue(chord([...], gather.s())
            )``; RQ: ``enqueue(gather, depends_on=[jobs])``.
            Procrastinate and Oban's free edition have no fan-in: n/a,
            with the reason printed under the summary.  Its figures:
            the time from the first add to the callback's end, and the
            barrier's delay; checked: the callback ran once, after all.
W8 queue limited to K  500 jobs of 20 ms (``--limited``) in one queue
            limited to K = 2 (``--limit``) at once, two worker processes
            (issue 28): us, ``setQueueLimit('bench', 2)`` over ZEO with 2
            worker processes of 4 threads; Celery (two solo-pool workers,
            as ``-c 1``), RQ (``worker-pool -n 2``), Procrastinate (two
            workers of ``--concurrency 1``), huey (one consumer of 2
            threads) and Oban (two nodes of ``bench:1``) have no global
            limit, so their workers' own concurrency does it.  Its figures: the most that
            ran at once and jobs/s against the ideal K / 20 ms.
            W7 and W8 are measured from the tasks (``benchtasks.span``,
            which write when they started and ended): see ``peersflow.py``.

Completion is detected by polling every 20 ms, cheaply: for us the
statuses of the jobs not yet seen finished, in order, stopping at the first
that is not (``conn.sync()`` first); for huey the count of its result rows;
for RQ the size of its finished-job registry (and of the failed one, which
stops the run); for Procrastinate the count of its succeeded jobs (a
failed one stops the run), for Oban of its completed ones (one discarded,
retryable or cancelled stops the run); for Celery each task's state in the
result backend, in order, up to the first not done (a failed one stops the
run).  After each run every job's result is read back and
compared with its input ("checked").

Ratios are printed so that above 1 means lovely.remotetask is ahead:
throughput us/peer, latency peer/us.

``--profile N`` also runs our SimpleProcessor on N queued echo jobs under
cProfile, in the main thread, and prints where the time per job goes.
``--keep DIR`` keeps the stores and the worker logs.  W1 to W4 with huey
and RQ took nine to eleven minutes on 2 CPUs; W5 adds three to four
minutes, and Procrastinate about five more in W1 to W4, mostly its W2
(``--peers huey,huey-fsync,rq`` leaves it out).  ``--only W7,W8`` with
every peer took two and a half minutes.  To measure a commit
rather than the working tree, export its ``src`` and put it first on
``PYTHONPATH`` (the worker processes inherit it); see
docs/performance-peers.rst.
"""
import argparse
import collections
import contextlib
import cProfile
import dataclasses
import gc
import importlib.metadata
import json
import logging
import os
import platform
import pstats
import re
import shlex
import signal
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid

import transaction
from transaction.interfaces import TransientError
from ZODB import DB
from ZODB.FileStorage import FileStorage

from lovely.remotetask import (
    MultiProcessor, SimpleProcessor, TaskService, getApplicationRoot,
    openDatabase)
from lovely.remotetask.interfaces import COMPLETED, FINISHED

# Siblings, found as the script's directory is on sys.path.
import benchtasks
from backlog import sourceVersion
from benchkit import (
    RunError, freePort, fsyncMs, stopProcess, waitForPort)
import peersflow

HERE = os.path.dirname(os.path.abspath(__file__))
PYTHON = sys.executable

POLL = 0.020            # seconds between completion polls (W1, W2, W4)
LATENCY_POLL = 0.0005   # seconds between polls for one job (W3)
WARMUP = 20             # W3 jobs not counted
START_TIMEOUT = 60      # seconds for workers and servers to come up

WORKLOADS = ('W1', 'W2', 'W3', 'W4', 'W5', 'W6', 'W7', 'W8')
PEERS = ('huey', 'huey-fsync', 'rq', 'procrastinate', 'celery', 'oban')
#: The environment variable in which benchcelery finds Redis.
CELERY_REDIS = 'BENCH_CELERY_REDIS'
ATTEMPTS = 3            # W5: our attempts per add, as transaction's attempts(3)


def payload(i):
    """A tiny job's input, and so its expected result."""
    return {'n': i, 'pad': 'x' * 20}


def pct(values, p):
    """Nearest-rank percentile."""
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(len(ordered) * p / 100))]


def say(*args):
    print(*args, flush=True)


class Skip(Exception):
    """A peer that cannot run here; the message says why."""


class LogCount(logging.Handler):
    """Counts what a library logs in this process (conflicts, retries,
    errors), by message with numbers masked, instead of printing it."""

    def __init__(self, name='lovely.remotetask', level=logging.INFO):
        super().__init__(level)
        self.counts = collections.Counter()
        logger = logging.getLogger(name)
        logger.addHandler(self)
        logger.setLevel(level)
        logger.propagate = False

    def emit(self, record):
        message = f'{record.levelname} {record.getMessage()}'
        if record.exc_info and record.exc_info[1] is not None:
            error = record.exc_info[1]
            message += f' ({type(error).__name__}: {error})'
        self.counts[mask(message)] += 1

    def take(self):
        counts, self.counts = self.counts, collections.Counter()
        return counts


def mask(message):
    """A message with numbers masked, so that messages of a kind add up;
    of a conflict, the class of the object that conflicted."""
    cls = re.search(r'class ([\w.]+)', message)
    if cls:
        message = message[:cls.start()].rstrip(' ,(') + \
            f' ... class {cls.group(1)}'
    return re.sub(r'0x[0-9a-f]+|\d+', 'N', message)[:120]


def logSummary(counts):
    return 'log: ' + '; '.join(f'{count} x {message}'
                               for message, count in counts.most_common(3))


# ---------------------------------------------------------------------------
# The systems.  Each `open()` starts a fresh store and its workers; the
# methods below it add jobs and look at them; `close()` stops everything.


class Ours:
    """lovely.remotetask: FileStorage + in-process processor, or ZEO +
    worker processes."""

    key = 'us'

    def __init__(self, tmp, mode='simple'):
        self.tmp = tmp
        self.mode = mode            # 'simple', 'threads' or 'zeo'
        self.runs = 0
        self.processes = []
        self.server = None
        self.db = None
        self.workerArgs = []        # more options for worker processes

    def label(self, workers=1):
        if not workers:
            return 'us: FileStorage, no worker'
        if self.mode == 'simple':
            return 'us: SimpleProcessor thread, FileStorage'
        if self.mode == 'threads':
            return f'us (a): MultiProcessor({workers} threads), FileStorage'
        return f'us (b): {workers} worker processes, ZEO'

    def open(self, workers, task):
        self.runs += 1
        self.task = task
        self.service = None
        self.logs = logs
        logs.take()
        path = os.path.join(self.tmp, f'us-{self.mode}-{self.runs}.fs')
        if self.mode == 'zeo':
            self.port = freePort()
            self.serverLog = open(path + '.server.log', 'w')
            self.server = subprocess.Popen(
                [PYTHON, '-m', 'ZEO.runzeo', '-a', f'127.0.0.1:{self.port}',
                 '-f', path], stdout=self.serverLog, stderr=subprocess.STDOUT)
            waitForPort(self.port, START_TIMEOUT, self.server)
            self.uri = f'zeo://127.0.0.1:{self.port}'
            self.db = openDatabase(self.uri)
        else:
            # W5's producers have a connection each: no pool warnings.
            self.db = DB(FileStorage(path), pool_size=24)
        self.tm = transaction.TransactionManager()
        self.conn = self.db.open(transaction_manager=self.tm)
        app = getApplicationRoot(self.conn, create=True)
        app['svc'] = TaskService()
        self.tm.commit()
        self.service = app['svc']
        self.done = 0
        if not workers:
            pass
        elif self.mode == 'simple':
            self.service.startProcessing()
        elif self.mode == 'threads':
            self.service.startProcessing(MultiProcessor, maxThreads=workers)
        else:
            env = dict(os.environ)
            env['PYTHONPATH'] = os.pathsep.join(
                p for p in (HERE, env.get('PYTHONPATH')) if p)
            self.workerLogs = []
            for i in range(workers):
                logPath = f'{path}.worker{i}.log'
                self.workerLogs.append(logPath)
                self.processes.append(subprocess.Popen(
                    [PYTHON, '-m', 'lovely.remotetask', 'worker',
                     '--db', self.uri, '--services', '@svc',
                     '--tasks', 'benchtasks'] + self.workerArgs,
                    env=env, stdout=subprocess.DEVNULL,
                    stderr=open(logPath, 'w')))
            deadline = time.monotonic() + START_TIMEOUT
            while True:
                self.conn.sync()
                if len(self.service.getWorkers()) >= workers:
                    break
                dead = [p for p in self.processes if p.poll() is not None]
                if dead or time.monotonic() > deadline:
                    raise RunError(f'worker processes did not register: '
                                   f'see {self.workerLogs[0]}')
                time.sleep(0.05)

    def _add(self, service, tm, item):
        while True:
            try:
                jobid = service.add(self.task, item)
                tm.commit()
                return jobid
            except TransientError:
                tm.abort()

    def _addCounted(self, conn, tm, item, tally):
        """One add in a transaction of its own, as a web request would:
        up to `ATTEMPTS` attempts on a TransientError, each counted."""
        for attempt in range(1, ATTEMPTS + 1):
            tm.begin()
            try:
                jobid = getApplicationRoot(conn)['svc'].add(self.task, item)
                tm.commit()
                return jobid
            except TransientError as error:
                tm.abort()
                tally.conflict(attempt, error)
                if attempt == ATTEMPTS:
                    raise
            except BaseException:
                tm.abort()
                raise

    @contextlib.contextmanager
    def producer(self, tally=None):
        """An adder with a connection of its own (for another thread);
        with a `Tally`, it gives up after `ATTEMPTS` conflicts."""
        tm = transaction.TransactionManager()
        conn = self.db.open(transaction_manager=tm)
        service = getApplicationRoot(conn)['svc']
        try:
            if tally is None:
                yield lambda item: self._add(service, tm, item)
            else:
                yield lambda item: self._addCounted(conn, tm, item, tally)
        finally:
            tm.abort()
            conn.close()

    def addOne(self, item):
        return self._add(self.service, self.tm, item)

    def addMany(self, items):
        while True:
            try:
                jobids = [self.service.add(self.task, item) for item in items]
                self.tm.commit()
                return jobids
            except TransientError:
                self.tm.abort()

    def isDone(self, jobid):
        self.conn.sync()
        return self.isDoneNoSync(jobid)

    def countDone(self, jobids, known):
        """How many of the first `known` jobs are seen finished: the jobs
        not seen finished yet are looked at in order, up to the first that
        is not."""
        self.conn.sync()
        while self.done < known:
            if not self.isDoneNoSync(jobids[self.done]):
                break
            self.done += 1
        return self.done

    def isDoneNoSync(self, jobid):
        status = self.service.getStatus(jobid)
        if status in FINISHED and status != COMPLETED:
            raise RunError(f'job {jobid} {status}: '
                           f'{self.service.getError(jobid)}')
        return status == COMPLETED

    def verify(self, jobids, items):
        self.conn.sync()
        bad = retried = 0
        for jobid, item in zip(jobids, items):
            job = self.service.jobs[jobid]
            if job.status != COMPLETED or job.output != item:
                bad += 1
            if job.attempts > 1:
                retried += 1
        notes = [f'{retried} jobs took >1 attempt'] if retried else []
        return bad, notes

    def diagnostics(self):
        notes = []
        counts = self.logs.take()
        if self.mode == 'zeo':
            for path in self.workerLogs:
                with open(path) as f:
                    for line in f:
                        if ' INFO ' in line and re.search(
                                'started|worker running|stopping', line):
                            continue   # the normal start and stop
                        if re.search(r' (INFO|WARNING|ERROR) ', line):
                            counts[mask(line.split(' lovely.remotetask ')[-1]
                                        .strip())] += 1
        if counts:
            notes.append(logSummary(counts))
        return notes

    def close(self):
        try:
            if self.mode in ('simple', 'threads') and \
                    self.service is not None:
                self.service.stopProcessing(wait=None)
            for process in self.processes:
                stopProcess(process)
            self.processes = []
            if self.db is not None:
                self.tm.abort()
                self.conn.close()
                self.db.close()
                self.db = None
        finally:
            if self.server is not None:
                stopProcess(self.server)
                self.server = None
                self.serverLog.close()


class Huey:
    """huey: SqliteHuey, its consumer's worker threads in this process."""

    def __init__(self, tmp, fsync):
        import huey  # noqa: F401 -- Skip when it is not installed
        from huey import SqliteHuey
        from huey.constants import EmptyData
        self.SqliteHuey, self.EmptyData = SqliteHuey, EmptyData
        self.tmp = tmp
        self.fsync = fsync
        self.key = 'huey-fsync' if fsync else 'huey'
        self.runs = 0
        self.consumer = None
        self.instances = []
        self.logs = hueyLogs
        # What the database is set to, read back from a connection.
        h = self._instance(os.path.join(tmp, f'{self.key}-probe.db'))
        conn = h.storage.conn
        self.pragmas = (
            f'journal_mode={conn.execute("pragma journal_mode").fetchone()[0]}'
            f', synchronous={conn.execute("pragma synchronous").fetchone()[0]}')
        h.storage.close()

    def _instance(self, path):
        """A huey instance of its own (a connection of its own), with the
        benchmark's tasks."""
        options = {'fsync': True} if self.fsync else {}
        h = self.SqliteHuey(name='bench', filename=path, **options)
        h.benchTasks = {name: h.task(name=name)(getattr(benchtasks, name))
                        for name in ('echo', 'sleep20', 'span')}
        h.benchTasks['gather'] = h.task(name='gather')(
            benchtasks.gatherThen)
        self.instances.append(h)
        return h

    def label(self, workers=1):
        fsync = 'fsync=True' if self.fsync else 'default settings'
        if not workers:
            return f'huey: SqliteHuey({fsync}), no consumer'
        return f'huey: SqliteHuey({fsync}), {workers} consumer thread' + (
            's' if workers > 1 else '')

    def describe(self):
        return (f'SqliteHuey({"fsync=True" if self.fsync else ""}) '
                f'[{self.pragmas}], sqlite {sqlite3.sqlite_version}')

    def open(self, workers, task):
        self.runs += 1
        self.path = os.path.join(self.tmp, f'{self.key}-{self.runs}.db')
        self.task = task
        self.logs.take()
        self.producerHuey = self._instance(self.path)
        self.poller = self._instance(self.path)
        if not workers:
            return
        consumerHuey = self._instance(self.path)
        self.consumer = consumerHuey.create_consumer(
            workers=workers, worker_type='thread')
        # The consumer sets handlers for these; keep ours (Ctrl-C).
        saved = {s: signal.getsignal(s)
                 for s in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)}
        self.consumer.start()
        for signum, handler in saved.items():
            signal.signal(signum, handler)

    @contextlib.contextmanager
    def producer(self, tally=None):
        h = self._instance(self.path)
        task = h.benchTasks[self.task]
        try:
            yield lambda item: task(item).id
        finally:
            h.storage.close()

    def addOne(self, item):
        return self.producerHuey.benchTasks[self.task](item).id

    def addMany(self, items):
        # huey has no bulk enqueue: map() enqueues (commits) one by one.
        group = self.producerHuey.benchTasks[self.task].map(
            [(item,) for item in items])
        return [result.id for result in group]

    def isDone(self, taskid):
        return self.poller.storage.peek_data(taskid) is not self.EmptyData

    def countDone(self, taskids, known):
        return self.poller.result_count()

    def verify(self, taskids, items):
        results = self.poller.all_results()
        bad = 0
        for taskid, item in zip(taskids, items):
            raw = results.get(taskid)
            if raw is None or self.poller.serializer.deserialize(raw) != item:
                bad += 1
        return bad, []

    def diagnostics(self):
        counts = self.logs.take()
        return [logSummary(counts)] if counts else []

    def close(self):
        if self.consumer is not None:
            self.consumer.stop(graceful=True)
            self.consumer = None
        for h in self.instances:
            h.storage.close()
        self.instances = []


class RQ:
    """RQ: SimpleWorker processes on the machine's Redis."""

    key = 'rq'

    def __init__(self, tmp, url):
        import redis
        import rq
        from rq import Queue, Worker
        from rq.job import Job, JobStatus
        from rq.registry import FailedJobRegistry, FinishedJobRegistry
        self.redis, self.Queue, self.Worker = redis, Queue, Worker
        self.Job, self.JobStatus = Job, JobStatus
        self.Finished, self.Failed = FinishedJobRegistry, FailedJobRegistry
        self.version = rq.__version__
        self.tmp = tmp
        self.url = url
        self.runs = 0
        self.process = None
        try:
            self.conn = redis.Redis.from_url(url)
            self.conn.ping()
        except Exception as error:
            raise Skip(f'Redis at {url} not reachable: '
                       f'{type(error).__name__}: {error}')
        foreign = [k for k in self.conn.scan_iter(count=1000)
                   if not k.startswith(b'rq:')]
        if foreign:
            raise Skip(f'Redis database {url} holds keys that are not RQ\'s '
                       f'(e.g. {foreign[0]!r}); give --redis an empty one')
        info = self.conn.info()
        config = {}
        for name in ('appendonly', 'appendfsync', 'save'):
            try:
                config.update(self.conn.config_get(name))
            except redis.ResponseError:
                pass
        self.server = (f'Redis {info.get("redis_version")}, appendonly='
                       f'{config.get("appendonly", "?")}, appendfsync='
                       f'{config.get("appendfsync", "?")}, save='
                       f'{config.get("save", "?")!r}')
        self.funcs = {'echo': benchtasks.echo, 'sleep20': benchtasks.sleep20}

    def label(self, workers=1):
        if not workers:
            return 'rq: no worker'
        if workers == 1:
            return 'rq: 1 SimpleWorker process'
        return f'rq: worker-pool of {workers} SimpleWorkers'

    def describe(self):
        return f'RQ {self.version}, {self.server}'

    def open(self, workers, task):
        self.runs += 1
        self.conn.flushdb()
        self.task = task
        self.queue = self.Queue('bench', connection=self.conn)
        if not workers:
            return
        logPath = os.path.join(self.tmp, f'rq-{self.runs}.log')
        command = ['worker'] if workers == 1 else [
            'worker-pool', '-n', str(workers)]
        self.log = open(logPath, 'w')
        self.process = subprocess.Popen(
            [PYTHON, '-m', 'rq.cli'] + command + [
                '-w', 'rq.worker.SimpleWorker', '-u', self.url, '-P', HERE,
                'bench'], stdout=self.log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + START_TIMEOUT
        while self.Worker.count(connection=self.conn,
                                queue=self.queue) < workers:
            if self.process.poll() is not None or \
                    time.monotonic() > deadline:
                raise RunError(f'RQ workers did not start: see {logPath}')
            time.sleep(0.05)
        self.finished = self.Finished(queue=self.queue)
        self.failed = self.Failed(queue=self.queue)
        self.commands0 = self.conn.info('stats')['total_commands_processed']

    @contextlib.contextmanager
    def producer(self, tally=None):
        conn = self.redis.Redis.from_url(self.url)
        queue = self.Queue('bench', connection=conn)
        func = self.funcs[self.task]
        try:
            yield lambda item: queue.enqueue(func, item).id
        finally:
            conn.close()

    def addOne(self, item):
        return self.queue.enqueue(self.funcs[self.task], item)

    def addMany(self, items):
        func = self.funcs[self.task]
        jobs = self.queue.enqueue_many(
            [self.Queue.prepare_data(func, (item,)) for item in items])
        return [job.id for job in jobs]

    def isDone(self, job):
        status = job.get_status(refresh=True)
        if status == self.JobStatus.FAILED:
            raise RunError(f'job {job.id} failed')
        return status == self.JobStatus.FINISHED

    def countDone(self, jobids, known):
        if self.failed.get_job_count(cleanup=False):
            raise RunError('RQ jobs failed: see the failed job registry')
        return self.finished.get_job_count(cleanup=False)

    def verify(self, jobids, items):
        commands = self.conn.info('stats')['total_commands_processed'] - \
            self.commands0
        ids = [j if isinstance(j, str) else j.id for j in jobids]
        bad = 0
        for job, item in zip(self.Job.fetch_many(ids, connection=self.conn),
                             items):
            if job is None or job.get_status(refresh=False) != \
                    self.JobStatus.FINISHED or job.return_value() != item:
                bad += 1
        return bad, [(f'{commands / len(ids):.0f} Redis commands per job '
                      f'(all clients, polls included)')]

    def diagnostics(self):
        return []

    def close(self):
        if self.process is not None:
            stopProcess(self.process)
            self.process = None
            self.log.close()
        self.conn.flushdb()


class Procrastinate:
    """Procrastinate: PostgreSQL, a worker process of its own."""

    key = 'procrastinate'

    def __init__(self, tmp, dsn):
        import procrastinate
        import psycopg
        import benchprocrastinate
        self.procrastinate, self.psycopg = procrastinate, psycopg
        self.module = benchprocrastinate
        self.version = importlib.metadata.version('procrastinate')
        self.tmp = tmp
        self.dsn = dsn
        self.runs = 0
        self.process = None
        self.app = None
        self.database = None
        try:
            with psycopg.connect(dsn, connect_timeout=3) as conn:
                settings = {name: conn.execute(f'show {name}').fetchone()[0]
                            for name in ('server_version', 'fsync',
                                         'synchronous_commit')}
        except Exception as error:
            raise Skip(f'PostgreSQL at {dsn!r} not reachable: '
                       f'{type(error).__name__}: {str(error).strip()}')
        self.server = (f'PostgreSQL {settings["server_version"]}, fsync='
                       f'{settings["fsync"]}, synchronous_commit='
                       f'{settings["synchronous_commit"]}')

    def label(self, workers=1):
        if not workers:
            return 'procrastinate: no worker'
        return (f'procrastinate: 1 worker process, concurrency {workers}')

    def describe(self):
        return f'Procrastinate {self.version}, {self.server}'

    def _admin(self, statement):
        with self.psycopg.connect(self.dsn, autocommit=True) as conn:
            conn.execute(statement)

    def open(self, workers, task):
        self.runs += 1
        self.task = task
        self.database = f'procrastinate_bench_{uuid.uuid4().hex[:10]}'
        self._admin(f'CREATE DATABASE {self.database}')
        params = self.psycopg.conninfo.conninfo_to_dict(self.dsn)
        params['dbname'] = self.database
        self.conninfo = self.psycopg.conninfo.make_conninfo(**params)
        self.conn = self.psycopg.connect(self.conninfo, autocommit=True)
        # Producers (up to W5's threads) take connections from one pool.
        self.app = self.module.makeApp(
            self.procrastinate.SyncPsycopgConnector(
                conninfo=self.conninfo, min_size=1, max_size=16))
        self.app.open()
        self.app.schema_manager.apply_schema()
        if not workers:
            return
        logPath = os.path.join(self.tmp, f'procrastinate-{self.runs}.log')
        self.log = open(logPath, 'w')
        env = dict(os.environ, PYTHONPATH=os.pathsep.join(
            p for p in (HERE, os.environ.get('PYTHONPATH')) if p))
        env[self.module.DSN] = self.conninfo
        self.process = subprocess.Popen(
            [PYTHON, '-m', 'procrastinate', '--app',
             'benchprocrastinate.app', 'worker', '--queues',
             self.module.QUEUE, '--concurrency', str(workers)],
            env=env, stdout=self.log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + START_TIMEOUT
        while not self.conn.execute(
                'select count(*) from procrastinate_workers').fetchone()[0]:
            if self.process.poll() is not None or \
                    time.monotonic() > deadline:
                raise RunError(f'Procrastinate worker did not start: see '
                               f'{logPath}')
            time.sleep(0.05)

    @contextlib.contextmanager
    def producer(self, tally=None):
        # The app's pool gives each thread a connection of its own.
        task = self.app.tasks[self.task]
        yield lambda item: task.defer(input=item)

    def addOne(self, item):
        return self.app.tasks[self.task].defer(input=item)

    def addMany(self, items):
        return self.app.tasks[self.task].batch_defer(
            *[{'input': item} for item in items])

    def _failed(self):
        if self.conn.execute("select count(*) from procrastinate_jobs "
                             "where status = 'failed'").fetchone()[0]:
            raise RunError('Procrastinate jobs failed: see their status')

    def isDone(self, jobid):
        status = self.conn.execute(
            'select status from procrastinate_jobs where id = %s',
            (jobid,)).fetchone()[0]
        if status == 'failed':
            raise RunError(f'job {jobid} failed')
        return status == 'succeeded'

    def countDone(self, jobids, known):
        self._failed()
        return self.conn.execute(
            "select count(*) from procrastinate_jobs "
            "where status = 'succeeded'").fetchone()[0]

    def verify(self, jobids, items):
        rows = dict((jobid, (status, args)) for jobid, status, args in
                    self.conn.execute(
                        'select id, status, args from procrastinate_jobs '
                        'where id = any(%s)', (list(jobids),)))
        bad = 0
        for jobid, item in zip(jobids, items):
            status, args = rows.get(jobid, (None, None))
            if status != 'succeeded' or args != {'input': item}:
                bad += 1
        return bad, ['no results kept: checked by status and arguments']

    def diagnostics(self):
        return []

    def close(self):
        try:
            if self.process is not None:
                stopProcess(self.process)
                self.process = None
                self.log.close()
            if self.app is not None:
                self.app.close()
                self.app = None
                self.conn.close()
        finally:
            if self.database is not None:
                self._admin(f'DROP DATABASE IF EXISTS {self.database} '
                            f'WITH (FORCE)')
                self.database = None


class Celery:
    """Celery on Redis (broker and result backend): a worker process of
    its own, the solo pool for one worker, prefork for W4."""

    key = 'celery'

    def __init__(self, tmp, url):
        import celery
        import kombu
        import redis
        os.environ[CELERY_REDIS] = url
        import benchcelery
        self.module = benchcelery
        self.app = benchcelery.app
        self.version = (f'Celery {celery.__version__}, kombu '
                        f'{kombu.__version__}')
        self.tmp = tmp
        self.url = url
        self.runs = 0
        self.process = None
        try:
            self.conn = redis.Redis.from_url(url)
            self.conn.ping()
        except Exception as error:
            raise Skip(f'Redis at {url} not reachable: '
                       f'{type(error).__name__}: {error}')
        if self.conn.dbsize():
            raise Skip(f'Redis database {url} is not empty; give '
                       f'--celery-redis an empty one (it is flushed)')
        self.server = redisSettings(self.conn)

    def label(self, workers=1):
        if not workers:
            return 'celery: no worker'
        if workers == 1:
            return 'celery: 1 worker process, solo pool'
        return f'celery: 1 worker process, prefork pool of {workers}'

    def describe(self):
        return f'{self.version}, {self.server}'

    def open(self, workers, task):
        self.runs += 1
        self.conn.flushdb()
        self.task = self.app.tasks[task]
        self.done = 0
        if not workers:
            return
        logPath = os.path.join(self.tmp, f'celery-{self.runs}.log')
        self.log = open(logPath, 'w')
        pool = ['--pool', 'solo'] if workers == 1 else [
            '--pool', 'prefork', '--concurrency', str(workers)]
        env = childEnv({CELERY_REDIS: self.url})
        self.process = subprocess.Popen(
            [PYTHON, '-m', 'celery', '-A', 'benchcelery', 'worker',
             '--queues', self.module.QUEUE, '--loglevel', 'WARNING',
             '--hostname', f'bench{self.runs}@%h'] + pool,
            env=env, stdout=self.log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + START_TIMEOUT
        while not self.app.control.ping(timeout=0.5):
            if self.process.poll() is not None or \
                    time.monotonic() > deadline:
                raise RunError(f'Celery worker did not start: see {logPath}')

    @contextlib.contextmanager
    def producer(self, tally=None):
        # Celery's producers share the app's connection pool.
        task = self.task
        yield lambda item: task.apply_async((item,)).id

    def addOne(self, item):
        return self.task.apply_async((item,)).id

    def addMany(self, items):
        # Celery has no bulk enqueue: a group sends a message per job.
        result = celeryGroup(self.task.s(item) for item in items)
        return [r.id for r in result.apply_async().results]

    def _state(self, taskid):
        state = self.app.AsyncResult(taskid).state
        if state == 'FAILURE':
            raise RunError(f'task {taskid} failed')
        return state == 'SUCCESS'

    def isDone(self, taskid):
        return self._state(taskid)

    def countDone(self, taskids, known):
        while self.done < known and self._state(taskids[self.done]):
            self.done += 1
        return self.done

    def verify(self, taskids, items):
        bad = 0
        for taskid, item in zip(taskids, items):
            result = self.app.AsyncResult(taskid)
            if result.state != 'SUCCESS' or result.result != item:
                bad += 1
        return bad, []

    def diagnostics(self):
        return []

    def close(self):
        if self.process is not None:
            stopProcess(self.process)
            self.process = None
            self.log.close()
        self.conn.flushdb()


def celeryGroup(signatures):
    from celery import group
    return group(list(signatures))


def redisSettings(conn):
    """What a Redis server keeps on disk, as the reports print it."""
    import redis
    info = conn.info()
    config = {}
    for name in ('appendonly', 'appendfsync', 'save'):
        try:
            config.update(conn.config_get(name))
        except redis.ResponseError:
            pass
    return (f'Redis {info.get("redis_version")}, appendonly='
            f'{config.get("appendonly", "?")}, appendfsync='
            f'{config.get("appendfsync", "?")}, save='
            f'{config.get("save", "?")!r}')


def childEnv(extra=None):
    """The environment of a peer's worker process: the benchmarks'
    directory on PYTHONPATH, and `extra`."""
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(
        p for p in (HERE, os.environ.get('PYTHONPATH')) if p))
    env.update(extra or {})
    return env


class Loop:
    """An asyncio event loop in a thread of its own, which the benchmark's
    threads hand coroutines to (as the requests of an async application
    share its loop)."""

    def __init__(self):
        import asyncio
        self.asyncio = asyncio
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever,
                                       name='asyncio', daemon=True)
        self.thread.start()

    def run(self, coroutine):
        return self.asyncio.run_coroutine_threadsafe(
            coroutine, self.loop).result()

    def close(self):
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join()
        self.loop.close()


class Oban:
    """Oban's Python edition on PostgreSQL: a worker process of its own
    (``python -m oban start``), producers on a pool of the benchmark's
    event loop."""

    key = 'oban'

    def __init__(self, tmp, dsn):
        if sys.version_info < (3, 12):
            raise Skip(f'Oban\'s Python edition (the "oban" package) needs '
                       f'Python 3.12 or later, this is '
                       f'{platform.python_version()}: run peers.py in a '
                       f'3.12 environment with the bench extra')
        import oban
        import oban.schema
        import psycopg
        import psycopg_pool
        import benchoban
        self.oban, self.psycopg, self.psycopg_pool = oban, psycopg, \
            psycopg_pool
        self.module = benchoban
        self.version = importlib.metadata.version('oban')
        self.tmp = tmp
        self.dsn = dsn
        self.runs = 0
        self.process = None
        self.database = None
        self.loop = None
        self.pool = None
        self.server = postgresSettings(psycopg, dsn)

    def label(self, workers=1):
        if not workers:
            return 'oban: no worker'
        return f'oban: 1 worker process, queue limit {workers}'

    def describe(self):
        return f'Oban {self.version}, {self.server}'

    def _admin(self, statement):
        with self.psycopg.connect(self.dsn, autocommit=True) as conn:
            conn.execute(statement)

    def open(self, workers, task):
        self.runs += 1
        self.worker = self.module.WORKERS[task]
        self.database = f'oban_bench_{uuid.uuid4().hex[:10]}'
        self._admin(f'CREATE DATABASE {self.database}')
        params = self.psycopg.conninfo.conninfo_to_dict(self.dsn)
        params['dbname'] = self.database
        self.conninfo = self.psycopg.conninfo.make_conninfo(**params)
        self.conn = self.psycopg.connect(self.conninfo, autocommit=True)
        self.loop = Loop()

        async def start():
            self.pool = self.psycopg_pool.AsyncConnectionPool(
                self.conninfo, min_size=1, max_size=16, open=False)
            await self.pool.open()
            await self.oban.schema.install(self.pool)
            return self.oban.Oban(pool=self.pool, name='bench')
        self.client = self.loop.run(start())
        if not workers:
            return
        logPath = os.path.join(self.tmp, f'oban-{self.runs}.log')
        self.log = open(logPath, 'w')
        self.process = subprocess.Popen(
            [PYTHON, '-m', 'oban', 'start', '--dsn', self.conninfo,
             '--queues', f'{self.module.QUEUE}:{workers}',
             '--log-level', 'warning'],
            env=childEnv(), stdout=self.log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + START_TIMEOUT
        while not self.conn.execute(
                'select count(*) from oban_producers where queue = %s',
                (self.module.QUEUE,)).fetchone()[0]:
            if self.process.poll() is not None or \
                    time.monotonic() > deadline:
                raise RunError(f'Oban worker did not start: see {logPath}')
            time.sleep(0.05)

    def _enqueue(self, item):
        return self.loop.run(self.client.enqueue(
            self.worker.new({'input': item}))).id

    @contextlib.contextmanager
    def producer(self, tally=None):
        # The threads share the loop and its pool, as an async app would.
        yield self._enqueue

    def addOne(self, item):
        return self._enqueue(item)

    def addMany(self, items):
        jobs = self.loop.run(self.client.enqueue_many(
            [self.worker.new({'input': item}) for item in items]))
        return [job.id for job in jobs]

    def _failed(self):
        if self.conn.execute(
                "select count(*) from oban_jobs where state in "
                "('discarded', 'retryable', 'cancelled')").fetchone()[0]:
            raise RunError('Oban jobs failed: see their state')

    def isDone(self, jobid):
        state = self.conn.execute(
            'select state from oban_jobs where id = %s',
            (jobid,)).fetchone()[0]
        if state in ('discarded', 'retryable', 'cancelled'):
            raise RunError(f'job {jobid} {state}')
        return state == 'completed'

    def countDone(self, jobids, known):
        self._failed()
        return self.conn.execute(
            "select count(*) from oban_jobs where state = 'completed'"
        ).fetchone()[0]

    def verify(self, jobids, items):
        from oban._recorded import decode_recorded
        rows = {jobid: (state, args, meta) for jobid, state, args, meta in
                self.conn.execute(
                    'select id, state, args, meta from oban_jobs '
                    'where id = any(%s)', (list(jobids),))}
        bad = 0
        for jobid, item in zip(jobids, items):
            state, args, meta = rows.get(jobid, (None, None, {}))
            recorded = meta.get('return') if meta else None
            if state != 'completed' or args != {'input': item} or \
                    recorded is None or decode_recorded(recorded) != item:
                bad += 1
        return bad, ['results read from the recorded return values']

    def diagnostics(self):
        return []

    def close(self):
        try:
            if self.process is not None:
                stopProcess(self.process)
                self.process = None
                self.log.close()
            if self.loop is not None:
                if self.pool is not None:
                    self.loop.run(self.pool.close())
                    self.pool = None
                self.loop.close()
                self.loop = None
                self.conn.close()
        finally:
            if self.database is not None:
                self._admin(f'DROP DATABASE IF EXISTS {self.database} '
                            f'WITH (FORCE)')
                self.database = None


def postgresSettings(psycopg, dsn):
    """PostgreSQL's version and durability settings; Skip if it is out of
    reach."""
    try:
        with psycopg.connect(dsn, connect_timeout=3) as conn:
            settings = {name: conn.execute(f'show {name}').fetchone()[0]
                        for name in ('server_version', 'fsync',
                                     'synchronous_commit')}
    except Exception as error:
        raise Skip(f'PostgreSQL at {dsn!r} not reachable: '
                   f'{type(error).__name__}: {str(error).strip()}')
    return (f'PostgreSQL {settings["server_version"]}, fsync='
            f'{settings["fsync"]}, synchronous_commit='
            f'{settings["synchronous_commit"]}')


# ---------------------------------------------------------------------------
# The workloads


@dataclasses.dataclass
class Row:
    workload: str           # W1, W2, W2s (one worker, 20 ms jobs), W3, W4, W5
    system: str             # the system's key: us, us-threads, huey, ...
    label: str
    jobs: int
    rate: float | None = None        # jobs/s
    p50: float | None = None         # seconds
    p99: float | None = None
    checked: str = ''
    ok: bool = False
    notes: list[str] = dataclasses.field(default_factory=list)
    conflicted: int | None = None    # W5: adds whose first attempt conflicted
    failed: int | None = None        # W5: adds that failed
    barrier: float | None = None     # W7: callback start - last sibling end
    most: int | None = None          # W8: the most that ran at once


def waitAll(system, handles, total, timeout):
    deadline = time.monotonic() + timeout
    while system.countDone(handles, len(handles)) < total:
        if time.monotonic() > deadline:
            raise RunError(f'not all {total} jobs completed after '
                           f'{timeout:.0f} s')
        time.sleep(POLL)


def checkRow(row, system, handles, items):
    bad, notes = system.verify(handles, items)
    row.notes += notes + system.diagnostics()
    row.ok = bad == 0 and len(handles) == len(items)
    row.checked = (f'all {len(items)} ok' if row.ok
                   else f'FAILED: {bad} of {len(items)} wrong')


def runTrickle(system, row, n, task):
    items = [payload(i) for i in range(n)]
    handles = []
    added = {}

    def produce():
        try:
            with system.producer() as add:
                for item in items:
                    handles.append(add(item))
        except BaseException as error:
            added['error'] = error
        added['at'] = time.perf_counter()

    try:
        system.open(1, task)
        thread = threading.Thread(target=produce, name='producer')
        t0 = time.perf_counter()
        thread.start()
        deadline = time.monotonic() + 60 + n * 0.2
        while True:
            known = len(handles)
            if system.countDone(handles, known) >= n and known == n:
                break
            if 'error' in added:
                raise RunError(f'producer failed: {added["error"]!r}')
            if time.monotonic() > deadline:
                raise RunError('trickle did not complete in time')
            time.sleep(POLL)
        t2 = time.perf_counter()
        thread.join()
        row.rate = n / (t2 - t0)
        row.notes.append(f'adds took {added["at"] - t0:.1f} s '
                         f'({n / (added["at"] - t0):,.0f}/s); all done '
                         f'{t2 - t0:.1f} s after the first add')
        checkRow(row, system, handles, items)
    finally:
        system.close()


def runAddsAlone(system, row, n, task):
    """W1's producer with no worker running: the most W1 can reach."""
    items = [payload(i) for i in range(n)]
    try:
        system.open(0, task)
        with system.producer() as add:
            t0 = time.perf_counter()
            handles = [add(item) for item in items]
            row.rate = n / (time.perf_counter() - t0)
        row.ok = len(handles) == n
        row.checked = f'{len(handles)} added, none run'
    finally:
        system.close()


def runBurst(system, row, n, task, workers=1):
    items = [payload(i) for i in range(n)]
    try:
        system.open(workers, task)
        t0 = time.perf_counter()
        handles = system.addMany(items)
        t1 = time.perf_counter()
        perJob = 0.025 if task == 'sleep20' else 0.01
        waitAll(system, handles, n, 60 + n * perJob * 4)
        t2 = time.perf_counter()
        row.rate = n / (t2 - t0)
        row.notes.append(f'adding took {t1 - t0:.2f} s; all done '
                         f'{t2 - t0:.1f} s after the first add')
        checkRow(row, system, handles, items)
    finally:
        system.close()


class Tally:
    """What W5's producers met, counted across threads: our adds' first
    attempts that conflicted, by exception class, and adds that failed."""

    def __init__(self):
        self.lock = threading.Lock()
        self.conflicts = collections.Counter()     # first attempts
        self.retryConflicts = 0
        self.failures = collections.Counter()

    def conflict(self, attempt, error):
        with self.lock:
            if attempt == 1:
                self.conflicts[type(error).__name__] += 1
            else:
                self.retryConflicts += 1

    def failure(self, error):
        with self.lock:
            self.failures[type(error).__name__] += 1


def runContended(system, row, n, producers, task='echo', shape=None):
    """W5: `producers` threads add `n` jobs in all, one per transaction,
    while one worker runs them.  With a W6 `shape`, each thread's
    requests are its producer's: each writes its application object and
    adds a job."""
    per = n // producers
    items = [[payload(p * per + i) for i in range(per)]
             for p in range(producers)]
    added = [[] for _ in range(producers)]
    ends = [None] * producers
    errors = []
    tally = Tally()
    barrier = threading.Barrier(producers + 1)

    def produce(p):
        try:
            with (system.producer(tally=tally) if shape is None
                  else shape.producer(p, tally)) as add:
                barrier.wait(START_TIMEOUT)
                for item in items[p]:
                    try:
                        added[p].append((add(item), item))
                    except Exception as error:
                        tally.failure(error)
        except BaseException as error:
            errors.append(error)
            barrier.abort()
        ends[p] = time.perf_counter()

    try:
        system.open(1, task)
        if shape is not None:
            shape.open(producers)
        threads = [threading.Thread(target=produce, args=(p,),
                                    name=f'producer-{p}')
                   for p in range(producers)]
        for thread in threads:
            thread.start()
        try:
            barrier.wait(START_TIMEOUT)
        except threading.BrokenBarrierError:
            pass
        t0 = time.perf_counter()
        for thread in threads:
            thread.join(60 + n * 0.2)
        if errors or any(thread.is_alive() for thread in threads):
            raise RunError(f'producers failed: '
                           f'{errors[0] if errors else "timed out"!r}')
        t1 = max(ends)
        pairs = [pair for part in added for pair in part]
        handles = [handle for handle, _ in pairs]
        waitAll(system, handles, len(handles), 60 + n * 0.05)
        t2 = time.perf_counter()
        row.jobs = producers * per
        row.rate = len(handles) / (t1 - t0)
        row.conflicted = sum(tally.conflicts.values())
        row.failed = sum(tally.failures.values())
        row.notes.append(
            f'{producers} producers added {len(handles):,} jobs in '
            f'{t1 - t0:.1f} s; all done {t2 - t0:.1f} s after the start '
            f'({len(handles) / (t2 - t0):,.0f} jobs/s end to end)')
        if tally.conflicts or isinstance(system, Ours):
            row.notes.append(
                f'adds whose first attempt conflicted: {row.conflicted} '
                f'({row.conflicted / row.jobs:.1%}) ' + ', '.join(
                    f'{kind} {count}'
                    for kind, count in tally.conflicts.most_common()) +
                f'; retries that conflicted again: {tally.retryConflicts}')
        if tally.failures:
            row.notes.append(
                'adds that failed' +
                (f' all {ATTEMPTS} attempts' if isinstance(system, Ours)
                 else '') + ': ' + ', '.join(
                    f'{kind} {count}'
                    for kind, count in tally.failures.most_common()))
        checkRow(row, system, handles, [item for _, item in pairs])
        if shape is not None:
            wrong = shape.check({p: added[p][-1][1]['n'] for p in
                                 range(producers) if added[p]})
            if wrong:
                row.ok = False
                row.checked += f'; {wrong} application objects wrong'
            else:
                row.checked += '; application objects ok'
        if row.conflicted:
            row.checked += (f'; {row.conflicted / row.jobs:.1%} of adds '
                            f'conflicted at first')
        if row.failed:
            row.checked += f'; {row.failed} of {row.jobs:,} adds failed'
    finally:
        try:
            if shape is not None:
                shape.close()
        finally:
            system.close()


def runLatency(system, row, samples):
    items = [payload(i) for i in range(WARMUP + samples)]
    try:
        system.open(1, 'echo')
        handles, times = [], []
        for item in items:
            t0 = time.perf_counter()
            handle = system.addOne(item)
            deadline = time.monotonic() + 30
            while not system.isDone(handle):
                if time.monotonic() > deadline:
                    raise RunError('a job took more than 30 s')
                time.sleep(LATENCY_POLL)
            times.append(time.perf_counter() - t0)
            handles.append(handle)
        times = times[WARMUP:]
        row.p50, row.p99 = pct(times, 50), pct(times, 99)
        row.notes.append(f'mean {statistics.mean(times) * 1e3:.2f} ms, '
                         f'max {max(times) * 1e3:.2f} ms')
        checkRow(row, system, handles, items)
    finally:
        system.close()


# ---------------------------------------------------------------------------
# W6, the application's shape: each request writes one application object
# (its producer's own, so that requests do not conflict on it) and adds a
# job.  A shape gives each producer thread its request function.


def attempts(tm, tally, fn):
    """`fn()` and a commit, up to `ATTEMPTS` attempts on a TransientError
    (each counted in `tally`, when there is one), as
    ``transaction.manager.attempts(3)`` does."""
    for attempt in range(1, ATTEMPTS + 1):
        tm.begin()
        try:
            value = fn()
            tm.commit()
            return value
        except TransientError as error:
            tm.abort()
            if tally is not None:
                tally.conflict(attempt, error)
            if attempt == ATTEMPTS:
                raise
        except BaseException:
            tm.abort()
            raise


def appObjects(conn, producers):
    """The application's objects: one PersistentMapping per producer."""
    from persistent.mapping import PersistentMapping
    root = getApplicationRoot(conn, create=True)
    root['w6'] = PersistentMapping(
        (str(p), PersistentMapping(n=-1)) for p in range(producers))


def appWrongs(conn, last):
    """How many producers' objects do not hold the last request's n."""
    objects = getApplicationRoot(conn)['w6']
    return sum(objects[str(p)]['n'] != n for p, n in last.items())


class OursInOne:
    """Ours: the object and the add in one ZODB commit."""

    def __init__(self, system):
        self.system = system

    def open(self, producers):
        system = self.system
        appObjects(system.conn, producers)
        system.tm.commit()

    @contextlib.contextmanager
    def producer(self, p, tally):
        tm = transaction.TransactionManager()
        conn = self.system.db.open(transaction_manager=tm)
        task = self.system.task

        def request(item):
            def write():
                root = getApplicationRoot(conn)
                root['w6'][str(p)]['n'] = item['n']
                return root['svc'].add(task, item)
            return attempts(tm, tally, write)
        try:
            yield request
        finally:
            tm.abort()
            conn.close()

    def check(self, last):
        self.system.conn.sync()
        return appWrongs(self.system.conn, last)

    def close(self):
        pass


class ZodbThenEnqueue:
    """A peer beside a ZODB application: the object committed to a
    FileStorage, then the job enqueued (two commits, in two stores)."""

    def __init__(self, system, tmp):
        self.system, self.tmp = system, tmp
        self.db = None

    def open(self, producers):
        path = os.path.join(self.tmp, f'w6-app-{uuid.uuid4().hex[:8]}.fs')
        self.db = DB(FileStorage(path), pool_size=producers + 4)
        self.tm = transaction.TransactionManager()
        self.conn = self.db.open(transaction_manager=self.tm)
        appObjects(self.conn, producers)
        self.tm.commit()

    @contextlib.contextmanager
    def producer(self, p, tally):
        tm = transaction.TransactionManager()
        conn = self.db.open(transaction_manager=tm)
        try:
            with self.system.producer() as enqueue:
                def request(item):
                    def write():
                        getApplicationRoot(conn)['w6'][str(p)]['n'] = \
                            item['n']
                    attempts(tm, None, write)
                    return enqueue(item)
                yield request
        finally:
            tm.abort()
            conn.close()

    def check(self, last):
        self.conn.sync()
        return appWrongs(self.conn, last)

    def close(self):
        if self.db is not None:
            self.tm.abort()
            self.conn.close()
            self.db.close()
            self.db = None


#: The application's table of the PostgreSQL peers.
APP_TABLE = 'w6_objects'


def createAppTable(conn, producers):
    conn.execute(f'create table {APP_TABLE} (id int primary key, '
                 f'n int not null)')
    with conn.cursor() as cursor:
        cursor.executemany(f'insert into {APP_TABLE} values (%s, -1)',
                           [(p,) for p in range(producers)])


def appTableWrongs(conn, last):
    rows = dict(conn.execute(f'select id, n from {APP_TABLE}').fetchall())
    return sum(rows.get(p) != n for p, n in last.items())


class OneConnection:
    """A connection pool of one connection, in the request's transaction:
    what Procrastinate's sync connector takes from, so that its defer runs
    in that transaction (the pool's ``connection()`` would commit)."""

    def __init__(self, conn):
        self.conn = conn

    @contextlib.contextmanager
    def connection(self):
        yield self.conn

    def close(self):
        pass


class ProcrastinateInOne:
    """Procrastinate: the object written and the job deferred in one
    PostgreSQL transaction, on the producer's connection."""

    def __init__(self, system):
        self.system = system

    def open(self, producers):
        createAppTable(self.system.conn, producers)

    @contextlib.contextmanager
    def producer(self, p, tally):
        system = self.system
        conn = system.psycopg.connect(system.conninfo, autocommit=True)
        app = system.module.makeApp(
            system.procrastinate.SyncPsycopgConnector())
        app.open(OneConnection(conn))
        task = app.tasks[system.task]

        def request(item):
            with conn.transaction():
                conn.execute(f'update {APP_TABLE} set n = %s where id = %s',
                             (item['n'], p))
                return task.defer(input=item)
        try:
            yield request
        finally:
            app.close()
            conn.close()

    def check(self, last):
        return appTableWrongs(self.system.conn, last)

    def close(self):
        pass


class ObanInOne:
    """Oban: the object written and the job enqueued in one PostgreSQL
    transaction (``enqueue(job, conn=...)``), on the producer's
    connection, in the benchmark's event loop."""

    def __init__(self, system):
        self.system = system

    def open(self, producers):
        createAppTable(self.system.conn, producers)

    @contextlib.contextmanager
    def producer(self, p, tally):
        system = self.system
        conn = system.loop.run(system.psycopg.AsyncConnection.connect(
            system.conninfo, autocommit=True))

        async def request(item):
            async with conn.transaction():
                await conn.execute(
                    f'update {APP_TABLE} set n = %s where id = %s',
                    (item['n'], p))
                job = await system.client.enqueue(
                    system.worker.new({'input': item}), conn=conn)
            return job.id
        try:
            yield lambda item: system.loop.run(request(item))
        finally:
            system.loop.run(conn.close())

    def check(self, last):
        return appTableWrongs(self.system.conn, last)

    def close(self):
        pass


def w6Shape(system, tmp):
    if isinstance(system, Ours):
        return OursInOne(system)
    if isinstance(system, Procrastinate):
        return ProcrastinateInOne(system)
    if isinstance(system, Oban):
        return ObanInOne(system)
    return ZodbThenEnqueue(system, tmp)


def w6Label(system, producers):
    who = 'us' if isinstance(system, Ours) else system.key
    if isinstance(system, Ours):
        how = 'object and add in one ZODB commit'
    elif isinstance(system, (Procrastinate, Oban)):
        how = 'object and job in one PostgreSQL transaction'
    else:
        how = 'ZODB commit, then enqueue'
    threads = f'{producers} threads' if producers > 1 else '1 producer'
    return f'{who}: {threads}, {how}' + (
        ' (a)' if isinstance(system, Ours) and producers > 1 else '')


def runW6(system, row, n, producers, tmp):
    """W6 with `producers` threads: `n` requests in all."""
    runContended(system, row, n, producers, 'echo', w6Shape(system, tmp))


def runW6Zeo(system, row, n, processes, threads):
    """Ours over ZEO: `processes` producer processes of `threads` threads
    each (``peers.py --role w6``), one worker process."""
    producers = processes * threads
    per = n // producers
    try:
        system.open(1, 'echo')
        appObjects(system.conn, producers)
        system.tm.commit()
        children = []
        for c in range(processes):
            children.append(subprocess.Popen(
                [PYTHON, os.path.abspath(__file__), '--role', 'w6',
                 system.uri, str(c * threads), str(threads), str(per)],
                stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                stderr=subprocess.PIPE, env=childEnv(), text=True))
        for child in children:
            if child.stdout.readline().strip() != 'ready':
                raise RunError(f'a W6 producer process did not start: '
                               f'{child.stderr.read()[-500:]}')
        t0 = time.time()
        for child in children:
            child.stdin.write('go\n')
            child.stdin.flush()
        results = []
        for child in children:
            out, err = child.communicate(timeout=60 + n * 0.2)
            if child.returncode:
                raise RunError(f'a W6 producer process failed: {err[-500:]}')
            results.append(json.loads(out.strip().splitlines()[-1]))
        t1 = max(r['end'] for r in results)
        pairs = [(h, payload(i)) for r in results for h, i in r['added']]
        handles = [h for h, _ in pairs]
        waitAll(system, handles, len(handles), 60 + n * 0.05)
        t2 = time.time()
        row.jobs = producers * per
        row.rate = len(handles) / (t1 - t0)
        row.conflicted = sum(r['conflicted'] for r in results)
        row.failed = sum(r['failed'] for r in results)
        row.notes.append(
            f'{processes} processes x {threads} threads made '
            f'{len(handles):,} requests in {t1 - t0:.1f} s; all done '
            f'{t2 - t0:.1f} s after the start; adds whose first attempt '
            f'conflicted: {row.conflicted}')
        checkRow(row, system, handles, [item for _, item in pairs])
        last = {p: n for r in results for p, n in r['last'].items()}
        system.conn.sync()
        wrong = appWrongs(system.conn, {int(p): n for p, n in last.items()})
        row.ok = row.ok and not wrong and not row.failed
        row.checked += (f'; {wrong} application objects wrong' if wrong
                        else '; application objects ok')
        if row.failed:
            row.checked += f'; {row.failed} requests failed'
    finally:
        system.close()


def roleW6(uri, first, threads, per):
    """A W6 producer process over ZEO: `threads` threads, producers
    `first`..., `per` requests each; prints ready, waits for a line, then
    prints what it added as JSON."""
    import benchtasks  # noqa: F401 -- add() checks the task exists
    db = openDatabase(f'{uri}?connection_pool_size={threads + 2}')
    tally = Tally()
    added, last, ends = [], {}, []
    lock = threading.Lock()

    def produce(p):
        tm = transaction.TransactionManager()
        conn = db.open(transaction_manager=tm)
        getApplicationRoot(conn)['w6'][str(p)]     # loaded, as an app's
        go.wait()
        mine = []
        for k in range(per):
            i = p * per + k
            item = payload(i)

            def write():
                root = getApplicationRoot(conn)
                root['w6'][str(p)]['n'] = item['n']
                return root['svc'].add('echo', item)
            try:
                mine.append((attempts(tm, tally, write), i))
            except Exception as error:
                tally.failure(error)
        with lock:
            added.extend(mine)
            if mine:
                last[p] = payload(mine[-1][1])['n']
            ends.append(time.time())
        tm.abort()
        conn.close()

    go = threading.Event()
    workers = [threading.Thread(target=produce, args=(first + t,))
               for t in range(threads)]
    for w in workers:
        w.start()
    print('ready', flush=True)
    sys.stdin.readline()
    go.set()
    for w in workers:
        w.join()
    db.close()
    print(json.dumps({'added': added, 'last': last, 'end': max(ends),
                      'conflicted': sum(tally.conflicts.values()),
                      'failed': sum(tally.failures.values())}),
          flush=True)


def run(rows, workload, system, label, n, fn, *args):
    row = Row(workload, system.key if not isinstance(system, Ours)
              else {'simple': 'us', 'threads': 'us-threads',
                    'zeo': 'us-zeo'}[system.mode], label, n)
    say(f'  {workload:3} {label} ...')
    gc.collect()
    try:
        fn(system, row, *args)
    except RunError as error:
        row.ok = False
        row.checked = f'FAILED: {error}'
    rows.append(row)
    say(f'      {result(row)}; {row.checked}')
    for note in row.notes:
        say(f'      {note}')
    return row


def result(row):
    if row.rate is not None and row.workload == 'W7':
        return (f'{row.jobs / row.rate:.2f} s, barrier '
                f'{row.barrier * 1e3:.0f} ms')
    if row.rate is not None and row.workload == 'W8':
        return f'{row.rate:,.0f} jobs/s, most {row.most} at once'
    if row.rate is not None and row.workload == 'W5':
        return f'{row.rate:,.0f} adds/s'
    if row.rate is not None and row.workload.startswith('W6'):
        return f'{row.rate:,.0f} requests/s'
    if row.rate is not None:
        return f'{row.rate:,.0f} jobs/s'
    if row.p50 is not None:
        return f'p50 {row.p50 * 1e3:.2f} ms, p99 {row.p99 * 1e3:.2f} ms'
    return '-'


# ---------------------------------------------------------------------------
# Reporting


def find(rows, workload, system):
    for row in rows:
        if row.workload == workload and row.system == system and row.ok:
            return row
    return None


def ratio(us, peer):
    """Above 1: we are ahead."""
    if us is None or peer is None:
        return None
    if us.rate is not None and peer.rate:
        return us.rate / peer.rate
    if us.p50 and peer.p50 is not None:
        return peer.p50 / us.p50
    return None


def fmtRatio(value):
    return '-' if value is None else f'{value:.2f}x'


WORKLOAD_NAMES = {
    'W1': 'W1 trickle', 'W1a': 'W1 adds alone', 'W2': 'W2 burst', 'W3': 'W3 latency',
    'W2s': 'W2 burst, 20 ms jobs', 'W4': 'W4 4 workers, 20 ms jobs',
    'W5': 'W5 contended adds', 'W6': 'W6 app shape, 1 producer',
    'W6x8': 'W6 app shape, 8 producers', 'W7': 'W7 fan-in',
    'W8': 'W8 queue limited to K'}


def table(rows):
    """The summary table; the ratio column is us/peer (W3: peer/us)."""
    lines = []
    head = ('workload', 'system', 'jobs', 'result', 'us/peer', 'checked')
    body = []
    for row in rows:
        if row.system.startswith('us'):
            r = ''
        elif row.workload == 'W4':
            a = ratio(find(rows, 'W4', 'us-threads'), row)
            b = ratio(find(rows, 'W4', 'us-zeo'), row)
            r = f'a {fmtRatio(a)}, b {fmtRatio(b)}'
        elif row.workload == 'W8':
            r = fmtRatio(ratio(find(rows, 'W8', 'us-zeo'), row))
        elif row.workload == 'W6x8':
            a = ratio(find(rows, 'W6x8', 'us'), row)
            b = ratio(find(rows, 'W6x8', 'us-zeo'), row)
            r = f'a {fmtRatio(a)}, b {fmtRatio(b)}'
        else:
            r = fmtRatio(ratio(find(rows, row.workload, 'us'), row))
        body.append((WORKLOAD_NAMES[row.workload], row.label, f'{row.jobs:,}',
                     result(row), r, row.checked))
    widths = [max(len(r[i]) for r in body + [head]) for i in range(len(head))]
    rule = '  '.join('-' * w for w in widths)
    lines.append(rule)
    for i, r in enumerate([head] + body):
        lines.append('  '.join(
            c.rjust(w) if j in (2, 4) else c.ljust(w)
            for j, (c, w) in enumerate(zip(r, widths))).rstrip())
        if i == 0:
            lines.append(rule)
    lines.append(rule)
    return lines


def targets(rows):
    """The targets of the issue, each with its value and verdict."""
    out = []

    def check(name, value, goal, better='higher'):
        if value is None:
            out.append(f'  {name:52} not measured')
            return
        ok = value >= goal if better == 'higher' else value < goal
        unit = 'x' if better == 'higher' else ' ms'
        out.append(f'  {name:52} {value:8.2f}{unit}  target '
                   f'{"<" if better != "higher" else ">="} {goal:g}{unit}  '
                   f'{"ok" if ok else "FAILS"}')

    for w in ('W1', 'W2'):
        us = find(rows, w, 'us')
        check(f'{w} us / SqliteHuey(fsync=True)',
              ratio(us, find(rows, w, 'huey-fsync')), 1.5)
        check(f'{w} us / RQ SimpleWorker', ratio(us, find(rows, w, 'rq')), 1.0)
    w3 = find(rows, 'W3', 'us')
    check('W3 us p50', None if w3 is None else w3.p50 * 1e3, 5, 'lower')
    one = find(rows, 'W2s', 'us')
    check('W4 (a) MultiProcessor(4) / our 1 worker, 20 ms jobs',
          ratio(find(rows, 'W4', 'us-threads'), one), 2.5)
    check('W4 (b) 4 ZEO worker processes / our 1 worker',
          ratio(find(rows, 'W4', 'us-zeo'), one), 2.5)
    w5 = find(rows, 'W5', 'us')
    if w5 is None:
        out.append(f'  {"W5 us adds conflicted without retry":52} not measured')
    else:
        share = w5.conflicted / w5.jobs
        out.append(f'  {"W5 us adds conflicted without retry":52} '
                   f'{share:8.2%}  target <= 0.1%  '
                   f'{"ok" if share <= 0.001 else "FAILS"}')
        out.append(f'  {f"W5 us adds failed with {ATTEMPTS} attempts":52} '
                   f'{w5.failed:8d}   target 0  '
                   f'{"ok" if not w5.failed else "FAILS"}')
    out.append('  issue 26:')
    for w, goal in (('W1', 1.2), ('W2', 3.0), ('W5', 1.0)):
        check(f'{w} us / SqliteHuey(fsync=True)',
              ratio(find(rows, w, 'us'), find(rows, w, 'huey-fsync')), goal)
    goals = (('huey-fsync', 'SqliteHuey(fsync=True)', 1.5),
             ('rq', 'RQ', 2.0), ('celery', 'Celery', 2.0),
             ('procrastinate', 'Procrastinate', 2.0), ('oban', 'Oban', 2.0))
    for w, us, name in (('W6', 'us', 'W6 1 producer'),
                        ('W6x8', 'us', 'W6 8 threads (a)'),
                        ('W6x8', 'us-zeo', 'W6 8, ZEO procs (b)')):
        for peer, peerName, goal in goals:
            check(f'{name}: us / {peerName}',
                  ratio(find(rows, w, us), find(rows, w, peer)), goal)
    return out


COLORS = {'us': '#1f77b4', 'us-threads': '#08306b', 'us-zeo': '#17becf',
          'huey': '#ff7f0e', 'huey-fsync': '#d62728', 'rq': '#2ca02c',
          'procrastinate': '#9467bd', 'celery': '#8c564b',
          'oban': '#e377c2'}
SHORT = {'us': 'us (1 worker)', 'us-threads': 'us (a) 4 threads',
         'us-zeo': 'us (b) procs, ZEO', 'huey': 'huey',
         'huey-fsync': 'huey fsync=True', 'rq': 'rq',
         'procrastinate': 'procrastinate', 'celery': 'celery',
         'oban': 'oban'}


def plot(rows, path, title):
    import matplotlib
    matplotlib.use('Agg')
    import matplotlib.pyplot as plt

    groups = [('W1', 'W1 trickle\n(tiny jobs)'),
              ('W1a', 'W1 adds alone\n(no worker)'),
              ('W2', 'W2 burst\n(tiny jobs)'),
              ('W2s', 'W2 burst\n1 worker, 20 ms jobs'),
              ('W4', 'W4 4 workers\n20 ms jobs'),
              ('W5', 'W5 8 producers\n(adds/s)'),
              ('W6', 'W6 app shape\n1 producer (req/s)'),
              ('W6x8', 'W6 app shape\n8 producers (req/s)')]
    groups = [(w, name) for w, name in groups
              if any(r.workload == w and r.ok for r in rows)]
    latency = [r for r in rows if r.workload == 'W3' and r.ok]
    fig, axes = plt.subplots(
        1, 2, figsize=(15, 5.5),
        gridspec_kw={'width_ratios': [3, 1.3] if latency else [1, 0.01]})
    ax = axes[0]
    x = 0
    ticks, labels, seen = [], [], set()
    for w, name in groups:
        members = [r for r in rows if r.workload == w and r.ok]
        start = x
        for r in members:
            lab = SHORT[r.system]
            ax.bar(x, r.rate, color=COLORS[r.system],
                   hatch='//' if r.system == 'us-zeo' else None,
                   edgecolor='white', label=None if lab in seen else lab)
            seen.add(lab)
            ax.text(x, r.rate, f'{r.rate:,.0f}', ha='center', va='bottom',
                    fontsize=8)
            x += 1
        ticks.append((start + x - 1) / 2)
        labels.append(name)
        x += 1
    ax.set_xticks(ticks, labels)
    ax.set_ylabel('jobs/s, W5 adds/s, W6 requests/s (higher is better)')
    ax.set_title('Throughput')
    ax.legend(fontsize=8)
    ax.grid(axis='y', alpha=0.3)
    ax2 = axes[1]
    if latency:
        xs = range(len(latency))
        ax2.bar([i - 0.2 for i in xs], [r.p50 * 1e3 for r in latency],
                width=0.4, color=[COLORS[r.system] for r in latency],
                label='p50')
        ax2.bar([i + 0.2 for i in xs], [r.p99 * 1e3 for r in latency],
                width=0.4, color=[COLORS[r.system] for r in latency],
                alpha=0.45, label='p99')
        for i, r in enumerate(latency):
            ax2.text(i - 0.2, r.p50 * 1e3, f'{r.p50 * 1e3:.1f}', ha='center',
                     va='bottom', fontsize=8)
            ax2.text(i + 0.2, r.p99 * 1e3, f'{r.p99 * 1e3:.1f}', ha='center',
                     va='bottom', fontsize=8)
        ax2.set_xticks(list(xs), [SHORT[r.system] for r in latency],
                       rotation=20, ha='right', fontsize=8)
        ax2.set_yscale('log')
        ax2.set_ylabel('ms from add to completed seen (lower is better)')
        ax2.set_title('W3 latency, one job in flight\n(p50 solid, p99 light)')
        ax2.grid(axis='y', alpha=0.3)
    else:
        ax2.axis('off')
    fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


# ---------------------------------------------------------------------------
# Profile of our worker


def profileOurs(tmp, n):
    """Our SimpleProcessor draining `n` queued echo jobs, in the main
    thread under cProfile; a watcher thread stops it when all are done."""
    say(f'\nprofile: SimpleProcessor draining {n:,} queued echo jobs on '
        f'FileStorage, in the main thread under cProfile')
    db = DB(FileStorage(os.path.join(tmp, 'profile.fs')))
    tm = transaction.TransactionManager()
    conn = db.open(transaction_manager=tm)
    app = getApplicationRoot(conn, create=True)
    service = app['svc'] = TaskService()
    tm.commit()
    jobids = [service.add('echo', payload(i)) for i in range(n)]
    tm.commit()
    processor = SimpleProcessor(db, service._p_oid, waitTime=0.05)
    watcher = Ours(tmp)
    watcher.conn, watcher.service, watcher.done = conn, service, 0

    def watch():
        while watcher.countDone(jobids, n) < n:
            time.sleep(POLL)
        processor.stop()

    # The watcher reads with the main connection while the processor runs
    # in this thread on its own connection.
    thread = threading.Thread(target=watch, name='watcher')
    thread.start()
    profile = cProfile.Profile()
    t0 = time.perf_counter()
    profile.runcall(processor)
    elapsed = time.perf_counter() - t0
    thread.join()
    tm.abort()
    conn.close()
    db.close()
    say(f'  {n / elapsed:,.0f} jobs/s under cProfile ({elapsed:.1f} s); '
        f'per job:')
    stats = pstats.Stats(profile)
    entries = stats.stats   # (file, line, name) -> (cc, nc, tt, ct, callers)
    total = sum(v[2] for v in entries.values())

    def pick(pattern):
        calls = tt = ct = 0
        for (file, line, name), (cc, nc, t, c, _) in entries.items():
            if re.search(pattern, f'{file}:{name}'):
                calls += nc
                tt += t
                ct = max(ct, c)
        return calls, tt, ct

    for label, pattern, kind in [
        ('commits (Transaction.commit)', r'_transaction\.py:commit$', 'ct'),
        ('  FileStorage.tpc_vote', r'FileStorage\.py:tpc_vote$', 'ct'),
        ('  fsync', r'posix\.fsync', 'tt'),
        ('records written (FileStorage.store)', r'FileStorage\.py:store$',
         'ct'),
        ('pickling (ObjectWriter.serialize)', r'serialize\.py:serialize$',
         'ct'),
        ('object loads (Connection.setstate)', r'Connection\.py:setstate$',
         'ct'),
        ('invalidations (poll_invalidations)',
         r'mvccadapter\.py:poll_invalidations$', 'ct'),
        ('the task itself (runJob)', r'run\.py:runJob$', 'ct'),
    ]:
        calls, tt, ct = pick(pattern)
        spent = tt if kind == 'tt' else ct
        say(f'    {label:40} {calls / n:6.2f} calls  '
            f'{spent / n * 1e3:7.3f} ms')
    say('  lovely.remotetask functions by cumulative time per job:')
    ours = sorted(((k, v) for k, v in entries.items()
                   if 'lovely/remotetask' in k[0]), key=lambda kv: -kv[1][3])
    for (file, line, name), (cc, nc, tt, ct, _) in ours[:12]:
        say(f'    {ct / n * 1e3:7.3f} ms/job cum  {nc / n:6.2f} calls/job  '
            f'{os.path.basename(file)}:{line}({name})')
    say(f'  total profiled time {total / n * 1e3:.3f} ms per job; top 12 '
        f'functions by own time:')
    top = sorted(entries.items(), key=lambda kv: -kv[1][2])[:12]
    for (file, line, name), (cc, nc, tt, ct, _) in top:
        where = f'{os.path.basename(file)}:{line}({name})' if line else name
        say(f'    {tt / n * 1e3:7.3f} ms/job own  {ct / n * 1e3:7.3f} ms/job '
            f'cum  {nc / n:6.2f} calls/job  {where[:70]}')


# ---------------------------------------------------------------------------


def versions():
    out = []
    for name in ('ZODB', 'ZEO', 'huey', 'rq', 'redis', 'procrastinate',
                 'psycopg', 'celery', 'kombu', 'oban'):
        try:
            out.append(f'{name} {importlib.metadata.version(name)}')
        except importlib.metadata.PackageNotFoundError:
            out.append(f'{name} not installed')
    return ', '.join(out)


def main(argv=None):
    argv = sys.argv[1:] if argv is None else argv
    if argv[:2] == ['--role', 'w6']:
        uri, first, threads, per = argv[2:6]
        return roleW6(uri, int(first), int(threads), int(per))
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--only', default=','.join(WORKLOADS),
                        help='workloads to run, comma-separated '
                        '(W1,W2,W3,W4,W5,W6,W7,W8)')
    parser.add_argument('--peers', default=','.join(PEERS),
                        help='peers to run: huey,huey-fsync,rq,procrastinate,'
                        'celery,oban (or none)')
    parser.add_argument('--scale', type=float, default=1.0,
                        help='multiply the job counts (0.1 for a quick run)')
    parser.add_argument('--trickle', type=int, default=5000)
    parser.add_argument('--burst', type=int, default=20000)
    parser.add_argument('--samples', type=int, default=300)
    parser.add_argument('--w4-jobs', type=int, default=2000,
                        help='jobs of 20 ms for W4 and its one-worker '
                        'reference')
    parser.add_argument('--workers', type=int, default=4)
    parser.add_argument('--contended', type=int, default=4000,
                        help='W5: jobs added in all by the producers')
    parser.add_argument('--producers', type=int, default=8,
                        help='W5: producer threads')
    parser.add_argument('--w6-requests', type=int, default=2000,
                        help='W6: requests in all, with 1 producer and '
                        'with --producers')
    parser.add_argument('--w6-processes', type=int, default=2,
                        help='W6: our producer processes over ZEO (their '
                        'threads make up --producers)')
    parser.add_argument('--fan-in', type=int, default=1000,
                        help='W7: sibling jobs the callback waits for')
    parser.add_argument('--limited', type=int, default=500,
                        help='W8: jobs of 20 ms in the limited queue')
    parser.add_argument('--limit', type=int, default=2,
                        help='W8: K, the most of them at once')
    parser.add_argument('--redis', default='redis://127.0.0.1:6379/13',
                        help='Redis for RQ; its database is flushed')
    parser.add_argument('--celery-redis',
                        default='redis://127.0.0.1:6379/14',
                        help='Redis for Celery (broker and results); it '
                        'must be empty, and is flushed')
    parser.add_argument('--postgres',
                        default='host=127.0.0.1 port=5432 user=postgres '
                        'dbname=postgres',
                        help='libpq DSN for Procrastinate, with the right to '
                        'create databases (one per run, dropped after)')
    parser.add_argument('--plot', metavar='FILE.png')
    parser.add_argument('--keep', metavar='DIR',
                        help='keep the stores and worker logs in DIR '
                        '(created) instead of a temporary directory')
    parser.add_argument('--profile', type=int, default=0, metavar='N',
                        help='also profile our worker on N echo jobs')
    args = parser.parse_args(argv)
    command = shlex.join([os.path.relpath(PYTHON) if not os.path.relpath(
        PYTHON).startswith('..') else PYTHON, os.path.relpath(__file__)] +
        argv)

    only = [w.strip().upper() for w in args.only.split(',') if w.strip()]
    wrong = set(only) - set(WORKLOADS)
    if wrong:
        parser.error(f'unknown workloads: {", ".join(sorted(wrong))}')
    peers = [p.strip() for p in args.peers.split(',')
             if p.strip() and p.strip() != 'none']
    wrong = set(peers) - set(PEERS)
    if wrong:
        parser.error(f'unknown peers: {", ".join(sorted(wrong))}')

    def scaled(n, least=10):
        return max(least, round(n * args.scale))

    nTrickle, nBurst = scaled(args.trickle), scaled(args.burst)
    nSamples, nW4 = scaled(args.samples), scaled(args.w4_jobs)
    if not 1 <= args.producers <= 16:
        parser.error('--producers must be 1 to 16')
    nW5 = max(args.producers, scaled(args.contended) // args.producers *
              args.producers)
    if args.w6_processes < 1 or args.producers % args.w6_processes:
        parser.error(f'--producers {args.producers} is not a multiple of '
                     f'--w6-processes {args.w6_processes}')
    nW6 = max(args.producers, scaled(args.w6_requests) // args.producers *
              args.producers)

    global logs, hueyLogs
    logs = LogCount()
    hueyLogs = LogCount('huey', logging.WARNING)
    started = time.perf_counter()
    title = (f'lovely.remotetask vs huey, RQ, Procrastinate, Celery and '
             f'Oban, '
             f'{time.strftime("%Y-%m-%d")}, '
             f'Python {platform.python_version()}, {os.cpu_count()} CPUs, '
             f'{platform.system()} {platform.machine()}')
    source = sourceVersion()
    say(title)
    say(f'command: {command}')
    say(f'source: {source}')
    say(f'versions: {versions()}')
    say(f'load average at start: '
        f'{" ".join(f"{x:.2f}" for x in os.getloadavg())}')
    say(f'jobs: W1 {nTrickle:,}, W2 {nBurst:,}, W3 {nSamples} samples '
        f'(+{WARMUP} warm-up), W4 {nW4:,} x 20 ms with {args.workers} '
        f'workers, W5 {nW5:,} from {args.producers} producers, W6 {nW6:,} '
        f'requests from 1 and from {args.producers} producers; '
        f'completion polled every {POLL * 1e3:.0f} ms '
        f'(W3: {LATENCY_POLL * 1e3:.1f} ms)')

    rows = []
    if args.keep:
        os.makedirs(args.keep, exist_ok=True)
        scratch = contextlib.nullcontext(os.path.abspath(args.keep))
    else:
        scratch = tempfile.TemporaryDirectory(prefix='remotetask-peers-')
    with scratch as tmp:
        say(f'fsync of a 2 KB append at the start: median '
            f'{fsyncMs(tmp):.3f} ms')
        systems = [Ours(tmp)]
        for name in peers:
            try:
                if name == 'rq':
                    system = RQ(tmp, args.redis)
                elif name == 'procrastinate':
                    system = Procrastinate(tmp, args.postgres)
                elif name == 'celery':
                    system = Celery(tmp, args.celery_redis)
                elif name == 'oban':
                    system = Oban(tmp, args.postgres)
                else:
                    system = Huey(tmp, fsync=(name == 'huey-fsync'))
            except ImportError as error:
                say(f'peer {name} skipped: not installed ({error}); '
                    f"pip install -e '.[bench]'")
                continue
            except Skip as error:
                say(f'peer {name} skipped: {error}')
                continue
            say(f'peer {name}: {system.describe()}')
            systems.append(system)
        say('')

        if 'W1' in only:
            for system in systems:
                run(rows, 'W1', system, system.label(), nTrickle,
                    runTrickle, nTrickle, 'echo')
            for system in systems:
                run(rows, 'W1a', system, system.label(0), nTrickle,
                    runAddsAlone, nTrickle, 'echo')
        if 'W2' in only:
            for system in systems:
                run(rows, 'W2', system, system.label(), nBurst,
                    runBurst, nBurst, 'echo')
        if 'W3' in only:
            for system in systems:
                run(rows, 'W3', system, system.label(), nSamples,
                    runLatency, nSamples)
        if 'W4' in only:
            w = args.workers
            run(rows, 'W2s', systems[0], systems[0].label(), nW4,
                runBurst, nW4, 'sleep20', 1)
            for system in [Ours(tmp, 'threads'), Ours(tmp, 'zeo')] + \
                    systems[1:]:
                run(rows, 'W4', system, system.label(w), nW4,
                    runBurst, nW4, 'sleep20', w)
        if 'W5' in only:
            for system in systems:
                run(rows, 'W5', system, system.label(), nW5,
                    runContended, nW5, args.producers)
        if 'W6' in only:
            for system in systems:
                run(rows, 'W6', system, w6Label(system, 1), nW6,
                    runW6, nW6, 1, tmp)
            for system in systems:
                run(rows, 'W6x8', system, w6Label(system, args.producers),
                    nW6, runW6, nW6, args.producers, tmp)
            threads = args.producers // args.w6_processes
            run(rows, 'W6x8', Ours(tmp, 'zeo'),
                f'us (b): {args.w6_processes} processes x {threads} '
                f'threads over ZEO, 1 worker process', nW6, runW6Zeo,
                nW6, args.w6_processes, threads)
        if 'W7' in only:
            nW7 = scaled(args.fan_in)
            for system in systems:
                if system.key in peersflow.FAN_IN:
                    run(rows, 'W7', system, system.label(), nW7,
                        peersflow.runFanIn, nW7)
        if 'W8' in only:
            nW8 = scaled(args.limited)
            ours = Ours(tmp, 'zeo')
            ours.workerArgs = ['--threads', '4']
            run(rows, 'W8', ours, f'us: queue limit {args.limit}, '
                f'{args.limit} worker processes x 4 threads, ZEO', nW8,
                peersflow.runLimited, nW8, args.limit)
            for system in systems[1:]:
                if system.key in peersflow.LIMITED:
                    run(rows, 'W8', system,
                        peersflow.limitedLabel(system, args.limit), nW8,
                        peersflow.runLimited, nW8, args.limit)
        if args.profile:
            profileOurs(tmp, args.profile)
        fsyncEnd = fsyncMs(tmp)

    say('\nsummary (us/peer: above 1 means lovely.remotetask is ahead; '
        'throughput us/peer, W3 latency p50 peer/us; W4: vs (a) and (b))')
    for line in table(rows):
        say(line)
    for workload in ('W7', 'W8'):
        if workload in only:
            for name in peers:
                reason = peersflow.NOT_OFFERED[workload].get(name)
                if reason:
                    say(f'{WORKLOAD_NAMES[workload]}, {name}: {reason}')
    say('\ntargets')
    for line in targets(rows):
        say(line)
    say(f'total run time {time.perf_counter() - started:.0f} s; at the end: '
        f'load average {" ".join(f"{x:.2f}" for x in os.getloadavg())}, '
        f'fsync of a 2 KB append median {fsyncEnd:.3f} ms')
    if args.plot:
        plot(rows, args.plot, f'{title}\nsource: {source}')
        say(f'plot written to {args.plot}')
    return 0 if all(row.ok for row in rows) else 1


logs = hueyLogs = None

if __name__ == '__main__':
    sys.exit(main())
