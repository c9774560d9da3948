"""Workflows, batches, queues and limits in the JSON API and XML-RPC
(issues 27 and 28)."""
import xmlrpc.client

import pytest

from conftest import MANAGE, READ
from lovely import remotetask
from lovely.remotetask import Workflow

API = '/api/services/svc'


def addFlow(service):
    """fetch, then (build, which fails) and (notes), then publish."""
    workflow = Workflow('release')
    workflow.add('fetch', 'echo', 1)
    workflow.add('build', 'fail', 'compiler', after='fetch')
    workflow.add('notes', 'echo', 'notes', after='fetch')
    workflow.add('publish', 'echo', 3, after=['build', 'notes'])
    return service.addWorkflow(workflow)


def test_a_workflow_with_its_steps(client, reader):
    ids = addFlow(reader.service())
    reader.tm.commit()
    # Any step names it; the answer names it by its first.
    data = client.get(f'{API}/workflows/{ids["notes"]}', headers=READ).json
    assert (data['id'], data['name'], data['status'], data['counts']) == (
        ids['fetch'], 'release', 'waiting', {'queued': 1, 'waiting': 3})
    assert data['url'] == f'{API}/workflows/{ids["fetch"]}'
    assert data['dashboard'] == f'/services/svc/workflows/{ids["fetch"]}'
    steps = {step['name']: step for step in data['steps']}
    assert steps['publish']['after'] == ['build', 'notes']
    assert (steps['build']['id'], steps['build']['task'],
            steps['build']['status']) == (ids['build'], 'fail', 'waiting')
    assert steps['fetch']['url'] == f'{API}/jobs/{ids["fetch"]}'
    # A job in no workflow, or none at all, is no workflow.
    alone = reader.service().add('echo', 'alone')
    reader.tm.commit()
    answer = client.get(f'{API}/workflows/{alone}', headers=READ,
                        status=404).json
    assert answer['error'] == f'job {alone} is in no workflow'
    client.get(f'{API}/workflows/999999', headers=READ, status=404)
    client.get(f'{API}/workflows/x', headers=READ, status=400)


def test_retry_and_cancel_a_workflow(client, reader):
    service = reader.service()
    ids = addFlow(service)
    service.process()
    reader.tm.commit()
    data = client.get(f'{API}/workflows/{ids["fetch"]}', headers=READ).json
    assert data['status'] == 'failed'
    statuses = {step['name']: step['status'] for step in data['steps']}
    assert statuses == {'fetch': 'completed', 'build': 'error',
                        'notes': 'completed', 'publish': 'cancelled'}
    # Changing takes the manage right.
    client.post(f'{API}/workflows/{ids["fetch"]}/retry', headers=READ,
                status=403)
    answer = client.post(f'{API}/workflows/{ids["fetch"]}/retry',
                         headers=MANAGE).json
    assert answer['retried'] == [ids['build']]
    statuses = {step['name']: step['status']
                for step in answer['workflow']['steps']}
    assert (statuses['build'], statuses['publish']) == ('queued', 'waiting')
    answer = client.post(f'{API}/workflows/{ids["publish"]}/cancel',
                         headers=MANAGE).json
    # The steps that wait for a cancelled one go with it.
    assert answer['cancelled'] == [ids['build']]
    assert answer['workflow']['status'] == 'cancelled'
    assert reader.service().getStatus(ids['publish']) == 'cancelled'


def test_a_batch_and_its_close(client, reader):
    service = reader.service()
    batchId = service.addBatch(onSuccess='echo', onDeath=('echo', 'died'))
    jobs = [service.add('echo', n, batch=batchId) for n in range(3)]
    service.processNext(jobid=jobs[0])
    reader.tm.commit()
    data = client.get(f'{API}/batches/{batchId}', headers=READ).json
    assert (data['id'], data['open'], data['size'], data['finished'],
            data['completed'], data['failed'], data['parent']) == (
        batchId, True, 3, 1, 1, 0, None)
    assert set(data['callbacks']) == {'success', 'death'}
    success = data['callbacks']['success']
    assert (success['status'], success['url']) == (
        'waiting', f'{API}/jobs/{success["id"]}')
    # Closing takes the right to add jobs, as adding to it does.
    client.post(f'{API}/batches/{batchId}/close', headers=READ, status=403)
    data = client.post(f'{API}/batches/{batchId}/close', headers=MANAGE).json
    assert data['open'] is False
    with pytest.raises(remotetask.exceptions.JobStateError):
        reader.service().add('echo', 'late', batch=batchId)
    reader.tm.abort()
    answer = client.get(f'{API}/batches/{jobs[0]}', headers=READ,
                        status=404).json
    assert answer['error'].startswith(f'there is no batch {jobs[0]}')


def test_queues_paused_resumed_and_limited(client, reader):
    service = reader.service()
    service.add('echo', 'mail', queue='mail')
    default = service.add('echo', 'default')
    reader.tm.commit()
    data = client.get(f'{API}/queues', headers=READ).json
    assert [(q['name'], q['paused'], q['limit'], q['queued'])
            for q in data['queues']] == [('default', False, None, 1),
                                         ('mail', False, None, 1)]
    assert data['stranded'] == []
    client.post(f'{API}/queues/mail/pause', headers=READ, status=403)
    queue = client.post(f'{API}/queues/mail/pause', headers=MANAGE).json
    assert (queue['name'], queue['paused'], queue['held']) == (
        'mail', True, 1)
    service = reader.service()
    assert [claim.jobid for claim in service.claim(None, 5)] == [default]
    reader.tm.abort()
    queue = client.post(f'{API}/queues/mail/resume', headers=MANAGE).json
    assert queue['paused'] is False
    queue = client.put_json(f'{API}/queues/mail/limit', {'limit': 2},
                            headers=MANAGE).json
    assert queue['limit'] == 2
    assert reader.service().getQueues()[1]['limit'] == 2
    queue = client.put_json(f'{API}/queues/mail/limit', {'limit': None},
                            headers=MANAGE).json
    assert queue['limit'] is None
    # A queue with neither jobs nor settings is running and empty.
    queue = client.post(f'{API}/queues/other/resume', headers=MANAGE).json
    assert queue == dict(name='other', paused=False, limit=None, running=0,
                         queued=0, held=0)


@pytest.mark.parametrize('body, field, message', [
    ({}, 'limit', 'limit is required'),
    ({'limit': -1}, 'limit', 'limit must be a whole number from 0'),
    ({'limit': 'x'}, 'limit', 'limit must be a whole number from 0'),
    ({'limit': True}, 'limit', 'limit must be a whole number from 0'),
    ({'limit': 1, 'max': 2}, 'max', 'unknown field max'),
])
def test_a_bad_limit_is_named(client, reader, body, field, message):
    answer = client.put_json(f'{API}/queues/mail/limit', body,
                             headers=MANAGE, status=400).json
    assert answer['error'].startswith(message)
    assert field in answer['fields']
    assert reader.service().getQueues()[-1]['name'] == 'default'


@pytest.mark.parametrize('name', ['.hidden', 'sp%20ace', 'caf%C3%A9',
                                  'x' * 101])
def test_a_bad_queue_name_is_refused(client, reader, name):
    answer = client.post(f'{API}/queues/{name}/pause', headers=MANAGE,
                         status=400).json
    assert answer['error'].startswith('a queue is named by up to 100 ASCII')
    assert not any(q['paused'] for q in reader.service().getQueues())


def test_limits_say_what_runs_and_what_is_held(client, reader):
    remotetask.provideTask(lambda input: input, name='slow', concurrency=1,
                           rate=(10, 60))
    service = reader.service()
    first = service.add('slow', 1)
    service.add('slow', 2)
    service.registerWorker('w', 60)
    assert [claim.jobid for claim in service.claim('w', 5)] == [first]
    reader.tm.commit()
    data = client.get(f'{API}/limits', headers=READ).json
    assert data['limits'] == [dict(scope=['task', 'slow'], maximum=1,
                                   rate=dict(count=10, seconds=60),
                                   running=1, starts=1, held=1)]


def call(client, method, *params, headers=MANAGE):
    response = client.post('/xmlrpc/svc', xmlrpc.client.dumps(
        params, method, allow_none=True), headers=dict(
            headers, **{'Content-Type': 'text/xml'}))
    return xmlrpc.client.loads(response.body, use_builtin_types=True)[0][0]


def test_the_same_over_xmlrpc(client, reader):
    ids = addFlow(reader.service())
    reader.tm.commit()
    data = call(client, 'getWorkflow', ids['publish'], headers=READ)
    assert (data['id'], data['status']) == (ids['fetch'], 'waiting')
    assert call(client, 'cancelWorkflow', ids['fetch']) == [ids['fetch']]
    assert call(client, 'retryWorkflow', ids['fetch']) == [ids['fetch']]
    assert reader.service().getStatus(ids['publish']) == 'waiting'
    assert call(client, 'pauseQueue', 'mail') is True
    assert call(client, 'setQueueLimit', 'mail', 3) is True
    queues = {q['name']: q for q in call(client, 'getQueues')}
    assert (queues['mail']['paused'], queues['mail']['limit']) == (True, 3)
    assert call(client, 'setQueueLimit', 'mail', None) is True
    assert call(client, 'resumeQueue', 'mail') is True
    assert call(client, 'getLimits') == []
    assert call(client, 'getStranded') == []
    batchId = reader.service().addBatch(onComplete='echo')
    reader.tm.commit()
    assert call(client, 'getBatch', batchId)['open'] is True
    assert call(client, 'closeBatch', batchId) is True
    assert reader.service().getBatch(batchId)['open'] is False
    with pytest.raises(xmlrpc.client.Fault) as caught:
        call(client, 'setQueueLimit', 'mail', 'many')
    assert caught.value.faultString.startswith(
        'setQueueLimit: the limit is an int')
    with pytest.raises(xmlrpc.client.Fault) as caught:
        call(client, 'getWorkflow', 424242)
    assert caught.value.faultCode == -32602
    # Changes take the manage right.
    response = client.post('/xmlrpc/svc', xmlrpc.client.dumps(
        ('mail',), 'pauseQueue'), headers=dict(
            READ, **{'Content-Type': 'text/xml'}), status=403)
    assert response.status_int == 403
