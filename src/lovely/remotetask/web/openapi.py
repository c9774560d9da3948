"""The OpenAPI 3.1 document of the JSON API (served at /api/openapi.json).

Written by hand, route by route; a test checks that it names every route
of `api.register` and no other, and tests/web/test_web_contract.py runs
schemathesis to check that the server keeps to it.  The schemas are in
`apischemas`.  Every operation lists the answers that the application
may give on any route: 400 (a path or query that is not UTF-8, or a bad
value), 401, 413 (a body over the limit, refused before it is read) and
503 (the database busy with conflicting changes, with ``Retry-After``).
"""
from lovely.remotetask import __name__ as _package
from lovely.remotetask.serialize import STATUS_ALIASES, STATUSES
from lovely.remotetask.interfaces import MAX_JOB_ID
from lovely.remotetask.store.search import MAX_QUERY_LENGTH
from lovely.remotetask.web import apischemas, settings
from lovely.remotetask.web.apischemas import ref


def _json(schema, description, **more):
    return dict({'description': description,
                 'content': {'application/json': {'schema': schema}}},
                **more)


_REASONS = {
    400: 'A path or query that is not UTF-8, a malformed body, a value the '
         'schema refuses, or one it cannot judge (see the descriptions); '
         f'JSON nested deeper than {settings.MAX_DEPTH} levels or with a '
         f'number of more than {settings.MAX_NUMBER_LENGTH} characters',
    401: 'No credentials, or wrong ones',
    403: 'The credentials lack the right (manage) for this; or a browser '
         'sent Basic credentials from a page of another origin, or a '
         'session\'s request lacks its CSRF token',
    404: 'No such service or job',
    409: 'The job is in a state that does not allow this',
    413: 'The body is over the configured limit',
    503: 'The database was busy with conflicting changes each of the '
         f'{settings.ATTEMPTS} times the request was tried: try again after '
         'Retry-After seconds',
}
_RETRY_AFTER = {'Retry-After': {'description': 'seconds to wait',
                                'schema': {'type': 'integer'}}}


def _errors(*statuses):
    return {str(s): _json(ref('Error'), _REASONS[s],
                          **({'headers': _RETRY_AFTER} if s == 503 else {}))
            for s in sorted(set(statuses))}


def _operation(name, summary, responses, *, body=None, parameters=(),
               manage=False, errors=(), optionalBody=False):
    statuses = (400, 401, 413, 503) + ((403,) if manage else ())
    operation = {'operationId': name, 'summary': summary,
                 'parameters': list(parameters),
                 'responses': dict(responses, **_errors(*statuses, *errors))}
    if body is not None:
        operation['requestBody'] = {
            'required': not optionalBody,
            'content': {'application/json': {'schema': body}}}
    return operation


_SERVICE = {'name': 'service', 'in': 'path', 'required': True,
            'description': 'The dotted path of the service below the '
            'application root: "mail", or "site1.mail" for a site\'s',
            'schema': {'type': 'string'}}
_JOB = {'name': 'job', 'in': 'path', 'required': True,
        'schema': {'type': 'integer', 'minimum': 0, 'maximum': MAX_JOB_ID}}
_FAILED = ('"failed", as the dashboard says, is another name for "error"; '
           'answers say "error"')
#: The statuses a request may name: each, and "failed" for "error".
_STATUS_NAMES = list(STATUSES) + sorted(STATUS_ALIASES)
_LISTING = [
    _SERVICE,
    {'name': 'status', 'in': 'query', 'description': _FAILED,
     'schema': {'type': 'string', 'enum': _STATUS_NAMES}},
    {'name': 'after', 'in': 'query',
     'schema': {'type': 'string', 'pattern': '^[A-Za-z0-9_=-]*$'},
     'description': 'The "next" of the page before (an opaque cursor: '
     'another is refused with 400); empty for the first page'},
    {'name': 'limit', 'in': 'query',
     'schema': {'type': 'integer', 'minimum': 1,
                'maximum': settings.MAX_PAGE_SIZE,
                'default': settings.PAGE_SIZE}},
    {'name': 'task', 'in': 'query',
     'schema': {'type': 'string', 'maxLength': settings.MAX_FIELD_LENGTH},
     'description': 'Only jobs of this task (empty: any).  A page reads a '
     'bounded number of jobs, so it may hold fewer than limit, or none, '
     'and still have a next page'},
    {'name': 'tag', 'in': 'query',
     'schema': {'type': 'string', 'maxLength': settings.MAX_FIELD_LENGTH},
     'description': 'Only jobs with this tag (empty: any)'},
    {'name': 'q', 'in': 'query',
     'schema': {'type': 'string', 'maxLength': MAX_QUERY_LENGTH},
     'description': 'Only jobs with a word beginning with each word of '
     'this (of the input\'s JSON text, the result or the error; '
     'case-insensitive); a word that begins more than 1,000 words of jobs '
     'is refused (400).  With a status (or task) a page reads a bounded '
     'number of jobs, as for task'}]


def _links(*names):
    """Links from an answer with a job to the operations on it, for
    clients (and schemathesis's stateful tests) to follow."""
    parameters = {'service': '$request.path.service',
                  'job': '$response.body#/id'}
    return {name[0].upper() + name[1:]: {'operationId': name,
                                         'parameters': parameters}
            for name in names}


_ON_A_JOB = ('job', 'cancel', 'start', 'retry')
_ON_A_CRON_JOB = ('job', 'cancel', 'retry', 'runNow', 'pauseJob',
                  'resumeJob', 'reschedule')


def _job(description='The job', links=()):
    return _json(ref('Job'), description,
                 **({'links': _links(*links)} if links else {}))


def _count(name, description):
    return _json({'type': 'object', 'required': [name], 'properties': {
        name: {'type': 'integer'}}}, description)


def _readPaths() -> dict:
    service = _json(ref('Service'), 'The service')
    return {
        '/': {'get': _operation('index', 'Links to the API and the right '
                                'you hold', {'200': _json(
                                    {'type': 'object'}, 'Links')})},
        '/openapi.json': {'get': dict(_operation(
            'openapi', 'This document', {'200': _json(
                {'type': 'object'}, 'OpenAPI')}), security=[])},
        '/services': {'get': _operation('services', 'The task services', {
            '200': _json({'type': 'object', 'properties': {'services': {
                'type': 'array', 'items': ref('Service')}}}, 'Services')})},
        '/services/{service}': {'get': _operation(
            'service', 'A service: its jobs by status, queue, tasks and '
            'workers', {'200': service}, parameters=[_SERVICE],
            errors=(404,))},
        '/services/{service}/tasks': {'get': _operation(
            'tasks', 'The names of the tasks the service can run',
            {'200': _json({'type': 'object', 'properties': {'tasks': {
                'type': 'array', 'items': {'type': 'string'}}}}, 'Tasks')},
            parameters=[_SERVICE], errors=(404,))},
        '/services/{service}/jobs/{job}': {'get': _operation(
            'job', 'A job: status, result, error, times, progress, and the '
            'history of its attempts with their errors and tracebacks',
            {'200': _job()}, parameters=[_SERVICE, _JOB], errors=(404,))},
        '/services/{service}/activity': {'get': _operation(
            'activity', 'Jobs finished per minute (completed, error, '
            'cancelled), the oldest minute first',
            {'200': _json({'type': 'object', 'properties': {'minutes': {
                'type': 'array', 'items': {'type': 'object', 'properties': {
                    'start': {'type': 'number'},
                    'completed': {'type': 'integer'},
                    'error': {'type': 'integer'},
                    'cancelled': {'type': 'integer'}}}}}}, 'Minutes')},
            parameters=[_SERVICE, {
                'name': 'minutes', 'in': 'query', 'schema': {
                    'type': 'integer', 'minimum': 1,
                    'maximum': settings.ACTIVITY_MINUTES,
                    'default': settings.ACTIVITY_MINUTES}}],
            errors=(404,))},
    }


def _jobPaths(tasks) -> dict:
    def action(name, summary, responses=None, errors=(404, 409)):
        return {'post': _operation(
            name, summary, responses or {'200': _job()},
            parameters=[_SERVICE, _JOB], manage=True, errors=errors)}
    return {
        '/services/{service}/jobs': {
            'get': _operation(
                'jobs', 'A page of jobs, newest first or, with a status, '
                'in that status\'s order; only the page is read',
                {'200': _json(ref('JobPage'), 'A page')},
                parameters=_LISTING, errors=(404,)),
            'post': _operation(
                'addJob', 'Add a job: now, later (startLater), at a time, '
                'after other jobs (409 when one cannot be waited for) or '
                'after a delay', {'201': _job(links=_ON_A_JOB)},
                body=apischemas.newJob(tasks), parameters=[_SERVICE],
                manage=True, errors=(404, 409))},
        '/services/{service}/cronjobs': {'post': _operation(
            'addCronJob', 'Add a cron job: by a cron expression (with its '
            'time zone), by tuple fields (UTC), or after a delay',
            {'201': _job(links=_ON_A_CRON_JOB)},
            body=apischemas.newCronJob(tasks), parameters=[_SERVICE],
            manage=True, errors=(404,))},
        '/services/{service}/jobs/{job}/retry': action(
            'retry', 'Run a failed or cancelled job again: the same job, a '
            'new attempt whose retry policy counts anew; a cron job goes '
            'back to its schedule'),
        '/services/{service}/jobs/{job}/run-now': action(
            'runNow', 'Queue a run of a cron job now, besides its '
            'schedule: a new job, whose runOf is the cron job',
            {'201': _job(links=_ON_A_JOB)}),
        '/services/{service}/jobs/{job}/pause': action(
            'pauseJob', 'Pause a cron job: its runs are skipped until it '
            'is resumed'),
        '/services/{service}/jobs/{job}/resume': action(
            'resumeJob', 'Resume a paused cron job'),
        '/services/{service}/jobs/{job}/cancel': action(
            'cancel', 'Cancel a job that has not run (or a cron job\'s '
            'future runs)'),
        '/services/{service}/jobs/{job}/start': action(
            'start', 'Queue a job added with startLater'),
        '/services/{service}/jobs/{job}/undo': action(
            'undoJob', 'Put the objects a completed job\'s last attempt '
            'changed back as they were before it; 409 when a later '
            'transaction changed one of them, the storage keeps no history, '
            'or there is nothing to undo'),
        '/services/{service}/jobs/{job}/schedule': {'put': _operation(
            'reschedule', 'Replace a cron job\'s schedule (and input, if '
            'given)', {'200': _job()}, body=apischemas.SCHEDULE_CHANGE,
            parameters=[_SERVICE, _JOB], manage=True, errors=(404, 409))},
    }


def _servicePaths() -> dict:
    service = _json(ref('Service'), 'The service')
    return {
        '/services/{service}/clean': {'post': _operation(
            'clean', 'Remove finished jobs (without a body, every one); '
            'say how many', {'200': _count('removed', 'How many')},
            body={'type': 'object', 'additionalProperties': False,
                  'properties': {'status': {
                      'type': 'array', 'description': _FAILED, 'items': {
                          'enum': ['completed', 'cancelled', 'error',
                                   'failed']}}}},
            optionalBody=True, parameters=[_SERVICE], manage=True,
            errors=(404,))},
        '/services/{service}/cancel-all': {'post': _operation(
            'cancelAll', 'Cancel every job that waits to run once '
            '(waiting, queued, start later, delayed, retry), in batches '
            'of a transaction each; cron jobs keep their schedules.  Say '
            'how many, and the statuses',
            {'200': _json({'type': 'object', 'properties': {
                'cancelled': {'type': 'integer'},
                'statuses': {'type': 'array', 'items': {
                    'type': 'string'}}}}, 'How many')},
            parameters=[_SERVICE], manage=True, errors=(404,))},
        '/services/{service}/retry-all': {'post': _operation(
            'retryAll', 'Retry every failed (or cancelled) job, of a task '
            'if given, in batches of a transaction each; say how many',
            {'200': _count('retried', 'How many')},
            body={'type': 'object', 'additionalProperties': False,
                  'properties': {
                      'status': {'enum': ['error', 'cancelled', 'failed'],
                                 'default': 'error',
                                 'description': _FAILED},
                      'task': {'type': ['string', 'null'],
                               'description': 'only jobs of this task '
                               '(empty or null: any)'}}},
            optionalBody=True, parameters=[_SERVICE], manage=True,
            errors=(404,))},
        '/services/{service}/pause': {'post': _operation(
            'pauseService', 'Pause the service: no worker, here or '
            'elsewhere, claims its jobs until it is resumed; jobs in hand '
            'run to their end', {'200': service}, parameters=[_SERVICE],
            manage=True, errors=(404,))},
        '/services/{service}/resume': {'post': _operation(
            'resumeService', 'Resume a paused service', {'200': service},
            parameters=[_SERVICE], manage=True, errors=(404,))},
    }


def document(base: str = '/api', tasks=None) -> dict:
    """The OpenAPI document, with `base` the URL the API is served at and
    `tasks` the names of the tasks that jobs may be added for, if the
    asker may know them."""
    from lovely.remotetask.web import (     # (they import this)
        apibulk, history, openapiflows)
    paths = dict(_readPaths(), **_jobPaths(tasks), **_servicePaths(),
                 **openapiflows.paths())
    apibulk.addPaths(paths)
    history.addPaths(paths)
    return {
        'openapi': '3.1.0',
        'info': {'title': f'{_package} task services', 'version': '1',
                 'description': 'Add jobs to ZODB task services and ask '
                 'about them.  XML-RPC with the 2009 API is served at '
                 '/xmlrpc/{service}.'},
        'servers': [{'url': base}],
        'security': [{'bearer': []}, {'basic': []}],
        'paths': paths,
        'components': {
            'schemas': dict(apischemas.SCHEMAS, **openapiflows.SCHEMAS),
            'securitySchemes': {
                'bearer': {'type': 'http', 'scheme': 'bearer'},
                'basic': {'type': 'http', 'scheme': 'basic',
                          'description': 'The token as the password'}}},
    }
