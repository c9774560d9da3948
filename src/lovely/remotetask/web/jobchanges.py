"""Undoing what a job changed, in the JSON API (issue 29).

The changes themselves are part of a job's answer (`api.fullJobData`);
undo is a manage action, refused with 409 and the reason when it cannot
be done (see `ITaskService.undoJob`).
"""
from lovely.remotetask.web import api
from lovely.remotetask.web.auth import MANAGE


def register(router) -> None:
    router.add('POST', '/api/services/{service}/jobs/{job}/undo', undo,
               MANAGE, 'api')


def undo(ctx, service, job):
    """Put back what a completed job's last attempt changed; answer the
    job, its changes marked undone."""
    entry = ctx.service(service)
    found = ctx.job(entry, job)
    entry.service.undoJob(found.id)
    return api.respond(api.fullJobData(ctx, entry, found))
