"""A job's own page in the dashboard, and the actions on one job.

The page shows all the service keeps of a job: task, input, status,
times, worker, priority, progress, result or error, and the history of
its attempts, each with its worker, times, error and traceback (the last
`job.HISTORY_LENGTH` attempts, tracebacks cut to `job.TRACEBACK_LENGTH`
characters).  The task's detail renderer (`detail`) shows there too.

Every action that fits the job's state is a button on the page: retry a
failed or cancelled job (the same job, a new attempt), cancel a waiting
job or ask a running one to stop, start a start-later job, run a cron job
now (a new job, whose page the browser goes to), pause or resume a cron
job, and edit its schedule, undo what a completed job changed (see
`ITaskService.undoJob`).  Each goes back to the page with a message.
"""
import json
import urllib.parse

from lovely.remotetask.interfaces import (
    CANCELLABLE, COMPLETED, CRONJOB, DELAYED, FINISHED, PROCESSING, RETRY,
    STARTLATER, ICronJob)
from lovely.remotetask.timing.schedule import MISSED_POLICIES
from lovely.remotetask.serialize import (
    SCHEDULE_FIELDS, WAITS_SHOWN, changesData, formatTime, historyData,
    jsonValue, scheduleText, scheduleZone, zonedTime)
from lovely.remotetask.web import actions
from lovely.remotetask.web.auth import MANAGE, READ
from lovely.remotetask.web.detail import renderDetail
from lovely.remotetask.web.errors import HTTPError
from lovely.remotetask.web.rendering import redirect, render
from lovely.remotetask.web.schedules import formValues


def register(router) -> None:
    routes = [
        ('GET', '/services/{service}/jobs/{job}', jobPage, READ),
        ('POST', '/services/{service}/jobs/{job}/retry', retry, MANAGE),
        ('POST', '/services/{service}/jobs/{job}/cancel', cancel, MANAGE),
        ('POST', '/services/{service}/jobs/{job}/start', start, MANAGE),
        ('POST', '/services/{service}/jobs/{job}/run-now', runNow, MANAGE),
        ('POST', '/services/{service}/jobs/{job}/pause', pause, MANAGE),
        ('POST', '/services/{service}/jobs/{job}/resume', resume, MANAGE),
        ('POST', '/services/{service}/jobs/{job}/undo', undo, MANAGE),
        ('POST', '/services/{service}/jobs/{job}/delete', delete, MANAGE),
    ]
    for method, template, handler, right in routes:
        router.add(method, template, handler, right, 'html')


def jobPage(ctx, service, job):
    entry = ctx.service(service)
    found = ctx.job(entry, job)
    base = f'/services/{entry.path}'
    cron = ICronJob.providedBy(found)
    return render(
        ctx, 'job', title=f'Job {found.id} of {entry.path}', entry=entry,
        job=found, facts=facts(ctx, entry, found),
        input=pretty(found.input), result=pretty(found.output),
        progress=entry.service.getProgress(found.id),
        detail=renderDetail(found, entry.service),
        history=[_attemptRow(attempt)
                 for attempt in reversed(historyData(found))],
        changes=[dict(entry, undoneText=zonedTime(entry['undone']))
                 for entry in reversed(changesData(found))],
        waitsFor=waitsFor(ctx, entry, found),
        waitsForMore=max(0, len(found.waitsFor) - WAITS_SHOWN),
        can=allowed(found), cron=cron,
        cronForm=dict(values=formValues(found), errors={}) if cron else None,
        fields=SCHEDULE_FIELDS, missedPolicies=MISSED_POLICIES,
        serviceUrl=ctx.url(base), jobUrl=ctx.url(f'{base}/jobs/{found.id}'),
        apiUrl=ctx.url(f'/api/services/{entry.path}/jobs/{found.id}'))


def allowed(job) -> dict:
    """Which actions the job's state allows, by name."""
    recurring = ICronJob.providedBy(job) and job.recurring
    last = job.changes[-1] if job.changes else None
    return dict(
        undo=last is not None and last['undone'] is None and
        not last['more'] and (job.status == COMPLETED or recurring),
        retry=job.status in actions.RETRYABLE,
        delete=job.status in FINISHED,
        cancel=job.status in CANCELLABLE,
        stop=job.status == PROCESSING and not job.stopRequested,
        start=job.status == STARTLATER,
        # A delayed job runs once, later: a run now would be a second one.
        runNow=recurring and job.status == CRONJOB,
        pause=recurring and not job.paused and job.status not in
        actions.RETRYABLE,
        resume=recurring and job.paused,
        edit=ICronJob.providedBy(job) and job.status in (CRONJOB, DELAYED))


def waitsFor(ctx, entry, job) -> list:
    """(id, status, link) of the jobs `job` waits or waited for, the first
    `WAITS_SHOWN`; a job removed since shows as such, unlinked."""
    rows = []
    for one in job.waitsFor[:WAITS_SHOWN]:
        other = entry.service.jobs.get(one)
        rows.append((one, 'removed', None) if other is None else (
            one, other.status,
            ctx.url(f'/services/{entry.path}/jobs/{one}')))
    return rows


def _dependencyFacts(ctx, entry, job) -> list:
    """The facts of a job that waits for others, or is part of a workflow
    or batch."""
    rows = []
    if job.queue != 'default':
        rows.append(('Queue', job.queue, None))
    for tag in job.tags:         # each a link to the jobs with it
        rows.append(('Tag', tag, ctx.url(
            f'/services/{entry.path}?' + urllib.parse.urlencode(
                dict(tag=tag)))))
    if job.deadline is not None:
        rows.append(('Deadline', zonedTime(job.deadline), None))
    if job.workflow is not None:
        name = job.workflow.name
        rows.append(('Workflow', f'workflow {job.workflow.id}' + (
            f' ({name})' if name else ''), workflowUrl(ctx, entry, job)))
    if job.batch is not None:
        rows.append(('Batch', f'batch {job.batch.id}', ctx.url(
            f'/services/{entry.path}/jobs/{job.batch.id}')))
    if job.onFailure is not None:
        rows.append(('If one fails', _POLICY_TEXT.get(
            job.onFailure, job.onFailure), None))
    return rows


_POLICY_TEXT = {'cancel': 'it is cancelled too', 'run': 'it runs anyway',
                'failure': 'it runs at once (it is cancelled if none '
                'fails)'}


def workflowUrl(ctx, entry, job) -> str:
    return ctx.url(f'/services/{entry.path}/workflows/{job.workflow.id}')


def facts(ctx, entry, job) -> list:
    """(label, text, link or None) of what the page lists about a job,
    the empty ones left out."""
    progress = entry.service.getProgress(job.id)
    rows = [
        ('Status', job.status, None),
        ('Task', job.task, None),
        ('Added by', job.owner or '', None),
        ('Created', zonedTime(job.created), None),
        ('Started', zonedTime(job.started), None),
        ('Ended', zonedTime(job.completed), None),
        ('Attempts', str(job.attempts), None),
        ('Runs', str(job.runs), None),
        ('Worker', job.worker or '', None),
        ('Priority', str(job.priority), None),
        ('Key', '' if job.key is None else str(job.key), None),
    ]
    if job.status == RETRY and job.scheduledFor is not None:
        rows.append(('Next attempt', zonedTime(job.scheduledFor), None))
    if job.retryBase:
        rows.append(('Retried by hand', f'after attempt {job.retryBase}',
                     None))
    if job.status == PROCESSING and job.stopRequested:
        rows.append(('Stop', 'asked to stop (cancelled while it runs)',
                     None))
    if progress is not None:
        rows.append(('Progress', f'{progress["fraction"]:.0%} '
                     f'{progress["message"]} (at '
                     f'{zonedTime(progress["time"])})', None))
    rows.extend(_dependencyFacts(ctx, entry, job))
    if job.runOf is not None:
        rows.append(('Run of', f'cron job {job.runOf}', ctx.url(
            f'/services/{entry.path}/jobs/{job.runOf}')))
    if ICronJob.providedBy(job):
        rows.append(('Schedule', scheduleText(job), None))
        if job.recurring:
            rows.append(('Paused', 'yes: its runs are skipped'
                         if job.paused else 'no', None))
        zone = scheduleZone(job)
        rows.append(('Next run', zonedTime(job.nextRun, zone), None))
        rows.append(('Last run', zonedTime(job.lastRun, zone), None))
        if job.recurring:
            rows.append(('Missed runs', job.missed + (
                f', skipped after {job.graceTime:g} s'
                if job.graceTime is not None else ''), None))
            rows.append(('Overlap', 'runs may overlap, each a job of its '
                         'own' if job.overlap else 'one run at a time',
                         None))
    return [(label, text, link) for label, text, link in rows
            if text not in ('', None)]


def _attemptRow(attempt) -> dict:
    started, ended = attempt['started'], attempt['ended']
    took = '' if started is None or ended is None else \
        f'{max(0.0, ended - started):.3f} s'
    return dict(attempt, startedText=formatTime(started),
                endedText=formatTime(ended), took=took)


def pretty(value) -> str:
    """A value as indented JSON (what JSON cannot hold, as its repr)."""
    if value is None:
        return ''
    return json.dumps(jsonValue(value), indent=2, sort_keys=True,
                      ensure_ascii=False)


# Actions

def _act(ctx, service, job, act, cron=False):
    entry = ctx.service(service)
    found = ctx.cronJob(entry, job) if cron else ctx.job(entry, job)
    message, target = act(entry.service, found)
    return redirect(ctx, f'/services/{entry.path}/jobs/{target or found.id}',
                    message)


def retry(ctx, service, job):
    def act(service, found):
        service.retry(found.id)
        again = 'back to its schedule' if ICronJob.providedBy(found) and \
            found.recurring else 'queued again'
        return f'Retried job {found.id}: {again}.', None
    return _act(ctx, service, job, act)


def cancel(ctx, service, job):
    def act(service, found):
        running = found.status == PROCESSING
        service.cancel(found.id)
        if running:
            return (f'Asked job {found.id} to stop: its task stops at its '
                    f'next check, or runs to its end.'), None
        return f'Cancelled job {found.id}.', None
    return _act(ctx, service, job, act)


def start(ctx, service, job):
    def act(service, found):
        if not service.startJob(found.id):
            raise HTTPError(409, f'job {found.id} is {found.status}; only '
                            f'jobs that are {STARTLATER} can be started')
        return f'Started job {found.id}: it is queued.', None
    return _act(ctx, service, job, act)


def runNow(ctx, service, job):
    def act(service, found):
        run = service.runNow(found.id)
        return f'Queued job {run}, a run of cron job {found.id} now.', run
    return _act(ctx, service, job, act, cron=True)


def pause(ctx, service, job, paused=True):
    def act(service, found):
        service.pauseJob(found.id, paused)
        if paused:
            return (f'Paused cron job {found.id}: its runs are skipped until '
                    f'it is resumed.'), None
        return f'Resumed cron job {found.id}.', None
    return _act(ctx, service, job, act, cron=True)


def resume(ctx, service, job):
    return pause(ctx, service, job, paused=False)


def undo(ctx, service, job):
    def act(service, found):
        restored = service.undoJob(found.id)
        return (f'Undid job {found.id}: {restored} object'
                f'{"" if restored == 1 else "s"} put back as before it '
                f'ran.'), None
    return _act(ctx, service, job, act)


def delete(ctx, service, job):
    """Remove a finished job; back to its service's jobs, as it has no
    page any more."""
    entry = ctx.service(service)
    found = ctx.job(entry, job)
    entry.service.removeJob(found.id)
    return redirect(ctx, f'/services/{entry.path}',
                    f'Deleted job {found.id}.')
