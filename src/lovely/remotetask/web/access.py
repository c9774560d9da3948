"""Whether a request may run its route: credentials, the route's right,
and, for a change, that no page of another site made a browser send it.

`auth` knows tokens, sessions and rights; this applies them to a request,
answering 401 (with a challenge) without credentials and 403 without the
right or for a change from elsewhere.
"""
from typing import Optional

from lovely.remotetask.origins import crossSite
from lovely.remotetask.web import auth
from lovely.remotetask.web.errors import HTTPError

#: The methods that change nothing: no origin check, and no commit.
SAFE_METHODS = ('GET', 'HEAD', 'OPTIONS')

#: The environ key of the request's identity, once it is known.
IDENTITY = 'lovely.remotetask.identity'


def authorize(authenticator: auth.Authenticator, request, route,
              connection) -> Optional[auth.Identity]:
    """The identity of `request` (None: anonymous), if it may run `route`;
    HTTPError 401 or 403 if not.  Run in the request's transaction:
    whether a session was ended by logging out is in the database.

    A route that names a service is checked again on that service when
    the handler looks it up (`Context.service`): in Zope, rights differ
    from service to service.
    """
    try:
        identity = authenticator.identify(request, connection)
    except auth.AuthenticationFailed as error:
        raise HTTPError(401, str(error), headers=authenticator.challenge(
            route.kind)) from None
    if identity is not None and identity.session is not None and \
            identity.scheme == auth.SESSION and \
            auth.sessionEnded(connection, identity):
        identity = None   # logged out: the cookie is no session
    request.environ[IDENTITY] = identity
    if route.right is not None and identity is None:
        raise HTTPError(401, authenticator.credentialsNeeded,
                        headers=authenticator.challenge(route.kind))
    if route.right is not None and not identity.mayAtAll(route.right):
        raise HTTPError(403, f'this needs the {auth.tokenRight(route.right)}'
                        f' right; the credentials given have the '
                        f'{identity.right} right')
    if request.method not in SAFE_METHODS and identity is not None:
        checkOrigin(authenticator, request, identity)
    return identity


def checkOrigin(authenticator, request, identity) -> None:
    """Refuse a change that a page of another site made a browser send.

    Browsers add two kinds of credentials by themselves, whichever page
    made the request: the session cookie, and HTTP Basic credentials they
    were once given.  A session's changes carry its CSRF token, which only
    the application's own pages know.  Basic changes must come from no page
    at all (a script: no ``Sec-Fetch-Site`` or ``Origin`` header) or from
    one of this origin.  Bearer tokens need neither: no page can make a
    browser send one.
    """
    if identity.session is not None:
        token = request.headers.get(auth.CSRF_HEADER) or \
            request.POST.get(auth.CSRF_FIELD)
        if not authenticator.checkCsrf(identity, token):
            raise HTTPError(403, 'the form is missing its CSRF token or has '
                            'a wrong one: reload the page and try again')
    elif identity.scheme != auth.BEARER:
        other = _otherSite(request)
        if other is not None:
            raise HTTPError(
                403, f'refused: a page of another site ({other}) may not '
                f'change anything with the HTTP Basic credentials a browser '
                f'keeps; {authenticator.otherWay}')


def _otherSite(request) -> Optional[str]:
    """The header that says a browser sent `request` from a page of
    another origin, or None."""
    return crossSite(request.headers.get('Sec-Fetch-Site'),
                     request.headers.get('Origin'), request.host)
