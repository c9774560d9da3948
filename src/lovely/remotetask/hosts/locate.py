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
from typing import Iterator, List, Optional, Tuple

from ZODB.utils import z64

from lovely.remotetask.hosts.containers import (
    SITE_MANAGER, child, children, isContainer, isService, registeredServices,
    siteManager, traverse)
from lovely.remotetask.exceptions import InvalidArgumentError
from lovely.remotetask import naming
from lovely.remotetask.hosts.folder import Folder
from lovely.remotetask.naming import (  # noqa: F401 (for the tools)
    APPLICATION_ROOT_KEY, applicationRoot, nameOf as _nameOf,
    parentOf as _parentOf)
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
    if rootNames is not None:
        naming.remember(service, rootNames + names)
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


def servicePath(service, rootKey: str = APPLICATION_ROOT_KEY) -> str:
    """The path of `service` below the application root (see
    `naming.servicePath`), searched for near the root when nothing else
    tells."""
    return naming.servicePath(service, rootKey, search=listServices)


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
