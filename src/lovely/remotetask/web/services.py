"""Finding the task services of a database, and naming them in URLs.

A service is named by its dotted path below the application root, as its
processing thread is: ``mail`` for a root-level service, ``site1.mail``
for one in the site ``site1``.  Folder names cannot hold dots, so the path
is unambiguous and fits one URL segment.
"""
import dataclasses
from typing import List, Optional

from lovely.remotetask import autostart
from lovely.remotetask.folder import Folder
from lovely.remotetask.interfaces import ITaskService


@dataclasses.dataclass(frozen=True)
class ServiceEntry:
    """A service with where it is: its site's name (None at the root)."""

    path: str
    site: Optional[str]
    name: str
    service: object


def listServices(root: Optional[Folder]) -> List[ServiceEntry]:
    """The root-level services, then those of each site, by name."""
    if not isinstance(root, Folder):
        return []
    return [ServiceEntry(name, None, name, obj) if site is root else
            ServiceEntry(f'{label}.{name}', label, name, obj)
            for label, site in autostart.sites(root, '*')
            for name, obj in autostart.services(site, '*')]


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
