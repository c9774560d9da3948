"""What a job added through the JSON API may also say, beside its task
and input: its queue, a time to run at, a deadline, the jobs it waits for
and what it does when one of them fails, its tags (see
`ITaskService.add`).

The body's fields are checked here as the OpenAPI document states them
(`SCHEMAS`), so that the API refuses exactly what its document refuses.
"""
import re

from lovely.remotetask.checks import isNumber
from lovely.remotetask.interfaces import MAX_JOB_ID
from lovely.remotetask.store.search import MAX_TAGS, TAG_PATTERN
from lovely.remotetask.web.errors import HTTPError
from lovely.remotetask.web.parsing import shown, wholeNumber

#: The names of queues the API takes: those `task.checkQueue` takes, in
#: ASCII and not starting with a dot (no path segment of "." or "..").
QUEUE_PATTERN = '^[A-Za-z0-9_-][A-Za-z0-9._-]{0,99}$'

#: The latest time the API takes: the end of the year 9999.
LATEST = 253402300799

#: The most jobs one job may wait for through the API.
MOST_AFTER = 1000

_MOMENT = {'type': 'number', 'minimum': 0, 'maximum': LATEST}

SCHEMAS = {
    'queue': {'type': 'string', 'pattern': QUEUE_PATTERN,
              'description': "the queue it waits in ('default' if not "
                             "given, or its task's)"},
    'at': dict(_MOMENT, description='when to run it, in epoch seconds'),
    'deadline': dict(_MOMENT, description='not started by then (epoch '
                     'seconds), it is cancelled'),
    'after': {'type': 'array', 'uniqueItems': True, 'minItems': 1,
              'maxItems': MOST_AFTER, 'items': {
                  'type': 'integer', 'minimum': 1, 'maximum': MAX_JOB_ID},
              'description': 'the ids of the jobs it waits for'},
    'onFailure': {'enum': ['cancel', 'run'], 'description': 'when a job '
                  'it waits for fails or is cancelled: cancel it too '
                  '(the default), or run it anyway'},
    'tags': {'type': 'array', 'maxItems': MAX_TAGS, 'items': {
        'type': 'string', 'pattern': f'^{TAG_PATTERN}$'},
        'description': 'tags to find the job by (each once), without '
        'whitespace or commas'},
}

FIELDS = tuple(SCHEMAS)


def queueName(name: str) -> str:
    if not isinstance(name, str) or \
            re.fullmatch(QUEUE_PATTERN[1:-1], name) is None:
        raise HTTPError(400, f'a queue is named by up to 100 ASCII letters, '
                        f'digits, "-", "_" and "." (not first), not '
                        f'{shown(name)}', fields=dict(queue=shown(name)))
    return name


def options(body: dict) -> dict:
    """The arguments of `add` that `body` gives, checked: a job starts
    later, at a time, or after others, one of them."""
    given = [name for name in ('startLater', 'at', 'after') if name in body]
    if len(given) > 1:
        raise HTTPError(400, f'give one of startLater, at and after, not '
                        f'{" and ".join(given)}')
    if 'onFailure' in body and 'after' not in body:
        raise HTTPError(400, 'onFailure goes with after')
    found = {}
    if 'queue' in body:
        found['queue'] = queueName(body['queue'])
    for name in ('at', 'deadline'):
        if name in body:
            found[name] = _moment(name, body[name])
    if 'after' in body:
        found['after'] = _after(body['after'])
    if 'tags' in body:
        if not isinstance(body['tags'], list):
            raise HTTPError(400, f'tags is a list of strings, not '
                            f'{shown(body["tags"])}',
                            fields=dict(tags=shown(body['tags'])))
        found['tags'] = body['tags']      # each checked by the service
    if 'onFailure' in body:
        if body['onFailure'] not in SCHEMAS['onFailure']['enum']:
            raise HTTPError(400, 'onFailure is cancel or run, not '
                            f'{shown(body["onFailure"])}',
                            fields=dict(onFailure=shown(body['onFailure'])))
        found['onFailure'] = body['onFailure']
    return found


def _moment(name, value):
    if not isNumber(value) or not 0 <= value <= LATEST:
        raise HTTPError(400, f'{name} is a time in epoch seconds, from 0 to '
                        f'{LATEST}, not {shown(value)}',
                        fields={name: shown(value)})
    return value


def _after(value):
    wrong = HTTPError(400, f'after is a list of 1 to {MOST_AFTER} distinct '
                      f'job ids, not {shown(value)}',
                      fields=dict(after=shown(value)))
    if not isinstance(value, list) or not 1 <= len(value) <= MOST_AFTER:
        raise wrong
    ids = []
    for jobid in map(wholeNumber, value):
        if isinstance(jobid, bool) or not isinstance(jobid, int) or \
                not 1 <= jobid <= MAX_JOB_ID:
            raise wrong
        ids.append(jobid)
    if len(set(ids)) != len(ids):
        raise wrong
    return ids


def add(service, task: str, body: dict, **arguments) -> int:
    """`service.add` with the options `body` gives.  A job `after` names
    that cannot be waited for (unknown, or a cron job, which never ends)
    is a 409: the request is well formed, the service's state refuses."""
    found = options(body)
    for jobid in found.get('after', ()):
        job = service.jobs.get(jobid)
        if job is None or getattr(job, 'recurring', False):
            raise HTTPError(409, f'job {jobid} cannot be waited for: ' + (
                'there is no such job' if job is None else
                'it is a cron job, which does not finish'),
                fields=dict(after=str(jobid)))
    return service.add(task, body.get('input'), **arguments, **found)
