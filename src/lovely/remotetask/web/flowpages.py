"""The dashboard's faces of workflows and queues (issues 27 and 28).

A workflow's page shows its steps as a graph (`workflowgraph`) and as a
table, its progress, and the buttons to cancel it or retry its failed
steps.  A service's page shows its queues (`queueRows`), the limits that
hold or run jobs and the jobs no running worker takes, with the buttons
to pause, resume and limit each queue; those go back to the page they
came from.
"""
from lovely.remotetask.exceptions import InvalidArgumentError
from lovely.remotetask.interfaces import CANCELLED, ERROR, FINISHED
from lovely.remotetask.web import settings
from lovely.remotetask.web.auth import MANAGE, READ
from lovely.remotetask.web.errors import HTTPError
from lovely.remotetask.web.pagestate import goBack
from lovely.remotetask.web.parsing import shown
from lovely.remotetask.web.rendering import count, redirect, render
from lovely.remotetask.web.workflowgraph import MOST_STEPS, workflowGraph
from lovely.remotetask.web.detail import HTML

#: The most steps the table of a workflow's page lists.
MOST_ROWS = 1000


def register(router) -> None:
    routes = [
        ('GET', '/services/{service}/workflows/{job}', workflowPage, READ),
        ('POST', '/services/{service}/workflows/{job}/cancel',
         cancelWorkflow, MANAGE),
        ('POST', '/services/{service}/workflows/{job}/retry', retryWorkflow,
         MANAGE),
        ('POST', '/services/{service}/queues/{queue}/pause', pauseQueue,
         MANAGE),
        ('POST', '/services/{service}/queues/{queue}/resume', resumeQueue,
         MANAGE),
        ('POST', '/services/{service}/queues/{queue}/limit', setQueueLimit,
         MANAGE),
    ]
    for method, template, handler, right in routes:
        router.add(method, template, handler, right, 'html')


# Workflows

def workflowPage(ctx, service, job):
    entry = ctx.service(service)
    found = _workflowOf(ctx, entry, job)
    data = entry.service.getWorkflow(found.id)
    steps = data['steps']

    def link(stepId):
        return ctx.url(f'/services/{entry.path}/jobs/{stepId}')
    finished = sum(1 for step in steps if step['status'] in FINISHED
                   or step['status'] == 'removed')
    counts = data['counts']
    base = f'/services/{entry.path}/workflows/{data["id"]}'
    return render(
        ctx, 'workflow', title=f'Workflow {data["id"]} of {entry.path}',
        entry=entry, workflow=data,
        graph=HTML(workflowGraph(steps, link))
        if len(steps) <= MOST_STEPS else None,
        mostSteps=MOST_STEPS,
        rows=[dict(step, url=link(step['id']), afterText=', '.join(
            str(one) for one in step['after'])) for step in steps[:MOST_ROWS]],
        more=max(0, len(steps) - MOST_ROWS),
        finished=finished, total=len(steps),
        counts=sorted(counts.items()),
        can=dict(cancel=finished < len(steps),
                 retry=bool(counts.get(ERROR) or counts.get(CANCELLED))),
        serviceUrl=ctx.url(f'/services/{entry.path}'),
        workflowUrl=ctx.url(base),
        apiUrl=ctx.url(f'/api/services/{entry.path}/workflows/{data["id"]}'))


def cancelWorkflow(ctx, service, job):
    entry = ctx.service(service)
    found = _workflowOf(ctx, entry, job)
    cancelled = entry.service.cancelWorkflow(found.id)
    return _back(ctx, entry, found,
                 f'Cancelled {count(len(cancelled), "step")} of workflow '
                 f'{found.workflow.id}, and the steps waiting for them.')


def retryWorkflow(ctx, service, job):
    entry = ctx.service(service)
    found = _workflowOf(ctx, entry, job)
    retried = entry.service.retryWorkflow(found.id)
    return _back(ctx, entry, found, f'Retried {count(len(retried), "step")} '
                 f'of workflow {found.workflow.id}; the steps waiting for '
                 f'them wait again.')


def _back(ctx, entry, found, message):
    return redirect(ctx, f'/services/{entry.path}/workflows/'
                    f'{found.workflow.id}', message)


def _workflowOf(ctx, entry, text):
    found = ctx.job(entry, text)
    if found.workflow is None:
        raise HTTPError(404, f'job {found.id} is in no workflow')
    return found


# Queues

def queueRows(ctx, entry) -> dict:
    """What a service's page shows of its queues, limits and stranded
    jobs, their counts of queued jobs bounded (see `QUEUE_COUNT_MOST`)."""
    service, most = entry.service, settings.QUEUE_COUNT_MOST

    def counted(found, names, **more):
        return dict(found, **more, **{name + 'Text': _atLeast(
            found[name], most) for name in names})
    queues = [counted(queue, ('queued', 'held'), url=ctx.url(
        f'/services/{entry.path}/queues/{queue["name"]}'))
        for queue in service.getQueues(most)]
    limits = [counted(limit, ('held',), scopeText=':'.join(
        str(one) for one in limit['scope']),
        rateText='' if limit['rate'] is None else
        f'{limit["rate"][0]} per {limit["rate"][1]:g} s')
        for limit in service.getLimits(most)]
    return dict(queues=queues, limits=limits, stranded=[
        counted(one, ('queued',)) for one in service.getStranded(most)])


def _atLeast(n: int, most: int) -> str:
    """A count read up to `most`: ``100+`` when it got there."""
    return f'{n:,}+' if n >= most else f'{n:,}'


def pauseQueue(ctx, service, queue, paused=True):
    entry = ctx.service(service)
    if paused:
        entry.service.pauseQueue(queue)
        message = f'Paused queue {queue}: no worker starts its jobs until ' \
            f'it is resumed.'
    else:
        entry.service.resumeQueue(queue)
        message = f'Resumed queue {queue}.'
    return goBack(ctx, entry, message)


def resumeQueue(ctx, service, queue):
    return pauseQueue(ctx, service, queue, paused=False)


def setQueueLimit(ctx, service, queue):
    entry = ctx.service(service)
    text = ctx.request.POST.get('limit', '').strip()
    if not text:
        limit = None
    else:
        try:
            limit = int(text)
            if limit < 0:
                raise ValueError(text)
        except ValueError:
            raise HTTPError(400, f'a queue\'s limit is a whole number of '
                            f'jobs, or empty for none, not {shown(text)}'
                            ) from None
    try:
        entry.service.setQueueLimit(queue, limit)
    except InvalidArgumentError as error:
        raise HTTPError(400, str(error)) from None
    return goBack(ctx, entry, f'Queue {queue}: ' + (
        'no limit.' if limit is None else
        f'at most {count(limit, "job")} at once.'))
