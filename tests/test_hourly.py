"""Jobs finished per hour and task (store/hourly.py), counted by drains."""
import collections
import time

import pytest
import transaction

from lovely import remotetask
from lovely.remotetask import testing
from lovely.remotetask.exceptions import InvalidArgumentError
from lovely.remotetask.store import hourly
from lovely.remotetask.store.store import Store
from lovely.remotetask.task import TaskError
from services import newService


@pytest.fixture
def service():
    remotetask.provideTask(lambda input: input, name='echo')

    def flaky(input):
        raise TaskError('down')
    remotetask.provideTask(flaky, name='flaky')
    return remotetask.TaskService()


def total(hours):
    found = collections.Counter()
    for _, counts in hours:
        found.update(counts)
    return found


def test_finished_jobs_are_counted_by_hour_and_task_once_drained(service):
    done = service.add('echo', 1)
    service.add('flaky', 2)
    cancelled = service.add('echo', 3)
    service.cancel(cancelled)
    service.process()
    # Nothing is counted before a drain files the jobs.
    assert total(service.activityByHour()) == {}
    service.drain()
    now = time.time()
    hours = service.activityByHour(3, now=now)
    assert [start for start, _ in hours] == [
        (int(now // 3600) - n) * 3600 for n in (2, 1, 0)]
    finished = int(service.jobs[done].completed // 3600) * 3600
    assert dict(hours)[finished]['completed'] == 1
    assert total(hours) == {'completed': 1, 'cancelled': 1, 'error': 1}
    assert total(service.activityByHour(task='echo')) == {
        'completed': 1, 'cancelled': 1}
    assert total(service.activityByHour(task='flaky')) == {'error': 1}
    assert total(service.activityByHour(task='other')) == {}
    # Another drain counts nothing twice.
    service.add('echo', 4)
    service.drain()
    assert total(service.activityByHour()) == {
        'completed': 1, 'cancelled': 1, 'error': 1}


def test_a_job_counts_in_the_hour_it_finished(service):
    jobid = service.add('echo', 1)
    service.process()
    job = service.jobs[jobid]
    job.completed -= 5 * 3600           # (as if drained 5 hours later)
    service.drain()
    hours = service.activityByHour(6)
    assert hours[0][1] == {'completed': 1}
    assert total(hours[1:]) == {}


def test_runs_of_cron_jobs_count_once_each(service):
    jobid = service.addCronJob('echo', minute=(0,))
    service.promote(0)
    service.process(3600)                       # 01:00: it ran
    service.drain()
    assert total(service.activityByHour()) == {'completed': 1}
    service.drain()
    service.promote(7200)
    service.process(7200)                       # 02:00: it ran again
    service.drain()
    assert total(service.activityByHour()) == {'completed': 2}
    service.reschedule(jobid)                   # a move, but no run
    assert service.undrained()
    service.drain()
    assert total(service.activityByHour()) == {'completed': 2}
    service.cancel(jobid)
    service.drain()
    assert total(service.activityByHour()) == {'completed': 2,
                                               'cancelled': 1}
    assert jobid not in service._store.finishedHours.cronRuns


def test_hours_older_than_a_week_are_dropped():
    log = hourly.FinishedHours()
    now = 1_000_000 * 3600
    log.add(now // 3600 - hourly.HOURS_KEPT, 'echo', 'completed')
    log.add(now // 3600 - hourly.HOURS_KEPT + 1, 'echo', 'error')
    log.prune(now // 3600)
    assert list(log.counts.values()) == [(0, 0, 1)]
    assert hourly.tasksSeen(log) == ['echo']
    hours = hourly.byHour(log, now, hourly.HOURS_KEPT)
    assert len(hours) == hourly.HOURS_KEPT and hours[0][1] == {'error': 1}


def test_a_store_made_before_counts_from_its_first_drain(service):
    store = service._store
    del store.finishedHours              # as a pickle of before would be
    assert Store.finishedHours is None
    assert service.activityByHour(2) == [
        (start, {}) for start, _ in service.activityByHour(2)]
    service.add('echo', 1)
    service.process()
    service.drain()
    assert total(service.activityByHour()) == {'completed': 1}


@pytest.mark.parametrize('name, value, message', [
    ('hours', 0, 'hours must be an int from 1 to 168, not 0'),
    ('hours', 169, 'hours must be an int from 1 to 168, not 169'),
    ('hours', 2.5, 'hours must be an int from 1 to 168, not 2.5'),
    ('task', 3, 'task must be the name of a task, not 3'),
    ('now', 'x', "now must be a time in epoch seconds, not 'x'"),
])
def test_bad_arguments_are_refused(service, name, value, message):
    with pytest.raises(InvalidArgumentError, match=message):
        service.activityByHour(**{name: value})


def test_concurrent_adds_cancels_and_records_conflict_no_more(db):
    """Producers in threads add jobs and cancel half of them while the
    service's processor runs the rest and drains: no add conflicts, and
    every job finished counts once, however often drains retried."""
    from test_contention import ADDS, PRODUCERS, runProducers
    remotetask.provideTask(lambda input: input, name='echo')
    connection = db.open()
    service = newService(remotetask.getApplicationRoot(connection,
                                                       create=True))
    service.startProcessing()
    try:
        conflicts, ids = runProducers(
            db, service, lambda svc, jobid: jobid % 2 and svc.cancel(jobid))
        assert conflicts == []
        testing.waitUntil(lambda: connection.sync() or
                          service.statusCounts().get('queued', 0) == 0 and
                          service.statusCounts().get('processing', 0) == 0,
                          timeout=60)
    finally:
        service.stopProcessing(wait=30)
    connection.sync()
    service.drain()
    transaction.commit()
    counts = total(service.activityByHour())
    assert sum(counts.values()) == PRODUCERS * ADDS == len(ids)
    assert counts['cancelled'] == len([i for i in ids if i % 2])
    connection.close()


def test_a_bounded_drain_leaves_a_job_that_moved_later_to_the_next(
        service):
    """A drain that takes part of the intake counts no job whose last
    move it left behind: the drain that takes that move counts it, once."""
    service.add('echo', 1)
    service.process()
    store = service._store
    assert len(store.intake.jobs) > 1          # the job's moves
    store.drain(most=1)
    assert total(service.activityByHour()) == {}
    store.drain()
    store.drain()
    assert total(service.activityByHour()) == {'completed': 1}
