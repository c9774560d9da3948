"""What Zope lets users do with task services: permissions, and the class
security of every persistent class of this package.

Zope publishes, and lets restricted code (scripts, templates) use, what a
class does not protect.  So every persistent class of the package (all
derive from `versioning.Versioned`, found by walking its subclasses: the
store's classes come and go) is private by default: the object itself,
each of its public names, the names it may get later.  The public names
of `ITaskService` and `IWorkerProtocol` are then granted by `GRANTS`, a
permission each; a name added to an interface later stays private until
it is mapped there (tests/test_zopesecurity.py fails meanwhile).

Through the publisher, granted methods answer the users with their
permission (not only those with a docstring, as Zope does by default);
those that change something only to POST (`ZPublisher.zpublish`), from
no page of another site.  Jobs and the other stored objects are never
published.

The permissions are Zope's own, registered with their default roles: a
site manager grants them to roles in the ZMI (Security tab), or in
Plone's ``rolemap.xml``.
"""
import importlib
import pkgutil
from typing import Dict, Iterator, Optional

from AccessControl.class_init import InitializeClass
from AccessControl.Permission import addPermission
from AccessControl.PermissionRole import PermissionRole
from AccessControl.SecurityInfo import ClassSecurityInfo
from ZPublisher import zpublish

import lovely.remotetask
from lovely.remotetask.interfaces import ITaskService, IWorkerProtocol
from lovely.remotetask.store.versioning import Versioned

#: See the jobs of a service, its figures and its tasks.
VIEW_JOBS = 'lovely.remotetask: View jobs'
#: See the jobs one added oneself (the dashboard and the API in Zope).
VIEW_OWN_JOBS = 'lovely.remotetask: View own jobs'
#: Add jobs and cron jobs; they run as the user who added them.
ADD_JOBS = 'lovely.remotetask: Add jobs'
#: Everything else: cancel, retry, clean, pause, process; the workers'
#: protocol.
MANAGE_SERVICE = 'lovely.remotetask: Manage task service'
#: Add a task service to a folder (the ZMI's add list).
ADD_SERVICE = 'lovely.remotetask: Add task service'

#: The roles that hold each permission where nobody said otherwise.
DEFAULT_ROLES = {
    VIEW_JOBS: ('Manager', 'Site Administrator'),
    VIEW_OWN_JOBS: ('Manager', 'Site Administrator'),
    ADD_JOBS: ('Manager', 'Site Administrator'),
    MANAGE_SERVICE: ('Manager', 'Site Administrator'),
    ADD_SERVICE: ('Manager',),
}

#: The permission each public name of the service's interfaces needs
#: (None: private, as decided here).
GRANTS: Dict[str, Optional[str]] = dict(
    # The stored jobs stay private (jobs are no Zope objects, and a job
    # holds its input): code reads them through the methods below.
    jobs=None,
    # ITaskService: reading
    getAvailableTasks=VIEW_JOBS, queryTask=VIEW_JOBS,
    getStatus=VIEW_JOBS, getResult=VIEW_JOBS, getError=VIEW_JOBS,
    jobsPage=VIEW_JOBS, statusCounts=VIEW_JOBS, queueLength=VIEW_JOBS,
    activity=VIEW_JOBS, activityByHour=VIEW_JOBS, oldestWaiting=VIEW_JOBS,
    isPaused=VIEW_JOBS,
    hasJobsWaiting=VIEW_JOBS, isProcessing=VIEW_JOBS,
    getQueues=VIEW_JOBS, getLimits=VIEW_JOBS, getStranded=VIEW_JOBS,
    getWorkflow=VIEW_JOBS, getBatch=VIEW_JOBS,
    getDependencyResults=VIEW_JOBS, getChanges=VIEW_JOBS,
    # ITaskService: adding
    add=ADD_JOBS, addCronJob=ADD_JOBS, addWorkflow=ADD_JOBS,
    addStep=ADD_JOBS, addBatch=ADD_JOBS, batch=None,   # (Python only)
    closeBatch=ADD_JOBS,
    # ITaskService: managing
    startJob=MANAGE_SERVICE, reschedule=MANAGE_SERVICE,
    cancel=MANAGE_SERVICE, clean=MANAGE_SERVICE, retry=MANAGE_SERVICE,
    removeJob=MANAGE_SERVICE,
    retryAll=MANAGE_SERVICE, pauseJob=MANAGE_SERVICE,
    runNow=MANAGE_SERVICE, pause=MANAGE_SERVICE, resume=MANAGE_SERVICE,
    claimNextJob=MANAGE_SERVICE, processNext=MANAGE_SERVICE,
    process=MANAGE_SERVICE, startProcessing=MANAGE_SERVICE,
    stopProcessing=MANAGE_SERVICE, pauseQueue=MANAGE_SERVICE,
    resumeQueue=MANAGE_SERVICE, setQueueLimit=MANAGE_SERVICE,
    cancelWorkflow=MANAGE_SERVICE, retryWorkflow=MANAGE_SERVICE,
    undoJob=MANAGE_SERVICE,
)
# The workers' protocol is the processors' business: managers only.
GRANTS.update((name, MANAGE_SERVICE) for name in IWorkerProtocol.names())

#: The permissions whose methods change nothing: published for any
#: request method; the others for POST only.
READING = (VIEW_JOBS, VIEW_OWN_JOBS)

#: The interfaces whose names `GRANTS` must map.
INTERFACES = (ITaskService, IWorkerProtocol)


def registerPermissions() -> None:
    """Register the permissions with their default roles (once; the
    first registration of a permission sets its roles)."""
    for permission, roles in DEFAULT_ROLES.items():
        addPermission(permission, roles)


registerPermissions()


def persistentClasses() -> Iterator[type]:
    """Every persistent class of the package: the subclasses of
    `Versioned`, once the package's modules are imported."""
    _importPackage()
    seen, todo = set(), [Versioned]
    while todo:
        cls = todo.pop()
        for sub in cls.__subclasses__():
            if sub not in seen:
                seen.add(sub)
                todo.append(sub)
                yield sub
    yield Versioned


def _importPackage() -> None:
    """Import the package's modules, so that their classes are known (a
    module whose optional dependency is missing defines nothing here)."""
    for info in pkgutil.walk_packages(lovely.remotetask.__path__,
                                      'lovely.remotetask.'):
        if info.name.endswith('__main__'):
            continue
        try:
            importlib.import_module(info.name)
        except ImportError:
            pass


def ownNames(cls) -> set:
    """The public names this package's classes give `cls` (Zope's own
    classes, mixed into the Zope service, declare theirs)."""
    names = set()
    for base in cls.__mro__:
        if base.__module__.startswith('lovely.remotetask'):
            names.update(name for name in vars(base)
                         if not name.startswith('_')
                         and not name.endswith('__roles__'))
    return names


def publicNames(cls) -> set:
    """The names `cls` has to declare: its own (`ownNames`) and those of
    the interfaces of `INTERFACES` it implements (attributes too)."""
    names = ownNames(cls)
    for interface in INTERFACES:
        if interface.implementedBy(cls):
            names.update(interface.names())
    return names


def declared(cls, name: str) -> bool:
    """Whether `name` of `cls` has a security declaration."""
    return hasattr(cls, f'{name}__roles__')


_secured = set()


def secureClasses() -> None:
    """Declare every persistent class of the package private, but for the
    names `GRANTS` maps: the walk covers classes added later."""
    registerPermissions()
    for cls in persistentClasses():
        if cls not in _secured:
            _secure(cls)
            _secured.add(cls)


def _secure(cls) -> None:
    security = ClassSecurityInfo()
    own = vars(cls)
    if '__roles__' not in own:
        security.declareObjectPrivate()
    if '__allow_access_to_unprotected_subobjects__' not in own:
        security.setDefaultAccess('deny')
    if '__zpublishable__' not in own:
        # Stored objects are no pages; the Zope service says otherwise.
        zpublish(False)(cls)
    for name in sorted(publicNames(cls)):
        permission = GRANTS.get(name)
        if permission is None and declared(cls, name):
            continue
        if not hasattr(cls, name):
            # An attribute of the instances (the service's jobs).
            setattr(cls, f'{name}__roles__', () if permission is None else
                    PermissionRole(permission, DEFAULT_ROLES[permission]))
        elif permission is None:
            security.declarePrivate(name)
        else:
            security.declareProtected(permission, name)
            _markPublished(getattr(cls, name), permission)
    cls._lovelyRemotetaskSecurity = security
    InitializeClass(cls)


def _markPublished(value, permission: str) -> None:
    """Let the publisher publish a granted method: any request method for
    reading, POST for the rest."""
    function = getattr(value, '__func__', value)
    if not callable(function) or not hasattr(function, '__dict__'):
        return
    if permission in READING:
        zpublish(True)(function)
    else:
        zpublish(methods='POST')(function)


class AnyOf:
    """Roles that may reach an object: those holding any of `permissions`
    on it (AccessControl asks a roles object's ``rolesForPermissionOn``)."""

    def __init__(self, *permissions: str) -> None:
        self.permissions = permissions
        self._roles = [PermissionRole(permission, DEFAULT_ROLES[permission])
                       for permission in permissions]

    def rolesForPermissionOn(self, value) -> Optional[list]:
        found = []
        for roles in self._roles:
            granted = roles.rolesForPermissionOn(value)
            if granted is None:
                return None
            found.extend(role for role in granted if role not in found)
        return found

    def __repr__(self):
        return f'AnyOf{self.permissions!r}'
