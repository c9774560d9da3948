"""Queues, limits and deadlines (issue 28): workers claim only what they
may run now; a limit's conflict resolution refuses only claims that
together pass it; what is held waits without an attempt."""
import threading
import time

import pytest
import transaction
from ZODB.POSException import ConflictError

from lovely import remotetask
from lovely.remotetask import testing
from lovely.remotetask.store.limits import Limit
from services import newService, waitForStatus


def state(running=0, maximum=None, starts=(), rate=None):
    found = {'running': running, 'scope': ('task', 't')}
    if maximum is not None:
        found['maximum'] = maximum
    if starts:
        found['starts'] = tuple(starts)
    if rate is not None:
        found['rate'] = rate
    return found


def resolve(old, committed, new):
    return Limit(('task', 't'))._p_resolveConflict(old, committed, new)


class TestLimitMerges:

    def test_claims_within_the_limit_add_up(self):
        merged = resolve(state(1, 5), state(2, 5), state(3, 5))
        assert merged['running'] == 4

    def test_claims_that_together_pass_the_limit_conflict(self):
        with pytest.raises(ConflictError):
            resolve(state(4, 5), state(5, 5), state(5, 5))

    def test_a_claim_and_an_end_never_conflict(self):
        assert resolve(state(5, 5), state(4, 5), state(6, 5))['running'] \
            == 5

    def test_starts_that_together_pass_a_rate_conflict(self):
        rate = (2, 1.0)
        old = state(0, starts=[(10.0, 1)], rate=rate)
        one = state(1, starts=[(10.0, 1), (10.5, 2)], rate=rate)
        other = state(1, starts=[(10.0, 1), (10.6, 3)], rate=rate)
        with pytest.raises(ConflictError):
            resolve(old, one, other)
        later = state(1, starts=[(10.0, 1), (11.2, 3)], rate=rate)
        assert resolve(old, one, later)['starts'] == (
            (10.0, 1), (10.5, 2), (11.2, 3))


@pytest.fixture
def stored(db):
    """A committed service in a FileStorage, on the default transaction."""
    connection = db.open()
    connection.root()['service'] = remotetask.TaskService()
    transaction.commit()
    yield connection.root()['service']
    transaction.abort()
    connection.close()


@pytest.fixture
def app(anyDb):
    connection = anyDb.open()
    root = remotetask.getApplicationRoot(connection, create=True)
    transaction.commit()
    yield root
    transaction.abort()
    connection.close()


@pytest.fixture
def limited():
    remotetask.provideTask(lambda input: input, name='echo')
    remotetask.provideTask(lambda input: input, name='two', concurrency=2)
    remotetask.provideTask(lambda input: input, name='account',
                           concurrency=1, partitionBy='account')


def test_two_claims_that_together_pass_a_limit_conflict(clients, limited):
    a, b = clients(), clients()
    service = a.root['svc'] = remotetask.TaskService()
    for worker in ('w1', 'w2'):
        service.registerWorker(worker, 60)
    for n in range(4):
        service.add('two', n)
    free = service.add('echo', 'free')
    a.commit()
    b.abort()
    assert len(a.root['svc'].claim('w1', 2)) == 2
    assert len(b.root['svc'].claim('w2', 1)) == 1
    a.commit()
    with pytest.raises(ConflictError):
        b.commit()
    b.abort()
    # Full: the limited task waits, the free one is claimed.
    claims = b.root['svc'].claim('w2', 3)
    assert [claim.jobid for claim in claims] == [free]
    b.commit()


def test_a_partition_holds_back_only_its_own(stored, limited):
    service = stored
    service.registerWorker('w', 60)
    many = [service.add('account', {'account': 'big', 'n': n})
            for n in range(10)]
    few = [service.add('account', {'account': 'small', 'n': n})
           for n in range(2)]
    transaction.commit()
    claimed = [claim.jobid for claim in service.claim('w', 5)]
    assert claimed == [many[0], few[0]]
    assert service.getLimits() and {
        limit['scope']: limit['running'] for limit in service.getLimits()
    } == {('task', 'account', 'big'): 1, ('task', 'account', 'small'): 1}


def test_a_paused_queue_is_left_alone(stored, limited):
    service = stored
    slow = service.add('echo', 'slow', queue='slow')
    fast = service.add('echo', 'fast')
    service.pauseQueue('slow')
    transaction.commit()
    assert [c.jobid for c in service.claim(None, 5)] == [fast]
    service.resumeQueue('slow')
    assert [c.jobid for c in service.claim(None, 5)] == [slow]
    queues = {queue['name']: queue for queue in service.getQueues()}
    assert queues['slow']['paused'] is False


def test_a_worker_serves_the_queues_it_is_told_to(app, limited):
    service = newService(app, queues=['fast'], waitTime=0.05)
    slow = service.add('echo', 'slow', queue='slow')
    fast = service.add('echo', 'fast', queue='fast')
    transaction.commit()
    service.startProcessing()
    waitForStatus(service, [fast])
    assert service.getStatus(slow) == 'queued'


def test_operators_see_what_each_limit_holds(stored, limited):
    service = stored
    service.registerWorker('w', 60)
    for account, n in (('big', 4), ('small', 2)):
        for index in range(n):
            service.add('account', {'account': account, 'n': index})
    for index in range(3):
        service.add('echo', index, queue='slow')
    service.pauseQueue('slow')
    transaction.commit()
    assert len(service.claim('w', 10)) == 2      # one per account
    limits = {limit['scope']: limit for limit in service.getLimits()}
    assert {scope: (limit['running'], limit['held'], limit['maximum'])
            for scope, limit in limits.items()} == {
        ('task', 'account', 'big'): (1, 3, 1),
        ('task', 'account', 'small'): (1, 1, 1)}
    queues = {queue['name']: queue for queue in service.getQueues()}
    assert (queues['default']['running'], queues['default']['queued'],
            queues['default']['held']) == (2, 4, 4)
    assert (queues['slow']['paused'], queues['slow']['queued'],
            queues['slow']['held']) == (True, 3, 3)


def test_jobs_no_running_worker_takes_are_shown(stored, limited):
    service = stored
    service.add('echo', 1)
    service.add('two', 2)
    service.add('echo', 3, queue='video')
    assert service.getStranded() == []           # no worker runs yet
    service.registerWorker('w1', 60, serves=(('default',), ('echo',)))
    service.registerWorker('w2', 60, serves=(('video',), None))
    assert service.getStranded() == [
        dict(queue='default', task='two', queued=1)]
    service.heartbeat('w2', 60, serves=(None, None))
    assert service.getStranded() == []


def test_a_worker_says_what_it_serves(app, limited):
    service = newService(app, queues={'fast': 2}, waitTime=0.05)
    service.startProcessing()
    connection = service._p_jar

    def recorded():
        connection.sync()
        return service.getWorkers()
    remotetask.testing.waitUntil(lambda: recorded(), timeout=30)
    [worker] = recorded()
    assert worker['queues'] == ('fast',)
    assert {'echo', 'two', 'account'} <= set(worker['tasks'])


def test_a_job_not_started_by_its_deadline_is_cancelled(stored, limited):
    service = stored
    now = time.time()
    late = service.add('echo', 'late', deadline=now - 1)
    queuedLate = service.add('echo', 'q', at=now + 3600, deadline=now + 60)
    fine = service.add('echo', 'fine', deadline=now + 3600)
    service.process()
    assert service.getStatus(late) == 'cancelled'
    assert service.getError(late).startswith('not started by its deadline')
    assert service.getStatus(fine) == 'completed'
    assert service.getStatus(queuedLate) == 'delayed'
    service.promote(now + 120)     # its deadline passes before its time
    assert service.getStatus(queuedLate) == 'cancelled'


def test_a_job_runs_at_the_time_it_is_given(stored, limited):
    service = stored
    jobid = service.add('echo', 'later', at=1_000_000)
    assert service.getStatus(jobid) == 'delayed'
    service.process(999_999)
    assert service.getStatus(jobid) == 'delayed'
    service.process(1_000_000)
    assert service.getStatus(jobid) == 'completed'


def test_a_global_limit_holds_over_many_threads(app, anyDb):
    """A limit of 2 over a processor of 4 threads: never more than 2 run."""
    running, most, lock = [0], [0], threading.Lock()
    gate = threading.Event()

    def slow(input):
        with lock:
            running[0] += 1
            most[0] = max(most[0], running[0])
        gate.wait(0.05)
        with lock:
            running[0] -= 1

    remotetask.provideTask(slow, name='slow', concurrency=2)
    remotetask.provideTask(lambda input: input, name='echo')
    service = newService(app, factory=remotetask.MultiProcessor,
                         maxThreads=4, waitTime=0.05)
    jobs = [service.add('slow', n) for n in range(12)]
    free = [service.add('echo', n) for n in range(4)]
    transaction.commit()
    service.startProcessing()
    waitForStatus(service, jobs + free)
    assert most[0] == 2
    # Counted out as they ended: an idle limit is not listed.
    assert [limit.running for limit in service._store.limits.values()] \
        == [0]
    assert service.getLimits() == []


def test_a_local_limit_holds_within_each_processor(app):
    """localConcurrency=1 over a processor of 3 threads: one at a time
    here, while the other task's jobs use the other threads."""
    running, most, lock = [0], [0], threading.Lock()

    def gpu(input):
        with lock:
            running[0] += 1
            most[0] = max(most[0], running[0])
        time.sleep(0.02)      # the work itself, not synchronisation
        with lock:
            running[0] -= 1

    remotetask.provideTask(gpu, name='gpu', localConcurrency=1)
    remotetask.provideTask(lambda input: input, name='echo')
    service = newService(app, factory=remotetask.MultiProcessor,
                         maxThreads=3, waitTime=0.05)
    jobs = [service.add('gpu', n) for n in range(6)] + [
        service.add('echo', n) for n in range(6)]
    transaction.commit()
    service.startProcessing()
    waitForStatus(service, jobs)
    assert most[0] == 1


def test_a_rate_is_never_passed_in_any_window(app):
    """The rate counts claims: no window of 0.5 s holds more than 5 starts
    (the times the store stamped when it handed each job out)."""
    remotetask.provideTask(lambda input: input, name='rated', rate=(5, 0.5))
    service = newService(app, waitTime=0.05)
    jobs = [service.add('rated', n) for n in range(15)]
    transaction.commit()
    service.startProcessing()
    waitForStatus(service, jobs)
    starts = sorted(service.jobs[j].started for j in jobs)
    for index, start in enumerate(starts):
        within = [s for s in starts[index:] if s < start + 0.5]
        assert len(within) <= 5
    # Held jobs waited, without an attempt more.
    assert all(service.jobs[j].attempts == 1 for j in jobs)
    assert starts[-1] - starts[0] >= 1.0       # 15 at 5 per 0.5 s


def test_limits_are_checked(limited):
    for options, message in [
            (dict(concurrency=0), 'concurrency must be an int of at least'),
            (dict(rate=(5,)), 'a rate is'),
            (dict(rate=(5, -1)), 'the seconds of a rate'),
            (dict(partitionBy=''), 'partitionBy must be'),
            (dict(partitionBy='account'), 'partitionBy splits'),
            (dict(queue='no spaces'), 'a queue is named'),
            (dict(localConcurrency=-1), 'localConcurrency must be')]:
        with pytest.raises(remotetask.InvalidArgumentError, match=message):
            remotetask.provideTask(lambda input: input, name='bad',
                                   **options)
    testing.setUp()
