"""The parts of the dashboard's pages that follow the services as they run.

A service's page shows its jobs by status (the tabs), its queue and how
long its oldest job waits, the jobs finished in the last hour and per
hour (the charts), and its workers; the home page a row per service.
``static/dashboard.js`` asks ``live.json`` for them every few seconds,
next to the jobs table's ``rows.json``, and puts each part that changed
in place of the one shown, without reloading the page.  The server
renders each part with the templates (``templates/parts.pt``) that render
the page, so that both show the same markup, escaped the same way.
"""
import json
import urllib.parse

import webob

from lovely.remotetask.serialize import STATUSES, zonedTime
from lovely.remotetask.web import auth, charts, history, overview
from lovely.remotetask.web.auth import MANAGE, READ
from lovely.remotetask.web.detail import HTML
from lovely.remotetask.web.pagestate import pageState, stateQuery, stateUrl
from lovely.remotetask.web.rendering import templates

#: The parts of a service's page that follow it, by the id of each.
SERVICE_PARTS = ('status-tabs', 'queue', 'last-hour', 'activity-chart',
                 'workers-panel', 'history-chart')


def register(router) -> None:
    router.add('GET', '/live.json', homeParts, READ, 'html')
    router.add('GET', '/services/{service}/live.json', serviceParts, READ,
               'html')


def serviceValues(ctx, entry, state, query) -> dict:
    """What the parts of a service's page show, in the page's `state`
    (and the history chart's span and task in `query`)."""
    pageUrl = ctx.url(f'/services/{entry.path}')
    summary = overview.summary(entry.service)
    minutes = overview.activity(entry.service)
    liveQuery = dict(stateQuery(state), **{
        name: query[name] for name in ('chartHours', 'chartTask')
        if query.get(name)})
    return dict(
        summary=summary, tabs=tabs(pageUrl, state, summary),
        oldestText=overview.duration(summary['oldestWaitingAge']),
        workers=[_workerRow(ctx, entry, w)
                 for w in overview.workers(entry.service)],
        chart=HTML(charts.activityChart(minutes)),
        lastHour={s: sum(m[s] for m in minutes)
                  for s in overview.ACTIVITY_STATUSES},
        liveUrl=ctx.url(f'/services/{entry.path}/live.json') + '?' +
        urllib.parse.urlencode(liveQuery),
        historyHidden=sorted(stateQuery(dict(state, after=None)).items()),
        **history.chartValues(entry, query))


def tabs(pageUrl: str, state: dict, summary: dict) -> list:
    """A tab for each status, with its count, and one for all jobs."""
    found = [dict(label='all', count=summary['total'], status=None,
                  url=stateUrl(pageUrl, state, status=None, after=None),
                  current=state['status'] is None)]
    return found + [dict(label=s, count=summary['counts'][s], status=s,
                         url=stateUrl(pageUrl, state, status=s, after=None),
                         current=state['status'] == s) for s in STATUSES]


def _workerRow(ctx, entry, worker) -> dict:
    return dict(worker, age=overview.duration(worker['heartbeatAge']),
                startedText=zonedTime(worker['started']),
                jobLinks=[(jobid, ctx.url(
                    f'/services/{entry.path}/jobs/{jobid}'))
                    for jobid in worker['jobs']])


def homeItems(ctx) -> list:
    """Each service of the home page, with its summary."""
    services = []
    for entry in ctx.services():
        summary = overview.summary(entry.service)
        summary['workers'] = len(entry.service.getWorkers())
        summary['oldestText'] = overview.duration(summary['oldestWaitingAge'])
        services.append(dict(entry=entry, summary=summary,
                             url=ctx.url(f'/services/{entry.path}'),
                             canManage=ctx.allows(MANAGE, entry)))
    return services


def serviceParts(ctx, service):
    """The parts of a service's page, rendered, by id; and its summary."""
    entry = ctx.service(service)
    query = ctx.request.GET
    values = serviceValues(ctx, entry, pageState(query), query)
    parts = {name: _render(ctx, name, values) for name in SERVICE_PARTS}
    return _answer(dict(parts=parts, summary=values['summary']))


def homeParts(ctx):
    """The rows of the home page's services, rendered, by id."""
    items = homeItems(ctx)
    parts = {f'service-{item["entry"].path}': _render(
        ctx, 'service-row', dict(item=item, statuses=STATUSES))
        for item in items}
    return _answer(dict(parts=parts, summaries={
        item['entry'].path: item['summary'] for item in items}))


def _render(ctx, part: str, values: dict) -> str:
    return templates['part'](
        part=part, parts=templates['parts'].macros, url=ctx.url,
        csrf=ctx.csrfToken, csrfField=auth.CSRF_FIELD, **values).strip()


def _answer(data) -> webob.Response:
    response = webob.Response(body=json.dumps(data).encode('utf-8'),
                              content_type='application/json', charset=None)
    response.cache_control = 'no-store'
    return response
