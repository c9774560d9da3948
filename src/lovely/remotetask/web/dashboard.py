"""The management dashboard: HTML pages for people, with forms.

Here are the dashboard's routes and its home page, the overview of the
services: jobs by status, the queue and its oldest job, the workers,
whether each is paused.  The other pages live by what they show:

- `servicepage`: a service's overview and its jobs, a page at a time;
- `livepage`: the parts of the home page and of a service's page that
  follow the services without a reload (``live.json``), and `history`
  the chart of the jobs finished per hour;
- `jobpage`: a job's own page, and the actions on one job;
- `flowpages`: a workflow's page, and the queues of a service's page;
- `forms`: adding a job or a cron job, and editing a cron job's schedule;
- `serviceactions`: the buttons acting on a service's jobs or on the
  service itself (cancel, retry, clean, pause, resume);
- `login`: logging in and out;
- `pagestate`: a jobs page's state in its URL, and going back to it;
- `rendering`: templates, error pages, static files and messages.

Every form carries the session's CSRF token, checked by the application
before any handler runs.  After a change the browser is sent back to the
page it came from (post/redirect/get) with a one-line message; a form with
mistakes is shown again, with each message next to its field and nothing
changed.
"""
from lovely.remotetask.serialize import STATUSES
from lovely.remotetask.web import (
    flowpages, jobpage, livepage, matching, settings)
from lovely.remotetask.web.auth import ADD, MANAGE, READ
from lovely.remotetask.web.forms import (
    addCronJob, addJob, editCronJob, editForm)
from lovely.remotetask.web.login import login, loginForm, logout
from lovely.remotetask.web.rendering import render, static
from lovely.remotetask.web.serviceactions import (
    cancelAll, cancelSelected, clean, pauseService, resumeService, retryAll,
    retrySelected)
from lovely.remotetask.web.servicepage import rows, servicePage

__all__ = ['register']


def register(router) -> None:
    routes = [
        ('GET', '/', home, READ),
        ('GET', '/login', loginForm, None),
        ('POST', '/login', login, None),
        ('POST', '/logout', logout, READ),
        ('GET', '/static/{name}', static, None),
        ('GET', '/services/{service}', servicePage, READ),
        ('GET', '/services/{service}/rows.json', rows, READ),
        ('POST', '/services/{service}/add', addJob, ADD),
        ('POST', '/services/{service}/cron', addCronJob, ADD),
        ('GET', '/services/{service}/jobs/{job}/edit', editForm, MANAGE),
        ('POST', '/services/{service}/jobs/{job}/edit', editCronJob, MANAGE),
        ('POST', '/services/{service}/cancel', cancelSelected, MANAGE),
        ('POST', '/services/{service}/retry', retrySelected, MANAGE),
        ('POST', '/services/{service}/cancel-all', cancelAll, MANAGE),
        ('POST', '/services/{service}/retry-all', retryAll, MANAGE),
        ('POST', '/services/{service}/clean', clean, MANAGE),
        ('POST', '/services/{service}/pause', pauseService, MANAGE),
        ('POST', '/services/{service}/resume', resumeService, MANAGE),
    ]
    for method, template, handler, right in routes:
        router.add(method, template, handler, right, 'html')
    jobpage.register(router)
    matching.register(router)
    flowpages.register(router)


def home(ctx):
    """The overview: every service with its jobs by status, its queue,
    its workers and whether it is paused (kept up to date by
    `livepage`)."""
    return render(ctx, 'services', services=livepage.homeItems(ctx),
                  statuses=STATUSES, noRoot=ctx.root is None,
                  liveUrl=ctx.url('/live.json'),
                  refreshInterval=settings.REFRESH_INTERVAL)
