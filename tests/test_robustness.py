"""Tasks that misbehave never stop or stall the service: exceptions of any
kind, results too large to store, tasks that ignore their time limits,
workers taken for dead, a database out of reach longer than a lease."""
import asyncio
import logging
import os
import threading
import time

import pytest
import transaction

from lovely import remotetask
from lovely.remotetask import testing
from lovely.remotetask.exceptions import (
    InvalidArgumentError, UnstorableError)
from lovely.remotetask.runtime.leasekeeper import LeaseKeeper
from lovely.remotetask.runtime import processing
from lovely.remotetask.runtime.steps import Station
from lovely.remotetask.store.workers import newWorkerId
from services import newService, waitForStatus


class Custom(BaseException):
    pass


@pytest.fixture
def app(db):
    connection = db.open()
    root = remotetask.getApplicationRoot(connection, create=True)
    transaction.commit()
    yield root
    transaction.abort()
    connection.close()


@pytest.fixture
def stored(db):
    connection = db.open()
    service = connection.root()['service'] = remotetask.TaskService()
    transaction.commit()
    yield service
    transaction.abort()
    connection.close()


@pytest.mark.parametrize('error', [
    asyncio.CancelledError('cancelled'), KeyboardInterrupt('pressed'),
    GeneratorExit('gone'), Custom('custom'), SystemExit(3)])
def test_any_exception_of_a_task_fails_its_job_and_processing_goes_on(
        app, error, caplog):
    def task(input):
        raise error
    remotetask.provideTask(task, name='bad')
    remotetask.provideTask(lambda input: input, name='echo')
    service = newService(app)
    bad = service.add('bad')
    good = service.add('echo', 'after')
    transaction.commit()
    service.startProcessing()
    waitForStatus(service, [good])
    # SystemExit is retried, as the default retry policy says; the others
    # fail at once.
    waitForStatus(service, [bad], status='error')
    assert service.getError(bad).startswith(type(error).__name__)
    assert service.isProcessing()
    assert 'Traceback' in service.jobs[bad].history[-1]['traceback']


def test_ctrl_c_in_the_main_thread_still_ends_the_process(stored):
    def interrupted(input):
        raise KeyboardInterrupt
    remotetask.provideTask(interrupted, name='interrupted')
    stored.add('interrupted')
    with pytest.raises(KeyboardInterrupt):
        stored.process()


def test_a_processor_loop_that_dies_starts_again(app, monkeypatch, caplog):
    remotetask.provideTask(lambda input: input, name='echo')
    claim, died = Station.claim, []

    def dying(session, *args, **kw):
        if not died:
            died.append(1)
            raise Custom('the loop itself fails')
        return claim(session, *args, **kw)

    monkeypatch.setattr(Station, 'claim', dying)
    service = newService(app)
    jobid = service.add('echo', 1)
    transaction.commit()
    with caplog.at_level(logging.CRITICAL, 'lovely.remotetask'):
        service.startProcessing()
        waitForStatus(service, [jobid])
    assert 'loop 0 died; it starts again' in caplog.text


def test_jobs_a_dying_loop_could_not_give_back_are_not_held_for_ever(
        app, monkeypatch, caplog):
    """A loop dies with an outcome to record while the database is out of
    reach (issue 24's chaos run over RelStorage): the job stays processing
    under this live worker, and must not stay in its hand, or no claim
    gives it back and no lease expires."""
    ran = []
    remotetask.provideTask(lambda input: ran.append(input), name='echo')
    claim, release, failed = Station.claim, Station.release, []

    def dying(session, limit=1, outcomes=(), *args, **kw):
        if outcomes and not failed:
            failed.append('claim')
            raise Custom('the loop itself fails')
        return claim(session, limit, outcomes, *args, **kw)

    def unreachable(session, claims, outcomes=()):
        if len(failed) == 1:
            failed.append('release')
            raise Custom('the database is out of reach')
        return release(session, claims, outcomes)

    monkeypatch.setattr(Station, 'claim', dying)
    monkeypatch.setattr(Station, 'release', unreachable)
    service = newService(app)
    jobid = service.add('echo', 1)
    transaction.commit()
    with caplog.at_level(logging.CRITICAL, 'lovely.remotetask'):
        service.startProcessing()
        waitForStatus(service, [jobid])
    assert failed == ['claim', 'release']
    assert ran == [1, 1]     # the outcome of the first run was lost


def test_results_inputs_and_errors_too_large_are_not_stored(db):
    connection = db.open()
    service = connection.root()['svc'] = remotetask.TaskService()
    service.maxStoredSize = 10_000
    remotetask.provideTask(lambda input: 'x' * 50_000, name='big')
    remotetask.provideTask(lambda input: 1 / 0 if input else
                           exec("raise ValueError('y' * 1000000)"),
                           name='loud', retry=False)
    transaction.commit()
    with pytest.raises(UnstorableError, match='larger than the limit of '
                       '10,000 bytes'):
        service.add('big', 'x' * 50_000)
    big = service.add('big')
    loud = service.add('loud', 0)
    transaction.commit()
    before = os.path.getsize(db.storage.getName())
    service.process()
    transaction.commit()
    assert service.getStatus(big) == 'error'
    assert service.getError(big) == (
        f'the result of job {big} is larger than the limit of 10,000 bytes '
        f'that a job may store')
    assert service.getStatus(loud) == 'error'
    assert len(service.getError(loud)) < 10_000
    # Nothing big was written.
    assert os.path.getsize(db.storage.getName()) - before < 40_000
    connection.close()


class _FewAbandoned(remotetask.SimpleProcessor):
    maxAbandoned = 2


def test_tasks_ignoring_their_time_limits_do_not_stop_processing(app):
    """Each task that does not stop at its limit is left running in its
    thread; once `maxAbandoned` run on, the processor takes no job of a
    task with a time limit (threads and connections stay bounded), goes
    on with the others, and its worker says it is stalled."""
    release = threading.Event()

    def stubborn(input):
        release.wait(20)       # ignores checkpoint() and its time limit
        return input
    remotetask.provideTask(stubborn, timeLimit=0.05)
    remotetask.provideTask(lambda input: input, name='echo')
    service = newService(app, factory=_FewAbandoned, waitTime=0.05,
                         leaseTime=0.4)
    stubborn = [service.add('stubborn', n) for n in range(3)]
    after = service.add('echo', 'after')
    transaction.commit()
    service.startProcessing()

    def running():
        return [t for t in threading.enumerate()
                if t.name.startswith('remotetask-job-')]

    def stalled():
        service._p_jar.sync()
        return service.getWorkers()[0]['stalled']

    waitForStatus(service, stubborn[:2], status='error')
    processor = processing.processorOf(service)
    # The job of a task without a time limit runs while two stubborn ones
    # run on; the third stubborn one waits for room.
    waitForStatus(service, [after])
    assert processor.abandoned == 2 and len(running()) == 2
    assert processor.blockedSince is not None
    assert service.getStatus(stubborn[2]) == 'queued'
    assert service.getError(stubborn[0]).startswith('timed out after 0.05 s')
    testing.waitUntil(lambda: stalled() == 2)
    assert processing.blocked() > 0
    release.set()                       # the stubborn tasks end
    waitForStatus(service, [stubborn[2]])
    testing.waitUntil(lambda: not running())
    assert processor.abandoned == 0 and processor.blockedSince is None
    testing.waitUntil(lambda: stalled() == 0)


def test_a_worker_taken_for_dead_registers_again_when_it_claims(stored):
    remotetask.provideTask(lambda input: input, name='echo')
    stored.registerWorker('w', 60)
    stored.add('echo', 1)
    transaction.commit()
    lastSeen = stored.getWorkers()[0]['lastSeen']
    stored.recoverJobs(lastSeen + 61)    # gone: taken for dead
    assert stored.getWorkers() == []
    capture = testing.LogCapture(level=logging.WARNING)
    try:
        [claim] = stored.claim('w')
        assert stored.claim('w') == []
    finally:
        capture.uninstall()
    assert [w['id'] for w in stored.getWorkers()] == ['w']
    assert str(capture) == 'WARNING worker w was taken for dead; it ' \
        'registers again'


@pytest.mark.parametrize('call, message', [
    (lambda s: s.registerWorker('w', -5), 'leaseTime must be a positive'),
    (lambda s: s.registerWorker('w', float('nan')), 'leaseTime must be'),
    (lambda s: s.registerWorker('', 5), 'a worker id is a non-empty'),
    (lambda s: s.clean(limit=0), 'limit must be an int of at least 1'),
    (lambda s: s.clean(limit=-1), 'limit must be an int of at least 1'),
    (lambda s: s.jobsPage(limit=0), 'limit must be an int of at least 1'),
    (lambda s: s.jobsPage(task=5), 'task must be the name of a task, not 5'),
    (lambda s: s.retryAll(limit=-1), 'limit must be an int of at least 1'),
    (lambda s: s.activity(minutes=10 ** 9), 'minutes must be an int from'),
    (lambda s: s.activity('now'), "now must be a time in epoch seconds"),
    (lambda s: setattr(s, 'keepFinished', -1),
     'keepFinished must be a number of seconds, 0 or more, or None'),
    (lambda s: setattr(s, 'keepFinished', '1 day'), 'keepFinished must be'),
    (lambda s: setattr(s, 'maxStoredSize', 0),
     'maxStoredSize must be an int of at least 1, not 0'),
    (lambda s: s.startProcessing(waitTime='x'),
     "waitTime must be a number of seconds, 0 or more, not 'x'"),
    (lambda s: s.startProcessing(waitTime=-1), 'waitTime must be a number'),
    (lambda s: s.startProcessing(leaseTime=-1), 'leaseTime must be'),
    (lambda s: s.startProcessing(remotetask.MultiProcessor, maxThreads=0),
     'maxThreads must be an int of at least 1, not 0'),
    (lambda s: s.claim(limit=0), 'limit must be an int of at least 1'),
    (lambda s: s.recoverJobs('soon'), "now must be a time in epoch seconds"),
    (lambda s: s.stopProcessing(wait=-5),
     'wait must be a number of seconds, 0 or more, or None'),
])
def test_arguments_out_of_range_are_refused(stored, call, message):
    settings = (stored.keepFinished, stored.maxStoredSize)
    with pytest.raises(InvalidArgumentError, match=message):
        call(stored)
    # Nothing changed, nothing started.
    assert (stored.keepFinished, stored.maxStoredSize) == settings
    assert not stored.isProcessing()


class _Processor:
    """What a lease keeper needs of its processor."""

    def __init__(self, db, oid):
        self.db, self.serviceOid = db, oid
        self.workerId, self.leaseTime, self.name = newWorkerId(), 1.0, 'p'
        self.abandoned, self.blockedSince = 0, None
        self.claimLock = threading.Lock()

    def wake(self):
        pass

    def serves(self):
        return None, None

    def inHand(self):
        return set()


def test_after_an_outage_longer_than_a_lease_others_get_a_lease(db):
    """A worker that could not beat for longer than a lease (the database
    was away for all) takes back no one's jobs until the others had a
    lease to beat again."""
    remotetask.provideTask(lambda input: input, name='echo')
    connection = db.open()
    service = connection.root()['svc'] = remotetask.TaskService()
    service.registerWorker('other', 0.001)   # expires at once
    jobid = service.add('echo')
    transaction.commit()
    assert service.claimNextJob(worker='other') == jobid
    transaction.commit()
    keeper = LeaseKeeper(_Processor(db, service._p_oid))
    with Station(db, service._p_oid, keeper.processor.workerId) as session:
        keeper.lastSeen = time.time() - 60      # its last beat, long ago
        keeper.beat(session)                    # back after the outage
        connection.sync()
        assert service.getStatus(jobid) == 'processing'
        keeper.recoverAfter = 0                 # a lease later
        keeper.beat(session)
    connection.sync()
    assert service.getStatus(jobid) == 'queued'
    connection.close()
