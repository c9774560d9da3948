"""The OpenAPI paths and schemas of `apiflows`: workflows, batches,
queues and limits; `openapi.document` takes them in."""
from lovely.remotetask.interfaces import STATUSES
from lovely.remotetask.web.apischemas import ref
from lovely.remotetask.web.apiflows import MAX_LIMIT, QUEUE_PATTERN
from lovely.remotetask.web.openapi import (
    _JOB, _SERVICE, _json, _operation)

_QUEUE = {'name': 'queue', 'in': 'path', 'required': True,
          'description': 'The name of a queue: letters, digits, "-", "_" '
          'and "." (not first); a queue that has neither jobs nor settings '
          'is running and empty',
          'schema': {'type': 'string', 'pattern': QUEUE_PATTERN}}
_WORKFLOW = dict(_JOB, description='The id of any step of the workflow')
_BATCH = dict(_JOB, description='The id of the batch (that of its first '
              'callback)')
_IDS = {'type': 'array', 'items': {'type': 'integer'}}
_COUNT = {'type': 'integer', 'minimum': 0}

SCHEMAS = {
    'Workflow': {'type': 'object', 'properties': {
        'id': {'type': 'integer', 'description': 'the id of its first '
               'step'},
        'name': {'type': ['string', 'null']},
        'status': {'enum': ['waiting', 'running', 'completed', 'failed',
                            'cancelled']},
        'counts': {'type': 'object', 'description': 'steps by status',
                   'additionalProperties': {'type': 'integer'}},
        'steps': {'type': 'array', 'items': ref('Step')},
        'url': {'type': 'string'},
        'dashboard': {'type': 'string', 'description': 'its page'}}},
    'Step': {'type': 'object', 'properties': {
        'name': {'type': 'string'}, 'id': {'type': 'integer'},
        'status': {'enum': list(STATUSES) + ['removed'],
                   'description': 'removed: cleaned away'},
        'task': {'type': ['string', 'null']},
        'after': {'type': 'array', 'items': {'type': ['string', 'integer']},
                  'description': 'the names of the steps it waits for (the '
                  'ids of jobs outside the workflow)'},
        'error': {'type': ['string', 'null']},
        'url': {'type': 'string'}}},
    'Batch': {'type': 'object', 'properties': {
        'id': {'type': 'integer'}, 'open': {'type': 'boolean', 'description':
                                            'jobs may still join it'},
        'size': _COUNT, 'finished': _COUNT, 'completed': _COUNT,
        'failed': _COUNT,
        'parent': {'type': ['integer', 'null'], 'description': 'the batch '
                   'it is part of'},
        'callbacks': {'type': 'object', 'description': 'by kind: complete, '
                      'success, death', 'additionalProperties': {
                          'type': 'object', 'properties': {
                              'id': {'type': 'integer'},
                              'status': {'enum': list(STATUSES)},
                              'url': {'type': 'string'}}}},
        'url': {'type': 'string'}}},
    'Queue': {'type': 'object', 'properties': {
        'name': {'type': 'string'}, 'paused': {'type': 'boolean'},
        'limit': {'type': ['integer', 'null'], 'description': 'jobs running '
                  'at once, across every process, at most'},
        'running': _COUNT, 'queued': _COUNT,
        'held': {'type': 'integer', 'description': 'queued jobs its pause '
                 'or limit, or their tasks\' limits, keep waiting'}}},
    'Limit': {'type': 'object', 'properties': {
        'scope': {'type': 'array', 'description': '["queue", name], ["task", '
                  'name] or ["task", name, partition]'},
        'maximum': {'type': ['integer', 'null']},
        'rate': {'type': ['object', 'null'], 'properties': {
            'count': {'type': 'integer'}, 'seconds': {'type': 'number'}}},
        'running': _COUNT,
        'starts': {'type': 'integer', 'description': 'within the rate\'s '
                   'period'},
        'held': _COUNT}},
}


def paths() -> dict:
    base = '/services/{service}'

    def read(name, summary, schema, parameters=(_SERVICE,), errors=(404,)):
        return {'get': _operation(name, summary, {'200': _json(
            schema, summary)}, parameters=list(parameters), errors=errors)}

    def change(name, summary, schema, parameters, method='post', body=None,
               errors=(404,)):
        return {method: _operation(name, summary, {'200': _json(
            schema, summary)}, parameters=list(parameters), manage=True,
            body=body, errors=errors)}

    def listed(key, schema):
        return {'type': 'object', 'properties': {key: schema, 'workflow':
                                                 ref('Workflow')}}
    return {
        f'{base}/workflows/{{job}}': read(
            'workflow', 'A workflow: its status, steps by status, and each '
            'step with its status and the steps it waits for',
            ref('Workflow'), (_SERVICE, _WORKFLOW)),
        f'{base}/workflows/{{job}}/cancel': change(
            'cancelWorkflow', 'Cancel every step of a workflow that has '
            'not finished (running ones are asked to stop); say which',
            listed('cancelled', _IDS), (_SERVICE, _WORKFLOW)),
        f'{base}/workflows/{{job}}/retry': change(
            'retryWorkflow', 'Retry the failed steps of a workflow (and '
            'those cancelled by hand): the steps their failure cancelled '
            'wait again; say which', listed('retried', _IDS),
            (_SERVICE, _WORKFLOW)),
        f'{base}/batches/{{job}}': read(
            'batch', 'A batch: open or closed, its callbacks, and how many '
            'of its jobs finished, completed and failed', ref('Batch'),
            (_SERVICE, _BATCH)),
        f'{base}/batches/{{job}}/close': change(
            'closeBatch', 'Close a batch (this needs the right to add '
            'jobs): no job joins it after, and its callbacks run once its '
            'jobs finished', ref('Batch'), (_SERVICE, _BATCH)),
        f'{base}/queues': read(
            'queues', 'The queues that have jobs or settings, and the '
            'queued jobs no running worker takes (by queue and task); '
            'counts go up to 1000',
            {'type': 'object', 'properties': {
                'queues': {'type': 'array', 'items': ref('Queue')},
                'stranded': {'type': 'array', 'items': {
                    'type': 'object', 'properties': {
                        'queue': {'type': 'string'},
                        'task': {'type': 'string'},
                        'queued': _COUNT}}}}}),
        f'{base}/queues/{{queue}}/pause': change(
            'pauseQueue', 'Pause a queue: no worker, here or elsewhere, '
            'starts its jobs until it is resumed', ref('Queue'),
            (_SERVICE, _QUEUE)),
        f'{base}/queues/{{queue}}/resume': change(
            'resumeQueue', 'Resume a paused queue', ref('Queue'),
            (_SERVICE, _QUEUE)),
        f'{base}/queues/{{queue}}/limit': change(
            'setQueueLimit', 'At most limit jobs of the queue run at once, '
            'across every process (null: no limit)', ref('Queue'),
            (_SERVICE, _QUEUE), method='put', body={
                'type': 'object', 'additionalProperties': False,
                'required': ['limit'], 'properties': {'limit': {
                    'type': ['integer', 'null'], 'minimum': 0,
                    'maximum': MAX_LIMIT}}}),
        f'{base}/limits': read(
            'limits', 'The limits in force that hold or run jobs: scope, '
            'maximum, rate, how many run, started within the rate\'s '
            'period, and are held', {'type': 'object', 'properties': {
                'limits': {'type': 'array', 'items': ref('Limit')}}}),
    }
