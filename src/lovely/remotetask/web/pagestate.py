"""The state of a jobs page, kept in its URL, and going back to it.

A service's page is a listing (status, task, tag, words searched for,
cursor, page size) sorted by
a column; all of it is in the query string, so that a link, a reload or
the page's script show the same page.  Each form on the page carries that
state (``back``), and after a change the browser is sent back to the page
as it was, or, as the form's ``to`` says, to the overview or a job's page
(post/redirect/get), with a message to show there.
"""
import urllib.parse
from typing import Optional

import webob
from webob.multidict import MultiDict

from lovely.remotetask.web import settings
from lovely.remotetask.web.parsing import pageParameters
from lovely.remotetask.web.rendering import redirect


#: The columns the jobs table sorts by, and the job attribute of each.
SORTABLE = ('id', 'task', 'status', 'owner', 'created', 'started',
            'completed')

#: The query parameters that make up the state of a jobs page.
PAGE_STATE = ('status', 'task', 'tag', 'q', 'after', 'limit', 'sort',
              'order')


def goBack(ctx, entry, message: str,
           jobid: Optional[int] = None) -> webob.Response:
    """Back to the page the form was on, with `message` to show there: the
    jobs page in the state it was in (``back``), or, as ``to`` says, the
    overview (``home``) or the job's page (``job``)."""
    to = destination(ctx.request.POST)
    if to == 'home':
        return redirect(ctx, '/', message)
    if to == 'job' and jobid is not None:
        return redirect(ctx, f'/services/{entry.path}/jobs/{jobid}', message)
    query = stateQuery(pageState(pageQuery(
        ctx.request.POST.get('back', ''))))
    location = f'/services/{entry.path}'
    if query:
        location += '?' + urllib.parse.urlencode(query)
    return redirect(ctx, location, message)


def destination(params) -> str:
    """Where a form goes back to, as its ``to`` says: ``home``, ``job``,
    or '' for the jobs page."""
    to = params.get('to', '')
    return to if to in ('home', 'job') else ''


def pageQuery(back: str) -> MultiDict:
    """The query of a page state a form carries (``back``)."""
    return MultiDict(urllib.parse.parse_qsl(back))


def pageState(query) -> dict:
    """The state of a jobs page in `query`: the listing's parameters,
    checked, and the column sorted by and its order."""
    state = pageParameters(query)
    state['q'] = state.pop('search')     # as the query string names it
    sort = query.get('sort') if query.get('sort') in SORTABLE else None
    order = 'desc' if query.get('order') == 'desc' else 'asc'
    return dict(state, sort=sort, order=order)


def stateQuery(state) -> dict:
    """The query string of a page state, without the defaults."""
    defaults = dict(status=None, task=None, tag=None, q=None, after=None,
                    limit=settings.PAGE_SIZE, sort=None, order='asc')
    return {k: state[k] for k in PAGE_STATE if state[k] != defaults[k]}


def stateUrl(base: str, state: dict, **changes) -> str:
    """The URL of the page at `base` in `state`, with `changes`."""
    query = stateQuery(dict(state, **changes))
    return base + ('?' + urllib.parse.urlencode(query) if query else '')
