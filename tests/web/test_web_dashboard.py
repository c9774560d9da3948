"""The dashboard, through its forms, as a browser without JavaScript uses it."""
import re

import pytest
import webtest

from conftest import MANAGE, MANAGE_TOKEN, READ_TOKEN
from lovely import remotetask
from lovely.remotetask.web import HTML, provideDetail


def login(client, token=MANAGE_TOKEN):
    client.get(f'/login?token={token}', status=303)
    return client


@pytest.fixture
def browser(client):
    return login(client)


def rowIds(page):
    return [int(tr.attrs['data-job'])
            for tr in page.html.select('#jobs tbody tr[data-job]')]


def fieldError(page, formId, field):
    found = page.html.select_one(f'#{formId}-{field}-error')
    return None if found is None else found.text


# Logging in

def test_pages_send_to_the_login_form(client):
    response = client.get('/services/svc?status=queued', status=303)
    assert response.location == (
        '/login?next=%2Fservices%2Fsvc%3Fstatus%3Dqueued')
    form = response.follow().forms[0]
    form['token'] = 'not-the-token-at-all'
    assert 'That token is not valid.' in form.submit(status=401)
    form['token'] = MANAGE_TOKEN
    response = form.submit(status=303)
    assert response.location == '/services/svc?status=queued'
    assert response.follow().html.h1.text == 'Service svc'


@pytest.mark.parametrize('target', ['//evil.example/x', 'http://evil.example',
                                    '/\\evil.example'])
def test_login_goes_nowhere_else(client, target):
    response = client.get('/login', {'token': MANAGE_TOKEN, 'next': target},
                          status=303)
    assert response.location == '/'


def test_session_cookie_is_http_only(client):
    response = client.get(f'/login?token={MANAGE_TOKEN}', status=303)
    cookie = response.headers['Set-Cookie']
    assert 'HttpOnly' in cookie and 'SameSite=lax' in cookie


def test_a_forged_session_is_no_session(client):
    login(client)
    value = client.cookies['remotetask_session']
    data, signature = value.split('.')
    client.set_cookie('remotetask_session', data + '.' + signature[::-1])
    client.get('/services/svc', status=303)


def test_logout(browser):
    page = browser.get('/')
    page.forms[0].submit(status=303)
    browser.get('/', status=303)


def test_read_only_sees_no_forms_and_may_not_post(client, reader):
    page = login(client, READ_TOKEN).get('/services/svc')
    assert page.html.select('form#add-form, form#cron-form, #cancel-all') == []
    csrf = page.html.select_one('input[name=_csrf]')['value']
    response = client.post('/services/svc/add', {'_csrf': csrf,
                                                 'task': 'echo'}, status=403)
    assert 'this needs the manage right' in response
    assert list(reader.service().jobs.keys()) == []


# CSRF

def test_forms_without_their_csrf_token_change_nothing(browser, reader):
    page = browser.get('/services/svc')
    for token in (None, 'wrong'):
        data = {'task': 'echo', 'input': '1'}
        if token:
            data['_csrf'] = token
        response = browser.post('/services/svc/add', data, status=403)
        assert 'missing its CSRF token or has a wrong one' in response
    assert list(reader.service().jobs.keys()) == []
    page.forms['add-form'].submit(status=303)
    assert len(list(reader.service().jobs.keys())) == 1


def test_api_calls_with_a_session_need_the_csrf_header(browser, reader):
    page = browser.get('/services/svc')
    csrf = page.html.select_one('input[name=_csrf]')['value']
    browser.post_json('/api/services/svc/jobs', {'task': 'echo'}, status=403)
    browser.post_json('/api/services/svc/jobs', {'task': 'echo'},
                      headers={'X-CSRF-Token': csrf}, status=201)
    assert len(list(reader.service().jobs.keys())) == 1


# Adding jobs

def test_add_a_job(browser, reader):
    form = browser.get('/services/site1.mail').forms['add-form']
    assert [value for value, _, _ in form['task'].options] == ['echo', 'fail']
    form['task'] = 'echo'
    form['input'] = '{"to": "joe"}'
    page = form.submit(status=303).follow()
    jobid, = reader.service('site1.mail').jobs.keys()
    assert page.html.select_one('#flash').text == f'Added job {jobid} (echo).'
    assert rowIds(page) == [jobid]
    row = page.html.select_one(f'#job-{jobid}')
    assert row.select_one('td.status').text == 'queued'
    assert row.select_one('td.detail').text.strip() == 'input: {"to": "joe"}'
    # The message is shown once.
    assert browser.get('/services/site1.mail').html.select('#flash') == []


def test_add_a_job_to_start_later_or_after_a_delay(browser, reader):
    form = browser.get('/services/svc').forms['add-form']
    form['startLater'] = True
    form.submit(status=303)
    form = browser.get('/services/svc').forms['add-form']
    form['delay'] = '90'
    form.submit(status=303)
    service = reader.service()
    assert sorted(job.status for job in service.jobs.values()) == [
        'delayed', 'start later']


@pytest.mark.parametrize('field, value, message', [
    ('input', '{"broken"', 'the input is not valid JSON: '),
    ('delay', 'soon', 'the delay is a number of seconds'),
    ('delay', '-1', 'delay must not be negative, got -1.0'),
])
def test_add_form_mistakes_show_next_to_their_field(browser, reader, field,
                                                     value, message):
    form = browser.get('/services/svc').forms['add-form']
    form[field] = value
    page = form.submit(status=400)
    assert fieldError(page, 'add', field).startswith(message)
    assert page.forms['add-form'][field].value == value   # kept
    assert list(reader.service().jobs.keys()) == []


def test_an_unknown_task_is_named(browser, reader):
    page = browser.get('/services/svc')
    csrf = page.html.select_one('input[name=_csrf]')['value']
    page = browser.post('/services/svc/add', {'_csrf': csrf, 'task': 'nosuch'},
                        status=400)
    assert fieldError(page, 'add', 'task') == (
        "no task named 'nosuch' is registered")
    assert list(reader.service().jobs.keys()) == []


# Cron jobs

def test_add_a_cron_job(browser, reader):
    form = browser.get('/services/svc').forms['cron-form']
    for name in ('minute', 'hour', 'dayOfMonth', 'month', 'dayOfWeek'):
        assert form[name].value == '*'
    form['task'] = 'echo'
    form['minute'] = '0,30'
    form['hour'] = '9-10'
    form.submit(status=303)
    job, = reader.service().jobs.values()
    assert (job.minute, job.hour, job.dayOfWeek, job.cron) == (
        (0, 30), (9, 10), (), None)


def test_add_a_cron_job_with_an_expression(browser, reader):
    form = browser.get('/services/svc').forms['cron-form']
    form['cron'] = '*/5 * * * *'
    form['timezone'] = 'Europe/Vienna'
    form['missed'] = 'each'
    page = form.submit(status=303).follow()
    job, = reader.service().jobs.values()
    assert (job.cron.expression, job.timezone, job.missed) == (
        '*/5 * * * *', 'Europe/Vienna', 'each')
    detail = page.html.select_one(f'#job-{job.id} td.detail').text.strip()
    assert detail.startswith('*/5 * * * * (Europe/Vienna)')


@pytest.mark.parametrize('values, field, message', [
    ({'minute': '61'}, 'minute', 'minute value 61 is out of range 0-59'),
    ({'hour': 'noon'}, 'hour', "hour value 'noon' is not a number"),
    ({'dayOfMonth': '5-1'}, 'dayOfMonth', "dayOfMonth range '5-1' runs "
     'backwards'),
    ({'cron': '* * *'}, 'cron', "cron expression '* * *' has 3 fields, "
     'expected 5'),
    ({'cron': '@daily', 'minute': '5'}, 'cron', 'give either a cron '
     'expression or the fields below, not both'),
    ({'cron': '@daily', 'timezone': 'Nowhere/City'}, 'timezone',
     "unknown time zone 'Nowhere/City'"),
    ({'timezone': 'Europe/Vienna'}, 'timezone', 'a time zone goes with a '
     'cron expression'),
])
def test_cron_form_mistakes_show_next_to_their_field(browser, reader, values,
                                                      field, message):
    form = browser.get('/services/svc').forms['cron-form']
    for name, value in values.items():
        form[name] = value
    page = form.submit(status=400)
    assert fieldError(page, 'cron', field).startswith(message)
    for name, value in values.items():
        assert page.forms['cron-form'][name].value == value
    others = {'minute', 'hour', 'cron', 'timezone'} - {field}
    assert all(fieldError(page, 'cron', name) is None for name in others)
    assert list(reader.service().jobs.keys()) == []


def test_edit_a_cron_job(browser, reader):
    service = reader.service()
    jobid = service.addCronJob('echo', 'x', minute=(5,), hour=(1, 2))
    reader.tm.commit()
    page = browser.get('/services/svc?limit=10')
    edit = page.click(href=f'/services/svc/jobs/{jobid}/edit')
    form = edit.forms['edit-form']
    assert (form['minute'].value, form['hour'].value, form['input'].value) == (
        '5', '1,2', '"x"')
    form['minute'] = '99'
    page = form.submit(status=400)
    assert fieldError(page, 'edit', 'minute') == (
        'minute value 99 is out of range 0-59')
    assert reader.service().jobs[jobid].minute == (5,)
    form = page.forms['edit-form']
    form['minute'] = '*'
    form['hour'] = '*'
    form['cron'] = '0 4 * * sun'
    form['input'] = '"y"'
    page = form.submit(status=303)
    assert page.location == '/services/svc?limit=10'
    assert page.follow().html.select_one('#flash').text == (
        f'Saved cron job {jobid}.')
    job = reader.service().jobs[jobid]
    assert (job.cron.expression, job.minute, job.hour, job.input) == (
        '0 4 * * sun', (), (), 'y')


def test_only_cron_jobs_have_an_edit_form(browser, reader):
    jobid = reader.service().add('echo')
    reader.tm.commit()
    response = browser.get(f'/services/svc/jobs/{jobid}/edit', status=409)
    assert f'job {jobid} is not a cron job' in response


# Cancelling and cleaning

def test_cancel_selected(browser, reader):
    service = reader.service()
    first, second, third = (service.add('echo', n) for n in range(3))
    service.processNext(jobid=third)
    reader.tm.commit()
    page = browser.get('/services/svc')
    boxes = {int(box['value']): box.has_attr('disabled')
             for box in page.html.select('input.select')}
    assert boxes == {first: False, second: False, third: True}
    form = page.forms['jobs-form']
    form.get('ids', index=[box['value'] for box in page.html.select(
        'input.select')].index(str(first))).checked = True
    page = form.submit(status=303).follow()
    assert page.html.select_one('#flash').text == 'Cancelled 1 job.'
    service = reader.service()
    assert [service.getStatus(j) for j in (first, second, third)] == [
        'cancelled', 'queued', 'completed']
    # A job that ran meanwhile is named, not cancelled.
    csrf = page.html.select_one('input[name=_csrf]')['value']
    page = browser.post('/services/svc/cancel', [
        ('_csrf', csrf), ('ids', str(second)), ('ids', str(third))],
        status=303).follow()
    assert page.html.select_one('#flash').text == (
        f'Cancelled 1 job. Not cancelled, as they are no longer waiting: '
        f'{third} (completed).')


def test_cancel_all_and_clean_report_how_many(browser, reader):
    service = reader.service()
    for n in range(5):
        service.add('echo', n)
    done = service.add('echo', 'done')
    service.processNext(jobid=done)
    cron = service.addCronJob('echo', minute=(0,))
    reader.tm.commit()
    page = browser.get('/services/svc')
    form = page.forms['cancel-all-form']
    assert 'Cron jobs keep their schedules.' in form.action + page.html.select_one(
        '#cancel-all-form')['data-confirm']
    page = form.submit(status=303).follow()
    assert page.html.select_one('#flash').text == (
        'Cancelled 5 waiting jobs; cron jobs keep their schedules.')
    page = page.forms['clean-form'].submit(status=303).follow()
    assert page.html.select_one('#flash').text == 'Removed 6 finished jobs.'
    assert list(reader.service().jobs.keys()) == [cron]


# The table

def test_sort_filter_and_pages(browser, reader):
    service = reader.service()
    ids = [service.add('echo' if n % 2 else 'fail', n) for n in range(5)]
    service.cancel(ids[0])
    reader.tm.commit()
    newest = ids[::-1]          # the listing's default order
    page = browser.get('/services/svc?limit=2')
    assert rowIds(page) == newest[:2]
    page = page.click(linkid='next-page')
    assert rowIds(page) == newest[2:4]
    page = page.click(linkid='next-page')
    assert rowIds(page) == newest[4:]
    assert page.html.select('#next-page') == []
    page = browser.get('/services/svc?sort=task&order=desc')
    tasks = [td.text for td in page.html.select('#jobs td.task')]
    assert tasks == ['fail', 'fail', 'fail', 'echo', 'echo']
    assert page.html.select_one('#sort-task')['href'] == (
        '/services/svc?sort=task')   # ascending is the default
    page = browser.get('/services/svc?status=queued')
    assert rowIds(page) == ids[1:]


def test_bad_page_parameters(browser):
    response = browser.get('/services/svc?limit=x', status=400)
    assert "limit must be an int in 1-500, not 'x'" in response
    browser.get('/services/nosuch', status=404)


def test_rows_for_the_refresh(browser, reader):
    service = reader.service()
    jobid = service.add('echo', 'hi')
    gone = service.add('echo', 'gone')
    reader.tm.commit()
    rows = browser.get(f'/services/svc/rows.json?ids={jobid},{gone}').json
    assert rows['rows'][str(jobid)]['status'] == 'queued'
    service = reader.service()
    service.cancel(gone)
    service.process()
    service.clean('cancelled')
    reader.tm.commit()
    rows = browser.get(f'/services/svc/rows.json?ids={jobid},{gone}').json
    row = rows['rows'][str(jobid)]
    assert (row['status'], row['cancellable'], row['detail']) == (
        'completed', False, 'result: &quot;hi&quot;')
    assert row['completed']
    assert str(gone) not in rows['rows']
    browser.get('/services/svc/rows.json?ids=1,x', status=400)


# Escaping and details

def test_every_value_is_escaped(browser, reader):
    evil = '<script>alert(1)</script>'
    remotetask.provideTask(lambda input: input, name=evil)
    service = reader.service()
    service.add(evil, {'html': evil})
    service.addCronJob(evil, cron='@daily', timezone='Europe/Vienna')
    reader.tm.commit()
    page = browser.get('/services/svc')
    assert '<script>alert' not in page.text
    assert page.text.count('&lt;script&gt;alert(1)&lt;/script&gt;') >= 4
    form = page.forms['add-form']
    form['input'] = evil
    page = form.submit(status=400)
    assert '<script>alert' not in page.text
    assert fieldError(page, 'add', 'input').startswith(
        'the input is not valid JSON')


def test_detail_renderers(browser, reader):
    service = reader.service()
    plain = service.add('echo', '<b>')
    failed = service.add('fail', 'x')
    reader.tm.commit()

    def cell(jobid):
        page = browser.get('/services/svc')
        return page.html.select_one(f'#job-{jobid} .detail-text').decode_contents()

    assert cell(plain) == 'input: "&lt;b&gt;"'
    provideDetail(lambda job, svc: f'any <job> {job.id}')
    assert cell(failed) == f'any &lt;job&gt; {failed}'
    provideDetail(lambda job, svc: HTML(f'<em>{job.id}</em>'), task='echo')
    assert cell(plain) == f'<em>{plain}</em>'
    assert cell(failed) == f'any &lt;job&gt; {failed}'

    def broken(job, svc):
        raise KeyError('oops')

    provideDetail(broken, task='fail')
    assert cell(failed) == '(no detail: the renderer failed with KeyError)'


def test_security_headers(browser):
    page = browser.get('/services/svc')
    assert "script-src 'self'" in page.headers['Content-Security-Policy']
    assert page.headers['X-Frame-Options'] == 'DENY'
    assert page.html.select('script:not([src])') == []   # no inline script
    script = browser.get('/static/dashboard.js')
    assert script.content_type == 'text/javascript'
    browser.get('/static/../app.py', status=404)


def test_services_page(client, reader):
    page = login(client).get('/')
    links = [(a.text, a['href']) for a in page.html.select('td.name a')]
    assert links == [('svc', '/services/svc'),
                     ('site1.mail', '/services/site1.mail')]


def test_header_credentials_need_no_csrf(app, reader):
    client = webtest.TestApp(app)
    client.post('/services/svc/add', {'task': 'echo'}, headers=MANAGE,
                status=303)
    assert len(list(reader.service().jobs.keys())) == 1


def test_no_application_root(tmp_path):
    from ZODB import DB

    from lovely.remotetask import web
    db = DB(None)
    client = login(webtest.TestApp(web.makeApp(
        db, credentials=web.Credentials(manage=[MANAGE_TOKEN]))))
    # Without an application root, paths start at the database root.
    assert re.search('holds no task services', client.get('/').text)
    assert client.get('/api/services', headers=MANAGE).json == {
        'services': []}
    db.close()
