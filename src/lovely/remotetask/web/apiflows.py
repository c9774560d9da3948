"""The JSON API of workflows, batches, queues and limits (issues 27, 28).

Under ``/api/services/{service}/``, as `api`'s routes: reading needs the
right to read, changing the right to manage (closing a batch, the right
to add, as adding to it).  A workflow or batch is named by a job id: a
workflow by the id of any of its steps, a batch by its id (that of its
first callback).  `openapiflows` describes each route.
"""

from lovely.remotetask import checks
from lovely.remotetask.exceptions import InvalidArgumentError
from lovely.remotetask.interfaces import MAX_JOB_ID
from lovely.remotetask.web.addoptions import QUEUE_PATTERN  # noqa: F401
from lovely.remotetask.web.addoptions import queueName as _queueName
from lovely.remotetask.web.api import readBody, respond
from lovely.remotetask.web.auth import ADD, MANAGE, READ
from lovely.remotetask.web.errors import HTTPError
from lovely.remotetask.web.parsing import shown, wholeNumber


def register(router) -> None:
    base = '/api/services/{service}'
    routes = [
        ('GET', '/workflows/{job}', workflow, READ),
        ('POST', '/workflows/{job}/cancel', cancelWorkflow, MANAGE),
        ('POST', '/workflows/{job}/retry', retryWorkflow, MANAGE),
        ('GET', '/batches/{job}', batch, READ),
        ('POST', '/batches/{job}/close', closeBatch, ADD),
        ('GET', '/queues', queues, READ),
        ('POST', '/queues/{queue}/pause', pauseQueue, MANAGE),
        ('POST', '/queues/{queue}/resume', resumeQueue, MANAGE),
        ('PUT', '/queues/{queue}/limit', setQueueLimit, MANAGE),
        ('GET', '/limits', limits, READ),
    ]
    for method, template, handler, right in routes:
        router.add(method, base + template, handler, right, 'api')


# Workflows

def workflow(ctx, service, job):
    """A workflow: its status, counts by status, and its steps, each with
    its status and the names of the steps it waits for."""
    entry = ctx.service(service)
    return respond(workflowData(ctx, entry, _workflowOf(ctx, entry, job)))


def cancelWorkflow(ctx, service, job):
    """Cancel every step that has not finished (running ones are asked
    to stop)."""
    entry = ctx.service(service)
    found = _workflowOf(ctx, entry, job)
    cancelled = entry.service.cancelWorkflow(found.id)
    return respond(dict(cancelled=cancelled,
                        workflow=workflowData(ctx, entry, found)))


def retryWorkflow(ctx, service, job):
    """Retry the failed steps (and those cancelled by hand); the steps
    their failure cancelled wait again."""
    entry = ctx.service(service)
    found = _workflowOf(ctx, entry, job)
    retried = entry.service.retryWorkflow(found.id)
    return respond(dict(retried=retried,
                        workflow=workflowData(ctx, entry, found)))


def workflowData(ctx, entry, job) -> dict:
    """`getWorkflow` of the workflow of `job`, with links."""
    data = entry.service.getWorkflow(job.id)
    for step in data['steps']:
        step['url'] = _jobUrl(ctx, entry, step['id'])
    data['url'] = ctx.url(f'/api/services/{entry.path}/workflows/'
                          f'{data["id"]}')
    data['dashboard'] = ctx.url(f'/services/{entry.path}/workflows/'
                                f'{data["id"]}')
    return data


def _workflowOf(ctx, entry, text):
    found = ctx.job(entry, text)
    if found.workflow is None:
        raise HTTPError(404, f'job {found.id} is in no workflow')
    return found


# Batches

def batch(ctx, service, job):
    """A batch: open or closed, its callbacks and how many of its jobs
    finished, completed and failed."""
    entry = ctx.service(service)
    return respond(batchData(ctx, entry, _batchOf(ctx, entry, job)))


def closeBatch(ctx, service, job):
    """Close a batch: no job joins it after, and its callbacks run once
    its jobs finished."""
    entry = ctx.service(service)
    batchId = _batchOf(ctx, entry, job)
    entry.service.closeBatch(batchId)
    return respond(batchData(ctx, entry, batchId))


def batchData(ctx, entry, batchId: int) -> dict:
    data = entry.service.getBatch(batchId)
    for callback in data['callbacks'].values():
        callback['url'] = _jobUrl(ctx, entry, callback['id'])
    data['url'] = ctx.url(f'/api/services/{entry.path}/batches/{batchId}')
    return data


def _batchOf(ctx, entry, text) -> int:
    found = ctx.job(entry, text)
    if found.batch is None or found.batch.id != found.id:
        raise HTTPError(404, f'there is no batch {found.id}: a batch is '
                        f'named by the id of its first callback')
    return found.id


# Queues and limits

def queues(ctx, service):
    """Every queue that has jobs or settings, and the queued jobs that no
    running worker takes."""
    entry = ctx.service(service)
    return respond(dict(queues=entry.service.getQueues(),
                        stranded=entry.service.getStranded()))


def pauseQueue(ctx, service, queue, paused=True):
    """Pause a queue: no worker, here or elsewhere, starts its jobs until
    it is resumed."""
    entry = ctx.service(service)
    queue = _queueName(queue)
    if paused:
        entry.service.pauseQueue(queue)
    else:
        entry.service.resumeQueue(queue)
    return respond(queueData(entry, queue))


def resumeQueue(ctx, service, queue):
    return pauseQueue(ctx, service, queue, paused=False)


def setQueueLimit(ctx, service, queue):
    """At most ``limit`` jobs of the queue run at once, across every
    process (null: no limit)."""
    entry = ctx.service(service)
    queue = _queueName(queue)
    body = readBody(ctx, allowed=('limit',))
    if 'limit' not in body:
        raise HTTPError(400, 'limit is required: a number of jobs, or null '
                        'for none', fields=dict(limit='required'))
    limit = wholeNumber(body['limit'])
    if limit is not None:
        try:
            checks.whole('limit', limit, 0, MAX_LIMIT)
        except InvalidArgumentError:
            message = f'limit must be a whole number from 0 to ' \
                f'{MAX_LIMIT}, or null for none, not {shown(limit)}'
            raise HTTPError(400, message,
                            fields=dict(limit=message)) from None
    entry.service.setQueueLimit(queue, limit)
    return respond(queueData(entry, queue))


#: The highest limit the API takes: more than any number of workers.
MAX_LIMIT = MAX_JOB_ID


def queueData(entry, name: str) -> dict:
    """The queue `name`, as `getQueues` lists it; a queue that has
    neither jobs nor settings, as it is: running, empty."""
    for found in entry.service.getQueues():
        if found['name'] == name:
            return found
    return dict(name=name, paused=False, limit=None, running=0, queued=0,
                held=0)


def limits(ctx, service):
    """Each limit in force that holds or runs jobs: its scope, maximum,
    rate, how many run, started within the rate's period, and held."""
    entry = ctx.service(service)
    return respond(dict(limits=[limitData(found) for found in
                                entry.service.getLimits()]))


def limitData(found: dict) -> dict:
    rate = found['rate']
    return dict(found, scope=list(found['scope']), rate=None if rate is None
                else dict(count=rate[0], seconds=rate[1]))


def _jobUrl(ctx, entry, jobid) -> str:
    return ctx.url(f'/api/services/{entry.path}/jobs/{jobid}')
