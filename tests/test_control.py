"""Job control: retries, priorities, time limits and stopping, expiry,
progress, events, unique keys, metrics."""
import collections
import random
import threading
import time

import pytest
import transaction
import zope.component
from ZODB.POSException import ConflictError

from lovely import remotetask
from lovely.remotetask import events
from lovely.remotetask.runtime import context
from lovely.remotetask.exceptions import InvalidArgumentError, JobStateError
from lovely.remotetask.timing.retry import RetryPolicy, RetryTask
from lovely.remotetask.task import ProcessTask, SimpleTask
from services import newService, waitForStatus


@pytest.fixture
def service():
    return remotetask.TaskService()


def failing(exception):
    def task(input):
        raise exception
    return task


class TestRetries:

    def test_backoff_with_an_injected_clock(self, service):
        policy = RetryPolicy(maxAttempts=4, delay=10, factor=2, jitter=0)
        remotetask.provideTask(failing(OSError('down')), name='flaky',
                               retry=policy)
        jobid = service.add('flaky')
        seen = []
        for now in (0, 9, 10, 29, 30, 69, 70):
            service.process(now)
            job = service.jobs[jobid]
            seen.append((now, job.status, job.attempts, job.scheduledFor))
        assert seen == [
            (0, 'retry', 1, 10), (9, 'retry', 1, 10),
            (10, 'retry', 2, 30), (29, 'retry', 2, 30),
            (30, 'retry', 3, 70), (69, 'retry', 3, 70),
            (70, 'error', 4, None)]
        assert service.getError(jobid) == 'OSError: down'

    def test_jitter_and_cap(self):
        policy = RetryPolicy(delay=10, factor=3, maxDelay=50, jitter=0.5)
        assert policy.wait(1, rand=0.5) == 10
        assert policy.wait(2, rand=0.0) == 15
        assert policy.wait(5, rand=1.0) == 75      # capped at 50, +50 %

    def test_a_task_asks_for_a_retry(self, service):
        def later(input):
            raise RetryTask('rate limited', delay=5)
        remotetask.provideTask(later)
        jobid = service.add('later')
        service.process(100)
        assert (service.getStatus(jobid),
                service.jobs[jobid].scheduledFor) == ('retry', 105)
        assert service.getError(jobid) == 'rate limited'

    def test_only_the_listed_exceptions_are_retried(self, service):
        policy = RetryPolicy(retryOn=(OSError,), delay=1)
        remotetask.provideTask(failing(KeyError('x')), name='bad',
                               retry=policy)
        remotetask.provideTask(failing(remotetask.TaskError('no')),
                               name='refused', retry=policy)
        bad, refused = service.add('bad'), service.add('refused')
        service.process(0)
        assert [service.getStatus(j) for j in (bad, refused)] == \
            ['error', 'error']

    def test_the_default_waits_longer_after_each_failure(self, service):
        remotetask.provideTask(failing(OSError('x')), name='flaky')
        jobid = service.add('flaky')
        job = service.jobs[jobid]
        service.process(0)
        assert (job.status, job.attempts) == ('retry', 1)
        assert 1.6 <= job.scheduledFor <= 2.4       # 2 s, give or take 20 %
        service.process(1.5)
        assert job.attempts == 1
        service.process(2.5)
        assert (job.status, job.attempts) == ('retry', 2)
        assert 2.5 + 6.4 <= job.scheduledFor <= 2.5 + 9.6     # 8 s
        service.process(20)
        assert (job.status, job.attempts) == ('error', 3)

    def test_a_task_can_say_it_must_not_be_retried(self, service):
        remotetask.provideTask(failing(OSError('x')), name='charge',
                               retry=False)
        jobid = service.add('charge')
        service.process(0)
        assert (service.getStatus(jobid), service.jobs[jobid].attempts) == \
            ('error', 1)

    def test_a_waiting_retry_can_be_cancelled(self, service):
        remotetask.provideTask(failing(OSError('x')), name='flaky',
                               retry=RetryPolicy(delay=60))
        jobid = service.add('flaky')
        service.process(0)
        service.cancel(jobid)
        service.process(1000)
        assert service.getStatus(jobid) == 'cancelled'

    @pytest.mark.parametrize('options, message', [
        (dict(delay=0), 'delay must be a positive number of seconds, or '
         'None to retry at once, not 0'),
        (dict(delay=-5), 'delay must be a positive number of seconds'),
        (dict(maxDelay=float('inf')),
         'maxDelay must be a positive number of seconds, not inf'),
        (dict(maxAttempts=0), 'maxAttempts must be an int of at least 1, '
         'not 0'),
        (dict(factor=0.5), 'factor must be a number of at least 1, not 0.5'),
        (dict(jitter=2), 'jitter must be a fraction from 0 up to 1, not 2'),
        (dict(retryOn=(OSError, 'timeout')),
         'retryOn must be a tuple of exception classes'),
        (dict(retryOn=OSError), 'retryOn must be a tuple of exception'),
    ])
    def test_bad_policies(self, options, message):
        with pytest.raises(ValueError, match=message):
            RetryPolicy(**options)


class TestPriorities:

    def test_order_under_a_mixed_backlog(self, service):
        remotetask.provideTask(lambda input: input, name='echo')
        rnd = random.Random(7)
        added = []
        for n in range(10_000):
            priority = rnd.choice((-5, 0, 0, 5, 10))
            added.append((priority, n, service.add('echo', n,
                                                   priority=priority)))
        expected = [jobid for _, _, jobid in
                    sorted(added, key=lambda row: (-row[0], row[1]))]
        assert service.claimNextJobs(10_000) == expected

    @pytest.mark.parametrize('priority', [101, -101, 'high', True, 1.5])
    def test_bad_priorities(self, service, priority):
        remotetask.provideTask(lambda input: input, name='echo')
        with pytest.raises(ValueError, match='priority must be an int '
                                             'from -100 to 100'):
            service.add('echo', priority=priority)
        assert len(service.jobs) == 0


@pytest.fixture
def app(db):
    connection = db.open()
    root = remotetask.getApplicationRoot(connection, create=True)
    transaction.commit()
    yield root
    transaction.abort()
    connection.close()


class TestStopping:

    def test_a_task_past_its_limit_that_goes_on_is_freed(self, app):
        release = threading.Event()
        zope.component.provideUtility(SimpleTask(
            lambda input: release.wait(30), timeLimit=0.5), name='stuck')
        remotetask.provideTask(lambda input: 'next', name='echo')
        service = newService(app)
        stuck, after = service.add('stuck'), service.add('echo')
        transaction.commit()
        service.startProcessing()
        try:
            waitForStatus(service, after, 'completed')
            job = service.jobs[stuck]
            assert job.status == 'error'
            assert job.error.startswith('timed out after 0.5 s')
            assert job.completed - job.started < 0.5 + 1
        finally:
            release.set()

    def test_a_task_that_checks_stops_at_its_limit(self, app):
        def patient(input):
            while True:
                context.checkpoint()
                time.sleep(0.01)
        zope.component.provideUtility(
            SimpleTask(patient, timeLimit=0.3), name='patient')
        service = newService(app)
        jobid = service.add('patient')
        transaction.commit()
        service.startProcessing()
        waitForStatus(service, jobid, 'error')
        assert service.getError(jobid) == 'timed out after 0.3 s'

    def test_cancelling_a_running_job_asks_it_to_stop(self, app):
        started = threading.Event()

        def polite(input):
            started.set()
            while not context.stopRequested():
                time.sleep(0.01)
            context.checkpoint()
        remotetask.provideTask(polite)
        service = newService(app)
        jobid = service.add('polite')
        transaction.commit()
        service.startProcessing()
        assert started.wait(10)
        service._p_jar.sync()
        service.cancel(jobid)
        transaction.commit()
        waitForStatus(service, jobid, 'cancelled')

    def test_a_process_task_is_killed_at_its_limit(self, app):
        from workerapp.slow import sleepFor
        zope.component.provideUtility(
            ProcessTask(sleepFor, timeLimit=1), name='sleep')
        zope.component.provideUtility(ProcessTask(sleepFor), name='nap')
        service = newService(app)
        slow, quick = service.add('sleep', 60), service.add('nap', 0)
        transaction.commit()
        service.startProcessing()
        waitForStatus(service, quick, 'completed', timeout=60)
        job = service.jobs[slow]
        assert (job.status, job.error) == ('error', 'timed out after 1 s')
        assert job.completed - job.started < 1 + 1
        assert service.getResult(quick) == 0

    def test_bad_time_limits(self):
        for limit in (0, -1, 'soon', float('inf')):
            with pytest.raises(ValueError, match='timeLimit must be'):
                SimpleTask(print, timeLimit=limit)


@pytest.mark.parametrize('args, options, message', [
    ((42,), {}, 'a task is a function of the input, not 42'),
    ((print,), dict(name=''), "a task name is a non-empty string"),
    ((print,), dict(name=5), "a task name is a non-empty string"),
    ((print,), dict(retry='twice'),
     "retry must be a RetryPolicy, False or None, not 'twice'"),
])
def test_bad_tasks_are_refused_and_nothing_is_registered(
        args, options, message):
    with pytest.raises(InvalidArgumentError, match=message):
        remotetask.provideTask(*args, **options)
    assert remotetask.TaskService().getAvailableTasks() == {}


def test_expiry_removes_exactly_the_old_finished_jobs(service):
    remotetask.provideTask(lambda input: input, name='echo')
    ids = [service.add('echo', n) for n in range(6)]
    waiting = service.add('echo', 'stays', startLater=True)
    service.process()
    for age, jobid in zip((50, 40, 30, 20, 10, 0), ids):
        service.jobs[jobid].completed = 1000 - age
    service.keepFinished = 25
    assert service.expire(now=1000, limit=2) == 2
    assert service.expire(now=1000) == 1
    assert sorted(service.jobs) == sorted(ids[3:] + [waiting])
    assert service.expire(now=1000) == 0


def test_progress_shows_while_the_task_runs(app):
    reported, release = threading.Event(), threading.Event()

    def slow(input):
        context.reportProgress(0.5, 'halfway')
        reported.set()
        release.wait(10)
        return 'done'
    remotetask.provideTask(slow)
    service = newService(app)
    jobid = service.add('slow')
    transaction.commit()
    service.startProcessing()
    try:
        assert reported.wait(10)
        service._p_jar.sync()
        assert service.getStatus(jobid) == 'processing'
        progress = service.getProgress(jobid)
        assert (progress['fraction'], progress['message']) == (0.5, 'halfway')
    finally:
        release.set()
    waitForStatus(service, jobid, 'completed')
    assert service.jobs[jobid].attempts == 1   # the report did not conflict


def test_bad_progress(service):
    remotetask.provideTask(lambda input: input, name='echo')
    jobid = service.add('echo')
    for fraction in (-0.1, 1.5, 'half'):
        with pytest.raises(ValueError, match='progress must be a fraction'):
            service.setProgress(jobid, fraction)
    with pytest.raises(remotetask.RemoteTaskError, match='outside a job'):
        context.reportProgress(0.5)
    assert service.getProgress(jobid) is None


@pytest.mark.parametrize('step', ['process', 'promote', 'expire'])
@pytest.mark.parametrize('now', ['x', float('nan'), float('inf'), True])
def test_a_time_to_act_at_that_is_no_time(service, step, now):
    remotetask.provideTask(lambda input: input, name='echo')
    jobid = service.add('echo')
    with pytest.raises(InvalidArgumentError,
                       match=f'now must be a time in epoch seconds, '
                       f'not {now!r}'):
        getattr(service, step)(now)
    assert service.getStatus(jobid) == 'queued'


def test_events_in_order_for_a_whole_life(db):
    received = []
    zope.component.provideHandler(
        lambda event: received.append((type(event).__name__, event.jobid)),
        [events.IJobEvent])
    tries = []

    def once(input):
        tries.append(1)
        if len(tries) == 1:
            raise OSError('again')
    remotetask.provideTask(once, retry=RetryPolicy())     # again at once
    connection = db.open()
    service = connection.root()['svc'] = remotetask.TaskService()
    jobid = service.add('once')
    assert received == []            # nothing before the commit
    transaction.commit()
    assert received == [('JobAdded', jobid)]
    service.cancel(jobid)
    transaction.abort()              # an aborted change sends nothing
    assert received == [('JobAdded', jobid)]
    service.process()
    transaction.commit()
    cancelled = service.add('once')
    service.cancel(cancelled)
    transaction.commit()
    assert received == [
        ('JobAdded', jobid), ('JobStarted', jobid), ('JobRetried', jobid),
        ('JobStarted', jobid), ('JobCompleted', jobid),
        ('JobAdded', cancelled), ('JobCancelled', cancelled)]
    connection.close()


class TestUniqueKeys:

    def test_one_job_per_key_while_it_waits_or_runs(self, service):
        remotetask.provideTask(lambda input: input, name='echo')
        first = service.add('echo', 1, key='report-42')
        assert service.add('echo', 2, key='report-42') == first
        # A call that could not add its job is refused all the same.
        with pytest.raises(InvalidArgumentError, match='priority must be'):
            service.add('echo', 2, key='report-42', priority=500)
        with pytest.raises(remotetask.UnknownTaskError):
            service.add('nosuch', 2, key='report-42')
        service.claimNextJob()
        assert service.add('echo', 3, key='report-42') == first
        service.processNext(jobid=first)
        again = service.add('echo', 4, key='report-42')
        assert again != first
        assert len(service.jobs) == 2

    def test_two_clients_adding_one_key_at_once_make_one_job(self, clients):
        remotetask.provideTask(lambda input: input, name='echo')
        a, b = clients(), clients()
        a.root['svc'] = remotetask.TaskService()
        a.commit()
        b.abort()
        ida = a.root['svc'].add('echo', 'a', key='k')
        idb = b.root['svc'].add('echo', 'b', key='k')
        a.commit()
        with pytest.raises(ConflictError):
            b.commit()
        b.abort()
        assert b.root['svc'].add('echo', 'b', key='k') == ida != idb
        b.commit()
        a.abort()
        assert len(a.root['svc'].jobs) == 1

    def test_two_keys_of_one_leaf_added_at_once_both_commit(self, clients):
        """Keys are spread over small registries; the first two keys of
        one of them, added at once, merge (the registry was not made by
        either add)."""
        remotetask.provideTask(lambda input: input, name='echo')
        first, second = _sameLeaf()
        a, b = clients(), clients()
        a.root['svc'] = remotetask.TaskService()
        a.commit()
        b.abort()
        ida = a.root['svc'].add('echo', 'a', key=first)
        idb = b.root['svc'].add('echo', 'b', key=second)
        a.commit()
        b.commit()
        a.abort()
        service = a.root['svc']
        assert (service.add('echo', 'a', key=first),
                service.add('echo', 'b', key=second)) == (ida, idb)


def _sameLeaf():
    """Two keys that KeyIndex files in the same registry."""
    from lovely.remotetask.store.registry import KeyIndex
    index, seen = KeyIndex(), {}
    for n in range(100000):
        key = f'k{n}'
        leaf = id(index._leaf(key, create=True))
        if leaf in seen:
            return seen[leaf], key
        seen[leaf] = key


def test_metrics_parse_with_prometheus_clients_own_parser(db):
    from prometheus_client.parser import text_string_to_metric_families

    from lovely.remotetask import metrics
    remotetask.provideTask(lambda input: input, name='echo')
    connection = db.open()
    root = remotetask.getApplicationRoot(connection, create=True)
    root['site1'] = remotetask.Folder()
    service = root['site1']['mail'] = remotetask.TaskService()
    service.add('echo', 1)
    service.add('echo', 2, startLater=True)
    service.process()
    service.add('echo', 3)
    transaction.commit()
    metrics.observeRun('echo', 0.01)
    body = []
    app = metrics.wsgiApp(db)
    chunks = app({'REQUEST_METHOD': 'GET', 'PATH_INFO': '/',
                  'QUERY_STRING': '', 'wsgi.input': None},
                 lambda status, headers: body.append(status))
    text = b''.join(chunks).decode()
    assert body == ['200 OK']
    families = {f.name: f for f in text_string_to_metric_families(text)}
    samples = {(s.name, tuple(sorted(s.labels.items()))): s.value
               for f in families.values() for s in f.samples}
    assert samples[('remotetask_jobs', (('service', 'site1.mail'),
                                        ('status', 'completed')))] == 1
    # Every status is a series, a job of it or not.
    assert samples[('remotetask_jobs', (('service', 'site1.mail'),
                                        ('status', 'waiting')))] == 0
    assert samples[('remotetask_queue_jobs', (
        ('queue', 'default'), ('service', 'site1.mail'),
        ('state', 'queued')))] == 1
    assert samples[('remotetask_queue_paused', (
        ('queue', 'default'), ('service', 'site1.mail')))] == 0
    assert samples[('remotetask_queue_depth',
                    (('service', 'site1.mail'),))] == 1
    assert samples[('remotetask_oldest_waiting_seconds',
                    (('service', 'site1.mail'),))] >= 0
    assert ('remotetask_task_run_seconds_count', (('task', 'echo'),)) \
        in samples
    # The jobs finished by task, once a drain counted them: none yet.
    finished = ('remotetask_finished_last_day', (
        ('service', 'site1.mail'), ('status', 'completed'), ('task', 'echo')))
    assert samples[finished] == 0
    service.drain()
    transaction.commit()
    text = b''.join(app({'REQUEST_METHOD': 'GET', 'PATH_INFO': '/',
                         'QUERY_STRING': '', 'wsgi.input': None},
                        lambda status, headers: None)).decode()
    samples = {(s.name, tuple(sorted(s.labels.items()))): s.value
               for f in text_string_to_metric_families(text)
               for s in f.samples}
    assert samples[finished] == 1
    assert samples[finished[:1] + ((finished[1][0], ('status', 'error'),
                                    finished[1][2]),)] == 0
    connection.close()


def test_metrics_of_queues_and_limits(db):
    from prometheus_client.parser import text_string_to_metric_families

    from lovely.remotetask import metrics
    remotetask.provideTask(lambda input: input, name='slow', concurrency=1)
    connection = db.open()
    root = remotetask.getApplicationRoot(connection, create=True)
    service = root['svc'] = remotetask.TaskService()
    first = service.add('slow', 1, queue='video')
    service.add('slow', 2, queue='video')
    service.registerWorker('w', 60)
    assert [claim.jobid for claim in service.claim('w', 5)] == [first]
    service.pauseQueue('video')
    service.setQueueLimit('video', 3)
    transaction.commit()
    body = []
    chunks = metrics.wsgiApp(db)(
        {'REQUEST_METHOD': 'GET', 'PATH_INFO': '/', 'QUERY_STRING': '',
         'wsgi.input': None}, lambda status, headers: body.append(status))
    samples = {(s.name, tuple(sorted(s.labels.items()))): s.value
               for f in text_string_to_metric_families(
                   b''.join(chunks).decode()) for s in f.samples}
    video = (('queue', 'video'), ('service', 'svc'))
    assert [samples[('remotetask_queue_jobs', video + (('state', state),))]
            for state in ('queued', 'running', 'held')] == [1, 1, 1]
    assert samples[('remotetask_queue_paused', video)] == 1
    assert samples[('remotetask_queue_limit', video)] == 3
    assert ('remotetask_queue_limit', (('queue', 'default'),
                                       ('service', 'svc'))) not in samples
    assert samples[('remotetask_limit_jobs', (
        ('scope', 'task:slow'), ('service', 'svc'),
        ('state', 'running')))] == 1
    connection.close()


def test_clean_in_batches(service):
    remotetask.provideTask(lambda input: input, name='echo')
    for n in range(5):
        service.add('echo', n)
    service.process()
    assert [service.clean(limit=2) for _ in range(4)] == [2, 2, 1, 0]


def test_a_job_cancelled_while_held_in_a_batch_never_runs(app):
    ran = []
    remotetask.provideTask(ran.append, name='record')
    service = newService(app)
    jobid = service.add('record', 'x')
    transaction.commit()
    # A worker claimed it with others; it waits its turn.
    service.registerWorker('w', 60)
    assert service.claimNextJob(worker='w') == jobid
    claim = service.claimed(jobid)
    service.cancel(jobid)
    transaction.commit()
    from lovely.remotetask.runtime.steps import Station
    with Station(service._p_jar.db(), service._p_oid, 'w') as session:
        outcome = session.run(claim)
        session.record([outcome])
    service._p_jar.sync()
    assert (service.getStatus(jobid), ran) == ('cancelled', [])


def test_failed_jobs_are_retried_by_hand_one_by_one_or_all(service):
    remotetask.provideTask(failing(OSError('down')), name='flaky',
                           retry=RetryPolicy(maxAttempts=1))
    remotetask.provideTask(lambda input: input, name='echo')
    failed = [service.add('flaky', n) for n in range(5)]
    fine = service.add('echo', 'x')
    service.process()
    assert service.statusCounts() == {'error': 5, 'completed': 1}
    service.retry(failed[0])
    assert service.getStatus(failed[0]) == 'queued'
    with pytest.raises(JobStateError, match='only failed and cancelled'):
        service.retry(fine)
    for limit in (0, -1, 2.5, True):
        with pytest.raises(InvalidArgumentError,
                           match=f'limit must be an int of at least 1, '
                           f'not {limit!r}'):
            service.retryAll(limit=limit)
    assert service.getStatus(failed[1]) == 'error'   # nothing changed
    assert service.retryAll(limit=3) == 3
    assert service.retryAll(task='echo') == 0
    assert service.retryAll() == 1
    assert service.statusCounts() == {'queued': 5, 'completed': 1}
    # A retried job has its retry policy's attempts anew.
    service.process()
    job = service.jobs[failed[0]]
    assert (job.status, job.attempts, len(job.history)) == ('error', 2, 2)
    assert job.history[-1]['error'] == 'OSError: down'
    assert 'Traceback' in job.history[-1]['traceback']


def test_a_first_attempt_that_succeeded_is_told_by_the_job_itself(service):
    """Most jobs succeed at once: their history is not stored apart, yet
    reads as every other job's; a cron job keeps each run."""
    remotetask.provideTask(lambda input: input, name='echo')
    jobid = service.add('echo', 'x')
    cronid = service.addCronJob('echo', minute=(0,))
    service.promote(0)
    service.process(3600)
    service.promote(7200)
    service.process(7200)
    job = service.jobs[jobid]
    assert '_attempts' not in job.__getstate__()
    assert job.history == (dict(
        attempt=1, worker=job.worker, started=job.started,
        ended=job.completed, error=None, traceback=None),)
    cron = service.jobs[cronid]
    assert [(run['attempt'], run['error']) for run in cron.history] == [
        (1, None), (1, None)]


def test_finished_jobs_are_counted_by_minute(service):
    remotetask.provideTask(lambda input: input, name='echo')
    jobid = service.add('echo', 1)
    service.process()
    now = time.time()
    minutes = service.activity(now, minutes=3)
    assert [start for start, _ in minutes] == [
        (int(now // 60) - n) * 60 for n in (2, 1, 0)]
    # In the minute the job finished (`now` may be in the next one).
    finished = int(service.jobs[jobid].completed // 60) * 60
    assert {start: counts for start, counts in minutes if counts} == {
        finished: {'completed': 1}}
    # The lanes count an hour: no more is asked for (10**9 minutes would
    # make a list of as many).
    for wrong in (0, 61, 10 ** 9, 2.5, True):
        with pytest.raises(InvalidArgumentError,
                           match=f'minutes must be an int from 1 to 60, '
                           f'not {wrong!r}'):
            service.activity(now, minutes=wrong)


def test_runs_of_cron_jobs_are_counted_by_minute(service):
    """A cron job goes back to its schedule after each run, and is never
    finished; its runs count as finished jobs all the same."""
    remotetask.provideTask(lambda input: input, name='echo')
    remotetask.provideTask(failing(OSError('down')), name='flaky')
    for task in ('echo', 'flaky'):
        jobid = service.addCronJob(task, minute=(0,))
        service.promote(0)                       # scheduled for 00:00
    service.process(3600)                        # 01:00: both ran
    assert service.getStatus(jobid) == 'cronjob'
    # The two runs may end on either side of a minute's end.
    total = collections.Counter()
    for _, counts in service.activity(time.time(), minutes=2):
        total.update(counts)
    assert total == {'completed': 1, 'error': 1}


def test_a_paused_service_gives_no_job_to_claim(service):
    remotetask.provideTask(lambda input: input, name='echo')
    jobid = service.add('echo', 1)
    service.pause()
    assert service.isPaused() and service.claimNextJob() is None
    service.resume()
    assert service.claimNextJob() == jobid


def test_the_lease_keeper_expires_as_many_batches_as_are_due(
        db, monkeypatch):
    """Finished jobs expire in batches, one transaction each, as long as
    batches come full: a busy service does not pile them up."""
    from lovely.remotetask.runtime import leasekeeper
    from lovely.remotetask.runtime.steps import Station
    remotetask.provideTask(lambda input: input, name='echo')
    connection = db.open()
    service = connection.root()['svc'] = remotetask.TaskService()
    for n in range(25):
        service.add('echo', n)
    service.process()
    service.keepFinished = 0
    transaction.commit()

    class Processor:
        leaseTime, workerId, serviceOid = 60.0, 'w', service._p_oid

    keeper = leasekeeper.LeaseKeeper.__new__(leasekeeper.LeaseKeeper)
    keeper.processor, keeper.stopping = Processor(), threading.Event()
    monkeypatch.setattr(leasekeeper, 'EXPIRE_PART', 10)
    with Station(db, service._p_oid, 'w') as session:
        keeper.expire(session, budget=60)
    connection.sync()
    assert len(service.jobs) == 0
    connection.close()
