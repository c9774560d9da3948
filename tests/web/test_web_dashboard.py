"""The dashboard, through its forms, as a browser without JavaScript uses it."""
import collections
import re

import pytest
import webtest

from conftest import MANAGE, MANAGE_TOKEN, READ_TOKEN
from lovely import remotetask
from lovely.remotetask import RetryPolicy
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
    question = page.html.select_one('#cancel-all-form')['data-confirm']
    assert question.endswith('Cron jobs keep their schedules.')
    page = page.forms['cancel-all-form'].submit(status=303).follow()
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


# The overview

def test_the_overview_counts_jobs_by_status(browser, reader):
    service = reader.service()
    for n in range(3):
        service.add('echo', n)
    failed = service.add('fail', 'x')
    service.processNext(jobid=failed)
    reader.connection.root()['Application']['site1']['mail'].pause()
    reader.tm.commit()
    page = browser.get('/')
    row = page.html.select_one('#service-svc')
    counts = {td['class'][1]: td.text for td in row.select('td.count')}
    assert (counts['status-queued'], counts['status-error'],
            counts['status-completed']) == ('3', '1', '0')
    assert row.select_one('td.state').text == 'running'
    assert row.select_one('td.oldest').text.endswith(' s')
    assert row.select_one('td.status-error a')['href'] == (
        '/services/svc?status=error')
    mail = page.html.select_one('#service-site1\\.mail')
    assert mail.select_one('td.state').text == 'paused'
    # Paused and resumed from the overview, which it goes back to.
    form = next(f for f in page.forms.values()
                if f.action == '/services/site1.mail/resume')
    response = form.submit(status=303)
    assert response.location == '/'
    page = response.follow()
    assert page.html.select_one('#flash').text == 'Resumed site1.mail.'
    assert not reader.service('site1.mail').isPaused()


def test_a_service_page_shows_its_overview(browser, reader):
    service = reader.service()
    for n in range(4):
        service.add('echo', n)
    service.add('fail', 'x')
    service.process()
    waiting = service.add('echo', 'waiting')
    service.registerWorker('w1', 30)
    claimed, = service.claim('w1')
    reader.tm.commit()
    page = browser.get('/services/svc')
    tabs = {a['id']: a.select_one('.count').text
            for a in page.html.select('#status-tabs a')}
    assert (tabs['tab-all'], tabs['tab-completed'], tabs['tab-error'],
            tabs['tab-processing']) == ('6', '4', '1', '1')
    assert 'current' in page.html.select_one('#tab-all')['class']
    assert page.html.select_one('#last-hour').text.split() == [
        '4', 'completed,', '1', 'failed,', '0', 'cancelled.']
    chart = page.html.select_one('svg#activity-chart')
    minutes = chart.select('g.minute')
    assert len(minutes) == 60
    # The jobs ended in the last minute, or in the last two when they
    # ended across a minute's end.
    drawn = [m for m in minutes if m.select('rect')]
    assert drawn and all(m in minutes[-2:] for m in drawn)
    counted = collections.Counter()
    for minute in drawn:
        for number, what in re.findall(r'(\d+) (completed|failed)',
                                       minute.title.text):
            counted[what] += int(number)
    assert counted == {'completed': 4, 'failed': 1}
    if len(drawn) == 1:
        assert drawn[0].title.text.endswith('UTC: 4 completed, 1 failed')
        assert [r['class'] for r in drawn[0].select('rect')] == [
            ['completed'], ['failed']]
    worker = page.html.select_one('#workers tbody tr')
    assert worker.select_one('.worker-id').text == 'w1'
    assert [a.text for a in worker.select('.held a')] == [str(claimed.jobid)]
    assert claimed.jobid == waiting
    assert page.html.select_one('#queue').text.startswith('Queue: 0 waiting')


def test_pause_and_resume_a_service(browser, reader):
    page = browser.get('/services/svc?status=queued')
    assert page.html.select_one('#paused-state').text.startswith('Running')
    page = page.forms['pause-form'].submit(status=303).follow()
    assert page.request.path_qs == '/services/svc?status=queued'
    assert page.html.select_one('#flash').text.startswith('Paused svc: no '
                                                          'worker claims')
    assert page.html.select_one('#paused-state').text.startswith('Paused')
    assert reader.service().isPaused()
    page.forms['resume-form'].submit(status=303)
    assert not reader.service().isPaused()


# Listings

def test_filter_by_task(browser, reader, monkeypatch):
    service = reader.service()
    ids = [service.add('echo' if n % 2 else 'fail', n) for n in range(6)]
    reader.tm.commit()
    page = browser.get('/services/svc?task=fail&limit=2')
    assert rowIds(page) == [ids[4], ids[2]]
    assert page.forms['filter']['task'].value == 'fail'
    page = page.click(linkid='next-page')
    assert rowIds(page) == [ids[0]]
    assert page.html.select('#short-page') == []
    from lovely.remotetask.store import listing
    monkeypatch.setattr(listing, 'SCAN', 1)
    page = browser.get('/services/svc?task=fail&limit=2')
    assert rowIds(page) == []
    assert page.html.select_one('#short-page').text.startswith(
        'Filtering by task reads a')
    assert page.html.select_one('#next-page')


def test_the_listing_says_its_order(browser):
    assert browser.get('/services/svc').html.select_one(
        '#order').text.split('.')[0] == 'All jobs, newest first'
    assert browser.get('/services/svc?status=error').html.select_one(
        '#order').text.startswith('Failed jobs, the last to fail first.')
    text = browser.get('/services/svc?sort=task').html.select_one(
        '#order').text
    assert 'This page is sorted by task; sorting orders the jobs of this ' \
        'page only.' in ' '.join(text.split())


def test_rows_follow_the_first_page(browser, reader):
    service = reader.service()
    old = [service.add('echo', n) for n in range(3)]
    reader.tm.commit()
    data = browser.get('/services/svc/rows.json?head=1&limit=3').json
    assert data['order'] == old[::-1]
    service = reader.service()
    new = service.add('fail', 'new')
    service.processNext(jobid=old[0])
    reader.tm.commit()
    data = browser.get('/services/svc/rows.json?head=1&limit=3').json
    assert data['order'] == [new, old[2], old[1]]
    row = data['rows'][str(new)]
    assert row['html'].startswith(f'<tr id="job-{new}" data-job="{new}"')
    assert f'href="/services/svc/jobs/{new}"' in row['html']
    data = browser.get('/services/svc/rows.json?head=1&status=queued'
                       '&sort=task&order=desc').json
    assert data['order'] == [new, old[1], old[2]]


# Retrying

def test_retry_selected_and_all(browser, reader):
    service = reader.service()
    failed = [service.add('fail', n) for n in range(3)]
    waiting = service.add('echo', 'w')
    service.process()
    service.cancel(service.add('echo', 'c'))
    reader.tm.commit()
    page = browser.get('/services/svc?status=error')
    boxes = {int(box['value']): box.has_attr('disabled')
             for box in page.html.select('input.select')}
    assert boxes == {j: False for j in failed}
    assert page.html.select_one('#retry-all').text == 'Retry all failed jobs'
    assert page.html.select_one('#retry-selected')['formaction'] == (
        '/services/svc/retry')
    form = page.forms['jobs-form']
    # The last to fail first: the first job is the third box.
    assert [int(box['value']) for box in page.html.select('input.select')] \
        == failed[::-1]
    form.get('ids', index=2).checked = True
    form.action = '/services/svc/retry'      # as the button's formaction
    page = form.submit(status=303).follow()
    assert page.html.select_one('#flash').text == 'Retried 1 job.'
    assert reader.service().getStatus(failed[0]) == 'queued'
    csrf = page.html.select_one('input[name=_csrf]')['value']
    page = browser.post('/services/svc/retry', [
        ('_csrf', csrf), ('ids', str(failed[0])), ('ids', str(waiting))],
        status=303).follow()
    assert page.html.select_one('#flash').text == (
        f'Retried 0 jobs. Not retried: {failed[0]} (queued), '
        f'{waiting} (completed).')
    page = browser.get('/services/svc?status=error&task=fail')
    assert page.html.select_one('#retry-all').text == (
        'Retry all failed jobs of task fail')
    page = page.forms['retry-all-form'].submit(status=303).follow()
    assert page.html.select_one('#flash').text == (
        'Retried 2 failed jobs of task fail.')
    page = browser.get('/services/svc?status=cancelled')
    page = page.forms['retry-all-form'].submit(status=303).follow()
    assert page.html.select_one('#flash').text == 'Retried 1 cancelled job.'
    assert reader.service().statusCounts() == {'queued': 4, 'completed': 1}


# A job's page

def test_every_listing_links_to_the_job_page(browser, reader):
    jobid = reader.service().add('echo', 'x')
    reader.tm.commit()
    page = browser.get('/services/svc').click(href=f'/services/svc/jobs/'
                                                   f'{jobid}$')
    assert page.html.h1.text.split() == ['Job', f'{jobid}:', 'echo',
                                         'queued']
    assert page.html.select_one('#api-link')['href'] == (
        f'/api/services/svc/jobs/{jobid}')
    browser.get('/services/svc/jobs/123', status=404)
    browser.get('/services/svc/jobs/x', status=400)


def facts(page):
    return {dt.text: dt.find_next_sibling('dd').text.strip()
            for dt in page.html.select('#facts dt')}


def test_a_failed_jobs_page(browser, reader):
    def broken(input):
        raise ValueError(f'bad {input["n"]}')
    remotetask.provideTask(broken, retry=RetryPolicy())   # three at once
    service = reader.service()
    jobid = service.add('broken', {'n': 1, 'text': '<b>'}, priority=7)
    service.process()
    reader.tm.commit()
    page = browser.get(f'/services/svc/jobs/{jobid}')
    shown = facts(page)
    assert (shown['Status'], shown['Task'], shown['Attempts'],
            shown['Priority']) == ('error', 'broken', '3', '7')
    assert shown['Created'] and shown['Started'] and shown['Ended']
    assert page.html.select_one('#input').text == (
        '{\n  "n": 1,\n  "text": "<b>"\n}')
    assert page.html.select_one('#error').text == 'ValueError: bad 1'
    attempts = page.html.select('#attempts tbody tr')
    assert [tr.select_one('.number').text for tr in attempts] == [
        '3', '2', '1']
    traceback = attempts[0].select_one('details pre.traceback').text
    assert traceback.startswith('Traceback (most recent call last)')
    assert traceback.endswith('ValueError: bad 1\n')
    buttons = [b['id'] for b in page.html.select('#job-actions button')]
    assert buttons == ['retry', 'delete']
    # The task's detail renderer shows there too.
    provideDetail(lambda job, svc: HTML(f'<em>n={job.input["n"]}</em>'),
                  task='broken')
    page = browser.get(f'/services/svc/jobs/{jobid}')
    assert page.html.select_one('#detail').decode_contents() == '<em>n=1</em>'
    page = page.forms['retry-form'].submit(status=303).follow()
    assert page.request.path == f'/services/svc/jobs/{jobid}'
    assert page.html.select_one('#flash').text == (
        f'Retried job {jobid}: queued again.')
    assert facts(page)['Status'] == 'queued'
    assert facts(page)['Retried by hand'] == 'after attempt 3'


def test_the_actions_on_a_jobs_page(browser, reader):
    service = reader.service()
    later = service.add('echo', 'later', startLater=True)
    cron = service.addCronJob('echo', 'tick', cron='0 4 * * *')
    queued = service.add('echo', 'q')
    reader.tm.commit()

    def buttons(jobid):
        page = browser.get(f'/services/svc/jobs/{jobid}')
        return page, [b['id'] for b in page.html.select('#job-actions button')]

    page, found = buttons(later)
    assert found == ['start', 'cancel']
    page = page.forms['start-form'].submit(status=303).follow()
    assert page.html.select_one('#flash').text == (
        f'Started job {later}: it is queued.')
    page, found = buttons(queued)
    assert found == ['cancel']
    page = page.forms['cancel-form'].submit(status=303).follow()
    assert page.html.select_one('#flash').text == f'Cancelled job {queued}.'
    assert buttons(queued)[1] == ['retry', 'delete']

    page, found = buttons(cron)
    assert found == ['run-now', 'pause-job', 'cancel']
    assert page.html.select_one('#cancel').text == 'Cancel schedule'
    assert facts(page)['Schedule'].startswith('0 4 * * *')
    page = page.forms['run-now-form'].submit(status=303).follow()
    run = int(page.request.path.rsplit('/', 1)[1])
    assert page.html.select_one('#flash').text == (
        f'Queued job {run}, a run of cron job {cron} now.')
    assert facts(page)['Run of'] == f'cron job {cron}'
    assert page.html.select_one('#fact-run-of a')['href'] == (
        f'/services/svc/jobs/{cron}')
    page, _ = buttons(cron)
    page = page.forms['pause-job-form'].submit(status=303).follow()
    assert facts(page)['Paused'] == 'yes: its runs are skipped'
    assert [b['id'] for b in page.html.select('#job-actions button')] == [
        'run-now', 'resume-job', 'cancel']
    page.forms['resume-job-form'].submit(status=303)
    assert not reader.service().jobs[cron].paused

    # The schedule is edited on the page too, and the form goes back there.
    page, _ = buttons(cron)
    form = page.forms['edit-form']
    form['cron'] = form['timezone'] = ''
    form['minute'] = '15'
    page = form.submit(status=303).follow()
    assert page.request.path == f'/services/svc/jobs/{cron}'
    assert page.html.select_one('#flash').text == f'Saved cron job {cron}.'
    assert reader.service().jobs[cron].minute == (15,)


def test_a_running_jobs_page(browser, reader):
    service = reader.service()
    jobid = service.add('echo', 'x')
    service.registerWorker('w1', 30)
    service.claim('w1')
    service.setProgress(jobid, 0.5, 'half way')
    reader.tm.commit()
    page = browser.get(f'/services/svc/jobs/{jobid}')
    assert (facts(page)['Worker'], facts(page)['Progress'][:13]) == (
        'w1', '50% half way ')
    assert page.html.select_one('#progress progress')['value'] == '0.5'
    assert page.html.select_one('#no-attempts')
    page = page.forms['stop-form'].submit(status=303).follow()
    assert page.html.select_one('#flash').text.startswith(
        f'Asked job {jobid} to stop')
    assert facts(page)['Stop'].startswith('asked to stop')
    assert [b['id'] for b in page.html.select('#job-actions button')] == []


def test_read_only_sees_no_actions_on_a_jobs_page(client, reader):
    service = reader.service()
    failed = service.add('fail', 'x')
    service.process()
    reader.tm.commit()
    page = login(client, READ_TOKEN).get(f'/services/svc/jobs/{failed}')
    assert page.html.select('#job-actions, form') == [
        page.html.select_one('#logout-form')]
    csrf = page.html.select_one('input[name=_csrf]')['value']
    client.post(f'/services/svc/jobs/{failed}/retry', {'_csrf': csrf},
                status=403)
    assert reader.service().getStatus(failed) == 'error'


def test_the_chart_scale():
    from lovely.remotetask.web.charts import activityChart, niceMaximum
    assert [niceMaximum(n) for n in (0, 1, 2, 3, 7, 10, 11, 99, 101)] == [
        1, 1, 2, 5, 10, 10, 20, 100, 200]
    svg = activityChart([dict(start=0, completed=3, error=1, cancelled=0),
                         dict(start=60, completed=0, error=0, cancelled=2)])
    assert svg.count('<rect') == 2 and '>5</text>' in svg
    assert '<title>00:00 UTC: 3 completed, 1 failed</title>' in svg
