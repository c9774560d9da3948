"""Naming a service from the object alone: its path below the
application root, as the seed names processing threads
(``remotetasks.site1.tasks``).

A service knows where it is kept when its containers say so
(``__parent__`` and ``__name__``, or ``getId`` and acquisition in Zope).
A service loaded by oid in a processor's connection may not: then the
path it was last found at (`remember`, which the tools call as they find
services) or its key in the database root names it.
"""
import weakref
from typing import List

from ZODB.utils import u64, z64

from lovely.remotetask.paths import joinPath, quoteName

#: The key of the application root in the database root.
APPLICATION_ROOT_KEY = 'Application'

#: The paths (names from the database root) of services found, by
#: database and oid.
_paths = weakref.WeakKeyDictionary()


def applicationRoot(connection, rootKey: str = APPLICATION_ROOT_KEY):
    """The object service paths start from: ``root[rootKey]``, or the
    database root itself when there is nothing at that key or the key is
    empty."""
    root = connection.root()
    if rootKey:
        app = root.get(rootKey)
        if app is not None:
            return app
    return root


def remember(service, names: List[str]) -> None:
    """Keep the path (names from the database root) a service was found
    at, for `servicePath`."""
    jar = getattr(service, '_p_jar', None)
    oid = getattr(service, '_p_oid', None)
    if jar is not None and oid is not None:
        _paths.setdefault(jar.db(), {})[oid] = list(names)


def known(service):
    """The path (names from the database root) a service was last found
    at, or None."""
    jar = getattr(service, '_p_jar', None)
    oid = getattr(service, '_p_oid', None)
    if jar is None or oid is None:
        return None
    return _paths.get(jar.db(), {}).get(oid)


def nameOf(obj):
    name = getattr(obj, '__name__', None)
    if isinstance(name, str) and name:
        return name
    getId = getattr(obj, 'getId', None)
    return getId() if callable(getId) else None


def parentOf(obj):
    # Acquisition wrappers answer __parent__ with their container.
    return getattr(obj, '__parent__', None)


def servicePath(service, rootKey: str = APPLICATION_ROOT_KEY,
                search=None) -> str:
    """The path of `service` below the application root: from where it is
    kept (``__parent__``, or acquisition), else from where it was last
    found, else, with `search(app)` (a function that finds services and
    remembers them), from a search, else from its key in the database
    root."""
    jar = getattr(service, '_p_jar', None)
    oid = getattr(service, '_p_oid', None)
    if jar is None or oid is None:
        name = nameOf(service)
        return quoteName(name) if name else f'oid{id(service)}'
    rootKeys = [rootKey] if rootKey and rootKey in jar.root() else []
    app = applicationRoot(jar, rootKey)
    names, obj, reached = [], service, False
    for _ in range(100):
        if obj is not service and getattr(obj, '_p_oid', None) in (
                app._p_oid, z64):
            reached = True
            break
        parent, name = parentOf(obj), nameOf(obj)
        if parent is None or name is None:
            break
        names.append(name)
        obj = parent
    names.reverse()
    if reached:
        prefix = [] if obj._p_oid == z64 else rootKeys
        remember(service, prefix + names)
        return joinPath(names)
    found = known(service)
    if found is None and search is not None:
        search(app)
        found = known(service)
    if found is None:
        # Kept directly in the database root, beside the application.
        for key, value in jar.root().items():
            if getattr(value, '_p_oid', None) == oid:
                found = [key]
    if found is not None:
        if rootKeys and found[:1] == rootKeys:
            found = found[1:]
        return joinPath(found)
    return joinPath(names) if names else f'oid{u64(oid)}'
