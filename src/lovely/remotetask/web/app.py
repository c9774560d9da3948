"""The WSGI application: a request's way through, in a transaction.

A request is checked to be readable (a UTF-8 path and query, a body under
the limit, a form that parses), routed (`routing`), authorized (`access`)
and handed to its handler with a `Context`.  Each request gets a
connection of its own to the database and one transaction: a request that
changes state commits when it succeeds, and anything that goes wrong (an
error response, an exception) aborts, so a refused request changes
nothing.  A request whose commit conflicts with another writer is run
again, a few times, from the start.  An `errors.HTTPError` is answered
by the part the path belongs to, in its own format.

The three parts register their routes here: `api` (JSON under ``/api/``),
`xmlrpc` (``/xmlrpc/SERVICE``) and `dashboard` (HTML).
"""
import logging
import urllib.parse
from typing import Optional

import transaction
import webob
from transaction.interfaces import TransientError

from lovely.remotetask.exceptions import RemoteTaskError
from lovely.remotetask.hosts.folder import APPLICATION_ROOT_KEY
from lovely.remotetask.web import (
    api, apibulk, apiflows, auth, dashboard, history, jobchanges, livepage,
    rendering, settings, xmlrpc)
from lovely.remotetask.web.access import IDENTITY, SAFE_METHODS, authorize
from lovely.remotetask.web.context import Context
from lovely.remotetask.web.errors import HTTPError, httpError
from lovely.remotetask.web.parsing import shown
from lovely.remotetask.web.routing import Router

log = logging.getLogger('lovely.remotetask.web')


class Application:
    """The Web service of the task services in one database."""

    def __init__(self, db, *, credentials: Optional[auth.Credentials] = None,
                 rootKey: str = APPLICATION_ROOT_KEY,
                 maxBodySize: int = settings.MAX_BODY_SIZE,
                 secret: Optional[bytes] = None,
                 attempts: int = settings.ATTEMPTS,
                 authenticator=None) -> None:
        self.db = db
        self.rootKey = rootKey
        self.maxBodySize = maxBodySize
        self.attempts = attempts
        # Tokens, or the host's users (`zopeweb.ZopeAuthenticator`).
        self.authenticator = authenticator or auth.Authenticator(
            credentials, secret)
        self.router = Router()
        api.register(self.router)
        jobchanges.register(self.router)
        apiflows.register(self.router)
        apibulk.register(self.router)
        xmlrpc.register(self.router)
        dashboard.register(self.router)
        history.register(self.router)
        livepage.register(self.router)
        self.renderers = {'api': api.errorResponse,
                          'xmlrpc': xmlrpc.errorResponse,
                          'html': rendering.errorResponse}

    def __call__(self, environ, start_response):
        request = webob.Request(environ)
        try:
            response = self.handle(request)
        except Exception:
            # The last resort: whatever else failed, the client gets an
            # answer and the log the details.
            log.exception('%s %s failed', environ.get('REQUEST_METHOD'),
                          environ.get('PATH_INFO'))
            response = webob.Response(
                body=b'internal error; the server log has the details',
                status=500, content_type='text/plain', charset='utf-8')
        for name, value in _SECURITY_HEADERS.items():
            response.headers.setdefault(name, value)
        location = response.headers.get('Location')
        if location is not None:   # a service's name may be any text
            response.headers['Location'] = urllib.parse.quote(
                location, safe=_URL_CHARACTERS, errors='backslashreplace')
        # Not response(environ, start_response): WebOb would turn a relative
        # Location into an absolute one built from the Host header, which is
        # whatever the client said.  Locations stay paths.
        start_response(response.status, response.headerlist)
        if environ['REQUEST_METHOD'] == 'HEAD':
            return []
        return response.app_iter

    def handle(self, request) -> webob.Response:
        # The raw path: it may not decode (_checkRequest says so).
        kind = self.router.kindOf(request.environ.get('PATH_INFO', ''))
        try:
            _checkRequest(request)
            self._readBody(request)
            _checkForm(request)
            route, params = self.router.match(request.method,
                                              request.path_info)
            kind = route.kind
            return self._run(request, route, params)
        except HTTPError as error:
            return self.renderers[kind](request, error,
                                        request.environ.get(IDENTITY), self)

    def _readBody(self, request) -> None:
        """Refuse a body over the limit before it is read (413)."""
        length = request.content_length
        too_big = HTTPError(413, f'the request body is over the limit of '
                            f'{self.maxBodySize} bytes')
        if length is not None:
            if length > self.maxBodySize:
                raise too_big
        elif request.is_body_readable:
            body = request.body_file_raw.read(self.maxBodySize + 1)
            if len(body) > self.maxBodySize:
                raise too_big
            request.body = body

    def _run(self, request, route, params) -> webob.Response:
        """Authorize and run the handler in a transaction; retry
        conflicts."""
        for attempt in range(1, self.attempts + 1):
            tm = transaction.TransactionManager()
            connection = self.db.open(transaction_manager=tm)
            try:
                tm.begin()
                # In the transaction: whether a session was ended by
                # logging out is in the database.
                identity = authorize(self.authenticator, request, route,
                                     connection)
                context = Context(self, request, connection, tm, identity,
                                  route)
                try:
                    response = route.handler(context, **params)
                except RemoteTaskError as error:
                    raise httpError(error) from error
                finally:
                    if identity is not None:
                        identity.release()
                if request.method in SAFE_METHODS or tm.isDoomed() \
                        or response.status_code >= 400:
                    tm.abort()
                else:
                    tm.commit()
                return response
            except TransientError as error:
                tm.abort()
                log.info('%s %s conflicted (attempt %s of %s): %s',
                         request.method, request.path_info, attempt,
                         self.attempts, error)
            except HTTPError:
                tm.abort()
                raise
            except Exception:
                tm.abort()
                log.exception('%s %s failed', request.method,
                              request.path_info)
                raise HTTPError(500, 'internal error; the server log has '
                                'the details') from None
            finally:
                connection.close()
        raise HTTPError(503, 'the database was busy with conflicting '
                        'changes; try again', headers={'Retry-After': '1'})


def _checkRequest(request) -> None:
    """HTTPError 400 for a path or query string that is not UTF-8.

    WebOb decodes them when first asked, and would raise from wherever
    that is; forms and cookies it decodes leniently.
    """
    for part, name in ((lambda: request.script_name, 'path'),
                       (lambda: request.path_info, 'path'),
                       (lambda: request.GET, 'query string')):
        try:
            part()
        except UnicodeDecodeError as error:
            raise HTTPError(400, f'the {name} is not valid UTF-8 once '
                            f'percent-decoded ({error.reason} at byte '
                            f'{error.start})') from None


def _checkForm(request) -> None:
    """HTTPError 400 for a form body that cannot be parsed (a multipart
    body without its boundary, say), before a handler asks for it."""
    try:
        request.POST
    except DeprecationWarning:   # what WebOb raises for another charset
        raise HTTPError(400, f'a form is sent in UTF-8, not '
                        f'{shown(request.charset)}') from None
    except ValueError as error:
        raise HTTPError(400, f'the form cannot be read: {error}') from None


#: What a URL may hold as it is: reserved characters and '%' (the other
#: characters that need no escaping, quote keeps anyway).
_URL_CHARACTERS = "%:/?#[]@!$&'()*+,;="

_SECURITY_HEADERS = {
    'X-Content-Type-Options': 'nosniff',
    # Not no-referrer: with it, browsers send "Origin: null" from the
    # application's own forms, which access.checkOrigin would refuse.
    'Referrer-Policy': 'same-origin',
    'Cache-Control': 'no-store',
}


def makeApp(db, *, credentials: Optional[auth.Credentials] = None,
            **options) -> Application:
    """The WSGI application serving the task services of `db`.

    `credentials` says which tokens may read and which may manage (see
    `auth.Credentials`); `options` are those of `Application`:
    ``rootKey``, ``maxBodySize``, ``secret`` (bytes signing the dashboard's
    sessions; random per process by default), ``attempts``, and
    ``authenticator`` instead of `credentials` (Zope's users:
    `lovely.remotetask.web.zope`).
    """
    return Application(db, credentials=credentials, **options)
