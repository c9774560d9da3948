"""Chaos: jobs of every kind under mixed faults, and nothing lost.

Run by hand for the figures (an hour each), and for a minute in the test
suite (tests/test_chaos.py)::

    .venv/bin/python benchmarks/chaos.py --storage zeo --seconds 3600
    .venv/bin/python benchmarks/chaos.py --storage relstorage --seconds 3600

The database is served by a ZEO server (``remotetask zeo``) or by a
PostgreSQL cluster of the run's own for RelStorage (``initdb`` in a
temporary directory, as an unprivileged user when run as root), so that
either can be killed and started again.  Producer processes, several
threads each, add jobs of every kind of the public API (`KINDS`) and note
each one they committed; ``remotetask worker`` processes run them; the
task (benchmarks/chaostasks.py) appends a line to an external log, on disk
before it returns.  Every few seconds a fault, drawn from a shuffled bag
of `FAULTS`: kill -9 of a worker (another starts), SIGSTOP of a worker
past its lease then SIGCONT, kill -9 of the storage's server then a
restart, a pack, a clean, a retry of every failed job, a cancel of
running jobs.  Each fault is logged with its time and target.

Then the producers stop, the faults stop, the cron jobs are paused, the
workers finish what is left, and the run checks and prints:

- every job a producer committed is in the database, or was seen finished
  by the clean that removed it (none lost);
- no job is left waiting or running (none stuck);
- every completed job has exactly one successful attempt in its history,
  and its result names a run whose effect is in the log (ended exactly
  once in the database);
- the service's status counts equal a recount of its jobs;
- every effect repeated for one job (or one run of a cron job) belongs to
  a run that a fault interrupted: the fault is named for each;
- the storage is consistent: every object reachable from the root loads,
  and for ZEO's FileStorage ``fstest`` and ``fsrefs`` find nothing.

Exit status 0 when every check passed.  ``--json FILE`` writes the
figures.  A new kind of job is one entry of `KINDS`; a new fault one
method of `Chaos` named in `FAULTS`.
"""
import argparse
import collections
import faulthandler
import glob
import json
import os
import pwd
import random
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import traceback

import transaction
from transaction.interfaces import TransientError
from ZODB.serialize import referencesf

from lovely import remotetask
from lovely.remotetask.interfaces import STARTLATER, ICronJob

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
from chaostasks import LIMIT, appendLine  # noqa: E402  (registers the tasks)

FINAL = ('completed', 'error', 'cancelled')
#: Seconds between an effect and the commit of its outcome that a fault
#: may fall in to have interrupted that run (a commit takes milliseconds;
#: the rest is room for a loaded machine).
WINDOW = 5.0


# Job kinds: each adds one job in the producer's transaction and returns
# its id.  `work` is the task's input; the producer notes the kind.

def _plain(service, rng, work):
    return service.add('chaos', work)


def _priority(service, rng, work):
    return service.add('chaos', work, priority=rng.randint(-100, 100))


def _delayed(service, rng, work):
    return service.addCronJob('chaos', work, delay=rng.uniform(0.5, 5))


def _cron(service, rng, work):
    return service.addCronJob('chaos', work, cron='* * * * *')


def _startLater(service, rng, work):
    return service.add('chaos', work, startLater=True)


def _keyed(service, rng, work):
    # Few keys: producers often add a key whose job still waits.
    return service.add('chaos', work, key=f'key-{rng.randrange(20)}')


def _flaky(service, rng, work):
    return service.add('chaos', dict(work, flaky=True))


def _fanIn(service, rng, work):
    # Siblings and a job that waits for all of them: it runs once, after
    # the last sibling's outcome committed.
    siblings = [service.add('chaos', work) for _ in range(rng.randint(1, 4))]
    return service.add('chaos', work, after=siblings)


def _limited(service, rng, work):
    return service.add('chaos-limited', work)


#: name -> (how to add one, weight).
KINDS = {
    'fan-in': (_fanIn, 8),
    'limited': (_limited, 8),
    'plain': (_plain, 30),
    'priority': (_priority, 15),
    'delayed': (_delayed, 15),
    'cron': (_cron, 0.3),
    'start later': (_startLater, 10),
    'key': (_keyed, 10),
    'flaky': (_flaky, 10),
}

FAULTS = ('killWorker', 'stopWorker', 'killStorage', 'pack', 'clean',
          'retryAll', 'cancelRunning')


def log(message):
    print(f'{time.strftime("%H:%M:%S")} {message}', flush=True)


def appendJson(path, record):
    appendLine(path, json.dumps(record) + '\n')


def readJson(path):
    if not os.path.exists(path):
        return []
    with open(path) as lines:
        return [json.loads(line) for line in lines if line.endswith('\n')]


def freePort():
    with socket.socket() as sock:
        sock.bind(('127.0.0.1', 0))
        return sock.getsockname()[1]


def accepts(port):
    try:
        socket.create_connection(('127.0.0.1', port), timeout=0.5).close()
        return True
    except OSError:
        return False


def waitUntil(condition, timeout, what):
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise RuntimeError(f'{what}: not within {timeout} s')
        time.sleep(0.1)


def command(*args):
    return [sys.executable, '-m', 'lovely.remotetask', *args]


# The storages

class ZEO:
    """``remotetask zeo`` serving a FileStorage in `directory`."""

    name = 'zeo'

    def __init__(self, directory):
        self.path = os.path.join(directory, 'Data.fs')
        self.logPath = os.path.join(directory, 'zeo.log')
        self.port = freePort()
        self.uri = f'zeo://127.0.0.1:{self.port}'
        self.process = None

    def start(self):
        with open(self.logPath, 'ab') as output:
            self.process = subprocess.Popen(
                command('zeo', '--address', f'127.0.0.1:{self.port}',
                        '--db', self.path),
                stdout=output, stderr=subprocess.STDOUT)
        waitUntil(lambda: accepts(self.port), 60, 'the ZEO server')

    def kill(self):
        self.process.kill()
        self.process.wait()

    def stop(self):
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(30)
            except subprocess.TimeoutExpired:
                self.kill()

    def checks(self):
        """fstest and fsrefs on the file, the server stopped."""
        found = []
        for script in ('fstest', 'fsrefs'):
            done = subprocess.run(
                [sys.executable, '-m', f'ZODB.scripts.{script}', self.path],
                capture_output=True, text=True)
            output = (done.stdout + done.stderr).strip()
            found.append((script, done.returncode == 0 and not output,
                          output[-2000:] or 'clean'))
        return found


def postgresBinaries():
    """The directory of initdb and postgres: on PATH, pg_config's, or the
    newest of Debian's /usr/lib/postgresql/*/bin."""
    places = []
    found = shutil.which('initdb')
    if found:
        places.append(os.path.dirname(found))
    if shutil.which('pg_config'):
        places.append(subprocess.run(['pg_config', '--bindir'],
                                     capture_output=True,
                                     text=True).stdout.strip())
    places += sorted(glob.glob('/usr/lib/postgresql/*/bin'),
                     key=lambda path: [int(part) for part in
                                       path.split('/')[-2].split('.')
                                       if part.isdigit()], reverse=True)
    places += ['/usr/local/pgsql/bin']
    for place in places:
        if all(os.access(os.path.join(place, name), os.X_OK)
               for name in ('initdb', 'postgres')):
            return place
    return None


class PostgreSQL:
    """A PostgreSQL cluster of the run's own in `directory`, for
    RelStorage (history free, as docs/operations.rst advises)."""

    name = 'relstorage'

    def __init__(self, directory):
        self.bin = postgresBinaries()
        if self.bin is None:
            raise SystemExit('chaos: no PostgreSQL server binaries (initdb, '
                             'postgres) found')
        # A directory of its own, which the cluster's user can reach
        # (the run's may be under a directory only root may enter).
        self.home = tempfile.mkdtemp(prefix='chaos-postgres-')
        self.data = os.path.join(self.home, 'data')
        self.logPath = os.path.join(directory, 'postgres.log')
        self.port = freePort()
        self.uri = (f'postgres://postgres@127.0.0.1:{self.port}/chaos'
                    f'?keep_history=false')
        self.process = None
        # initdb refuses to run as root: the cluster belongs to an
        # unprivileged user then.
        self.user = None
        if os.geteuid() == 0:
            for name in ('postgres', 'nobody'):
                try:
                    self.user = pwd.getpwnam(name)
                    break
                except KeyError:
                    pass
        if self.user is not None:
            os.chown(self.home, self.user.pw_uid, self.user.pw_gid)
        self._run([os.path.join(self.bin, 'initdb'), '-D', self.data,
                   '-U', 'postgres', '--auth=trust', '-E', 'UTF8',
                   '--no-sync'])

    def _asUser(self):
        if self.user is None:
            return {}
        return dict(user=self.user.pw_uid, group=self.user.pw_gid,
                    extra_groups=[])

    def _run(self, args):
        done = subprocess.run(args, capture_output=True, text=True,
                              cwd=self.home, **self._asUser())
        if done.returncode:
            raise RuntimeError(f'{args[0]} failed: {done.stderr}')

    def start(self):
        def started():
            if self.process.poll() is not None:
                # A postmaster killed a moment ago leaves backends that
                # hold its shared memory until they notice: try again.
                self._spawn()
            return accepts(self.port)
        self._spawn()
        waitUntil(started, 120, 'PostgreSQL')
        import psycopg2
        connection = None

        def connected():
            nonlocal connection
            try:      # it accepts connections before it takes them
                connection = psycopg2.connect(
                    host='127.0.0.1', port=self.port, user='postgres',
                    dbname='postgres')
                return True
            except psycopg2.OperationalError:
                return False
        waitUntil(connected, 120, 'PostgreSQL to take connections')
        connection.autocommit = True
        cursor = connection.cursor()
        cursor.execute("SELECT 1 FROM pg_database WHERE datname = 'chaos'")
        if cursor.fetchone() is None:
            cursor.execute('CREATE DATABASE chaos')
        connection.close()

    def _spawn(self):
        output = open(self.logPath, 'ab')
        self.process = subprocess.Popen(
            [os.path.join(self.bin, 'postgres'), '-D', self.data,
             '-p', str(self.port), '-k', self.home,
             '-c', 'listen_addresses=127.0.0.1',
             '-c', 'max_connections=200', '-c', 'shared_buffers=32MB'],
            stdout=output, stderr=subprocess.STDOUT, cwd=self.home,
            **self._asUser())
        output.close()
        time.sleep(0.2)

    def kill(self):
        self.process.kill()
        self.process.wait()

    def stop(self):
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGINT)    # fast shutdown
            try:
                self.process.wait(60)
            except subprocess.TimeoutExpired:
                self.kill()
        shutil.rmtree(self.home, ignore_errors=True)

    def checks(self):
        return []


STORAGES = {'zeo': ZEO, 'relstorage': PostgreSQL}


# Producers: processes of their own, started by the run

def produce(args):
    """Add jobs in `args.threads` threads until SIGTERM, noting each
    commit; then queue the jobs added to start later, and exit."""
    stopping = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stopping.set())
    # The run asks where the threads are when the producer does not stop.
    faulthandler.register(signal.SIGUSR1, all_threads=True)
    db = remotetask.openDatabase(args.uri, connectTimeout=120)
    names = list(KINDS)
    weights = [KINDS[name][1] for name in names]
    notes = os.path.join(args.directory, f'producer-{os.getpid()}.jsonl')

    def thread(number):
        rng = random.Random(f'{os.getpid()}-{number}-{time.time()}')
        tm = transaction.TransactionManager()
        connection = db.open(transaction_manager=tm)
        later = []         # (added at, id) of jobs added to start later

        def abort():
            try:
                tm.abort()
            except Exception:
                pass       # the server is away: the next begin finds out

        def commitOnce(step):
            """Do `step(service)` and commit; note what it returns, or
            that the commit may have gone through (the server went away
            during it)."""
            try:
                tm.begin()
                service = remotetask.getApplicationRoot(connection)['svc']
                done = step(service)
            except Exception:
                abort()
                time.sleep(0.2)
                return None
            try:
                tm.commit()
            except TransientError:
                abort()
                return None
            except Exception as error:
                abort()
                appendJson(notes, dict(unsure=done, error=repr(error)[:200],
                                       time=time.time()))
                # Jobs to start later that may have been added are started
                # if they were (see startDue).
                later.extend((time.time(), jobid) for kind, jobid in done
                             if kind == 'start later')
                return None
            if done:
                appendJson(notes, dict(committed=done, time=time.time()))
            return done

        def startDue(service, until):
            due = [jobid for added, jobid in later
                   if added <= until and jobid in service.jobs]
            for jobid in due:
                service.startJob(jobid)
            return [['started', jobid] for jobid in due]

        while not stopping.is_set():
            if rng.random() < 0.2 and later:
                until = time.time() - 1
                if commitOnce(lambda service: startDue(service, until)) \
                        is not None:
                    later[:] = [item for item in later if item[0] > until]
                continue
            kinds = rng.choices(names, weights, k=rng.randint(1, 4))

            def add(service):
                if service.queueLength() > args.backlog:
                    return []     # hold back: the workers are behind
                return [[kind, KINDS[kind][0](
                    service, rng, dict(work=rng.uniform(0, args.work)))]
                    for kind in kinds]
            added = commitOnce(add)
            for kind, jobid in added or ():
                if kind == 'start later':
                    later.append((time.time(), jobid))
            stopping.wait(rng.uniform(0, 2 * args.pause))
        deadline = time.monotonic() + 120
        while later and time.monotonic() < deadline:
            if commitOnce(lambda service: startDue(
                    service, float('inf'))) is not None:
                later.clear()
            else:
                time.sleep(0.5)
        abort()
        connection.close()

    threads = [threading.Thread(target=thread, args=(n,))
               for n in range(args.threads)]
    for each in threads:
        each.start()
    for each in threads:
        each.join()
    db.close()


# The run

class Chaos:
    """The processes of a run, the faults, and the checks."""

    def __init__(self, args, directory):
        self.args = args
        self.directory = directory
        self.rng = random.Random(args.seed)
        self.effects = os.path.join(directory, 'effects.log')
        self.faultLog = os.path.join(directory, 'faults.jsonl')
        self.cleaned = os.path.join(directory, 'cleaned.jsonl')
        self.storage = STORAGES[args.storage](directory)
        self.env = dict(os.environ, CHAOS_EFFECTS=self.effects,
                        PYTHONPATH=HERE + os.pathsep +
                        os.environ.get('PYTHONPATH', ''))
        self.workers = []       # Popen
        self.producers = []
        self.stopped = {}       # pid -> (Popen, the timer that continues it)
        self.stoppedLock = threading.Lock()
        self.bag = []
        self.db = None
        self.observations = []

    # Processes

    def startWorker(self):
        output = open(os.path.join(self.directory, 'workers.log'), 'ab')
        worker = subprocess.Popen(
            command('worker', '--db', self.storage.uri, '--services', 'svc',
                    '--tasks', 'chaostasks', '--lease', str(self.args.lease),
                    '--threads', str(self.args.threads), '--grace', '10',
                    '--connect-timeout', '120'),
            stdout=output, stderr=subprocess.STDOUT, env=self.env)
        output.close()
        self.workers.append(worker)
        return worker

    def startProducer(self):
        output = open(os.path.join(self.directory, 'producers.log'), 'ab')
        producer = subprocess.Popen(
            [sys.executable, os.path.abspath(__file__), '--produce',
             '--uri', self.storage.uri, '--directory', self.directory,
             '--threads', str(self.args.producer_threads),
             '--work', str(self.args.work), '--pause',
             str(self.args.pause), '--backlog', str(self.args.backlog)],
            stdout=output, stderr=subprocess.STDOUT, env=self.env)
        output.close()
        self.producers.append(producer)

    def liveWorkers(self):
        for worker in list(self.workers):
            code = worker.poll()
            if code is not None:
                self.workers.remove(worker)
                self.observations.append(
                    f'worker {worker.pid} exited with status {code}')
                log(f'worker {worker.pid} exited with status {code}')
        return [worker for worker in self.workers
                if worker.pid not in self.stopped]

    def keepWorkers(self):
        while len(self.workers) < self.args.workers:
            self.startWorker()

    def fault(self, kind, **details):
        record = dict(kind=kind, time=time.time(), **details)
        appendJson(self.faultLog, record)
        log(f'fault: {kind} {details or ""}')
        return record

    # The service, through the public API

    def open(self):
        self.tm = transaction.TransactionManager()
        self.db = remotetask.openDatabase(self.storage.uri,
                                          connectTimeout=120)
        self.connection = self.db.open(transaction_manager=self.tm)

    def service(self):
        self.tm.begin()
        return remotetask.getApplicationRoot(self.connection)['svc']

    def inTransaction(self, step, attempts=20):
        """`step(service)` in a transaction of the run's own, committed;
        tried again while it conflicts."""
        for attempt in range(attempts):
            try:
                result = step(self.service())
                self.tm.commit()
                return result
            except TransientError:
                self.abort()
                time.sleep(0.1 * (attempt + 1))
            except Exception:
                self.abort()
                raise
        raise RuntimeError(f'{step} conflicted {attempts} times')

    def abort(self):
        try:
            self.tm.abort()
        except Exception:
            pass       # the server is away: the next begin finds out

    def makeService(self):
        self.tm.begin()
        root = remotetask.getApplicationRoot(self.connection, create=True)
        if 'svc' not in root:
            root['svc'] = remotetask.TaskService()
        self.tm.commit()

    # Faults

    def killWorker(self):
        live = self.liveWorkers()
        if not live:
            return
        victim = self.rng.choice(live)
        # Noted once done: an effect before the note may have come before
        # the signal, none after it did.
        victim.kill()
        self.fault('killWorker', pid=victim.pid)
        victim.wait()
        self.workers.remove(victim)
        self.startWorker()

    def stopWorker(self):
        live = self.liveWorkers()
        if len(live) < 2:
            return
        victim = self.rng.choice(live)
        pause = self.args.lease + self.rng.uniform(1, 4)
        victim.send_signal(signal.SIGSTOP)
        self.fault('stopWorker', pid=victim.pid, seconds=pause)
        # Continued by a timer, not by the main loop: a worker stopped in
        # the middle of a commit holds the ZEO server's commit lock, and
        # the run's own commits wait until it goes on.
        timer = threading.Timer(pause, self.resume, args=(victim,))
        with self.stoppedLock:
            self.stopped[victim.pid] = (victim, timer)
        timer.start()

    def resume(self, worker):
        with self.stoppedLock:
            if self.stopped.pop(worker.pid, None) is None:
                return
            worker.send_signal(signal.SIGCONT)
            self.fault('continueWorker', pid=worker.pid)

    def continueStopped(self):
        for worker, timer in list(self.stopped.values()):
            timer.cancel()
            self.resume(worker)

    def killStorage(self):
        down = self.rng.uniform(1, 3)
        self.storage.kill()
        self.fault('killStorage', seconds=down)
        time.sleep(down)
        self.storage.start()
        self.fault('storageBack')

    def pack(self):
        self.fault('pack')
        done = subprocess.run(command('pack', '--db', self.storage.uri),
                              capture_output=True, text=True, timeout=600,
                              env=self.env)
        if done.returncode:
            self.observations.append(f'pack: {done.stderr.strip()}')
            log(f'pack: {done.stderr.strip()}')

    def clean(self):
        """Remove the finished jobs, noting each (id, status, result) in
        the same transaction: the check of lost jobs knows them."""
        def step(service):
            seen = []
            for status in FINAL:
                after = None
                while True:
                    page, after = service.jobsPage(status, after=after,
                                                   limit=500)
                    seen += [[job.id, job.status, job.output,
                              _successes(job)]
                             for job in page if not _isCron(job)]
                    if after is None:
                        break
            removed = service.clean()
            return seen, removed
        seen, removed = self.inTransaction(step)
        self.fault('clean', removed=removed)
        appendJson(self.cleaned, dict(jobs=seen, time=time.time()))

    def retryAll(self):
        def step(service):
            return service.retryAll(limit=100)
        retried = self.inTransaction(step)
        self.fault('retryAll', retried=retried)

    def cancelRunning(self):
        def step(service):
            page, _ = service.jobsPage('processing', limit=50)
            chosen = [job.id for job in page if not _isCron(job)]
            chosen = self.rng.sample(chosen, min(len(chosen), 2))
            for jobid in chosen:
                service.cancel(jobid)
            return chosen
        cancelled = self.inTransaction(step)
        self.fault('cancelRunning', jobs=cancelled)

    def nextFault(self):
        if not self.bag:
            self.bag = list(FAULTS)
            self.rng.shuffle(self.bag)
        name = self.bag.pop()
        try:
            getattr(self, name)()
        except Exception as error:
            # The storage may be away: the fault is noted, not done.
            self.fault(f'{name} failed', error=repr(error)[:300])

    # The run

    def run(self):
        started = time.time()
        self.storage.start()
        self.open()
        self.makeService()
        self.keepWorkers()
        for _ in range(self.args.producers):
            self.startProducer()
        log(f'{self.args.storage}: {self.args.producers} producers x '
            f'{self.args.producer_threads} threads, {self.args.workers} '
            f'workers x {self.args.threads} threads, lease '
            f'{self.args.lease} s, faults for {self.args.seconds} s')
        end = time.monotonic() + self.args.seconds
        nextFault = time.monotonic() + self.rng.uniform(*self.args.every)
        while time.monotonic() < end:
            time.sleep(0.2)
            self.liveWorkers()
            self.keepWorkers()
            if time.monotonic() >= nextFault:
                self.nextFault()
                nextFault = time.monotonic() + \
                    self.rng.uniform(*self.args.every)
        faultsEnded = time.time()
        log('faults end; the producers stop')
        for producer in self.producers:
            producer.terminate()
        self.continueStopped()
        for producer in self.producers:
            try:
                producer.wait(180)
            except subprocess.TimeoutExpired:
                self.producerStuck(producer)
        self.keepWorkers()
        self.startLeftBehind()
        self.pauseCronJobs()
        settled = self.settle()
        if settled is None:
            self.dumpWorkers()
        log('the workers stop')
        for worker in self.workers:
            worker.terminate()
        for worker in self.workers:
            try:
                worker.wait(60)
            except subprocess.TimeoutExpired:
                worker.kill()
        report = self.check(started, faultsEnded, settled)
        return report

    def producerStuck(self, producer):
        """Note where the threads of a producer that did not stop are
        (faulthandler writes them to its log), then kill it."""
        producer.send_signal(signal.SIGUSR1)
        time.sleep(1)
        producer.kill()
        producer.wait()
        self.observations.append(f'producer {producer.pid} did not stop in '
                                 f'180 s: its threads are in producers.log')
        with open(os.path.join(self.directory, 'producers.log'),
                  errors='replace') as output:
            log(f'producer {producer.pid} did not stop; the end of '
                f'producers.log:\n{output.read()[-3000:]}')

    def dumpWorkers(self):
        """Have every live worker write where its threads are (SIGUSR1,
        faulthandler) to workers.log, for the report of a run that did not
        settle."""
        for worker in self.workers:
            if worker.poll() is None:
                worker.send_signal(signal.SIGUSR1)
        time.sleep(1)
        self.observations.append('the live workers\' threads are at the end '
                                 'of workers.log')
        with open(os.path.join(self.directory, 'workers.log'),
                  errors='replace') as output:
            log(f'the run did not settle; the end of workers.log:\n'
                f'{output.read()[-12000:]}')

    def startLeftBehind(self):
        """Start the jobs added to start later that their producer did
        not start (it was killed, or stopped before it could, or its start
        was unsure), as the application would once back.  A job whose
        start committed and that still waits to be started is a fault of
        the library, said in the report."""
        started = {jobid for note in self.producerNotes()
                   for kind, jobid in note.get('committed') or ()
                   if kind == 'started'}

        def step(service):
            left, cursor = [], None
            while True:
                page, cursor = service.jobsPage(status=STARTLATER,
                                                after=cursor, limit=500)
                left += [job.id for job in page]
                if cursor is None:
                    break
            lost = [jobid for jobid in left if jobid in started]
            return lost, [jobid for jobid in left
                          if jobid not in started and service.startJob(jobid)]
        lost, done = self.inTransaction(step)
        if lost:
            self.observations.append(
                f'jobs whose start committed still wait to start: {lost}')
        if done:
            self.observations.append(
                f'{len(done)} jobs to start later were started by the run: '
                f'their producer did not')

    def pauseCronJobs(self):
        crons = [jobid for note in self.producerNotes()
                 for kind, jobid in note.get('committed') or ()
                 if kind == 'cron']

        def step(service):
            for jobid in crons:
                if jobid in service.jobs:
                    service.pauseJob(jobid)
        self.inTransaction(step)

    def settle(self):
        """Wait until no job waits or runs; return the seconds it took."""
        began = time.monotonic()
        deadline = began + self.args.settle

        def busy():
            counts = self.service().statusCounts()
            self.tm.abort()
            waiting = {status: count for status, count in counts.items()
                       if status not in FINAL + ('cronjob',)}
            return waiting
        while time.monotonic() < deadline:
            try:
                waiting = busy()
            except Exception:
                self.abort()
                waiting = {'unknown': 1}
            if not waiting:
                return time.monotonic() - began
            self.liveWorkers()
            self.keepWorkers()
            time.sleep(0.5)
        self.observations.append(f'still busy after {self.args.settle} s: '
                                 f'{waiting}')
        return None

    def checkWaiting(self, effects, ended):
        """A job that waited ran after every job it waited for had ended,
        and only when all completed (the default: a failed one cancels)."""
        committed = _committedRuns(effects, ended)
        wrong = []
        for jobid, siblings in self.waitsFor.items():
            run = committed.get(jobid)
            if run is None:
                continue
            for sibling in siblings:
                done = committed.get(sibling)
                if ended.get(sibling, ('?',))[0] != 'completed' or \
                        done is None or done['time'] > run['started']:
                    wrong.append((jobid, sibling))
        return ('waiting jobs ran once all they waited for completed',
                not wrong, f'{len(self.waitsFor)} jobs waited, '
                f'{sum(jobid in committed for jobid in self.waitsFor)} ran'
                + (f'; too early: {wrong[:10]}' if wrong else ''))

    def checkLimit(self, effects, ended, kinds):
        """The runs of the limited task whose outcomes committed never
        overlapped more than its limit allows (a run a fault cut off may
        still go on; its outcome cannot commit)."""
        limited = {jobid for note in kinds
                   for kind, jobid in note.get('committed') or ()
                   if kind == 'limited'}
        runs = [run for jobid, run in _committedRuns(effects, ended).items()
                if jobid in limited]
        edges = sorted([(run['started'], 1) for run in runs]
                       + [(run['time'], -1) for run in runs])
        most = running = 0
        for _, step in edges:
            running += step
            most = max(most, running)
        return (f'at most {LIMIT} limited jobs ran at once', most <= LIMIT,
                f'{len(runs)} runs, at most {most} at once')

    def describeStuck(self, job, workers):
        """Say who holds a job that did not end, for the one who reads
        the report: the worker, its heartbeat, whether it lists the job."""
        worker = workers.get(job.worker)
        held = ('no worker holds it' if job.worker is None else
                f'held by {job.worker}, which is not registered'
                if worker is None else
                f'held by {job.worker} (pid {worker["pid"]}, last seen '
                f'{time.time() - worker["lastSeen"]:.0f} s ago, '
                f'{"listing" if job.id in worker["jobs"] else "not listing"}'
                f' it)')
        self.observations.append(
            f'job {job.id} ({job.task}) is {job.status} in attempt '
            f'{job.attempts}, {job.runs} runs; {held}')

    def producerNotes(self):
        notes = []
        for path in glob.glob(os.path.join(self.directory,
                                           'producer-*.jsonl')):
            notes += readJson(path)
        return notes

    # The checks

    def check(self, started, faultsEnded, settled):
        notes = self.producerNotes()
        committed, unsure, kinds = set(), set(), collections.Counter()
        for note in notes:
            for kind, jobid in note.get('committed') or ():
                if kind == 'started':
                    continue
                committed.add(jobid)
                kinds[kind] += 1
            for kind, jobid in note.get('unsure') or ():
                if kind != 'started':
                    unsure.add(jobid)
        cleaned = {}
        for record in readJson(self.cleaned):
            for jobid, status, output, successes in record['jobs']:
                cleaned[jobid] = (status, output, successes)
        faults = readJson(self.faultLog)
        effects = _readEffects(self.effects)

        service = self.service()
        jobs = {}
        for jobid in service.jobs:
            job = service.jobs[jobid]
            jobs[jobid] = dict(status=job.status, output=job.output,
                               successes=_successes(job),
                               cron=_isCron(job))
        counts = service.statusCounts()
        workers = {worker['id']: worker for worker in service.getWorkers()}
        for jobid, job in jobs.items():
            if job['status'] not in FINAL + ('cronjob',):
                self.describeStuck(service.jobs[jobid], workers)
        self.waitsFor = {jobid: service.jobs[jobid].waitsFor
                         for jobid in jobs if service.jobs[jobid].waitsFor}
        self.tm.abort()
        known = set(jobs) | set(cleaned)
        committed |= unsure & known     # those commits went through
        checks = []

        lost = sorted(committed - known)
        checks.append(('none lost', not lost,
                       f'{len(committed)} committed jobs, '
                       f'{len(committed & set(cleaned))} of them removed '
                       f'by a clean after they finished'
                       + (f'; lost: {lost[:20]}' if lost else '')))
        stuck = sorted(jobid for jobid, job in jobs.items()
                       if job['status'] not in FINAL
                       and not (job['cron'] and job['status'] == 'cronjob'))
        checks.append(('none stuck', not stuck, (
            'did not settle' if settled is None else
            f'the last jobs ran in {settled:.1f} s after the faults')
            + (f'; stuck: {[(j, jobs[j]["status"]) for j in stuck[:20]]}'
               if stuck else '')))

        recount = collections.Counter(job['status'] for job in jobs.values())
        checks.append(('status counts equal a recount',
                       dict(recount) == dict(counts),
                       f'{dict(sorted(counts.items()))}'
                       + ('' if dict(recount) == dict(counts) else
                          f' against {dict(sorted(recount.items()))}')))

        tokens = collections.defaultdict(set)
        for effect in effects:
            tokens[effect['job']].add(effect['token'])
        wrong = []
        ended = {jobid: (job['status'], job['output'], job['successes'])
                 for jobid, job in jobs.items() if not job['cron']}
        ended.update({jobid: value for jobid, value in cleaned.items()
                      if jobid not in ended})
        for jobid, (status, output, successes) in ended.items():
            if status == 'completed' and (
                    successes != 1 or output not in tokens[jobid]):
                wrong.append((jobid, successes, output))
            if status in ('error', 'cancelled') and successes:
                wrong.append((jobid, status, successes))
        finals = collections.Counter(value[0] for value in ended.values())
        checks.append(('every job ended exactly once in the database',
                       not wrong,
                       f'{dict(sorted(finals.items()))}'
                       + (f'; wrong: {wrong[:20]}' if wrong else '')))

        checks.append(self.checkWaiting(effects, ended))
        checks.append(self.checkLimit(effects, ended, kinds=notes))

        causes, unexplained, repeated = self.classify(effects, jobs, cleaned,
                                                      faults)
        checks.append(('effects repeated only for runs a fault interrupted',
                       not unexplained,
                       f'{len(effects)} effects, {repeated} repeated: '
                       f'{dict(sorted(causes.items())) or "none"}'
                       + (f'; unexplained: {unexplained[:10]}'
                          if unexplained else '')))

        self.tm.abort()
        self.connection.close()
        self.db.close()
        reachable = _allReachableLoad(self.storage.uri)
        checks.append(('every object reachable from the root loads',
                       reachable[0], reachable[1]))
        self.storage.stop()
        checks += self.storage.checks()

        faultCounts = collections.Counter(
            fault['kind'] for fault in faults
            if fault['kind'] not in ('continueWorker', 'storageBack'))
        report = dict(
            storage=self.args.storage, seconds=round(faultsEnded - started),
            committed=len(committed), unsure=len(unsure),
            kinds=dict(kinds), cronRuns=sum(
                1 for effect in effects if effect['run'] != '-'
                and jobs.get(effect['job'], {}).get('cron')),
            effects=len(effects), faults=dict(sorted(faultCounts.items())),
            repeats=dict(causes), observations=self.observations,
            checks=[dict(name=name, ok=ok, detail=detail)
                    for name, ok, detail in checks])
        return report

    def classify(self, effects, jobs, cleaned, faults):
        """Name the fault that interrupted each run whose effect was
        repeated: a kill or stop of its worker, or the storage's server
        going away, between the effect and the commit of its outcome."""
        groups = collections.defaultdict(list)
        for effect in effects:
            groups[(effect['job'], effect['run'])].append(effect)
        outages, kills, stops = [], {}, {}
        down = None
        for fault in faults:
            if fault['kind'] == 'killStorage':
                down = fault['time']
            elif fault['kind'] == 'storageBack' and down is not None:
                outages.append((down, fault['time']))
                down = None
            elif fault['kind'] == 'killWorker':
                kills[fault['pid']] = fault['time']
            elif fault['kind'] == 'stopWorker':
                stops.setdefault(fault['pid'], []).append(
                    [fault['time'], None])
            elif fault['kind'] == 'continueWorker':
                for interval in stops.get(fault['pid'], ()):
                    if interval[1] is None:
                        interval[1] = fault['time']
        if down is not None:
            outages.append((down, time.time()))
        causes, unexplained, repeated = collections.Counter(), [], 0
        for (jobid, run), group in groups.items():
            if len(group) < 2:
                continue
            job = jobs.get(jobid)
            output = job['output'] if job else cleaned.get(
                jobid, (None, None))[1]
            kept = [effect for effect in group if effect['token'] == output]
            counted = kept[0] if kept else max(group,
                                               key=lambda e: e['time'])
            for effect in group:
                if effect is counted:
                    continue
                repeated += 1
                cause = _cause(effect, kills, stops, outages)
                if cause is None:
                    unexplained.append(effect)
                else:
                    causes[cause] += 1
        return causes, unexplained, repeated


def _cause(effect, kills, stops, outages):
    """The fault that fell in the run of `effect`, or between its effect
    and the commit of its outcome; None when none did."""
    started, when, pid = effect['started'], effect['time'], effect['pid']
    killed = kills.get(pid)
    if killed is not None and when <= killed <= when + WINDOW:
        return 'its worker was killed'
    for began, _ in stops.get(pid, ()):
        if started <= began <= when + WINDOW:
            return 'its worker was stopped past its lease'
    for began, ended in outages:
        # A client may take a while to find the server back.
        if began <= when + WINDOW and ended + 4 * WINDOW >= started:
            return "the storage's server was killed"
    return None


def _successes(job):
    return sum(1 for attempt in job.history if attempt['error'] is None)


def _isCron(job):
    return ICronJob.providedBy(job) and job.delay is None


def _committedRuns(effects, ended):
    """job id -> the effect of the run whose outcome the job holds."""
    runs = {}
    for effect in effects:
        status, output, _ = ended.get(effect['job'], (None, None, 0))
        if status == 'completed' and output == effect['token']:
            runs[effect['job']] = effect
    return runs


def _readEffects(path):
    effects = []
    if not os.path.exists(path):
        return effects
    with open(path) as lines:
        for line in lines:
            if not line.endswith('\n'):
                continue
            jobid, attempt, worker, pid, run, token, started, when = \
                line.split()
            effects.append(dict(job=int(jobid), attempt=int(attempt),
                                worker=worker, pid=int(pid), run=run,
                                token=token, started=float(started),
                                time=float(when)))
    return effects


def _allReachableLoad(uri):
    """Load every object reachable from the database root."""
    db = remotetask.openDatabase(uri, connectTimeout=120)
    try:
        storage = db.storage
        seen, todo, missing = set(), [b'\0' * 8], []
        while todo:
            oid = todo.pop()
            if oid in seen:
                continue
            seen.add(oid)
            try:
                data, _ = storage.load(oid)
            except Exception as error:
                missing.append((oid.hex(), repr(error)[:100]))
                continue
            todo.extend(referencesf(data))
        return (not missing,
                f'{len(seen)} objects' + (f'; failed: {missing[:10]}'
                                          if missing else ''))
    finally:
        db.close()


def _pairs(counts):
    return ', '.join(f'{key} {value}'
                     for key, value in sorted(counts.items())) or 'none'


def printReport(report):
    print()
    print(f'chaos over {report["storage"]}: {report["seconds"]} s of faults')
    print(f'  jobs committed: {report["committed"]} '
          f'({_pairs(report["kinds"])}); commits unsure: '
          f'{report["unsure"]}; cron runs: {report["cronRuns"]}; '
          f'effects: {report["effects"]}')
    print(f'  faults: {_pairs(report["faults"])}')
    print(f'  repeated effects by cause: {_pairs(report["repeats"])}')
    for observation in report['observations']:
        print(f'  observed: {observation}')
    for check in report['checks']:
        print(f'  {"PASS" if check["ok"] else "FAIL"}  {check["name"]}: '
              f'{check["detail"]}')


def parse(argv=None):
    parser = argparse.ArgumentParser(
        description='Jobs of every kind under mixed faults; checks that '
                    'nothing was lost (see the module docstring).')
    parser.add_argument('--storage', choices=sorted(STORAGES), default='zeo')
    parser.add_argument('--seconds', type=float, default=3600,
                        help='how long the faults go on (default 3600)')
    parser.add_argument('--every', type=float, nargs=2, default=(2.0, 6.0),
                        metavar=('LOW', 'HIGH'),
                        help='seconds between faults, drawn between these')
    parser.add_argument('--workers', type=int, default=3)
    parser.add_argument('--threads', type=int, default=2,
                        help='threads of each worker')
    parser.add_argument('--producers', type=int, default=2)
    parser.add_argument('--producer-threads', type=int, default=3)
    parser.add_argument('--lease', type=float, default=5.0)
    parser.add_argument('--work', type=float, default=0.3,
                        help='the most seconds a task works')
    parser.add_argument('--pause', type=float, default=0.3,
                        help='mean seconds between two adds of a thread')
    parser.add_argument('--backlog', type=int, default=300,
                        help='producers hold back while more jobs than '
                        'this are queued (default 300)')
    parser.add_argument('--settle', type=float, default=300,
                        help='the most seconds to wait for the last jobs')
    parser.add_argument('--seed', default=None)
    parser.add_argument('--directory', default=None,
                        help='keep the run\'s files here (default: a '
                             'temporary directory, removed)')
    parser.add_argument('--json', default=None,
                        help='write the figures to this file')
    parser.add_argument('--produce', action='store_true',
                        help=argparse.SUPPRESS)
    parser.add_argument('--uri', help=argparse.SUPPRESS)
    return parser.parse_args(argv)


def main(argv=None):
    args = parse(argv)
    if args.produce:
        return produce(args)
    directory = args.directory or tempfile.mkdtemp(prefix='chaos-')
    os.makedirs(directory, exist_ok=True)
    chaos = Chaos(args, directory)
    try:
        report = chaos.run()
    except BaseException:
        traceback.print_exc()
        report = None
    finally:
        for process in chaos.producers + chaos.workers:
            if process.poll() is None:
                process.send_signal(signal.SIGCONT)
                process.kill()
                process.wait()
        chaos.storage.stop()
    if report is None:
        return 2
    printReport(report)
    if args.json:
        with open(args.json, 'w') as output:
            json.dump(report, output, indent=1)
    if args.directory is None:
        shutil.rmtree(directory, ignore_errors=True)
    return 0 if all(check['ok'] for check in report['checks']) else 1


if __name__ == '__main__':
    sys.exit(main())
