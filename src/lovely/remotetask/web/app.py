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
import urllib.parse
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
from lovely.remotetask.web.errors import HTTPError
from lovely.remotetask.web.parsing import shown

log = logging.getLogger('lovely.remotetask.web')

SAFE_METHODS = ('GET', 'HEAD', 'OPTIONS')

#: The environ key of the request's identity, once it is known.
IDENTITY = 'lovely.remotetask.identity'


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
            raise HTTPError(404, f'no task service {shown(path)}')
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


#: Job ids are the keys of 32-bit BTrees: ints in [0, 2**31).
MAX_JOB_ID = 2**31 - 1


def parseJobId(text: str) -> int:
    jobid = None
    if len(text) <= settings.MAX_NUMBER_LENGTH:
        try:
            jobid = int(text)
        except ValueError:
            pass
    if jobid is None:
        raise HTTPError(400, f'a job id is an int, not {shown(text)}')
    if not 0 <= jobid <= MAX_JOB_ID:
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

    def _authorize(self, request, route, connection
                   ) -> Optional[auth.Identity]:
        try:
            identity = self.authenticator.identify(request)
        except auth.AuthenticationFailed as error:
            raise HTTPError(401, str(error),
                            headers=_challenge(route)) from None
        if identity is not None and identity.session is not None and \
                auth.sessionEnded(connection, identity):
            identity = None   # logged out: the cookie is no session
        request.environ[IDENTITY] = identity
        if not auth.allows(identity and identity.right, route.right):
            if identity is None:
                raise HTTPError(401, 'credentials are needed: a token as '
                                '"Authorization: Bearer TOKEN"',
                                headers=_challenge(route))
            raise HTTPError(403, f'this needs the {route.right} right; the '
                            f'credentials given have the {identity.right} '
                            f'right')
        if request.method not in SAFE_METHODS and identity is not None:
            _checkOrigin(self.authenticator, request, identity)
        return identity

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
                identity = self._authorize(request, route, connection)
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


def _checkOrigin(authenticator, request, identity) -> None:
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
    elif identity.scheme == auth.BASIC:
        other = _otherSite(request)
        if other is not None:
            raise HTTPError(
                403, f'refused: a page of another site ({other}) may not '
                f'change anything with the HTTP Basic credentials a browser '
                f'keeps; log in to the dashboard, or send the token as '
                f'"Authorization: Bearer TOKEN"')


def _otherSite(request) -> Optional[str]:
    """The header that says a browser sent `request` from a page of
    another origin, or None."""
    site = request.headers.get('Sec-Fetch-Site')
    if site is not None:
        return None if site == 'same-origin' else \
            f'Sec-Fetch-Site: {site[:40]}'
    origin = request.headers.get('Origin')
    if origin is None:
        return None
    try:
        parts = urllib.parse.urlsplit(origin)
        same = parts.scheme in _DEFAULT_PORTS and not parts.path and \
            _hostAndPort(parts.netloc, parts.scheme) == \
            _hostAndPort(request.host, parts.scheme)
    except ValueError:
        same = False
    return None if same else f'Origin: {origin[:60]}'


_DEFAULT_PORTS = {'http': 80, 'https': 443}


def _hostAndPort(netloc: str, scheme: str):
    parts = urllib.parse.urlsplit(f'//{netloc}')
    return parts.hostname, parts.port or _DEFAULT_PORTS[scheme]


def _challenge(route) -> dict:
    if route.kind == 'xmlrpc':
        return {'WWW-Authenticate': 'Basic realm="remotetask"'}
    return {'WWW-Authenticate': 'Bearer realm="remotetask"'}


#: What a URL may hold as it is: reserved characters and '%' (the other
#: characters that need no escaping, quote keeps anyway).
_URL_CHARACTERS = "%:/?#[]@!$&'()*+,;="

_SECURITY_HEADERS = {
    'X-Content-Type-Options': 'nosniff',
    # Not no-referrer: with it, browsers send "Origin: null" from the
    # application's own forms, which _checkOrigin would refuse.
    'Referrer-Policy': 'same-origin',
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
