"""Zope (4 and later, Plone too): services in the OFS tree, tasks that run
in their site as a user, the Web service in Zope's WSGI pipeline.

- `TaskService` is the service as an OFS item: ``folder._setObject('tasks',
  TaskService('tasks'))`` keeps it in a folder, where the ZMI lists it (and
  adds one: "Remote Task Service" in the add list).  A plain
  `lovely.remotetask.TaskService` may also be registered as a named
  `ITaskService` utility in a site's site manager, as the seed did.
- Nothing of a service is published or reachable from restricted code
  without one of the permissions of `zopesecurity`.
- ``<include package="lovely.remotetask" />`` subscribes autostart to
  Zope's start: ``<product-config lovely.remotetask> autostart ...`` in
  zope.conf says which services process (see `autostart`); it registers
  the permissions, the ZMI's add form and `currentZopeUser`, which makes
  each job remember the user who added it.
- `ZopeTask` runs a function as Zope code runs in a request: with the
  service's site set (``zope.component.hooks.getSite()``), a request, and
  the security context of the user who added the job (or of the user the
  task names).
- `webFilter` mounts the Web service at a prefix of Zope's WSGI pipeline,
  where Zope's users log in and Zope's permissions decide (`zopeweb`).

This module imports Zope; the rest of the package does not need it.
"""
import contextlib
import importlib
import logging
from typing import Callable, Optional

import json
import os

from AccessControl.class_init import InitializeClass
from AccessControl.SecurityInfo import ClassSecurityInfo
from AccessControl.SecurityManagement import (
    getSecurityManager, newSecurityManager, noSecurityManager,
    setSecurityManager)
from AccessControl import SpecialUsers
from Acquisition import Explicit, Implicit, aq_base, aq_chain, aq_parent
from App.special_dtml import DTMLFile
from OFS.SimpleItem import SimpleItem
from Products.PageTemplates.PageTemplateFile import PageTemplateFile
from zExceptions import Forbidden, Unauthorized
from ZPublisher import zpublish
from zope.component.hooks import getSite, setSite
from zope.component.interfaces import ISite
from zope.interface import implementer, provider

from lovely.remotetask import paths
from lovely.remotetask.hosts import zopesecurity
from lovely.remotetask.hosts import containers, locate
from lovely.remotetask.exceptions import (
    PackBusyError, TaskError, UnknownJobError)
from lovely.remotetask.interfaces import IPrincipalSource, ITask
from lovely.remotetask.origins import crossSite
from lovely.remotetask.service import TaskService as _TaskService
from lovely.remotetask.task import SimpleTask
from lovely.remotetask.hosts.zopesecurity import (
    ADD_JOBS, ADD_SERVICE, MANAGE_SERVICE, VIEW_JOBS, VIEW_OWN_JOBS)

log = logging.getLogger('lovely.remotetask')

# Importing it sets SpecialUsers.system and .nobody.
importlib.import_module('AccessControl.users')

#: Where Zope keeps its application in the database root.
ZOPE_ROOT_KEY = 'Application'

#: Run a `ZopeTask` as Zope's own unrestricted system user.
SYSTEM = 'System Processes'


_ZMI = os.path.join(os.path.dirname(__file__), 'zmi')


class TaskService(SimpleItem, _TaskService):
    """A task service that lives in the OFS tree like any Zope item."""

    meta_type = 'Remote Task Service'
    zmi_icon = 'fas fa-tasks'
    # Published (its class says so: the store's classes are not), and
    # reached by whoever holds any of its permissions; each name needs
    # its own (`zopesecurity.GRANTS`).
    __zpublishable__ = True
    __roles__ = zopesecurity.AnyOf(VIEW_JOBS, VIEW_OWN_JOBS, ADD_JOBS,
                                   MANAGE_SERVICE)

    manage_options = (
        {'label': 'Jobs', 'action': 'manage_main'},
    ) + SimpleItem.manage_options

    security = ClassSecurityInfo()

    def __init__(self, id: str, title: str = '') -> None:
        _TaskService.__init__(self)
        self.id = id
        self.title = title

    def __repr__(self):
        return f'<{type(self).__name__} {self.id!r}>'

    def __allow_access_to_unprotected_subobjects__(self, name, value):
        # Restricted code reads what Zope's own classes define (id, title,
        # meta_type); what the service stores it reaches only through the
        # names its permissions grant.
        return isinstance(name, str) and hasattr(SimpleItem, name)

    def __before_publishing_traverse__(self, object, request):
        """Refuse a change that a page of another site made a browser
        send, with the credentials it keeps (Basic, a login cookie)."""
        if request.get('REQUEST_METHOD', 'GET') in ('GET', 'HEAD'):
            return
        other = crossSite(request.getHeader('Sec-Fetch-Site'),
                          request.getHeader('Origin'),
                          request.get('HTTP_HOST', ''))
        if other is not None:
            raise Forbidden(f'refused: a page of another site ({other}) '
                            f'may not change a task service')

    # The ZMI

    # The Jobs tab: for all who may do anything with the service; each
    # sees what their permissions show.
    manage_main = PageTemplateFile('jobs.zpt', _ZMI)
    manage_main__roles__ = __roles__
    zmiSummary__roles__ = __roles__

    @zpublish(False)
    def zmiSummary(self) -> dict:
        """What the ZMI's Jobs tab shows: counts, the newest jobs (the
        user's own, for those who may only see theirs), the tasks, and
        what the user may do."""
        user = getSecurityManager()
        if user.checkPermission(VIEW_JOBS, self):
            page, _ = self.jobsPage(limit=20)
        elif user.checkPermission(VIEW_OWN_JOBS, self):
            page, _ = self.jobsPage(limit=20, owner=currentZopeUser() or '')
        else:
            page = []
        return dict(
            counts=sorted(self.statusCounts().items()),
            processing=self.isProcessing(), paused=self.isPaused(),
            tasks=sorted(self.getAvailableTasks()),
            jobs=[dict(id=job.id, task=job.task, status=job.status,
                       owner=job.owner or '', error=job.error or '')
                  for job in page],
            canAdd=bool(user.checkPermission(ADD_JOBS, self)),
            canManage=bool(user.checkPermission(MANAGE_SERVICE, self)))

    security.declareProtected(ADD_JOBS, 'manage_addJob')

    @zpublish(methods='POST')
    def manage_addJob(self, task: str, input: str = '', REQUEST=None):
        """Add a job from the ZMI: a task and its input as JSON."""
        try:
            value = json.loads(input) if input.strip() else None
            jobid = self.add(task, value)
        except ValueError as error:   # bad JSON, unknown task, bad input
            message = f'No job added: {error}'
        else:
            message = f'Added job {jobid} ({task}).'
        return self._backToJobs(REQUEST, message)

    security.declareProtected(MANAGE_SERVICE, 'manage_processing')

    @zpublish(methods='POST')
    def manage_processing(self, start: bool = False, REQUEST=None):
        """Start or stop processing in this Zope process (the ZMI)."""
        if start:
            self.startProcessing()
            message = 'Processing started in this process.'
        else:
            self.stopProcessing()
            message = 'Processing stopped in this process.'
        return self._backToJobs(REQUEST, message)

    def _backToJobs(self, REQUEST, message):
        if REQUEST is None:
            return message
        from urllib.parse import quote
        REQUEST.RESPONSE.redirect(
            f'{self.absolute_url()}/manage_main?manage_tabs_message='
            f'{quote(message)}')


InitializeClass(TaskService)
zopesecurity.secureClasses()

manage_addTaskServiceForm = DTMLFile('manage_addTaskServiceForm', _ZMI)


def manage_addTaskService(container, id: str, title: str = '',
                          REQUEST=None) -> Optional[TaskService]:
    """Add a `TaskService` called `id` to an OFS container; return it (the
    ZMI's add form goes to its Jobs tab instead)."""
    container._setObject(id, TaskService(id, title))
    service = container._getOb(id)
    if REQUEST is None:
        return service
    REQUEST.RESPONSE.redirect(service.absolute_url() + '/manage_main')


def initialize(context) -> None:
    """Zope's product initialisation (``five:registerPackage``): the ZMI's
    add list offers a task service to those with `ADD_SERVICE`."""
    context.registerClass(
        TaskService, permission=ADD_SERVICE,
        constructors=(manage_addTaskServiceForm, manage_addTaskService))


class ErrorView:
    """Zope's page for the errors of this package raised by a published
    call (``zope.zcml`` registers it): bad input is a 400 that says what
    was wrong, as the JSON API says it, not Zope's 500 page."""

    def __init__(self, context, request) -> None:
        self.context, self.request = context, request

    def __call__(self) -> str:
        error = self.context
        status = (404 if isinstance(error, UnknownJobError)
                  else 409 if isinstance(error, PackBusyError)
                  else 400 if isinstance(error, ValueError) else 500)
        response = self.request.response
        response.setStatus(status)
        response.setHeader('Content-Type', 'text/plain; charset=utf-8')
        return str(error)


@provider(IPrincipalSource)
def currentZopeUser() -> Optional[str]:
    """The id of the user of the security context in hand, None for
    Anonymous (the `IPrincipalSource` that ``zope.zcml`` registers)."""
    user = getSecurityManager().getUser()
    if user is None or user is SpecialUsers.nobody:
        return None
    userid = user.getId()
    if userid is None or user.getUserName() == 'Anonymous User':
        return None
    return userid


#: `ZopeTask`'s user for a task that runs as Anonymous, whoever added it.
ANONYMOUS = 'Anonymous User'


@implementer(ITask)
class ZopeTask(SimpleTask):
    """Calls ``func(context, input)`` in the Zope tree, as a request would.

    `context` is the service's container (for a service registered in a
    site manager, the site), wrapped for acquisition in the application
    and a request.  Meanwhile the nearest site above the service is set
    (``getSite()``; a Plone site sets up what Plone's code looks up), and
    the call runs as the user who added the job (its `owner`; Anonymous
    for a job nobody known added), looked up in the nearest user folder
    above the service that knows them.  `user` says otherwise: the id or
    login of a user, `SYSTEM` for Zope's unrestricted system user, or
    `ANONYMOUS`.  What the function changes is committed with the job's
    result, or dropped when it fails.  An ``Unauthorized`` fails the job
    at once, without retries, saying who was refused what.
    """

    def __init__(self, func: Callable, user: Optional[str] = None, *,
                 rootKey: str = ZOPE_ROOT_KEY, **options) -> None:
        super().__init__(func, **options)
        self.user = user
        self.rootKey = rootKey

    def __call__(self, service, jobid, input):
        user = self.user
        if user is None:
            job = service.jobs.get(jobid)
            user = None if job is None else job.owner
        elif user == ANONYMOUS:
            user = None
        with zopeContext(service, user, self.rootKey) as context:
            try:
                return self.func(context, input)
            except Unauthorized as error:
                who = 'Anonymous' if user is None else f'user {user!r}'
                raise TaskError(
                    f'Unauthorized: job {jobid} runs as {who}, who may not '
                    f'do this: {error}') from error


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
    context = contextOf(app, paths.splitPath(path), service)
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


def contextOf(app, names, service):
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
