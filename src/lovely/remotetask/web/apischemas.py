"""The JSON Schemas of the API's bodies and answers, for `openapi`.

Every request body is closed (``additionalProperties: false``): the API
refuses a field it does not know, so that a mistyped one (``"prority"``)
is an error and not a default silently taken.  The schemas state the
rules that JSON Schema can state: task names, which fields go together,
the ranges of a schedule's fields (as lists, and as the text the fields
take, by pattern).  What it cannot state is said in the descriptions and
answered with 400: a range written backwards (``"5-1"``), a schedule that
never fires (30 February), a cron expression's own grammar, an unknown
time zone, a cursor that no page printed.
"""
from lovely.remotetask.timing.cron import FIELDS as CRON_FIELDS, MACROS
from lovely.remotetask.timing.schedule import BLANKS, FIELDS, NAMES
from lovely.remotetask.serialize import STATUSES
from lovely.remotetask.service.taskservice import PRIORITIES
from lovely.remotetask.web import addoptions, settings


def ref(name):
    return {'$ref': f'#/components/schemas/{name}'}


def _caseless(word: str) -> str:
    return ''.join(f'[{c.lower()}{c.upper()}]' for c in word)


def _fieldPattern(name: str, low: int, high: int) -> str:
    """The text a schedule field takes, exactly but for the order of a
    range's ends (see `schedule.parseFieldText`)."""
    number = '0*(?:' + '|'.join(str(n) for n in range(high, low - 1, -1)) \
        + ')'
    words = [_caseless(whole[:3]) + (f'(?:{_caseless(whole[3:])})?'
                                     if whole[3:] else '')
             for whole in NAMES.get(name, ())]
    value = f'(?:{number}|{"|".join(words)})' if words else number
    blank = f'[{BLANKS}]*'.replace('\t', '\\t')
    part = f'{blank}{value}(?:{blank}-{blank}{value})?{blank}'
    return f'^{blank}(?:\\*|{part}(?:,{part})*)?{blank}$'


def _field(name, low, high) -> dict:
    return {'oneOf': [
        {'type': 'array', 'items': {'type': 'integer', 'minimum': low,
                                    'maximum': high}},
        {'type': 'string', 'maxLength': settings.MAX_FIELD_LENGTH,
         'pattern': _fieldPattern(name, low, high),
         'description': '"*" (or "") for every value, or values and ranges '
         'such as "0,15,30" or "1-5", a range\'s first end first' + (
             '; names, short or whole, in any case ("mon-fri", "jan")'
             if name in NAMES else '')}],
        'description': f'{low} to {high}' + (
            ', Monday as 0' if name == 'dayOfWeek' else '')}


#: The fields of a tuple schedule.
FIELD_SCHEMAS = {name: _field(name, low, high) for name, low, high in FIELDS}
#: A field that says nothing: every value.
_EVERY = {'oneOf': [{'type': 'array', 'maxItems': 0},
                    {'type': 'string', 'pattern': '^[ \\t]*\\*?[ \\t]*$'}]}
_NULL = {'type': 'null'}

_POLICIES = {
    'missed': {'enum': ['once', 'each', 'skip', None],
               'description': 'runs missed while nothing processed: run '
               'once (default), each, or skip them'},
    'graceTime': {'type': ['number', 'null'], 'minimum': 0,
                  'description': 'seconds a run may start late; later ones '
                  'count as missed'},
    'overlap': {'type': ['boolean', 'null'],
                'description': 'start a run while the last one runs'},
}


def _cronPattern() -> str:
    """A cron expression, exactly but for the order of a range's ends and
    whether it ever fires (see `cron.parseCron`)."""
    fields = []
    for _, low, high, _, names in CRON_FIELDS:
        number = '0*(?:' + '|'.join(
            str(n) for n in range(high, low - 1, -1)) + ')'
        value = '(?:' + '|'.join([number] + [
            _caseless(name) for name in sorted(names, key=len,
                                               reverse=True)]) + ')'
        part = f'(?:\\*|{value}(?:-{value})?)(?:/0*[1-9][0-9]*)?'
        fields.append(f'{part}(?:,{part})*')
    macros = '|'.join(_caseless(macro[1:]) for macro in sorted(MACROS))
    return (f'^[ \\t]*(?:@(?:{macros})|' + '[ \\t]+'.join(fields)
            + ')[ \\t]*$')


_CRON = {'type': 'string', 'maxLength': settings.MAX_FIELD_LENGTH,
         'pattern': _cronPattern(),
         'description': 'five fields apart by spaces, minute hour '
         'day-of-month month day-of-week, as cron counts them (Sunday is 0 '
         'and 7; names in any case), or a macro such as @daily; a range\'s '
         'first end first'}
_TIMEZONE = {'type': ['string', 'null'],
             'maxLength': settings.MAX_FIELD_LENGTH,
             'pattern': '^[A-Za-z0-9_+./-]+$',
             'description': 'the IANA zone of the cron expression, as '
             'Europe/Vienna (default UTC)'}
_DELAY = {'type': 'number', 'minimum': 0,
          'description': 'run once, this many seconds from now'}


def scheduleBranches(extra: dict) -> list:
    """The three ways to give a schedule (a cron expression, tuple
    fields, or a delay), each with the `extra` properties, closed."""
    def closed(properties, required=()):
        return {'type': 'object', 'additionalProperties': False,
                'required': sorted(set(required) | set(extra.get(
                    'required', ()))),
                'properties': dict(extra['properties'], **properties,
                                   **_POLICIES)}
    every = dict.fromkeys(FIELD_SCHEMAS, _EVERY)
    return [
        closed(dict(every, cron=_CRON, timezone=_TIMEZONE, delay=_NULL),
               ['cron']),
        closed(dict(FIELD_SCHEMAS, cron=_NULL, timezone=_NULL,
                    delay=_NULL)),
        closed(dict(every, cron=_NULL, timezone=_NULL, delay=_DELAY),
               ['delay']),
    ]


def taskName(tasks=None) -> dict:
    schema = {'type': 'string', 'minLength': 1,
              'description': 'a task registered where the service runs'}
    if tasks is not None:
        schema['enum'] = sorted(tasks) or ['']    # '': none can be added
    return schema


def newJob(tasks=None) -> dict:
    """Now, later (startLater), at a time, after other jobs, or after a
    delay: one of them, and a delayed job takes no priority, key, queue
    or deadline."""
    common = {'task': taskName(tasks), 'input': {
        'description': 'any JSON value, given to the task'},
        'priority': {'type': 'integer', 'minimum': PRIORITIES.start,
                     'maximum': PRIORITIES.stop - 1,
                     'description': 'higher runs first'},
        'key': {'type': 'string', 'description': 'add nothing while a '
                'job with this key waits or runs'},
        **{name: addoptions.SCHEMAS[name]
           for name in ('queue', 'deadline', 'tags')}}

    def branch(required=(), **more):
        return {'type': 'object', 'required': ['task', *required],
                'additionalProperties': False,
                'properties': dict(common, **more)}
    return {'oneOf': [
        branch(startLater={'type': 'boolean'}),
        branch(['at'], at=addoptions.SCHEMAS['at']),
        branch(['after'], after=addoptions.SCHEMAS['after'],
               onFailure=addoptions.SCHEMAS['onFailure']),
        {'type': 'object', 'required': ['task', 'delay'],
         'additionalProperties': False, 'properties': dict(
             task=common['task'], input=common['input'],
             startLater={'const': False}, delay=_DELAY)},
    ]}


def newCronJob(tasks=None) -> dict:
    return {'oneOf': scheduleBranches({'required': ['task'], 'properties': {
        'task': taskName(tasks), 'input': {}}})}


SCHEDULE_CHANGE = {'oneOf': scheduleBranches({'properties': {'input': {
    'description': 'the input of the runs to come, if given'}}})}

_WORKER = {'type': 'object', 'properties': {
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
    'started': {'type': 'number'}}}

_ATTEMPT = {'type': 'object', 'properties': {
    'attempt': {'type': 'integer'},
    'worker': {'type': ['string', 'null']},
    'started': {'type': ['number', 'null']},
    'ended': {'type': 'number'},
    'error': {'type': ['string', 'null']},
    'traceback': {'type': ['string', 'null']}}}

_CHANGE = {'type': 'object', 'required': ['class', 'oid', 'path', 'new'],
           'properties': {
               'class': {'type': 'string', 'description': 'dotted name'},
               'oid': {'type': 'string', 'description': 'hex'},
               'path': {'type': ['string', 'null'], 'description':
                        'where it is, as far as it tells'},
               'new': {'type': 'boolean', 'description': 'whether the job '
                       'created it (added to its connection by hand)'}}}

_CHANGES = {'type': 'object',
            'required': ['attempt', 'objects', 'more', 'undone'],
            'properties': {
                'attempt': {'type': 'integer'},
                'objects': {'type': 'array', 'items': _CHANGE,
                            'description': 'the persistent objects its '
                            'transaction wrote (the service\'s own left '
                            'out), at most 100'},
                'more': {'type': 'integer',
                         'description': 'how many more it wrote'},
                'undone': {'type': ['number', 'null'], 'description':
                           'when it was undone (epoch seconds), or null'}}}

_SCHEDULE = {
    'type': 'object', 'description': 'A cron expression (with its time '
    'zone), or tuple fields in UTC (Monday is day 0), or a delay in seconds',
    'properties': {
        'cron': {'type': ['string', 'null']},
        'timezone': {'type': ['string', 'null']},
        **{name: {'type': 'array', 'items': {'type': 'integer'}}
           for name in FIELD_SCHEMAS},
        'delay': {'type': ['number', 'null']},
        'missed': {'type': 'string', 'enum': ['once', 'each', 'skip']},
        'graceTime': {'type': ['number', 'null']},
        'overlap': {'type': 'boolean'},
        'text': {'type': 'string', 'description': 'the schedule in words'},
        'asCron': {'type': ['string', 'null'], 'description': 'the cron '
                   'expression of tuple fields, in cron\'s numbering'},
        'nextRun': {'type': ['number', 'null']},
        'lastRun': {'type': ['number', 'null']},
        'paused': {'type': 'boolean'}}}

_JOB = {'type': 'object', 'properties': {
    'id': {'type': 'integer'}, 'task': {'type': 'string'},
    'status': {'type': 'string', 'enum': list(STATUSES)},
    'input': {'description': 'The input, as JSON (other values as their '
              'repr)'},
    'result': {'description': 'What the task returned, or null'},
    'error': {'type': ['string', 'null']},
    'created': {'type': 'number', 'description': 'epoch seconds'},
    'started': {'type': ['number', 'null']},
    'completed': {'type': ['number', 'null']},
    'attempts': {'type': 'integer'},
    'runs': {'type': 'integer', 'description': 'how often the task was '
             'called: a run whose commit conflicted ran again, in the same '
             'attempt'},
    'worker': {'type': ['string', 'null']},
    'priority': {'type': 'integer'},
    'key': {'type': ['string', 'integer', 'null']},
    'nextAttempt': {'type': ['number', 'null'], 'description':
                    'when a job with status retry is tried again'},
    'progress': {'type': ['object', 'null'], 'description': 'what the '
                 'running task reported last: fraction, message, time (on '
                 'a single job only)'},
    'history': {'type': 'array', 'items': ref('Attempt'), 'description':
                'the last attempts, the newest last (on a single job only)'},
    'changes': {'type': 'array', 'items': ref('Changes'), 'description':
                'what the transactions of its attempts changed of the '
                'application\'s data, the newest last (on a single job '
                'only)'},
    'runOf': {'type': ['integer', 'null'], 'description': 'the cron job '
              'this job is a run of'},
    'owner': {'type': ['string', 'null'], 'description': 'the principal '
              'who added the job, where the host knows one'},
    'queue': {'type': 'string', 'description': 'the queue it waits in'},
    'deadline': {'type': ['number', 'null'], 'description': 'not started '
                 'by then (epoch seconds), it is cancelled'},
    'tags': {'type': 'array', 'items': {'type': 'string'},
             'description': 'the tags it was added with'},
    'waitsFor': {'type': 'array', 'items': {'type': 'integer'},
                 'description': 'the ids of the jobs it waits or waited '
                 'for (the first hundred)'},
    'waitsForCount': {'type': 'integer', 'description': 'how many jobs it '
                      'waits or waited for'},
    'onFailure': {'enum': ['cancel', 'run', 'failure', None],
                  'description': 'what it does if a job it waits for fails '
                  'or is cancelled: is cancelled too, runs anyway, or runs '
                  'at once (a batch\'s death callback); null if it waits for '
                  'none'},
    'workflow': {'type': ['integer', 'null'], 'description': 'the id of '
                 'its workflow'},
    'batch': {'type': ['integer', 'null'], 'description': 'the id of its '
              'batch'},
    'url': {'type': 'string'},
    'dashboard': {'type': 'string', 'description': 'the job\'s page (on a '
                  'single job only)'},
    'schedule': ref('Schedule')}}

_SERVICE = {'type': 'object', 'properties': {
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
    'workers': {'type': 'array', 'items': ref('Worker')}}}

#: The schemas of the answers, by name.
SCHEMAS = {
    'Error': {'type': 'object', 'required': ['error', 'status'],
              'properties': {
                  'error': {'type': 'string'},
                  'status': {'type': 'integer'},
                  'fields': {'type': 'object', 'description':
                             'Messages by the name of the field at fault',
                             'additionalProperties': {'type': 'string'}}}},
    'Service': _SERVICE,
    'Worker': _WORKER,
    'Attempt': _ATTEMPT,
    'Changes': _CHANGES,
    'Job': _JOB,
    'Schedule': _SCHEDULE,
    'JobPage': {'type': 'object', 'properties': {
        'jobs': {'type': 'array', 'items': ref('Job')},
        'next': {'type': ['string', 'null'], 'description': 'Pass as '
                 '"after" for the next page (an opaque cursor)'},
        'nextUrl': {'type': ['string', 'null']}}},
}
