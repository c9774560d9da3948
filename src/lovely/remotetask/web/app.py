"""The WSGI application: routing, credentials, and a transaction per request.

Each request gets a connection of its own to the database and one
transaction: a request that changes state commits when it succeeds, and
anything that goes wrong (an error response, an exception) aborts, so a
refused request changes nothing.  A request whose commit conflicts with
another writer is run again, a few times, from the start.

The three parts register their routes here: `api` (JSON under ``/api/``),
`xmlrpc` (``/xmlrpc/SERVICE``) and `dashboard` (HTML).
"""
import dataclasses
import logging
import re
from typing import Callable, Optional

import transaction
import webob
from transaction.interfaces import TransientError

from lovely.remotetask.exceptions import (
    InvalidArgumentError, JobStateError, RemoteTaskError, UnknownJobError)
from lovely.remotetask.folder import APPLICATION_ROOT_KEY
from lovely.remotetask.interfaces import ICronJob
from lovely.remotetask.web import auth, settings
from lovely.remotetask.locate import applicationRoot, findService

log = logging.getLogger('lovely.remotetask.web')

SAFE_METHODS = ('GET', 'HEAD', 'OPTIONS')


class HTTPError(Exception):
    """A response other than success: a status, a message, maybe details.

    `fields` ties messages to the fields of the request they are about.
    """

    def __init__(self, status: int, message: str, *, fields=None,
                 headers=None) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.fields = fields or {}
        self.headers = headers or {}


#: The status of each kind of error the service raises; the order matters,
#: the first that matches counts (UnknownJobError is a KeyError, the others
#: ValueErrors).
_STATUS_OF = ((UnknownJobError, 404), (JobStateError, 409),
              (RemoteTaskError, 400))


def httpError(error: RemoteTaskError) -> HTTPError:
    """The HTTP error for an error of the service."""
    for kind, status in _STATUS_OF:
        if isinstance(error, kind):
            return HTTPError(status, str(error))
    raise error


@dataclasses.dataclass
class Route:
    method: str
    template: str
    handler: Callable
    #: The right needed (`auth.READ`, `auth.MANAGE`) or None for public.
    right: Optional[str]
    #: Who renders its errors: 'api' (JSON), 'xmlrpc' or 'html'.
    kind: str
    pattern: re.Pattern = None

    def __post_init__(self):
        regex = re.sub(r'\\\{(\w+)\\\}', r'(?P<\1>[^/]+)',
                       re.escape(self.template))
        self.pattern = re.compile(f'^{regex}$')


class Router:
    """Routes by method and path template, ``/api/services/{service}``."""

    def __init__(self) -> None:
        self.routes = []

    def add(self, method, template, handler, right, kind) -> None:
        self.routes.append(Route(method, template, handler, right, kind))

    def match(self, method: str, path: str):
        """(route, params), or raise HTTPError 404 or 405."""
        allowed = []
        for route in self.routes:
            found = route.pattern.match(path)
            if found is None:
                continue
            if route.method == method or (method == 'HEAD'
                                          and route.method == 'GET'):
                return route, found.groupdict()
            allowed.append(route)
        if allowed:
            raise HTTPError(
                405, f'{method} is not allowed on {path}',
                headers={'Allow': ', '.join(
                    sorted({r.method for r in allowed}))})
        raise HTTPError(404, f'nothing at {path}')

    def kindOf(self, path: str) -> str:
        """Who renders an error for a path no route matched."""
        if path.startswith('/api/') or path == '/api':
            return 'api'
        if path.startswith('/xmlrpc/'):
            return 'xmlrpc'
        return 'html'


class Context:
    """What a handler works with: the request, the database, the identity."""

    def __init__(self, app, request, connection, tm, identity) -> None:
        self.app = app
        self.request = request
        self.connection = connection
        self.tm = tm
        self.identity = identity

    @property
    def root(self):
        """Where service paths start (see `locate.applicationRoot`)."""
        return applicationRoot(self.connection, self.app.rootKey)

    def service(self, path: str):
        """The `ServiceEntry` at `path`, or HTTPError 404."""
        try:
            entry = findService(self.root, path)
        except InvalidArgumentError:   # a malformed path names nothing
            entry = None
        if entry is None:
            raise HTTPError(404, f'no task service {path!r}')
        return entry

    def job(self, entry, text: str):
        """The job of a service whose id is `text`, or HTTPError 400/404."""
        jobid = parseJobId(text)
        job = entry.service.jobs.get(jobid)
        if job is None:
            raise HTTPError(404, f'no job with id {jobid} in service '
                            f'{entry.path!r}')
        return job

    def cronJob(self, entry, text: str):
        """Like `job`, and HTTPError 409 for a job that is no cron job."""
        found = self.job(entry, text)
        if not ICronJob.providedBy(found):
            raise HTTPError(409, f'job {found.id} is not a cron job')
        return found

    def allows(self, right: str) -> bool:
        return self.identity is not None and auth.allows(
            self.identity.right, right)

    def require(self, right: str) -> None:
        if not self.allows(right):
            raise HTTPError(403, f'this needs the {right} right')

    @property
    def csrfToken(self) -> Optional[str]:
        return self.app.authenticator.csrfToken(self.identity)

    def url(self, path: str) -> str:
        """An absolute path below where the application is mounted."""
        return self.request.script_name + path

    def commitBatch(self) -> None:
        """Commit what was done so far and go on in a new transaction.

        For the few operations that work in batches (cancel all): each
        batch that committed stays done, even if a later one fails.
        """
        self.tm.commit()
        self.tm.begin()


def parseJobId(text: str) -> int:
    try:
        jobid = int(text)
    except ValueError:
        raise HTTPError(400, f'a job id is an int, not {text!r}') from None
    if not 0 <= jobid < 2**31:
        raise HTTPError(404, f'no job with id {jobid}: job ids are in '
                        f'[0, 2**31)')
    return jobid


class Application:
    """The Web service of the task services in one database."""

    def __init__(self, db, *, credentials: auth.Credentials,
                 rootKey: str = APPLICATION_ROOT_KEY,
                 maxBodySize: int = settings.MAX_BODY_SIZE,
                 secret: Optional[bytes] = None,
                 attempts: int = settings.ATTEMPTS) -> None:
        # Imported here: each part imports `app` for its base classes.
        from lovely.remotetask.web import api, dashboard, xmlrpc
        self.db = db
        self.rootKey = rootKey
        self.maxBodySize = maxBodySize
        self.attempts = attempts
        self.authenticator = auth.Authenticator(credentials, secret)
        self.router = Router()
        api.register(self.router)
        xmlrpc.register(self.router)
        dashboard.register(self.router)
        self.renderers = {'api': api.errorResponse,
                          'xmlrpc': xmlrpc.errorResponse,
                          'html': dashboard.errorResponse}

    def __call__(self, environ, start_response):
        request = webob.Request(environ)
        response = self.handle(request)
        for name, value in _SECURITY_HEADERS.items():
            response.headers.setdefault(name, value)
        return response(environ, start_response)

    def handle(self, request) -> webob.Response:
        kind = self.router.kindOf(request.path_info)
        identity = None
        try:
            self._readBody(request)
            route, params = self.router.match(request.method,
                                              request.path_info)
            kind = route.kind
            identity = self._authorize(request, route)
            return self._run(request, route, params, identity)
        except HTTPError as error:
            return self.renderers[kind](request, error, identity, self)

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

    def _authorize(self, request, route) -> Optional[auth.Identity]:
        try:
            identity = self.authenticator.identify(request)
        except auth.AuthenticationFailed as error:
            raise HTTPError(401, str(error),
                            headers=_challenge(route)) from None
        if not auth.allows(identity and identity.right, route.right):
            if identity is None:
                raise HTTPError(401, 'credentials are needed: a token as '
                                '"Authorization: Bearer TOKEN"',
                                headers=_challenge(route))
            raise HTTPError(403, f'this needs the {route.right} right; the '
                            f'credentials given have the {identity.right} '
                            f'right')
        if request.method not in SAFE_METHODS and identity is not None \
                and identity.session is not None:
            token = request.headers.get(auth.CSRF_HEADER) or \
                request.POST.get(auth.CSRF_FIELD)
            if not self.authenticator.checkCsrf(identity, token):
                raise HTTPError(403, 'the form is missing its CSRF token or '
                                'has a wrong one: reload the page and try '
                                'again')
        return identity

    def _run(self, request, route, params, identity) -> webob.Response:
        """Run the handler in a transaction; retry conflicts."""
        for attempt in range(1, self.attempts + 1):
            tm = transaction.TransactionManager()
            connection = self.db.open(transaction_manager=tm)
            try:
                tm.begin()
                context = Context(self, request, connection, tm, identity)
                try:
                    response = route.handler(context, **params)
                except RemoteTaskError as error:
                    raise httpError(error) from error
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


def _challenge(route) -> dict:
    if route.kind == 'xmlrpc':
        return {'WWW-Authenticate': 'Basic realm="remotetask"'}
    return {'WWW-Authenticate': 'Bearer realm="remotetask"'}


_SECURITY_HEADERS = {
    'X-Content-Type-Options': 'nosniff',
    'Referrer-Policy': 'no-referrer',
    'Cache-Control': 'no-store',
}


def makeApp(db, *, credentials: auth.Credentials, **options) -> Application:
    """The WSGI application serving the task services of `db`.

    `credentials` says which tokens may read and which may manage (see
    `auth.Credentials`); `options` are those of `Application`:
    ``rootKey``, ``maxBodySize``, ``secret`` (bytes signing the dashboard's
    sessions; random per process by default) and ``attempts``.
    """
    return Application(db, credentials=credentials, **options)
