"""Times past the range of dates (issue 24, item 6): a job delayed by ages
runs after the year 9999.  Every face that shows a job's times shows it
(the job page raised OverflowError: timestamp out of range)."""
import json

import pytest
import transaction

from conftest import MANAGE, MANAGE_TOKEN
from lovely import remotetask
from lovely.remotetask.cli import main
from lovely.remotetask.serialize import formatTime

AGES = 1e300     # seconds: a delay a script computed wrongly


@pytest.fixture
def farJobs(db):
    """A job delayed by ages, filed by due time as a processor does, in
    ``svc``; and a cron job whose next run comes after 9999."""
    tm = transaction.TransactionManager()
    connection = db.open(transaction_manager=tm)
    service = remotetask.getApplicationRoot(connection)['svc']
    delayed = service.addCronJob('echo', 'late', delay=AGES)
    tm.commit()
    service.promote()
    tm.commit()
    assert service.jobs[delayed].nextRun > 1e299
    connection.close()
    return delayed


def test_format_time_says_what_is_out_of_range():
    assert formatTime(0) == '1970-01-01 00:00:00'
    assert formatTime(253402300799) == '9999-12-31 23:59:59'
    assert formatTime(253402300800) == 'after 9999-12-31 23:59:59'
    assert formatTime(AGES) == 'after 9999-12-31 23:59:59'
    assert formatTime(-62135596800) == '0001-01-01 00:00:00'
    assert formatTime(-1e300) == 'before 0001-01-01 00:00:00'


def test_the_dashboard_shows_a_job_due_after_9999(client, farJobs):
    client.get(f'/login?token={MANAGE_TOKEN}', status=303)
    page = client.get(f'/services/svc/jobs/{farJobs}')
    assert 'after 9999-12-31 23:59:59' in page.text
    listing = client.get('/services/svc?status=delayed')
    assert [int(tr.attrs['data-job']) for tr in
            listing.html.select('#jobs tbody tr[data-job]')] == [farJobs]
    assert 'after 9999-12-31 23:59:59' in listing.text
    client.get('/services/svc')
    client.get('/')


def test_the_api_gives_the_time_as_it_is(client, farJobs):
    job = client.get(f'/api/services/svc/jobs/{farJobs}',
                     headers=MANAGE).json
    assert job['schedule']['nextRun'] == pytest.approx(AGES)
    listing = client.get('/api/services/svc/jobs?status=delayed',
                         headers=MANAGE).json
    assert [job['id'] for job in listing['jobs']] == [farJobs]


def test_the_commands_show_a_job_due_after_9999(db, farJobs, capsys):
    uri = f'file://{db.storage.getName()}'
    db.close()
    for args in (['show', str(farJobs)], ['jobs', '--status', 'delayed'],
                 ['show', str(farJobs), '--json'],
                 ['jobs', '--status', 'delayed', '--json'],
                 ['status', str(farJobs)]):
        code = main([args[0], '--db', uri, '--service', 'svc', *args[1:]])
        out, err = capsys.readouterr()
        assert (code, err) == (0, ''), args
        if args[0] == 'show' and '--json' not in args:
            assert 'after 9999-12-31 23:59:59 UTC' in out
        if args[0] == 'show' and '--json' in args:
            assert json.loads(out)['schedule']['nextRun'] > 1e299
        if args[0] == 'jobs':
            assert str(farJobs) in out
