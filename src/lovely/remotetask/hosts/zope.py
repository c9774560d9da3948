"""Zope (4 and later, Plone too): services in the OFS tree, tasks that run
in their site as a user, the Web service in Zope's WSGI pipeline.

- `TaskService` is the service as an OFS item: ``folder._setObject('tasks',
  TaskService('tasks'))`` keeps it in a folder, where the ZMI lists it.  A
  plain `lovely.remotetask.TaskService` may also be registered as a named
  `ITaskService` utility in a site's site manager, as the seed did.
- ``<include package="lovely.remotetask" />`` subscribes autostart to
  Zope's start: ``<product-config lovely.remotetask> autostart ...`` in
  zope.conf says which services process (see `autostart`).
- `ZopeTask` runs a function as Zope code runs in a request: with the
  service's site set (``zope.component.hooks.getSite()``), a request, and
  the security context of a user.
- `webFilter` mounts the Web service at a prefix of Zope's WSGI pipeline.

This module imports Zope; the rest of the package does not need it.
"""
import contextlib
import importlib
import logging
import threading
from typing import Callable, Optional

from AccessControl.SecurityManagement import (
    getSecurityManager, newSecurityManager, noSecurityManager,
    setSecurityManager)
from AccessControl import SpecialUsers
from Acquisition import Explicit, Implicit, aq_base, aq_chain, aq_parent
from OFS.SimpleItem import SimpleItem
from zope.component.hooks import getSite, setSite
from zope.component.interfaces import ISite
from zope.interface import implementer

from lovely.remotetask import paths
from lovely.remotetask.hosts import containers, locate
from lovely.remotetask.exceptions import TaskError
from lovely.remotetask.interfaces import ITask
from lovely.remotetask.service import TaskService as _TaskService
from lovely.remotetask.task import SimpleTask

log = logging.getLogger('lovely.remotetask')

# Importing it sets SpecialUsers.system and .nobody.
importlib.import_module('AccessControl.users')

#: Where Zope keeps its application in the database root.
ZOPE_ROOT_KEY = 'Application'

#: Run a `ZopeTask` as Zope's own unrestricted system user.
SYSTEM = 'System Processes'


class TaskService(SimpleItem, _TaskService):
    """A task service that lives in the OFS tree like any Zope item."""

    meta_type = 'Remote Task Service'
    zmi_icon = 'fas fa-tasks'

    def __init__(self, id: str, title: str = '') -> None:
        _TaskService.__init__(self)
        self.id = id
        self.title = title

    def __repr__(self):
        return f'<{type(self).__name__} {self.id!r}>'


def manage_addTaskService(container, id: str, title: str = '') -> TaskService:
    """Add a `TaskService` called `id` to an OFS container; return it."""
    container._setObject(id, TaskService(id, title))
    return container._getOb(id)


@implementer(ITask)
class ZopeTask(SimpleTask):
    """Calls ``func(context, input)`` in the Zope tree, as a request would.

    `context` is the service's container (for a service registered in a
    site manager, the site), wrapped for acquisition in the application
    and a request.  Meanwhile the nearest site above the service is set
    (``getSite()``; a Plone site sets up what Plone's code looks up), and
    the call runs as `user`: the id or login of a user of the nearest user
    folder that knows it, `SYSTEM` for Zope's unrestricted system user,
    or None (the default) for Anonymous.  What the function changes is
    committed with the job's result, or dropped when it fails.
    """

    def __init__(self, func: Callable, user: Optional[str] = None, *,
                 rootKey: str = ZOPE_ROOT_KEY, **options) -> None:
        super().__init__(func, **options)
        self.user = user
        self.rootKey = rootKey

    def __call__(self, service, jobid, input):
        with zopeContext(service, self.user, self.rootKey) as context:
            return self.func(context, input)


@contextlib.contextmanager
def zopeContext(service, user: Optional[str] = None,
                rootKey: str = ZOPE_ROOT_KEY):
    """Set up the site, a request and the security of `user` for code that
    works on `service`'s part of the Zope tree; yield the service's
    container, wrapped.  Everything is put back as it was afterwards."""
    from Testing.makerequest import makerequest
    from zope.globalrequest import clearRequest, getRequest, setRequest

    app = makerequest(service._p_jar.root()[rootKey])
    request = app.REQUEST
    path = locate.servicePath(service, rootKey)
    context = _contextOf(app, paths.splitPath(path), service)
    if context is None:
        request.close()
        raise TaskError(f'service {path!r} is not found in the Zope tree')
    site = next((obj for obj in aq_chain(context) if ISite.providedBy(obj)),
                None)
    userObject = _user(context, user, path)
    oldSite, oldRequest = getSite(), getRequest()
    oldSecurity = getSecurityManager()
    setSite(site)
    setRequest(request)
    newSecurityManager(request, userObject)
    try:
        yield context
    finally:
        noSecurityManager()
        setSecurityManager(oldSecurity)
        setSite(oldSite)
        clearRequest()
        if oldRequest is not None:
            setRequest(oldRequest)
        request.close()


def _contextOf(app, names, service):
    """The acquisition-wrapped container of the service at `names`: the
    last OFS object on the way (a site manager is no OFS object)."""
    obj = context = app
    for name in names:
        found = containers.child(obj, name)
        if found is None:
            return None
        if _acquires(obj):
            context = obj
            if _acquires(found) and aq_parent(found) is None:
                found = found.__of__(obj)
        obj = found
    if getattr(aq_base(obj), '_p_oid', None) != service._p_oid:
        return None
    return context


def _acquires(obj) -> bool:
    return isinstance(aq_base(obj), (Implicit, Explicit))


def _user(context, user, path):
    if user is None:
        return SpecialUsers.nobody
    if user == SYSTEM:
        return SpecialUsers.system
    for obj in aq_chain(context):
        if getattr(aq_base(obj), 'acl_users', None) is None:
            continue
        folder = obj.acl_users
        found = folder.getUserById(user) or folder.getUser(user)
        if found is not None:
            return found if hasattr(found, 'aq_chain') \
                else found.__of__(folder)
    raise TaskError(f'no user {user!r} in the user folders above {path!r}')


# The Web service in Zope's WSGI pipeline

class _Mount:
    """Sends the requests below `prefix` to the Web service, the others to
    the application it wraps."""

    def __init__(self, app, prefix: str, makeWeb: Callable) -> None:
        self.app = app
        self.prefix = '/' + prefix.strip('/')
        self._makeWeb = makeWeb
        self._web = None
        self._lock = threading.Lock()

    def __call__(self, environ, start_response):
        path = environ.get('PATH_INFO', '')
        if path != self.prefix and not path.startswith(self.prefix + '/'):
            return self.app(environ, start_response)
        with self._lock:
            if self._web is None:
                self._web = self._makeWeb()
        environ = dict(environ)
        environ['SCRIPT_NAME'] = environ.get('SCRIPT_NAME', '') + self.prefix
        environ['PATH_INFO'] = path[len(self.prefix):] or '/'
        return self._web(environ, start_response)


def webFilter(app, global_conf=None, prefix: str = '/remotetask',
              credentials: Optional[str] = None,
              root_key: str = ZOPE_ROOT_KEY):
    """A PasteDeploy filter (``use = egg:lovely.remotetask#zope``) that
    serves the Web service of Zope's database below `prefix`.

    The tokens come from the `credentials` file (``manage TOKEN`` and
    ``read TOKEN`` lines), else from ``REMOTETASK_MANAGE_TOKEN`` and
    ``REMOTETASK_READ_TOKEN``.
    """
    from lovely.remotetask.web import makeApp
    from lovely.remotetask.web.auth import Credentials

    tokens = (Credentials.fromFile(credentials) if credentials
              else Credentials.fromEnvironment())
    if not tokens:
        log.warning('the Web service at %s has no credentials: every '
                    'request will be refused', prefix)

    def makeWeb():
        import Zope2
        return makeApp(Zope2.DB, credentials=tokens, rootKey=root_key)

    return _Mount(app, prefix, makeWeb)
