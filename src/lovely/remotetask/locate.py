"""Finding the task services of a database, and naming them.

Services live wherever the application keeps its objects.  The tools start
from the *application root*: ``connection.root()[rootKey]`` (``Application``
by default, where Zope keeps its root too), or the database root itself
when there is nothing at that key or the key is empty.  Below it, a service
is named by its *path*: the names of the containers down to it, joined by
dots, ``tasks``, ``site1.mail``, ``Plone.portal_tasks``.  Containers are
mappings (``PersistentMapping``, BTrees, `zope.container` folders, our own
`Folder`) and OFS object managers; ``++etc++site`` steps into a site's
site manager, where a name is a child of the site manager (zope.site keeps
its utilities in folders) or else the name an `ITaskService` utility is
registered under.  Names that hold ``. @ , * %`` are percent-encoded.

The seed's autostart directives name services too: ``site@name`` is the
service ``name`` of the site ``site``, stored in it or registered under that
name in its site manager; ``@name`` is one of the application root; the site
may be a path.  A path ``a.b.name`` means the same as ``a.b@name``, so
either spelling is taken wherever a service is named; the tools print
paths.  Wildcards (``site@*``, ``*@name``, ``*@*``) stay bounded: the sites
of ``*`` are the application root and its direct children that are
containers or sites, never a walk of the whole database.

Paths and directives as text are `paths`' business; what a container
holds, whatever its framework, `containers`'.
"""
import dataclasses
import weakref
from typing import Iterator, List, Optional, Tuple

from ZODB.utils import u64, z64

from lovely.remotetask.containers import (
    SITE_MANAGER, child, children, isContainer, isService, registeredServices,
    siteManager, traverse)
from lovely.remotetask.exceptions import InvalidArgumentError
from lovely.remotetask.folder import APPLICATION_ROOT_KEY, Folder
from lovely.remotetask.interfaces import ITaskService
from lovely.remotetask.paths import (
    joinPath, parseDirective, quoteName, splitPath)

#: How directives and log lines name the application root as a site.
ROOT_LABEL = 'root'


@dataclasses.dataclass(frozen=True)
class ServiceEntry:
    """A service with where it is: the path of its site (None at the
    application root) and its name there."""

    path: str
    site: Optional[str]
    name: str
    service: object

    @property
    def urlPath(self) -> str:
        """The path as one URL segment (percent signs escaped again, since
        servers decode a URL's escapes before routing)."""
        return self.path.replace('%', '%25')


# The database's structure

def applicationRoot(connection, rootKey: str = APPLICATION_ROOT_KEY):
    """The object service paths start from (see the module docstring)."""
    root = connection.root()
    if rootKey:
        app = root.get(rootKey)
        if app is not None:
            return app
    return root


# Selecting services

def sites(root, siteNames) -> Iterator[Tuple[str, List[str], object]]:
    """(label, names, site) of the sites `siteNames` selects: None for
    ``*`` (the root and its direct children that are containers or sites),
    else the path of one site ([] the root)."""
    if siteNames is None:
        yield ROOT_LABEL, [], root
        for name, obj in children(root):
            if isContainer(obj):
                yield quoteName(name), [name], obj
        return
    site = traverse(root, siteNames)
    if site is not None and not isService(site):
        yield (joinPath(siteNames) if siteNames else ROOT_LABEL,
               list(siteNames), site)


def services(site, name: str) -> Iterator[Tuple[str, List[str], object]]:
    """(name, path below the site, service) of the services of `site` that
    `name` selects (``*`` every one): stored in it, or registered in its
    site manager.  A service that is both is given once, where stored."""
    seen = set()

    def fresh(service):
        key = _identity(service)
        if key in seen:
            return False
        seen.add(key)
        return True

    if name == '*':
        for key, obj in children(site):
            if isService(obj) and fresh(obj):
                yield key, [key], obj
    else:
        obj = child(site, name) if name != SITE_MANAGER else None
        if obj is not None and isService(obj) and fresh(obj):
            yield name, [name], obj
            return
    # Registered in the site's site manager, or in `site` itself when it
    # is a site manager (a path through ++etc++site).
    for registry, own in ((siteManager(site), False), (site, True)):
        if registry is None:
            continue
        for key, service in registeredServices(registry):
            if (name == '*' or key == name) and fresh(service):
                yield key, ([key] if own else
                            _pathInSite(service, site, key)), service


def select(root, directive: str) -> List[ServiceEntry]:
    """The services one directive (or path) names; a malformed one raises
    InvalidArgumentError."""
    siteNames, name = parseDirective(directive.strip())
    rootNames = _rootNames(root)
    entries = []
    for label, names, site in sites(root, siteNames):
        for serviceName, below, service in services(site, name):
            entries.append(_entry(rootNames, names, serviceName, below,
                                  service))
    return entries


def listServices(root, directives: str = '*@*') -> List[ServiceEntry]:
    """The services that comma-separated `directives` name, each once: by
    default the root's, then those of each site.  Directives that name
    nothing, or are malformed, add nothing."""
    entries, seen = [], set()
    if root is None:
        return entries
    for directive in directives.split(','):
        try:
            found = select(root, directive)
        except InvalidArgumentError:
            continue
        for entry in found:
            if _identity(entry.service) not in seen:
                seen.add(_identity(entry.service))
                entries.append(entry)
    return entries


def findService(root, path: str) -> Optional[ServiceEntry]:
    """The service at `path` (or ``site@name``), or None.  A wildcard or a
    malformed path is an InvalidArgumentError."""
    if root is None:
        return None
    siteNames, name = parseDirective(path.strip())
    if siteNames is None or name == '*':
        raise InvalidArgumentError(
            f'{path!r} names services by wildcard; a service path names one '
            f'service')
    found = select(root, path)
    return found[0] if found else None


def entryFor(root, siteNames, name: str, below, service) -> ServiceEntry:
    """The entry of a service that `sites` and `services` found."""
    return _entry(_rootNames(root), siteNames, name, below, service)


def _entry(rootNames, siteNames, name, below, service) -> ServiceEntry:
    names = list(siteNames) + below
    entry = ServiceEntry(joinPath(names), joinPath(siteNames) or None,
                         name, service)
    jar = getattr(service, '_p_jar', None)
    oid = getattr(service, '_p_oid', None)
    if jar is not None and oid is not None and rootNames is not None:
        _paths.setdefault(jar.db(), {})[oid] = rootNames + names
    return entry


def _identity(obj):
    oid = getattr(obj, '_p_oid', None)
    return ('oid', oid) if oid is not None else ('id', id(obj))


def _pathInSite(service, site, registeredName) -> List[str]:
    """The path of a registered service below its site: where it is kept
    when it knows (zope.site keeps utilities in ``++etc++site/default``),
    else ``++etc++site`` and the name it is registered under."""
    names, obj = [], service
    siteKey = _identity(site)
    for _ in range(20):
        name = _nameOf(obj)
        parent = _parentOf(obj)
        if parent is None or name is None:
            break
        names.append(name)
        if _identity(parent) == siteKey:
            return list(reversed(names))
        obj = parent
    return [SITE_MANAGER, registeredName]


# Naming a service from the object alone

#: The paths (names from the database root) of services found, by
#: database and oid: a service loaded by oid in a processor's connection
#: does not know where it is kept (OFS objects learn it from acquisition).
_paths = weakref.WeakKeyDictionary()


def _rootNames(root):
    """The key of `root` in the database root: [] for the database root,
    [key] for an application root, None if it is neither."""
    jar, oid = getattr(root, '_p_jar', None), getattr(root, '_p_oid', None)
    if jar is None or oid is None:
        return None
    if oid == z64:
        return []
    for key, value in jar.root().items():
        if getattr(value, '_p_oid', None) == oid:
            return [key]
    return None


def _nameOf(obj):
    name = getattr(obj, '__name__', None)
    if isinstance(name, str) and name:
        return name
    getId = getattr(obj, 'getId', None)
    return getId() if callable(getId) else None


def _parentOf(obj):
    # Acquisition wrappers answer __parent__ with their container.
    return getattr(obj, '__parent__', None)


def servicePath(service, rootKey: str = APPLICATION_ROOT_KEY) -> str:
    """The path of `service` below the application root: from where it is
    kept (``__parent__``, or acquisition), else from where it was last
    found, else from a look at the places a wildcard looks."""
    jar = getattr(service, '_p_jar', None)
    oid = getattr(service, '_p_oid', None)
    if jar is None or oid is None:
        name = _nameOf(service)
        return quoteName(name) if name else f'oid{id(service)}'
    rootKeys = [rootKey] if rootKey and rootKey in jar.root() else []
    app = applicationRoot(jar, rootKey)
    names, obj, reached = [], service, False
    for _ in range(100):
        if obj is not service and getattr(obj, '_p_oid', None) in (
                app._p_oid, z64):
            reached = True
            break
        parent, name = _parentOf(obj), _nameOf(obj)
        if parent is None or name is None:
            break
        names.append(name)
        obj = parent
    names.reverse()
    if reached:
        prefix = [] if obj._p_oid == z64 else rootKeys
        _paths.setdefault(jar.db(), {})[oid] = prefix + names
        return joinPath(names)
    known = _paths.get(jar.db(), {}).get(oid)
    if known is None:
        for entry in listServices(app):
            if entry.service._p_oid == oid:
                known = _paths.get(jar.db(), {}).get(oid)
                break
    if known is None:
        # Kept directly in the database root, beside the application.
        for key, value in jar.root().items():
            if getattr(value, '_p_oid', None) == oid:
                known = [key]
    if known is not None:
        if rootKeys and known[:1] == rootKeys:
            known = known[1:]
        return joinPath(known)
    return joinPath(names) if names else f'oid{u64(oid)}'


def addService(root: Folder, path: str, service) -> ServiceEntry:
    """Store `service` at the dotted `path` that `findService` reads,
    making its site if need be; refuse a path that is taken."""
    names = splitPath(path)
    if len(names) > 2 or not all(names):
        raise ValueError(f'a service path is a name, or site.name, not '
                         f'{path!r}')
    if not isinstance(root, Folder):
        raise ValueError(f'the application root is a '
                         f'{type(root).__name__}, not a Folder')
    container = root
    if len(names) == 2:
        container = root.get(names[0])
        if container is None:
            container = root[names[0]] = Folder()
        elif not isinstance(container, Folder):
            raise ValueError(f'{names[0]!r} in the application root is a '
                             f'{type(container).__name__}, not a site')
    found = container.get(names[-1])
    if found is not None:
        what = 'a service' if ITaskService.providedBy(found) else \
            f'a {type(found).__name__}'
        raise ValueError(f'there is {what} at {path!r} already')
    container[names[-1]] = service
    return ServiceEntry(path, names[0] if len(names) == 2 else None,
                        names[-1], service)
