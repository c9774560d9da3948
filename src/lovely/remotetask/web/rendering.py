"""How the dashboard's pages are made and answered: templates, headers,
error pages, static files, and the one-line messages shown after a change.

Pages are Chameleon templates (``templates/``), which escape every value
they show unless told otherwise; the only markup let through is what
`detail.renderDetail` and `charts` escape themselves.  After a change the
browser is sent on to a page (post/redirect/get) with a message, kept in a
cookie until that page shows it.
"""
import os
import urllib.parse

import webob
from chameleon import PageTemplateLoader

from lovely.remotetask.web import auth
from lovely.remotetask.web.auth import ADD, MANAGE
from lovely.remotetask.web.errors import HTTPError

HERE = os.path.dirname(__file__)
templates = PageTemplateLoader(os.path.join(HERE, 'templates'), '.pt')

FLASH_COOKIE = 'remotetask_flash'

_STATIC = {'dashboard.js': 'text/javascript', 'dashboard.css': 'text/css'}

_HTML_HEADERS = {
    'Content-Security-Policy': "default-src 'none'; script-src 'self'; "
    "style-src 'self'; img-src 'self'; connect-src 'self'; "
    "form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
    'X-Frame-Options': 'DENY',
}


def render(ctx, name: str, status: int = 200, **values) -> webob.Response:
    """The template `name` filled in; shows (and forgets) the message of
    the change before."""
    values.setdefault('title', 'Task services')
    values.setdefault('flash', flash(ctx))
    page = templates[name](
        url=ctx.url, csrf=ctx.csrfToken, identity=ctx.identity,
        canManage=ctx.allows(MANAGE), canAdd=ctx.allows(ADD),
        csrfField=auth.CSRF_FIELD,
        macros=templates['macros'].macros,
        parts=templates['parts'].macros, **values)
    response = html(page, status)
    if ctx.request.cookies.get(FLASH_COOKIE):
        response.delete_cookie(FLASH_COOKIE, path=ctx.url('/'))
    return response


def html(page: str, status: int = 200) -> webob.Response:
    # A lone surrogate (in a task's name, say) is shown escaped, not fatal.
    response = webob.Response(body=page.encode('utf-8', 'backslashreplace'),
                              status=status,
                              content_type='text/html', charset='utf-8')
    response.headers.update(_HTML_HEADERS)
    return response


def errorResponse(request, error, identity, app) -> webob.Response:
    """An error page; a page that needs a login sends the browser there."""
    if error.status == 401 and request.method == 'GET' and \
            app.authenticator.tokenLogin:
        target = request.script_name + '/login?' + urllib.parse.urlencode(
            dict(next=request.path_qs[len(request.script_name):]))
        return webob.Response(status=303, location=target)
    page = templates['error'](
        url=lambda path: request.script_name + path, title='Error',
        status=error.status, message=error.message, identity=identity,
        csrf=app.authenticator.csrfToken(identity), csrfField=auth.CSRF_FIELD,
        flash=None)
    response = html(page, error.status)
    response.headers.update(error.headers)
    return response


def static(ctx, name):
    if name not in _STATIC:
        raise HTTPError(404, f'nothing at /static/{name}')
    with open(os.path.join(HERE, 'static', name), 'rb') as f:
        response = webob.Response(body=f.read(), content_type=_STATIC[name],
                                  charset='utf-8')
    response.cache_control = 'no-cache'
    return response


def redirect(ctx, path: str, message: str) -> webob.Response:
    """To `path` (below the application), which will show `message`."""
    response = webob.Response(status=303, location=ctx.url(path))
    response.set_cookie(FLASH_COOKIE, urllib.parse.quote(
                            message, errors='backslashreplace'),
                        path=ctx.url('/'), httponly=True, samesite='lax')
    return response


def flash(ctx):
    message = ctx.request.cookies.get(FLASH_COOKIE)
    return urllib.parse.unquote(message) if message else None


def count(n: int, noun: str) -> str:
    """``1 job``, ``2 jobs``."""
    return f'{n} {noun}' + ('' if n == 1 else 's')
