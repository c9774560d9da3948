"""The management dashboard: HTML pages for people, with forms.

The home page is the overview of the services: jobs by status, the queue
and its oldest job, the workers, whether each is paused.  A service's page
shows the same for it, with the jobs finished per minute over the last
hour and its workers, then its jobs a page at a time, with forms to act on
them; each job has a page of its own (`jobpage`).

Every form carries the session's CSRF token, checked by the application
before any handler runs.  After a change the browser is sent back to the
page it came from (post/redirect/get) with a one-line message; a form with
mistakes is shown again, with each message next to its field and nothing
changed.

The jobs table shows one page, read with ``jobsPage`` in the listing's
order (newest first, or the order of the status filtered by), which holds
across pages; its columns sort the page shown, not the whole service
(sorting every job would read every job), and the page says so.
``static/dashboard.js`` refreshes the rows shown from ``rows.json`` every
few seconds, without reloading the page; on the first page of a listing
it also shows new jobs as they come and lets go of those that left it.
"""
import json
import re
import urllib.parse

import webob
from webob.multidict import MultiDict

from lovely.remotetask.exceptions import (
    JobStateError, RemoteTaskError, UnknownTaskError)
from lovely.remotetask.interfaces import (
    CANCELLABLE, CANCELLED, COMPLETED, CRONJOB, DELAYED, ERROR, FINISHED,
    PROCESSING, QUEUED, RETRY, STARTLATER, ICronJob)
from lovely.remotetask.locate import listServices
from lovely.remotetask.pickling import checkStorable
from lovely.remotetask.schedule import MISSED_POLICIES, checkDelay
from lovely.remotetask.serialize import SCHEDULE_FIELDS, STATUSES, formatTime
from lovely.remotetask.web import actions, auth, charts, overview, settings
from lovely.remotetask.web.auth import MANAGE, READ
from lovely.remotetask.web.detail import HTML, renderDetail
from lovely.remotetask.web.errors import HTTPError
from lovely.remotetask.web.parsing import (
    MAX_JOB_ID, intValue, loadJSON, pageParameters, shown)
from lovely.remotetask.web.rendering import (
    count as _count, errorResponse, redirect, render, static, templates)
from lovely.remotetask.web.schedules import FieldErrors, formValues, fromForm

__all__ = ['register', 'errorResponse']

#: The columns the jobs table sorts by, and the job attribute of each.
SORTABLE = ('id', 'task', 'status', 'created', 'started', 'completed')
#: The query parameters that make up the state of a jobs page.
PAGE_STATE = ('status', 'task', 'after', 'limit', 'sort', 'order')

#: What each listing's order is, as the page says it.
ORDER_TEXT = {
    None: 'All jobs, newest first.',
    QUEUED: 'Queued jobs in the order they will run: by priority, then '
            'first come, first served.',
    PROCESSING: 'Jobs in hand, by worker.',
    STARTLATER: 'Jobs that wait to be started, in the order they came.',
    COMPLETED: 'Completed jobs in the order they finished, the oldest '
               'first.',
    ERROR: 'Failed jobs in the order they failed, the oldest first.',
    CANCELLED: 'Cancelled jobs in the order they were cancelled, the '
               'oldest first.',
}
_SCHEDULED_ORDER = 'Jobs that wait for a time, the first due first.'


def register(router) -> None:
    from lovely.remotetask.web import jobpage
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
        ('POST', '/services/{service}/retry', retrySelected, MANAGE),
        ('POST', '/services/{service}/cancel-all', cancelAll, MANAGE),
        ('POST', '/services/{service}/retry-all', retryAll, MANAGE),
        ('POST', '/services/{service}/clean', clean, MANAGE),
        ('POST', '/services/{service}/pause', pauseService, MANAGE),
        ('POST', '/services/{service}/resume', resumeService, MANAGE),
    ]
    for method, template, handler, right in routes:
        router.add(method, template, handler, right, 'html')
    jobpage.register(router)


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
    """The overview: every service with its jobs by status, its queue,
    its workers and whether it is paused."""
    services = []
    for entry in listServices(ctx.root):
        summary = overview.summary(entry.service)
        summary['workers'] = len(entry.service.getWorkers())
        summary['oldestText'] = overview.duration(summary['oldestWaitingAge'])
        services.append(dict(entry=entry, summary=summary,
                             url=ctx.url(f'/services/{entry.path}')))
    return render(ctx, 'services', services=services, statuses=STATUSES,
                  noRoot=ctx.root is None)


def servicePage(ctx, service, status=200, **forms):
    """A service: its overview, then its jobs a page at a time, with its
    forms."""
    entry = ctx.service(service)
    query = ctx.request.GET if ctx.request.method == 'GET' else \
        _pageQuery(ctx.request.POST.get('back', ''))
    state = _pageState(query)
    page, cursor = entry.service.jobsPage(
        status=state['status'], after=state['after'], limit=state['limit'],
        task=state['task'])
    back = urllib.parse.urlencode(_stateQuery(state))
    jobRows = _sorted([rowData(ctx, entry, job, back) for job in page],
                      state)
    tasks = sorted(entry.service.getAvailableTasks())
    forms.setdefault('addForm', dict(values=dict(task='', input='',
                                                 delay=''), errors={}))
    forms.setdefault('cronForm', dict(values=formValues(), errors={}))
    pageUrl = ctx.url(f'/services/{entry.path}')

    def sortUrl(column):
        # A second click on the column sorted by turns the order round.
        turn = column == state['sort'] and state['order'] == 'asc'
        return _url(pageUrl, state, sort=column,
                    order='desc' if turn else 'asc', after=None)

    firstUrl = nextUrl = None
    if state['after'] is not None:
        firstUrl = _url(pageUrl, state, after=None)
    if cursor is not None:
        nextUrl = _url(pageUrl, state, after=cursor)
    summary = overview.summary(entry.service)
    minutes = overview.activity(entry.service)
    tabs = [dict(label='all', count=summary['total'], status=None,
                 url=_url(pageUrl, state, status=None, after=None),
                 current=state['status'] is None)]
    tabs += [dict(label=s, count=summary['counts'][s], status=s,
                  url=_url(pageUrl, state, status=s, after=None),
                  current=state['status'] == s) for s in STATUSES]
    retryStatus = CANCELLED if state['status'] == CANCELLED else ERROR
    return render(
        ctx, 'service', status=status, title=f'Service {entry.path}',
        entry=entry, rows=jobRows, columns=SORTABLE, tasks=tasks,
        statuses=STATUSES, state=state, fields=SCHEDULE_FIELDS,
        missedPolicies=MISSED_POLICIES, back=back, sortUrl=sortUrl,
        firstUrl=firstUrl, nextUrl=nextUrl,
        # A page filtered by task reads a bounded number of jobs: it may
        # come short, or empty, with more to come.
        shortPage=state['task'] is not None and cursor is not None
        and len(page) < state['limit'],
        orderText=ORDER_TEXT.get(state['status'], _SCHEDULED_ORDER),
        summary=summary, tabs=tabs,
        oldestText=overview.duration(summary['oldestWaitingAge']),
        workers=[_workerRow(ctx, entry, w)
                 for w in overview.workers(entry.service)],
        chart=HTML(charts.activityChart(minutes)),
        lastHour={s: sum(m[s] for m in minutes)
                  for s in overview.ACTIVITY_STATUSES},
        retryStatus=retryStatus,
        retryLabel=_retryLabel(retryStatus, state['task']),
        rowsUrl=ctx.url(f'/services/{entry.path}/rows.json'),
        liveQuery=urllib.parse.urlencode(_stateQuery(dict(state, after=None))),
        live=state['after'] is None,
        refreshInterval=settings.REFRESH_INTERVAL, **forms)


def _retryLabel(status, task) -> str:
    what = 'failed' if status == ERROR else 'cancelled'
    return f'Retry all {what} jobs' + (f' of task {task}' if task else '')


def _workerRow(ctx, entry, worker) -> dict:
    return dict(worker, age=overview.duration(worker['heartbeatAge']),
                startedText=formatTime(worker['started']),
                jobLinks=[(jobid, ctx.url(
                    f'/services/{entry.path}/jobs/{jobid}'))
                    for jobid in worker['jobs']])


def rowData(ctx, entry, job, back: str = '') -> dict:
    """What the jobs table shows of a job, and what its columns sort by;
    `back` is the state of the page, which the edit form goes back to."""
    editable = ICronJob.providedBy(job) and job.status in (CRONJOB, DELAYED)
    return dict(
        id=job.id, task=job.task, status=job.status,
        created=formatTime(job.created), started=formatTime(job.started),
        completed=formatTime(job.completed), attempts=job.attempts,
        note=_note(job, entry.service),
        detail=renderDetail(job, entry.service),
        cancellable=job.status in CANCELLABLE,
        retryable=job.status in actions.RETRYABLE,
        url=ctx.url(f'/services/{entry.path}/jobs/{job.id}'),
        editUrl=ctx.url(f'/services/{entry.path}/jobs/{job.id}/edit?'
                        + urllib.parse.urlencode(dict(back=back)))
        if editable else None,
        apiUrl=ctx.url(f'/api/services/{entry.path}/jobs/{job.id}'),
        sortKeys=dict(id=job.id, task=job.task, status=job.status,
                      created=job.created, started=job.started,
                      completed=job.completed))


def _sorted(jobRows, state) -> list:
    """The rows of a page in the order asked for: the listing's, or by a
    column (rows without a value last)."""
    key = state['sort']
    if key is None:
        return jobRows
    known = [row for row in jobRows if row['sortKeys'][key] is not None]
    known.sort(key=lambda row: row['sortKeys'][key],
               reverse=state['order'] == 'desc')
    return known + [row for row in jobRows if row['sortKeys'][key] is None]


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
    if getattr(job, 'paused', False):
        parts.append('paused')
    if job.priority:
        parts.append(f'priority {job.priority}')
    return ', '.join(parts)


def rows(ctx, service):
    """The rows of the given jobs (``?ids=1,2``), for the page's refresh;
    with ``head=1`` and the page's state (status, task, limit, sort,
    order), also the ids of the listing's first page now, in the order
    shown (``order``), and their rows."""
    entry = ctx.service(service)
    query = ctx.request.GET
    parts = [part for part in query.get('ids', '').split(',')
             if part.strip()]
    if len(parts) > settings.MAX_PAGE_SIZE:
        raise HTTPError(400, f'at most {settings.MAX_PAGE_SIZE} ids at once')
    ids = [intValue(part, 'ids', 0, MAX_JOB_ID) for part in parts]
    jobs = {}
    for jobid in ids:
        job = entry.service.jobs.get(jobid)
        if job is not None:
            jobs[jobid] = job
    data = {}
    state = _pageState(query)
    back = urllib.parse.urlencode(_stateQuery(state))
    if query.get('head'):
        page, _ = entry.service.jobsPage(
            status=state['status'], limit=state['limit'], task=state['task'])
        head = _sorted([rowData(ctx, entry, job) for job in page], state)
        data['order'] = [row['id'] for row in head]
        jobs.update((job.id, job) for job in page)
    canManage = ctx.allows(MANAGE)
    found = {}
    for jobid, job in jobs.items():
        row = rowData(ctx, entry, job, back)
        row['html'] = templates['row'](
            row=row, canManage=canManage,
            macros=templates['macros'].macros).strip()
        del row['sortKeys']
        found[str(jobid)] = row
    data['rows'] = found
    body = json.dumps(data).encode('utf-8')
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
    return goBack(ctx, entry, f'Added job {jobid} ({task}).')


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
    return goBack(ctx, entry, f'Added cron job {jobid} ({task}).')


def editForm(ctx, service, job, status=200, values=None, errors=None):
    entry = ctx.service(service)
    found = ctx.cronJob(entry, job)
    return render(
        ctx, 'edit', status=status, title=f'Cron job {found.id}',
        entry=entry, job=found, fields=SCHEDULE_FIELDS,
        missedPolicies=MISSED_POLICIES,
        back=ctx.request.params.get('back', ''),
        to=_to(ctx.request.params),
        cronForm=dict(values=values or formValues(found),
                      errors=errors or {}),
        serviceUrl=ctx.url(f'/services/{entry.path}'),
        jobUrl=ctx.url(f'/services/{entry.path}/jobs/{found.id}'),
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
    return goBack(ctx, entry, f'Saved cron job {found.id}.', found.id)


def cancelSelected(ctx, service):
    entry = ctx.service(service)
    cancelled, refused = [], []
    for found in _selected(ctx, entry):
        if found.status in CANCELLABLE:
            entry.service.cancel(found.id)
            cancelled.append(found.id)
        else:
            refused.append(f'{found.id} ({found.status})')
    message = f'Cancelled {_count(len(cancelled), "job")}.'
    if refused:
        message += f' Not cancelled, as they are no longer waiting: ' \
            f'{", ".join(refused)}.'
    return goBack(ctx, entry, message)


def retrySelected(ctx, service):
    entry = ctx.service(service)
    retried, refused = [], []
    for found in _selected(ctx, entry):
        try:
            entry.service.retry(found.id)
            retried.append(found.id)
        except JobStateError as error:
            refused.append(f'{found.id} ({_reason(found, error)})')
    message = f'Retried {_count(len(retried), "job")}.'
    if refused:
        message += f' Not retried: {", ".join(refused)}.'
    return goBack(ctx, entry, message)


def _reason(job, error) -> str:
    """Why a job was not retried, in a few words."""
    if job.status not in actions.RETRYABLE:
        return job.status
    return str(error)


def _selected(ctx, entry):
    return [ctx.job(entry, text) for text in ctx.request.POST.getall('ids')]


def cancelAll(ctx, service):
    entry = ctx.service(service)
    cancelled = actions.cancelWaiting(ctx, entry.service)
    return goBack(ctx, entry,
                  f'Cancelled {_count(cancelled, "waiting job")}; cron jobs '
                  f'keep their schedules.')


def retryAll(ctx, service):
    entry = ctx.service(service)
    form = ctx.request.POST
    status = form.get('status') or ERROR
    if status not in actions.RETRYABLE:
        raise HTTPError(400, f'only {" and ".join(actions.RETRYABLE)} jobs '
                        f'are retried, not {shown(status)}')
    task = form.get('task', '').strip() or None
    retried = actions.retryAll(ctx, entry.service, status, task)
    what = 'failed' if status == ERROR else 'cancelled'
    return goBack(ctx, entry, f'Retried {_count(retried, f"{what} job")}'
                  f'{f" of task {task}" if task else ""}.')


def clean(ctx, service):
    entry = ctx.service(service)
    removed = entry.service.clean(status=FINISHED)
    return goBack(ctx, entry, f'Removed {_count(removed, "finished job")}.')


def pauseService(ctx, service, paused=True):
    entry = ctx.service(service)
    if paused:
        entry.service.pause()
        message = f'Paused {entry.path}: no worker claims its jobs until ' \
            f'it is resumed; the jobs in hand run to their end.'
    else:
        entry.service.resume()
        message = f'Resumed {entry.path}.'
    return goBack(ctx, entry, message)


def resumeService(ctx, service):
    return pauseService(ctx, service, paused=False)


# Helpers

def goBack(ctx, entry, message, jobid=None):
    """Back to the page the form was on, with `message` to show there: the
    jobs page in the state it was in (``back``), or, as ``to`` says, the
    overview (``home``) or the job's page (``job``)."""
    to = _to(ctx.request.POST)
    if to == 'home':
        return redirect(ctx, '/', message)
    if to == 'job' and jobid is not None:
        return redirect(ctx, f'/services/{entry.path}/jobs/{jobid}', message)
    query = _stateQuery(_pageState(_pageQuery(
        ctx.request.POST.get('back', ''))))
    location = f'/services/{entry.path}'
    if query:
        location += '?' + urllib.parse.urlencode(query)
    return redirect(ctx, location, message)


def _to(params) -> str:
    to = params.get('to', '')
    return to if to in ('home', 'job') else ''


def _pageQuery(back: str):
    return MultiDict(urllib.parse.parse_qsl(back))


def _pageState(query) -> dict:
    state = pageParameters(query)
    sort = query.get('sort') if query.get('sort') in SORTABLE else None
    order = 'desc' if query.get('order') == 'desc' else 'asc'
    return dict(state, sort=sort, order=order)


def _stateQuery(state) -> dict:
    """The query string of a page state, without the defaults."""
    defaults = dict(status=None, task=None, after=None,
                    limit=settings.PAGE_SIZE, sort=None, order='asc')
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
