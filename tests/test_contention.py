"""Concurrent adds, claims, cancels, cleaning and records never fail each
other's transactions: on FileStorage, over a ZEO server process and on
RelStorage, with the service's processor claiming at the same time."""
import threading

import pytest
import transaction
from transaction.interfaces import TransientError

from lovely import remotetask
from lovely.remotetask import testing
from lovely.remotetask.runtime.attempt import Outcome
from lovely.remotetask.store import claiming
from services import newService, waitForStatus

PRODUCERS = 8
ADDS = 25


def produce(db, oid, adds, conflicts, ids, action=None):
    """Add `adds` jobs, one per transaction, as requests would; count the
    commits that conflicted (none should)."""
    tm = transaction.TransactionManager()
    connection = db.open(transaction_manager=tm)
    try:
        for n in range(adds):
            for attempt in range(3):
                tm.begin()
                service = connection.get(oid)
                jobid = service.add('echo', n)
                if action is not None:
                    action(service, jobid)
                try:
                    tm.commit()
                    ids.append(jobid)
                    break
                except TransientError as error:
                    conflicts.append(error)
                    tm.abort()
    finally:
        connection.close()


def runProducers(db, service, action=None):
    conflicts, ids = [], []
    threads = [threading.Thread(target=produce, args=(
        db, service._p_oid, ADDS, conflicts, ids, action))
        for _ in range(PRODUCERS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return conflicts, ids


@pytest.fixture
def echo():
    remotetask.provideTask(lambda input: input, name='echo')


def test_concurrent_adds_never_conflict(anyDb, echo):
    connection = anyDb.open()
    app = remotetask.getApplicationRoot(connection, create=True)
    service = newService(app)
    service.startProcessing()
    conflicts, ids = runProducers(anyDb, service)
    assert conflicts == []
    assert len(set(ids)) == PRODUCERS * ADDS
    waitForStatus(service, ids, timeout=120)
    assert service.statusCounts() == {'completed': PRODUCERS * ADDS}
    connection.close()


def test_adds_cancels_and_cleaning_at_once_never_conflict(anyDb, echo):
    """Half the producers cancel each job they add, a processor runs the
    rest, and the test cleans finished jobs meanwhile."""
    connection = anyDb.open()
    app = remotetask.getApplicationRoot(connection, create=True)
    service = newService(app)
    service.startProcessing()
    cleaned, stop = [], threading.Event()

    def clean():
        tm = transaction.TransactionManager()
        conn = anyDb.open(transaction_manager=tm)
        while not stop.is_set():
            tm.begin()
            cleaned.append(conn.get(service._p_oid).clean(limit=20))
            tm.commit()
        conn.close()

    cleaner = threading.Thread(target=clean)
    cleaner.start()
    try:
        conflicts, ids = runProducers(
            anyDb, service,
            lambda svc, jobid: jobid % 2 and svc.cancel(jobid))
    finally:
        stop.set()
        cleaner.join()
    assert conflicts == []
    assert len(ids) == PRODUCERS * ADDS
    testing.waitUntil(lambda: connection.sync() or
                      service.queueLength() == 0, timeout=60)


def test_a_memory_database_resolves_conflicts(echo):
    db = testing.memoryDatabase()
    connection = db.open()
    service = connection.root()['svc'] = remotetask.TaskService()
    transaction.commit()
    service.startProcessing()
    conflicts, ids = runProducers(db, service)
    assert conflicts == []
    waitForStatus(service, ids)
    service.stopProcessing(wait=None)
    db.close()


def test_jobs_given_back_go_back_to_the_front_of_the_queue(db, echo):
    """A stopping processor gives back jobs it claimed in a batch and did
    not start: they run before jobs added since."""
    connection = db.open()
    service = connection.root()['svc'] = remotetask.TaskService()
    service.registerWorker('w', 60)
    names = ['first'] + [f'old{n}' for n in range(1, 6)]
    for name in names:
        service.add('echo', name)
    transaction.commit()
    claims = service.claim('w', limit=6)
    transaction.commit()
    service.add('echo', 'NEW')
    transaction.commit()
    service.recordOutcome(Outcome(
        claims[0].jobid, claims[0].attempt, output='first'))
    for claim in claims[1:]:
        service.releaseJob(claim.jobid, claim.attempt)
    transaction.commit()
    queued = [job.input for job in service.jobsPage('queued')[0]]
    assert queued == names[1:] + ['NEW']
    connection.close()


def test_workers_reading_the_queue_commits_apart_take_different_jobs(db,
                                                                     echo):
    """Workers choose among the first jobs by job id, not by their place
    from the head, which moves: a worker whose transaction began before
    another's two claims committed still takes a job of its own."""
    def client():
        tm = transaction.TransactionManager()
        connection = db.open(transaction_manager=tm)
        tm.begin()
        return tm, connection.root()['svc']

    setup = db.open()
    service = setup.root()['svc'] = remotetask.TaskService()
    for worker in ('w0', 'w1'):
        service.registerWorker(worker, 60)
    for n in range(40):
        service.add('echo', n)
    transaction.commit()
    late, lateService = client()    # reads the queue as it is now
    claimed = []
    for _ in range(2):
        early, earlyService = client()
        claimed += earlyService.claim('w0', limit=1)
        early.commit()
    claimed += lateService.claim('w1', limit=1)
    late.commit()                   # no ConflictError: not the same job
    assert len({claim.jobid for claim in claimed}) == 3
    setup.close()


@pytest.fixture
def twoWorkers(db, echo):
    """A service with workers w0 and w1, and the ids of 40 jobs queued."""
    connection = db.open()
    service = connection.root()['svc'] = remotetask.TaskService()
    for worker in ('w0', 'w1'):
        service.registerWorker(worker, 60)
    ids = [service.add('echo', n) for n in range(40)]
    transaction.commit()
    yield service, ids
    transaction.abort()
    connection.close()


def test_a_worker_gone_quiet_leaves_no_job_behind(twoWorkers, monkeypatch):
    """Jobs that fall to a worker that no longer claims wait only until
    the first few jobs are all theirs; then the others take them, oldest
    first."""
    monkeypatch.setattr(claiming, 'BUSY', 0)   # w1 claimed long ago
    service, ids = twoWorkers
    claimed = []
    for _ in range(40):
        claimed += [claim.jobid for claim in service.claim('w0', limit=1)]
        transaction.commit()
    assert sorted(claimed) == sorted(ids)
    assert claimed.index(ids[0]) < 9 and claimed.index(ids[1]) < 9


def test_a_busy_worker_s_next_job_is_left_to_it(twoWorkers, monkeypatch):
    """A worker whose own jobs ran out takes those of the others, but not
    the next one of a worker that claims now (within `claiming.BUSY`
    seconds): that one takes it itself, and of two claims of one job, one
    would conflict."""
    monkeypatch.setattr(claiming, 'BUSY', 600)   # however slow the machine
    service, ids = twoWorkers
    odd = [jobid for jobid in ids if jobid % 2]     # w1's, at place 1
    assert [claim.jobid for claim in service.claim('w1')] == odd[:1]
    transaction.commit()
    taken = []
    for _ in range(30):
        taken += [claim.jobid for claim in service.claim('w0')]
        transaction.commit()
    assert len(taken) == 30 and odd[1] not in taken
    assert [claim.jobid for claim in service.claim('w1')] == odd[1:2]
    transaction.commit()
