"""The buttons of a service's page: on the jobs selected, on all jobs
of a kind, and on the service.

Cancel or retry the jobs ticked in the table, each refused one named with
its reason; cancel every waiting job or retry every failed (or cancelled)
one, in batches (`actions`); remove the finished jobs; pause or resume the
service.  Each goes back to the page it came from with a message.
"""
from lovely.remotetask.exceptions import JobStateError
from lovely.remotetask.interfaces import CANCELLABLE, ERROR, FINISHED
from lovely.remotetask.serialize import statusNamed
from lovely.remotetask.web import actions
from lovely.remotetask.web.errors import HTTPError
from lovely.remotetask.web.pagestate import goBack
from lovely.remotetask.web.parsing import shown
from lovely.remotetask.web.rendering import count


def cancelSelected(ctx, service):
    entry = ctx.service(service)
    cancelled, refused = [], []
    for found in _selected(ctx, entry):
        if found.status in CANCELLABLE:
            entry.service.cancel(found.id)
            cancelled.append(found.id)
        else:
            refused.append(f'{found.id} ({found.status})')
    message = f'Cancelled {count(len(cancelled), "job")}.'
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
    message = f'Retried {count(len(retried), "job")}.'
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
                  f'Cancelled {count(cancelled, "waiting job")}; cron jobs '
                  f'keep their schedules.')


def retryAll(ctx, service):
    entry = ctx.service(service)
    form = ctx.request.POST
    status = form.get('status') or ERROR
    status = statusNamed(status) or status
    if status not in actions.RETRYABLE:
        raise HTTPError(400, f'only {" and ".join(actions.RETRYABLE)} jobs '
                        f'are retried, not {shown(status)}')
    task = form.get('task', '').strip() or None
    retried = actions.retryAll(ctx, entry.service, status, task)
    what = 'failed' if status == ERROR else 'cancelled'
    return goBack(ctx, entry, f'Retried {count(retried, f"{what} job")}'
                  f'{f" of task {task}" if task else ""}.')


def clean(ctx, service):
    entry = ctx.service(service)
    removed = entry.service.clean(status=FINISHED)
    return goBack(ctx, entry, f'Removed {count(removed, "finished job")}.')


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
