"""XML-RPC with the 2009 API, through xmlrpc.client and a real server."""
import xmlrpc.client

import pytest
import webtest

from conftest import MANAGE_TOKEN, READ_TOKEN

BILLION_LAUGHS = b"""<?xml version="1.0"?>
<!DOCTYPE lolz [
 <!ENTITY lol "lol">
 <!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
 <!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">
 <!ENTITY lol4 "&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;">
 <!ENTITY lol5 "&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;">
 <!ENTITY lol6 "&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;">
 <!ENTITY lol7 "&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;">
 <!ENTITY lol8 "&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;">
 <!ENTITY lol9 "&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;">
]>
<methodCall><methodName>add</methodName><params>
<param><value><string>echo</string></value></param>
<param><value><string>&lol9;</string></value></param>
</params></methodCall>"""


def proxy(live, service='svc', token=MANAGE_TOKEN):
    host = live.url.replace('http://', f'http://user:{token}@')
    return xmlrpc.client.ServerProxy(f'{host}/xmlrpc/{service}')


def test_round_trip_over_http(live, reader):
    remote = proxy(live, 'site1.mail')
    assert remote.getAvailableTasks() == ['echo', 'fail']
    jobid = remote.add('echo', {'foo': 'bar', 'n': [1, 2.5, True]})
    assert isinstance(jobid, int)
    assert remote.getStatus(jobid) == 'queued'
    assert remote.getResult(jobid) is None
    assert remote.getError(jobid) is None
    service = reader.service('site1.mail')
    service.process()
    reader.tm.commit()
    assert remote.getStatus(jobid) == 'completed'
    assert remote.getResult(jobid) == {'foo': 'bar', 'n': [1, 2.5, True]}
    failed = remote.add('fail', 'x')
    reader.service('site1.mail').process()
    reader.tm.commit()
    assert remote.getError(failed) == 'failed: x'
    later = remote.add('echo', 'later')
    assert remote.cancel(later) is True
    assert remote.getStatus(later) == 'cancelled'


def faultOf(call):
    with pytest.raises(xmlrpc.client.Fault) as caught:
        call()
    return caught.value.faultCode, caught.value.faultString


def test_mistakes_are_faults_that_change_nothing(live, reader):
    remote = proxy(live)
    assert faultOf(lambda: remote.frobnicate(1)) == (
        -32601, "unknown method 'frobnicate'; this service offers add, "
        'cancel, cancelWorkflow, closeBatch, getAvailableTasks, getBatch, '
        'getChanges, getError, getLimits, getQueues, getResult, getStatus, '
        'getStranded, getWorkflow, isPaused, pause, pauseJob, pauseQueue, '
        'resume, resumeQueue, retry, retryAll, retryWorkflow, runNow, '
        'setQueueLimit, startJob, undoJob')
    assert faultOf(lambda: remote.add('nosuch', 1)) == (
        -32602, "no task named 'nosuch' is registered")
    assert faultOf(lambda: remote.add()) == (
        -32602, "add: missing a required argument: 'task'")
    assert faultOf(lambda: remote.getStatus(12345)) == (
        -32602, 'no job with id 12345')
    assert faultOf(lambda: remote.getStatus('x')) == (
        -32602, "getStatus: a job id is an int, not 'x'")
    assert faultOf(lambda: remote.add(['echo'])) == (
        -32602, "add: the task is a name, a string, not ['echo']")
    jobid = remote.add('echo', 1)
    reader.service().process()
    reader.tm.commit()
    assert faultOf(lambda: remote.cancel(jobid)) == (
        -32500, f'job {jobid} is completed and cannot be cancelled')
    assert sorted(reader.service().jobs.keys()) == [jobid]


def test_a_result_xmlrpc_cannot_carry_is_a_fault(live, reader):
    service = reader.service()
    jobid = service.add('echo', {1, 2})
    service.process()
    reader.tm.commit()
    code, message = faultOf(lambda: proxy(live).getResult(jobid))
    assert code == -32603
    assert message.startswith('the answer to getResult cannot be sent over '
                              'XML-RPC: ')


def test_billion_laughs_is_refused(client, reader):
    response = client.post('/xmlrpc/svc', BILLION_LAUGHS, headers={
        'Authorization': f'Bearer {MANAGE_TOKEN}',
        'Content-Type': 'text/xml'})
    with pytest.raises(xmlrpc.client.Fault) as caught:
        xmlrpc.client.loads(response.body)
    assert caught.value.faultCode == -32700
    assert caught.value.faultString == (
        "refused: DTDForbidden(name='lolz', system_id=None, public_id=None); "
        'an XML-RPC request may not hold a DTD, entity declarations or '
        'external references')
    assert list(reader.service().jobs.keys()) == []


@pytest.mark.parametrize('body', [b'', b'<methodCall>', b'not xml',
                                  b'<methodCall><params/></methodCall>'])
def test_malformed_requests_are_parse_errors(client, body):
    response = client.post('/xmlrpc/svc', body, headers={
        'Authorization': f'Bearer {MANAGE_TOKEN}'})
    with pytest.raises(xmlrpc.client.Fault) as caught:
        xmlrpc.client.loads(response.body)
    assert caught.value.faultCode == -32700


def test_credentials(live, reader):
    anonymous = xmlrpc.client.ServerProxy(f'{live.url}/xmlrpc/svc')
    with pytest.raises(xmlrpc.client.ProtocolError) as caught:
        anonymous.getAvailableTasks()
    assert caught.value.errcode == 401
    reading = proxy(live, token=READ_TOKEN)
    assert reading.getAvailableTasks() == ['echo', 'fail']
    with pytest.raises(xmlrpc.client.ProtocolError) as caught:
        reading.add('echo', 1)
    assert caught.value.errcode == 403
    with pytest.raises(xmlrpc.client.ProtocolError) as caught:
        proxy(live, 'nosuch').getAvailableTasks()
    assert caught.value.errcode == 404
    assert list(reader.service().jobs.keys()) == []


def test_body_over_the_limit(db):
    from lovely.remotetask import web
    client = webtest.TestApp(web.makeApp(db, credentials=web.Credentials(
        manage=[MANAGE_TOKEN]), maxBodySize=200))
    body = xmlrpc.client.dumps(('echo', 'x' * 300), 'add').encode()
    response = client.post('/xmlrpc/svc', body, headers={
        'Authorization': f'Bearer {MANAGE_TOKEN}'}, status=413)
    assert response.text == 'the request body is over the limit of 200 bytes'


def test_operators_actions(live, reader):
    remote = proxy(live)
    later = remote.add('echo', 'later')
    service = reader.service()
    service.cancel(later)
    failed = service.add('fail', 'x')
    held = service.add('echo', 'held', startLater=True)
    cron = service.addCronJob('echo', 'tick', minute=(0,))
    service.process()
    reader.tm.commit()
    assert remote.retry(failed) is True
    assert remote.getStatus(failed) == 'queued'
    assert remote.startJob(held) is True
    assert remote.startJob(held) is False          # started already
    run = remote.runNow(cron)
    assert reader.service().jobs[run].runOf == cron
    assert remote.pauseJob(cron) is True
    assert reader.service().jobs[cron].paused
    assert remote.pauseJob(cron, False) is True
    assert not reader.service().jobs[cron].paused
    assert (remote.isPaused(), remote.pause(), remote.isPaused()) == (
        False, True, True)
    assert reader.service().isPaused()
    assert (remote.resume(), remote.isPaused()) == (True, False)
    assert remote.retryAll('cancelled', '') == 1
    assert remote.getStatus(later) == 'queued'
    assert remote.retryAll() == 0


def test_operators_mistakes_are_faults(live, reader):
    remote = proxy(live)
    service = reader.service()
    done = service.add('echo', 1)
    service.process()
    reader.tm.commit()
    assert faultOf(lambda: remote.retry(done)) == (
        -32500, f'job {done} is completed: only failed and cancelled jobs '
        f'are retried')
    assert faultOf(lambda: remote.runNow(done)) == (
        -32500, f'job {done} is completed, not a waiting cron job')
    assert faultOf(lambda: remote.pauseJob(done, 'yes')) == (
        -32602, "pauseJob: paused is a boolean, not 'yes'")
    assert faultOf(lambda: remote.retryAll('completed')) == (
        -32602, "retryAll: the status is one of error, cancelled, not "
        "'completed'")
    assert faultOf(lambda: remote.retryAll('error', 3)) == (
        -32602, 'retryAll: the task is a name, a string, not 3')
    with pytest.raises(xmlrpc.client.ProtocolError) as caught:
        proxy(live, token=READ_TOKEN).pause()
    assert caught.value.errcode == 403
    assert proxy(live, token=READ_TOKEN).isPaused() is False
    assert not reader.service().isPaused()


def test_what_a_job_changed_and_its_undo(live, reader):
    """The service's side is in tests/test_changes.py: here a job that
    wrote nothing of the application has nothing to undo."""
    remote = proxy(live)
    done = remote.add('echo', 1)
    reader.service().process()
    reader.tm.commit()
    assert remote.getChanges(done) == []
    assert faultOf(lambda: remote.undoJob(done)) == (
        -32500, f'job {done} changed no objects of the application: there '
        f'is nothing to undo')
    with pytest.raises(xmlrpc.client.ProtocolError) as caught:
        proxy(live, token=READ_TOKEN).undoJob(done)
    assert caught.value.errcode == 403
    assert faultOf(lambda: remote.getChanges(12345)) == (
        -32602, 'no job with id 12345')
