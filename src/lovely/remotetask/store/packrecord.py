"""Who packs a database now, and how the last pack went: kept in the
database root, so that one pack runs at a time across processes (see
`runtime.packing`)."""
from lovely.remotetask.defaults import PACK_LEASE_TIME
from lovely.remotetask.store.stamps import tidTime
from lovely.remotetask.store.versioning import Versioned


class PackRecord(Versioned):
    """Who packs the database now, and how the last pack went."""

    def __init__(self) -> None:
        #: Who holds the lease: packs now.
        self.holder = None
        self.leaseTime = PACK_LEASE_TIME
        #: When the pack running now, or the last one, started.
        self.started = None
        #: When the last pack ended, and how.
        self.finished = None
        self.seconds = None
        self.error = None
        #: The history before this time was dropped by the last pack.
        self.packTime = None
        #: The storage's size before and after the last pack, in bytes.
        self.sizeBefore = self.sizeAfter = None
        self.packs = 0

    @property
    def lastSeen(self) -> float:
        """When the holder last took or renewed the lease, on the
        database's clock (the time of the commit)."""
        return tidTime(self._p_serial)

    def isHeld(self, now: float) -> bool:
        """Whether a live packer holds the lease at `now`.  `now` is this
        machine's clock: it would take a clock ahead of the database's by
        most of a lease time to take a live packer's lease (and the
        storages refuse a second pack at once themselves)."""
        return self.holder is not None and \
            self.lastSeen + self.leaseTime >= now

    def isDue(self, every: float, now: float) -> bool:
        """Whether a pack every `every` seconds is due at `now`."""
        if self.isHeld(now):
            return False
        return self.finished is None or now - self.finished >= every
