"""Small persistent dicts whose concurrent changes of different keys merge.

`Registry` keeps the workers of a service; `KeyIndex` the unique keys of
jobs that wait or run, hashed over many small registries so that each add
with a key rewrites a small one.
"""
import zlib
from typing import Iterator, Optional

from lovely.remotetask.store.merge import mergeMapping
from lovely.remotetask.store.versioning import Versioned


class Registry(Versioned):
    """A dict of a few entries; two transactions that change the same key
    conflict, others merge."""

    def __init__(self) -> None:
        self._items = {}

    def _p_resolveConflict(self, old, committed, new):
        return dict(new, _items=mergeMapping(
            old['_items'], committed['_items'], new['_items']))

    def get(self, key, default=None):
        return self._items.get(key, default)

    def __getitem__(self, key):
        return self._items[key]

    def __contains__(self, key) -> bool:
        return key in self._items

    def __setitem__(self, key, value) -> None:
        self._items = {**self._items, key: value}

    def __delitem__(self, key) -> None:
        items = dict(self._items)
        del items[key]
        self._items = items

    def pop(self, key, default=None):
        if key not in self._items:
            return default
        value = self._items[key]
        del self[key]
        return value

    def __len__(self) -> int:
        return len(self._items)

    def __iter__(self) -> Iterator:
        return iter(list(self._items))

    def keys(self):
        return list(self._items)

    def values(self):
        return list(self._items.values())

    def items(self):
        return list(self._items.items())


#: Registries a KeyIndex spreads its keys over: FANOUT of FANOUT, all
#: made with it (some 36 KB once per service), so that no add makes one:
#: two adds that made the same one at once would conflict.  A keyed add
#: rewrites one, of about a 256th of the keyed jobs that wait or run.
FANOUT = 16


class KeyIndex(Versioned):
    """Job ids by the unique key they were added with.

    Keys are spread by a stable hash over FANOUT * FANOUT registries, so
    that each change rewrites one of them.
    """

    def __init__(self) -> None:
        # Every level is made at once: two adds that made the same leaf
        # would conflict, and fail an application's transaction.
        self._top = Registry()
        self._top._items = {high: Registry() for high in range(FANOUT)}
        for middle in self._top._items.values():
            middle._items = {low: Registry() for low in range(FANOUT)}

    def get(self, key) -> Optional[int]:
        leaf = self._leaf(key, create=False)
        return None if leaf is None else leaf.get(key)

    def set(self, key, jobid: int) -> None:
        self._leaf(key, create=True)[key] = jobid

    def discard(self, key, jobid: int) -> None:
        """Forget `key` if it still names `jobid`."""
        leaf = self._leaf(key, create=False)
        if leaf is not None and leaf.get(key) == jobid:
            del leaf[key]

    def _leaf(self, key, create: bool) -> Optional[Registry]:
        digest = zlib.crc32(f'{type(key).__name__}:{key}'.encode(
            'utf-8', 'surrogatepass'))
        high, low = (digest >> 16) % FANOUT, digest % FANOUT
        middle = self._top[high]
        leaf = middle.get(low)
        if leaf is None:
            if not create:
                return None
            leaf = middle[low] = Registry()
        return leaf
