"""Checks of the API's contract that schemathesis loads for
test_web_contract.py (SCHEMATHESIS_HOOKS=contracthooks).

- `schema_valid_requests_are_taken` is schemathesis's own
  positive_data_acceptance (which the run excludes), but for the few rules
  that JSON Schema cannot state and the document says in words: a cursor
  that no page printed, a range written backwards, a schedule that never
  fires, an unknown time zone.  Those
  must be a 400 that names the field; anything else schema-valid must be
  taken.
- `read_token_changes_nothing`: each change that the manage token made is
  sent again with the read token, and must be refused with 403.
"""
import os

import requests
import schemathesis
from schemathesis.core.failures import Failure
from schemathesis.specs.openapi.checks import positive_data_acceptance

READ_TOKEN = os.environ['CONTRACT_READ_TOKEN']

SCHEDULE_FIELDS = {'minute', 'hour', 'dayOfMonth', 'month', 'dayOfWeek'}
SCHEDULE_OPERATIONS = {'POST /services/{service}/cronjobs',
                       'PUT /services/{service}/jobs/{job}/schedule'}


def unstateable(operation: str, answer: dict) -> bool:
    """Whether a 400 `answer` refuses only what the schema cannot state."""
    fields = answer.get('fields') or {}
    if operation == 'GET /services/{service}/jobs':
        return set(fields) == {'after'}
    if operation not in SCHEDULE_OPERATIONS:
        return False
    if not fields:
        return 'never fires' in answer.get('error', '')
    for name, message in fields.items():
        if name == 'cron' and ('is reversed' in message or
                               'never fires' in message):
            continue
        if name == 'timezone' and message.startswith('unknown time zone'):
            continue
        if name in SCHEDULE_FIELDS and 'runs backwards' in message:
            continue
        return False
    return True


@schemathesis.check
def schema_valid_requests_are_taken(ctx, response, case):
    try:
        return positive_data_acceptance(ctx, response, case)
    except Failure:
        if response.status_code == 400:
            try:
                answer = response.json()
            except ValueError:
                answer = {}
            if unstateable(case.operation.label, answer):
                return None
        raise


@schemathesis.check
def read_token_changes_nothing(ctx, response, case):
    if case.method.upper() in ('GET', 'HEAD', 'OPTIONS') or \
            not 200 <= response.status_code < 300:
        return None
    again = response.request.copy()
    again.headers['Authorization'] = f'Bearer {READ_TOKEN}'
    with requests.Session() as session:
        refused = session.send(again, timeout=30)
    if refused.status_code != 403:
        raise AssertionError(
            f'{case.method} {case.path} with the read token answered '
            f'{refused.status_code}, not 403: {refused.text[:200]}')
    return None
