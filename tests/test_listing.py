"""Pages of jobs: what a page deep down costs, and that paging through a
service that changes meanwhile shows each job once."""
import base64
import json
import time

import pytest
import transaction

from lovely import remotetask
from lovely.remotetask.exceptions import InvalidArgumentError
from lovely.remotetask.store.listing import formatCursor, parseCursor
from lovely.remotetask.task import TaskError
from services import loads


@pytest.fixture
def two(db):
    """A service and two connections to it, each a writer of its own, so
    that listings merge two streams."""
    remotetask.provideTask(lambda input: input, name='echo')

    def fail(input):
        raise TaskError('no')
    remotetask.provideTask(fail)
    tms = [transaction.TransactionManager() for _ in range(2)]
    connections = [db.open(transaction_manager=tm) for tm in tms]
    connections[0].root()['service'] = remotetask.TaskService()
    tms[0].commit()
    services = []
    for tm, connection in zip(tms, connections):
        tm.begin()
        services.append(connection.root()['service'])
    yield tms, services
    for tm, connection in zip(tms, connections):
        tm.abort()
        connection.close()


def fill(tms, services, count, task='echo'):
    ids = []
    for n in range(count):
        side = n % 2
        ids.append(services[side].add(task, n))
        if n % 50 == 49:
            for tm in tms:
                tm.commit()
    for tm in tms:
        tm.commit()
    return ids


def cursorAt(service, status, position, limit=100):
    cursor, seen = None, 0
    while seen < position:
        page, cursor = service.jobsPage(status, cursor, limit)
        seen += len(page)
    return cursor


@pytest.mark.parametrize('status', [None, 'cancelled'])
def test_a_page_deep_down_costs_what_the_first_does(db, two, status):
    tms, services = two
    ids = fill(tms, services, 3000)
    for jobid in ids[::2]:
        services[0].cancel(jobid)
    tms[0].commit()
    service = services[1]
    tms[1].begin()
    middle = cursorAt(service, status, 750)
    first = loads(db, lambda: service.jobsPage(status, limit=20))
    deep = loads(db, lambda: service.jobsPage(status, middle, limit=20))
    assert deep <= first + 10, (first, deep)
    # Without the places in the cursor, a page of a chain reads all before
    # it (all jobs are read by id, from where the key says).
    bare = formatCursor(parseCursor(middle))
    if status is not None:
        assert loads(db, lambda: service.jobsPage(status, bare, limit=20)) \
            > 2 * deep
    assert service.jobsPage(status, bare, 20)[0] == \
        service.jobsPage(status, middle, 20)[0]


def test_paging_through_a_changing_service_shows_each_job_once(two):
    tms, services = two
    ids = fill(tms, services, 300)
    seen, cursor, removed, added = [], None, set(), []
    service = services[0]
    while True:
        page, cursor = service.jobsPage(None, cursor, 7)
        seen += [job.id for job in page]
        if cursor is None:
            break
        # Meanwhile, new jobs come (newer: not in the pages to come) and
        # older ones go.
        added.append(services[1].add('echo', 'new'))
        old = ids[len(ids) - len(seen) - 20]
        if old not in removed and old not in seen:
            services[1].cancel(old)
            services[1].clean('cancelled')
            removed.add(old)
        tms[1].commit()
        tms[0].begin()
    assert len(seen) == len(set(seen))
    assert set(seen) == set(ids) - removed


def test_a_failed_job_that_fails_again_skips_nothing(two):
    """The cursor's place of a chain is the entry of a job: one that left
    and came back (retried, failed again) has a new entry, the newest, and
    says nothing of where the listing stood."""
    tms, services = two
    ids = fill(tms, services, 120, task='fail')
    for side, (service, tm) in enumerate(zip(services, tms)):
        for jobid in ids[side::2]:        # each its own
            service.processNext(jobid=jobid)
        tm.commit()
    service = services[0]
    tms[0].begin()
    page, cursor = service.jobsPage('error', None, 10)
    shown = [job.id for job in page]
    following, _ = service.jobsPage('error', cursor, 10)
    # Two jobs after the cursor and the one it stands at fail again.
    again = [job.id for job in following[:2]] + [shown[-1]]
    for jobid in again:
        service.retry(jobid)
    service.process()
    tms[0].commit()
    rest, cursor = [], cursor
    while cursor is not None:
        page, cursor = service.jobsPage('error', cursor, 10)
        rest += [job.id for job in page]
    # Each once, but for those that failed again: they are the newest now,
    # before where the listing stood.
    assert sorted(shown + rest + again[:2]) == sorted(ids)
    assert not set(again) & set(rest)
    top, _ = service.jobsPage('error', None, 3)
    assert sorted(job.id for job in top) == sorted(again)


@pytest.mark.parametrize('text', [
    'x', formatCursor((1,))[:-2], formatCursor((1,), [True]),
    formatCursor((1,), ['7']), 'A' * 3000,
    base64.urlsafe_b64encode(json.dumps(
        {'k': [1], 'h': list(range(65))}).encode()).decode()])
def test_what_is_no_cursor(two, text):
    tms, services = two
    with pytest.raises(InvalidArgumentError, match='is not a cursor'):
        services[0].jobsPage(None, text)


def test_a_job_that_comes_after_a_quiet_spell_waits_since_it_came(
        two, monkeypatch):
    # An entry's stamp is the last commit its writer saw: an hour before,
    # when nothing was committed for an hour.
    tms, services = two
    hourLater = time.time() + 3600
    monkeypatch.setattr(time, 'time', lambda clock=time.time: clock() + 3600)
    services[0].add('echo', 1)
    tms[0].commit()
    assert services[0].oldestWaiting() >= hourLater


def test_a_cron_run_waits_since_it_was_due():
    remotetask.provideTask(lambda input: input, name='echo')
    service = remotetask.TaskService()
    jobid = service.addCronJob('echo', minute=(0,))
    job = service.jobs[jobid]
    service.promote()                  # files it for its next hour
    service.promote(now=job.scheduledFor + 30)
    assert service.queueLength() == 1
    assert service.oldestWaiting() >= job.lastRun
