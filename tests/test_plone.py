"""Plone 6 as a host, on a real instance: ``mkwsgiinstance``, a classic
Plone site made with plone.distribution in a ``zconsole run`` script,
``runwsgi``.  A member adds a job from a view; the job changes a page as
that member; a later request sees it.  The dashboard takes Plone's login.

Plone takes some 250 packages: this runs where they are installed (the
``plone`` extra, in a virtualenv of its own: ``.ci/run`` makes one), and
is skipped elsewhere.
"""
import http.cookiejar
import json
import re
import urllib.error
import urllib.parse
import urllib.request

import pytest

from lovely.remotetask import testing

pytestmark = pytest.mark.plone
pytest.importorskip('Products.CMFPlone')

from zopeinstance import ZopeInstance, call  # noqa: E402


@pytest.fixture(scope='module')
def plone(tmp_path_factory):
    instance = ZopeInstance(str(tmp_path_factory.mktemp('plone') / 'pi'))
    # The guide's order: ZCML and autostart first, then the site, made
    # in a zconsole script, in which nothing may start processing.
    instance.setUp(autostart='Plone@portal_tasks',
                   include='<include package="hostapps" file="plone.zcml" />')
    instance.setupOutput = instance.zconsole(
        instance.env['HOSTAPPS'] + '/plonesetup.py')
    instance.start()
    yield instance
    instance.stop()


def test_no_processing_in_a_zconsole_script(plone):
    assert 'processing in the script: False []' in plone.setupOutput
    assert 'site Plone not found' not in plone.setupOutput
    assert 'portal_tasks on site Plone not found' not in plone.setupOutput
    testing.waitUntil(lambda: 'service portal_tasks on site Plone started'
                      in plone.output(), timeout=60)


def addFromTheView(plone, user, title):
    """What a member's browser does: the view's form, then its post."""
    status, form = call(plone, '/Plone/@@retitle-note', user=user)
    assert status == 200, form
    token = re.search(r'name="_authenticator" value="([^"]+)"', form)[1]
    status, jobid = call(plone, '/Plone/@@retitle-note', 'POST', user,
                         dict(title=title, _authenticator=token))
    assert status == 200, jobid
    return int(jobid)


def waitForJob(plone, jobid, user='admin:admin'):
    done = {}

    def finished():
        done.update(plone.api(f'/services/Plone.portal_tasks/jobs/{jobid}',
                              user=user))
        return done['status'] in ('completed', 'error')

    testing.waitUntil(finished, timeout=60, interval=0.1)
    return done


def pageTitle(plone):
    status, body = call(plone, '/Plone/note', user='admin:admin',
                        headers={'Accept': 'application/json'})
    assert status == 200, body
    return json.loads(body)['title']


def test_a_member_adds_a_job_that_edits_as_them(plone):
    assert pageTitle(plone) == 'Old title'
    jobid = addFromTheView(plone, 'editor:editor-secret', 'New title')
    job = waitForJob(plone, jobid)
    assert job['status'] == 'completed', job['error']
    assert job['owner'] == 'editor'
    assert job['result'] == dict(user='editor', site='Plone')
    # A later request sees what the job did.
    assert pageTitle(plone) == 'New title'


def test_a_member_who_may_not_edit_fails_the_job(plone):
    jobid = addFromTheView(plone, 'reader:reader-secret', 'Sneaky')
    job = waitForJob(plone, jobid)
    assert job['status'] == 'error' and job['attempts'] == 1
    assert job['error'].startswith(
        f"Unauthorized: job {jobid} runs as user 'reader'"), job['error']
    assert pageTitle(plone) == 'New title'


def jobCount(plone):
    return plone.api('/services/Plone.portal_tasks')['total']


def test_anonymous_may_not_add(plone):
    before = jobCount(plone)
    # Plone answers Unauthorized with its login form.
    status, page = call(plone, '/Plone/@@retitle-note', 'POST', None,
                        dict(title='anonymous'))
    assert status in (200, 401) and '__ac_password' in page
    status, page = call(plone, '/Plone/portal_tasks/add', 'POST', None,
                        dict(task='retitle'))
    assert status in (200, 401) and '__ac_password' in page
    assert jobCount(plone) == before


def test_the_dashboard_takes_plones_login(plone):
    jar = http.cookiejar.CookieJar()
    opener = urllib.request.build_opener(
        urllib.request.HTTPCookieProcessor(jar))
    base = f'http://127.0.0.1:{plone.port}'
    form = opener.open(f'{base}/Plone/login', timeout=60).read().decode()
    action = re.search(r'<form[^>]*action="([^"]+)"[^>]*id="login', form) \
        or re.search(r'<form[^>]*id="login[^>]*action="([^"]+)"', form)
    fields = dict(re.findall(
        r'<input[^>]*name="([^"]+)"[^>]*value="([^"]*)"', form))
    fields.update({'__ac_name': 'reader', '__ac_password': 'reader-secret',
                   'buttons.login': 'Log in'})
    opener.open(action[1] if action else f'{base}/Plone/login',
                urllib.parse.urlencode(fields).encode(), timeout=60).read()
    assert any(cookie.name == '__ac' for cookie in jar), list(jar)
    page = opener.open(f'{base}/remotetask/services/Plone.portal_tasks',
                       timeout=60).read().decode()
    # The reader may see their own jobs only: the failed one.
    assert 'reader (Zope)' in page
    rows = re.findall(r'id="job-(\d+)"', page)
    assert len(rows) == 1
    token = re.search(r'name="_csrf" value="([^"]+)"', page)[1]
    # A change with Plone's cookie needs the page's CSRF token.
    request = urllib.request.Request(
        f'{base}/remotetask/services/Plone.portal_tasks/add',
        data=urllib.parse.urlencode(dict(task='retitle', input='{}'))
        .encode())
    with pytest.raises(urllib.error.HTTPError) as refused:
        opener.open(request, timeout=60)
    assert refused.value.code == 403
    added = opener.open(
        f'{base}/remotetask/services/Plone.portal_tasks/add',
        urllib.parse.urlencode(dict(task='retitle', _csrf=token,
                                    input='{"path": "note", "title": "x"}'))
        .encode(), timeout=60)
    assert added.status == 200
