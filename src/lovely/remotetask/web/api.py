"""The HTTP/JSON API under ``/api/``: services, tasks and jobs.

Every answer is JSON.  Errors are ``{"error": MESSAGE, "status": CODE}``,
with ``"fields"`` naming the fields of the request at fault where there
are any: 400 for a malformed body, a wrong type or an unknown task, 404
for an unknown service or job, 409 for a job in the wrong state, 413 for
a body over the limit, 401 without credentials and 403 without the right.
`openapi.py` describes each route.
"""
import json
import urllib.parse

import webob

from lovely.remotetask.interfaces import ERROR, FINISHED, STARTLATER
from lovely.remotetask.hosts.locate import listServices
from lovely.remotetask.pickling import checkStorable
from lovely.remotetask.serialize import (
    changesData, historyData, jobData, statusNamed)
from lovely.remotetask.web import (
    actions, addoptions, openapi, overview, settings)
from lovely.remotetask.web.auth import ADD, MANAGE, READ
from lovely.remotetask.web.errors import HTTPError
from lovely.remotetask.web.parsing import (
    intParameter, loadJSON, pageParameters, shown, wholeNumber)
from lovely.remotetask.web.schedules import FieldErrors, fromJSON


def register(router) -> None:
    routes = [
        ('GET', '/api/', index, READ),
        ('GET', '/api', index, READ),      # as it was before, undocumented
        ('GET', '/api/openapi.json', openapiDocument, None),
        ('GET', '/api/services', services, READ),
        ('GET', '/api/services/{service}', service, READ),
        ('GET', '/api/services/{service}/tasks', tasks, READ),
        ('GET', '/api/services/{service}/jobs', jobs, READ),
        ('POST', '/api/services/{service}/jobs', addJob, ADD),
        ('POST', '/api/services/{service}/cronjobs', addCronJob, ADD),
        ('GET', '/api/services/{service}/jobs/{job}', job, READ),
        ('POST', '/api/services/{service}/jobs/{job}/cancel', cancel, MANAGE),
        ('POST', '/api/services/{service}/jobs/{job}/start', start, MANAGE),
        ('POST', '/api/services/{service}/jobs/{job}/retry', retry, MANAGE),
        ('POST', '/api/services/{service}/jobs/{job}/run-now', runNow,
         MANAGE),
        ('POST', '/api/services/{service}/jobs/{job}/pause', pauseJob,
         MANAGE),
        ('POST', '/api/services/{service}/jobs/{job}/resume', resumeJob,
         MANAGE),
        ('PUT', '/api/services/{service}/jobs/{job}/schedule', reschedule,
         MANAGE),
        ('GET', '/api/services/{service}/activity', activity, READ),
        ('POST', '/api/services/{service}/clean', clean, MANAGE),
        ('POST', '/api/services/{service}/cancel-all', cancelAll, MANAGE),
        ('POST', '/api/services/{service}/retry-all', retryAll, MANAGE),
        ('POST', '/api/services/{service}/pause', pauseService, MANAGE),
        ('POST', '/api/services/{service}/resume', resumeService, MANAGE),
    ]
    for method, template, handler, right in routes:
        router.add(method, template, handler, right, 'api')


def respond(data, status: int = 200, **headers) -> webob.Response:
    response = webob.Response(
        body=json.dumps(data, indent=1).encode('utf-8'), status=status,
        content_type='application/json', charset=None)
    response.headers.update(headers)
    return response


def errorResponse(request, error, identity, app) -> webob.Response:
    data = dict(error=error.message, status=error.status)
    if error.fields:
        data['fields'] = error.fields
    return respond(data, error.status, **error.headers)


# Reading

def index(ctx):
    data = dict(services=ctx.url('/api/services'),
                openapi=ctx.url('/api/openapi.json'),
                right=ctx.identity.right)
    if ctx.identity.user is not None:
        data['user'] = ctx.identity.user
    return respond(data)


def openapiDocument(ctx):
    """The API's OpenAPI document; to those who may read the services,
    with the names of the tasks that jobs may be added for."""
    tasks = None
    if ctx.allows(READ):
        tasks = set()
        for entry in listServices(ctx.root):
            tasks.update(entry.service.getAvailableTasks())
    return respond(openapi.document(ctx.url('/api'), tasks))


def services(ctx):
    return respond(dict(services=[
        _serviceData(ctx, entry) for entry in ctx.services()]))


def service(ctx, service):
    entry = ctx.service(service)
    data = _serviceData(ctx, entry)
    data.update(tasks=sorted(entry.service.getAvailableTasks()),
                workers=overview.workers(entry.service),
                activity=ctx.url(f'/api/services/{entry.path}/activity'))
    return respond(data)


def activity(ctx, service):
    """Jobs finished per minute over the last hour (``minutes``: fewer)."""
    entry = ctx.service(service)
    minutes = intParameter(ctx.request.GET, 'minutes',
                           settings.ACTIVITY_MINUTES, 1,
                           settings.ACTIVITY_MINUTES, emptyIsMissing=False)
    return respond(dict(minutes=overview.activity(entry.service,
                                                  minutes=minutes)))


def tasks(ctx, service):
    entry = ctx.service(service)
    return respond(dict(tasks=sorted(entry.service.getAvailableTasks())))


def jobs(ctx, service):
    """A page of jobs: ``status``, ``after`` (the cursor of the page before)
    and ``limit`` select it, ``task``, ``tag`` and ``q`` filter it; only
    that page is read."""
    entry = ctx.service(service)
    query = pageParameters(ctx.request.GET, emptyIsMissing=False)
    page, cursor = entry.service.jobsPage(
        owner=ctx.ownerFilter(entry), **query)
    data = dict(jobs=[jobData(j, _jobUrl(ctx, entry, j.id)) for j in page],
                next=cursor, nextUrl=None)
    if cursor is not None:
        following = dict(after=cursor, limit=query['limit'])
        following.update((name, query[key]) for name, key in (
            ('status', 'status'), ('task', 'task'), ('tag', 'tag'),
            ('q', 'search')) if query[key] is not None)
        data['nextUrl'] = ctx.url(
            f'/api/services/{entry.path}/jobs?'
            + urllib.parse.urlencode(following))
    return respond(data)


def job(ctx, service, job):
    """A job with all there is to know: its progress, and the history of
    its attempts with their errors and tracebacks."""
    entry = ctx.service(service)
    found = ctx.job(entry, job)
    return respond(fullJobData(ctx, entry, found))


def fullJobData(ctx, entry, found) -> dict:
    data = jobData(found, _jobUrl(ctx, entry, found.id))
    data['progress'] = entry.service.getProgress(found.id)
    data['history'] = historyData(found)
    data['changes'] = changesData(found)
    data['dashboard'] = ctx.url(f'/services/{entry.path}/jobs/{found.id}')
    return data


# Changing

def addJob(ctx, service):
    """A one-off job: ``task``, ``input``, and ``startLater`` or ``delay``;
    ``priority`` and a unique ``key`` for jobs that are not delayed."""
    entry = ctx.service(service)
    body = readBody(ctx, allowed=('task', 'input', 'startLater', 'delay',
                                  'priority', 'key') + addoptions.FIELDS)
    task = _taskName(body)
    startLater = body.get('startLater', False)
    if not isinstance(startLater, bool):
        raise HTTPError(400, 'startLater must be true or false',
                        fields=dict(startLater=shown(startLater)))
    key = body.get('key')
    if 'key' in body and not isinstance(key, str):
        raise HTTPError(400, 'key must be a string',
                        fields=dict(key=shown(key)))
    if 'delay' in body:
        if startLater:
            raise HTTPError(400, 'give startLater or delay, not both')
        given = [name for name in ('priority', 'key') + addoptions.FIELDS
                 if name in body]
        if given:
            raise HTTPError(400, f'{" and ".join(given)}: not with a delay '
                            f'(they go with jobs that are not delayed)')
        if body['delay'] is None:
            raise HTTPError(400, 'delay must be a number of seconds',
                            fields=dict(delay='not a number'))
        schedule = _schedule(dict(delay=body['delay']))
        jobid = entry.service.addCronJob(task, body.get('input'), **schedule)
    else:
        jobid = addoptions.add(entry.service, task, body,
                               startLater=startLater, key=key,
                               priority=wholeNumber(body.get('priority', 0)))
    return _created(ctx, entry, jobid)


def addCronJob(ctx, service):
    """A job on a schedule: ``task``, ``input``, and ``cron`` (with
    ``timezone``) or the tuple fields, and the policies."""
    entry = ctx.service(service)
    body = readBody(ctx, allowed=('task', 'input') + _SCHEDULE_KEYS)
    task = _taskName(body)
    schedule = _schedule(body)
    jobid = entry.service.addCronJob(task, body.get('input'), **schedule)
    return _created(ctx, entry, jobid)


def cancel(ctx, service, job):
    entry = ctx.service(service)
    found = ctx.job(entry, job)
    entry.service.cancel(found.id)
    return respond(jobData(found, _jobUrl(ctx, entry, found.id)))


def start(ctx, service, job):
    entry = ctx.service(service)
    found = ctx.job(entry, job)
    startJob(entry.service, found)
    return respond(jobData(found, _jobUrl(ctx, entry, found.id)))


def startJob(service, found) -> None:
    if not service.startJob(found.id):
        raise HTTPError(409, f'job {found.id} is {found.status}; only jobs '
                        f'that are {STARTLATER} can be started')


def retry(ctx, service, job):
    """Run a failed or cancelled job again: the same job, a new attempt."""
    entry = ctx.service(service)
    found = ctx.job(entry, job)
    entry.service.retry(found.id)
    return respond(jobData(found, _jobUrl(ctx, entry, found.id)))


def runNow(ctx, service, job):
    """Queue a run of a cron job now, besides its schedule: a new job."""
    entry = ctx.service(service)
    found = ctx.cronJob(entry, job)
    return _created(ctx, entry, entry.service.runNow(found.id))


def pauseJob(ctx, service, job, paused=True):
    """Pause a cron job: its runs are skipped until it is resumed."""
    entry = ctx.service(service)
    found = ctx.cronJob(entry, job)
    entry.service.pauseJob(found.id, paused)
    return respond(jobData(found, _jobUrl(ctx, entry, found.id)))


def resumeJob(ctx, service, job):
    return pauseJob(ctx, service, job, paused=False)


def reschedule(ctx, service, job):
    """Replace a cron job's schedule (and its input, if given)."""
    entry = ctx.service(service)
    found = ctx.cronJob(entry, job)
    body = readBody(ctx, allowed=('input',) + _SCHEDULE_KEYS)
    schedule = _schedule(body)
    if 'input' in body:
        checkStorable(body['input'], f'the input of job {found.id}')
        found.input = body['input']
    found.update(**schedule)
    entry.service.reschedule(found.id)
    return respond(jobData(found, _jobUrl(ctx, entry, found.id)))


def clean(ctx, service):
    """Remove finished jobs (``status``: a list, by default all three)."""
    entry = ctx.service(service)
    body = readBody(ctx, allowed=('status',), optional=True)
    status = body.get('status', list(FINISHED))
    if isinstance(status, list):
        status = [statusNamed(s) or s for s in status]
    if not isinstance(status, list) or not all(
            isinstance(s, str) and s in FINISHED for s in status):
        message = f'status must be a list of finished statuses ' \
            f'({", ".join(FINISHED)}), not {shown(status)}'
        raise HTTPError(400, message, fields=dict(status=message))
    return respond(dict(removed=entry.service.clean(status=status)))


def cancelAll(ctx, service):
    """Cancel every job that waits to run once, in batches; cron jobs
    keep their schedules."""
    entry = ctx.service(service)
    return respond(dict(cancelled=actions.cancelWaiting(ctx, entry.service),
                        statuses=list(actions.WAITING)))


def retryAll(ctx, service):
    """Retry every failed (or cancelled) job, of one task if given, in
    batches."""
    entry = ctx.service(service)
    body = readBody(ctx, allowed=('status', 'task'), optional=True)
    status = statusNamed(body.get('status', ERROR))
    if status not in actions.RETRYABLE:
        message = f'status must be one of ' \
            f'{", ".join(actions.RETRYABLE)}, not {shown(status)}'
        raise HTTPError(400, message, fields=dict(status=message))
    task = body.get('task')
    if task is not None and not isinstance(task, str):
        message = f'task must be the name of a task, not {shown(task)}'
        raise HTTPError(400, message, fields=dict(task=message))
    return respond(dict(retried=actions.retryAll(
        ctx, entry.service, status, task or None)))


def pauseService(ctx, service, paused=True):
    """Pause a service: no worker, here or elsewhere, claims its jobs
    until it is resumed; the jobs in hand run to their end."""
    entry = ctx.service(service)
    if paused:
        entry.service.pause()
    else:
        entry.service.resume()
    return respond(_serviceData(ctx, entry))


def resumeService(ctx, service):
    return pauseService(ctx, service, paused=False)


# Helpers

_SCHEDULE_KEYS = ('cron', 'timezone', 'minute', 'hour', 'dayOfMonth', 'month',
                  'dayOfWeek', 'delay', 'missed', 'graceTime', 'overlap')


def readBody(ctx, allowed, optional=False) -> dict:
    """The request's JSON object, with no keys but the `allowed`."""
    raw = ctx.request.body
    if not raw.strip() and optional:
        return {}
    body = loadJSON(raw, 'the body')
    if not isinstance(body, dict):
        raise HTTPError(400, f'the body must be a JSON object, not '
                        f'{type(body).__name__}')
    unknown = sorted(set(body) - set(allowed))
    if unknown:
        names = ', '.join(shown(name) if not name.isidentifier() else name
                          for name in unknown[:5])
        raise HTTPError(400, f'unknown field{"s" if len(unknown) > 1 else ""}'
                        f' {names}{", ..." if len(unknown) > 5 else ""}; '
                        f'this takes {", ".join(allowed)}',
                        fields={name: 'unknown field' for name in unknown})
    return body


def _taskName(body) -> str:
    task = body.get('task')
    if not isinstance(task, str) or not task:
        raise HTTPError(400, 'task must be the name of a task, as a string',
                        fields=dict(task='required'))
    return task


def _schedule(body) -> dict:
    try:
        return fromJSON(body)
    except FieldErrors as error:
        raise HTTPError(400, str(error), fields=error.errors) from None


def _created(ctx, entry, jobid):
    found = entry.service.jobs[jobid]
    url = _jobUrl(ctx, entry, jobid)
    return respond(jobData(found, url), 201, Location=url)


def _jobUrl(ctx, entry, jobid) -> str:
    return ctx.url(f'/api/services/{entry.path}/jobs/{jobid}')


def _serviceData(ctx, entry) -> dict:
    return dict(id=entry.path, name=entry.name, site=entry.site,
                **overview.summary(entry.service),
                url=ctx.url(f'/api/services/{entry.path}'),
                jobs=ctx.url(f'/api/services/{entry.path}/jobs'),
                xmlrpc=ctx.url(f'/xmlrpc/{entry.path}'),
                dashboard=ctx.url(f'/services/{entry.path}'))
