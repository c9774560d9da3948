"""The task service beyond its narrative in docs/service.rst."""
import logging
import pickle

import pytest
import transaction
from ZODB.POSException import ConflictError

from lovely import remotetask
from lovely.remotetask.timing.retry import RetryPolicy
from lovely.remotetask import interfaces
from lovely.remotetask.exceptions import (
    JobStateError, RemoteTaskError, UnstorableError)
from lovely.remotetask.store.jobs import CronJob, Job
from lovely.remotetask.runtime.attempt import Outcome


@pytest.fixture
def tasks():
    ran = []

    @remotetask.provideTask
    def echo(input):
        ran.append(input)
        return input

    return ran


@pytest.fixture
def stored(db, tasks):
    """A committed service in a FileStorage, on the default transaction."""
    connection = db.open()
    connection.root()['service'] = remotetask.TaskService()
    transaction.commit()
    yield connection.root()['service']
    transaction.abort()
    connection.close()


def fileSize(db):
    return db.storage.getSize()


class TestBadInputChangesNothing:

    def assertNothingWritten(self, db):
        before = db.lastTransaction()
        transaction.commit()
        assert db.lastTransaction() == before

    def test_unknown_task(self, db, stored):
        with pytest.raises(ValueError, match="no task named 'nope'"):
            stored.add('nope')
        with pytest.raises(ValueError, match="no task named 'nope'"):
            stored.addCronJob('nope', minute=(1,))
        self.assertNothingWritten(db)

    def test_unpicklable_input(self, db, stored):
        with pytest.raises(UnstorableError, match="input of task 'echo'"):
            stored.add('echo', {'gen': (i for i in ())})
        self.assertNothingWritten(db)

    @pytest.mark.parametrize('fields', [
        dict(minute=(60,)), dict(month=(0,)), dict(dayOfWeek=(7,)),
        dict(hour=(-1,)), dict(delay=-1), dict(delay=5, hour=(1,)),
    ])
    def test_bad_schedule(self, db, stored, fields):
        with pytest.raises(ValueError):
            stored.addCronJob('echo', **fields)
        self.assertNothingWritten(db)

    def test_bad_update_keeps_the_old_schedule(self, db, stored):
        jobid = stored.addCronJob('echo', minute=(5,))
        transaction.commit()
        with pytest.raises(ValueError):
            stored.jobs[jobid].update(minute=(5,), hour=(25,))
        assert stored.jobs[jobid].minute == (5,)
        assert stored.jobs[jobid].hour == ()
        self.assertNothingWritten(db)

    def test_bad_clean(self, db, stored):
        stored.process()
        with pytest.raises(ValueError, match="not 'processing'"):
            stored.clean(['completed', 'processing'])
        self.assertNothingWritten(db)

    def test_unknown_job(self, stored):
        for call in (stored.getStatus, stored.getResult, stored.getError,
                     stored.cancel, stored.startJob, stored.reschedule):
            with pytest.raises(KeyError, match='no job with id 42'):
                call(42)
        with pytest.raises(KeyError):
            stored.getStatus('not an id')


class TestStates:

    def test_cancel_each_waiting_kind(self, stored):
        ids = [stored.addCronJob('echo', delay=10),
               stored.addCronJob('echo', minute=(1,))]
        stored.process(0)   # schedules the cron and delayed jobs
        ids += [stored.add('echo', 1), stored.add('echo', 2, startLater=True)]
        for jobid in ids:
            stored.cancel(jobid)
        assert [stored.getStatus(j) for j in ids] == ['cancelled'] * 4
        assert not stored.hasJobsWaiting(10 ** 10)
        assert stored.statusCounts() == {'cancelled': 4}
        for status in ('queued', 'cronjob', 'delayed', 'start later'):
            assert stored.jobsPage(status) == ([], None)

    def test_reschedule_only_waiting_cron_jobs(self, stored):
        plain = stored.add('echo')
        with pytest.raises(JobStateError, match='not a cron job'):
            stored.reschedule(plain)
        cron = stored.addCronJob('echo', minute=(1,))
        stored.cancel(cron)
        with pytest.raises(JobStateError, match='cancelled and cannot be'):
            stored.reschedule(cron)

    def test_update_can_turn_a_cron_job_into_a_delayed_one(self, stored):
        jobid = stored.addCronJob('echo', 'x', minute=(1,))
        stored.process(0)
        stored.jobs[jobid].update(delay=5)
        stored.reschedule(jobid)
        assert stored.getStatus(jobid) == 'delayed'
        stored.process(100)
        assert not stored.hasJobsWaiting(104)
        stored.process(105)
        assert stored.getStatus(jobid) == 'completed'

    def test_process_next_by_id_only_for_queued_jobs(self, stored):
        jobid = stored.add('echo', 1, startLater=True)
        with pytest.raises(JobStateError, match='not waiting in the queue'):
            stored.processNext(jobid=jobid)
        stored.startJob(jobid)
        other = stored.add('echo', 2)
        assert stored.processNext(jobid=other)
        assert stored.getStatus(other) == 'completed'
        assert stored.getStatus(jobid) == 'queued'

    def test_a_schedule_that_never_fires_again(self, stored, caplog):
        jobid = stored.addCronJob('echo', month=(2,), dayOfMonth=(30,))
        with caplog.at_level(logging.WARNING, 'lovely.remotetask'):
            stored.process(0)
        assert f'cron job {jobid} will never run again' in caplog.text
        assert stored.getStatus(jobid) == 'cronjob'
        assert stored.jobs[jobid].scheduledFor is None
        assert not stored.hasJobsWaiting(10 ** 10)

    def test_delay_zero_runs_at_once(self, stored, tasks):
        jobid = stored.addCronJob('echo', 'now', delay=0)
        assert stored.hasJobsWaiting(50)
        stored.process(50)
        assert stored.getStatus(jobid) == 'completed'

    def test_cron_job_runs_once_per_due_time(self, stored, tasks):
        stored.addCronJob('echo', 'tick', minute=(0,))
        stored.process(0)
        for _ in range(3):
            stored.process(3600)
        stored.process(7200)
        assert tasks == ['tick', 'tick']


class TestOutcomes:

    def test_result_that_cannot_be_stored_fails_the_job(self, stored):
        remotetask.provideTask(lambda input: lambda: None, name='lambda')
        jobid = stored.add('lambda')
        stored.process()
        assert stored.getStatus(jobid) == 'error'
        assert stored.getError(jobid).startswith(
            f'the result of job {jobid} cannot be stored in the database')
        transaction.commit()   # and the transaction stays committable

    def test_failed_task_writes_are_rolled_back(self, stored):
        @remotetask.provideTask
        def scribble(input):
            stored.__parent__ = 'scribbled'  # any write to the database
            raise remotetask.TaskError('no')

        jobid = stored.add('scribble')
        stored.process()
        assert stored.__parent__ is None
        assert stored.getError(jobid) == 'no'

    def test_successful_task_writes_are_kept(self, stored):
        @remotetask.provideTask
        def scribble(input):
            stored.__name__ = 'scribbled'
            return 'ok'

        stored.add('scribble')
        stored.process()
        assert stored.__name__ == 'scribbled'

    def test_system_exit_in_a_task_fails_the_job(self, stored):
        @remotetask.provideTask(retry=False)
        def leave(input):
            raise SystemExit(3)

        jobid = stored.add('leave')
        stored.process()
        assert stored.getStatus(jobid) == 'error'
        assert stored.getError(jobid) == 'SystemExit: 3'

    def test_stale_outcome_is_refused(self, stored):
        jobid = stored.add('echo', 1)
        stored.claimNextJob()
        with pytest.raises(JobStateError, match='attempt 2 is not in hand'):
            stored.recordOutcome(Outcome(jobid, 2, output=1))
        stored.recordOutcome(Outcome(jobid, 1, output=1))
        with pytest.raises(JobStateError):
            stored.recordOutcome(Outcome(jobid, 1, output=1))

    def test_retries_keep_fifo_behind_waiting_jobs(self, stored):
        order = []

        @remotetask.provideTask(retry=RetryPolicy())     # again at once
        def once_fails(input):
            order.append(input)
            if order.count(input) == 1 and input == 'a':
                raise OSError('once')

        stored.add('once_fails', 'a')
        stored.add('once_fails', 'b')
        stored.process()
        assert order == ['a', 'b', 'a']


class TestScale:
    """Operations touch a bounded number of objects, whatever the backlog."""

    BACKLOG = 20_000

    def fill(self, service, count):
        for start in range(0, count, 5000):
            for i in range(start, min(count, start + 5000)):
                service.add('echo', i)
            transaction.commit()

    def growth(self, db, action, times=200):
        before = fileSize(db)
        for _ in range(times):
            action()
            transaction.commit()
        return (fileSize(db) - before) / times

    def test_add_claim_and_record_write_as_much_at_any_backlog(
            self, db, stored):
        def claimAndRecord():
            claim, = stored.claim('worker')
            stored.recordOutcome(Outcome(claim.jobid, claim.attempt))

        stored.registerWorker('worker', 60)
        small = self.growth(db, lambda: stored.add('echo', {'n': 1}))
        claimSmall = self.growth(db, claimAndRecord)
        self.fill(stored, self.BACKLOG)
        large = self.growth(db, lambda: stored.add('echo', {'n': 1}))
        claimLarge = self.growth(db, claimAndRecord)
        assert large < 1.1 * small
        assert claimLarge < 1.1 * claimSmall

    def loads(self, db, action):
        """How many objects `action` loads from a cold cache."""
        connection = db.open()
        try:
            service = connection.root()['service']
            connection.cacheMinimize()
            connection.getTransferCounts(clear=True)
            action(service)
            return connection.getTransferCounts()[0]
        finally:
            transaction.abort()
            connection.close()

    def test_cancel_clean_and_claim_load_as_many_objects_at_any_backlog(
            self, db, stored):
        def loads():
            last = stored.add('echo', 'last')
            done = stored.add('echo', 'done')
            transaction.commit()
            counts = [self.loads(db, lambda s: s.cancel(last)),
                      self.loads(db, lambda s: s.claimNextJob()),
                      self.loads(db, lambda s: s.hasJobsWaiting())]
            stored.cancel(last)
            stored.processNext(jobid=done)
            transaction.commit()
            counts.append(self.loads(db, lambda s: s.clean()))
            assert stored.clean() == 2
            transaction.commit()
            return counts

        # Jobs wait in chains once a drain has sorted them: both counts are
        # taken with a backlog there, of 100 jobs and of BACKLOG more.
        self.fill(stored, 100)
        small = loads()
        self.fill(stored, self.BACKLOG)
        large = loads()
        assert all(big <= few + 1 for few, big in zip(small, large)) and \
            max(large) < 20, (small, large)


class TestConcurrency:

    @pytest.fixture
    def two(self, clients, tasks):
        a, b = clients(), clients()
        a.root['service'] = remotetask.TaskService()
        for i in range(3):
            a.root['service'].add('echo', i)
        a.commit()
        b.abort()
        return a.root['service'], b.root['service'], a, b

    def test_two_claims_of_one_job_conflict(self, two):
        sa, sb, a, b = two
        first = sa.claimNextJob()
        assert sb.claimNextJob() == first
        a.commit()
        with pytest.raises(ConflictError):
            b.commit()
        b.abort()   # the loser tries again and gets the next job
        assert sb.claimNextJob() not in (None, first)
        b.commit()

    def test_adding_while_a_worker_claims_does_not_conflict(self, two):
        sa, sb, a, b = two
        for _ in range(2 * 100 + 3):
            sa.claimNextJob()
            sb.add('echo', 'more')
            a.commit()
            b.commit()
            sb.add('echo', 'more')
            sa.claimNextJob()
            b.commit()
            a.commit()

    def test_cancel_and_claim_of_one_job_conflict(self, two):
        sa, sb, a, b = two
        jobid = sa.claimNextJob()
        sb.cancel(jobid)
        a.commit()
        with pytest.raises(ConflictError):
            b.commit()


def test_state_from_a_newer_version_is_refused():
    job = Job(1, 'echo', None)
    state = job.__getstate__()
    state['_v'] = 99
    with pytest.raises(RemoteTaskError, match='newer version'):
        Job.__new__(Job).__setstate__(state)
    # Version 1, the first, is not stored at all.
    assert '_v' not in job.__getstate__()


def test_jobs_pickle_and_keep_their_class():
    cron = CronJob(7, 'echo', {'a': 1}, hour=(3,))
    copy = pickle.loads(pickle.dumps(cron))
    assert (type(copy), copy.hour, copy.status) == (CronJob, (3,), 'cronjob')


def test_job_ids_are_sequential_and_31_bit(stored):
    ids = [stored.add('echo', i) for i in range(5)]
    assert ids == list(range(ids[0], ids[0] + 5))
    assert all(0 <= i < 2 ** 31 for i in ids)


def test_the_stub_provides_the_service_interface():
    from zope.interface.verify import verifyObject

    from lovely.remotetask.testing import TaskServiceStub
    assert verifyObject(interfaces.ITaskService, TaskServiceStub())


def test_start_later_jobs_are_listed_from_an_index(stored):
    later = [stored.add('echo', n, startLater=True) for n in range(3)]
    queued = [stored.add('echo', n) for n in range(500)]
    transaction.commit()
    # The next transaction sees the jobs sorted into their chains by the
    # drain that followed the commit.
    transaction.begin()
    stored._p_jar.cacheMinimize()
    page, cursor = stored.jobsPage(interfaces.STARTLATER, limit=10)
    assert [job.id for job in page] == sorted(later)
    assert cursor is None
    # Read from the index: none of the 500 queued jobs was loaded.
    assert all(stored.jobs[j]._p_changed is None for j in queued[:50])
    stored.startJob(later[0])
    stored.cancel(later[1])
    assert [job.id for job in stored.jobsPage(interfaces.STARTLATER)[0]] \
        == [later[2]]


def test_an_entry_is_stamped_without_waiting_for_the_storage_lock(stored, db):
    """A FileStorage holds its lock while it syncs a commit to disk; a
    producer stamping its entry meanwhile reads its own snapshot instead."""
    import threading
    from lovely.remotetask.store.stamps import _lastSeen
    storage = stored._p_jar._normal_storage
    expected = db.lastTransaction()
    held, release = threading.Event(), threading.Event()

    def hold():
        with db.storage._lock:
            held.set()
            release.wait(10)
    holder = threading.Thread(target=hold)
    holder.start()
    try:
        assert held.wait(10)
        seen = []
        reader = threading.Thread(
            target=lambda: seen.append(_lastSeen(storage)), daemon=True)
        reader.start()
        reader.join(5)
        assert seen == [expected]
    finally:
        release.set()
        holder.join()
