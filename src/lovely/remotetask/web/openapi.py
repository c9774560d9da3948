"""The OpenAPI 3.1 document of the JSON API (served at /api/openapi.json).

Written by hand, route by route; a test checks that it names every route
of `api.register` and no other.
"""
from lovely.remotetask import __name__ as _package
from lovely.remotetask.web import settings
from lovely.remotetask.serialize import STATUS_ALIASES, STATUSES


def _ref(name):
    return {'$ref': f'#/components/schemas/{name}'}


def _json(schema, description):
    return {'description': description,
            'content': {'application/json': {'schema': schema}}}


def _errors(*statuses):
    reasons = {
        400: 'Malformed body, wrong type, unknown task or bad parameter; '
             f'JSON nested deeper than {settings.MAX_DEPTH} levels or a '
             f'number of more than {settings.MAX_NUMBER_LENGTH} digits',
        401: 'No credentials, or wrong ones',
        403: 'The credentials lack the right (manage) for this; or a '
             'browser sent Basic credentials from a page of another origin, '
             'or a session\'s request lacks its CSRF token',
        404: 'No such service or job',
        409: 'The job is in a state that does not allow this',
        413: 'The body is over the configured limit',
    }
    return {str(s): _json(_ref('Error'), reasons[s]) for s in statuses}


def _operation(summary, responses, *, body=None, parameters=(), manage=False,
               errors=()):
    statuses = (401, 403) if manage else (401,)
    operation = {'summary': summary, 'parameters': list(parameters),
                 'responses': dict(responses, **_errors(*statuses, *errors))}
    if body is not None:
        operation['requestBody'] = {
            'required': True,
            'content': {'application/json': {'schema': body}}}
    return operation


#: The statuses a request may name: each, and "failed" for "error".
_STATUS_NAMES = list(STATUSES) + sorted(STATUS_ALIASES)
_FAILED = ('"failed", as the dashboard says, is another name for "error"; '
           'answers say "error"')

_SERVICE = {'name': 'service', 'in': 'path', 'required': True,
            'description': 'The dotted path of the service below the '
            'application root: "mail", or "site1.mail" for a site\'s',
            'schema': {'type': 'string'}}
_JOB = {'name': 'job', 'in': 'path', 'required': True,
        'schema': {'type': 'integer', 'minimum': 0, 'maximum': 2**31 - 1}}
_FIELD = {'oneOf': [
    {'type': 'array', 'items': {'type': 'integer'}},
    {'type': 'string', 'description': '"*" for every value, or numbers '
     'and ranges: "0,15,30", "1-5"'}]}

_SCHEMAS = {
    'Error': {'type': 'object', 'required': ['error', 'status'],
              'properties': {
                  'error': {'type': 'string'},
                  'status': {'type': 'integer'},
                  'fields': {'type': 'object', 'description':
                             'Messages by the name of the field at fault',
                             'additionalProperties': {'type': 'string'}}}},
    'Service': {'type': 'object', 'properties': {
        'id': {'type': 'string'}, 'name': {'type': 'string'},
        'site': {'type': ['string', 'null']},
        'processing': {'type': 'boolean', 'description':
                       'whether a thread of the serving process processes it'},
        'paused': {'type': 'boolean', 'description':
                   'paused services give no job to any worker'},
        'counts': {'type': 'object', 'description': 'jobs by status (every '
                   'status)', 'additionalProperties': {'type': 'integer'}},
        'total': {'type': 'integer'},
        'queued': {'type': 'integer', 'description': 'the queue\'s depth'},
        'oldestWaiting': {'type': ['number', 'null'], 'description':
                          'since when the longest-waiting queued job waits '
                          '(epoch seconds)'},
        'oldestWaitingAge': {'type': ['number', 'null'],
                             'description': 'for how many seconds'},
        'url': {'type': 'string'},
        'jobs': {'type': 'string'}, 'xmlrpc': {'type': 'string'},
        'dashboard': {'type': 'string'},
        'activity': {'type': 'string', 'description': 'on a single service'},
        'tasks': {'type': 'array', 'items': {'type': 'string'}},
        'workers': {'type': 'array', 'items': _ref('Worker')}}},
    'Worker': {'type': 'object', 'properties': {
        'id': {'type': 'string'}, 'host': {'type': 'string'},
        'pid': {'type': 'integer'},
        'jobs': {'type': 'object', 'description': 'the jobs in hand: job id '
                 'to attempt', 'additionalProperties': {'type': 'integer'}},
        'leaseTime': {'type': 'number'},
        'lastSeen': {'type': 'number', 'description': 'the last heartbeat, '
                     'on the database\'s clock (epoch seconds)'},
        'heartbeatAge': {'type': 'number', 'description': 'seconds since, '
                         'on the serving machine\'s clock'},
        'expired': {'type': 'boolean', 'description': 'the heartbeat is '
                    'older than the lease: its jobs are taken back'},
        'started': {'type': 'number'}}},
    'Attempt': {'type': 'object', 'properties': {
        'attempt': {'type': 'integer'},
        'worker': {'type': ['string', 'null']},
        'started': {'type': ['number', 'null']},
        'ended': {'type': 'number'},
        'error': {'type': ['string', 'null']},
        'traceback': {'type': ['string', 'null']}}},
    'Job': {'type': 'object', 'properties': {
        'id': {'type': 'integer'}, 'task': {'type': 'string'},
        'status': {'type': 'string', 'enum': list(STATUSES)},
        'input': {'description': 'The input, as JSON (other values as '
                  'their repr)'},
        'result': {'description': 'What the task returned, or null'},
        'error': {'type': ['string', 'null']},
        'created': {'type': 'number', 'description': 'epoch seconds'},
        'started': {'type': ['number', 'null']},
        'completed': {'type': ['number', 'null']},
        'attempts': {'type': 'integer'},
        'worker': {'type': ['string', 'null']},
        'priority': {'type': 'integer'},
        'key': {'type': ['string', 'null']},
        'nextAttempt': {'type': ['number', 'null'], 'description':
                        'when a job with status retry is tried again'},
        'progress': {'type': ['object', 'null'], 'description':
                     'what the running task reported last: fraction, '
                     'message, time (on a single job only)'},
        'history': {'type': 'array', 'items': _ref('Attempt'),
                    'description': 'the last attempts, the newest last (on '
                    'a single job only)'},
        'runOf': {'type': ['integer', 'null'], 'description': 'the cron '
                  'job this job is a run of'},
        'url': {'type': 'string'},
        'dashboard': {'type': 'string', 'description': 'the job\'s page (on '
                      'a single job only)'},
        'schedule': _ref('Schedule')}},
    'Schedule': {'type': 'object', 'description': 'A cron expression (with '
                 'its time zone) or tuple fields in UTC (Monday is day 0), '
                 'or a delay in seconds', 'properties': {
                     'cron': {'type': ['string', 'null']},
                     'timezone': {'type': ['string', 'null']},
                     'minute': _FIELD, 'hour': _FIELD, 'dayOfMonth': _FIELD,
                     'month': _FIELD, 'dayOfWeek': _FIELD,
                     'delay': {'type': ['number', 'null']},
                     'missed': {'type': 'string',
                                'enum': ['once', 'each', 'skip']},
                     'graceTime': {'type': ['number', 'null']},
                     'overlap': {'type': 'boolean'},
                     'nextRun': {'type': ['number', 'null'],
                                 'readOnly': True},
                     'lastRun': {'type': ['number', 'null'],
                                 'readOnly': True},
                     'paused': {'type': 'boolean', 'readOnly': True}}},
    'NewJob': {'type': 'object', 'required': ['task'],
               'additionalProperties': False, 'properties': {
                   'task': {'type': 'string'}, 'input': {},
                   'startLater': {'type': 'boolean'},
                   'delay': {'type': 'number', 'minimum': 0},
                   'priority': {'type': 'integer', 'minimum': -100,
                                'maximum': 100},
                   'key': {'type': 'string'}}},
    'NewCronJob': {'allOf': [
        _ref('Schedule'),
        {'type': 'object', 'required': ['task'], 'properties': {
            'task': {'type': 'string'}, 'input': {}}}]},
    'JobPage': {'type': 'object', 'properties': {
        'jobs': {'type': 'array', 'items': _ref('Job')},
        'next': {'type': ['string', 'null'],
                 'description': 'Pass as "after" for the next page (an '
                                'opaque cursor)'},
        'nextUrl': {'type': ['string', 'null']}}},
}


def document(base: str = '/api') -> dict:
    """The OpenAPI document, with `base` the URL the API is served at."""
    job = _json(_ref('Job'), 'The job')
    service = _json(_ref('Service'), 'The service')

    def jobAction(summary, responses=None, errors=(400, 404, 409)):
        return {'post': _operation(summary, responses or {'200': job},
                                   parameters=[_SERVICE, _JOB], manage=True,
                                   errors=errors)}
    paths = {
        '/': {'get': _operation('Links to the API and the right you hold', {
            '200': _json({'type': 'object'}, 'Links')})},
        '/openapi.json': {'get': {
            'summary': 'This document', 'security': [],
            'responses': {'200': _json({'type': 'object'}, 'OpenAPI')}}},
        '/services': {'get': _operation('The task services', {
            '200': _json({'type': 'object', 'properties': {'services': {
                'type': 'array', 'items': _ref('Service')}}}, 'Services')})},
        '/services/{service}': {'get': _operation(
            'A service: its jobs by status, queue, tasks and workers',
            {'200': service},
            parameters=[_SERVICE], errors=(404,))},
        '/services/{service}/tasks': {'get': _operation(
            'The names of the tasks the service can run',
            {'200': _json({'type': 'object', 'properties': {'tasks': {
                'type': 'array', 'items': {'type': 'string'}}}}, 'Tasks')},
            parameters=[_SERVICE], errors=(404,))},
        '/services/{service}/jobs': {
            'get': _operation(
                'A page of jobs, newest first or, with a status, in that '
                'status\'s order; only the page is read',
                {'200': _json(_ref('JobPage'), 'A page')},
                parameters=[_SERVICE,
                            {'name': 'status', 'in': 'query',
                             'schema': {'type': 'string',
                                        'enum': _STATUS_NAMES},
                             'description': _FAILED},
                            {'name': 'after', 'in': 'query',
                             'schema': {'type': 'string'},
                             'description': 'The "next" of the page before '
                                            '(an opaque cursor)'},
                            {'name': 'limit', 'in': 'query',
                             'schema': {'type': 'integer', 'minimum': 1,
                                        'maximum': settings.MAX_PAGE_SIZE,
                                        'default': settings.PAGE_SIZE}},
                            {'name': 'task', 'in': 'query',
                             'schema': {'type': 'string'},
                             'description': 'Only jobs of this task.  A '
                             'page reads a bounded number of jobs, so it '
                             'may hold fewer than limit, or none, and still '
                             'have a next page'}],
                errors=(400, 404)),
            'post': _operation(
                'Add a job: now, later (startLater) or after a delay',
                {'201': job}, body=_ref('NewJob'), parameters=[_SERVICE],
                manage=True, errors=(400, 404, 413))},
        '/services/{service}/cronjobs': {'post': _operation(
            'Add a cron job', {'201': job}, body=_ref('NewCronJob'),
            parameters=[_SERVICE], manage=True, errors=(400, 404, 413))},
        '/services/{service}/jobs/{job}': {'get': _operation(
            'A job: status, result, error, times, progress, and the history '
            'of its attempts with their errors and tracebacks',
            {'200': job}, parameters=[_SERVICE, _JOB], errors=(400, 404))},
        '/services/{service}/jobs/{job}/retry': jobAction(
            'Run a failed or cancelled job again: the same job, a new '
            'attempt whose retry policy counts anew; a cron job goes back '
            'to its schedule'),
        '/services/{service}/jobs/{job}/run-now': jobAction(
            'Queue a run of a cron job now, besides its schedule: a new job, '
            'whose runOf is the cron job', {'201': job}),
        '/services/{service}/jobs/{job}/pause': jobAction(
            'Pause a cron job: its runs are skipped until it is resumed'),
        '/services/{service}/jobs/{job}/resume': jobAction(
            'Resume a paused cron job'),
        '/services/{service}/jobs/{job}/cancel': {'post': _operation(
            'Cancel a job that has not run (or a cron job\'s future runs)',
            {'200': job}, parameters=[_SERVICE, _JOB], manage=True,
            errors=(400, 404, 409))},
        '/services/{service}/jobs/{job}/start': {'post': _operation(
            'Queue a job added with startLater', {'200': job},
            parameters=[_SERVICE, _JOB], manage=True,
            errors=(400, 404, 409))},
        '/services/{service}/jobs/{job}/schedule': {'put': _operation(
            'Replace a cron job\'s schedule (and input, if given)',
            {'200': job}, body=_ref('Schedule'),
            parameters=[_SERVICE, _JOB], manage=True,
            errors=(400, 404, 409, 413))},
        '/services/{service}/clean': {'post': _operation(
            'Remove finished jobs; say how many',
            {'200': _json({'type': 'object', 'properties': {
                'removed': {'type': 'integer'}}}, 'How many')},
            body={'type': 'object', 'properties': {'status': {
                'type': 'array', 'description': _FAILED, 'items': {
                    'type': 'string', 'enum': [
                        'completed', 'cancelled', 'error', 'failed']}}}},
            parameters=[_SERVICE], manage=True, errors=(400, 404))},
        '/services/{service}/cancel-all': {'post': _operation(
            'Cancel every job that waits to run once (queued, start later, '
            'delayed, retry), in batches of a transaction each; cron jobs '
            'keep their schedules.  Say how many, and the statuses',
            {'200': _json({'type': 'object', 'properties': {
                'cancelled': {'type': 'integer'},
                'statuses': {'type': 'array', 'items': {
                    'type': 'string'}}}}, 'How many')},
            parameters=[_SERVICE], manage=True, errors=(404,))},
        '/services/{service}/retry-all': {'post': _operation(
            'Retry every failed (or cancelled) job, of a task if given, in '
            'batches of a transaction each; say how many',
            {'200': _json({'type': 'object', 'properties': {
                'retried': {'type': 'integer'}}}, 'How many')},
            body={'type': 'object', 'properties': {
                'status': {'type': 'string',
                           'enum': ['error', 'cancelled', 'failed'],
                           'default': 'error', 'description': _FAILED},
                'task': {'type': 'string'}}},
            parameters=[_SERVICE], manage=True, errors=(400, 404))},
        '/services/{service}/pause': {'post': _operation(
            'Pause the service: no worker, here or elsewhere, claims its '
            'jobs until it is resumed; jobs in hand run to their end',
            {'200': service}, parameters=[_SERVICE], manage=True,
            errors=(404,))},
        '/services/{service}/resume': {'post': _operation(
            'Resume a paused service', {'200': service},
            parameters=[_SERVICE], manage=True, errors=(404,))},
        '/services/{service}/activity': {'get': _operation(
            'Jobs finished per minute (completed, error, cancelled), the '
            'oldest minute first',
            {'200': _json({'type': 'object', 'properties': {'minutes': {
                'type': 'array', 'items': {'type': 'object', 'properties': {
                    'start': {'type': 'number'},
                    'completed': {'type': 'integer'},
                    'error': {'type': 'integer'},
                    'cancelled': {'type': 'integer'}}}}}}, 'Minutes')},
            parameters=[_SERVICE, {
                'name': 'minutes', 'in': 'query', 'schema': {
                    'type': 'integer', 'minimum': 1, 'maximum': 60,
                    'default': 60}}],
            errors=(400, 404))},
    }
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
            'schemas': _SCHEMAS,
            'securitySchemes': {
                'bearer': {'type': 'http', 'scheme': 'bearer'},
                'basic': {'type': 'http', 'scheme': 'basic',
                          'description': 'The token as the password'}}},
    }
