"""Hostile input that once made 500s, or cost the server dearly: each is now
refused with a 4xx (or an XML-RPC fault) that says what was wrong, quickly,
and changes nothing.  `test_web_fuzz` looks for the rest of their kind."""
import tracemalloc
import xmlrpc.client

import pytest

from conftest import MANAGE, MANAGE_TOKEN, READ
from test_web_dashboard import fieldError, login
from test_web_xmlrpc import faultOf, proxy
from lovely import remotetask
from lovely.remotetask.web import settings


def jobIds(service):
    return list(service.jobs.keys())


@pytest.fixture
def browser(client):
    return login(client)


# Ranges of cron fields

HUGE_RANGES = ['0-30000000', '0-99999999999', '5,0-' + '9' * 900,
               '1,' * 400 + '1-99999999999']


def peakMemory(call):
    """What `call` returns, and the most memory it held at once."""
    tracemalloc.start()
    try:
        result = call()
        return result, tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


@pytest.mark.parametrize('text', HUGE_RANGES)
def test_huge_ranges_are_refused_before_they_are_expanded(client, reader,
                                                          text):
    # Expanded, the first took 1.2 GB; the second ran out of memory.
    response, peak = peakMemory(lambda: client.post_json(
        '/api/services/svc/cronjobs', {'task': 'echo', 'minute': text},
        headers=MANAGE, status=400))
    assert peak < 2_000_000
    message = response.json['fields']['minute']
    assert list(response.json['fields']) == ['minute']
    assert message.startswith('minute value ') and \
        message.endswith(' is out of range 0-59')
    assert jobIds(reader.service()) == []


@pytest.mark.parametrize('text', HUGE_RANGES)
def test_huge_ranges_in_the_dashboard_and_in_edits(browser, reader, text):
    form = browser.get('/services/svc').forms['cron-form']
    form['task'] = 'echo'
    form['hour'] = text.replace('0-', '1-')
    page, peak = peakMemory(lambda: form.submit(status=400))
    assert peak < 5_000_000   # the page is rendered too
    assert fieldError(page, 'cron', 'hour').endswith(
        ' is out of range 0-23')
    jobid = reader.service().addCronJob('echo', minute=(5,))
    reader.tm.commit()
    response = browser.put_json(
        f'/api/services/svc/jobs/{jobid}/schedule', {'dayOfMonth': text},
        headers=MANAGE, status=400)
    assert list(response.json['fields']) == ['dayOfMonth']
    assert reader.service().jobs[jobid].minute == (5,)


def test_long_field_texts_are_refused(client):
    response = client.post_json('/api/services/svc/cronjobs', {
        'task': 'echo', 'minute': '1,' * 600 + '2',
        'cron': '* * * * ' + '1,' * 600, 'timezone': 'x' * 2000},
        headers=MANAGE, status=400)
    assert response.json['fields'] == {
        'minute': 'minute is 1201 characters long; at most 1000 are taken',
        'cron': 'cron is 1208 characters long; at most 1000 are taken'}


# Values that do not fit

def nested(depth, inner='1'):
    return '[' * depth + inner + ']' * depth


@pytest.mark.parametrize('body, message', [
    (nested(1000), 'the body nests deeper than 64 levels, the most taken'),
    (nested(100000), 'the body nests deeper than 64 levels, the most taken'),
    ('{"task": "echo", "input": %s}' % nested(64),
     'the body nests deeper than 64 levels, the most taken'),
    ('{"task": "echo", "input": %s}' % ('9' * 5000),
     'the body is refused: a number of 5000 digits; at most 40 are taken'),
    ('{"task": "echo", "input": NaN}',
     'the body is refused: NaN is not a JSON value'),
    ('{"task": "echo", "input": [Infinity]}',
     'the body is refused: Infinity is not a JSON value'),
])
def test_json_that_does_not_fit_is_refused(client, reader, body, message):
    response = client.post('/api/services/svc/jobs', body.encode(),
                           headers=dict(MANAGE, **{
                               'Content-Type': 'application/json'}),
                           status=400)
    assert response.json == {'error': message, 'status': 400}
    assert jobIds(reader.service()) == []


def test_json_as_deep_as_allowed_is_taken(client, reader):
    body = '{"task": "echo", "input": %s}' % nested(settings.MAX_DEPTH - 1)
    client.post('/api/services/svc/jobs', body.encode(), headers=dict(
        MANAGE, **{'Content-Type': 'application/json'}), status=201)
    assert len(jobIds(reader.service())) == 1


def test_deep_input_in_the_dashboard(browser, reader):
    form = browser.get('/services/svc').forms['add-form']
    form['task'] = 'echo'
    form['input'] = nested(1000)
    page = form.submit(status=400)
    assert fieldError(page, 'add', 'input') == (
        'the input nests deeper than 64 levels, the most taken')
    assert jobIds(reader.service()) == []


def test_deep_values_over_xmlrpc(live, reader):
    deep = 1
    for _ in range(200):
        deep = [deep]
    assert faultOf(lambda: proxy(live).add('echo', deep)) == (
        -32602, 'add: the call nests deeper than 64 levels, the most taken')
    assert jobIds(reader.service()) == []


@pytest.mark.parametrize('path, message', [
    ('/api/services/svc/jobs?after=2147483648',
     "after must be the cursor of a page, not '2147483648'"),
    ('/api/services/svc/jobs?limit=' + '9' * 5000,
     f"limit must be an int in 1-500, not '{'9' * 40}'... (5000 "
     "characters)"),
    ('/services/svc?after=2147483648',
     "after must be the cursor of a page, not '2147483648'"),
    ('/services/svc/rows.json?ids=1,2147483648',
     "ids must be an int in 0-2147483647, not '2147483648'"),
    ('/services/svc/rows.json?ids=-1', "ids must be an int in 0-2147483647, "
     "not '-1'"),
])
def test_out_of_range_numbers_are_400(client, path, message):
    response = client.get(path, headers=READ, status=400)
    assert message in response.text


def test_out_of_range_job_ids_are_unknown(client, live):
    response = client.get('/api/services/svc/jobs/2147483648', headers=READ,
                          status=404)
    assert response.json['error'] == (
        'no job with id 2147483648: job ids are in [0, 2**31)')
    # xmlrpc.client refuses to send such ints; a raw request can.
    body = (b'<methodCall><methodName>getStatus</methodName><params><param>'
            b'<value><int>99999999999</int></value></param></params>'
            b'</methodCall>')
    response = client.post('/xmlrpc/svc', body, headers=MANAGE)
    with pytest.raises(xmlrpc.client.Fault) as caught:
        xmlrpc.client.loads(response.body)
    assert (caught.value.faultCode, caught.value.faultString) == (
        -32602, 'no job with id 99999999999')


# Paths and parameters that do not decode

@pytest.mark.parametrize('path, message', [
    ('/static/%FF', 'the path is not valid UTF-8 once percent-decoded '
     '(invalid start byte at byte 8)'),
    ('/static/%ED%A0%80', 'the path is not valid UTF-8 once percent-decoded '
     '(invalid continuation byte at byte 8)'),
    ('/api/services/%C0%AF/jobs', 'the path is not valid UTF-8 once '
     'percent-decoded (invalid start byte at byte 14)'),
    ('/services/svc?status=%FF', 'the query string is not valid UTF-8 once '
     'percent-decoded (invalid start byte at byte 0)'),
])
def test_undecodable_requests_are_400(app, path, message):
    import webtest
    response = webtest.TestApp(app).get(path, headers=READ, status=400)
    assert message in response.text


@pytest.mark.parametrize('next', [
    '/\r\nSet-Cookie: stolen=1', '/services/svc\n', '/\x00', '/\u00e9',
    '/ x', '//evil.example'])
def test_login_goes_home_for_a_next_that_is_no_plain_path(client, next):
    response = client.get('/login', {'token': MANAGE_TOKEN, 'next': next},
                          status=303)
    assert response.location == '/'
    assert [value for name, value in response.headerlist
            if name == 'Set-Cookie'][0].startswith('remotetask_session=')
    assert 'stolen' not in str(response.headers)


# Answers that XML cannot carry

@pytest.mark.parametrize('value, character', [
    ('a\ud800b', "'\\ud800'"), ('\x00', "'\\x00'"), ('\x1b[31m', "'\\x1b'"),
    ('\uffff', "'\\uffff'")])
def test_xmlrpc_answers_that_xml_cannot_carry_are_faults(live, reader, value,
                                                         character):
    service = reader.service()
    remotetask.provideTask(lambda input: input, name='echo')
    jobid = service.add('echo', value)
    failed = service.add('fail', value)
    service.process()
    reader.tm.commit()
    remote = proxy(live)
    for method, job in (('getResult', jobid), ('getError', failed)):
        code, message = faultOf(lambda: getattr(remote, method)(job))
        assert code == -32603
        assert message == (
            f'the answer to {method} cannot be sent over XML-RPC: it holds '
            f'the character {character}, which XML cannot carry')
    assert remote.getStatus(jobid) == 'completed'


@pytest.mark.parametrize('content_type, message', [
    ('multipart/form-data; boundary=', 'the form cannot be read: Invalid '
     "boundary in multipart form: b''"),
    ('application/x-www-form-urlencoded; charset=nonesuch',
     "a form is sent in UTF-8, not 'nonesuch'"),
])
def test_forms_that_cannot_be_read_are_400(client, reader, content_type,
                                           message):
    response = client.post('/services/svc/add', b'task=echo', headers=dict(
        MANAGE, **{'Content-Type': content_type}), status=400)
    assert message in response.text
    assert jobIds(reader.service()) == []
