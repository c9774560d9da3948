"""What a host application's objects hold, asked without knowing its
framework: mappings (``PersistentMapping``, BTrees, `zope.container`
folders, our `Folder`), Zope's object managers (``objectIds``) and the
task services registered in a site's site manager (see `locate`)."""
import logging
from typing import Iterator, Tuple

from lovely.remotetask.interfaces import ITaskService

log = logging.getLogger('lovely.remotetask')

#: The path step from a site into its site manager.
SITE_MANAGER = '++etc++site'
#: The most entries a wildcard looks at in one container: a BTree of a
#: million users at the root is not searched for services.
SCAN_LIMIT = 10000


def _kind(obj):
    """The class of `obj`, seen through an acquisition wrapper (Zope)."""
    kind = type(obj)
    if kind.__name__.endswith('AcquisitionWrapper'):
        return type(obj.aq_base)
    return kind


def isService(obj) -> bool:
    """Whether `obj` is a task service; its class tells, so that a ghost
    is not loaded to be asked."""
    return ITaskService.implementedBy(_kind(obj)) or (
        getattr(obj, '_p_changed', False) is not None
        and ITaskService.providedBy(obj))


def isContainer(obj) -> bool:
    """Whether `obj` keeps objects by name (its class tells)."""
    kind = _kind(obj)
    if isService(obj):
        return False
    return (hasattr(kind, 'objectIds') and hasattr(kind, '_getOb')) or (
        hasattr(kind, 'items') and hasattr(kind, 'get'))


def siteManager(obj):
    """The site manager of a site (its own component registry), or None."""
    get = getattr(obj, 'getSiteManager', None)
    if get is None or isService(obj):
        return None
    try:
        return get()
    except Exception:   # not a site: Zope raises ComponentLookupError
        return None


def registeredServices(registry) -> Iterator[Tuple[str, object]]:
    """(name, service) of the task services registered in `registry`
    itself (not those it inherits), by name."""
    registered = getattr(registry, 'registeredUtilities', None)
    if registered is None:
        return
    found = sorted(
        ((reg.name, reg.component) for reg in registered()
         if reg.provided.isOrExtends(ITaskService) and reg.name),
        key=lambda item: item[0])
    yield from found


def children(container) -> Iterator[Tuple[str, object]]:
    """(name, object) of what `container` holds, by name, at most
    `SCAN_LIMIT` of them."""
    if hasattr(_kind(container), 'objectIds'):
        names = container.objectIds()
        getter = container._getOb
    elif isContainer(container):
        names = container.keys()
        getter = container.get
    else:
        return
    taken = []
    for name in names:
        if len(taken) == SCAN_LIMIT:
            log.warning('%r holds more than %s objects: services past them '
                        'are found by path only', container, SCAN_LIMIT)
            break
        if isinstance(name, str):
            taken.append(name)
    for name in sorted(taken):
        yield name, getter(name, None)


def child(container, name: str):
    """The object called `name` in `container`, or None."""
    if name == SITE_MANAGER:
        return siteManager(container)
    found = None
    if hasattr(_kind(container), 'objectIds'):
        # Only objects held: _getOb would find attributes and methods too.
        found = container._getOb(name, None) if name in container else None
    elif isContainer(container):
        try:
            found = container.get(name)
        except TypeError:   # a BTree of other keys
            found = None
    if found is None:
        # A site manager: the utility registered under that name.
        for registered, service in registeredServices(container):
            if registered == name:
                return service
    return found


def traverse(root, names):
    """The object at `names` below `root`, or None."""
    obj = root
    for name in names:
        obj = child(obj, name)
        if obj is None:
            return None
    return obj
