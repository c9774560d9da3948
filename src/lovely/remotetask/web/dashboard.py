"""The management dashboard: HTML pages for people, with forms.

Pages are Chameleon templates (``templates/``), which escape every value
they show unless told otherwise; the only markup let through is the
detail cell, which `detail.renderDetail` escapes itself.  Every form
carries the session's CSRF token, checked by the application before any
handler runs.  After a change the browser is sent back to the page it came
from (post/redirect/get) with a one-line message; a form with mistakes is
shown again, with each message next to its field and nothing changed.

The jobs table shows one page, read with ``jobsPage``; its columns sort
that page (not the whole service: sorting every job would read every
job).  ``static/dashboard.js`` refreshes the states of the rows shown from
``rows.json`` every few seconds, without reloading the page.
"""
import json
import os
import re
import urllib.parse

import webob
from chameleon import PageTemplateLoader
from webob.multidict import MultiDict

from lovely.remotetask.exceptions import RemoteTaskError, UnknownTaskError
from lovely.remotetask.interfaces import (
    CANCELLABLE, CRONJOB, DELAYED, FINISHED, PROCESSING, RETRY, ICronJob)
from lovely.remotetask.pickling import checkStorable
from lovely.remotetask.schedule import MISSED_POLICIES, checkDelay
from lovely.remotetask.web import auth, settings
from lovely.remotetask.web.api import cancelEverything, pageParameters
from lovely.remotetask.web.app import MAX_JOB_ID, HTTPError
from lovely.remotetask.web.auth import MANAGE, READ
from lovely.remotetask.web.detail import renderDetail
from lovely.remotetask.web.parsing import intValue, loadJSON
from lovely.remotetask.web.schedules import FieldErrors, formValues, fromForm
from lovely.remotetask.serialize import (
    SCHEDULE_FIELDS, STATUSES, formatTime)
from lovely.remotetask.locate import listServices

HERE = os.path.dirname(__file__)
templates = PageTemplateLoader(os.path.join(HERE, 'templates'), '.pt')

FLASH_COOKIE = 'remotetask_flash'
#: The columns the jobs table sorts by, and the job attribute of each.
SORTABLE = ('id', 'task', 'status', 'created', 'started', 'completed')
#: The query parameters that make up the state of a jobs page.
PAGE_STATE = ('status', 'after', 'limit', 'sort', 'order')

_STATIC = {'dashboard.js': 'text/javascript', 'dashboard.css': 'text/css'}


def register(router) -> None:
    routes = [
        ('GET', '/', home, READ),
        ('GET', '/login', loginForm, None),
        ('POST', '/login', login, None),
        ('POST', '/logout', logout, READ),
        ('GET', '/static/{name}', static, None),
        ('GET', '/services/{service}', servicePage, READ),
        ('GET', '/services/{service}/rows.json', rows, READ),
        ('POST', '/services/{service}/add', addJob, MANAGE),
        ('POST', '/services/{service}/cron', addCronJob, MANAGE),
        ('GET', '/services/{service}/jobs/{job}/edit', editForm, MANAGE),
        ('POST', '/services/{service}/jobs/{job}/edit', editCronJob, MANAGE),
        ('POST', '/services/{service}/cancel', cancelSelected, MANAGE),
        ('POST', '/services/{service}/cancel-all', cancelAll, MANAGE),
        ('POST', '/services/{service}/clean', clean, MANAGE),
    ]
    for method, template, handler, right in routes:
        router.add(method, template, handler, right, 'html')


# Rendering

def render(ctx, name: str, status: int = 200, **values) -> webob.Response:
    values.setdefault('title', 'Task services')
    values.setdefault('flash', None)
    page = templates[name](
        url=ctx.url, csrf=ctx.csrfToken, identity=ctx.identity,
        canManage=ctx.allows(MANAGE), csrfField=auth.CSRF_FIELD,
        macros=templates['macros'].macros, **values)
    return _html(page, status)


def _html(page: str, status: int = 200) -> webob.Response:
    # A lone surrogate (in a task's name, say) is shown escaped, not fatal.
    response = webob.Response(body=page.encode('utf-8', 'backslashreplace'),
                              status=status,
                              content_type='text/html', charset='utf-8')
    response.headers.update(_HTML_HEADERS)
    return response


_HTML_HEADERS = {
    'Content-Security-Policy': "default-src 'none'; script-src 'self'; "
    "style-src 'self'; img-src 'self'; connect-src 'self'; "
    "form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
    'X-Frame-Options': 'DENY',
}


def errorResponse(request, error, identity, app) -> webob.Response:
    """An error page; a page that needs a login sends the browser there."""
    if error.status == 401 and request.method == 'GET':
        target = request.script_name + '/login?' + urllib.parse.urlencode(
            dict(next=request.path_qs[len(request.script_name):]))
        return webob.Response(status=303, location=target)
    page = templates['error'](
        url=lambda path: request.script_name + path, title='Error',
        status=error.status, message=error.message, identity=identity,
        csrf=app.authenticator.csrfToken(identity), csrfField=auth.CSRF_FIELD,
        flash=None)
    response = _html(page, error.status)
    response.headers.update(error.headers)
    return response


def static(ctx, name):
    if name not in _STATIC:
        raise HTTPError(404, f'nothing at /static/{name}')
    with open(os.path.join(HERE, 'static', name), 'rb') as f:
        response = webob.Response(body=f.read(), content_type=_STATIC[name],
                                  charset='utf-8')
    response.cache_control = 'no-cache'
    return response


# Logging in

def loginForm(ctx):
    """The login form; ``?token=`` (the URL ``serve`` prints) logs in."""
    token = ctx.request.GET.get('token')
    if token:
        return _login(ctx, token, _safeNext(ctx.request.GET.get('next')))
    return render(ctx, 'login', next=_safeNext(ctx.request.GET.get('next')),
                  error=None, title='Log in')


def login(ctx):
    form = ctx.request.POST
    return _login(ctx, form.get('token', ''), _safeNext(form.get('next')))


def _login(ctx, token, next):
    cookie = ctx.app.authenticator.newSession(token.strip())
    if cookie is None:
        return render(ctx, 'login', status=401, next=next, title='Log in',
                      error='That token is not valid.')
    response = webob.Response(status=303, location=ctx.url(next))
    response.set_cookie(
        auth.SESSION_COOKIE, cookie,
        max_age=int(ctx.app.authenticator.lifetime),
        path=ctx.url('/'), httponly=True, samesite='lax',
        secure=ctx.request.scheme == 'https')
    return response


def logout(ctx):
    """End the session, on the server too: its cookie, its CSRF token and
    copies of them stop working at once."""
    if ctx.identity.session is not None:
        auth.endSession(ctx.connection, ctx.identity)
    response = webob.Response(status=303, location=ctx.url('/login'))
    response.delete_cookie(auth.SESSION_COOKIE, path=ctx.url('/'))
    return response


def _safeNext(next) -> str:
    """A path of this application to go to after logging in; nothing that
    leads elsewhere (``//host``, ``http:``) and nothing but printable ASCII,
    which is what a Location header can hold ('/' for anything else)."""
    if not next or not next.startswith('/') or next.startswith('//') \
            or '\\' in next or not _PRINTABLE.fullmatch(next):
        return '/'
    return next


_PRINTABLE = re.compile('[\x21-\x7e]*')


# Reading

def home(ctx):
    entries = listServices(ctx.root)
    return render(ctx, 'services', services=entries,
                  flash=_flash(ctx), noRoot=ctx.root is None)


def servicePage(ctx, service, status=200, **forms):
    """The jobs of a service, a page at a time, with its forms."""
    entry = ctx.service(service)
    query = ctx.request.GET if ctx.request.method == 'GET' else \
        _pageQuery(ctx.request.POST.get('back', ''))
    state = _pageState(query)
    page, cursor = entry.service.jobsPage(
        status=state['status'], after=state['after'], limit=state['limit'])
    back = urllib.parse.urlencode(_stateQuery(state))
    jobRows = [rowData(ctx, entry, job) for job in page]
    for row in jobRows:
        if row['editUrl']:
            row['editUrl'] += '?' + urllib.parse.urlencode(dict(back=back))
    key = state['sort']
    if key is not None:
        # The page is sorted, not the service: rows without a value go
        # last.  Unsorted, rows come in the listing's order.
        known = [row for row in jobRows if row['sortKeys'][key] is not None]
        known.sort(key=lambda row: row['sortKeys'][key],
                   reverse=state['order'] == 'desc')
        jobRows = known + [row for row in jobRows
                           if row['sortKeys'][key] is None]
    tasks = sorted(entry.service.getAvailableTasks())
    forms.setdefault('addForm', dict(values=dict(task='', input='',
                                                 delay=''), errors={}))
    forms.setdefault('cronForm', dict(values=formValues(), errors={}))
    pageUrl = ctx.url(f'/services/{entry.path}')

    def sortUrl(column):
        # A second click on the column sorted by turns the order round.
        turn = column == key and state['order'] == 'asc'
        return _url(pageUrl, state, sort=column,
                    order='desc' if turn else 'asc')

    firstUrl = nextUrl = None
    if state['after'] is not None:
        firstUrl = _url(pageUrl, state, after=None)
    if cursor is not None:
        nextUrl = _url(pageUrl, state, after=cursor)
    response = render(
        ctx, 'service', status=status, title=f'Service {entry.path}',
        entry=entry, rows=jobRows, columns=SORTABLE, tasks=tasks,
        statuses=STATUSES,
        state=state, fields=SCHEDULE_FIELDS, missedPolicies=MISSED_POLICIES,
        back=back, sortUrl=sortUrl, firstUrl=firstUrl, nextUrl=nextUrl,
        rowsUrl=ctx.url(f'/services/{entry.path}/rows.json'),
        refreshInterval=settings.REFRESH_INTERVAL,
        flash=_flash(ctx), **forms)
    if ctx.request.cookies.get(FLASH_COOKIE):
        response.delete_cookie(FLASH_COOKIE, path=ctx.url('/'))
    return response


def rowData(ctx, entry, job) -> dict:
    """What the jobs table shows of a job, and what its columns sort by."""
    editable = ICronJob.providedBy(job) and job.status in (CRONJOB, DELAYED)
    return dict(
        id=job.id, task=job.task, status=job.status,
        created=formatTime(job.created), started=formatTime(job.started),
        completed=formatTime(job.completed), attempts=job.attempts,
        note=_note(job, entry.service),
        detail=renderDetail(job, entry.service),
        cancellable=job.status in CANCELLABLE,
        editUrl=ctx.url(f'/services/{entry.path}/jobs/{job.id}/edit')
        if editable else None,
        apiUrl=ctx.url(f'/api/services/{entry.path}/jobs/{job.id}'),
        sortKeys=dict(id=job.id, task=job.task, status=job.status,
                      created=job.created, started=job.started,
                      completed=job.completed))


def _note(job, service) -> str:
    """How far a running job got, when a failed one is tried again, and
    its priority when it has one."""
    parts = []
    if job.status == PROCESSING:
        progress = service.getProgress(job.id)
        if progress is not None:
            parts.append(f'{progress["fraction"]:.0%} {progress["message"]}'
                         .strip())
    elif job.status == RETRY and job.scheduledFor is not None:
        parts.append(f'next attempt {formatTime(job.scheduledFor)}')
    if job.priority:
        parts.append(f'priority {job.priority}')
    return ', '.join(parts)


def rows(ctx, service):
    """The rows of the given jobs (``?ids=1,2``), for the page's refresh."""
    entry = ctx.service(service)
    parts = [part for part in ctx.request.GET.get('ids', '').split(',')
             if part.strip()]
    if len(parts) > settings.MAX_PAGE_SIZE:
        raise HTTPError(400, f'at most {settings.MAX_PAGE_SIZE} ids at once')
    ids = [intValue(part, 'ids', 0, MAX_JOB_ID) for part in parts]
    found = {}
    for jobid in ids:
        job = entry.service.jobs.get(jobid)
        if job is not None:
            row = rowData(ctx, entry, job)
            del row['sortKeys']
            found[str(jobid)] = row
    body = json.dumps(dict(rows=found)).encode('utf-8')
    return webob.Response(body=body, content_type='application/json',
                          charset=None)


# Changing

def addJob(ctx, service):
    entry = ctx.service(service)
    form = ctx.request.POST
    values = dict(task=form.get('task', ''), input=form.get('input', ''),
                  delay=form.get('delay', ''),
                  startLater=form.get('startLater') == 'on')
    errors = {}
    task = _task(entry, values['task'], errors)
    input = _input(values['input'], errors)
    delay = None
    if values['delay'].strip():
        try:
            delay = checkDelay(float(values['delay']))
        except (ValueError, RemoteTaskError) as error:
            errors['delay'] = (str(error) if isinstance(error, RemoteTaskError)
                               else 'the delay is a number of seconds')
        if values['startLater'] and 'delay' not in errors:
            errors['delay'] = 'a delayed job starts by itself: leave "start ' \
                'later" unchecked'
    if not errors:
        try:
            if delay is not None:
                jobid = entry.service.addCronJob(task, input, delay=delay)
            else:
                jobid = entry.service.add(task, input,
                                          startLater=values['startLater'])
        except RemoteTaskError as error:
            errors[''] = str(error)
    if errors:
        return servicePage(ctx, service, status=400,
                           addForm=dict(values=values, errors=errors))
    return _back(ctx, entry, f'Added job {jobid} ({task}).')


def addCronJob(ctx, service):
    entry = ctx.service(service)
    form = ctx.request.POST
    values = _cronValues(form)
    errors = {}
    task = _task(entry, values['task'], errors)
    input = _input(values['input'], errors)
    schedule = _cronSchedule(form, errors)
    if not errors:
        try:
            jobid = entry.service.addCronJob(task, input, **schedule)
        except RemoteTaskError as error:
            errors[''] = str(error)
    if errors:
        return servicePage(ctx, service, status=400,
                           cronForm=dict(values=values, errors=errors))
    return _back(ctx, entry, f'Added cron job {jobid} ({task}).')


def editForm(ctx, service, job, status=200, values=None, errors=None):
    entry = ctx.service(service)
    found = ctx.cronJob(entry, job)
    return render(
        ctx, 'edit', status=status, title=f'Cron job {found.id}',
        entry=entry, job=found, fields=SCHEDULE_FIELDS,
        missedPolicies=MISSED_POLICIES,
        back=ctx.request.params.get('back', ''),
        cronForm=dict(values=values or formValues(found),
                      errors=errors or {}),
        serviceUrl=ctx.url(f'/services/{entry.path}'),
        editUrl=ctx.url(f'/services/{entry.path}/jobs/{found.id}/edit'))


def editCronJob(ctx, service, job):
    entry = ctx.service(service)
    found = ctx.cronJob(entry, job)
    form = ctx.request.POST
    values = dict(_cronValues(form), task=found.task)
    errors = {}
    input = _input(values['input'], errors)
    schedule = _cronSchedule(form, errors)
    if not errors:
        try:
            checkStorable(input, f'the input of job {found.id}')
            found.input = input
            found.update(**schedule)
            entry.service.reschedule(found.id)
        except RemoteTaskError as error:
            errors[''] = str(error)
    if errors:
        return editForm(ctx, service, job, status=400, values=values,
                        errors=errors)
    return _back(ctx, entry, f'Saved cron job {found.id}.')


def cancelSelected(ctx, service):
    entry = ctx.service(service)
    ids = ctx.request.POST.getall('ids')
    cancelled, refused = [], []
    for text in ids:
        found = ctx.job(entry, text)
        if found.status in CANCELLABLE:
            entry.service.cancel(found.id)
            cancelled.append(found.id)
        else:
            refused.append(f'{found.id} ({found.status})')
    message = f'Cancelled {_count(len(cancelled), "job")}.'
    if refused:
        message += f' Not cancelled, as they are no longer waiting: ' \
            f'{", ".join(refused)}.'
    return _back(ctx, entry, message)


def cancelAll(ctx, service):
    entry = ctx.service(service)
    count = cancelEverything(ctx, entry.service)
    return _back(ctx, entry, f'Cancelled {_count(count, "job")}.')


def clean(ctx, service):
    entry = ctx.service(service)
    removed = entry.service.clean(status=FINISHED)
    return _back(ctx, entry,
                 f'Removed {_count(removed, "finished job")}.')


# Helpers

def _count(n, noun):
    return f'{n} {noun}' + ('' if n == 1 else 's')


def _back(ctx, entry, message):
    """Back to the page the form was on, with `message` to show there."""
    query = _stateQuery(_pageState(_pageQuery(
        ctx.request.POST.get('back', ''))))
    location = ctx.url(f'/services/{entry.path}')
    if query:
        location += '?' + urllib.parse.urlencode(query)
    response = webob.Response(status=303, location=location)
    response.set_cookie(FLASH_COOKIE, urllib.parse.quote(
                            message, errors='backslashreplace'),
                        path=ctx.url('/'), httponly=True, samesite='lax')
    return response


def _flash(ctx):
    message = ctx.request.cookies.get(FLASH_COOKIE)
    return urllib.parse.unquote(message) if message else None


def _pageQuery(back: str):
    return MultiDict(urllib.parse.parse_qsl(back))


def _pageState(query) -> dict:
    status, after, limit = pageParameters(query)
    sort = query.get('sort') if query.get('sort') in SORTABLE else None
    order = 'desc' if query.get('order') == 'desc' else 'asc'
    return dict(status=status, after=after, limit=limit, sort=sort,
                order=order)


def _stateQuery(state) -> dict:
    """The query string of a page state, without the defaults."""
    defaults = dict(status=None, after=None, limit=settings.PAGE_SIZE,
                    sort=None, order='asc')
    return {k: state[k] for k in PAGE_STATE if state[k] != defaults[k]}


def _url(base, state, **changes):
    query = _stateQuery(dict(state, **changes))
    return base + ('?' + urllib.parse.urlencode(query) if query else '')


def _task(entry, name, errors):
    if not name:
        errors['task'] = 'choose a task'
    elif entry.service.queryTask(name) is None:
        errors['task'] = str(UnknownTaskError(name))
    return name


def _input(text, errors):
    if not text.strip():
        return None
    try:
        return loadJSON(text, 'the input')
    except HTTPError as error:
        errors['input'] = error.message
        return None


def _cronValues(form) -> dict:
    values = formValues()
    for name in values:
        if name in form:
            values[name] = form[name]
    return values


def _cronSchedule(form, errors) -> dict:
    try:
        return fromForm(form)
    except FieldErrors as error:
        errors.update(error.errors)
        return {}
