"""The JSON API, route by route, with each error it promises.

Each refused request is checked to have changed nothing, by looking at
the database from a connection of the test's own (`reader`).
"""
import base64
import io
import json
import re

import pytest
import transaction
import webtest
from ZODB.POSException import ConflictError

from conftest import MANAGE, MANAGE_TOKEN, READ
from services import loads
from lovely.remotetask.web import api, openapi, settings
from lovely.remotetask.web.auth import MANAGE as MANAGE_RIGHT


def jobIds(service):
    return sorted(service.jobs.keys())


def add(client, body, service='svc', status=201):
    return client.post_json(f'/api/services/{service}/jobs', body,
                            headers=MANAGE, status=status).json


# Credentials

def test_nothing_without_credentials(client, reader):
    for method, path in [('get', '/api/services'),
                         ('get', '/api/services/svc/jobs'),
                         ('post', '/api/services/svc/jobs')]:
        response = getattr(client, method)(path, status=401)
        assert response.json['status'] == 401
        assert response.headers['WWW-Authenticate'].startswith('Bearer')
    assert jobIds(reader.service()) == []


def test_wrong_token_is_401_even_with_a_session(client):
    client.get(f'/login?token={MANAGE_TOKEN}', status=303)
    response = client.get('/api/services', status=401,
                          headers={'Authorization': 'Bearer wrong-token-123456'})
    assert response.json['error'] == 'the credentials given are not valid'


def test_read_token_reads_but_changes_nothing(client, reader):
    jobid = add(client, {'task': 'echo'})['id']
    assert client.get('/api/services/svc/jobs', headers=READ).json['jobs']
    for path, body in [('/api/services/svc/jobs', {'task': 'echo'}),
                       (f'/api/services/svc/jobs/{jobid}/cancel', {}),
                       ('/api/services/svc/clean', {})]:
        response = client.post_json(path, body, headers=READ, status=403)
        assert response.json['error'] == (
            'this needs the manage right; the credentials given have the '
            'read right')
    service = reader.service()
    assert jobIds(service) == [jobid]
    assert service.getStatus(jobid) == 'queued'


def test_basic_authentication_takes_the_token_as_password(client):
    credentials = base64.b64encode(f'anyone:{MANAGE_TOKEN}'.encode()).decode()
    for path in ('/api/', '/api'):    # as documented, and as it was
        response = client.get(path, headers={
            'Authorization': f'Basic {credentials}'})
        assert response.json['right'] == 'manage'


def test_openapi_document_is_public_and_names_every_route(client, app):
    document = client.get('/api/openapi.json').json
    assert document['openapi'] == '3.1.0'
    described = {(method.upper(), '/api' + path)
                 for path, operations in document['paths'].items()
                 for method in operations}
    routed = {(route.method, route.template) for route in app.router.routes
              if route.kind == 'api'}
    # /api answers as /api/ does, as it did before /api/ was.
    assert described == routed - {('GET', '/api')}
    assert document == openapi.document('/api')


# Services and tasks

def test_list_services(client):
    services = client.get('/api/services', headers=READ).json['services']
    assert [(s['id'], s['site'], s['name']) for s in services] == [
        ('svc', None, 'svc'), ('site1.mail', 'site1', 'mail')]
    assert services[1]['url'] == '/api/services/site1.mail'
    assert services[1]['xmlrpc'] == '/xmlrpc/site1.mail'
    assert services[0]['processing'] is False


def test_one_service_with_its_tasks_and_workers(client):
    data = client.get('/api/services/site1.mail', headers=READ).json
    assert data['tasks'] == ['echo', 'fail']
    assert data['workers'] == []
    assert client.get('/api/services/svc/tasks', headers=READ).json == {
        'tasks': ['echo', 'fail']}


@pytest.mark.parametrize('path', ['nosuch', 'site1', 'site1.nosuch',
                                  'nosuch.mail', 'site1.mail.x', '.svc'])
def test_unknown_service_is_404(client, path):
    response = client.get(f'/api/services/{path}/jobs', headers=READ,
                          status=404)
    assert response.json == {'error': f'no task service {path!r}',
                             'status': 404}


def test_unknown_route_and_wrong_method(client):
    assert client.get('/api/nothing', headers=READ, status=404).json[
        'error'] == 'nothing at /api/nothing'
    response = client.delete('/api/services/svc/jobs', headers=MANAGE,
                             status=405)
    assert response.headers['Allow'] == 'GET, POST'


# Adding jobs

def test_add_a_job(client, reader):
    response = client.post_json('/api/services/site1.mail/jobs',
                                {'task': 'echo', 'input': {'to': ['a', 'b']}},
                                headers=MANAGE, status=201)
    job = response.json
    assert response.headers['Location'].endswith(
        f'/api/services/site1.mail/jobs/{job["id"]}')
    assert job['status'] == 'queued' and job['input'] == {'to': ['a', 'b']}
    stored = reader.service('site1.mail').jobs[job['id']]
    assert (stored.task, stored.input) == ('echo', {'to': ['a', 'b']})


def test_add_with_priority_and_a_unique_key(client, reader):
    low = add(client, {'task': 'echo', 'priority': -5})
    high = add(client, {'task': 'echo', 'priority': 5, 'key': 'once'})
    again = add(client, {'task': 'echo', 'key': 'once'})
    assert again['id'] == high['id']
    service = reader.service()
    assert service.jobs[high['id']].priority == 5
    assert service.claimNextJobs(2) == [high['id'], low['id']]


def test_add_to_a_queue_at_a_time_by_a_deadline_after_others(
        client, reader):
    first = add(client, {'task': 'echo'})
    waiting = add(client, {'task': 'echo', 'queue': 'mail',
                           'after': [first['id']], 'onFailure': 'run',
                           'deadline': 4102444800})
    later = add(client, {'task': 'echo', 'at': 4102444800.5})
    assert (waiting['status'], later['status']) == ('waiting', 'delayed')
    service = reader.service()
    job = service.jobs[waiting['id']]
    assert (job.queue, job.waitsFor, job.onFailure, job.deadline) == (
        'mail', (first['id'],), 'run', 4102444800)
    assert service.jobs[later['id']].scheduledFor == 4102444800.5


def test_add_a_job_to_start_later_and_start_it(client, reader):
    job = add(client, {'task': 'echo', 'input': 1, 'startLater': True})
    assert job['status'] == 'start later'
    url = f'/api/services/svc/jobs/{job["id"]}/start'
    assert client.post(url, headers=MANAGE).json['status'] == 'queued'
    assert reader.service().getStatus(job['id']) == 'queued'
    response = client.post(url, headers=MANAGE, status=409)
    assert response.json['error'] == (
        f'job {job["id"]} is queued; only jobs that are start later can be '
        f'started')


def test_add_a_delayed_job(client, reader):
    job = add(client, {'task': 'echo', 'delay': 30})
    assert job['status'] == 'delayed'
    assert job['schedule']['delay'] == 30
    assert reader.service().jobs[job['id']].delay == 30


@pytest.mark.parametrize('body, status, message', [
    (b'{"task": "echo",', 400, 'the body is not valid JSON: '),
    (b'["echo"]', 400, 'the body must be a JSON object, not list'),
    (b'{}', 400, 'task must be the name of a task, as a string'),
    (b'{"task": 42}', 400, 'task must be the name of a task, as a string'),
    (b'{"task": "nosuch"}', 400, "no task named 'nosuch' is registered"),
    (b'{"task": "echo", "startLater": "yes"}', 400,
     'startLater must be true or false'),
    (b'{"task": "echo", "colour": 1}', 400,
     'unknown field colour; this takes task, input, startLater, delay, '
     'priority, key, queue, at, deadline, after, onFailure'),
    (b'{"task": "echo", "priority": 101}', 400,
     'priority must be an int from -100 to 100, not 101'),
    (b'{"task": "echo", "key": 5}', 400, 'key must be a string'),
    (b'{"task": "echo", "delay": 5, "priority": 3}', 400,
     'priority: not with a delay (they go with jobs that are not delayed)'),
    (b'{"task": "echo", "delay": 5, "queue": "q", "after": [1]}', 400,
     'queue and after: not with a delay'),
    (b'{"task": "echo", "queue": ".."}', 400,
     'a queue is named by up to 100 ASCII letters'),
    (b'{"task": "echo", "at": -1}', 400,
     'at is a time in epoch seconds, from 0 to 253402300799, not -1'),
    (b'{"task": "echo", "deadline": true}', 400,
     'deadline is a time in epoch seconds'),
    (b'{"task": "echo", "after": [1, 1]}', 400,
     'after is a list of 1 to 1000 distinct job ids, not [1, 1]'),
    (b'{"task": "echo", "after": [123456]}', 409,
     'job 123456 cannot be waited for: there is no such job'),
    (b'{"task": "echo", "after": [1], "startLater": false}', 400,
     'give one of startLater, at and after, not startLater and after'),
    (b'{"task": "echo", "onFailure": "run"}', 400,
     'onFailure goes with after'),
    (b'{"task": "echo", "after": [1], "onFailure": "failure"}', 400,
     'onFailure is cancel or run'),
    (b'{"task": "echo", "delay": -5}', 400,
     'delay must not be negative, got -5'),
    (b'{"task": "echo", "delay": "soon"}', 400,
     "delay must be a number of seconds, not 'soon'"),
    (b'{"task": "echo", "delay": 5, "startLater": true}', 400,
     'give startLater or delay, not both'),
])
def test_bad_job_bodies_change_nothing(client, reader, body, status, message):
    response = client.post('/api/services/svc/jobs', body, headers=dict(
        MANAGE, **{'Content-Type': 'application/json'}), status=status)
    assert response.json['status'] == status
    assert response.json['error'].startswith(message)
    assert jobIds(reader.service()) == []


def test_body_over_the_limit_is_413(db, reader):
    app = webtest.TestApp(api_app(db, maxBodySize=100))
    body = {'task': 'echo', 'input': 'x' * 200}
    response = app.post_json('/api/services/svc/jobs', body, headers=MANAGE,
                             status=413)
    assert response.json['error'] == (
        'the request body is over the limit of 100 bytes')
    assert jobIds(reader.service()) == []


def test_body_over_the_limit_without_a_length_is_413(db, reader):
    """A chunked body has no Content-Length; it is read up to the limit."""
    application = api_app(db, maxBodySize=100)
    body = json.dumps({'task': 'echo', 'input': 'x' * 200}).encode()
    environ = webtest.TestRequest.blank(
        '/api/services/svc/jobs', method='POST', headers=MANAGE).environ
    environ.pop('CONTENT_LENGTH', None)
    environ['wsgi.input'] = io.BytesIO(body)
    environ['wsgi.input_terminated'] = True   # as waitress says
    environ['HTTP_TRANSFER_ENCODING'] = 'chunked'
    environ['CONTENT_TYPE'] = 'application/json'
    started = []
    result = b''.join(application(
        environ, lambda status, headers: started.append(status)))
    assert started == ['413 Request Entity Too Large']
    assert json.loads(result)['status'] == 413
    assert jobIds(reader.service()) == []


def api_app(db, **options):
    from lovely.remotetask import web
    return web.makeApp(db, credentials=web.Credentials(
        manage=[MANAGE_TOKEN]), **options)


# Cron jobs

def test_add_a_cron_job_with_tuples(client, reader):
    response = client.post_json('/api/services/svc/cronjobs', {
        'task': 'echo', 'input': 'tick', 'minute': [0, 30], 'hour': '9-11',
        'dayOfWeek': '*'}, headers=MANAGE, status=201)
    schedule = response.json['schedule']
    assert response.json['status'] == 'cronjob'
    assert (schedule['minute'], schedule['hour'], schedule['dayOfWeek']) == (
        [0, 30], [9, 10, 11], [])
    stored = reader.service().jobs[response.json['id']]
    assert (stored.minute, stored.hour) == ((0, 30), (9, 10, 11))


def test_add_a_cron_job_with_an_expression_and_zone(client, reader):
    job = client.post_json('/api/services/svc/cronjobs', {
        'task': 'echo', 'cron': '*/15 9-17 * * mon-fri',
        'timezone': 'Europe/Vienna', 'missed': 'skip'},
        headers=MANAGE).json
    assert job['schedule']['cron'] == '*/15 9-17 * * mon-fri'
    assert job['schedule']['timezone'] == 'Europe/Vienna'
    stored = reader.service().jobs[job['id']]
    assert (stored.cron.expression, stored.timezone, stored.missed) == (
        '*/15 9-17 * * mon-fri', 'Europe/Vienna', 'skip')


@pytest.mark.parametrize('body, fields', [
    ({'minute': [61]}, {'minute': 'minute value 61 is out of range 0-59'}),
    ({'minute': 'abc'}, {'minute': "minute value 'abc' is not a number: use "
                         "* for every minute, or numbers and ranges such as "
                         "0,15,30 or 1-5"}),
    ({'hour': 5}, {'hour': 'hour must be a list of ints or a string such as '
                   '"0,30" or "*", not 5'}),
    ({'dayOfWeek': [True]}, {'dayOfWeek': 'dayOfWeek value True is not an '
                             'int'}),
    ({'cron': '61 * * * *'}, {'cron': 'minute value 61 is out of range '
                              '0-59'}),
    ({'cron': '@daily', 'timezone': 'Mars/Olympus'},
     {'timezone': "unknown time zone 'Mars/Olympus'"}),
    ({'timezone': 'UTC', 'minute': [1]},
     {'timezone': 'a time zone goes with a cron expression; the fields '
      'count in UTC'}),
    ({'cron': '@daily', 'missed': 'sometimes'},
     {'missed': "missed must be one of once, each, skip, not 'sometimes'"}),
    ({'cron': '@daily', 'overlap': 'no'},
     {'overlap': 'overlap must be true or false'}),
])
def test_bad_schedules_name_their_field(client, reader, body, fields):
    response = client.post_json('/api/services/svc/cronjobs',
                                dict(body, task='echo'), headers=MANAGE,
                                status=400)
    assert response.json['fields'] == fields
    assert jobIds(reader.service()) == []


def test_schedule_errors_of_the_whole_come_from_the_service(client, reader):
    response = client.post_json('/api/services/svc/cronjobs', {
        'task': 'echo', 'cron': '@daily', 'minute': [1]}, headers=MANAGE,
        status=400)
    assert response.json['error'] == (
        'give either a cron expression or the tuple fields and delay, not '
        'both')
    assert jobIds(reader.service()) == []


def test_edit_a_cron_job(client, reader):
    job = client.post_json('/api/services/svc/cronjobs', {
        'task': 'echo', 'minute': [5]}, headers=MANAGE).json
    url = f'/api/services/svc/jobs/{job["id"]}/schedule'
    edited = client.put_json(url, {'cron': '0 3 * * *', 'input': 'nightly'},
                             headers=MANAGE).json
    assert edited['schedule']['cron'] == '0 3 * * *'
    assert edited['schedule']['minute'] == []
    stored = reader.service().jobs[job['id']]
    assert (stored.cron.expression, stored.input) == ('0 3 * * *', 'nightly')


def test_bad_edits_change_nothing(client, reader):
    job = client.post_json('/api/services/svc/cronjobs', {
        'task': 'echo', 'minute': [5]}, headers=MANAGE).json
    url = f'/api/services/svc/jobs/{job["id"]}/schedule'
    response = client.put_json(url, {'minute': [99], 'input': 'x'},
                               headers=MANAGE, status=400)
    assert response.json['fields'] == {
        'minute': 'minute value 99 is out of range 0-59'}
    client.post(f'/api/services/svc/jobs/{job["id"]}/cancel', headers=MANAGE)
    response = client.put_json(url, {'minute': [7], 'input': 'x'},
                               headers=MANAGE, status=409)
    assert response.json['error'] == (
        f'job {job["id"]} is cancelled and cannot be rescheduled')
    stored = reader.service().jobs[job['id']]
    assert (stored.minute, stored.input) == ((5,), None)
    plain = add(client, {'task': 'echo'})
    response = client.put_json(
        f'/api/services/svc/jobs/{plain["id"]}/schedule', {'minute': [1]},
        headers=MANAGE, status=409)
    assert response.json['error'] == f'job {plain["id"]} is not a cron job'


# Reading jobs

def test_get_a_job_through_its_life(client, reader):
    jobid = add(client, {'task': 'echo', 'input': {'n': 1}})['id']
    failed = add(client, {'task': 'fail', 'input': 'x'})['id']
    job = client.get(f'/api/services/svc/jobs/{jobid}', headers=READ).json
    assert (job['status'], job['started'], job['attempts']) == (
        'queued', None, 0)
    service = reader.service()
    service.process()
    reader.tm.commit()
    job = client.get(f'/api/services/svc/jobs/{jobid}', headers=READ).json
    assert job['status'] == 'completed'
    assert job['result'] == {'n': 1} and job['error'] is None
    assert job['created'] <= job['started'] <= job['completed']
    assert job['attempts'] == 1
    job = client.get(f'/api/services/svc/jobs/{failed}', headers=READ).json
    assert (job['status'], job['error']) == ('error', 'failed: x')


def test_values_json_cannot_hold_are_shown_as_repr(client, reader):
    service = reader.service()
    jobid = service.add('echo', {1: {2, 3}, 'when': b'\x00'})
    reader.tm.commit()
    job = client.get(f'/api/services/svc/jobs/{jobid}', headers=READ).json
    assert job['input'] == {'1': '{2, 3}', 'when': "b'\\x00'"}


@pytest.mark.parametrize('text, status, message', [
    ('abc', 400, "a job id is an int, not 'abc'"),
    ('1.5', 400, "a job id is an int, not '1.5'"),
    ('99999999999', 404, 'no job with id 99999999999: job ids are in '
     '[0, 2**31)'),
    ('12345', 404, "no job with id 12345 in service 'svc'"),
])
def test_bad_job_ids(client, text, status, message):
    for method, path in [('get', ''), ('post', '/cancel'),
                         ('post', '/start')]:
        headers = READ if method == 'get' else MANAGE
        response = getattr(client, method)(
            f'/api/services/svc/jobs/{text}{path}', headers=headers,
            status=status)
        assert response.json['error'] == message


# Cancelling and cleaning

def test_cancel(client, reader):
    jobid = add(client, {'task': 'echo'})['id']
    url = f'/api/services/svc/jobs/{jobid}/cancel'
    assert client.post(url, headers=MANAGE).json['status'] == 'cancelled'
    assert client.post(url, headers=MANAGE).json['status'] == 'cancelled'
    assert reader.service().getStatus(jobid) == 'cancelled'


def test_cancel_a_finished_job_is_409(client, reader):
    jobid = add(client, {'task': 'echo'})['id']
    reader.service().process()
    reader.tm.commit()
    response = client.post(f'/api/services/svc/jobs/{jobid}/cancel',
                           headers=MANAGE, status=409)
    assert response.json == {
        'error': f'job {jobid} is completed and cannot be cancelled',
        'status': 409}
    assert reader.service().getStatus(jobid) == 'completed'


def test_clean(client, reader):
    done = [add(client, {'task': 'echo'})['id'] for _ in range(3)]
    failed = add(client, {'task': 'fail'})['id']
    reader.service().process()
    reader.tm.commit()
    waiting = add(client, {'task': 'echo'})['id']
    response = client.post_json('/api/services/svc/clean',
                                {'status': ['completed']}, headers=MANAGE)
    assert response.json == {'removed': 3}
    assert jobIds(reader.service()) == sorted([failed, waiting])
    assert client.post('/api/services/svc/clean', headers=MANAGE).json == {
        'removed': 1}
    assert jobIds(reader.service()) == [waiting]
    assert done


@pytest.mark.parametrize('body', [{'status': ['queued']}, {'status': 'error'},
                                  {'state': ['error']}])
def test_clean_refuses_what_is_not_finished(client, reader, body):
    jobid = add(client, {'task': 'echo'})['id']
    client.post_json('/api/services/svc/clean', body, headers=MANAGE,
                     status=400)
    assert jobIds(reader.service()) == [jobid]


def test_cancel_all_in_batches(client, reader, monkeypatch):
    monkeypatch.setattr(settings, 'CANCEL_BATCH', 7)
    service = reader.service()
    ids = [service.add('echo', n) for n in range(20)]
    ids.append(service.add('echo', 'later', startLater=True))
    ids.append(service.addCronJob('echo', delay=60))
    due = service.addCronJob('echo', minute=(0,))
    service.promote(0)
    service.promote(3600)             # due: in the queue, to run now
    cron = service.addCronJob('echo', minute=(1,))
    done = service.add('echo', 'done')
    service.processNext(jobid=done)
    reader.tm.commit()
    assert reader.service().getStatus(due) == 'queued'
    response = client.post('/api/services/svc/cancel-all', headers=MANAGE)
    assert response.json == {'cancelled': 22, 'statuses': [
        'waiting', 'queued', 'start later', 'delayed', 'retry']}
    service = reader.service()
    assert {service.getStatus(j) for j in ids} == {'cancelled'}
    assert service.getStatus(done) == 'completed'
    # Cron jobs keep their schedules, also when a run waits in the queue.
    assert (service.getStatus(cron), service.getStatus(due)) == (
        'cronjob', 'queued')


# Listing jobs

def test_pages_of_jobs(client, reader):
    service = reader.service()
    ids = [service.add('echo', n) for n in range(120)]
    for jobid in ids[:30]:
        service.cancel(jobid)
    reader.tm.commit()
    seen, url = [], '/api/services/svc/jobs?limit=50'
    while url:
        page = client.get(url, headers=READ).json
        assert len(page['jobs']) <= 50
        seen.extend(job['id'] for job in page['jobs'])
        url = page['nextUrl']
    assert seen == ids[::-1]      # newest first
    cancelled = client.get('/api/services/svc/jobs?status=cancelled&limit=20',
                           headers=READ).json
    # The last cancelled first.
    assert [j['id'] for j in cancelled['jobs']] == ids[29:9:-1]
    rest = client.get(cancelled['nextUrl'], headers=READ).json
    assert [j['id'] for j in rest['jobs']] == ids[9::-1]
    assert rest['next'] is None
    queued = client.get('/api/services/svc/jobs?status=queued&limit=500',
                        headers=READ).json
    assert [j['id'] for j in queued['jobs']] == ids[30:]


@pytest.mark.parametrize('query, message', [
    ('status=done', "unknown status 'done'; the statuses are queued, "
     'processing, retry, waiting, start later, delayed, cronjob, completed, '
     'cancelled, error (or failed for error)'),
    ('limit=0', "limit must be an int in 1-500, not '0'"),
    ('limit=501', "limit must be an int in 1-500, not '501'"),
    ('after=x', "after must be the cursor of a page, not 'x'"),
    ('after=2147483648', "after must be the cursor of a page, not "
     "'2147483648'"),
    ('after=' + '9' * 5000, "after must be the cursor of a page, not "
     "'9999999999999999999999999999999999999999'... (5000 characters)"),
])
def test_bad_listing_parameters(client, query, message):
    response = client.get(f'/api/services/svc/jobs?{query}', headers=READ,
                          status=400)
    assert response.json['error'] == message


def test_a_page_reads_only_its_jobs(db, client, reader):
    """Listing 10 of 2,000 jobs loads a few dozen objects, not 2,000."""
    service = reader.service()
    for n in range(2000):
        service.add('echo', n)
    reader.tm.commit()
    db.cacheMinimize()
    client.get('/api/services/svc/jobs?limit=10', headers=READ)  # warm up

    def read():
        page = client.get('/api/services/svc/jobs?limit=10&status=queued',
                          headers=READ).json
        assert len(page['jobs']) == 10
        byId = client.get('/api/services/svc/jobs?limit=10', headers=READ).json
        assert len(byId['jobs']) == 10
    loaded = loads(db, read)
    assert 20 <= loaded < 80, loaded


# Transactions

def test_a_conflict_is_retried_and_an_error_aborts(app, reader):
    calls = []

    def flaky(ctx):
        ctx.root['svc'].add('echo', len(calls))
        calls.append(1)
        if len(calls) == 1:
            raise ConflictError('simulated')
        return api.respond({'ok': True})

    def broken(ctx):
        ctx.root['svc'].add('echo', 'lost')
        raise RuntimeError('a bug')

    app.router.add('POST', '/api/test/flaky', flaky, MANAGE_RIGHT, 'api')
    app.router.add('POST', '/api/test/broken', broken, MANAGE_RIGHT, 'api')
    client = webtest.TestApp(app)
    assert client.post('/api/test/flaky', headers=MANAGE).json == {'ok': True}
    service = reader.service()
    assert [service.jobs[j].input for j in jobIds(service)] == [1]
    response = client.post('/api/test/broken', headers=MANAGE, status=500)
    assert response.json['error'] == (
        'internal error; the server log has the details')
    assert len(jobIds(reader.service())) == 1


def test_a_job_shows_priority_progress_and_next_attempt(client, reader):
    job = add(client, {'task': 'echo', 'priority': 3})
    service = reader.service()
    assert service.claimNextJob() == job['id']
    service.setProgress(job['id'], 0.25, 'a quarter')
    reader.tm.commit()
    shown = client.get(f'/api/services/svc/jobs/{job["id"]}',
                       headers=MANAGE).json
    assert (shown['priority'], shown['status']) == (3, 'processing')
    assert (shown['progress']['fraction'], shown['progress']['message']) == \
        (0.25, 'a quarter')
    page = client.get('/services/svc', headers=MANAGE)
    assert '25% a quarter, priority 3' in page.text


# Operators' actions

def failing(exception):
    def task(input):
        raise exception
    return task


def test_retry_a_failed_or_cancelled_job(client, reader):
    failed = add(client, {'task': 'fail', 'input': 'x'})
    cancelled = add(client, {'task': 'echo', 'startLater': True})
    done = add(client, {'task': 'echo'})
    client.post(cancelled['url'] + '/cancel', headers=MANAGE)
    service = reader.service()
    service.process()
    reader.tm.commit()
    for job in (failed, cancelled):
        shown = client.post(job['url'] + '/retry', headers=MANAGE).json
        assert (shown['id'], shown['status'], shown['error']) == (
            job['id'], 'queued', None)
    response = client.post(done['url'] + '/retry', headers=MANAGE,
                           status=409)
    assert response.json['error'] == (
        f'job {done["id"]} is completed: only failed and cancelled jobs are '
        f'retried')
    client.post(failed['url'] + '/retry', headers=READ, status=403)
    service = reader.service()
    assert [service.getStatus(j['id']) for j in (failed, cancelled, done)] \
        == ['queued', 'queued', 'completed']
    # The same job runs again: a new attempt, the first one's kept.
    service.process()
    reader.tm.commit()
    shown = client.get(failed['url'], headers=READ).json
    assert (shown['status'], shown['attempts']) == ('error', 2)
    assert [a['attempt'] for a in shown['history']] == [1, 2]


def test_a_job_shows_the_history_of_its_attempts(client, reader):
    from lovely import remotetask
    from lovely.remotetask import RetryPolicy
    remotetask.provideTask(failing(ValueError('bad value')), name='broken',
                           retry=RetryPolicy())     # three at once
    job = add(client, {'task': 'broken'})
    reader.service().process()     # three attempts, each failed
    reader.tm.commit()
    shown = client.get(job['url'], headers=READ).json
    assert (shown['status'], shown['attempts'], shown['error']) == (
        'error', 3, 'ValueError: bad value')
    assert [(a['attempt'], a['worker'], a['error']) for a in
            shown['history']] == [(n, None, 'ValueError: bad value')
                                  for n in (1, 2, 3)]
    for attempt in shown['history']:
        assert attempt['started'] <= attempt['ended']
        assert attempt['traceback'].startswith('Traceback (most recent call')
        assert attempt['traceback'].endswith('ValueError: bad value\n')
    assert shown['dashboard'] == f'/services/svc/jobs/{job["id"]}'


def test_retry_all_in_batches_by_status_and_task(client, reader,
                                                  monkeypatch):
    monkeypatch.setattr(settings, 'RETRY_BATCH', 3)
    from lovely import remotetask
    from lovely.remotetask.timing.retry import RetryPolicy
    remotetask.provideTask(failing(ValueError('no')), name='other',
                           retry=RetryPolicy(maxAttempts=1))
    service = reader.service()
    fails = [service.add('fail', n) for n in range(7)]
    others = [service.add('other', n) for n in range(2)]
    cancelled = service.add('echo', 'c')
    service.cancel(cancelled)
    service.process()
    reader.tm.commit()
    response = client.post_json('/api/services/svc/retry-all',
                                {'task': 'fail'}, headers=MANAGE)
    assert response.json == {'retried': 7}
    service = reader.service()
    assert {service.getStatus(j) for j in fails} == {'queued'}
    assert {service.getStatus(j) for j in others} == {'error'}
    assert client.post('/api/services/svc/retry-all', headers=MANAGE).json \
        == {'retried': 2}
    assert client.post_json('/api/services/svc/retry-all',
                            {'status': 'cancelled'}, headers=MANAGE).json \
        == {'retried': 1}
    for body, field in [({'status': 'completed'}, 'status'),
                        ({'task': 5}, 'task'), ({'state': 'error'}, 'state')]:
        response = client.post_json('/api/services/svc/retry-all', body,
                                    headers=MANAGE, status=400)
        assert field in response.json['fields']
    assert reader.service().statusCounts() == {'queued': 10}


def test_failed_is_another_name_for_error(client, reader):
    """The dashboard says "failed": a status of a request may too."""
    service = reader.service()
    fails = [service.add('fail', n) for n in range(2)]
    done = service.add('echo', 'ok')
    service.process()
    reader.tm.commit()
    page = client.get('/api/services/svc/jobs?status=failed&limit=1',
                      headers=READ).json
    assert [job['status'] for job in page['jobs']] == ['error']
    assert 'status=error' in page['nextUrl']
    assert client.post_json('/api/services/svc/retry-all',
                            {'status': 'failed'}, headers=MANAGE).json == \
        {'retried': 2}
    reader.service().process()
    reader.tm.commit()
    assert client.post_json('/api/services/svc/clean', {'status': ['failed']},
                            headers=MANAGE).json == {'removed': 2}
    assert jobIds(reader.service()) == [done]
    assert fails


class BatchContext:
    """What `actions` needs of a request: commits between batches, here
    with workers that run (and fail again) what was retried meanwhile."""

    def __init__(self, service, tm, between=lambda: None, conflicts=0):
        self.tm, self.between = tm, between
        self.app = type('App', (), {'attempts': 3})
        self.service = service
        self.commits = 0
        self.conflicts = conflicts

    def commitBatch(self):
        if self.conflicts:
            self.conflicts -= 1
            raise ConflictError('simulated')
        self.tm.commit()
        self.commits += 1
        assert self.commits < 20, 'retry all does not end'
        self.between()


def test_retry_all_retries_each_job_once(reader, monkeypatch):
    """Jobs that fail again while "retry all" goes on come back at the end
    of the failed jobs; they are not retried a second time."""
    from lovely.remotetask.web import actions
    monkeypatch.setattr(settings, 'RETRY_BATCH', 2)
    service = reader.service()
    fails = [service.add('fail', n) for n in range(5)]
    service.process()
    reader.tm.commit()
    ctx = BatchContext(service, reader.tm, service.process)
    assert actions.retryAll(ctx, service) == 5
    assert ctx.commits == 3
    assert {service.jobs[j].attempts for j in fails} == {2}


def test_run_a_cron_job_now(client, reader):
    cron = client.post_json('/api/services/svc/cronjobs', {
        'task': 'echo', 'input': 'tick', 'cron': '0 4 * * *'},
        headers=MANAGE).json
    response = client.post(cron['url'] + '/run-now', headers=MANAGE,
                           status=201)
    run = response.json
    assert response.headers['Location'] == run['url']
    assert (run['status'], run['runOf'], run['input'], run['task']) == (
        'queued', cron['id'], 'tick', 'echo')
    service = reader.service()
    service.processNext(jobid=run['id'])
    reader.tm.commit()
    shown = client.get(cron['url'], headers=READ).json
    assert (shown['status'], shown['result']) == ('cronjob', 'tick')
    plain = add(client, {'task': 'echo'})
    response = client.post(plain['url'] + '/run-now', headers=MANAGE,
                           status=409)
    assert response.json['error'] == f'job {plain["id"]} is not a cron job'


def test_pause_and_resume_a_cron_job(client, reader):
    cron = client.post_json('/api/services/svc/cronjobs', {
        'task': 'echo', 'minute': [0]}, headers=MANAGE).json
    shown = client.post(cron['url'] + '/pause', headers=MANAGE).json
    assert shown['schedule']['paused'] is True
    service = reader.service()
    service.promote(0)
    assert service.promote(3600) == 0        # its run is skipped
    reader.tm.abort()
    shown = client.post(cron['url'] + '/resume', headers=MANAGE).json
    assert shown['schedule']['paused'] is False
    delayed = client.post_json('/api/services/svc/jobs', {
        'task': 'echo', 'delay': 60}, headers=MANAGE).json
    response = client.post(delayed['url'] + '/pause', headers=MANAGE,
                           status=409)
    assert response.json['error'] == f'job {delayed["id"]} is not a cron job'


def test_pause_and_resume_a_service(client, reader):
    jobid = add(client, {'task': 'echo'})['id']
    shown = client.post('/api/services/svc/pause', headers=MANAGE).json
    assert shown['paused'] is True
    service = reader.service()
    assert service.isPaused() and service.claimNextJob() is None
    reader.tm.abort()
    assert client.get('/api/services/svc', headers=READ).json['paused']
    assert client.post('/api/services/svc/resume',
                       headers=MANAGE).json['paused'] is False
    assert reader.service().claimNextJob() == jobid
    client.post('/api/services/svc/pause', headers=READ, status=403)


def test_a_service_overview(client, reader):
    service = reader.service()
    first = service.add('echo', 1)
    service.add('echo', 2)
    service.add('echo', 3, startLater=True)
    done = service.add('echo', 4)
    service.processNext(jobid=done)
    reader.tm.commit()
    service = reader.service()
    service.registerWorker('w1', 30)
    claimed, = service.claim('w1')
    reader.tm.commit()
    assert claimed.jobid == first
    service = reader.service()
    service.heartbeat('w1', 30)
    reader.tm.commit()
    shown = client.get('/api/services/svc', headers=READ).json
    assert shown['counts'] == dict(
        queued=1, processing=1, retry=0, waiting=0, delayed=0, cronjob=0,
        completed=1, cancelled=0, error=0, **{'start later': 1})
    assert (shown['total'], shown['queued'], shown['paused']) == (
        4, 1, False)
    assert 0 <= shown['oldestWaitingAge'] < 60
    worker, = shown['workers']
    assert (worker['id'], worker['jobs'], worker['leaseTime']) == (
        'w1', {str(first): 1}, 30)
    assert 0 <= worker['heartbeatAge'] < 30 and not worker['expired']
    listed = client.get('/api/services', headers=READ).json['services']
    assert [s['counts']['queued'] for s in listed] == [1, 0]


def test_jobs_finished_per_minute(client, reader):
    service = reader.service()
    for n in range(3):
        service.add('echo', n)
    service.add('fail', 'x')
    service.process()
    reader.tm.commit()
    minutes = client.get('/api/services/svc/activity?minutes=5',
                         headers=READ).json['minutes']
    assert len(minutes) == 5
    assert [m['start'] for m in minutes] == sorted(m['start'] for m in minutes)
    # In the last minute, or the last two when the jobs ended across a
    # minute's end.
    assert [sum(m[status] for m in minutes[-2:])
            for status in ('completed', 'error', 'cancelled')] == [3, 1, 0]
    assert len(client.get('/api/services/svc/activity',
                          headers=READ).json['minutes']) == 60
    for bad in ('0', '61', 'x'):
        client.get(f'/api/services/svc/activity?minutes={bad}', headers=READ,
                   status=400)


def test_listings_by_task(client, reader, monkeypatch):
    service = reader.service()
    ids = [service.add('echo' if n % 3 else 'fail', n) for n in range(12)]
    reader.tm.commit()
    fails = [j for n, j in enumerate(ids) if n % 3 == 0][::-1]
    page = client.get('/api/services/svc/jobs?task=fail&limit=3',
                      headers=READ).json
    assert [j['id'] for j in page['jobs']] == fails[:3]
    assert page['nextUrl'].endswith('&limit=3&task=fail')
    rest = client.get(page['nextUrl'], headers=READ).json
    assert [j['id'] for j in rest['jobs']] == fails[3:]
    # A filtered page reads a bounded number of jobs: it may come short,
    # with more to come.
    from lovely.remotetask.store import listing
    monkeypatch.setattr(listing, 'SCAN', 2)
    seen, url, pages = [], '/api/services/svc/jobs?task=fail&limit=3', 0
    while url:
        page = client.get(url, headers=READ).json
        seen += [j['id'] for j in page['jobs']]
        url, pages = page['nextUrl'], pages + 1
    assert (seen, pages) == (fails, 6)
    client.get('/api/services/svc/jobs?task=' + 'x' * 1001, headers=READ,
               status=400)


def test_a_batch_that_conflicts_is_done_again(reader, monkeypatch):
    from lovely.remotetask.web import actions
    monkeypatch.setattr(settings, 'RETRY_BATCH', 2)
    monkeypatch.setattr(settings, 'CANCEL_BATCH', 2)
    service = reader.service()
    fails = [service.add('fail', n) for n in range(5)]
    service.process()
    reader.tm.commit()
    ctx = BatchContext(service, reader.tm, conflicts=2)
    assert actions.retryAll(ctx, service) == 5
    assert {service.getStatus(j) for j in fails} == {'queued'}
    ctx = BatchContext(service, reader.tm, conflicts=1)
    assert actions.cancelWaiting(ctx, service) == 5
    assert {reader.service().getStatus(j) for j in fails} == {'cancelled'}
    ctx = BatchContext(service, reader.tm, conflicts=3)
    with pytest.raises(ConflictError):
        actions.retryAll(ctx, service, 'cancelled')


# The contract of the OpenAPI document (tests/web/test_web_contract.py
# runs schemathesis on all of it)

def bodySchemas(document):
    for path, operations in document['paths'].items():
        for method, operation in operations.items():
            if 'requestBody' in operation:
                schema = operation['requestBody']['content'][
                    'application/json']['schema']
                yield f'{method.upper()} {path}', operation, schema


def objects(schema):
    """The object schemas a body schema allows, its branches each."""
    branches = schema.get('oneOf', [schema])
    return [branch for branch in branches if branch.get('type') == 'object']


def test_every_body_is_closed_and_unknown_fields_are_refused(client, reader):
    document = client.get('/api/openapi.json').json
    checked = set()
    for name, operation, schema in bodySchemas(document):
        assert objects(schema), name
        for branch in objects(schema):
            assert branch['additionalProperties'] is False, name
        checked.add(name)
    assert len(checked) == 9
    jobid = add(client, {'task': 'echo'})['id']
    cron = client.post_json('/api/services/svc/cronjobs', {
        'task': 'echo', 'minute': [5]}, headers=MANAGE).json['id']
    before = jobIds(reader.service())
    for method, path in [
            ('post', '/api/services/svc/jobs'),
            ('post', '/api/services/svc/cronjobs'),
            ('put', f'/api/services/svc/jobs/{cron}/schedule'),
            ('post', '/api/services/svc/clean'),
            ('post', '/api/services/svc/retry-all'),
            ('put', '/api/services/svc/queues/mail/limit')]:
        response = getattr(client, f'{method}_json')(
            path, {'task': 'echo', 'minute': [1], 'prority': 5},
            headers=MANAGE, status=400)
        assert response.json['fields'].get('prority') == 'unknown field'
    assert jobIds(reader.service()) == before
    assert reader.service().getStatus(jobid) == 'queued'


def test_clean_and_retry_all_take_no_body_as_documented(client):
    document = client.get('/api/openapi.json').json
    for path in ('/services/{service}/clean', '/services/{service}/retry-all'):
        assert document['paths'][path]['post']['requestBody'][
            'required'] is False
        client.post('/api' + path.replace('{service}', 'svc'),
                    headers=MANAGE, status=200)


@pytest.mark.parametrize('query, field', [
    ('jobs?status=', 'status'), ('jobs?limit=', 'limit'),
    ('activity?minutes=', 'minutes'), ('jobs?limit=%2B5', 'limit'),
    ('jobs?limit=%D9%A5', 'limit'), ('activity?minutes=%205', 'minutes')])
def test_parameters_given_empty_or_not_as_json_writes_them_are_refused(
        client, query, field):
    """Empty is no value of the status enum nor an integer; an integer is
    written in ASCII digits (int() takes '+5', ' 5' and Arabic-Indic
    digits, which no schema can say)."""
    response = client.get(f'/api/services/svc/{query}', headers=READ,
                          status=400)
    assert field in response.json['fields']


def test_the_dashboard_takes_an_empty_status_as_none(client):
    client.get(f'/login?token={MANAGE_TOKEN}', status=303)
    client.get('/services/svc?status=&limit=', status=200)


def test_whole_numbers_may_be_written_as_floats(client, reader):
    """JSON Schema counts 5.0 an integer: so does the API."""
    jobid = add(client, {'task': 'echo', 'priority': 5.0})['id']
    cron = client.post_json('/api/services/svc/cronjobs', {
        'task': 'echo', 'minute': [5.0, 30]}, headers=MANAGE,
        status=201).json['id']
    service = reader.service()
    assert service.jobs[jobid].priority == 5
    assert service.jobs[cron].minute == (5, 30)
    client.post_json('/api/services/svc/jobs', {
        'task': 'echo', 'priority': 5.5}, headers=MANAGE, status=400)


def test_the_schema_states_the_rules_it_can(app, client):
    anyone = client.get('/api/openapi.json').json
    known = client.get('/api/openapi.json', headers=READ).json
    newJob = known['paths']['/services/{service}/jobs']['post'][
        'requestBody']['content']['application/json']['schema']
    now, at, after, delayed = newJob['oneOf']
    # The tasks that may be added, to those who may read them.
    assert now['properties']['task'] == dict(
        type='string', minLength=1, enum=['echo', 'fail'],
        description='a task registered where the service runs')
    assert 'enum' not in anyone['paths']['/services/{service}/jobs'][
        'post']['requestBody']['content']['application/json']['schema'][
        'oneOf'][0]['properties']['task']
    # A delayed job takes no priority and no key, and does not start later.
    assert 'delay' not in now['properties']
    # One of: start later, at a time, after others.
    assert {'at', 'after', 'onFailure'}.isdisjoint(now['properties'])
    assert at['required'] == ['task', 'at'] and 'startLater' not in at[
        'properties'] and 'after' not in at['properties']
    assert after['required'] == ['task', 'after'] and \
        after['properties']['onFailure'] == {
            'enum': ['cancel', 'run'], 'description': after['properties'][
                'onFailure']['description']}
    assert set(delayed['properties']) == {'task', 'input', 'startLater',
                                          'delay'}
    assert delayed['properties']['startLater'] == {'const': False}
    for body in ({'task': 'echo', 'delay': 5, 'priority': 1},
                 {'task': 'echo', 'delay': 5, 'key': 'k'},
                 {'task': 'echo', 'delay': 5, 'startLater': True},
                 {'task': 'echo', 'delay': None}, {'task': ''},
                 {'task': 'nosuch'}, {'task': 'echo', 'key': None},
                 {'task': 'echo', 'at': 5, 'after': [1]},
                 {'task': 'echo', 'delay': 5, 'queue': 'q'}):
        client.post_json('/api/services/svc/jobs', body, headers=MANAGE,
                         status=400)
    # The ranges of a schedule's fields, as lists and as text.
    byFields = known['paths']['/services/{service}/cronjobs']['post'][
        'requestBody']['content']['application/json']['schema']['oneOf'][1]
    minute = byFields['properties']['minute']['oneOf']
    assert minute[0]['items'] == {'type': 'integer', 'minimum': 0,
                                  'maximum': 59}
    pattern = re.compile(minute[1]['pattern'])
    assert all(pattern.match(text) for text in ('', '*', '0,30', ' 5 - 9 ',
                                                '059'))
    assert not any(pattern.match(text) for text in ('60', '+5', '1,,2',
                                                    '*/5', '\u0665'))
    weekdays = re.compile(byFields['properties']['dayOfWeek']['oneOf'][1][
        'pattern'])
    assert weekdays.match('Monday-FRI,sun') and not weekdays.match('7')


def test_every_operation_lists_what_any_route_may_answer(client):
    document = client.get('/api/openapi.json').json
    for path, operations in document['paths'].items():
        for method, operation in operations.items():
            assert {'400', '401', '413', '503'} <= set(
                operation['responses']), (method, path)
            assert 'Retry-After' in operation['responses']['503']['headers']


def test_write_contention_is_503_with_retry_after(app, db, reader):
    """Every attempt of the request conflicts with a writer that commits
    the same object first: after the last, 503 with Retry-After."""
    from persistent.mapping import PersistentMapping
    tm = transaction.TransactionManager()
    other = db.open(transaction_manager=tm)
    other.root()['contended'] = PersistentMapping(n=0)
    tm.commit()

    def contended(ctx):
        ctx.connection.root()['contended']['n'] += 1
        tm.begin()
        other.root()['contended']['n'] += 1      # a writer that is quicker
        tm.commit()
        return api.respond({'ok': True})

    app.router.add('POST', '/api/test/contended', contended, MANAGE_RIGHT,
                   'api')
    response = webtest.TestApp(app).post('/api/test/contended',
                                         headers=MANAGE, status=503)
    assert response.headers['Retry-After'] == '1'
    assert response.json['status'] == 503
    tm.begin()
    assert other.root()['contended']['n'] == settings.ATTEMPTS
    other.close()
