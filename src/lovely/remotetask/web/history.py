"""Jobs finished per hour over the last day or week, of one task or all:
the JSON API's ``/activity/hours`` and the service page's history chart.

The service counts them as its drains file finished jobs
(``activityByHour``); a job so shows a moment after it finished.
"""
from typing import Optional, Tuple

from lovely.remotetask.store.hourly import HOURS_KEPT
from lovely.remotetask.web import api, charts, overview
from lovely.remotetask.web.auth import READ
from lovely.remotetask.web.detail import HTML
from lovely.remotetask.web.parsing import intParameter, taskParameter

#: The spans the dashboard offers: (hours, label).
CHOICES = ((24, 'the last 24 hours'), (HOURS_KEPT, 'the last 7 days'))
DEFAULT_HOURS = 24
_PATH = '/api/services/{service}/activity/hours'


def register(router) -> None:
    router.add('GET', _PATH, hoursAnswer, READ, 'api')


def hoursAnswer(ctx, service):
    """Jobs finished per hour (``hours``: how many, up to a week; ``task``:
    of that task only)."""
    entry = ctx.service(service)
    hours, task = _parameters(ctx.request.GET, 'hours', 'task', False)
    return api.respond(dict(
        hours=overview.activityByHour(entry.service, hours, task),
        task=task))


def _parameters(query, hoursName: str, taskName: str,
                emptyIsMissing: bool) -> Tuple[int, Optional[str]]:
    hours = intParameter(query, hoursName, DEFAULT_HOURS, 1, HOURS_KEPT,
                         emptyIsMissing=emptyIsMissing)
    task = taskParameter({'task': query.get(taskName, '')})
    return hours, task


def chartValues(entry, query) -> dict:
    """What the service page's history panel shows: its chart, for the
    span and task the page's query names (``chartHours``, ``chartTask``),
    and the choices of its form."""
    hours, task = _parameters(query, 'chartHours', 'chartTask', True)
    tasks = sorted(set(entry.service.getAvailableTasks()) |
                   ({task} if task else set()))
    choices = CHOICES if hours in dict(CHOICES) else \
        CHOICES + ((hours, f'the last {hours} hours'),)
    return dict(
        historyChart=HTML(charts.historyChart(
            overview.activityByHour(entry.service, hours, task), task)),
        historyHours=hours, historyTask=task, historyTasks=tasks,
        historyChoices=choices)


def addPaths(paths: dict) -> None:
    """Add this module's operation to the OpenAPI `paths`."""
    from lovely.remotetask.web.openapi import _SERVICE, _json, _operation
    from lovely.remotetask.web import settings
    counts = {'type': 'integer', 'minimum': 0}
    paths[_PATH[len('/api'):]] = {'get': _operation(
        'activityByHour', 'Jobs finished per hour (completed, error, '
        'cancelled), the oldest hour first, counted as the service files '
        'finished jobs (a moment after they finished)',
        {'200': _json({'type': 'object', 'required': ['hours', 'task'],
                       'additionalProperties': False, 'properties': {
            'hours': {'type': 'array', 'items': {
                'type': 'object', 'additionalProperties': False,
                'required': ['start', 'completed', 'error', 'cancelled'],
                'properties': {
                    'start': {'type': 'integer', 'description': 'the '
                              'hour\'s start, in epoch seconds'},
                    'completed': counts, 'error': counts,
                    'cancelled': counts}}},
            'task': {'type': ['string', 'null'], 'description': 'the task '
                     'counted, or null for every task'}}}, 'Hours')},
        parameters=[_SERVICE, {
            'name': 'hours', 'in': 'query', 'schema': {
                'type': 'integer', 'minimum': 1, 'maximum': HOURS_KEPT,
                'default': DEFAULT_HOURS}}, {
            'name': 'task', 'in': 'query',
            'schema': {'type': 'string',
                       'maxLength': settings.MAX_FIELD_LENGTH},
            'description': 'Only jobs of this task (empty: every task); '
            'blanks around it are dropped'}],
        errors=(404,))}
