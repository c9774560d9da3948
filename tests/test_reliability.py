"""Exactly once in hand, never orphaned: a task runs again after a
conflict only while its job is still the worker's, in the same attempt;
a claim and the recovery of its worker cannot both commit."""
import threading
import time

import pytest
import transaction
from persistent.mapping import PersistentMapping
from ZODB.POSException import ConflictError

import zope.component

from lovely import remotetask
from lovely.remotetask.interfaces import ITask
from lovely.remotetask.runtime.steps import Station
from lovely.remotetask.task import SimpleTask


def test_a_task_runs_again_only_while_its_job_is_still_held(db):
    """Worker w1's lease runs out while its task runs; w2 takes the job
    back and completes it; then w1's commit conflicts.  The task does not
    run a third time for w1, which no longer holds the job."""
    connection = db.open()
    root = connection.root()
    root['counter'] = PersistentMapping(n=0)
    service = root['svc'] = remotetask.TaskService()
    service.registerWorker('w1', 1)
    service.registerWorker('w2', 60)
    transaction.commit()
    oid = service._p_oid
    w1, w2 = Station(db, oid, 'w1'), Station(db, oid, 'w2')
    runs = []

    def takeOver():
        # In transactions of their own: w1 is taken for dead, and w2
        # claims, runs and completes the job.
        tm = transaction.TransactionManager()
        other = db.open(transaction_manager=tm)
        with tm:
            other.get(oid).recoverJobs(time.time() + 1e6)
        other.close()
        claim, = w2.claim(1)
        assert claim.attempt == 2
        assert w2.run(claim) is None      # recorded with what it wrote

    class Count(SimpleTask):
        """Counts in the database, on the station that runs it."""

        def __call__(self, service_, jobid, input):
            # The first run is w1's, the second w2's (within the first).
            station = w1 if len(runs) != 1 else w2
            runs.append(station.workerId)
            if len(runs) == 1:
                takeOver()
            station.connection.root()['counter']['n'] += 1

    zope.component.provideUtility(Count(str), ITask, name='count')
    jobid = service.add('count', 'x')
    transaction.commit()
    try:
        claim, = w1.claim(1)
        assert claim.attempt == 1
        assert w1.run(claim) is None
    finally:
        w1.close()
        w2.close()
    assert runs == ['w1', 'w2']
    connection.sync()
    job = service.jobs[jobid]
    assert (job.status, job.attempts, job.runs) == ('completed', 2, 1)
    assert root['counter']['n'] == 1
    connection.close()


def test_outcomes_of_jobs_removed_meanwhile_are_dropped(db):
    """A worker taken for dead under load comes back with outcomes and
    claims of jobs that others meanwhile ran, finished and removed (the
    loaded suite saw an UnknownJobError's traceback, and the loop died):
    recording and giving them back drops them, as for a job held by
    another."""
    from lovely.remotetask.runtime.attempt import Outcome
    remotetask.provideTask(lambda input: input, name='echo')
    connection = db.open()
    service = connection.root()['svc'] = remotetask.TaskService()
    service.registerWorker('w1', 1)
    for n in range(3):
        service.add('echo', n)
    transaction.commit()
    station = Station(db, service._p_oid, 'w1')
    try:
        first, second, third = station.claim(3)
        transaction.abort()        # see the claims
        service.recoverJobs(time.time() + 1e6)
        service.process()
        service.keepFinished = 0
        service.expire()
        transaction.commit()
        assert len(service.jobs) == 0
        station.record([Outcome(first.jobid, first.attempt, output=1)])
        station.release([third], [Outcome(second.jobid, second.attempt,
                                          output=2)])
    finally:
        station.close()
    connection.sync()
    assert len(service.jobs) == 0 and service.statusCounts() == {}
    connection.close()


@pytest.mark.parametrize('first', ['claim', 'recovery'])
def test_a_claim_and_the_recovery_of_its_worker_cannot_both_commit(
        clients, first):
    remotetask.provideTask(lambda input: input, name='echo')
    a, b = clients(), clients()
    a.root['svc'] = remotetask.TaskService()
    a.root['svc'].registerWorker('w', 1)
    for n in range(3):
        a.root['svc'].add('echo', n)
    a.commit()
    b.abort()
    claimer, recoverer = a.root['svc'], b.root['svc']
    claimer.claim('w', 1)
    recoverer.recoverJobs(time.time() + 1e6)
    one, other = (a, b) if first == 'claim' else (b, a)
    one.commit()
    with pytest.raises(ConflictError):
        other.commit()
    other.abort()
    # Whatever committed, every job in processing is held by a worker the
    # service knows, and the listing shows as many as the counts say.
    service = a.root['svc']
    a.abort()
    held = {jobid for record in service.getWorkers()
            for jobid in record['jobs']}
    processing = [job.id for job in service.jobsPage('processing')[0]]
    assert sorted(processing) == sorted(held)
    assert len(processing) == service.statusCounts().get('processing', 0)


def test_a_job_held_unknown_to_a_waiting_worker_is_given_back(
        db, monkeypatch):
    """The database says a worker holds a job its loops do not know they
    claimed (a claim whose commit failed as far as they could tell, yet
    went through), and its loops wait for jobs, claiming nothing for a
    long while: its heartbeats give the job back (a chaos run over
    RelStorage ended with such a job processing under a live worker)."""
    from lovely.remotetask.testing import waitUntil
    remotetask.provideTask(lambda input: input, name='echo')
    connection = db.open()
    service = connection.root()['svc'] = remotetask.TaskService()
    service.processorArguments = dict(waitTime=300, leaseTime=2)
    transaction.commit()
    # Loops that claim nothing (stuck elsewhere, or waiting): they give
    # nothing back either.
    monkeypatch.setattr(Station, 'claim', lambda self, *args: [])
    service.startProcessing()
    waitUntil(lambda: (connection.sync(), service.getWorkers())[1],
              timeout=30)
    worker = service.getWorkers()[0]['id']
    jobid = service.add('echo', 'orphan')
    transaction.commit()
    claim, = service.claim(worker, 1)
    transaction.commit()
    assert service.getStatus(jobid) == 'processing'
    waitUntil(lambda: (connection.sync(),
                       service.getStatus(jobid))[1] == 'queued',
              timeout=30)
    assert service.getWorkers()[0]['jobs'] == {}
    service.stopProcessing()


def test_a_drain_that_fails_after_a_claim_loses_no_claim(db, monkeypatch):
    """A loop drains the intake after a claim's commit when many jobs
    moved; a drain that failed otherwise than by a conflict (the database
    away) raised out of the claim, and the loop lost what it had just
    claimed: those jobs stayed processing in its hand, never run (two
    did so in a loaded suite run's minute of chaos over RelStorage)."""
    from lovely.remotetask.store import drainapart, store
    from lovely.remotetask.testing import waitUntil
    remotetask.provideTask(lambda input: input, name='echo')
    monkeypatch.setattr(drainapart, 'drainApart', lambda db, oid: None)
    drain, failed = store.Store.drain, []

    def failOnce(self, *most):
        if not failed:
            failed.append(True)
            raise RuntimeError('the database is away')
        return drain(self, *most)
    monkeypatch.setattr(store.Store, 'drain', failOnce)
    connection = db.open()
    service = connection.root()['svc'] = remotetask.TaskService()
    transaction.commit()
    jobids = [service.add('echo', n) for n in range(40)]
    transaction.commit()
    service.startProcessing()
    waitUntil(lambda: (connection.sync(), all(
        service.getStatus(jobid) == 'completed' for jobid in jobids))[1],
        timeout=30)
    assert failed
    service.stopProcessing()


@pytest.mark.parametrize('message, waits', [
    ('connection to server at "127.0.0.1", port 5432 failed: Connection '
     'refused', True),
    ('connection to server at "127.0.0.1", port 5432 failed: FATAL:  the '
     'database system is starting up', True),
    ('connection to server at "127.0.0.1", port 5432 failed: FATAL:  the '
     'database system is not yet accepting connections', True),
    ('connection to server at "127.0.0.1", port 5432 failed: FATAL:  '
     'password authentication failed for user "app"', False)])
def test_open_waits_for_a_database_server_that_restarts(monkeypatch, message,
                                                        waits):
    """A RelStorage client waits for a PostgreSQL server that restarts,
    which first refuses connections and then says it is starting up (the
    chaos run's producers gave up on that); other errors end it at once."""
    from ZODB.MappingStorage import MappingStorage
    from lovely.remotetask.hosts import database

    class OperationalError(Exception):
        pass
    tries = []

    def factory():
        tries.append(message)
        if len(tries) < 3:
            raise OperationalError(message)
        return MappingStorage()
    monkeypatch.setattr(database, '_resolve', lambda *args: (factory, {}))
    if waits:
        database.openDatabase('postgres://db/app', connectTimeout=30).close()
        assert len(tries) == 3
    else:
        with pytest.raises(database.DatabaseError,
                           match='password authentication failed'):
            database.openDatabase('postgres://db/app', connectTimeout=30)
        assert len(tries) == 1


def test_a_zeo_client_forgets_its_fetched_oids_when_the_server_restarts(
        tmp_path):
    """ZEO clients fetch object ids ahead; a restarted server hands the
    unused ones out again.  Client A, which fetched them, then loads
    client B's new objects under those ids and makes one of its own: the
    database `openDatabase` gives it fetches fresh ids after the restart,
    so A's commit succeeds and every object keeps its own id."""
    import servers
    from lovely.remotetask.hosts.database import openDatabase
    from lovely.remotetask.testing import waitUntil

    server = servers.ZEOServer(str(tmp_path))
    server.start()
    dbA, dbB = openDatabase(server.uri), openDatabase(server.uri)
    tmA = transaction.TransactionManager()
    tmB = transaction.TransactionManager()
    a, b = dbA.open(transaction_manager=tmA), dbB.open(transaction_manager=tmB)
    try:
        with tmA:       # A fetches 1, 2, then 4 ids, and keeps 3
            a.root()['a'] = PersistentMapping(
                n=1, more=[PersistentMapping() for _ in range(3)])
        server.stop()
        server.start()
        waitUntil(lambda: dbA.storage.is_connected()
                  and dbB.storage.is_connected(), timeout=30)
        with tmB:
            b.root()['b'] = [PersistentMapping(n=n) for n in range(3)]
        dbA.storage.ping()      # B's commit has reached A
        with tmA:
            loaded = [item['n'] for item in a.root()['b']]
            a.root()['a2'] = PersistentMapping(n=2)
        assert loaded == [0, 1, 2]
        dbB.storage.ping()
        with tmB:
            root = b.root()
            oids = [root['a']._p_oid, root['a2']._p_oid] + [
                item._p_oid for item in root['b']]
            assert len(set(oids)) == len(oids)
            assert (root['a2']['n'], [item['n'] for item in root['b']]) \
                == (2, [0, 1, 2])
    finally:
        a.close(), b.close()
        dbA.close(), dbB.close()
        server.close()


def test_short_lived_zeo_clients_leave_no_gaps_in_job_ids(tmp_path):
    """A ZEO client fetches object ids 1, then 2, 4... at a time, up to
    ZEO's 100: clients that add a job each and go (``remotetask add``)
    give consecutive ids, which share the job map's blocks."""
    import servers
    from lovely.remotetask.hosts.database import openDatabase

    server = servers.ZEOServer(str(tmp_path))
    server.start()
    try:
        db = openDatabase(server.uri)
        with db.transaction() as connection:
            connection.root()['svc'] = remotetask.TaskService()
        db.close()
        remotetask.provideTask(lambda input: input, name='echo')
        ids = []
        for n in range(5):
            db = openDatabase(server.uri)
            with db.transaction() as connection:
                ids.append(connection.root()['svc'].add('echo', n))
            db.close()
        assert [b - a for a, b in zip(ids, ids[1:])] == [1] * 4
        # A busy client soon fetches a hundred at a time.
        db = openDatabase(server.uri)
        fetched = []
        call = db.storage._call
        db.storage._call = lambda name, *args: (
            fetched.append(args) if name == 'new_oids' else None,
            call(name, *args))[1]
        for _ in range(500):
            db.storage.new_oid()
        assert fetched == [(1,), (2,), (4,), (8,), (16,), (32,), (64,),
                           (100,), (100,), (100,), (100,)]
        db.close()
    finally:
        server.close()


def test_a_relstorage_client_waits_for_its_database_server(tmp_path):
    """A worker started while PostgreSQL restarts waits for it, as a ZEO
    client waits for its server (the chaos run's worker exited instead):
    the server here comes up, behind a port that refused connections, a
    moment after the database is asked for."""
    import socket
    from servers import POSTGRES, PostgresDatabase, postgresReachable
    if not postgresReachable():
        pytest.skip('no PostgreSQL at 127.0.0.1:5432 (user postgres)')
    postgres = PostgresDatabase()
    with socket.socket() as probe:
        probe.bind(('127.0.0.1', 0))
        port = probe.getsockname()[1]
    uri = postgres.uri.replace(f':{POSTGRES["port"]}/', f':{port}/')
    proxy = _Forwarder(port, POSTGRES['port'])
    try:
        timer = threading.Timer(1.0, proxy.start)
        timer.start()
        db = remotetask.openDatabase(uri, connectTimeout=60)
        assert proxy.accepted, 'opened before the server was there'
        db.close()
        with pytest.raises(remotetask.DatabaseError,
                           match='cannot open database'):
            remotetask.openDatabase(uri.replace(f':{port}/', ':1/'),
                                    connectTimeout=0.5)
    finally:
        timer.cancel()
        proxy.stop()
        postgres.drop()


class _Forwarder(threading.Thread):
    """Loopback `port` forwarded to `target`, from when it starts."""

    def __init__(self, port, target):
        super().__init__(daemon=True)
        self.port, self.target = port, target
        self.accepted = 0
        self.stopping = threading.Event()
        self.sockets = []

    def run(self):
        import socket
        server = socket.create_server(('127.0.0.1', self.port))
        server.settimeout(0.2)
        self.sockets.append(server)
        while not self.stopping.is_set():
            try:
                client, _ = server.accept()
            except OSError:
                continue
            self.accepted += 1
            upstream = socket.create_connection(('127.0.0.1', self.target))
            self.sockets += [client, upstream]
            for a, b in ((client, upstream), (upstream, client)):
                threading.Thread(target=self.pipe, args=(a, b),
                                 daemon=True).start()

    @staticmethod
    def pipe(source, sink):
        try:
            while data := source.recv(65536):
                sink.sendall(data)
        except OSError:
            pass
        finally:
            try:
                sink.shutdown(2)
            except OSError:
                pass

    def stop(self):
        self.stopping.set()
        for sock in self.sockets:
            sock.close()
