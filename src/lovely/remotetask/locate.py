"""Finding the task services of a database, and naming them.

A service is named by its dotted path below the application root, as its
processing thread is: ``mail`` for a root-level service, ``site1.mail``
for one in the site ``site1``.  Folder names cannot hold dots, so the path
is unambiguous and fits one URL segment.  A *site* is a folder directly in
the application root.
"""
import dataclasses
from typing import Iterator, List, Optional, Tuple

from ZODB.utils import u64

from lovely.remotetask.folder import Folder
from lovely.remotetask.interfaces import ITaskService

#: How `sites` labels the application root itself.
ROOT_LABEL = 'root'


@dataclasses.dataclass(frozen=True)
class ServiceEntry:
    """A service with where it is: its site's name (None at the root)."""

    path: str
    site: Optional[str]
    name: str
    service: object


def sites(root: Folder, siteName: str) -> Iterator[Tuple[str, Folder]]:
    """(label, folder) of the sites `siteName` selects: '' the root, '*'
    the root and every site, else the site of that name (none if there is
    no such site)."""
    if siteName in ('', '*'):
        yield ROOT_LABEL, root
    if siteName == '*':
        for name, obj in root.items():
            if isinstance(obj, Folder):
                yield name, obj
    elif siteName:
        site = root.get(siteName)
        if isinstance(site, Folder):
            yield siteName, site


def services(site: Folder, serviceName: str):
    """(name, service) of the services of `site` that `serviceName`
    selects: '*' every one."""
    if serviceName == '*':
        for name, obj in site.items():
            if ITaskService.providedBy(obj):
                yield name, obj
    else:
        obj = site.get(serviceName)
        if ITaskService.providedBy(obj):
            yield serviceName, obj


def listServices(root: Optional[Folder]) -> List[ServiceEntry]:
    """The root-level services, then those of each site, by name."""
    if not isinstance(root, Folder):
        return []
    return [ServiceEntry(name, None, name, obj) if site is root else
            ServiceEntry(f'{label}.{name}', label, name, obj)
            for label, site in sites(root, '*')
            for name, obj in services(site, '*')]


def findService(root: Optional[Folder], path: str) -> Optional[ServiceEntry]:
    """The service at the dotted `path`, or None."""
    if not isinstance(root, Folder):
        return None
    names = path.split('.')
    if len(names) == 1:
        site, container = None, root
    elif len(names) == 2:
        site, container = names[0], root.get(names[0])
        if not isinstance(container, Folder):
            return None
    else:
        return None
    obj = container.get(names[-1])
    if not ITaskService.providedBy(obj):
        return None
    return ServiceEntry(path, site, names[-1], obj)


def servicePath(service) -> str:
    """The dotted names from the application root down to `service`."""
    names = []
    obj = service
    while obj is not None and obj.__name__ is not None:
        names.append(obj.__name__)
        obj = obj.__parent__
    if not names:
        return f'oid{u64(service._p_oid)}'
    return '.'.join(reversed(names))


def addService(root: Folder, path: str, service) -> ServiceEntry:
    """Store `service` at the dotted `path` that `findService` reads,
    making its site if need be; refuse a path that is taken."""
    names = path.split('.')
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
