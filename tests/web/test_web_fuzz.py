"""Every route, every parameter, hostile values: never a 500.

Each route of the application gets, in turn, hostile path parameters,
query parameters, form fields, JSON fields and bodies, and XML-RPC calls:
huge and negative numbers, numbers of thousands of digits, non-ASCII text,
lone surrogates and control characters, undecodable percent-escapes,
JSON nested a thousand deep, NaN, and values of the wrong type.  Every
answer must be an answer (no 500), well-formed in its own format, and
quick to make.
"""
import json
import xml.parsers.expat
import xmlrpc.client

import pytest
import transaction
import webtest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from conftest import MANAGE, MANAGE_TOKEN, READ_TOKEN
from lovely import remotetask
from lovely.remotetask import web

#: Text for paths, query strings and form fields, as sent on the wire
#: (percent-encoded where it is not plain ASCII).
HOSTILE_TEXT = [
    '', ' ', '0', '-1', '1.5', '1e400', 'nan', 'inf', '0x10', '1_000',
    '2147483647', '2147483648', '-2147483649', '9223372036854775808',
    '9' * 5000, '-' + '9' * 300, '%D9%A1%D9%A2',   # Arabic-Indic digits
    '%C3%A9', '%E2%80%AE', '%00', '%1B%5B31m', '%0D%0ASet-Cookie:%20x=1',
    '%ED%A0%80',   # a surrogate, encoded as UTF-8 would if it could
    '%FF', '%C0%AF', '%', '%zz', '..%2F..%2Fapp.py', '%3Cscript%3E',
    '*', '0-99999999999', '1,2,,3', 'a' * 3000, '[]', '{}', 'null',
]

#: JSON values for the fields of a body.
HOSTILE_JSON = [
    None, True, False, 0, -1, 1.5, -0.0, 1e308, 2**31, 2**63, -2**63,
    10**30, '', ' ', 'x', '*', '0-99999999999', '0-30000000', '\ud800',
    '\udc80x', '\x00', '\x1b', 'a' * 5000, '\u202e', [], [1], ['a'], [None],
    [2**31], [-1], [10**30], [[1]], {}, {'a': 1}, {'': None},
    ['\ud800'], {'\ud800': 1}, list(range(100)),
]

#: Whole bodies, as bytes.
HOSTILE_BODIES = [
    b'', b' ', b'null', b'[]', b'"x"', b'1', b'{', b'\xff\xfe', b'\x00',
    b'[' * 100000 + b']' * 100000,
    b'{"task": "echo", "input": ' + b'[' * 1000 + b']' * 1000 + b'}',
    b'{"task": "echo", "input": ' + b'[' * 65 + b']' * 65 + b'}',
    b'{"task": "echo", "input": ' + b'9' * 100000 + b'}',
    b'{"task": "echo", "input": NaN}', b'{"task": "echo", "input": -Infinity}',
    b'{"task": "echo", "input": "\\ud800"}', b'{"\\ud800": 1}',
    b'{"task": "\\ud800"}', b'{"task": "echo", "input": 1e99999}',
    '{"task": "échö"}'.encode('utf-16'),
]


@pytest.fixture
def fuzzed(db):
    """The application, over a database whose jobs hold odd values: lone
    surrogates, control characters, deep nesting, values JSON cannot say."""
    remotetask.provideTask(lambda input: input, name='echo')
    tm = transaction.TransactionManager()
    connection = db.open(transaction_manager=tm)
    service = connection.root()['Application']['svc']
    deep = []
    for _ in range(300):
        deep = [deep]
    ids = {}
    for name, value in [('surrogate', 'a\ud800b'), ('control', '\x00\x1b'),
                        ('deep', deep), ('odd', {1: {2, 3}, 'b': b'\xff'}),
                        ('nan', float('nan'))]:
        ids[name] = service.add('echo', value)
        service.processNext(jobid=ids[name])
    ids['queued'] = service.add('echo', 'x\ud800')
    ids['cron'] = service.addCronJob('echo', '\udc80', minute=(5,))
    tm.commit()
    connection.close()
    app = web.makeApp(db, credentials=web.Credentials(
        manage=[MANAGE_TOKEN], read=[READ_TOKEN]))
    client = webtest.TestApp(app)
    client.get(f'/login?token={MANAGE_TOKEN}', status=303)
    page = client.get('/services/svc')
    csrf = page.html.select_one('input[name=_csrf]')['value']
    return app, client, csrf, ids


def check(response):
    """An answer, not a failure, and well-formed in its format."""
    request = response.request
    environ = request.environ
    where = f'{request.method} {environ["PATH_INFO"]}?' \
        f'{environ.get("QUERY_STRING", "")}'[:200]
    assert response.status_int < 500, (where, response.body[:300])
    body = response.body
    if response.content_type == 'application/json':
        json.loads(body)   # valid JSON, and valid UTF-8
    elif response.content_type == 'text/xml':
        parser = xml.parsers.expat.ParserCreate()
        parser.Parse(body, True)
        if environ['PATH_INFO'].startswith('/xmlrpc/'):
            try:
                xmlrpc.client.loads(body)
            except xmlrpc.client.Fault:
                pass
    else:
        body.decode('utf-8')
    for name, value in response.headerlist:
        assert value.isprintable() and value.isascii(), (where, name, value)
        if name == 'Location':
            assert value.startswith('/'), (where, value)


def send(client, method, path, body=None, headers=None, content_type=None):
    response = client.request(path, method=method, body=body,
                              headers=headers or {}, expect_errors=True,
                              content_type=content_type)
    check(response)
    return response


def paths(app, ids):
    """Each route's path with its parameters filled in: one with good
    values, then each parameter in turn with each hostile value."""
    good = dict(service='svc', job=str(ids['cron']), name='dashboard.js',
                queue='default')
    for route in app.router.routes:
        names = route.pattern.groupindex
        yield route, route.template.format(**good)
        for name in names:
            for value in HOSTILE_TEXT + [str(j) for j in ids.values()]:
                yield route, route.template.format(**dict(good, **{
                    name: value}))


def test_paths(fuzzed):
    app, _, csrf, ids = fuzzed
    client = webtest.TestApp(app)
    for route, path in paths(app, ids):
        # An empty jar: WebTest's would decode the path, and fail.
        client.cookiejar.clear()
        headers = dict(MANAGE)
        body = None
        if route.method != 'GET':
            body = json.dumps({}).encode()
        send(client, route.method, path, body, headers,
             'application/json' if body is not None else None)
    client.cookiejar.clear()   # a flash message the last route left
    for path in ('/static/%FF', '/static/%ED%A0%80', '/%FF', '/api/%FF',
                 '/xmlrpc/%FF', '/static/..%2Fapp.py', '/static/%00'):
        assert send(client, 'GET', path).status_int in (400, 401, 404, 405)


#: The query parameters each page reads.
QUERIES = {
    '/api/services/svc/jobs': ('status', 'after', 'limit', 'task'),
    '/api/services/svc/activity': ('minutes',),
    '/services/svc': ('status', 'after', 'limit', 'sort', 'order', 'task'),
    '/services/svc/rows.json': ('ids', 'head', 'status', 'task', 'limit',
                                'sort', 'order'),
    '/services/svc/jobs/{cron}/edit': ('back',),
    '/login': ('next', 'token'),
}


def test_query_parameters(fuzzed):
    app, client, csrf, ids = fuzzed
    for path, names in QUERIES.items():
        path = path.format(cron=ids['cron'])
        for name in names:
            for value in HOSTILE_TEXT:
                send(client, 'GET', f'{path}?{name}={value}', headers=MANAGE)
                # The session's pages too.
                send(client, 'GET', f'{path}?{name}={value}')
    # Every other page, with all of them at once.
    for route in app.router.routes:
        if route.method == 'GET':
            path = route.template.format(service='svc', job=ids['cron'],
                                         name='dashboard.js')
            for value in HOSTILE_TEXT:
                query = '&'.join(f'{name}={value}' for name in
                                 ('status', 'after', 'limit', 'ids', 'next'))
                send(client, 'GET', f'{path}?{query}', headers=MANAGE)


#: The fields each form sends.
SCHEDULE = ('cron', 'timezone', 'minute', 'hour', 'dayOfMonth', 'month',
            'dayOfWeek', 'missed', 'input')
FORMS = {
    '/services/svc/add': ('task', 'input', 'delay', 'startLater', 'back'),
    '/services/svc/cron': ('task',) + SCHEDULE,
    '/services/svc/jobs/{cron}/edit': ('back',) + SCHEDULE,
    '/services/svc/cancel': ('ids', 'back'),
    '/services/svc/retry': ('ids', 'back'),
    '/services/svc/cancel-all': ('back',),
    '/services/svc/retry-all': ('status', 'task', 'back'),
    '/services/svc/pause': ('back', 'to'),
    '/services/svc/resume': ('back', 'to'),
    '/services/svc/jobs/{cron}/run-now': ('to',),
    '/services/svc/clean': ('back', '_csrf'),
    '/login': ('token', 'next'),
}


def test_form_fields(fuzzed):
    app, client, csrf, ids = fuzzed
    for path, names in FORMS.items():
        path = path.format(cron=ids['cron'])
        for name in names:
            for value in HOSTILE_TEXT:
                body = f'_csrf={csrf}&task=echo&{name}={value}'
                send(client, 'POST', path, body.encode(),
                     content_type='application/x-www-form-urlencoded')


def test_json_fields(fuzzed):
    app, client, csrf, ids = fuzzed
    bodies = {
        '/api/services/svc/jobs': ('task', 'input', 'startLater', 'delay',
                                   'priority', 'key'),
        '/api/services/svc/cronjobs': (
            'task', 'input', 'cron', 'timezone', 'minute', 'hour',
            'dayOfMonth', 'month', 'dayOfWeek', 'delay', 'missed',
            'graceTime', 'overlap'),
        f'/api/services/svc/jobs/{ids["cron"]}/schedule': (
            'input', 'cron', 'minute', 'delay', 'missed', 'graceTime',
            'overlap', 'timezone'),
        '/api/services/svc/clean': ('status',),
        '/api/services/svc/retry-all': ('status', 'task'),
    }
    for path, names in bodies.items():
        method = 'PUT' if path.endswith('/schedule') else 'POST'
        for name in names:
            for value in HOSTILE_JSON:
                body = {'task': 'echo', 'minute': [1]} if 'cronjobs' in path \
                    else {'task': 'echo'} if path.endswith('/jobs') else {}
                body[name] = value
                send(client, method, path,
                     json.dumps(body).encode('utf-8', 'surrogatepass'),
                     MANAGE, 'application/json')
        for body in HOSTILE_BODIES:
            send(client, method, path, body, MANAGE, 'application/json')


def xmlValue(value):
    """A value marshalled as XML-RPC, including what xmlrpc.client would
    refuse to send (ints past 32 bits)."""
    if isinstance(value, int) and not isinstance(value, bool):
        return f'<value><int>{value}</int></value>'
    return xmlrpc.client.dumps((value,), allow_none=True).split(
        '<param>')[1].split('</param>')[0]


XMLRPC_VALUES = [
    None, True, 0, -1, 2**31, 2**63, 10**30, 1.5, 'x', 'echo', '', 'a' * 5000,
    [], [1], {}, {'a': [1]}, xmlrpc.client.Binary(b'\xff\x00'),
    xmlrpc.client.DateTime('20250101T00:00:00'),
]


def test_xmlrpc_calls(fuzzed):
    app, client, csrf, ids = fuzzed
    methods = ['add', 'cancel', 'getStatus', 'getResult', 'getError',
               'getAvailableTasks', 'startJob', 'retry', 'retryAll',
               'runNow', 'pauseJob', 'isPaused', 'nosuch', '']
    values = XMLRPC_VALUES + list(ids.values())
    for method in methods:
        for value in values:
            for params in ([value], ['echo', value], [value, value, value]):
                body = ('<?xml version="1.0"?><methodCall><methodName>'
                        f'{method}</methodName><params>'
                        + ''.join(f'<param>{xmlValue(v)}</param>'
                                  for v in params)
                        + '</params></methodCall>').encode()
                send(client, 'POST', '/xmlrpc/svc', body, MANAGE, 'text/xml')
    deep = '<value><array><data>' * 10000 + '</data></array></value>' * 10000
    for body in [
            f'<methodCall><methodName>add</methodName><params><param>'
            f'<value>echo</value></param><param>{deep}</param></params>'
            f'</methodCall>',
            '<methodCall><methodName>add</methodName><params><param><value>'
            '<double>nan</double></value></param></params></methodCall>',
            '<methodCall><methodName>getStatus</methodName><params><param>'
            '<value><int>' + '9' * 5000 + '</int></value></param></params>'
            '</methodCall>']:
        send(client, 'POST', '/xmlrpc/svc', body.encode(), MANAGE, 'text/xml')


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(),
    lambda children: st.lists(children, max_size=4)
    | st.dictionaries(st.text(max_size=8), children, max_size=4),
    max_leaves=20)


@settings(max_examples=150, derandomize=True, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture,
                                 HealthCheck.too_slow])
@given(path=st.sampled_from(['/api/services/svc/jobs',
                             '/api/services/svc/cronjobs',
                             '/api/services/svc/clean']),
       body=st.dictionaries(st.sampled_from(
           ['task', 'input', 'startLater', 'delay', 'priority', 'key', 'cron',
            'timezone', 'minute', 'hour', 'missed', 'graceTime', 'overlap',
            'status']), json_values, max_size=5))
def test_json_bodies_at_random(fuzzed, path, body):
    app, client, csrf, ids = fuzzed
    body.setdefault('task', 'echo')
    send(client, 'POST', path, json.dumps(body).encode(
        'utf-8', 'surrogatepass'), MANAGE, 'application/json')


HOSTILE_HEADERS = [
    ('Cookie', 'remotetask_session=' + value) for value in [
        '', '.', 'x.y', '\u00ff.\u00ff', 'e30.AAAA', 'W10.x', 'bnVsbA.x',
        'a' * 4000, '%FF', '"quoted"']
] + [('Cookie', 'remotetask_flash=' + value) for value in [
    '%FF%FE', '%ED%A0%80', '%0D%0A', 'a' * 4000]
] + [('Authorization', value) for value in [
    '', 'Bearer', 'Bearer ', 'Basic', 'Basic !!!', 'Basic /w==',
    'Basic ' + 'QQ' * 2000, 'Digest a=b, c', 'Bearer \u00ff', 'x' * 4000,
    'Basic 7aCA']
] + [(name, value) for name in ('Origin', 'Sec-Fetch-Site', 'Host')
     for value in ['', 'null', 'http://[::1', 'http://a:b:c', 'http://x:99999',
                   'evil.example:0', '\u00ff', 'a' * 4000, 'file://', '//']
] + [('Content-Type', value) for value in [
    'multipart/form-data', 'multipart/form-data; boundary=', 'text/plain; '
    'charset=utf-16', 'application/json; charset=latin-1',
    'application/x-www-form-urlencoded; charset=nonesuch']]


@pytest.mark.filterwarnings('ignore::UserWarning')   # WebTest's cookie jar
def test_headers(fuzzed):
    app, _, csrf, ids = fuzzed
    client = webtest.TestApp(app)
    requests = [('GET', '/services/svc', None), ('GET', '/api/services', None),
                ('POST', '/services/svc/clean', b'_csrf=' + csrf.encode()),
                ('POST', '/api/services/svc/jobs', b'{"task": "echo"}'),
                ('POST', '/xmlrpc/svc', xmlrpc.client.dumps(
                    (ids['cron'],), 'getStatus').encode()),
                ('POST', '/logout', b'_csrf=' + csrf.encode())]
    for name, value in HOSTILE_HEADERS:
        for method, path, body in requests:
            for credentials in ({}, MANAGE):
                client.cookiejar.clear()
                headers = dict(credentials)
                headers[name] = value
                send(client, method, path, body, headers)
