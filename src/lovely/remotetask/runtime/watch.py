"""Noticing other processes' commits while a processor is idle.

A commit in this process wakes its processors at once (see `processing`).
A job added by another process is found when an idle processor looks
again, after its wait time, unless the storage tells sooner: a ZEO client
hears of every commit as it happens (the server sends the invalidations),
and its ``lastTransaction()`` moves without a round trip to the server.
Watching that costs a few microseconds a look; other storages are left to
the wait time.
"""
import threading
import time

from ZEO.ClientStorage import ClientStorage

#: Seconds between looks at the storage's last transaction.
INTERVAL = 0.005


class CommitWatch:
    """Waits for a wake-up, a commit by anyone, or a timeout."""

    def __init__(self, db) -> None:
        storage = db.storage
        self._storage = storage if isinstance(storage, ClientStorage) \
            else None
        self._seen = self._looked = None

    def mark(self) -> None:
        """Note the last commit before a look for jobs; `wait` ends at a
        later one."""
        if self._storage is not None:
            self._seen = self._storage.lastTransaction()

    def looked(self) -> None:
        """Note the last commit after a look (it may be the look's own)."""
        if self._storage is not None:
            self._looked = self._storage.lastTransaction()

    def moved(self) -> bool:
        """Whether anyone committed since the last look: jobs may have
        come."""
        return self._storage is not None and \
            self._storage.lastTransaction() != self._looked

    def wait(self, event: threading.Event, timeout: float) -> None:
        if self._storage is None:
            event.wait(timeout)
            return
        deadline = time.monotonic() + timeout
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0 or event.wait(min(INTERVAL, remaining)):
                return
            if self._storage.lastTransaction() != self._seen:
                return
