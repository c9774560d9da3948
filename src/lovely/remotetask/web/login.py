"""Logging in to the dashboard and out again.

A browser logs in once with a token (the form, or ``?token=`` in the URL
``remotetask serve`` prints) and then carries the signed session cookie
`auth` makes; logging out ends the session on the server too.  After
logging in the browser goes to the page it asked for, if that is a page
of this application.
"""
import re

import webob

from lovely.remotetask.web import auth
from lovely.remotetask.web.rendering import render


def loginForm(ctx):
    """The login form; ``?token=`` (the URL ``serve`` prints) logs in."""
    token = ctx.request.GET.get('token')
    if token:
        return _login(ctx, token, _safeNext(ctx.request.GET.get('next')))
    return render(ctx, 'login', next=_safeNext(ctx.request.GET.get('next')),
                  error=None, title='Log in')


def login(ctx):
    form = ctx.request.POST
    return _login(ctx, form.get('token', ''), _safeNext(form.get('next')))


def _login(ctx, token, next):
    cookie = ctx.app.authenticator.newSession(token.strip())
    if cookie is None:
        return render(ctx, 'login', status=401, next=next, title='Log in',
                      error='That token is not valid.')
    response = webob.Response(status=303, location=ctx.url(next))
    response.set_cookie(
        auth.SESSION_COOKIE, cookie,
        max_age=int(ctx.app.authenticator.lifetime),
        path=ctx.url('/'), httponly=True, samesite='lax',
        secure=ctx.request.scheme == 'https')
    return response


def logout(ctx):
    """End the session, on the server too: its cookie, its CSRF token and
    copies of them stop working at once."""
    if ctx.identity.session is not None:
        auth.endSession(ctx.connection, ctx.identity)
    response = webob.Response(status=303, location=ctx.url('/login'))
    response.delete_cookie(auth.SESSION_COOKIE, path=ctx.url('/'))
    return response


def _safeNext(next) -> str:
    """A path of this application to go to after logging in; nothing that
    leads elsewhere (``//host``, ``http:``) and nothing but printable ASCII,
    which is what a Location header can hold ('/' for anything else)."""
    if not next or not next.startswith('/') or next.startswith('//') \
            or '\\' in next or not _PRINTABLE.fullmatch(next):
        return '/'
    return next


_PRINTABLE = re.compile('[\x21-\x7e]*')
