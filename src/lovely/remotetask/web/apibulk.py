"""Deleting jobs, and acting on every job that matches a filter (issue
29), in the JSON API.

``DELETE /api/services/{service}/jobs/{job}`` removes one finished job
(409 with the reason for any other).  ``POST .../jobs/cancel``,
``.../jobs/retry`` and ``.../jobs/delete`` act on every job matching the
filter in the body (``status``, ``task``, ``tag``, ``q``), not a page of
them, in batches of a transaction each (`actions.onMatching`), and say
how many.
"""
from lovely.remotetask.serialize import STATUS_ALIASES, statusNamed
from lovely.remotetask.store.search import MAX_QUERY_LENGTH
from lovely.remotetask.web import actions
from lovely.remotetask.web.api import readBody, respond
from lovely.remotetask.web.auth import MANAGE
from lovely.remotetask.web.errors import HTTPError
from lovely.remotetask.web.parsing import shown

#: What each action answers with: how many it did, under this name.
DONE = dict(cancel='cancelled', retry='retried', delete='deleted')


def register(router) -> None:
    base = '/api/services/{service}/jobs'
    router.add('DELETE', base + '/{job}', deleteJob, MANAGE, 'api')
    for action in DONE:
        router.add('POST', f'{base}/{action}', _onMatching(action), MANAGE,
                   'api')


def deleteJob(ctx, service, job):
    """Remove a finished job; 409 saying why for any other."""
    entry = ctx.service(service)
    found = ctx.job(entry, job)
    entry.service.removeJob(found.id)
    return respond(dict(deleted=found.id))


def filterOf(ctx, action: str):
    """(status, task, {tag, search}) of the filter in the body: None for
    any."""
    body = readBody(ctx, allowed=('status', 'task', 'tag', 'q'),
                    optional=True)
    status, task = body.get('status'), body.get('task')
    if status is not None:
        named = statusNamed(status)
        if named not in actions.MATCHING[action]:
            message = f'status must be one of ' \
                f'{", ".join(actions.MATCHING[action])} (or null for ' \
                f'all of them), not {shown(status)}'
            raise HTTPError(400, message, fields=dict(status=message))
        status = named
    for name, most in (('task', None), ('tag', None),
                       ('q', MAX_QUERY_LENGTH)):
        value = body.get(name)
        if value is not None and not isinstance(value, str) or \
                most is not None and len(value or '') > most:
            message = f'{name} must be a string' + (
                f' of up to {most} characters' if most else '') + \
                f', not {shown(value)}'
            raise HTTPError(400, message, fields={name: message})
    return status, task or None, dict(tag=body.get('tag') or None,
                                      search=body.get('q') or None)


def _onMatching(action: str):
    def handler(ctx, service):
        entry = ctx.service(service)
        status, task, filters = filterOf(ctx, action)
        return respond({DONE[action]: actions.onMatching(
            ctx, entry.service, action, status, task, **filters)})
    handler.__name__ = f'{action}Matching'
    handler.__doc__ = f'{action.capitalize()} every job matching a filter.'
    return handler


def addPaths(paths: dict) -> None:
    """Add the operations of this module to the OpenAPI `paths`."""
    from lovely.remotetask.web.openapi import (
        _JOB, _SERVICE, _FAILED, _count, _operation)
    paths['/services/{service}/jobs/{job}']['delete'] = _operation(
        'deleteJob', 'Remove a finished job (completed, cancelled or '
        'failed); 409 saying why for any other',
        {'200': _count('deleted', 'The id of the job removed')},
        parameters=[_SERVICE, _JOB], manage=True, errors=(404, 409))
    what = dict(cancel='Cancel every job that waits to run once (cron '
                'jobs keep their schedules)',
                retry='Retry every failed or cancelled job',
                delete='Remove every finished job')
    for action, done in DONE.items():
        statuses = list(actions.MATCHING[action])
        statuses += [alias for alias, status in STATUS_ALIASES.items()
                     if status in statuses]
        paths[f'/services/{{service}}/jobs/{action}'] = {
            'post': _operation(
                f'{action}Matching', f'{what[action]} that matches the '
                'filter, not only a page of them, in batches of a '
                'transaction each; say how many',
                {'200': _count(done, 'How many')},
                body={'type': 'object', 'additionalProperties': False,
                      'properties': {
                          'status': {'enum': statuses + [None],
                                     'description': 'only jobs of this '
                                     'status (null: all of these); '
                                     + _FAILED},
                          'task': {'type': ['string', 'null'],
                                   'description': 'only jobs of this task '
                                   '(empty or null: any)'},
                          'tag': {'type': ['string', 'null'],
                                  'description': 'only jobs with this tag '
                                  '(empty or null: any)'},
                          'q': {'type': ['string', 'null'],
                                'maxLength': MAX_QUERY_LENGTH,
                                'description': 'only jobs with a word '
                                'beginning with each of these words '
                                '(empty or null: any)'}}},
                optionalBody=True, parameters=[_SERVICE], manage=True,
                errors=(404,))}
