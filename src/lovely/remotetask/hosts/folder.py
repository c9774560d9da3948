"""Location-aware persistent folders: the application root and its sites.

The application root is the `Folder` stored at ``connection.root()[key]``.
Services stored in it are root-level services; a folder stored in it is a
*site*, and the services stored in a site belong to that site.
"""
from typing import Iterator

import persistent
from BTrees.OOBTree import OOBTree

from lovely.remotetask.naming import APPLICATION_ROOT_KEY


class Folder(persistent.Persistent):
    """A container that tells the objects stored in it where they are."""

    __parent__ = __name__ = None

    def __init__(self) -> None:
        self._items = OOBTree()

    def __setitem__(self, name: str, obj) -> None:
        if not isinstance(name, str) or not name:
            raise ValueError(f'folder item names are non-empty strings, '
                             f'not {name!r}')
        if '.' in name or '@' in name:
            # Names make up thread names and autostart directives.
            raise ValueError(f'folder item names may not contain "." or '
                             f'"@": {name!r}')
        try:
            obj.__parent__ = self
            obj.__name__ = name
        except AttributeError:
            pass   # a BTree, say: found by its name all the same
        self._items[name] = obj

    def __getitem__(self, name: str):
        return self._items[name]

    def __delitem__(self, name: str) -> None:
        obj = self._items.pop(name)
        if getattr(obj, '__parent__', None) is self:
            obj.__parent__ = obj.__name__ = None

    def get(self, name: str, default=None):
        return self._items.get(name, default)

    def __contains__(self, name) -> bool:
        return name in self._items

    def __iter__(self) -> Iterator[str]:
        return iter(self._items.keys())

    def __len__(self) -> int:
        return len(self._items)

    def keys(self):
        return self._items.keys()

    def values(self):
        return self._items.values()

    def items(self):
        return self._items.items()

    def __repr__(self):
        return f'<{type(self).__name__} {self.__name__!r}>'


def getApplicationRoot(connection, key: str = APPLICATION_ROOT_KEY,
                       create: bool = False) -> Folder:
    """Return the application root of `connection`'s database.

    With `create`, store an empty one if there is none yet (the caller
    commits).  Raise KeyError naming the key otherwise.
    """
    root = connection.root()
    if key not in root:
        if not create:
            raise KeyError(f'the database has no application root at {key!r}')
        root[key] = Folder()
    return root[key]
