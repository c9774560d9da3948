"""Credentials a browser adds by itself, logging out, and where redirects
lead: with hostile pages, copied cookies and a lying Host header, and with
the application mounted below a prefix."""
import base64
import http.client
import json
import urllib.parse
import xmlrpc.client

import pytest
import webtest

from conftest import MANAGE, MANAGE_TOKEN, LiveServer
from test_web_dashboard import login
from lovely import remotetask
from lovely.remotetask import web

BASIC = {'Authorization': 'Basic ' + base64.b64encode(
    f'any:{MANAGE_TOKEN}'.encode()).decode()}

#: What browsers add to a request that a page of another site makes.
OTHER_SITES = [
    {'Origin': 'http://evil.example', 'Sec-Fetch-Site': 'cross-site'},
    {'Origin': 'http://localhost:8081', 'Sec-Fetch-Site': 'same-site'},
    {'Origin': 'http://evil.example'},   # a browser without Sec-Fetch-*
    {'Origin': 'null'},                  # a sandboxed frame, a data: URL
    {'Origin': 'https://localhost'},     # another scheme is another origin
    {'Sec-Fetch-Site': 'cross-site'},
]


def jobIds(service):
    return list(service.jobs.keys())


def finishedJob(reader):
    service = reader.service()
    jobid = service.add('echo', 'done')
    service.processNext(jobid=jobid)
    reader.tm.commit()
    return jobid


# Credentials a browser adds by itself

@pytest.mark.parametrize('browser', OTHER_SITES)
def test_basic_credentials_change_nothing_from_another_site(client, reader,
                                                            browser):
    """What a page of another site can make a browser post, as text/plain
    so that no preflight asks first, with the Basic credentials the
    browser remembers."""
    done = finishedJob(reader)
    headers = dict(BASIC, **browser)
    plain = dict(headers, **{'Content-Type': 'text/plain'})
    call = xmlrpc.client.dumps(('echo', 'evil'), 'add')
    response = client.post('/xmlrpc/svc', call, headers=plain, status=403)
    assert response.text.startswith('refused: a page of another site (')
    assert response.text.endswith(
        ') may not change anything with the HTTP Basic credentials a '
        'browser keeps; log in to the dashboard, or send the token as '
        '"Authorization: Bearer TOKEN"')
    response = client.post('/services/svc/clean', 'x=1', headers=plain,
                           status=403)
    assert 'refused: a page of another site' in response.text
    client.post('/api/services/svc/jobs', '{"task": "echo"}', headers=plain,
                status=403)
    client.post(f'/api/services/svc/jobs/{done}/cancel', headers=headers,
                status=403)
    assert jobIds(reader.service()) == [done]
    # Reading is no change: it is allowed, and no page of another site
    # can read the answer.
    client.get('/api/services/svc/jobs', headers=headers, status=200)


@pytest.mark.parametrize('headers', [
    {},                                                # a script
    {'Sec-Fetch-Site': 'same-origin'},                 # the dashboard's forms
    {'Origin': 'http://localhost'},                    # an older browser
    {'Origin': 'http://localhost:80'},
    {'Origin': 'http://localhost', 'Sec-Fetch-Site': 'same-origin'},
])
def test_basic_credentials_work_from_scripts_and_this_origin(client, reader,
                                                             headers):
    finishedJob(reader)
    headers = dict(BASIC, **headers)
    call = xmlrpc.client.dumps(('echo', 'fine'), 'add')
    response = client.post('/xmlrpc/svc', call, headers=dict(
        headers, **{'Content-Type': 'text/xml'}))
    jobid, = xmlrpc.client.loads(response.body)[0]
    client.post('/services/svc/clean', {}, headers=headers, status=303)
    assert jobIds(reader.service()) == [jobid]


@pytest.mark.parametrize('browser', OTHER_SITES[:3])
def test_bearer_tokens_need_no_origin_check(client, reader, browser):
    """No page can make a browser send an Authorization header of its
    choosing (CORS would ask first, and the service allows none)."""
    client.post_json('/api/services/svc/jobs', {'task': 'echo'},
                     headers=dict(MANAGE, **browser), status=201)
    assert len(jobIds(reader.service())) == 1


@pytest.mark.parametrize('browser', OTHER_SITES[:2])
def test_sessions_need_their_csrf_token_whatever_the_origin(client, reader,
                                                            browser):
    login(client)
    page = client.get('/services/svc')
    csrf = page.html.select_one('input[name=_csrf]')['value']
    client.post('/services/svc/add', {'task': 'echo'}, headers=browser,
                status=403)
    client.post('/services/svc/add', {'task': 'echo', '_csrf': csrf},
                headers={'Sec-Fetch-Site': 'same-origin'}, status=303)
    assert len(jobIds(reader.service())) == 1


# Logging out

def test_logout_ends_the_session_on_the_server(app, reader):
    browser = login(webtest.TestApp(app))
    page = browser.get('/services/svc')
    csrf = page.html.select_one('input[name=_csrf]')['value']
    cookie = browser.cookies['remotetask_session']
    other = login(webtest.TestApp(app))   # another session of the token
    response = page.forms['logout-form'].submit(status=303)
    assert response.location == '/login'
    assert 'remotetask_session=;' in response.headers['Set-Cookie']
    # A copy of the cookie, as kept by a thief or a careless proxy.
    thief = webtest.TestApp(app)
    thief.set_cookie('remotetask_session', cookie)
    assert thief.get('/services/svc', status=303).location == (
        '/login?next=%2Fservices%2Fsvc')
    thief.post('/services/svc/add', {'task': 'echo', '_csrf': csrf},
               status=401)
    thief.post_json('/api/services/svc/jobs', {'task': 'echo'},
                    headers={'X-CSRF-Token': csrf}, status=401)
    assert jobIds(reader.service()) == []
    # The other session goes on.
    assert other.get('/services/svc').status_int == 200


def test_logout_holds_in_every_process(db, reader):
    """Processes that share the database and the secret share sessions,
    and their ends."""
    def process():
        return webtest.TestApp(web.makeApp(
            db, credentials=web.Credentials(manage=[MANAGE_TOKEN]),
            secret=b'shared secret of the processes'))

    first, second = process(), process()
    login(first)
    cookie = first.cookies['remotetask_session']
    second.set_cookie('remotetask_session', cookie)
    assert second.get('/services/svc').status_int == 200
    first.get('/services/svc').forms['logout-form'].submit(status=303)
    second.get('/services/svc', status=303)
    # After a restart too.
    third = process()
    third.set_cookie('remotetask_session', cookie)
    third.get('/services/svc', status=303)


def test_ended_sessions_are_forgotten_once_expired(app, reader, monkeypatch):
    import time
    browser = login(webtest.TestApp(app))
    browser.get('/').forms['logout-form'].submit(status=303)
    reader.tm.begin()
    ended = reader.connection.root()['lovely.remotetask.web.endedSessions']
    assert len(ended) == 1
    later = time.time() + app.authenticator.lifetime + 1
    monkeypatch.setattr(time, 'time', lambda: later)
    login(browser).get('/').forms['logout-form'].submit(status=303)
    reader.tm.begin()
    assert len(ended) == 1   # only the second


# Where redirects lead

def raw(live, method, path, headers, body=b''):
    """A request as sent on the wire, Host header and all."""
    parts = urllib.parse.urlsplit(live.url)
    connection = http.client.HTTPConnection(parts.hostname, parts.port,
                                            timeout=10)
    try:
        connection.putrequest(method, path, skip_host=True,
                              skip_accept_encoding=True)
        for name, value in headers.items():
            connection.putheader(name, value)
        connection.putheader('Content-Length', str(len(body)))
        connection.endheaders(body)
        response = connection.getresponse()
        return response.status, response.getheaders(), response.read()
    finally:
        connection.close()


@pytest.mark.parametrize('prefix', ['', '/remotetask'])
def test_redirects_are_paths_whatever_the_host_says(app, reader, prefix):
    """The Host header is the client's to choose: a Location built from it
    would send a browser, or a cache, anywhere."""
    live = LiveServer(app, urlPrefix=prefix)
    try:
        evil = {'Host': 'evil.example', 'X-Forwarded-Host': 'evil.example',
                'X-Forwarded-Proto': 'https'}

        def location(method, path, headers=(), body=b''):
            status, found, _ = raw(live, method, prefix + path,
                                   dict(evil, **dict(headers)), body)
            assert status in (201, 303), (status, path)
            return dict(found)['Location']

        assert location('GET', '/services/svc') == (
            f'{prefix}/login?next=%2Fservices%2Fsvc')
        assert location('GET', f'/login?token={MANAGE_TOKEN}&next=/services'
                        '/svc') == f'{prefix}/services/svc'
        jobid = json.loads(raw(live, 'POST', prefix + '/api/services/svc/jobs',
                               dict(evil, **MANAGE, **{
                                   'Content-Type': 'application/json'}),
                               b'{"task": "echo"}')[2])['id']
        assert location('POST', '/api/services/svc/jobs', dict(MANAGE, **{
            'Content-Type': 'application/json'}), b'{"task": "echo"}') == (
            f'{prefix}/api/services/svc/jobs/{jobid + 1}')
        assert location('POST', '/services/svc/clean', MANAGE) == (
            f'{prefix}/services/svc')
    finally:
        live.close()


def mounted(app, prefix):
    """`app` mounted below `prefix` by a host application."""
    def host(environ, start_response):
        path = environ['PATH_INFO']
        if path == prefix or path.startswith(prefix + '/'):
            environ['SCRIPT_NAME'] += prefix
            environ['PATH_INFO'] = path[len(prefix):]
            return app(environ, start_response)
        start_response('404 Not Found', [('Content-Type', 'text/plain')])
        return [b'the host has nothing here']
    return host


def test_mounted_below_a_prefix(app, reader):
    browser = webtest.TestApp(mounted(app, '/remotetask'))
    response = browser.get('/remotetask/services/svc', status=303)
    assert response.location == '/remotetask/login?next=%2Fservices%2Fsvc'
    form = response.follow().forms[0]
    assert form.action == '/remotetask/login'
    form['token'] = MANAGE_TOKEN
    response = form.submit(status=303)
    assert response.location == '/remotetask/services/svc'
    cookie = response.headers['Set-Cookie']
    assert 'Path=/remotetask/' in cookie and 'Domain' not in cookie
    page = response.follow()
    assert page.html.select_one('link[rel=stylesheet]')['href'] == (
        '/remotetask/static/dashboard.css')
    browser.get('/remotetask/static/dashboard.css')
    form = page.forms['add-form']
    form['task'] = 'echo'
    response = form.submit(status=303)
    assert response.location == '/remotetask/services/svc'
    assert 'Path=/remotetask/' in response.headers['Set-Cookie']   # flash
    jobid, = jobIds(reader.service())
    page = response.follow()
    assert page.html.select_one('#flash').text == f'Added job {jobid} (echo).'
    assert page.html.select_one(f'#job-{jobid} a')['href'] == (
        f'/remotetask/services/svc/jobs/{jobid}')
    response = page.forms['logout-form'].submit(status=303)
    assert response.location == '/remotetask/login'
    assert 'Path=/remotetask/' in response.headers['Set-Cookie']
    browser.get('/remotetask/services/svc', status=303)
    api = browser.post_json('/remotetask/api/services/svc/jobs',
                            {'task': 'echo'}, headers=MANAGE, status=201)
    jobid = api.json['id']
    assert api.location == f'/remotetask/api/services/svc/jobs/{jobid}'
    assert api.json['url'] == api.location


def test_locations_of_services_named_in_any_script(db, client, reader):
    import transaction
    tm = transaction.TransactionManager()
    connection = db.open(transaction_manager=tm)
    connection.root()['Application']['caf\u20ac'] = remotetask.TaskService()
    tm.commit()
    connection.close()
    response = client.post_json('/api/services/caf%E2%82%AC/jobs',
                                {'task': 'echo'}, headers=MANAGE, status=201)
    assert response.location == (
        f'/api/services/caf%E2%82%AC/jobs/{response.json["id"]}')
    assert client.get(response.location, headers=MANAGE).json['id'] == (
        response.json['id'])
    response = client.post('/services/caf%E2%82%AC/clean', headers=MANAGE,
                           status=303)
    assert response.location == '/services/caf%E2%82%AC'
