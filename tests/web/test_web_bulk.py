"""Deleting a finished job, and cancel, retry and delete on every job
matching a filter, in the JSON API (issue 29)."""
import pytest
import transaction

from conftest import MANAGE, MANAGE_TOKEN, READ
from lovely import remotetask
from lovely.remotetask.web import settings


@pytest.fixture
def filled(db, monkeypatch):
    """In ``svc``: 7 failed jobs of ``fail``, 3 completed ``echo``, 5
    queued ``echo`` and a cron job; batches of 2, so that acting on every
    job takes several transactions."""
    monkeypatch.setattr(settings, 'CANCEL_BATCH', 2)
    monkeypatch.setattr(settings, 'RETRY_BATCH', 2)
    tm = transaction.TransactionManager()
    connection = db.open(transaction_manager=tm)
    service = remotetask.getApplicationRoot(connection)['svc']
    ids = dict(failed=[service.add('fail', n) for n in range(7)],
               done=[service.add('echo', n) for n in range(3)])
    service.process()
    ids['queued'] = [service.add('echo', n) for n in range(5)]
    ids['cron'] = service.addCronJob('echo', 'x', cron='0 * * * *')
    tm.commit()
    connection.close()
    return ids


def counts(client):
    return {status: n for status, n in client.get(
        '/api/services/svc', headers=READ).json['counts'].items() if n}


def test_delete_a_finished_job_and_not_another(client, reader, filled):
    jobid = filled['done'][0]
    answer = client.delete(f'/api/services/svc/jobs/{jobid}',
                           headers=MANAGE)
    assert answer.json == {'deleted': jobid}
    assert jobid not in reader.service().jobs
    client.get(f'/api/services/svc/jobs/{jobid}', headers=READ, status=404)
    queued = filled['queued'][0]
    refused = client.delete(f'/api/services/svc/jobs/{queued}',
                            headers=MANAGE, status=409)
    assert refused.json['error'] == (
        f'job {queued} is queued: only finished jobs (completed, '
        f'cancelled, error) are removed')
    assert reader.service().jobs[queued].status == 'queued'
    client.delete(f'/api/services/svc/jobs/{jobid}', headers=READ,
                  status=403)


def transactions(db):
    return len(db.undoLog(0, 10000))


def test_every_job_matching_the_filter(client, reader, db, filled):
    assert counts(client) == {'error': 7, 'completed': 3, 'queued': 5,
                              'cronjob': 1}
    url = '/api/services/svc/jobs'
    # The filter takes every match, not a page of them, in batches.
    before = transactions(db)
    assert client.post_json(f'{url}/delete', {'status': 'failed',
                                              'task': 'fail'},
                            headers=MANAGE).json == {'deleted': 7}
    assert transactions(db) - before == 4
    assert client.post_json(f'{url}/cancel', {'task': 'echo'},
                            headers=MANAGE).json == {'cancelled': 5}
    assert counts(client) == {'completed': 3, 'cancelled': 5, 'cronjob': 1}
    assert client.post_json(f'{url}/retry', {'status': 'cancelled'},
                            headers=MANAGE).json == {'retried': 5}
    assert client.post(f'{url}/delete', headers=MANAGE).json == {
        'deleted': 3}
    assert counts(client) == {'queued': 5, 'cronjob': 1}
    assert reader.service().jobs[filled['cron']].status == 'cronjob'


def test_a_filter_the_action_cannot_take_is_refused(client, filled):
    url = '/api/services/svc/jobs'
    answer = client.post_json(f'{url}/delete', {'status': 'queued'},
                              headers=MANAGE, status=400)
    assert answer.json['fields']['status'].startswith(
        'status must be one of completed, cancelled, error')
    answer = client.post_json(f'{url}/retry', {'colour': 'red'},
                              headers=MANAGE, status=400)
    assert 'colour' in answer.json['error']
    client.post_json(f'{url}/cancel', {}, headers=READ, status=403)
    assert counts(client)['queued'] == 5


def login(client):
    client.get(f'/login?token={MANAGE_TOKEN}', status=303)


def test_delete_a_finished_job_from_its_page(client, reader, filled):
    login(client)
    jobid = filled['failed'][0]
    page = client.get(f'/services/svc/jobs/{jobid}')
    page = page.forms['delete-form'].submit().follow()
    assert page.request.path == '/services/svc'
    assert page.html.select_one('#flash').text == f'Deleted job {jobid}.'
    assert jobid not in reader.service().jobs
    # Only a finished job has the button, and the post without the page's
    # CSRF token is refused.
    queued = filled['queued'][0]
    page = client.get(f'/services/svc/jobs/{queued}')
    assert 'delete-form' not in page.forms
    client.post(f'/services/svc/jobs/{queued}/delete', {}, status=403)
    done = filled['done'][0]
    client.post(f'/services/svc/jobs/{done}/delete', {}, status=403)
    assert reader.service().jobs[done].status == 'completed'


def test_every_job_matching_the_filter_after_saying_how_many(
        client, reader, filled):
    login(client)
    page = client.get('/services/svc?status=error&task=fail&limit=2')
    assert len(page.html.select('#jobs tbody tr[data-job]')) == 2
    confirm = page.forms['matching-form'].submit('action', value='delete')
    assert confirm.html.select_one('#matching-count').text == '7'
    assert 'status error and task fail' in confirm.html.select_one(
        '#matching-question').text
    assert len(reader.service().jobs) == 16     # nothing done yet
    page = confirm.forms['matching-confirm-form'].submit().follow()
    assert page.html.select_one('#flash').text == \
        'Deleted 7 jobs matching status error and task fail.'
    assert page.request.query_string == 'status=error&task=fail&limit=2'
    assert not any(jobid in reader.service().jobs
                   for jobid in filled['failed'])
    # Cancel every waiting job of task echo: the cron job keeps its
    # schedule; then retry them all.
    page = client.get('/services/svc?task=echo')
    confirm = page.forms['matching-form'].submit('action', value='cancel')
    assert confirm.html.select_one('#matching-count').text == '5'
    page = confirm.forms['matching-confirm-form'].submit().follow()
    assert page.html.select_one('#flash').text == \
        'Cancelled 5 jobs matching task echo.'
    service = reader.service()
    assert [service.jobs[jobid].status for jobid in filled['queued']] == \
        ['cancelled'] * 5
    assert service.jobs[filled['cron']].status == 'cronjob'
    page = client.get('/services/svc?status=cancelled')
    confirm = page.forms['matching-form'].submit('action', value='retry')
    page = confirm.forms['matching-confirm-form'].submit().follow()
    assert page.html.select_one('#flash').text == \
        'Retried 5 jobs matching status cancelled.'


def test_a_filter_the_action_cannot_take_says_so(client, filled):
    login(client)
    page = client.get('/services/svc?status=queued')
    answer = page.forms['matching-form'].submit('action', value='retry',
                                                status=400)
    assert 'retry takes jobs that are error, cancelled' in answer.text


def test_the_words_of_the_routes_are_not_job_ids(client, filled):
    """``jobs/cancel`` is the route of that word, for every method, though
    ``jobs/{job}`` would match it too."""
    for method in ('get', 'delete', 'options'):
        answer = getattr(client, method)('/api/services/svc/jobs/cancel',
                                         headers=MANAGE, status=405)
        assert answer.headers['Allow'] == 'POST'
    answer = client.options(f'/api/services/svc/jobs/{filled["done"][0]}',
                            headers=MANAGE, status=405)
    assert answer.headers['Allow'] == 'DELETE, GET'
