"""Cron jobs in the service: expressions, zones, missed runs, overlaps."""
import calendar
import os
import re
import signal

import pytest
import transaction
import zope.component
from zope.interface import implementer

from lovely import remotetask
from lovely.remotetask.timing import schedule
from lovely.remotetask.interfaces import ITask
from lovely.remotetask.store.jobs import CronJob

HOUR = 3600


def at(*fields):
    return calendar.timegm(fields + (0,) * (6 - len(fields)))


@implementer(ITask)
class Record:
    """Notes the due time each run of a cron job served."""

    def __init__(self):
        self.ran = []

    def __call__(self, service, jobid, input):
        self.ran.append(getattr(service.jobs[jobid], 'lastRun', None))


@pytest.fixture
def service():
    record = Record()
    zope.component.provideUtility(record, name='record')
    svc = remotetask.TaskService()
    svc.ran = record.ran
    return svc


def test_expression_in_a_zone(service):
    jobid = service.addCronJob('record', 'x', cron='30 9 * * mon-fri',
                               timezone='Europe/Vienna')
    service.process(at(2026, 7, 3, 12))          # a Friday, summer time
    job = service.jobs[jobid]
    assert job.nextRun == at(2026, 7, 6, 7, 30)  # Monday 09:30 CEST
    service.process(at(2026, 7, 6, 7, 30))
    assert service.ran == [at(2026, 7, 6, 7, 30)]
    assert job.lastRun == at(2026, 7, 6, 7, 30)
    assert job.nextRun == at(2026, 7, 7, 7, 30)


@pytest.mark.parametrize('options, message', [
    (dict(cron='61 * * * *'), 'minute value 61 is out of range 0-59'),
    (dict(cron='* * *'), "cron expression '* * *' has 3 fields, expected 5"),
    (dict(cron='*/0 * * * *'), 'step'),
    (dict(cron='0 0 30 2 *'), "cron expression '0 0 30 2 *' never fires"),
    (dict(cron='@daily', timezone='Mars/Olympus'),
     "unknown time zone 'Mars/Olympus'"),
    (dict(cron='@daily', minute=(5,)), 'either a cron expression'),
    (dict(cron='@daily', delay=0), 'either a cron expression'),
    (dict(minute=(5,), timezone='Europe/Vienna'),
     'a timezone goes with a cron expression'),
    (dict(cron='@daily', missed='twice'),
     "missed must be one of once, each, skip, not 'twice'"),
    (dict(cron='@daily', graceTime=-1),
     'graceTime must be None or seconds >= 0, not -1'),
])
def test_bad_schedules_are_refused_and_nothing_stored(service, options,
                                                      message):
    with pytest.raises(ValueError, match=re.escape(message)):
        service.addCronJob('record', **options)
    assert len(service.jobs) == 0


def fire(service, jobid, times):
    """Process at each time and return the due times of the runs made."""
    del service.ran[:]
    for now in times:
        service.process(now)
    return service.ran


class TestMissedRuns:
    """An hourly job, scheduled at 00:00; processing stops, and resumes at
    03:30, three runs (01:00, 02:00, 03:00) late."""

    def hourly(self, service, **options):
        jobid = service.addCronJob('record', 'tick', minute=(0,), **options)
        service.process(at(2026, 1, 1))        # schedules 01:00
        return jobid

    def test_once_runs_one_for_all(self, service):
        jobid = self.hourly(service)
        assert fire(service, jobid, [at(2026, 1, 1, 3, 30)] * 3) == \
            [at(2026, 1, 1, 1)]
        assert service.jobs[jobid].nextRun == at(2026, 1, 1, 4)

    def test_each_runs_every_missed_time(self, service):
        jobid = self.hourly(service, missed='each')
        assert fire(service, jobid, [at(2026, 1, 1, 3, 30)]) == \
            [at(2026, 1, 1, h) for h in (1, 2, 3)]
        assert service.jobs[jobid].nextRun == at(2026, 1, 1, 4)

    def test_skip_runs_none(self, service):
        jobid = self.hourly(service, missed='skip')
        assert fire(service, jobid, [at(2026, 1, 1, 3, 30)]) == []
        assert service.jobs[jobid].nextRun == at(2026, 1, 1, 4)

    def test_skip_still_runs_what_is_on_time(self, service):
        jobid = self.hourly(service, missed='skip')
        assert fire(service, jobid, [at(2026, 1, 1, 3, 0, 30)]) == \
            [at(2026, 1, 1, 3)]

    def test_grace_time_skips_older_missed_runs(self, service):
        jobid = self.hourly(service, missed='each', graceTime=2 * HOUR)
        assert fire(service, jobid, [at(2026, 1, 1, 3, 30)]) == \
            [at(2026, 1, 1, h) for h in (2, 3)]
        other = self.hourly(service, missed='once', graceTime=10 * 60)
        assert fire(service, other, [at(2026, 1, 1, 3, 30)]) == []
        assert service.jobs[other].nextRun == at(2026, 1, 1, 4)

    def test_on_time_runs_are_never_missed(self, service):
        jobid = self.hourly(service, missed='skip')
        times = [at(2026, 1, 1, h, 0, 59) for h in (1, 2, 3)]
        assert fire(service, jobid, times) == \
            [at(2026, 1, 1, h) for h in (1, 2, 3)]


class TestOverlap:

    def test_a_run_waits_for_the_one_before(self, service):
        jobid = service.addCronJob('record', 'tick', minute=(0,))
        service.process(at(2026, 1, 1))
        assert service.claimNextJob(at(2026, 1, 1, 1)) == jobid  # running
        assert service.claimNextJob(at(2026, 1, 1, 2)) is None   # waits
        assert service.jobs[jobid].nextRun == at(2026, 1, 1, 2)
        service.processNext(at(2026, 1, 1, 2), jobid=jobid)    # first done
        assert service.processNext(at(2026, 1, 1, 2, 0, 30))  # then next
        assert service.jobs[jobid].lastRun == at(2026, 1, 1, 2)
        assert service.ran == [at(2026, 1, 1, 1), at(2026, 1, 1, 2)]

    def test_overlapping_runs_are_jobs_of_their_own(self, service):
        jobid = service.addCronJob('record', 'tick', minute=(0,),
                                   overlap=True)
        service.process(at(2026, 1, 1))
        first = service.claimNextJob(at(2026, 1, 1, 1))
        second = service.claimNextJob(at(2026, 1, 1, 2))
        assert len({first, second, jobid, None}) == 4
        assert [service.jobs[run].task for run in (first, second)] == \
            ['record', 'record']
        # The cron job itself stays in its schedule.
        assert service.getStatus(jobid) == 'cronjob'
        assert service.jobs[jobid].nextRun == at(2026, 1, 1, 3)
        # What its runs come to shows on it too.
        service.processNext(jobid=second)
        assert service.getResult(jobid) == service.getResult(second)


def test_update_keeps_policies_unless_given(service):
    job = CronJob(1, 'record', None, minute=(5,), missed='skip',
                  graceTime=60, overlap=True)
    job.update(cron='@hourly')
    assert (job.minute, job.cron.expression, job.missed, job.graceTime,
            job.overlap) == ((), '@hourly', 'skip', 60, True)
    job.update(hour=(3,), missed='each')
    assert (job.cron, job.timezone, job.hour, job.missed) == \
        (None, None, (3,), 'each')


def test_catch_up_is_a_pure_function():
    def nextTime(t):
        return int(t // 10 + 1) * 10

    assert schedule.catchUp(nextTime, 10, 15) == (10, 20)
    assert schedule.catchUp(nextTime, 10, 500, 'once') == (10, 510)
    assert schedule.catchUp(nextTime, 10, 500, 'each') == (10, 20)
    # Skip: the missed runs are skipped, the one on time (within a minute)
    # runs.
    assert schedule.catchUp(nextTime, 10, 500, 'skip') == (440, 510)
    assert schedule.catchUp(nextTime, 10, 500, 'skip', graceTime=30) == \
        (470, 510)
    assert schedule.catchUp(nextTime, 10, 500, 'each', graceTime=100) == \
        (400, 410)
    assert schedule.catchUp(nextTime, 10, 505, 'once', graceTime=3) == \
        (None, 510)


# Several worker processes serving one cron job.

def test_workers_run_each_cron_run_once_and_never_two_at_once(tmp_path):
    from servers import Worker, ZEOServer, waitFor
    from workerapp import tasks
    zope.component.provideUtility(tasks.CronRun(), name='cronrun')
    server = ZEOServer(str(tmp_path))
    server.start()
    db = remotetask.openDatabase(server.uri)
    workers = []
    try:
        tm = transaction.TransactionManager()
        connection = db.open(transaction_manager=tm)
        root = remotetask.getApplicationRoot(connection, create=True)
        service = root['svc'] = remotetask.TaskService()
        path = os.path.join(tmp_path, 'runs.txt')
        # Every minute, replaying each missed run: scheduled an hour ago,
        # so that the workers find some sixty runs due at once.
        import time
        jobid = service.addCronJob('cronrun', {'path': path, 'delay': 0.02},
                                   cron='* * * * *', missed='each')
        service.promote(now=time.time() - HOUR)
        tm.commit()
        first = service.jobs[jobid].nextRun
        workers = [Worker(str(tmp_path), server.uri, '--services', '@svc',
                          '--wait-time', '0.01') for _ in range(3)]

        def caughtUp():
            tm.begin()
            job = service.jobs[jobid]
            return job.nextRun > time.time() and job.status == 'cronjob'
        waitFor(caughtUp, timeout=120)
        last = service.jobs[jobid].lastRun
        with open(path) as f:
            lines = [line.split() for line in f]
        starts = [float(due) for due, pid, what in lines if what == 'start']
        assert starts == list(range(int(first), int(last) + 1, 60))
        assert len(starts) >= 59
        # Never two at once: every start is followed by its own done.
        assert [what for _, _, what in lines] == ['start', 'done'] * \
            len(starts)
    finally:
        for worker in workers:
            worker.signal(signal.SIGTERM)
        for worker in workers:
            worker.stop()
        db.close()
        server.close()
