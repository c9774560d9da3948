"""Object ids a ZEO client fetched before its server restarted.

ZEO's ClientStorage fetches new object ids from its server a hundred at a
time and keeps the ones it has not used across a reconnect.  A server that
restarts hands out, again, every id past the last one committed, so after
a restart two clients can give the same id to two new objects.  The
storage refuses the second commit, but the client may have loaded the
other client's object already: its commit then fails with "A different
object already has the same oid", and the abort that follows disowns the
loaded object (ZODB's Connection._invalidate_creating drops whatever sits
in the cache under that id), which a later commit would store again under
a new id.  Our workers load every new job, so a chaos run over ZEO met it
within a minute of killing the server.

The cure is to forget the fetched ids when the connection comes back; the
client fetches fresh ones on its next new object.

A hundred at a time also spreads the ids of short-lived clients: a
``remotetask add`` process uses one and leaves 99 unused, and since job
ids are object ids, each such job lands alone in a block of the store's
job map, which every claim and listing then loads for one job (200 such
processes made a claim 6.5 times dearer than one writer's 200 jobs).  So
a client fetches 1 id first, then twice as many each time, up to ZEO's
hundred: a short-lived client wastes none, a busy one soon fetches a
hundred at a time.
"""
from ZODB.POSException import ReadOnlyError

_MARK = '_lovelyForgetsOidsOnReconnect'


#: The most ids a ZEO server hands out at once (``new_oids``).
MOST_AT_ONCE = 100


def mendOids(storage) -> bool:
    """Make a ZEO client `storage` forget its fetched object ids when it
    connects again, and fetch them in growing numbers; other storages are
    left alone.  True if `storage` is a ZEO client (now or already
    mended)."""
    if not forgetOidsOnReconnect(storage):
        return False
    if storage.__dict__.get('new_oid') is None:
        storage.new_oid = _growingFetches(storage)
    return True


def _growingFetches(storage):
    size = [1]

    def new_oid():
        if storage._is_read_only:
            raise ReadOnlyError()
        while True:
            try:
                return storage._oids.pop()
            except IndexError:
                pass
            fetched, size[0] = size[0], min(MOST_AT_ONCE, size[0] * 2)
            storage._oids[:0] = reversed(storage._call('new_oids', fetched))
    return new_oid


def forgetOidsOnReconnect(storage) -> bool:
    """Make a ZEO client `storage` drop its fetched object ids whenever it
    connects again; other storages are left alone.  True if `storage` is a
    ZEO client (now or already mended)."""
    try:
        from ZEO.ClientStorage import ClientStorage
    except ImportError:     # ZEO is not installed: no ZEO client either
        return False
    if not isinstance(storage, ClientStorage):
        return False
    if getattr(storage, _MARK, False):
        return True
    connected = storage.notify_connected

    def notify_connected(conn, info):
        del storage._oids[:]
        connected(conn, info)

    storage.notify_connected = notify_connected
    setattr(storage, _MARK, True)
    return True
