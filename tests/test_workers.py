"""Worker processes sharing one database through a real ZEO server or a
real PostgreSQL (RelStorage): exactly-once claims, crashes, pauses and
server restarts."""
import collections
import os
import signal
import time

import pytest
import transaction
import zope.component

from lovely import remotetask
from lovely.remotetask.defaults import CONFLICT_RETRIES
from servers import (
    PostgresDatabase, Worker, ZEOServer, postgresReachable, runSeconds,
    waitFor)
from workerapp import tasks


@pytest.fixture(params=['zeo', 'relstorage'])
def backend(request, tmp_path):
    """The URI of a shared database, and the ZEO server behind it if any."""
    if request.param == 'zeo':
        server = ZEOServer(str(tmp_path))
        server.start()
        yield server.uri, server
        server.close()
    else:
        if not postgresReachable():
            pytest.skip('no PostgreSQL at 127.0.0.1:5432 (user postgres): '
                        'the RelStorage tests need one')
        database = PostgresDatabase()
        yield database.uri, None
        database.drop()


class Client:
    """The test's own view of the shared database."""

    def __init__(self, uri, directory):
        zope.component.provideUtility(tasks.Append(), name='append')
        self.db = remotetask.openDatabase(uri)
        self.tm = transaction.TransactionManager()
        self.connection = self.db.open(transaction_manager=self.tm)
        root = remotetask.getApplicationRoot(self.connection, create=True)
        root['svc'] = remotetask.TaskService()
        self.tm.commit()
        self.service = root['svc']
        self.path = os.path.join(directory, 'ran.txt')
        self.directory = directory

    def add(self, count, delay=0.0):
        ids = [self.service.add('append', {'path': self.path, 'delay': delay})
               for _ in range(count)]
        self.tm.commit()
        return ids

    def sync(self):
        self.tm.begin()

    def statuses(self, ids):
        self.sync()
        return collections.Counter(self.service.getStatus(j) for j in ids)

    def waitForAll(self, ids, status='completed', timeout=120):
        remaining = set(ids)

        def done():
            self.sync()
            remaining.difference_update(
                [j for j in remaining
                 if self.service.getStatus(j) == status])
            return not remaining

        waitFor(done, timeout)

    def waitForEachDone(self, ids):
        """Wait until all of `ids` completed; each must have run to the end
        (a job taken back from a killed worker runs again)."""
        self.waitForAll(ids)
        assert {jobid for jobid, pid in self.lines('done')} == set(ids)
        assert self.statuses(ids) == {'completed': len(ids)}

    def lines(self, kind='done'):
        """(jobid, pid) of each line of that kind the tasks wrote."""
        if not os.path.exists(self.path):
            return []
        with open(self.path) as f:
            rows = [line.split() for line in f]
        return [(int(jobid), int(pid)) for jobid, pid, what in rows
                if what == kind]

    def jobInHand(self):
        """(jobid, pid) of a job that has started and not finished."""
        done = set(self.lines('done'))
        started = [row for row in self.lines('start') if row not in done]
        return started[0] if started else None

    def lastSeen(self, pid):
        self.sync()
        for worker in self.service.getWorkers():
            if worker['pid'] == pid:
                return worker['lastSeen']
        return None

    def workers(self, count, *options):
        made = [Worker(self.directory, self.uri, '--services', '@svc',
                       *options) for _ in range(count)]
        self._workers.extend(made)
        return made

    def close(self):
        for worker in self._workers:
            worker.kill()
        self.tm.abort()
        self.connection.close()
        self.db.close()


@pytest.fixture
def client(backend, tmp_path):
    uri, server = backend
    made = Client(uri, str(tmp_path))
    made.uri, made.server, made._workers = uri, server, []
    yield made
    made.close()


def test_three_workers_run_each_job_once(client):
    ids = client.add(300)
    workers = client.workers(3, '--lease', '5', '--wait-time', '0.2')
    client.waitForAll(ids)
    done = client.lines('done')
    assert sorted(jobid for jobid, pid in done) == sorted(ids)
    assert len({pid for jobid, pid in done}) > 1   # they all took part
    assert client.statuses(ids) == {'completed': 300}
    assert [w.stop() for w in workers] == [0, 0, 0]


def test_an_idle_zeo_worker_hears_of_a_new_job_at_once(client):
    """A ZEO client learns of each commit as it happens: an idle worker
    looks for jobs then, not at the end of its wait time (60 s here)."""
    if client.server is None:
        pytest.skip('RelStorage workers look for jobs after --wait-time')
    [worker] = client.workers(1, '--wait-time', '60')
    for round in range(3):
        # Completed means recorded, and the worker found nothing more in
        # the same commit: it is idle, or about to be, when the next comes.
        [jobid] = client.add(1)
        started = time.monotonic()
        client.waitForAll([jobid], timeout=30)
        assert time.monotonic() - started < 10
    assert worker.stop() == 0


def test_a_killed_workers_job_is_run_again(client):
    ids = client.add(30, delay=0.2)
    workers = client.workers(3, '--lease', '1', '--wait-time', '0.1')
    waitFor(lambda: client.jobInHand() is not None)
    jobid, pid = client.jobInHand()
    victim = next(w for w in workers if w.pid == pid)
    victim.signal(signal.SIGKILL)
    client.waitForAll(ids)
    job = client.service.jobs[jobid]
    assert job.attempts >= 2
    assert job.output != pid
    assert client.statuses(ids) == {'completed': 30}
    # The dead worker is forgotten once its jobs were taken back.
    waitFor(lambda: client.lastSeen(pid) is None)


def test_a_paused_workers_late_outcome_is_refused(client):
    ids = client.add(6, delay=1.5)
    workers = client.workers(2, '--lease', '1', '--wait-time', '0.1')
    waitFor(lambda: client.jobInHand() is not None)
    jobid, pid = client.jobInHand()
    paused = next(w for w in workers if w.pid == pid)
    # Pause just after a heartbeat commits, so that the process is not
    # stopped in the middle of a commit (holding the storage's lock).
    seen = client.lastSeen(pid)
    waitFor(lambda: client.lastSeen(pid) != seen)
    paused.signal(signal.SIGSTOP)
    try:
        def rerun():
            client.sync()
            job = client.service.jobs[jobid]
            return job.status == 'completed' and job.output != pid

        waitFor(rerun)
    finally:
        paused.signal(signal.SIGCONT)
    waitFor(lambda: f'outcome of job {jobid} attempt 1 dropped'
            in paused.output())
    client.waitForAll(ids)
    job = client.service.jobs[jobid]
    assert job.output != pid and job.attempts == 2
    assert str(pid) not in job.worker.split(':')


def test_workers_ride_out_a_zeo_server_restart(client):
    if client.server is None:
        pytest.skip('only a ZEO server is restarted by the tests')
    ids = client.add(150, delay=0.01)
    client.workers(3, '--lease', '10', '--wait-time', '0.1')
    waitFor(lambda: len(client.lines('done')) >= 30)
    client.server.stop()
    runSeconds(2)
    client.server.start()
    client.waitForAll(ids)
    assert client.statuses(ids) == {'completed': 150}
    assert sorted({jobid for jobid, pid in client.lines('done')}) == \
        sorted(ids)


def test_killing_a_worker_in_a_burst_of_tiny_jobs_loses_none(client):
    """Tiny jobs are claimed in batches and their outcomes recorded
    together: a worker killed in the middle leaves each of its jobs either
    done or to be done again."""
    ids = client.add(1500)
    workers = client.workers(2, '--lease', '1', '--wait-time', '0.1')
    waitFor(lambda: len(client.lines('done')) >= 300)
    workers[0].signal(signal.SIGKILL)
    client.waitForEachDone(ids)


def test_killing_a_threaded_worker_in_a_trickle_loses_none(client):
    """Jobs added one per transaction while two workers with three threads
    each run them: one killed in the middle leaves each of its jobs either
    done or to be done again."""
    workers = client.workers(2, '--threads', '3', '--lease', '1',
                             '--wait-time', '0.1')
    ids = []
    for n in range(400):
        ids += client.add(1)
        if n == 200:
            waitFor(lambda: len(client.lines('done')) >= 100)
            workers[0].signal(signal.SIGKILL)
    client.waitForEachDone(ids)
    assert workers[1].stop() == 0


def test_tasks_that_all_change_one_object_all_complete(client):
    """Three workers run jobs that all change one counter: their task
    transactions conflict, and each conflict runs the task again (after a
    short wait with jitter) instead of failing the job."""
    zope.component.provideUtility(tasks.Bump(), name='bump')
    client.service.__parent__['counter'] = tasks.Counter()
    ids = [client.service.add('bump', {'work': 0.002}) for _ in range(90)]
    client.tm.commit()
    workers = client.workers(3, '--wait-time', '0.05')
    client.waitForAll(ids)
    assert client.service.__parent__['counter'].value == 90
    # A conflict is no failed attempt: a job runs again in the same one,
    # up to CONFLICT_RETRIES times.  Only a job that lost that many in a
    # row (on a loaded machine it happens) fails an attempt, and says so.
    lost = f'conflicted {CONFLICT_RETRIES + 1} times: '
    for jobid in ids:
        earlier = client.service.jobs[jobid].history[:-1]
        assert all(attempt['error'].startswith(lost)
                   for attempt in earlier), earlier
    assert [w.stop() for w in workers] == [0, 0, 0]


def test_a_worker_says_when_the_zeo_server_cannot_resolve_conflicts(
        tmp_path):
    """A ZEO server that cannot import lovely.remotetask cannot merge
    concurrent changes; a worker that starts says so at CRITICAL."""
    import subprocess
    import sys
    server = ZEOServer(str(tmp_path))
    bare = os.path.join(str(tmp_path), 'bare')
    os.mkdir(bare)
    server.process = subprocess.Popen(
        [sys.executable, '-c', _BARE_SERVER, str(server.port), server.path],
        stdout=server.log, stderr=subprocess.STDOUT, cwd=bare)
    from servers import accepts
    from lovely.remotetask import testing
    testing.waitUntil(lambda: accepts(server.port), timeout=30,
                      interval=0.05)
    try:
        db = remotetask.openDatabase(server.uri)
        tm = transaction.TransactionManager()
        connection = db.open(transaction_manager=tm)
        root = remotetask.getApplicationRoot(connection, create=True)
        root['svc'] = remotetask.TaskService()
        tm.commit()
        connection.close()
        db.close()
        worker = Worker(str(tmp_path), server.uri, '--services', '@svc')
        waitFor(lambda: 'worker running' in worker.output())
        assert 'CRITICAL lovely.remotetask the ZEO server cannot resolve' \
            in worker.output()
        assert worker.stop() == 0
    finally:
        server.close()


# A ZEO server whose Python cannot import lovely.remotetask.
_BARE_SERVER = '''
import sys
class Refuse:
    def find_spec(self, name, path=None, target=None):
        if name == 'lovely' or name.startswith('lovely.'):
            raise ImportError('not here')
sys.meta_path.insert(0, Refuse())
for name in [n for n in sys.modules if n.startswith('lovely')]:
    del sys.modules[name]
from ZEO import runzeo
sys.argv[1:] = ['-a', '127.0.0.1:' + sys.argv[1], '-f', sys.argv[2]]
runzeo.main()
'''


def test_a_worker_outlives_any_exception_of_a_task(client):
    zope.component.provideUtility(tasks.Raise(), name='raise')
    bad = [client.service.add('raise', kind) for kind in (
        'CancelledError', 'KeyboardInterrupt', 'GeneratorExit', 'Custom',
        'SystemExit')]
    good = client.add(3)
    [worker] = client.workers(1, '--wait-time', '0.1')
    client.waitForAll(bad, status='error')
    client.waitForAll(good)
    assert worker.stop() == 0


def test_a_result_too_large_fails_its_job_and_nothing_big_is_written(client):
    """A task returning 5 MB (the limit is 4 MB): the worker refuses to
    store it, the job fails saying so, and the next job runs."""
    zope.component.provideUtility(tasks.Huge(), name='huge')
    big = client.service.add('huge', 5 * 1024 * 1024)
    small = client.service.add('huge', 10)
    client.tm.commit()
    [worker] = client.workers(1, '--wait-time', '0.1')
    client.waitForAll([small])
    client.waitForAll([big], status='error')
    assert 'is larger than the limit of 4,194,304 bytes' in \
        client.service.getError(big)
    assert client.service.getResult(big) is None
    assert worker.stop() == 0


def mostAtOnce(lines):
    """The most jobs between their 'start' and 'done' lines at once (the
    file's lines come in the order they were written)."""
    running = most = 0
    for jobid, pid, what in lines:
        running += 1 if what == 'start' else -1
        most = max(most, running)
    return most


def test_a_global_limit_holds_across_worker_processes(client):
    """Three workers of three threads, a task limited to two at once: never
    more than two run, across the processes; the queues are served only
    by the workers told to."""
    zope.component.provideUtility(tasks.Limited(), name='limited')
    limited = [client.service.add(
        'limited', {'path': client.path, 'delay': 0.05}) for _ in range(24)]
    other = [client.service.add('append', {'path': client.path}, queue='bulk')
             for _ in range(6)]
    client.tm.commit()
    busy = client.workers(3, '--threads', '3', '--queue', 'default')
    client.waitForAll(limited)
    with open(client.path) as f:
        rows = [line.split() for line in f]
    assert mostAtOnce(rows) == 2
    assert client.statuses(other) == {'queued': 6}
    client.sync()
    assert client.service.getStranded() == [
        dict(queue='bulk', task='append', queued=6)]
    client.workers(1, '--queue', 'bulk:1')
    client.waitForAll(other)
    assert {pid for jobid, pid in client.lines('done') if jobid in other} \
        .isdisjoint(worker.pid for worker in busy)


def test_a_fan_in_calls_back_once_though_a_sibling_s_worker_is_killed(
        client):
    """Siblings over three worker processes, one killed with SIGKILL in
    the middle of a sibling: the job that waits for them all runs once,
    after every sibling ended."""
    siblings = client.add(24, delay=0.1)
    callback = client.service.add(
        'append', {'path': client.path}, after=siblings)
    client.tm.commit()
    workers = client.workers(3, '--lease', '1', '--wait-time', '0.1',
                             '--threads', '2')
    waitFor(lambda: client.jobInHand() is not None)
    jobid, pid = client.jobInHand()
    next(w for w in workers if w.pid == pid).signal(signal.SIGKILL)
    client.waitForAll(siblings + [callback])
    done = client.lines('done')
    assert [one for one, _ in done].count(callback) == 1
    assert [one for one, _ in client.lines('start')].count(callback) == 1
    assert [one for one, _ in done][-1] == callback
    assert {one for one, _ in done} == set(siblings) | {callback}
