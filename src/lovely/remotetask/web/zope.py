"""The Web service inside Zope: Zope's users log in, Zope's permissions
decide (the standalone server's tokens have no part here).

A request's credentials (HTTP Basic, or a login cookie such as Plone's)
are checked by the user folders above each service, innermost first, as
Zope's publisher does: a Plone user is known in the Plone site, a Manager
of the root folder everywhere.  Each action then needs its permission on
the service (`zopesecurity`): reading needs "View jobs", or "View own
jobs", which shows only the jobs the user added; adding needs "Add jobs";
everything else "Manage task service".  A job added through the Web
service belongs to the user who added it (`zope.currentZopeUser`).

Credentials a browser sends by itself are kept from other sites' pages:
changes with a login cookie carry a CSRF token (a keyed hash of the
user's id, as plone.protect makes them), changes with Basic credentials
come from no page of another site.
"""
import hashlib
import io
from typing import Optional

from AccessControl import SpecialUsers
from AccessControl.SecurityManagement import (
    getSecurityManager, newSecurityManager, setSecurityManager)
from Acquisition import aq_base, aq_chain
from ZPublisher.BaseRequest import RequestContainer
from zope.component.hooks import getSite, setSite
from zope.component.interfaces import ISite
from ZPublisher.HTTPRequest import HTTPRequest
from ZPublisher.HTTPResponse import HTTPResponse

from lovely.remotetask import paths
from lovely.remotetask.hosts import locate
from lovely.remotetask.hosts.zope import ZOPE_ROOT_KEY, contextOf
from lovely.remotetask.web import auth
from lovely.remotetask.web.mounting import PrefixMount
from lovely.remotetask.hosts.zopesecurity import (
    ADD_JOBS, MANAGE_SERVICE, VIEW_JOBS, VIEW_OWN_JOBS)

#: How the Web service was logged in with a cookie of Zope's (`Identity.
#: scheme`); such changes need the CSRF token.
COOKIE = 'cookie'

#: The permissions that give each right of the Web service.
PERMISSIONS = {auth.READ: (VIEW_JOBS, VIEW_OWN_JOBS), auth.ADD: (ADD_JOBS,),
               auth.MANAGE: (MANAGE_SERVICE,)}


class ZopeAuthenticator(auth.CsrfSigner):
    """Finds the Zope user of a request (`ZopeIdentity`)."""

    credentialsNeeded = ('log in first: this Web service uses the users of '
                         'Zope (HTTP Basic, or the login of your site)')
    otherWay = 'send the change from the dashboard, or from a script'

    def __init__(self, secret: Optional[bytes] = None,
                 rootKey: str = ZOPE_ROOT_KEY) -> None:
        super().__init__(secret)
        self.rootKey = rootKey

    def challenge(self, kind: str) -> dict:
        return {'WWW-Authenticate': 'Basic realm="Zope"'}

    def newSession(self, token):
        return None   # no token login here

    def identify(self, request, connection=None):
        """The Zope user the request's credentials name, or None; raise
        `auth.AuthenticationFailed` for credentials no user folder takes
        (or a token, which means nothing here)."""
        header = request.authorization
        if header is not None and header.authtype.lower() != 'basic':
            raise auth.AuthenticationFailed(
                'tokens are for the standalone server: inside Zope, send '
                'the credentials of a Zope user (HTTP Basic)')
        app = connection.root().get(self.rootKey)
        if app is None:
            return None
        identity = ZopeIdentity(request.environ, app, self.rootKey,
                                basic=header is not None)
        user = identity.someUser()
        if user is None:
            if header is not None:
                raise auth.AuthenticationFailed(
                    'no user folder knows the credentials given')
            return None
        identity.user = user.getId()
        if header is None:
            identity.session = 'zope:' + hashlib.sha256(
                identity.user.encode('utf-8')).hexdigest()
        return identity


class ZopeIdentity:
    """A Zope user, whose rights are looked up on each service."""

    right = None
    expires = None

    def __init__(self, environ: dict, app, rootKey: str,
                 basic: bool) -> None:
        self.request = _zopeRequest(environ)
        self.app = app.__of__(RequestContainer(REQUEST=self.request))
        self.rootKey = rootKey
        self.scheme = auth.BASIC if basic else COOKIE
        self.user = None
        self.session = None
        self._users = {}     # path of a user folder's place -> user
        self._oldSecurity = getSecurityManager()

    @property
    def label(self) -> str:
        return f'{self.user} (Zope)'

    def mayAtAll(self, needed) -> bool:
        return True   # decided on each service

    def may(self, needed, entry=None) -> bool:
        if needed is None:
            return True
        if entry is None:
            return False
        return any(self._has(permission, entry)
                   for permission in PERMISSIONS[needed])

    def ownerFilter(self, entry) -> Optional[str]:
        if entry is None or self._has(VIEW_JOBS, entry):
            return None
        # Those who may see only their own (or nothing: '' owns no job).
        return self.user if self._has(VIEW_OWN_JOBS, entry) else ''

    def release(self) -> None:
        setSecurityManager(self._oldSecurity)

    # Users and permissions

    def someUser(self):
        """The user the credentials name in the root folder, else in the
        folders above any service: None when no folder knows them."""
        user = self._userAbove(self.app)
        if user is not None:
            return user
        for entry in locate.listServices(self.app):
            user = self._userAbove(self._context(entry))
            if user is not None:
                return user
        return None

    def _has(self, permission: str, entry) -> bool:
        context = self._context(entry)
        user = self._userAbove(context)
        if user is None:
            return False
        # The job the request adds is the user's (currentZopeUser).
        newSecurityManager(self.request, user)
        return bool(getSecurityManager().checkPermission(permission,
                                                         context))

    def _context(self, entry):
        """The service wrapped in its place in the tree, for permissions
        (the site, for one registered in a site manager)."""
        container = contextOf(self.app, paths.splitPath(entry.path),
                              entry.service)
        if container is None:
            return self.app
        if hasattr(aq_base(entry.service), '__of__'):
            return aq_base(entry.service).__of__(container)
        return container

    def _userAbove(self, obj):
        """The user of the innermost user folder above `obj` that knows
        the credentials, as Zope's publisher finds it; None for none."""
        key = '/'.join(str(id(o)) for o in aq_chain(obj))
        if key in self._users:
            return self._users[key]
        chain = aq_chain(obj)
        found = None
        request = self.request
        request['PUBLISHED'] = obj
        request['PARENTS'] = chain[1:] or [obj]
        request.steps = [getattr(obj, 'getId', lambda: '')() or 'service']
        security, oldSite = getSecurityManager(), getSite()
        try:
            for place in chain:
                folder = getattr(aq_base(place), '__allow_groups__', None)
                if folder is None:
                    continue
                folder = place.__allow_groups__
                # A site's user folder finds its keys (Plone's login
                # cookie is signed) among the site's components.
                setSite(next((o for o in aq_chain(place)
                              if ISite.providedBy(o)), None))
                user = folder.validate(request, request._auth, None)
                if user is not None:
                    found = user
                    break
        finally:
            setSecurityManager(security)
            setSite(oldSite)
        if found is not None and (
                aq_base(found) is aq_base(SpecialUsers.nobody)
                or found.getUserName() == 'Anonymous User'):
            found = None
        self._users[key] = found
        return found


def _zopeRequest(environ: dict) -> HTTPRequest:
    """A Zope request for the user folders to read credentials from: the
    headers and cookies of the Web service's request, without its body."""
    environ = {key: value for key, value in environ.items()
               if isinstance(value, str)}
    environ['REQUEST_METHOD'] = 'GET'
    environ.pop('CONTENT_LENGTH', None)
    environ.pop('CONTENT_TYPE', None)
    environ['QUERY_STRING'] = ''
    response = HTTPResponse(stdout=io.BytesIO())
    request = HTTPRequest(io.BytesIO(), environ, response)
    request.processInputs()
    return request


# The Web service in Zope's WSGI pipeline

def webFilter(app, global_conf=None, prefix: str = '/remotetask',
              credentials: Optional[str] = None,
              root_key: str = ZOPE_ROOT_KEY, secret: Optional[str] = None):
    """A PasteDeploy filter (``use = egg:lovely.remotetask#zope``) that
    serves the Web service of Zope's database below `prefix`.

    Zope's users log in (HTTP Basic, or the login cookie of the site, as
    Plone's) and Zope's permissions decide what each may do on each
    service (`ZopeAuthenticator`).  `secret` signs the CSRF tokens of the
    pages; give every process of a cluster the same (random per process by
    default).
    """
    if credentials:
        raise ValueError(
            f'credentials = {credentials}: inside Zope the Web service '
            f'uses the users and permissions of Zope, not tokens; remove '
            f'the credentials line from the [filter] section')
    authenticator = ZopeAuthenticator(
        secret.encode('utf-8') if secret else None, rootKey=root_key)

    def makeWeb():
        import Zope2

        from lovely.remotetask.web import makeApp
        return makeApp(Zope2.DB, authenticator=authenticator,
                       rootKey=root_key)

    return PrefixMount(app, prefix, makeWeb)
