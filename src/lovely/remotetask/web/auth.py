"""Who may do what: tokens with a right each, and the dashboard's sessions.

There are two rights a token carries.  ``read`` sees services and jobs;
``manage`` also adds, cancels, starts, edits and cleans.  The routes ask
for three: ``add`` (adding jobs) comes with ``manage``.  Inside Zope the
users and permissions of Zope decide instead (`lovely.remotetask.web.zope`
provides an authenticator of the same shape, whose identities answer
`Identity.may` per service).

- Scripts send the token as ``Authorization: Bearer TOKEN``, or as the
  password of HTTP Basic authentication (the user name is not looked at),
  which is what ``xmlrpc.client.ServerProxy('http://user:TOKEN@host/...')``
  sends.
- Browsers log in once with the token and then carry a signed session
  cookie.  A cookie is sent by the browser whatever page made the request,
  so every request that changes state and comes with a cookie must also
  carry the session's CSRF token (a form field or a header).
- Browsers also remember Basic credentials and send them whatever page
  made the request: a change with Basic credentials that a browser sends
  from a page of another origin is refused (see `access.checkOrigin`).
  Scripts send no ``Origin`` header and are not concerned; Bearer tokens
  need no check, as no other site can make a browser send one.

Logging out ends a session for good: its nonce is recorded in the database
until the session would have expired, and a cookie of an ended session is
no session, in every process that serves the database.

A session names its token by a fingerprint, not by the token itself, and
the right is looked up again on every request: a token removed from the
configuration stops working at once, session or not.
"""
import base64
import dataclasses
import hashlib
import hmac
import json
import os
import secrets
import time
from typing import Iterable, Mapping, Optional

from BTrees.OOBTree import OOBTree

from lovely.remotetask.web import settings

READ = 'read'
ADD = 'add'
MANAGE = 'manage'
#: Each right and the rights it includes.
_INCLUDES = {READ: {READ}, ADD: {READ, ADD}, MANAGE: {READ, ADD, MANAGE}}

SESSION_COOKIE = 'remotetask_session'
CSRF_FIELD = '_csrf'
CSRF_HEADER = 'X-CSRF-Token'

#: How a request was authenticated (`Identity.scheme`).
BEARER = 'bearer'
BASIC = 'basic'
SESSION = 'session'

#: The key, in the database's root, of the sessions ended by logging out.
ENDED_SESSIONS_KEY = 'lovely.remotetask.web.endedSessions'


class CredentialsError(ValueError):
    """Credentials that cannot be used: too short, of an unknown right."""


def allows(right: Optional[str], needed: Optional[str]) -> bool:
    """Whether holding `right` is enough for `needed` (None: public)."""
    return needed is None or (right is not None and needed in _INCLUDES[right])


def tokenRight(needed: str) -> str:
    """The right of the tokens that have `needed` (adding comes with
    manage: no token carries add alone)."""
    return MANAGE if needed == ADD else needed


def _fingerprint(token: str) -> str:
    return hashlib.sha256(token.encode('utf-8', 'surrogatepass')
                          ).hexdigest()[:32]


class Credentials:
    """The tokens that open the service, each with its right."""

    def __init__(self, manage: Iterable[str] = (),
                 read: Iterable[str] = ()) -> None:
        self._rights = {}
        for right, tokens in ((READ, read), (MANAGE, manage)):
            for token in tokens:
                if not isinstance(token, str) or \
                        len(token) < settings.MIN_TOKEN_LENGTH:
                    raise CredentialsError(
                        f'a {right} token must be a string of at least '
                        f'{settings.MIN_TOKEN_LENGTH} characters')
                self._rights[_fingerprint(token)] = right

    def __bool__(self) -> bool:
        return bool(self._rights)

    def rightOfToken(self, token: str) -> Optional[str]:
        """The right `token` carries, or None for an unknown token."""
        return self.rightOfFingerprint(_fingerprint(token))

    def rightOfFingerprint(self, fingerprint: str) -> Optional[str]:
        # Compared in constant time, though what is compared is a hash.
        found = None
        for known, right in self._rights.items():
            if _same(known, fingerprint):
                found = right
        return found

    @classmethod
    def generate(cls):
        """New credentials with one random manage token; return both."""
        token = secrets.token_urlsafe(32)
        return cls(manage=[token]), token

    @classmethod
    def fromEnvironment(cls, environ: Mapping[str, str] = os.environ):
        """The comma-separated tokens of ``REMOTETASK_MANAGE_TOKEN`` and
        ``REMOTETASK_READ_TOKEN``."""
        def tokens(name):
            return [t.strip() for t in environ.get(name, '').split(',')
                    if t.strip()]
        return cls(manage=tokens(settings.MANAGE_TOKEN_VARIABLE),
                   read=tokens(settings.READ_TOKEN_VARIABLE))

    @classmethod
    def fromFile(cls, path: str):
        """Lines of ``RIGHT TOKEN`` (``manage`` or ``read``); blank lines
        and lines starting with ``#`` are skipped."""
        found = {READ: [], MANAGE: []}
        if not os.path.isfile(path):
            raise CredentialsError(
                f'no credentials file {path!r}: write one with lines '
                f'"manage TOKEN" or "read TOKEN", each token of at least '
                f'{settings.MIN_TOKEN_LENGTH} characters')
        with open(path, encoding='utf-8') as lines:
            for number, line in enumerate(lines, 1):
                line = line.strip()
                if not line or line.startswith('#'):
                    continue
                parts = line.split()
                if len(parts) != 2 or parts[0] not in found:
                    raise CredentialsError(
                        f'{path}, line {number}: expected "manage TOKEN" or '
                        f'"read TOKEN"')
                found[parts[0]].append(parts[1])
        return cls(manage=found[MANAGE], read=found[READ])


@dataclasses.dataclass(frozen=True)
class Identity:
    """Who made a request: their right, and how they said so."""

    right: str
    #: The session's nonce when the request came with a session cookie;
    #: such requests need the CSRF token to change state.
    session: Optional[str] = None
    #: `BEARER`, `BASIC` or `SESSION`.
    scheme: str = BEARER
    #: When the session expires (epoch seconds), for sessions.
    expires: Optional[float] = None
    #: The user's id, for identities of a host's users (None: a token).
    user = None

    @property
    def label(self) -> str:
        """Who this is, for the page's header."""
        return f'{self.right} access'

    def mayAtAll(self, needed: Optional[str]) -> bool:
        """Whether this identity may ever have `needed` (routes that name
        no service ask this)."""
        return allows(self.right, needed)

    def may(self, needed: Optional[str], entry=None) -> bool:
        """Whether this identity has `needed` on the service of `entry`
        (a token's right is the same on every service)."""
        return allows(self.right, needed)

    def ownerFilter(self, entry) -> Optional[str]:
        """The owner whose jobs alone this identity sees of the service,
        or None for all of them."""
        return None

    def release(self) -> None:
        """The request is done (nothing to let go of for a token)."""


class CsrfSigner:
    """Signs and checks the CSRF tokens of identities with a session."""

    #: Whether ``/login`` takes a token (the standalone server).
    tokenLogin = False
    #: What a 401 without credentials says.
    credentialsNeeded = ('credentials are needed: a token as '
                         '"Authorization: Bearer TOKEN"')
    #: What to do instead of a change refused from another site.
    otherWay = ('log in to the dashboard, or send the token as '
                '"Authorization: Bearer TOKEN"')

    def __init__(self, secret: Optional[bytes] = None) -> None:
        # Without a configured secret, tokens die with the process.
        self._secret = secret or secrets.token_bytes(32)

    def csrfToken(self, identity) -> Optional[str]:
        """The CSRF token of a session, None for other identities."""
        if identity is None or identity.session is None:
            return None
        return self._sign('csrf:' + identity.session)

    def checkCsrf(self, identity, token: Optional[str]) -> bool:
        expected = self.csrfToken(identity)
        return expected is None or (isinstance(token, str) and _same(
            expected, token))

    def challenge(self, kind: str) -> dict:
        """The header of a 401 for a route of `kind`."""
        if kind == 'xmlrpc':
            return {'WWW-Authenticate': 'Basic realm="remotetask"'}
        return {'WWW-Authenticate': 'Bearer realm="remotetask"'}

    def _sign(self, data: str) -> str:
        return _b64(hmac.new(self._secret, data.encode(), 'sha256').digest())


class Authenticator(CsrfSigner):
    """Finds the identity of requests; issues and checks session cookies."""

    tokenLogin = True

    def __init__(self, credentials: Credentials,
                 secret: Optional[bytes] = None,
                 lifetime: float = settings.SESSION_LIFETIME) -> None:
        if not credentials:
            raise CredentialsError(
                'no credentials: give at least one manage or read token')
        super().__init__(secret)
        self.credentials = credentials
        self.lifetime = lifetime

    def identify(self, request, connection=None) -> Optional[Identity]:
        """The identity of `request`, or None.

        Raises `AuthenticationFailed` for an Authorization header that does
        not hold a known token: a wrong header is an error, not anonymity.
        """
        header = request.authorization
        if header is not None:
            token = _tokenOf(header)
            right = None if token is None else \
                self.credentials.rightOfToken(token)
            if right is None:
                raise AuthenticationFailed(
                    'the credentials given are not valid')
            basic = header.authtype.lower() == 'basic'
            return Identity(right, scheme=BASIC if basic else BEARER)
        cookie = request.cookies.get(SESSION_COOKIE)
        if cookie:
            return self.readSession(cookie)
        return None

    # Sessions

    def newSession(self, token: str) -> Optional[str]:
        """The cookie value of a new session for `token`, or None for a
        token that is not known."""
        if self.credentials.rightOfToken(token) is None:
            return None
        payload = dict(f=_fingerprint(token), n=secrets.token_urlsafe(16),
                       e=int(time.time() + self.lifetime))
        data = _b64(json.dumps(payload, separators=(',', ':')).encode())
        return f'{data}.{self._sign(data)}'

    def readSession(self, cookie: str) -> Optional[Identity]:
        data, _, signature = cookie.partition('.')
        if not _same(self._sign(data), signature):
            return None
        try:
            payload = json.loads(_unb64(data))
            fingerprint, nonce = payload['f'], payload['n']
            expires = payload['e']
            if expires < time.time():
                return None
            right = self.credentials.rightOfFingerprint(fingerprint)
        except (ValueError, KeyError, TypeError):
            return None
        if right is None or not isinstance(nonce, str):
            return None
        return Identity(right, session=nonce, scheme=SESSION,
                        expires=expires)


def endSession(connection, identity: Identity) -> None:
    """Record in the database that the session of `identity` ended, and
    forget the sessions that would have expired by now."""
    root = connection.root()
    ended = root.get(ENDED_SESSIONS_KEY)
    if ended is None:
        ended = root[ENDED_SESSIONS_KEY] = OOBTree()
    now = time.time()
    for nonce in [n for n, expires in ended.items() if expires < now]:
        del ended[nonce]
    ended[identity.session] = identity.expires


def sessionEnded(connection, identity: Identity) -> bool:
    """Whether the session of `identity` was ended by logging out."""
    ended = connection.root().get(ENDED_SESSIONS_KEY)
    return ended is not None and identity.session in ended


class AuthenticationFailed(Exception):
    """Credentials were sent and are wrong."""


def _tokenOf(header) -> Optional[str]:
    """The token of an Authorization header (Bearer, or Basic's password)."""
    scheme, value = header.authtype.lower(), header.params
    if not isinstance(value, str):
        return None
    if scheme == 'bearer':
        return value.strip()
    if scheme == 'basic':
        try:
            decoded = base64.b64decode(value.strip(), validate=True).decode()
        except (ValueError, UnicodeDecodeError):
            return None
        return decoded.partition(':')[2]
    return None


def _same(expected: str, given) -> bool:
    """Whether `given` is `expected`, compared in constant time; False for
    anything that is not a string of ASCII (compare_digest refuses them)."""
    if not isinstance(given, str):
        return False
    return hmac.compare_digest(expected.encode('utf-8'),
                               given.encode('utf-8', 'surrogatepass'))


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b'=').decode('ascii')


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + '=' * (-len(text) % 4))
