"""A service's page in the dashboard: its overview, then its jobs.

The page shows the service as the home page does, with the jobs finished
per minute over the last hour and per hour over the last day or week, and
its workers (`livepage`, which keeps them up to date), then its jobs a
page at a time, with the forms to act on them (`forms`, `serviceactions`).

The jobs table shows one page, read with ``jobsPage`` in the listing's
order (newest first, or the order of the status filtered by), which holds
across pages; its columns sort the page shown, not the whole service
(sorting every job would read every job), and the page says so.
``static/dashboard.js`` refreshes the rows shown from ``rows.json`` every
few seconds, without reloading the page; on the first page of a listing
it also shows new jobs as they come and lets go of those that left it.
"""
import json
import urllib.parse

import webob

from lovely.remotetask.interfaces import (
    CANCELLABLE, CANCELLED, COMPLETED, CRONJOB, DELAYED, ERROR, PROCESSING,
    QUEUED, RETRY, STARTLATER, WAITING, ICronJob)
from lovely.remotetask.timing.schedule import MISSED_POLICIES
from lovely.remotetask.serialize import (
    SCHEDULE_FIELDS, STATUSES, formatTime, zonedTime)
from lovely.remotetask.web import actions, flowpages, livepage, settings
from lovely.remotetask.web.auth import MANAGE
from lovely.remotetask.web.detail import renderDetail
from lovely.remotetask.web.errors import HTTPError
from lovely.remotetask.web.pagestate import (
    SORTABLE, pageQuery, pageState, stateQuery, stateUrl)
from lovely.remotetask.web.parsing import MAX_JOB_ID, intValue
from lovely.remotetask.web.rendering import count, render, templates
from lovely.remotetask.web.schedules import formValues


#: What each listing's order is, as the page says it.
ORDER_TEXT = {
    None: 'All jobs, newest first.',
    QUEUED: 'Queued jobs in the order they will run: by priority, then '
            'first come, first served.',
    PROCESSING: 'Jobs in hand, by worker.',
    STARTLATER: 'Jobs that wait to be started, in the order they came.',
    WAITING: 'Jobs that wait for other jobs, in the order they came.',
    COMPLETED: 'Completed jobs, the last to finish first.',
    ERROR: 'Failed jobs, the last to fail first.',
    CANCELLED: 'Cancelled jobs, the last cancelled first.',
}
_SCHEDULED_ORDER = 'Jobs that wait for a time, the first due first.'


def servicePage(ctx, service, status=200, **forms):
    """A service: its overview, then its jobs a page at a time, with its
    forms."""
    entry = ctx.service(service)
    query = ctx.request.GET if ctx.request.method == 'GET' else \
        pageQuery(ctx.request.POST.get('back', ''))
    state = pageState(query)
    page, cursor = entry.service.jobsPage(
        status=state['status'], after=state['after'], limit=state['limit'],
        task=state['task'], owner=ctx.ownerFilter(entry), tag=state['tag'],
        search=state['q'])
    back = urllib.parse.urlencode(stateQuery(state))
    jobRows = _sorted([rowData(ctx, entry, job, back) for job in page],
                      state)
    tasks = sorted(entry.service.getAvailableTasks())
    forms.setdefault('addForm', dict(values=dict(task='', input='',
                                                 delay=''), errors={}))
    forms.setdefault('cronForm', dict(values=formValues(), errors={}))
    pageUrl = ctx.url(f'/services/{entry.path}')
    live = livepage.serviceValues(ctx, entry, state, query)
    retryStatus = CANCELLED if state['status'] == CANCELLED else ERROR
    return render(
        ctx, 'service', status=status, title=f'Service {entry.path}',
        entry=entry, rows=jobRows, columns=SORTABLE, tasks=tasks,
        statuses=STATUSES, state=state, fields=SCHEDULE_FIELDS,
        missedPolicies=MISSED_POLICIES, back=back,
        **_links(pageUrl, state, cursor),
        # A page filtered by task (or a status and search) reads a bounded
        # number of jobs: it may come short, or empty, with more to come.
        shortPage=cursor is not None and len(page) < state['limit'],
        orderText=ORDER_TEXT.get(state['status'], _SCHEDULED_ORDER),
        retryStatus=retryStatus, **flowpages.queueRows(ctx, entry),
        retryLabel=_retryLabel(retryStatus, state['task']),
        rowsUrl=ctx.url(f'/services/{entry.path}/rows.json'),
        liveQuery=urllib.parse.urlencode(stateQuery(dict(state, after=None))),
        live=state['after'] is None,
        refreshInterval=settings.REFRESH_INTERVAL, **live, **forms)


def _links(pageUrl, state, cursor) -> dict:
    """The page's links: its columns' sort, the first and next page."""
    def sortUrl(column):
        # A second click on the column sorted by turns the order round.
        turn = column == state['sort'] and state['order'] == 'asc'
        return stateUrl(pageUrl, state, sort=column,
                        order='desc' if turn else 'asc', after=None)

    return dict(
        sortUrl=sortUrl,
        firstUrl=None if state['after'] is None else
        stateUrl(pageUrl, state, after=None),
        nextUrl=None if cursor is None else
        stateUrl(pageUrl, state, after=cursor))


def _retryLabel(status, task) -> str:
    what = 'failed' if status == ERROR else 'cancelled'
    return f'Retry all {what} jobs' + (f' of task {task}' if task else '')


def rowData(ctx, entry, job, back: str = '') -> dict:
    """What the jobs table shows of a job, and what its columns sort by;
    `back` is the state of the page, which the edit form goes back to."""
    editable = ICronJob.providedBy(job) and job.status in (CRONJOB, DELAYED)
    return dict(
        id=job.id, task=job.task, status=job.status, owner=job.owner or '',
        tags=[(tag, ctx.url(f'/services/{entry.path}?' +
                            urllib.parse.urlencode(dict(tag=tag))))
              for tag in job.tags],
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
                      owner=job.owner,
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
        parts.append(f'next attempt {zonedTime(job.scheduledFor)}')
    elif job.status == WAITING:
        parts.append(f'waits for {count(len(job.waitsFor), "job")}')
    if job.queue != 'default':
        parts.append(f'queue {job.queue}')
    if getattr(job, 'paused', False):
        parts.append('paused')
    if job.priority:
        parts.append(f'priority {job.priority}')
    return ', '.join(parts)


def rows(ctx, service):
    """The rows of the given jobs (``?ids=1,2``), for the page's refresh;
    with ``head=1`` and the page's state (status, task, tag, q, limit, sort,
    order), also the ids of the listing's first page now, in the order
    shown (``order``), and their rows."""
    entry = ctx.service(service)
    query = ctx.request.GET
    parts = [part for part in query.get('ids', '').split(',')
             if part.strip()]
    if len(parts) > settings.MAX_PAGE_SIZE:
        raise HTTPError(400, f'at most {settings.MAX_PAGE_SIZE} ids at once')
    ids = [intValue(part.strip(), 'ids', 0, MAX_JOB_ID) for part in parts]
    jobs = {}
    owner = ctx.ownerFilter(entry)
    for jobid in ids:
        job = entry.service.jobs.get(jobid)
        if job is not None and (owner is None or job.owner == owner):
            jobs[jobid] = job
    data = {}
    state = pageState(query)
    back = urllib.parse.urlencode(stateQuery(state))
    if query.get('head'):
        page, _ = entry.service.jobsPage(
            status=state['status'], limit=state['limit'], task=state['task'],
            owner=ctx.ownerFilter(entry), tag=state['tag'],
            search=state['q'])
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
