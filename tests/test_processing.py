"""Background processing: threads, processors, their order and limits."""
import logging
import threading
import time

import pytest
import transaction
import zope.component
from transaction.interfaces import TransientError
from zope.interface import implementer

from lovely import remotetask
from lovely.remotetask import testing
from lovely.remotetask.runtime import processing
from lovely.remotetask.runtime.steps import CONFLICT, Station
from lovely.remotetask.exceptions import RemoteTaskError
from lovely.remotetask.interfaces import ITask
from servers import ZEOServer
from services import newService, waitForStatus


@pytest.fixture
def app(anyDb):
    """The application root of a shared database, on the default
    transaction."""
    connection = anyDb.open()
    root = remotetask.getApplicationRoot(connection, create=True)
    transaction.commit()
    yield root
    transaction.abort()
    connection.close()


def test_simple_processor_runs_jobs_in_queue_order(app):
    ran = []
    remotetask.provideTask(ran.append, name='record')
    service = newService(app)
    jobs = [service.add('record', n) for n in range(60)]
    transaction.commit()
    service.startProcessing()
    waitForStatus(service, jobs)
    assert ran == list(range(60))


def test_multi_processor_runs_up_to_max_threads_at_once(app):
    lock = threading.Lock()
    running = []
    most = []
    two = threading.Event()

    @remotetask.provideTask
    def overlap(input):
        with lock:
            running.append(input)
            most.append(len(running))
            if len(running) >= 2:
                two.set()
        two.wait(10)          # hold on until a second job runs beside us
        time.sleep(0.002)     # and give a third the chance to start, if it
        with lock:            # wrongly could
            running.remove(input)

    service = newService(app, factory=remotetask.MultiProcessor,
                         waitTime=1.0, maxThreads=2)
    jobs = [service.add('overlap', n) for n in range(12)]
    transaction.commit()
    service.startProcessing()
    waitForStatus(service, jobs)
    assert max(most) == 2


def test_stop_is_prompt_when_idle(app):
    service = newService(app, factory=remotetask.SimpleProcessor,
                         waitTime=600)
    service.startProcessing()
    thread = [t for t in threading.enumerate()
              if t.name == 'remotetasks.svc'][0]
    started = time.monotonic()
    service.stopProcessing()
    thread.join(5)
    # Woken by an event, not after waitTime: this bound is generous on
    # purpose (the target, 50 ms, is measured in benchmarks/latency.py).
    assert not thread.is_alive()
    assert time.monotonic() - started < 2


def test_stop_when_busy_finishes_the_job_in_hand(app):
    inside, release = threading.Event(), threading.Event()

    @remotetask.provideTask
    def slow(input):
        inside.set()
        release.wait(10)
        return 'done'

    service = newService(app)
    jobid = service.add('slow')
    later = service.add('slow')
    transaction.commit()
    service.startProcessing()
    assert inside.wait(10)
    service.stopProcessing()
    assert not service.isProcessing()
    release.set()
    service.stopProcessing(wait=10)
    transaction.begin()
    assert service.getStatus(jobid) == 'completed'
    assert service.getStatus(later) == 'queued'


def test_an_uncommitted_service_cannot_start(app):
    service = app['new'] = remotetask.TaskService()
    with pytest.raises(RemoteTaskError, match='store it and commit'):
        service.startProcessing()
    unstored = remotetask.TaskService()
    with pytest.raises(RemoteTaskError):
        unstored.startProcessing()
    assert not unstored.isProcessing()
    unstored.stopProcessing()   # nothing to stop: no error either


def test_many_producers_while_processing(app, anyDb):
    """1,000 jobs from 4 threads: every one completes, exactly once."""
    seen = []
    lock = threading.Lock()

    @remotetask.provideTask
    def record(input):
        with lock:
            seen.append(input)

    service = newService(app)
    service.startProcessing()
    ids = []

    retries = []

    def produce(worker):
        # An application's request loop: commit, and on a transient error
        # (a conflict) try again after a short, growing pause.
        tm = transaction.TransactionManager()
        connection = anyDb.open(transaction_manager=tm)
        try:
            for n in range(250):
                for attempt in range(100):
                    tm.begin()
                    try:
                        svc = connection.get(service._p_oid)
                        jobid = svc.add('record', (worker, n))
                        tm.commit()
                        break
                    except TransientError:
                        tm.abort()
                        time.sleep(0.001 * 2 ** min(attempt, 6))
                with lock:
                    ids.append(jobid)
                    retries.append(attempt)
        finally:
            connection.close()

    producers = [threading.Thread(target=produce, args=(w,))
                 for w in range(4)]
    for producer in producers:
        producer.start()
    for producer in producers:
        producer.join()
    waitForStatus(service, ids, timeout=120)
    assert max(retries) < 99
    assert len(ids) == len(set(ids)) == 1000
    assert sorted(seen) == sorted((w, n) for w in range(4)
                                  for n in range(250))


def test_a_task_whose_writes_conflict_runs_again(app, anyDb):
    """A success that cannot be committed runs again, and costs no
    attempt: a conflict is nobody's failure."""
    app['counter'] = remotetask.Folder()
    transaction.commit()
    attempts = []

    @implementer(ITask)
    class Bump:
        def __call__(self, service, jobid, input):
            counter = service.__parent__['counter']
            counter.hits = getattr(counter, 'hits', 0) + 1
            attempts.append(counter.hits)
            if len(attempts) == 1:
                # Someone else changes the same object before we commit.
                tm = transaction.TransactionManager()
                rival = anyDb.open(transaction_manager=tm)
                rival.get(counter._p_oid).rival = True
                tm.commit()
                rival.close()
            return counter.hits

    zope.component.provideUtility(Bump(), name='bump')
    service = newService(app)
    jobid = service.add('bump')
    transaction.commit()
    service.startProcessing()
    waitForStatus(service, [jobid])
    job = service.jobs[jobid]
    assert (job.attempts, job.output, job.error) == (1, 1, None)
    assert attempts == [1, 1]
    assert app['counter'].hits == 1 and app['counter'].rival


def test_the_commit_of_an_add_wakes_the_idle_processor_of_this_process(app):
    """The processor would look again in a minute; the commit that adds a
    job wakes it at once."""
    remotetask.provideTask(lambda n: n, name='echo')
    service = newService(app, factory=remotetask.SimpleProcessor,
                         waitTime=60)
    service.startProcessing()
    processor = processing.processorOf(service)
    testing.waitUntil(lambda: processor._idle)     # waiting its minute
    jobid = service.add('echo', 1)
    transaction.commit()
    waitForStatus(service, jobid, timeout=15)


def test_an_add_with_no_processor_in_this_process_hooks_no_commit(app):
    """Workers elsewhere find the job when they look: the add gives its
    transaction no hook to wake a processor (a hook costs the commit)."""
    remotetask.provideTask(lambda n: n, name='echo')
    service = newService(app)
    service.add('echo', 1)
    assert list(transaction.get().getAfterCommitHooks()) == []
    transaction.commit()
    service.startProcessing()
    service.add('echo', 2)
    assert len(list(transaction.get().getAfterCommitHooks())) == 1
    transaction.commit()


class _LongWindow(remotetask.SimpleProcessor):
    """A record window long enough to tell lingering from not."""

    recordWindow = 2.0


def _trickle(db, task, count):
    """Add `count` jobs of `task` (input 0, 1, ...) one per transaction,
    from a connection of their own, as requests of an application would."""
    tm = transaction.TransactionManager()
    conn = db.open(transaction_manager=tm)
    producer = remotetask.getApplicationRoot(conn)['svc']
    jobs = []
    for n in range(count):
        jobs.append(producer.add(task, n))
        tm.commit()
    conn.close()
    return jobs


def _countClaims(monkeypatch):
    claims = []
    claim = Station.claim

    def counted(session, *args, **kw):
        result = claim(session, *args, **kw)
        claims.append((args, result))
        return result

    monkeypatch.setattr(Station, 'claim', counted)
    return claims


def _provideSpawn(db, seenBy=None):
    """Provide the task ``spawn``: it starts adding its input's count of
    ``echo`` jobs from a thread of its own, one per transaction and 10 ms
    apart, as requests would, and returns once the first is committed (and
    known to the storage of `seenBy`, a database the processor runs on).
    So when the processor, done with ``spawn``, decides whether to wait
    out the window, jobs are coming.  Returns the ids added, once all are.
    """
    added, done = [], threading.Event()

    @remotetask.provideTask
    def spawn(count):
        first = threading.Event()

        def trickle():
            tm = transaction.TransactionManager()
            conn = db.open(transaction_manager=tm)
            producer = remotetask.getApplicationRoot(conn)['svc']
            for n in range(count):
                added.append(producer.add('echo', n))
                tm.commit()
                first.set()
                time.sleep(0.01)    # the pace of the trickle
            conn.close()
            done.set()

        threading.Thread(target=trickle, daemon=True).start()
        assert first.wait(10)
        if seenBy is not None:
            tid = db.storage.lastTransaction()
            testing.waitUntil(
                lambda: seenBy.storage.lastTransaction() >= tid, timeout=10)
        return count

    def ids():
        assert done.wait(30)
        return list(added)

    return ids


def test_a_trickle_of_tiny_jobs_is_claimed_in_few_commits(
        app, anyDb, monkeypatch):
    """Jobs added one per transaction while the processor holds an
    outcome: it waits out the record window and takes them together,
    instead of committing once per job (it is faster than the trickle)."""
    remotetask.provideTask(lambda n: n, name='echo')
    spawned = _provideSpawn(anyDb)
    service = newService(app, factory=_LongWindow)
    service.startProcessing()
    warmUp = service.add('echo', -1)    # then it claims in batches
    transaction.commit()
    waitForStatus(service, warmUp)
    claims = _countClaims(monkeypatch)
    service.add('spawn', 10)
    transaction.commit()
    jobs = spawned()
    waitForStatus(service, jobs)
    # spawn; the ten echo jobs with spawn's outcome; their outcomes (a
    # slow machine may split the ten in two).  Without waiting: over 20.
    assert len(claims) <= 6, len(claims)
    assert [service.getResult(j) for j in jobs] == list(range(10))


def test_a_job_that_comes_alone_is_not_held_back(app):
    remotetask.provideTask(lambda n: n, name='echo')
    service = newService(app, factory=_LongWindow)
    service.startProcessing()
    for n in range(3):
        jobid = service.add('echo', n)
        transaction.commit()
        started = time.monotonic()
        waitForStatus(service, jobid)
        # Nothing else came: its outcome is recorded at once, not at the
        # end of the 2 s window.
        assert time.monotonic() - started < 1.5


def test_stop_while_waiting_out_the_window_is_prompt(app, anyDb):
    """A task that adds the next job: once the loop claims in batches (from
    its second claim on), it waits out the window with an outcome in hand
    and the next job waiting.  Stopping records the outcome and leaves the
    next job queued, at once."""
    second = threading.Event()

    @remotetask.provideTask
    def chain(n):
        with anyDb.transaction() as conn:
            remotetask.getApplicationRoot(conn)['svc'].add('chain', n + 1)
        if n == 1:
            second.set()
        return n

    service = newService(app, factory=_LongWindow)
    service.add('chain', 0)
    transaction.commit()
    service.startProcessing()
    assert second.wait(10)
    started = time.monotonic()
    service.stopProcessing(wait=10)
    assert time.monotonic() - started < 1.5
    transaction.begin()
    jobs = sorted(service.jobs.values(), key=lambda job: job.input)
    assert [job.status for job in jobs] == ['completed', 'completed',
                                            'queued']


def test_many_threads_keep_to_the_connection_pool(app, anyDb):
    """Each thread has a connection of its own for as long as the processor
    runs; the pool grows by them, so ZODB has nothing to warn about."""
    pool = anyDb.getPoolSize()
    seen = set()
    remotetask.provideTask(
        lambda n: seen.add(threading.current_thread().name), name='where')
    capture = testing.LogCapture('ZODB.DB', level=logging.WARNING)
    try:
        service = newService(app, factory=remotetask.MultiProcessor,
                             maxThreads=8)
        jobs = [service.add('where', n) for n in range(40)]
        transaction.commit()
        service.startProcessing()
        waitForStatus(service, jobs)
        service.stopProcessing(wait=10)
    finally:
        capture.uninstall()
    assert str(capture) == ''
    assert anyDb.getPoolSize() == pool
    # Long-lived threads, not one per job.
    assert len(seen) <= 8


def test_threads_of_one_processor_do_not_reach_for_the_same_job(
        app, anyDb, monkeypatch):
    """Jobs trickling in to four idle threads: each add wakes one thread,
    and they claim one at a time, so no claim conflicts."""
    ran = []
    remotetask.provideTask(ran.append, name='record')
    claims = _countClaims(monkeypatch)
    service = newService(app, factory=remotetask.MultiProcessor,
                         maxThreads=4)
    service.startProcessing()
    jobs = _trickle(anyDb, 'record', 60)
    waitForStatus(service, jobs)
    assert sorted(ran) == list(range(60))
    assert [result for args, result in claims
            if result is CONFLICT] == []


def test_over_zeo_a_trickle_from_another_process_is_claimed_in_few_commits(
        tmp_path, monkeypatch):
    """A ZEO client hears of other clients' commits as they happen: a
    processor that holds outcomes waits out the record window when some
    came and jobs wait, and takes the jobs added meanwhile together."""
    remotetask.provideTask(lambda n: n, name='echo')
    server = ZEOServer(str(tmp_path))
    server.start()
    application = remotetask.openDatabase(server.uri)
    worker = remotetask.openDatabase(server.uri)   # as another process
    spawned = _provideSpawn(application, seenBy=worker)
    try:
        watcher = application.open()
        remotetask.getApplicationRoot(watcher, create=True)['svc'] = \
            remotetask.TaskService()
        transaction.commit()
        watched = remotetask.getApplicationRoot(watcher)['svc']
        conn = worker.open()

        def seen():
            conn.sync()   # its client hears of the commit a moment later
            try:
                return 'svc' in remotetask.getApplicationRoot(conn)
            except KeyError:
                return False

        testing.waitUntil(seen, timeout=10)
        service = remotetask.getApplicationRoot(conn)['svc']
        service.startProcessing(_LongWindow)
        warmUp = watched.add('echo', -1)
        transaction.commit()
        waitForStatus(watched, warmUp)
        claims = _countClaims(monkeypatch)
        watched.add('spawn', 10)
        transaction.commit()
        waitForStatus(watched, spawned())
        assert len(claims) <= 6, len(claims)   # without waiting: over 20
        service.stopProcessing(wait=10)
        conn.close()
        watcher.close()
    finally:
        processing.stopAll(timeout=10)
        worker.close()
        application.close()
        server.close()


def test_jobs_claimed_by_a_commit_thought_failed_are_given_back(
        app, monkeypatch):
    """The connection can break after a commit's vote: the claim went
    through, but the processor does not know it holds those jobs.  Its
    next claim gives them back, and they run once each."""
    ran = []
    remotetask.provideTask(ran.append, name='record')
    claim = Station.claim
    lost = []

    def brokenOnce(session, *args, **kw):
        result = claim(session, *args, **kw)
        if result and not lost:
            lost.extend(c.jobid for c in result)
            return CONFLICT      # what the loop is told
        return result

    monkeypatch.setattr(Station, 'claim', brokenOnce)
    capture = testing.LogCapture(level=logging.WARNING)
    try:
        service = newService(app)
        jobs = [service.add('record', n) for n in range(5)]
        transaction.commit()
        service.startProcessing()
        waitForStatus(service, jobs)
    finally:
        capture.uninstall()
    assert lost
    assert sorted(ran) == list(range(5))
    assert f'job {lost[0]}: held by worker' in str(capture)
